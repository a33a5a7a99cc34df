/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared helpers for test programs. */

#include <check.h>

#include "common/macro.h"

#define TEST_SKIP 77

/* Exits 77 (ctest: skipped, never passed) unless running as root. */
void test_require_root(void);
/* Exits 77 unless `prog` is found in PATH (or is an absolute path that exists). */
void test_require_program(const char *prog);
/* A fresh directory under $TMPDIR (or /tmp); removed by test_tmpdir_remove(). */
char *test_tmpdir_new(const char *prefix);
void test_tmpdir_remove(char *dir);
/* Runs a shell command line; returns its exit status (or -1). */
int test_system(const char *fmt, ...) _printf_(1, 2);
/* Runs a Check suite with CK_FORK and returns the process exit code (0 when every test passed). */
int test_run_suite(Suite *s);
const char *test_source_dir(void);
const char *test_build_dir(void);
