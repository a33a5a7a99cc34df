/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl container verbs, in the spirit of crictl/docker: what they share (the common options, opening the
 * runtime and the image store, removing a container `run` made). The verbs are one file each:
 *
 *   nodeletctl run [--rm] [-d] [--name N] [-e K=V]... ... (IMAGE | --rootfs DIR) [CMD [ARG...]]  runtime-ctl-run.c
 *   nodeletctl stop [-t SEC] ID... | rm [-f] ID... | kill [-s SIGNAL] ID...                        runtime-ctl-stop.c
 *   `ps`, `logs` and `exec` (agent/pods-ctl.c) on runtime-ctl-ps.c, -logs.c and -exec.c
 *
 * Every verb accepts, before its operands, --root-dir DIR (default $NODELET_ROOT_DIR, else /var/lib/nodelet),
 * --state-dir DIR (default $NODELET_STATE_DIR, else /run/nodelet), --cgroup-parent P (relative: below our own
 * cgroup, default "nodelet"; absolute: that path in every hierarchy) and -v. A one-off container's upper dir and log
 * live under <root-dir>/containers/<id>/; `rm` deletes them. Errors name the object and the reason; the exit code is
 * non-zero (run in the foreground and exec exit with the container process's code). */
#include "runtime/runtime-ctl.h"

#include <limits.h>
#include <stdio.h>

#include "common/fileio.h"
#include "common/log.h"
#include "runtime/helper-path.h"
#include "runtime/runtime-ctl-internal.h"

#ifndef NODELET_LIBEXECDIR
#define NODELET_LIBEXECDIR "/usr/local/libexec/nodelet"
#endif

void runtime_ctl_options_init(RuntimeCtlOptions *ret) {
        *ret = (RuntimeCtlOptions){
                .root_dir = getenv("NODELET_ROOT_DIR") ?: "/var/lib/nodelet",
                .state_dir = getenv("NODELET_STATE_DIR") ?: "/run/nodelet",
        };
}

bool runtime_ctl_option(RuntimeCtlOptions *o, int c, const char *arg) {
        switch (c) {
        case RUNTIME_CTL_OPT_ROOT_DIR:
                o->root_dir = arg;
                return true;
        case RUNTIME_CTL_OPT_STATE_DIR:
                o->state_dir = arg;
                return true;
        case RUNTIME_CTL_OPT_CGROUP_PARENT:
                o->cgroup_parent = arg;
                return true;
        case 'v':
                log_set_max_level(LOG_LEVEL_DEBUG);
                return true;
        default:
                return false;
        }
}

bool runtime_ctl_check_operands(int argc, size_t min, size_t max, const char *usage) {
        size_t n = optind < argc ? (size_t) (argc - optind) : 0;
        if (n >= min && n <= max)
                return true;
        fputs(usage, stderr);
        return false;
}

int runtime_ctl_open(const RuntimeCtlOptions *o, Runtime **ret) {
        /* The shim: $NODELET_SHIM, next to this binary, the build tree's runtime/, then the installed libexec. */
        static const char *const rel[] = {"nodelet-shim", "../runtime/nodelet-shim"};
        char shim[PATH_MAX];
        int r = runtime_find_helper("NODELET_SHIM", rel, ELEMENTSOF(rel), NODELET_LIBEXECDIR "/nodelet-shim", shim,
                                    sizeof(shim));
        if (r < 0)
                return log_error_errno(r, "Failed to find nodelet-shim: %m");
        log_debug("Runtime state in %s, shim %s, images in %s/images", o->state_dir, shim, o->root_dir);
        RuntimeConfig cfg = {.state_dir = o->state_dir, .shim_path = shim, .cgroup_parent = o->cgroup_parent};
        r = runtime_new(&cfg, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the runtime state in %s: %m", o->state_dir);
        return 0;
}

int runtime_ctl_images_open(const RuntimeCtlOptions *o, ImageStore **ret) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/images", o->root_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        int r = image_store_open(dir, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the image store %s: %m", dir);
        return 0;
}

int runtime_ctl_load(Runtime *rt, const char *id, Container **ret) {
        ErrorBuf e = {};
        int r = container_load(rt, id, ret, &e);
        if (r < 0)
                log_error("%s", error_message(&e, r));
        return r;
}

int runtime_ctl_remove(const RuntimeCtlOptions *o, Container *c, bool force) {
        return runtime_ctl_remove_in(o, NULL, c, force);
}

int runtime_ctl_remove_in(const RuntimeCtlOptions *o, ImageStore *store, Container *c, bool force) {
        const char *v = container_annotation(c, RUNTIME_CTL_ANNOTATION_IMAGE_ID);
        _cleanup_free_ char *id = strdup(container_id(c)), *image_id = v ? strdup(v) : NULL;
        v = container_annotation(c, RUNTIME_CTL_ANNOTATION_ROOT);
        _cleanup_free_ char *root = v ? strdup(v) : NULL;
        ErrorBuf e = {};
        int r = container_remove(c, force, &e);
        if (r < 0) {
                container_free(c);
                log_error("%s", error_message(&e, r));
                return r;
        }
        if (image_id && id) {
                _cleanup_(image_store_freep) ImageStore *opened = NULL;
                if (store || runtime_ctl_images_open(o, &opened) == 0)
                        (void) image_store_remove_user(store ?: opened, image_id, id);
        }
        if (root)
                (void) rm_rf(root);
        return 0;
}
