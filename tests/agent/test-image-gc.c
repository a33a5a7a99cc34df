/* SPDX-License-Identifier: Apache-2.0 */
/* Image garbage collection (agent/image-gc.h). The policy on a fake clock and a fake file system: least recently
 * used first (ties: first detected first), in-use, pinned and too young images skipped, freed bytes measured until
 * the low threshold is reached, the kubelet's FreeDiskSpaceFailed message, failed removals, imageMaximumGCAge,
 * threshold 100 off, capacity 0. Then the store's part (root: real images from tests/fixtures): first detected and
 * last used times kept on disk, container records counting as uses, `prune` with and without --all; and the
 * collector on a loop over a real store: only the unused, unpinned image goes, the node event says why the low
 * threshold was not reached, and the cached image list follows with a new generation. */

#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/image-gc.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

#define MIN_USEC (60 * USEC_PER_SEC)
#define NOW (1700000000ULL * USEC_PER_SEC)

/* ---- the policy ---- */

typedef struct FakeFs {
        uint64_t capacity, available;
        unsigned usage_calls;
        char removed[16][32]; /* ids, in removal order */
        size_t n_removed;
        const char *fail_id; /* its removal fails */
        /* bytes a removal frees per byte of image size (a removed image frees its unpacked layers too) */
        unsigned factor;
} FakeFs;

static int fake_usage(ImageGcUsage *ret, void *userdata) {
        FakeFs *fs = userdata;
        fs->usage_calls++;
        ret->capacity_bytes = fs->capacity;
        ret->available_bytes = fs->available;
        return 0;
}

static int fake_remove(const ImageGcCandidate *c, ErrorBuf *e, void *userdata) {
        FakeFs *fs = userdata;
        if (fs->fail_id && streq(c->id, fs->fail_id))
                return error_set(e, -EBUSY, "image %s is in use by a container", c->id);
        ck_assert_uint_lt(fs->n_removed, ELEMENTSOF(fs->removed));
        snprintf(fs->removed[fs->n_removed++], sizeof fs->removed[0], "%s", c->id);
        fs->available += c->size * (fs->factor ?: 1);
        return 0;
}

static const ImageGcOps fake_ops = {fake_usage, fake_remove};
static const ImageGcPolicy policy = {
        .high_threshold_percent = 85, .low_threshold_percent = 80, .min_age_usec = 2 * MIN_USEC};

/* Five unused images of 10 bytes each on a 1000-byte disk, all old enough; last used a..e oldest first, except
 * that b and c were last used at the same time and c was detected first. */
static void five_images(ImageGcCandidate c[5]) {
        c[0] = (ImageGcCandidate){.id = "a",
                                  .size = 10,
                                  .first_detected_usec = NOW - 90 * MIN_USEC,
                                  .last_used_usec = NOW - 60 * MIN_USEC};
        c[1] = (ImageGcCandidate){.id = "b",
                                  .size = 10,
                                  .first_detected_usec = NOW - 80 * MIN_USEC,
                                  .last_used_usec = NOW - 50 * MIN_USEC};
        c[2] = (ImageGcCandidate){.id = "c",
                                  .size = 10,
                                  .first_detected_usec = NOW - 85 * MIN_USEC,
                                  .last_used_usec = NOW - 50 * MIN_USEC};
        c[3] = (ImageGcCandidate){.id = "d",
                                  .size = 10,
                                  .first_detected_usec = NOW - 70 * MIN_USEC,
                                  .last_used_usec = NOW - 40 * MIN_USEC};
        c[4] = (ImageGcCandidate){.id = "e",
                                  .size = 10,
                                  .first_detected_usec = NOW - 65 * MIN_USEC,
                                  .last_used_usec = NOW - 30 * MIN_USEC};
}

static void check_removed(const FakeFs *fs, const char *const *want, size_t n) {
        ck_assert_uint_eq(fs->n_removed, n);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(fs->removed[i], want[i]);
}

START_TEST(test_policy_lru_first) {
        ImageGcCandidate c[5];
        ImageGcResult res;
        /* 86 % used (140 of 1000 available): to reach 80 %, 200 - 140 = 60 bytes must go. A 10-byte image frees 20
         * (its unpacked layers too): the freed bytes are measured, so three images do. */
        FakeFs fs = {.capacity = 1000, .available = 140, .factor = 2};
        five_images(c);
        ck_assert_int_eq(image_gc_collect(&policy, c, 5, NOW, &fake_ops, &fs, &res), 0);
        ck_assert_int_eq(res.usage_percent, 86);
        ck_assert(res.over_threshold);
        ck_assert_uint_eq(res.amount_to_free, 60);
        ck_assert_uint_eq(res.freed, 60);
        ck_assert_uint_eq(res.removed, 3);
        /* a (oldest use), then c (tied with b, detected earlier), then b; d and e stay. */
        check_removed(&fs, (const char *const[]){"a", "c", "b"}, 3);
        ck_assert_uint_eq(fs.available, 200); /* at the low threshold */
}
END_TEST

START_TEST(test_policy_exclusions) {
        ImageGcCandidate c[5];
        ImageGcResult res;
        FakeFs fs = {.capacity = 1000, .available = 100};
        five_images(c);
        c[0].in_use = true;                            /* a: a container uses it */
        c[2].pinned = true;                            /* c: pinned */
        c[3].first_detected_usec = NOW - 1 * MIN_USEC; /* d: pulled a minute ago (min age 2m) */
        c[1].last_used_usec = NOW;                     /* b: in use a moment ago */
        ck_assert_int_eq(image_gc_collect(&policy, c, 5, NOW, &fake_ops, &fs, &res), -ENOSPC);
        check_removed(&fs, (const char *const[]){"e"}, 1);
        ck_assert_uint_eq(res.amount_to_free, 100);
        ck_assert_uint_eq(res.freed, 10);
        ck_assert_str_eq(res.event_reason, "FreeDiskSpaceFailed");
        ck_assert_str_eq(res.message, "Failed to garbage collect required amount of images. Attempted to free 100 "
                                      "bytes, but only found 10 bytes eligible to free.");
}
END_TEST

START_TEST(test_policy_below_threshold) {
        ImageGcCandidate c[5];
        ImageGcResult res;
        /* 85 % is "at or over": collected; 84 % is not. */
        FakeFs fs = {.capacity = 1000, .available = 160};
        five_images(c);
        ck_assert_int_eq(image_gc_collect(&policy, c, 5, NOW, &fake_ops, &fs, &res), 0);
        ck_assert_int_eq(res.usage_percent, 84);
        ck_assert(!res.over_threshold);
        ck_assert_uint_eq(fs.n_removed, 0);
        fs.available = 150;
        ck_assert_int_eq(image_gc_collect(&policy, c, 5, NOW, &fake_ops, &fs, &res), 0);
        ck_assert_int_eq(res.usage_percent, 85);
        ck_assert_uint_eq(res.amount_to_free, 50);
        check_removed(&fs, (const char *const[]){"a", "c", "b", "d", "e"}, 5);
}
END_TEST

START_TEST(test_policy_disabled_at_100) {
        ImageGcCandidate c[5];
        ImageGcResult res;
        ImageGcPolicy p = policy;
        FakeFs fs = {.capacity = 1000, .available = 0};
        five_images(c);
        p.high_threshold_percent = 100;
        p.max_age_usec = MIN_USEC; /* off too */
        ck_assert_int_eq(image_gc_collect(&p, c, 5, NOW, &fake_ops, &fs, &res), 0);
        ck_assert(res.disabled);
        ck_assert_uint_eq(fs.usage_calls, 0);
        ck_assert_uint_eq(fs.n_removed, 0);
}
END_TEST

START_TEST(test_policy_max_age) {
        ImageGcCandidate c[5];
        ImageGcResult res;
        ImageGcPolicy p = policy;
        FakeFs fs = {.capacity = 1000, .available = 900};
        five_images(c);
        c[0].in_use = true;
        p.max_age_usec = 45 * MIN_USEC;
        /* Unused for longer than 45 minutes: b and c (a is in use); the disk is nearly empty. */
        ck_assert_int_eq(image_gc_collect(&p, c, 5, NOW, &fake_ops, &fs, &res), 0);
        check_removed(&fs, (const char *const[]){"c", "b"}, 2);
        ck_assert_uint_eq(res.removed_old, 2);
        ck_assert_uint_eq(res.removed, 0);
}
END_TEST

START_TEST(test_policy_failures) {
        ImageGcCandidate c[5];
        ImageGcResult res;
        FakeFs fs = {.capacity = 1000, .available = 140, .fail_id = "a"};
        five_images(c);
        /* a fails, the next ones are tried */
        ck_assert_int_eq(image_gc_collect(&policy, c, 5, NOW, &fake_ops, &fs, &res), -EIO);
        check_removed(&fs, (const char *const[]){"c", "b", "d", "e"}, 4);
        ck_assert_ptr_null(res.event_reason);
        ck_assert_msg(strstr(res.message, "wanted to free 60 bytes, but freed 40 bytes space with errors in image "
                                          "deletion: a: image a is in use by a container"),
                      "%s", res.message);

        FakeFs zero = {};
        five_images(c);
        ck_assert_int_eq(image_gc_collect(&policy, c, 5, NOW, &fake_ops, &zero, &res), -EINVAL);
        ck_assert_str_eq(res.event_reason, "InvalidDiskCapacity");
        ck_assert_str_eq(res.message, "invalid capacity 0 on image filesystem");
}
END_TEST

/* ---- the store and the collector (root) ---- */

static char *fixture(const char *dir, const char *name, const char *opts) {
        char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        ck_assert_int_eq(test_system("/usr/bin/python3 %s/tests/fixtures/make-busybox-image.py %s %s >/dev/null",
                                     test_source_dir(), path, opts),
                         0);
        return path;
}

static char *import(ImageStore *s, const char *dir, const char *name, const char *ref) {
        _cleanup_free_ char *opts = NULL, *path = NULL;
        _cleanup_(image_info_freep) ImageInfo *info = NULL;
        ErrorBuf e = {};
        ck_assert_int_ge(asprintf(&opts, "--variant %s --ref %s", name, ref), 0);
        path = fixture(dir, name, opts);
        ck_assert_msg(image_store_import(s, path, NULL, &info, &e) >= 0, "%s", e.msg);
        return strdup(info->id);
}

static uint64_t now_realtime(void) {
        struct timespec ts;
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

START_TEST(test_store_times_and_prune) {
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        _cleanup_free_ char *images = NULL, *a = NULL, *b = NULL, *c = NULL, *c2 = NULL;
        _cleanup_strv_free_ char **removed = NULL;
        char *tmp = test_tmpdir_new("image-gc");
        ImageInfo *info = NULL;
        ErrorBuf e = {};

        ck_assert_ptr_nonnull(tmp);
        ck_assert_int_ge(asprintf(&images, "%s/images", tmp), 0);
        ck_assert_int_eq(image_store_open(images, &s), 0);
        uint64_t before = now_realtime();
        a = import(s, tmp, "a", "example.com/a:1");
        b = import(s, tmp, "b", "example.com/b:1");
        c = import(s, tmp, "c", "example.com/c:1");

        /* Just imported: created now, last used = created. */
        ck_assert_int_eq(image_store_get(s, a, &info, NULL), 0);
        ck_assert_uint_ge(info->created_usec, before - USEC_PER_SEC);
        ck_assert_uint_eq(info->last_used_usec, info->created_usec);
        uint64_t created = info->created_usec;
        info = image_info_free(info);

        /* A recorded use moves last used, not created; a container record is a use too. */
        ck_assert_int_eq(image_store_touch(s, a, created + 3600 * USEC_PER_SEC), 0);
        ck_assert_int_eq(image_store_get(s, a, &info, NULL), 0);
        ck_assert_uint_eq(info->created_usec, created);
        ck_assert_uint_eq(info->last_used_usec, created + 3600 * USEC_PER_SEC);
        info = image_info_free(info);
        ck_assert_int_eq(image_store_touch(s, b, before - 7200 * USEC_PER_SEC), 0);
        ck_assert_int_eq(image_store_add_user(s, b, "ctr1"), 0);
        ck_assert_int_eq(image_store_get(s, b, &info, NULL), 0);
        ck_assert_uint_ge(info->last_used_usec, before);
        info = image_info_free(info);
        ck_assert_int_eq(image_store_touch(s,
                                           "sha256:"
                                           "0000000000000000000000000000000000000000000000000000000000000000",
                                           0),
                         -ENOENT);

        /* prune: only untagged images. None yet; then c loses its tag to a new image of the same name. */
        ck_assert_int_eq(image_store_prune(s, false, &removed, &e), 0);
        ck_assert_ptr_null(removed[0]);
        removed = (strv_free(removed), NULL);
        c2 = import(s, tmp, "c2", "example.com/c:1");
        ck_assert_int_eq(image_store_prune(s, false, &removed, &e), 1);
        ck_assert_str_eq(removed[0], c);
        ck_assert_int_eq(image_store_get(s, c, &info, NULL), -ENOENT);
        ck_assert_int_eq(image_store_get(s, c2, &info, NULL), 0);
        info = image_info_free(info);
        ck_assert_int_eq(image_store_remove(s, c2, &e), 0);
        removed = (strv_free(removed), NULL);
        /* --all: every image no container uses; the used/ record of a goes with it. */
        ck_assert_int_eq(image_store_prune(s, true, &removed, &e), 1);
        ck_assert_str_eq(removed[0], a);
        ck_assert_ptr_null(removed[1]);
        ck_assert_int_eq(image_store_get(s, a, &info, NULL), -ENOENT);
        ck_assert_int_eq(image_store_get(s, b, &info, NULL), 0);
        info = image_info_free(info);
        ck_assert_int_eq(test_system("test \"$(ls %s/used)\" = %s", images, b + STRLEN("sha256:")), 0);
        ck_assert_int_eq(image_store_remove_user(s, b, "ctr1"), 0);
        removed = (strv_free(removed), NULL);
        ck_assert_int_eq(image_store_prune(s, true, &removed, &e), 1);
        ck_assert_str_eq(removed[0], b);
        /* Nothing left of them: blobs, layers, records. */
        ck_assert_int_eq(test_system("test -z \"$(find %s/blobs/sha256 %s/layers %s/used %s/users -mindepth 1)\"",
                                     images, images, images, images),
                         0);
        test_tmpdir_remove(tmp);
}
END_TEST

typedef struct GcTest {
        char *keep_ref; /* named as in use by a pod */
        json_t *events; /* [[reason, message]] */
} GcTest;

static int test_in_use(ImageGc *gc, char ***ret, void *userdata) {
        GcTest *t = userdata;
        char **l = calloc(2, sizeof(char *));
        RET_NULL_ENOMEM(l);
        l[0] = strdup(t->keep_ref);
        *ret = l;
        return 0;
}

static void test_event(ImageGc *gc, const char *reason, const char *message, void *userdata) {
        GcTest *t = userdata;
        json_array_append_new(t->events, json_pack("[s,s]", reason, message));
}

static void run_until(sd_event *e, bool (*cond)(ImageGc *gc, void *data), ImageGc *gc, void *data) {
        for (unsigned i = 0; i < 600 && !cond(gc, data); i++)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert(cond(gc, data));
}

static bool listed(ImageGc *gc, void *data) {
        return image_gc_images(gc)->generation >= *(uint64_t *) data;
}

static bool collected(ImageGc *gc, void *data) {
        return image_gc_runs(gc) >= 1;
}

START_TEST(test_collector) {
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        _cleanup_(work_pool_freep) WorkPool *pool = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *images = NULL, *used = NULL, *pinned = NULL, *unused = NULL, *pulled = NULL;
        char *tmp = test_tmpdir_new("image-gc");
        GcTest t = {.keep_ref = (char *) "example.com/used:1", .events = json_array()};
        ImageGc *gc = NULL;

        ck_assert_ptr_nonnull(tmp);
        ck_assert_int_ge(asprintf(&images, "%s/images", tmp), 0);
        ck_assert_int_eq(image_store_open(images, &s), 0);
        used = import(s, tmp, "used", t.keep_ref);
        pinned = import(s, tmp, "pinned", "example.com/pinned:1");
        unused = import(s, tmp, "unused", "example.com/unused:1");
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(work_pool_new(e, 1, &pool), 0);

        /* Thresholds no real file system can satisfy: usage ≥ 1 % collects, and 0 % is never reached. */
        ImageGcPolicy p = {.high_threshold_percent = 1, .low_threshold_percent = 0, .min_age_usec = 1};
        static const ImageGcCallbacks cb = {.in_use = test_in_use, .event = test_event};
        ck_assert_int_eq(image_gc_new(e, pool, s, &p, 3600 * USEC_PER_SEC, &cb, &t, &gc), 0);
        uint64_t gen = 1;
        run_until(e, listed, gc, &gen);
        const ImageListCache *cache = image_gc_images(gc);
        ck_assert_uint_eq(cache->n, 3);
        for (size_t i = 1; i < cache->n; i++) /* largest first */
                ck_assert_uint_ge(cache->images[i - 1]->size, cache->images[i]->size);
        ck_assert_int_eq(image_gc_pin(gc, pinned), 0);

        /* Nothing is collected before image_gc_start(): a pull only re-lists (and records the use). */
        pulled = import(s, tmp, "pulled", "example.com/pulled:1");
        image_gc_image_pulled(gc, pulled);
        gen = 2;
        run_until(e, listed, gc, &gen);
        ck_assert_uint_eq(image_gc_images(gc)->n, 4);
        ck_assert_uint_eq(image_gc_runs(gc), 0);

        image_gc_start(gc);
        run_until(e, collected, gc, NULL);
        /* unused and pulled went (pulled: its use is older than now, its age over 1 µs); the image a pod names and
         * the pinned one stay; the low threshold was out of reach: the kubelet's event. */
        cache = image_gc_images(gc);
        ck_assert_uint_eq(cache->generation, 3);
        ck_assert_uint_eq(cache->n, 2);
        for (size_t i = 0; i < cache->n; i++)
                ck_assert(streq(cache->images[i]->id, used) || streq(cache->images[i]->id, pinned));
        ImageInfo *info = NULL;
        ck_assert_int_eq(image_store_get(s, unused, &info, NULL), -ENOENT);
        ck_assert_int_eq(image_store_get(s, pulled, &info, NULL), -ENOENT);
        ck_assert_uint_eq(json_array_size(t.events), 1);
        ck_assert_str_eq(json_string_value(json_array_get(json_array_get(t.events, 0), 0)), "FreeDiskSpaceFailed");
        ck_assert_msg(startswith(json_string_value(json_array_get(json_array_get(t.events, 0), 1)),
                                 "Failed to garbage collect required amount of images. Attempted to free "),
                      "%s", json_string_value(json_array_get(json_array_get(t.events, 0), 1)));

        gc = image_gc_free(gc);
        json_decref(t.events);
        test_tmpdir_remove(tmp);
}
END_TEST

int main(void) {
        Suite *s = suite_create("image-gc");
        TCase *tc = tcase_create("policy");
        tcase_add_test(tc, test_policy_lru_first);
        tcase_add_test(tc, test_policy_exclusions);
        tcase_add_test(tc, test_policy_below_threshold);
        tcase_add_test(tc, test_policy_disabled_at_100);
        tcase_add_test(tc, test_policy_max_age);
        tcase_add_test(tc, test_policy_failures);
        suite_add_tcase(s, tc);
        if (geteuid() == 0 && access("/usr/bin/python3", X_OK) == 0) {
                TCase *st = tcase_create("store");
                tcase_set_timeout(st, 120);
                tcase_add_test(st, test_store_times_and_prune);
                tcase_add_test(st, test_collector);
                suite_add_tcase(s, st);
        } else
                fprintf(stderr, "not root (or no /usr/bin/python3): the store and collector tests are skipped\n");
        return test_run_suite(s);
}
