/* SPDX-License-Identifier: Apache-2.0 */
/* A container's CRI log as `nodeletctl logs` prints it (the verb, which also takes pods, is agent/pods-ctl.c). */
#include "runtime/runtime-ctl.h"

#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/log.h"
#include "runtime/logs.h"

/* Writes records to stdout/stderr by stream. With timestamps, each line starts with the time of its first record
 * (like `kubectl logs --timestamps`); a line split into partial records gets one. */
typedef struct LogPrinter {
        bool timestamps;
        bool in_line[_LOG_STREAM_MAX];
} LogPrinter;

static void print_record(LogPrinter *p, const CriLogLine *l) {
        FILE *o = l->stream == LOG_STREAM_STDOUT ? stdout : stderr;
        if (p->timestamps && !p->in_line[l->stream])
                fprintf(o, "%s ", l->timestamp);
        (void) fwrite(l->content, 1, l->content_size, o);
        if (!l->partial)
                (void) fputc('\n', o);
        p->in_line[l->stream] = l->partial;
}

/* The whole file, or its last tail lines (0 = all). */
static int print_log_file(LogPrinter *p, const char *path, unsigned tail) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long skip = 0;
        if (tail > 0) {
                /* Count complete lines first, then skip all but the last `tail`. */
                long total = 0;
                while ((n = getline(&line, &cap, f)) > 0) {
                        CriLogLine l;
                        if (cri_log_parse_line(line, (size_t) n, &l) == 0 && !l.partial)
                                total++;
                }
                skip = total > (long) tail ? total - (long) tail : 0;
                rewind(f);
        }
        while ((n = getline(&line, &cap, f)) > 0) {
                CriLogLine l;
                if (cri_log_parse_line(line, (size_t) n, &l) < 0)
                        continue;
                if (skip > 0) {
                        if (!l.partial)
                                skip--;
                        continue;
                }
                print_record(p, &l);
        }
        return 0;
}

/* Prints the complete records readable from f (a partial last line is left for the next round). */
static void print_new_records(LogPrinter *p, FILE *f, char **line, size_t *cap) {
        for (;;) {
                long pos = ftell(f);
                ssize_t n = getline(line, cap, f);
                if (n <= 0)
                        break;
                if ((*line)[n - 1] != '\n') {
                        (void) fseek(f, pos, SEEK_SET); /* still being written */
                        break;
                }
                CriLogLine l;
                if (cri_log_parse_line(*line, (size_t) n, &l) < 0)
                        continue;
                print_record(p, &l);
                (void) fflush(stdout);
                (void) fflush(stderr);
        }
        clearerr(f);
}

/* `logs -f`: what is there, then what is appended, across rotations, until the container's shim is gone. */
static int follow(LogPrinter *p, const char *path, int stop_fd, bool from_end) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (f && from_end)
                (void) fseek(f, 0, SEEK_END); /* a record being written then shows from its next line on */
        for (;;) {
                bool stop = stop_fd < 0;
                if (!stop) {
                        struct pollfd pfd = {.fd = stop_fd, .events = POLLIN};
                        stop = poll(&pfd, 1, 200) > 0;
                }
                if (f)
                        print_new_records(p, f, &line, &cap);
                /* Rotated (renamed, a new file at path): finish the old one, continue with the new. */
                struct stat a, b;
                if (stat(path, &a) == 0 && (!f || (fstat(fileno(f), &b) == 0 && a.st_ino != b.st_ino))) {
                        if (f)
                                fclose(f);
                        f = fopen(path, "re");
                        if (f)
                                print_new_records(p, f, &line, &cap);
                }
                if (stop)
                        return 0;
        }
}

int runtime_ctl_print_log(Container *c, unsigned tail, bool follow_, bool timestamps) {
        LogPrinter p = {.timestamps = timestamps};
        const char *path = container_log_path(c);
        if (!path)
                return log_error_errno(-ENOENT, "container %s: has no log", container_id(c));
        if (follow_ && tail == 0)
                return follow(&p, path, container_exit_fd(c), false);
        int r = print_log_file(&p, path, tail);
        if (r < 0)
                return log_error_errno(r, "container %s: reading %s: %m", container_id(c), path);
        if (follow_) {
                (void) fflush(stdout);
                (void) fflush(stderr);
                return follow(&p, path, container_exit_fd(c), true);
        }
        return 0;
}
