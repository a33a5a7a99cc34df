/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v1 (legacy and hybrid hosts): one hierarchy per controller, each mounted at /sys/fs/cgroup/<name> (a
 * symlink when controllers are co-mounted, e.g. cpu -> cpu,cpuacct). We use the controllers we set limits in or
 * read statistics from, and devices for the device allowlist; cpuset is left alone because a new v1 cpuset cgroup
 * starts without cpus/mems and would refuse tasks. */
#include "runtime/cgroup.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"

static const char *const v1_controllers[] = {"memory", "pids", "cpu", "cpuacct", "devices"};

static int v1_bases(const char *parent, char ***ret_bases, size_t *ret_memory_index) {
        _cleanup_strv_free_ char **bases = calloc(ELEMENTSOF(v1_controllers) + 1, sizeof(char *));
        RET_NULL_ENOMEM(bases);
        dev_t seen[ELEMENTSOF(v1_controllers)];
        size_t n = 0, memory_index = SIZE_MAX;

        for (size_t i = 0; i < ELEMENTSOF(v1_controllers); i++) {
                char mnt[64];
                snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s", v1_controllers[i]);
                struct stat st;
                if (stat(mnt, &st) < 0)
                        continue; /* controller not mounted on this host */
                bool dup = false;
                for (size_t k = 0; k < n; k++)
                        dup = dup || seen[k] == st.st_dev; /* co-mounted with one we already have */
                if (dup)
                        continue;
                _cleanup_free_ char *self = NULL;
                int r = cgroup_self_path(v1_controllers[i], &self);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                char *b = NULL;
                if (parent && parent[0] == '/')
                        r = asprintf(&b, "%s%s", mnt, parent);
                else
                        r = asprintf(&b, "%s%s/%s", mnt, streq(self, "/") ? "" : self, parent ?: "nodelet");
                if (r < 0)
                        return -ENOMEM;
                if (streq(v1_controllers[i], "memory"))
                        memory_index = n;
                seen[n] = st.st_dev;
                bases[n++] = b;
        }
        if (n == 0)
                return -ENOMEDIUM;
        *ret_bases = TAKE_PTR(bases);
        *ret_memory_index = memory_index;
        return 0;
}

/* Writes file when this hierarchy has it (ENOENT: the file belongs to another controller's hierarchy). */
static int write_opt(const char *dir, const char *file, uint64_t v, bool *written, ErrorBuf *e) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        int r = cgroup_write(dir, file, buf);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return error_set(e, r, "%s=%s: %s", file, buf, strerror(-r));
        if (written)
                *written = true;
        return 0;
}

static int v1_apply(const char *dir, const ContainerResources *res, ErrorBuf *e) {
        int r = 0;
        if (res->cpu_shares)
                r = write_opt(dir, "cpu.shares", res->cpu_shares, NULL, e);
        if (r == 0 && res->cpu_quota_us > 0) {
                r = write_opt(dir, "cpu.cfs_period_us", res->cpu_period_us ?: 100000, NULL, e);
                r = r ?: write_opt(dir, "cpu.cfs_quota_us", (uint64_t) res->cpu_quota_us, NULL, e);
        }
        if (r == 0 && res->memory_limit > 0) {
                bool set = false;
                r = write_opt(dir, "memory.limit_in_bytes", (uint64_t) res->memory_limit, &set, e);
                /* With swap accounting the limit must cover swap too, or the container swaps instead of being
                 * OOM-killed (the kubelet runs without swap). */
                if (r == 0 && set)
                        r = write_opt(dir, "memory.memsw.limit_in_bytes", (uint64_t) res->memory_limit, NULL, e);
        }
        if (r == 0 && res->pids_limit > 0)
                r = write_opt(dir, "pids.max", (uint64_t) res->pids_limit, NULL, e);
        return r;
}

/* Writes file when this hierarchy has it; the value is a string ("-1" lifts a v1 limit). */
static int write_str_opt(const char *dir, const char *file, const char *value, ErrorBuf *e) {
        int r = cgroup_write(dir, file, value);
        if (r < 0 && r != -ENOENT)
                return error_set(e, r, "%s=%s: %s", file, value, strerror(-r));
        return 0;
}

static int v1_reset(const char *dir, const ContainerResources *res, ErrorBuf *e) {
        /* memory+swap first: the kernel refuses a memory limit above it, so raising the memory limit of a pod
         * would fail; apply() sets it again right after the memory limit. */
        int r = write_str_opt(dir, "memory.memsw.limit_in_bytes", "-1", e);
        if (r == 0 && !res->memory_limit)
                r = write_str_opt(dir, "memory.limit_in_bytes", "-1", e);
        if (r == 0 && !res->cpu_quota_us)
                r = write_str_opt(dir, "cpu.cfs_quota_us", "-1", e);
        if (r == 0 && !res->cpu_shares)
                r = write_str_opt(dir, "cpu.shares", "1024", e);
        if (r == 0 && !res->pids_limit)
                r = write_str_opt(dir, "pids.max", "max", e);
        return r;
}

/* The device allowlist runc and containerd give every container: without it a container with CAP_MKNOD (one of
 * the default capabilities) could create and open a node for the host's disk. mknod of anything stays allowed
 * ("m"); read/write only for these. */
static const char *const v1_default_devices[] = {
        "c *:* m",      /* mknod of any character device */
        "b *:* m",      /* and of any block device */
        "c 1:3 rwm",    /* null */
        "c 1:5 rwm",    /* zero */
        "c 1:7 rwm",    /* full */
        "c 1:8 rwm",    /* random */
        "c 1:9 rwm",    /* urandom */
        "c 5:0 rwm",    /* tty */
        "c 5:1 rwm",    /* console */
        "c 5:2 rwm",    /* ptmx */
        "c 136:* rwm",  /* pts */
        "c 10:200 rwm", /* tun */
};

static int v1_devices(const char *dir, bool allow_all, ErrorBuf *e) {
        int r = cgroup_write(dir, allow_all ? "devices.allow" : "devices.deny", "a");
        if (r == -ENOENT)
                return 0; /* not the devices hierarchy */
        if (r < 0)
                return error_set(e, r, "devices: %s", strerror(-r));
        for (size_t i = 0; !allow_all && i < ELEMENTSOF(v1_default_devices); i++) {
                r = cgroup_write(dir, "devices.allow", v1_default_devices[i]);
                if (r < 0)
                        return error_set(e, r, "devices.allow=%s: %s", v1_default_devices[i], strerror(-r));
        }
        return 0;
}

/* memory.oom_control has "oom_kill N" since Linux 4.13. */
static int v1_oom_kills(const char *memory_dir, uint64_t *ret) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        int r = path_join(&p, memory_dir, "memory.oom_control");
        if (r < 0)
                return r;
        r = read_full_file(p, 4096, &text, NULL);
        if (r < 0)
                return r;
        const char *k = strstr(text, "oom_kill ");
        if (!k)
                return -ENODATA;
        *ret = strtoull(k + STRLEN("oom_kill "), NULL, 10);
        return 0;
}

const CgroupDriver cgroup_driver_v1 = {
        .name = "cgroupfs-v1",
        .version = 1,
        .bases = v1_bases,
        .prepare_parent = NULL,
        .apply = v1_apply,
        .reset = v1_reset,
        .devices = v1_devices,
        .oom_kills = v1_oom_kills,
};
