/* SPDX-License-Identifier: Apache-2.0 */
/* layer_unpack() on hostile shapes of tar (issue 13): deep directory chains, paths longer than PATH_MAX, and error
 * messages that keep their reason however long the entry names are. Tars are written here with libarchive; no
 * privileges needed (ownership is only restored as root). */

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "runtime/layer.h"
#include "tests/lib/testlib.h"

static char *tmpdir;

static void setup(void) {
        tmpdir = test_tmpdir_new("layer");
        ck_assert_ptr_nonnull(tmpdir);
}

static void teardown(void) {
        test_tmpdir_remove(tmpdir); /* frees it */
        tmpdir = NULL;
}

typedef struct Tar {
        struct archive *a;
        char *path;
} Tar;

static Tar tar_new(const char *name) {
        Tar t = {.a = archive_write_new()};
        ck_assert_ptr_nonnull(t.a);
        ck_assert_int_ge(asprintf(&t.path, "%s/%s", tmpdir, name), 0);
        ck_assert_int_eq(archive_write_set_format_pax_restricted(t.a), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_open_filename(t.a, t.path), ARCHIVE_OK);
        return t;
}

static void tar_add(Tar *t, const char *name, mode_t type, const char *data) {
        struct archive_entry *e = archive_entry_new();
        ck_assert_ptr_nonnull(e);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_size(e, data ? (la_int64_t) strlen(data) : 0);
        ck_assert_int_eq(archive_write_header(t->a, e), ARCHIVE_OK);
        if (data)
                ck_assert_int_eq(archive_write_data(t->a, data, strlen(data)), (la_ssize_t) strlen(data));
        archive_entry_free(e);
}

/* Closes the tar and returns its path (owned by the caller). */
static char *tar_finish(Tar *t) {
        ck_assert_int_eq(archive_write_close(t->a), ARCHIVE_OK);
        archive_write_free(t->a);
        return t->path;
}

static int unpack(const char *tar, const char *dest_name, ErrorBuf *e) {
        _cleanup_free_ char *dest = NULL;
        char diff[SHA256_HEX_LEN + 1];
        ck_assert_int_ge(asprintf(&dest, "%s/%s", tmpdir, dest_name), 0);
        ck_assert_int_eq(mkdir(dest, 0755), 0);
        _cleanup_close_ int fd = open(tar, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        return layer_unpack(fd, dest, diff, e);
}

/* "a/a/.../a" with n components. */
static char *chain(size_t n) {
        char *p = malloc(2 * n);
        ck_assert_ptr_nonnull(p);
        for (size_t i = 0; i < n; i++) {
                p[2 * i] = 'a';
                p[2 * i + 1] = i + 1 < n ? '/' : 0;
        }
        return p;
}

START_TEST(test_deep_chain) {
        /* A directory chain as deep as PATH_MAX allows, each level its own entry, and a file at the bottom: every
         * level is checked for symlinks, starting from the previous one (linear, not quadratic in the depth). */
        size_t depth = (PATH_MAX - strlen(tmpdir) - 64) / 2;
        Tar t = tar_new("deep.tar");
        _cleanup_free_ char *full = chain(depth), *file = NULL;
        for (size_t i = 1; i <= depth; i++) {
                char c = full[2 * i - 1];
                full[2 * i - 1] = 0;
                tar_add(&t, full, AE_IFDIR, NULL);
                full[2 * i - 1] = c;
        }
        ck_assert_int_ge(asprintf(&file, "%s/f", full), 0);
        tar_add(&t, file, AE_IFREG, "bottom\n");
        _cleanup_free_ char *tar = tar_finish(&t), *got = NULL, *bottom = NULL;
        ErrorBuf e = {};
        int r = unpack(tar, "deep", &e);
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
        /* read it back relative to the chain's top (the whole path is close to PATH_MAX) */
        ck_assert_int_ge(asprintf(&bottom, "%s/deep", tmpdir), 0);
        _cleanup_close_ int dfd = open(bottom, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);
        _cleanup_close_ int ffd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(ffd, 0);
        ck_assert_int_eq(read_full_fd(ffd, 0, &got, NULL), 0);
        ck_assert_str_eq(got, "bottom\n");
}
END_TEST

START_TEST(test_path_too_long) {
        /* Deeper than PATH_MAX once unpacked: refused at the first entry that is too long, naming the reason. */
        size_t depth = PATH_MAX / 2 + 8;
        Tar t = tar_new("toolong.tar");
        _cleanup_free_ char *full = chain(depth);
        tar_add(&t, full, AE_IFREG, "x\n");
        _cleanup_free_ char *tar = tar_finish(&t);
        ErrorBuf e = {};
        ck_assert_int_eq(unpack(tar, "toolong", &e), -ENAMETOOLONG);
        ck_assert_msg(strstr(e.msg, "path longer than 4095 bytes once unpacked"), "%s", e.msg);
        ck_assert_msg(strlen(e.msg) < 400, "%s", e.msg);
}
END_TEST

START_TEST(test_error_keeps_reason) {
        /* An entry with a 3,000-byte name below a regular file: the name used to fill the 1024-byte message and cut
         * off why the entry was refused. Now the name is shortened (head...tail) and the reason stays. */
        Tar t = tar_new("long.tar");
        tar_add(&t, "file", AE_IFREG, "a file\n");
        char name[3100];
        int n = snprintf(name, sizeof name, "file/");
        memset(name + n, 'x', 3000);
        memcpy(name + n + 3000, "/end", 5);
        tar_add(&t, name, AE_IFREG, "x\n");
        _cleanup_free_ char *tar = tar_finish(&t);
        ErrorBuf e = {};
        ck_assert_int_eq(unpack(tar, "long", &e), -EPERM);
        ck_assert_msg(strstr(e.msg, "refusing to write through a symlink or non-directory"), "%s", e.msg);
        ck_assert_msg(strstr(e.msg, "layer entry 'file/xxx") && strstr(e.msg, "...") && strstr(e.msg, "xxx/end'"), "%s",
                      e.msg);
}
END_TEST

START_TEST(test_symlink_replacing_cached_dir) {
        /* The walk starts from the last directory it reached; an entry that replaces that directory (an empty
         * directory, reached by its opaque marker, replaced by a symlink to the outside) must send the next walk
         * through the new symlink, which our check refuses (libarchive's own check is the second line). */
        _cleanup_free_ char *outside = NULL;
        ck_assert_int_ge(asprintf(&outside, "%s/outside", tmpdir), 0);
        ck_assert_int_eq(mkdir(outside, 0755), 0);
        Tar t = tar_new("swap.tar");
        tar_add(&t, "d", AE_IFDIR, NULL);
        tar_add(&t, "d/sub", AE_IFDIR, NULL);
        tar_add(&t, "d/sub/.wh..wh..opq", AE_IFREG, NULL);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "d/sub");
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_set_symlink(e, outside);
        ck_assert_int_eq(archive_write_header(t.a, e), ARCHIVE_OK);
        archive_entry_free(e);
        tar_add(&t, "d/sub/escaped", AE_IFREG, "2\n");
        _cleanup_free_ char *tar = tar_finish(&t), *escaped = NULL;
        ErrorBuf err = {};
        ck_assert_int_lt(unpack(tar, "swap", &err), 0);
        ck_assert_int_ge(asprintf(&escaped, "%s/escaped", outside), 0);
        ck_assert_int_eq(access(escaped, F_OK), -1);
        /* Without root the opaque marker (a trusted.* xattr) already fails the layer. */
        if (geteuid() == 0)
                ck_assert_msg(strstr(err.msg, "'d/sub/escaped': refusing to write through a symlink"), "%s", err.msg);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("images-layer");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_deep_chain);
        tcase_add_test(tc, test_path_too_long);
        tcase_add_test(tc, test_error_keeps_reason);
        tcase_add_test(tc, test_symlink_replacing_cached_dir);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
