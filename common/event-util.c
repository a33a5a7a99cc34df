/* SPDX-License-Identifier: Apache-2.0 */
#include "common/event-util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int event_loop_new(sd_event **ret) {
        return event_loop_new_full(NULL, NULL, ret);
}

int event_loop_new_full(sd_event_signal_handler_t on_term, void *userdata, sd_event **ret) {
        _cleanup_event_ sd_event *e = NULL;
        sigset_t mask;
        int r;

        r = sd_event_new(&e);
        if (r < 0)
                return r;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
                return -errno;
        if ((r = sd_event_add_signal(e, NULL, SIGTERM, on_term ?: on_exit_signal, userdata)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, on_term ?: on_exit_signal, userdata)) < 0)
                return r;
        /* Pings the watchdog from the loop itself, so a wedged loop is what gets the daemon restarted. */
        if ((r = sd_event_set_watchdog(e, true)) < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

int event_loop_run(sd_event *e, const char *status) {
        if (status)
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", status);
        else
                (void) sd_notify(false, "READY=1");
        int r = sd_event_loop(e);
        (void) sd_notify(false, "STOPPING=1");
        return r;
}

uint64_t event_now_plus(sd_event *e, uint64_t usec) {
        uint64_t now = 0;
        (void) sd_event_now(e, CLOCK_MONOTONIC, &now);
        return now + usec;
}

typedef struct Job {
        work_fn_t work;
        work_done_fn_t done;
        void *userdata;
        int result;
        struct Job *next;
} Job;

struct WorkPool {
        sd_event_source *event_source;
        int efd;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Job *queue, *queue_tail; /* waiting to run */
        Job *finished;           /* ran, waiting for done() on the loop */
        pthread_t *threads;
        unsigned n_threads;
        bool stopping;
};

static void *worker(void *arg) {
        WorkPool *p = arg;
        sigset_t all;

        /* Signals belong to the loop's signalfd. */
        sigfillset(&all);
        (void) pthread_sigmask(SIG_BLOCK, &all, NULL);
        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->queue && !p->stopping)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->stopping)
                        break;
                Job *j = p->queue;
                p->queue = j->next;
                if (!p->queue)
                        p->queue_tail = NULL;
                pthread_mutex_unlock(&p->lock);
                j->result = j->work(j->userdata);
                pthread_mutex_lock(&p->lock);
                j->next = p->finished;
                p->finished = j;
                uint64_t one = 1;
                (void) !write(p->efd, &one, sizeof one);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        WorkPool *p = userdata;
        uint64_t v;
        Job *list, *rev = NULL;

        (void) !read(fd, &v, sizeof v);
        pthread_mutex_lock(&p->lock);
        list = p->finished;
        p->finished = NULL;
        pthread_mutex_unlock(&p->lock);
        /* Completion order: oldest first. */
        while (list) {
                Job *n = list->next;
                list->next = rev;
                rev = list;
                list = n;
        }
        while (rev) {
                Job *n = rev->next;
                if (rev->done)
                        rev->done(rev->result, rev->userdata);
                free(rev);
                rev = n;
        }
        return 0;
}

int work_pool_new(sd_event *e, unsigned n_threads, WorkPool **ret) {
        WorkPool *p = calloc(1, sizeof *p);
        int r;

        RET_NULL_ENOMEM(p);
        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        if (p->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &p->event_source, p->efd, EPOLLIN, on_finished, p);
        if (r < 0)
                goto fail;
        p->threads = calloc(n_threads ?: 1, sizeof(pthread_t));
        if (!p->threads) {
                r = -ENOMEM;
                goto fail;
        }
        for (unsigned i = 0; i < (n_threads ?: 1); i++) {
                r = -pthread_create(&p->threads[i], NULL, worker, p);
                if (r < 0)
                        goto fail;
                p->n_threads++;
        }
        *ret = p;
        return 0;
fail:
        work_pool_free(p);
        return r;
}

WorkPool *work_pool_free(WorkPool *p) {
        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);
        for (Job *lists[2] = {p->queue, p->finished}, **l = lists; l < lists + 2; l++)
                while (*l) {
                        Job *n = (*l)->next;
                        free(*l);
                        *l = n;
                }
        sd_event_source_disable_unref(p->event_source);
        safe_close(p->efd);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p->threads);
        free(p);
        return NULL;
}

int work_pool_submit(WorkPool *p, work_fn_t work, work_done_fn_t done, void *userdata) {
        Job *j = calloc(1, sizeof *j);
        RET_NULL_ENOMEM(j);
        *j = (Job){.work = work, .done = done, .userdata = userdata};
        pthread_mutex_lock(&p->lock);
        if (p->queue_tail)
                p->queue_tail->next = j;
        else
                p->queue = j;
        p->queue_tail = j;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return 0;
}
