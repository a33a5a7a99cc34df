/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The last steps before a container process runs, shared by a container's entrypoint (container-init.c) and exec
 * (exec.c): rlimits, user and groups, capabilities, no_new_privs, cwd, seccomp, execve. Runs between fork and exec,
 * so it allocates nothing; failures are written as one line to err_fd and the process exits 127. */

#include <linux/filter.h>

#include "runtime/container-config.h"

typedef struct SeccompFilter {
        struct sock_filter *insns;
        size_t n_insns;
} SeccompFilter;

/* Reads a compiled filter (the raw BPF that seccomp_export_bpf() writes); path NULL → empty filter. */
int seccomp_filter_load_file(const char *path, SeccompFilter *ret);
void seccomp_filter_done(SeccompFilter *f);

/* Never returns. argv/env: what to execve (the container's or an exec's). */
_noreturn_ void process_exec(const ContainerConfig *c, const SeccompFilter *filter, char *const *argv, char *const *env,
                             int err_fd);
/* Formats "msg" into err_fd and _exit(127). */
_noreturn_ void process_fail(int err_fd, const char *fmt, ...) _printf_(2, 3);
