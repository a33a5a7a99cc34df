/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A container's user, resolved against the rootfs's /etc/passwd and /etc/group the way containerd's WithUser does:
 * "name", "uid", "name:group", "uid:gid" (mixes allowed). A name must exist; a numeric uid need not (gid 0 then),
 * but when it is in /etc/passwd its primary group and home are used. Supplementary groups are the /etc/group
 * entries listing the user. Files are read from the top-most lower dir that has them, with RESOLVE_IN_ROOT so an
 * image's symlinks cannot point outside it. */

#include <sys/types.h>

#include "common/error.h"

typedef struct ResolvedUser {
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary, primary gid not repeated */
        size_t n_groups;
        char *home; /* NULL when unknown */
} ResolvedUser;

void resolved_user_done(ResolvedUser *u);
/* lower_dirs: bottom-most first. */
int user_resolve(char *const *lower_dirs, const char *user, ResolvedUser *ret, ErrorBuf *e);
