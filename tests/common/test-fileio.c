/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: whole reads with limits, atomic writes, mkdir -p, rm -rf that never follows symlinks. */

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"
#include "tests/lib/testlib.h"

static char *dir;

static void setup(void) {
        dir = test_tmpdir_new("fileio");
        ck_assert_ptr_nonnull(dir);
}

static void teardown(void) {
        test_tmpdir_remove(dir);
        dir = NULL;
}

static char *in_dir(const char *name) {
        char *p;
        ck_assert_int_eq(path_join(&p, dir, name), 0);
        return p;
}

START_TEST(test_atomic_write_and_read) {
        _cleanup_free_ char *p = in_dir("state.json"), *data = NULL;
        size_t size;
        ck_assert_int_eq(write_file_atomic(p, "{\"a\":1}", 7, 0600, true), 0);
        ck_assert_int_eq(read_full_file(p, 0, &data, &size), 0);
        ck_assert_uint_eq(size, 7);
        ck_assert_str_eq(data, "{\"a\":1}");
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        /* Overwrite replaces, and no temporary file is left behind. */
        ck_assert_int_eq(write_file_atomic(p, "x", 1, 0600, false), 0);
        free(data);
        data = NULL;
        ck_assert_int_eq(read_full_file(p, 0, &data, NULL), 0);
        ck_assert_str_eq(data, "x");
        ck_assert_int_eq(test_system("test $(ls -A %s | wc -l) -eq 1", dir), 0);
}
END_TEST

START_TEST(test_read_limits) {
        _cleanup_free_ char *p = in_dir("big"), *data = NULL;
        char buf[100000];
        memset(buf, 'a', sizeof buf);
        ck_assert_int_eq(write_file_atomic(p, buf, sizeof buf, 0644, false), 0);
        ck_assert_int_eq(read_full_file(p, 1000, &data, NULL), -EFBIG);
        ck_assert_ptr_null(data);
        size_t size;
        ck_assert_int_eq(read_full_file(p, sizeof buf, &data, &size), 0);
        ck_assert_uint_eq(size, sizeof buf);
        ck_assert_int_eq(read_full_file("/nonexistent/file", 0, &data, NULL), -ENOENT);
}
END_TEST

START_TEST(test_read_regular_file) {
        /* Inputs from a directory: a FIFO (which would block a plain open forever), a directory and a symlink to a
         * FIFO are refused with -EBADFD; a symlink to a regular file is read. alarm(): a hang fails the test. */
        _cleanup_free_ char *f = in_dir("f"), *fifo = in_dir("fifo"), *l1 = in_dir("l1"), *l2 = in_dir("l2"),
                            *data = NULL;
        ck_assert_int_eq(write_file_atomic(f, "hello", 5, 0644, false), 0);
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        ck_assert_int_eq(symlink(fifo, l1), 0);
        ck_assert_int_eq(symlink(f, l2), 0);
        alarm(60);
        ck_assert_int_eq(read_regular_file(fifo, 0, &data, NULL), -EBADFD);
        ck_assert_int_eq(read_regular_file(l1, 0, &data, NULL), -EBADFD);
        ck_assert_int_eq(read_regular_file(dir, 0, &data, NULL), -EBADFD);
        alarm(0);
        _cleanup_free_ char *missing = in_dir("missing");
        ck_assert_int_eq(read_regular_file(missing, 0, &data, NULL), -ENOENT);
        size_t size = 0;
        ck_assert_int_eq(read_regular_file(l2, 0, &data, &size), 0);
        ck_assert_str_eq(data, "hello");
        ck_assert_uint_eq(size, 5);
}
END_TEST

START_TEST(test_read_empty_and_one_line) {
        _cleanup_free_ char *p = in_dir("empty"), *q = in_dir("line"), *data = NULL, *line = NULL;
        size_t size = 99;
        ck_assert_int_eq(write_file_atomic(p, "", 0, 0644, false), 0);
        ck_assert_int_eq(read_full_file(p, 0, &data, &size), 0);
        ck_assert_uint_eq(size, 0);
        ck_assert_str_eq(data, "");
        ck_assert_int_eq(write_file_atomic(q, "max\nmore\n", 9, 0644, false), 0);
        ck_assert_int_eq(read_one_line_file(q, &line), 0);
        ck_assert_str_eq(line, "max");
}
END_TEST

START_TEST(test_mkdir_p_and_rm_rf) {
        _cleanup_free_ char *deep = in_dir("a/b/c/d"), *top = in_dir("a"), *outside = in_dir("outside"), *victim = NULL,
                            *link = NULL;
        ck_assert_int_eq(mkdir_p(deep, 0755), 0);
        ck_assert_int_eq(mkdir_p(deep, 0755), 0); /* idempotent */
        ck_assert_int_eq(access(deep, F_OK), 0);

        /* A symlink inside the tree pointing outside must not be followed. */
        ck_assert_int_eq(mkdir_p(outside, 0755), 0);
        ck_assert_int_eq(asprintf(&victim, "%s/keep", outside), (int) strlen(outside) + 5);
        ck_assert_int_eq(write_file_atomic(victim, "k", 1, 0644, false), 0);
        ck_assert_int_eq(asprintf(&link, "%s/b/escape", top) > 0, 1);
        ck_assert_int_eq(symlink(outside, link), 0);

        ck_assert_int_eq(rm_rf(top), 0);
        ck_assert_int_eq(access(top, F_OK), -1);
        ck_assert_int_eq(access(victim, F_OK), 0);
        ck_assert_int_eq(rm_rf(top), 0); /* already gone is fine */
}
END_TEST

START_TEST(test_path_join) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        ck_assert_int_eq(path_join(&a, "/var/lib/nodelet/", "/images"), 0);
        ck_assert_str_eq(a, "/var/lib/nodelet/images");
        ck_assert_int_eq(path_join(&b, "/", "run"), 0);
        ck_assert_str_eq(b, "/run");
}
END_TEST

START_TEST(test_write_string_file) {
        _cleanup_free_ char *p = in_dir("knob"), *line = NULL;
        ck_assert_int_eq(write_string_file(p, "1"), -ENOENT); /* does not create: cgroupfs/sysfs semantics */
        ck_assert_int_eq(write_file_atomic(p, "0", 1, 0644, false), 0);
        ck_assert_int_eq(write_string_file(p, "123"), 0);
        ck_assert_int_eq(read_one_line_file(p, &line), 0);
        ck_assert_str_eq(line, "123");
}
END_TEST

START_TEST(test_error_buf) {
        ErrorBuf e = {};
        ck_assert_int_eq(error_set(&e, -EINVAL, "spec.containers[%d].image: required", 0), -EINVAL);
        ck_assert_int_eq(error_set(&e, -EIO, "second message is ignored"), -EIO);
        ck_assert_int_eq(error_prefix(&e, -EINVAL, "Pod default/web"), -EINVAL);
        ck_assert_str_eq(error_message(&e, -EINVAL), "Pod default/web: spec.containers[0].image: required");
        ErrorBuf empty = {};
        ck_assert_str_eq(error_message(&empty, -ENOENT), "No such file or directory");
        ck_assert_int_eq(error_prefix(&empty, -ENOENT, "blob sha256:ab"), -ENOENT);
        ck_assert_str_eq(empty.msg, "blob sha256:ab: No such file or directory");
        ck_assert_int_eq(error_set(NULL, -EPERM, "no buffer"), -EPERM);
}
END_TEST

int main(void) {
        Suite *s = suite_create("fileio");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_atomic_write_and_read);
        tcase_add_test(tc, test_read_limits);
        tcase_add_test(tc, test_read_regular_file);
        tcase_add_test(tc, test_read_empty_and_one_line);
        tcase_add_test(tc, test_mkdir_p_and_rm_rf);
        tcase_add_test(tc, test_path_join);
        tcase_add_test(tc, test_write_string_file);
        tcase_add_test(tc, test_error_buf);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
