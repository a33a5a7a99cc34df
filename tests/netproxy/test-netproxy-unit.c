/* SPDX-License-Identifier: Apache-2.0 */
/* netproxy without a kernel: object parsing (real API server objects as vectors), bad objects, the desired state
 * (what kube-proxy would program) and the incremental diff that a sync would send (dry-run batches). One test needs
 * the kernel (a refused transaction) and runs as test-netproxy-sync-failure. */

#include <sched.h>
#include <stdio.h>

#include "common/json-util.h"
#include "common/yaml.h"
#include "netproxy/netproxy.h"
#include "tests/lib/testlib.h"

/* Real kube-apiserver v1.26 responses (the workplace's capture, managedFields removed), in fixtures/. */
static json_t *vector(const char *name) {
        char path[512];
        json_t *j = NULL;
        ErrorBuf e = {};
        snprintf(path, sizeof(path), "%s/tests/netproxy/fixtures/%s", test_source_dir(), name);
        int r = jx_load_file(path, &j, &e);
        ck_assert_msg(r == 0, "%s: %s", path, error_message(&e, r));
        return j;
}

static json_t *yaml(const char *text) {
        json_t *j = NULL;
        ErrorBuf e = {};
        int r = yaml_parse(text, strlen(text), "test", &j, &e);
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
        return j;
}

START_TEST(test_parse_api_service) {
        _cleanup_json_ json_t *j = vector("service-web.json");
        _cleanup_(service_freep) Service *s = NULL;
        ErrorBuf e = {};
        char buf[IN_ADDR_STRLEN];
        ck_assert_int_eq(service_parse(j, &s, &e), 0);
        ck_assert_str_eq(s->key, "default/web");
        ck_assert_int_eq(s->type, SERVICE_CLUSTER_IP);
        ck_assert_uint_eq(s->n_cluster_ips, 1);
        ck_assert_str_eq(in_addr_format(&s->cluster_ips[0], buf), "10.96.72.165");
        ck_assert_uint_eq(s->n_ports, 1);
        ck_assert_str_eq(s->ports[0].name, "http");
        ck_assert_int_eq(s->ports[0].proto, PROTO_TCP);
        ck_assert_uint_eq(s->ports[0].port, 80);
        ck_assert(!s->affinity);
}
END_TEST

START_TEST(test_parse_api_slices) {
        _cleanup_json_ json_t *j = vector("endpointslice-list-terminating.json");
        _cleanup_(endpoint_slice_freep) EndpointSlice *s = NULL;
        ErrorBuf e = {};
        json_t *item = json_array_get(json_object_get(j, "items"), 0);
        json_object_set_new(item, "kind", json_string("EndpointSlice"));
        ck_assert_int_eq(endpoint_slice_parse(item, &s, &e), 0);
        ck_assert_str_eq(s->service_name, "web");
        ck_assert_int_eq(s->family, AF_INET);
        ck_assert_uint_eq(s->n_endpoints, 1);
        ck_assert(!s->endpoints[0].ready);
        ck_assert(s->endpoints[0].serving);
        ck_assert(s->endpoints[0].terminating);
        ck_assert_str_eq(s->endpoints[0].node_name, "node1");
        ck_assert_uint_eq(s->n_ports, 1);
        ck_assert_str_eq(s->ports[0].name, "http");
}
END_TEST

START_TEST(test_parse_defaults) {
        _cleanup_json_ json_t *j = yaml("kind: Service\nmetadata: {name: a}\nspec:\n  clusterIP: None\n"
                                        "  sessionAffinity: ClientIP\n  ports: [{port: 53, protocol: UDP}]\n"
                                        "status: {loadBalancer: {ingress: [{ip: 1.2.3.4, ipMode: Proxy}, "
                                        "{ip: 1.2.3.5}]}}\n");
        _cleanup_(service_freep) Service *s = NULL;
        ck_assert_int_eq(service_parse(j, &s, NULL), 0);
        ck_assert_str_eq(s->key, "default/a");
        ck_assert_uint_eq(s->n_cluster_ips, 0); /* headless */
        ck_assert(s->affinity);
        ck_assert_uint_eq(s->affinity_timeout, 10800);
        ck_assert_str_eq(s->ports[0].name, "");
        ck_assert_int_eq(s->ports[0].proto, PROTO_UDP);
        ck_assert_uint_eq(s->n_lb_ips, 1); /* ipMode Proxy is not captured */

        _cleanup_json_ json_t *k = yaml("kind: EndpointSlice\nmetadata: {name: a-1, labels: "
                                        "{kubernetes.io/service-name: a}}\naddressType: IPv6\n"
                                        "endpoints: [{addresses: ['fd00::1']}]\nports: [{port: 5353}]\n");
        _cleanup_(endpoint_slice_freep) EndpointSlice *es = NULL;
        ck_assert_int_eq(endpoint_slice_parse(k, &es, NULL), 0);
        ck_assert(es->endpoints[0].ready && es->endpoints[0].serving && !es->endpoints[0].terminating);
        ck_assert_int_eq(es->ports[0].proto, PROTO_TCP);
}
END_TEST

static void assert_bad(const char *text, const char *msg) {
        _cleanup_json_ json_t *j = yaml(text);
        _cleanup_(netproxy_freep) NetProxy *np = NULL;
        NetProxyConfig cfg = {.dry_run = true};
        ErrorBuf e = {};
        ck_assert_int_eq(netproxy_new(&cfg, &np), 0);
        int r = netproxy_update_object(np, j, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(error_message(&e, r), msg), "got \"%s\", want \"%s\"", error_message(&e, r), msg);
}

START_TEST(test_bad_objects) {
        assert_bad("kind: Service\nmetadata: {name: x, namespace: ns}\nspec: {ports: [{port: 0}]}",
                   "Service ns/x: spec.ports[0].port");
        assert_bad("kind: Service\nmetadata: {name: x}\nspec: {clusterIP: 10.0.0.300, ports: [{port: 1}]}",
                   "Service default/x: spec.clusterIP[0]: invalid IP address");
        assert_bad("kind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1, protocol: ICMP}]}",
                   "Service default/x: spec.ports[0].protocol: unsupported protocol");
        assert_bad("kind: Service\nmetadata: {name: x}\nspec: {type: Weird}", "Service default/x: spec.type");
        assert_bad("kind: Service\nmetadata: {name: x}\nspec: {loadBalancerSourceRanges: [10.0.0.0/8, 10.0.0.0/33]}",
                   "Service default/x: spec.loadBalancerSourceRanges[1]: invalid CIDR \"10.0.0.0/33\"");
        /* digits only after the slash, like net.ParseCIDR */
        assert_bad("kind: Service\nmetadata: {name: x}\nspec: {loadBalancerSourceRanges: ['10.0.0.0/+8']}",
                   "spec.loadBalancerSourceRanges[0]: invalid CIDR \"10.0.0.0/+8\"");
        assert_bad("kind: Service\nmetadata: {name: x}\nspec: {loadBalancerSourceRanges: [[10.0.0.0/8]]}",
                   "spec.loadBalancerSourceRanges[0]: expected a string");
        assert_bad("kind: Service\nmetadata: {namespace: a}\nspec: {}", "metadata.name");
        assert_bad("kind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n",
                   "EndpointSlice default/s: metadata.labels: missing kubernetes.io/service-name");
        assert_bad("kind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\n"
                   "addressType: IPv4\nendpoints: [{addresses: ['fd00::1']}]\n",
                   "EndpointSlice default/s: endpoints[0].addresses[0]: address family");
        assert_bad("kind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\n"
                   "addressType: IPv4\nendpoints: [{addresses: [1.2.3.4], conditions: {ready: maybe}}]\n",
                   "EndpointSlice default/s: endpoints[0].conditions.ready");
        /* the bad value is in the message */
        assert_bad("kind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\n"
                   "addressType: IPv4\nendpoints: [{addresses: [10.0.0.256]}]\n",
                   "EndpointSlice default/s: endpoints[0].addresses[0]: invalid IP address \"10.0.0.256\"");
        assert_bad("kind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\n"
                   "addressType: IPv4\nendpoints: [{addresses: ['fd00::1']}]\n",
                   "address family of \"fd00::1\" does not match addressType IPv4");
        assert_bad("kind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\n"
                   "addressType: IPv4\nendpoints: [{addresses: []}]\n",
                   "endpoints[0].addresses: at least one address is required");
}
END_TEST

/* ---- desired state and diffs ---- */

static NetProxy *proxy(bool masq_all) {
        static InAddr node[1];
        NetProxy *np = NULL;
        NetProxyConfig cfg = {.dry_run = true, .hostname = "node1", .masquerade_all = masq_all};
        ck_assert_int_eq(in_addr_parse("192.168.1.10", 0, &node[0]), 0);
        cfg.nodeport_addresses = node;
        cfg.n_nodeport_addresses = 1;
        ck_assert_int_eq(netproxy_new(&cfg, &np), 0);
        return np;
}

static int feed(NetProxy *np, const char *text) {
        _cleanup_json_ json_t *docs = NULL;
        ErrorBuf e = {};
        int r = yaml_parse_documents(text, strlen(text), "test", &docs, &e), changed = 0;
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
        size_t i;
        json_t *d;
        json_array_foreach (docs, i, d) {
                r = netproxy_update_object(np, d, &e);
                ck_assert_msg(r >= 0, "%s", error_message(&e, r));
                changed += r;
        }
        return changed;
}

static char *describe(NetProxy *np) {
        char *s = NULL;
        ck_assert_int_eq(netproxy_describe(np, &s), 0);
        return s;
}

#define assert_has(np, line)                                                                                           \
        do {                                                                                                           \
                _cleanup_free_ char *_d = describe(np);                                                                \
                ck_assert_msg(strstr(_d, line "\n"), "missing \"%s\" in:\n%s", line, _d);                              \
        } while (0)
#define assert_lacks(np, line)                                                                                         \
        do {                                                                                                           \
                _cleanup_free_ char *_d = describe(np);                                                                \
                ck_assert_msg(!strstr(_d, line), "unexpected \"%s\" in:\n%s", line, _d);                               \
        } while (0)

static const char *web_svc = "kind: Service\nmetadata: {name: web}\n"
                             "spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: http}]}\n";

static char *slice(const char *name, const char *eps) {
        char *s = NULL;
        ck_assert_int_ge(asprintf(&s,
                                  "kind: EndpointSlice\nmetadata: {name: %s, labels: {kubernetes.io/service-name: "
                                  "web}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints: [%s]\n",
                                  name, eps),
                         0);
        return s;
}

START_TEST(test_sync_waits_for_both_kinds) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        _cleanup_free_ char *sl = slice("web-1", "{addresses: [10.244.1.2]}");
        feed(np, web_svc);
        feed(np, sl);
        ck_assert_int_eq(netproxy_sync(np), 0);
        netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES);
        ck_assert_int_eq(netproxy_sync(np), 0);
        netproxy_set_synced(np, NETPROXY_SYNCED_ENDPOINT_SLICES);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(netproxy_metrics(np)->last_sync_full);
        ck_assert_int_eq(netproxy_sync(np), 0); /* nothing changed */
}
END_TEST

START_TEST(test_incremental_diff) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        _cleanup_free_ char *s1 = slice("web-1", "{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}, "
                                                 "{addresses: [10.244.1.4]}");
        _cleanup_free_ char *s2 = slice("web-1", "{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}, "
                                                 "{addresses: [10.244.1.5]}");
        _cleanup_free_ char *s3 = slice("web-1", "");
        const NetProxyMetrics *m = netproxy_metrics(np);
        netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
        feed(np, web_svc);
        feed(np, s1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        /* frontend + 3 buckets + cluster IP + 3 hairpin pairs */
        ck_assert_uint_eq(m->last_elements_added, 8);
        ck_assert_uint_eq(m->elements, 8);
        assert_has(np, "ip frontends 10.96.0.10 . tcp . 80 : goto lb-3");
        assert_has(np, "ip ep-tcp 10.96.0.10 . 80 . 2 : 10.244.1.4 . 8080");

        /* the same objects again change nothing */
        ck_assert_int_eq(feed(np, web_svc), 0);
        ck_assert_int_eq(feed(np, s1), 0);
        ck_assert_int_eq(netproxy_sync(np), 0);

        /* one endpoint replaced: one bucket rewritten, one hairpin pair swapped, nothing else */
        ck_assert_int_eq(feed(np, s2), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(!m->last_sync_full);
        ck_assert_uint_eq(m->last_elements_deleted, 2);
        ck_assert_uint_eq(m->last_elements_added, 2);
        ck_assert_uint_eq(m->last_chains_changed, 0);
        assert_has(np, "ip ep-tcp 10.96.0.10 . 80 . 2 : 10.244.1.5 . 8080");

        /* no endpoints left: the frontend moves to no-endpoints (REJECT) and lb-3 goes away */
        feed(np, s3);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(m->last_elements_deleted, 7);
        ck_assert_uint_eq(m->last_elements_added, 1);
        ck_assert_uint_eq(m->last_chains_changed, 1);
        assert_has(np, "ip no-endpoints 10.96.0.10 . tcp . 80 : goto reject-chain");
        assert_lacks(np, "chain lb-3");

        /* Service deleted: everything it contributed goes */
        ck_assert_int_eq(netproxy_delete_object(np, "Service", "default", "web"), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(m->elements, 0);
        ck_assert_uint_eq(m->partial_syncs, 3);
        ck_assert_uint_eq(m->full_syncs, 1);
}
END_TEST

/* A transaction the kernel refuses: the tables are deleted behind netproxy's back, so the partial sync that adds the
 * new endpoint's elements to them fails (ENOENT). The mirror no longer matches the kernel: the next sync must be a
 * full rebuild, and it must bring the tables back. Needs nf_tables, so it runs as its own privileged test
 * (test-netproxy-sync-failure) in a network namespace of its own: the forked test process is its only member. */
START_TEST(test_failed_sync_goes_full) {
        if (unshare(CLONE_NEWNET) < 0)
                ck_abort_msg("unshare(CLONE_NEWNET): %m");
        NetProxyConfig cfg = {.hostname = "node1"};
        _cleanup_(netproxy_freep) NetProxy *np = NULL;
        ck_assert_int_eq(netproxy_new(&cfg, &np), 0);
        const NetProxyMetrics *m = netproxy_metrics(np);
        _cleanup_free_ char *s1 = slice("web-1", "{addresses: [10.244.1.2]}");
        _cleanup_free_ char *s2 = slice("web-1", "{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}");

        netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
        feed(np, web_svc);
        feed(np, s1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(m->full_syncs, 1);
        ck_assert_int_eq(test_system("nft list table ip nodelet >/dev/null"), 0);

        ck_assert_int_eq(netproxy_cleanup(NULL), 0);
        ck_assert_int_eq(feed(np, s2), 1);
        int r = netproxy_sync(np);
        ck_assert_msg(r < 0, "the sync into deleted tables succeeded: %d", r);
        ck_assert_uint_eq(m->sync_failures, 1);
        ck_assert_uint_eq(m->partial_syncs, 0);

        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(m->last_sync_full);
        ck_assert_uint_eq(m->full_syncs, 2);
        ck_assert_uint_eq(m->partial_syncs, 0);
        ck_assert_int_eq(test_system("nft list table ip nodelet | grep -q 10.244.1.3"), 0);
}
END_TEST

START_TEST(test_terminating_fallback) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        _cleanup_free_ char *s = slice("web-1", "{addresses: [10.244.1.2], conditions: {ready: false, serving: true, "
                                                "terminating: true}}, {addresses: [10.244.1.3], conditions: "
                                                "{ready: false, serving: false, terminating: true}}");
        feed(np, web_svc);
        feed(np, s);
        /* no ready endpoint: the serving+terminating one is used, the non-serving one never */
        assert_has(np, "ip frontends 10.96.0.10 . tcp . 80 : goto lb-1");
        assert_has(np, "ip ep-tcp 10.96.0.10 . 80 . 0 : 10.244.1.2 . 8080");
        assert_lacks(np, "10.244.1.3 . 8080");
}
END_TEST

START_TEST(test_named_ports_and_protocols) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        feed(np, "kind: Service\nmetadata: {name: dns}\nspec:\n  clusterIP: 10.96.0.53\n  ports:\n"
                 "  - {name: dns, port: 53, protocol: UDP, targetPort: dns}\n"
                 "  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: dns-tcp}\n"
                 "  - {name: sctp, port: 9, protocol: SCTP}\n---\n"
                 "kind: EndpointSlice\nmetadata: {name: dns-1, labels: {kubernetes.io/service-name: dns}}\n"
                 "addressType: IPv4\nendpoints: [{addresses: [10.244.1.9]}]\n"
                 "ports: [{name: dns, port: 5353, protocol: UDP}, {name: dns-tcp, port: 5354, protocol: TCP}, "
                 "{name: sctp, port: 99, protocol: SCTP}]\n");
        assert_has(np, "ip ep-udp 10.96.0.53 . 53 . 0 : 10.244.1.9 . 5353");
        assert_has(np, "ip ep-tcp 10.96.0.53 . 53 . 0 : 10.244.1.9 . 5354");
        assert_has(np, "ip ep-sctp 10.96.0.53 . 9 . 0 : 10.244.1.9 . 99");
        assert_has(np, "ip frontends 10.96.0.53 . udp . 53 : goto lb-1");
        assert_has(np, "ip frontends 10.96.0.53 . sctp . 9 : goto lb-1");
}
END_TEST

START_TEST(test_external_policies) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        feed(np, "kind: Service\nmetadata: {name: web}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.10\n"
                 "  externalIPs: [203.0.113.7]\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 32000\n"
                 "  ports: [{name: http, port: 80, nodePort: 30080}]\nstatus: {loadBalancer: {ingress: "
                 "[{ip: 198.51.100.1}]}}\n---\n"
                 "kind: EndpointSlice\nmetadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
                 "endpoints: [{addresses: [10.244.1.2], nodeName: node1}, {addresses: [10.244.2.2], nodeName: "
                 "node2}]\n");
        /* internal: both endpoints, no masquerade; external: only the local one, client address kept (lb) */
        assert_has(np, "ip frontends 10.96.0.10 . tcp . 80 : goto lb-2");
        assert_has(np, "ip frontends 192.168.1.10 . tcp . 30080 : goto lb-1");
        assert_has(np, "ip frontends 203.0.113.7 . tcp . 80 : goto lb-1");
        assert_has(np, "ip frontends 198.51.100.1 . tcp . 80 : goto lb-1");
        assert_has(np, "ip ep-tcp 192.168.1.10 . 30080 . 0 : 10.244.1.2 . 8080");
        ck_assert_int_eq(netproxy_local_endpoints(np, "default", "web"), 1);
        /* pods and the node itself still reach both endpoints through external addresses (short-circuit) */
        assert_has(np, "ip short-circuit 192.168.1.10 . tcp . 30080 : goto lbx-2");
        assert_has(np, "ip short-circuit-masq 192.168.1.10 . tcp . 30080 : goto lbxm-2");
        assert_has(np, "ip ep-tcp 192.168.1.10 . 30080 . 65537 : 10.244.2.2 . 8080");
        assert_has(np, "ip short-circuit 198.51.100.1 . tcp . 80 : goto lbx-2");

        /* the local endpoint goes: external traffic is dropped (others exist), internal still served */
        feed(np, "kind: EndpointSlice\nmetadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
                 "endpoints: [{addresses: [10.244.2.2], nodeName: node2}]\n");
        assert_has(np, "ip no-endpoints 192.168.1.10 . tcp . 30080 : drop");
        assert_has(np, "ip frontends 10.96.0.10 . tcp . 80 : goto lb-1");
        ck_assert_int_eq(netproxy_local_endpoints(np, "default", "web"), 0);

        /* policy Cluster: external traffic is masqueraded (lbm) */
        feed(np, "kind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  clusterIP: 10.96.0.10\n"
                 "  ports: [{name: http, port: 80, nodePort: 30080}]\n");
        assert_has(np, "ip frontends 192.168.1.10 . tcp . 30080 : goto lbm-1");
        assert_lacks(np, "203.0.113.7");
}
END_TEST

START_TEST(test_internal_local_and_masquerade_all) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(true);
        feed(np, "kind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.10\n"
                 "  internalTrafficPolicy: Local\n  ports: [{name: http, port: 80}]\n---\n"
                 "kind: EndpointSlice\nmetadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
                 "endpoints: [{addresses: [10.244.1.2], nodeName: node1}, {addresses: [10.244.2.2], nodeName: "
                 "node2}]\n");
        assert_has(np, "ip frontends 10.96.0.10 . tcp . 80 : goto lbm-1");
        assert_has(np, "ip ep-tcp 10.96.0.10 . 80 . 0 : 10.244.1.2 . 8080");
        assert_lacks(np, "10.244.2.2 . 8080");
}
END_TEST

START_TEST(test_affinity_and_ipv6) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        feed(np, "kind: Service\nmetadata: {name: web}\nspec:\n  clusterIPs: [10.96.0.10, 'fd00:96::10']\n"
                 "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"
                 "  ports: [{name: http, port: 80}]\n---\n"
                 "kind: EndpointSlice\nmetadata: {name: web-6, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv6\nports: [{name: http, port: 8080}]\n"
                 "endpoints: [{addresses: ['fd00:244::2']}, {addresses: ['fd00:244::3']}]\n");
        _cleanup_free_ char *d = describe(np);
        ck_assert_msg(strstr(d, "ip6 chain aff-") && strstr(d, "affinity timeout 60 fd00:244::2.8080 fd00:244::3.8080"),
                      "%s", d);
        ck_assert_msg(strstr(d, "ip6 frontends fd00:96::10 . tcp . 80 : goto aff-"), "%s", d);
        /* no IPv4 endpoints: the IPv4 ClusterIP rejects */
        assert_has(np, "ip no-endpoints 10.96.0.10 . tcp . 80 : goto reject-chain");
        netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
        ck_assert_int_eq(netproxy_sync(np), 1);
        /* an endpoint change rewrites the affinity chain, not the frontend element */
        feed(np, "kind: EndpointSlice\nmetadata: {name: web-6, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv6\nports: [{name: http, port: 8080}]\n"
                 "endpoints: [{addresses: ['fd00:244::2']}]\n");
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(netproxy_metrics(np)->last_chains_changed, 1);
        ck_assert_uint_eq(netproxy_metrics(np)->last_elements_added, 0);
        ck_assert_uint_eq(netproxy_metrics(np)->last_elements_deleted, 1); /* hairpin pair */
}
END_TEST

START_TEST(test_load_balancer_source_ranges) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        feed(np, "kind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.20\n"
                 "  loadBalancerSourceRanges: [192.168.77.0/24, 10.1.2.3/32, 172.16.9.9/12, 198.51.100.7, "
                 "'fd00::/64']\n"
                 "  externalIPs: [203.0.113.99]\n  ports: [{name: http, port: 80, nodePort: 30090}]\n"
                 "status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}\n");
        assert_has(np, "ip firewall-ips 203.0.113.10 . tcp . 80");
        assert_has(np, "ip firewall-allow 203.0.113.10 . tcp . 80 . 192.168.77.0-192.168.77.255");
        assert_has(np, "ip firewall-allow 203.0.113.10 . tcp . 80 . 10.1.2.3-10.1.2.3");
        /* host bits are cleared (the network, like net.ParseCIDR), a bare address is one host, and a range of the
         * other family does not apply to an IPv4 load-balancer IP */
        assert_has(np, "ip firewall-allow 203.0.113.10 . tcp . 80 . 172.16.0.0-172.31.255.255");
        assert_has(np, "ip firewall-allow 203.0.113.10 . tcp . 80 . 198.51.100.7-198.51.100.7");
        assert_lacks(np, "fd00::");
        /* only the load-balancer IP is guarded, like kube-proxy */
        assert_lacks(np, "firewall-ips 203.0.113.99");
        assert_lacks(np, "firewall-ips 192.168.1.10");
        /* no ranges: no firewall */
        feed(np, "kind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.20\n"
                 "  ports: [{name: http, port: 80, nodePort: 30090}]\n"
                 "status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}\n");
        assert_lacks(np, "firewall");
}
END_TEST

START_TEST(test_dual_stack_chains) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy(false);
        netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
        feed(np, "kind: Service\nmetadata: {name: web}\nspec:\n  clusterIPs: [10.96.0.10, 'fd00:96::10']\n"
                 "  ports: [{name: http, port: 80}]\n---\n"
                 "kind: EndpointSlice\nmetadata: {name: web-4, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints: [{addresses: [10.244.1.2]}]\n---\n"
                 "kind: EndpointSlice\nmetadata: {name: web-6, labels: {kubernetes.io/service-name: web}}\n"
                 "addressType: IPv6\nports: [{name: http, port: 8080}]\nendpoints: [{addresses: ['fd00:244::2']}]\n");
        /* the same dispatch chain exists once per family */
        assert_has(np, "ip chain lb-1");
        assert_has(np, "ip6 chain lb-1");
        assert_has(np, "ip6 ep-tcp fd00:96::10 . 80 . 0 : fd00:244::2 . 8080");
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(netproxy_metrics(np)->chains, 2 * 11 + 2);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("netproxy-unit");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_parse_api_service);
        tcase_add_test(tc, test_parse_api_slices);
        tcase_add_test(tc, test_parse_defaults);
        tcase_add_test(tc, test_bad_objects);
        tcase_add_test(tc, test_sync_waits_for_both_kinds);
        tcase_add_test(tc, test_incremental_diff);
        tcase_add_test(tc, test_terminating_fallback);
        tcase_add_test(tc, test_named_ports_and_protocols);
        tcase_add_test(tc, test_external_policies);
        tcase_add_test(tc, test_internal_local_and_masquerade_all);
        tcase_add_test(tc, test_affinity_and_ipv6);
        tcase_add_test(tc, test_load_balancer_source_ranges);
        tcase_add_test(tc, test_dual_stack_chains);
        suite_add_tcase(s, tc);
        return s;
}

static Suite *kernel_suite(void) {
        Suite *s = suite_create("netproxy-sync-failure");
        TCase *tc = tcase_create("kernel");
        tcase_add_test(tc, test_failed_sync_goes_full);
        suite_add_tcase(s, tc);
        return s;
}

/* No argument: the unit suite, no kernel objects. "sync-failure": the test that needs nf_tables (root, exit 77
 * otherwise, so that ctest reports it skipped). */
int main(int argc, char *argv[]) {
        if (argc > 1 && streq(argv[1], "sync-failure")) {
                test_require_root();
                test_require_program("nft");
                return test_run_suite(kernel_suite());
        }
        return test_run_suite(suite());
}
