/* SPDX-License-Identifier: Apache-2.0 */
/* CNI pieces that need no privileges: addresses, nodelet-ipam's host-local compatible allocator and lease files,
 * the protocol (errors, versions, result conversion), configuration loading, the default conflist, the cache path,
 * and the plugins' error answers for bad input. */

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cni/ipam.h"
#include "cni/runner-internal.h"
#include "cni/skel.h"
#include "common/fileio.h"
#include "common/in-addr.h"
#include "common/json-util.h"
#include "nodelet-paths.h"
#include "tests/lib/testlib.h"

static char *tmp;

static void setup(void) {
        tmp = test_tmpdir_new("test-cni-unit");
        ck_assert_ptr_nonnull(tmp);
}

static void teardown(void) {
        test_tmpdir_remove(tmp);
        tmp = NULL;
}

START_TEST(test_ip_parse_format) {
        InAddr ip;
        InPrefix p;
        char b[IN_PREFIX_STRLEN];

        ck_assert_int_eq(in_addr_parse("10.1.2.3", IN_PARSE_UNMAP_V4, &ip), 0);
        ck_assert_int_eq(ip.family, AF_INET);
        ck_assert_str_eq(in_addr_format(&ip, b), "10.1.2.3");
        ck_assert_int_eq(in_addr_parse("FD00:0:0::0:1", IN_PARSE_UNMAP_V4, &ip), 0);
        ck_assert_str_eq(in_addr_format(&ip, b), "fd00::1");
        /* IPv4-mapped becomes IPv4, like Go's To4(). */
        ck_assert_int_eq(in_addr_parse("::ffff:10.0.0.1", IN_PARSE_UNMAP_V4, &ip), 0);
        ck_assert_int_eq(ip.family, AF_INET);
        ck_assert_int_lt(in_addr_parse("10.0.0.256", IN_PARSE_UNMAP_V4, &ip), 0);
        ck_assert_int_lt(in_addr_parse("", IN_PARSE_UNMAP_V4, &ip), 0);

        ck_assert_int_eq(in_prefix_parse("10.1.2.3/24", IN_PARSE_UNMAP_V4, &p), 0);
        ck_assert_int_eq(p.len, 24);
        ck_assert_str_eq(in_prefix_format(&p, b), "10.1.2.3/24");
        InAddr first = in_prefix_first(&p), last = in_prefix_last(&p);
        ck_assert_str_eq(in_addr_format(&first, b), "10.1.2.0");
        ck_assert_str_eq(in_addr_format(&last, b), "10.1.2.255");
        ck_assert_int_lt(in_prefix_parse("10.1.2.3/33", IN_PARSE_UNMAP_V4, &p), 0);
        ck_assert_int_lt(in_prefix_parse("10.1.2.3/", IN_PARSE_UNMAP_V4, &p), 0);
        ck_assert_int_lt(in_prefix_parse("10.1.2.3/-1", IN_PARSE_UNMAP_V4, &p), 0);
        ck_assert_int_lt(in_prefix_parse("10.1.2.3", IN_PARSE_UNMAP_V4, &p), 0);

        ck_assert_int_eq(in_addr_parse("10.0.0.255", IN_PARSE_UNMAP_V4, &ip), 0);
        in_addr_next(&ip);
        ck_assert_str_eq(in_addr_format(&ip, b), "10.0.1.0");
        in_addr_prev(&ip);
        ck_assert_str_eq(in_addr_format(&ip, b), "10.0.0.255");

        InPrefix a, c;
        ck_assert_int_eq(in_prefix_parse("10.0.0.0/16", IN_PARSE_UNMAP_V4, &a), 0);
        ck_assert_int_eq(in_prefix_parse("10.0.200.0/24", IN_PARSE_UNMAP_V4, &c), 0);
        ck_assert(in_prefix_overlaps(&a, &c));
        ck_assert_int_eq(in_prefix_parse("10.1.0.0/24", IN_PARSE_UNMAP_V4, &c), 0);
        ck_assert(!in_prefix_overlaps(&a, &c));
        ck_assert_int_eq(in_prefix_parse("fd00::/64", IN_PARSE_UNMAP_V4, &c), 0);
        ck_assert(!in_prefix_overlaps(&a, &c));
}
END_TEST

/* conf with every "%s" replaced by the test's directory (not printf: the texts are data, not formats). */
static char *with_dir(const char *conf) {
        size_t n = strlen(conf) + 1;
        for (const char *p = conf; (p = strstr(p, "%s")); p += 2)
                n += strlen(tmp);
        char *out = calloc(1, n), *o = out;
        ck_assert_ptr_nonnull(out);
        for (const char *p = conf; *p;) {
                if (p[0] == '%' && p[1] == 's') {
                        o = stpcpy(o, tmp);
                        p += 2;
                } else
                        *o++ = *p++;
        }
        *o = 0;
        return out;
}

/* One IPAM invocation through the library, with the given configuration text (%s = data dir). */
static int ipam_run(CniCommand cmd, const char *conf_fmt, const char *cid, const char *ifname, const char *args,
                    json_t **ret, CniError *e) {
        _cleanup_free_ char *text = with_dir(conf_fmt);
        _cleanup_json_ json_t *conf = json_loads(text, 0, NULL);
        ck_assert_msg(conf != NULL, "bad test config %s", text);
        CniArgs a = {
                .command = cmd,
                .container_id = cid,
                .netns = "/proc/self/ns/net",
                .ifname = ifname,
                .args = args,
                .path = "/nonexistent",
                .stdin_data = text,
                .stdin_size = strlen(text),
                .conf = conf,
                .cni_version = json_string_value(json_object_get(conf, "cniVersion")),
                .name = json_string_value(json_object_get(conf, "name")),
        };
        switch (cmd) {
        case CNI_CMD_ADD: {
                json_t *res = NULL;
                int r = cni_ipam_add(&a, &res, e);
                if (ret)
                        *ret = res;
                else
                        json_decref(res);
                return r;
        }
        case CNI_CMD_DEL:
                return cni_ipam_del(&a, e);
        case CNI_CMD_CHECK:
                return cni_ipam_check(&a, e);
        case CNI_CMD_GC:
                return cni_ipam_gc(&a, e);
        default:
                return cni_ipam_status(&a, e);
        }
}

static char *add_addr(const char *conf, const char *cid) {
        _cleanup_json_ json_t *res = NULL;
        CniError e = {};
        int r = ipam_run(CNI_CMD_ADD, conf, cid, "eth0", NULL, &res, &e);
        ck_assert_msg(r == 0, "ADD %s failed: %d %s", cid, e.code, e.msg);
        return strdup(json_string_value(json_object_get(json_array_get(json_object_get(res, "ips"), 0), "address")));
}

static char *read_file(const char *rel) {
        _cleanup_free_ char *p = NULL;
        char *data = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", tmp, rel), 0);
        if (read_full_file(p, 0, &data, NULL) < 0)
                return NULL;
        return data;
}

static int unlink_rel(const char *rel) {
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", tmp, rel), 0);
        return unlink(p) < 0 ? -errno : 0;
}

static bool exists(const char *rel) {
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", tmp, rel), 0);
        return access(p, F_OK) == 0;
}

#define CONF_29                                                                                                        \
        "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{\"type\":\"nodelet-ipam\",\"dataDir\":\"%s\","          \
        "\"ranges\":[[{\"subnet\":\"10.99.0.0/29\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}"

START_TEST(test_ipam_host_local_files) {
        _cleanup_json_ json_t *res = NULL;
        CniError e = {};

        ck_assert_int_eq(ipam_run(CNI_CMD_ADD, CONF_29, "c1", "eth0", NULL, &res, &e), 0);
        json_t *ip = json_array_get(json_object_get(res, "ips"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(ip, "address")), "10.99.0.2/29");
        ck_assert_str_eq(json_string_value(json_object_get(ip, "gateway")), "10.99.0.1");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(res, "routes"), 0), "dst")),
                         "0.0.0.0/0");
        /* Exactly what host-local writes: "<id>\r\n<ifname>", and the last reserved address per range set. */
        _cleanup_free_ char *lease = read_file("net1/10.99.0.2"), *last = read_file("net1/last_reserved_ip.0");
        ck_assert_str_eq(lease, "c1\r\neth0");
        ck_assert_str_eq(last, "10.99.0.2");
        ck_assert(exists("net1/lock"));
        ck_assert_int_eq(ipam_run(CNI_CMD_CHECK, CONF_29, "c1", "eth0", NULL, NULL, &e), 0);
        ck_assert_int_lt(ipam_run(CNI_CMD_CHECK, CONF_29, "c9", "eth0", NULL, NULL, &e), 0);
}
END_TEST

START_TEST(test_ipam_round_robin_and_exhaustion) {
        /* /29: .1 is the gateway, .7 the broadcast address: .2 to .6 are allocatable. */
        _cleanup_free_ char *a1 = add_addr(CONF_29, "c1"), *a2 = add_addr(CONF_29, "c2");
        ck_assert_str_eq(a1, "10.99.0.2/29");
        ck_assert_str_eq(a2, "10.99.0.3/29");
        CniError e = {};
        ck_assert_int_eq(ipam_run(CNI_CMD_DEL, CONF_29, "c1", "eth0", NULL, NULL, &e), 0);
        ck_assert(!exists("net1/10.99.0.2"));
        /* Round robin: the next pod does not get the just-released .2. */
        _cleanup_free_ char *a3 = add_addr(CONF_29, "c3"), *a4 = add_addr(CONF_29, "c4"), *a5 = add_addr(CONF_29, "c5"),
                            *a6 = add_addr(CONF_29, "c6");
        ck_assert_str_eq(a3, "10.99.0.4/29");
        ck_assert_str_eq(a4, "10.99.0.5/29");
        ck_assert_str_eq(a5, "10.99.0.6/29");
        ck_assert_str_eq(a6, "10.99.0.2/29"); /* wrapped around */
        int r = ipam_run(CNI_CMD_ADD, CONF_29, "c7", "eth0", NULL, NULL, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_int_eq(e.code, CNI_ERR_TRY_AGAIN);
        ck_assert_msg(strstr(e.msg, "no IP addresses available"), "%s", e.msg);
        /* Duplicate allocation for the same attachment is refused. */
        e = (CniError){};
        ck_assert_int_lt(ipam_run(CNI_CMD_ADD, CONF_29, "c3", "eth0", NULL, NULL, &e), 0);
        ck_assert_msg(strstr(e.msg, "duplicate allocation"), "%s", e.msg);
        /* DEL is idempotent. */
        ck_assert_int_eq(ipam_run(CNI_CMD_DEL, CONF_29, "c3", "eth0", NULL, NULL, &e), 0);
        ck_assert_int_eq(ipam_run(CNI_CMD_DEL, CONF_29, "c3", "eth0", NULL, NULL, &e), 0);
        ck_assert(!exists("net1/10.99.0.4"));
}
END_TEST

START_TEST(test_ipam_config_errors) {
        CniError e = {};
        int r = ipam_run(CNI_CMD_ADD,
                         "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"dataDir\":\"%s\",\"ranges\":["
                         "[{\"subnet\":\"10.98.0.0/16\"}],[{\"subnet\":\"10.98.4.0/24\"}]]}}",
                         "c1", "eth0", NULL, NULL, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_int_eq(e.code, CNI_ERR_INVALID_CONFIG);
        ck_assert_msg(strstr(e.msg, "range set 0 overlaps with range set 1"), "%s", e.msg);

        e = (CniError){};
        r = ipam_run(CNI_CMD_ADD,
                     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"dataDir\":\"%s\",\"ranges\":["
                     "[{\"subnet\":\"10.98.0.0/33\"}]]}}",
                     "c1", "eth0", NULL, NULL, &e);
        ck_assert_int_eq(e.code, CNI_ERR_INVALID_CONFIG);
        ck_assert_msg(strstr(e.msg, "ipam.ranges[0][0].subnet"), "%s", e.msg);

        e = (CniError){};
        r = ipam_run(CNI_CMD_ADD,
                     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"dataDir\":\"%s\",\"ranges\":["
                     "[{\"subnet\":\"10.98.0.0/24\",\"gateway\":\"10.97.0.1\"}]]}}",
                     "c1", "eth0", NULL, NULL, &e);
        ck_assert_int_eq(e.code, CNI_ERR_INVALID_CONFIG);
        ck_assert_msg(strstr(e.msg, "gateway") && strstr(e.msg, "not in network"), "%s", e.msg);

        e = (CniError){};
        r = ipam_run(CNI_CMD_ADD, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"dataDir\":\"%s\"}}", "c1",
                     "eth0", NULL, NULL, &e);
        ck_assert_int_eq(e.code, CNI_ERR_INVALID_CONFIG);
        ck_assert_msg(strstr(e.msg, "no IP ranges"), "%s", e.msg);

        /* The legacy single range (ipam.subnet): errors name its real fields, not a made-up ipam[0][0]. */
        e = (CniError){};
        r = ipam_run(
                CNI_CMD_ADD,
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"dataDir\":\"%s\",\"subnet\":\"10.98.0.0/33\"}}",
                "c1", "eth0", NULL, NULL, &e);
        ck_assert_int_eq(e.code, CNI_ERR_INVALID_CONFIG);
        ck_assert_msg(strstr(e.msg, "ipam.subnet: invalid CIDR") && !strstr(e.msg, "[0]"), "%s", e.msg);
        e = (CniError){};
        r = ipam_run(
                CNI_CMD_ADD,
                "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"dataDir\":\"%s\",\"subnet\":\"10.98.0.0/24\","
                "\"gateway\":\"10.97.0.1\"}}",
                "c1", "eth0", NULL, NULL, &e);
        ck_assert_msg(strstr(e.msg, "ipam.gateway: 10.97.0.1 is not in network"), "%s", e.msg);
        /* Nothing was created for any of them. */
        ck_assert(!exists("n"));
}
END_TEST

START_TEST(test_ipam_ranges_requested_v6_gc) {
        const char *conf =
                "{\"cniVersion\":\"1.1.0\",\"name\":\"ds\",\"ipam\":{\"dataDir\":\"%s\",\"ranges\":["
                "[{\"subnet\":\"10.97.0.0/24\",\"rangeStart\":\"10.97.0.100\",\"rangeEnd\":\"10.97.0.101\"}],"
                "[{\"subnet\":\"fd00:97::/64\"}]]}}";
        _cleanup_json_ json_t *res = NULL;
        CniError e = {};

        ck_assert_int_eq(ipam_run(CNI_CMD_ADD, conf, "c1", "eth0", NULL, &res, &e), 0);
        json_t *ips = json_object_get(res, "ips");
        ck_assert_int_eq(json_array_size(ips), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ips, 0), "address")), "10.97.0.100/24");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ips, 1), "address")), "fd00:97::2/64");
        ck_assert(exists("ds/fd00:97::2"));
        _cleanup_free_ char *l1 = read_file("ds/last_reserved_ip.1");
        ck_assert_str_eq(l1, "fd00:97::2");

        /* A requested address (CNI_ARGS IP=, as host-local reads it). */
        json_decref(res);
        res = NULL;
        ck_assert_int_eq(ipam_run(CNI_CMD_ADD, conf, "c2", "eth0", "IgnoreUnknown=1;IP=10.97.0.101", &res, &e), 0);
        ips = json_object_get(res, "ips");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ips, 0), "address")), "10.97.0.101/24");

        /* A lease host-local wrote before it recorded interface names: container ID only. */
        _cleanup_free_ char *legacy = NULL;
        ck_assert_int_ge(asprintf(&legacy, "%s/ds/fd00:97::99", tmp), 0);
        ck_assert_int_eq(write_file_atomic(legacy, "old\n", 4, 0644, false), 0);

        /* GC keeps c1 only. */
        const char *gc = "{\"cniVersion\":\"1.1.0\",\"name\":\"ds\",\"ipam\":{\"dataDir\":\"%s\",\"ranges\":["
                         "[{\"subnet\":\"10.97.0.0/24\"}]]},"
                         "\"cni.dev/valid-attachments\":[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}]}";
        ck_assert_int_eq(ipam_run(CNI_CMD_GC, gc, NULL, NULL, NULL, NULL, &e), 0);
        ck_assert(exists("ds/10.97.0.100"));
        ck_assert(exists("ds/fd00:97::2"));
        ck_assert(!exists("ds/10.97.0.101"));
        ck_assert(!exists("ds/fd00:97::99"));
        ck_assert(exists("ds/lock"));
        ck_assert(exists("ds/last_reserved_ip.0"));
}
END_TEST

START_TEST(test_protocol) {
        CniError e = {};
        ck_assert_int_lt(cni_error(&e, CNI_ERR_INVALID_CONFIG, "bad %s", "thing"), 0);
        (void) cni_error(&e, CNI_ERR_IO, "second error is ignored");
        cni_error_details(&e, "more");
        _cleanup_json_ json_t *j = cni_error_to_json(&e, "1.0.0");
        _cleanup_free_ char *s = jx_dump_compact(j);
        ck_assert_str_eq(s, "{\"cniVersion\":\"1.0.0\",\"code\":7,\"details\":\"more\",\"msg\":\"bad thing\"}");

        ck_assert_int_lt(cni_version_cmp("0.3.1", "0.4.0"), 0);
        ck_assert_int_gt(cni_version_cmp("1.1.0", "1.0.0"), 0);
        ck_assert_int_eq(cni_version_cmp("1.0.0", "1.0.0"), 0);
        ck_assert(cni_version_supported("0.4.0"));
        ck_assert(!cni_version_supported("0.2.0"));
        ck_assert(cni_container_id_valid("abc-1.2_3"));
        ck_assert(!cni_container_id_valid("-abc"));
        ck_assert(!cni_container_id_valid("a/b"));
        ck_assert(cni_ifname_valid("eth0"));
        ck_assert(!cni_ifname_valid("a234567890123456"));
        ck_assert(!cni_ifname_valid("a:b"));

        /* Results before 1.0.0 carry ips[].version; 1.x results do not. */
        _cleanup_json_ json_t *res = json_loads("{\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":2},"
                                                "{\"address\":\"fd00::2/64\",\"version\":\"6\"}]}",
                                                0, NULL);
        _cleanup_json_ json_t *old = cni_result_convert(res, "0.4.0"), *cur = cni_result_convert(res, "1.0.0");
        _cleanup_free_ char *so = jx_dump_compact(old), *sc = jx_dump_compact(cur);
        ck_assert_str_eq(so, "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":2,"
                             "\"version\":\"4\"},{\"address\":\"fd00::2/64\",\"version\":\"6\"}]}");
        ck_assert_str_eq(sc, "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":2},"
                             "{\"address\":\"fd00::2/64\"}]}");
}
END_TEST

static void write_rel(const char *rel, const char *text) {
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", tmp, rel), 0);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644, false), 0);
}

START_TEST(test_network_load) {
        _cleanup_(cni_network_freep) CniNetwork *n = NULL;
        ErrorBuf e = {};

        ck_assert_int_eq(cni_network_load(tmp, &n, &e), -ENOENT);
        e = (ErrorBuf){};
        write_rel("20-b.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"bridge\"},"
                                   "{\"type\":\"portmap\"}]}");
        write_rel("10-a.conf", "{\"cniVersion\":\"0.4.0\",\"name\":\"a\",\"type\":\"bridge\"}");
        write_rel("05-ignored.txt", "not a network");
        ck_assert_int_eq(cni_network_load(tmp, &n, &e), 0);
        /* Lexically first; a single-plugin .conf becomes a list with the plugin's name and version. */
        ck_assert_str_eq(cni_network_name(n), "a");
        ck_assert_str_eq(cni_network_version(n), "0.4.0");
        ck_assert_int_eq(cni_network_n_plugins(n), 1);
        ck_assert_str_eq(cni_network_plugin_type(n, 0), "bridge");
        n = cni_network_free(n);

        write_rel("00-broken.conflist", "{\"cniVersion\":\"1.0.0\",");
        e = (ErrorBuf){};
        ck_assert_int_lt(cni_network_load(tmp, &n, &e), 0);
        ck_assert_msg(strstr(e.msg, "00-broken.conflist"), "%s", e.msg);
        write_rel("00-broken.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{}]}");
        e = (ErrorBuf){};
        ck_assert_int_lt(cni_network_load(tmp, &n, &e), 0);
        ck_assert_msg(strstr(e.msg, "plugins[0].type"), "%s", e.msg);

        /* A directory named like a configuration is skipped (libcni does too); a FIFO is refused, never opened for
         * reading (which would block forever). alarm(): a hang fails the test instead of timing out the suite. */
        _cleanup_free_ char *sub = NULL, *fifo = NULL;
        ck_assert_int_ge(asprintf(&sub, "%s/00-0-dir.conf", tmp), 0);
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        ck_assert_int_ge(asprintf(&fifo, "%s/00-1-fifo.conflist", tmp), 0);
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        alarm(60);
        e = (ErrorBuf){};
        ck_assert_int_eq(cni_network_load(tmp, &n, &e), -EBADFD);
        ck_assert_msg(strstr(e.msg, "00-1-fifo.conflist: not a regular file"), "%s", e.msg);
        alarm(0);
        ck_assert_int_eq(unlink(fifo), 0);
        ck_assert_int_eq(rmdir(sub), 0);
}
END_TEST

START_TEST(test_default_conflist) {
        char *cidrs[] = {(char *) "10.96.5.0/24", (char *) "fd00:96:5::/64", NULL};
        _cleanup_free_ char *bin = NULL;
        ck_assert_int_ge(asprintf(&bin, "%s/bin", tmp), 0);
        ck_assert_int_eq(mkdir_p(bin, 0755), 0);
        write_rel("bin/portmap", "#!/bin/sh\n");
        _cleanup_free_ char *pm = NULL;
        ck_assert_int_ge(asprintf(&pm, "%s/bin/portmap", tmp), 0);
        ck_assert_int_eq(chmod(pm, 0755), 0);
        char *dirs[] = {bin, NULL};
        _cleanup_free_ char *conf = NULL;
        ck_assert_int_ge(asprintf(&conf, "%s/net.d", tmp), 0);
        ErrorBuf e = {};

        ck_assert_int_eq(cni_write_default_conflist(conf, cidrs, dirs, &e), 0);
        _cleanup_(cni_network_freep) CniNetwork *n = NULL;
        ck_assert_int_eq(cni_network_load(conf, &n, &e), 0);
        ck_assert_str_eq(cni_network_name(n), "nodelet");
        ck_assert_int_eq(cni_network_n_plugins(n), 2); /* bridge (with ipam) + portmap; no bandwidth installed */
        ck_assert_str_eq(cni_network_plugin_type(n, 0), "nodelet-bridge");
        ck_assert_str_eq(cni_network_plugin_type(n, 1), "portmap");
        _cleanup_free_ char *text = read_file("net.d/10-nodelet.conflist");
        ck_assert_msg(strstr(text, "\"10.96.5.0/24\"") && strstr(text, "\"fd00:96:5::/64\"") &&
                              strstr(text, "\"nodelet-ipam\"") && strstr(text, "\"portMappings\""),
                      "%s", text);
        /* An existing network is never replaced. */
        ck_assert_int_eq(cni_write_default_conflist(conf, cidrs, dirs, &e), 1);
        char *bad[] = {(char *) "10.0.0.0/99", NULL};
        _cleanup_free_ char *conf2 = NULL;
        ck_assert_int_ge(asprintf(&conf2, "%s/net2.d", tmp), 0);
        ck_assert_int_lt(cni_write_default_conflist(conf2, bad, dirs, &e), 0);
}
END_TEST

/* The runner looks for plugins where the build installs them (NODELET_CNI_BINDIR), then where Debian puts the
 * reference plugins. */
START_TEST(test_default_bin_dirs) {
        char *const *d = cni_default_bin_dirs();
        ck_assert_str_eq(d[0], NODELET_CNI_BINDIR);
        ck_assert_str_eq(d[1], "/usr/lib/cni");
        ck_assert_ptr_null(d[2]);
        _cleanup_free_ char *sp = cni_search_path(d);
        ck_assert_ptr_nonnull(sp);
        ck_assert(startswith(sp, NODELET_CNI_BINDIR ":"));
}
END_TEST

START_TEST(test_result_pod_ips) {
        _cleanup_json_ json_t *res = json_loads(
                "{\"interfaces\":[{\"name\":\"cni0\"},{\"name\":\"vethx\"},{\"name\":\"eth0\",\"sandbox\":\"/n\"}],"
                "\"ips\":[{\"address\":\"fd00::5/64\",\"interface\":2},{\"address\":\"10.1.0.1/24\",\"interface\":0},"
                "{\"address\":\"10.0.0.5/24\",\"interface\":2}]}",
                0, NULL);
        _cleanup_strv_free_ char **ips = NULL;
        ck_assert_int_eq(cni_result_pod_ips(res, &ips), 2);
        ck_assert_str_eq(ips[0], "10.0.0.5");
        ck_assert_str_eq(ips[1], "fd00::5");
        ck_assert_ptr_null(ips[2]);
        /* IPAM-only results name no interface: every address counts. */
        _cleanup_json_ json_t *bare = json_loads("{\"ips\":[{\"address\":\"10.0.0.7/24\"}]}", 0, NULL);
        _cleanup_strv_free_ char **ips2 = NULL;
        ck_assert_int_eq(cni_result_pod_ips(bare, &ips2), 1);
        ck_assert_str_eq(ips2[0], "10.0.0.7");
}
END_TEST

START_TEST(test_cache_path) {
        _cleanup_free_ char *p = cni_cache_path("/var/lib/cni", "mynet", "abc123", "eth0");
        ck_assert_str_eq(p, "/var/lib/cni/results/mynet-abc123-eth0");
}
END_TEST

/* Runs a built plugin with env and stdin; returns its exit status and stdout. */
static int run_plugin(const char *plugin, const char *env, const char *input, char **ret_out) {
        _cleanup_free_ char *in = NULL, *outp = NULL, *cmd = NULL;
        ck_assert_int_ge(asprintf(&in, "%s/in.json", tmp), 0);
        ck_assert_int_ge(asprintf(&outp, "%s/out.json", tmp), 0);
        ck_assert_int_eq(write_file_atomic(in, input, strlen(input), 0644, false), 0);
        ck_assert_int_ge(asprintf(&cmd, "env -i %s %s/cni/%s <%s >%s", env, test_build_dir(), plugin, in, outp), 0);
        int r = test_system("%s", cmd);
        ck_assert_int_eq(read_full_file(outp, 0, ret_out, NULL), 0);
        return r;
}

static void assert_error_code(const char *out, int code) {
        _cleanup_json_ json_t *j = json_loads(out, 0, NULL);
        ck_assert_msg(j, "not JSON: %s", out);
        ck_assert_msg(json_integer_value(json_object_get(j, "code")) == code, "expected code %d: %s", code, out);
        ck_assert_msg(json_string_value(json_object_get(j, "msg")), "no msg: %s", out);
}

START_TEST(test_plugin_errors) {
        _cleanup_free_ char *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL, *o5 = NULL, *o6 = NULL;
        const char *env = "CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_NETNS=/proc/self/ns/net CNI_IFNAME=eth0 CNI_PATH=/x";

        ck_assert_int_ne(run_plugin("nodelet-bridge", env, "{\"cniVersion\":", &o1), 0);
        assert_error_code(o1, CNI_ERR_DECODE);
        ck_assert_int_ne(run_plugin("nodelet-ipam", env, "{\"cniVersion\":\"9.9.9\",\"name\":\"n\"}", &o2), 0);
        assert_error_code(o2, CNI_ERR_INCOMPATIBLE_VERSION);
        ck_assert_int_ne(run_plugin("nodelet-bridge", "CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_IFNAME=eth0 CNI_PATH=/x",
                                    "{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", &o3),
                         0);
        assert_error_code(o3, CNI_ERR_INVALID_ENV);
        ck_assert_msg(strstr(o3, "CNI_NETNS"), "%s", o3);
        /* Unknown IPAM plugin: config error, before anything is created. */
        ck_assert_int_ne(run_plugin("nodelet-bridge", env,
                                    "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"bridge\":\"tcniunit0\","
                                    "\"ipam\":{\"type\":\"no-such-ipam\"}}",
                                    &o4),
                         0);
        assert_error_code(o4, CNI_ERR_INVALID_CONFIG);
        ck_assert_msg(strstr(o4, "no-such-ipam"), "%s", o4);
        ck_assert_int_eq(run_plugin("nodelet-ipam", "CNI_COMMAND=VERSION", "", &o5), 0);
        ck_assert_msg(strstr(o5, "\"supportedVersions\"") && strstr(o5, "\"1.1.0\""), "%s", o5);
        /* GC needs a 1.1.0 configuration. */
        ck_assert_int_ne(run_plugin("nodelet-ipam", "CNI_COMMAND=GC CNI_PATH=/x",
                                    "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{}}", &o6),
                         0);
        assert_error_code(o6, CNI_ERR_INCOMPATIBLE_VERSION);
        /* Without CNI_COMMAND (run by hand): the spec's error object on stdout too, code 4, exit non-zero. */
        _cleanup_free_ char *o7 = NULL;
        ck_assert_int_ne(run_plugin("nodelet-bridge", "", "", &o7), 0);
        assert_error_code(o7, CNI_ERR_INVALID_ENV);
        ck_assert_msg(strstr(o7, "CNI_COMMAND"), "%s", o7);
}
END_TEST

/* ---- the runner with scripted plugins: order, prevResult, capabilities, cache, rollback, timeout ---- */

static void write_plugin(const char *name, const char *body) {
        _cleanup_free_ char *rel = NULL, *path = NULL;
        ck_assert_int_ge(asprintf(&rel, "bin/%s", name), 0);
        write_rel(rel, body);
        ck_assert_int_ge(asprintf(&path, "%s/%s", tmp, rel), 0);
        ck_assert_int_eq(chmod(path, 0755), 0);
}

/* Each fake plugin saves its stdin as <dir>/<name>-<COMMAND>.json, logs "<COMMAND> <name>" and on ADD prints a
 * result (b echoes a result that proves it saw a's). */
static void fake_plugins(void) {
        _cleanup_free_ char *bin = NULL;
        ck_assert_int_ge(asprintf(&bin, "%s/bin", tmp), 0);
        ck_assert_int_eq(mkdir_p(bin, 0755), 0);
        ck_assert_int_eq(setenv("TEST_CNI_DIR", tmp, 1), 0);
        write_plugin("fake-a",
                     "#!/bin/sh\ncat > \"$TEST_CNI_DIR/a-$CNI_COMMAND.json\"\n"
                     "echo \"$CNI_COMMAND a $CNI_CONTAINERID $CNI_IFNAME $CNI_ARGS\" >> \"$TEST_CNI_DIR/order\"\n"
                     "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{"
                     "\"address\":\"10.0.0.5/24\"}]}'\nexit 0\n");
        write_plugin("fake-b", "#!/bin/sh\ncat > \"$TEST_CNI_DIR/b-$CNI_COMMAND.json\"\n"
                               "echo \"$CNI_COMMAND b\" >> \"$TEST_CNI_DIR/order\"\n"
                               "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{"
                               "\"address\":\"10.0.0.5/24\"}],\"dns\":{\"nameservers\":[\"10.0.0.10\"]}}'\n"
                               "exit 0\n");
        write_plugin("fake-fail", "#!/bin/sh\ncat >/dev/null\necho \"$CNI_COMMAND fail\" >> \"$TEST_CNI_DIR/order\"\n"
                                  "[ \"$CNI_COMMAND\" = DEL ] && exit 0\n"
                                  "echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"fake says no\"}'\nexit 1\n");
        write_plugin("fake-sleep", "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\n"
                                   "echo $$ > \"$TEST_CNI_DIR/sleep.pid\"\nexec sleep 30\n");
}

static CniNetwork *fake_network(const char *plugins) {
        _cleanup_free_ char *text = NULL;
        CniNetwork *n = NULL;
        ErrorBuf e = {};
        ck_assert_int_ge(asprintf(&text, "{\"cniVersion\":\"1.0.0\",\"name\":\"fake\",\"plugins\":[%s]}", plugins), 0);
        ck_assert_int_eq(cni_network_parse(text, strlen(text), "fake", &n, &e), 0);
        return n;
}

static int fake_run(CniCommand cmd, const CniNetwork *n, json_t *caps, uint64_t timeout, json_t **ret, CniError *e) {
        _cleanup_free_ char *bin = NULL, *cache = NULL;
        ck_assert_int_ge(asprintf(&bin, "%s/bin", tmp), 0);
        ck_assert_int_ge(asprintf(&cache, "%s/cache", tmp), 0);
        char *dirs[] = {bin, NULL}, *args[] = {(char *) "K8S_POD_NAME=web", (char *) "K8S_POD_NAMESPACE=default", NULL};
        CniRunnerOptions o = {.bin_dirs = dirs, .cache_dir = cache, .timeout_usec = timeout};
        CniRuntimeConf rt = {.container_id = "ctr1",
                             .netns = "/proc/self/ns/net",
                             .ifname = "eth0",
                             .args = args,
                             .capability_args = caps};
        return cni_run_sync(&o, cmd, n, &rt, ret, e);
}

static json_t *load_rel(const char *rel) {
        _cleanup_free_ char *text = read_file(rel);
        ck_assert_msg(text, "%s missing", rel);
        json_t *j = json_loads(text, 0, NULL);
        ck_assert_msg(j, "%s: %s", rel, text);
        return j;
}

START_TEST(test_runner_chain) {
        fake_plugins();
        _cleanup_(cni_network_freep) CniNetwork *n =
                fake_network("{\"type\":\"fake-a\"},{\"type\":\"fake-b\",\"capabilities\":{\"portMappings\":true}}");
        _cleanup_json_ json_t *caps = json_loads("{\"portMappings\":[{\"hostPort\":80,\"containerPort\":8080}],"
                                                 "\"bandwidth\":{\"ingressRate\":1}}",
                                                 0, NULL);
        _cleanup_json_ json_t *res = NULL;
        CniError e = {};

        ck_assert_int_eq(fake_run(CNI_CMD_ADD, n, caps, 0, &res, &e), 0);
        /* The chain's result is the last plugin's. */
        ck_assert_ptr_nonnull(json_object_get(res, "dns"));
        _cleanup_json_ json_t *ain = load_rel("a-ADD.json"), *bin = load_rel("b-ADD.json");
        /* The list's name and version reach every plugin; only the first has no prevResult; capabilities only
         * where enabled, and only the enabled ones. */
        ck_assert_str_eq(json_string_value(json_object_get(ain, "name")), "fake");
        ck_assert_str_eq(json_string_value(json_object_get(bin, "cniVersion")), "1.0.0");
        ck_assert_ptr_null(json_object_get(ain, "prevResult"));
        ck_assert_ptr_null(json_object_get(ain, "runtimeConfig"));
        ck_assert_str_eq(
                json_string_value(json_object_get(
                        json_array_get(json_object_get(json_object_get(bin, "prevResult"), "ips"), 0), "address")),
                "10.0.0.5/24");
        json_t *rc = json_object_get(bin, "runtimeConfig");
        ck_assert_ptr_nonnull(json_object_get(rc, "portMappings"));
        ck_assert_ptr_null(json_object_get(rc, "bandwidth"));

        /* libcni's cache: kind, IDs, base64 of the configuration, the result. */
        _cleanup_json_ json_t *cache = load_rel("cache/results/fake-ctr1-eth0");
        ck_assert_str_eq(json_string_value(json_object_get(cache, "kind")), "cniCacheV1");
        ck_assert_str_eq(json_string_value(json_object_get(cache, "containerId")), "ctr1");
        ck_assert_str_eq(json_string_value(json_object_get(cache, "ifName")), "eth0");
        ck_assert_str_eq(json_string_value(json_object_get(cache, "networkName")), "fake");
        ck_assert(startswith(json_string_value(json_object_get(cache, "config")),
                             "eyJjbmlWZXJzaW9uIjoi")); /* {"cniVersion":" */
        ck_assert_ptr_nonnull(json_object_get(json_object_get(cache, "result"), "dns"));
        ck_assert_str_eq(json_string_value(json_array_get(json_array_get(json_object_get(cache, "cniArgs"), 0), 0)),
                         "K8S_POD_NAME");

        /* CHECK and DEL get the cached result as prevResult; DEL runs in reverse and drops the cache. */
        ck_assert_int_eq(fake_run(CNI_CMD_CHECK, n, caps, 0, NULL, &e), 0);
        _cleanup_json_ json_t *achk = load_rel("a-CHECK.json");
        ck_assert_ptr_nonnull(json_object_get(json_object_get(achk, "prevResult"), "dns"));
        ck_assert_int_eq(fake_run(CNI_CMD_DEL, n, caps, 0, NULL, &e), 0);
        _cleanup_json_ json_t *adel = load_rel("a-DEL.json");
        ck_assert_ptr_nonnull(json_object_get(adel, "prevResult"));
        ck_assert(!exists("cache/results/fake-ctr1-eth0"));
        _cleanup_free_ char *order = read_file("order");
        ck_assert_str_eq(order, "ADD a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\nADD b\n"
                                "CHECK a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\nCHECK b\n"
                                "DEL b\nDEL a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n");
        /* CHECK without an ADD result is refused. */
        e = (CniError){};
        ck_assert_int_lt(fake_run(CNI_CMD_CHECK, n, caps, 0, NULL, &e), 0);
}
END_TEST

/* portmap and bandwidth with nothing to do for an attachment are not executed (two Go start-ups per pod), and DEL
 * and CHECK skip exactly what ADD skipped; with arguments (or bandwidth's own rates) they run. */
START_TEST(test_runner_skips_idle_capability_plugins) {
        fake_plugins();
        /* Fakes under the reference plugins' names: they log like fake-b. */
        write_plugin("portmap", "#!/bin/sh\ncat >/dev/null\necho \"$CNI_COMMAND portmap\" >> \"$TEST_CNI_DIR/order\"\n"
                                "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\"}'\nexit 0\n");
        write_plugin("bandwidth",
                     "#!/bin/sh\ncat >/dev/null\necho \"$CNI_COMMAND bandwidth\" >> \"$TEST_CNI_DIR/order\"\n"
                     "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\"}'\nexit 0\n");
        _cleanup_(cni_network_freep) CniNetwork *n =
                fake_network("{\"type\":\"fake-a\"},{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}},"
                             "{\"type\":\"bandwidth\",\"capabilities\":{\"bandwidth\":true}}");
        CniError e = {};
        _cleanup_json_ json_t *res = NULL;

        ck_assert_int_eq(fake_run(CNI_CMD_ADD, n, NULL, 0, &res, &e), 0);
        /* The result is the last plugin that ran: a's. */
        ck_assert_ptr_nonnull(json_object_get(res, "ips"));
        _cleanup_json_ json_t *cache = load_rel("cache/results/fake-ctr1-eth0");
        ck_assert_int_eq(json_array_size(json_object_get(cache, "nodeletSkippedPlugins")), 2);
        ck_assert_int_eq(fake_run(CNI_CMD_CHECK, n, NULL, 0, NULL, &e), 0);
        ck_assert_int_eq(fake_run(CNI_CMD_DEL, n, NULL, 0, NULL, &e), 0);
        _cleanup_free_ char *order = read_file("order");
        ck_assert_str_eq(order, "ADD a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n"
                                "CHECK a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n"
                                "DEL a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n");

        /* With port mappings portmap runs (ADD and DEL); bandwidth still has nothing to do. */
        ck_assert_int_eq(unlink_rel("order"), 0);
        _cleanup_json_ json_t *caps =
                json_loads("{\"portMappings\":[{\"hostPort\":80,\"containerPort\":8080}]}", 0, NULL);
        ck_assert_int_eq(fake_run(CNI_CMD_ADD, n, caps, 0, NULL, &e), 0);
        ck_assert_int_eq(fake_run(CNI_CMD_DEL, n, caps, 0, NULL, &e), 0);
        _cleanup_free_ char *order2 = read_file("order");
        ck_assert_str_eq(order2, "ADD a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\nADD portmap\n"
                                 "DEL portmap\nDEL a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n");

        /* A DEL without a cached result runs the whole chain (nothing is known about what ran). */
        ck_assert_int_eq(unlink_rel("order"), 0);
        ck_assert_int_eq(fake_run(CNI_CMD_DEL, n, NULL, 0, NULL, &e), 0);
        _cleanup_free_ char *order3 = read_file("order");
        ck_assert_str_eq(order3,
                         "DEL bandwidth\nDEL portmap\nDEL a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n");

        /* bandwidth with rates in its own configuration always runs. */
        _cleanup_(cni_network_freep) CniNetwork *n2 =
                fake_network("{\"type\":\"fake-a\"},{\"type\":\"bandwidth\",\"ingressRate\":1000,\"ingressBurst\":10}");
        ck_assert_int_eq(unlink_rel("order"), 0);
        ck_assert_int_eq(fake_run(CNI_CMD_ADD, n2, NULL, 0, NULL, &e), 0);
        _cleanup_free_ char *order4 = read_file("order");
        ck_assert_str_eq(order4, "ADD a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\nADD bandwidth\n");
        ck_assert_int_eq(fake_run(CNI_CMD_DEL, n2, NULL, 0, NULL, &e), 0);
}
END_TEST

START_TEST(test_runner_failures) {
        fake_plugins();
        CniError e = {};

        /* A failing plugin: its error is reported, and the whole chain is rolled back in reverse. */
        _cleanup_(cni_network_freep) CniNetwork *n =
                fake_network("{\"type\":\"fake-a\"},{\"type\":\"fake-fail\"},{\"type\":\"fake-b\"}");
        ck_assert_int_lt(fake_run(CNI_CMD_ADD, n, NULL, 0, NULL, &e), 0);
        ck_assert_int_eq(e.code, 7);
        ck_assert_str_eq(e.msg, "fake says no");
        _cleanup_free_ char *order = read_file("order");
        ck_assert_str_eq(order,
                         "ADD a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\nADD fail\nDEL b\nDEL fail\n"
                         "DEL a ctr1 eth0 K8S_POD_NAME=web;K8S_POD_NAMESPACE=default\n");
        ck_assert(!exists("cache/results/fake-ctr1-eth0"));

        /* An unknown plugin is named. */
        _cleanup_(cni_network_freep) CniNetwork *u = fake_network("{\"type\":\"no-such-plugin\"}");
        e = (CniError){};
        ck_assert_int_lt(fake_run(CNI_CMD_ADD, u, NULL, 0, NULL, &e), 0);
        ck_assert_int_eq(e.code, 7);
        ck_assert_msg(strstr(e.msg, "no-such-plugin"), "%s", e.msg);

        /* A plugin that hangs is killed at the timeout. */
        _cleanup_(cni_network_freep) CniNetwork *s = fake_network("{\"type\":\"fake-sleep\"}");
        e = (CniError){};
        ck_assert_int_eq(fake_run(CNI_CMD_ADD, s, NULL, 300 * USEC_PER_MSEC, NULL, &e), -ETIMEDOUT);
        ck_assert_msg(strstr(e.msg, "timed out"), "%s", e.msg);
}
END_TEST

/* A plugin whose leftover child keeps stdout open: the runner finishes when the plugin exits, not when the child
 * does. The test is the subreaper of that child, so it kills and reaps it itself. */
START_TEST(test_runner_descendant_keeps_stdout) {
        fake_plugins();
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        write_plugin("fake-daemon", "#!/bin/sh\ncat >/dev/null\nsleep 60 &\necho $! > \"$TEST_CNI_DIR/daemon.pid\"\n"
                                    "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.0.0\"}'\nexit 0\n");
        _cleanup_(cni_network_freep) CniNetwork *n = fake_network("{\"type\":\"fake-daemon\"}");
        _cleanup_json_ json_t *res = NULL;
        CniError e = {};
        /* The timeout is far above a plugin's run time and far below the child's: hitting it would fail the ADD. */
        int r = fake_run(CNI_CMD_ADD, n, NULL, 20 * USEC_PER_SEC, &res, &e);
        _cleanup_free_ char *pid = read_file("daemon.pid");
        if (pid) {
                (void) kill((pid_t) atoi(pid), SIGKILL);
                (void) waitpid((pid_t) atoi(pid), NULL, 0);
        }
        ck_assert_msg(r == 0, "%d %s", e.code, e.msg);
        ck_assert_str_eq(json_string_value(json_object_get(res, "cniVersion")), "1.0.0");
}
END_TEST

static void never_called(int r, const json_t *result, const CniError *err, void *userdata) {
        ck_abort_msg("callback of a cancelled operation ran");
}

/* Freeing the runner cancels running plugins: killed and reaped, no callback. The loop never blocks meanwhile. */
START_TEST(test_runner_cancel) {
        fake_plugins();
        _cleanup_(cni_network_freep) CniNetwork *n = fake_network("{\"type\":\"fake-sleep\"}");
        _cleanup_free_ char *bin = NULL, *cache = NULL;
        ck_assert_int_ge(asprintf(&bin, "%s/bin", tmp), 0);
        ck_assert_int_ge(asprintf(&cache, "%s/cache", tmp), 0);
        char *dirs[] = {bin, NULL};
        CniRunnerOptions o = {.bin_dirs = dirs, .cache_dir = cache};
        CniRuntimeConf rt = {.container_id = "ctr1", .netns = "/proc/self/ns/net", .ifname = "eth0"};
        _cleanup_(sd_event_unrefp) sd_event *ev = NULL;
        CniRunner *runner = NULL;

        ck_assert_int_eq(sd_event_new(&ev), 0);
        ck_assert_int_eq(cni_runner_new(ev, &o, &runner), 0);
        ck_assert_int_eq(cni_runner_start(runner, CNI_CMD_ADD, n, &rt, never_called, NULL), 0);
        _cleanup_free_ char *pid = NULL;
        for (int i = 0; i < 200 && !pid; i++) {
                ck_assert_int_ge(sd_event_run(ev, 50 * USEC_PER_MSEC), 0);
                pid = read_file("sleep.pid");
        }
        ck_assert_msg(pid, "the plugin never started");
        pid_t p = (pid_t) atoi(pid);
        ck_assert_int_eq(kill(p, 0), 0);
        runner = cni_runner_free(runner);
        ck_assert_int_eq(kill(p, 0), -1); /* gone and reaped, not a zombie */
        ck_assert_int_eq(errno, ESRCH);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("cni-unit");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_ip_parse_format);
        tcase_add_test(tc, test_ipam_host_local_files);
        tcase_add_test(tc, test_ipam_round_robin_and_exhaustion);
        tcase_add_test(tc, test_ipam_config_errors);
        tcase_add_test(tc, test_ipam_ranges_requested_v6_gc);
        tcase_add_test(tc, test_protocol);
        tcase_add_test(tc, test_network_load);
        tcase_add_test(tc, test_default_conflist);
        tcase_add_test(tc, test_cache_path);
        tcase_add_test(tc, test_default_bin_dirs);
        tcase_add_test(tc, test_result_pod_ips);
        tcase_add_test(tc, test_plugin_errors);
        tcase_add_test(tc, test_runner_chain);
        tcase_add_test(tc, test_runner_failures);
        tcase_add_test(tc, test_runner_skips_idle_capability_plugins);
        tcase_add_test(tc, test_runner_descendant_keeps_stdout);
        tcase_add_test(tc, test_runner_cancel);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
