/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodeletctl's container verbs (run, ps, logs, exec, stop, rm), dispatched from agent/nodeletctl.c. */

int runtime_ctl_run(int argc, char *argv[]);
int runtime_ctl_ps(int argc, char *argv[]);
int runtime_ctl_logs(int argc, char *argv[]);
int runtime_ctl_exec(int argc, char *argv[]);
int runtime_ctl_stop(int argc, char *argv[]);
int runtime_ctl_rm(int argc, char *argv[]);
