/* SPDX-License-Identifier: Apache-2.0 */
/* Image preload: tars in a directory imported at start by `nodeletctl images import` children, failures reported
 * one by one (with the child's message), a wedged child killed at the timeout or when the Preload goes, and tars
 * skipped on the next start while the record and the store agree. Real images from
 * tests/fixtures/make-busybox-image.py and the build's nodeletctl; root for layer ownership (like
 * test-images-store). Fake nodeletctl scripts for the child's failure modes. */

#include <signal.h>
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

static const char *build_ctl(void) {
        static char path[4096];
        snprintf(path, sizeof path, "%s/agent/nodeletctl", test_build_dir());
        return path;
}

/* One daemon start: a store, a pool, a preload run to its done(). ctl NULL: the build's nodeletctl. */
static void run_preload_full(const char *images, const char *dir, const char *ctl, uint64_t timeout_usec, Result *res) {
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
        PreloadOptions o = {.ctl_path = ctl ?: build_ctl(), .timeout_usec = timeout_usec};
        ck_assert_int_eq(preload_images_start_full(e, pool, store, dir, &o, &callbacks, res, &p), 0);
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

static void run_preload(const char *images, const char *dir, Result *res) {
        run_preload_full(images, dir, NULL, 0, res);
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
        /* The importer's own message (nodeletctl --quiet), naming the tar once. */
        ck_assert_msg(strstr(detail, "digest mismatch") && !strstr(detail + strlen(bad), bad), "%s", detail);
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

/* A fake nodeletctl: records its arguments, then fails, hangs or succeeds the way the tar's name says. */
static char *fake_ctl(const char *tmp) {
        _cleanup_free_ char *text = NULL;
        char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/fake-nodeletctl", tmp), 0);
        ck_assert_int_ge(
                asprintf(&text,
                         "#!/bin/sh\n"
                         "echo \"$*\" >> %s/args\n"
                         "p=\"$6\"\n"
                         "case \"$p\" in\n"
                         "*a-fail.tar) echo 'W0101 00:00:00.000000 warming up' >&2; echo 'disk on fire' >&2; exit 3;;\n"
                         "*b-named.tar) echo \"E1202 10:11:12.123456 $p: layer 0: digest mismatch\" >&2; exit 1;;\n"
                         "*c-silent.tar) exit 4;;\n"
                         "*d-signal.tar) kill -KILL $$;;\n"
                         "*e-noid.tar) echo 'Imported x:1'; exit 0;;\n"
                         "*f-hang.tar) echo $$ > %s/hang.pid; exec sleep 600;;\n"
                         "*g-good.tar) echo sha256:%064d; exit 0;;\n"
                         "esac\n"
                         "exit 99\n",
                         tmp, tmp, 7),
                0);
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0755, false), 0);
        return path;
}

static void touch(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        ck_assert_int_eq(write_file_atomic(path, "", 0, 0644, false), 0);
}

static pid_t read_pid(const char *tmp) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/hang.pid", tmp), 0);
        if (read_full_file(path, 0, &text, NULL) < 0)
                return 0;
        return (pid_t) atoi(text);
}

/* The message of a failed tar after its path (which it must start with). */
static const char *failure(const Result *res, const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        const char *detail = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        ck_assert_str_eq(file_result(res, path, &detail), "failed");
        ck_assert_msg(startswith(detail, path), "%s", detail);
        return detail + strlen(path);
}

/* What the child says becomes the tar's message; a child that hangs is killed at the timeout; the others go on. */
START_TEST(test_preload_child_failures) {
        _cleanup_free_ char *images = NULL, *dir = NULL, *ctl = NULL, *args = NULL, *args_path = NULL, *good = NULL;
        char *tmp = test_tmpdir_new("preload");
        const char *detail = NULL;
        Result res = {};

        ck_assert_ptr_nonnull(tmp);
        ck_assert_int_ge(asprintf(&images, "%s/images", tmp), 0);
        ck_assert_int_ge(asprintf(&dir, "%s/images/preload", tmp), 0);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        ctl = fake_ctl(tmp);
        static const char *const names[] = {"a-fail.tar", "b-named.tar", "c-silent.tar", "d-signal.tar",
                                            "e-noid.tar", "f-hang.tar",  "g-good.tar"};
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                touch(dir, names[i]);

        run_preload_full(images, dir, ctl, 1 * USEC_PER_SEC, &res);
        ck_assert_uint_eq(res.imported, 1);
        ck_assert_uint_eq(res.failed, ELEMENTSOF(names) - 1);
        ck_assert_uint_eq(json_object_size(res.files), ELEMENTSOF(names));

        /* The last line of stderr after the path (log headers stripped), unless it names the tar already. */
        ck_assert_str_eq(failure(&res, dir, "a-fail.tar"), ": disk on fire");
        ck_assert_str_eq(failure(&res, dir, "b-named.tar"), ": layer 0: digest mismatch");
        /* No message: the exit status or the signal. */
        ck_assert_ptr_nonnull(strstr(failure(&res, dir, "c-silent.tar"), "exit status 4"));
        ck_assert_ptr_nonnull(strstr(failure(&res, dir, "d-signal.tar"), "signal KILL"));
        /* Success without an id is a failure: there is nothing to record. */
        ck_assert_ptr_nonnull(strstr(failure(&res, dir, "e-noid.tar"), "printed no image id"));
        /* Killed at the timeout, and reaped (a zombie would still answer kill(0)). */
        ck_assert_ptr_nonnull(strstr(failure(&res, dir, "f-hang.tar"), "did not finish within 1 s"));
        pid_t pid = read_pid(tmp);
        if (pid > 0) { /* else killed before its shell got that far */
                ck_assert_int_eq(kill(pid, 0), -1);
                ck_assert_int_eq(errno, ESRCH);
        }
        /* The tar after the wedged one still ran. */
        ck_assert_int_ge(asprintf(&good, "%s/g-good.tar", dir), 0);
        ck_assert_str_eq(file_result(&res, good, &detail), "imported");
        ck_assert_str_eq(detail, "sha256:0000000000000000000000000000000000000000000000000000000000000007");

        /* The child's command line: the store's root and the tar. */
        ck_assert_int_ge(asprintf(&args_path, "%s/args", tmp), 0);
        ck_assert_int_eq(read_full_file(args_path, 0, &args, NULL), 0);
        _cleanup_free_ char *want_args = NULL;
        ck_assert_int_ge(asprintf(&want_args, "images --root-dir %s import --quiet %s\n", tmp, good), 0);
        ck_assert_msg(strstr(args, want_args), "%s", args);

        json_decref(res.files);
        test_tmpdir_remove(tmp);
}
END_TEST

/* Freeing the Preload while a child imports kills and reaps the child, and no callback comes. */
START_TEST(test_preload_free_kills_child) {
        _cleanup_free_ char *dir = NULL, *images = NULL, *ctl = NULL;
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        _cleanup_(work_pool_freep) WorkPool *pool = NULL;
        _cleanup_(preload_freep) Preload *p = NULL;
        char *tmp = test_tmpdir_new("preload");
        Result res = {.files = json_object()};

        ck_assert_ptr_nonnull(tmp);
        ck_assert_int_ge(asprintf(&images, "%s/images", tmp), 0);
        ck_assert_int_ge(asprintf(&dir, "%s/images/preload", tmp), 0);
        ck_assert_int_eq(mkdir_p(dir, 0755), 0);
        ctl = fake_ctl(tmp);
        touch(dir, "f-hang.tar");

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(image_store_open(images, &store), 0);
        ck_assert_int_eq(work_pool_new(e, 1, &pool), 0);
        PreloadOptions o = {.ctl_path = ctl};
        ck_assert_int_eq(preload_images_start_full(e, pool, store, dir, &o, &callbacks, &res, &p), 0);
        pid_t pid = 0;
        uint64_t deadline = now_usec() + WAIT_USEC;
        while ((pid = read_pid(tmp)) <= 0 && now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert_int_gt(pid, 0);
        ck_assert_int_eq(kill(pid, 0), 0);
        p = preload_free(p);
        ck_assert_int_eq(kill(pid, 0), -1);
        ck_assert_int_eq(errno, ESRCH);
        for (int i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
        ck_assert_int_eq(res.n_done, 0);
        ck_assert_uint_eq(json_object_size(res.files), 0);
        json_decref(res.files);
        test_tmpdir_remove(tmp);
}
END_TEST

/* The store must be <root>/images: nodeletctl only takes the root. */
START_TEST(test_preload_store_layout) {
        _cleanup_free_ char *other = NULL;
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        _cleanup_(work_pool_freep) WorkPool *pool = NULL;
        Preload *p = NULL;
        char *tmp = test_tmpdir_new("preload");

        ck_assert_ptr_nonnull(tmp);
        ck_assert_int_ge(asprintf(&other, "%s/my-images", tmp), 0);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(image_store_open(other, &store), 0);
        ck_assert_int_eq(work_pool_new(e, 1, &pool), 0);
        ck_assert_int_eq(preload_images_start(e, pool, store, tmp, &callbacks, NULL, &p), -EINVAL);
        ck_assert_ptr_null(p);
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
        tcase_add_test(tc, test_preload_child_failures);
        tcase_add_test(tc, test_preload_free_kills_child);
        tcase_add_test(tc, test_preload_store_layout);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
