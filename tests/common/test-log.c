/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: levels, klog-like line format, key=value context, %m with the error passed in, return values. */

#include <stdio.h>

#include "common/log.h"
#include "tests/lib/testlib.h"

static char *captured;
static size_t captured_size;

static void setup(void) {
        free(captured);
        captured = NULL;
        captured_size = 0;
        log_set_target(LOG_TARGET_STDERR);
        log_set_capture(&captured, &captured_size);
        log_set_max_level(LOG_LEVEL_INFO);
}

static void teardown(void) {
        log_set_capture(NULL, NULL);
}

START_TEST(test_levels_filter) {
        log_debug("hidden %d", 1);
        ck_assert_ptr_null(captured);
        log_info("shown %d", 2);
        ck_assert_ptr_nonnull(captured);
        ck_assert_ptr_nonnull(strstr(captured, "shown 2\n"));
        ck_assert_int_eq(captured[0], 'I');
        log_set_max_level(LOG_LEVEL_DEBUG);
        log_debug("now visible");
        ck_assert_ptr_nonnull(strstr(captured, "\nD"));
        ck_assert_ptr_nonnull(strstr(captured, "now visible"));
}
END_TEST

START_TEST(test_errno_return_and_percent_m) {
        int r = log_error_errno(-ENOENT, "Failed to open %s: %m", "/x");
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_ptr_nonnull(strstr(captured, "Failed to open /x: No such file or directory"));
        ck_assert_int_eq(captured[0], 'E');
        /* Positive errors are normalised, and a filtered message still returns the error. */
        ck_assert_int_eq(log_debug_errno(EPERM, "x"), -EPERM);
}
END_TEST

START_TEST(test_context) {
        {
                LOG_CONTEXT("pod", "default/web");
                {
                        LOG_CONTEXT("container", "nginx proxy");
                        log_warning("restarting");
                }
                log_info("after inner scope");
        }
        log_info("outside");
        ck_assert_ptr_nonnull(strstr(captured, "restarting pod=default/web container=\"nginx proxy\"\n"));
        ck_assert_ptr_nonnull(strstr(captured, "after inner scope pod=default/web\n"));
        ck_assert_ptr_nonnull(strstr(captured, "outside\n"));
        ck_assert_ptr_null(strstr(captured, "outside pod"));
}
END_TEST

START_TEST(test_level_strings) {
        ck_assert_int_eq(log_level_from_string("warning"), LOG_LEVEL_WARNING);
        ck_assert_int_eq(log_level_from_string("4"), LOG_LEVEL_DEBUG); /* klog -v=4 */
        ck_assert_int_eq(log_level_from_string("2"), LOG_LEVEL_INFO);
        ck_assert_int_eq(log_level_from_string("loud"), _LOG_LEVEL_INVALID);
        ck_assert_str_eq(log_level_to_string(LOG_LEVEL_NOTICE), "notice");
        ck_assert_ptr_null(log_level_to_string(_LOG_LEVEL_MAX));
}
END_TEST

START_TEST(test_journal_detection) {
        /* JOURNAL_STREAM that does not name our stderr keeps us on stderr. */
        setenv("JOURNAL_STREAM", "1:1", 1);
        log_set_target(LOG_TARGET_AUTO);
        ck_assert_int_eq(log_get_target(), LOG_TARGET_STDERR);
}
END_TEST

int main(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_levels_filter);
        tcase_add_test(tc, test_errno_return_and_percent_m);
        tcase_add_test(tc, test_context);
        tcase_add_test(tc, test_level_strings);
        tcase_add_test(tc, test_journal_detection);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
