/* SPDX-License-Identifier: Apache-2.0 */
/* The container engine end to end, as root: real namespaces, overlayfs, cgroups (v1 here), seccomp, the shim.
 * The rootfs is a busybox lower dir (rootfs.c); cgroups live below this process's own cgroup in a per-run parent
 * that the suite removes; every test asserts that removal leaves no mount, cgroup or state behind. */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <systemd/sd-event.h>

#include "common/fileio.h"
#include "runtime/cgroup.h"
#include "runtime/container-internal.h"
#include "runtime/container.h"
#include "runtime/logs.h"
#include "runtime/sandbox.h"
#include "tests/lib/testlib.h"
#include "tests/runtime/containers/rootfs.h"

static char *tmp;
static char lower[4096], state[4096], cgparent[64];

static void suite_setup(void) {
        test_require_root();
        tmp = test_tmpdir_new("nodelet-containers");
        ck_assert_ptr_nonnull(tmp);
        snprintf(lower, sizeof(lower), "%s/lower", tmp);
        snprintf(state, sizeof(state), "%s/state", tmp);
        snprintf(cgparent, sizeof(cgparent), "nodelet-test-%d", (int) getpid());
        int r = test_rootfs_make(lower);
        if (r == -ENOENT) {
                fprintf(stderr, "SKIP: /bin/busybox (busybox-static) is missing\n");
                exit(TEST_SKIP);
        }
        ck_assert_int_eq(r, 0);
}

static Runtime *rt_new(void);

static void suite_teardown(void) {
        /* Whatever a failed test left: containers (force-removed), sandbox namespace files. */
        Runtime *rt = rt_new();
        _cleanup_strv_free_ char **ids = NULL;
        if (runtime_list(rt, &ids) > 0)
                for (char **id = ids; *id; id++) {
                        Container *c = NULL;
                        if (container_load(rt, *id, &c, NULL) == 0 && container_remove(c, true, NULL) < 0)
                                container_free(c);
                }
        runtime_free(rt);
        (void) test_system("awk '$5 ~ \"^%s/\" {print $5}' /proc/self/mountinfo | xargs -r -n1 umount -l", tmp);
        (void) test_system(
                "umount -l /tmp/nodelet-nosuid.%s 2>/dev/null; rmdir /tmp/nodelet-nosuid.%s 2>/dev/null; true",
                strrchr(tmp, '.') + 1, strrchr(tmp, '.') + 1);
        /* The per-run cgroup parents (empty by now unless a test failed half-way). */
        _cleanup_strv_free_ char **bases = NULL;
        size_t mi;
        if (cgroup_driver_detect()->bases(cgparent, &bases, &mi) == 0)
                for (char **b = bases; *b; b++)
                        (void) test_system("find %s -depth -type d -exec rmdir {} \\; 2>/dev/null", *b);
        test_tmpdir_remove(tmp);
}

/* Resource limits need the controllers: always there on v1; on v2 only when this process's cgroup delegates them
 * (cgroup.subtree_control), which a CI runner's cgroup may not. The limit tests then run as their own ctest test
 * (`limits`, below) that exits 77 and is reported as skipped: Check has no per-test skip status. */
static bool limits_available(const char *controller) {
        if (cgroup_driver_detect()->version == 1)
                return true;
        _cleanup_free_ char *self = NULL, *text = NULL;
        char p[4200];
        if (cgroup_self_path("", &self) < 0)
                return false;
        snprintf(p, sizeof(p), "/sys/fs/cgroup%s/cgroup.subtree_control", self);
        if (read_full_file(p, 0, &text, NULL) < 0 || !strstr(text, controller)) {
                fprintf(stderr, "note: cgroup v2 without a delegated %s controller here, skipping\n", controller);
                return false;
        }
        return true;
}

static Runtime *rt_new(void) {
        RuntimeConfig cfg = {.state_dir = state, .shim_path = test_shim_path(), .cgroup_parent = cgparent};
        Runtime *rt = NULL;
        int r = runtime_new(&cfg, &rt);
        ck_assert_msg(r == 0, "runtime_new: %s", strerror(-r));
        return rt;
}

static char **strv_make(const char *first, ...) {
        char **l = calloc(32, sizeof(char *));
        va_list ap;
        va_start(ap, first);
        size_t n = 0;
        for (const char *s = first; s && n < 31; s = va_arg(ap, const char *))
                l[n++] = strdup(s);
        va_end(ap);
        return l;
}

/* A spec running `sh -c script` in the busybox rootfs, logging to <tmp>/<id>.log. */
static void spec_sh(ContainerSpec *s, const char *id, const char *script) {
        *s = (ContainerSpec){};
        s->lower_dirs = strv_make(lower, NULL);
        s->argv = strv_make("/bin/sh", "-c", script, NULL);
        s->env = strv_make("FOO=bar", NULL);
        ck_assert_int_ge(asprintf(&s->log_path, "%s/logs/%s.log", tmp, id), 0);
}

/* Count of mountinfo lines mentioning our temp dir (an overlay leaking to the host would); a live sandbox's
 * namespace files are counted only when asked for. */
static int host_mounts(bool with_nsfs) {
        _cleanup_free_ char *mi = NULL;
        ck_assert_int_eq(read_full_file("/proc/self/mountinfo", 0, &mi, NULL), 0);
        int n = 0;
        char *save = NULL;
        for (char *l = strtok_r(mi, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (strstr(l, tmp) && (with_nsfs || !strstr(l, " - nsfs ")))
                        n++;
        return n;
}

static int host_mounts_under_tmp(void) {
        return host_mounts(true);
}

/* Runs to completion: create, start, wait, read the status and the log; remove and check nothing is left. */
typedef struct Run {
        ContainerStatus st;
        char *log; /* stdout+stderr content, CRI framing removed */
        char *raw; /* the raw CRI file */
} Run;

static void run_done(Run *r) {
        free(r->log);
        free(r->raw);
}

static char *log_content(const char *path) {
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);
        (void) cri_log_print(path, m, m, 0);
        fclose(m);
        return buf;
}

static void assert_removed(Runtime *rt, const char *id, char **cgroup_dirs) {
        char p[8192];
        snprintf(p, sizeof(p), "%s/containers/%s", state, id);
        ck_assert_msg(access(p, F_OK) < 0, "state %s left behind", p);
        for (char **d = cgroup_dirs; d && *d; d++)
                ck_assert_msg(access(*d, F_OK) < 0, "cgroup %s left behind", *d);
        ck_assert_int_eq(host_mounts(false), 0);
}

static void run_spec(const char *id, ContainerSpec *s, Run *out) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        Container *c = NULL;
        ErrorBuf e = {};
        int r = container_create(rt, id, s, &c, &e);
        ck_assert_msg(r == 0, "create: %s", error_message(&e, r));
        r = container_start(c, -1, -1, &e);
        ck_assert_msg(r == 0, "start: %s", error_message(&e, r));
        ck_assert_int_eq(container_wait(c, 60 * USEC_PER_SEC), 0);
        ck_assert_int_eq(container_get_status(c, &out->st), 0);
        ck_assert_int_eq(out->st.state, CONTAINER_EXITED);
        out->log = log_content(s->log_path);
        (void) read_full_file(s->log_path, 0, &out->raw, NULL);
        _cleanup_strv_free_ char **dirs = NULL;
        for (size_t n = 0; c->cfg->cgroup_dirs && c->cfg->cgroup_dirs[n]; n++) {
                dirs = realloc(dirs, (n + 2) * sizeof(char *));
                dirs[n] = strdup(c->cfg->cgroup_dirs[n]);
                dirs[n + 1] = NULL;
        }
        r = container_remove(c, false, &e);
        ck_assert_msg(r == 0, "remove: %s", error_message(&e, r));
        assert_removed(rt, id, dirs);
        container_spec_done(s);
}

static void run_sh(const char *id, const char *script, Run *out) {
        ContainerSpec s;
        spec_sh(&s, id, script);
        run_spec(id, &s, out);
}

START_TEST(test_exit_codes) {
        Run a = {}, b = {};
        run_sh("exit0", "exit 0", &a);
        ck_assert_int_eq(a.st.exit_code, 0);
        ck_assert_str_eq(a.st.reason, "Completed");
        ck_assert(a.st.started_at > 0 && a.st.finished_at >= a.st.started_at);
        run_sh("exit1", "exit 1", &b);
        ck_assert_int_eq(b.st.exit_code, 1);
        ck_assert_str_eq(b.st.reason, "Error");
        run_done(&a);
        run_done(&b);

        /* 137: killed by SIGKILL. */
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        ContainerSpec s;
        spec_sh(&s, "exit137", "sleep 60");
        Container *c = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(container_create(rt, "exit137", &s, &c, &e), 0);
        ck_assert_int_eq(container_start(c, -1, -1, &e), 0);
        ContainerStatus st;
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.state, CONTAINER_RUNNING);
        ck_assert_int_gt(st.pid, 0);
        ck_assert_int_eq(container_kill(c, SIGKILL), 0);
        ck_assert_int_eq(container_wait(c, 30 * USEC_PER_SEC), 0);
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.exit_code, 137);
        ck_assert_int_eq(st.signal, SIGKILL);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);
}
END_TEST

START_TEST(test_env_cwd_pid1_proc) {
        ContainerSpec s;
        spec_sh(&s, "envcwd",
                "echo foo=$FOO; pwd; echo pid=$$; echo home=$HOME; ls -d /proc/[0-9]* | wc -l; "
                "echo nofile=$(ulimit -n); grep -E '^Sig(Blk|Ign)' /proc/self/status; echo end");
        s.cwd = strdup("/tmp");
        s.rlimits = calloc(1, sizeof(ContainerRlimit));
        s.rlimits[0] = (ContainerRlimit){.name = strdup("RLIMIT_NOFILE"), .soft = 321, .hard = 654};
        s.n_rlimits = 1;
        Run r = {};
        run_spec("envcwd", &s, &r);
        ck_assert_int_eq(r.st.exit_code, 0);
        ck_assert_msg(strstr(r.log, "foo=bar\n/tmp\npid=1\nhome=/root\n"), "log: %s", r.log);
        /* Only the container's own processes: sh and the pipeline's children, never the host's hundreds. */
        const char *n = strstr(r.log, "home=/root\n") + strlen("home=/root\n");
        ck_assert_int_le(atoi(n), 3);
        ck_assert_msg(strstr(r.log, "nofile=321\n"), "log: %s", r.log);
        /* The shim ignores SIGPIPE and SIGHUP; the container must not inherit that. */
        ck_assert_msg(strstr(r.log, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"), "log: %s", r.log);
        run_done(&r);
}
END_TEST

START_TEST(test_hostname_and_default_mounts) {
        ContainerSpec s;
        spec_sh(&s, "hostname",
                "hostname; cat /proc/timer_list 2>&1 | wc -c; touch /proc/sys/x 2>/dev/null || echo rosys; "
                "touch /sys/x 2>/dev/null || echo rosysfs; ls /dev/null /dev/zero /dev/urandom /dev/tty /dev/pts/ptmx "
                "/dev/shm /dev/mqueue >/dev/null && echo devs");
        s.hostname = strdup("ctr-host");
        Run r = {};
        run_spec("hostname", &s, &r);
        ck_assert_msg(strstr(r.log, "ctr-host\n0\nrosys\nrosysfs\ndevs\n"), "log: %s", r.log);
        /* The host has a timer list; the container sees /dev/null there. */
        ck_assert_int_eq(test_system("test \"$(head -c 1 /proc/timer_list | wc -c)\" = 1"), 0);
        run_done(&r);
}
END_TEST

START_TEST(test_bind_mounts) {
        char src[4200], f[4300];
        snprintf(src, sizeof(src), "%s/shared", tmp);
        ck_assert_int_eq(mkdir_p(src, 0755), 0);
        snprintf(f, sizeof(f), "%s/hello", src);
        ck_assert_int_eq(write_file_atomic(f, "from-host\n", 10, 0644, false), 0);
        ContainerSpec s;
        spec_sh(&s, "binds",
                "cat /data/ro/hello; touch /data/ro/x 2>/dev/null || echo ro-denied; "
                "echo from-ctr > /data/rw/out && echo rw-ok; cat /etc/single; "
                "grep ' /data/nosuid ' /proc/self/mountinfo");
        /* A nosuid,nodev source stays nosuid,nodev when bound read-only. */
        char ns[128];
        /* Outside tmp, so the host-mount checks of run_spec() do not count it; the suite teardown unmounts it. */
        snprintf(ns, sizeof(ns), "/tmp/nodelet-nosuid.%s", strrchr(tmp, '.') + 1);
        ck_assert_int_eq(mkdir_p(ns, 0755), 0);
        ck_assert_int_eq(test_system("mount -t tmpfs -o nosuid,nodev,size=1m tmpfs %s", ns), 0);
        s.mounts = calloc(4, sizeof(BindMount));
        s.mounts[0] = (BindMount){strdup(src), strdup("/data/ro"), true, MOUNT_PROPAGATION_PRIVATE};
        s.mounts[1] = (BindMount){strdup(src), strdup("/data/rw"), false, MOUNT_PROPAGATION_SLAVE};
        /* A file onto a file that does not exist in the image. */
        s.mounts[2] = (BindMount){strdup(f), strdup("/etc/single"), true, MOUNT_PROPAGATION_PRIVATE};
        s.mounts[3] = (BindMount){strdup(ns), strdup("/data/nosuid"), true, MOUNT_PROPAGATION_PRIVATE};
        s.n_mounts = 4;
        Run r = {};
        run_spec("binds", &s, &r);
        ck_assert_int_eq(umount2(ns, MNT_DETACH), 0);
        (void) rmdir(ns);
        ck_assert_msg(strstr(r.log, "from-host\nro-denied\nrw-ok\nfrom-host\n"), "log: %s", r.log);
        ck_assert_msg(strstr(r.log, " /data/nosuid ro,nosuid,nodev"), "log: %s", r.log);
        snprintf(f, sizeof(f), "%s/out", src);
        _cleanup_free_ char *out = NULL;
        ck_assert_int_eq(read_full_file(f, 0, &out, NULL), 0);
        ck_assert_str_eq(out, "from-ctr\n");
        run_done(&r);
}
END_TEST

START_TEST(test_stop_kills_pid_namespace) {
        /* A background process survives nothing: SIGKILL to pid 1 takes the whole namespace, the cgroup empties. */
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        ContainerSpec s;
        spec_sh(&s, "nskill", "sleep 100 & sleep 100 & exec sleep 100");
        Container *c = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(container_create(rt, "nskill", &s, &c, &e), 0);
        ck_assert_int_eq(container_start(c, -1, -1, &e), 0);
        char procs[8300];
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", c->cfg->cgroup_dirs[0]);
        for (int i = 0; i < 1000 && test_system("test $(wc -l < %s) -ge 3", procs) != 0; i++)
                usleep(10000);
        ck_assert_int_eq(test_system("test $(wc -l < %s) -ge 3", procs), 0);
        ck_assert_int_eq(container_stop(c, 100 * USEC_PER_MSEC), 0);
        for (int i = 0; i < 1000 && test_system("test -s %s", procs) == 0; i++)
                usleep(10000);
        ck_assert_int_eq(test_system("test -s %s", procs), 1);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);

        /* The monitor killed behind our back: status unknown, a forced remove still takes the workload down. */
        spec_sh(&s, "orphan", "exec sleep 100");
        ck_assert_int_eq(container_create(rt, "orphan", &s, &c, &e), 0);
        ck_assert_int_eq(container_start(c, -1, -1, &e), 0);
        ContainerStatus st;
        ck_assert_int_eq(container_get_status(c, &st), 0);
        pid_t workload = st.pid;
        ck_assert_int_eq(kill(st.shim_pid, SIGKILL), 0);
        ck_assert_int_eq(container_wait(c, 30 * USEC_PER_SEC), 0);
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.state, CONTAINER_UNKNOWN);
        ck_assert_int_eq(kill(workload, 0), 0);
        ck_assert_int_eq(container_remove(c, false, &e), -EBUSY);
        ck_assert_int_eq(container_remove(c, true, &e), 0);
        /* Dead: gone, or a zombie waiting for its new parent (init) to reap it. */
        ck_assert_int_eq(test_system("! grep -qv '^[0-9]* ([^)]*) Z' /proc/%d/stat 2>/dev/null", (int) workload), 0);
        container_spec_done(&s);
}
END_TEST

START_TEST(test_user_and_groups) {
        ContainerSpec s;
        spec_sh(&s, "user", "id; echo home=$HOME");
        s.user = strdup("user1");
        Run r = {};
        run_spec("user", &s, &r);
        ck_assert_msg(strstr(r.log, "uid=1000(user1) gid=1000(user1) groups=10(wheel),100(users)"), "log: %s", r.log);
        ck_assert_msg(strstr(r.log, "home=/home/user1"), "log: %s", r.log);
        run_done(&r);

        spec_sh(&s, "user2", "id -u; id -g; id -G");
        s.user = strdup("1234:5678");
        s.additional_gids = calloc(1, sizeof(gid_t));
        s.additional_gids[0] = 42;
        s.n_additional_gids = 1;
        run_spec("user2", &s, &r);
        ck_assert_msg(strstr(r.log, "1234\n5678\n5678 42\n"), "log: %s", r.log);
        run_done(&r);
}
END_TEST

START_TEST(test_memory_oom) {
        ContainerSpec s;
        spec_sh(&s, "oom", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived");
        s.resources.memory_limit = 16 * 1024 * 1024;
        Run r = {};
        run_spec("oom", &s, &r);
        ck_assert_msg(r.st.oom_killed, "not OOM-killed: exit %d, log %s", r.st.exit_code, r.log);
        ck_assert_str_eq(r.st.reason, "OOMKilled");
        run_done(&r);
}
END_TEST

START_TEST(test_pids_limit) {
        ContainerSpec s;
        spec_sh(&s, "pids", "for i in 1 2 3 4 5 6 7 8; do sleep 3 & done 2>&1; echo end");
        s.resources.pids_limit = 4;
        Run r = {};
        run_spec("pids", &s, &r);
        ck_assert_msg(strstr(r.log, "can't fork") || strstr(r.log, "Resource temporarily unavailable"), "log: %s",
                      r.log);
        run_done(&r);
}
END_TEST

START_TEST(test_readonly_rootfs) {
        ContainerSpec s;
        spec_sh(&s, "ro",
                "touch /x && echo wrote; touch /tmp/y && echo wrote-tmp; grep ' / / ' /proc/self/mountinfo; "
                "exit 3");
        s.readonly_rootfs = true;
        Run r = {};
        run_spec("ro", &s, &r);
        ck_assert_msg(strstr(r.log, "Read-only file system") && !strstr(r.log, "wrote"), "log: %s", r.log);
        /* Still nodev after the read-only remount. */
        ck_assert_msg(strstr(r.log, " / / ro,nodev"), "log: %s", r.log);
        ck_assert_int_eq(r.st.exit_code, 3);
        run_done(&r);

        /* Writable by default, into the upper dir only. */
        spec_sh(&s, "rw", "touch /x && echo wrote");
        run_spec("rw", &s, &r);
        ck_assert_msg(strstr(r.log, "wrote"), "log: %s", r.log);
        char p[4200];
        snprintf(p, sizeof(p), "%s/x", lower);
        ck_assert_int_ne(access(p, F_OK), 0);
        run_done(&r);
}
END_TEST

START_TEST(test_capability_drop) {
        ContainerSpec s;
        spec_sh(&s, "chown-ok", "chown 1000 /tmp && echo chowned");
        Run r = {};
        run_spec("chown-ok", &s, &r);
        ck_assert_msg(strstr(r.log, "chowned"), "log: %s", r.log);
        run_done(&r);

        spec_sh(&s, "chown-denied", "chown 1000 /tmp && echo chowned");
        s.cap_drop = strv_make("CAP_CHOWN", NULL);
        run_spec("chown-denied", &s, &r);
        ck_assert_msg(strstr(r.log, "Operation not permitted") && !strstr(r.log, "chowned"), "log: %s", r.log);
        ck_assert_int_eq(r.st.exit_code, 1);
        run_done(&r);
}
END_TEST

START_TEST(test_device_allowlist) {
        /* CAP_MKNOD is a default capability: the device cgroup must still refuse opening a node that is not on the
         * allowlist (loop0 here: the host itself may open it, so only our allowlist can refuse it). /dev is the one
         * place devices work at all: the rootfs is nodev, so even an allowed device there cannot be opened. */
        const char *script = "mknod /dev/disk b 7 0 && echo made; head -c 1 /dev/disk; head -c 1 /dev/zero | wc -c; "
                             "mknod /tmp/zero c 1 5 && head -c 1 /tmp/zero";
        ContainerSpec s;
        spec_sh(&s, "devices", script);
        Run r = {};
        run_spec("devices", &s, &r);
        ck_assert_msg(strstr(r.log, "made\n") && strstr(r.log, "/dev/disk: Operation not permitted") &&
                              strstr(r.log, "\n1\n") && strstr(r.log, "/tmp/zero: Permission denied"),
                      "log: %s", r.log);
        run_done(&r);
}
END_TEST

START_TEST(test_seccomp) {
        /* A user namespace needs no capability, so only seccomp can refuse it. */
        ContainerSpec s;
        spec_sh(&s, "sc-unconfined", "unshare -U true && echo unshared");
        s.seccomp = SECCOMP_MODE_UNCONFINED;
        Run r = {};
        run_spec("sc-unconfined", &s, &r);
        bool userns_available = strstr(r.log, "unshared") != NULL;
        run_done(&r);

        spec_sh(&s, "sc-default", "unshare -U true && echo unshared");
        run_spec("sc-default", &s, &r);
        ck_assert_msg(strstr(r.log, "Operation not permitted") && !strstr(r.log, "unshared"), "log: %s", r.log);
        run_done(&r);
        if (!userns_available)
                fprintf(stderr, "note: user namespaces unavailable, the Unconfined control did not run\n");

        /* Localhost profile in the OCI JSON format: mkdir refused with EACCES, everything else allowed. */
        char prof[4200];
        snprintf(prof, sizeof(prof), "%s/profile.json", tmp);
        const char *json = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
                           "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13}]}";
        ck_assert_int_eq(write_file_atomic(prof, json, strlen(json), 0644, false), 0);
        spec_sh(&s, "sc-local", "mkdir /tmp/d && echo made; echo after");
        s.seccomp = SECCOMP_MODE_LOCALHOST;
        s.seccomp_profile = strdup(prof);
        run_spec("sc-local", &s, &r);
        ck_assert_msg(strstr(r.log, "Permission denied") && !strstr(r.log, "made") && strstr(r.log, "after"), "log: %s",
                      r.log);
        run_done(&r);
}
END_TEST

START_TEST(test_logs_framing) {
        ContainerSpec s;
        spec_sh(&s, "logs",
                "echo out1; echo err1 >&2; printf 'abcdefghijklmnopqrstuvwxyz0123456789\\n'; "
                "printf tail");
        s.log_line_max = 16;
        Run r = {};
        run_spec("logs", &s, &r);
        ck_assert_msg(strstr(r.raw, " stdout F out1\n") && strstr(r.raw, " stderr F err1\n"), "raw: %s", r.raw);
        ck_assert_msg(strstr(r.raw, " stdout P abcdefghijklmnop\n") && strstr(r.raw, " stdout P qrstuvwxyz012345\n") &&
                              strstr(r.raw, " stdout F 6789\n") && strstr(r.raw, " stdout F tail\n"),
                      "raw: %s", r.raw);
        ck_assert_msg(strstr(r.log, "abcdefghijklmnopqrstuvwxyz0123456789\n"), "joined: %s", r.log);
        /* RFC 3339 with nanoseconds in UTC. */
        ck_assert_msg(strlen(r.raw) > 31 && r.raw[4] == '-' && r.raw[10] == 'T' && r.raw[19] == '.' && r.raw[29] == 'Z',
                      "raw: %s", r.raw);
        run_done(&r);

        /* Rotation by size keeps numbered files. */
        spec_sh(&s, "rotate", "for i in $(seq 1 200); do echo line-$i; done");
        s.log_max_size = 2048;
        s.log_max_files = 3;
        _cleanup_free_ char *path = strdup(s.log_path);
        run_spec("rotate", &s, &r);
        char p[4200];
        snprintf(p, sizeof(p), "%s.1", path);
        ck_assert_int_eq(access(p, F_OK), 0);
        snprintf(p, sizeof(p), "%s.2", path);
        ck_assert_int_eq(access(p, F_OK), 0);
        snprintf(p, sizeof(p), "%s.3", path);
        ck_assert_int_ne(access(p, F_OK), 0);
        ck_assert_msg(strstr(r.log, "line-200\n"), "log: %s", r.log);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_lt(st.st_size, 2048 + 128);
        run_done(&r);
}
END_TEST

/* The daemon's way: start and exit notification as sd-event sources, nothing blocks the loop. */
typedef struct LoopState {
        Container *c;
        int started, exited;
        ErrorBuf e;
} LoopState;

static int on_exit_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LoopState *st = userdata;
        st->exited++;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_started(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LoopState *st = userdata;
        int r = container_start_finish(st->c, &st->e);
        st->started = r == 0 ? 1 : r;
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r < 0)
                return sd_event_exit(sd_event_source_get_event(s), r);
        return sd_event_add_io(sd_event_source_get_event(s), NULL, container_exit_fd(st->c), EPOLLIN, on_exit_fd, st);
}

START_TEST(test_event_loop) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        ContainerSpec s;
        spec_sh(&s, "loop", "exit 9");
        LoopState st = {};
        ck_assert_int_eq(container_create(rt, "loop", &s, &st.c, &st.e), 0);
        int fd = -1;
        ck_assert_int_eq(container_start_begin(st.c, -1, -1, &fd, &st.e), 0);
        ck_assert_int_ge(fd, 0);
        sd_event *ev = NULL;
        ck_assert_int_eq(sd_event_new(&ev), 0);
        ck_assert_int_eq(sd_event_add_io(ev, NULL, fd, EPOLLIN, on_started, &st), 0);
        ck_assert_int_eq(sd_event_loop(ev), 0);
        ck_assert_int_eq(st.started, 1);
        ck_assert_int_eq(st.exited, 1);
        ContainerStatus cs;
        ck_assert_int_eq(container_get_status(st.c, &cs), 0);
        ck_assert_int_eq(cs.state, CONTAINER_EXITED);
        ck_assert_int_eq(cs.exit_code, 9);
        sd_event_unref(ev);
        ck_assert_int_eq(container_remove(st.c, false, &st.e), 0);
        container_spec_done(&s);
}
END_TEST

START_TEST(test_log_reopen) {
        /* The caller rotates the file itself (kubelet style) and asks the shim to reopen it. */
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        ContainerSpec s;
        spec_sh(&s, "reopen", "echo before; while [ ! -e /tmp/go ]; do sleep 0.02; done; echo after");
        Container *c = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(container_create(rt, "reopen", &s, &c, &e), 0);
        ck_assert_int_eq(container_start(c, -1, -1, &e), 0);
        _cleanup_free_ char *old = NULL;
        ck_assert_int_ge(asprintf(&old, "%s.rotated", s.log_path), 0);
        for (int i = 0; i < 500 && test_system("grep -q before %s 2>/dev/null", s.log_path) != 0; i++)
                usleep(10000);
        ck_assert_int_eq(rename(s.log_path, old), 0);
        ck_assert_int_eq(container_reopen_log(c), 0);
        for (int i = 0; i < 500 && access(s.log_path, F_OK) != 0; i++)
                usleep(10000);
        char **argv = strv_make("touch", "/tmp/go", NULL);
        ExecSpec x = {.argv = argv, .timeout_usec = 30 * USEC_PER_SEC};
        ExecResult res = {};
        ck_assert_int_eq(container_exec(c, &x, &res, &e), 0);
        exec_result_done(&res);
        strv_free(argv);
        ck_assert_int_eq(container_wait(c, 30 * USEC_PER_SEC), 0);
        _cleanup_free_ char *a = log_content(old), *b = log_content(s.log_path);
        ck_assert_str_eq(a, "before\n");
        ck_assert_str_eq(b, "after\n");
        ck_assert_int_eq(container_reopen_log(c), -ESRCH);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);
}
END_TEST

START_TEST(test_survives_caller_and_readopt) {
        ContainerSpec s;
        spec_sh(&s, "adopt", "sleep 1; exit 7");
        s.cgroup_parent = strdup("pod-adopt");
        /* A child process creates and starts the container, then exits. */
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                Runtime *rt = rt_new();
                Container *c = NULL;
                ErrorBuf e = {};
                if (container_create(rt, "adopt", &s, &c, &e) < 0 || container_start(c, -1, -1, &e) < 0) {
                        fprintf(stderr, "%s\n", e.msg);
                        _exit(1);
                }
                _exit(0);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        _cleanup_strv_free_ char **ids = NULL;
        ck_assert_int_eq(runtime_list(rt, &ids), 1);
        ck_assert_str_eq(ids[0], "adopt");
        Container *c = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(container_load(rt, "adopt", &c, &e), 0);
        ContainerStatus st;
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.state, CONTAINER_RUNNING);
        /* The daemon would put this fd into sd-event. */
        ck_assert_int_ge(container_exit_fd(c), 0);
        ck_assert_int_eq(container_wait(c, 30 * USEC_PER_SEC), 0);
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.state, CONTAINER_EXITED);
        ck_assert_int_eq(st.exit_code, 7);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        /* The re-adopted handle also knows the pod parent cgroup, which goes with its last container. */
        _cleanup_strv_free_ char **bases = NULL;
        size_t mi;
        ck_assert_int_eq(cgroup_driver_detect()->bases(cgparent, &bases, &mi), 0);
        for (char **b = bases; *b; b++)
                ck_assert_int_eq(test_system("test -e %s/pod-adopt", *b), 1);
        container_spec_done(&s);
}
END_TEST

START_TEST(test_exec_and_stop) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        ContainerSpec s;
        spec_sh(&s, "execd", "echo started; exec sleep 60");
        s.user = strdup("user1");
        strv_free(s.env);
        s.env = strv_make("FOO=bar", "KEEP=1", NULL);
        Container *c = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(container_create(rt, "execd", &s, &c, &e), 0);
        ck_assert_int_eq(container_start(c, -1, -1, &e), 0);

        char **argv = strv_make("sh", "-c",
                                "echo out $FOO $KEEP; echo err >&2; id -u; ls -d /proc/[0-9]* | wc -l; "
                                "exit 5",
                                NULL);
        char **env = strv_make("FOO=exec", NULL);
        ExecSpec x = {.argv = argv, .env = env, .timeout_usec = 30 * USEC_PER_SEC};
        ExecResult res = {};
        int r = container_exec(c, &x, &res, &e);
        ck_assert_msg(r == 0, "exec: %s", error_message(&e, r));
        ck_assert_int_eq(res.exit_code, 5);
        ck_assert_msg(strstr(res.out, "out exec 1\n1000\n"), "out: %s", res.out);
        ck_assert_str_eq(res.err, "err\n");
        exec_result_done(&res);
        strv_free(argv);

        /* A daemon blocks and ignores signals for its event loop; the exec'd process must not inherit that. */
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGCHLD);
        ck_assert_int_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);
        signal(SIGPIPE, SIG_IGN);
        /* …nor inherit an fd the daemon forgot to mark close-on-exec. */
        int leak = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(leak, 3);
        argv = strv_make("sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd | wc -l", NULL);
        x = (ExecSpec){.argv = argv, .timeout_usec = 30 * USEC_PER_SEC};
        r = container_exec(c, &x, &res, &e);
        ck_assert_msg(r == 0, "exec: %s", error_message(&e, r));
        /* 0, 1, 2 and the fd ls itself opens. */
        ck_assert_str_eq(res.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n4\n");
        close(leak);
        exec_result_done(&res);
        strv_free(argv);

        /* Timeout. */
        argv = strv_make("sleep", "30", NULL);
        x = (ExecSpec){.argv = argv, .timeout_usec = 200 * USEC_PER_MSEC};
        ck_assert_int_eq(container_exec(c, &x, &res, &e), 0);
        ck_assert(res.timed_out);
        exec_result_done(&res);
        strv_free(argv);

        /* Missing binary: an error naming it. */
        argv = strv_make("no-such-tool", NULL);
        x = (ExecSpec){.argv = argv, .timeout_usec = 5 * USEC_PER_SEC};
        error_clear(&e);
        r = container_exec(c, &x, &res, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(e.msg, "\"no-such-tool\": executable file not found"), "msg: %s", e.msg);
        strv_free(argv);
        strv_free(env);

        /* sleep as pid 1 ignores SIGTERM (no handler): stop escalates to SIGKILL after the grace period. */
        ck_assert_int_eq(container_stop(c, 300 * USEC_PER_MSEC), 0);
        ContainerStatus st;
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.state, CONTAINER_EXITED);
        ck_assert_int_eq(st.exit_code, 137);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);
}
END_TEST

START_TEST(test_sandbox_shared_namespaces) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        ErrorBuf e = {};
        int r = sandbox_create(rt, "pod1", "pod-host", &e);
        ck_assert_msg(r == 0, "sandbox: %s", error_message(&e, r));
        Run a = {}, b = {};
        for (int i = 0; i < 2; i++) {
                ContainerSpec s;
                spec_sh(&s, i ? "pod1-b" : "pod1-a", "hostname; readlink /proc/self/ns/net");
                for (NamespaceKind k = 0; k < _NAMESPACE_KIND_MAX; k++)
                        ck_assert_int_eq(sandbox_ns_path(rt, "pod1", k, &s.ns_paths[k]), 0);
                s.cgroup_parent = strdup("pod1");
                run_spec(i ? "pod1-b" : "pod1-a", &s, i ? &b : &a);
        }
        ck_assert_msg(strncmp(a.log, "pod-host\nnet:[", 14) == 0, "log: %s", a.log);
        /* Both joined the sandbox's network namespace (the inode behind its namespace file). */
        _cleanup_free_ char *netns = NULL;
        ck_assert_int_eq(sandbox_ns_path(rt, "pod1", NAMESPACE_NET, &netns), 0);
        struct stat st;
        ck_assert_int_eq(stat(netns, &st), 0);
        char want[64];
        snprintf(want, sizeof(want), "net:[%llu]\n", (unsigned long long) st.st_ino);
        ck_assert_msg(strstr(a.log, want) && strstr(b.log, want), "want %s: %s / %s", want, a.log, b.log);
        run_done(&a);
        run_done(&b);
        ck_assert_int_eq(sandbox_remove(rt, "pod1", &e), 0);
        ck_assert_int_eq(host_mounts_under_tmp(), 0);
}
END_TEST

START_TEST(test_bad_inputs) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        char p[4200];
        ErrorBuf e = {};
        Container *c = NULL;
        ContainerSpec s;

        /* Missing entrypoint: a start error naming it, the container exited with StartError. */
        spec_sh(&s, "noexec", "");
        strv_free(s.argv);
        s.argv = strv_make("nonexistent-binary", NULL);
        ck_assert_int_eq(container_create(rt, "noexec", &s, &c, &e), 0);
        int r = container_start(c, -1, -1, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(e.msg, "exec: \"nonexistent-binary\": executable file not found in $PATH"), "msg: %s",
                      e.msg);
        ContainerStatus st;
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_int_eq(st.state, CONTAINER_EXITED);
        ck_assert_str_eq(st.reason, "StartError");
        ck_assert_msg(strstr(st.message, "nonexistent-binary"), "message: %s", st.message);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);

        spec_sh(&s, "noexec2", "");
        strv_free(s.argv);
        s.argv = strv_make("/bin/missing", NULL);
        ck_assert_int_eq(container_create(rt, "noexec2", &s, &c, &e), 0);
        error_clear(&e);
        ck_assert_int_lt(container_start(c, -1, -1, &e), 0);
        ck_assert_msg(strstr(e.msg, "/bin/missing") && strstr(e.msg, "No such file"), "msg: %s", e.msg);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);

        /* Rejected at create: nothing is left behind. */
        const char *json_bad = "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [";
        snprintf(p, sizeof(p), "%s/bad.json", tmp);
        ck_assert_int_eq(write_file_atomic(p, json_bad, strlen(json_bad), 0644, false), 0);
        struct {
                const char *what, *expect;
        } cases[] = {
                {"user", "unable to find user nosuchuser"},  {"seccomp", "bad.json"},
                {"memory", "resources.memoryLimit"},         {"quota", "resources.cpuQuota"},
                {"cap", "unknown capability \"CAP_BOGUS\""}, {"empty", "no entrypoint"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                spec_sh(&s, "bad", "true");
                if (streq(cases[i].what, "user"))
                        s.user = strdup("nosuchuser");
                else if (streq(cases[i].what, "seccomp")) {
                        s.seccomp = SECCOMP_MODE_LOCALHOST;
                        s.seccomp_profile = strdup(p);
                } else if (streq(cases[i].what, "memory"))
                        s.resources.memory_limit = -5;
                else if (streq(cases[i].what, "quota"))
                        s.resources.cpu_quota_us = 10;
                else if (streq(cases[i].what, "cap"))
                        s.cap_add = strv_make("CAP_BOGUS", NULL);
                else {
                        strv_free(s.argv);
                        s.argv = strv_make(NULL);
                }
                error_clear(&e);
                c = NULL;
                r = container_create(rt, "bad", &s, &c, &e);
                ck_assert_msg(r < 0, "%s: accepted", cases[i].what);
                ck_assert_ptr_null(c);
                ck_assert_msg(strstr(e.msg, cases[i].expect) && strstr(e.msg, "container bad"), "%s: %s", cases[i].what,
                              e.msg);
                char q[8192];
                snprintf(q, sizeof(q), "%s/containers/bad", state);
                ck_assert_int_ne(access(q, F_OK), 0);
                container_spec_done(&s);
        }
        ck_assert_int_eq(host_mounts(false), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("runtime-containers");
        TCase *tc = tcase_create("containers");
        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_exit_codes);
        tcase_add_test(tc, test_env_cwd_pid1_proc);
        tcase_add_test(tc, test_hostname_and_default_mounts);
        tcase_add_test(tc, test_bind_mounts);
        tcase_add_test(tc, test_stop_kills_pid_namespace);
        tcase_add_test(tc, test_user_and_groups);
        tcase_add_test(tc, test_readonly_rootfs);
        tcase_add_test(tc, test_capability_drop);
        tcase_add_test(tc, test_device_allowlist);
        tcase_add_test(tc, test_seccomp);
        tcase_add_test(tc, test_logs_framing);
        tcase_add_test(tc, test_event_loop);
        tcase_add_test(tc, test_log_reopen);
        tcase_add_test(tc, test_survives_caller_and_readopt);
        tcase_add_test(tc, test_exec_and_stop);
        tcase_add_test(tc, test_sandbox_shared_namespaces);
        tcase_add_test(tc, test_bad_inputs);
        suite_add_tcase(s, tc);
        return s;
}

static Suite *limits_suite(void) {
        Suite *s = suite_create("runtime-limits");
        TCase *tc = tcase_create("limits");
        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_memory_oom);
        tcase_add_test(tc, test_pids_limit);
        suite_add_tcase(s, tc);
        return s;
}

/* `test-runtime-containers`: everything but the limits; `test-runtime-limits` (argument "limits"): the memory and pids
 * limits, skipped as a whole (77) where the controllers are not delegated to us. */
int main(int argc, char *argv[]) {
        test_require_root();
        if (argc > 1 && streq(argv[1], "limits")) {
                if (!limits_available("memory") || !limits_available("pids"))
                        return TEST_SKIP;
                return test_run_suite(limits_suite());
        }
        return test_run_suite(suite());
}
