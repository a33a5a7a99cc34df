/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP server's pieces for authentication (common/http-server.h): a filter before routing that passes, answers,
 * or suspends a request and resumes it later from the loop (passing it on or answering it), the cancel callback when
 * the server is freed with a request parked, and client certificates verified against a CA bundle (identity = CN and
 * the O values; another CA, a server-only certificate and no certificate are told apart). Clients are CurlGlue
 * transfers on the same loop; certificates are made with the openssl command. */

#include <stdio.h>
#include <time.h>

#include "common/curl-glue.h"
#include "common/event-util.h"
#include "common/fileio.h"
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

/* A safety limit (not a timing assertion) turns a hang into a failure. */
static void run_until(const bool *flag) {
        uint64_t deadline = now_usec() + 20 * USEC_PER_SEC;
        while (!*flag) {
                ck_assert_msg(now_usec() < deadline, "the loop did not get there within 20s");
                ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
        }
}

typedef struct Fetch {
        char body[1024];
        size_t size;
        bool done;
        CURLcode result;
        long status;
} Fetch;

static size_t on_write(char *ptr, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        size_t l = size * n, k = MIN(l, sizeof f->body - 1 - f->size);
        memcpy(f->body + f->size, ptr, k);
        f->size += k;
        f->body[f->size] = 0;
        return l;
}

static void on_fetch_done(CurlGlue *g, CURL *c, CURLcode result, void *userdata) {
        Fetch *f = userdata;
        f->result = result;
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
        curl_easy_cleanup(c);
        f->done = true;
}

/* Starts a GET; cert/key: a client certificate (files), or NULL. */
static void fetch_start(Fetch *f, const char *scheme, const char *path, const char *cert, const char *key) {
        char url[512];
        CURL *c = NULL;

        *f = (Fetch){};
        (void) snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, http_server_port(server), path);
        ck_assert_int_eq(curl_glue_make(url, &c), 0);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_WRITEDATA, f), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L), CURLE_OK);
        ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L), CURLE_OK);
        if (cert) {
                ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_SSLCERT, cert), CURLE_OK);
                ck_assert_int_eq(curl_easy_setopt(c, CURLOPT_SSLKEY, key), CURLE_OK);
        }
        ck_assert_int_eq(curl_glue_add(glue, c, on_fetch_done, f), 0);
}

static void fetch(Fetch *f, const char *scheme, const char *path, const char *cert, const char *key) {
        fetch_start(f, scheme, path, cert, key);
        run_until(&f->done);
        ck_assert_msg(f->result == CURLE_OK, "%s: %s", path, curl_easy_strerror(f->result));
}

/* ---- the filter and parked requests ---- */

typedef struct FilterState {
        HttpRequest *parked;
        bool answer_when_resumed; /* answer 403 while parked instead of passing it on */
        bool cancelled;
        int n_calls;
        sd_event_source *timer;
} FilterState;

static int on_hello(HttpRequest *r, void *userdata) {
        return http_respond_text(r, 200, "hello");
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        FilterState *st = userdata;
        HttpRequest *r = st->parked;

        st->parked = NULL;
        if (st->answer_when_resumed)
                ck_assert_int_eq(http_respond_text(r, 403, "denied later"), 0);
        http_request_resume(r);
        return 0;
}

static void on_cancel(HttpRequest *r, void *userdata) {
        FilterState *st = userdata;
        ck_assert_ptr_eq(r, st->parked);
        st->parked = NULL;
        st->cancelled = true;
}

static int filter(HttpRequest *r, void *userdata) {
        FilterState *st = userdata;
        const char *mode = http_request_query(r, "mode");

        st->n_calls++;
        if (!mode || streq(mode, "pass"))
                return HTTP_FILTER_PASS;
        if (streq(mode, "deny"))
                return http_respond_text(r, 401, "Unauthorized");
        if (streq(mode, "fail"))
                return -EIO;
        /* "later" / "later-deny" / "forever": parked; a timer decides (not "forever") */
        ck_assert_int_eq(http_request_suspend(r, on_cancel, st), 0);
        st->parked = r;
        st->answer_when_resumed = streq(mode, "later-deny");
        if (!streq(mode, "forever")) {
                st->timer = sd_event_source_disable_unref(st->timer);
                ck_assert_int_ge(sd_event_add_time_relative(event, &st->timer, CLOCK_MONOTONIC, 50 * USEC_PER_MSEC, 0,
                                                            on_timer, st),
                                 0);
        }
        return 0;
}

START_TEST(test_filter_and_suspend) {
        HttpServerConfig cfg = {.bind_address = "127.0.0.1"};
        ErrorBuf err = {};
        FilterState st = {};
        Fetch f;

        ck_assert_int_eq(http_server_new(event, &cfg, &server, &err), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/hello", on_hello, NULL), 0);
        http_server_set_filter(server, filter, &st);

        fetch(&f, "http", "/hello?mode=pass", NULL, NULL);
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "hello");
        fetch(&f, "http", "/hello?mode=deny", NULL, NULL);
        ck_assert_int_eq(f.status, 401);
        ck_assert_str_eq(f.body, "Unauthorized");
        /* the filter sees unknown paths too (no 404 before authentication) */
        fetch(&f, "http", "/nothing?mode=deny", NULL, NULL);
        ck_assert_int_eq(f.status, 401);
        fetch(&f, "http", "/nothing?mode=pass", NULL, NULL);
        ck_assert_int_eq(f.status, 404);
        fetch(&f, "http", "/hello?mode=fail", NULL, NULL);
        ck_assert_int_eq(f.status, 500);

        /* parked, then passed on to routing without asking the filter again */
        st.n_calls = 0;
        fetch(&f, "http", "/hello?mode=later", NULL, NULL);
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "hello");
        ck_assert_int_eq(st.n_calls, 1);
        /* parked, then answered while parked */
        fetch(&f, "http", "/hello?mode=later-deny", NULL, NULL);
        ck_assert_int_eq(f.status, 403);
        ck_assert_str_eq(f.body, "denied later");
        ck_assert_int_eq(st.n_calls, 2);
        /* the connection is still good for the next request (keep-alive after a parked one) */
        fetch(&f, "http", "/hello", NULL, NULL);
        ck_assert_int_eq(f.status, 200);

        /* freeing the server with a request parked: its owner is told, nothing leaks (ASan) */
        fetch_start(&f, "http", "/hello?mode=forever", NULL, NULL);
        while (!st.parked)
                ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
        server = http_server_free(server);
        ck_assert(st.cancelled);
        ck_assert_ptr_null(st.parked);
        run_until(&f.done); /* the client sees the connection close */
        st.timer = sd_event_source_disable_unref(st.timer);
}
END_TEST

/* ---- client certificates ---- */

static int on_whoami(HttpRequest *r, void *userdata) {
        _cleanup_free_ char *cn = NULL;
        _cleanup_strv_free_ char **orgs = NULL;
        char body[512] = "";
        int k = http_request_peer_identity(r, &cn, &orgs);

        if (k < 0) {
                (void) snprintf(body, sizeof body, "error %d", k);
                return http_respond_text(r, 200, body);
        }
        size_t n = (size_t) snprintf(body, sizeof body, "cn=%s", cn);
        for (char **o = orgs; *o && n < sizeof body; o++)
                n += (size_t) snprintf(body + n, sizeof body - n, " o=%s", *o);
        return http_respond_text(r, 200, body);
}

START_TEST(test_client_certificates) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
        char *dir = test_tmpdir_new("test-http-auth");
        char path[4][600];
        size_t size;
        Fetch f;

        test_require_program("openssl");
        ck_assert_ptr_nonnull(dir);
        /* A CA, a client certificate of it (CN alice, O devs and ops), a server-only one of it, and a self-signed
         * client certificate of another "CA". */
        ck_assert_int_eq(
                test_system("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                            "-days 2 -subj /CN=test-ca -keyout ca.key -out ca.crt 2>/dev/null && "
                            "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
                            "printf 'extendedKeyUsage=serverAuth\\n' > server.ext && "
                            "for n in client server; do openssl req -new -newkey ec -pkeyopt "
                            "ec_paramgen_curve:prime256v1 -nodes -subj /O=devs/O=ops/CN=alice -keyout $n.key "
                            "-out $n.csr 2>/dev/null && openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key "
                            "-CAcreateserial -days 1 -extfile $n.ext -out $n.crt 2>/dev/null || exit 1; done && "
                            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                            "-subj /O=system:masters/CN=mallory -keyout other.key -out other.crt 2>/dev/null",
                            dir),
                0);
        (void) snprintf(path[0], sizeof path[0], "%s/ca.crt", dir);
        ck_assert_int_eq(read_full_file(path[0], 1 << 20, &ca, &size), 0);
        ck_assert_int_eq(tls_self_signed_generate("127.0.0.1", NULL, &cert, &key), 0);

        HttpServerConfig cfg = {
                .bind_address = "127.0.0.1", .tls_cert_pem = cert, .tls_key_pem = key, .client_ca_pem = ca};
        ErrorBuf err = {};
        ck_assert_int_eq(http_server_new(event, &cfg, &server, &err), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/whoami", on_whoami, NULL), 0);

        (void) snprintf(path[0], sizeof path[0], "%s/client.crt", dir);
        (void) snprintf(path[1], sizeof path[1], "%s/client.key", dir);
        fetch(&f, "https", "/whoami", path[0], path[1]);
        ck_assert_int_eq(f.status, 200);
        ck_assert_str_eq(f.body, "cn=alice o=devs o=ops");

        /* no certificate: the handshake succeeds (asked for, not required), no identity */
        fetch(&f, "https", "/whoami", NULL, NULL);
        ck_assert_str_eq(f.body, "error -2"); /* -ENOENT */

        /* another CA, and a certificate of the CA that is not for client authentication */
        (void) snprintf(path[2], sizeof path[2], "%s/other.crt", dir);
        (void) snprintf(path[3], sizeof path[3], "%s/other.key", dir);
        fetch(&f, "https", "/whoami", path[2], path[3]);
        ck_assert_str_eq(f.body, "error -13"); /* -EACCES */
        (void) snprintf(path[2], sizeof path[2], "%s/server.crt", dir);
        (void) snprintf(path[3], sizeof path[3], "%s/server.key", dir);
        fetch(&f, "https", "/whoami", path[2], path[3]);
        ck_assert_str_eq(f.body, "error -13");

        /* a server without a client CA asks for nothing */
        server = http_server_free(server);
        cfg.client_ca_pem = NULL;
        ck_assert_int_eq(http_server_new(event, &cfg, &server, &err), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/whoami", on_whoami, NULL), 0);
        fetch(&f, "https", "/whoami", path[0], path[1]);
        ck_assert_str_eq(f.body, "error -2");
        test_tmpdir_remove(dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("http-auth");
        TCase *tc = tcase_create("auth");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_filter_and_suspend);
        tcase_add_test(tc, test_client_certificates);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
