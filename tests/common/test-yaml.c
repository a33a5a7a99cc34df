/* SPDX-License-Identifier: Apache-2.0 */
/* YAML → JSON as Kubernetes decodes manifests and config files (sigs.k8s.io/yaml over go-yaml v2). */

#include "common/json-util.h"
#include "common/yaml.h"
#include "tests/lib/testlib.h"

static json_t *parse1(const char *text) {
        json_t *j = NULL;
        ErrorBuf e = {};
        int r = yaml_parse(text, strlen(text), "test", &j, &e);
        ck_assert_msg(r == 0, "parse failed: %s", error_message(&e, r));
        return j;
}

/* The compact, sorted JSON of a one-document YAML text. */
static char *as_json(const char *text) {
        _cleanup_json_ json_t *j = parse1(text);
        return jx_dump_compact(j);
}

#define ck_assert_yaml(yaml, json)                                                                                     \
        do {                                                                                                           \
                _cleanup_free_ char *_s = as_json(yaml);                                                               \
                ck_assert_str_eq(_s, json);                                                                            \
        } while (0)

START_TEST(test_pod_manifest) {
        const char *pod = "apiVersion: v1\n"
                          "kind: Pod\n"
                          "metadata:\n"
                          "  name: web\n"
                          "  namespace: default\n"
                          "  labels: {app: web, tier: \"1\"}\n"
                          "spec:\n"
                          "  containers:\n"
                          "  - name: nginx\n"
                          "    image: nginx:1.25\n"
                          "    args: [\"--port\", \"8080\"]\n"
                          "    ports:\n"
                          "    - containerPort: 8080\n"
                          "      protocol: TCP\n"
                          "    env:\n"
                          "    - name: GREETING\n"
                          "      value: |\n"
                          "        hello\n"
                          "        world\n"
                          "    resources:\n"
                          "      limits: {memory: 64Mi, cpu: 250m}\n"
                          "  restartPolicy: Always\n";
        ck_assert_yaml(
                pod, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"labels\":{\"app\":\"web\","
                     "\"tier\":\"1\"},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{"
                     "\"args\":[\"--port\",\"8080\"],\"env\":[{\"name\":\"GREETING\",\"value\":\"hello\\nworld\\n\"}],"
                     "\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":8080,"
                     "\"protocol\":\"TCP\"}],\"resources\":{\"limits\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"}}}],"
                     "\"restartPolicy\":\"Always\"}}");
}
END_TEST

START_TEST(test_yaml11_booleans) {
        /* YAML 1.1 as in go-yaml v2: these are booleans, not strings. */
        ck_assert_yaml("a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: True\n",
                       "{\"a\":true,\"b\":false,\"c\":true,\"d\":false,\"e\":true,\"f\":false,\"g\":true}");
        /* Quoted stays a string. */
        ck_assert_yaml("a: \"yes\"\nb: 'on'\n", "{\"a\":\"yes\",\"b\":\"on\"}");
        /* Keys too: `on:` becomes "true". */
        ck_assert_yaml("on: push\nno: 1\n", "{\"false\":1,\"true\":\"push\"}");
        /* Not YAML 1.1 booleans. */
        ck_assert_yaml("a: yES\nb: tRUE\n", "{\"a\":\"yES\",\"b\":\"tRUE\"}");
}
END_TEST

START_TEST(test_yaml11_numbers) {
        /* A leading zero is octal: defaultMode: 0644 is 420, as every Kubernetes user eventually learns. */
        ck_assert_yaml("mode: 0644\n", "{\"mode\":420}");
        ck_assert_yaml("a: 0x1F\nb: 0o17\nc: 0b101\nd: -42\ne: 1_000\nf: +7\n",
                       "{\"a\":31,\"b\":15,\"c\":5,\"d\":-42,\"e\":1000,\"f\":7}");
        ck_assert_yaml("a: 1.5\nb: 1e3\nc: .5\nd: -2.5E-1\n", "{\"a\":1.5,\"b\":1000.0,\"c\":0.5,\"d\":-0.25}");
        /* Not numbers: versions, quantities, ports with colons. */
        ck_assert_yaml("a: 1.2.3\nb: 64Mi\nc: 80:8080\ne: 1e\n",
                       "{\"a\":\"1.2.3\",\"b\":\"64Mi\",\"c\":\"80:8080\",\"e\":\"1e\"}");
        /* 09 is no octal integer but matches go-yaml's float pattern: 9.0. */
        ck_assert_yaml("d: 09\n", "{\"d\":9.0}");
        /* Integer keys become strings. */
        ck_assert_yaml("80: http\n", "{\"80\":\"http\"}");
}
END_TEST

START_TEST(test_nulls_and_tags) {
        ck_assert_yaml("a: ~\nb: null\nc:\nd: Null\n", "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}");
        ck_assert_yaml("a: !!str 0644\nb: !!int \"12\"\nc: !!bool yes\nd: !!float 3\n",
                       "{\"a\":\"0644\",\"b\":12,\"c\":true,\"d\":3}");
        /* Timestamps stay strings (go-yaml v2 decoding into interface{}). */
        ck_assert_yaml("t: 2016-10-06T00:17:09Z\n", "{\"t\":\"2016-10-06T00:17:09Z\"}");
}
END_TEST

START_TEST(test_anchors_and_merge) {
        ck_assert_yaml("base: &b {cpu: 1, memory: 2}\n"
                       "x:\n  <<: *b\n  memory: 3\n"
                       "w:\n  memory: 4\n  <<: *b\n"
                       "z: *b\n",
                       "{\"base\":{\"cpu\":1,\"memory\":2},\"w\":{\"cpu\":1,\"memory\":4},"
                       "\"x\":{\"cpu\":1,\"memory\":3},\"z\":{\"cpu\":1,\"memory\":2}}");
        ck_assert_yaml("a: &s hello\nb: *s\nc: [*s, *s]\n",
                       "{\"a\":\"hello\",\"b\":\"hello\",\"c\":[\"hello\",\"hello\"]}");
        ck_assert_yaml("x:\n  <<: [{a: 1}, {a: 2, b: 2}]\n", "{\"x\":{\"a\":1,\"b\":2}}");
}
END_TEST

START_TEST(test_duplicate_keys_last_wins) {
        ck_assert_yaml("a: 1\na: 2\n", "{\"a\":2}");
}
END_TEST

START_TEST(test_multi_document) {
        const char *text = "# a Service and its EndpointSlice\n"
                           "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                           "---\n"
                           "# only a comment: skipped like kubectl does\n"
                           "---\n"
                           "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-abc}\n"
                           "...\n"
                           "---\n"
                           "kind: ConfigMap\n";
        _cleanup_json_ json_t *docs = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse_documents(text, strlen(text), "t", &docs, &e), 0);
        ck_assert_int_eq(json_array_size(docs), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(docs, 0), "kind")), "Service");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(docs, 1), "kind")), "EndpointSlice");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(docs, 2), "kind")), "ConfigMap");

        /* A single-document parse refuses a stream with two. */
        json_t *j = NULL;
        ck_assert_int_lt(yaml_parse(text, strlen(text), "t", &j, &e), 0);
        ck_assert_ptr_null(j);
        ck_assert_ptr_nonnull(strstr(e.msg, "single document"));
}
END_TEST

START_TEST(test_kubelet_configuration) {
        const char *text = "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                           "kind: KubeletConfiguration\n"
                           "authentication:\n"
                           "  anonymous:\n"
                           "    enabled: false\n"
                           "  webhook:\n"
                           "    enabled: true\n"
                           "cgroupDriver: cgroupfs\n"
                           "clusterDNS:\n"
                           "- 10.96.0.10\n"
                           "clusterDomain: cluster.local\n"
                           "evictionHard:\n"
                           "  memory.available: \"100Mi\"\n"
                           "  nodefs.available: 10%\n"
                           "failSwapOn: no\n"
                           "maxPods: 110\n"
                           "staticPodPath: /etc/kubernetes/manifests\n"
                           "syncFrequency: 1m0s\n";
        _cleanup_json_ json_t *j = parse1(text);
        ck_assert(json_is_false(json_object_get(j, "failSwapOn")));
        ck_assert_int_eq(json_integer_value(json_object_get(j, "maxPods")), 110);
        ck_assert_str_eq(json_string_value(json_object_get(j, "syncFrequency")), "1m0s");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "clusterDNS"), 0)), "10.96.0.10");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "evictionHard"), "nodefs.available")),
                         "10%");
}
END_TEST

START_TEST(test_kubeconfig) {
        const char *text = "apiVersion: v1\n"
                           "kind: Config\n"
                           "clusters:\n"
                           "- cluster:\n"
                           "    certificate-authority-data: LS0tLS1CRUdJTi==\n"
                           "    server: https://127.0.0.1:6443\n"
                           "  name: kind\n"
                           "contexts:\n"
                           "- context: {cluster: kind, user: kubelet}\n"
                           "  name: default\n"
                           "current-context: default\n"
                           "preferences: {}\n"
                           "users:\n"
                           "- name: kubelet\n"
                           "  user:\n"
                           "    token: abcdef.0123456789abcdef\n";
        _cleanup_json_ json_t *j = parse1(text);
        json_t *cluster = json_object_get(json_array_get(json_object_get(j, "clusters"), 0), "cluster");
        ck_assert_str_eq(json_string_value(json_object_get(cluster, "server")), "https://127.0.0.1:6443");
        ck_assert_str_eq(json_string_value(json_object_get(cluster, "certificate-authority-data")), "LS0tLS1CRUdJTi==");
        ck_assert_str_eq(json_string_value(json_object_get(j, "current-context")), "default");
        ck_assert_int_eq(json_object_size(json_object_get(j, "preferences")), 0);
}
END_TEST

START_TEST(test_json_input) {
        /* JSON goes through the JSON parser: tabs (illegal YAML indentation) are fine and keys stay as written. */
        ck_assert_yaml("{\n\t\"kind\": \"Pod\",\n\t\"on\": 1\n}", "{\"kind\":\"Pod\",\"on\":1}");
        /* And a single-letter key is a YAML 1.1 boolean outside JSON: `y:` is "true". */
        ck_assert_yaml("y: 1\n", "{\"true\":1}");
}
END_TEST

START_TEST(test_errors_name_location) {
        const char *bad[] = {
                "a: [1, 2\n",           /* unterminated flow sequence */
                "a: b\n c: d\n  - x\n", /* bad indentation */
                "a: *nope\n",           /* unknown anchor */
                "a: &x [*x]\n",         /* alias inside its own anchor */
                "a: .inf\n",            /* not representable in JSON */
                "? [1, 2]\n: x\n",      /* non-scalar key */
                "a: !!int hello\n",     /* tag that does not fit */
                "key: \"unterminated\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_t *j = NULL;
                ErrorBuf e = {};
                int r = yaml_parse(bad[i], strlen(bad[i]), "pod.yaml", &j, &e);
                ck_assert_msg(r < 0, "case %zu parsed", i);
                ck_assert_ptr_null(j);
                ck_assert_msg(strncmp(e.msg, "pod.yaml:", 9) == 0, "case %zu: message without location: %s", i, e.msg);
        }
}
END_TEST

START_TEST(test_deep_nesting_refused) {
        char buf[4096];
        size_t n = 0;
        for (int i = 0; i < 1000; i++)
                buf[n++] = '[';
        buf[n] = 0;
        json_t *j = NULL;
        ErrorBuf e = {};
        ck_assert_int_lt(yaml_parse(buf, n, "deep", &j, &e), 0);
}
END_TEST

/* A "billion laughs" document with `levels` levels of ten aliases each. */
static char *laughs(int levels, size_t *ret_size) {
        char *text = NULL;
        FILE *f = open_memstream(&text, ret_size);
        ck_assert_ptr_nonnull(f);
        fprintf(f, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < levels; i++)
                fprintf(f, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1,
                        i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        fclose(f);
        return text;
}

START_TEST(test_billion_laughs_refused) {
        /* Like go-yaml's "excessive aliasing": whoever walks the result would expand 10^9 nodes (and 10^4 already
         * makes aliases 99% of the document). The error names the file and the alias that crossed the line. */
        for (int levels = 4; levels <= 10; levels += 3) {
                size_t size = 0;
                _cleanup_free_ char *text = laughs(levels, &size);
                json_t *j = NULL;
                ErrorBuf e = {};
                ck_assert_int_eq(yaml_parse(text, size, "lol.yaml", &j, &e), -EBADMSG);
                ck_assert_ptr_null(j);
                ck_assert_msg(strstr(e.msg, "lol.yaml:") == e.msg && strstr(e.msg, "excessive aliasing"), "%s", e.msg);
        }
        /* Also through the multi-document reader and the positions reader. */
        size_t size = 0;
        _cleanup_free_ char *text = laughs(7, &size);
        json_t *j = NULL;
        YamlPositions *pos = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse_documents(text, size, "docs.yaml", &j, &e), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(e.msg, "excessive aliasing"));
        error_clear(&e);
        ck_assert_int_eq(yaml_parse_with_positions(text, size, "pos.yaml", &j, &pos, &e), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(e.msg, "excessive aliasing"));
        ck_assert_ptr_null(pos);
}
END_TEST

START_TEST(test_moderate_aliasing_accepted) {
        /* Three levels (1,110 nodes, mostly aliased) and a large document with a realistic share of aliases (a
         * shared block of 20 keys merged into 2,000 entries) are fine: the bound is on the ratio, not the count. */
        size_t size = 0;
        _cleanup_free_ char *text = laughs(3, &size);
        _cleanup_json_ json_t *j = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse(text, size, "lol", &j, &e), 0);
        ck_assert_int_eq(json_array_size(json_array_get(json_object_get(j, "a2"), 9)), 10);

        char *big = NULL;
        size_t bsize = 0;
        FILE *f = open_memstream(&big, &bsize);
        fprintf(f, "base: &base\n");
        for (int k = 0; k < 20; k++)
                fprintf(f, "  k%d: v%d\n", k, k);
        fprintf(f, "items:\n");
        for (int i = 0; i < 2000; i++)
                fprintf(f, "- <<: *base\n  name: item%d\n  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n  f: 6\n", i);
        fclose(f);
        _cleanup_json_ json_t *jb = NULL;
        int r = yaml_parse(big, bsize, "big", &jb, &e);
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
        ck_assert_int_eq(json_array_size(json_object_get(jb, "items")), 2000);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(jb, "items"), 1999), "k19")),
                         "v19");
        free(big);
}
END_TEST

START_TEST(test_anchor_redefinition_and_many_anchors) {
        /* The newest definition of a name wins; lookups stay cheap with many anchors (one per item). */
        ck_assert_yaml("a: &x 1\nb: *x\nc: &x 2\nd: *x\n", "{\"a\":1,\"b\":1,\"c\":2,\"d\":2}");
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        for (int i = 0; i < 5000; i++)
                fprintf(f, "k%d: &n%d %d\n", i, i, i);
        for (int i = 0; i < 5000; i++)
                fprintf(f, "r%d: *n%d\n", i, 4999 - i);
        fclose(f);
        _cleanup_json_ json_t *j = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse(text, size, "many", &j, &e), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "r0")), 4999);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "r4999")), 0);
        free(text);
}
END_TEST

START_TEST(test_invalid_utf8_position) {
        /* libyaml gives reader errors as a byte offset only: the message must still point at the line and column
         * (counted in characters) and name the byte. */
        const char text[] = "a: 1\nb: h\xc3\xa9llo\nc: ab\xff\n";
        json_t *j = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse(text, sizeof text - 1, "bad.yaml", &j, &e), -EBADMSG);
        ck_assert_msg(strstr(e.msg, "bad.yaml:3:6: ") == e.msg, "%s", e.msg);
        ck_assert_msg(strstr(e.msg, "0xff"), "%s", e.msg);
        const char text2[] = "x: \xe9t\xe9\n";
        error_clear(&e);
        ck_assert_int_eq(yaml_parse(text2, sizeof text2 - 1, "latin1.yaml", &j, &e), -EBADMSG);
        /* Latin-1 "été": the byte after \xe9 is where the UTF-8 sequence breaks. */
        ck_assert_msg(strstr(e.msg, "latin1.yaml:1:5: ") == e.msg && strstr(e.msg, "0x74"), "%s", e.msg);
}
END_TEST

START_TEST(test_load_file) {
        char *dir = test_tmpdir_new("yaml");
        ck_assert_ptr_nonnull(dir);
        _cleanup_free_ char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/svc.yaml", dir), 0);
        FILE *f = fopen(p, "w");
        fputs("kind: Service\n---\nkind: EndpointSlice\n", f);
        fclose(f);
        _cleanup_json_ json_t *docs = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_load_file_documents(p, &docs, &e), 0);
        ck_assert_int_eq(json_array_size(docs), 2);
        json_t *j = NULL;
        ck_assert_int_eq(yaml_load_file("/nonexistent/x.yaml", &j, &e), -ENOENT);
        ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/x.yaml"));
        test_tmpdir_remove(dir);
}
END_TEST

static void ck_position(const YamlPositions *p, const char *path, unsigned line, unsigned column) {
        unsigned l = 0, c = 0;
        int r = yaml_position_lookup(p, path, &l, &c);
        ck_assert_msg(r == 0, "%s: no position (%d)", path, r);
        ck_assert_msg(l == line && c == column, "%s: at %u:%u, expected %u:%u", path, l, c, line, column);
}

START_TEST(test_positions) {
        const char *text = "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                           "kind: KubeletConfiguration\n"
                           "evictionHard:\n"
                           "  memory.available: 100Mi\n"
                           "  nodefs.available: \"10%\"\n"
                           "clusterDNS:\n"
                           "- 10.96.0.10\n"
                           "-   fd00::a\n"
                           "registerWithTaints: [{key: a, effect: NoSchedule}]\n"
                           "base: &base {x: 1}\n"
                           "copy: *base\n"
                           "merged:\n"
                           "  <<: *base\n"
                           "  w: 2\n"
                           "on: yes\n"
                           "maxPods: 1\n"
                           "maxPods: 2\n";
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(yaml_positions_freep) YamlPositions *p = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse_with_positions(text, strlen(text), "kc.yaml", &j, &p, &e), 0);
        ck_assert_str_eq(yaml_positions_source(p), "kc.yaml");

        /* The value is exactly what yaml_parse() returns. */
        _cleanup_json_ json_t *plain = parse1(text);
        ck_assert(json_equal(j, plain));

        ck_position(p, "apiVersion", 1, 1);
        ck_position(p, "kind", 2, 1);
        ck_position(p, "evictionHard", 3, 1);
        ck_position(p, "evictionHard.memory.available", 4, 3);
        ck_position(p, "evictionHard.nodefs.available", 5, 3);
        ck_position(p, "clusterDNS[0]", 7, 3);
        ck_position(p, "clusterDNS[1]", 8, 5);
        ck_position(p, "registerWithTaints[0]", 9, 22);
        ck_position(p, "registerWithTaints[0].effect", 9, 31);
        ck_position(p, "base.x", 10, 14);
        ck_position(p, "merged.w", 14, 3);
        ck_position(p, "true", 15, 1);    /* keys as the JSON spells them: `on` is YAML 1.1 true */
        ck_position(p, "maxPods", 17, 1); /* duplicate keys: the last wins, in the value and here */

        /* Alias and merge content has no position of its own; unknown paths neither. */
        ck_assert_int_eq(yaml_position_lookup(p, "copy.x", NULL, NULL), -ENOENT);
        ck_assert_int_eq(yaml_position_lookup(p, "merged.x", NULL, NULL), -ENOENT);
        ck_assert_int_eq(yaml_position_lookup(p, "nope", NULL, NULL), -ENOENT);
        ck_assert_int_eq(yaml_position_lookup(p, "clusterDNS[2]", NULL, NULL), -ENOENT);
        ck_assert_int_eq(yaml_position_lookup(NULL, "kind", NULL, NULL), -ENOENT);
}
END_TEST

START_TEST(test_positions_json_and_errors) {
        const char *text =
                "{\n  \"kind\": \"KubeletConfiguration\",\n  \"evictionHard\": {\"memory.available\": \"1Gi\"},\n"
                "  \"clusterDNS\": [\"10.0.0.10\"]\n}\n";
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(yaml_positions_freep) YamlPositions *p = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_parse_with_positions(text, strlen(text), "kc.json", &j, &p, &e), 0);
        ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), "KubeletConfiguration");
        ck_position(p, "kind", 2, 3);
        ck_position(p, "evictionHard.memory.available", 3, 20);
        ck_position(p, "clusterDNS[0]", 4, 18);

        /* Errors are those of yaml_parse(), and nothing is returned. */
        json_t *bad = NULL;
        YamlPositions *bp = NULL;
        ck_assert_int_lt(yaml_parse_with_positions("a: [1, 2\n", 9, "bad.yaml", &bad, &bp, &e), 0);
        ck_assert_ptr_null(bad);
        ck_assert_ptr_null(bp);
        ck_assert_msg(strncmp(e.msg, "bad.yaml:", 9) == 0, "%s", e.msg);

        /* Empty document: null, an empty table. */
        _cleanup_json_ json_t *empty = NULL;
        _cleanup_(yaml_positions_freep) YamlPositions *ep = NULL;
        ck_assert_int_eq(yaml_parse_with_positions("", 0, "empty", &empty, &ep, &e), 0);
        ck_assert(json_is_null(empty));
        ck_assert_int_eq(yaml_position_lookup(ep, "a", NULL, NULL), -ENOENT);
}
END_TEST

START_TEST(test_load_file_with_positions) {
        char *dir = test_tmpdir_new("yaml");
        ck_assert_ptr_nonnull(dir);
        _cleanup_free_ char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/config.yaml", dir), 0);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("# comment\n\nkind: KubeletConfiguration\nmaxPods: many\n", f);
        fclose(f);
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(yaml_positions_freep) YamlPositions *p = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(yaml_load_file_with_positions(path, &j, &p, &e), 0);
        ck_assert_str_eq(yaml_positions_source(p), path);
        ck_position(p, "maxPods", 4, 1);
        json_t *none = NULL;
        YamlPositions *np = NULL;
        ck_assert_int_eq(yaml_load_file_with_positions("/nonexistent/c.yaml", &none, &np, &e), -ENOENT);
        ck_assert_ptr_null(np);
        test_tmpdir_remove(dir);
}
END_TEST

/* yaml_parse_documents_foreach(): one callback per non-empty document, each built only when the previous one was
 * handed out (anchors do not cross documents), a negative return stops the stream, JSON input is one document. */
static int collect_doc(json_t *doc, void *userdata) {
        json_t *seen = userdata;
        if (json_is_string(doc) && streq(json_string_value(doc), "stop"))
                return -ECANCELED;
        return json_array_append(seen, doc);
}

START_TEST(test_documents_foreach) {
        const char *text = "a: &x 1\n---\n---\n[1, 2]\n--- stop\n--- never\n";
        _cleanup_json_ json_t *seen = json_array();
        ErrorBuf e = {};

        ck_assert_int_eq(yaml_parse_documents_foreach(text, strlen(text), "t", collect_doc, seen, &e), -ECANCELED);
        _cleanup_free_ char *got = jx_dump_compact(seen);
        ck_assert_str_eq(got, "[{\"a\":1},[1,2]]");

        json_array_clear(seen);
        text = "--- {a: 1}\n--- *x\n";
        ck_assert_int_eq(yaml_parse_documents_foreach(text, strlen(text), "t", collect_doc, seen, &e), -EBADMSG);
        ck_assert_int_eq(json_array_size(seen), 1); /* the first document came out before the second failed */
        ck_assert_ptr_nonnull(strstr(e.msg, "t:2:"));

        json_array_clear(seen);
        text = " {\"kind\": \"List\", \"items\": [1]}";
        ck_assert_int_eq(yaml_parse_documents_foreach(text, strlen(text), "t", collect_doc, seen, NULL), 0);
        ck_assert_int_eq(json_array_size(seen), 1);
}
END_TEST

int main(void) {
        Suite *s = suite_create("yaml");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_pod_manifest);
        tcase_add_test(tc, test_yaml11_booleans);
        tcase_add_test(tc, test_yaml11_numbers);
        tcase_add_test(tc, test_nulls_and_tags);
        tcase_add_test(tc, test_anchors_and_merge);
        tcase_add_test(tc, test_duplicate_keys_last_wins);
        tcase_add_test(tc, test_multi_document);
        tcase_add_test(tc, test_documents_foreach);
        tcase_add_test(tc, test_kubelet_configuration);
        tcase_add_test(tc, test_kubeconfig);
        tcase_add_test(tc, test_json_input);
        tcase_add_test(tc, test_errors_name_location);
        tcase_add_test(tc, test_deep_nesting_refused);
        tcase_add_test(tc, test_billion_laughs_refused);
        tcase_add_test(tc, test_moderate_aliasing_accepted);
        tcase_add_test(tc, test_anchor_redefinition_and_many_anchors);
        tcase_add_test(tc, test_invalid_utf8_position);
        tcase_add_test(tc, test_load_file);
        tcase_add_test(tc, test_positions);
        tcase_add_test(tc, test_positions_json_and_errors);
        tcase_add_test(tc, test_load_file_with_positions);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
