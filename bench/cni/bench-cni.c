/* SPDX-License-Identifier: Apache-2.0 */
/* ADD and DEL per pod: nodelet-bridge + nodelet-ipam against the reference bridge + host-local, same configuration
 * shape, the same number of fresh network namespaces, side by side in one run: alternating blocks of BLOCK pods per
 * implementation (default 10; the implementation that goes first alternates too), so both see the same machine
 * state over the run. Blocks rather than single pods, because an operation leaves kernel work behind that runs
 * while the next one does: with pod-by-pod interleaving nodelet's ADD was charged ~0.3 ms of the reference's
 * leftovers (nodelet after nodelet: 2.35 ms median; nodelet after the reference: 2.64 ms), while the reference
 * was not slowed by nodelet's. Within a block each implementation pays for its own. BLOCK 1 is pod by pod.
 * Each operation is timed the way a runtime pays for it: spawn the plugin with the CNI environment, write the
 * configuration, read the result, reap.
 *
 * It also prints floors measured on the same namespaces: the kernel's cost of creating and of deleting one veth
 * pair (raw rtnetlink, nothing else) and the cost of one exec, so the numbers can be read against what no plugin
 * can avoid.
 *
 * Runs as root inside a private network namespace (bridges and veths vanish with it); pod namespaces are named
 * bench-cni-<pid>-<n> and removed at the end.
 * Usage: bench-cni [PODS] [NODELET_BIN_DIR] [REFERENCE_BIN_DIR] [BLOCK] */

#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <math.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fileio.h"

extern char **environ;

typedef struct Impl {
        const char *label, *bridge_plugin, *ipam_plugin, *bin_dir, *bridge, *subnet;
        char *conf;
        double *add_ms, *del_ms;
} Impl;

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* One plugin execution; returns its exit status, or -1. */
static int exec_plugin(const Impl *im, const char *cmd, const char *cid, const char *netns) {
        char path[512], e_cmd[64], e_cid[128], e_ns[256], e_path[600];
        int in[2], out[2], status;
        pid_t pid;

        snprintf(path, sizeof path, "%s/%s", im->bin_dir, im->bridge_plugin);
        snprintf(e_cmd, sizeof e_cmd, "CNI_COMMAND=%s", cmd);
        snprintf(e_cid, sizeof e_cid, "CNI_CONTAINERID=%s", cid);
        snprintf(e_ns, sizeof e_ns, "CNI_NETNS=%s", netns);
        snprintf(e_path, sizeof e_path, "CNI_PATH=%s", im->bin_dir);
        char *env[] = {
                e_cmd, e_cid, e_ns, (char *) "CNI_IFNAME=eth0", e_path, (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                NULL};
        char *argv[] = {path, NULL};
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
                return -1;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        int r = posix_spawn(&pid, path, &fa, NULL, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        if (r != 0)
                return -1;
        (void) (write(in[1], im->conf, strlen(im->conf)) < 0);
        close(in[1]);
        _cleanup_free_ char *result = NULL;
        (void) read_full_fd(out[0], 0, &result, NULL);
        close(out[0]);
        if (waitpid(pid, &status, 0) < 0)
                return -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s %s %s failed: %s\n", im->label, cmd, cid, strempty(result));
                return -1;
        }
        return 0;
}

/* Work a plugin left running after it exited (nodelet-bridge's DEL leaves the kernel's device teardown to a
 * detached child) is reparented to us, the subreaper: wait for it, untimed, so that it neither slows the next timed
 * operation down nor goes unnoticed. Returns how many such processes there were. */
static int reap_leftovers(void) {
        int n = 0;
        while (waitpid(-1, NULL, 0) > 0)
                n++;
        return n;
}

static int bench_pid;

/* One timed plugin run for pod i of implementation im; leftovers are reaped after the clock stopped. */
static int timed_op(const Impl *im, int k, const char *cmd, int i, double *ret_ms, int *leftovers) {
        char cid[64], ns[128];
        snprintf(cid, sizeof cid, "bench-%d", i);
        snprintf(ns, sizeof ns, "/run/netns/bench-cni-%d-%d", bench_pid, 2 * i + k);
        double t0 = now_ms();
        if (exec_plugin(im, cmd, cid, ns) < 0)
                return 1;
        if (ret_ms)
                *ret_ms = now_ms() - t0;
        *leftovers += reap_leftovers();
        return 0;
}

static int run_cmd(const char *fmt, ...) _printf_(1, 2);
static int run_cmd(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -1;
        r = system(cmd);
        return r < 0 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

/* The kernel's share of a DEL: one RTM_DELLINK of a veth pair inside the pod namespace, nothing else. Unregistering
 * a net device ends in rcu_barrier() (netdev_run_todo), which no plugin can avoid. */
static double delete_veth_ms(const char *netns) {
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int ns = open(netns, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int fd = -EBADF;
        struct {
                struct nlmsghdr h;
                struct ifinfomsg i;
        } req = {
                .h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_DELLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK},
                .i = {.ifi_family = AF_UNSPEC},
        };
        struct ifreq ifr = {};
        char buf[4096];

        if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0)
                return -1;
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (setns(self, CLONE_NEWNET) < 0)
                abort();
        if (fd < 0)
                return -1;
        double t0 = now_ms();
        /* Look the index up inside the namespace as a plugin would, then delete. */
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "eth0");
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
                return -1;
        req.i.ifi_index = ifr.ifr_ifindex;
        if (send(fd, &req, sizeof req, 0) != (ssize_t) sizeof req || recv(fd, buf, sizeof buf, 0) <= 0)
                return -1;
        return now_ms() - t0;
}

static void put_attr(char *buf, size_t *off, unsigned short type, const void *data, size_t len) {
        struct rtattr *a = (struct rtattr *) (buf + *off);
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        if (len > 0)
                memcpy(RTA_DATA(a), data, len);
        *off += RTA_ALIGN(a->rta_len);
}

static struct rtattr *nest_start(char *buf, size_t *off, unsigned short type) {
        struct rtattr *a = (struct rtattr *) (buf + *off);
        put_attr(buf, off, type, NULL, 0);
        return a;
}

static void nest_end(char *buf, size_t off, struct rtattr *a) {
        a->rta_len = (unsigned short) (buf + off - (char *) a);
}

/* The kernel's share of an ADD: one RTM_NEWLINK creating the veth pair with its pod end in the namespace, which is
 * what every bridge plugin has to do. */
static double create_veth_ms(const char *netns, int i) {
        _cleanup_close_ int ns = open(netns, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        char buf[1024] = {}, name[IFNAMSIZ];
        size_t off = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        struct nlmsghdr *h = (struct nlmsghdr *) buf;

        if (ns < 0 || fd < 0)
                return -1;
        h->nlmsg_type = RTM_NEWLINK;
        h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        snprintf(name, sizeof name, "bfl%d", i);
        put_attr(buf, &off, IFLA_IFNAME, name, strlen(name) + 1);
        struct rtattr *li = nest_start(buf, &off, IFLA_LINKINFO);
        put_attr(buf, &off, IFLA_INFO_KIND, "veth", 5);
        struct rtattr *data = nest_start(buf, &off, IFLA_INFO_DATA);
        struct rtattr *peer = nest_start(buf, &off, 1 /* VETH_INFO_PEER */);
        struct ifinfomsg pi = {.ifi_family = AF_UNSPEC};
        memcpy(buf + off, &pi, sizeof pi);
        off += NLMSG_ALIGN(sizeof pi);
        put_attr(buf, &off, IFLA_IFNAME, "eth0", 5);
        uint32_t nsfd = (uint32_t) ns;
        put_attr(buf, &off, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
        nest_end(buf, off, peer);
        nest_end(buf, off, data);
        nest_end(buf, off, li);
        h->nlmsg_len = (uint32_t) off;
        char ack[4096];
        double t0 = now_ms();
        if (send(fd, buf, off, 0) != (ssize_t) off || recv(fd, ack, sizeof ack, 0) <= 0)
                return -1;
        struct nlmsgerr *err = NLMSG_DATA((struct nlmsghdr *) ack);
        return err->error == 0 ? now_ms() - t0 : -1;
}

/* Spawning and reaping a program that does nothing: what each exec on the path costs on this machine. */
static double exec_true_ms(void) {
        char *argv[] = {(char *) "/bin/true", NULL};
        pid_t pid;
        double t0 = now_ms();
        if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0 || waitpid(pid, NULL, 0) < 0)
                return -1;
        return now_ms() - t0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *mean, double *median, double *p90) {
        double sum = 0;
        qsort(v, (size_t) n, sizeof(double), cmp_double);
        for (int i = 0; i < n; i++)
                sum += v[i];
        *mean = sum / n;
        *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        *p90 = v[(int) ceil(0.9 * n) - 1];
}

int main(int argc, char *argv[]) {
        int pods = argc > 1 ? atoi(argv[1]) : 30;
        const char *ours = argc > 2 ? argv[2] : "build/release/cni";
        const char *ref = argc > 3 ? argv[3] : "/usr/lib/cni";
        int block = argc > 4 ? atoi(argv[4]) : 10;
        char tmpl[] = "/tmp/bench-cni.XXXXXX";
        _cleanup_free_ double *floor_ms = NULL;
        int r = 0, leftovers[2] = {};

        bench_pid = (int) getpid();
        if (geteuid() != 0 || pods < 2 || pods > 500 || block < 1) {
                fprintf(stderr, "usage (as root): bench-cni [PODS 2..500] [NODELET_BIN_DIR] [REFERENCE_BIN_DIR] [BLOCK "
                                ">= 1]\n");
                return 2;
        }
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || unshare(CLONE_NEWNET) < 0 || system("ip link set lo up") != 0 ||
            !mkdtemp(tmpl)) {
                perror("setup");
                return 1;
        }
        Impl impls[2] = {
                {"reference bridge+host-local", "bridge", "host-local", ref, "tbref0", "10.241.0.0/16"},
                {"nodelet-bridge+nodelet-ipam", "nodelet-bridge", "nodelet-ipam", ours, "tbnod0", "10.242.0.0/16"},
        };
        for (int k = 0; k < 2; k++) {
                Impl *im = &impls[k];
                /* The shape of a Kubernetes pod network: gateway on the bridge, hairpin, default route. */
                if (asprintf(&im->conf,
                             "{\"cniVersion\":\"1.0.0\",\"name\":\"bench%d\",\"type\":\"%s\",\"bridge\":\"%s\","
                             "\"isGateway\":true,\"hairpinMode\":true,\"ipam\":{\"type\":\"%s\",\"dataDir\":\"%s\","
                             "\"ranges\":[[{\"subnet\":\"%s\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}",
                             k, im->bridge_plugin, im->bridge, im->ipam_plugin, tmpl, im->subnet) < 0)
                        return 1;
                im->add_ms = calloc((size_t) pods, sizeof(double));
                im->del_ms = calloc((size_t) pods, sizeof(double));
        }
        /* Fresh namespaces, one per pod and implementation, plus a warm-up pod each (creates the bridge). */
        int n_ns = 2 * (pods + 1);
        for (int i = 0; i < n_ns; i++)
                if (run_cmd("ip netns add bench-cni-%d-%d", (int) getpid(), i) != 0) {
                        n_ns = i;
                        r = 1;
                        goto cleanup;
                }
        /* Warm-up pods (creates the bridges), then the blocks. */
        for (int op = 0; op < 2 && r == 0; op++) {
                const char *cmd = op == 0 ? "ADD" : "DEL";
                for (int k = 0; k < 2 && r == 0; k++)
                        r = timed_op(&impls[k], k, cmd, 0, NULL, &leftovers[k]);
                for (int b = 0, first = 1; first <= pods && r == 0; b++, first += block)
                        for (int kk = 0; kk < 2 && r == 0; kk++) {
                                int k = (b + kk) % 2;
                                for (int i = first; i < first + block && i <= pods && r == 0; i++)
                                        r = timed_op(&impls[k], k, cmd, i,
                                                     op == 0 ? &impls[k].add_ms[i - 1] : &impls[k].del_ms[i - 1],
                                                     &leftovers[k]);
                        }
        }
        /* The floor, on the same fresh namespaces (their pods are gone): a veth made with ip(8), deleted by one
         * raw RTM_DELLINK. */
        floor_ms = calloc((size_t) pods * 3, sizeof(double));
        for (int i = 1; i <= pods && r == 0 && floor_ms; i++) {
                char ns[128];
                snprintf(ns, sizeof ns, "/run/netns/bench-cni-%d-%d", (int) getpid(), 2 * i);
                floor_ms[i - 1] = create_veth_ms(ns, i);
                floor_ms[pods + i - 1] = delete_veth_ms(ns);
                floor_ms[2 * pods + i - 1] = exec_true_ms();
                if (floor_ms[i - 1] < 0 || floor_ms[pods + i - 1] < 0 || floor_ms[2 * pods + i - 1] < 0) {
                        fprintf(stderr, "floor measurement failed\n");
                        r = 1;
                }
        }
        if (r == 0 && floor_ms) {
                double m[2][2][3];
                for (int k = 0; k < 2; k++) {
                        stats(impls[k].add_ms, pods, &m[k][0][0], &m[k][0][1], &m[k][0][2]);
                        stats(impls[k].del_ms, pods, &m[k][1][0], &m[k][1][1], &m[k][1][2]);
                }
                printf("| per pod (%d pods, fresh netns each, blocks of %d) | mean ms | median ms | p90 ms |\n", pods,
                       block);
                printf("|---|---|---|---|\n");
                for (int op = 0; op < 2; op++)
                        for (int k = 0; k < 2; k++)
                                printf("| %s %s | %.2f | %.2f | %.2f |\n", op == 0 ? "ADD" : "DEL", impls[k].label,
                                       m[k][op][0], m[k][op][1], m[k][op][2]);
                static const char *const floors[] = {
                        "floor: one RTM_NEWLINK of a veth pair into the netns",
                        "floor: one RTM_DELLINK of that veth pair",
                        "floor: spawn + reap /bin/true",
                };
                for (int f = 0; f < 3; f++) {
                        double fm, fmed, fp90;
                        stats(floor_ms + f * pods, pods, &fm, &fmed, &fp90);
                        printf("| %s | %.2f | %.2f | %.2f |\n", floors[f], fm, fmed, fp90);
                }
                printf("\nprocesses left running after the plugin exited (reaped untimed): reference %d, nodelet %d\n",
                       leftovers[0], leftovers[1]);
                printf("nodelet/reference: ADD mean %.2f median %.2f, DEL mean %.2f median %.2f (target <= 0.20)\n",
                       m[1][0][0] / m[0][0][0], m[1][0][1] / m[0][0][1], m[1][1][0] / m[0][1][0],
                       m[1][1][1] / m[0][1][1]);
        }
cleanup:
        for (int i = 0; i < n_ns; i++)
                (void) run_cmd("ip netns del bench-cni-%d-%d", (int) getpid(), i);
        (void) rm_rf(tmpl);
        for (int k = 0; k < 2; k++) {
                free(impls[k].conf);
                free(impls[k].add_ms);
                free(impls[k].del_ms);
        }
        return r;
}
