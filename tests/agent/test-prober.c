/* SPDX-License-Identifier: Apache-2.0 */
/* The prober against local servers: an in-process HttpServer on the same loop (HTTP and HTTPS, 127.0.0.1 and ::1)
 * and a python grpcio health server (tests/agent/fixtures/grpc-health-server.py). Covers the kubelet's rules:
 * status ranges, default and custom headers, the 10 KiB body cap, same-host redirects and the WARNING for others,
 * the redirect limit, timeouts, refused connections, cancellation, and the gRPC health protocol. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/prober.h"
#include "common/event-util.h"
#include "common/http-server.h"
#include "common/tls-util.h"
#include "tests/lib/testlib.h"

static sd_event *event;
static Prober *prober;
static HttpServer *server, *server6, *tls_server;
static char last_headers[1024];

typedef struct Outcome {
        bool done;
        ProbeResult result;
        char message[16384];
} Outcome;

static void on_probe_done(ProbeResult r, const char *message, void *userdata) {
        Outcome *o = userdata;
        ck_assert(!o->done);
        o->done = true;
        o->result = r;
        (void) snprintf(o->message, sizeof o->message, "%s", message);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static void run_until(const bool *flag) {
        uint64_t deadline = now_usec() + 20 * USEC_PER_SEC;
        while (!*flag) {
                ck_assert_msg(now_usec() < deadline, "the loop did not get there within 20s");
                ck_assert_int_ge(sd_event_run(event, 100 * USEC_PER_MSEC), 0);
        }
}

/* ---- the HTTP fixture ---- */

static int on_ok(HttpRequest *r, void *userdata) {
        return http_respond_text(r, 200, "all good");
}

static int on_status(HttpRequest *r, void *userdata) {
        const char *code = http_request_query(r, "code");
        return http_respond_text(r, code ? (unsigned) atoi(code) : 200, "status body");
}

static int on_headers(HttpRequest *r, void *userdata) {
        const char *ua = http_request_header(r, "User-Agent"), *accept = http_request_header(r, "Accept"),
                   *host = http_request_header(r, "Host"), *custom = http_request_header(r, "X-Custom"),
                   *conn = http_request_header(r, "Connection"), *enc = http_request_header(r, "Accept-Encoding");
        (void) snprintf(last_headers, sizeof last_headers, "ua=%s accept=%s host=%s x-custom=%s connection=%s enc=%s",
                        ua ?: "-", accept ?: "-", host ?: "-", custom ?: "-", conn ?: "-", enc ?: "-");
        return http_respond_text(r, 200, last_headers);
}

static int on_big(HttpRequest *r, void *userdata) {
        size_t n = 64 * 1024;
        char *body = malloc(n);
        if (!body)
                return -ENOMEM;
        memset(body, 'b', n);
        return http_respond(r, 200, "text/plain", body, n);
}

static int redirect(HttpRequest *r, unsigned status, const char *location) {
        (void) http_request_add_header(r, "Location", location);
        return http_respond_text(r, status, "moved");
}

/* /redirect?to=<location>&code=<status> */
static int on_redirect(HttpRequest *r, void *userdata) {
        const char *code = http_request_query(r, "code");
        return redirect(r, code ? (unsigned) atoi(code) : 302, http_request_query(r, "to") ?: "/ok");
}

static int on_loop(HttpRequest *r, void *userdata) {
        return redirect(r, 302, "/loop");
}

/* Never answers: the probe times out. */
typedef struct Hang {
        HttpStream *stream;
} Hang;

static void on_hang_event(HttpStream *st, HttpStreamEvent ev, void *userdata) {
        Hang *h = userdata;
        if (ev == HTTP_STREAM_CLOSED)
                h->stream = NULL;
}

static Hang hang;
static int on_hang(HttpRequest *r, void *userdata) {
        /* the status line goes out, the body never ends: a timeout while reading the body */
        return http_respond_stream(r, 200, "text/plain", on_hang_event, &hang, &hang.stream);
}

static void add_routes(HttpServer *s) {
        ck_assert_int_eq(http_server_add_route(s, "GET", "/ok", on_ok, NULL), 0);
        ck_assert_int_eq(http_server_add_route(s, "GET", "/status", on_status, NULL), 0);
        ck_assert_int_eq(http_server_add_route(s, "GET", "/headers", on_headers, NULL), 0);
        ck_assert_int_eq(http_server_add_route(s, "GET", "/big", on_big, NULL), 0);
        ck_assert_int_eq(http_server_add_route(s, "GET", "/redirect", on_redirect, NULL), 0);
        ck_assert_int_eq(http_server_add_route(s, "GET", "/loop", on_loop, NULL), 0);
        ck_assert_int_eq(http_server_add_route(s, "GET", "/hang", on_hang, NULL), 0);
}

static void setup(void) {
        ErrorBuf err = {};
        int r;

        ck_assert_int_eq(sd_event_new(&event), 0);
        ck_assert_int_eq(prober_new(event, "kube-probe/1.26", &prober), 0);
        r = http_server_new(event, &(HttpServerConfig){.bind_address = "127.0.0.1"}, &server, &err);
        ck_assert_msg(r == 0, "%s", error_message(&err, r));
        add_routes(server);
}

static void teardown(void) {
        prober = prober_free(prober);
        server = http_server_free(server);
        server6 = http_server_free(server6);
        tls_server = http_server_free(tls_server);
        event = sd_event_unref(event);
}

static void probe_http(Outcome *o, const char *host, HttpServer *s, const char *path, bool https, const HttpHeader *h,
                       size_t n_h, uint64_t timeout) {
        *o = (Outcome){};
        ck_assert_int_eq(
                prober_http(prober, host, http_server_port(s), path, https, h, n_h, timeout, on_probe_done, o, NULL),
                0);
        ck_assert(!o->done); /* never from inside the call */
        run_until(&o->done);
}

START_TEST(test_http_status) {
        Outcome o;

        probe_http(&o, "127.0.0.1", server, "/ok", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        ck_assert_str_eq(o.message, "all good"); /* the body, like the kubelet */

        probe_http(&o, "127.0.0.1", server, "/status?code=204", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        probe_http(&o, "127.0.0.1", server, "/status?code=399", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_WARNING); /* a 3xx not followed */
        ck_assert_str_eq(o.message, "Probe terminated redirects, Response body: status body");
        probe_http(&o, "127.0.0.1", server, "/status?code=400", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_str_eq(o.message, "HTTP probe failed with statuscode: 400");
        probe_http(&o, "127.0.0.1", server, "/status?code=503", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_str_eq(o.message, "HTTP probe failed with statuscode: 503");
        probe_http(&o, "127.0.0.1", server, "/nowhere", false, NULL, 0, 0);
        ck_assert_str_eq(o.message, "HTTP probe failed with statuscode: 404");

        /* A path without the leading slash gets one. */
        probe_http(&o, "127.0.0.1", server, "ok", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);

        /* The body is read up to 10 KiB only. */
        probe_http(&o, "127.0.0.1", server, "/big", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        ck_assert_uint_eq(strlen(o.message), 10 * 1024);
}
END_TEST

START_TEST(test_http_headers) {
        Outcome o;
        char want[512];

        probe_http(&o, "127.0.0.1", server, "/headers", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        (void) snprintf(want, sizeof want,
                        "ua=kube-probe/1.26 accept=*/* host=127.0.0.1:%u x-custom=- connection=close enc=-",
                        http_server_port(server));
        ck_assert_str_eq(o.message, want);

        HttpHeader h[] = {
                {(char *) "User-Agent", (char *) "my-agent"},
                {(char *) "Accept", (char *) "application/json"},
                {(char *) "Host", (char *) "web.example"},
                {(char *) "X-Custom", (char *) "v1"},
        };
        probe_http(&o, "127.0.0.1", server, "/headers", false, h, ELEMENTSOF(h), 0);
        ck_assert_str_eq(o.message,
                         "ua=my-agent accept=application/json host=web.example x-custom=v1 connection=close enc=-");

        /* An empty Accept removes the header (the kubelet deletes it). */
        HttpHeader empty[] = {{(char *) "Accept", (char *) ""}};
        probe_http(&o, "127.0.0.1", server, "/headers", false, empty, ELEMENTSOF(empty), 0);
        ck_assert_ptr_nonnull(strstr(o.message, "accept=- "));

        /* Header injection is refused before anything is sent. */
        HttpHeader bad[] = {{(char *) "X-A", (char *) "v\r\nX-Injected: 1"}};
        ck_assert_int_eq(prober_http(prober, "127.0.0.1", http_server_port(server), "/", false, bad, 1, 0,
                                     on_probe_done, &o, NULL),
                         -EINVAL);
        HttpHeader badname[] = {{(char *) "X A", (char *) "v"}};
        ck_assert_int_eq(prober_http(prober, "127.0.0.1", http_server_port(server), "/", false, badname, 1, 0,
                                     on_probe_done, &o, NULL),
                         -EINVAL);
        ck_assert_uint_eq(prober_n_running(prober), 0);
}
END_TEST

START_TEST(test_http_redirects) {
        Outcome o;
        char path[256];

        /* Same host: followed (relative and absolute Location). */
        probe_http(&o, "127.0.0.1", server, "/redirect?to=/ok", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        ck_assert_str_eq(o.message, "all good");
        (void) snprintf(path, sizeof path, "/redirect?code=307&to=http://127.0.0.1:%u/ok", http_server_port(server));
        probe_http(&o, "127.0.0.1", server, path, false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);

        /* Another host: not followed, the redirect is the answer: WARNING with its body. */
        (void) snprintf(path, sizeof path, "/redirect?to=http://localhost:%u/ok", http_server_port(server));
        probe_http(&o, "127.0.0.1", server, path, false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_WARNING);
        ck_assert_str_eq(o.message, "Probe terminated redirects, Response body: moved");

        /* A same-host redirect to a failing page fails. */
        probe_http(&o, "127.0.0.1", server, "/redirect?to=/status%3Fcode%3D500", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_str_eq(o.message, "HTTP probe failed with statuscode: 500");

        /* At most 10. */
        probe_http(&o, "127.0.0.1", server, "/loop", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        (void) snprintf(path, sizeof path, "Get \"http://127.0.0.1:%u/loop\": stopped after 10 redirects",
                        http_server_port(server));
        ck_assert_str_eq(o.message, path);

        /* A custom Host survives a relative redirect. */
        HttpHeader h[] = {{(char *) "Host", (char *) "web.example"}};
        probe_http(&o, "127.0.0.1", server, "/redirect?to=/headers", false, h, 1, 0);
        ck_assert_ptr_nonnull(strstr(o.message, "host=web.example "));
}
END_TEST

START_TEST(test_http_errors) {
        Outcome o;
        char want[256];
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        socklen_t sl = sizeof sa;
        int fd;
        uint16_t closed_port;

        /* A port nobody listens on: bound, then closed. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
        closed_port = ntohs(sa.sin_port);
        safe_close(fd);

        o = (Outcome){};
        ck_assert_int_eq(
                prober_http(prober, "127.0.0.1", closed_port, "/healthz", false, NULL, 0, 0, on_probe_done, &o, NULL),
                0);
        run_until(&o.done);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        (void) snprintf(want, sizeof want,
                        "Get \"http://127.0.0.1:%u/healthz\": dial tcp 127.0.0.1:%u: connect: connection refused",
                        closed_port, closed_port);
        ck_assert_str_eq(o.message, want);

        /* No answer within the timeout. */
        probe_http(&o, "127.0.0.1", server, "/hang", false, NULL, 0, 200 * USEC_PER_MSEC);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_ptr_nonnull(strstr(o.message, "context deadline exceeded (Client.Timeout exceeded"));

        o = (Outcome){};
        ck_assert_int_eq(prober_tcp(prober, "127.0.0.1", closed_port, 0, on_probe_done, &o, NULL), 0);
        run_until(&o.done);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        (void) snprintf(want, sizeof want, "dial tcp 127.0.0.1:%u: connect: connection refused", closed_port);
        ck_assert_str_eq(o.message, want);

        ck_assert_int_eq(prober_tcp(prober, "", 80, 0, on_probe_done, &o, NULL), -EINVAL);
        ck_assert_int_eq(prober_tcp(prober, "127.0.0.1", 0, 0, on_probe_done, &o, NULL), -EINVAL);
}
END_TEST

START_TEST(test_tcp_and_cancel) {
        Outcome o = {}, c = {};
        ProbeJob *j = NULL;

        ck_assert_int_eq(prober_tcp(prober, "127.0.0.1", http_server_port(server), 0, on_probe_done, &o, NULL), 0);
        run_until(&o.done);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);

        /* A cancelled probe never reports. */
        ck_assert_int_eq(prober_http(prober, "127.0.0.1", http_server_port(server), "/hang", false, NULL, 0,
                                     USEC_PER_SEC, on_probe_done, &c, &j),
                         0);
        ck_assert_ptr_nonnull(j);
        ck_assert_uint_eq(prober_n_running(prober), 1);
        for (int i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(event, 10 * USEC_PER_MSEC), 0);
        ck_assert_ptr_null(probe_job_cancel(j));
        ck_assert_uint_eq(prober_n_running(prober), 0);
        o = (Outcome){};
        ck_assert_int_eq(prober_tcp(prober, "127.0.0.1", http_server_port(server), 0, on_probe_done, &o, NULL), 0);
        run_until(&o.done);
        ck_assert(!c.done);

        /* Probes still running when the prober goes away are dropped quietly (ASan: nothing leaks). */
        ck_assert_int_eq(prober_http(prober, "127.0.0.1", http_server_port(server), "/hang", false, NULL, 0,
                                     USEC_PER_SEC, on_probe_done, &c, NULL),
                         0);
        prober = prober_free(prober);
        ck_assert(!c.done);
}
END_TEST

START_TEST(test_https_and_ipv6) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        ErrorBuf err = {};
        Outcome o;
        int r;

        ck_assert_int_eq(tls_self_signed_generate("localhost", NULL, &cert, &key), 0);
        r = http_server_new(event,
                            &(HttpServerConfig){.bind_address = "127.0.0.1", .tls_cert_pem = cert, .tls_key_pem = key},
                            &tls_server, &err);
        ck_assert_msg(r == 0, "%s", error_message(&err, r));
        add_routes(tls_server);
        /* Without certificate verification, like the kubelet. */
        probe_http(&o, "127.0.0.1", tls_server, "/ok", true, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        ck_assert_str_eq(o.message, "all good");

        r = http_server_new(event, &(HttpServerConfig){.bind_address = "::1"}, &server6, &err);
        if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
                return; /* no IPv6 loopback here; the IPv4 half of the test still ran */
        ck_assert_msg(r == 0, "%s", error_message(&err, r));
        add_routes(server6);
        probe_http(&o, "::1", server6, "/headers", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        char want[64];
        (void) snprintf(want, sizeof want, "host=[::1]:%u ", http_server_port(server6));
        ck_assert_ptr_nonnull(strstr(o.message, want));
        /* Same-host redirects compare the bare IPv6 address. */
        probe_http(&o, "::1", server6, "/redirect?to=/ok", false, NULL, 0, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
}
END_TEST

/* ---- gRPC ---- */

START_TEST(test_grpc_messages) {
        _cleanup_free_ uint8_t *b = NULL;
        size_t n;
        int64_t status;

        ck_assert_int_eq(prober_grpc_encode_request("web", &b, &n), 0);
        ck_assert_uint_eq(n, 10);
        ck_assert_mem_eq(b, "\0\0\0\0\5\x0a\3web", 10);
        free(b);
        ck_assert_int_eq(prober_grpc_encode_request(NULL, &b, &n), 0); /* proto3: "" is left out */
        ck_assert_uint_eq(n, 5);
        ck_assert_mem_eq(b, "\0\0\0\0\0", 5);
        free(b);
        char longname[300];
        memset(longname, 's', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        ck_assert_int_eq(prober_grpc_encode_request(longname, &b, &n), 0);
        ck_assert_uint_eq(n, 5 + 1 + 2 + 299);
        ck_assert_mem_eq(b, "\0\0\0\1\x2e\x0a\xab\x02", 8); /* 302 = 0x12e; 299 as a varint: ab 02 */

        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0\0\0\2\x08\1", 7, &status), 0);
        ck_assert_int_eq(status, 1);
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0\0\0\2\x08\2", 7, &status), 0);
        ck_assert_int_eq(status, 2);
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0\0\0\0", 5, &status), 0);
        ck_assert_int_eq(status, 0);
        /* unknown fields are skipped */
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0\0\0\7\x12\3abc\x08\3", 12, &status), 0);
        ck_assert_int_eq(status, 3);
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\1\0\0\0\2\x08\1", 7, &status), -EBADMSG);
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0\0\0\3\x08\1", 7, &status), -EBADMSG);
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0\0\0\2\x08\x81", 7, &status), -EBADMSG);
        ck_assert_int_eq(prober_grpc_decode_response((const uint8_t *) "\0\0", 2, &status), -EBADMSG);
}
END_TEST

static pid_t grpc_pid = -1;
static unsigned grpc_port, bare_port;

static void grpc_start(void) {
        char path[512], line[256] = "";
        int pipefd[2];

        if (test_system("/usr/bin/python3 -c 'import grpc' 2>/dev/null") != 0)
                ck_abort_msg("python3-grpcio is missing: run scripts/install-deps.sh");
        (void) snprintf(path, sizeof path, "%s/tests/agent/fixtures/grpc-health-server.py", test_source_dir());
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        grpc_pid = fork();
        ck_assert_int_ge(grpc_pid, 0);
        if (grpc_pid == 0) {
                /* dies with the test process, also when an assertion ends it */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                execl("/usr/bin/python3", "python3", path, (char *) NULL);
                _exit(127);
        }
        safe_close(pipefd[1]);
        /* The fixture's line "PORT PORT"; anything else grpc may print before it is skipped. */
        FILE *f = fdopen(pipefd[0], "r");
        ck_assert_ptr_nonnull(f);
        bool found = false;
        for (unsigned i = 0; i < 100 && !found && fgets(line, sizeof line, f); i++)
                found = sscanf(line, "%u %u", &grpc_port, &bare_port) == 2;
        fclose(f);
        ck_assert_msg(found, "the gRPC fixture printed no ports (last line: %s)", line);
}

static void grpc_stop(void) {
        if (grpc_pid > 0) {
                (void) kill(grpc_pid, SIGKILL);
                (void) waitpid(grpc_pid, NULL, 0);
                grpc_pid = -1;
        }
}

static void probe_grpc(Outcome *o, unsigned port, const char *service, uint64_t timeout) {
        *o = (Outcome){};
        ck_assert_int_eq(prober_grpc(prober, "127.0.0.1", (uint16_t) port, service, timeout, on_probe_done, o, NULL),
                         0);
        run_until(&o->done);
}

START_TEST(test_grpc) {
        Outcome o;
        char want[256];

        grpc_start();
        probe_grpc(&o, grpc_port, NULL, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);
        ck_assert_str_eq(o.message, "service healthy");
        probe_grpc(&o, grpc_port, "web", 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_SUCCESS);

        probe_grpc(&o, grpc_port, "down", 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_str_eq(o.message, "service unhealthy (responded with \"NOT_SERVING\")");
        probe_grpc(&o, grpc_port, "unknown-status", 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_str_eq(o.message, "service unhealthy (responded with \"UNKNOWN\")");

        probe_grpc(&o, grpc_port, "nope", 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_str_eq(o.message,
                         "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service");

        probe_grpc(&o, bare_port, NULL, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_ptr_nonnull(startswith(o.message, "error: this server does not implement the grpc health protocol "
                                                    "(grpc.health.v1.Health)"));

        probe_grpc(&o, grpc_port, "slow", 300 * USEC_PER_MSEC);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        ck_assert_msg(streq(o.message, "timeout: health rpc did not complete within 300ms"), "%s", o.message);

        grpc_stop();
        probe_grpc(&o, grpc_port, NULL, 0);
        ck_assert_int_eq(o.result, PROBE_RESULT_FAILURE);
        (void) snprintf(want, sizeof want, "error: failed to connect service at \"127.0.0.1:%u\"", grpc_port);
        ck_assert_msg(startswith(o.message, want), "%s", o.message);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("prober");
        TCase *tc = tcase_create("probes");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_http_status);
        tcase_add_test(tc, test_http_headers);
        tcase_add_test(tc, test_http_redirects);
        tcase_add_test(tc, test_http_errors);
        tcase_add_test(tc, test_tcp_and_cancel);
        tcase_add_test(tc, test_https_and_ipv6);
        tcase_add_test(tc, test_grpc_messages);
        tcase_add_test(tc, test_grpc);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
