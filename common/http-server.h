/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* An HTTP/1.1 server (libmicrohttpd) driven by the daemon's sd-event loop: the kubelet's endpoints (/healthz, /pods,
 * /metrics, /containerLogs) and kube-proxy's healthCheckNodePorts, with no thread per server or connection.
 *
 * Loop integration: MHD runs in epoll mode without internal threads. Its epoll fd (which holds the listen socket,
 * every connection and MHD's wake-up eventfd) is one sd-event IO source; MHD_get_timeout() arms one time source,
 * re-armed after every MHD_run(). Chosen over MHD_get_fdset(): one fd per server instead of re-registering every
 * connection's fd on each iteration, and no FD_SETSIZE limit.
 *
 * Routing: a route is a method (NULL = any; "GET" also answers HEAD) and a path. A path ending in '/' is a subtree
 * ("/containerLogs/" matches everything below it), like Go's ServeMux; others match exactly. The most specific path
 * wins. An unmatched path gets 404, a matched path with no route for the method 405 with an Allow header.
 *
 * Handlers run on the loop and must not block. They answer synchronously (http_respond*(): status, content type and
 * a body handed over) or start a streamed response (http_respond_stream()) that a producer feeds later from the loop
 * with http_stream_write() and finishes with http_stream_end(). A stream's event callback tells the producer when
 * the client went away (stop producing) and when a full buffer drained (produce more).
 *
 * Bounds: connections (max_connections; MHD closes a connection accepted beyond it and leaves later ones in the
 * backlog until one ends), request headers (MHD's per-connection
 * memory limit: 32 KiB; larger requests get 431/413 from MHD), request bodies (max_request_body, 413 beyond), idle
 * connections (connection_timeout_sec) and the unsent data of a stream (max_stream_buffer). */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "common/error.h"
#include "common/macro.h"

typedef struct HttpServer HttpServer;
typedef struct HttpRequest HttpRequest; /* valid only while the handler runs */
typedef struct HttpStream HttpStream;

typedef struct HttpServerConfig {
        const char *bind_address;        /* an IP literal; NULL = every address (IPv6 dual-stack, else IPv4) */
        uint16_t port;                   /* 0 = an ephemeral port, see http_server_port() */
        const char *tls_cert_pem;        /* both set: HTTPS; both NULL: plain HTTP */
        const char *tls_key_pem;         /* PEM, PKCS#1/PKCS#8/SEC1, unencrypted */
        const char *client_ca_pem;       /* with TLS: ask clients for a certificate, verified against these CAs */
        unsigned max_connections;        /* 0 = 256 */
        unsigned connection_timeout_sec; /* idle connections are closed; 0 = 60 (streams waiting for data are exempt) */
        size_t max_request_body;         /* 0 = 64 KiB */
        size_t max_stream_buffer;        /* unsent bytes per stream before http_stream_write() refuses; 0 = 1 MiB */
} HttpServerConfig;

/* Returns what http_respond*() returned, or a negative errno without responding: the client then gets a 500. */
typedef int (*http_handler_t)(HttpRequest *req, void *userdata);

/* Binds and listens (errors name the address: "bind [::]:10250: Address already in use") and starts serving on e.
 * The PEM strings are copied. -EOPNOTSUPP when TLS is asked for and libmicrohttpd has no TLS support. */
int http_server_new(sd_event *e, const HttpServerConfig *c, HttpServer **ret, ErrorBuf *err);
/* Closes every connection; producers of streams still running get HTTP_STREAM_CLOSED from inside this call. */
HttpServer *http_server_free(HttpServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpServer *, http_server_free)
uint16_t http_server_port(HttpServer *s);
/* Replaces the TLS certificate and key (PEM, copied) for every handshake from now on; connections already set up
 * keep theirs. For a serving certificate renewed while the server runs. -EINVAL (err) for a server without TLS or
 * PEM data that does not load. */
int http_server_set_certificate(HttpServer *s, const char *cert_pem, const char *key_pem, ErrorBuf *err);
unsigned http_server_n_connections(HttpServer *s);

/* method: NULL = any. path starts with '/'. Adding the same method and path twice is -EEXIST. */
int http_server_add_route(HttpServer *s, const char *method, const char *path, http_handler_t handler, void *userdata);

/* ---- inside a handler ---- */

const char *http_request_method(const HttpRequest *r);
/* The path as requested, percent-decoded by MHD, without the query. */
const char *http_request_path(const HttpRequest *r);
/* The part of the path below a subtree route ("ns/pod/c" for "/containerLogs/ns/pod/c"); "" for exact routes. */
const char *http_request_path_rest(const HttpRequest *r);
/* The first value of a query argument (decoded), "" when given without a value ("?follow"), NULL when absent. */
const char *http_request_query(const HttpRequest *r, const char *key);
/* A request header (case-insensitive name), NULL when absent. */
const char *http_request_header(const HttpRequest *r, const char *name);
/* The request body (NUL-terminated for convenience), NULL when there was none. */
const char *http_request_body(const HttpRequest *r, size_t *ret_size);
/* Every value of a query argument / a request header (case-insensitive name), in request order (kubectl sends
 * command=…&command=… and X-Stream-Protocol-Version several times); *ret is an empty strv when absent. */
int http_request_query_strv(const HttpRequest *r, const char *key, char ***ret);
int http_request_header_strv(const HttpRequest *r, const char *name, char ***ret);
/* Adds a header to the response still to be sent (copied). */
int http_request_add_header(HttpRequest *r, const char *name, const char *value);

/* Answers with body[0..size) (the server takes body over, also on failure; NULL = empty). content_type may be NULL.
 * One response per request: -EALREADY for a second one. */
int http_respond(HttpRequest *r, unsigned status, const char *content_type, char *body, size_t size);
/* Answers with a copy of text, "text/plain; charset=utf-8". */
int http_respond_text(HttpRequest *r, unsigned status, const char *text);

typedef enum HttpStreamEvent {
        /* The client went away or the server is being freed: stop producing. The stream is gone after the callback
         * returns; do not touch it again. Only sent while the producer is attached (before end/abort). */
        HTTP_STREAM_CLOSED,
        /* Everything buffered was handed to the connection after a write had been refused with -ENOBUFS. */
        HTTP_STREAM_DRAINED,
} HttpStreamEvent;
typedef void (*http_stream_event_t)(HttpStream *st, HttpStreamEvent ev, void *userdata);

/* Sends the status and headers, then a body of unknown length (chunked on HTTP/1.1) fed with http_stream_write().
 * *ret is valid until the producer calls http_stream_end()/http_stream_abort() or gets HTTP_STREAM_CLOSED. Events
 * are delivered from the loop, never from inside http_stream_*() calls. */
int http_respond_stream(HttpRequest *r, unsigned status, const char *content_type, http_stream_event_t cb,
                        void *userdata, HttpStream **ret);
/* Queues a copy of data. -ENOBUFS when it would exceed max_stream_buffer (nothing queued; HTTP_STREAM_DRAINED
 * follows), -EPIPE when the client is already gone (HTTP_STREAM_CLOSED follows). */
int http_stream_write(HttpStream *st, const void *data, size_t size);
size_t http_stream_buffered(HttpStream *st);
/* Ends the body after what is buffered. The producer lets go of st: no more events. */
void http_stream_end(HttpStream *st);
/* Closes the connection without ending the body properly, so the client sees an incomplete response (a failed log
 * read must not look like a complete log). The producer lets go of st: no more events. */
void http_stream_abort(HttpStream *st);

/* ---- protocol upgrades (WebSocket, SPDY/3.1) ----
 * http_respond_upgrade() answers 101 Switching Protocols with "Upgrade: <protocol>" and "Connection: Upgrade" plus
 * the headers added with http_request_add_header(). Once MHD has sent it, on_upgrade() runs on the loop with the
 * connection's byte stream: a socket to read and write without blocking (MSG_DONTWAIT). With TLS it is one end of
 * a socketpair through which MHD encrypts and forwards. extra[0..extra_size) are bytes the client sent after the
 * request head, to be treated as read first. The fd must not be closed: the owner ends the connection with
 * http_upgrade_close(). If the server is freed first, on_abort() runs (from http_server_free()): stop using the fd
 * and drop u without calling http_upgrade_close(); it also runs for an upgrade MHD never handed over (the client
 * left before the 101 was sent), so that userdata can be freed there. */
typedef struct HttpUpgrade HttpUpgrade;
typedef void (*http_upgrade_fn_t)(HttpUpgrade *u, int fd, const void *extra, size_t extra_size, void *userdata);
typedef void (*http_upgrade_abort_fn_t)(HttpUpgrade *u, void *userdata);
int http_respond_upgrade(HttpRequest *r, const char *protocol, http_upgrade_fn_t on_upgrade,
                         http_upgrade_abort_fn_t on_abort, void *userdata);
/* Closes the upgraded connection (after MHD forwarded what was written); u is gone afterwards. NULL-safe. */
void http_upgrade_close(HttpUpgrade *u);

/* ---- authentication: client certificates, a filter before routing, suspended requests ---- */

/* The client certificate's identity, when HttpServerConfig.client_ca_pem is set and the client presented a
 * certificate that verifies against it (chain, validity period, and the TLS client key usage when the certificate
 * restricts it), like Go's x509 verification for the apiserver's x509 authenticator: *ret_cn is the subject's
 * CommonName, *ret_orgs its Organization values (NULL-terminated, maybe empty); the caller owns both. -ENOENT when
 * the client sent no certificate or the server asks for none, -EACCES when it does not verify (logged at debug). */
int http_request_peer_identity(const HttpRequest *r, char **ret_cn, char ***ret_orgs);

/* A filter sees every request before routing (404/405 included), e.g. authentication and authorization. It returns
 * HTTP_FILTER_PASS to route the request now; 0 after answering it (http_respond*()) or suspending it
 * (http_request_suspend()); a negative errno for a 500. */
#define HTTP_FILTER_PASS 1
typedef int (*http_filter_t)(HttpRequest *req, void *userdata);
/* NULL removes it. */
void http_server_set_filter(HttpServer *s, http_filter_t filter, void *userdata);

/* Parks a request (from a filter or a handler) while an answer is worked out on the loop: MHD leaves the connection
 * alone (no timeout) until http_request_resume(). r stays valid until then. cancel (may be NULL) runs when the server
 * is freed while r is parked: the owner must forget r (it is gone after the callback) and not resume it. */
typedef void (*http_request_cancel_t)(HttpRequest *req, void *userdata);
int http_request_suspend(HttpRequest *r, http_request_cancel_t cancel, void *userdata);
/* Continues a parked request; the caller lets go of r. When it was answered while parked (http_respond*() work on a
 * parked request), that answer is sent; otherwise a request parked by the filter goes on to routing (the filter is
 * not asked again) and one parked by a handler gets a 500. */
void http_request_resume(HttpRequest *r);
