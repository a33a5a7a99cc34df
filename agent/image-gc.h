/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Image garbage collection by disk usage (the kubelet's pkg/kubelet/images/image_gc_manager.go) and the in-memory
 * list of the store's images behind the node's status.images.
 *
 * The policy (image_gc_collect(), no I/O of its own: the caller measures and removes) is the kubelet's:
 *   - imageMaximumGCAge first: every image not in use and not pinned whose last use is older than it goes.
 *   - Then the usage of the file system holding the store, 100 - available * 100 / capacity (statfs f_bavail and
 *     f_blocks, the numbers cadvisor gives the kubelet). At imageGCHighThresholdPercent or above, unused images are
 *     removed, least recently used first (ties: first detected first), until capacity * (100 - low) / 100 -
 *     available bytes are freed; images in use, pinned, or younger than imageMinimumGCAge are skipped; a removal
 *     that fails is counted and the next image tried.
 *   - Too little found to remove: FreeDiskSpaceFailed "Failed to garbage collect required amount of images.
 *     Attempted to free N bytes, but only found M bytes eligible to free."; a capacity of 0: InvalidDiskCapacity.
 *   - A high threshold of 100 turns image garbage collection off (max age included), like the kubelet.
 * Deliberately different: the bytes freed are measured (the usage is read again after each removal) instead of
 * summing the images' sizes, because removing an image frees its unpacked layers too (about twice its compressed
 * size) and nothing of the layers it shares with images that stay.
 *
 * ImageGc is the daemon's collector on the loop: a run every IMAGE_GC_PERIOD_USEC (the kubelet's ImageGCPeriod)
 * and after each pull, one at a time, on the WorkPool (statfs, listing the store, removals and the store's sweep of
 * unreferenced blobs and layers all block). "In use" is what the caller's in_use callback names (the images of
 * every container of every pod the daemon manages, created or still to be) plus any image with a container record
 * in the store (image_store_in_use(): containers of `nodeletctl run` too). lastUsed and firstDetected come from
 * the store (ImageInfo.last_used_usec, created_usec), so they survive daemon restarts.
 *
 * The same runs keep an ImageListCache: the store's images, largest first, re-listed only after a pull, an import
 * or a removal the daemon knows of (and by each periodic run, which catches `nodeletctl images rm` by hand); its
 * generation moves when the list changed, so the node controller rebuilds status.images only then. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "common/event-util.h"
#include "common/macro.h"
#include "runtime/image-store.h"

#define IMAGE_GC_PERIOD_USEC (5 * 60 * USEC_PER_SEC)

typedef struct ImageGcPolicy {
        int high_threshold_percent; /* imageGCHighThresholdPercent (85); 100 = off */
        int low_threshold_percent;  /* imageGCLowThresholdPercent (80) */
        uint64_t min_age_usec;      /* imageMinimumGCAge (2m) */
        uint64_t max_age_usec;      /* imageMaximumGCAge; 0 = off */
} ImageGcPolicy;

/* One image as the policy sees it. Times are CLOCK_REALTIME µs. */
typedef struct ImageGcCandidate {
        const char *id;
        uint64_t size;
        uint64_t first_detected_usec;
        uint64_t last_used_usec;
        bool in_use;
        bool pinned;
} ImageGcCandidate;

typedef struct ImageGcUsage {
        uint64_t capacity_bytes;  /* f_blocks × f_frsize */
        uint64_t available_bytes; /* f_bavail × f_frsize */
} ImageGcUsage;

typedef struct ImageGcOps {
        /* Measures the file system holding the images. */
        int (*usage)(ImageGcUsage *ret, void *userdata);
        /* Removes the image (and what only it used); on failure fills e. */
        int (*remove)(const ImageGcCandidate *c, ErrorBuf *e, void *userdata);
} ImageGcOps;

typedef struct ImageGcResult {
        bool disabled;       /* high threshold 100 */
        int usage_percent;   /* -1: not measured */
        bool over_threshold; /* usage_percent >= the high threshold */
        uint64_t amount_to_free;
        uint64_t freed;       /* measured, by the threshold step */
        unsigned removed;     /* by the threshold step */
        unsigned removed_old; /* by imageMaximumGCAge */
        unsigned failures;    /* removals that failed */
        const char
                *event_reason; /* r < 0: the node event's reason (FreeDiskSpaceFailed, InvalidDiskCapacity) or NULL */
        char message[1024];    /* r < 0: the kubelet's error message */
} ImageGcResult;

/* One garbage collection over images (reordered in place into eviction order) at now_usec. Returns 0, or a
 * negative errno with ret->message (and ret->event_reason when the kubelet records an event for it): -ENOSPC too
 * little eligible, -EIO removals failed, -EINVAL capacity 0, or what ops->usage returned. */
int image_gc_collect(const ImageGcPolicy *p, ImageGcCandidate *images, size_t n, uint64_t now_usec,
                     const ImageGcOps *ops, void *userdata, ImageGcResult *ret);

/* The store's images, largest first (the order of status.images). Owned by the ImageGc; valid until control
 * returns to the loop. */
typedef struct ImageListCache {
        ImageInfo **images;
        size_t n;
        uint64_t generation; /* 0: not listed yet; moves whenever the list changed */
} ImageListCache;

typedef struct ImageGc ImageGc;

typedef struct ImageGcCallbacks {
        /* The images the daemon's pods use or will use: ids ("sha256:<hex>") or normalized references
         * (repo:tag, repo@sha256:<manifest digest>), as a NULL-terminated list the collector takes over. Called on
         * the loop when a run starts. Required. */
        int (*in_use)(ImageGc *gc, char ***ret, void *userdata);
        /* A node event (Warning) and its message. May be NULL. */
        void (*event)(ImageGc *gc, const char *reason, const char *message, void *userdata);
} ImageGcCallbacks;

/* e, pool and store are borrowed and must outlive the collector; policy and cb are copied. period_usec 0:
 * IMAGE_GC_PERIOD_USEC. Lists the store at once (for the cache); collects nothing until image_gc_start(). */
int image_gc_new(sd_event *e, WorkPool *pool, ImageStore *store, const ImageGcPolicy *policy, uint64_t period_usec,
                 const ImageGcCallbacks *cb, void *userdata, ImageGc **ret);
/* A run on the pool finishes there without callbacks. Returns NULL. */
ImageGc *image_gc_free(ImageGc *gc);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageGc *, image_gc_free)

/* Starts collecting: a run now, then every period. Idempotent. Nothing happens with a high threshold of 100. */
void image_gc_start(ImageGc *gc);
/* image_id was pulled: records the use (ImageInfo.last_used_usec), re-lists, and collects when started. */
void image_gc_image_pulled(ImageGc *gc, const char *image_id);
/* Images were imported or removed behind the collector's back: re-lists. */
void image_gc_images_changed(ImageGc *gc);
/* A pinned image is never collected (the daemon pins its preloaded images). */
int image_gc_pin(ImageGc *gc, const char *image_id);
const ImageListCache *image_gc_images(const ImageGc *gc);
/* Runs that removed something or failed, for tests and metrics. */
unsigned image_gc_runs(const ImageGc *gc);

/* ---- the daemon's glue (agent/image-gc-manager.c, in nodelet-agent) ---- */
struct Manager;
/* Creates m->image_gc from the configuration (the thresholds and ages of m->cfg.nodelet_config). */
int manager_image_gc_new(struct Manager *m);
/* Starts collecting once the image preload is done and every pod source synced (before, a pod's image is not known
 * to be in use yet). */
void manager_image_gc_maybe_start(struct Manager *m);
