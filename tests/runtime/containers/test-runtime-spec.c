/* SPDX-License-Identifier: Apache-2.0 */
/* Spec resolution without a kernel: capabilities, users from passwd/group, seccomp compilation, resource limits,
 * config.json round trip. */

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <linux/capability.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/container-config.h"
#include "runtime/seccomp.h"
#include "runtime/user.h"
#include "tests/lib/testlib.h"

static char *tmp;

static void setup(void) {
        tmp = test_tmpdir_new("nodelet-spec");
        ck_assert_ptr_nonnull(tmp);
}

static void teardown(void) {
        test_tmpdir_remove(tmp);
}

#define CAPBIT(c) (UINT64_C(1) << (c))

START_TEST(test_caps) {
        uint64_t m;
        ck_assert_int_eq(__builtin_popcountll(caps_default()), 14);
        ck_assert(caps_default() & CAPBIT(CAP_CHOWN));
        ck_assert(!(caps_default() & CAPBIT(CAP_SYS_ADMIN)));
        char *add[] = {(char *) "NET_ADMIN", (char *) "cap_sys_time", NULL};
        char *drop[] = {(char *) "CAP_CHOWN", NULL};
        ck_assert_int_eq(caps_compute(false, add, drop, &m, NULL), 0);
        ck_assert(m & CAPBIT(CAP_NET_ADMIN));
        ck_assert(m & CAPBIT(CAP_SYS_TIME));
        ck_assert(!(m & CAPBIT(CAP_CHOWN)));
        ck_assert_int_eq(__builtin_popcountll(m), 15);
        /* drop ALL, add one: only that one (the Kubernetes least-privilege idiom). */
        char *all[] = {(char *) "ALL", NULL};
        char *nbs[] = {(char *) "NET_BIND_SERVICE", NULL};
        ck_assert_int_eq(caps_compute(false, nbs, all, &m, NULL), 0);
        ck_assert(m == CAPBIT(CAP_NET_BIND_SERVICE));
        ck_assert_int_eq(caps_compute(true, NULL, drop, &m, NULL), 0);
        ck_assert(m == caps_all());
        ErrorBuf e = {};
        char *bad[] = {(char *) "CAP_NOPE", NULL};
        ck_assert_int_eq(caps_compute(false, bad, NULL, &m, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "capabilities.add: unknown capability \"CAP_NOPE\"");
}
END_TEST

static void write_etc(const char *layer, const char *name, const char *text) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/etc", layer);
        ck_assert_int_eq(mkdir_p(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/etc/%s", layer, name);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644, false), 0);
}

START_TEST(test_users) {
        char l0[4200], l1[4200];
        snprintf(l0, sizeof(l0), "%s/l0", tmp);
        snprintf(l1, sizeof(l1), "%s/l1", tmp);
        write_etc(l0, "passwd", "root:x:0:0::/root:/bin/sh\nold:x:5:5::/old:/bin/sh\n");
        /* The upper layer's passwd wins. */
        write_etc(l1, "passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:2000:App:/home/app:/bin/sh\n");
        write_etc(l1, "group", "root:x:0:\napp:x:2000:\nextra:x:3000:app,bob\nother:x:4000:bob\n");
        ck_assert_int_eq(mkdir_p(l1, 0755), 0);
        char *lowers[] = {l0, l1, NULL};
        ResolvedUser u;
        ErrorBuf e = {};
        ck_assert_int_eq(user_resolve(lowers, "app", &u, &e), 0);
        ck_assert_int_eq(u.uid, 1000);
        ck_assert_int_eq(u.gid, 2000);
        ck_assert_int_eq(u.n_groups, 1);
        ck_assert_int_eq(u.groups[0], 3000);
        ck_assert_str_eq(u.home, "/home/app");
        resolved_user_done(&u);
        ck_assert_int_eq(user_resolve(lowers, "1000:other", &u, &e), 0);
        ck_assert_int_eq(u.uid, 1000);
        ck_assert_int_eq(u.gid, 4000);
        resolved_user_done(&u);
        /* Unknown numeric uid: allowed, gid 0. */
        ck_assert_int_eq(user_resolve(lowers, "4242", &u, &e), 0);
        ck_assert_int_eq(u.uid, 4242);
        ck_assert_int_eq(u.gid, 0);
        ck_assert_ptr_null(u.home);
        resolved_user_done(&u);
        ck_assert_int_eq(user_resolve(lowers, "old", &u, &e), -ENOENT);
        ck_assert_str_eq(e.msg, "unable to find user old: no matching entries in passwd file");
        error_clear(&e);
        ck_assert_int_eq(user_resolve(lowers, "app:nogroup", &u, &e), -ENOENT);
        ck_assert_str_eq(e.msg, "unable to find group nogroup: no matching entries in group file");

        /* A symlinked /etc/passwd pointing at the host stays inside the layer. */
        char l2[4200], p[4300];
        snprintf(l2, sizeof(l2), "%s/l2", tmp);
        snprintf(p, sizeof(p), "%s/etc", l2);
        ck_assert_int_eq(mkdir_p(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/etc/passwd", l2);
        ck_assert_int_eq(symlink("/etc/passwd", p), 0);
        char *only[] = {l2, NULL};
        error_clear(&e);
        ck_assert_int_eq(user_resolve(only, "root", &u, &e), -ENOENT);
}
END_TEST

START_TEST(test_seccomp_profiles) {
        char cache[4200];
        snprintf(cache, sizeof(cache), "%s/seccomp", tmp);
        _cleanup_free_ char *bpf = NULL, *bpf2 = NULL, *bpf3 = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(seccomp_prepare(NULL, caps_default(), cache, &bpf, &e), 0);
        struct stat st;
        ck_assert_int_eq(stat(bpf, &st), 0);
        ck_assert_int_gt(st.st_size, 100 * 8);
        ck_assert_int_eq(st.st_size % 8, 0);
        /* Cached by content: same input, same file; other capabilities, another filter. */
        ck_assert_int_eq(seccomp_prepare(NULL, caps_default(), cache, &bpf2, &e), 0);
        ck_assert_str_eq(bpf, bpf2);
        ck_assert_int_eq(seccomp_prepare(NULL, caps_default() | CAPBIT(CAP_SYS_ADMIN), cache, &bpf3, &e), 0);
        ck_assert_str_ne(bpf, bpf3);

        /* The default profile allows what programs need and not namespace creation without CAP_SYS_ADMIN. */
        _cleanup_json_ json_t *p = NULL;
        ck_assert_int_eq(seccomp_default_profile(caps_default(), &p), 0);
        _cleanup_free_ char *dump = jx_dump_compact(p);
        ck_assert(strstr(dump, "\"read\""));
        ck_assert(!strstr(dump, "\"unshare\""));
        ck_assert(!strstr(dump, "\"keyctl\""));
        ck_assert(!strstr(dump, "\"mount\""));

        struct {
                const char *json, *err;
        } bad[] = {
                {"{\"defaultAction\": 5}", "defaultAction"},
                {"{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", "defaultAction: unsupported"},
                {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"action\": \"SCMP_ACT_ERRNO\"}]}",
                 "syscalls[0]: \"names\""},
                {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
                 "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 9, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                 "args[0].index"},
                {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_VAX\"]}", "architectures"},
                {"{\"defaultAction\": \"SCMP_ACT_ALLOW\",", "profile.json"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char path[4300];
                snprintf(path, sizeof(path), "%s/profile.json", tmp);
                ck_assert_int_eq(write_file_atomic(path, bad[i].json, strlen(bad[i].json), 0644, false), 0);
                _cleanup_free_ char *out = NULL;
                error_clear(&e);
                ck_assert_int_lt(seccomp_prepare(path, caps_default(), cache, &out, &e), 0);
                ck_assert_msg(strstr(e.msg, bad[i].err), "case %zu: %s", i, e.msg);
        }
        /* A Docker-format profile with includes/excludes and several conditions on one argument compiles. */
        const char *ok =
                "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
                "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],"
                "\"syscalls\":[{\"names\":[\"read\",\"write\",\"no_such_syscall\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                "{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]},"
                "{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}";
        char path[4300];
        snprintf(path, sizeof(path), "%s/ok.json", tmp);
        ck_assert_int_eq(write_file_atomic(path, ok, strlen(ok), 0644, false), 0);
        _cleanup_free_ char *out = NULL;
        ck_assert_int_eq(seccomp_prepare(path, caps_default(), cache, &out, &e), 0);
}
END_TEST

START_TEST(test_resources) {
        ErrorBuf e = {};
        ContainerResources ok = {.cpu_shares = 512, .cpu_quota_us = 50000, .memory_limit = 64 << 20, .pids_limit = 100};
        ck_assert_int_eq(cgroup_resources_validate(&ok, &e), 0);
        ContainerResources bad[] = {
                {.cpu_shares = 1},     {.cpu_quota_us = 999},  {.cpu_quota_us = -1},
                {.cpu_period_us = 10}, {.memory_limit = 4096}, {.pids_limit = -3},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                error_clear(&e);
                ck_assert_int_eq(cgroup_resources_validate(&bad[i], &e), -EINVAL);
                ck_assert(startswith(e.msg, "resources."));
        }
}
END_TEST

static void touch_files(const char *dir, const char *const *names) {
        for (const char *const *n = names; *n; n++) {
                char p[4300];
                ck_assert_int_lt(snprintf(p, sizeof(p), "%s/%s", dir, *n), (int) sizeof(p));
                ck_assert_int_eq(write_file_atomic(p, "", 0, 0644, false), 0);
        }
}

static char *cat(const char *dir, const char *name) {
        char p[4300];
        ck_assert_int_lt(snprintf(p, sizeof(p), "%s/%s", dir, name), (int) sizeof(p));
        char *s = NULL;
        ck_assert_int_eq(read_full_file(p, 0, &s, NULL), 0);
        return s;
}

/* The drivers against plain directories standing in for cgroupfs (this host is v1: v2 is checked this way). */
START_TEST(test_cgroup_drivers) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/v2", tmp);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        touch_files(dir, (const char *const[]){"cpu.weight", "cpu.max", "memory.max", "memory.oom.group", "pids.max",
                                               "cgroup.subtree_control", NULL});
        ContainerResources res = {
                .cpu_shares = 1024, .cpu_quota_us = 50000, .memory_limit = 64 << 20, .pids_limit = 99};
        ck_assert_int_eq(cgroup_driver_v2.apply(dir, &res, NULL), 0);
        _cleanup_free_ char *w = cat(dir, "cpu.weight"), *cm = cat(dir, "cpu.max"), *mm = cat(dir, "memory.max"),
                            *og = cat(dir, "memory.oom.group"), *pm = cat(dir, "pids.max");
        ck_assert_str_eq(w, "39"); /* 1 + (1024-2)*9999/262142, as runc and the kubelet compute it */
        ck_assert_str_eq(cm, "50000 100000");
        ck_assert_str_eq(mm, "67108864");
        ck_assert_str_eq(og, "1");
        ck_assert_str_eq(pm, "99");
        /* Controllers are enabled for children only when the parent has them. */
        char p[4300];
        snprintf(p, sizeof(p), "%s/cgroup.controllers", dir);
        const char *ctrls = "cpuset cpu io memory hugetlb pids rdma misc\n";
        ck_assert_int_eq(write_file_atomic(p, ctrls, strlen(ctrls), 0644, false), 0);
        ck_assert_int_eq(cgroup_driver_v2.prepare_parent(dir), 0);
        _cleanup_free_ char *sc = cat(dir, "cgroup.subtree_control");
        ck_assert_str_eq(sc, "+cpu +memory +pids");
        snprintf(p, sizeof(p), "%s/memory.events", dir);
        const char *ev = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n";
        ck_assert_int_eq(write_file_atomic(p, ev, strlen(ev), 0644, false), 0);
        uint64_t n = 0;
        ck_assert_int_eq(cgroup_oom_kills(2, dir, &n), 0);
        ck_assert_int_eq(n, 2);

        /* v1: each hierarchy gets only its own files (others are absent there and skipped). */
        snprintf(dir, sizeof(dir), "%s/v1mem", tmp);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        touch_files(dir, (const char *const[]){"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", NULL});
        ck_assert_int_eq(cgroup_driver_v1.apply(dir, &res, NULL), 0);
        _cleanup_free_ char *l = cat(dir, "memory.limit_in_bytes"), *sw = cat(dir, "memory.memsw.limit_in_bytes");
        ck_assert_str_eq(l, "67108864");
        ck_assert_str_eq(sw, "67108864");
        snprintf(p, sizeof(p), "%s/memory.oom_control", dir);
        const char *oc = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        ck_assert_int_eq(write_file_atomic(p, oc, strlen(oc), 0644, false), 0);
        ck_assert_int_eq(cgroup_oom_kills(1, dir, &n), 0);
        ck_assert_int_eq(n, 1);
        snprintf(dir, sizeof(dir), "%s/v1cpu", tmp);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        touch_files(dir, (const char *const[]){"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", NULL});
        ck_assert_int_eq(cgroup_driver_v1.apply(dir, &res, NULL), 0);
        _cleanup_free_ char *sh = cat(dir, "cpu.shares"), *q = cat(dir, "cpu.cfs_quota_us"),
                            *pe = cat(dir, "cpu.cfs_period_us");
        ck_assert_str_eq(sh, "1024");
        ck_assert_str_eq(q, "50000");
        ck_assert_str_eq(pe, "100000");
}
END_TEST

/* Pod cgroups on v2 (stand-in directories): created below the base with the controllers enabled on the way, the
 * limits written, and an update lifting what it no longer sets. */
START_TEST(test_cgroup_ensure_v2) {
        char base[4200], pod[4300], p[4400];
        snprintf(base, sizeof(base), "%s/v2base", tmp);
        snprintf(pod, sizeof(pod), "%s/kubepods/burstable/pod1", base);
        ck_assert_int_eq(mkdir_p(pod, 0755), 0);
        const char *ctrls = "cpuset cpu io memory pids\n";
        const char *levels[] = {"", "/kubepods", "/kubepods/burstable"};
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                snprintf(p, sizeof(p), "%s%s/cgroup.controllers", base, levels[i]);
                ck_assert_int_eq(write_file_atomic(p, ctrls, strlen(ctrls), 0644, false), 0);
                snprintf(p, sizeof(p), "%s%s", base, levels[i]);
                touch_files(p, (const char *const[]){"cgroup.subtree_control", NULL});
        }
        touch_files(pod,
                    (const char *const[]){"cpu.weight", "cpu.max", "memory.max", "memory.oom.group", "pids.max", NULL});
        char *bases[] = {base, NULL};
        ContainerResources res = {.cpu_shares = 2, .cpu_quota_us = 20000, .memory_limit = 32 << 20, .pids_limit = 7};
        ck_assert_int_eq(cgroup_ensure(&cgroup_driver_v2, bases, "kubepods/burstable/pod1", &res, NULL), 0);
        _cleanup_free_ char *w = cat(pod, "cpu.weight"), *cm = cat(pod, "cpu.max"), *mm = cat(pod, "memory.max"),
                            *pm = cat(pod, "pids.max");
        ck_assert_str_eq(w, "1");
        ck_assert_str_eq(cm, "20000 100000");
        ck_assert_str_eq(mm, "33554432");
        ck_assert_str_eq(pm, "7");
        snprintf(p, sizeof(p), "%s/kubepods", base);
        _cleanup_free_ char *sc = cat(p, "cgroup.subtree_control");
        ck_assert_str_eq(sc, "+cpu +memory +pids");

        /* Update: only memory is set now; the rest goes back to the kernel's defaults. (Stand-in files are emptied
         * first: a write to a regular file does not replace it the way a write to cgroupfs does.) */
        const char *const files[] = {"cpu.weight", "cpu.max", "memory.max", "memory.oom.group", "pids.max", NULL};
        touch_files(pod, files);
        res = (ContainerResources){.memory_limit = 64 << 20};
        ck_assert_int_eq(cgroup_ensure(&cgroup_driver_v2, bases, "kubepods/burstable/pod1", &res, NULL), 0);
        _cleanup_free_ char *w2 = cat(pod, "cpu.weight"), *cm2 = cat(pod, "cpu.max"), *mm2 = cat(pod, "memory.max"),
                            *pm2 = cat(pod, "pids.max");
        ck_assert_str_eq(w2, "100");
        ck_assert_str_eq(cm2, "max");
        ck_assert_str_eq(mm2, "67108864");
        ck_assert_str_eq(pm2, "max");
        res = (ContainerResources){};
        touch_files(pod, files);
        ck_assert_int_eq(cgroup_ensure(&cgroup_driver_v2, bases, "kubepods/burstable/pod1", &res, NULL), 0);
        _cleanup_free_ char *mm3 = cat(pod, "memory.max");
        ck_assert_str_eq(mm3, "max");

        /* v1: the memory+swap limit is lifted before the memory limit is written, so a pod's limit can grow. */
        char v1[4300];
        snprintf(v1, sizeof(v1), "%s/v1pod", tmp);
        ck_assert_int_eq(mkdir_p(v1, 0755), 0);
        touch_files(v1,
                    (const char *const[]){"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "pids.max", NULL});
        res = (ContainerResources){.memory_limit = 64 << 20};
        ck_assert_int_eq(cgroup_driver_v1.reset(v1, &res, NULL), 0);
        _cleanup_free_ char *sw = cat(v1, "memory.memsw.limit_in_bytes"), *pl = cat(v1, "pids.max");
        ck_assert_str_eq(sw, "-1");
        ck_assert_str_eq(pl, "max");
}
END_TEST

START_TEST(test_config_roundtrip) {
        ContainerConfig c = {
                .id = (char *) "x",
                .dir = (char *) "/run/x",
                .lower_dirs = (char *[]){(char *) "/l0", (char *) "/l1", NULL},
                .upper_dir = (char *) "/u",
                .work_dir = (char *) "/w",
                .argv = (char *[]){(char *) "sh", NULL},
                .env = (char *[]){(char *) "A=1", NULL},
                .uid = 1000,
                .gid = 1000,
                .groups = (uint32_t[]){10, 20},
                .n_groups = 2,
                .caps = UINT64_C(0xffffffffff),
                .rlimits = (ConfigRlimit[]){{7, 1024, 4096}},
                .n_rlimits = 1,
                .mounts = (BindMount[]){{(char *) "/src", (char *) "/dst", true, MOUNT_PROPAGATION_SLAVE}},
                .n_mounts = 1,
                .ns_paths = {(char *) "/n/net", NULL, (char *) "/n/uts"},
                .cgroup_version = 1,
                .cgroup_dirs = (char *[]){(char *) "/sys/fs/cgroup/memory/x", NULL},
                .stop_signal = 15,
                .log_max_size = 1 << 20,
        };
        _cleanup_free_ char *text = NULL;
        ck_assert_int_eq(container_config_format(&c, &text), 0);
        _cleanup_(container_config_freep) ContainerConfig *p = NULL;
        ck_assert_int_eq(container_config_parse(text, strlen(text), &p, NULL), 0);
        ck_assert_str_eq(p->lower_dirs[1], "/l1");
        ck_assert_int_eq(p->groups[1], 20);
        ck_assert(p->caps == UINT64_C(0xffffffffff));
        ck_assert_int_eq(p->rlimits[0].hard, 4096);
        ck_assert(p->mounts[0].readonly && p->mounts[0].propagation == MOUNT_PROPAGATION_SLAVE);
        ck_assert_str_eq(p->ns_paths[NAMESPACE_NET], "/n/net");
        ck_assert_ptr_null(p->ns_paths[NAMESPACE_IPC]);
        ck_assert_int_eq(p->log_max_size, 1 << 20);
        _cleanup_free_ char *again = NULL;
        ck_assert_int_eq(container_config_format(p, &again), 0);
        ck_assert_str_eq(text, again);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("runtime-spec");
        TCase *tc = tcase_create("spec");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_caps);
        tcase_add_test(tc, test_users);
        tcase_add_test(tc, test_seccomp_profiles);
        tcase_add_test(tc, test_resources);
        tcase_add_test(tc, test_cgroup_drivers);
        tcase_add_test(tc, test_cgroup_ensure_v2);
        tcase_add_test(tc, test_config_roundtrip);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
