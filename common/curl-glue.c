/* SPDX-License-Identifier: Apache-2.0 */
#include "common/curl-glue.h"

#include <time.h>

#include "common/event-util.h"

/* Per-transfer bookkeeping, found again through CURLINFO_PRIVATE. */
typedef struct Transfer {
        CurlGlue *glue;
        CURL *curl;
        curl_glue_done_t done;
        void *userdata;
        struct Transfer *prev, *next;
} Transfer;

struct CurlGlue {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *defer; /* reaps finished transfers outside curl's callbacks */
        Transfer *transfers;
        size_t n_transfers;
};

static void check_finished(CurlGlue *g);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CurlGlue *g = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLPRI))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        (void) curl_multi_socket_action(g->multi, fd, action, &running);
        check_finished(g);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        CurlGlue *g = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        (void) curl_multi_assign(g->multi, fd, NULL);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;
        if (io) {
                if (sd_event_source_set_io_events(io, events) < 0 || sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        if (sd_event_add_io(g->event, &io, fd, events, on_io, g) < 0)
                return -1;
        (void) sd_event_source_set_description(io, "curl-io");
        if (curl_multi_assign(g->multi, fd, io) != CURLM_OK) {
                sd_event_source_disable_unref(io);
                return -1;
        }
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CurlGlue *g = userdata;
        int running;
        (void) curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_finished(g);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        CurlGlue *g = userp;
        uint64_t when;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        /* timeout 0 means "call me now": a time source in the past fires on the next iteration, never recursing
         * into curl from inside its own callback. */
        when = event_now_plus(g->event, (uint64_t) timeout_ms * USEC_PER_MSEC);
        if (sd_event_source_set_time(g->timer, when) < 0 || sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static void transfer_unlink(CurlGlue *g, Transfer *t) {
        if (t->prev)
                t->prev->next = t->next;
        else
                g->transfers = t->next;
        if (t->next)
                t->next->prev = t->prev;
        g->n_transfers--;
}

static void check_finished(CurlGlue *g) {
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(g->multi, &left))) {
                Transfer *t = NULL;
                CURLcode result;
                CURL *c;

                if (m->msg != CURLMSG_DONE)
                        continue;
                c = m->easy_handle;
                result = m->data.result;
                (void) curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **) &t);
                (void) curl_multi_remove_handle(g->multi, c);
                if (!t)
                        continue;
                (void) curl_easy_setopt(c, CURLOPT_PRIVATE, NULL);
                transfer_unlink(g, t);
                if (t->done)
                        t->done(g, c, result, t->userdata);
                free(t);
        }
}

int curl_glue_new(sd_event *e, CurlGlue **ret) {
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        int r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        g = calloc(1, sizeof *g);
        RET_NULL_ENOMEM(g);
        g->event = sd_event_ref(e);
        g->multi = curl_multi_init();
        RET_NULL_ENOMEM(g->multi);
        /* Accuracy 1 µs: curl's timeouts drive its state machine (connects, retries, the next request on a freed
         * connection); sd-event's default accuracy (0 = 250 ms) would let each of them wait up to a quarter second. */
        r = sd_event_add_time(e, &g->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, g);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(g->timer, "curl-timer");
        (void) sd_event_source_set_enabled(g->timer, SD_EVENT_OFF);
        if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK)
                return -EIO;
        *ret = TAKE_PTR(g);
        return 0;
}

CurlGlue *curl_glue_free(CurlGlue *g) {
        if (!g)
                return NULL;
        while (g->transfers) {
                Transfer *t = g->transfers;
                CURL *c = t->curl;
                curl_glue_cancel(g, c);
        }
        if (g->multi)
                curl_multi_cleanup(g->multi); /* removes remaining sockets through socket_cb */
        sd_event_source_disable_unref(g->timer);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}

int curl_glue_make(const char *url, CURL **ret) {
        _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
        RET_NULL_ENOMEM(c);
        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_USERAGENT, "nodelet/0.1") != CURLE_OK)
                return -EIO;
        *ret = TAKE_PTR(c);
        return 0;
}

int curl_glue_add(CurlGlue *g, CURL *c, curl_glue_done_t done, void *userdata) {
        Transfer *t = calloc(1, sizeof *t);
        RET_NULL_ENOMEM(t);
        *t = (Transfer){.glue = g, .curl = c, .done = done, .userdata = userdata, .next = g->transfers};
        if (curl_easy_setopt(c, CURLOPT_PRIVATE, t) != CURLE_OK || curl_multi_add_handle(g->multi, c) != CURLM_OK) {
                (void) curl_easy_setopt(c, CURLOPT_PRIVATE, NULL);
                free(t);
                return -EIO;
        }
        if (g->transfers)
                g->transfers->prev = t;
        g->transfers = t;
        g->n_transfers++;
        return 0;
}

void curl_glue_cancel(CurlGlue *g, CURL *c) {
        Transfer *t = NULL;
        if (!c)
                return;
        (void) curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **) &t);
        (void) curl_multi_remove_handle(g->multi, c);
        if (t) {
                transfer_unlink(g, t);
                free(t);
        }
        curl_easy_cleanup(c);
}

size_t curl_glue_n_running(CurlGlue *g) {
        return g->n_transfers;
}
