/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The daemon's single sd-event loop and the helpers every module uses to stay off it while blocking work runs.
 *
 * event_loop_new(): the default loop with SIGTERM/SIGINT → clean exit (signals blocked, handled as sources), the
 * watchdog enabled when systemd asked for one (WATCHDOG_USEC). event_loop_run(): READY=1 then run until exit.
 *
 * WorkPool: a few threads for work that must block (layer unpacking, fsync-heavy writes). A job's work() runs on a
 * pool thread and must not touch loop state; its done() runs back on the loop thread with work()'s result. */

#include <systemd/sd-event.h>

#include "common/macro.h"

/* sd-event.h already provides sd_event_unrefp() and sd_event_source_unrefp(). */
#define _cleanup_event_ _cleanup_(sd_event_unrefp)
#define _cleanup_event_source_ _cleanup_(sd_event_source_unrefp)

int event_loop_new(sd_event **ret);
/* The same with a handler of its own for SIGTERM/SIGINT (NULL = exit the loop), e.g. to stop work first. */
int event_loop_new_full(sd_event_signal_handler_t on_term, void *userdata, sd_event **ret);
/* Sends READY=1 (and STATUS=) to systemd when NOTIFY_SOCKET is set, then runs the loop; returns the exit code. */
int event_loop_run(sd_event *e, const char *status);
/* Microseconds from now on CLOCK_MONOTONIC, for sd_event_add_time(). */
uint64_t event_now_plus(sd_event *e, uint64_t usec);

typedef struct WorkPool WorkPool;
typedef int (*work_fn_t)(void *userdata);
typedef void (*work_done_fn_t)(int result, void *userdata);

int work_pool_new(sd_event *e, unsigned n_threads, WorkPool **ret);
/* Waits for running jobs, drops queued ones without calling done(); returns NULL. */
WorkPool *work_pool_free(WorkPool *p);
int work_pool_submit(WorkPool *p, work_fn_t work, work_done_fn_t done, void *userdata);
DEFINE_TRIVIAL_CLEANUP_FUNC(WorkPool *, work_pool_free)
