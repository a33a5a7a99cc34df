/* SPDX-License-Identifier: Apache-2.0 */
/* Image garbage collection and the cached image list (agent/image-gc.h). */
#include "agent/image-gc.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <time.h>

#include "common/log.h"
#include "common/strv.h"

/* ---- the policy ---- */

/* The kubelet's byLastUsedAndDetected. */
static int candidate_cmp(const void *a, const void *b) {
        const ImageGcCandidate *x = a, *y = b;
        if (x->last_used_usec != y->last_used_usec)
                return x->last_used_usec < y->last_used_usec ? -1 : 1;
        if (x->first_detected_usec != y->first_detected_usec)
                return x->first_detected_usec < y->first_detected_usec ? -1 : 1;
        return strcmp(x->id, y->id);
}

static bool candidate_eligible(const ImageGcCandidate *c) {
        return !c->in_use && !c->pinned;
}

static void note_failure(ImageGcResult *res, const ImageGcCandidate *c, const ErrorBuf *e, int r, char *first,
                         size_t size) {
        if (res->failures++ == 0)
                snprintf(first, size, "%s: %s", c->id, error_message(e, r));
}

int image_gc_collect(const ImageGcPolicy *p, ImageGcCandidate *images, size_t n, uint64_t now_usec,
                     const ImageGcOps *ops, void *userdata, ImageGcResult *ret) {
        char first_error[512] = "";
        ImageGcUsage u = {};
        int r;

        *ret = (ImageGcResult){.usage_percent = -1};
        if (p->high_threshold_percent >= 100) {
                ret->disabled = true;
                return 0;
        }
        qsort(images, n, sizeof *images, candidate_cmp);

        /* imageMaximumGCAge: unused for longer than that, whatever the disk usage. */
        for (size_t i = 0; p->max_age_usec > 0 && i < n; i++) {
                ImageGcCandidate *c = &images[i];
                if (!candidate_eligible(c) || c->last_used_usec >= now_usec ||
                    now_usec - c->last_used_usec <= p->max_age_usec)
                        continue;
                ErrorBuf e = {};
                r = ops->remove(c, &e, userdata);
                if (r < 0) {
                        note_failure(ret, c, &e, r, first_error, sizeof first_error);
                        continue;
                }
                c->pinned = true; /* gone: not a candidate below */
                ret->removed_old++;
        }

        r = ops->usage(&u, userdata);
        if (r < 0) {
                snprintf(ret->message, sizeof ret->message, "failed to measure the image file system: %s",
                         strerror(-r));
                return r;
        }
        if (u.available_bytes > u.capacity_bytes)
                u.available_bytes = u.capacity_bytes;
        if (u.capacity_bytes == 0) {
                ret->event_reason = "InvalidDiskCapacity";
                snprintf(ret->message, sizeof ret->message, "invalid capacity 0 on image filesystem");
                return -EINVAL;
        }
        /* In integer percent, rounded like the kubelet: 100 - floor(available × 100 / capacity). */
        ret->usage_percent = 100 - (int) (u.available_bytes * 100 / u.capacity_bytes);
        ret->over_threshold = ret->usage_percent >= p->high_threshold_percent;
        if (ret->over_threshold) {
                uint64_t target = u.capacity_bytes / 100 * (uint64_t) (100 - p->low_threshold_percent) +
                                  u.capacity_bytes % 100 * (uint64_t) (100 - p->low_threshold_percent) / 100;
                ret->amount_to_free = target > u.available_bytes ? target - u.available_bytes : 0;
                uint64_t start_available = u.available_bytes;
                for (size_t i = 0; i < n && ret->freed < ret->amount_to_free; i++) {
                        ImageGcCandidate *c = &images[i];
                        if (!candidate_eligible(c))
                                continue;
                        /* In use a moment ago (the kubelet gives in-use images lastUsed = now). */
                        if (c->last_used_usec >= now_usec)
                                continue;
                        /* Just pulled, maybe about to be used: too young. */
                        if (now_usec < c->first_detected_usec || now_usec - c->first_detected_usec < p->min_age_usec)
                                continue;
                        ErrorBuf e = {};
                        r = ops->remove(c, &e, userdata);
                        if (r < 0) {
                                note_failure(ret, c, &e, r, first_error, sizeof first_error);
                                continue;
                        }
                        ret->removed++;
                        ImageGcUsage after = {};
                        if (ops->usage(&after, userdata) >= 0 && after.available_bytes > start_available)
                                ret->freed = after.available_bytes - start_available;
                }
        }
        if (ret->failures > 0) {
                snprintf(ret->message, sizeof ret->message,
                         "wanted to free %" PRIu64 " bytes, but freed %" PRIu64
                         " bytes space with errors in image deletion: %s%s",
                         ret->amount_to_free, ret->freed, first_error, ret->failures > 1 ? " (and more)" : "");
                return -EIO;
        }
        if (ret->over_threshold && ret->freed < ret->amount_to_free) {
                ret->event_reason = "FreeDiskSpaceFailed";
                snprintf(ret->message, sizeof ret->message,
                         "Failed to garbage collect required amount of images. Attempted to free %" PRIu64
                         " bytes, but only found %" PRIu64 " bytes eligible to free.",
                         ret->amount_to_free, ret->freed);
                return -ENOSPC;
        }
        return 0;
}

/* ---- the collector on the loop ---- */

typedef struct GcJob {
        ImageGc *gc; /* NULL once detached by image_gc_free() */
        ImageStore *store;
        ImageGcPolicy policy;
        bool collect;
        uint64_t now_usec;
        char **in_use, **pinned, **pulled;
        /* results */
        int r;
        ImageGcResult result;
        ImageInfo **list;
        size_t n;
} GcJob;

struct ImageGc {
        sd_event *event;
        WorkPool *pool;
        ImageStore *store;
        ImageGcPolicy policy;
        uint64_t period_usec;
        ImageGcCallbacks cb;
        void *userdata;
        sd_event_source *timer;
        GcJob *job;
        bool started;
        bool want_list, want_collect; /* a run is due (after the one in flight) */
        bool failed_before;           /* the last collection failed (the kubelet's prevImageGCFailed) */
        char **pinned, **pulled;
        ImageListCache cache;
        unsigned runs;
};

static GcJob *gc_job_free(GcJob *j) {
        if (!j)
                return NULL;
        strv_free(j->in_use);
        strv_free(j->pinned);
        strv_free(j->pulled);
        image_info_list_free(j->list, j->n);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(GcJob *, gc_job_free)

/* Whether the pods' list names this image: by id, by a reference it carries, or by its manifest digest. */
static bool image_named(const ImageInfo *img, char **names) {
        for (char **s = names; s && *s; s++) {
                if (streq(*s, img->id) || strv_contains(img->refs, *s))
                        return true;
                const char *at = strrchr(*s, '@');
                if (at && !isempty(img->manifest_digest) && streq(at + 1, img->manifest_digest))
                        return true;
        }
        return false;
}

static int job_usage(ImageGcUsage *ret, void *userdata) {
        GcJob *j = userdata;
        struct statfs st;
        if (statfs(image_store_path(j->store), &st) < 0)
                return -errno;
        ret->capacity_bytes = (uint64_t) st.f_blocks * (uint64_t) st.f_frsize;
        ret->available_bytes = (uint64_t) st.f_bavail * (uint64_t) st.f_frsize;
        return 0;
}

static int job_remove(const ImageGcCandidate *c, ErrorBuf *e, void *userdata) {
        GcJob *j = userdata;
        /* By id: every reference goes, and the store refuses (-EBUSY) when a container registered meanwhile. */
        return image_store_remove(j->store, c->id, e);
}

static int size_cmp(const void *a, const void *b) {
        const ImageInfo *x = *(ImageInfo *const *) a, *y = *(ImageInfo *const *) b;
        if (x->size != y->size)
                return x->size < y->size ? 1 : -1;
        return strcmp(x->id, y->id);
}

static int job_list(GcJob *j) {
        image_info_list_free(j->list, j->n);
        j->list = NULL;
        j->n = 0;
        int r = image_store_list(j->store, &j->list, &j->n);
        if (r < 0)
                return r;
        qsort(j->list, j->n, sizeof *j->list, size_cmp);
        return 0;
}

static int job_collect(GcJob *j) {
        _cleanup_free_ ImageGcCandidate *c = calloc(j->n + 1, sizeof *c);
        RET_NULL_ENOMEM(c);
        for (size_t i = 0; i < j->n; i++) {
                const ImageInfo *img = j->list[i];
                int u = image_store_in_use(j->store, img->id);
                c[i] = (ImageGcCandidate){
                        .id = img->id,
                        .size = img->size,
                        .first_detected_usec = img->created_usec,
                        .last_used_usec = img->last_used_usec,
                        /* a record we cannot read counts as a use: never remove what might be used */
                        .in_use = u != 0 || image_named(img, j->in_use),
                        .pinned = strv_contains(j->pinned, img->id),
                };
        }
        j->r = image_gc_collect(&j->policy, c, j->n, j->now_usec, &(const ImageGcOps){job_usage, job_remove}, j,
                                &j->result);
        return 0;
}

static int gc_work(void *userdata) {
        GcJob *j = userdata;
        /* A pull is a use (the kubelet's lastUsed starts there for an image pulled for a pod). */
        for (char **id = j->pulled; id && *id; id++)
                (void) image_store_touch(j->store, *id, j->now_usec);
        int r = job_list(j);
        if (r < 0)
                return r;
        if (!j->collect)
                return 0;
        r = job_collect(j);
        if (r < 0)
                return r;
        if (j->result.removed + j->result.removed_old > 0)
                return job_list(j);
        return 0;
}

static bool lists_equal(ImageInfo **a, size_t na, ImageInfo **b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++) {
                if (!streq(a[i]->id, b[i]->id) || a[i]->size != b[i]->size ||
                    !streq_ptr(a[i]->manifest_digest, b[i]->manifest_digest))
                        return false;
                size_t k = 0;
                for (; a[i]->refs[k] && b[i]->refs[k]; k++)
                        if (!streq(a[i]->refs[k], b[i]->refs[k]))
                                return false;
                if (a[i]->refs[k] || b[i]->refs[k])
                        return false;
        }
        return true;
}

static void gc_kick(ImageGc *gc);

static void gc_report(ImageGc *gc, GcJob *j) {
        const ImageGcResult *res = &j->result;
        if (res->removed_old > 0)
                log_info("Image garbage collection: removed %u images unused for longer than imageMaximumGCAge",
                         res->removed_old);
        if (res->over_threshold)
                log_info("Image garbage collection: disk usage on the image file system is %d%%, at or over the high "
                         "threshold (%d%%): removed %u images, freed %" PRIu64 " of %" PRIu64 " bytes to reach the "
                         "low threshold (%d%%)",
                         res->usage_percent, gc->policy.high_threshold_percent, res->removed, res->freed,
                         res->amount_to_free, gc->policy.low_threshold_percent);
        if (j->r >= 0) {
                if (gc->failed_before)
                        log_info("Image garbage collection succeeded");
                gc->failed_before = false;
                return;
        }
        /* The kubelet: an event for the shortfall each time, ImageGCFailed only when it failed twice in a row
         * (the first failure may be stats not being ready yet). */
        if (res->event_reason && gc->cb.event)
                gc->cb.event(gc, res->event_reason, res->message, gc->userdata);
        if (gc->failed_before) {
                log_error("Image garbage collection failed multiple times in a row: %s", res->message);
                if (gc->cb.event)
                        gc->cb.event(gc, "ImageGCFailed", res->message, gc->userdata);
        } else
                log_error("Image garbage collection failed once: %s", res->message);
        gc->failed_before = true;
}

static void gc_done(int result, void *userdata) {
        _cleanup_(gc_job_freep) GcJob *j = userdata;
        ImageGc *gc = j->gc;
        if (!gc)
                return;
        gc->job = NULL;
        if (result < 0)
                log_warning_errno(result, "Image garbage collection: cannot list the images in %s: %m",
                                  image_store_path(gc->store));
        else {
                if (gc->cache.generation == 0 || !lists_equal(gc->cache.images, gc->cache.n, j->list, j->n)) {
                        image_info_list_free(gc->cache.images, gc->cache.n);
                        gc->cache.images = TAKE_PTR(j->list);
                        gc->cache.n = j->n;
                        j->n = 0;
                        gc->cache.generation++;
                }
                if (j->collect && !j->result.disabled) {
                        if (j->r < 0 || j->result.removed + j->result.removed_old > 0)
                                gc->runs++;
                        gc_report(gc, j);
                }
        }
        gc_kick(gc);
}

/* Starts the run that is due, unless one is in flight (its done() comes back here). A collection is due only once
 * started; the list whenever something changed. */
static void gc_kick(ImageGc *gc) {
        _cleanup_(gc_job_freep) GcJob *j = NULL;
        bool collect = gc->want_collect && gc->started;
        struct timespec ts;
        int r;

        if (gc->job || !(gc->want_list || collect))
                return;
        j = calloc(1, sizeof *j);
        if (!j || !(j->pinned = strv_copy(gc->pinned))) {
                log_warning("Image garbage collection: cannot start a run: %s", strerror(ENOMEM));
                return; /* tried again at the next pull or period */
        }
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        j->gc = gc;
        j->store = gc->store;
        j->policy = gc->policy;
        j->now_usec = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
        j->collect = collect;
        if (collect) {
                r = gc->cb.in_use(gc, &j->in_use, gc->userdata);
                if (r < 0) {
                        log_warning_errno(r, "Image garbage collection: cannot tell which images are in use: %m");
                        j->collect = false; /* never collect without knowing; the next period tries again */
                }
        }
        /* The pulls recorded so far go with this run (before the submit: the job is the pool's from there). */
        j->pulled = TAKE_PTR(gc->pulled);
        r = work_pool_submit(gc->pool, gc_work, gc_done, j);
        if (r < 0) {
                gc->pulled = TAKE_PTR(j->pulled);
                log_warning_errno(r, "Image garbage collection: cannot start a run: %m");
                return;
        }
        gc->want_list = false;
        if (collect)
                gc->want_collect = false;
        gc->job = TAKE_PTR(j);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ImageGc *gc = userdata;
        gc->want_list = gc->want_collect = true;
        gc_kick(gc);
        /* Housekeeping: sd-event's default accuracy lets it coalesce with other wakeups. */
        (void) sd_event_source_set_time(s, usec + gc->period_usec);
        return 0;
}

int image_gc_new(sd_event *e, WorkPool *pool, ImageStore *store, const ImageGcPolicy *policy, uint64_t period_usec,
                 const ImageGcCallbacks *cb, void *userdata, ImageGc **ret) {
        ImageGc *gc = calloc(1, sizeof *gc);
        RET_NULL_ENOMEM(gc);
        *gc = (ImageGc){.event = e,
                        .pool = pool,
                        .store = store,
                        .policy = *policy,
                        .period_usec = period_usec ?: IMAGE_GC_PERIOD_USEC,
                        .cb = *cb,
                        .userdata = userdata,
                        .want_list = true};
        gc_kick(gc);
        *ret = gc;
        return 0;
}

ImageGc *image_gc_free(ImageGc *gc) {
        if (!gc)
                return NULL;
        if (gc->job)
                gc->job->gc = NULL; /* its done() frees it */
        gc->timer = sd_event_source_disable_unref(gc->timer);
        image_info_list_free(gc->cache.images, gc->cache.n);
        strv_free(gc->pinned);
        strv_free(gc->pulled);
        free(gc);
        return NULL;
}

void image_gc_start(ImageGc *gc) {
        if (!gc || gc->started)
                return;
        gc->started = true;
        /* The kubelet starts no image garbage collection at all then. */
        if (gc->policy.high_threshold_percent >= 100) {
                log_info("imageGCHighThresholdPercent is 100: image garbage collection is off");
                return;
        }
        int r = sd_event_add_time_relative(gc->event, &gc->timer, CLOCK_MONOTONIC, gc->period_usec, 0, on_timer, gc);
        if (r >= 0)
                r = sd_event_source_set_enabled(gc->timer, SD_EVENT_ON);
        if (r < 0)
                log_warning_errno(r, "Image garbage collection: cannot arm its timer: %m");
        gc->want_list = gc->want_collect = true;
        gc_kick(gc);
}

void image_gc_image_pulled(ImageGc *gc, const char *image_id) {
        if (!gc)
                return;
        if (image_id && strv_extend_unique(&gc->pulled, image_id) < 0)
                log_warning("Image garbage collection: cannot record the pull of %s: %s", image_id, strerror(ENOMEM));
        gc->want_list = true;
        /* After each pull, like the issue asks: a pull is when the disk fills. Off while not started or disabled. */
        if (gc->started && gc->policy.high_threshold_percent < 100)
                gc->want_collect = true;
        gc_kick(gc);
}

void image_gc_images_changed(ImageGc *gc) {
        if (!gc)
                return;
        gc->want_list = true;
        gc_kick(gc);
}

int image_gc_pin(ImageGc *gc, const char *image_id) {
        if (!gc)
                return 0;
        return strv_extend_unique(&gc->pinned, image_id);
}

const ImageListCache *image_gc_images(const ImageGc *gc) {
        return gc ? &gc->cache : NULL;
}

unsigned image_gc_runs(const ImageGc *gc) {
        return gc->runs;
}
