/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A minimal lower dir for container tests: /bin/busybox and its applets, /etc/passwd, /etc/group, /tmp. */

/* Creates <dir> with the rootfs; returns 0 or a negative errno. */
int test_rootfs_make(const char *dir);
/* The nodelet-shim binary of this build tree. */
const char *test_shim_path(void);
