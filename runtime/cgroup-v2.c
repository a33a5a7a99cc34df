/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup v2 (unified hierarchy), per Documentation/admin-guide/cgroup-v2.rst:
 * - controllers must be enabled top-down through cgroup.subtree_control, and a cgroup that holds processes cannot
 *   enable them for its children ("no internal processes"). nodelet enables them in the base and the pod levels it
 *   creates; the base's parent (the caller's cgroup) must already delegate them, e.g. systemd's Delegate=yes with
 *   the daemon itself in a leaf, or --cgroup-parent pointing at such a delegated cgroup.
 * - cpu.weight (1..10000) replaces cpu.shares; cpu.max is "$QUOTA $PERIOD"; memory.max, pids.max; memory.events
 *   counts oom_kill. memory.oom.group=1 kills the whole container on OOM, as the kubelet asks for on v2. */
#include "runtime/cgroup.h"

#include <inttypes.h>
#include <stdio.h>

#include "common/fileio.h"

static int v2_bases(const char *parent, char ***ret_bases, size_t *ret_memory_index) {
        _cleanup_free_ char *self = NULL;
        int r = cgroup_self_path("", &self);
        if (r < 0)
                return r;
        char **bases = calloc(2, sizeof(char *));
        RET_NULL_ENOMEM(bases);
        if (parent && parent[0] == '/')
                r = asprintf(&bases[0], "/sys/fs/cgroup%s", parent);
        else
                r = asprintf(&bases[0], "/sys/fs/cgroup%s/%s", streq(self, "/") ? "" : self, parent ?: "nodelet");
        if (r < 0) {
                free(bases);
                return -ENOMEM;
        }
        *ret_bases = bases;
        *ret_memory_index = 0;
        return 0;
}

static int v2_prepare_parent(const char *dir) {
        _cleanup_free_ char *p = NULL, *avail = NULL;
        int r = path_join(&p, dir, "cgroup.controllers");
        if (r < 0)
                return r;
        r = read_one_line_file(p, &avail);
        if (r < 0)
                return r;
        char want[64] = "";
        for (const char *c = "cpu\0memory\0pids\0"; *c; c += strlen(c) + 1) {
                /* whole-word match in the space-separated list */
                size_t l = strlen(c);
                for (const char *s = avail; (s = strstr(s, c)); s += l)
                        if ((s == avail || s[-1] == ' ') && (s[l] == 0 || s[l] == ' ')) {
                                strcat(want, want[0] ? " +" : "+");
                                strcat(want, c);
                                break;
                        }
        }
        if (!want[0])
                return 0;
        return cgroup_write(dir, "cgroup.subtree_control", want);
}

static int write_v2(const char *dir, const char *file, const char *value, ErrorBuf *e) {
        int r = cgroup_write(dir, file, value);
        if (r < 0)
                return error_set(e, r, "%s=%s: %s", file, value, strerror(-r));
        return 0;
}

static int v2_apply(const char *dir, const ContainerResources *res, ErrorBuf *e) {
        char buf[64];
        int r = 0;
        if (res->cpu_shares) {
                /* The conversion runc, crun and the kubelet agree on: shares 2..262144 → weight 1..10000. */
                uint64_t w = 1 + ((res->cpu_shares - 2) * 9999) / 262142;
                snprintf(buf, sizeof(buf), "%" PRIu64, w);
                r = write_v2(dir, "cpu.weight", buf, e);
        }
        if (r == 0 && res->cpu_quota_us > 0) {
                snprintf(buf, sizeof(buf), "%" PRId64 " %" PRIu64, res->cpu_quota_us, res->cpu_period_us ?: 100000);
                r = write_v2(dir, "cpu.max", buf, e);
        }
        if (r == 0 && res->memory_limit > 0) {
                snprintf(buf, sizeof(buf), "%" PRId64, res->memory_limit);
                r = write_v2(dir, "memory.max", buf, e);
                if (r == 0)
                        (void) cgroup_write(dir, "memory.oom.group", "1");
        }
        if (r == 0 && res->pids_limit > 0) {
                snprintf(buf, sizeof(buf), "%" PRId64, res->pids_limit);
                r = write_v2(dir, "pids.max", buf, e);
        }
        return r;
}

static int v2_reset(const char *dir, const ContainerResources *res, ErrorBuf *e) {
        static const struct {
                const char *file, *value;
        } defaults[] = {
                {"memory.max", "max"},
                {"cpu.max", "max"},
                {"cpu.weight", "100"},
                {"pids.max", "max"},
        };
        bool unset[] = {!res->memory_limit, !res->cpu_quota_us, !res->cpu_shares, !res->pids_limit};
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
                if (!unset[i])
                        continue;
                int r = cgroup_write(dir, defaults[i].file, defaults[i].value);
                /* ENOENT: the controller is not enabled for this cgroup, so there is no limit to lift. */
                if (r < 0 && r != -ENOENT)
                        return error_set(e, r, "%s=%s: %s", defaults[i].file, defaults[i].value, strerror(-r));
        }
        return 0;
}

static int v2_oom_kills(const char *memory_dir, uint64_t *ret) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        int r = path_join(&p, memory_dir, "memory.events");
        if (r < 0)
                return r;
        r = read_full_file(p, 4096, &text, NULL);
        if (r < 0)
                return r;
        for (const char *s = text; (s = strstr(s, "oom_kill ")); s++)
                if (s == text || s[-1] == '\n') {
                        *ret = strtoull(s + STRLEN("oom_kill "), NULL, 10);
                        return 0;
                }
        return -ENODATA;
}

const CgroupDriver cgroup_driver_v2 = {
        .name = "cgroupfs-v2",
        .version = 2,
        .bases = v2_bases,
        .prepare_parent = v2_prepare_parent,
        .apply = v2_apply,
        .reset = v2_reset,
        .devices = NULL, /* v2 needs a BPF_CGROUP_DEVICE program: not implemented (docs/runtime.md) */
        .oom_kills = v2_oom_kills,
};
