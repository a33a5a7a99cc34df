/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What the runtime-ctl-*.c verb files share; not for other modules. */

#include <stdio.h>

#include "runtime/image-store.h"
#include "runtime/runtime-ctl.h"

/* What `nodeletctl run` records on its containers: the image as given, its id (the store keeps the image while the
 * container uses it) and the directory with the upper dir and the log, which `rm` deletes. */
#define RUNTIME_CTL_ANNOTATION_IMAGE "io.nodelet.image"
#define RUNTIME_CTL_ANNOTATION_IMAGE_ID "io.nodelet.image-id"
#define RUNTIME_CTL_ANNOTATION_ROOT "io.nodelet.ctl-root"

static inline bool runtime_ctl_is_help(const char *s) {
        return streq(s, "-h") || streq(s, "--help");
}

/* Checks the number of operands (argc - optind) against [min, max] (max SIZE_MAX: any); prints usage to stderr and
 * returns false when it is off. */
bool runtime_ctl_check_operands(int argc, size_t min, size_t max, const char *usage);
/* Opens <root-dir>/images. Errors are logged. */
int runtime_ctl_images_open(const RuntimeCtlOptions *o, ImageStore **ret);
/* container_load() with the error logged. */
int runtime_ctl_load(Runtime *rt, const char *id, Container **ret);
/* Removes c (force: stop it first), its image use and the directory `run` made for it; takes c over. */
int runtime_ctl_remove(const RuntimeCtlOptions *o, Container *c, bool force);
/* The same with the image store already open (NULL: opened when the container has an image). */
int runtime_ctl_remove_in(const RuntimeCtlOptions *o, ImageStore *store, Container *c, bool force);
