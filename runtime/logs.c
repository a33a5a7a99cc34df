/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/logs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "common/fileio.h"
#include "runtime/container-config.h"

static const char *const stream_names[_LOG_STREAM_MAX] = {"stdout", "stderr"};

void log_format_timestamp(uint64_t ns, char *buf, size_t size) {
        time_t sec = (time_t) (ns / NSEC_PER_SEC);
        struct tm tm;
        (void) gmtime_r(&sec, &tm);
        /* Always nine digits, like containerd's timestampFormat, so records sort and align. */
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) (ns % NSEC_PER_SEC));
}

static int open_log(LogWriter *w, bool truncate) {
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | (truncate ? O_TRUNC : 0), 0640);
        if (w->fd < 0)
                return -errno;
        struct stat st;
        w->size = fstat(w->fd, &st) == 0 ? (uint64_t) st.st_size : 0;
        return 0;
}

int log_writer_open(LogWriter *w, const char *path, uint64_t max_size, unsigned max_files, size_t line_max) {
        *w = (LogWriter){.fd = -1,
                         .max_size = max_size,
                         .max_files = max_files ?: 5,
                         .line_max = line_max ?: LOG_LINE_MAX_DEFAULT};
        for (int s = 0; s < _LOG_STREAM_MAX; s++) {
                w->buf[s] = malloc(w->line_max);
                RET_NULL_ENOMEM(w->buf[s]);
        }
        if (!path)
                return 0;
        w->path = strdup(path);
        RET_NULL_ENOMEM(w->path);
        _cleanup_free_ char *dir = strdup(path);
        RET_NULL_ENOMEM(dir);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                int r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
        }
        return open_log(w, false);
}

static int rotate(LogWriter *w) {
        char from[PATH_MAX], to[PATH_MAX];
        (void) close(w->fd);
        w->fd = -1;
        for (unsigned i = w->max_files - 1; i > 0; i--) {
                if (i == 1)
                        snprintf(from, sizeof(from), "%s", w->path);
                else
                        snprintf(from, sizeof(from), "%s.%u", w->path, i - 1);
                snprintf(to, sizeof(to), "%s.%u", w->path, i);
                if (rename(from, to) < 0 && errno != ENOENT)
                        return -errno;
        }
        return open_log(w, true);
}

/* Writes the whole record. A short write (the file system filled up in the middle of it) is followed by another
 * that either completes it or fails with the reason. */
static int writev_all(int fd, struct iovec *iov, int n) {
        while (n > 0) {
                ssize_t k = writev(fd, iov, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                for (; n > 0 && (size_t) k >= iov->iov_len; iov++, n--)
                        k -= (ssize_t) iov->iov_len;
                if (n > 0) {
                        iov->iov_base = (char *) iov->iov_base + k;
                        iov->iov_len -= (size_t) k;
                }
        }
        return 0;
}

static int write_record(LogWriter *w, LogStream s, bool partial, const char *data, size_t n) {
        if (w->fd < 0) {
                /* A rotation whose new file could not be created (a full disk): create it now, or fail again. */
                if (!w->path)
                        return 0;
                int r = open_log(w, false);
                if (r < 0)
                        return r;
        }
        char prefix[64];
        log_format_timestamp(now_realtime_ns(), prefix, sizeof(prefix));
        size_t pl = strlen(prefix);
        snprintf(prefix + pl, sizeof(prefix) - pl, " %s %c ", stream_names[s], partial ? 'P' : 'F');
        struct iovec iov[3] = {
                {prefix, strlen(prefix)},
                {(void *) data, n},
                {(void *) "\n", 1},
        };
        size_t total = iov[0].iov_len + n + 1;
        /* Rotate before a record would push the file over the limit: the live file always holds the newest
         * records and never exceeds max_size (unless one record does). */
        if (w->max_size > 0 && w->max_files > 1 && w->size > 0 && w->size + total > w->max_size) {
                int r = rotate(w);
                if (r < 0)
                        return r;
        }
        int r = writev_all(w->fd, iov, 3);
        if (r < 0) {
                /* Out of space (or quota) mid-record: cut the file back to the last whole record, so that records
                 * written once there is room again do not continue a torn line. Shrinking needs no space. */
                (void) !ftruncate(w->fd, (off_t) w->size);
                return r;
        }
        w->size += total;
        return 0;
}

/* After a failed write the rest of the data is dropped without further attempts: on a full disk every one of
 * thousands of short lines would fail the same way (the caller backs off and retries with later data). */
int log_writer_feed(LogWriter *w, LogStream s, const char *data, size_t n) {
        int ret = 0;
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t chunk = nl ? (size_t) (nl - data) : n;
                size_t room = w->line_max - w->len[s];
                if (chunk >= room && !(nl && chunk == room)) {
                        /* The line does not fit: emit the buffer filled up as a partial record. */
                        memcpy(w->buf[s] + w->len[s], data, room);
                        int r = ret < 0 ? 0 : write_record(w, s, true, w->buf[s], w->line_max);
                        ret = ret ?: r;
                        w->len[s] = 0;
                        data += room;
                        n -= room;
                        continue;
                }
                memcpy(w->buf[s] + w->len[s], data, chunk);
                w->len[s] += chunk;
                if (!nl)
                        break;
                int r = ret < 0 ? 0 : write_record(w, s, false, w->buf[s], w->len[s]);
                ret = ret ?: r;
                w->len[s] = 0;
                data += chunk + 1;
                n -= chunk + 1;
        }
        return ret;
}

int log_writer_reopen(LogWriter *w) {
        if (!w->path)
                return 0;
        if (w->fd >= 0)
                (void) close(w->fd);
        w->fd = -1;
        return open_log(w, false);
}

int log_writer_flush(LogWriter *w, LogStream s) {
        if (w->len[s] == 0)
                return 0;
        int r = write_record(w, s, false, w->buf[s], w->len[s]);
        w->len[s] = 0;
        return r;
}

void log_writer_close(LogWriter *w) {
        for (int s = 0; s < _LOG_STREAM_MAX; s++) {
                free(w->buf[s]);
                w->buf[s] = NULL;
        }
        if (w->fd >= 0)
                (void) close(w->fd);
        w->fd = -1;
        free(w->path);
        w->path = NULL;
}

int cri_log_parse_line(const char *line, size_t n, CriLogLine *ret) {
        if (n > 0 && line[n - 1] == '\n')
                n--;
        const char *sp1 = memchr(line, ' ', n);
        if (!sp1 || (size_t) (sp1 - line) >= sizeof(ret->timestamp))
                return -EBADMSG;
        const char *rest = sp1 + 1;
        size_t rn = n - (size_t) (rest - line);
        LogStream s;
        if (rn >= 7 && memcmp(rest, "stdout ", 7) == 0)
                s = LOG_STREAM_STDOUT;
        else if (rn >= 7 && memcmp(rest, "stderr ", 7) == 0)
                s = LOG_STREAM_STDERR;
        else
                return -EBADMSG;
        rest += 7;
        rn -= 7;
        /* The tag field: "P" or "F" (more tags may follow, separated by ':'; the kubelet only looks at the first). */
        const char *sp = memchr(rest, ' ', rn);
        size_t tl = sp ? (size_t) (sp - rest) : rn;
        if (tl == 0 || (rest[0] != 'P' && rest[0] != 'F'))
                return -EBADMSG;
        memcpy(ret->timestamp, line, (size_t) (sp1 - line));
        ret->timestamp[sp1 - line] = 0;
        ret->stream = s;
        ret->partial = rest[0] == 'P';
        ret->content = sp ? sp + 1 : rest + rn;
        ret->content_size = sp ? rn - tl - 1 : 0;
        return 0;
}

int cri_log_print(const char *path, FILE *out, FILE *err, unsigned tail) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        long skip = 0;
        if (tail > 0) {
                /* Count complete records first, then skip all but the last `tail`. */
                long total = 0;
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                ssize_t n;
                while ((n = getline(&line, &cap, f)) > 0) {
                        CriLogLine l;
                        if (cri_log_parse_line(line, (size_t) n, &l) == 0 && !l.partial)
                                total++;
                }
                skip = total > (long) tail ? total - (long) tail : 0;
                rewind(f);
        }
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
                CriLogLine l;
                if (cri_log_parse_line(line, (size_t) n, &l) < 0)
                        continue;
                if (skip > 0) {
                        if (!l.partial)
                                skip--;
                        continue;
                }
                FILE *o = l.stream == LOG_STREAM_STDOUT ? out : err;
                if (!o)
                        continue;
                (void) fwrite(l.content, 1, l.content_size, o);
                if (!l.partial)
                        (void) fputc('\n', o);
        }
        return 0;
}
