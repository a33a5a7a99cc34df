/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl-multi on sd-event against a local HTTP server (libmicrohttpd on 127.0.0.1, in its own thread):
 * plain responses, several transfers at once, a streamed chunked response observed piece by piece while the
 * transfer is still running (what API watches need), timeouts and cancellation. */

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>

#include "common/curl-glue.h"
#include "common/event-util.h"
#include "tests/lib/testlib.h"

/* The streaming endpoint sends "event-N\n" chunks; it only sends chunk N+1 after the client confirmed that it saw
 * chunk N (through `client_seen`), so the test fails unless the client processes data before the transfer ends. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int client_seen;
static bool stream_stalled; /* the server gave up waiting for the client to see a chunk */
#define N_EVENTS 5

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
        int *sent = cls;
        if (*sent >= N_EVENTS)
                return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&lock);
        while (client_seen < *sent) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 5;
                if (pthread_cond_timedwait(&cond, &lock, &ts) != 0) {
                        stream_stalled = true;
                        break;
                }
        }
        pthread_mutex_unlock(&lock);
        int n = snprintf(buf, max, "event-%d\n", *sent);
        (*sent)++;
        return n;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **state) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (!*state) { /* first call: headers only */
                *state = (void *) 1;
                return MHD_YES;
        }
        if (streq(url, "/stream")) {
                int *sent = calloc(1, sizeof(int));
                resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, stream_reader, sent, free);
        } else if (streq(url, "/hang")) {
                sleep(3);
                resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        } else if (streq(url, "/missing")) {
                resp = MHD_create_response_from_buffer(9, (void *) "not found", MHD_RESPMEM_PERSISTENT);
                ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
                MHD_destroy_response(resp);
                return ret;
        } else {
                char body[256];
                int n = snprintf(body, sizeof body, "hello %s", url);
                resp = MHD_create_response_from_buffer((size_t) n, body, MHD_RESPMEM_MUST_COPY);
        }
        ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static struct MHD_Daemon *server;
static int port;

static void server_start(void) {
        server = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handler, NULL,
                MHD_OPTION_SOCK_ADDR,
                (struct sockaddr *) &(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)},
                MHD_OPTION_END);
        ck_assert_ptr_nonnull(server);
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT);
        port = info->port;
        ck_assert_int_gt(port, 0);
}

static void server_stop(void) {
        MHD_stop_daemon(server);
        server = NULL;
}

typedef struct Xfer {
        char body[1024];
        size_t len;
        int chunks_seen; /* events seen while the transfer was still running */
        bool finished;
        CURLcode result;
        long status;
        int *remaining;
        sd_event *event;
} Xfer;

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata) {
        Xfer *x = userdata;
        size_t l = size * n;
        if (x->len + l < sizeof x->body) {
                memcpy(x->body + x->len, ptr, l);
                x->len += l;
                x->body[x->len] = 0;
        }
        int lines = 0;
        for (size_t i = 0; i < x->len; i++)
                lines += x->body[i] == '\n';
        if (!x->finished)
                x->chunks_seen = lines;
        pthread_mutex_lock(&lock);
        client_seen = lines;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        return l;
}

static void on_done(CurlGlue *g, CURL *c, CURLcode result, void *userdata) {
        Xfer *x = userdata;
        x->finished = true;
        x->result = result;
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
        curl_easy_cleanup(c);
        if (--*x->remaining == 0)
                (void) sd_event_exit(x->event, 0);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), -ETIMEDOUT);
}

static void start(CurlGlue *g, Xfer *x, const char *path, long timeout_ms) {
        char url[256];
        CURL *c = NULL;
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
        ck_assert_int_eq(curl_glue_make(url, &c), 0);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_WRITEDATA, x), CURLE_OK);
        if (timeout_ms > 0)
                ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms), CURLE_OK);
        ck_assert_int_eq(curl_glue_add(g, c, on_done, x), 0);
}

static int run_loop(sd_event *e) {
        ck_assert_int_eq(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 20 * USEC_PER_SEC, 0, on_timeout, NULL),
                         0);
        return sd_event_loop(e);
}

START_TEST(test_parallel_requests) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        int remaining = 3;
        Xfer a = {.remaining = &remaining}, b = {.remaining = &remaining}, m = {.remaining = &remaining};

        server_start();
        ck_assert_int_eq(sd_event_new(&e), 0);
        a.event = b.event = m.event = e;
        ck_assert_int_eq(curl_glue_new(e, &g), 0);
        start(g, &a, "/api/v1/nodes", 0);
        start(g, &b, "/version", 0);
        start(g, &m, "/missing", 0);
        ck_assert_uint_eq(curl_glue_n_running(g), 3);
        ck_assert_int_eq(run_loop(e), 0);
        ck_assert_uint_eq(curl_glue_n_running(g), 0);
        ck_assert_int_eq(a.result, CURLE_OK);
        ck_assert_int_eq(a.status, 200);
        ck_assert_str_eq(a.body, "hello /api/v1/nodes");
        ck_assert_str_eq(b.body, "hello /version");
        ck_assert_int_eq(m.status, 404);
        server_stop();
}
END_TEST

START_TEST(test_streamed_chunked_response) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        int remaining = 1;
        Xfer x = {.remaining = &remaining};

        server_start();
        ck_assert_int_eq(sd_event_new(&e), 0);
        x.event = e;
        ck_assert_int_eq(curl_glue_new(e, &g), 0);
        start(g, &x, "/stream", 0);
        ck_assert_int_eq(run_loop(e), 0);
        ck_assert_int_eq(x.result, CURLE_OK);
        ck_assert_str_eq(x.body, "event-0\nevent-1\nevent-2\nevent-3\nevent-4\n");
        /* Every event was handed to us while the response was still open: the server sent each next chunk only
         * after we had seen the previous one, and never had to give up waiting. */
        ck_assert_int_eq(x.chunks_seen, N_EVENTS);
        ck_assert(!stream_stalled);
        server_stop();
}
END_TEST

START_TEST(test_timeout_and_cancel) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        int remaining = 1;
        Xfer t = {.remaining = &remaining}, c = {};
        CURL *cancelled = NULL;
        char url[128];

        server_start();
        ck_assert_int_eq(sd_event_new(&e), 0);
        t.event = e;
        ck_assert_int_eq(curl_glue_new(e, &g), 0);
        start(g, &t, "/hang", 200);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/hang", port);
        ck_assert_int_eq(curl_glue_make(url, &cancelled), 0);
        ck_assert_int_eq(curl_glue_add(g, cancelled, on_done, &c), 0);
        curl_glue_cancel(g, cancelled); /* done() must never run for it */
        ck_assert_int_eq(run_loop(e), 0);
        ck_assert_int_eq(t.result, CURLE_OPERATION_TIMEDOUT);
        ck_assert(!c.finished);
        server_stop();
}
END_TEST

START_TEST(test_free_with_running_transfers) {
        _cleanup_event_ sd_event *e = NULL;
        CurlGlue *g = NULL;
        int remaining = 1;
        Xfer x = {.remaining = &remaining};

        server_start();
        ck_assert_int_eq(sd_event_new(&e), 0);
        x.event = e;
        ck_assert_int_eq(curl_glue_new(e, &g), 0);
        start(g, &x, "/hang", 0);
        ck_assert_int_eq(sd_event_run(e, 50000), 1);
        g = curl_glue_free(g); /* no done(), no leak (ASan checks) */
        ck_assert(!x.finished);
        server_stop();
}
END_TEST

int main(void) {
        Suite *s = suite_create("curl-glue");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_parallel_requests);
        tcase_add_test(tc, test_streamed_chunked_response);
        tcase_add_test(tc, test_timeout_and_cancel);
        tcase_add_test(tc, test_free_with_running_transfers);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
