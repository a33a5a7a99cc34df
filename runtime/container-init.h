/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The container's first process, from clone() to execve() of the entrypoint. Runs in the shim's child. */

#include "runtime/container-process.h"

typedef struct InitFds {
        int sync;   /* socket: errors are written here; CLOEXEC, so the shim reads EOF once execve() succeeded */
        int stdin_; /* /dev/null, the stdin pipe's read end, or the pty slave */
        int stdout_, stderr_;
        bool tty; /* the three are a pty slave: it becomes the controlling terminal of a new session */
} InitFds;

/* The namespaces the child is created with: pid and mount always, net/ipc/uts unless joined from ns_paths. The
 * cgroup namespace is unshared after the child moved itself into its cgroups, so the namespace's root is the
 * container's cgroup. */
unsigned long container_init_clone_flags(const ContainerConfig *c);

_noreturn_ void container_init_run(const ContainerConfig *c, const SeccompFilter *filter, const InitFds *fds);
