/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A helper process for the daemon's loop (image preload imports, image pulls): spawned with posix_spawn, stdin
 * /dev/null, stdout and stderr into pipes whose read ends (non-blocking, close-on-exec) the caller watches, no
 * signals blocked and default dispositions (the daemon blocks signals for sd-event), a process group of its own (a ^C
 * meant for a daemon in a terminal reaches only the daemon, which kills the child), and a pidfd for its exit. */

#include <sys/types.h>

/* On success the caller owns *ret_out, *ret_err and *ret_pidfd and must reap the child (waitid(P_PIDFD)); on failure
 * nothing is left behind (a child already started is killed and reaped). */
int spawn_piped(const char *path, char *const argv[], pid_t *ret_pid, int *ret_pidfd, int *ret_out, int *ret_err);
