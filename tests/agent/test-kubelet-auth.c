/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of the kubelet API's authentication and authorization (agent/kubelet-auth.h): the request
 * attributes the kubelet derives from a request (verb from the method, subresource of nodes from the path) and the
 * TTL cache of TokenReview and SubjectAccessReview answers, on a fake clock. The webhook flow itself runs end to
 * end in tests/agent/test-kubelet-auth.py. */

#include "agent/kubelet-auth.h"
#include "tests/lib/testlib.h"

START_TEST(test_verb) {
        ck_assert_str_eq(kubelet_auth_verb("GET"), "get");
        ck_assert_str_eq(kubelet_auth_verb("HEAD"), "get");
        ck_assert_str_eq(kubelet_auth_verb("POST"), "create");
        ck_assert_str_eq(kubelet_auth_verb("PUT"), "update");
        ck_assert_str_eq(kubelet_auth_verb("PATCH"), "patch");
        ck_assert_str_eq(kubelet_auth_verb("DELETE"), "delete");
        /* the kubelet leaves the verb empty for anything else */
        ck_assert_str_eq(kubelet_auth_verb("OPTIONS"), "");
        ck_assert_str_eq(kubelet_auth_verb("get"), "");
}
END_TEST

START_TEST(test_subresource) {
        static const char *const cases[][2] = {
                {"/stats", "stats"},
                {"/stats/", "stats"},
                {"/stats/summary", "stats"},
                {"/statsx", "proxy"},
                {"/metrics", "metrics"},
                {"/metrics/cadvisor", "metrics"},
                {"/metrics/probes", "metrics"},
                {"/logs/", "log"},
                {"/logs/messages", "log"},
                {"/spec/", "spec"},
                {"/checkpoint/default/pod/c", "checkpoint"},
                {"/pods", "proxy"},
                {"/runningpods/", "proxy"},
                {"/healthz", "proxy"},
                {"/containerLogs/default/web/c", "proxy"},
                {"/exec/default/web/c", "proxy"},
                {"/attach/default/web/c", "proxy"},
                {"/portForward/default/web", "proxy"},
                {"/run/default/web/c", "proxy"},
                {"/", "proxy"},
                {"/nonexistent", "proxy"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(streq(kubelet_auth_subresource(cases[i][0]), cases[i][1]), "%s → %s, expected %s",
                              cases[i][0], kubelet_auth_subresource(cases[i][0]), cases[i][1]);
}
END_TEST

START_TEST(test_cache_ttl) {
        _cleanup_(auth_cache_freep) AuthCache *c = NULL;
        json_t *info = NULL;
        json_t *user = json_pack("{s:s}", "username", "alice");
        bool ok = false;

        ck_assert_ptr_nonnull(user);
        ck_assert_int_eq(auth_cache_new(0, &c), 0);
        ck_assert_int_eq(auth_cache_get(c, "k", 0, &ok, &info), 0);

        /* allowed for 5 min (in usec), denied for 30 s, from t = 1000 s */
        uint64_t t = 1000 * USEC_PER_SEC;
        ck_assert_int_eq(auth_cache_put(c, "allowed", true, user, t, 300 * USEC_PER_SEC), 0);
        ck_assert_int_eq(auth_cache_put(c, "denied", false, NULL, t, 30 * USEC_PER_SEC), 0);
        json_decref(user); /* the cache holds its own reference */

        ck_assert_int_eq(auth_cache_get(c, "allowed", t + 299 * USEC_PER_SEC, &ok, &info), 1);
        ck_assert(ok);
        ck_assert_str_eq(json_string_value(json_object_get(info, "username")), "alice");
        ck_assert_int_eq(auth_cache_get(c, "denied", t + 29 * USEC_PER_SEC, &ok, &info), 1);
        ck_assert(!ok);
        ck_assert_ptr_null(info);

        /* expired at exactly the TTL, and dropped */
        ck_assert_int_eq(auth_cache_get(c, "denied", t + 30 * USEC_PER_SEC, &ok, &info), 0);
        ck_assert_uint_eq(auth_cache_size(c), 1);
        ck_assert_int_eq(auth_cache_get(c, "allowed", t + 300 * USEC_PER_SEC, &ok, &info), 0);
        ck_assert_uint_eq(auth_cache_size(c), 0);

        /* a new answer replaces the old one, with its own expiry */
        ck_assert_int_eq(auth_cache_put(c, "k", false, NULL, t, 10), 0);
        ck_assert_int_eq(auth_cache_put(c, "k", true, NULL, t, 100), 0);
        ck_assert_int_eq(auth_cache_get(c, "k", t + 50, &ok, &info), 1);
        ck_assert(ok);
}
END_TEST

START_TEST(test_cache_bound) {
        _cleanup_(auth_cache_freep) AuthCache *c = NULL;
        json_t *info;
        bool ok;
        char key[32];

        ck_assert_int_eq(auth_cache_new(4, &c), 0);
        /* two expire at 10, two at 1000 */
        ck_assert_int_eq(auth_cache_put(c, "a", true, NULL, 0, 10), 0);
        ck_assert_int_eq(auth_cache_put(c, "b", true, NULL, 0, 10), 0);
        ck_assert_int_eq(auth_cache_put(c, "c", true, NULL, 0, 1000), 0);
        ck_assert_int_eq(auth_cache_put(c, "d", true, NULL, 0, 1000), 0);
        /* full at t = 20: the expired ones make room, the live ones stay */
        ck_assert_int_eq(auth_cache_put(c, "e", true, NULL, 20, 1000), 0);
        ck_assert_uint_eq(auth_cache_size(c), 3);
        ck_assert_int_eq(auth_cache_get(c, "c", 20, &ok, &info), 1);
        /* a flood of live keys never grows it beyond the bound */
        for (int i = 0; i < 100; i++) {
                (void) snprintf(key, sizeof key, "flood%d", i);
                ck_assert_int_eq(auth_cache_put(c, key, false, NULL, 30, 1000), 0);
                ck_assert_uint_le(auth_cache_size(c), 4);
        }
        ck_assert_int_eq(auth_cache_get(c, "flood99", 30, &ok, &info), 1);
        ck_assert(!ok);
}
END_TEST

int main(void) {
        Suite *s = suite_create("kubelet-auth");
        TCase *tc = tcase_create("pure");
        tcase_add_test(tc, test_verb);
        tcase_add_test(tc, test_subresource);
        tcase_add_test(tc, test_cache_ttl);
        tcase_add_test(tc, test_cache_bound);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
