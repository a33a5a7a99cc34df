/* SPDX-License-Identifier: Apache-2.0 */
/* netproxy's compact state (issue 14, 10k Services start-up memory), without a kernel: packed EndpointSlices, the
 * one-allocation object names, and the element store that keeps only the wanted data of an element (the committed
 * data is saved on the dirty list when an element first changes) in pooled slots. The incremental syncs after a full
 * one must send the same deltas as before: checked on known cases and differentially, after random changes, against
 * a fresh proxy fed the same objects. */

#include <arpa/inet.h>
#include <stdio.h>

#include "common/json-util.h"
#include "common/yaml.h"
#include "netproxy/netproxy.h"
#include "tests/lib/testlib.h"

static json_t *yaml1(const char *text) {
        json_t *j = NULL;
        ErrorBuf e = {};
        int r = yaml_parse(text, strlen(text), "test", &j, &e);
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
        return j;
}

static NetProxy *proxy(void) {
        static InAddr node[1];
        NetProxy *np = NULL;
        NetProxyConfig cfg = {.dry_run = true, .hostname = "node1"};
        ck_assert_int_eq(in_addr_parse("192.168.1.10", 0, &node[0]), 0);
        cfg.nodeport_addresses = node;
        cfg.n_nodeport_addresses = 1;
        ck_assert_int_eq(netproxy_new(&cfg, &np), 0);
        netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
        return np;
}

static int feed(NetProxy *np, const char *text) {
        _cleanup_json_ json_t *j = yaml1(text);
        ErrorBuf e = {};
        int r = netproxy_update_object(np, j, &e);
        ck_assert_msg(r >= 0, "%s: %s", text, error_message(&e, r));
        return r;
}

static char *describe(NetProxy *np) {
        char *s = NULL;
        ck_assert_int_eq(netproxy_describe(np, &s), 0);
        return s;
}

static size_t element_lines(const char *d) {
        size_t n = 0;
        for (const char *l = d; l && *l; l = strchr(l, '\n') + 1) {
                const char *end = strchr(l, '\n');
                ck_assert(end);
                n += !memmem(l, (size_t) (end - l), " chain ", 7);
        }
        return n;
}

START_TEST(test_slice_pack) {
        _cleanup_json_ json_t *j = yaml1(
                "kind: EndpointSlice\nmetadata: {name: web-1, namespace: prod, labels: {kubernetes.io/service-name: "
                "web}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"
                "- {addresses: [10.244.1.2], nodeName: node1}\n"
                "- {addresses: [10.244.2.2], nodeName: node2, conditions: {ready: false, serving: true, terminating: "
                "true}}\n"
                "- {addresses: [10.244.3.2], conditions: {ready: false, serving: false}}\n");
        _cleanup_(endpoint_slice_freep) EndpointSlice *a = NULL, *b = NULL;
        ErrorBuf e = {};
        Endpoint ep;
        char buf[IN_ADDR_STRLEN];

        ck_assert_int_eq(endpoint_slice_parse(j, &a, &e), 0);
        ck_assert_int_eq(endpoint_slice_parse(j, &b, &e), 0);
        /* namespace, name and key share one allocation */
        ck_assert_str_eq(a->key, "prod/web-1");
        ck_assert_str_eq(a->namespace, "prod");
        ck_assert_str_eq(a->name, "web-1");
        ck_assert(endpoint_slice_equal(a, b));
        ck_assert_int_eq(endpoint_slice_pack(a, "node1"), 0);
        ck_assert_ptr_null(a->endpoints);
        ck_assert_ptr_nonnull(a->packed);
        ck_assert_uint_eq(a->n_endpoints, 3);
        /* packed against unpacked: nodeName became flags, so they differ; packed alike, they are equal */
        ck_assert(!endpoint_slice_equal(a, b));
        ck_assert_int_eq(endpoint_slice_pack(b, "node1"), 0);
        ck_assert(endpoint_slice_equal(a, b));
        ck_assert_int_eq(endpoint_slice_pack(a, "node1"), 0); /* packing twice is a no-op */
        ck_assert(endpoint_slice_equal(a, b));

        endpoint_slice_get(a, 0, &ep);
        ck_assert_str_eq(in_addr_format(&ep.addr, buf), "10.244.1.2");
        ck_assert(ep.ready && ep.serving && !ep.terminating && ep.local && !ep.remote);
        ck_assert_ptr_null(ep.node_name);
        endpoint_slice_get(a, 1, &ep);
        ck_assert_str_eq(in_addr_format(&ep.addr, buf), "10.244.2.2");
        ck_assert(!ep.ready && ep.serving && ep.terminating && !ep.local && ep.remote);
        endpoint_slice_get(a, 2, &ep);
        ck_assert_str_eq(in_addr_format(&ep.addr, buf), "10.244.3.2");
        ck_assert(!ep.ready && !ep.serving && !ep.terminating && !ep.local && !ep.remote);

        /* one condition differs: not equal */
        _cleanup_json_ json_t *j2 = yaml1(
                "kind: EndpointSlice\nmetadata: {name: web-1, namespace: prod, labels: {kubernetes.io/service-name: "
                "web}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"
                "- {addresses: [10.244.1.2], nodeName: node1}\n"
                "- {addresses: [10.244.2.2], nodeName: node2, conditions: {ready: true}}\n"
                "- {addresses: [10.244.3.2], conditions: {ready: false, serving: false}}\n");
        _cleanup_(endpoint_slice_freep) EndpointSlice *c = NULL;
        ck_assert_int_eq(endpoint_slice_parse(j2, &c, &e), 0);
        ck_assert_int_eq(endpoint_slice_pack(c, "node1"), 0);
        ck_assert(!endpoint_slice_equal(a, c));

        /* IPv6: 16 address bytes an endpoint; without a hostname nothing is local or remote */
        _cleanup_json_ json_t *j6 =
                yaml1("kind: EndpointSlice\nmetadata: {name: web-6, labels: {kubernetes.io/service-name: web}}\n"
                      "addressType: IPv6\nports: [{name: http, port: 8080}]\nendpoints:\n"
                      "- {addresses: ['fd00:244::2'], nodeName: node1}\n- {addresses: ['fd00:244::3']}\n");
        _cleanup_(endpoint_slice_freep) EndpointSlice *s6 = NULL;
        ck_assert_int_eq(endpoint_slice_parse(j6, &s6, &e), 0);
        ck_assert_str_eq(s6->namespace, "default");
        ck_assert_int_eq(endpoint_slice_pack(s6, NULL), 0);
        endpoint_slice_get(s6, 1, &ep);
        ck_assert_int_eq(ep.addr.family, AF_INET6);
        ck_assert_str_eq(in_addr_format(&ep.addr, buf), "fd00:244::3");
        endpoint_slice_get(s6, 0, &ep);
        ck_assert(ep.ready && !ep.local && !ep.remote);
}
END_TEST

START_TEST(test_service_names_and_empty_lists) {
        _cleanup_json_ json_t *j = yaml1("kind: Service\nmetadata: {name: dns, namespace: kube-system}\n"
                                         "spec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}\n");
        _cleanup_(service_freep) Service *a = NULL, *b = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(service_parse(j, &a, &e), 0);
        ck_assert_int_eq(service_parse(j, &b, &e), 0);
        ck_assert_str_eq(a->key, "kube-system/dns");
        ck_assert_str_eq(a->namespace, "kube-system");
        ck_assert_str_eq(a->name, "dns");
        /* no allocation for lists that are empty, and such Services still compare equal */
        ck_assert_ptr_null(a->external_ips);
        ck_assert_ptr_null(a->lb_ips);
        ck_assert_ptr_null(a->source_ranges);
        ck_assert(service_equal(a, b));
}
END_TEST

static const char *web_svc = "kind: Service\nmetadata: {name: web}\n"
                             "spec: {clusterIP: 10.96.0.10, ports: [{name: dns, port: 53, protocol: UDP}]}\n";

static char *slice(const char *eps) {
        char *s = NULL;
        ck_assert_int_ge(asprintf(&s,
                                  "kind: EndpointSlice\nmetadata: {name: web-1, labels: {kubernetes.io/service-name: "
                                  "web}}\naddressType: IPv4\nports: [{name: dns, port: 5353, protocol: UDP}]\n"
                                  "endpoints: [%s]\n",
                                  eps),
                         0);
        return s;
}

/* The committed data of an element is no longer kept beside its wanted data: an element changed and changed back
 * before the sync must send nothing, a changed one a deletion and an addition, a released and revived one nothing. */
START_TEST(test_change_and_back) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy();
        _cleanup_free_ char *s1 = slice("{addresses: [10.244.1.2], nodeName: n2}, {addresses: [10.244.1.3], nodeName: "
                                        "n2}, {addresses: [10.244.1.4], nodeName: n2}");
        _cleanup_free_ char *s2 = slice("{addresses: [10.244.1.2], nodeName: n2}, {addresses: [10.244.1.3], nodeName: "
                                        "n2}, {addresses: [10.244.1.5], nodeName: n2}");
        _cleanup_free_ char *s0 = slice("");
        const NetProxyMetrics *m = netproxy_metrics(np);
        feed(np, web_svc);
        feed(np, s1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(m->last_sync_full);
        ck_assert_uint_eq(m->elements, 5); /* frontend, 3 buckets, cluster IP (endpoints elsewhere: no hairpin) */

        /* bucket 2 changes and changes back before the sync: no transaction */
        ck_assert_int_eq(feed(np, s2), 1);
        ck_assert_int_eq(feed(np, s1), 1);
        ck_assert_int_eq(netproxy_sync(np), 0);

        /* the same, with the change applied to the mirror in between (netproxy_describe() recomputes): the element
         * is on the dirty list with its committed data saved, and compares equal to it again */
        ck_assert_int_eq(feed(np, s2), 1);
        _cleanup_free_ char *d1 = describe(np);
        ck_assert_ptr_nonnull(strstr(d1, "ip ep-udp 10.96.0.10 . 53 . 2 : 10.244.1.5 . 5353\n"));
        ck_assert_int_eq(feed(np, s1), 1);
        _cleanup_free_ char *d2 = describe(np);
        ck_assert_ptr_nonnull(strstr(d2, "ip ep-udp 10.96.0.10 . 53 . 2 : 10.244.1.4 . 5353\n"));
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(!m->last_sync_full);
        ck_assert_uint_eq(m->last_elements_added, 0);
        ck_assert_uint_eq(m->last_elements_deleted, 0);

        /* bucket 2 changes: deleted and added with the new data */
        ck_assert_int_eq(feed(np, s2), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(!m->last_sync_full);
        ck_assert_uint_eq(m->last_elements_deleted, 1);
        ck_assert_uint_eq(m->last_elements_added, 1);
        _cleanup_free_ char *d = describe(np);
        ck_assert_ptr_nonnull(strstr(d, "ip ep-udp 10.96.0.10 . 53 . 2 : 10.244.1.5 . 5353\n"));

        /* every element released, then revived as it was before the sync: nothing to send */
        ck_assert_int_eq(feed(np, s0), 1);
        _cleanup_free_ char *d3 = describe(np);
        ck_assert_ptr_null(strstr(d3, "ep-udp"));
        ck_assert_int_eq(feed(np, s2), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(m->last_elements_added, 0);
        ck_assert_uint_eq(m->last_elements_deleted, 0);
        ck_assert_uint_eq(m->elements, 5);

        /* changes while a full sync is pending are not tracked one by one, the full sync has them all; the next
         * change is incremental again */
        netproxy_request_full_sync(np);
        ck_assert_int_eq(feed(np, s1), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(m->last_sync_full);
        ck_assert_uint_eq(m->last_elements_added, 5);
        ck_assert_int_eq(feed(np, s2), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(!m->last_sync_full);
        ck_assert_uint_eq(m->last_elements_deleted, 1);
        ck_assert_uint_eq(m->last_elements_added, 1);

        /* no endpoints: 3 buckets and the frontend go, the no-endpoints verdict comes */
        ck_assert_int_eq(feed(np, s0), 1);
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert_uint_eq(m->last_elements_deleted, 4);
        ck_assert_uint_eq(m->last_elements_added, 1);
        ck_assert_uint_eq(m->elements, 2);
}
END_TEST

/* ---- differential: random changes, incremental syncs vs a fresh proxy ---- */

#define N_SVC 300

static uint32_t rnd_state = 12345;
static uint32_t rnd(uint32_t n) {
        rnd_state = rnd_state * 1103515245U + 12345U;
        return (rnd_state >> 8) % n;
}

typedef struct World {
        char *svc[N_SVC];   /* NULL: deleted */
        char *slice[N_SVC]; /* NULL: deleted */
} World;

static char *gen_svc(unsigned i) {
        static const char *const protos[] = {"TCP", "UDP", "SCTP"};
        char *s = NULL, node_port[32] = "";
        unsigned v = rnd(4);
        if (v == 1)
                snprintf(node_port, sizeof(node_port), ", nodePort: %u", 30000 + i);
        /* dual-stack, NodePort or ClusterIP: the same key takes other shapes over time */
        ck_assert_int_ge(asprintf(&s,
                                  "kind: Service\nmetadata: {name: s%u}\nspec:\n  type: %s\n"
                                  "  clusterIPs: ['10.96.%u.%u'%s]\n  ports: [{name: p, port: %u, protocol: %s%s}]\n",
                                  i, v == 1 ? "NodePort" : "ClusterIP", i / 250, i % 250 + 1,
                                  v == 2 ? ", 'fd00:96::1:0'" : "", 80 + rnd(2), protos[rnd(3)], node_port),
                         0);
        return s;
}

static char *gen_slice(unsigned i, const char *svc_text) {
        const char *proto = strstr(svc_text, "protocol: ") + 10;
        char eps[1024] = "", *p = eps;
        unsigned n = rnd(7);
        /* a small address pool per Service, so that data changes and changes back happen */
        for (unsigned k = 0; k < n; k++)
                p += snprintf(p, (size_t) (eps + sizeof(eps) - p), "%s{addresses: [10.%u.%u.%u]%s%s}", k ? ", " : "",
                              64 + i / 250, i % 250, rnd(8) + 1, rnd(3) == 0 ? ", nodeName: node1" : "",
                              rnd(5) == 0 ? ", conditions: {ready: false, serving: true, terminating: true}" : "");
        char *s = NULL;
        ck_assert_int_ge(asprintf(&s,
                                  "kind: EndpointSlice\nmetadata: {name: s%u-x, labels: {kubernetes.io/service-name: "
                                  "s%u}}\naddressType: IPv4\nports: [{name: p, port: %u, protocol: %.*s}]\n"
                                  "endpoints: [%s]\n",
                                  i, i, 8000 + rnd(2), (int) strcspn(proto, ",}\n"), proto, eps),
                         0);
        return s;
}

static char *fresh_describe(const World *w) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy();
        for (unsigned i = 0; i < N_SVC; i++) {
                if (w->svc[i])
                        feed(np, w->svc[i]);
                if (w->slice[i])
                        feed(np, w->slice[i]);
        }
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(netproxy_metrics(np)->last_sync_full);
        return describe(np);
}

static void delete_obj(NetProxy *np, const char *kind, unsigned i) {
        char name[32];
        snprintf(name, sizeof(name), streq(kind, "Service") ? "s%u" : "s%u-x", i);
        ck_assert_int_ge(netproxy_delete_object(np, kind, "default", name), 0);
}

START_TEST(test_differential_random) {
        _cleanup_(netproxy_freep) NetProxy *np = proxy();
        const NetProxyMetrics *m = netproxy_metrics(np);
        World w = {};
        for (unsigned i = 0; i < N_SVC; i++) {
                w.svc[i] = gen_svc(i);
                w.slice[i] = gen_slice(i, w.svc[i]);
                feed(np, w.svc[i]);
                feed(np, w.slice[i]);
        }
        ck_assert_int_eq(netproxy_sync(np), 1);
        ck_assert(m->last_sync_full);

        for (unsigned round = 0; round < 25; round++) {
                uint64_t before = m->elements;
                bool full = round % 10 == 9;
                for (unsigned c = 0, n = 1 + rnd(40); c < n; c++) {
                        unsigned i = rnd(N_SVC), op = rnd(10);
                        if (op < 5 && w.svc[i]) { /* endpoints change (often to what they were before) */
                                free(w.slice[i]);
                                w.slice[i] = gen_slice(i, w.svc[i]);
                                feed(np, w.slice[i]);
                        } else if (op < 7) { /* the Service is replaced by another shape */
                                free(w.svc[i]);
                                w.svc[i] = gen_svc(i);
                                feed(np, w.svc[i]);
                                free(w.slice[i]);
                                w.slice[i] = gen_slice(i, w.svc[i]);
                                feed(np, w.slice[i]);
                        } else if (op < 9 && w.svc[i]) { /* deleted: its slots are reused by later elements */
                                w.svc[i] = mfree(w.svc[i]);
                                delete_obj(np, "Service", i);
                                if (op == 8) {
                                        w.slice[i] = mfree(w.slice[i]);
                                        delete_obj(np, "EndpointSlice", i);
                                }
                        } else if (!w.svc[i]) {
                                w.svc[i] = gen_svc(i);
                                feed(np, w.svc[i]);
                        }
                }
                if (full)
                        netproxy_request_full_sync(np);
                int r = netproxy_sync(np);
                ck_assert_int_ge(r, 0);
                ck_assert(r == 1 || !full);
                ck_assert(r == 0 || m->last_sync_full == full);
                if (r == 1 && !full)
                        /* what was sent accounts for the change of what is committed */
                        ck_assert_uint_eq(m->elements, before + m->last_elements_added - m->last_elements_deleted);

                _cleanup_free_ char *got = describe(np);
                _cleanup_free_ char *want = fresh_describe(&w);
                ck_assert_str_eq(got, want);
                ck_assert_uint_eq(m->elements, element_lines(got));
        }
        for (unsigned i = 0; i < N_SVC; i++) {
                free(w.svc[i]);
                free(w.slice[i]);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("netproxy-mirror");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_slice_pack);
        tcase_add_test(tc, test_service_names_and_empty_lists);
        tcase_add_test(tc, test_change_and_back);
        tcase_add_test(tc, test_differential_random);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
