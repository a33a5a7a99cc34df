/* SPDX-License-Identifier: Apache-2.0 */
/* Registry pull pieces that need no registry: credentials from docker config.json and .dockercfg (the formats of
 * kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg Secrets), WWW-Authenticate challenges, --platform. */

#include "runtime/registry-internal.h"
#include "tests/lib/testlib.h"

static void expect_creds(const char *json, const char *host, const char *path, const char *user, const char *pass) {
        _cleanup_free_ char *u = NULL, *p = NULL;
        ErrorBuf e = {};
        int r = pull_auth_lookup(json, host, path, &u, &p, &e);
        ck_assert_msg(r >= 0, "%s %s/%s: %s", json, host, path, error_message(&e, r));
        ck_assert_msg(streq_ptr(u, user) && streq_ptr(p, pass), "%s %s/%s: got %s:%s, expected %s:%s", json, host, path,
                      strna(u), strna(p), strna(user), strna(pass));
}

START_TEST(test_auth_config_json) {
        /* "alice:s3cret:x" base64: a password may hold colons */
        const char *cfg = "{\"auths\": {"
                          "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
                          "\"registry.example.com:5000\": {\"auth\": \"YWxpY2U6czNjcmV0Ong=\"},"
                          "\"registry.example.com:5000/team\": {\"username\": \"bob\", \"password\": \"pw\"},"
                          "\"http://other.example.com\": {\"username\": \"carol\", \"password\": \"c\"}}}";
        expect_creds(cfg, "docker.io", "library/busybox", "hub", "hubpw");
        expect_creds(cfg, "registry.example.com:5000", "app", "alice", "s3cret:x");
        /* the longest matching path wins; a path prefix must end at a component */
        expect_creds(cfg, "registry.example.com:5000", "team/app", "bob", "pw");
        expect_creds(cfg, "registry.example.com:5000", "teamx/app", "alice", "s3cret:x");
        expect_creds(cfg, "other.example.com", "x", "carol", "c");
        expect_creds(cfg, "registry.example.com", "app", NULL, NULL); /* the port is part of the host */
        expect_creds(cfg, "quay.io", "x", NULL, NULL);
}
END_TEST

START_TEST(test_auth_dockercfg) {
        /* the older map: hosts at the top level */
        expect_creds("{\"quay.io\": {\"auth\": \"cTpw\", \"email\": \"x@y\"}}", "quay.io", "org/img", "q", "p");
}
END_TEST

START_TEST(test_auth_bad) {
        static const struct {
                const char *json, *msg;
        } bad[] = {
                {"[1]", "expected an object"},
                {"{\"auths\": 1}", "auths: expected an object"},
                {"{\"auths\": {\"q.io\": {\"auth\": \"***\"}}}", "not valid base64"},
                {"{\"auths\": {\"q.io\": {\"auth\": \"bm9jb2xvbg==\"}}}", "expected base64 of \"username:password\""},
                {"{\"auths\": {\"q.io\": {\"username\": 5}}}", "username: expected a string"},
                {"{\"auths\": {\"q.io\": \"x\"}}", "expected an object, got string"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *u = NULL, *p = NULL;
                ErrorBuf e = {};
                int r = pull_auth_lookup(bad[i].json, "q.io", "x", &u, &p, &e);
                ck_assert_int_eq(r, -EINVAL);
                ck_assert_msg(strstr(e.msg, bad[i].msg), "%s: got '%s'", bad[i].json, e.msg);
        }
}
END_TEST

START_TEST(test_challenge) {
        _cleanup_(auth_challenge_done) AuthChallenge c = {};
        ck_assert_int_eq(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker."
                                              "io\",scope=\"repository:library/busybox:pull\"",
                                              &c),
                         0);
        ck_assert_str_eq(c.scheme, "Bearer");
        ck_assert_str_eq(c.realm, "https://auth.docker.io/token");
        ck_assert_str_eq(c.service, "registry.docker.io");
        auth_challenge_done(&c);
        ck_assert_int_eq(auth_challenge_parse("Basic realm=\"a \\\"quoted\\\" realm\", charset=UTF-8", &c), 0);
        ck_assert_str_eq(c.scheme, "Basic");
        ck_assert_str_eq(c.realm, "a \"quoted\" realm");
        ck_assert_ptr_null(c.service);
        auth_challenge_done(&c);
        /* nonsense is refused, not guessed at */
        ck_assert_int_eq(auth_challenge_parse("", &c), -EBADMSG);
        ck_assert_int_eq(auth_challenge_parse("Bearer realm=\"unterminated", &c), -EBADMSG);
        ck_assert_int_eq(auth_challenge_parse("Bearer novalue", &c), -EBADMSG);
}
END_TEST

START_TEST(test_platform) {
        _cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL;
        ck_assert_int_eq(pull_platform_parse("linux/arm64/v8", &os, &arch, &variant, NULL), 0);
        ck_assert_str_eq(os, "linux");
        ck_assert_str_eq(arch, "arm64");
        ck_assert_str_eq(variant, "v8");
        static const char *const bad[] = {"linux", "linux/", "/amd64", "linux/arm/", "linux/arm/v7/x", ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *o = NULL, *a = NULL, *v = NULL;
                ErrorBuf e = {};
                ck_assert_int_eq(pull_platform_parse(bad[i], &o, &a, &v, &e), -EINVAL);
                ck_assert_msg(strstr(e.msg, "expected os/arch[/variant]"), "%s: %s", bad[i], e.msg);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("registry-unit");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_auth_config_json);
        tcase_add_test(tc, test_auth_dockercfg);
        tcase_add_test(tc, test_auth_bad);
        tcase_add_test(tc, test_challenge);
        tcase_add_test(tc, test_platform);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
