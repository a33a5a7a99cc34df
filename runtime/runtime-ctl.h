/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodeletctl's container verbs (run, stop, rm), dispatched from agent/nodeletctl.c, and the container-level pieces
 * of `ps`, `logs` and `exec`, whose verbs the agent owns (agent/pods-ctl.c) because they also take pods. The
 * runtime knows no pods: extra `ps` columns are plain annotation values. */

#include <stdint.h>

#include "runtime/container.h"

int runtime_ctl_run(int argc, char *argv[]);
int runtime_ctl_stop(int argc, char *argv[]);
int runtime_ctl_rm(int argc, char *argv[]);

typedef struct RuntimeCtlOptions {
        const char *root_dir; /* borrowed from argv or the environment */
        const char *state_dir;
        const char *cgroup_parent; /* NULL: the runtime's default */
} RuntimeCtlOptions;
/* Takes the common options (--root-dir, --state-dir, --cgroup-parent, anywhere in argv; defaults from
 * $NODELET_ROOT_DIR and $NODELET_STATE_DIR) out of argv, so that a verb can parse the rest (and answer --help)
 * before it touches anything. */
void runtime_ctl_options(int *argc, char *argv[], RuntimeCtlOptions *ret);
/* Opens the runtime state the options name (creating the state dir when missing). Errors are logged. */
int runtime_ctl_open(const RuntimeCtlOptions *o, Runtime **ret);

/* An extra `ps` column: the header and the annotation whose value it shows ("-" when absent). */
typedef struct RuntimeCtlColumn {
        const char *header;
        const char *annotation;
} RuntimeCtlColumn;
/* `nodeletctl ps [-a]` (argv[0] is the verb; the common options anywhere), with extra columns before COMMAND.
 * Returns the exit code. */
int runtime_ctl_ps_columns(int argc, char *argv[], const RuntimeCtlColumn *columns, size_t n_columns);

/* Prints c's log like `logs`: the last tail lines (0 = all), each prefixed with its record's RFC 3339 time when
 * timestamps is set; follow: then what is appended, across rotations, until the container has exited. Returns 0 or
 * a negative errno (logged). c stays the caller's. */
int runtime_ctl_print_log(Container *c, unsigned tail, bool follow, bool timestamps);

/* Runs argv in c like `exec` (env: "K=V" added to the container's; timeout_usec 0 = none), copies its output to
 * ours and returns its exit code, or 126 when it could not be run (logged). */
int runtime_ctl_exec_in(Container *c, char **argv, char **env, uint64_t timeout_usec);
