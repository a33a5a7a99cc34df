/* SPDX-License-Identifier: Apache-2.0 */
/* The loop helper (clean exit on SIGTERM) and the WorkPool (blocking work off the loop, done() back on it). */

#include <pthread.h>
#include <signal.h>

#include "common/event-util.h"
#include "tests/lib/testlib.h"

START_TEST(test_sigterm_exits_loop) {
        _cleanup_event_ sd_event *e = NULL;
        ck_assert_int_eq(event_loop_new(&e), 0);
        /* Deliver SIGTERM once the loop runs: it must end the loop with 0, not kill the process. */
        ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
        ck_assert_int_eq(event_loop_run(e, "testing"), 0);
}
END_TEST

typedef struct Counter {
        pthread_t loop_thread;
        int done;
        int sum;
        int order[16];
        bool done_on_loop_thread;
        sd_event *event;
        int expected;
} Counter;

typedef struct JobArg {
        Counter *c;
        int value;
        pthread_t ran_on;
} JobArg;

static int work_sleep_and_return(void *userdata) {
        JobArg *a = userdata;
        a->ran_on = pthread_self();
        usleep(20000); /* blocking work */
        return a->value;
}

static void work_done(int result, void *userdata) {
        JobArg *a = userdata;
        Counter *c = a->c;
        c->done_on_loop_thread =
                pthread_equal(pthread_self(), c->loop_thread) && !pthread_equal(a->ran_on, c->loop_thread);
        c->order[c->done++] = result;
        c->sum += result;
        if (c->done == c->expected)
                (void) sd_event_exit(c->event, 0);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), -ETIMEDOUT);
}

START_TEST(test_work_pool) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(work_pool_freep) WorkPool *p = NULL;
        Counter c = {.loop_thread = pthread_self(), .expected = 8};
        JobArg args[8];

        ck_assert_int_eq(sd_event_new(&e), 0);
        c.event = e;
        ck_assert_int_eq(work_pool_new(e, 2, &p), 0);
        for (int i = 0; i < 8; i++) {
                args[i] = (JobArg){.c = &c, .value = i + 1};
                ck_assert_int_eq(work_pool_submit(p, work_sleep_and_return, work_done, &args[i]), 0);
        }
        ck_assert_int_eq(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10 * USEC_PER_SEC, 0, on_timeout, NULL),
                         0);
        ck_assert_int_eq(sd_event_loop(e), 0);
        ck_assert_int_eq(c.done, 8);
        ck_assert_int_eq(c.sum, 36);
        ck_assert(c.done_on_loop_thread);
}
END_TEST

static int work_never_called_done(void *userdata) {
        usleep(50000);
        return 0;
}

static void done_must_not_run(int result, void *userdata) {
        ck_abort_msg("done() ran after the pool was freed");
}

START_TEST(test_work_pool_free_with_pending) {
        _cleanup_event_ sd_event *e = NULL;
        WorkPool *p = NULL;
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(work_pool_new(e, 1, &p), 0);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(work_pool_submit(p, work_never_called_done, done_must_not_run, NULL), 0);
        p = work_pool_free(p);
        ck_assert_ptr_null(p);
        /* Nothing is dispatched any more. */
        ck_assert_int_eq(sd_event_run(e, 100000), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("event");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_sigterm_exits_loop);
        tcase_add_test(tc, test_work_pool);
        tcase_add_test(tc, test_work_pool_free_with_pending);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
