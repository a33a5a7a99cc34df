/* SPDX-License-Identifier: Apache-2.0 */
/* Pod-level cgroups (runtime/container.h): the kubelet puts every pod into its own cgroup with the pod's limits
 * (kubepods/<qos>/pod<uid>, Guaranteed pods directly below kubepods) and the containers below it. Such a cgroup
 * outlives its containers (a restarting container must not take it along), so it is recorded when made here:
 * an empty file <state-dir>/pod-cgroups/<rel with '/' as '%'> (cgroupfs has no room for a marker of ours, and v1
 * hierarchies are mounted without xattr support). container_create() looks the marker up once to know how many
 * levels of its cgroup_parent it may remove; nothing is read at removal. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "runtime/cgroup.h"
#include "runtime/container-internal.h"

#define POD_CGROUPS_DIR "pod-cgroups"

static bool pod_cgroup_rel_valid(const char *rel) {
        if (isempty(rel) || strlen(rel) > 512 || rel[0] == '/' || endswith(rel, "/") || strstr(rel, "//"))
                return false;
        for (const char *p = rel; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') || *p == '_' ||
                      *p == '-' || *p == '.' || *p == '/'))
                        return false;
        /* No "." or ".." component. */
        for (const char *p = rel; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
                size_t l = strcspn(p, "/");
                if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
        }
        return true;
}

/* <state-dir>/pod-cgroups/<rel, '/' → '%'>: injective, '%' is not valid in rel. len bytes of rel only. */
static int marker_path(Runtime *rt, const char *rel, size_t len, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/" POD_CGROUPS_DIR "/%.*s", rt->state_dir, (int) len, rel);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        for (char *p = buf + n - len; *p; p++)
                if (*p == '/')
                        *p = '%';
        return 0;
}

unsigned runtime_cgroup_parent_levels(Runtime *rt, const char *cgroup_parent) {
        if (isempty(cgroup_parent))
                return 0;
        unsigned levels = 1;
        for (const char *p = cgroup_parent; *p; p++)
                levels += *p == '/';
        /* The deepest managed prefix wins: below it the levels are the container's to remove. */
        size_t len = strlen(cgroup_parent);
        for (unsigned below = 0; below < levels; below++) {
                char p[PATH_MAX];
                if (marker_path(rt, cgroup_parent, len, p, sizeof(p)) == 0 && access(p, F_OK) == 0)
                        return below;
                while (len > 0 && cgroup_parent[len - 1] != '/')
                        len--;
                if (len > 0)
                        len--; /* the '/' */
        }
        return levels;
}

static int pod_cgroup_dirs(Runtime *rt, const char *rel, char ***ret) {
        size_t n = 0;
        while (rt->cgroup_bases[n])
                n++;
        _cleanup_strv_free_ char **dirs = calloc(n + 1, sizeof(char *));
        RET_NULL_ENOMEM(dirs);
        for (size_t i = 0; i < n; i++)
                if (asprintf(&dirs[i], "%s/%s", rt->cgroup_bases[i], rel) < 0) {
                        dirs[i] = NULL;
                        return -ENOMEM;
                }
        *ret = TAKE_PTR(dirs);
        return 0;
}

int runtime_pod_cgroup_apply(Runtime *rt, const char *rel, const ContainerResources *res, ErrorBuf *e) {
        if (!pod_cgroup_rel_valid(rel))
                return error_set(e, -EINVAL, "pod cgroup \"%s\": invalid path", strna(rel));
        int r = cgroup_resources_validate(res, e);
        if (r < 0)
                return error_prefix(e, r, "pod cgroup %s", rel);
        r = cgroup_ensure(rt->cgroup, rt->cgroup_bases, rel, res, e);
        if (r < 0)
                return error_prefix(e, r, "pod cgroup %s", rel);
        /* Recorded after the cgroup exists: a crash in between leaves a cgroup that a container may remove with
         * itself, which the next apply repairs; the reverse could keep a marker for a cgroup nobody made. */
        char p[PATH_MAX], dir[PATH_MAX];
        if ((r = marker_path(rt, rel, strlen(rel), p, sizeof(p))) < 0)
                return error_set(e, r, "pod cgroup %s: %s", rel, strerror(-r));
        snprintf(dir, sizeof(dir), "%s/" POD_CGROUPS_DIR, rt->state_dir);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return error_set(e, -errno, "pod cgroup %s: creating %s: %s", rel, dir, strerror(errno));
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return error_set(e, -errno, "pod cgroup %s: recording it in %s: %s", rel, p, strerror(errno));
        return 0;
}

/* Whether dir has a child cgroup (a container); -ENOENT when dir does not exist. */
static int has_child_cgroup(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return -errno;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_type == DT_DIR && !streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return 1;
        return 0;
}

int runtime_pod_cgroup_remove(Runtime *rt, const char *rel, ErrorBuf *e) {
        if (!pod_cgroup_rel_valid(rel))
                return error_set(e, -EINVAL, "pod cgroup \"%s\": invalid path", strna(rel));
        _cleanup_strv_free_ char **dirs = NULL;
        int r = pod_cgroup_dirs(rt, rel, &dirs);
        if (r < 0)
                return r;
        /* Checked in every hierarchy before anything is removed: a pod cgroup is never left half-removed because
         * of a container. */
        for (char **d = dirs; *d; d++) {
                r = has_child_cgroup(*d);
                if (r > 0)
                        return error_set(e, -EBUSY, "pod cgroup %s: containers are still in it", rel);
                if (r < 0 && r != -ENOENT)
                        return error_set(e, r, "pod cgroup %s: reading %s: %s", rel, *d, strerror(-r));
        }
        r = cgroup_destroy(dirs, 0);
        if (r < 0)
                return error_set(e, r, "pod cgroup %s: removing it: %s", rel, strerror(-r));
        char p[PATH_MAX];
        if (marker_path(rt, rel, strlen(rel), p, sizeof(p)) == 0 && unlink(p) < 0 && errno != ENOENT)
                return error_set(e, -errno, "pod cgroup %s: removing %s: %s", rel, p, strerror(errno));
        return 0;
}

int runtime_pod_cgroup_oom_kills(Runtime *rt, const char *rel, uint64_t *ret) {
        if (!pod_cgroup_rel_valid(rel))
                return -EINVAL;
        if (rt->cgroup_memory_index == SIZE_MAX)
                return -ENOENT;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", rt->cgroup_bases[rt->cgroup_memory_index], rel) < 0)
                return -ENOMEM;
        uint64_t total = 0;
        int r = cgroup_oom_kills(rt->cgroup->version, dir, &total);
        if (r < 0)
                return r;
        if (rt->cgroup->version == 1) {
                /* v1 counts a kill only in the victim's own cgroup, i.e. the container's: add the children (the
                 * counts of containers already removed are gone with them). */
                _cleanup_(closedirp) DIR *d = opendir(dir);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_type != DT_DIR || streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        _cleanup_free_ char *child = NULL;
                        uint64_t n = 0;
                        if (path_join(&child, dir, de->d_name) < 0)
                                return -ENOMEM;
                        if (cgroup_oom_kills(1, child, &n) == 0)
                                total += n;
                }
        }
        *ret = total;
        return 0;
}
