/* SPDX-License-Identifier: Apache-2.0 */
/* Asynchronous exec on an sd-event loop (exit codes, output caps, combined output, timeout, cancel, concurrency,
 * a stopped container) and pod-level cgroups (limits, containers below them, removal), as root with real
 * containers: a busybox lower dir (rootfs.c), cgroups below this process's own cgroup in a per-run parent that the
 * suite removes. */

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "common/fileio.h"
#include "runtime/cgroup.h"
#include "runtime/container-internal.h"
#include "runtime/container.h"
#include "tests/lib/testlib.h"
#include "tests/runtime/containers/rootfs.h"

static char *tmp;
static char lower[4096], state[4096], cgparent[64];

static Runtime *rt_new(void) {
        RuntimeConfig cfg = {.state_dir = state, .shim_path = test_shim_path(), .cgroup_parent = cgparent};
        Runtime *rt = NULL;
        int r = runtime_new(&cfg, &rt);
        ck_assert_msg(r == 0, "runtime_new: %s", strerror(-r));
        return rt;
}

static void suite_setup(void) {
        test_require_root();
        tmp = test_tmpdir_new("nodelet-exec");
        ck_assert_ptr_nonnull(tmp);
        snprintf(lower, sizeof(lower), "%s/lower", tmp);
        snprintf(state, sizeof(state), "%s/state", tmp);
        snprintf(cgparent, sizeof(cgparent), "nodelet-test-exec-%d", (int) getpid());
        int r = test_rootfs_make(lower);
        if (r == -ENOENT) {
                fprintf(stderr, "SKIP: /bin/busybox (busybox-static) is missing\n");
                exit(TEST_SKIP);
        }
        ck_assert_int_eq(r, 0);
}

static void suite_teardown(void) {
        /* Whatever a failed test left: containers (force-removed), then the per-run cgroup parent. */
        Runtime *rt = rt_new();
        _cleanup_strv_free_ char **ids = NULL;
        if (runtime_list(rt, &ids) > 0)
                for (char **id = ids; *id; id++) {
                        Container *c = NULL;
                        if (container_load(rt, *id, &c, NULL) == 0 && container_remove(c, true, NULL) < 0)
                                container_free(c);
                }
        runtime_free(rt);
        _cleanup_strv_free_ char **bases = NULL;
        size_t mi;
        if (cgroup_driver_detect()->bases(cgparent, &bases, &mi) == 0)
                for (char **b = bases; *b; b++)
                        (void) test_system("find %s -depth -type d -exec rmdir {} \\; 2>/dev/null", *b);
        test_tmpdir_remove(tmp);
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

/* A running container with /tmp/ready, as exec probes see it. */
static Container *start_probed(Runtime *rt, const char *id, const char *cgroup_parent) {
        ContainerSpec s = {};
        s.lower_dirs = strv_make(lower, NULL);
        s.argv = strv_make("/bin/sh", "-c", "echo ok > /tmp/ready; exec sleep 600", NULL);
        s.env = strv_make("FOO=bar", NULL);
        s.cgroup_parent = cgroup_parent ? strdup(cgroup_parent) : NULL;
        Container *c = NULL;
        ErrorBuf e = {};
        int r = container_create(rt, id, &s, &c, &e);
        ck_assert_msg(r == 0, "create: %s", error_message(&e, r));
        r = container_start(c, -1, -1, &e);
        ck_assert_msg(r == 0, "start: %s", error_message(&e, r));
        container_spec_done(&s);
        return c;
}

static void stop_and_remove(Container *c) {
        ErrorBuf e = {};
        ck_assert_int_eq(container_stop(c, 0), 0);
        int r = container_remove(c, false, &e);
        ck_assert_msg(r == 0, "remove: %s", error_message(&e, r));
}

/* What done() saw, copied. */
typedef struct Outcome {
        int calls;
        int r;
        int exit_code;
        bool timed_out;
        char *out, *err;
        size_t out_size;
        int expect; /* for the concurrency test: the number the command echoes */
} Outcome;

static void outcome_done(Outcome *o) {
        free(o->out);
        free(o->err);
}

static void on_done(int r, const ExecResult *res, void *userdata) {
        Outcome *o = userdata;
        o->calls++;
        o->r = r;
        if (r >= 0) {
                o->exit_code = res->exit_code;
                o->timed_out = res->timed_out;
                o->out = strdup(res->out);
                o->err = strdup(res->err);
                o->out_size = res->out_size;
        }
}

/* Runs the loop until every outcome has been delivered (the test's timeout catches a hang). */
static void run_until(sd_event *ev, Outcome *o, size_t n) {
        for (;;) {
                bool all = true;
                for (size_t i = 0; i < n; i++)
                        all = all && o[i].calls > 0;
                if (all)
                        return;
                ck_assert_int_ge(sd_event_run(ev, UINT64_MAX), 0);
        }
}

static void exec_one(Container *c, sd_event *ev, const ExecSpec *x, Outcome *o) {
        ErrorBuf e = {};
        ExecJob *j = NULL;
        int r = container_exec_async(c, ev, x, on_done, o, &j, &e);
        ck_assert_msg(r == 0, "exec: %s", error_message(&e, r));
        ck_assert_ptr_nonnull(j);
        run_until(ev, o, 1);
        ck_assert_int_eq(o->calls, 1);
}

/* Processes in the container's cgroup (the entrypoint counts). */
static int cgroup_procs(Container *c) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/cgroup.procs", c->cfg->cgroup_dirs[0]);
        _cleanup_free_ char *text = NULL;
        ck_assert_int_eq(read_full_file(p, 0, &text, NULL), 0);
        int n = 0;
        for (char *s = text; *s; s++)
                n += *s == '\n';
        return n;
}

/* SIGKILL is asynchronous: waits (driving the loop) until only the entrypoint is left, or fails after 10 s. */
static void assert_only_entrypoint(Container *c, sd_event *ev) {
        for (int i = 0; i < 1000 && cgroup_procs(c) != 1; i++)
                ck_assert_int_ge(sd_event_run(ev, 10 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(cgroup_procs(c), 1);
}

START_TEST(test_exit_codes_and_output) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        Container *c = start_probed(rt, "codes", NULL);
        sd_event *ev = NULL;
        ck_assert_int_eq(sd_event_new(&ev), 0);

        _cleanup_strv_free_ char **argv = strv_make("sh", "-c", "echo out $FOO $X; echo err >&2; exit 3", NULL);
        _cleanup_strv_free_ char **env = strv_make("X=1", NULL);
        Outcome o = {};
        exec_one(c, ev, &(ExecSpec){.argv = argv, .env = env, .timeout_usec = 30 * USEC_PER_SEC}, &o);
        ck_assert_int_eq(o.r, 0);
        ck_assert_int_eq(o.exit_code, 3);
        ck_assert(!o.timed_out);
        ck_assert_str_eq(o.out, "out bar 1\n");
        ck_assert_str_eq(o.err, "err\n");
        outcome_done(&o);

        /* The exec probe's command, reading what the entrypoint wrote in the container's own rootfs. */
        _cleanup_strv_free_ char **cat = strv_make("cat", "/tmp/ready", NULL);
        for (int tries = 0; tries < 100; tries++) {
                o = (Outcome){};
                exec_one(c, ev, &(ExecSpec){.argv = cat}, &o);
                if (o.exit_code == 0)
                        break;
                outcome_done(&o);
                (void) nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
        }
        ck_assert_int_eq(o.exit_code, 0);
        ck_assert_str_eq(o.out, "ok\n");
        ck_assert_str_eq(o.err, "");
        outcome_done(&o);

        /* Killed by a signal: 128+signal. */
        _cleanup_strv_free_ char **killed = strv_make("sh", "-c", "kill -TERM $$", NULL);
        o = (Outcome){};
        exec_one(c, ev, &(ExecSpec){.argv = killed}, &o);
        ck_assert_int_eq(o.exit_code, 128 + SIGTERM);
        outcome_done(&o);

        /* A setup failure is an error at once, and done() is never called. */
        _cleanup_strv_free_ char **missing = strv_make("no-such-tool", NULL);
        ErrorBuf e = {};
        o = (Outcome){};
        ExecJob *j = NULL;
        int r = container_exec_async(c, ev, &(ExecSpec){.argv = missing}, on_done, &o, &j, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_ptr_null(j);
        ck_assert_msg(strstr(e.msg, "\"no-such-tool\": executable file not found"), "msg: %s", e.msg);
        ck_assert_int_ge(sd_event_run(ev, 100 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(o.calls, 0);

        /* The blocking wrapper runs the same code. */
        ExecResult res = {};
        r = container_exec(c, &(ExecSpec){.argv = argv, .env = env}, &res, &e);
        ck_assert_msg(r == 0, "exec: %s", error_message(&e, r));
        ck_assert_int_eq(res.exit_code, 3);
        ck_assert_str_eq(res.out, "out bar 1\n");
        exec_result_done(&res);

        assert_only_entrypoint(c, ev);
        sd_event_unref(ev);
        stop_and_remove(c);
}
END_TEST

START_TEST(test_output_max_and_combined) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        Container *c = start_probed(rt, "output", NULL);
        sd_event *ev = NULL;
        ck_assert_int_eq(sd_event_new(&ev), 0);

        /* 200 KB on each stream, more than a pipe holds: the cap keeps 1000 bytes and the command is not blocked. */
        _cleanup_strv_free_ char **big = strv_make(
                "sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a; head -c 200000 /dev/zero | tr '\\0' b >&2", NULL);
        Outcome o = {};
        exec_one(c, ev, &(ExecSpec){.argv = big, .output_max = 1000, .timeout_usec = 30 * USEC_PER_SEC}, &o);
        ck_assert_int_eq(o.r, 0);
        ck_assert_int_eq(o.exit_code, 0);
        ck_assert_int_eq(o.out_size, 1000);
        ck_assert_int_eq(strlen(o.out), 1000);
        ck_assert_int_eq(strspn(o.out, "a"), 1000);
        ck_assert_int_eq(strlen(o.err), 1000);
        outcome_done(&o);

        /* Combined: both streams in one buffer, in write order (the kubelet's CombinedOutput). */
        _cleanup_strv_free_ char **both = strv_make("sh", "-c", "echo a; echo b >&2; echo c", NULL);
        o = (Outcome){};
        exec_one(c, ev, &(ExecSpec){.argv = both, .combine_output = true}, &o);
        ck_assert_int_eq(o.exit_code, 0);
        ck_assert_str_eq(o.out, "a\nb\nc\n");
        ck_assert_str_eq(o.err, "");
        outcome_done(&o);

        sd_event_unref(ev);
        stop_and_remove(c);
}
END_TEST

START_TEST(test_timeout_and_cancel) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        Container *c = start_probed(rt, "timeout", NULL);
        sd_event *ev = NULL;
        ck_assert_int_eq(sd_event_new(&ev), 0);

        /* The timeout kills the command and what it started (its process group). */
        _cleanup_strv_free_ char **slow = strv_make("sh", "-c", "sleep 100 & sleep 100; echo not reached", NULL);
        Outcome o = {};
        exec_one(c, ev, &(ExecSpec){.argv = slow, .timeout_usec = 200 * USEC_PER_MSEC}, &o);
        ck_assert_int_eq(o.r, 0);
        ck_assert(o.timed_out);
        ck_assert_int_eq(o.exit_code, 137);
        ck_assert_str_eq(o.out, "");
        outcome_done(&o);
        assert_only_entrypoint(c, ev);

        /* Cancel: the processes die, done() is never called, the loop reaps the process. */
        o = (Outcome){};
        ExecJob *j = NULL;
        ErrorBuf e = {};
        int r = container_exec_async(c, ev, &(ExecSpec){.argv = slow}, on_done, &o, &j, &e);
        ck_assert_msg(r == 0, "exec: %s", error_message(&e, r));
        /* sh and its two sleeps, so that the cancel has children to kill. */
        for (int i = 0; i < 1000 && cgroup_procs(c) < 4; i++)
                (void) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        ck_assert_int_eq(cgroup_procs(c), 4);
        ck_assert_ptr_null(exec_job_cancel(j));
        assert_only_entrypoint(c, ev);
        for (int i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(ev, 20 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(o.calls, 0);
        ck_assert_ptr_null(exec_job_cancel(NULL));

        /* Cancelled and the loop freed before the process is reaped: nothing leaks (the sanitizer build checks). */
        r = container_exec_async(c, ev, &(ExecSpec){.argv = slow}, on_done, &o, &j, &e);
        ck_assert_int_eq(r, 0);
        exec_job_cancel(j);
        sd_event_unref(ev);
        ck_assert_int_eq(o.calls, 0);
        stop_and_remove(c);
}
END_TEST

START_TEST(test_stopped_container) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        sd_event *ev = NULL;
        ck_assert_int_eq(sd_event_new(&ev), 0);
        _cleanup_strv_free_ char **argv = strv_make("true", NULL);
        Outcome o = {};
        ErrorBuf e = {};
        ExecJob *j = NULL;

        /* Created, never started. */
        ContainerSpec s = {};
        s.lower_dirs = strv_make(lower, NULL);
        s.argv = strv_make("/bin/sleep", "600", NULL);
        Container *c = NULL;
        ck_assert_int_eq(container_create(rt, "created", &s, &c, &e), 0);
        int r = container_exec_async(c, ev, &(ExecSpec){.argv = argv}, on_done, &o, &j, &e);
        ck_assert_int_eq(r, -ESRCH);
        ck_assert_msg(strstr(e.msg, "exec in created: container is not running"), "msg: %s", e.msg);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);

        /* Exec'd once (the entrypoint's pidfd is kept), then stopped: the next exec fails cleanly. */
        c = start_probed(rt, "stopped", NULL);
        exec_one(c, ev, &(ExecSpec){.argv = argv}, &o);
        ck_assert_int_eq(o.exit_code, 0);
        outcome_done(&o);
        ck_assert_int_eq(container_stop(c, 0), 0);
        o = (Outcome){};
        error_clear(&e);
        r = container_exec_async(c, ev, &(ExecSpec){.argv = argv}, on_done, &o, &j, &e);
        ck_assert_int_eq(r, -ESRCH);
        ck_assert_msg(strstr(e.msg, "container is not running"), "msg: %s", e.msg);
        ck_assert_int_ge(sd_event_run(ev, 50 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(o.calls, 0);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        sd_event_unref(ev);
}
END_TEST

START_TEST(test_concurrent) {
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        Container *cs[2] = {start_probed(rt, "conc0", NULL), start_probed(rt, "conc1", NULL)};
        sd_event *ev = NULL;
        ck_assert_int_eq(sd_event_new(&ev), 0);
        enum { N = 20 };
        Outcome o[N] = {};
        char **argvs[N];
        for (int i = 0; i < N; i++) {
                char script[64];
                /* Some finish at once, some later, some write more than a pipe holds. */
                snprintf(script, sizeof(script), "sleep 0.%d; echo %d; head -c %d /dev/zero", i % 3, i, i * 10000);
                argvs[i] = strv_make("sh", "-c", script, NULL);
                o[i].expect = i;
                ErrorBuf e = {};
                int r = container_exec_async(cs[i % 2], ev,
                                             &(ExecSpec){.argv = argvs[i], .timeout_usec = 60 * USEC_PER_SEC}, on_done,
                                             &o[i], NULL, &e);
                ck_assert_msg(r == 0, "exec %d: %s", i, error_message(&e, r));
        }
        run_until(ev, o, N);
        for (int i = 0; i < N; i++) {
                char want[16];
                snprintf(want, sizeof(want), "%d\n", o[i].expect);
                ck_assert_int_eq(o[i].calls, 1);
                ck_assert_int_eq(o[i].r, 0);
                ck_assert_int_eq(o[i].exit_code, 0);
                ck_assert_int_eq(o[i].out_size, MIN(strlen(want) + (size_t) i * 10000, 64 * 1024));
                ck_assert(strncmp(o[i].out, want, strlen(want)) == 0);
                outcome_done(&o[i]);
                strv_free(argvs[i]);
        }
        sd_event_unref(ev);
        stop_and_remove(cs[0]);
        stop_and_remove(cs[1]);
}
END_TEST

/* <base>/<rel>/<file> in the hierarchy that has file (v1: one per controller), NULL when none does. */
static char *cg_read(const char *rel, const char *file) {
        _cleanup_strv_free_ char **bases = NULL;
        size_t mi;
        ck_assert_int_eq(cgroup_driver_detect()->bases(cgparent, &bases, &mi), 0);
        for (char **b = bases; *b; b++) {
                char p[8192];
                snprintf(p, sizeof(p), "%s/%s/%s", *b, rel, file);
                char *text = NULL;
                if (read_full_file(p, 0, &text, NULL) == 0) {
                        text[strcspn(text, "\n")] = 0;
                        return text;
                }
        }
        return NULL;
}

static bool cg_exists(const char *rel) {
        _cleanup_strv_free_ char **bases = NULL;
        size_t mi;
        ck_assert_int_eq(cgroup_driver_detect()->bases(cgparent, &bases, &mi), 0);
        int n = 0, k = 0;
        for (char **b = bases; *b; b++, k++) {
                char p[8192];
                snprintf(p, sizeof(p), "%s/%s", *b, rel);
                n += access(p, F_OK) == 0;
        }
        ck_assert_msg(n == 0 || n == k, "%s exists in %d of %d hierarchies", rel, n, k);
        return n > 0;
}

START_TEST(test_pod_cgroup) {
        if (cgroup_driver_detect()->version != 1) {
                /* v2 needs controllers delegated to this process's cgroup; test-runtime-spec covers the v2 files. */
                fprintf(stderr, "note: cgroup v2 host, pod cgroup limits checked in test-runtime-spec only\n");
                return;
        }
        _cleanup_(runtime_freep) Runtime *rt = rt_new();
        const char *pod = "kubepods/burstable/pod0b5f-41";
        ErrorBuf e = {};
        ContainerResources res = {.cpu_shares = 256, .cpu_quota_us = 50000, .memory_limit = 64 << 20, .pids_limit = 99};
        int r = runtime_pod_cgroup_apply(rt, pod, &res, &e);
        ck_assert_msg(r == 0, "apply: %s", error_message(&e, r));
        struct {
                const char *file, *want;
        } limits[] = {
                {"memory.limit_in_bytes", "67108864"}, {"cpu.shares", "256"}, {"cpu.cfs_quota_us", "50000"},
                {"cpu.cfs_period_us", "100000"},       {"pids.max", "99"},
        };
        for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
                _cleanup_free_ char *v = cg_read(pod, limits[i].file);
                ck_assert_msg(v && streq(v, limits[i].want), "%s: %s", limits[i].file, strna(v));
        }
        /* Idempotent, and an update lifts what is no longer set; the memory limit may grow. */
        ck_assert_int_eq(runtime_pod_cgroup_apply(rt, pod, &res, &e), 0);
        res = (ContainerResources){.cpu_shares = 2, .memory_limit = 128 << 20};
        ck_assert_int_eq(runtime_pod_cgroup_apply(rt, pod, &res, &e), 0);
        _cleanup_free_ char *mem = cg_read(pod, "memory.limit_in_bytes"), *shares = cg_read(pod, "cpu.shares"),
                            *quota = cg_read(pod, "cpu.cfs_quota_us"), *pids = cg_read(pod, "pids.max");
        ck_assert_str_eq(mem, "134217728");
        ck_assert_str_eq(shares, "2");
        ck_assert_str_eq(quota, "-1");
        ck_assert_str_eq(pids, "max");
        /* Bad input names the object and the field. */
        error_clear(&e);
        ck_assert_int_eq(runtime_pod_cgroup_apply(rt, "kubepods/../x", &res, &e), -EINVAL);
        ck_assert_msg(strstr(e.msg, "pod cgroup \"kubepods/../x\": invalid path"), "msg: %s", e.msg);
        error_clear(&e);
        ck_assert_int_eq(runtime_pod_cgroup_apply(rt, pod, &(ContainerResources){.memory_limit = 5}, &e), -EINVAL);
        ck_assert_msg(strstr(e.msg, "pod cgroup kubepods/burstable/pod0b5f-41: resources.memoryLimit"), "msg: %s",
                      e.msg);

        /* A container below it; removing the pod cgroup is refused while it is there. */
        Container *c = start_probed(rt, "podctr", pod);
        char want[512];
        snprintf(want, sizeof(want), "/%s/%s/podctr", cgparent, pod);
        ck_assert_msg(strstr(c->cfg->cgroup_dirs[0], want), "%s", c->cfg->cgroup_dirs[0]);
        error_clear(&e);
        ck_assert_int_eq(runtime_pod_cgroup_remove(rt, pod, &e), -EBUSY);
        ck_assert_msg(strstr(e.msg, "containers are still in it"), "msg: %s", e.msg);
        uint64_t kills = 99;
        ck_assert_int_eq(runtime_pod_cgroup_oom_kills(rt, pod, &kills), 0);
        ck_assert_int_eq(kills, 0);
        stop_and_remove(c);
        /* The container's removal keeps the pod cgroup and its parents… */
        ck_assert(cg_exists(pod));
        ck_assert(!cg_exists("kubepods/burstable/pod0b5f-41/podctr"));
        /* …also when the container lives in a level below the pod cgroup, which goes with it. */
        c = start_probed(rt, "podctr2", "kubepods/burstable/pod0b5f-41/sub");
        stop_and_remove(c);
        ck_assert(cg_exists(pod));
        ck_assert(!cg_exists("kubepods/burstable/pod0b5f-41/sub"));

        /* Pod-level OOM: the pod's limit kills a container that has none of its own. */
        ck_assert_int_eq(runtime_pod_cgroup_apply(rt, pod, &(ContainerResources){.memory_limit = 16 << 20}, &e), 0);
        ContainerSpec s = {};
        s.lower_dirs = strv_make(lower, NULL);
        s.argv = strv_make("/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived", NULL);
        s.cgroup_parent = strdup(pod);
        ck_assert_int_eq(container_create(rt, "podoom", &s, &c, &e), 0);
        ck_assert_int_eq(container_start(c, -1, -1, &e), 0);
        ck_assert_int_eq(container_wait(c, 60 * USEC_PER_SEC), 0);
        ContainerStatus st;
        ck_assert_int_eq(container_get_status(c, &st), 0);
        ck_assert_msg(st.oom_killed, "not OOM-killed: exit %d", st.exit_code);
        ck_assert_int_eq(runtime_pod_cgroup_oom_kills(rt, pod, &kills), 0);
        ck_assert_int_ge(kills, 1);
        ck_assert_int_eq(container_remove(c, false, &e), 0);
        container_spec_done(&s);

        /* Removal: the pod cgroup goes, the QoS levels above it stay (the kubelet keeps them); again is a no-op. */
        r = runtime_pod_cgroup_remove(rt, pod, &e);
        ck_assert_msg(r == 0, "remove: %s", error_message(&e, r));
        ck_assert(!cg_exists(pod));
        ck_assert(cg_exists("kubepods/burstable"));
        ck_assert_int_eq(runtime_pod_cgroup_remove(rt, pod, &e), 0);
        char marker[8192];
        snprintf(marker, sizeof(marker), "%s/pod-cgroups", state);
        ck_assert_int_eq(test_system("test -z \"$(ls -A %s)\"", marker), 0);

        /* A pod parent not made by runtime_pod_cgroup_apply() still goes with its last container. */
        c = start_probed(rt, "plain", "kubepods/burstable/podplain");
        stop_and_remove(c);
        ck_assert(!cg_exists("kubepods/burstable/podplain"));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("runtime-exec");
        TCase *tc = tcase_create("exec");
        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_exit_codes_and_output);
        tcase_add_test(tc, test_output_max_and_combined);
        tcase_add_test(tc, test_timeout_and_cancel);
        tcase_add_test(tc, test_stopped_container);
        tcase_add_test(tc, test_concurrent);
        tcase_add_test(tc, test_pod_cgroup);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        test_require_root();
        return test_run_suite(suite());
}
