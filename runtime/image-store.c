/* SPDX-License-Identifier: Apache-2.0 */
/* The image store: layout, index, lookups, removal with reference counting of shared blobs and layers (a mark and
 * sweep over the index, so counts can never drift), and the per-image "users" records of the container engine.
 * Import lives in image-import.c. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "runtime/image-internal.h"
#include "runtime/reference.h"

static int store_path(const ImageStore *s, const char *sub, char **ret) {
        return path_join(ret, s->dir, sub);
}

/* Only when needed, so that an unprivileged reader can still open a store it does not own. */
static int ensure_mode(const char *path, mode_t mode) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
                return -errno;
        return 0;
}

int image_store_open(const char *images_dir, ImageStore **ret) {
        _cleanup_(image_store_freep) ImageStore *s = calloc(1, sizeof *s);
        RET_NULL_ENOMEM(s);
        int r = mkdir_p(images_dir, 0700);
        if (r < 0)
                return r;
        s->dir = realpath(images_dir, NULL);
        if (!s->dir)
                return -errno;
        if (store_path(s, "blobs/sha256", &s->blobs) < 0 || store_path(s, "layers", &s->layers) < 0 ||
            store_path(s, "tmp", &s->tmp) < 0 || store_path(s, "users", &s->users) < 0 ||
            store_path(s, "used", &s->used) < 0 || store_path(s, "index.json", &s->index_path) < 0 ||
            store_path(s, ".lock", &s->lock_path) < 0)
                return -ENOMEM;
        /* Layers must be traversable by containers running as any user (the overlay lower dirs). */
        /* used/ is created by the first image_store_touch(): a reader opening an older store needs no write. */
        const char *dirs[] = {s->blobs, s->layers, s->tmp, s->users};
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_p(dirs[i], 0700);
                if (r < 0)
                        return r;
        }
        r = ensure_mode(s->dir, 0711);
        if (r >= 0)
                r = ensure_mode(s->layers, 0711);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

ImageStore *image_store_free(ImageStore *s) {
        if (!s)
                return NULL;
        free(s->dir);
        free(s->blobs);
        free(s->layers);
        free(s->tmp);
        free(s->users);
        free(s->used);
        free(s->index_path);
        free(s->lock_path);
        free(s);
        return NULL;
}

const char *image_store_path(const ImageStore *s) {
        return s->dir;
}

ImageInfo *image_info_free(ImageInfo *i) {
        if (!i)
                return NULL;
        free(i->id);
        free(i->manifest_digest);
        strv_free(i->refs);
        strv_free(i->entrypoint);
        strv_free(i->cmd);
        strv_free(i->env);
        free(i->working_dir);
        free(i->user);
        free(i->stop_signal);
        strv_free(i->layer_dirs);
        free(i);
        return NULL;
}

void image_info_list_free(ImageInfo **l, size_t n) {
        for (size_t i = 0; l && i < n; i++)
                image_info_free(l[i]);
        free(l);
}

int store_lock(ImageStore *s, int *ret_fd) {
        _cleanup_close_ int fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int store_blob_path(const ImageStore *s, const char *hex, char **ret) {
        return path_join(ret, s->blobs, hex);
}

int store_layer_path(const ImageStore *s, const char *hex, char **ret) {
        return path_join(ret, s->layers, hex);
}

int read_json_blob(const char *path, const char *what, json_t **ret, ErrorBuf *e) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r = read_full_file(path, JSON_BLOB_MAX, &data, &size);
        if (r < 0)
                return error_set(e, r, "%s: cannot read: %s", what, strerror(-r));
        return jx_parse(data, size, what, ret, e);
}

/* index.json: {"images": {"sha256:<config hex>": {"manifest": "sha256:<hex>", "refs": ["<normalized>", …]}}} */
int store_index_load(ImageStore *s, json_t **ret, ErrorBuf *e) {
        _cleanup_json_ json_t *j = NULL;
        if (access(s->index_path, F_OK) < 0) {
                if (errno != ENOENT)
                        return -errno;
                j = json_pack("{s:{}}", "images");
                RET_NULL_ENOMEM(j);
        } else {
                int r = read_json_blob(s->index_path, s->index_path, &j, e);
                if (r < 0)
                        return r;
                if (!json_is_object(json_object_get(j, "images")))
                        return error_set(e, -EBADMSG, "%s: images: expected an object", s->index_path);
        }
        *ret = TAKE_PTR(j);
        return 0;
}

int store_index_save(ImageStore *s, json_t *index) {
        _cleanup_free_ char *text = json_dumps(index, JSON_INDENT(1) | JSON_SORT_KEYS);
        RET_NULL_ENOMEM(text);
        return write_file_atomic(s->index_path, text, strlen(text), 0600, true);
}

static bool refs_contain(const json_t *refs, const char *ref) {
        size_t i;
        json_t *v;
        json_array_foreach (refs, i, v)
                if (json_is_string(v) && streq(json_string_value(v), ref))
                        return true;
        return false;
}

/* "name@sha256:…" matches an image of that repository whose manifest has that digest (the repo digest the
 * kubelet and crictl print), whether or not the tag still points to it. */
static int find_by_digest_ref(json_t *images, const char *norm, const char **ret_id) {
        _cleanup_free_ char *repo = NULL, *digest = NULL;
        int r = reference_split(norm, &repo, NULL, &digest);
        if (r < 0)
                return r;
        const char *id;
        json_t *img;
        json_object_foreach (images, id, img) {
                if (!streq_ptr(json_string_value(json_object_get(img, "manifest")), digest))
                        continue;
                size_t i;
                json_t *v;
                json_array_foreach (json_object_get(img, "refs"), i, v) {
                        _cleanup_free_ char *other = NULL;
                        if (reference_split(json_string_value(v), &other, NULL, NULL) >= 0 && streq(other, repo)) {
                                *ret_id = id;
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

static bool is_id_prefix(const char *s) {
        const char *hex = startswith(s, "sha256:") ?: s;
        size_t n = strlen(hex);
        return n >= 4 && n <= SHA256_HEX_LEN && strspn(hex, "0123456789abcdef") == n;
}

/* Resolves ref_or_id against the index; sets *ret_id (the key, owned by index) and *ret_norm (the normalized
 * reference when it matched as a reference, else NULL). */
static int index_resolve(json_t *index, const char *ref_or_id, const char **ret_id, char **ret_norm, ErrorBuf *e) {
        json_t *images = json_object_get(index, "images"), *img;
        _cleanup_free_ char *norm = NULL;
        const char *id;
        ErrorBuf ref_error = {};
        int r = reference_normalize(ref_or_id, &norm, &ref_error);
        if (r >= 0) {
                if (strchr(norm, '@') && find_by_digest_ref(images, norm, ret_id) >= 0) {
                        *ret_norm = TAKE_PTR(norm);
                        return 0;
                }
                json_object_foreach (images, id, img)
                        if (refs_contain(json_object_get(img, "refs"), norm)) {
                                *ret_id = id;
                                *ret_norm = TAKE_PTR(norm);
                                return 0;
                        }
        }
        if (is_id_prefix(ref_or_id)) {
                const char *hex = startswith(ref_or_id, "sha256:") ?: ref_or_id, *found = NULL;
                json_object_foreach (images, id, img)
                        if (startswith(id + STRLEN("sha256:"), hex)) {
                                if (found)
                                        return error_set(e, -EINVAL, "image id prefix '%s' is ambiguous", ref_or_id);
                                found = id;
                        }
                if (found) {
                        *ret_id = found;
                        *ret_norm = NULL;
                        return 0;
                }
        }
        if (r < 0 && !is_id_prefix(ref_or_id))
                return error_set(e, r, "%s", ref_error.msg);
        return error_set(e, -ENOENT, "image '%s' not found", ref_or_id);
}

/* Whether the unpacked layer's root carries the opaque marker (layer_unpack() turns a root `.wh..wh..opq` into it). */
static bool layer_root_opaque(const char *dir) {
        char v[2] = {};
        return getxattr(dir, "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y';
}

static int dirs_of_layers(ImageStore *s, const ImageConfig *c, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(c->n_diff_ids + 1, sizeof(char *));
        size_t n = 0;
        RET_NULL_ENOMEM(l);
        for (size_t i = 0; i < c->n_diff_ids; i++) {
                int r = store_layer_path(s, c->diff_ids[i], &l[n]);
                if (r < 0)
                        return r;
                /* An opaque whiteout at a layer's root hides everything below it (image-spec layer.md), but
                 * overlayfs ignores the opaque xattr on a lower layer's root: leave the hidden layers out. */
                if (n > 0 && layer_root_opaque(l[n])) {
                        for (size_t k = 0; k < n; k++)
                                l[k] = mfree(l[k]);
                        l[0] = TAKE_PTR(l[n]);
                        n = 0;
                }
                n++;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static uint64_t mtime_usec(const char *path) {
        struct stat st;
        if (!path || stat(path, &st) < 0)
                return 0;
        return (uint64_t) st.st_mtim.tv_sec * USEC_PER_SEC + (uint64_t) st.st_mtim.tv_nsec / NSEC_PER_USEC;
}

static int used_path(ImageStore *s, const char *image_id, char **ret) {
        char hex[SHA256_HEX_LEN + 1];
        int r = digest_parse(image_id, "image id", hex, NULL);
        if (r < 0)
                return r;
        return path_join(ret, s->used, hex);
}

/* When the image came into the store: its manifest blob is written then (and a blob already present is kept, so a
 * pull of an image that is there changes nothing); its last use: the used/ record, never before it came. */
static void image_times(ImageStore *s, const char *id, const char *manifest_path, ImageInfo *info) {
        _cleanup_free_ char *up = NULL;
        info->created_usec = mtime_usec(manifest_path);
        uint64_t used = used_path(s, id, &up) >= 0 ? mtime_usec(up) : 0;
        info->last_used_usec = MAX(info->created_usec, used);
}

int store_image_info(ImageStore *s, const char *id, const json_t *entry, ImageInfo **ret, ErrorBuf *e) {
        _cleanup_(image_info_freep) ImageInfo *info = calloc(1, sizeof *info);
        _cleanup_(manifest_done) Manifest m = {};
        _cleanup_(image_config_done) ImageConfig c = {};
        _cleanup_json_ json_t *mj = NULL, *cj = NULL;
        _cleanup_free_ char *mpath = NULL, *cpath = NULL;
        char mhex[SHA256_HEX_LEN + 1], what[128];
        RET_NULL_ENOMEM(info);
        const char *mdigest = json_string_value(json_object_get(entry, "manifest"));
        int r = digest_parse(mdigest, "index.json: manifest", mhex, e);
        if (r < 0)
                return r;
        snprintf(what, sizeof what, "manifest %s", mdigest);
        if (store_blob_path(s, mhex, &mpath) < 0)
                return -ENOMEM;
        r = read_json_blob(mpath, what, &mj, e);
        if (r >= 0)
                r = manifest_parse(mj, what, &m, e);
        if (r < 0)
                return r;
        snprintf(what, sizeof what, "config sha256:%s", m.config.hex);
        if (store_blob_path(s, m.config.hex, &cpath) < 0)
                return -ENOMEM;
        r = read_json_blob(cpath, what, &cj, e);
        if (r >= 0)
                r = image_config_parse(cj, what, &c, e);
        if (r < 0)
                return r;
        info->id = strdup(id);
        info->manifest_digest = strdup(mdigest);
        RET_NULL_ENOMEM(info->id);
        RET_NULL_ENOMEM(info->manifest_digest);
        r = jx_get_strv(entry, "refs", "index.json", false, &info->refs, e);
        if (r < 0)
                return r;
        if (!info->refs)
                info->refs = calloc(1, sizeof(char *));
        RET_NULL_ENOMEM(info->refs);
        info->size = m.config.size;
        for (size_t i = 0; i < m.n_layers; i++)
                info->size += m.layers[i].size;
        r = dirs_of_layers(s, &c, &info->layer_dirs);
        if (r < 0)
                return r;
        image_times(s, id, mpath, info);
        r = image_info_take_config(info, &c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(info);
        return 0;
}

int image_store_get(ImageStore *s, const char *ref_or_id, ImageInfo **ret, ErrorBuf *e) {
        _cleanup_json_ json_t *index = NULL;
        _cleanup_free_ char *norm = NULL;
        const char *id;
        int r = store_index_load(s, &index, e);
        if (r < 0)
                return r;
        r = index_resolve(index, ref_or_id, &id, &norm, e);
        if (r < 0)
                return r;
        return store_image_info(s, id, json_object_get(json_object_get(index, "images"), id), ret, e);
}

static int info_cmp(const void *a, const void *b) {
        const ImageInfo *x = *(ImageInfo *const *) a, *y = *(ImageInfo *const *) b;
        const char *rx = x->refs[0], *ry = y->refs[0];
        if (rx && ry)
                return strcmp(rx, ry);
        if (rx || ry)
                return rx ? -1 : 1;
        return strcmp(x->id, y->id);
}

/* An image whose blobs cannot be read (deleted or corrupted behind our back): listed with its id and references only,
 * so that an operator sees it and can remove it. */
static int image_info_minimal(const char *id, const json_t *entry, ImageInfo **ret) {
        _cleanup_(image_info_freep) ImageInfo *info = calloc(1, sizeof *info);
        RET_NULL_ENOMEM(info);
        info->id = strdup(id);
        info->manifest_digest = strdup(strempty(json_string_value(json_object_get(entry, "manifest"))));
        if (jx_get_strv(entry, "refs", "index.json", false, &info->refs, NULL) < 0)
                info->refs = NULL;
        if (!info->refs)
                info->refs = calloc(1, sizeof(char *));
        info->entrypoint = calloc(1, sizeof(char *));
        info->cmd = calloc(1, sizeof(char *));
        info->env = calloc(1, sizeof(char *));
        info->layer_dirs = calloc(1, sizeof(char *));
        if (!info->id || !info->manifest_digest || !info->refs || !info->entrypoint || !info->cmd || !info->env ||
            !info->layer_dirs)
                return -ENOMEM;
        *ret = TAKE_PTR(info);
        return 0;
}

int image_store_list(ImageStore *s, ImageInfo ***ret, size_t *ret_n) {
        _cleanup_json_ json_t *index = NULL;
        int r = store_index_load(s, &index, NULL);
        if (r < 0)
                return r;
        json_t *images = json_object_get(index, "images"), *img;
        ImageInfo **l = calloc(json_object_size(images) + 1, sizeof(ImageInfo *));
        RET_NULL_ENOMEM(l);
        size_t n = 0;
        const char *id;
        json_object_foreach (images, id, img) {
                r = store_image_info(s, id, img, &l[n], NULL);
                if (r < 0 && r != -ENOMEM)
                        r = image_info_minimal(id, img, &l[n]);
                if (r < 0) {
                        image_info_list_free(l, n);
                        return r;
                }
                n++;
        }
        qsort(l, n, sizeof(ImageInfo *), info_cmp);
        *ret = l;
        *ret_n = n;
        return 0;
}

static int users_dir(ImageStore *s, const char *image_id, char **ret) {
        char hex[SHA256_HEX_LEN + 1];
        int r = digest_parse(image_id, "image id", hex, NULL);
        if (r < 0)
                return r;
        return path_join(ret, s->users, hex);
}

static int in_use_locked(ImageStore *s, const char *image_id) {
        _cleanup_free_ char *dir = NULL;
        int r = users_dir(s, image_id, &dir);
        if (r < 0)
                return r;
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        r = 0;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        r = 1;
                        break;
                }
        closedir(d);
        return r;
}

int image_store_in_use(ImageStore *s, const char *image_id) {
        return in_use_locked(s, image_id);
}

static bool container_id_valid(const char *cid) {
        return !isempty(cid) && !strchr(cid, '/') && !streq(cid, ".") && !streq(cid, "..") && strlen(cid) < NAME_MAX;
}

/* Sets the used/ record's mtime to usec (0: now), creating it. Called under the lock or on its own: the record is
 * one inode, and a race between two writers only picks one of two nearly equal times. */
static int touch_used(ImageStore *s, const char *image_id, uint64_t usec) {
        _cleanup_free_ char *path = NULL;
        int r = used_path(s, image_id, &path);
        if (r < 0)
                return r;
        r = mkdir_p(s->used, 0700);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        struct timespec ts[2] = {
                {.tv_sec = (time_t) (usec / USEC_PER_SEC), .tv_nsec = (long) (usec % USEC_PER_SEC * NSEC_PER_USEC)},
        };
        ts[1] = ts[0];
        return futimens(fd, usec > 0 ? ts : NULL) < 0 ? -errno : 0;
}

int image_store_touch(ImageStore *s, const char *image_id, uint64_t realtime_usec) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_json_ json_t *index = NULL;
        int r = store_lock(s, &lock);
        if (r < 0)
                return r;
        /* Under the lock, so that no record outlives its image (the garbage collector sweeps the others). */
        r = store_index_load(s, &index, NULL);
        if (r < 0)
                return r;
        if (!json_object_get(json_object_get(index, "images"), image_id))
                return -ENOENT;
        return touch_used(s, image_id, realtime_usec);
}

int image_store_add_user(ImageStore *s, const char *image_id, const char *container_id) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_json_ json_t *index = NULL;
        _cleanup_free_ char *dir = NULL, *path = NULL;
        if (!container_id_valid(container_id))
                return -EINVAL;
        int r = users_dir(s, image_id, &dir);
        if (r < 0)
                return r;
        r = store_lock(s, &lock);
        if (r < 0)
                return r;
        /* Under the lock, so a concurrent remove either sees the record or the image is already gone. */
        r = store_index_load(s, &index, NULL);
        if (r < 0)
                return r;
        if (!json_object_get(json_object_get(index, "images"), image_id))
                return -ENOENT;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        r = path_join(&path, dir, container_id);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        /* A container starts using it: its last use is now (the image garbage collector's lastUsed). */
        (void) touch_used(s, image_id, 0);
        return 0;
}

int image_store_remove_user(ImageStore *s, const char *image_id, const char *container_id) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ char *dir = NULL, *path = NULL;
        if (!container_id_valid(container_id))
                return -EINVAL;
        int r = users_dir(s, image_id, &dir);
        if (r < 0)
                return r;
        r = path_join(&path, dir, container_id);
        if (r < 0)
                return r;
        r = store_lock(s, &lock);
        if (r < 0)
                return r;
        if (unlink(path) < 0) {
                if (errno != ENOENT)
                        return -errno;
        } else
                /* It was used until now: like the kubelet, which counts an image in use while any container of it
                 * exists, running or not. */
                (void) touch_used(s, image_id, 0);
        if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
                return -errno;
        return 0;
}

static void remove_ref(json_t *img, const char *ref) {
        json_t *refs = json_object_get(img, "refs"), *v;
        size_t i;
        json_array_foreach (refs, i, v)
                if (streq(json_string_value(v), ref)) {
                        json_array_remove(refs, i);
                        return;
                }
}

int image_store_remove(ImageStore *s, const char *ref_or_id, ErrorBuf *e) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_json_ json_t *index = NULL;
        _cleanup_free_ char *norm = NULL, *id = NULL;
        const char *key;
        int r = store_lock(s, &lock);
        if (r < 0)
                return r;
        r = store_index_load(s, &index, e);
        if (r < 0)
                return r;
        r = index_resolve(index, ref_or_id, &key, &norm, e);
        if (r < 0)
                return r;
        id = strdup(key);
        RET_NULL_ENOMEM(id);
        json_t *images = json_object_get(index, "images"), *img = json_object_get(images, id);
        /* Like `docker rmi name:tag`: a tag is dropped; the image goes with its last tag. */
        bool drop_image = true;
        if (norm && !strchr(norm, '@')) {
                remove_ref(img, norm);
                drop_image = json_array_size(json_object_get(img, "refs")) == 0;
        }
        if (drop_image) {
                r = in_use_locked(s, id);
                if (r < 0)
                        return r;
                if (r > 0)
                        return error_set(e, -EBUSY, "image %s (%s) is in use by a container", ref_or_id, id);
                json_object_del(images, id);
        }
        r = store_index_save(s, index);
        if (r < 0)
                return error_set(e, r, "%s: cannot write: %s", s->index_path, strerror(-r));
        if (drop_image)
                (void) store_gc_locked(s);
        return 0;
}

/* ---- garbage collection ---- */

static int mark_image(ImageStore *s, json_t *img, json_t *live_blobs, json_t *live_layers) {
        _cleanup_(manifest_done) Manifest m = {};
        _cleanup_(image_config_done) ImageConfig c = {};
        _cleanup_json_ json_t *mj = NULL, *cj = NULL;
        _cleanup_free_ char *mpath = NULL, *cpath = NULL;
        char mhex[SHA256_HEX_LEN + 1];
        int r = digest_parse(json_string_value(json_object_get(img, "manifest")), "manifest", mhex, NULL);
        if (r < 0)
                return r;
        json_object_set_new(live_blobs, mhex, json_true());
        if (store_blob_path(s, mhex, &mpath) < 0)
                return -ENOMEM;
        r = read_json_blob(mpath, "manifest", &mj, NULL);
        if (r >= 0)
                r = manifest_parse(mj, "manifest", &m, NULL);
        if (r < 0)
                return r;
        json_object_set_new(live_blobs, m.config.hex, json_true());
        for (size_t i = 0; i < m.n_layers; i++)
                json_object_set_new(live_blobs, m.layers[i].hex, json_true());
        if (store_blob_path(s, m.config.hex, &cpath) < 0)
                return -ENOMEM;
        r = read_json_blob(cpath, "config", &cj, NULL);
        if (r >= 0)
                r = image_config_parse(cj, "config", &c, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c.n_diff_ids; i++)
                json_object_set_new(live_layers, c.diff_ids[i], json_true());
        return 0;
}

static int sweep_dir(const char *dir, json_t *live) {
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        struct dirent *de;
        int ret = 0;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || (live && json_object_get(live, de->d_name)))
                        continue;
                _cleanup_free_ char *p = NULL;
                if (path_join(&p, dir, de->d_name) < 0) {
                        ret = -ENOMEM;
                        break;
                }
                int r = rm_rf(p);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        closedir(d);
        return ret;
}

int store_gc_locked(ImageStore *s) {
        _cleanup_json_ json_t *index = NULL, *live_blobs = json_object(), *live_layers = json_object(),
                              *live_users = json_object();
        RET_NULL_ENOMEM(live_blobs);
        RET_NULL_ENOMEM(live_layers);
        RET_NULL_ENOMEM(live_users);
        /* Staging belongs to no image and, under the lock, to no running import either. */
        int ret = sweep_dir(s->tmp, NULL);
        int r = store_index_load(s, &index, NULL);
        if (r < 0)
                return r;
        const char *id;
        json_t *img;
        json_object_foreach (json_object_get(index, "images"), id, img) {
                /* If an image cannot be read we do not know which layers it (and its containers) use: sweep no
                 * blob or layer until it is repaired or removed. */
                r = mark_image(s, img, live_blobs, live_layers);
                if (r < 0)
                        return r;
                json_object_set_new(live_users, id + STRLEN("sha256:"), json_true());
        }
        r = sweep_dir(s->blobs, live_blobs);
        if (r < 0 && ret == 0)
                ret = r;
        r = sweep_dir(s->layers, live_layers);
        if (r < 0 && ret == 0)
                ret = r;
        r = sweep_dir(s->users, live_users);
        if (r < 0 && ret == 0)
                ret = r;
        r = sweep_dir(s->used, live_users);
        return ret < 0 ? ret : r;
}

int image_store_gc(ImageStore *s) {
        _cleanup_close_ int lock = -EBADF;
        int r = store_lock(s, &lock);
        if (r < 0)
                return r;
        return store_gc_locked(s);
}

/* Like `podman image prune [--all]`: one pass under the lock, one index write, one sweep. */
int image_store_prune(ImageStore *s, bool all, char ***ret_removed, ErrorBuf *e) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_json_ json_t *index = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        size_t n = 0;
        const char *id;
        json_t *img, *tmp;
        int r = store_lock(s, &lock);
        if (r < 0)
                return r;
        r = store_index_load(s, &index, e);
        if (r < 0)
                return r;
        json_t *images = json_object_get(index, "images");
        removed = calloc(json_object_size(images) + 1, sizeof(char *));
        RET_NULL_ENOMEM(removed);
        json_object_foreach_safe (images, tmp, id, img) {
                if (!all && json_array_size(json_object_get(img, "refs")) > 0)
                        continue;
                r = in_use_locked(s, id);
                if (r < 0)
                        return error_set(e, r, "image %s: cannot read its users: %s", id, strerror(-r));
                if (r > 0)
                        continue;
                removed[n] = strdup(id);
                RET_NULL_ENOMEM(removed[n]);
                n++;
                json_object_del(images, id);
        }
        if (n > 0) {
                r = store_index_save(s, index);
                if (r < 0)
                        return error_set(e, r, "%s: cannot write: %s", s->index_path, strerror(-r));
                (void) store_gc_locked(s);
        }
        if (ret_removed)
                *ret_removed = TAKE_PTR(removed);
        return (int) MIN(n, (size_t) INT_MAX);
}
