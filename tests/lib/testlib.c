/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/lib/testlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>

#include "common/fileio.h"

void test_require_root(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: this test needs root\n");
                exit(TEST_SKIP);
        }
}

void test_require_program(const char *prog) {
        if (test_system("command -v %s >/dev/null 2>&1", prog) != 0) {
                fprintf(stderr, "SKIP: %s is not installed\n", prog);
                exit(TEST_SKIP);
        }
}

char *test_tmpdir_new(const char *prefix) {
        char *d = NULL;
        const char *base = getenv("TMPDIR") ?: "/tmp";
        if (asprintf(&d, "%s/%s.XXXXXX", base, prefix) < 0 || !mkdtemp(d)) {
                free(d);
                return NULL;
        }
        return d;
}

void test_tmpdir_remove(char *dir) {
        if (!dir)
                return;
        (void) rm_rf(dir);
        free(dir);
}

int test_system(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -1;
        r = system(cmd);
        if (r < 0 || !WIFEXITED(r))
                return -1;
        return WEXITSTATUS(r);
}

int test_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? 0 : 1;
}

const char *test_source_dir(void) {
        return getenv("NODELET_SOURCE_DIR") ?: ".";
}

const char *test_build_dir(void) {
        return getenv("NODELET_BUILD_DIR") ?: ".";
}
