/* SPDX-License-Identifier: Apache-2.0 */
/* Quantities, $(VAR) expansion, the container environment (values, fieldRef, resourceFieldRef, unsupported
 * configMap/secret sources) and the downward API's formatting of labels and annotations. */

#include <inttypes.h>
#include <stdio.h>

#include "agent/pod.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

#define BAD INT64_MIN /* -EINVAL expected */

static const struct {
        const char *s;
        int64_t milli, bytes;
} quantities[] = {
        {"100m", 100, 1},
        {"0.5", 500, 1},
        {"2", 2000, 2},
        {"1.5", 1500, 2},
        {".5", 500, 1},
        {"5.", 5000, 5},
        {"+5", 5000, 5},
        {"000100", 100000, 100},
        {"0", 0, 0},
        {"0.000", 0, 0},
        {"-1", -1000, -1},
        {"-100m", -100, 0},  /* rounded up: towards +inf */
        {"-1.5", -1500, -1}, /* ceil(-1.5) */
        {"64Mi", 67108864000, 67108864},
        {"1Ki", 1024000, 1024},
        {"1.5Ki", 1536000, 1536},
        {"0.1Ki", 102400, 103}, /* 102.4 → 103 */
        {"1Gi", 1073741824000, 1073741824},
        {"7Ei", BAD, 8070450532247928832},
        {"8Ei", BAD, BAD},
        {"1k", 1000000, 1000},
        {"1M", 1000000000, 1000000},
        {"1G", 1000000000000, 1000000000},
        {"1T", 1000000000000000, 1000000000000},
        {"1P", 1000000000000000000, 1000000000000000},
        {"1E", BAD, 1000000000000000000},
        {"1n", 1, 1},
        {"1u", 1, 1},
        {"1500u", 2, 1},
        {"1e3", 1000000, 1000},
        {"1E3", 1000000, 1000},
        {"1e+3", 1000000, 1000},
        {"1e-3", 1, 1},
        {"2.5e2", 250000, 250},
        {"1e1000000000", BAD, BAD},
        {"1e-1000000000", 1, 1},
        {"9223372036854775807", BAD, INT64_MAX},
        {"9223372036854775808", BAD, BAD},
        {"0.00000000000000000000000000000000000000000000000000000000000000000000000000000001", 1, 1},
        /* beyond the 64 kept fraction digits: the sticky bit still rounds up */
        {"1.00000000000000000000000000000000000000000000000000000000000000000000000000000001Ki", 1024001, 1025},
        {"0.99999999999999999999999999Ki", 1024000, 1024},
        {"", BAD, BAD},
        {"abc", BAD, BAD},
        {"1x", BAD, BAD},
        {"1 ", BAD, BAD},
        {" 1", BAD, BAD},
        {"1.2.3", BAD, BAD},
        {"1e", BAD, BAD},
        {"1e+", BAD, BAD},
        {"1Kib", BAD, BAD},
        {"1ki", BAD, BAD},
        {"--1", BAD, BAD},
        {"Mi", BAD, BAD},
        {".", BAD, BAD},
        {"+", BAD, BAD},
};

START_TEST(test_quantity) {
        const char *s = quantities[_i].s;
        int64_t v = 42;
        int r = quantity_parse_milli(s, &v);
        if (quantities[_i].milli == BAD) {
                ck_assert_msg(r == -EINVAL, "milli \"%s\": %d", s, r);
                ck_assert_int_eq(v, 42);
        } else
                ck_assert_msg(r == 0 && v == quantities[_i].milli, "milli \"%s\": %d %" PRId64, s, r, v);
        v = 42;
        r = quantity_parse_bytes(s, &v);
        if (quantities[_i].bytes == BAD) {
                ck_assert_msg(r == -EINVAL, "bytes \"%s\": %d", s, r);
                ck_assert_int_eq(v, 42);
        } else
                ck_assert_msg(r == 0 && v == quantities[_i].bytes, "bytes \"%s\": %d %" PRId64, s, r, v);
}
END_TEST

START_TEST(test_quantity_json) {
        _cleanup_json_ json_t *i = json_integer(2), *big = json_integer(1048576), *f = json_real(0.1),
                              *h = json_real(0.5), *s = json_string("2Gi"), *b = json_true();
        int64_t v = 0;
        ck_assert_int_eq(quantity_from_json(i, true, &v), 0);
        ck_assert_int_eq(v, 2000);
        ck_assert_int_eq(quantity_from_json(big, false, &v), 0);
        ck_assert_int_eq(v, 1048576);
        ck_assert_int_eq(quantity_from_json(f, true, &v), 0);
        ck_assert_int_eq(v, 100); /* 0.1 as written, not 0.1000000000000000055 */
        ck_assert_int_eq(quantity_from_json(h, true, &v), 0);
        ck_assert_int_eq(v, 500);
        ck_assert_int_eq(quantity_from_json(s, false, &v), 0);
        ck_assert_int_eq(v, 2LL << 30);
        ck_assert_int_eq(quantity_from_json(b, false, &v), -EINVAL);
        ck_assert_int_eq(quantity_parse_bytes(NULL, &v), -EINVAL);
}
END_TEST

static const struct {
        const char *in, *out;
} expansions[] = {
        {"", ""},
        {"plain", "plain"},
        {"$(VAR_A)", "A"},
        {"___$(VAR_B)___", "___B___"},
        {"$(VAR_A)-$(VAR_A)", "A-A"},
        {"$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"},
        {"$(VAR_EMPTY)", ""},
        {"x$(VAR_EMPTY)y", "xy"},
        {"$(VAR_REF)", "$(VAR_A)"}, /* values are not expanded again */
        {"$(UNKNOWN)", "$(UNKNOWN)"},
        {"$(UNKNOWN)$(VAR_A)", "$(UNKNOWN)A"},
        {"$$(VAR_A)", "$(VAR_A)"},
        {"$$$(VAR_A)", "$A"},
        {"$$$$(VAR_A)", "$$(VAR_A)"},
        {"$(VAR_A", "$(VAR_A"},
        {"$(VAR_A)$(VAR_B", "A$(VAR_B"},
        {"$(", "$("},
        {"$($(", "$($("},
        {"$", "$"},
        {"$$", "$"},
        {"$$$", "$$"},
        {"foo$", "foo$"},
        {"$VAR_A", "$VAR_A"},
        {"${VAR_A}", "${VAR_A}"},
        {"$()", "$()"},
        {"$($(VAR_A))", "$($(VAR_A))"},
        {"$(VAR_A)$$", "A$"},
        {"$(VAR_DUP)", "second"}, /* the last definition wins */
        {"é$(VAR_A)é", "éAé"},
        {"$é", "$é"},
};

START_TEST(test_expand) {
        static char *const env[] = {
                (char *) "VAR_A=A",          (char *) "VAR_B=B",       (char *) "VAR_C=C",        (char *) "VAR_EMPTY=",
                (char *) "VAR_REF=$(VAR_A)", (char *) "VAR_DUP=first", (char *) "VAR_DUP=second", NULL,
        };
        _cleanup_free_ char *out = pod_expand_vars(expansions[_i].in, env);
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, expansions[_i].out);
}
END_TEST

START_TEST(test_expand_unclosed_linear) {
        /* many unclosed "$(" (each would scan to the end without the remembered search) */
        size_t n = 4 * 1024 * 1024;
        _cleanup_free_ char *in = malloc(n + 1);
        ck_assert_ptr_nonnull(in);
        for (size_t i = 0; i < n; i += 2)
                memcpy(in + i, "$(", 2);
        in[n] = 0;
        _cleanup_free_ char *out = pod_expand_vars(in, NULL);
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, in);
}
END_TEST

static json_t *json_from(const char *text) {
        _cleanup_free_ char *t = strdup(text);
        json_t *j = NULL;
        ck_assert_ptr_nonnull(t);
        for (char *c = t; *c; c++)
                if (*c == '\'')
                        *c = '"';
        ck_assert_int_eq(jx_parse(t, strlen(t), "test", &j, NULL), 0);
        return j;
}

static Pod *parse_ok(const char *text) {
        _cleanup_json_ json_t *j = json_from(text);
        Pod *p = NULL;
        ErrorBuf e = {};
        int r = pod_parse(j, "file", &p, &e);
        if (r < 0)
                ck_abort_msg("pod_parse failed: %s", error_message(&e, r));
        return p;
}

#define HEAD                                                                                                           \
        "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'prod','uid':'u-1',"                     \
        "'labels':{'app':'web','tier':'front'},'annotations':{'note':'say \\\"hi\\\"\\n\\tbye\\\\'}},'spec':{"

static char *const pod_ips[] = {(char *) "10.0.0.5", (char *) "fd00::5", NULL};
static const PodRuntimeInfo info = {
        .pod_ips = pod_ips,
        .host_ip = "192.168.1.2",
        .node_name = "node-1",
        .node_allocatable_cpu_milli = 4000,
        .node_allocatable_memory = 8LL << 30,
        .node_allocatable_ephemeral_storage = 100LL << 30,
};

static const char *fr(const char *name, const char *path) {
        static char buf[16][256];
        static size_t n;
        char *b = buf[n++ % 16];
        snprintf(b, 256, "{'name':'%s','valueFrom':{'fieldRef':{'fieldPath':'%s'}}}", name, path);
        return b;
}

START_TEST(test_container_env) {
        char text[8192];
        snprintf(text, sizeof text,
                 HEAD "'serviceAccountName':'robot','initContainers':[{'name':'side','image':'b','restartPolicy':"
                      "'Always','resources':{'requests':{'cpu':'100m'}}}],"
                      "'containers':[{'name':'app','image':'b','resources':{'limits':{'cpu':'1500m','memory':'64Mi'},"
                      "'requests':{'cpu':'250m'}},'env':["
                      "{'name':'A','value':'a'},{'name':'B','value':'$(A)-b'},{'name':'C','value':'$(D)'},"
                      "{'name':'D','value':'d'},{'name':'A','value':'a2'},{'name':'E','value':'$(A)'},"
                      "{'name':'NOVALUE'},%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
                      "{'name':'V','value':'$(POD)/$$(POD)'},"
                      "{'name':'CPU','valueFrom':{'resourceFieldRef':{'resource':'limits.cpu'}}},"
                      "{'name':'CPU_M','valueFrom':{'resourceFieldRef':{'resource':'limits.cpu','divisor':'1m'}}},"
                      "{'name':'MEM','valueFrom':{'resourceFieldRef':{'resource':'limits.memory','divisor':'1Mi'}}},"
                      "{'name':'MEM_B','valueFrom':{'resourceFieldRef':{'resource':'limits.memory'}}},"
                      "{'name':'REQ','valueFrom':{'resourceFieldRef':{'resource':'requests.cpu','divisor':'1m'}}},"
                      "{'name':'REQ_MEM','valueFrom':{'resourceFieldRef':{'resource':'requests.memory','divisor':"
                      "'1Mi'}}},"
                      "{'name':'EPH','valueFrom':{'resourceFieldRef':{'resource':'limits.ephemeral-storage',"
                      "'divisor':'1Gi'}}},"
                      "{'name':'SIDE_CPU','valueFrom':{'resourceFieldRef':{'containerName':'side','resource':"
                      "'limits.cpu','divisor':'1m'}}},"
                      "{'name':'SIDE_REQ','valueFrom':{'resourceFieldRef':{'containerName':'side','resource':"
                      "'requests.cpu','divisor':'1m'}}},"
                      "{'name':'OPT','valueFrom':{'configMapKeyRef':{'name':'c','key':'k','optional':true}}},"
                      "{'name':'OPT2','valueFrom':{'secretKeyRef':{'name':'s','key':'k','optional':true}}}],"
                      "'envFrom':[{'configMapRef':{'name':'c','optional':true}}]}]}}",
                 fr("POD", "metadata.name"), fr("NS", "metadata.namespace"), fr("UID", "metadata.uid"),
                 fr("APP", "metadata.labels[\\u0027app\\u0027]"), fr("MISSING", "metadata.labels[\\u0027nope\\u0027]"),
                 fr("NOTE", "metadata.annotations[\\u0027note\\u0027]"), fr("NODE", "spec.nodeName"),
                 fr("SA", "spec.serviceAccountName"), fr("HOST", "status.hostIP"), fr("HOSTS", "status.hostIPs"),
                 fr("IP", "status.podIP"), fr("IPS", "status.podIPs"), fr("LABELS", "metadata.labels"));
        _cleanup_(pod_freep) Pod *p = parse_ok(text);
        static const char *const want[] = {
                "A=a2",
                "B=a-b",
                "C=$(D)", /* D is defined later */
                "D=d",
                "E=a2",
                "NOVALUE=",
                "POD=web",
                "NS=prod",
                "UID=u-1",
                "APP=web",
                "MISSING=",
                "NOTE=say \"hi\"\n\tbye\\", /* the raw value, not the quoted form */
                "NODE=node-1",
                "SA=robot",
                "HOST=192.168.1.2",
                "HOSTS=192.168.1.2",
                "IP=10.0.0.5",
                "IPS=10.0.0.5,fd00::5",
                "LABELS=app=\"web\"\ntier=\"front\"",
                "V=web/$(POD)",
                "CPU=2", /* 1500m in cores, rounded up */
                "CPU_M=1500",
                "MEM=64",
                "MEM_B=67108864",
                "REQ=250",
                "REQ_MEM=64", /* the request defaulted from the limit */
                "EPH=100",    /* no limit: node allocatable */
                "SIDE_CPU=4000",
                "SIDE_REQ=100",
        };
        _cleanup_strv_free_ char **env = NULL;
        ErrorBuf e = {};
        int r = pod_container_env(p, p->containers, &info, &env, &e);
        ck_assert_msg(r == 0, "%s", e.msg);
        size_t n = 0;
        for (; env[n]; n++) {
                ck_assert_msg(n < ELEMENTSOF(want), "extra entry %s", env[n]);
                ck_assert_str_eq(env[n], want[n]);
        }
        ck_assert_int_eq(n, ELEMENTSOF(want));
}
END_TEST

static void expect_env_error(const char *spec, int want, const char *message) {
        char text[2048];
        snprintf(text, sizeof text, HEAD "%s}}", spec);
        _cleanup_(pod_freep) Pod *p = parse_ok(text);
        const PodContainer *c = p->n_init_containers > 0 ? p->init_containers : p->containers;
        char **env = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(pod_container_env(p, c, &info, &env, &e), want);
        ck_assert_ptr_null(env);
        if (!strstr(e.msg, message))
                ck_abort_msg("expected \"%s\" in \"%s\"", message, e.msg);
}

START_TEST(test_container_env_errors) {
        expect_env_error("'containers':[{'name':'a','image':'b','env':[{'name':'X','value':'1'},{'name':'A',"
                         "'valueFrom':{'configMapKeyRef':{'name':'c','key':'k'}}}]}]",
                         -ENOTSUP,
                         "spec.containers[0].env[1].valueFrom.configMapKeyRef: not supported without an API server");
        expect_env_error("'containers':[{'name':'a','image':'b','env':[{'name':'A',"
                         "'valueFrom':{'secretKeyRef':{'name':'s','key':'k','optional':false}}}]}]",
                         -ENOTSUP, "spec.containers[0].env[0].valueFrom.secretKeyRef: not supported");
        expect_env_error("'initContainers':[{'name':'i','image':'b','envFrom':[{'secretRef':{'name':'s'}}]}],"
                         "'containers':[{'name':'a','image':'b'}]",
                         -ENOTSUP, "spec.initContainers[0].envFrom[0].secretRef: not supported without an API server");
        expect_env_error("'containers':[{'name':'a','image':'b','env':[{'name':'A','valueFrom':{'resourceFieldRef':"
                         "{'containerName':'ghost','resource':'limits.cpu'}}}]}]",
                         -ENOENT,
                         "spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName: container "
                         "\"ghost\" not found");

        /* $(VAR) chains that double at every step end with E2BIG instead of eating memory */
        char spec[4096];
        size_t l = (size_t) snprintf(spec, sizeof spec,
                                     "'containers':[{'name':'a','image':'b','env':[{'name':'X0',"
                                     "'value':'%01024d'}",
                                     0);
        for (int i = 1; i < 16; i++)
                l += (size_t) snprintf(spec + l, sizeof spec - l, ",{'name':'X%d','value':'$(X%d)$(X%d)'}", i, i - 1,
                                       i - 1);
        snprintf(spec + l, sizeof spec - l, "]}]");
        expect_env_error(spec, -E2BIG, "spec.containers[0].env[12].value: the environment would exceed");
}
END_TEST

START_TEST(test_field_ref_values) {
        _cleanup_(pod_freep) Pod *p = parse_ok(
                "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','uid':'u','labels':{'b':'2','a':'1',"
                "'a.example.com/x':'y'},'annotations':{'q':'say \\\"hi\\\"','bs':'a\\\\b','ctl':'\\u0001\\u007f\\r',"
                "'nl':'1\\n2\\t3','uni':'h\\u00e9llo \\u00a0 \\u2028 \\ud83d\\ude00','empty':''}},"
                "'spec':{'nodeName':'given','containers':[{'name':'a','image':'b'}]}}");
        _cleanup_free_ char *labels = NULL, *ann = NULL, *node = NULL, *ip = NULL, *ips = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(pod_field_ref_value(p, "metadata.labels", &info, &labels, &e), 0);
        ck_assert_str_eq(labels, "a=\"1\"\na.example.com/x=\"y\"\nb=\"2\"");
        ck_assert_int_eq(pod_field_ref_value(p, "metadata.annotations", &info, &ann, &e), 0);
        ck_assert_str_eq(ann, "bs=\"a\\\\b\"\n"
                              "ctl=\"\\x01\\x7f\\r\"\n"
                              "empty=\"\"\n"
                              "nl=\"1\\n2\\t3\"\n"
                              "q=\"say \\\"hi\\\"\"\n"
                              "uni=\"h\xc3\xa9llo \\u00a0 \\u2028 \xf0\x9f\x98\x80\"");
        /* the pod's nodeName wins over the node's */
        ck_assert_int_eq(pod_field_ref_value(p, "spec.nodeName", &info, &node, &e), 0);
        ck_assert_str_eq(node, "given");
        /* no pod IPs yet */
        ck_assert_int_eq(pod_field_ref_value(p, "status.podIP", NULL, &ip, &e), 0);
        ck_assert_str_eq(ip, "");
        ck_assert_int_eq(pod_field_ref_value(p, "status.podIPs", NULL, &ips, &e), 0);
        ck_assert_str_eq(ips, "");

        char *v = NULL;
        ck_assert_int_eq(pod_field_ref_value(p, "spec.hostname", &info, &v, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "fieldPath: unsupported value \"spec.hostname\"");
        ck_assert_ptr_null(v);

        /* empty maps format as "" */
        _cleanup_(pod_freep) Pod *q = parse_ok("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'w','uid':'u'},"
                                               "'spec':{'containers':[{'name':'a','image':'b'}]}}");
        _cleanup_free_ char *none = NULL;
        ck_assert_int_eq(pod_field_ref_value(q, "metadata.labels", &info, &none, &e), 0);
        ck_assert_str_eq(none, "");
}
END_TEST

START_TEST(test_resource_field_ref) {
        _cleanup_(pod_freep) Pod *p = parse_ok(
                "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'w','uid':'u'},'spec':{'containers':[{'name':'a',"
                "'image':'b','resources':{'limits':{'cpu':'250m','memory':'1G','hugepages-2Mi':'4Mi'}}}]}}");
        const PodContainer *c = p->containers;
        static const struct {
                const char *resource, *divisor, *want;
        } cases[] = {
                {"limits.cpu", NULL, "1"},
                {"limits.cpu", "1", "1"},
                {"limits.cpu", "1m", "250"},
                {"requests.cpu", "1m", "250"},
                {"limits.memory", NULL, "1000000000"},
                {"limits.memory", "1Mi", "954"}, /* 953.67 rounded up */
                {"limits.memory", "1k", "1000000"},
                {"limits.hugepages-2Mi", "1Mi", "4"},
                {"limits.ephemeral-storage", "1Gi", "100"},
                {"requests.ephemeral-storage", NULL, "0"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *v = NULL;
                ErrorBuf e = {};
                int r = pod_resource_field_ref_value(p, c, cases[i].resource, cases[i].divisor, &info, &v, &e);
                ck_assert_msg(r == 0, "%s: %s", cases[i].resource, e.msg);
                ck_assert_msg(streq(v, cases[i].want), "%s/%s: %s", cases[i].resource, strna(cases[i].divisor), v);
        }
        char *v = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(pod_resource_field_ref_value(p, c, "limits.cpu", "0", &info, &v, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "divisor: invalid value \"0\"");
        error_clear(&e);
        ck_assert_int_eq(pod_resource_field_ref_value(p, c, "limits.gpu", NULL, &info, &v, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "resource: unsupported value \"limits.gpu\"");
        ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_field_path_valid) {
        static const struct {
                const char *path;
                bool env, volume;
        } cases[] = {
                {"metadata.name", true, true},
                {"metadata.namespace", true, true},
                {"metadata.uid", true, true},
                {"metadata.labels", true, true},
                {"metadata.annotations", true, true},
                {"metadata.labels['app']", true, true},
                {"metadata.annotations['example.com/x']", true, true},
                {"spec.nodeName", true, false},
                {"spec.serviceAccountName", true, false},
                {"status.hostIP", true, false},
                {"status.hostIPs", true, false},
                {"status.podIP", true, false},
                {"status.podIPs", true, false},
                {"metadata.labels['']", false, false},
                {"metadata.generateName", false, false},
                {"metadata.ownerReferences['a']", false, false},
                {"spec.hostname", false, false},
                {"['a']", false, false},
                {"", false, false},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ck_assert_msg(pod_field_path_valid(cases[i].path, false) == cases[i].env, "%s", cases[i].path);
                ck_assert_msg(pod_field_path_valid(cases[i].path, true) == cases[i].volume, "%s", cases[i].path);
        }
        ck_assert(!pod_field_path_valid(NULL, false));
}
END_TEST

int main(void) {
        Suite *s = suite_create("pod-env");
        TCase *tc = tcase_create("core");
        tcase_add_loop_test(tc, test_quantity, 0, (int) ELEMENTSOF(quantities));
        tcase_add_test(tc, test_quantity_json);
        tcase_add_loop_test(tc, test_expand, 0, (int) ELEMENTSOF(expansions));
        tcase_add_test(tc, test_expand_unclosed_linear);
        tcase_add_test(tc, test_container_env);
        tcase_add_test(tc, test_container_env_errors);
        tcase_add_test(tc, test_field_ref_values);
        tcase_add_test(tc, test_resource_field_ref);
        tcase_add_test(tc, test_field_path_valid);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
