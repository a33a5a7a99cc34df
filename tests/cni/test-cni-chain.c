/* SPDX-License-Identifier: Apache-2.0 */
/* The runner driving real plugin chains in network namespaces: ours, Debian's reference plugins
 * (containernetworking-plugins in /usr/lib/cni) and mixed chains both ways.
 *
 * Safety: every test runs in a forked child that first moves into a fresh, private network namespace (the "host"
 * of the test): bridges, host veths, nftables/iptables rules and forwarding sysctls all live there and vanish with
 * the child. Pod namespaces are named test-cni-<suite pid>-<n> and removed by the test and again by main() at the
 * end (also after a failing test). Subnets are 10.2xx.x.x ranges that exist only inside those namespaces; traffic
 * goes only to addresses in namespaces the test created. */

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>

#include "cni/cni-ctl.h"
#include "cni/link.h"
#include "cni/runner.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

static pid_t suite_pid; /* names carry the suite's pid, so main() can sweep what failed tests left */
static char *tmp;
static unsigned n_netns;
static char bridge[16];

static void setup(void) {
        /* The test's private "host" namespace. */
        ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
        ck_assert_int_eq(test_system("ip link set lo up"), 0);
        tmp = test_tmpdir_new("test-cni-chain");
        ck_assert_ptr_nonnull(tmp);
        snprintf(bridge, sizeof bridge, "tcni%d", (int) (getpid() % 100000));
        n_netns = 0;
}

static void teardown(void) {
        for (unsigned i = 0; i < n_netns; i++)
                (void) test_system("ip netns del test-cni-%d-%d-%u 2>/dev/null", (int) suite_pid, (int) getpid(), i);
        test_tmpdir_remove(tmp);
        tmp = NULL;
}

/* A new pod namespace; returns its path. */
static char *netns_new(void) {
        char *path = NULL;
        unsigned i = n_netns++;
        ck_assert_int_eq(test_system("ip netns add test-cni-%d-%d-%u", (int) suite_pid, (int) getpid(), i), 0);
        ck_assert_int_ge(asprintf(&path, "/run/netns/test-cni-%d-%d-%u", (int) suite_pid, (int) getpid(), i), 0);
        return path;
}

static const char *netns_name(const char *path) {
        return strrchr(path, '/') + 1;
}

static char *bin_dir(void) {
        char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/cni", test_build_dir()), 0);
        return p;
}

/* The network from a template: @BRIDGE@, @DIR@ are replaced. */
static CniNetwork *network(const char *tmpl) {
        _cleanup_free_ char *text = calloc(1, strlen(tmpl) * 2 + 1024);
        char *o = text;
        for (const char *p = tmpl; *p;) {
                if (startswith(p, "@BRIDGE@")) {
                        o = stpcpy(o, bridge);
                        p += STRLEN("@BRIDGE@");
                } else if (startswith(p, "@DIR@")) {
                        o = stpcpy(o, tmp);
                        p += STRLEN("@DIR@");
                } else
                        *o++ = *p++;
        }
        *o = 0;
        CniNetwork *n = NULL;
        ErrorBuf e = {};
        int r = cni_network_parse(text, strlen(text), "test", &n, &e);
        ck_assert_msg(r == 0, "%s", e.msg);
        return n;
}

static CniRunnerOptions options(char **dirs_storage) {
        static char *cache;
        free(cache);
        ck_assert_int_ge(asprintf(&cache, "%s/cache", tmp), 0);
        dirs_storage[0] = bin_dir();
        dirs_storage[1] = (char *) "/usr/lib/cni";
        dirs_storage[2] = NULL;
        return (CniRunnerOptions){.bin_dirs = dirs_storage, .cache_dir = cache, .timeout_usec = 30 * USEC_PER_SEC};
}

static int run(CniCommand cmd, const CniNetwork *n, const char *netns, const char *cid, json_t **ret, CniError *err) {
        char *dirs[3];
        CniRunnerOptions o = options(dirs);
        CniRuntimeConf rt = {.container_id = cid, .netns = netns, .ifname = "eth0"};
        int r = cni_run_sync(&o, cmd, n, &rt, ret, err);
        free(dirs[0]);
        return r;
}

static json_t *add_ok(const CniNetwork *n, const char *netns, const char *cid) {
        json_t *res = NULL;
        CniError e = {};
        int r = run(CNI_CMD_ADD, n, netns, cid, &res, &e);
        ck_assert_msg(r == 0, "ADD %s: %d %s", cid, e.code, e.msg);
        return res;
}

static void del_ok(const CniNetwork *n, const char *netns, const char *cid) {
        CniError e = {};
        int r = run(CNI_CMD_DEL, n, netns, cid, NULL, &e);
        ck_assert_msg(r == 0, "DEL %s: %d %s", cid, e.code, e.msg);
}

/* The pod's address without prefix. */
static char *pod_ip(const json_t *res, size_t i) {
        const char *a = json_string_value(json_object_get(json_array_get(json_object_get(res, "ips"), i), "address"));
        ck_assert_ptr_nonnull(a);
        return strndup(a, strcspn(a, "/"));
}

/* Up to 5 tries: the first packets may go while IPv6 neighbours or the bridge's FDB are still being learned, and
 * other test suites may load the machine; reachability is asserted, not latency. */
static int ping(const char *ns, const char *addr) {
        int r = -1;
        for (int i = 0; i < 5 && r != 0; i++)
                r = test_system("ip netns exec %s busybox ping -c 1 -W 2 %s >/dev/null 2>&1", netns_name(ns), addr);
        return r;
}

/* <tmp>/<dir>/<name> exists */
static bool file_exists(const char *dir, const char *name) {
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s/%s", tmp, dir, name), 0);
        return access(p, F_OK) == 0;
}

#define NODELET_NET                                                                                                    \
        "{\"cniVersion\":\"1.0.0\",\"name\":\"tnet\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"            \
        "\"@BRIDGE@\",\"isGateway\":true,\"ipMasq\":true,\"hairpinMode\":true,\"mtu\":1400,\"ipam\":{\"type\":"        \
        "\"nodelet-ipam\",\"dataDir\":\"@DIR@/ipam\",\"ranges\":[[{\"subnet\":\"10.231.1.0/24\"}],"                    \
        "[{\"subnet\":\"fd00:231:1::/64\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"::/0\"}]}}]}"

START_TEST(test_nodelet_chain_two_pods) {
        _cleanup_(cni_network_freep) CniNetwork *n = network(NODELET_NET);
        _cleanup_free_ char *a = netns_new(), *b = netns_new();
        _cleanup_json_ json_t *ra = add_ok(n, a, "pod-a"), *rb = add_ok(n, b, "pod-b");
        _cleanup_free_ char *ipa = pod_ip(ra, 0), *ipb = pod_ip(rb, 0), *ip6b = pod_ip(rb, 1);

        /* The result as SPEC.md shapes it: bridge, host veth, pod interface with sandbox; ips point at it. */
        json_t *ifs = json_object_get(ra, "interfaces");
        ck_assert_int_eq(json_array_size(ifs), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ifs, 0), "name")), bridge);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ifs, 2), "name")), "eth0");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ifs, 2), "sandbox")), a);
        json_t *ip0 = json_array_get(json_object_get(ra, "ips"), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(ip0, "interface")), 2);
        ck_assert_str_eq(json_string_value(json_object_get(ip0, "gateway")), "10.231.1.1");
        ck_assert_str_eq(ipa, "10.231.1.2");
        ck_assert_str_eq(ipb, "10.231.1.3");

        /* Pods reach each other (IPv4 and IPv6) and the gateway. */
        ck_assert_int_eq(ping(a, ipb), 0);
        ck_assert_int_eq(ping(b, ipa), 0);
        ck_assert_int_eq(ping(a, "10.231.1.1"), 0);
        ck_assert_int_eq(ping(a, ip6b), 0);
        /* MTU, default route, hairpin on the host veth, the masquerade rule in our own table. */
        ck_assert_int_eq(test_system("ip netns exec %s ip link show eth0 | grep -q 'mtu 1400'", netns_name(a)), 0);
        ck_assert_int_eq(
                test_system("ip netns exec %s ip route | grep -q 'default via 10.231.1.1 dev eth0'", netns_name(a)), 0);
        const char *veth = json_string_value(json_object_get(json_array_get(ifs, 1), "name"));
        ck_assert_int_eq(test_system("ip -d link show %s | grep -q 'hairpin on'", veth), 0);
        ck_assert_int_eq(test_system("nft list table ip nodelet-cni | grep -q 'ip saddr %s .*masquerade comment "
                                     "\"tnet pod-a eth0\"'",
                                     ipa),
                         0);

        /* CHECK passes on a healthy pod, and notices a route that went away. */
        CniError e = {};
        ck_assert_int_eq(run(CNI_CMD_CHECK, n, a, "pod-a", NULL, &e), 0);
        ck_assert_int_eq(test_system("ip netns exec %s ip -6 route del default", netns_name(b)), 0);
        ck_assert_int_lt(run(CNI_CMD_CHECK, n, b, "pod-b", NULL, &e), 0);
        ck_assert_msg(strstr(e.msg, "route to ::/0 missing"), "%d %s", e.code, e.msg);

        /* DEL twice succeeds; everything of pod-a is gone, pod-b is untouched. */
        del_ok(n, a, "pod-a");
        del_ok(n, a, "pod-a");
        ck_assert(!file_exists("ipam/tnet", ipa));
        ck_assert(file_exists("ipam/tnet", ipb));
        ck_assert(!file_exists("cache/results", "tnet-pod-a-eth0"));
        ck_assert(file_exists("cache/results", "tnet-pod-b-eth0"));
        ck_assert_int_ne(test_system("ip netns exec %s ip link show eth0 >/dev/null 2>&1", netns_name(a)), 0);
        ck_assert_int_ne(test_system("ip link show %s >/dev/null 2>&1", veth), 0);
        ck_assert_int_ne(test_system("nft list table ip nodelet-cni | grep -q 'pod-a'"), 0);
        ck_assert_int_eq(test_system("nft list table ip nodelet-cni | grep -q 'pod-b'"), 0);
        del_ok(n, b, "pod-b");
}
END_TEST

START_TEST(test_check_detects_deleted_veth) {
        _cleanup_(cni_network_freep) CniNetwork *n = network(NODELET_NET);
        _cleanup_free_ char *a = netns_new();
        _cleanup_json_ json_t *ra = add_ok(n, a, "pod-c");
        const char *veth =
                json_string_value(json_object_get(json_array_get(json_object_get(ra, "interfaces"), 1), "name"));
        ck_assert_int_eq(test_system("ip link del %s", veth), 0);
        CniError e = {};
        int r = run(CNI_CMD_CHECK, n, a, "pod-c", NULL, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(e.msg, veth), "%d %s", e.code, e.msg);
        del_ok(n, a, "pod-c");
        del_ok(n, a, "pod-c");
}
END_TEST

/* DEL returns as soon as the pod's interfaces are unlisted and leaves the kernel's slow device teardown to a
 * detached child: an ADD straight after it into the same namespace under the same name works, and every such child
 * exits by itself, successfully (the test is their subreaper here, so it sees them). */
START_TEST(test_del_then_add_same_netns) {
        enum { ROUNDS = 5 };
        _cleanup_(cni_network_freep) CniNetwork *n = network(NODELET_NET);
        _cleanup_free_ char *a = netns_new();
        unsigned dels = 0;

        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        for (int i = 0; i < ROUNDS; i++) {
                _cleanup_json_ json_t *r1 = add_ok(n, a, "pod-r");
                const char *veth1 = json_string_value(
                        json_object_get(json_array_get(json_object_get(r1, "interfaces"), 1), "name"));
                del_ok(n, a, "pod-r");
                dels++;
                _cleanup_json_ json_t *r2 = add_ok(n, a, "pod-r"); /* nothing in between */
                _cleanup_free_ char *ip2 = pod_ip(r2, 0);
                /* The first pair is gone, the second is there and works. */
                ck_assert_int_ne(test_system("ip link show %s >/dev/null 2>&1", veth1), 0);
                ck_assert_int_eq(
                        test_system("ip netns exec %s ip -4 addr show eth0 | grep -q 'inet %s/24'", netns_name(a), ip2),
                        0);
                ck_assert_int_eq(ping(a, "10.231.1.1"), 0);
                del_ok(n, a, "pod-r");
                dels++;
                ck_assert(!file_exists("ipam/tnet", ip2));
                ck_assert_int_ne(test_system("ip netns exec %s ip link show eth0 >/dev/null 2>&1", netns_name(a)), 0);
        }
        /* A DEL with nothing left to delete starts no child. */
        del_ok(n, a, "pod-r");

        unsigned children = 0;
        int status;
        for (pid_t pid; (pid = waitpid(-1, &status, 0)) > 0; children++)
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "leftover %d ended with status %d",
                              (int) pid, status);
        ck_assert_int_eq(errno, ECHILD);
        ck_assert_uint_eq(children, dels);
}
END_TEST

/* The detached delete's other outcomes: nothing to delete (no child at all), and a kernel refusal (the loopback
 * has no rtnl_link_ops: EOPNOTSUPP), which is reported and leaves the link alone. */
START_TEST(test_detached_delete_errors) {
        _cleanup_free_ char *a = netns_new();
        _cleanup_close_ int ns = open(a, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(ns, 0);
        ck_assert_int_eq(link_delete_detached(ns, "nosuch0", 10000), -ENODEV);
        ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);

        ck_assert_int_eq(link_delete_detached(ns, "lo", 10000), -EOPNOTSUPP);
        int status;
        ck_assert_int_gt(waitpid(-1, &status, 0), 0); /* we called it in-process: the child is ours */
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_int_eq(test_system("ip netns exec %s ip link show lo >/dev/null", netns_name(a)), 0);
}
END_TEST

/* Reference bridge + nodelet-ipam; then host-local takes over the very same lease directory. */
START_TEST(test_reference_bridge_with_nodelet_ipam) {
        _cleanup_(cni_network_freep) CniNetwork *n = network(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"mixa\",\"plugins\":[{\"type\":\"bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"isGateway\":true,\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":\"@DIR@/ipam\","
                "\"ranges\":[[{\"subnet\":\"10.232.1.0/24\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}]}");
        _cleanup_(cni_network_freep) CniNetwork *hl =
                network("{\"cniVersion\":\"1.0.0\",\"name\":\"mixa\",\"plugins\":[{\"type\":\"bridge\",\"bridge\":"
                        "\"@BRIDGE@\",\"isGateway\":true,\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"@DIR@/ipam\","
                        "\"ranges\":[[{\"subnet\":\"10.232.1.0/24\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}]}");
        _cleanup_free_ char *a = netns_new(), *b = netns_new(), *c = netns_new();
        _cleanup_json_ json_t *ra = add_ok(n, a, "mix-a"), *rb = add_ok(n, b, "mix-b");
        _cleanup_free_ char *ipa = pod_ip(ra, 0), *ipb = pod_ip(rb, 0);
        ck_assert_int_eq(ping(a, ipb), 0);
        ck_assert_int_eq(ping(b, "10.232.1.1"), 0);

        /* host-local reads our leases: CHECK finds pod a, a new pod gets the next address (round robin from our
         * last_reserved_ip.0), and its DEL releases the file we wrote. */
        CniError e = {};
        ck_assert_int_eq(run(CNI_CMD_CHECK, hl, a, "mix-a", NULL, &e), 0);
        _cleanup_json_ json_t *rc = add_ok(hl, c, "mix-c");
        _cleanup_free_ char *ipc = pod_ip(rc, 0);
        ck_assert_str_eq(ipc, "10.232.1.4");
        ck_assert_int_eq(ping(c, ipa), 0);
        del_ok(hl, a, "mix-a");
        ck_assert(!file_exists("ipam/mixa", ipa));
        /* ... and we read host-local's. */
        del_ok(n, c, "mix-c");
        ck_assert(!file_exists("ipam/mixa", ipc));
        del_ok(n, b, "mix-b");
}
END_TEST

/* nodelet-bridge + host-local. */
START_TEST(test_nodelet_bridge_with_host_local) {
        _cleanup_(cni_network_freep) CniNetwork *n = network(
                "{\"cniVersion\":\"0.4.0\",\"name\":\"mixb\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"isDefaultGateway\":true,\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"@DIR@/ipam\","
                "\"subnet\":\"10.233.1.0/24\"}}]}");
        _cleanup_free_ char *a = netns_new(), *b = netns_new();
        _cleanup_json_ json_t *ra = add_ok(n, a, "hl-a"), *rb = add_ok(n, b, "hl-b");
        _cleanup_free_ char *ipa = pod_ip(ra, 0), *ipb = pod_ip(rb, 0);
        /* A 0.4.0 result carries ips[].version. */
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(ra, "ips"), 0), "version")),
                         "4");
        ck_assert_int_eq(ping(a, ipb), 0);
        ck_assert_int_eq(ping(b, ipa), 0);
        ck_assert_int_eq(test_system("ip netns exec %s ip route | grep -q 'default via 10.233.1.1'", netns_name(a)), 0);
        CniError e = {};
        ck_assert_int_eq(run(CNI_CMD_CHECK, n, b, "hl-b", NULL, &e), 0);
        del_ok(n, a, "hl-a");
        del_ok(n, b, "hl-b");
        del_ok(n, b, "hl-b");
        ck_assert(!file_exists("ipam/mixb", ipa));
        ck_assert(!file_exists("ipam/mixb", ipb));
}
END_TEST

typedef struct Pending {
        unsigned left;
        unsigned failed;
        char ips[64][64];
        CniError err;
        sd_event *event;
} Pending;

typedef struct Slot {
        Pending *p;
        unsigned i;
} Slot;

static void on_done(int r, const json_t *result, const CniError *err, void *userdata) {
        Slot *s = userdata;
        if (r < 0) {
                s->p->failed++;
                s->p->err = *err;
        } else if (result) {
                const char *a = json_string_value(
                        json_object_get(json_array_get(json_object_get(result, "ips"), 0), "address"));
                snprintf(s->p->ips[s->i], sizeof s->p->ips[s->i], "%s", strempty(a));
        }
        s->p->left--;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(a, b);
}

/* 50 ADDs at once on one event loop: distinct addresses, one bridge, then 50 DELs leave nothing. */
START_TEST(test_concurrent_adds) {
        enum { N = 50 };
        _cleanup_(cni_network_freep) CniNetwork *n = network(NODELET_NET);
        _cleanup_(sd_event_unrefp) sd_event *ev = NULL;
        _cleanup_(cni_runner_freep) CniRunner *runner = NULL;
        char *dirs[3], *ns[N], cid[N][32];
        Pending p = {};
        Slot slots[N];

        for (unsigned i = 0; i < N; i++)
                ns[i] = netns_new();
        ck_assert_int_eq(sd_event_new(&ev), 0);
        CniRunnerOptions o = options(dirs);
        ck_assert_int_eq(cni_runner_new(ev, &o, &runner), 0);
        p.event = ev;
        p.left = N;
        for (unsigned i = 0; i < N; i++) {
                snprintf(cid[i], sizeof cid[i], "conc-%u", i);
                slots[i] = (Slot){&p, i};
                CniRuntimeConf rt = {.container_id = cid[i], .netns = ns[i], .ifname = "eth0"};
                ck_assert_int_eq(cni_runner_start(runner, CNI_CMD_ADD, n, &rt, on_done, &slots[i]), 0);
        }
        while (p.left > 0)
                ck_assert_int_ge(sd_event_run(ev, UINT64_MAX), 0);
        ck_assert_msg(p.failed == 0, "%u ADDs failed, last: %d %s", p.failed, p.err.code, p.err.msg);
        qsort(p.ips, N, sizeof p.ips[0], cmp_str);
        for (unsigned i = 0; i < N; i++) {
                ck_assert_msg(startswith(p.ips[i], "10.231.1."), "%s", p.ips[i]);
                if (i > 0)
                        ck_assert_msg(!streq(p.ips[i], p.ips[i - 1]), "address %s given twice", p.ips[i]);
        }
        ck_assert_int_eq(test_system("test $(ls %s/ipam/tnet | grep -c '^10\\.231') -eq %d", tmp, N), 0);
        ck_assert_int_eq(test_system("test $(ip link show master %s | grep -c veth) -eq %d", bridge, N), 0);

        p.left = N;
        for (unsigned i = 0; i < N; i++) {
                CniRuntimeConf rt = {.container_id = cid[i], .netns = ns[i], .ifname = "eth0"};
                ck_assert_int_eq(cni_runner_start(runner, CNI_CMD_DEL, n, &rt, on_done, &slots[i]), 0);
        }
        while (p.left > 0)
                ck_assert_int_ge(sd_event_run(ev, UINT64_MAX), 0);
        ck_assert_msg(p.failed == 0, "%u DELs failed, last: %d %s", p.failed, p.err.code, p.err.msg);
        ck_assert_int_eq(test_system("test $(ls %s/ipam/tnet | grep -c '^10\\.231') -eq 0", tmp), 0);
        ck_assert_int_eq(test_system("test $(ip link show master %s | grep -c veth) -eq 0", bridge), 0);
        for (unsigned i = 0; i < N; i++)
                free(ns[i]);
        free(dirs[0]);
}
END_TEST

/* hostPort through the reference portmap plugin, from a client in another namespace. */
START_TEST(test_portmap_hostport) {
        test_require_program("curl");
        _cleanup_(cni_network_freep) CniNetwork *n = network(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"pm\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"isGateway\":true,\"ipMasq\":true,\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":"
                "\"@DIR@/ipam\",\"ranges\":[[{\"subnet\":\"10.234.1.0/24\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}},"
                "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
        _cleanup_free_ char *pod = netns_new(), *client = netns_new();
        _cleanup_json_ json_t *caps =
                json_loads("{\"portMappings\":[{\"hostPort\":18080,\"containerPort\":8080,\"protocol\":\"tcp\"}],"
                           "\"bandwidth\":{\"ingressRate\":1000000}}",
                           0, NULL);
        char *dirs[3];
        CniRunnerOptions o = options(dirs);
        CniRuntimeConf rt = {.container_id = "pm-pod", .netns = pod, .ifname = "eth0", .capability_args = caps};
        _cleanup_json_ json_t *res = NULL;
        CniError e = {};
        int r = cni_run_sync(&o, CNI_CMD_ADD, n, &rt, &res, &e);
        ck_assert_msg(r == 0, "ADD: %d %s", e.code, e.msg);
        _cleanup_free_ char *ip = pod_ip(res, 0);

        /* The cache records the capability arguments, like libcni. */
        ck_assert_int_eq(test_system("grep -q '\"hostPort\":18080' %s/cache/results/pm-pm-pod-eth0", tmp), 0);

        /* client ── veth ── test host (10.235.1.1) ── DNAT :18080 → pod:8080 */
        ck_assert_int_eq(test_system("ip link add tcnic%d type veth peer name eth0 netns %s", (int) getpid(),
                                     netns_name(client)),
                         0);
        ck_assert_int_eq(test_system("ip addr add 10.235.1.1/30 dev tcnic%d && ip link set tcnic%d up", (int) getpid(),
                                     (int) getpid()),
                         0);
        ck_assert_int_eq(test_system("ip netns exec %s sh -c 'ip addr add 10.235.1.2/30 dev eth0 && ip link set eth0 "
                                     "up && ip link set lo up'",
                                     netns_name(client)),
                         0);
        _cleanup_free_ char *www = NULL;
        ck_assert_int_ge(asprintf(&www, "%s/www", tmp), 0);
        ck_assert_int_eq(mkdir_p(www, 0755), 0);
        ck_assert_int_eq(test_system("echo hello-from-pod > %s/index.html", www), 0);
        pid_t server = fork();
        ck_assert_int_ge(server, 0);
        if (server == 0) {
                execlp("ip", "ip", "netns", "exec", netns_name(pod), "busybox", "httpd", "-f", "-p", "8080", "-h", www,
                       (char *) NULL);
                _exit(127);
        }
        int ok = 1;
        for (int i = 0; i < 100 && ok != 0; i++) {
                ok = test_system("ip netns exec %s curl -sf --max-time 2 http://10.235.1.1:18080/index.html | grep -q "
                                 "hello-from-pod",
                                 netns_name(client));
                if (ok != 0)
                        usleep(100 * 1000);
        }
        (void) kill(server, SIGTERM);
        (void) waitpid(server, NULL, 0);
        ck_assert_msg(ok == 0, "hostPort 18080 did not reach the pod at %s:8080", ip);

        r = cni_run_sync(&o, CNI_CMD_DEL, n, &rt, NULL, &e);
        ck_assert_msg(r == 0, "DEL: %d %s", e.code, e.msg);
        free(dirs[0]);
}
END_TEST

START_TEST(test_bad_configs) {
        _cleanup_free_ char *a = netns_new(), *b = netns_new();
        CniError e = {};
        int r;

        /* Unknown plugin in the chain: named in the error; the whole chain was rolled back. */
        _cleanup_(cni_network_freep) CniNetwork *unknown = network(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"bad1\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":\"@DIR@/ipam\",\"ranges\":[[{"
                "\"subnet\":\"10.236.1.0/24\"}]]}},{\"type\":\"no-such-plugin\"}]}");
        r = run(CNI_CMD_ADD, unknown, a, "bad-1", NULL, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_int_eq(e.code, 7);
        ck_assert_msg(strstr(e.msg, "no-such-plugin"), "%s", e.msg);
        ck_assert_int_ne(test_system("ip netns exec %s ip link show eth0 >/dev/null 2>&1", netns_name(a)), 0);
        ck_assert_int_eq(test_system("test -z \"$(ls %s/ipam/bad1 | grep '^10')\"", tmp), 0);
        ck_assert(!file_exists("cache/results", "bad1-bad-1-eth0"));

        /* Unknown IPAM plugin and overlapping ranges: rejected before the bridge even exists. */
        (void) test_system("ip link del %s 2>/dev/null", bridge);
        _cleanup_(cni_network_freep) CniNetwork *noipam = network(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"bad2\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"ipam\":{\"type\":\"no-such-ipam\"}}]}");
        e = (CniError){};
        ck_assert_int_lt(run(CNI_CMD_ADD, noipam, a, "bad-2", NULL, &e), 0);
        ck_assert_int_eq(e.code, 7);
        ck_assert_msg(strstr(e.msg, "no-such-ipam"), "%s", e.msg);
        _cleanup_(cni_network_freep) CniNetwork *overlap = network(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"bad3\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":\"@DIR@/ipam\",\"ranges\":["
                "[{\"subnet\":\"10.236.0.0/16\"}],[{\"subnet\":\"10.236.7.0/24\"}]]}}]}");
        e = (CniError){};
        ck_assert_int_lt(run(CNI_CMD_ADD, overlap, a, "bad-3", NULL, &e), 0);
        ck_assert_int_eq(e.code, 7);
        ck_assert_msg(strstr(e.msg, "overlaps"), "%s", e.msg);
        ck_assert_int_ne(test_system("ip link show %s >/dev/null 2>&1", bridge), 0);

        /* Exhausted range: a /30 has one address besides the gateway. The second pod gets error 11 and no
         * interface, and no veth of it stays on the bridge. */
        _cleanup_(cni_network_freep) CniNetwork *tiny = network(
                "{\"cniVersion\":\"1.0.0\",\"name\":\"bad4\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"isGateway\":true,\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":\"@DIR@/ipam\","
                "\"ranges\":[[{\"subnet\":\"10.236.9.0/30\"}]]}}]}");
        _cleanup_json_ json_t *ra = add_ok(tiny, a, "tiny-a");
        _cleanup_free_ char *ipa = pod_ip(ra, 0);
        ck_assert_str_eq(ipa, "10.236.9.2");
        e = (CniError){};
        ck_assert_int_lt(run(CNI_CMD_ADD, tiny, b, "tiny-b", NULL, &e), 0);
        ck_assert_int_eq(e.code, 11);
        ck_assert_msg(strstr(e.msg, "no IP addresses available"), "%s", e.msg);
        ck_assert_int_ne(test_system("ip netns exec %s ip link show eth0 >/dev/null 2>&1", netns_name(b)), 0);
        ck_assert_int_eq(test_system("test $(ip link show master %s | grep -c veth) -eq 1", bridge), 0);

        /* A configuration version the plugin does not speak. */
        _cleanup_(cni_network_freep) CniNetwork *ver =
                network("{\"cniVersion\":\"0.2.0\",\"name\":\"bad5\",\"plugins\":[{\"type\":\"nodelet-bridge\"}]}");
        e = (CniError){};
        ck_assert_int_lt(run(CNI_CMD_ADD, ver, b, "bad-5", NULL, &e), 0);
        ck_assert_int_eq(e.code, 1);
        del_ok(tiny, a, "tiny-a");
}
END_TEST

/* GC and STATUS (1.1.0): leases and masquerade rules of attachments that are not valid any more go away. */
START_TEST(test_gc_status) {
        _cleanup_(cni_network_freep) CniNetwork *n = network(
                "{\"cniVersion\":\"1.1.0\",\"name\":\"gcnet\",\"plugins\":[{\"type\":\"nodelet-bridge\",\"bridge\":"
                "\"@BRIDGE@\",\"isGateway\":true,\"ipMasq\":true,\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":"
                "\"@DIR@/ipam\",\"ranges\":[[{\"subnet\":\"10.237.1.0/24\"}]]}}]}");
        _cleanup_free_ char *a = netns_new(), *b = netns_new();
        _cleanup_json_ json_t *ra = add_ok(n, a, "gc-a"), *rb = add_ok(n, b, "gc-b");
        _cleanup_free_ char *ipa = pod_ip(ra, 0), *ipb = pod_ip(rb, 0);
        _cleanup_json_ json_t *valid = json_loads("[{\"containerID\":\"gc-a\",\"ifname\":\"eth0\"}]", 0, NULL);
        char *dirs[3];
        CniRunnerOptions o = options(dirs);
        CniRuntimeConf rt = {.valid_attachments = valid};
        CniError e = {};
        int r = cni_run_sync(&o, CNI_CMD_STATUS, n, &rt, NULL, &e);
        ck_assert_msg(r == 0, "STATUS: %d %s", e.code, e.msg);
        r = cni_run_sync(&o, CNI_CMD_GC, n, &rt, NULL, &e);
        ck_assert_msg(r == 0, "GC: %d %s", e.code, e.msg);
        ck_assert(file_exists("ipam/gcnet", ipa));
        ck_assert(!file_exists("ipam/gcnet", ipb));
        ck_assert_int_eq(test_system("nft list table ip nodelet-cni | grep -q 'gc-a'"), 0);
        ck_assert_int_ne(test_system("nft list table ip nodelet-cni | grep -q 'gc-b'"), 0);
        /* The runner dropped gc-b's cached result, like libcni. */
        ck_assert(file_exists("cache/results", "gcnet-gc-a-eth0"));
        ck_assert(!file_exists("cache/results", "gcnet-gc-b-eth0"));
        free(dirs[0]);
        del_ok(n, a, "gc-a");
        del_ok(n, b, "gc-b");
}
END_TEST

/* nodeletctl cni add/check/del/gc against a conf dir, as an operator would run it. */
START_TEST(test_ctl) {
        _cleanup_free_ char *ns = netns_new(), *confdir = NULL, *cache = NULL, *bin = bin_dir(), *conf = NULL;
        ck_assert_int_ge(asprintf(&confdir, "%s/net.d", tmp), 0);
        ck_assert_int_ge(asprintf(&cache, "%s/cache", tmp), 0);
        ck_assert_int_eq(mkdir_p(confdir, 0755), 0);
        ck_assert_int_ge(asprintf(&conf, "%s/10-ctl.conflist", confdir), 0);
        char *tmpl = NULL;
        ck_assert_int_ge(asprintf(&tmpl,
                                  "{\"cniVersion\":\"1.1.0\",\"name\":\"ctl\",\"plugins\":[{\"type\":"
                                  "\"nodelet-bridge\",\"bridge\":\"%s\",\"isGateway\":true,\"ipam\":{\"type\":"
                                  "\"nodelet-ipam\",\"dataDir\":\"%s/ipam\",\"ranges\":[[{\"subnet\":"
                                  "\"10.238.1.0/24\"}]]}}]}",
                                  bridge, tmp),
                         0);
        ck_assert_int_eq(write_file_atomic(conf, tmpl, strlen(tmpl), 0644, false), 0);
        free(tmpl);

        /* getopt permutes argv: a fresh vector for every call. */
#define CTL(verb, ...)                                                                                                 \
        ({                                                                                                             \
                char *_v[] = {(char *) "cni",                                                                          \
                              (char *) (verb),                                                                         \
                              (char *) "--conf-dir",                                                                   \
                              confdir,                                                                                 \
                              (char *) "--bin-dir",                                                                    \
                              bin,                                                                                     \
                              (char *) "--bin-dir",                                                                    \
                              (char *) "/usr/lib/cni",                                                                 \
                              (char *) "--cache-dir",                                                                  \
                              cache,                                                                                   \
                              __VA_ARGS__,                                                                             \
                              NULL};                                                                                   \
                cni_ctl_main((int) ELEMENTSOF(_v) - 1, _v);                                                            \
        })
        ck_assert_int_eq(CTL("add", (char *) "--port-mapping", (char *) "18081:80/tcp", ns, (char *) "ctl-1"), 0);
        ck_assert(file_exists("ipam/ctl", "10.238.1.2"));
        ck_assert_int_eq(test_system("grep -q '\"hostPort\":18081' %s/results/ctl-ctl-1-eth0", cache), 0);
        ck_assert_int_eq(CTL("check", ns, (char *) "ctl-1"), 0);
        ck_assert_int_eq(CTL("gc", (char *) "ctl-1:eth0"), 0);
        ck_assert(file_exists("ipam/ctl", "10.238.1.2"));
        ck_assert_int_eq(CTL("del", ns, (char *) "ctl-1"), 0);
        ck_assert(!file_exists("ipam/ctl", "10.238.1.2"));
        ck_assert_int_eq(CTL("del", ns, (char *) "ctl-1"), 0);
#undef CTL
        /* Wrong usage is an error, not a crash. */
        char *bad[] = {(char *) "cni", (char *) "add", ns, NULL};
        ck_assert_int_eq(cni_ctl_main((int) ELEMENTSOF(bad) - 1, bad), 2);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("cni-chain");
        TCase *tc = tcase_create("chain");
        tcase_set_timeout(tc, 240);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_nodelet_chain_two_pods);
        tcase_add_test(tc, test_check_detects_deleted_veth);
        tcase_add_test(tc, test_del_then_add_same_netns);
        tcase_add_test(tc, test_detached_delete_errors);
        tcase_add_test(tc, test_reference_bridge_with_nodelet_ipam);
        tcase_add_test(tc, test_nodelet_bridge_with_host_local);
        tcase_add_test(tc, test_concurrent_adds);
        tcase_add_test(tc, test_portmap_hostport);
        tcase_add_test(tc, test_bad_configs);
        tcase_add_test(tc, test_gc_status);
        tcase_add_test(tc, test_ctl);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        test_require_root();
        test_require_program("ip");
        test_require_program("busybox");
        test_require_program("nft");
        if (access("/usr/lib/cni/bridge", X_OK) < 0 || access("/usr/lib/cni/host-local", X_OK) < 0 ||
            access("/usr/lib/cni/portmap", X_OK) < 0) {
                fprintf(stderr, "SKIP: containernetworking-plugins are not installed in /usr/lib/cni\n");
                return TEST_SKIP;
        }
        suite_pid = getpid();
        int r = test_run_suite(suite());
        /* Sweep namespaces a failed test could not remove (a failing check ends the child before teardown). */
        (void) test_system("ip netns list | awk '{print $1}' | grep '^test-cni-%d-' | xargs -r -n1 ip netns del",
                           (int) suite_pid);
        return r;
}
