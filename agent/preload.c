/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/preload.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/spawn.h"

#ifndef NODELET_BINDIR
#define NODELET_BINDIR "/usr/local/bin"
#endif

static const char *const preload_result_table[_PRELOAD_RESULT_MAX] = {
        [PRELOAD_IMPORTED] = "imported",
        [PRELOAD_SKIPPED] = "skipped",
        [PRELOAD_FAILED] = "failed",
};

const char *preload_result_to_string(PreloadResult r) {
        return r >= 0 && r < _PRELOAD_RESULT_MAX ? preload_result_table[r] : NULL;
}

/* One tar. work() runs on a pool thread and touches only this struct (and the thread-safe store): the stat and the
 * record check. An import it leaves to a child of the loop (Preload.child). */
typedef struct PreloadJob {
        struct Preload *owner; /* NULL once the Preload is gone: done() then only frees the job */
        ImageStore *store;
        char *name, *path;
        /* in: the record of an earlier import, if any */
        bool have_record;
        uint64_t rec_ino, rec_size, rec_mtime_ns;
        char *rec_id;
        /* out */
        uint64_t ino, size, mtime_ns;
        bool skipped;
        char *image_id;
        ErrorBuf error;
} PreloadJob;

/* What the import child printed: stdout carries the image id, stderr the failure. More is read and dropped, so the
 * child never blocks on a full pipe. */
#define PRELOAD_OUTPUT_MAX 4096

typedef struct PreloadOutput {
        int fd;
        sd_event_source *source;
        char buf[PRELOAD_OUTPUT_MAX + 1];
        size_t size;
} PreloadOutput;

/* The running `nodeletctl images import` of one tar. */
typedef struct PreloadChild {
        PreloadJob *job;
        pid_t pid;
        int pidfd;
        sd_event_source *exit_source, *timer_source;
        PreloadOutput out, err;
        bool timed_out;
} PreloadChild;

struct Preload {
        sd_event *event;
        sd_event_source *start_source;
        WorkPool *pool;
        ImageStore *store;
        PreloadCallbacks cb;
        void *userdata;
        char *ctl_path, *root_dir;
        uint64_t timeout_usec;
        char *dir, *record_path;
        char **names; /* the tars, sorted */
        size_t n_names, next;
        json_t *record; /* name → {inode, size, mtimeNs, id} */
        bool record_dirty;
        PreloadJob *current; /* on the pool */
        PreloadChild *child;
        unsigned imported, skipped, failed;
};

static PreloadJob *preload_job_free(PreloadJob *j) {
        if (!j)
                return NULL;
        free(j->name);
        free(j->path);
        free(j->rec_id);
        free(j->image_id);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PreloadJob *, preload_job_free)

/* Kills the child if it still runs and reaps it: a SIGKILLed process is gone within moments, and nobody else may
 * reap our children (the daemon never calls waitpid(-1)), so it must not stay a zombie. */
static PreloadChild *preload_child_free(PreloadChild *c) {
        if (!c)
                return NULL;
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
        c->timer_source = sd_event_source_disable_unref(c->timer_source);
        c->out.source = sd_event_source_disable_unref(c->out.source);
        c->err.source = sd_event_source_disable_unref(c->err.source);
        if (c->pidfd >= 0) {
                siginfo_t si;
                (void) pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0);
                while (waitid((idtype_t) P_PIDFD, (id_t) c->pidfd, &si, WEXITED) < 0 && errno == EINTR)
                        ;
        }
        (void) safe_close(c->pidfd);
        (void) safe_close(c->out.fd);
        (void) safe_close(c->err.fd);
        preload_job_free(c->job);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(PreloadChild *, preload_child_free)

static bool is_image_tar(const char *name) {
        static const char *const suffixes[] = {".tar", ".tar.gz", ".tgz", ".tar.zst"};
        if (name[0] == '.')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (endswith(name, suffixes[i]) && strlen(name) > strlen(suffixes[i]))
                        return true;
        return false;
}

static uint64_t mtime_ns(const struct stat *st) {
        return (uint64_t) st->st_mtim.tv_sec * NSEC_PER_SEC + (uint64_t) st->st_mtim.tv_nsec;
}

static int preload_work(void *userdata) {
        PreloadJob *j = userdata;
        _cleanup_(image_info_freep) ImageInfo *info = NULL;
        struct stat st;

        /* stat() first: the importer would block on a FIFO. Symlinks to tars are fine (root's directory). */
        if (stat(j->path, &st) < 0)
                return error_set(&j->error, -errno, "%s: %s", j->path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return error_set(&j->error, -EBADFD, "%s: is not a regular file", j->path);
        j->ino = (uint64_t) st.st_ino;
        j->size = (uint64_t) st.st_size;
        j->mtime_ns = mtime_ns(&st);

        if (j->have_record && j->rec_ino == j->ino && j->rec_size == j->size && j->rec_mtime_ns == j->mtime_ns &&
            image_store_get(j->store, j->rec_id, &info, NULL) >= 0) {
                j->skipped = true;
                j->image_id = TAKE_PTR(j->rec_id);
        }
        /* Else (no record, another file, or the image removed from the store since): the loop starts the import. */
        return 0;
}

static void preload_save_record(Preload *p) {
        if (!p->record_dirty)
                return;
        _cleanup_free_ char *data = json_dumps(p->record, JSON_INDENT(2) | JSON_SORT_KEYS);
        int r = data ? write_file_atomic(p->record_path, data, strlen(data), 0644, false) : -ENOMEM;
        if (r < 0)
                /* Only costs time: the next start imports these again. */
                log_debug_errno(r, "Failed to write %s: %m", p->record_path);
        else
                p->record_dirty = false;
}

static void preload_next(Preload *p);

static void preload_finish_file(Preload *p, const char *path, PreloadResult result, const char *detail) {
        if (result == PRELOAD_IMPORTED)
                p->imported++;
        else if (result == PRELOAD_SKIPPED)
                p->skipped++;
        else
                p->failed++;
        if (p->cb.file_done)
                p->cb.file_done(path, result, detail, p->userdata);
}

/* Records and reports a tar whose check and import are over: result < 0 with j->error, or j->image_id. */
static void preload_job_finish(Preload *p, PreloadJob *j, int result) {
        if (result < 0) {
                if (json_object_del(p->record, j->name) == 0)
                        p->record_dirty = true;
                preload_finish_file(p, j->path, PRELOAD_FAILED, error_message(&j->error, result));
        } else if (j->skipped)
                preload_finish_file(p, j->path, PRELOAD_SKIPPED, j->image_id);
        else {
                json_t *entry = json_pack("{s:I, s:I, s:I, s:s}", "inode", (json_int_t) j->ino, "size",
                                          (json_int_t) j->size, "mtimeNs", (json_int_t) j->mtime_ns, "id", j->image_id);
                if (entry && json_object_set_new(p->record, j->name, entry) == 0) {
                        p->record_dirty = true;
                        /* Now, not at the end: a crash during the next import must not cost this one. */
                        preload_save_record(p);
                }
                preload_finish_file(p, j->path, PRELOAD_IMPORTED, j->image_id);
        }
}

/* ---- the import child ---- */

/* Reads what is there. Returns false at EOF or on an error. */
static bool output_read(PreloadOutput *o, unsigned max_reads) {
        char buf[4096];
        for (unsigned i = 0; i < max_reads; i++) {
                ssize_t n = read(o->fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                size_t take = MIN((size_t) n, PRELOAD_OUTPUT_MAX - o->size);
                memcpy(o->buf + o->size, buf, take);
                o->size += take;
                o->buf[o->size] = 0;
        }
        return true;
}

static int on_child_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        if (!output_read(userdata, 4))
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

/* The length of a common/log.c stderr header ("E1123 08:14:01.123456 ") at the start of s, else 0. */
static size_t log_header_length(const char *s) {
        static const char pattern[] = "L0000 00:00:00.000000 ";
        for (size_t i = 0; i < sizeof pattern - 1; i++) {
                char c = s[i];
                bool ok = pattern[i] == 'L'   ? c != 0 && strchr("EWNID", c)
                          : pattern[i] == '0' ? c >= '0' && c <= '9'
                                              : c == pattern[i];
                if (!ok)
                        return 0;
        }
        return sizeof pattern - 1;
}

/* The last non-empty line of o, without a log header; "" when there is none. Cuts o's buffer. */
static const char *output_last_line(PreloadOutput *o) {
        while (o->size > 0 && strchr(" \t\r\n", o->buf[o->size - 1]))
                o->buf[--o->size] = 0;
        char *nl = strrchr(o->buf, '\n');
        const char *line = nl ? nl + 1 : o->buf;
        return line + log_header_length(line);
}

/* "sha256:" and 64 lower-case hex digits, the image id `nodeletctl images import` prints last. */
static bool is_image_id(const char *s) {
        const char *hex = startswith(s, "sha256:");
        if (!hex || strlen(hex) != 64)
                return false;
        for (; *hex; hex++)
                if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f')))
                        return false;
        return true;
}

static int on_child_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        PreloadChild *c = userdata;
        c->timed_out = true;
        (void) pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0);
        return 0;
}

/* What the exited child's status and output mean for its tar: 0 with j->image_id, or the failure in j->error. */
static int preload_child_result(Preload *p, PreloadChild *c, const siginfo_t *si) {
        PreloadJob *j = c->job;

        /* It has exited, so all it wrote is in the pipes. Bounded: nothing else should hold their write ends. */
        (void) output_read(&c->out, 64);
        (void) output_read(&c->err, 64);
        const char *id = output_last_line(&c->out), *msg = output_last_line(&c->err);

        if (c->timed_out)
                return error_set(&j->error, -ETIMEDOUT, "%s: import did not finish within %" PRIu64 " s, killed",
                                 j->path, (uint64_t) (p->timeout_usec / USEC_PER_SEC));
        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                if (!is_image_id(id))
                        return error_set(&j->error, -EBADMSG, "%s: %s printed no image id", j->path, p->ctl_path);
                j->image_id = strdup(id);
                return j->image_id ? 0 : error_set(&j->error, -ENOMEM, "%s: out of memory", j->path);
        }
        if (!isempty(msg))
                /* The importer's messages name the tar already. */
                return startswith(msg, j->path) ? error_set(&j->error, -EIO, "%s", msg)
                                                : error_set(&j->error, -EIO, "%s: %s", j->path, msg);
        if (si->si_code == CLD_EXITED)
                return error_set(&j->error, -EIO, "%s: %s failed with exit status %d", j->path, p->ctl_path,
                                 si->si_status);
        return error_set(&j->error, -EIO, "%s: %s was killed by signal %s", j->path, p->ctl_path,
                         strna(sigabbrev_np(si->si_status)));
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Preload *p = userdata;
        PreloadChild *c = p->child;
        siginfo_t si = {};
        int r;

        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0)
                /* Not reaped: preload_child_free() below kills and reaps it. */
                r = error_set(&c->job->error, -errno, "%s: waiting for %s: %s", c->job->path, p->ctl_path,
                              strerror(errno));
        else if (si.si_pid == 0)
                return 0; /* not yet */
        else {
                /* Reaped: nothing left to kill. The source goes before its fd: closing a registered fd first
                 * leaves the epoll registration alive whenever a child forked meanwhile still holds a copy, and
                 * sd-event then gets events for a freed source. */
                c->exit_source = sd_event_source_disable_unref(c->exit_source);
                c->pidfd = safe_close(c->pidfd);
                r = preload_child_result(p, c, &si);
        }

        _cleanup_(preload_job_freep) PreloadJob *j = TAKE_PTR(c->job);
        p->child = preload_child_free(p->child);
        preload_job_finish(p, j, r);
        preload_next(p); /* may free p (done()) */
        return 0;
}

/* Starts `nodeletctl images --root-dir R import --quiet PATH` for *jp, which p->child takes on success. */
static int preload_child_start(Preload *p, PreloadJob **jp) {
        _cleanup_(preload_child_freep) PreloadChild *c = calloc(1, sizeof *c);
        int r;

        RET_NULL_ENOMEM(c);
        c->pidfd = c->out.fd = c->err.fd = -EBADF;
        char *argv[] = {p->ctl_path,       (char *) "images",  (char *) "--root-dir", p->root_dir,
                        (char *) "import", (char *) "--quiet", (*jp)->path,           NULL};
        r = spawn_piped(p->ctl_path, argv, &c->pid, &c->pidfd, &c->out.fd, &c->err.fd);
        if (r < 0)
                return r;
        /* From here on, freeing c kills and reaps the child. */
        if ((r = sd_event_add_io(p->event, &c->exit_source, c->pidfd, EPOLLIN, on_child_exit, p)) < 0 ||
            (r = sd_event_add_io(p->event, &c->out.source, c->out.fd, EPOLLIN, on_child_output, &c->out)) < 0 ||
            (r = sd_event_add_io(p->event, &c->err.source, c->err.fd, EPOLLIN, on_child_output, &c->err)) < 0 ||
            (r = sd_event_add_time_relative(p->event, &c->timer_source, CLOCK_MONOTONIC, p->timeout_usec, USEC_PER_SEC,
                                            on_child_timeout, c)) < 0)
                return r;
        /* Output first when both are ready in one iteration (the exit handler drains the pipes anyway). */
        (void) sd_event_source_set_priority(c->exit_source, SD_EVENT_PRIORITY_NORMAL + 1);
        c->job = TAKE_PTR(*jp);
        p->child = TAKE_PTR(c);
        return 0;
}

static void preload_job_done(int result, void *userdata) {
        _cleanup_(preload_job_freep) PreloadJob *j = userdata;
        Preload *p = j->owner;

        if (!p)
                return;
        p->current = NULL;
        if (result >= 0 && !j->skipped) {
                result = preload_child_start(p, &j);
                if (result >= 0)
                        return; /* on_child_exit() goes on */
                (void) error_set(&j->error, result, "%s: cannot run %s: %s", j->path, p->ctl_path, strerror(-result));
        }
        preload_job_finish(p, j, result);
        preload_next(p);
}

static int preload_job_new(Preload *p, const char *name, PreloadJob **ret) {
        _cleanup_(preload_job_freep) PreloadJob *j = calloc(1, sizeof *j);
        json_t *rec, *v;
        int r;

        RET_NULL_ENOMEM(j);
        j->owner = p;
        j->store = p->store;
        j->name = strdup(name);
        RET_NULL_ENOMEM(j->name);
        r = path_join(&j->path, p->dir, name);
        if (r < 0)
                return r;
        rec = json_object_get(p->record, name);
        if (json_is_object(rec) && json_is_string(v = json_object_get(rec, "id"))) {
                j->rec_id = strdup(json_string_value(v));
                RET_NULL_ENOMEM(j->rec_id);
                j->rec_ino = (uint64_t) json_integer_value(json_object_get(rec, "inode"));
                j->rec_size = (uint64_t) json_integer_value(json_object_get(rec, "size"));
                j->rec_mtime_ns = (uint64_t) json_integer_value(json_object_get(rec, "mtimeNs"));
                j->have_record = true;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

static void preload_next(Preload *p) {
        while (p->next < p->n_names) {
                _cleanup_(preload_job_freep) PreloadJob *j = NULL;
                const char *name = p->names[p->next++];
                int r = preload_job_new(p, name, &j);
                if (r >= 0)
                        r = work_pool_submit(p->pool, preload_work, preload_job_done, j);
                if (r >= 0) {
                        p->current = TAKE_PTR(j);
                        return;
                }
                _cleanup_free_ char *path = NULL, *msg = NULL;
                (void) path_join(&path, p->dir, name);
                if (asprintf(&msg, "%s: %s", strna(path), strerror(-r)) < 0)
                        msg = NULL;
                preload_finish_file(p, strna(path), PRELOAD_FAILED, strna(msg));
        }
        /* Records of tars that are gone go too. */
        const char *key;
        void *tmp;
        json_t *v;
        json_object_foreach_safe (p->record, tmp, key, v) {
                bool found = false;
                for (size_t i = 0; i < p->n_names && !found; i++)
                        found = streq(p->names[i], key);
                if (!found && json_object_del(p->record, key) == 0)
                        p->record_dirty = true;
        }
        preload_save_record(p);
        if (p->cb.done) {
                void (*done)(unsigned, unsigned, unsigned, void *) = p->cb.done;
                p->cb.done = NULL; /* exactly once */
                done(p->imported, p->skipped, p->failed, p->userdata);
        }
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int list_tars(const char *dir, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;
        DIR *d = opendir(dir);

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        int r = -errno;
                        (void) closedir(d);
                        if (r < 0)
                                return r;
                        break;
                }
                if (!is_image_tar(de->d_name))
                        continue;
                char **l = reallocarray(names, n + 2, sizeof(char *));
                if (l)
                        names = l;
                if (!l || !(names[n] = strdup(de->d_name))) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
                names[++n] = NULL;
        }
        if (n > 0)
                qsort(names, n, sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

/* Runs from the loop after preload_images_start() returned, so done() never runs inside it. */
static int on_start(sd_event_source *s, void *userdata) {
        Preload *p = userdata;
        _cleanup_free_ char *data = NULL;
        int r;

        r = list_tars(p->dir, &p->names, &p->n_names);
        if (r < 0) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "%s: %s", p->dir, strerror(-r)) < 0)
                        msg = NULL;
                preload_finish_file(p, p->dir, PRELOAD_FAILED, strna(msg));
        }
        if (p->n_names > 0 && read_full_file(p->record_path, 0, &data, NULL) >= 0) {
                json_t *j = NULL;
                if (jx_parse(data, strlen(data), p->record_path, &j, NULL) >= 0 && json_is_object(j)) {
                        json_decref(p->record);
                        p->record = j;
                } else
                        json_decref(j); /* unreadable: start over, it only costs time */
        }
        preload_next(p);
        return 0;
}

/* nodeletctl opens <root-dir>/images: the root is the store's parent. */
static int store_root_dir(ImageStore *store, char **ret) {
        const char *path = image_store_path(store);
        size_t n = strlen(path);

        while (n > 1 && path[n - 1] == '/')
                n--;
        if (n < STRLEN("images") || memcmp(path + n - STRLEN("images"), "images", STRLEN("images")) != 0)
                return -EINVAL;
        n -= STRLEN("images");
        if (n > 0 && path[n - 1] != '/')
                return -EINVAL; /* e.g. /var/lib/my-images */
        while (n > 1 && path[n - 1] == '/')
                n--;
        *ret = n == 0 ? strdup(".") : strndup(path, n);
        RET_NULL_ENOMEM(*ret);
        return 0;
}

int preload_images_start_full(sd_event *e, WorkPool *pool, ImageStore *store, const char *dir,
                              const PreloadOptions *opts, const PreloadCallbacks *cb, void *userdata, Preload **ret) {
        _cleanup_(preload_freep) Preload *p = NULL;
        const char *ctl = opts ? opts->ctl_path : NULL;
        int r;

        if (!e || !pool || !store || isempty(dir) || !cb || !ret)
                return -EINVAL;
        p = calloc(1, sizeof *p);
        RET_NULL_ENOMEM(p);
        p->event = e;
        p->pool = pool;
        p->store = store;
        p->cb = *cb;
        p->userdata = userdata;
        p->timeout_usec = opts && opts->timeout_usec > 0 ? opts->timeout_usec : PRELOAD_TIMEOUT_USEC;
        p->ctl_path = strdup(ctl ?: getenv("NODELET_CTL") ?: NODELET_BINDIR "/nodeletctl");
        RET_NULL_ENOMEM(p->ctl_path);
        r = store_root_dir(store, &p->root_dir);
        if (r < 0)
                return r;
        p->dir = strdup(dir);
        RET_NULL_ENOMEM(p->dir);
        r = path_join(&p->record_path, dir, PRELOAD_RECORD_FILE);
        if (r < 0)
                return r;
        p->record = json_object();
        RET_NULL_ENOMEM(p->record);
        r = sd_event_add_defer(e, &p->start_source, on_start, p);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(p->start_source, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int preload_images_start(sd_event *e, WorkPool *pool, ImageStore *store, const char *dir, const PreloadCallbacks *cb,
                         void *userdata, Preload **ret) {
        return preload_images_start_full(e, pool, store, dir, NULL, cb, userdata, ret);
}

Preload *preload_free(Preload *p) {
        if (!p)
                return NULL;
        if (p->current)
                p->current->owner = NULL; /* still queued or running: its done() frees it */
        p->child = preload_child_free(p->child);
        sd_event_source_disable_unref(p->start_source);
        strv_free(p->names);
        json_decref(p->record);
        free(p->ctl_path);
        free(p->root_dir);
        free(p->dir);
        free(p->record_path);
        free(p);
        return NULL;
}
