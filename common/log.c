/* SPDX-License-Identifier: Apache-2.0 */
#include "common/log.h"

#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

/* Process-wide logging configuration; set once at start-up by main(), read everywhere. This is the one sanctioned
 * piece of global state (like systemd's log.c): threading a logger through every call would buy nothing. */
static LogLevel max_level = LOG_LEVEL_INFO;
static LogTarget target = LOG_TARGET_AUTO;
static const char *program = "nodelet";
static char **capture_buf;
static size_t *capture_size;

static _Thread_local LogContextEntry context[LOG_CONTEXT_MAX];
static _Thread_local size_t context_depth;

static const char *const level_table[_LOG_LEVEL_MAX] = {
        [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
        [LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};
static const char level_letter[_LOG_LEVEL_MAX] = {'E', 'W', 'N', 'I', 'D'};
static const int level_syslog[_LOG_LEVEL_MAX] = {3, 4, 5, 6, 7};

const char *log_level_to_string(LogLevel l) {
        return l >= 0 && l < _LOG_LEVEL_MAX ? level_table[l] : NULL;
}

LogLevel log_level_from_string(const char *s) {
        if (!s)
                return _LOG_LEVEL_INVALID;
        for (LogLevel l = 0; l < _LOG_LEVEL_MAX; l++)
                if (streq(s, level_table[l]))
                        return l;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || v < 0)
                return _LOG_LEVEL_INVALID;
        return v >= 3 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

void log_set_max_level(LogLevel l) {
        if (l >= 0 && l < _LOG_LEVEL_MAX)
                max_level = l;
}
LogLevel log_get_max_level(void) {
        return max_level;
}
void log_set_target(LogTarget t) {
        target = t;
}
void log_set_program(const char *name) {
        program = name;
}
void log_set_capture(char **buf, size_t *size) {
        capture_buf = buf;
        capture_size = size;
}

/* sd_journal_stream_fd semantics: systemd sets JOURNAL_STREAM=dev:ino for the stream it connected to stderr. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

LogTarget log_get_target(void) {
        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        return target;
}

int log_context_push(const char *key, const char *value) {
        if (context_depth < LOG_CONTEXT_MAX)
                context[context_depth] = (LogContextEntry){key, value};
        return (int) ++context_depth;
}

void log_context_pop(int *depth) {
        if (*depth > 0 && (size_t) *depth == context_depth)
                context_depth--;
}

size_t log_context_get(const LogContextEntry **ret) {
        *ret = context;
        return MIN(context_depth, (size_t) LOG_CONTEXT_MAX);
}

/* Quote a context value when it has spaces or quotes, logfmt style. */
static void append_value(FILE *f, const char *v) {
        if (v && !strpbrk(v, " \"=\t\n") && *v) {
                fputs(v, f);
                return;
        }
        fputc('"', f);
        for (const char *p = strempty(v); *p; p++) {
                if (*p == '"' || *p == '\\')
                        fputc('\\', f);
                fputc(*p == '\n' ? ' ' : *p, f);
        }
        fputc('"', f);
}

static void write_stderr(LogLevel level, const char *msg) {
        const LogContextEntry *ctx;
        size_t n = log_context_get(&ctx);
        struct timeval tv;
        struct tm tm;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        fprintf(f, "%c%02d%02d %02d:%02d:%02d.%06ld %s", level_letter[level], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, (long) tv.tv_usec, msg);
        for (size_t i = 0; i < n; i++) {
                fprintf(f, " %s=", ctx[i].key);
                append_value(f, ctx[i].value);
        }
        fputc('\n', f);
        if (fclose(f) != 0) {
                free(buf);
                return;
        }
        if (capture_buf) {
                size_t old = *capture_size;
                char *nb = realloc(*capture_buf, old + size + 1);
                if (nb) {
                        memcpy(nb + old, buf, size + 1);
                        *capture_buf = nb;
                        *capture_size = old + size;
                }
        } else
                (void) !write(STDERR_FILENO, buf, size);
        free(buf);
}

static void write_journal(LogLevel level, const char *msg, const char *file, int line, const char *func, int error) {
        const LogContextEntry *ctx;
        size_t n = log_context_get(&ctx);
        struct iovec iov[8 + LOG_CONTEXT_MAX];
        char fields[8 + LOG_CONTEXT_MAX][256];
        _cleanup_free_ char *m = NULL;
        size_t k = 0;

        if (asprintf(&m, "MESSAGE=%s", msg) < 0)
                return;
        iov[k++] = (struct iovec){m, strlen(m)};
        snprintf(fields[k], sizeof fields[k], "PRIORITY=%d", level_syslog[level]);
        snprintf(fields[k + 1], sizeof fields[k + 1], "SYSLOG_IDENTIFIER=%s", program);
        snprintf(fields[k + 2], sizeof fields[k + 2], "CODE_FILE=%s", file);
        snprintf(fields[k + 3], sizeof fields[k + 3], "CODE_LINE=%d", line);
        snprintf(fields[k + 4], sizeof fields[k + 4], "CODE_FUNC=%s", func);
        for (int i = 0; i < 5; i++, k++)
                iov[k] = (struct iovec){fields[k], strlen(fields[k])};
        if (error != 0) {
                snprintf(fields[k], sizeof fields[k], "ERRNO=%d", -error);
                iov[k] = (struct iovec){fields[k], strlen(fields[k])};
                k++;
        }
        for (size_t i = 0; i < n; i++, k++) {
                int w = snprintf(fields[k], sizeof fields[k], "NODELET_");
                for (const char *p = ctx[i].key; *p && w < 200; p++)
                        fields[k][w++] = (*p >= 'a' && *p <= 'z') ? (char) (*p - 'a' + 'A')
                                         : ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ? *p
                                                                                                  : '_';
                snprintf(fields[k] + w, sizeof fields[k] - (size_t) w, "=%s", strempty(ctx[i].value));
                iov[k] = (struct iovec){fields[k], strlen(fields[k])};
        }
        (void) sd_journal_sendv(iov, (int) k);
}

int log_internalv(LogLevel level, int error, const char *file, int line, const char *func, const char *format,
                  va_list ap) {
        char msg[2048];
        int saved = errno;

        if (level < 0 || level >= _LOG_LEVEL_MAX)
                level = LOG_LEVEL_INFO;
        if (level > max_level)
                return error < 0 ? error : -abs(error);
        if (error != 0)
                errno = abs(error); /* so that %m prints the error we were given */
        vsnprintf(msg, sizeof msg, format, ap);

        switch (log_get_target()) {
        case LOG_TARGET_JOURNAL:
                write_journal(level, msg, file, line, func, abs(error));
                break;
        case LOG_TARGET_NULL:
                break;
        default:
                write_stderr(level, msg);
        }
        errno = saved;
        return -abs(error);
}

int log_internal(LogLevel level, int error, const char *file, int line, const char *func, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = log_internalv(level, error, file, line, func, format, ap);
        va_end(ap);
        return r;
}
