/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Preloaded images: image tars dropped into a directory (by default <root-dir>/images/preload/) are imported into the
 * image store when the daemon starts, so a node without a registry (air-gapped, or a demo) can run pods. Like
 * `ctr images import` run by the node's provisioning, but by the daemon.
 *
 * Files: regular files whose name ends in .tar, .tar.gz, .tgz or .tar.zst (what image_store_import() reads: OCI
 * archives and `docker save` tars, plain or compressed), dot-files ignored, imported one at a time in name order.
 * One failure is reported and the others still run.
 *
 * Each import runs in a child process, `nodeletctl images --root-dir R import --quiet PATH`, not in the daemon: the
 * importer needs libarchive and its compression and XML libraries (~2.8 MiB of PSS in a daemon that otherwise only
 * reads the store), and a tar that crashes or wedges the unpacker then costs one child, killed after the timeout,
 * not the daemon. The child is watched through a pidfd on the loop; its stderr becomes the failure message. The
 * store must be <R>/images, the layout nodeletctl opens. The cheap part (stat, record check, image lookup) runs on
 * a WorkPool thread.
 *
 * Restarts are cheap: <dir>/.imported.json records, per file name, the inode, size and mtime of the tar and the id
 * of the image it gave. A file that matches its record and whose image is still in the store is skipped without
 * being read; an image removed from the store meanwhile (`nodeletctl images rm`) is imported again. */

#include <systemd/sd-event.h>

#include "common/event-util.h"
#include "common/macro.h"
#include "runtime/image-store.h"

#define PRELOAD_RECORD_FILE ".imported.json"

typedef enum PreloadResult {
        PRELOAD_IMPORTED, /* detail: the image id */
        PRELOAD_SKIPPED,  /* imported by an earlier start; detail: the image id */
        PRELOAD_FAILED,   /* detail: the message, starting with the path */
        _PRELOAD_RESULT_MAX,
        _PRELOAD_RESULT_INVALID = -EINVAL,
} PreloadResult;
const char *preload_result_to_string(PreloadResult r);

typedef struct PreloadCallbacks {
        /* Each tar, once handled (on the loop). May be NULL. */
        void (*file_done)(const char *path, PreloadResult result, const char *detail, void *userdata);
        /* Every tar was handled. Called exactly once, from the loop, never from within preload_images_start() (also
         * when the directory is missing or empty), unless the Preload is freed first. done() may free the Preload;
         * file_done() must not. */
        void (*done)(unsigned imported, unsigned skipped, unsigned failed, void *userdata);
} PreloadCallbacks;

typedef struct Preload Preload;

/* How long one tar's import may take before its child is killed (a few GiB of layers on a slow disk fit). */
#define PRELOAD_TIMEOUT_USEC (10 * 60 * USEC_PER_SEC)

typedef struct PreloadOptions {
        /* nodeletctl, run once per tar. NULL: $NODELET_CTL, else the installed one (<bindir>/nodeletctl). */
        const char *ctl_path;
        /* Per tar; 0: PRELOAD_TIMEOUT_USEC. A child still running then is killed and the tar reported failed. */
        uint64_t timeout_usec;
} PreloadOptions;

/* Starts importing the tars in dir into store (whose path must be <root-dir>/images). e, pool and store are
 * borrowed and must outlive the Preload; store also the stat and lookup running on pool. opts (may be NULL) and cb
 * are copied. -EINVAL for a store not named images. */
int preload_images_start_full(sd_event *e, WorkPool *pool, ImageStore *store, const char *dir,
                              const PreloadOptions *opts, const PreloadCallbacks *cb, void *userdata, Preload **ret);
/* The same with the default options. */
int preload_images_start(sd_event *e, WorkPool *pool, ImageStore *store, const char *dir, const PreloadCallbacks *cb,
                         void *userdata, Preload **ret);
/* Cancels what has not started, kills and reaps an import child that is running (the store sweeps what it left in
 * its staging directory on the next import; the tar is imported again on the next start) and detaches a check
 * running on pool (it finishes there, without callbacks). No callback runs afterwards. Free the Preload before the
 * pool (work_pool_free() drops the finished job's done(), which is where a detached job frees itself). Returns
 * NULL. */
Preload *preload_free(Preload *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Preload *, preload_free)
