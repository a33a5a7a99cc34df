/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Signal names as images (config.StopSignal) and operators spell them: "SIGTERM", "TERM" or "15", like containerd's
 * (moby/sys/signal) ParseSignal. libc only: the runtime core, the CLI and the daemon share it. */

/* The signal number (1..NSIG-1), or -EINVAL for NULL, an unknown name or a number out of range. */
int signal_from_string(const char *s);
/* "TERM" for SIGTERM; NULL for a number without a name. */
const char *signal_to_string(int sig);
