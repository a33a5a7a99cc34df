/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The container's filesystem, built inside its new mount namespace (so nothing here is ever visible on the host and
 * nothing needs unmounting on removal: the mounts die with the namespace):
 * overlayfs of the lower dirs + upper/work at <dir>/rootfs, /proc, /dev (tmpfs with the standard devices, devpts,
 * shm, mqueue), /sys read-only, bind mounts, the OCI default masked and read-only paths (containerd's
 * pkg/oci/spec.go), pivot_root, and the read-only remount of / when asked for.
 * Mount targets inside the rootfs are opened with openat2(RESOLVE_IN_ROOT) so a symlink in the image cannot point a
 * mount at the host. Errors go to err_fd (see container-process.h). */

#include "runtime/container-config.h"

/* Returns 0 or exits 127 after writing the reason to err_fd. */
int mount_setup_rootfs(const ContainerConfig *c, int err_fd);

/* Overlayfs mount data for c (lowerdir is top-most first), for tests. */
int mount_overlay_options(const ContainerConfig *c, char *buf, size_t size);
