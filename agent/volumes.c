/* SPDX-License-Identifier: Apache-2.0 */
/* Pod volumes (emptyDir, hostPath, downwardAPI, projected) and the container's bind mounts, after the kubelet's
 * pkg/volume plugins, pkg/volume/util/atomic_writer.go and pkg/volume/util/subpath. See agent/volumes.h. */
#include "agent/volumes.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <linux/openat2.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"

/* Volume and container names become path components. The API validates them as DNS labels; refuse anything that
 * could leave the directory anyway. */
static bool name_is_safe(const char *s) {
        return !isempty(s) && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && strlen(s) <= NAME_MAX;
}

static const char *volume_plugin_dir(VolumeType t) {
        switch (t) {
        case VOLUME_EMPTY_DIR:
                return "kubernetes.io~empty-dir";
        case VOLUME_DOWNWARD_API:
                return "kubernetes.io~downward-api";
        case VOLUME_PROJECTED:
                return "kubernetes.io~projected";
        case VOLUME_CONFIG_MAP:
                return "kubernetes.io~configmap";
        case VOLUME_SECRET:
                return "kubernetes.io~secret";
        default:
                return NULL;
        }
}

/* Like the kubelet's GetAttributes().ReadOnly: these volumes are always mounted read-only. */
static bool volume_is_read_only(const Volume *v) {
        return v->type == VOLUME_DOWNWARD_API || v->type == VOLUME_PROJECTED || v->type == VOLUME_CONFIG_MAP ||
               v->type == VOLUME_SECRET;
}

int pod_volume_path(const Volume *v, const char *pod_dir, char **ret) {
        char *s = NULL;
        if (v->type == VOLUME_HOST_PATH) {
                if (isempty(v->host_path))
                        return -EINVAL;
                s = strdup(v->host_path);
                RET_NULL_ENOMEM(s);
                *ret = s;
                return 0;
        }
        const char *plugin = volume_plugin_dir(v->type);
        if (!plugin)
                return -ENOENT;
        if (!name_is_safe(v->name))
                return -EINVAL;
        if (asprintf(&s, "%s/volumes/%s/%s", pod_dir, plugin, v->name) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* 1 when path (not following a final symlink) is the root of a mount, 0 when not. */
static int is_mount_point(int dir_fd, const char *path) {
        struct statx sx;
        if (statx(dir_fd, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
                return -errno;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        /* Kernels before 5.8: a different device than the parent (enough for our tmpfs mounts). */
        _cleanup_free_ char *parent = NULL;
        struct stat a, b;
        if (asprintf(&parent, "%s/..", path) < 0)
                return -ENOMEM;
        if (fstatat(dir_fd, path, &a, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(dir_fd, parent, &b, 0) < 0)
                return -errno;
        return a.st_dev != b.st_dev;
}

/* mkdir that ends with exactly `mode` when it created the directory (the daemon's umask must not matter). */
static int mkdir_exact(const char *path, mode_t mode) {
        if (mkdir(path, mode) < 0)
                return errno == EEXIST ? 0 : -errno;
        return chmod(path, mode) < 0 ? -errno : 1;
}

static int write_marker(const char *path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        return fd < 0 ? -errno : 0;
}

/* ---- fsGroup ---- */

/* One entry, like the kubelet's changeFilePermission: the group everywhere (symlinks included, not followed);
 * files get group read (and write unless the volume is read-only), directories also group execute and setgid. */
static int ownership_fix(int dir_fd, const char *name, gid_t gid, mode_t mask) {
        struct stat st;
        if (fchownat(dir_fd, name, (uid_t) -1, gid, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
                return -errno;
        /* Re-read: chown() clears setuid/setgid on executables. */
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return 0;
        mode_t m = (st.st_mode & 07777) | mask | (S_ISDIR(st.st_mode) ? (S_ISGID | 0110) : 0);
        if (m == (st.st_mode & 07777))
                return 0;
        if (*name == 0)
                return fchmod(dir_fd, m) < 0 ? -errno : 0;
        return fchmodat(dir_fd, name, m, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int ownership_tree_at(int dir_fd, gid_t gid, mode_t mask, dev_t dev, unsigned depth) {
        if (depth > 256)
                return -ELOOP;
        int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                int r = -errno;
                (void) close(dup_fd);
                return r;
        }
        /* The duplicate shares the file offset: an earlier walk of the same fd left it at the end. */
        rewinddir(d);
        int ret = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                int r = ownership_fix(dirfd(d), de->d_name, gid, mask);
                if (r < 0 && ret == 0)
                        ret = r;
                /* Stay on the volume's file system, like filepath.Walk over a fresh volume would. */
                if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
                        _cleanup_close_ int sub =
                                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                r = -errno;
                        else
                                r = ownership_tree_at(sub, gid, mask, dev, depth + 1);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
        }
        closedir(d);
        return ret;
}

/* The kubelet's SetVolumeOwnership (fsGroupChangePolicy Always): the whole tree below dir, dir included. */
static int volume_set_ownership(const char *dir, int64_t fs_group, bool read_only) {
        if (fs_group < 0)
                return 0;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        mode_t mask = read_only ? 0440 : 0660;
        int r = ownership_fix(fd, "", (gid_t) fs_group, mask);
        if (r < 0)
                return r;
        return ownership_tree_at(fd, (gid_t) fs_group, mask, st.st_dev, 0);
}

/* ---- emptyDir ---- */

/* The pod's memory limit as the pod cgroup gets it (cm.ResourceConfigForPod): only when every container declares
 * one; app containers and sidecars add up, a regular init container runs alone. -1 = unlimited. */
static int64_t pod_memory_limit(const Pod *p) {
        int64_t sum = 0, init_max = 0;
        for (size_t i = 0; i < p->n_containers; i++) {
                if (p->containers[i].resources.limits.memory <= 0)
                        return -1;
                sum += p->containers[i].resources.limits.memory;
        }
        for (size_t i = 0; i < p->n_init_containers; i++) {
                const PodContainer *c = &p->init_containers[i];
                if (c->resources.limits.memory <= 0)
                        return -1;
                if (pod_container_is_sidecar(c))
                        sum += c->resources.limits.memory;
                else
                        init_max = MAX(init_max, c->resources.limits.memory);
        }
        return MAX(sum, init_max);
}

/* The tmpfs size like the kubelet's calculateEmptyDirMemorySize (SizeMemoryBackedVolumes): node allocatable, lowered
 * to the pod's memory limit, lowered to the volume's sizeLimit; each only when set and smaller. -1 = no size. */
static int64_t memory_volume_size(const Pod *p, int64_t size_limit, const PodRuntimeInfo *info) {
        int64_t size = info && info->node_allocatable_memory > 0 ? info->node_allocatable_memory : -1;
        int64_t pod_limit = pod_memory_limit(p);
        if (pod_limit > 0 && (size < 0 || pod_limit <= size))
                size = pod_limit;
        if (size_limit > 0 && (size < 0 || size_limit <= size))
                size = size_limit;
        return size;
}

/* Mounts a tmpfs on dir unless one is there already. Returns 1 when it mounted. nodev: device nodes belong in the
 * container's /dev (the rootfs is nodev too); otherwise the kubelet's plain tmpfs. */
static int tmpfs_ensure(const char *dir, int64_t size) {
        int r = is_mount_point(AT_FDCWD, dir);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        char opts[64];
        if (size > 0)
                snprintf(opts, sizeof(opts), "size=%" PRIi64, size);
        if (mount("tmpfs", dir, "tmpfs", MS_NODEV, size > 0 ? opts : NULL) < 0)
                return -errno;
        return 1;
}

static int setup_empty_dir(const Pod *p, const Volume *v, const char *pod_dir, const PodRuntimeInfo *info,
                           ErrorBuf *e) {
        _cleanup_free_ char *path = NULL, *meta = NULL, *ready = NULL, *parent = NULL;
        int r = pod_volume_path(v, pod_dir, &path);
        if (r < 0)
                return error_set(e, r, "invalid volume name");
        if (asprintf(&meta, "%s/plugins/kubernetes.io~empty-dir/%s", pod_dir, v->name) < 0 ||
            asprintf(&ready, "%s/ready", meta) < 0 ||
            asprintf(&parent, "%s/volumes/kubernetes.io~empty-dir", pod_dir) < 0)
                return -ENOMEM;
        /* Like the kubelet's ready file: set up completely before, so the content (and its owners) stay as they are. */
        bool was_ready = access(ready, F_OK) == 0;
        r = mkdir_p(parent, 0750);
        if (r >= 0)
                r = mkdir_exact(path, 0777);
        if (r < 0)
                return error_set(e, r, "creating %s: %s", path, strerror(-r));
        bool fresh = !was_ready;
        if (v->medium_memory) {
                r = tmpfs_ensure(path, memory_volume_size(p, v->size_limit, info));
                if (r < 0)
                        return error_set(e, r, "mounting a tmpfs on %s: %s", path, strerror(-r));
                fresh = fresh || r > 0;
        }
        if (!fresh)
                return 0;
        /* 0777 like the kubelet's emptyDir (no sticky bit): any container user may write. */
        if (chmod(path, 0777) < 0)
                return error_set(e, -errno, "chmod %s: %m", path);
        r = volume_set_ownership(path, p->security_context.fs_group, false);
        if (r < 0)
                return error_set(e, r, "applying fsGroup %" PRIi64 " to %s: %s", p->security_context.fs_group, path,
                                 strerror(-r));
        r = mkdir_p(meta, 0750);
        if (r >= 0)
                r = write_marker(ready);
        if (r < 0)
                return error_set(e, r, "writing %s: %s", ready, strerror(-r));
        return 0;
}

/* ---- hostPath ---- */

/* The kubelet's hostPath type checks (pkg/volume/hostpath checkType), with its messages. */
static int setup_host_path(const Volume *v, ErrorBuf *e) {
        const char *path = v->host_path;
        struct stat st;
        int r;

        if (isempty(path) || path[0] != '/')
                return error_set(e, -EINVAL, "hostPath.path \"%s\": must be an absolute path", strempty(path));
        if (v->host_path_type == HOST_PATH_UNSET)
                return 0;
        bool exists = stat(path, &st) >= 0;
        if (!exists && errno != ENOENT)
                return error_set(e, -errno, "hostPath type check failed: %s: %m", path);
        if (!exists && v->host_path_type == HOST_PATH_DIRECTORY_OR_CREATE) {
                r = mkdir_p(path, 0755);
                if (r < 0)
                        return error_set(e, r, "hostPath type check failed: creating directory %s: %s", path,
                                         strerror(-r));
                return 0;
        }
        if (!exists && v->host_path_type == HOST_PATH_FILE_OR_CREATE) {
                /* Like the kubelet, the parent directory is not created. */
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
                if (fd < 0)
                        return error_set(e, -errno, "hostPath type check failed: creating file %s: %m", path);
                if (fchmod(fd, 0644) < 0)
                        return error_set(e, -errno, "hostPath type check failed: chmod %s: %m", path);
                return 0;
        }
        switch (v->host_path_type) {
        case HOST_PATH_DIRECTORY_OR_CREATE:
        case HOST_PATH_DIRECTORY:
                if (!exists || !S_ISDIR(st.st_mode))
                        return error_set(e, -ENOTDIR, "hostPath type check failed: %s is not a directory", path);
                return 0;
        case HOST_PATH_FILE_OR_CREATE:
        case HOST_PATH_FILE:
                if (!exists || !S_ISREG(st.st_mode))
                        return error_set(e, -EINVAL, "hostPath type check failed: %s is not a file", path);
                return 0;
        case HOST_PATH_SOCKET:
                if (!exists || !S_ISSOCK(st.st_mode))
                        return error_set(e, -EINVAL, "hostPath type check failed: %s is not a socket file", path);
                return 0;
        case HOST_PATH_CHAR_DEVICE:
                if (!exists || !S_ISCHR(st.st_mode))
                        return error_set(e, -EINVAL, "hostPath type check failed: %s is not a character device", path);
                return 0;
        case HOST_PATH_BLOCK_DEVICE:
                if (!exists || !S_ISBLK(st.st_mode))
                        return error_set(e, -EINVAL, "hostPath type check failed: %s is not a block device", path);
                return 0;
        default:
                return error_set(e, -EINVAL, "hostPath.type: %d is an invalid volume type", (int) v->host_path_type);
        }
}

/* ---- downwardAPI / projected payloads ---- */

typedef struct PayloadFile {
        char *path; /* relative, validated */
        char *data; /* NUL-terminated; may hold NUL bytes (Secrets): size counts */
        size_t size;
        mode_t mode;
} PayloadFile;

typedef struct Payload {
        PayloadFile *files;
        size_t n;
} Payload;

static void payload_done(Payload *pl) {
        for (size_t i = 0; i < pl->n; i++) {
                free(pl->files[i].path);
                free(pl->files[i].data);
        }
        free(pl->files);
        *pl = (Payload){};
}

/* The atomic writer's path rules (validatePath): relative, no ".." element, not starting with "..", bounded. */
static bool payload_path_is_valid(const char *path) {
        if (isempty(path) || path[0] == '/' || startswith(path, "..") || strlen(path) > 4096)
                return false;
        for (const char *s = path; *s;) {
                size_t l = strcspn(s, "/");
                if (l > NAME_MAX || (l == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                s += l;
                s += strspn(s, "/");
        }
        return true;
}

/* Takes data (size bytes). A later item with the same path replaces the earlier one. */
static int payload_add(Payload *pl, const char *path, char *data, size_t size, mode_t mode) {
        _cleanup_free_ char *d = data, *p = NULL;
        /* filepath.Clean for what validation allows: no duplicate or trailing slashes, no "." elements. */
        p = malloc(strlen(path) + 1);
        RET_NULL_ENOMEM(p);
        size_t o = 0;
        for (const char *s = path; *s;) {
                size_t l = strcspn(s, "/");
                if (l > 0 && !(l == 1 && s[0] == '.')) {
                        if (o > 0)
                                p[o++] = '/';
                        memcpy(p + o, s, l);
                        o += l;
                }
                s += l;
                s += strspn(s, "/");
        }
        p[o] = 0;
        if (o == 0)
                return -EINVAL;
        for (size_t i = 0; i < pl->n; i++)
                if (streq(pl->files[i].path, p)) {
                        free(pl->files[i].data);
                        pl->files[i].data = TAKE_PTR(d);
                        pl->files[i].size = size;
                        pl->files[i].mode = mode;
                        return 0;
                }
        PayloadFile *n = realloc(pl->files, (pl->n + 1) * sizeof(PayloadFile));
        RET_NULL_ENOMEM(n);
        pl->files = n;
        pl->files[pl->n++] = (PayloadFile){.path = TAKE_PTR(p), .data = TAKE_PTR(d), .size = size, .mode = mode};
        return 0;
}

static int downward_items_collect(const Pod *p, const DownwardApiItem *items, size_t n, int32_t default_mode,
                                  const PodRuntimeInfo *info, const char *field, Payload *pl, ErrorBuf *e) {
        for (size_t i = 0; i < n; i++) {
                const DownwardApiItem *it = &items[i];
                _cleanup_free_ char *value = NULL;
                int r;

                if (!payload_path_is_valid(it->path))
                        return error_set(e, -EINVAL, "%s[%zu].path \"%s\": must be a relative path without '..'", field,
                                         i, strempty(it->path));
                if (it->field_path) {
                        r = pod_field_ref_value(p, it->field_path, info, &value, e);
                        if (r < 0)
                                return error_prefix(e, r, "%s[%zu].fieldRef", field, i);
                } else if (it->resource) {
                        const PodContainer *c =
                                it->resource_container ? pod_find_container(p, it->resource_container) : NULL;
                        if (!c)
                                return error_set(e, -EINVAL,
                                                 "%s[%zu].resourceFieldRef.containerName: container "
                                                 "\"%s\" not found",
                                                 field, i, strempty(it->resource_container));
                        r = pod_resource_field_ref_value(p, c, it->resource, it->divisor, info, &value, e);
                        if (r < 0)
                                return error_prefix(e, r, "%s[%zu].resourceFieldRef", field, i);
                } else
                        return error_set(e, -EINVAL, "%s[%zu]: must specify fieldRef or resourceFieldRef", field, i);

                mode_t mode = (mode_t) (it->mode >= 0 ? it->mode : default_mode >= 0 ? default_mode : 0644) & 0777;
                size_t size = strlen(value);
                r = payload_add(pl, it->path, TAKE_PTR(value), size, mode);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- configMap, secret, serviceAccountToken: the values come in info->api_objects (agent/pod.h) ---- */

static const json_t *api_object(const PodRuntimeInfo *info, bool secret, const char *name) {
        return json_object_get(json_object_get(info->api_objects, secret ? "secrets" : "configMaps"), strempty(name));
}

/* data first, then binaryData (API validation keeps a key in one of them). */
static const json_t *api_object_value(const json_t *obj, const char *key) {
        const json_t *v = json_object_get(json_object_get(obj, "data"), key);
        return v ?: json_object_get(json_object_get(obj, "binaryData"), key);
}

static int payload_add_value(Payload *pl, const char *path, const json_t *v, mode_t mode) {
        size_t l = json_string_length(v);
        char *d = malloc(l + 1);
        RET_NULL_ENOMEM(d);
        memcpy(d, json_string_value(v), l);
        d[l] = 0;
        return payload_add(pl, path, d, l, mode);
}

/* The kubelet's configmap/secret MakePayload: without items every key (data, then binaryData) under its own name
 * with defaultMode; with items only those, each key required unless the source is optional. A missing object is
 * an empty payload when optional, else the kubelet's error. */
static int key_source_collect(const PodRuntimeInfo *info, bool secret, const char *name, const KeyToPath *keys,
                              size_t n_keys, bool optional, int32_t default_mode, const char *field, Payload *pl,
                              ErrorBuf *e) {
        const json_t *obj = api_object(info, secret, name);
        mode_t dmode = (mode_t) (default_mode >= 0 ? default_mode : 0644) & 0777;
        int r;

        if (!obj) {
                if (optional)
                        return 0;
                return error_set(e, -ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap", strempty(name));
        }
        if (n_keys == 0) {
                static const char *const parts[] = {"data", "binaryData"};
                for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                        const char *k;
                        json_t *v;
                        json_object_foreach (json_object_get(obj, parts[i]), k, v) {
                                if (!payload_path_is_valid(k))
                                        return error_set(e, -EINVAL, "%s \"%s\": key \"%s\": invalid file name",
                                                         secret ? "secret" : "configmap", strempty(name), k);
                                r = payload_add_value(pl, k, v, dmode);
                                if (r < 0)
                                        return r;
                        }
                }
                return 0;
        }
        for (size_t i = 0; i < n_keys; i++) {
                const json_t *v = api_object_value(obj, strempty(keys[i].key));
                if (!v) {
                        if (optional)
                                continue;
                        return error_set(e, -EINVAL, "%s: %s",
                                         secret ? "references non-existent secret key"
                                                : "configmap references non-existent config key",
                                         strempty(keys[i].key));
                }
                if (!payload_path_is_valid(keys[i].path))
                        return error_set(e, -EINVAL, "%s.items[%zu].path \"%s\": must be a relative path without '..'",
                                         field, i, strempty(keys[i].path));
                r = payload_add_value(pl, keys[i].path, v, keys[i].mode >= 0 ? (mode_t) keys[i].mode & 0777 : dmode);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int api_volume_payload(const Pod *p, const Volume *v, const PodRuntimeInfo *info, Payload *pl, ErrorBuf *e) {
        char field[64];
        int r = 0;
        if (v->type == VOLUME_CONFIG_MAP || v->type == VOLUME_SECRET)
                return key_source_collect(info, v->type == VOLUME_SECRET, v->ref_name, v->keys, v->n_keys, v->optional,
                                          v->default_mode, v->type == VOLUME_SECRET ? "secret" : "configMap", pl, e);
        /* projected: every source into one payload, later paths replacing earlier ones like the kubelet's map. */
        for (size_t i = 0; i < v->n_sources && r >= 0; i++) {
                const ProjectedSource *s = &v->sources[i];
                switch (s->type) {
                case VOLUME_DOWNWARD_API:
                        snprintf(field, sizeof(field), "projected.sources[%zu].downwardAPI.items", i);
                        r = downward_items_collect(p, s->items, s->n_items, v->default_mode, info, field, pl, e);
                        break;
                case VOLUME_CONFIG_MAP:
                case VOLUME_SECRET:
                        snprintf(field, sizeof(field), "projected.sources[%zu].%s", i,
                                 s->type == VOLUME_SECRET ? "secret" : "configMap");
                        r = key_source_collect(info, s->type == VOLUME_SECRET, s->name, s->keys, s->n_keys, s->optional,
                                               v->default_mode, field, pl, e);
                        break;
                case VOLUME_SERVICE_ACCOUNT_TOKEN: {
                        char key[128];
                        snprintf(key, sizeof(key), "%s/%zu", v->name, i);
                        const json_t *t = json_object_get(json_object_get(info->api_objects, "tokens"), key);
                        if (!json_is_string(t))
                                return error_set(e, -ENOENT, "failed to fetch token: no token was issued yet");
                        if (!payload_path_is_valid(s->token_path))
                                return error_set(e, -EINVAL,
                                                 "projected.sources[%zu].serviceAccountToken.path \"%s\": must be a "
                                                 "relative path without '..'",
                                                 i, strempty(s->token_path));
                        r = payload_add_value(pl, s->token_path, t,
                                              (mode_t) (v->default_mode >= 0 ? v->default_mode : 0644) & 0777);
                        break;
                }
                default:
                        break;
                }
        }
        return r;
}

static int volume_payload(const Pod *p, const Volume *v, const PodRuntimeInfo *info, Payload *pl, ErrorBuf *e) {
        char field[64];
        if (info && info->api_objects && v->type != VOLUME_DOWNWARD_API)
                return api_volume_payload(p, v, info, pl, e);
        switch (v->type) {
        case VOLUME_DOWNWARD_API:
                return downward_items_collect(p, v->items, v->n_items, v->default_mode, info, "downwardAPI.items", pl,
                                              e);
        case VOLUME_PROJECTED:
                for (size_t i = 0; i < v->n_sources; i++) {
                        const ProjectedSource *s = &v->sources[i];
                        if (s->type == VOLUME_DOWNWARD_API) {
                                snprintf(field, sizeof(field), "projected.sources[%zu].downwardAPI.items", i);
                                int r = downward_items_collect(p, s->items, s->n_items, v->default_mode, info, field,
                                                               pl, e);
                                if (r < 0)
                                        return r;
                        } else if ((s->type == VOLUME_CONFIG_MAP || s->type == VOLUME_SECRET) && !s->optional)
                                /* An optional one that cannot be found is left out, like a missing optional one. */
                                return error_set(e, -ENOTSUP,
                                                 "projected.sources[%zu].%s \"%s\": needs the API server (not "
                                                 "supported yet)",
                                                 i, s->type == VOLUME_SECRET ? "secret" : "configMap",
                                                 strempty(s->name));
                }
                return 0;
        case VOLUME_CONFIG_MAP:
        case VOLUME_SECRET:
                if (v->optional)
                        return 0; /* like a missing optional configMap/secret: an empty volume */
                return error_set(e, -ENOTSUP, "%s \"%s\": needs the API server (not supported yet)",
                                 v->type == VOLUME_SECRET ? "secret" : "configMap", strempty(v->ref_name));
        default:
                return -EINVAL;
        }
}

/* ---- the atomic writer (pkg/volume/util/atomic_writer.go) ----
 *
 * <dir>/..<timestamp>/<files>  the payload, written completely before it becomes visible
 * <dir>/..data -> ..<timestamp> swapped with one rename()
 * <dir>/<top> -> ..data/<top>    one link per top-level name, so readers see the old or the new set, never a mix */

#define DATA_DIR_NAME "..data"
#define DATA_DIR_TMP_NAME "..data_tmp"

/* Every path below dir (files and directories, relative), as filepath.Walk lists them. */
static int list_tree(int dir_fd, const char *prefix, char ***paths, size_t *n, unsigned depth) {
        if (depth > 64)
                return -ELOOP;
        int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                int r = -errno;
                (void) close(dup_fd);
                return r;
        }
        /* The duplicate shares the file offset: an earlier walk of the same fd left it at the end. */
        rewinddir(d);
        int r = 0;
        for (struct dirent *de; r >= 0 && (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                char *p = NULL;
                if (asprintf(&p, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                char **np = realloc(*paths, (*n + 2) * sizeof(char *));
                if (!np) {
                        free(p);
                        r = -ENOMEM;
                        break;
                }
                *paths = np;
                np[(*n)++] = p;
                np[*n] = NULL;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub =
                                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? -errno : list_tree(sub, p, paths, n, depth + 1);
                }
        }
        closedir(d);
        return r;
}

/* Whether the payload differs from what the old timestamp dir holds: the same set of files with the same content
 * means nothing to write. Modes are not compared (like the kubelet's shouldWritePayload): fsGroup changed them. */
static int payload_differs(int ts_fd, const Payload *pl) {
        _cleanup_strv_free_ char **old = NULL;
        size_t n_old = 0, n_files = 0;
        int r = list_tree(ts_fd, "", &old, &n_old, 0);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_old; i++) {
                struct stat st;
                if (fstatat(ts_fd, old[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
                        n_files++;
        }
        if (n_files != pl->n)
                return 1;
        for (size_t i = 0; i < pl->n; i++) {
                _cleanup_close_ int fd = openat(ts_fd, pl->files[i].path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                        return 1;
                size_t l = pl->files[i].size, got = 0;
                if ((size_t) st.st_size != l)
                        return 1;
                _cleanup_free_ char *data = NULL;
                if (read_full_fd(fd, l + 1, &data, &got) < 0 || got != l || memcmp(data, pl->files[i].data, l) != 0)
                        return 1;
        }
        return 0;
}

static int payload_write_to(int ts_fd, const Payload *pl) {
        for (size_t i = 0; i < pl->n; i++) {
                const PayloadFile *f = &pl->files[i];
                /* Parent directories (0755, like os.MkdirAll under the kubelet's umask). */
                for (const char *s = strchr(f->path, '/'); s; s = strchr(s + 1, '/')) {
                        _cleanup_free_ char *dir = strndup(f->path, (size_t) (s - f->path));
                        RET_NULL_ENOMEM(dir);
                        if (mkdirat(ts_fd, dir, 0755) < 0 && errno != EEXIST)
                                return -errno;
                }
                _cleanup_close_ int fd =
                        openat(ts_fd, f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
                if (fd < 0)
                        return -errno;
                size_t l = f->size;
                for (const char *d = f->data; l > 0;) {
                        ssize_t w = write(fd, d, l);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        d += w;
                        l -= (size_t) w;
                }
                /* Exactly the mode asked for, whatever the umask. */
                if (fchmod(fd, f->mode) < 0)
                        return -errno;
        }
        return 0;
}

static int first_component(const char *path, char **ret) {
        *ret = strndup(path, strcspn(path, "/"));
        return *ret ? 0 : -ENOMEM;
}

/* Writes pl into dir; *ret_changed tells whether a new timestamp dir was swapped in. */
static int atomic_write(const char *dir, const Payload *pl, int64_t fs_group, bool *ret_changed) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return -errno;

        char old_ts[NAME_MAX + 1] = "";
        ssize_t l = readlinkat(dfd, DATA_DIR_NAME, old_ts, sizeof(old_ts) - 1);
        if (l < 0 && errno != ENOENT && errno != EINVAL)
                return -errno;
        if (l > 0) {
                old_ts[l] = 0;
                if (!startswith(old_ts, "..") || strchr(old_ts, '/') || streq(old_ts, ".."))
                        old_ts[0] = 0; /* not ours: replace it */
        } else
                old_ts[0] = 0;

        /* The user-visible top-level names now and before. */
        _cleanup_strv_free_ char **old_paths = NULL;
        size_t n_old = 0;
        bool write = true;
        int r;
        if (old_ts[0]) {
                _cleanup_close_ int ts_fd = openat(dfd, old_ts, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (ts_fd >= 0) {
                        r = list_tree(ts_fd, "", &old_paths, &n_old, 0);
                        if (r < 0)
                                return r;
                        r = payload_differs(ts_fd, pl);
                        if (r < 0)
                                return r;
                        write = r > 0;
                } else
                        old_ts[0] = 0;
        }

        if (write) {
                /* ..2006_01_02_15_04_05.<random>, the kubelet's name for the timestamp dir. */
                char tmpl[PATH_MAX];
                struct timespec ts;
                struct tm tm;
                (void) clock_gettime(CLOCK_REALTIME, &ts);
                (void) gmtime_r(&ts.tv_sec, &tm);
                int k = snprintf(tmpl, sizeof(tmpl), "%s/", dir);
                if (k < 0 || (size_t) k >= sizeof(tmpl) - 64)
                        return -ENAMETOOLONG;
                strftime(tmpl + k, sizeof(tmpl) - (size_t) k, "..%Y_%m_%d_%H_%M_%S.XXXXXX", &tm);
                if (!mkdtemp(tmpl))
                        return -errno;
                const char *ts_name = tmpl + k;
                if (chmod(tmpl, 0755) < 0) {
                        r = -errno;
                        (void) rm_rf(tmpl);
                        return r;
                }
                _cleanup_close_ int ts_fd = openat(dfd, ts_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = ts_fd < 0 ? -errno : payload_write_to(ts_fd, pl);
                if (r >= 0)
                        r = volume_set_ownership(dir, fs_group, true);
                if (r >= 0) {
                        (void) unlinkat(dfd, DATA_DIR_TMP_NAME, 0);
                        if (symlinkat(ts_name, dfd, DATA_DIR_TMP_NAME) < 0 ||
                            renameat(dfd, DATA_DIR_TMP_NAME, dfd, DATA_DIR_NAME) < 0)
                                r = -errno;
                }
                if (r < 0) {
                        (void) unlinkat(dfd, DATA_DIR_TMP_NAME, 0);
                        (void) rm_rf(tmpl);
                        return r;
                }
                if (fs_group >= 0)
                        if (fchownat(dfd, DATA_DIR_NAME, (uid_t) -1, (gid_t) fs_group, AT_SYMLINK_NOFOLLOW) < 0)
                                log_debug("fsGroup on %s: %m", DATA_DIR_NAME); /* a link's group is cosmetic */
                if (old_ts[0]) {
                        _cleanup_free_ char *old = NULL;
                        if (asprintf(&old, "%s/%s", dir, old_ts) < 0)
                                return -ENOMEM;
                        (void) rm_rf(old);
                }
        }

        /* Links for new top-level names; then old top-level names the payload no longer has go. */
        _cleanup_strv_free_ char **tops = calloc(pl->n + 1, sizeof(char *));
        RET_NULL_ENOMEM(tops);
        for (size_t i = 0, n = 0; i < pl->n; i++) {
                _cleanup_free_ char *top = NULL;
                r = first_component(pl->files[i].path, &top);
                if (r < 0)
                        return r;
                if (strv_contains(tops, top))
                        continue;
                tops[n++] = TAKE_PTR(top);
                struct stat st;
                if (fstatat(dfd, tops[n - 1], &st, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                _cleanup_free_ char *target = NULL;
                if (asprintf(&target, DATA_DIR_NAME "/%s", tops[n - 1]) < 0)
                        return -ENOMEM;
                if (symlinkat(target, dfd, tops[n - 1]) < 0 && errno != EEXIST)
                        return -errno;
                if (fs_group >= 0)
                        if (fchownat(dfd, tops[n - 1], (uid_t) -1, (gid_t) fs_group, AT_SYMLINK_NOFOLLOW) < 0)
                                log_debug("fsGroup on %s: %m", tops[n - 1]);
        }
        for (size_t i = 0; i < n_old; i++)
                if (!strchr(old_paths[i], '/') && !strv_contains(tops, old_paths[i]))
                        (void) unlinkat(dfd, old_paths[i], 0);

        *ret_changed = write;
        return 0;
}

/* downwardAPI, projected, configMap, secret: a tmpfs (the kubelet wraps a Memory emptyDir) with the payload. */
static int setup_projection(const Pod *p, const Volume *v, const char *pod_dir, const PodRuntimeInfo *info,
                            bool *ret_changed, ErrorBuf *e) {
        _cleanup_(payload_done) Payload pl = {};
        _cleanup_free_ char *path = NULL, *parent = NULL;
        int r = volume_payload(p, v, info, &pl, e);
        if (r < 0)
                return r;
        r = pod_volume_path(v, pod_dir, &path);
        if (r < 0)
                return error_set(e, r, "invalid volume name");
        if (asprintf(&parent, "%s/volumes/%s", pod_dir, volume_plugin_dir(v->type)) < 0)
                return -ENOMEM;
        r = mkdir_p(parent, 0750);
        if (r >= 0)
                r = mkdir_exact(path, 0777);
        if (r < 0)
                return error_set(e, r, "creating %s: %s", path, strerror(-r));
        r = tmpfs_ensure(path, memory_volume_size(p, -1, info));
        if (r < 0)
                return error_set(e, r, "mounting a tmpfs on %s: %s", path, strerror(-r));
        if (r > 0 && chmod(path, 0777) < 0)
                return error_set(e, -errno, "chmod %s: %m", path);
        r = atomic_write(path, &pl, p->security_context.fs_group, ret_changed);
        if (r < 0)
                return error_set(e, r, "writing the files into %s: %s", path, strerror(-r));
        return 0;
}

int pod_volumes_setup(const Pod *p, const char *pod_dir, const PodRuntimeInfo *info, ErrorBuf *e) {
        int r = mkdir_p(pod_dir, 0750);
        if (r < 0)
                return error_set(e, r, "creating %s: %s", pod_dir, strerror(-r));
        for (size_t i = 0; i < p->n_volumes; i++) {
                const Volume *v = &p->volumes[i];
                bool changed;
                if (!name_is_safe(v->name))
                        return error_set(e, -EINVAL, "volume \"%s\": invalid name", strempty(v->name));
                switch (v->type) {
                case VOLUME_EMPTY_DIR:
                        r = setup_empty_dir(p, v, pod_dir, info, e);
                        break;
                case VOLUME_HOST_PATH:
                        r = setup_host_path(v, e);
                        break;
                case VOLUME_DOWNWARD_API:
                case VOLUME_PROJECTED:
                case VOLUME_CONFIG_MAP:
                case VOLUME_SECRET:
                        r = setup_projection(p, v, pod_dir, info, &changed, e);
                        break;
                default:
                        r = error_set(e, -ENOTSUP, "unsupported volume type");
                }
                /* API pods: the kubelet's FailedMount message ("MountVolume.SetUp failed for volume \"x\" : configmap
                 * \"y\" not found"). */
                if (r < 0 && info && info->api_objects)
                        return error_prefix(e, r, "MountVolume.SetUp failed for volume \"%s\" ", v->name);
                if (r < 0)
                        return error_prefix(e, r, "volume \"%s\"", v->name);
        }
        return 0;
}

int pod_volumes_refresh(const Pod *p, const char *pod_dir, const PodRuntimeInfo *info, ErrorBuf *e) {
        bool any = false;
        for (size_t i = 0; i < p->n_volumes; i++) {
                const Volume *v = &p->volumes[i];
                bool changed = false;
                /* configMap and secret volumes change with their objects (cluster mode only). */
                if (v->type != VOLUME_DOWNWARD_API && v->type != VOLUME_PROJECTED &&
                    !((v->type == VOLUME_CONFIG_MAP || v->type == VOLUME_SECRET) && info && info->api_objects))
                        continue;
                int r = setup_projection(p, v, pod_dir, info, &changed, e);
                if (r < 0)
                        return error_prefix(e, r, "volume \"%s\"", v->name);
                any = any || changed;
        }
        return any ? 1 : 0;
}

/* ---- container mounts ---- */

void bind_mounts_free(BindMount *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].source);
                free(m[i].destination);
        }
        free(m);
}

typedef struct MountList {
        BindMount *m;
        size_t n;
} MountList;

static void mount_list_done(MountList *l) {
        bind_mounts_free(l->m, l->n);
        *l = (MountList){};
}

/* Takes source. */
static int mount_list_add(MountList *l, char *source, const char *destination, bool readonly,
                          MountPropagation propagation) {
        _cleanup_free_ char *s = source, *d = strdup(destination);
        RET_NULL_ENOMEM(s);
        RET_NULL_ENOMEM(d);
        BindMount *n = realloc(l->m, (l->n + 1) * sizeof(BindMount));
        RET_NULL_ENOMEM(n);
        l->m = n;
        l->m[l->n++] = (BindMount){
                .source = TAKE_PTR(s), .destination = TAKE_PTR(d), .readonly = readonly, .propagation = propagation};
        return 0;
}

/* Compares container paths ignoring trailing and duplicate slashes. */
static bool container_path_equal(const char *a, const char *b) {
        for (;;) {
                a += strspn(a, "/");
                b += strspn(b, "/");
                size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
                if (la != lb || memcmp(a, b, la) != 0)
                        return false;
                if (la == 0)
                        return true;
                a += la;
                b += lb;
        }
}

static size_t path_depth(const char *p) {
        size_t n = 0;
        for (;;) {
                p += strspn(p, "/");
                if (!*p)
                        return n;
                n++;
                p += strcspn(p, "/");
        }
}

/* $(VAR) expansion of subPathExpr like the kubelet (third_party/forked/golang/expansion, with
 * ExpandContainerVolumeMounts' rule that an unknown or empty variable is an error). env: "K=V", the last one wins. */
static int expand_sub_path_expr(const char *s, char *const *env, char **ret, char **ret_missing) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        RET_NULL_ENOMEM(f);
        _cleanup_free_ char *missing = NULL;
        for (const char *c = s; *c;) {
                if (c[0] != '$' || !c[1]) {
                        fputc(*c++, f);
                        continue;
                }
                if (c[1] == '$') { /* escaped operator */
                        fputc('$', f);
                        c += 2;
                        continue;
                }
                const char *close = c[1] == '(' ? strchr(c + 2, ')') : NULL;
                if (!close) { /* not a reference: "$" and the next byte stay */
                        fputc(c[0], f);
                        fputc(c[1], f);
                        c += 2;
                        continue;
                }
                size_t l = (size_t) (close - c - 2);
                const char *value = NULL;
                for (char *const *e = env; e && *e; e++)
                        if (strncmp(*e, c + 2, l) == 0 && (*e)[l] == '=')
                                value = *e + l + 1;
                if (isempty(value) && !missing)
                        missing = strndup(c + 2, l);
                fputs(strempty(value), f);
                c = close + 1;
        }
        bool failed = ferror(f);
        if (fclose(f) != 0 || failed) {
                free(buf);
                return -ENOMEM;
        }
        if (missing) {
                free(buf);
                *ret_missing = TAKE_PTR(missing);
                return -EINVAL;
        }
        *ret = buf;
        return 0;
}

static int open_beneath(int root_fd, const char *path, int flags) {
        struct open_how how = {.flags = (uint64_t) (flags | O_CLOEXEC),
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        int fd = (int) syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        return fd < 0 ? -errno : fd;
}

/* The kubelet's SafeMakeDir: creates the missing components of sub below the volume, every lookup confined to the
 * volume (openat2 RESOLVE_BENEATH), new directories with the volume root's mode. */
static int safe_mkdir_beneath(int vol_fd, const char *sub, mode_t mode) {
        char prefix[PATH_MAX];
        size_t pl = 0;
        for (const char *s = sub + strspn(sub, "/"); *s;) {
                size_t l = strcspn(s, "/");
                if (pl + l + 2 >= sizeof(prefix) || l > NAME_MAX)
                        return -ENAMETOOLONG;
                size_t parent_len = pl;
                if (pl)
                        prefix[pl++] = '/';
                memcpy(prefix + pl, s, l);
                pl += l;
                prefix[pl] = 0;
                int fd = open_beneath(vol_fd, prefix, O_PATH);
                if (fd == -ENOENT) {
                        char name[NAME_MAX + 1];
                        snprintf(name, sizeof(name), "%.*s", (int) l, s);
                        char saved = prefix[parent_len];
                        prefix[parent_len] = 0;
                        _cleanup_close_ int parent =
                                open_beneath(vol_fd, parent_len ? prefix : ".", O_PATH | O_DIRECTORY);
                        prefix[parent_len] = saved;
                        if (parent < 0)
                                return parent;
                        if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
                                return -errno;
                        /* Exactly the mode, whatever the umask: through an fd of what was made, never a path. */
                        _cleanup_close_ int made =
                                openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (made < 0)
                                return -errno;
                        if (fchmod(made, mode) < 0)
                                return -errno;
                        fd = open_beneath(vol_fd, prefix, O_PATH);
                }
                if (fd < 0)
                        return fd;
                (void) close(fd);
                s += l;
                s += strspn(s, "/");
        }
        return 0;
}

/* Opens the subPath inside the volume and bind-mounts that very file onto
 * <pod_dir>/volume-subpaths/<volume>/<container>/<index> (the kubelet's doBindSubPath). Returns the target. */
static int subpath_prepare(const char *vol_path, const char *sub, const char *pod_dir, const char *volume,
                           const char *container, size_t index, char **ret_target, ErrorBuf *e) {
        _cleanup_close_ int vol_fd = open(vol_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (vol_fd < 0)
                return error_set(e, -errno, "opening the volume at %s: %m", vol_path);
        int fd = open_beneath(vol_fd, sub, O_PATH);
        if (fd == -ENOENT) {
                /* Created now, as the kubelet does, so it is a directory with the volume's mode, not whatever the
                 * runtime would make of a missing source. */
                struct stat vst;
                if (fstat(vol_fd, &vst) < 0)
                        return -errno;
                int r = safe_mkdir_beneath(vol_fd, sub, vst.st_mode & 07777);
                if (r == -EXDEV)
                        return error_set(e, r, "escapes the volume \"%s\"", volume);
                if (r < 0)
                        return error_set(e, r, "creating the directory: %s", strerror(-r));
                fd = open_beneath(vol_fd, sub, O_PATH);
        }
        if (fd == -EXDEV)
                return error_set(e, fd, "escapes the volume \"%s\"", volume);
        if (fd < 0)
                return error_set(e, fd, "%s", strerror(-fd));
        _cleanup_close_ int sub_fd = fd;
        struct stat st, tst;
        if (fstat(sub_fd, &st) < 0)
                return -errno;

        _cleanup_free_ char *dir = NULL, *target = NULL;
        if (asprintf(&dir, "%s/volume-subpaths/%s/%s", pod_dir, volume, container) < 0 ||
            asprintf(&target, "%s/%zu", dir, index) < 0)
                return -ENOMEM;
        int r = mkdir_p(dir, 0750);
        if (r < 0)
                return error_set(e, r, "creating %s: %s", dir, strerror(-r));
        r = is_mount_point(AT_FDCWD, target);
        if (r > 0) {
                /* From an earlier start of this container: kept when it is the same file, like the kubelet. */
                if (stat(target, &tst) == 0 && tst.st_dev == st.st_dev && tst.st_ino == st.st_ino) {
                        *ret_target = TAKE_PTR(target);
                        return 0;
                }
                if (umount2(target, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
                        return error_set(e, -errno, "unmounting the stale %s: %m", target);
        }
        if (lstat(target, &tst) == 0 && (S_ISDIR(tst.st_mode) != S_ISDIR(st.st_mode) || S_ISLNK(tst.st_mode))) {
                if ((S_ISDIR(tst.st_mode) ? rmdir(target) : unlink(target)) < 0)
                        return error_set(e, -errno, "removing the stale %s: %m", target);
        }
        if (S_ISDIR(st.st_mode)) {
                if (mkdir(target, 0750) < 0 && errno != EEXIST)
                        return error_set(e, -errno, "creating %s: %m", target);
        } else {
                _cleanup_close_ int tfd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
                if (tfd < 0)
                        return error_set(e, -errno, "creating %s: %m", target);
        }
        /* The fd, not the path: whatever the volume's owner swapped in since the open does not count. */
        char src[64];
        snprintf(src, sizeof(src), "/proc/self/fd/%d", sub_fd);
        if (mount(src, target, NULL, MS_BIND, NULL) < 0)
                return error_set(e, -errno, "bind-mounting it onto %s: %m", target);
        *ret_target = TAKE_PTR(target);
        return 0;
}

/* Subpaths are relative and never step back (volumevalidation.ValidatePathNoBacksteps). */
static bool sub_path_is_valid(const char *s) {
        if (s[0] == '/')
                return false;
        for (const char *c = s; *c;) {
                size_t l = strcspn(c, "/");
                if (l == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                c += l;
                c += strspn(c, "/");
        }
        return true;
}

static int volume_mount_source(const Pod *p, const PodContainer *c, size_t i, const Volume *v, const char *pod_dir,
                               char *const *env, char **ret, ErrorBuf *e) {
        const VolumeMount *vm = &c->volume_mounts[i];
        _cleanup_free_ char *path = NULL, *expanded = NULL, *missing = NULL;
        int r = pod_volume_path(v, pod_dir, &path);
        if (r < 0)
                return error_set(e, r, "volumeMounts[%zu]: volume \"%s\" cannot be mounted", i, v->name);
        const char *sub = vm->sub_path;
        const char *field = "subPath";
        if (!isempty(vm->sub_path_expr)) {
                field = "subPathExpr";
                r = expand_sub_path_expr(vm->sub_path_expr, env, &expanded, &missing);
                if (r == -EINVAL)
                        return error_set(e, r, "volumeMounts[%zu].subPathExpr \"%s\": missing value for %s", i,
                                         vm->sub_path_expr, missing);
                if (r < 0)
                        return r;
                sub = expanded;
        }
        if (isempty(sub)) {
                *ret = TAKE_PTR(path);
                return 0;
        }
        const char *shown = isempty(vm->sub_path_expr) ? sub : vm->sub_path_expr;
        if (!sub_path_is_valid(sub))
                return error_set(e, -EINVAL, "volumeMounts[%zu].%s \"%s\": must be a relative path without '..'", i,
                                 field, shown);
        r = subpath_prepare(path, sub, pod_dir, v->name, c->name, i, ret, e);
        if (r < 0)
                return error_prefix(e, r, "volumeMounts[%zu].%s \"%s\"", i, field, shown);
        return 0;
}

/* An empty file for the container to write its termination message into (0666: any container user may). */
static int termination_file_ensure(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        RET_NULL_ENOMEM(dir);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                int r = mkdir_p(dir, 0750);
                if (r < 0)
                        return r;
        }
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
        if (fd < 0)
                return -errno;
        return fchmod(fd, 0666) < 0 ? -errno : 0;
}

int pod_volumes_container_mounts(const Pod *p, const PodContainer *c, const char *pod_dir, char *const *env,
                                 const char *termination_file, BindMount **ret, size_t *ret_n, ErrorBuf *e) {
        _cleanup_(mount_list_done) MountList l = {};
        bool has_hosts = false, has_hostname = false, has_resolv = false;
        int r;

        if (!name_is_safe(c->name))
                return error_set(e, -EINVAL, "invalid container name \"%s\"", strempty(c->name));
        for (size_t i = 0; i < c->n_volume_mounts; i++) {
                const VolumeMount *vm = &c->volume_mounts[i];
                const Volume *v = NULL;
                for (size_t k = 0; k < p->n_volumes && !v; k++)
                        if (streq_ptr(p->volumes[k].name, vm->name))
                                v = &p->volumes[k];
                if (!v)
                        return error_set(e, -ENOENT, "volumeMounts[%zu]: cannot find volume \"%s\"", i,
                                         strempty(vm->name));
                if (isempty(vm->mount_path) || vm->mount_path[0] != '/')
                        return error_set(e, -EINVAL, "volumeMounts[%zu].mountPath \"%s\": must be an absolute path", i,
                                         strempty(vm->mount_path));
                if (vm->propagation == MOUNT_PROPAGATION_SHARED && c->security_context.privileged != 1)
                        return error_set(e, -EPERM,
                                         "volumeMounts[%zu].mountPropagation: Bidirectional mount propagation is "
                                         "available only to privileged containers",
                                         i);
                _cleanup_free_ char *source = NULL;
                r = volume_mount_source(p, c, i, v, pod_dir, env, &source, e);
                if (r < 0)
                        return r;
                r = mount_list_add(&l, TAKE_PTR(source), vm->mount_path, vm->read_only || volume_is_read_only(v),
                                   vm->propagation);
                if (r < 0)
                        return r;
                has_hosts = has_hosts || container_path_equal(vm->mount_path, "/etc/hosts");
                has_hostname = has_hostname || container_path_equal(vm->mount_path, "/etc/hostname");
                has_resolv = has_resolv || container_path_equal(vm->mount_path, "/etc/resolv.conf");
        }

        /* The pod's files, unless a volume covers them (kubelet makeMounts for /etc/hosts, containerd for the rest;
         * containerd mounts hostname and resolv.conf read-only with a read-only rootfs). */
        static const struct {
                const char *file, *destination;
                bool follows_rootfs;
        } files[] = {
                {"etc-hosts", "/etc/hosts", false},
                {"hostname", "/etc/hostname", true},
                {"resolv.conf", "/etc/resolv.conf", true},
        };
        bool covered[] = {has_hosts, has_hostname, has_resolv};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *src = NULL;
                if (covered[i])
                        continue;
                if (asprintf(&src, "%s/%s", pod_dir, files[i].file) < 0)
                        return -ENOMEM;
                if (access(src, F_OK) < 0)
                        continue;
                r = mount_list_add(&l, TAKE_PTR(src), files[i].destination,
                                   files[i].follows_rootfs && c->security_context.read_only_root_filesystem == 1,
                                   MOUNT_PROPAGATION_PRIVATE);
                if (r < 0)
                        return r;
        }

        if (!isempty(termination_file) && !isempty(c->termination_message_path)) {
                r = termination_file_ensure(termination_file);
                if (r < 0)
                        return error_set(e, r, "creating the termination message file %s: %s", termination_file,
                                         strerror(-r));
                _cleanup_free_ char *src = strdup(termination_file);
                RET_NULL_ENOMEM(src);
                r = mount_list_add(&l, TAKE_PTR(src), c->termination_message_path, false, MOUNT_PROPAGATION_PRIVATE);
                if (r < 0)
                        return r;
        }

        /* Parents before children (containerd's orderedMounts), otherwise in the order given: a stable insertion
         * sort by the number of path elements. */
        for (size_t i = 1; i < l.n; i++) {
                BindMount m = l.m[i];
                size_t d = path_depth(m.destination), k = i;
                for (; k > 0 && path_depth(l.m[k - 1].destination) > d; k--)
                        l.m[k] = l.m[k - 1];
                l.m[k] = m;
        }

        *ret = TAKE_PTR(l.m);
        *ret_n = l.n;
        l.n = 0;
        return 0;
}

/* ---- teardown ---- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s) {
        char *o = s;
        for (char *i = s; *i;) {
                if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' && i[3] >= '0' &&
                    i[3] <= '7') {
                        *o++ = (char) (((i[1] - '0') << 6) | ((i[2] - '0') << 3) | (i[3] - '0'));
                        i += 4;
                } else
                        *o++ = *i++;
        }
        *o = 0;
}

/* Mount points at or below dir (canonical), in mountinfo order (a later one may sit on an earlier one). */
static int mounts_below(const char *dir, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *mi = NULL;
        int r = read_full_file("/proc/self/mountinfo", 0, &mi, NULL);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, dl = strlen(dir);
        char *save = NULL;
        for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* id parent major:minor root mount-point ... */
                char *f = line;
                for (int i = 0; i < 4 && f; i++) {
                        f = strchr(f, ' ');
                        if (f)
                                f++;
                }
                if (!f)
                        continue;
                _cleanup_free_ char *mp = strndup(f, strcspn(f, " "));
                RET_NULL_ENOMEM(mp);
                unescape_octal(mp);
                if (strncmp(mp, dir, dl) != 0 || (mp[dl] != 0 && mp[dl] != '/'))
                        continue;
                char **nl = realloc(l, (n + 2) * sizeof(char *));
                RET_NULL_ENOMEM(nl);
                l = nl;
                l[n++] = TAKE_PTR(mp);
                l[n] = NULL;
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* Unmounts everything at or below dir, newest first; a few rounds for mounts that only showed up once others went.
 * Verifies that nothing is left: rm_rf() would walk into a bind mount of the same file system. */
static int unmount_below(const char *dir, ErrorBuf *e) {
        for (unsigned round = 0; round < 8; round++) {
                _cleanup_strv_free_ char **l = NULL;
                size_t n = 0;
                int r = mounts_below(dir, &l, &n);
                if (r < 0)
                        return error_set(e, r, "reading /proc/self/mountinfo: %s", strerror(-r));
                if (n == 0)
                        return 0;
                for (size_t i = n; i > 0; i--)
                        if (umount2(l[i - 1], UMOUNT_NOFOLLOW | MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                                log_debug_errno(-errno, "Failed to unmount %s: %m", l[i - 1]);
        }
        return error_set(e, -EBUSY, "%s: mounts below it cannot be unmounted", dir);
}

int pod_volumes_container_cleanup(const char *pod_dir, const char *container_name, ErrorBuf *e) {
        if (!name_is_safe(container_name))
                return error_set(e, -EINVAL, "invalid container name \"%s\"", strempty(container_name));
        _cleanup_free_ char *real = realpath(pod_dir, NULL), *base = NULL;
        if (!real)
                return errno == ENOENT ? 0 : error_set(e, -errno, "%s: %m", pod_dir);
        if (asprintf(&base, "%s/volume-subpaths", real) < 0)
                return -ENOMEM;
        _cleanup_close_ int bfd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0)
                return errno == ENOENT ? 0 : error_set(e, -errno, "%s: %m", base);
        DIR *d = fdopendir(bfd);
        if (!d)
                return -errno;
        TAKE_FD(bfd);
        int ret = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s/%s", base, de->d_name, container_name) < 0) {
                        ret = -ENOMEM;
                        break;
                }
                int r = unmount_below(dir, e);
                if (r >= 0)
                        r = rm_rf(dir);
                if (r < 0 && ret == 0)
                        ret = error_set(e, r, "removing %s: %s", dir, strerror(-r));
        }
        closedir(d);
        return ret;
}

int pod_volumes_teardown(const char *pod_dir, ErrorBuf *e) {
        _cleanup_free_ char *real = realpath(pod_dir, NULL);
        if (!real)
                return errno == ENOENT ? 0 : error_set(e, -errno, "%s: %m", pod_dir);
        int r = unmount_below(real, e);
        if (r < 0)
                return r;
        r = rm_rf(real);
        if (r < 0)
                return error_set(e, r, "removing %s: %s", real, strerror(-r));
        return 0;
}
