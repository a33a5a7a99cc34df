/* SPDX-License-Identifier: Apache-2.0 */
/* The cost of exec probes (kubernetes#82440: with containerd + runc ~30 exec probes/s saturate two cores).
 *
 *   nodelet-bench-exec [-n CONTAINERS] [-m EXECS] [-b BALLAST_MIB] [-j CONCURRENCY] [--sync]   (as root)
 *
 * N busybox containers run `sleep`; each gets M execs of `cat /tmp/ready`, the typical exec probe. The caller holds
 * BALLAST_MIB of touched, private memory and dirties 1 MiB of it per exec, standing in for a daemon of that size:
 * anything that copies the caller's address space (fork) shows up in the CPU time. Execs run on one sd-event loop
 * with container_exec_async(), CONCURRENCY at a time (--sync: container_exec() one after the other). Reported: CPU
 * (user+system of this process and of every reaped child, from getrusage) per exec, wall time per exec, and what 30
 * execs/s would cost in percent of one core; then the kernel floor, `unshare -pnimuf /bin/true`, measured the same
 * way. Kernel work done outside our processes (RCU callbacks, namespace teardown in kworkers) is not counted. */

#include <getopt.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "common/fileio.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

/* CPU time (user+system) of this process and of its reaped descendants. */
static uint64_t cpu_ns(void) {
        struct rusage a, b;
        getrusage(RUSAGE_SELF, &a);
        getrusage(RUSAGE_CHILDREN, &b);
        uint64_t us = 0;
        us += (uint64_t) (a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) * USEC_PER_SEC;
        us += (uint64_t) (a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec);
        return us * NSEC_PER_USEC;
}

static char *ballast;
static size_t ballast_size, ballast_pos;

/* The daemon between two execs: it writes to some of its heap (1 MiB, round robin over the ballast). */
static void dirty_ballast(void) {
        if (!ballast_size)
                return;
        for (size_t i = 0; i < 1024 * 1024; i += 4096) {
                ballast[ballast_pos]++;
                ballast_pos = (ballast_pos + 4096) % ballast_size;
        }
}

typedef struct Bench {
        Container **cs;
        unsigned n, m, jobs;
        unsigned issued, completed, running;
        int failed;
} Bench;

static void check_result(Bench *b, int r, const ExecResult *res, const char *what) {
        if (r < 0 || res->exit_code != 0 || !streq(res->out, "ok\n")) {
                fprintf(stderr, "%s: r=%d exit=%d out=%s err=%s\n", what, r, res ? res->exit_code : -1,
                        res ? res->out : "", res ? res->err : "");
                b->failed = -EIO;
        }
}

static char *probe_argv[] = {(char *) "cat", (char *) "/tmp/ready", NULL};

static int issue(Bench *b);

static void on_done(int r, const ExecResult *res, void *userdata) {
        Bench *b = userdata;
        check_result(b, r, res, "exec");
        b->completed++;
        b->running--;
        dirty_ballast();
        (void) issue(b);
}

static sd_event *loop;

/* Keeps `jobs` execs running; ends the loop when all are done or one failed. */
static int issue(Bench *b) {
        while (!b->failed && b->running < b->jobs && b->issued < b->n * b->m) {
                Container *c = b->cs[b->issued % b->n];
                ExecSpec x = {.argv = probe_argv, .timeout_usec = 10 * USEC_PER_SEC};
                ErrorBuf e = {};
                int r = container_exec_async(c, loop, &x, on_done, b, NULL, &e);
                if (r < 0) {
                        fprintf(stderr, "exec: %s\n", error_message(&e, r));
                        return b->failed = r;
                }
                b->issued++;
                b->running++;
        }
        if (b->failed || b->completed == b->n * b->m)
                return sd_event_exit(loop, b->failed);
        return 0;
}

static int run_async(Bench *b) {
        if (sd_event_new(&loop) < 0)
                return -ENOMEM;
        int r = issue(b);
        if (r >= 0)
                r = sd_event_loop(loop);
        loop = sd_event_unref(loop);
        return r < 0 ? r : b->failed;
}

static int run_sync(Bench *b) {
        for (unsigned i = 0; i < b->n * b->m && !b->failed; i++) {
                ExecSpec x = {.argv = probe_argv, .timeout_usec = 10 * USEC_PER_SEC};
                ExecResult res = {};
                ErrorBuf e = {};
                int r = container_exec(b->cs[i % b->n], &x, &res, &e);
                if (r < 0)
                        fprintf(stderr, "exec: %s\n", error_message(&e, r));
                check_result(b, r, &res, "exec");
                exec_result_done(&res);
                dirty_ballast();
        }
        return b->failed;
}

static void report(const char *what, unsigned n, uint64_t cpu, uint64_t wall) {
        double c = (double) cpu / n / 1e6, w = (double) wall / n / 1e6;
        printf("| %s | %u | %.3f | %.3f | %.1f %% |\n", what, n, c, w, c * 30 / 10);
}

int main(int argc, char *argv[]) {
        unsigned n = 10, m = 30, jobs = 4, ballast_mib = 10, floor_runs = 200;
        bool sync = false;
        static const struct option opts[] = {{"sync", no_argument, NULL, 's'}, {}};
        for (int o; (o = getopt_long(argc, argv, "n:m:b:j:", opts, NULL)) >= 0;)
                switch (o) {
                case 'n':
                        n = (unsigned) atoi(optarg);
                        break;
                case 'm':
                        m = (unsigned) atoi(optarg);
                        break;
                case 'b':
                        ballast_mib = (unsigned) atoi(optarg);
                        break;
                case 'j':
                        jobs = (unsigned) MAX(atoi(optarg), 1);
                        break;
                case 's':
                        sync = true;
                        break;
                default:
                        return 2;
                }
        if (geteuid() != 0) {
                fprintf(stderr, "needs root\n");
                return 77;
        }
        if (n == 0 || n > 100 || m == 0)
                return 2;
        ballast_size = (size_t) ballast_mib << 20;
        if (ballast_size) {
                ballast = malloc(ballast_size);
                if (!ballast)
                        return 1;
                memset(ballast, 1, ballast_size);
        }

        char t[] = "/tmp/nodelet-bench-exec.XXXXXX";
        char *tmp = mkdtemp(t);
        char rootfs[256], state[256], exe[4096], shim[4200], cmd[16384];
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
        snprintf(state, sizeof(state), "%s/run", tmp);
        /* State (and so the overlay upper dirs) on a tmpfs, as /run is on a node. */
        if (mkdir(state, 0700) < 0 || mount("tmpfs", state, "tmpfs", 0, "mode=0700") < 0) {
                perror("tmpfs");
                return 1;
        }
        snprintf(cmd, sizeof(cmd),
                 "set -e; mkdir -p %s/bin %s/etc %s/tmp; cp /bin/busybox %s/bin/; chmod 1777 %s/tmp; "
                 "for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || ln -sf busybox %s/bin/$a; done; "
                 "echo 'root:x:0:0:root:/root:/bin/sh' > %s/etc/passwd; echo 'root:x:0:' > %s/etc/group",
                 rootfs, rootfs, rootfs, rootfs, rootfs, rootfs, rootfs, rootfs);
        if (system(cmd) != 0) {
                fprintf(stderr, "making the rootfs failed\n");
                return 1;
        }
        ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[k > 0 ? k : 0] = 0;
        *strrchr(exe, '/') = 0;
        snprintf(shim, sizeof(shim), "%s/../../runtime/nodelet-shim", exe);
        RuntimeConfig cfg = {.state_dir = state, .shim_path = shim, .cgroup_parent = "nodelet-bench-exec"};
        Runtime *rt = NULL;
        if (runtime_new(&cfg, &rt) < 0)
                return 1;

        Bench b = {.n = n, .m = m, .jobs = jobs};
        b.cs = calloc(n, sizeof(Container *));
        int r = 0;
        for (unsigned i = 0; i < n && r == 0; i++) {
                char id[32];
                snprintf(id, sizeof(id), "probe-%u", i);
                char *lowers[] = {rootfs, NULL};
                char *cargv[] = {(char *) "/bin/sh", (char *) "-c", (char *) "echo ok > /tmp/ready; exec sleep 3600",
                                 NULL};
                ContainerSpec s = {.lower_dirs = lowers, .argv = cargv};
                ErrorBuf e = {};
                r = container_create(rt, id, &s, &b.cs[i], &e);
                r = r ?: container_start(b.cs[i], -1, -1, &e);
                if (r < 0)
                        fprintf(stderr, "%s: %s\n", id, error_message(&e, r));
        }
        /* The entrypoints have written /tmp/ready once an exec sees it; one round also warms caches. */
        for (unsigned i = 0; i < n && r == 0; i++)
                for (unsigned tries = 0;; tries++) {
                        ExecSpec x = {.argv = probe_argv, .timeout_usec = 10 * USEC_PER_SEC};
                        ExecResult res = {};
                        r = container_exec(b.cs[i], &x, &res, NULL);
                        bool ok = r == 0 && res.exit_code == 0;
                        exec_result_done(&res);
                        if (ok || r < 0 || tries > 100)
                                break;
                        (void) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
                }

        if (r == 0) {
                printf("| %s (%u containers, %u MiB caller) | execs | CPU ms/exec | wall ms/exec | CPU at 30/s, one "
                       "core |\n|---|---|---|---|---|\n",
                       sync ? "container_exec, sequential" : "container_exec_async", n, ballast_mib);
                uint64_t c0 = cpu_ns(), t0 = now_ns();
                r = sync ? run_sync(&b) : run_async(&b);
                uint64_t c1 = cpu_ns(), t1 = now_ns();
                if (r == 0) {
                        char what[128];
                        snprintf(what, sizeof(what), "`cat /tmp/ready`%s", sync ? "" : ", concurrency ");
                        if (!sync)
                                snprintf(what + strlen(what), sizeof(what) - strlen(what), "%u", jobs);
                        report(what, n * m, c1 - c0, t1 - t0);
                }
        }
        if (r == 0) {
                /* The kernel floor: creating the namespaces for one process and running /bin/true in them. */
                char *uargv[] = {(char *) "/usr/bin/unshare", (char *) "-pnimuf", (char *) "/bin/true", NULL};
                uint64_t c0 = cpu_ns(), t0 = now_ns();
                for (unsigned i = 0; i < floor_runs; i++) {
                        pid_t pid = fork();
                        if (pid == 0) {
                                execv(uargv[0], uargv);
                                _exit(127);
                        }
                        int status;
                        (void) waitpid(pid, &status, 0);
                        dirty_ballast();
                }
                report("`unshare -pnimuf /bin/true` (kernel floor, fork from the caller)", floor_runs, cpu_ns() - c0,
                       now_ns() - t0);
        }

        for (unsigned i = 0; i < n; i++)
                if (b.cs[i] && container_remove(b.cs[i], true, NULL) < 0)
                        container_free(b.cs[i]);
        runtime_free(rt);
        char **bases = NULL;
        size_t mi;
        if (cgroup_driver_detect()->bases("nodelet-bench-exec", &bases, &mi) == 0) {
                for (char **p = bases; *p; p++)
                        (void) rmdir(*p);
                strv_free(bases);
        }
        (void) umount2(state, MNT_DETACH);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        (void) !system(cmd);
        free(ballast);
        free(b.cs);
        return r == 0 ? 0 : 1;
}
