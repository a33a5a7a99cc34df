/* SPDX-License-Identifier: Apache-2.0 */
/* The sd-event HTTP server against clients on the same loop (CurlGlue) and raw sockets, on 127.0.0.1 with ephemeral
 * ports: routing, 404/405, query arguments, headers and bodies, a response streamed from loop timers, a client
 * leaving mid-stream, TLS with a certificate from tls_self_signed_generate(), many sequential and concurrent
 * connections, connection limits and idle timeouts, and freeing the server with connections open (ASan: no leak). */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "common/curl-glue.h"
#include "common/event-util.h"
#include "common/http-server.h"
#include "common/tls-util.h"
#include "tests/lib/testlib.h"

static sd_event *event;
static CurlGlue *glue;
static HttpServer *server;

static void setup(void) {
        ck_assert_int_eq(sd_event_new(&event), 0);
        ck_assert_int_eq(curl_glue_new(event, &glue), 0);
}

static void teardown(void) {
        server = http_server_free(server);
        glue = curl_glue_free(glue);
        event = sd_event_unref(event);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* Runs the loop until *flag turns true; a safety limit (not a timing assertion) turns a hang into a failure. */
static void run_until(const bool *flag) {
        uint64_t deadline = now_usec() + 20 * USEC_PER_SEC;
        while (!*flag) {
                ck_assert_msg(now_usec() < deadline, "the loop did not get there within 20s");
                ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
        }
}

static void run_until_count(const int *counter, int target) {
        uint64_t deadline = now_usec() + 20 * USEC_PER_SEC;
        while (*counter < target) {
                ck_assert_msg(now_usec() < deadline, "the loop did not get there within 20s");
                ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
        }
}

static void server_start(const HttpServerConfig *c) {
        ErrorBuf err = {};
        HttpServerConfig def = {.bind_address = "127.0.0.1"};
        int r = http_server_new(event, c ?: &def, &server, &err);
        ck_assert_msg(r == 0, "http_server_new: %s", error_message(&err, r));
        ck_assert_uint_gt(http_server_port(server), 0);
}

/* ---- client ---- */

typedef struct Fetch {
        char *body;
        size_t size;
        int n_writes;
        size_t abort_after; /* close the connection once this much arrived; 0 = never */
        bool done;
        CURLcode result;
        long status;
        char content_type[128];
        char allow[128];
        int *counter;
} Fetch;

static size_t on_write(char *ptr, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        size_t l = size * n;
        char *b = realloc(f->body, f->size + l + 1);
        ck_assert_ptr_nonnull(b);
        memcpy(b + f->size, ptr, l);
        f->body = b;
        f->size += l;
        f->body[f->size] = 0;
        f->n_writes++;
        if (f->abort_after > 0 && f->size >= f->abort_after)
                return 0; /* curl aborts the transfer and closes the connection */
        return l;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        size_t l = size * n;
        const char *v;
        char line[256];

        (void) snprintf(line, sizeof line, "%.*s", (int) MIN(l, sizeof line - 1), ptr);
        line[strcspn(line, "\r\n")] = 0;
        if ((v = startswith(line, "Content-Type: ")))
                (void) snprintf(f->content_type, sizeof f->content_type, "%.*s", (int) sizeof f->content_type - 1, v);
        if ((v = startswith(line, "Allow: ")))
                (void) snprintf(f->allow, sizeof f->allow, "%.*s", (int) sizeof f->allow - 1, v);
        return l;
}

static void on_fetch_done(CurlGlue *g, CURL *c, CURLcode result, void *userdata) {
        Fetch *f = userdata;
        f->result = result;
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
        curl_easy_cleanup(c);
        f->done = true;
        if (f->counter)
                (*f->counter)++;
}

static CURL *fetch_make(Fetch *f, const char *scheme, const char *path) {
        char url[512];
        CURL *c = NULL;

        (void) snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, http_server_port(server), path);
        ck_assert_int_eq(curl_glue_make(url, &c), 0);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_WRITEDATA, f), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_HEADERDATA, f), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L), CURLE_OK);
        return c;
}

static void fetch_start(Fetch *f, CURL *c) {
        ck_assert_int_eq(curl_glue_add(glue, c, on_fetch_done, f), 0);
}

static void fetch(Fetch *f, const char *method, const char *path) {
        CURL *c = fetch_make(f, "http", path);
        if (method)
                ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method), CURLE_OK);
        fetch_start(f, c);
        run_until(&f->done);
        ck_assert_msg(f->result == CURLE_OK, "%s: %s", path, curl_easy_strerror(f->result));
}

static void fetch_clear(Fetch *f) {
        free(f->body);
        *f = (Fetch){};
}

/* ---- handlers ---- */

static int on_hello(HttpRequest *r, void *userdata) {
        char *body = NULL;
        int n = asprintf(&body, "%s %s rest=%s", http_request_method(r), http_request_path(r),
                         http_request_path_rest(r));
        if (n < 0)
                return -ENOMEM;
        return http_respond(r, 200, userdata, body, (size_t) n);
}

static int on_query(HttpRequest *r, void *userdata) {
        char body[512];
        const char *follow = http_request_query(r, "follow"), *tail = http_request_query(r, "tailLines");
        const char *ua = http_request_header(r, "x-test");
        (void) snprintf(body, sizeof body, "follow=%s tail=%s missing=%s x-test=%s", follow ? follow : "(null)",
                        tail ? tail : "(null)", http_request_query(r, "nope") ? "set" : "(null)", ua ? ua : "(null)");
        (void) http_request_add_header(r, "X-Content-Type-Options", "nosniff");
        return http_respond_text(r, 200, body);
}

static int on_echo(HttpRequest *r, void *userdata) {
        size_t n;
        const char *b = http_request_body(r, &n);
        char *copy = b ? strndup(b, n) : NULL;
        if (b && !copy)
                return -ENOMEM;
        return http_respond(r, 200, "application/octet-stream", copy, n);
}

static int on_fail(HttpRequest *r, void *userdata) {
        return -EIO;
}

static void add_routes(void) {
        ck_assert_int_eq(http_server_add_route(server, "GET", "/healthz", on_hello, (char *) "text/plain"), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/pods", on_hello, (char *) "application/json"), 0);
        ck_assert_int_eq(http_server_add_route(server, "DELETE", "/pods", on_hello, (char *) "application/json"), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/containerLogs/", on_hello, NULL), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/containerLogs/special/", on_hello, NULL), 0);
        ck_assert_int_eq(http_server_add_route(server, NULL, "/any", on_hello, NULL), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/query", on_query, NULL), 0);
        ck_assert_int_eq(http_server_add_route(server, "POST", "/echo", on_echo, NULL), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/fail", on_fail, NULL), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/pods", on_hello, NULL), -EEXIST);
        ck_assert_int_eq(http_server_add_route(server, "GET", "relative", on_hello, NULL), -EINVAL);
}

START_TEST(test_routing) {
        Fetch f = {};

        server_start(NULL);
        add_routes();

        fetch(&f, NULL, "/healthz");
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "GET /healthz rest=");
        ck_assert_str_eq(f.content_type, "text/plain");
        fetch_clear(&f);

        fetch(&f, "DELETE", "/pods");
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "DELETE /pods rest=");
        fetch_clear(&f);

        /* Subtree routes get the rest of the path; the longest subtree wins. */
        fetch(&f, NULL, "/containerLogs/default/web/nginx");
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "GET /containerLogs/default/web/nginx rest=default/web/nginx");
        fetch_clear(&f);
        fetch(&f, NULL, "/containerLogs/special/x");
        ck_assert_str_eq(f.body, "GET /containerLogs/special/x rest=x");
        fetch_clear(&f);

        /* An exact route does not match below itself. */
        fetch(&f, NULL, "/healthz/more");
        ck_assert_int_eq(f.status, 404);
        fetch_clear(&f);
        fetch(&f, NULL, "/nothing");
        ck_assert_int_eq(f.status, 404);
        ck_assert_str_eq(f.body, "404 page not found\n");
        fetch_clear(&f);

        /* Known path, unknown method: 405 naming the allowed ones. */
        fetch(&f, "PUT", "/pods");
        ck_assert_int_eq(f.status, 405);
        ck_assert_str_eq(f.allow, "GET, DELETE");
        fetch_clear(&f);

        /* A route without a method takes any; GET routes answer HEAD (without a body). */
        fetch(&f, "PATCH", "/any");
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "PATCH /any rest=");
        fetch_clear(&f);
        CURL *c = fetch_make(&f, "http", "/healthz");
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_NOBODY, 1L), CURLE_OK);
        fetch_start(&f, c);
        run_until(&f.done);
        ck_assert_int_eq(f.result, CURLE_OK);
        ck_assert_int_eq(f.status, 200);
        ck_assert_uint_eq(f.size, 0);
        fetch_clear(&f);

        /* A failing handler that did not respond becomes a 500. */
        fetch(&f, NULL, "/fail");
        ck_assert_int_eq(f.status, 500);
        fetch_clear(&f);
}
END_TEST

START_TEST(test_query_headers_body) {
        Fetch f = {};
        struct curl_slist *h = NULL;
        char big[4096];

        HttpServerConfig cfg = {.bind_address = "127.0.0.1", .max_request_body = 1000};
        server_start(&cfg);
        add_routes();

        CURL *c = fetch_make(&f, "http", "/query?follow&tailLines=10%2B1");
        h = curl_slist_append(h, "X-Test: yes");
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_HTTPHEADER, h), CURLE_OK);
        fetch_start(&f, c);
        run_until(&f.done);
        curl_slist_free_all(h);
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "follow= tail=10+1 missing=(null) x-test=yes");
        ck_assert_str_eq(f.content_type, "text/plain; charset=utf-8");
        fetch_clear(&f);

        c = fetch_make(&f, "http", "/echo");
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_POSTFIELDS, "hello body"), CURLE_OK);
        fetch_start(&f, c);
        run_until(&f.done);
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "hello body");
        fetch_clear(&f);

        /* Bodies beyond max_request_body: 413, announced (Content-Length) or not (chunked). */
        memset(big, 'x', sizeof big);
        c = fetch_make(&f, "http", "/echo");
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) sizeof big), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, big), CURLE_OK);
        fetch_start(&f, c);
        run_until(&f.done);
        ck_assert_int_eq(f.status, 413);
        fetch_clear(&f);

        h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
        c = fetch_make(&f, "http", "/echo");
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_HTTPHEADER, h), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) sizeof big), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, big), CURLE_OK);
        fetch_start(&f, c);
        run_until(&f.done);
        curl_slist_free_all(h);
        ck_assert_int_eq(f.status, 413);
        fetch_clear(&f);
}
END_TEST

/* ---- streaming ---- */

typedef struct Producer {
        HttpStream *stream;
        sd_event_source *timer;
        Fetch *client; /* the producer writes piece N+1 only once the client saw piece N */
        int written, n_pieces;
        bool closed, drained;
        bool end_when_done;
        int n_closed;
} Producer;

static void on_stream_event(HttpStream *st, HttpStreamEvent ev, void *userdata) {
        Producer *p = userdata;
        ck_assert_ptr_eq(st, p->stream);
        if (ev == HTTP_STREAM_DRAINED) {
                p->drained = true;
                return;
        }
        ck_assert_int_eq(ev, HTTP_STREAM_CLOSED);
        p->closed = true;
        p->n_closed++;
        p->stream = NULL;
        p->timer = sd_event_source_disable_unref(p->timer);
}

static int on_produce(sd_event_source *s, uint64_t usec, void *userdata) {
        Producer *p = userdata;
        char piece[32];

        if (!p->stream)
                return 0;
        if (p->written > 0 && (!p->client || p->client->n_writes < p->written)) {
                /* The client has not seen the last piece yet: look again soon. */
                (void) sd_event_source_set_time_relative(s, 5 * USEC_PER_MSEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        if (p->written == p->n_pieces) {
                if (p->end_when_done) {
                        http_stream_end(p->stream);
                        p->stream = NULL;
                }
                return 0;
        }
        int n = snprintf(piece, sizeof piece, "piece-%d\n", p->written);
        ck_assert_int_eq(http_stream_write(p->stream, piece, (size_t) n), 0);
        p->written++;
        (void) sd_event_source_set_time_relative(s, 5 * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_stream(HttpRequest *r, void *userdata) {
        Producer *p = userdata;
        int ret = http_respond_stream(r, 200, "text/plain", on_stream_event, p, &p->stream);
        if (ret < 0)
                return ret;
        if (p->n_pieces > 0)
                ck_assert_int_eq(sd_event_add_time_relative(event, &p->timer, CLOCK_MONOTONIC, 0, 0, on_produce, p), 0);
        return 0;
}

START_TEST(test_stream_pieces) {
        Fetch f = {};
        Producer p = {.n_pieces = 5, .end_when_done = true, .client = &f};

        server_start(NULL);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/stream", on_stream, &p), 0);
        fetch(&f, NULL, "/stream");
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
        /* Each piece reached the client on its own, while the response was still open. */
        ck_assert_int_ge(f.n_writes, 5);
        ck_assert(!p.closed);
        sd_event_source_disable_unref(p.timer);
        fetch_clear(&f);
}
END_TEST

START_TEST(test_stream_client_leaves_while_idle) {
        Fetch f = {.abort_after = STRLEN("piece-0\npiece-1\n")};
        Producer p = {.n_pieces = 2, .client = &f}; /* then stays silent, like `kubectl logs -f` on a quiet pod */

        server_start(NULL);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/stream", on_stream, &p), 0);
        fetch_start(&f, fetch_make(&f, "http", "/stream"));
        run_until(&f.done);
        ck_assert_int_eq(f.result, CURLE_WRITE_ERROR);
        ck_assert_str_eq(f.body, "piece-0\npiece-1\n");
        run_until(&p.closed);
        ck_assert_int_eq(p.n_closed, 1);
        fetch_clear(&f);
        /* The connection is gone too. */
        for (uint64_t deadline = now_usec() + 10 * USEC_PER_SEC; http_server_n_connections(server) > 0;) {
                ck_assert(now_usec() < deadline);
                ck_assert_int_ge(sd_event_run(event, 50 * USEC_PER_MSEC), 0);
        }
}
END_TEST

/* The producer keeps writing after the client left: the write fails (or the send does) and CLOSED follows. */
static int on_flood(sd_event_source *s, uint64_t usec, void *userdata) {
        Producer *p = userdata;
        char piece[1024];

        if (!p->stream)
                return 0;
        memset(piece, 'y', sizeof piece);
        int r = http_stream_write(p->stream, piece, sizeof piece);
        ck_assert(r == 0 || r == -ENOBUFS || r == -EPIPE);
        (void) sd_event_source_set_time_relative(s, USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_flood_stream(HttpRequest *r, void *userdata) {
        Producer *p = userdata;
        int ret = http_respond_stream(r, 200, NULL, on_stream_event, p, &p->stream);
        if (ret < 0)
                return ret;
        ck_assert_int_eq(sd_event_add_time_relative(event, &p->timer, CLOCK_MONOTONIC, 0, 0, on_flood, p), 0);
        return 0;
}

START_TEST(test_stream_client_leaves_while_sending) {
        Fetch f = {.abort_after = 8192};
        Producer p = {};

        server_start(NULL);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/flood", on_flood_stream, &p), 0);
        fetch_start(&f, fetch_make(&f, "http", "/flood"));
        run_until(&f.done);
        ck_assert_int_eq(f.result, CURLE_WRITE_ERROR);
        run_until(&p.closed);
        ck_assert_int_eq(p.n_closed, 1);
        fetch_clear(&f);
}
END_TEST

/* A slow reader: the buffer limit refuses writes, DRAINED says when to go on, nothing is lost. */
typedef struct Bulk {
        HttpStream *stream;
        size_t sent, total;
        int refused, drained;
} Bulk;

static void bulk_fill(Bulk *b) {
        char chunk[4096];
        while (b->sent < b->total) {
                size_t n = MIN(sizeof chunk, b->total - b->sent);
                for (size_t i = 0; i < n; i++)
                        chunk[i] = (char) ('a' + (b->sent + i) % 26);
                int r = http_stream_write(b->stream, chunk, n);
                if (r == -ENOBUFS) {
                        b->refused++;
                        return;
                }
                ck_assert_int_eq(r, 0);
                ck_assert_uint_le(http_stream_buffered(b->stream), 16384);
                b->sent += n;
        }
        http_stream_end(b->stream);
        b->stream = NULL;
}

static void on_bulk_event(HttpStream *st, HttpStreamEvent ev, void *userdata) {
        Bulk *b = userdata;
        ck_assert_int_eq(ev, HTTP_STREAM_DRAINED);
        b->drained++;
        bulk_fill(b);
}

static int on_bulk(HttpRequest *r, void *userdata) {
        Bulk *b = userdata;
        int ret = http_respond_stream(r, 200, NULL, on_bulk_event, b, &b->stream);
        if (ret < 0)
                return ret;
        bulk_fill(b);
        return 0;
}

START_TEST(test_stream_backpressure) {
        Fetch f = {};
        Bulk b = {.total = 1024 * 1024};
        HttpServerConfig cfg = {.bind_address = "127.0.0.1", .max_stream_buffer = 16384};

        server_start(&cfg);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/bulk", on_bulk, &b), 0);
        fetch(&f, NULL, "/bulk");
        ck_assert_uint_eq(f.size, b.total);
        for (size_t i = 0; i < f.size; i++)
                ck_assert_int_eq(f.body[i], 'a' + (int) (i % 26));
        ck_assert_int_gt(b.refused, 0);
        ck_assert_int_eq(b.drained, b.refused);
        fetch_clear(&f);
}
END_TEST

/* ---- TLS ---- */

START_TEST(test_tls) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        char *ips[] = {(char *) "127.0.0.1", (char *) "::1", NULL};
        Fetch f = {};

        ck_assert_int_eq(tls_self_signed_generate("node-1.example", ips, &cert, &key), 0);
        ck_assert_ptr_nonnull(strstr(cert, "-----BEGIN CERTIFICATE-----"));
        ck_assert_ptr_nonnull(strstr(key, "-----BEGIN PRIVATE KEY-----"));

        /* The certificate says what the kubelet's says: CN=<host>@<time>, the host and the IPs as SANs. */
        BIO *bio = BIO_new_mem_buf(cert, -1);
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        ck_assert_ptr_nonnull(x);
        char cn[256];
        ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn), 0);
        ck_assert_ptr_nonnull(startswith(cn, "node-1.example@"));
        ck_assert_int_eq(X509_check_host(x, "node-1.example", 0, 0, NULL), 1);
        ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
        ck_assert_int_eq(X509_check_ip_asc(x, "::1", 0), 1);
        ck_assert_int_eq(X509_check_ip_asc(x, "10.0.0.1", 0), 0);
        X509_free(x);
        BIO_free(bio);

        char *bad[] = {(char *) "not-an-ip", NULL};
        char *c2 = NULL, *k2 = NULL;
        ck_assert_int_eq(tls_self_signed_generate("h", bad, &c2, &k2), -EINVAL);
        ck_assert_int_eq(tls_self_signed_generate("", NULL, &c2, &k2), -EINVAL);

        HttpServerConfig cfg = {.bind_address = "127.0.0.1", .tls_cert_pem = cert, .tls_key_pem = key};
        server_start(&cfg);
        add_routes();

        /* Verified against the generated certificate itself: chain, validity and the IP SAN all check out. */
        CURL *c = fetch_make(&f, "https", "/query?follow=true");
        struct curl_blob blob = {.data = cert, .len = strlen(cert), .flags = CURL_BLOB_COPY};
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob), CURLE_OK);
        fetch_start(&f, c);
        run_until(&f.done);
        ck_assert_msg(f.result == CURLE_OK, "%s", curl_easy_strerror(f.result));
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "follow=true tail=(null) missing=(null) x-test=(null)");
        fetch_clear(&f);

        /* Plain HTTP to the TLS port gets no HTTP answer. */
        fetch_start(&f, fetch_make(&f, "http", "/healthz"));
        run_until(&f.done);
        ck_assert(f.result != CURLE_OK || f.status != 200);
        fetch_clear(&f);

        /* A key that does not parse is refused at start. */
        ErrorBuf err = {};
        HttpServer *s2 = NULL;
        HttpServerConfig broken = {.bind_address = "127.0.0.1", .tls_cert_pem = cert, .tls_key_pem = "garbage"};
        ck_assert_int_lt(http_server_new(event, &broken, &s2, &err), 0);
        ck_assert_ptr_null(s2);
}
END_TEST

/* A renewed serving certificate (serverTLSBootstrap, agent/bootstrap.h) replaces the old one for new connections
 * while the server runs. */
static CURLcode fetch_verified(Fetch *f, const char *ca_pem) {
        CURL *c = fetch_make(f, "https", "/healthz");
        struct curl_blob blob = {.data = (void *) ca_pem, .len = strlen(ca_pem), .flags = CURL_BLOB_COPY};
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob), CURLE_OK);
        /* A new handshake each time: a pooled connection would still carry the certificate it was set up with. */
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L), CURLE_OK);
        fetch_start(f, c);
        run_until(&f->done);
        CURLcode result = f->result;
        fetch_clear(f);
        return result;
}

START_TEST(test_tls_set_certificate) {
        _cleanup_free_ char *cert1 = NULL, *key1 = NULL, *cert2 = NULL, *key2 = NULL;
        char *ips[] = {(char *) "127.0.0.1", NULL};
        ErrorBuf err = {};
        Fetch f = {};

        ck_assert_int_eq(tls_self_signed_generate("one.example", ips, &cert1, &key1), 0);
        ck_assert_int_eq(tls_self_signed_generate("two.example", ips, &cert2, &key2), 0);
        HttpServerConfig cfg = {.bind_address = "127.0.0.1", .tls_cert_pem = cert1, .tls_key_pem = key1};
        server_start(&cfg);
        add_routes();
        ck_assert_int_eq(fetch_verified(&f, cert1), CURLE_OK);
        ck_assert_int_ne(fetch_verified(&f, cert2), CURLE_OK);

        ck_assert_int_eq(http_server_set_certificate(server, cert2, key2, &err), 0);
        ck_assert_int_eq(fetch_verified(&f, cert2), CURLE_OK);
        ck_assert_int_ne(fetch_verified(&f, cert1), CURLE_OK);

        /* Bad PEM is refused and the current certificate stays. */
        ck_assert_int_eq(http_server_set_certificate(server, cert1, "garbage", &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "private key"));
        ck_assert_int_eq(fetch_verified(&f, cert2), CURLE_OK);

        /* A plain HTTP server has no certificate to replace. */
        HttpServer *plain = NULL;
        HttpServerConfig pc = {.bind_address = "127.0.0.1"};
        ck_assert_int_eq(http_server_new(event, &pc, &plain, &err), 0);
        ck_assert_int_eq(http_server_set_certificate(plain, cert1, key1, NULL), -EINVAL);
        http_server_free(plain);
}
END_TEST

/* ---- connections ---- */

START_TEST(test_many_connections) {
        enum { N_SEQ = 200, N_CONC = 64 };
        static Fetch conc[N_CONC];
        int finished = 0;

        server_start(NULL);
        add_routes();

        /* Sequential, a new connection each time. */
        for (int i = 0; i < N_SEQ; i++) {
                Fetch f = {};
                CURL *c = fetch_make(&f, "http", "/healthz");
                ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L), CURLE_OK);
                fetch_start(&f, c);
                run_until(&f.done);
                ck_assert_int_eq(f.result, CURLE_OK);
                ck_assert_int_eq(f.status, 200);
                fetch_clear(&f);
        }
        /* Concurrent. */
        for (int i = 0; i < N_CONC; i++) {
                char path[64];
                conc[i] = (Fetch){.counter = &finished};
                (void) snprintf(path, sizeof path, "/containerLogs/%d", i);
                CURL *c = fetch_make(&conc[i], "http", path);
                ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L), CURLE_OK);
                fetch_start(&conc[i], c);
        }
        run_until_count(&finished, N_CONC);
        for (int i = 0; i < N_CONC; i++) {
                char want[128];
                (void) snprintf(want, sizeof want, "GET /containerLogs/%d rest=%d", i, i);
                ck_assert_int_eq(conc[i].result, CURLE_OK);
                ck_assert_str_eq(conc[i].body, want);
                fetch_clear(&conc[i]);
        }
}
END_TEST

static int raw_connect(uint16_t port) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        return fd;
}

static void spin(unsigned n) {
        for (unsigned i = 0; i < n; i++)
                ck_assert_int_ge(sd_event_run(event, 10 * USEC_PER_MSEC), 0);
}

START_TEST(test_connection_limit_and_timeout) {
        HttpServerConfig cfg = {.bind_address = "127.0.0.1", .max_connections = 2, .connection_timeout_sec = 1};
        int fds[4];
        Fetch f = {};

        server_start(&cfg);
        add_routes();
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                fds[i] = raw_connect(http_server_port(server));
        spin(20);
        /* Never more than the limit: MHD closes the one accepted beyond it, the last waits in the backlog. */
        ck_assert_uint_eq(http_server_n_connections(server), 2);

        /* Idle connections time out, which lets the waiting ones in, which time out too; then we are served. */
        for (uint64_t deadline = now_usec() + 15 * USEC_PER_SEC; http_server_n_connections(server) > 0;) {
                ck_assert(now_usec() < deadline);
                spin(1);
        }
        fetch(&f, NULL, "/healthz");
        ck_assert_int_eq(f.status, 200);
        fetch_clear(&f);
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                char buf[16];
                /* the server closed each of them: EOF (or a reset), never data */
                ck_assert_int_le(recv(fds[i], buf, sizeof buf, MSG_DONTWAIT), 0);
                safe_close(fds[i]);
        }
}
END_TEST

START_TEST(test_bind_errors) {
        ErrorBuf err = {};
        HttpServer *s2 = NULL;

        server_start(NULL);
        HttpServerConfig same = {.bind_address = "127.0.0.1", .port = http_server_port(server)};
        ck_assert_int_eq(http_server_new(event, &same, &s2, &err), -EADDRINUSE);
        ck_assert_ptr_nonnull(strstr(err.msg, "bind 127.0.0.1:"));
        error_clear(&err);
        HttpServerConfig bad = {.bind_address = "localhost"};
        ck_assert_int_eq(http_server_new(event, &bad, &s2, &err), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err.msg, "localhost"));
        ck_assert_ptr_null(s2);

        /* Every address (dual-stack when IPv6 exists) also serves 127.0.0.1. */
        HttpServer *keep = TAKE_PTR(server);
        HttpServerConfig any = {};
        server_start(&any);
        Fetch f = {};
        fetch(&f, NULL, "/x");
        ck_assert_int_eq(f.status, 404);
        fetch_clear(&f);
        http_server_free(keep);
}
END_TEST

START_TEST(test_free_with_open_connections) {
        Fetch streaming = {}, idle = {}, hanging_header = {};
        Producer p = {.n_pieces = 1, .client = &streaming};
        int fd;

        server_start(NULL);
        add_routes();
        ck_assert_int_eq(http_server_add_route(server, "GET", "/stream", on_stream, &p), 0);
        /* A keep-alive connection left open by the client after a request... */
        fetch(&idle, NULL, "/healthz");
        /* ...a streamed response the producer never ends (suspended, waiting for data)... */
        CURL *c = fetch_make(&streaming, "http", "/stream");
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L), CURLE_OK);
        fetch_start(&streaming, c);
        while (streaming.n_writes < 1)
                spin(1);
        /* ...and a client that sent half a request. */
        fd = raw_connect(http_server_port(server));
        ck_assert_int_eq(send(fd, "GET / HTTP/1.1\r\nHost: x\r\n", 25, MSG_NOSIGNAL), 25);
        spin(5);
        ck_assert_uint_ge(http_server_n_connections(server), 3);

        server = http_server_free(server);
        ck_assert(p.closed); /* the producer was told, from inside http_server_free() */
        ck_assert_ptr_null(p.timer);
        run_until(&streaming.done);
        ck_assert_int_ne(streaming.result, CURLE_OK); /* the client sees an incomplete response */
        char buf[16];
        ck_assert_int_le(recv(fd, buf, sizeof buf, 0), 0);
        safe_close(fd);
        fetch_clear(&streaming);
        fetch_clear(&idle);
        fetch_clear(&hanging_header);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("http-server");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_routing);
        tcase_add_test(tc, test_query_headers_body);
        tcase_add_test(tc, test_stream_pieces);
        tcase_add_test(tc, test_stream_client_leaves_while_idle);
        tcase_add_test(tc, test_stream_client_leaves_while_sending);
        tcase_add_test(tc, test_stream_backpressure);
        tcase_add_test(tc, test_tls);
        tcase_add_test(tc, test_tls_set_certificate);
        tcase_add_test(tc, test_many_connections);
        tcase_add_test(tc, test_connection_limit_and_timeout);
        tcase_add_test(tc, test_bind_errors);
        tcase_add_test(tc, test_free_with_open_connections);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
