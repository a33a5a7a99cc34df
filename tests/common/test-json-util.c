/* SPDX-License-Identifier: Apache-2.0 */
/* Field getters: errors name the full field path, optional fields treat null as unset, ranges are enforced. */

#include "common/json-util.h"
#include "tests/lib/testlib.h"

static json_t *obj(const char *text) {
        json_t *j = NULL;
        ck_assert_int_eq(jx_parse(text, strlen(text), "test", &j, NULL), 0);
        return j;
}

START_TEST(test_string) {
        _cleanup_json_ json_t *j = obj("{\"image\":\"busybox\",\"n\":3,\"z\":null}");
        const char *s = "untouched";
        ErrorBuf e = {};
        ck_assert_int_eq(jx_get_string(j, "image", "spec.containers[0]", true, &s, &e), 0);
        ck_assert_str_eq(s, "busybox");
        s = "untouched";
        ck_assert_int_eq(jx_get_string(j, "missing", "spec", false, &s, &e), 0);
        ck_assert_str_eq(s, "untouched");
        ck_assert_int_eq(jx_get_string(j, "z", "spec", false, &s, &e), 0); /* null = unset */
        ck_assert_str_eq(s, "untouched");
        ck_assert_int_eq(jx_get_string(j, "n", "spec.containers[0]", true, &s, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "spec.containers[0].n: expected a string, got number");
        error_clear(&e);
        ck_assert_int_eq(jx_get_string(j, "name", "metadata", true, &s, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "metadata.name: required field is missing");
        error_clear(&e);
        ck_assert_int_eq(jx_get_string(j, "name", "", true, &s, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "name: required field is missing");
}
END_TEST

START_TEST(test_int_and_range) {
        _cleanup_json_ json_t *j = obj("{\"port\":8080,\"big\":70000,\"f\":2.0,\"h\":2.5,\"neg\":-1,\"huge\":3e121}");
        int64_t v = -7;
        ErrorBuf e = {};
        ck_assert_int_eq(jx_get_int(j, "port", "ports[0]", true, 1, 65535, &v, &e), 0);
        ck_assert_int_eq(v, 8080);
        ck_assert_int_eq(jx_get_int(j, "f", "x", true, 0, 10, &v, &e), 0); /* integral reals are integers */
        ck_assert_int_eq(v, 2);
        ck_assert_int_eq(jx_get_int(j, "big", "ports[0]", true, 1, 65535, &v, &e), -ERANGE);
        ck_assert_str_eq(e.msg, "ports[0].big: 70000 is out of range [1, 65535]");
        error_clear(&e);
        ck_assert_int_eq(jx_get_int(j, "h", "x", true, 0, 10, &v, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "expected an integer"));
        ck_assert_int_eq(v, 2); /* untouched on failure */
        error_clear(&e);
        ck_assert_int_eq(jx_get_int(j, "huge", "x", true, INT64_MIN, INT64_MAX, &v, &e), -EINVAL);
        ck_assert_int_eq(v, 2);
}
END_TEST

START_TEST(test_bool_object_array_strv) {
        _cleanup_json_ json_t *j = obj("{\"b\":true,\"o\":{},\"a\":[\"x\",\"y\"],\"bad\":[\"x\",1]}");
        bool b = false;
        json_t *o = NULL, *a = NULL;
        _cleanup_strv_free_ char **l = NULL;
        char **l2 = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(jx_get_bool(j, "b", "", true, &b, &e), 0);
        ck_assert(b);
        ck_assert_int_eq(jx_get_object(j, "o", "", true, &o, &e), 0);
        ck_assert(json_is_object(o));
        ck_assert_int_eq(jx_get_array(j, "a", "", true, &a, &e), 0);
        ck_assert_int_eq(jx_get_object(j, "a", "spec", true, &o, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "spec.a: expected an object, got array");
        ck_assert_int_eq(jx_get_strv(j, "a", "", true, &l, &e), 0);
        ck_assert_str_eq(l[0], "x");
        ck_assert_str_eq(l[1], "y");
        ck_assert_ptr_null(l[2]);
        error_clear(&e);
        ck_assert_int_eq(jx_get_strv(j, "bad", "spec.args", true, &l2, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "spec.args.bad[1]: expected a string, got number");
        ck_assert_ptr_null(l2);
}
END_TEST

START_TEST(test_parse_errors) {
        json_t *j = NULL;
        ErrorBuf e = {};
        ck_assert_int_lt(jx_parse("{\"a\":", 5, "conf.json", &j, &e), 0);
        ck_assert_ptr_null(j);
        ck_assert_int_eq(strncmp(e.msg, "conf.json:1:", 12), 0);
        /* Duplicate keys: the last wins, as Go's encoding/json does. */
        _cleanup_json_ json_t *d = obj("{\"a\":1,\"a\":2}");
        ck_assert_int_eq(json_integer_value(json_object_get(d, "a")), 2);
        _cleanup_free_ char *s = jx_dump_compact(d);
        ck_assert_str_eq(s, "{\"a\":2}");
}
END_TEST

int main(void) {
        Suite *s = suite_create("json-util");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_string);
        tcase_add_test(tc, test_int_and_range);
        tcase_add_test(tc, test_bool_object_array_strv);
        tcase_add_test(tc, test_parse_errors);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
