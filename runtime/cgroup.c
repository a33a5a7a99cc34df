/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <linux/magic.h>

#include "common/fileio.h"

const CgroupDriver *cgroup_driver_detect(void) {
        struct statfs fs;
        if (statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
                return &cgroup_driver_v2;
        return &cgroup_driver_v1;
}

const CgroupDriver *cgroup_driver_for_version(int version) {
        return version == 2 ? &cgroup_driver_v2 : &cgroup_driver_v1;
}

int cgroup_resources_validate(const ContainerResources *res, ErrorBuf *e) {
        /* The same ranges the kernel (and runc) accept: shares 2..262144, a CFS quota of at least 1ms and a period
         * of 1ms..1s. */
        if (res->cpu_shares != 0 && (res->cpu_shares < 2 || res->cpu_shares > 262144))
                return error_set(e, -EINVAL, "resources.cpuShares: %llu is outside 2..262144",
                                 (unsigned long long) res->cpu_shares);
        if (res->cpu_quota_us < 0 || (res->cpu_quota_us > 0 && res->cpu_quota_us < 1000))
                return error_set(e, -EINVAL, "resources.cpuQuota: %lld us is below the kernel's minimum of 1000 us",
                                 (long long) res->cpu_quota_us);
        if (res->cpu_period_us != 0 && (res->cpu_period_us < 1000 || res->cpu_period_us > 1000000))
                return error_set(e, -EINVAL, "resources.cpuPeriod: %llu us is outside 1000..1000000",
                                 (unsigned long long) res->cpu_period_us);
        /* Below 1 MiB not even the entrypoint's exec fits: refuse instead of an immediate, confusing OOM kill. */
        if (res->memory_limit < 0 || (res->memory_limit > 0 && res->memory_limit < 1024 * 1024))
                return error_set(e, -EINVAL, "resources.memoryLimit: %lld bytes is below the minimum of 1 MiB",
                                 (long long) res->memory_limit);
        if (res->pids_limit < 0)
                return error_set(e, -EINVAL, "resources.pidsLimit: %lld is negative", (long long) res->pids_limit);
        return 0;
}

int cgroup_write(const char *dir, const char *file, const char *value) {
        char p[PATH_MAX];
        if ((size_t) snprintf(p, sizeof(p), "%s/%s", dir, file) >= sizeof(p))
                return -ENAMETOOLONG;
        int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t l = strlen(value);
        ssize_t n = write(fd, value, l);
        int r = n < 0 ? -errno : (size_t) n != l ? -EIO : 0;
        (void) close(fd);
        return r;
}

int cgroup_self_path(const char *controller, char **ret) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return -errno;
        char line[1024];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = 0;
                const char *ctrls = c1 + 1, *path = c2 + 1;
                bool match = false;
                if (isempty(controller))
                        match = streq(line, "0") && isempty(ctrls);
                else {
                        /* "cpu,cpuacct" holds cpu and cpuacct. */
                        _cleanup_free_ char *copy = strdup(ctrls);
                        RET_NULL_ENOMEM(copy);
                        char *save = NULL;
                        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                                if (streq(t, controller))
                                        match = true;
                }
                if (match) {
                        *ret = strdup(path);
                        return *ret ? 0 : -ENOMEM;
                }
        }
        return -ENOENT;
}

static int mkdir_levels(const CgroupDriver *d, const char *base, const char *rel, char **ret) {
        _cleanup_free_ char *p = strdup(base);
        RET_NULL_ENOMEM(p);
        /* The base itself and every level of rel; the base's parent was prepared by the administrator. The base
         * exists after the first container: check with a cheap stat before mkdir. */
        if (access(p, F_OK) < 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        _cleanup_free_ char *copy = strdup(rel);
        RET_NULL_ENOMEM(copy);
        char *save = NULL;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                int r = d->prepare_parent ? d->prepare_parent(p) : 0;
                if (r < 0)
                        return r;
                char *np = NULL;
                if (asprintf(&np, "%s/%s", p, t) < 0)
                        return -ENOMEM;
                free(p);
                p = np;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* The path mkdir_levels() arrives at: base, then each non-empty component of rel. */
int cgroup_paths(char **bases, const char *rel, char ***ret_dirs) {
        size_t n = 0;
        while (bases[n])
                n++;
        _cleanup_strv_free_ char **dirs = calloc(n + 1, sizeof(char *));
        RET_NULL_ENOMEM(dirs);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *copy = strdup(rel), *p = strdup(bases[i]);
                RET_NULL_ENOMEM(copy);
                RET_NULL_ENOMEM(p);
                char *save = NULL;
                for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                        char *np = NULL;
                        if (asprintf(&np, "%s/%s", p, t) < 0)
                                return -ENOMEM;
                        free(p);
                        p = np;
                }
                dirs[i] = TAKE_PTR(p);
        }
        *ret_dirs = TAKE_PTR(dirs);
        return 0;
}

int cgroup_create(const CgroupDriver *d, char **bases, size_t memory_index, const char *rel, unsigned parent_levels,
                  const ContainerResources *res, bool all_devices, char ***ret_dirs, char **ret_memory_dir,
                  ErrorBuf *e) {
        size_t n = 0;
        while (bases[n])
                n++;
        _cleanup_strv_free_ char **dirs = calloc(n + 1, sizeof(char *));
        RET_NULL_ENOMEM(dirs);
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                r = mkdir_levels(d, bases[i], rel, &dirs[i]);
                if (r < 0) {
                        error_set(e, r, "cgroup %s/%s: %s", bases[i], rel, strerror(-r));
                        break;
                }
                r = d->apply(dirs[i], res, e);
                if (r == 0 && d->devices)
                        r = d->devices(dirs[i], all_devices, e);
                if (r < 0) {
                        error_prefix(e, r, "cgroup %s", dirs[i]);
                        break;
                }
        }
        if (r < 0) {
                (void) cgroup_destroy(dirs, parent_levels);
                return r;
        }
        if (ret_memory_dir) {
                *ret_memory_dir = NULL;
                if (memory_index < n) {
                        *ret_memory_dir = strdup(dirs[memory_index]);
                        RET_NULL_ENOMEM(*ret_memory_dir);
                }
        }
        *ret_dirs = TAKE_PTR(dirs);
        return 0;
}

int cgroup_ensure(const CgroupDriver *d, char **bases, const char *rel, const ContainerResources *res, ErrorBuf *e) {
        for (char **b = bases; *b; b++) {
                _cleanup_free_ char *dir = NULL;
                int r = mkdir_levels(d, *b, rel, &dir);
                if (r < 0)
                        return error_set(e, r, "cgroup %s/%s: %s", *b, rel, strerror(-r));
                r = d->reset ? d->reset(dir, res, e) : 0;
                if (r == 0)
                        r = d->apply(dir, res, e);
                if (r < 0)
                        return error_prefix(e, r, "cgroup %s", dir);
        }
        return 0;
}

int cgroup_destroy(char **dirs, unsigned parent_levels) {
        int ret = 0;
        for (char **d = dirs; d && *d; d++) {
                /* Tasks killed with their pid namespace may still be exiting: retry EBUSY for up to ~2 s. */
                int r = 0;
                for (unsigned attempt = 0; attempt < 400; attempt++) {
                        r = rmdir(*d) < 0 ? -errno : 0;
                        if (r != -EBUSY)
                                break;
                        (void) nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
                }
                if (r < 0 && r != -ENOENT) {
                        ret = ret ?: r;
                        continue;
                }
                /* Empty pod parents go too; a sibling still using one makes rmdir fail, which is fine. */
                _cleanup_free_ char *p = strdup(*d);
                RET_NULL_ENOMEM(p);
                for (unsigned l = 0; l < parent_levels; l++) {
                        char *slash = strrchr(p, '/');
                        if (!slash || slash == p)
                                break;
                        *slash = 0;
                        if (rmdir(p) < 0)
                                break;
                }
        }
        return ret;
}

int cgroup_attach_self(int version, char *const *dirs) {
        /* v1: "0" in the "tasks" file moves the calling thread only, and for the current thread the kernel skips the
         * global threadgroup rwsem, whose write side otherwise waits for an RCU grace period (~10 ms on an idle
         * machine) on every first migration. Our callers are single-threaded, so the thread is the process.
         * v2: "0" in cgroup.procs, the calling process (thread granularity needs threaded cgroups there). */
        const char *file = version == 2 ? "cgroup.procs" : "tasks";
        for (char *const *d = dirs; d && *d; d++) {
                int r = cgroup_write(*d, file, "0");
                if (r < 0)
                        return r;
        }
        return 0;
}

int cgroup_kill_all(char *const *dirs) {
        if (!dirs || !dirs[0])
                return 0;
        _cleanup_free_ char *p = NULL;
        int r = path_join(&p, dirs[0], "cgroup.procs");
        if (r < 0)
                return r;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f)
                return -errno;
        int n = 0;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1)
                if (pid > 0 && kill((pid_t) pid, SIGKILL) == 0)
                        n++;
        return n;
}

int cgroup_oom_kills(int version, const char *memory_dir, uint64_t *ret) {
        if (!memory_dir)
                return -ENOENT;
        return cgroup_driver_for_version(version)->oom_kills(memory_dir, ret);
}
