/* SPDX-License-Identifier: Apache-2.0 */
/* Image preload: tars in a directory imported at start on a WorkPool thread, failures reported one by one, and
 * skipped on the next start while the record and the store agree. Real images from
 * tests/fixtures/make-busybox-image.py; root for layer ownership (like test-images-store). */

#include <sys/stat.h>
#include <time.h>

#include "agent/preload.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

#define WAIT_USEC (120 * USEC_PER_SEC)
#define REF "registry.example.com/test/preload:1"

typedef struct Result {
        bool in_start; /* set while preload_images_start() runs: done() must not come then */
        bool done_in_start;
        int n_done;
        unsigned imported, skipped, failed;
        json_t *files; /* {path: [result, detail]} */
} Result;

static void on_file_done(const char *path, PreloadResult result, const char *detail, void *userdata) {
        Result *r = userdata;
        ck_assert_ptr_null(json_object_get(r->files, path)); /* once per file */
        ck_assert_int_eq(
                json_object_set_new(r->files, path, json_pack("[s,s]", preload_result_to_string(result), detail)), 0);
}

static void on_done(unsigned imported, unsigned skipped, unsigned failed, void *userdata) {
        Result *r = userdata;
        r->done_in_start = r->done_in_start || r->in_start;
        r->n_done++;
        r->imported = imported;
        r->skipped = skipped;
        r->failed = failed;
}

static const PreloadCallbacks callbacks = {.file_done = on_file_done, .done = on_done};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* One daemon start: a store, a pool, a preload run to its done(). */
static void run_preload(const char *images, const char *dir, Result *res) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        _cleanup_(work_pool_freep) WorkPool *pool = NULL;
        _cleanup_(preload_freep) Preload *p = NULL;

        json_decref(res->files);
        *res = (Result){.files = json_object()};
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(image_store_open(images, &store), 0);
        ck_assert_int_eq(work_pool_new(e, 1, &pool), 0);
        res->in_start = true;
        ck_assert_int_eq(preload_images_start(e, pool, store, dir, &callbacks, res, &p), 0);
        res->in_start = false;
        uint64_t deadline = now_usec() + WAIT_USEC;
        while (res->n_done == 0 && now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(res->n_done, 1);
        ck_assert(!res->done_in_start);
        /* Nothing more comes. */
        for (int i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
        ck_assert_int_eq(res->n_done, 1);
        p = preload_free(p);
}

static const char *file_result(const Result *res, const char *path, const char **ret_detail) {
        json_t *v = json_object_get(res->files, path);
        ck_assert_msg(v, "no report for %s", path);
        *ret_detail = json_string_value(json_array_get(v, 1));
        return json_string_value(json_array_get(v, 0));
}

static char *fixture(const char *dir, const char *name, const char *opts) {
        char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        ck_assert_int_eq(test_system("/usr/bin/python3 %s/tests/fixtures/make-busybox-image.py %s %s >/dev/null",
                                     test_source_dir(), path, opts),
                         0);
        return path;
}

START_TEST(test_preload_good_and_corrupt) {
        _cleanup_free_ char *images = NULL, *dir = NULL, *good = NULL, *bad = NULL, *fifo = NULL, *readme = NULL,
                            *record = NULL, *id = NULL;
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        _cleanup_(image_info_freep) ImageInfo *info = NULL;
        char *tmp = test_tmpdir_new("preload");
        const char *detail = NULL;
        Result res = {};

        ck_assert_ptr_nonnull(tmp);
        ck_assert_int_ge(asprintf(&images, "%s/images", tmp), 0);
        ck_assert_int_ge(asprintf(&dir, "%s/images/preload", tmp), 0);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        good = fixture(dir, "busybox.tar.gz", "--gzip --ref " REF);
        bad = fixture(dir, "broken.tar", "--break digest --variant broken --ref broken:1");
        ck_assert_int_ge(asprintf(&fifo, "%s/fifo.tar", dir), 0);
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        ck_assert_int_ge(asprintf(&readme, "%s/README", dir), 0);
        ck_assert_int_eq(write_file_atomic(readme, "not an image\n", 13, 0644, false), 0);

        /* First start: the good tar imported, the broken tar and the FIFO (which must not hang us) reported. */
        run_preload(images, dir, &res);
        ck_assert_uint_eq(res.imported, 1);
        ck_assert_uint_eq(res.skipped, 0);
        ck_assert_uint_eq(res.failed, 2);
        ck_assert_uint_eq(json_object_size(res.files), 3);
        ck_assert_str_eq(file_result(&res, good, &detail), "imported");
        ck_assert_ptr_nonnull(startswith(detail, "sha256:"));
        id = strdup(detail);
        ck_assert_str_eq(file_result(&res, bad, &detail), "failed");
        ck_assert_msg(startswith(detail, bad), "%s", detail);
        ck_assert_str_eq(file_result(&res, fifo, &detail), "failed");
        ck_assert_msg(strstr(detail, "not a regular file"), "%s", detail);

        ck_assert_int_eq(image_store_open(images, &store), 0);
        ck_assert_int_eq(image_store_get(store, REF, &info, NULL), 0);
        ck_assert_str_eq(info->id, id);
        info = image_info_free(info);
        ck_assert_int_eq(image_store_get(store, "broken:1", &info, NULL), -ENOENT);
        ck_assert_int_ge(asprintf(&record, "%s/" PRELOAD_RECORD_FILE, dir), 0);
        ck_assert_int_eq(access(record, F_OK), 0);

        /* Second start: skipped without importing, the failures reported again. */
        run_preload(images, dir, &res);
        ck_assert_uint_eq(res.imported, 0);
        ck_assert_uint_eq(res.skipped, 1);
        ck_assert_uint_eq(res.failed, 2);
        ck_assert_str_eq(file_result(&res, good, &detail), "skipped");
        ck_assert_str_eq(detail, id);

        /* The image removed from the store meanwhile: imported again. */
        ck_assert_int_eq(image_store_remove(store, id, NULL), 0);
        run_preload(images, dir, &res);
        ck_assert_uint_eq(res.imported, 1);
        ck_assert_uint_eq(res.skipped, 0);
        ck_assert_int_eq(image_store_get(store, REF, &info, NULL), 0);
        info = image_info_free(info);

        /* The tar replaced (another inode, another mtime): imported again, whatever the record says. */
        ck_assert_int_eq(unlink(good), 0);
        free(good);
        good = fixture(dir, "busybox.tar.gz", "--gzip --ref " REF);
        run_preload(images, dir, &res);
        ck_assert_str_eq(file_result(&res, good, &detail), "imported");

        json_decref(res.files);
        store = image_store_free(store);
        test_tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_preload_nothing_to_do) {
        _cleanup_free_ char *images = NULL, *dir = NULL;
        char *tmp = test_tmpdir_new("preload");
        Result res = {};

        ck_assert_int_ge(asprintf(&images, "%s/images", tmp), 0);
        ck_assert_int_ge(asprintf(&dir, "%s/images/preload", tmp), 0);
        /* Missing directory: done(0, 0, 0), still from the loop. */
        run_preload(images, dir, &res);
        ck_assert_uint_eq(res.imported + res.skipped + res.failed, 0);
        /* Empty directory: the same. */
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        run_preload(images, dir, &res);
        ck_assert_uint_eq(res.imported + res.skipped + res.failed, 0);
        ck_assert_uint_eq(json_object_size(res.files), 0);
        json_decref(res.files);
        test_tmpdir_remove(tmp);
}
END_TEST

int main(void) {
        test_require_root();
        test_require_program("/usr/bin/python3");
        Suite *s = suite_create("preload");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 280);
        tcase_add_test(tc, test_preload_good_and_corrupt);
        tcase_add_test(tc, test_preload_nothing_to_do);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
