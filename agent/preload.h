/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Preloaded images: image tars dropped into a directory (by default <root-dir>/images/preload/) are imported into the
 * image store when the daemon starts, so a node without a registry (air-gapped, or a demo) can run pods. Like
 * `ctr images import` run by the node's provisioning, but by the daemon.
 *
 * Files: regular files whose name ends in .tar, .tar.gz, .tgz or .tar.zst (what image_store_import() reads: OCI
 * archives and `docker save` tars, plain or compressed), dot-files ignored, imported one at a time in name order on
 * a WorkPool thread. One failure is reported and the others still run.
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

/* Starts importing the tars in dir into store, on pool. e, pool and store are borrowed and must outlive the
 * Preload; store also its running import (it is safe to use from several threads). cb is copied. */
int preload_images_start(sd_event *e, WorkPool *pool, ImageStore *store, const char *dir, const PreloadCallbacks *cb,
                         void *userdata, Preload **ret);
/* Cancels what has not started and detaches an import that is running (it finishes on its pool thread, without
 * callbacks). No callback runs afterwards. Free the Preload before the pool (work_pool_free() drops the finished
 * job's done(), which is where a detached job frees itself). Returns NULL. */
Preload *preload_free(Preload *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Preload *, preload_free)
