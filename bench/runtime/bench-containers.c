/* SPDX-License-Identifier: Apache-2.0 */
/* Container create+start+wait+remove of /bin/true: nodelet vs Debian's runc, side by side in one run.
 *
 *   nodelet-bench-containers [RUNS]        (as root; bench/runtime/run.sh builds and runs it)
 *
 * Both run the same busybox rootfs directory with the same namespaces (pid, mount, network, ipc, uts, cgroup), the
 * same capability set (containerd's 14), the same RuntimeDefault seccomp allowlist (ours, exported to the runc
 * config as OCI JSON) and the OCI default masked/read-only paths:
 *   - runc: `runc run --bundle B --root R ID` (creates, starts, waits and deletes; cgroups below our own cgroup);
 *   - nodelet (library): container_create + container_start + container_wait + container_remove, what the daemon
 *     does (the shim is spawned for every container);
 *   - nodelet (CLI): `nodeletctl run --rm --rootfs DIR /bin/true`, process start-up included like runc's, and
 *     `nodeletctl run --rm IMAGE /bin/true` of the same busybox as an imported OCI image (the store lookup too).
 * The kernel floor (`unshare -pnimuf /bin/true`, median of 20) is measured first, so that a reader can tell machines
 * apart; page faults per run (minor+major of the reaped processes, getrusage) are printed next to the times, as the
 * machine-independent part of start-up cost (issue 12: a machine where faults cost 3x more).
 * Runtime state (ours: also the overlay upper dir, our default) lives on a tmpfs for both, as /run is on a node. Rounds
 * interleave the three so machine noise hits all alike; CPU time (user+system of the runtime's processes, from
 * getrusage) is reported next to wall time because it does not depend on what else the machine runs. Then the shim's
 * private memory: N containers running `sleep`, Private_Dirty of each shim from /proc/PID/smaps_rollup. Prints Markdown
 * for docs/BENCHMARKS.md. */

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/seccomp.h"

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

/* Page faults of the reaped descendants (the runtime's processes; ours in the library row are the benchmark's own). */
static uint64_t child_faults(void) {
        struct rusage a, b;
        getrusage(RUSAGE_SELF, &a);
        getrusage(RUSAGE_CHILDREN, &b);
        return (uint64_t) (a.ru_minflt + a.ru_majflt + b.ru_minflt + b.ru_majflt);
}

/* CPU time (user+system) of this process and of its reaped descendants: load-independent, unlike wall time. */
static uint64_t cpu_ns(void) {
        struct rusage a, b;
        getrusage(RUSAGE_SELF, &a);
        getrusage(RUSAGE_CHILDREN, &b);
        uint64_t us = 0;
        us += (uint64_t) (a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) * USEC_PER_SEC;
        us += (uint64_t) (a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec);
        return us * NSEC_PER_USEC;
}

static int run_argv(char *const argv[]) {
        pid_t pid = fork();
        if (pid == 0) {
                int fd = open("/dev/null", O_RDWR);
                dup2(fd, 0);
                dup2(fd, 1);
                execv(argv[0], argv);
                _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

typedef struct Stats {
        double mean, median, p99, min;
} Stats;

static Stats stats(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(uint64_t), cmp_u64);
        double sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += (double) v[i];
        size_t p99 = (size_t) ceil(0.99 * (double) n) - 1;
        return (Stats){.mean = sum / (double) n / 1e6,
                       .median = (n % 2 ? (double) v[n / 2] : ((double) v[n / 2 - 1] + (double) v[n / 2]) / 2) / 1e6,
                       .p99 = (double) v[MIN(p99, n - 1)] / 1e6,
                       .min = (double) v[0] / 1e6};
}

static char *tmp;

static void make_rootfs(const char *dir) {
        char cmd[40000];
        snprintf(cmd, sizeof(cmd),
                 "set -e; mkdir -p %s/bin %s/etc %s/tmp; cp /bin/busybox %s/bin/; chmod 1777 %s/tmp; "
                 "for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || ln -sf busybox %s/bin/$a; done; "
                 "echo 'root:x:0:0:root:/root:/bin/sh' > %s/etc/passwd; echo 'root:x:0:' > %s/etc/group",
                 dir, dir, dir, dir, dir, dir, dir, dir);
        if (system(cmd) != 0) {
                fprintf(stderr, "making the rootfs failed\n");
                exit(1);
        }
}

/* An OCI bundle equivalent to our container: `runc spec`, then rootfs, args, namespaces, caps, seccomp. */
static void make_bundle(const char *bundle, const char *rootfs) {
        char cmd[16384];
        snprintf(cmd, sizeof(cmd), "mkdir -p %s && cd %s && runc spec", bundle, bundle);
        if (system(cmd) != 0) {
                fprintf(stderr, "runc spec failed\n");
                exit(1);
        }
        char p[4200];
        snprintf(p, sizeof(p), "%s/config.json", bundle);
        json_t *c = NULL;
        if (jx_load_file(p, &c, NULL) < 0)
                exit(1);
        json_t *proc = json_object_get(c, "process");
        json_object_set_new(proc, "terminal", json_false());
        json_object_set_new(proc, "args", json_pack("[s]", "/bin/true"));
        json_object_set_new(json_object_get(c, "root"), "path", json_string(rootfs));
        json_object_set_new(json_object_get(c, "root"), "readonly", json_false());
        json_t *linux_ = json_object_get(c, "linux");
        json_array_append_new(json_object_get(linux_, "namespaces"), json_pack("{s:s}", "type", "cgroup"));
        json_t *caps = json_array();
        for (int cap = 0; cap < 64; cap++)
                if (caps_default() & (UINT64_C(1) << cap)) {
                        char *name = NULL;
                        static const char *const names[] = {
                                [0] = "CAP_CHOWN",        [1] = "CAP_DAC_OVERRIDE", [3] = "CAP_FOWNER",
                                [4] = "CAP_FSETID",       [5] = "CAP_KILL",         [6] = "CAP_SETGID",
                                [7] = "CAP_SETUID",       [8] = "CAP_SETPCAP",      [10] = "CAP_NET_BIND_SERVICE",
                                [13] = "CAP_NET_RAW",     [18] = "CAP_SYS_CHROOT",  [27] = "CAP_MKNOD",
                                [29] = "CAP_AUDIT_WRITE", [31] = "CAP_SETFCAP",
                        };
                        name = cap < (int) ELEMENTSOF(names) ? (char *) names[cap] : NULL;
                        if (name)
                                json_array_append_new(caps, json_string(name));
                }
        json_t *pc = json_object_get(proc, "capabilities");
        json_object_set(pc, "bounding", caps);
        json_object_set(pc, "effective", caps);
        json_object_set(pc, "permitted", caps);
        json_decref(caps);
        json_t *seccomp = NULL;
        if (seccomp_default_profile(caps_default(), &seccomp) < 0)
                exit(1);
        json_object_set_new(linux_, "seccomp", seccomp);
        /* Relative: runc puts it below its own cgroup in every hierarchy, as we do. */
        json_object_set_new(linux_, "cgroupsPath", json_string("nodelet-bench-runc"));
        json_dump_file(c, p, JSON_INDENT(2));
        json_decref(c);
}

static uint64_t ours_once(Runtime *rt, ContainerSpec *s, int i) {
        char id[32];
        snprintf(id, sizeof(id), "bench-%d", i);
        uint64_t t0 = now_ns();
        Container *c = NULL;
        ErrorBuf e = {};
        int r = container_create(rt, id, s, &c, &e);
        r = r ?: container_start(c, -1, -1, &e);
        r = r ?: container_wait(c, 0);
        r = r ?: container_remove(c, false, &e);
        uint64_t t1 = now_ns();
        if (r < 0) {
                fprintf(stderr, "nodelet: %s\n", error_message(&e, r));
                exit(1);
        }
        return t1 - t0;
}

static uint64_t private_dirty_kib(pid_t pid) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/smaps_rollup", (int) pid);
        _cleanup_free_ char *text = NULL;
        if (read_full_file(p, 0, &text, NULL) < 0)
                return 0;
        const char *k = strstr(text, "Private_Dirty:");
        return k ? strtoull(k + 14, NULL, 10) : 0;
}

static void shim_memory(Runtime *rt, const char *rootfs, unsigned n) {
        Container *cs[64];
        uint64_t sum = 0, max = 0;
        for (unsigned i = 0; i < n; i++) {
                ContainerSpec s = {};
                char *lowers[] = {(char *) rootfs, NULL};
                char *argv[] = {(char *) "/bin/sleep", (char *) "30", NULL};
                char log[4096], id[32];
                snprintf(log, sizeof(log), "%s/mem-%u.log", tmp, i);
                snprintf(id, sizeof(id), "mem-%u", i);
                s.lower_dirs = lowers;
                s.argv = argv;
                s.log_path = log;
                ErrorBuf e = {};
                if (container_create(rt, id, &s, &cs[i], &e) < 0 || container_start(cs[i], -1, -1, &e) < 0) {
                        fprintf(stderr, "%s\n", e.msg);
                        exit(1);
                }
        }
        for (unsigned i = 0; i < n; i++) {
                ContainerStatus st;
                container_get_status(cs[i], &st);
                uint64_t kib = private_dirty_kib(st.shim_pid);
                sum += kib;
                max = MAX(max, kib);
        }
        for (unsigned i = 0; i < n; i++)
                container_remove(cs[i], true, NULL);
        printf("\nnodelet-shim private memory with %u running containers (Private_Dirty from /proc/PID/smaps_rollup): "
               "mean %.0f KiB, max %llu KiB per container (target <= 1024 KiB)\n",
               n, (double) sum / n, (unsigned long long) max);
}

int main(int argc, char *argv[]) {
        int runs = argc > 1 ? atoi(argv[1]) : 100;
        if (geteuid() != 0) {
                fprintf(stderr, "needs root\n");
                return 77;
        }
        char t[] = "/tmp/nodelet-bench.XXXXXX";
        tmp = mkdtemp(t);
        char rootfs[4096], bundle[4096], state[4300], runc_root[4300], exe[4096], ctl[4200], shim[4200];
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
        snprintf(bundle, sizeof(bundle), "%s/bundle", tmp);
        /* Runtime state on tmpfs for both, as /run is on a node (runc keeps its state in /run/runc). */
        char run[4200];
        snprintf(run, sizeof(run), "%s/run", tmp);
        if (mkdir(run, 0700) < 0 || mount("tmpfs", run, "tmpfs", 0, "mode=0700") < 0) {
                perror("tmpfs");
                return 1;
        }
        snprintf(state, sizeof(state), "%s/state", run);
        snprintf(runc_root, sizeof(runc_root), "%s/runc", run);
        make_rootfs(rootfs);
        make_bundle(bundle, rootfs);

        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        exe[n > 0 ? n : 0] = 0;
        *strrchr(exe, '/') = 0;
        /* <build>/bench/runtime/ → <build>/runtime/nodelet-shim and <build>/agent/nodeletctl */
        snprintf(shim, sizeof(shim), "%s/../../runtime/nodelet-shim", exe);
        snprintf(ctl, sizeof(ctl), "%s/../../agent/nodeletctl", exe);
        RuntimeConfig cfg = {.state_dir = state, .shim_path = shim, .cgroup_parent = "nodelet-bench"};
        Runtime *rt = NULL;
        if (runtime_new(&cfg, &rt) < 0)
                return 1;
        char *lowers[] = {rootfs, NULL};
        char *targv[] = {(char *) "/bin/true", NULL};
        ContainerSpec s = {.lower_dirs = lowers, .argv = targv};

        uint64_t *ours = calloc((size_t) runs, sizeof(uint64_t)), *cli = calloc((size_t) runs, sizeof(uint64_t)),
                 *runc = calloc((size_t) runs, sizeof(uint64_t));
        uint64_t cpu_ours = 0, cpu_cli = 0, cpu_runc = 0;
        /* Warm-up: page cache, the seccomp cache, runc's binary. */
        (void) ours_once(rt, &s, -1);
        char *runc_argv[] = {(char *) "/usr/sbin/runc",
                             (char *) "--root",
                             runc_root,
                             (char *) "run",
                             (char *) "--bundle",
                             bundle,
                             (char *) "bench-runc",
                             NULL};
        char *ctl_argv[] = {ctl,
                            (char *) "run",
                            (char *) "--rm",
                            (char *) "--root-dir",
                            tmp,
                            (char *) "--state-dir",
                            state,
                            (char *) "--cgroup-parent",
                            (char *) "nodelet-bench",
                            (char *) "--rootfs",
                            rootfs,
                            (char *) "/bin/true",
                            NULL};
        if (run_argv(runc_argv) != 0) {
                fprintf(stderr, "runc run failed\n");
                return 1;
        }
        bool have_cli = access(ctl, X_OK) == 0 && run_argv(ctl_argv) == 0;
        /* The same busybox as an OCI image in the CLI's store (tests/fixtures/make-busybox-image.py). */
        char img_cmd[16384];
        snprintf(img_cmd, sizeof(img_cmd),
                 "/usr/bin/python3 %s/tests/fixtures/make-busybox-image.py %s/busybox.tar --ref bench/busybox:1 "
                 ">/dev/null && %s --root-dir %s images import -q %s/busybox.tar >/dev/null",
                 NODELET_SOURCE_DIR, tmp, ctl, tmp, tmp);
        char *img_argv[] = {ctl,
                            (char *) "run",
                            (char *) "--rm",
                            (char *) "--root-dir",
                            tmp,
                            (char *) "--state-dir",
                            state,
                            (char *) "--cgroup-parent",
                            (char *) "nodelet-bench",
                            (char *) "bench/busybox:1",
                            (char *) "/bin/true",
                            NULL};
        bool have_img = have_cli && system(img_cmd) == 0 && run_argv(img_argv) == 0;
        if (have_cli && !have_img)
                fprintf(stderr, "note: no image row (importing the busybox image failed)\n");

        /* The kernel floor: what the namespaces alone cost on this machine. */
        uint64_t floor_ns[20];
        char *unshare_argv[] = {(char *) "/usr/bin/unshare", (char *) "-pnimuf", (char *) "/bin/true", NULL};
        for (size_t i = 0; i < ELEMENTSOF(floor_ns); i++) {
                uint64_t t0 = now_ns();
                (void) run_argv(unshare_argv);
                floor_ns[i] = now_ns() - t0;
        }
        Stats fl = stats(floor_ns, ELEMENTSOF(floor_ns));
        uint64_t *img = calloc((size_t) runs, sizeof(uint64_t)), cpu_img = 0, pf_runc = 0, pf_cli = 0, pf_img = 0;
        for (int i = 0; i < runs; i++) {
                uint64_t c0 = cpu_ns(), f0 = child_faults(), t0 = now_ns();
                if (run_argv(runc_argv) != 0) {
                        fprintf(stderr, "runc run failed\n");
                        return 1;
                }
                runc[i] = now_ns() - t0;
                pf_runc += child_faults() - f0;
                uint64_t c1 = cpu_ns();
                cpu_runc += c1 - c0;
                ours[i] = ours_once(rt, &s, i);
                uint64_t c2 = cpu_ns();
                cpu_ours += c2 - c1;
                if (have_cli) {
                        uint64_t f1 = child_faults();
                        t0 = now_ns();
                        if (run_argv(ctl_argv) != 0) {
                                fprintf(stderr, "nodeletctl run failed\n");
                                return 1;
                        }
                        cli[i] = now_ns() - t0;
                        cpu_cli += cpu_ns() - c2;
                        pf_cli += child_faults() - f1;
                }
                if (have_img) {
                        uint64_t c3 = cpu_ns(), f2 = child_faults();
                        t0 = now_ns();
                        if (run_argv(img_argv) != 0) {
                                fprintf(stderr, "nodeletctl run IMAGE failed\n");
                                return 1;
                        }
                        img[i] = now_ns() - t0;
                        cpu_img += cpu_ns() - c3;
                        pf_img += child_faults() - f2;
                }
        }
        Stats r = stats(runc, (size_t) runs), o = stats(ours, (size_t) runs), c = stats(cli, (size_t) runs),
              im = stats(img, (size_t) runs);
        double cr = (double) cpu_runc / runs / 1e6, co = (double) cpu_ours / runs / 1e6,
               cc = (double) cpu_cli / runs / 1e6, ci = (double) cpu_img / runs / 1e6;
        printf("kernel floor `unshare -pnimuf /bin/true`: median %.2f ms, min %.2f ms (20 runs)\n\n", fl.median,
               fl.min);
        printf("| runtime (%d runs each, interleaved) | mean ms | median ms | p99 ms | min ms | mean vs runc | median "
               "vs runc | CPU ms/run | CPU vs runc |\n",
               runs);
        printf("|---|---|---|---|---|---|---|---|---|\n");
        printf("| runc 1.1.5 `runc run` | %.2f | %.2f | %.2f | %.2f | 1.00 | 1.00 | %.2f | 1.00 |\n", r.mean, r.median,
               r.p99, r.min, cr);
        printf("| nodelet library (create+start+wait+remove, shim per container) | %.2f | %.2f | %.2f | %.2f | %.3f | "
               "%.3f | %.2f | %.3f |\n",
               o.mean, o.median, o.p99, o.min, o.mean / r.mean, o.median / r.median, co, co / cr);
        if (have_cli)
                printf("| nodelet CLI `nodeletctl run --rm --rootfs` | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.2f "
                       "| %.3f |\n",
                       c.mean, c.median, c.p99, c.min, c.mean / r.mean, c.median / r.median, cc, cc / cr);
        if (have_img)
                printf("| nodelet CLI `nodeletctl run --rm IMAGE` | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.2f | "
                       "%.3f |\n",
                       im.mean, im.median, im.p99, im.min, im.mean / r.mean, im.median / r.median, ci, ci / cr);
        printf("\npage faults per run (minor+major, getrusage of the reaped processes): runc %.0f",
               (double) pf_runc / runs);
        if (have_cli)
                printf(", nodeletctl run --rootfs %.0f (%.3f of runc)", (double) pf_cli / runs,
                       (double) pf_cli / (double) pf_runc);
        if (have_img)
                printf(", nodeletctl run IMAGE %.0f (%.3f of runc)", (double) pf_img / runs,
                       (double) pf_img / (double) pf_runc);
        printf("\n");
        shim_memory(rt, rootfs, 10);
        runtime_free(rt);
        /* The benchmark's cgroup base (empty by now). */
        char **bases = NULL;
        size_t mi;
        if (cgroup_driver_detect()->bases("nodelet-bench", &bases, &mi) == 0) {
                for (char **b = bases; *b; b++)
                        (void) rmdir(*b);
                strv_free(bases);
        }
        (void) umount2(run, MNT_DETACH);
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf %s; rmdir /sys/fs/cgroup/*/nodelet-bench-runc 2>/dev/null; true", tmp);
        (void) !system(cmd);
        return 0;
}
