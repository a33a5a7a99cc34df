/* SPDX-License-Identifier: Apache-2.0 */
/* nodelet-basic and the helpers that replaced private copies: strv, IP addresses and prefixes, write_all(),
 * now_usec(), signal names (runtime/signals.h) and the helper lookup (runtime/helper-path.h). */

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/fileio.h"
#include "common/in-addr.h"
#include "common/strv.h"
#include "common/time-util.h"
#include "runtime/helper-path.h"
#include "runtime/signals.h"
#include "tests/lib/testlib.h"

START_TEST(test_strv) {
        _cleanup_strv_free_ char **l = NULL, **c = NULL, **e = NULL;

        ck_assert_uint_eq(strv_length(NULL), 0);
        ck_assert(strv_isempty(NULL));
        ck_assert(!strv_contains(NULL, "a"));
        ck_assert_int_eq(strv_extend(&l, "a"), 0);
        ck_assert_int_eq(strv_consume(&l, strdup("b")), 0);
        ck_assert_int_eq(strv_extendf(&l, "%s=%d", "c", 3), 0);
        ck_assert_int_eq(strv_extend_unique(&l, "a"), 0);
        ck_assert_int_eq(strv_extend_unique(&l, "d"), 0);
        ck_assert_uint_eq(strv_length(l), 4);
        ck_assert_str_eq(l[2], "c=3");
        ck_assert_ptr_null(l[4]);
        ck_assert(strv_contains(l, "d") && !strv_contains(l, "c"));
        /* strv_consume() owns what it is given, also a failed strdup() */
        ck_assert_int_eq(strv_consume(&l, NULL), -ENOMEM);
        ck_assert_uint_eq(strv_length(l), 4);

        c = strv_copy(l);
        ck_assert_ptr_nonnull(c);
        ck_assert_ptr_ne(c[0], l[0]);
        ck_assert_str_eq(c[3], "d");
        e = strv_copy(NULL); /* an empty list, so that NULL only ever means ENOMEM */
        ck_assert_ptr_nonnull(e);
        ck_assert(strv_isempty(e));
        ck_assert_int_eq(strv_set_empty(&c), 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(strv_length(c), 0);
        char **n = strv_empty_if_null(NULL);
        ck_assert_ptr_nonnull(n);
        ck_assert_ptr_eq(strv_empty_if_null(n), n);
        strv_free(n);
}
END_TEST

static InPrefix prefix(const char *s, InParseFlags flags) {
        InPrefix p;
        int r = in_prefix_parse(s, flags, &p);
        ck_assert_msg(r == 0, "%s: %d", s, r);
        return p;
}

START_TEST(test_in_addr) {
        char b[IN_PREFIX_STRLEN];
        InAddr a, z;
        InPrefix p;

        /* as spelled, or canonical like Go's To4() */
        ck_assert_int_eq(in_addr_parse("::ffff:10.0.0.1", 0, &a), 0);
        ck_assert_int_eq(a.family, AF_INET6);
        ck_assert_int_eq(in_addr_parse("::ffff:10.0.0.1", IN_PARSE_UNMAP_V4, &a), 0);
        ck_assert_int_eq(a.family, AF_INET);
        ck_assert_str_eq(in_addr_format(&a, b), "10.0.0.1");
        ck_assert_uint_eq(a.in.s_addr, htonl(0x0a000001)); /* usable with the socket API as it is */
        ck_assert_int_lt(in_addr_parse("10.0.0.1 ", 0, &a), 0);
        ck_assert_int_lt(in_addr_parse(NULL, 0, &a), 0);

        /* prefixes: host bits kept unless asked; a bare address only when allowed */
        p = prefix("10.1.2.3/24", 0);
        ck_assert_str_eq(in_prefix_format(&p, b), "10.1.2.3/24");
        p = prefix("10.1.2.3/24", IN_PARSE_NETWORK);
        ck_assert_str_eq(in_prefix_format(&p, b), "10.1.2.0/24");
        ck_assert_int_lt(in_prefix_parse("10.1.2.3", 0, &p), 0);
        p = prefix("fd00::1", IN_PARSE_BARE_ADDRESS);
        ck_assert_uint_eq(p.len, 128);
        ck_assert_int_lt(in_prefix_parse("10.1.2.3/+8", 0, &p), 0);
        ck_assert_int_lt(in_prefix_parse("10.1.2.3/33", 0, &p), 0);
        ck_assert_int_lt(in_prefix_parse("fd00::/129", 0, &p), 0);

        /* containment and overlap over both families */
        p = prefix("10.0.0.0/8", 0);
        ck_assert_int_eq(in_addr_parse("10.255.0.1", 0, &a), 0);
        ck_assert(in_prefix_contains(&p, &a));
        ck_assert_int_eq(in_addr_parse("11.0.0.1", 0, &a), 0);
        ck_assert(!in_prefix_contains(&p, &a));
        ck_assert_int_eq(in_addr_parse("::a00:1", 0, &a), 0);
        ck_assert(!in_prefix_contains(&p, &a)); /* same bytes, other family */
        InPrefix q = prefix("10.20.0.0/16", 0), r6 = prefix("fd00::/64", 0);
        ck_assert(in_prefix_overlaps(&p, &q) && in_prefix_overlaps(&q, &p));
        ck_assert(!in_prefix_overlaps(&p, &r6));
        p = prefix("0.0.0.0/0", 0);
        ck_assert(in_prefix_contains(&p, &(InAddr){.family = AF_INET}));

        /* arithmetic wraps; IPv4 sorts first */
        ck_assert_int_eq(in_addr_parse("255.255.255.255", 0, &a), 0);
        in_addr_next(&a);
        ck_assert_str_eq(in_addr_format(&a, b), "0.0.0.0");
        in_addr_prev(&a);
        ck_assert_str_eq(in_addr_format(&a, b), "255.255.255.255");
        ck_assert_int_eq(in_addr_parse("::", 0, &z), 0);
        ck_assert_int_lt(in_addr_cmp(&a, &z), 0);
        p = prefix("fd00::17/120", 0);
        InAddr first = in_prefix_first(&p), last = in_prefix_last(&p);
        ck_assert_str_eq(in_addr_format(&first, b), "fd00::");
        ck_assert_str_eq(in_addr_format(&last, b), "fd00::ff");
}
END_TEST

START_TEST(test_write_all_and_clock) {
        int p[2];
        char buf[70000];
        static char big[70000]; /* more than a pipe holds: write_all() has to loop */
        memset(big, 'x', sizeof big);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) close(p[0]);
                _exit(write_all(p[1], big, sizeof big) == 0 ? 0 : 1);
        }
        (void) close(p[1]);
        size_t got = 0;
        for (ssize_t n; (n = read(p[0], buf + got, sizeof buf - got)) > 0;)
                got += (size_t) n;
        (void) close(p[0]);
        ck_assert_uint_eq(got, sizeof big);
        ck_assert_int_eq(memcmp(buf, big, got), 0);
        ck_assert_int_eq(write_all(-1, "x", 1), -EBADF);

        uint64_t a = now_usec(CLOCK_MONOTONIC), b = now_usec(CLOCK_MONOTONIC);
        ck_assert(a > 0 && b >= a);
}
END_TEST

START_TEST(test_signals) {
        ck_assert_int_eq(signal_from_string("SIGTERM"), SIGTERM);
        ck_assert_int_eq(signal_from_string("TERM"), SIGTERM);
        ck_assert_int_eq(signal_from_string("SIGRTMIN") < 0, true); /* no realtime names */
        ck_assert_int_eq(signal_from_string("9"), SIGKILL);
        ck_assert_int_eq(signal_from_string("PWR"), SIGPWR);
        ck_assert_int_eq(signal_from_string("STOP"), SIGSTOP);
        ck_assert_int_eq(signal_from_string("IOT"), SIGABRT);
        ck_assert_int_eq(signal_from_string("sigterm"), -EINVAL); /* case matters, as in moby/sys/signal */
        ck_assert_int_eq(signal_from_string("0"), -EINVAL);
        ck_assert_int_eq(signal_from_string("65"), -EINVAL);
        ck_assert_int_eq(signal_from_string("9x"), -EINVAL);
        ck_assert_int_eq(signal_from_string(""), -EINVAL);
        ck_assert_int_eq(signal_from_string(NULL), -EINVAL);
        ck_assert_str_eq(signal_to_string(SIGWINCH), "WINCH");
        ck_assert_ptr_null(signal_to_string(0));
}
END_TEST

START_TEST(test_find_helper) {
        char buf[4096];
        /* relative to this test binary (tests/common/ in the build tree) */
        static const char *const rel[] = {"no-such-helper", "../../runtime/nodelet-shim"};

        ck_assert_int_eq(unsetenv("NODELET_TEST_HELPER"), 0);
        ck_assert_int_eq(
                runtime_find_helper("NODELET_TEST_HELPER", rel, ELEMENTSOF(rel), "/installed/x", buf, sizeof buf), 0);
        ck_assert_msg(endswith(buf, "/../../runtime/nodelet-shim"), "%s", buf);
        ck_assert_int_eq(runtime_find_helper("NODELET_TEST_HELPER", rel, 1, "/installed/x", buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "/installed/x");
        ck_assert_int_eq(setenv("NODELET_TEST_HELPER", "/from/env", 1), 0);
        ck_assert_int_eq(
                runtime_find_helper("NODELET_TEST_HELPER", rel, ELEMENTSOF(rel), "/installed/x", buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "/from/env");
        ck_assert_int_eq(runtime_find_helper("NODELET_TEST_HELPER", rel, 0, "/x", buf, 5), -ENAMETOOLONG);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("basic");
        TCase *tc = tcase_create("basic");
        tcase_add_test(tc, test_strv);
        tcase_add_test(tc, test_in_addr);
        tcase_add_test(tc, test_write_all_and_clock);
        tcase_add_test(tc, test_signals);
        tcase_add_test(tc, test_find_helper);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
