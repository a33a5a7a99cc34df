/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/preload.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"

static const char *const preload_result_table[_PRELOAD_RESULT_MAX] = {
        [PRELOAD_IMPORTED] = "imported",
        [PRELOAD_SKIPPED] = "skipped",
        [PRELOAD_FAILED] = "failed",
};

const char *preload_result_to_string(PreloadResult r) {
        return r >= 0 && r < _PRELOAD_RESULT_MAX ? preload_result_table[r] : NULL;
}

/* One tar's import. work() runs on a pool thread and touches only this struct (and the thread-safe store). */
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

struct Preload {
        sd_event_source *start_source;
        WorkPool *pool;
        ImageStore *store;
        PreloadCallbacks cb;
        void *userdata;
        char *dir, *record_path;
        char **names; /* the tars, sorted */
        size_t n_names, next;
        json_t *record; /* name → {inode, size, mtimeNs, id} */
        bool record_dirty;
        PreloadJob *current;
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
        int r;

        /* stat() first: image_store_import() would block on a FIFO. Symlinks to tars are fine (root's directory). */
        if (stat(j->path, &st) < 0)
                return error_set(&j->error, -errno, "%s: %s", j->path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return error_set(&j->error, -EBADFD, "%s: is not a regular file", j->path);
        j->ino = (uint64_t) st.st_ino;
        j->size = (uint64_t) st.st_size;
        j->mtime_ns = mtime_ns(&st);

        if (j->have_record && j->rec_ino == j->ino && j->rec_size == j->size && j->rec_mtime_ns == j->mtime_ns) {
                r = image_store_get(j->store, j->rec_id, &info, NULL);
                if (r >= 0) {
                        j->skipped = true;
                        j->image_id = TAKE_PTR(j->rec_id);
                        return 0;
                }
                /* Removed from the store since: import again. */
        }
        r = image_store_import(j->store, j->path, NULL, &info, &j->error);
        if (r < 0)
                return r;
        j->image_id = strdup(info->id);
        RET_NULL_ENOMEM(j->image_id);
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

static void preload_job_done(int result, void *userdata) {
        _cleanup_(preload_job_freep) PreloadJob *j = userdata;
        Preload *p = j->owner;

        if (!p)
                return;
        p->current = NULL;
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

int preload_images_start(sd_event *e, WorkPool *pool, ImageStore *store, const char *dir, const PreloadCallbacks *cb,
                         void *userdata, Preload **ret) {
        _cleanup_(preload_freep) Preload *p = NULL;
        int r;

        if (!e || !pool || !store || isempty(dir) || !cb || !ret)
                return -EINVAL;
        p = calloc(1, sizeof *p);
        RET_NULL_ENOMEM(p);
        p->pool = pool;
        p->store = store;
        p->cb = *cb;
        p->userdata = userdata;
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

Preload *preload_free(Preload *p) {
        if (!p)
                return NULL;
        if (p->current)
                p->current->owner = NULL; /* still queued or running: its done() frees it */
        sd_event_source_disable_unref(p->start_source);
        strv_free(p->names);
        json_decref(p->record);
        free(p->dir);
        free(p->record_path);
        free(p);
        return NULL;
}
