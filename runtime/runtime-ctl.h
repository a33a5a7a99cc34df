/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodeletctl's container verbs (run, stop, rm, kill), dispatched from agent/nodeletctl.c, and the container-level
 * pieces of `ps`, `logs` and `exec`, whose verbs the agent owns (agent/pods-ctl.c) because they also take pods. The
 * runtime knows no pods: extra `ps` columns are plain annotation values.
 *
 * The verbs run in the lean `nodeletctl` (agent/CMakeLists.txt): they may use libc, jansson, libseccomp and libcap
 * only, nothing that needs sd-event, libcurl or libarchive (the static link fails when they do). One file per verb:
 * runtime-ctl-run.c, -stop.c (stop, rm, kill), -ps.c, -logs.c, -exec.c; runtime-ctl.c has the common options. */

#include <getopt.h>
#include <stdint.h>

#include "runtime/container.h"

/* Each takes argv[0] = the verb and returns the process exit code (2: usage error). */
int runtime_ctl_run(int argc, char *argv[]);
int runtime_ctl_stop(int argc, char *argv[]);
int runtime_ctl_rm(int argc, char *argv[]);
int runtime_ctl_kill(int argc, char *argv[]);

/* The options every container verb takes in its own option list, before its operands (the global options of
 * nodeletctl, which it also takes before the verb and hands on as $NODELET_ROOT_DIR/$NODELET_STATE_DIR). A verb puts
 * RUNTIME_CTL_COMMON_OPTIONS into its getopt_long() table and "v" into its short options, and hands every code
 * its switch does not know to runtime_ctl_option(). Nothing looks for them anywhere else in argv: after an image or
 * container the words are the container command's own. */
typedef struct RuntimeCtlOptions {
        const char *root_dir; /* borrowed from argv or the environment */
        const char *state_dir;
        const char *cgroup_parent; /* NULL: the runtime's default */
} RuntimeCtlOptions;
enum {
        RUNTIME_CTL_OPT_ROOT_DIR = 0x1000,
        RUNTIME_CTL_OPT_STATE_DIR,
        RUNTIME_CTL_OPT_CGROUP_PARENT,
};
#define RUNTIME_CTL_COMMON_OPTIONS                                                                                     \
        {"root-dir", required_argument, NULL, RUNTIME_CTL_OPT_ROOT_DIR},                                               \
                {"state-dir", required_argument, NULL, RUNTIME_CTL_OPT_STATE_DIR},                                     \
                {"cgroup-parent", required_argument, NULL, RUNTIME_CTL_OPT_CGROUP_PARENT}, {                           \
                "verbose", no_argument, NULL, 'v'                                                                      \
        }
/* The defaults: $NODELET_ROOT_DIR, else /var/lib/nodelet; $NODELET_STATE_DIR, else /run/nodelet. */
void runtime_ctl_options_init(RuntimeCtlOptions *ret);
/* Applies getopt_long()'s result c (value arg) when it is one of the common options (-v: log at debug level) and
 * returns true; false for anything else. */
bool runtime_ctl_option(RuntimeCtlOptions *o, int c, const char *arg);
/* Opens the runtime state the options name (creating the state dir when missing). Errors are logged. */
int runtime_ctl_open(const RuntimeCtlOptions *o, Runtime **ret);

/* An extra `ps` column: the header and the annotation whose value it shows ("-" when absent). */
typedef struct RuntimeCtlColumn {
        const char *header;
        const char *annotation;
} RuntimeCtlColumn;
/* `nodeletctl ps [-a]` (argv[0] is the verb), with extra columns before COMMAND. Returns the exit code. */
int runtime_ctl_ps_columns(int argc, char *argv[], const RuntimeCtlColumn *columns, size_t n_columns);

/* Prints c's log like `logs`: the last tail lines (0 = all), each prefixed with its record's RFC 3339 time when
 * timestamps is set; follow: then what is appended, across rotations, until the container has exited. Returns 0 or
 * a negative errno (logged). c stays the caller's. */
int runtime_ctl_print_log(Container *c, unsigned tail, bool follow, bool timestamps);

/* Runs argv in c like `exec` (env: "K=V" added to the container's; timeout_usec 0 = none) with our stdout and
 * stderr, so its output appears as it is written, and returns its exit code (128+signal when killed, 137 after the
 * timeout), or 126 when it could not be run (logged). */
int runtime_ctl_exec_in(Container *c, char **argv, char **env, uint64_t timeout_usec);
