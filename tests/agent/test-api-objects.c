/* SPDX-License-Identifier: Apache-2.0 */
/* The pieces of agent/api-objects.h without I/O (the cached form of ConfigMaps and Secrets, the token refresh rule)
 * and the container environment from ConfigMaps and Secrets (pod_container_env with PodRuntimeInfo.api_objects):
 * configMapKeyRef, secretKeyRef, envFrom with prefix, optional, invalid names skipped, the kubelet's messages. The
 * daemon end to end is tests/agent/test-objects.py. */

#include "agent/api-objects.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

static json_t *json_sq(const char *s) {
        _cleanup_free_ char *j = strdup(s);
        ck_assert_ptr_nonnull(j);
        for (char *c = j; *c; c++)
                if (*c == '\'')
                        *c = '"';
        json_error_t je;
        json_t *o = json_loads(j, 0, &je);
        ck_assert_msg(o, "bad test JSON: %s: %s", je.text, j);
        return o;
}

START_TEST(test_content) {
        /* A Secret: data is base64 and may decode to any bytes. "czMAY3JldA==" is "s3\0cret". */
        _cleanup_json_ json_t *secret = json_sq("{'kind':'Secret','metadata':{'name':'creds'},"
                                                "'data':{'password':'czMAY3JldA==','user':'YWRtaW4='}}");
        _cleanup_json_ json_t *c = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(api_objects_content(secret, true, &c, &e), 0);
        json_t *pw = json_object_get(json_object_get(c, "data"), "password");
        ck_assert_uint_eq(json_string_length(pw), 7);
        ck_assert_mem_eq(json_string_value(pw), "s3\0cret", 7);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "data"), "user")), "admin");
        json_decref(c);
        c = NULL;

        /* A ConfigMap: data as it is, binaryData decoded. */
        _cleanup_json_ json_t *cm = json_sq("{'kind':'ConfigMap','data':{'k':'aGVsbG8='},'binaryData':{'b':'aGk='}}");
        ck_assert_int_eq(api_objects_content(cm, false, &c, &e), 0);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "data"), "k")), "aGVsbG8=");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "binaryData"), "b")), "hi");
        json_decref(c);
        c = NULL;

        /* No data at all: empty maps. */
        _cleanup_json_ json_t *empty = json_sq("{'kind':'ConfigMap','metadata':{'name':'x'}}");
        ck_assert_int_eq(api_objects_content(empty, false, &c, &e), 0);
        ck_assert_uint_eq(json_object_size(json_object_get(c, "data")), 0);
        json_decref(c);
        c = NULL;

        /* Bad input names the key. */
        _cleanup_json_ json_t *bad = json_sq("{'data':{'p':'not base64!'}}");
        ck_assert_int_eq(api_objects_content(bad, true, &c, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "data.p: invalid base64");
        e = (ErrorBuf){};
        _cleanup_json_ json_t *num = json_sq("{'data':{'n':5}}");
        ck_assert_int_eq(api_objects_content(num, false, &c, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "data.n: expected a string, got number");
        e = (ErrorBuf){};
        _cleanup_json_ json_t *arr = json_sq("{'data':[1]}");
        ck_assert_int_eq(api_objects_content(arr, false, &c, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "data: expected an object, got array");
}
END_TEST

START_TEST(test_token_refresh) {
        /* 80 % of the lifetime... */
        ck_assert_uint_eq(api_objects_token_refresh_usec(3600 * USEC_PER_SEC), 2880 * USEC_PER_SEC);
        ck_assert_uint_eq(api_objects_token_refresh_usec(3607 * USEC_PER_SEC), 2885600 * USEC_PER_MSEC);
        ck_assert_uint_eq(api_objects_token_refresh_usec(600 * USEC_PER_SEC), 480 * USEC_PER_SEC);
        /* ...but after 24 hours at the latest. */
        ck_assert_uint_eq(api_objects_token_refresh_usec(365 * 24 * 3600 * USEC_PER_SEC), 24 * 3600 * USEC_PER_SEC);
}
END_TEST

static Pod *pod_from(const char *s) {
        _cleanup_json_ json_t *o = json_sq(s);
        Pod *p = NULL;
        ErrorBuf e = {};
        int r = pod_parse(o, "api", &p, &e);
        ck_assert_msg(r == 0, "pod_parse: %s", error_message(&e, r));
        return p;
}

#define ENV_POD(env)                                                                                                   \
        "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'ns1','uid':'u1'},"                      \
        "'spec':{'containers':[{'name':'c','image':'busybox'," env "}]}}"

static const char *const DATA = "{'configMaps':{'settings':{'data':{'mode':'fast','LEVEL':'3','bad key':'x',"
                                "'1st':'y','dotted.name':'z'},'binaryData':{'bin':'b'}}},"
                                "'secrets':{'creds':{'data':{'password':'pw','user':'admin'},'binaryData':{}}}}";

static int env_of(const char *pod, const char *data, char ***ret, ErrorBuf *e) {
        _cleanup_json_ json_t *d = json_sq(data);
        Pod *p = pod_from(pod);
        PodRuntimeInfo info = {.api_objects = d};
        int r = pod_container_env(p, &p->containers[0], &info, ret, e);
        pod_free(p);
        return r;
}

static bool env_has(char **env, const char *entry) {
        for (char **i = env; i && *i; i++)
                if (streq(*i, entry))
                        return true;
        return false;
}

static size_t env_len(char **env) {
        size_t n = 0;
        while (env && env[n])
                n++;
        return n;
}

START_TEST(test_env_refs) {
        _cleanup_strv_free_ char **env = NULL;
        ErrorBuf e = {};
        int r = env_of(
                ENV_POD("'envFrom':[{'configMapRef':{'name':'settings'}},"
                        "{'prefix':'DB_','secretRef':{'name':'creds'}},"
                        "{'configMapRef':{'name':'absent','optional':true}}],"
                        "'env':[{'name':'MODE','valueFrom':{'configMapKeyRef':{'name':'settings','key':'mode'}}},"
                        "{'name':'PW','valueFrom':{'secretKeyRef':{'name':'creds','key':'password'}}},"
                        "{'name':'LEVEL','value':'override $(MODE)'},"
                        "{'name':'OPT','valueFrom':{'configMapKeyRef':{'name':'settings','key':'nope',"
                        "'optional':true}}},"
                        "{'name':'OPT2','valueFrom':{'secretKeyRef':{'name':'gone','key':'k','optional':true}}},"
                        "{'name':'BIN','valueFrom':{'configMapKeyRef':{'name':'settings','key':'bin',"
                        "'optional':true}}}]"),
                DATA, &env, &e);
        ck_assert_msg(r == 0, "pod_container_env: %s", error_message(&e, r));
        /* envFrom: every valid name, prefixed; "bad key" and "1st" are no variable names and are skipped. */
        ck_assert(env_has(env, "mode=fast"));
        ck_assert(env_has(env, "dotted.name=z"));
        ck_assert(env_has(env, "DB_password=pw"));
        ck_assert(env_has(env, "DB_user=admin"));
        ck_assert(!env_has(env, "bad key=x"));
        ck_assert(!env_has(env, "1st=y"));
        /* env: valueFrom, and a literal that overrides an envFrom key in place (expanded against earlier ones). */
        ck_assert(env_has(env, "MODE=fast"));
        ck_assert(env_has(env, "PW=pw"));
        ck_assert(env_has(env, "LEVEL=override fast"));
        /* Optional references to a missing key or object, and binaryData, are left out. */
        for (char **i = env; *i; i++)
                ck_assert_msg(!startswith(*i, "OPT") && !startswith(*i, "BIN="), "unexpected %s", *i);
        ck_assert_uint_eq(env_len(env), 7);
}
END_TEST

START_TEST(test_env_errors) {
        char **env = NULL;
        ErrorBuf e = {};
        ck_assert_int_lt(env_of(ENV_POD("'env':[{'name':'A','valueFrom':{'configMapKeyRef':{'name':'y','key':'k'}}}]"),
                                DATA, &env, &e),
                         0);
        ck_assert_str_eq(e.msg, "configmap \"y\" not found");
        e = (ErrorBuf){};
        ck_assert_int_lt(
                env_of(ENV_POD("'env':[{'name':'A','valueFrom':{'configMapKeyRef':{'name':'settings','key':'k'}}}]"),
                       DATA, &env, &e),
                0);
        ck_assert_str_eq(e.msg, "couldn't find key k in ConfigMap ns1/settings");
        e = (ErrorBuf){};
        ck_assert_int_lt(env_of(ENV_POD("'env':[{'name':'A','valueFrom':{'secretKeyRef':{'name':'creds','key':'k'}}}]"),
                                DATA, &env, &e),
                         0);
        ck_assert_str_eq(e.msg, "couldn't find key k in Secret ns1/creds");
        e = (ErrorBuf){};
        ck_assert_int_lt(env_of(ENV_POD("'envFrom':[{'secretRef':{'name':'s'}}]"), DATA, &env, &e), 0);
        ck_assert_str_eq(e.msg, "secret \"s\" not found");
        ck_assert_ptr_null(env);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("agent-api-objects");
        TCase *tc = tcase_create("objects");
        tcase_add_test(tc, test_content);
        tcase_add_test(tc, test_token_refresh);
        tcase_add_test(tc, test_env_refs);
        tcase_add_test(tc, test_env_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
