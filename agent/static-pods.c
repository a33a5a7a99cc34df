/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/static-pods.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/pod.h"
#include "common/error.h"
#include "common/event-util.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/yaml.h"

/* Long enough for an editor's write-temp-then-rename burst to arrive as one batch, short enough to go unnoticed. */
#define COALESCE_USEC (5 * USEC_PER_MSEC)

/* IN_ATTRIB: a chmod can make a file (un)readable and `touch` changes what the periodic rescan compares. No
 * IN_MODIFY: a file is read once its writer closed it (IN_CLOSE_WRITE) or renamed it into place (IN_MOVED_TO). */
#define DIR_MASK                                                                                                       \
        (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF |           \
         IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
/* The parent tells us when the directory itself is created, removed or renamed. */
#define PARENT_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)

typedef struct StaticPod {
        char *uid;
        char *key;      /* "namespace/name" after defaulting: duplicates are found by it */
        json_t *object; /* with defaults and config.seen */
        char *where;    /* "document 2" or "document 1: items[3]", for messages */
        bool active;    /* add() was called, remove() was not */
        bool duplicate; /* reported as a duplicate; not reported again while it stays one */
} StaticPod;

typedef struct SourceFile {
        char *name, *path;
        /* What the periodic rescan compares to decide whether to read the file again. */
        dev_t dev;
        ino_t ino;
        mode_t mode;
        off_t size;
        struct timespec mtime, ctime;
        StaticPod *pods;
        size_t n_pods;
        bool reused; /* scan bookkeeping: carried over into the new file list */
} SourceFile;

struct StaticPodSource {
        sd_event *event;
        char *dir, *parent, *base, *node_name;
        uint64_t check_frequency;
        PodSourceCallbacks cb;
        void *userdata;

        int inotify_fd, dir_wd, parent_wd;
        sd_event_source *inotify_source, *coalesce_source, *periodic_source, *initial_source;

        SourceFile **files; /* sorted by name */
        size_t n_files;

        char **dirty; /* names inotify reported since the last scan: read again whatever their stat says */
        size_t n_dirty;
        bool dirty_all;

        char *dir_error; /* the last reported directory error, so it is reported once */
        bool synced, scanning, rescan_pending, rescan_force;
};

static void static_pod_clear(StaticPod *p) {
        free(p->uid);
        free(p->key);
        free(p->where);
        json_decref(p->object);
        *p = (StaticPod){};
}

static SourceFile *source_file_free(SourceFile *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_pods; i++)
                static_pod_clear(&f->pods[i]);
        free(f->pods);
        free(f->name);
        free(f->path);
        free(f);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(SourceFile *, source_file_free)

static bool source_file_unchanged(const SourceFile *f, const struct stat *st) {
        return f->dev == st->st_dev && f->ino == st->st_ino && f->mode == st->st_mode && f->size == st->st_size &&
               f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec &&
               f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static void source_file_set_stat(SourceFile *f, const struct stat *st) {
        f->dev = st->st_dev;
        f->ino = st->st_ino;
        f->mode = st->st_mode;
        f->size = st->st_size;
        f->mtime = st->st_mtim;
        f->ctime = st->st_ctim;
}

/* Like the kubelet's config.seen: RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano), in UTC. */
static void format_seen(char buf[static 40]) {
        struct timespec ts;
        struct tm tm;
        char frac[16];

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        (void) gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
        size_t l = strlen(frac);
        while (l > 1 && frac[l - 1] == '0')
                frac[--l] = 0;
        if (l == 1)
                frac[0] = 0;
        (void) snprintf(buf + n, 40 - n, "%sZ", frac);
}

static int md5_hex(const char *const *parts, size_t n_parts, char ret[static 33]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int r = 0;

        RET_NULL_ENOMEM(ctx);
        if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
                r = -EIO;
        for (size_t i = 0; r == 0 && i < n_parts; i++)
                if (EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) != 1)
                        r = -EIO;
        if (r == 0 && (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 16))
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < len; i++) {
                ret[2 * i] = hex[md[i] >> 4];
                ret[2 * i + 1] = hex[md[i] & 15];
        }
        ret[32] = 0;
        return 0;
}

/* Sets a string member, -ENOMEM on failure. */
static int set_string(json_t *obj, const char *key, const char *value) {
        return json_object_set_new(obj, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

/* The object member key as an object (created when absent or null); -EINVAL naming the field otherwise. */
static int ensure_object(json_t *obj, const char *key, const char *path, json_t **ret, ErrorBuf *e) {
        json_t *v = NULL;
        int r = jx_get_object(obj, key, path, false, &v, e);
        if (r < 0)
                return r;
        if (!v) {
                v = json_object();
                if (!v || json_object_set_new(obj, key, v) < 0)
                        return -ENOMEM;
        }
        *ret = v;
        return 0;
}

/* The kubelet's applyDefaults() for file pods (pkg/kubelet/config/common.go); see static-pods.h. pod has been
 * checked to be a Pod with a metadata.name string. */
static int pod_apply_defaults(json_t *pod, const char *node, const char *path, const char *seen, StaticPod *ret,
                              ErrorBuf *e) {
        _cleanup_free_ char *canonical = NULL, *host = NULL, *file = NULL, *name = NULL, *lower = NULL, *key = NULL;
        json_t *metadata = json_object_get(pod, "metadata"), *spec = NULL, *annotations = NULL, *tolerations = NULL;
        const char *ns = NULL;
        char uid[33];
        int r;

        canonical = jx_dump_compact(pod);
        RET_NULL_ENOMEM(canonical);
        if (asprintf(&host, "host:%s", node) < 0 || asprintf(&file, "file:%s", path) < 0)
                return -ENOMEM;
        r = md5_hex((const char *const[]){host, file, canonical}, 3, uid);
        if (r < 0)
                return r;

        lower = strdup(node);
        RET_NULL_ENOMEM(lower);
        for (char *c = lower; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        if (asprintf(&name, "%s-%s", json_string_value(json_object_get(metadata, "name")), lower) < 0)
                return -ENOMEM;

        r = jx_get_string(metadata, "namespace", "metadata", false, &ns, e);
        if (r < 0)
                return r;
        if (isempty(ns))
                ns = "default";
        if (asprintf(&key, "%s/%s", ns, name) < 0)
                return -ENOMEM;
        if (set_string(metadata, "namespace", ns) < 0 || set_string(metadata, "name", name) < 0 ||
            set_string(metadata, "uid", uid) < 0)
                return -ENOMEM;

        r = ensure_object(metadata, "annotations", "metadata", &annotations, e);
        if (r < 0)
                return r;
        if (set_string(annotations, POD_ANNOTATION_CONFIG_HASH, uid) < 0 ||
            set_string(annotations, POD_ANNOTATION_CONFIG_SOURCE, "file") < 0 ||
            set_string(annotations, POD_ANNOTATION_CONFIG_SEEN, seen) < 0)
                return -ENOMEM;

        r = ensure_object(pod, "spec", "", &spec, e);
        if (r < 0)
                return r;
        if (set_string(spec, "nodeName", node) < 0)
                return -ENOMEM;
        r = jx_get_array(spec, "tolerations", "spec", false, &tolerations, e);
        if (r < 0)
                return r;
        if (!tolerations) {
                tolerations = json_array();
                if (!tolerations || json_object_set_new(spec, "tolerations", tolerations) < 0)
                        return -ENOMEM;
        }
        /* The kubelet tolerates every NoExecute taint for static pods: nothing could evict them anyway. */
        json_t *t = json_pack("{s:s, s:s}", "operator", "Exists", "effect", "NoExecute");
        if (!t || json_array_append_new(tolerations, t) < 0)
                return -ENOMEM;

        ret->uid = strdup(uid);
        RET_NULL_ENOMEM(ret->uid);
        ret->key = TAKE_PTR(key);
        return 0;
}

/* Checks that v is a v1 Pod with a metadata.name. Items of a list may leave kind and apiVersion out (PodList items
 * usually do); they are set on the pod. */
static int check_pod(json_t *v, bool in_list, ErrorBuf *e) {
        const char *kind = NULL, *api_version = NULL, *name = NULL;
        json_t *metadata = NULL;
        int r;

        if (!json_is_object(v))
                return error_set(e, -EINVAL, "expected an object, got %s", json_type_name(v));
        r = jx_get_string(v, "kind", "", !in_list, &kind, e);
        if (r < 0)
                return r;
        if (kind && !streq(kind, "Pod"))
                return error_set(e, -EINVAL, "kind: expected \"Pod\", got \"%s\"", kind);
        r = jx_get_string(v, "apiVersion", "", !in_list, &api_version, e);
        if (r < 0)
                return r;
        if (api_version && !streq(api_version, "v1"))
                return error_set(e, -EINVAL, "apiVersion: expected \"v1\", got \"%s\"", api_version);
        r = jx_get_object(v, "metadata", "", true, &metadata, e);
        if (r < 0)
                return r;
        r = jx_get_string(metadata, "name", "metadata", true, &name, e);
        if (r < 0)
                return r;
        if (isempty(name))
                return error_set(e, -EINVAL, "metadata.name: must not be empty");
        if (set_string(v, "kind", "Pod") < 0 || set_string(v, "apiVersion", "v1") < 0)
                return -ENOMEM;
        return 0;
}

static int pods_append(StaticPod **pods, size_t *n, StaticPod *p) {
        StaticPod *np = reallocarray(*pods, *n + 1, sizeof **pods);
        RET_NULL_ENOMEM(np);
        *pods = np;
        (*pods)[(*n)++] = *p;
        *p = (StaticPod){};
        return 0;
}

/* One pod of a document (item >= 0: of a list): checked, defaulted, appended. Errors read
 * "<path>: document <n>[: items[<i>]]: <field>: <problem>". */
static int file_add_pod(StaticPodSource *s, SourceFile *f, json_t *v, size_t doc, ssize_t item, const char *seen,
                        ErrorBuf *e) {
        _cleanup_(static_pod_clear) StaticPod p = {};
        int r;

        if (item >= 0)
                r = asprintf(&p.where, "document %zu: items[%zd]", doc, item);
        else
                r = asprintf(&p.where, "document %zu", doc);
        if (r < 0) {
                p.where = NULL;
                return -ENOMEM;
        }
        r = check_pod(v, item >= 0, e);
        if (r >= 0)
                r = pod_apply_defaults(v, s->node_name, f->path, seen, &p, e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_prefix(e, r, "%s: %s", f->path, p.where);
        p.object = json_incref(v);
        return pods_append(&f->pods, &f->n_pods, &p);
}

static int file_add_document(StaticPodSource *s, SourceFile *f, json_t *doc, size_t index, const char *seen,
                             ErrorBuf *e) {
        const char *kind = json_is_object(doc) ? json_string_value(json_object_get(doc, "kind")) : NULL;
        const char *api_version = NULL;
        json_t *items = NULL;
        int r;

        if (!kind || !(streq(kind, "List") || streq(kind, "PodList")))
                return file_add_pod(s, f, doc, index, -1, seen, e);

        r = jx_get_string(doc, "apiVersion", "", true, &api_version, e);
        if (r >= 0 && !streq(api_version, "v1"))
                r = error_set(e, -EINVAL, "apiVersion: expected \"v1\", got \"%s\"", api_version);
        if (r >= 0)
                r = jx_get_array(doc, "items", "", false, &items, e);
        if (r < 0)
                return error_prefix(e, r, "%s: document %zu", f->path, index);
        for (size_t i = 0; i < json_array_size(items); i++) {
                r = file_add_pod(s, f, json_array_get(items, i), index, (ssize_t) i, seen, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Reads and decodes one directory entry into a SourceFile. Problems with the file end up in e (the file then has
 * no pods) and return a negative errno; -ENOENT means the entry vanished meanwhile (skip it), -ENOMEM is ours. The
 * file is returned in every case but those two, with its stat recorded, so an unchanged bad file is not re-read. */
static int source_file_load(StaticPodSource *s, int dfd, const char *name, const struct stat *lst, SourceFile **ret,
                            ErrorBuf *e) {
        _cleanup_(source_file_freep) SourceFile *f = calloc(1, sizeof *f);
        _cleanup_json_ json_t *docs = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        struct stat st = *lst;
        size_t size = 0;
        char seen[40];
        int r;

        RET_NULL_ENOMEM(f);
        f->name = strdup(name);
        RET_NULL_ENOMEM(f->name);
        r = path_join(&f->path, s->dir, name);
        if (r < 0)
                return r;
        source_file_set_stat(f, &st);

        /* Look before opening: opening a device can have side effects, a FIFO without a writer would block. */
        if (S_ISLNK(st.st_mode))
                r = error_set(e, -ELOOP, "%s: is a symbolic link (not followed)", f->path);
        else if (S_ISDIR(st.st_mode))
                r = error_set(e, -EISDIR, "%s: is a directory (not recursing into it)", f->path);
        else if (!S_ISREG(st.st_mode))
                r = error_set(e, -EBADFD, "%s: is not a regular file", f->path);
        else {
                fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        if (errno == ENOENT)
                                return -ENOENT;
                        r = error_set(e, -errno, "%s: %s", f->path, strerror(errno));
                } else if (fstat(fd, &st) < 0)
                        r = error_set(e, -errno, "%s: %s", f->path, strerror(errno));
                else {
                        /* Replaced between the lstat and the open: judge (and remember) what we opened. */
                        source_file_set_stat(f, &st);
                        if (!S_ISREG(st.st_mode))
                                r = error_set(e, -EBADFD, "%s: is not a regular file", f->path);
                        else if ((uint64_t) st.st_size > STATIC_POD_FILE_MAX)
                                r = error_set(e, -EFBIG, "%s: larger than %u bytes", f->path, STATIC_POD_FILE_MAX);
                        else {
                                r = read_full_fd(fd, STATIC_POD_FILE_MAX, &data, &size);
                                if (r == -EFBIG)
                                        r = error_set(e, r, "%s: larger than %u bytes", f->path, STATIC_POD_FILE_MAX);
                                else if (r < 0 && r != -ENOMEM)
                                        r = error_set(e, r, "%s: %s", f->path, strerror(-r));
                        }
                }
        }
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                r = yaml_parse_documents(data, size, f->path, &docs, e);
                if (r == -ENOMEM)
                        return r;
        }
        format_seen(seen);
        for (size_t i = 0; r >= 0 && i < json_array_size(docs); i++)
                r = file_add_document(s, f, json_array_get(docs, i), i + 1, seen, e);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* A file with a bad document contributes no pods. */
                for (size_t i = 0; i < f->n_pods; i++)
                        static_pod_clear(&f->pods[i]);
                f->n_pods = 0;
        }
        *ret = TAKE_PTR(f);
        return r;
}

/* Carries the pods that did not change (same UID) over from the previous version of a file, with their config.seen
 * and their state, so they get no callback. */
static void source_file_carry_over(SourceFile *f, SourceFile *old, bool reset_reports) {
        for (size_t i = 0; i < f->n_pods; i++)
                for (size_t j = 0; j < old->n_pods; j++) {
                        if (!old->pods[j].uid || !streq(old->pods[j].uid, f->pods[i].uid))
                                continue;
                        /* The document may have moved within the file: messages name where it is now. */
                        char *where = TAKE_PTR(f->pods[i].where);
                        static_pod_clear(&f->pods[i]);
                        f->pods[i] = old->pods[j];
                        old->pods[j] = (StaticPod){};
                        free(f->pods[i].where);
                        f->pods[i].where = where;
                        if (reset_reports)
                                f->pods[i].duplicate = false;
                        break;
                }
}

static bool source_is_dirty(StaticPodSource *s, const char *name) {
        for (size_t i = 0; i < s->n_dirty; i++)
                if (streq(s->dirty[i], name))
                        return true;
        return false;
}

static void source_mark_dirty(StaticPodSource *s, const char *name) {
        if (s->dirty_all || source_is_dirty(s, name))
                return;
        char **l = reallocarray(s->dirty, s->n_dirty + 2, sizeof(char *));
        char *n = strdup(name);
        if (l)
                s->dirty = l;
        if (!l || !n) {
                free(n);
                s->dirty_all = true; /* cannot remember which: read them all */
                return;
        }
        s->dirty[s->n_dirty++] = n;
        s->dirty[s->n_dirty] = NULL;
}

static void source_clear_dirty(StaticPodSource *s) {
        for (size_t i = 0; i < s->n_dirty; i++)
                free(s->dirty[i]);
        free(s->dirty);
        s->dirty = NULL;
        s->n_dirty = 0;
        s->dirty_all = false;
}

static void report(StaticPodSource *s, const char *path, const char *message) {
        log_debug("Static pod source: %s", message);
        if (s->cb.file_error)
                s->cb.file_error(path, message, s->userdata);
}

/* Watches the parent (for the directory's creation or replacement) and the directory itself when it exists. A
 * failure only costs latency: the periodic rescan still finds everything. */
static void source_arm_watches(StaticPodSource *s) {
        int wd;

        if (s->parent_wd < 0 && !isempty(s->base)) {
                wd = inotify_add_watch(s->inotify_fd, s->parent, PARENT_MASK);
                if (wd >= 0)
                        s->parent_wd = wd;
        }
        wd = inotify_add_watch(s->inotify_fd, s->dir, DIR_MASK);
        if (wd < 0 && errno != ENOENT && errno != ENOTDIR)
                log_debug("Static pod source: cannot watch %s: %m", s->dir);
        if (s->dir_wd >= 0 && s->dir_wd != wd)
                /* A different directory now (or none): stop hearing about the old one. */
                (void) inotify_rm_watch(s->inotify_fd, s->dir_wd);
        s->dir_wd = wd < 0 ? -1 : wd;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The sorted names of the directory's non-dot entries; *ret NULL (and 0) when the directory does not exist. */
static int list_dir(int dfd, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0;
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                (void) safe_close(fd);
                return r;
        }
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                int r = -errno;
                                closedir(d);
                                return r;
                        }
                        break;
                }
                /* Like the kubelet: hidden files (editor swap files, our own temp files) are not manifests. */
                if (de->d_name[0] == '.')
                        continue;
                char **l = reallocarray(names, n + 2, sizeof(char *));
                if (l)
                        names = l;
                if (!l || !(names[n] = strdup(de->d_name))) {
                        closedir(d);
                        return -ENOMEM;
                }
                names[++n] = NULL;
        }
        closedir(d);
        if (n > 0)
                qsort(names, n, sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

static SourceFile *find_file(SourceFile **files, size_t n, const char *name) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(files[mid]->name, name);
                if (c == 0)
                        return files[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void free_file_list(SourceFile **files, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (files[i] && !files[i]->reused)
                        source_file_free(files[i]);
        free(files);
}

typedef struct Claim {
        StaticPod *pod;
        const SourceFile *file;
} Claim;

/* Sends remove() for the pods of dropped files, then decides which pods are active (of two with the same
 * namespace/name the one earlier in lexical file order wins, like the kubelet that keeps the first in listing order)
 * and sends remove() for the now shadowed ones, then add() for the new ones: an edit reads remove(old) + add(new).
 * Runs after every successful scan, so an add() that failed for lack of memory is retried by the next one. */
static void source_emit(StaticPodSource *s, SourceFile **dropped, size_t n_dropped) {
        _cleanup_free_ Claim *taken = NULL;
        size_t n_taken = 0, n_all = 0;

        for (size_t i = 0; i < n_dropped; i++)
                for (size_t j = 0; j < dropped[i]->n_pods; j++)
                        if (dropped[i]->pods[j].active) {
                                dropped[i]->pods[j].active = false;
                                s->cb.remove(dropped[i]->pods[j].uid, s->userdata);
                        }

        for (size_t i = 0; i < s->n_files; i++)
                n_all += s->files[i]->n_pods;
        taken = calloc(n_all ?: 1, sizeof *taken);
        if (!taken)
                return;

        for (size_t i = 0; i < s->n_files; i++) {
                SourceFile *f = s->files[i];
                for (size_t j = 0; j < f->n_pods; j++) {
                        StaticPod *p = &f->pods[j];
                        const Claim *other = NULL;
                        for (size_t k = 0; k < n_taken && !other; k++)
                                if (streq(taken[k].pod->key, p->key))
                                        other = &taken[k];
                        if (!other) {
                                taken[n_taken++] = (Claim){p, f};
                                p->duplicate = false;
                                continue;
                        }
                        if (!p->duplicate) {
                                _cleanup_free_ char *msg = NULL;
                                if (asprintf(&msg, "%s: %s: metadata.name: pod \"%s\" is already defined in %s (%s)",
                                             f->path, p->where, p->key, other->file->path, other->pod->where) >= 0) {
                                        p->duplicate = true;
                                        report(s, f->path, msg);
                                }
                        }
                        if (p->active) {
                                p->active = false;
                                s->cb.remove(p->uid, s->userdata);
                        }
                }
        }

        for (size_t k = 0; k < n_taken; k++) {
                StaticPod *p = taken[k].pod;
                if (p->active)
                        continue;
                char where[PATH_MAX + 64];
                (void) snprintf(where, sizeof(where), "%s: %s", taken[k].file->path, p->where);
                /* A copy: the callee may keep and change it without touching ours. */
                json_t *copy = json_deep_copy(p->object);
                if (!copy)
                        continue;
                p->active = true;
                s->cb.add(copy, where, s->userdata);
                json_decref(copy);
        }
}

/* One pass over the directory. Returns 0 when the directory's state is known (possibly: absent), negative when it
 * could not be read (the previous state is kept then). */
static int source_scan_once(StaticPodSource *s, bool force_all) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int dfd = -EBADF;
        SourceFile **files = NULL, **dropped = NULL;
        size_t n_names = 0, n_files = 0, n_dropped = 0;
        int r;

        source_arm_watches(s);

        dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 && errno != ENOENT) {
                /* Unreadable is not empty: keep the pods (like the kubelet, which sends no update then). */
                _cleanup_free_ char *msg = NULL;
                r = -errno;
                if (asprintf(&msg, "%s: %s", s->dir, strerror(-r)) < 0)
                        return -ENOMEM;
                if (!streq_ptr(msg, s->dir_error)) {
                        report(s, s->dir, msg);
                        free(s->dir_error);
                        s->dir_error = TAKE_PTR(msg);
                }
                return r;
        }
        if (dfd >= 0) {
                r = list_dir(dfd, &names, &n_names);
                if (r < 0)
                        return r;
        }
        free(s->dir_error);
        s->dir_error = NULL;

        files = calloc(n_names ?: 1, sizeof *files);
        if (!files)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_files; i++)
                s->files[i]->reused = false;

        for (size_t i = 0; i < n_names; i++) {
                SourceFile *old = find_file(s->files, s->n_files, names[i]), *f = NULL;
                struct stat st;
                ErrorBuf e = {};

                if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue; /* gone meanwhile */
                        r = -errno;
                        goto fail;
                }
                if (old && !force_all && !source_is_dirty(s, names[i]) && source_file_unchanged(old, &st)) {
                        old->reused = true;
                        files[n_files++] = old;
                        continue;
                }
                r = source_file_load(s, dfd, names[i], &st, &f, &e);
                if (r == -ENOENT)
                        continue;
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0)
                        report(s, f->path, error_message(&e, r));
                files[n_files++] = f;
        }

        /* Commit: from here on nothing fails. */
        dropped = calloc(s->n_files ?: 1, sizeof *dropped);
        if (!dropped) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < n_files; i++) {
                if (files[i]->reused)
                        continue;
                SourceFile *old = find_file(s->files, s->n_files, files[i]->name);
                if (old)
                        source_file_carry_over(files[i], old, force_all);
        }
        for (size_t i = 0; i < s->n_files; i++)
                if (!s->files[i]->reused)
                        dropped[n_dropped++] = s->files[i];
        for (size_t i = 0; i < n_files; i++)
                files[i]->reused = false;
        free(s->files);
        s->files = files;
        s->n_files = n_files;

        source_emit(s, dropped, n_dropped);
        for (size_t i = 0; i < n_dropped; i++)
                source_file_free(dropped[i]);
        free(dropped);
        return 0;

fail:
        /* Only the files read in this pass are ours to free; the old ones stay. */
        free_file_list(files, n_files);
        for (size_t i = 0; i < s->n_files; i++)
                s->files[i]->reused = false;
        return r;
}

static void source_scan(StaticPodSource *s, bool force_all) {
        if (s->scanning) {
                /* Called from a callback: finish this pass first. */
                s->rescan_pending = true;
                s->rescan_force = s->rescan_force || force_all;
                return;
        }
        s->scanning = true;
        for (;;) {
                int r = source_scan_once(s, force_all || s->dirty_all);
                if (r < 0)
                        log_debug_errno(r, "Static pod source: scanning %s failed, keeping the previous state: %m",
                                        s->dir);
                else
                        source_clear_dirty(s);
                if (r >= 0 && !s->synced) {
                        s->synced = true;
                        if (s->cb.synced)
                                s->cb.synced(s->userdata);
                }
                if (!s->rescan_pending)
                        break;
                force_all = s->rescan_force;
                s->rescan_pending = s->rescan_force = false;
        }
        s->scanning = false;
}

void static_pod_source_rescan(StaticPodSource *s) {
        if (s)
                source_scan(s, true);
}

static int on_coalesced(sd_event_source *es, uint64_t usec, void *userdata) {
        source_scan(userdata, false);
        return 0;
}

static int on_initial(sd_event_source *es, void *userdata) {
        source_scan(userdata, true);
        return 0;
}

static int on_periodic(sd_event_source *es, uint64_t usec, void *userdata) {
        StaticPodSource *s = userdata;
        source_scan(s, false);
        (void) sd_event_source_set_time_relative(es, s->check_frequency);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
        return 0;
}

static void source_schedule(StaticPodSource *s) {
        int enabled = SD_EVENT_OFF;
        (void) sd_event_source_get_enabled(s->coalesce_source, &enabled);
        if (enabled != SD_EVENT_OFF)
                return; /* already due: do not postpone it, a steady stream of events must not starve the scan */
        if (sd_event_source_set_time_relative(s->coalesce_source, COALESCE_USEC) < 0 ||
            sd_event_source_set_enabled(s->coalesce_source, SD_EVENT_ONESHOT) < 0)
                source_scan(s, false);
}

static void source_handle_event(StaticPodSource *s, const struct inotify_event *ev) {
        if (ev->mask & IN_Q_OVERFLOW) {
                s->dirty_all = true;
                return;
        }
        if (ev->wd == s->dir_wd) {
                if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
                        if (ev->mask & IN_IGNORED)
                                s->dir_wd = -1;
                        s->dirty_all = true;
                        return;
                }
                if (ev->len == 0 || ev->name[0] == '.')
                        return;
                if ((ev->mask & (IN_CREATE | IN_ISDIR)) == IN_CREATE) {
                        /* A new regular file is read when its writer closes it (IN_CLOSE_WRITE), not half-written.
                         * FIFOs, sockets, devices and symlinks get no further event: look at them now. */
                        _cleanup_free_ char *p = NULL;
                        struct stat st;
                        if (path_join(&p, s->dir, ev->name) >= 0 && lstat(p, &st) >= 0 && S_ISREG(st.st_mode))
                                return;
                }
                source_mark_dirty(s, ev->name);
        } else if (ev->wd == s->parent_wd) {
                if (ev->mask & IN_IGNORED) {
                        s->parent_wd = -1;
                        s->dirty_all = true;
                } else if (ev->len > 0 && streq(ev->name, s->base))
                        s->dirty_all = true;
        }
}

static int on_inotify(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        StaticPodSource *s = userdata;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;
        bool any = false;

        for (;;) {
                ssize_t n = read(fd, u.buf, sizeof u.buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                s->dirty_all = any = true;
                        break;
                }
                for (char *p = u.buf; p < u.buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;
                        source_handle_event(s, ev);
                        p += sizeof *ev + ev->len;
                }
                any = true;
        }
        if (any)
                source_schedule(s);
        return 0;
}

static int split_dir(StaticPodSource *s, const char *dir) {
        size_t l = strlen(dir);
        while (l > 1 && dir[l - 1] == '/')
                l--;
        s->dir = strndup(dir, l);
        RET_NULL_ENOMEM(s->dir);
        char *slash = strrchr(s->dir, '/');
        if (!slash) {
                s->parent = strdup(".");
                s->base = strdup(s->dir);
        } else {
                s->parent = slash == s->dir ? strdup("/") : strndup(s->dir, (size_t) (slash - s->dir));
                s->base = strdup(slash + 1);
        }
        if (!s->parent || !s->base)
                return -ENOMEM;
        return 0;
}

int static_pod_source_new(sd_event *e, const char *dir, const char *node_name, uint64_t check_frequency_usec,
                          const PodSourceCallbacks *cb, void *userdata, StaticPodSource **ret) {
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        int r;

        if (!e || isempty(dir) || isempty(node_name) || !cb || !cb->add || !cb->remove || !ret)
                return -EINVAL;
        s = calloc(1, sizeof *s);
        RET_NULL_ENOMEM(s);
        s->inotify_fd = s->dir_wd = s->parent_wd = -1;
        s->event = sd_event_ref(e);
        s->cb = *cb;
        s->userdata = userdata;
        s->check_frequency = check_frequency_usec ?: STATIC_POD_CHECK_FREQUENCY_DEFAULT;
        s->node_name = strdup(node_name);
        RET_NULL_ENOMEM(s->node_name);
        r = split_dir(s, dir);
        if (r < 0)
                return r;

        s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->inotify_fd < 0)
                return -errno;
        r = sd_event_add_io(e, &s->inotify_source, s->inotify_fd, EPOLLIN, on_inotify, s);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &s->coalesce_source, CLOCK_MONOTONIC, COALESCE_USEC, 0, on_coalesced, s);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(s->coalesce_source, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &s->periodic_source, CLOCK_MONOTONIC, s->check_frequency, 0, on_periodic, s);
        if (r < 0)
                return r;
        r = sd_event_add_defer(e, &s->initial_source, on_initial, s);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(s->initial_source, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

StaticPodSource *static_pod_source_free(StaticPodSource *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->inotify_source);
        sd_event_source_disable_unref(s->coalesce_source);
        sd_event_source_disable_unref(s->periodic_source);
        sd_event_source_disable_unref(s->initial_source);
        safe_close(s->inotify_fd);
        for (size_t i = 0; i < s->n_files; i++)
                source_file_free(s->files[i]);
        free(s->files);
        source_clear_dirty(s);
        free(s->dir_error);
        free(s->dir);
        free(s->parent);
        free(s->base);
        free(s->node_name);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
