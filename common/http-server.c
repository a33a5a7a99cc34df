/* SPDX-License-Identifier: Apache-2.0 */
#include "common/http-server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/event-util.h"
#include "common/log.h"

#define DEFAULT_MAX_CONNECTIONS 256U
#define DEFAULT_CONNECTION_TIMEOUT_SEC 60U
#define DEFAULT_MAX_REQUEST_BODY (64U * 1024)
#define DEFAULT_MAX_STREAM_BUFFER (1024U * 1024)
#define STREAM_BLOCK_SIZE (16U * 1024)
#define MAX_RESPONSE_HEADERS 16

typedef struct Route {
        char *method; /* NULL = any */
        char *path;
        bool subtree; /* path ends in '/' */
        http_handler_t handler;
        void *userdata;
} Route;

struct HttpServer {
        sd_event *event;
        struct MHD_Daemon *daemon;
        sd_event_source *io, *timer;
        uint16_t port;
        size_t max_request_body, max_stream_buffer;
        char *tls_cert, *tls_key; /* MHD reads them at start; kept for the daemon's lifetime anyway */
        Route *routes;
        size_t n_routes;
        HttpStream *streams; /* every stream whose response MHD still holds, or whose producer is attached */
        bool freeing;        /* http_server_free() runs: it frees the streams itself */
        bool wake;           /* MHD_run() is wanted on the next iteration, whatever MHD_get_timeout() says */
};

/* Per request (MHD's con_cls): from the first handler call to MHD's completion notification. */
struct HttpRequest {
        HttpServer *server;
        struct MHD_Connection *conn;
        const char *method, *url;
        const char *rest;
        char *body;
        size_t body_size;
        bool body_too_large;
        bool responded;
        char *headers[MAX_RESPONSE_HEADERS][2];
        size_t n_headers;
};

struct HttpStream {
        HttpServer *server;
        struct MHD_Connection *conn; /* NULL once MHD released the response */
        char *buf;                   /* unsent bytes are buf[start..end) */
        size_t start, end, alloc;
        bool response_alive;    /* MHD holds the response (and calls stream_read()) */
        bool producer_attached; /* until end/abort/CLOSED */
        bool ended, aborted, client_gone, suspended;
        bool want_drained, drained_pending, closed_pending;
        http_stream_event_t cb;
        void *userdata;
        sd_event_source *hup;   /* the client's socket, watched while MHD has the connection suspended */
        sd_event_source *defer; /* delivers events outside MHD's callbacks and the producer's calls */
        HttpStream *prev, *next;
};

/* MHD creates no wake-up eventfd when it has no internal thread, so whoever resumes a connection has to make sure
 * MHD_run() comes soon: a time source in the past fires on the next loop iteration (never recursing into MHD from
 * inside one of its callbacks). */
static void server_wake(HttpServer *s) {
        s->wake = true;
        if (sd_event_source_set_time(s->timer, 1) < 0 || sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT) < 0)
                log_debug("Failed to wake the HTTP server");
}

/* ---- streams ---- */

static void stream_unlink_free(HttpStream *st) {
        HttpServer *s = st->server;
        if (st->prev)
                st->prev->next = st->next;
        else if (s->streams == st)
                s->streams = st->next;
        if (st->next)
                st->next->prev = st->prev;
        sd_event_source_disable_unref(st->hup);
        sd_event_source_disable_unref(st->defer);
        free(st->buf);
        free(st);
}

static void stream_schedule(HttpStream *st) {
        (void) sd_event_source_set_enabled(st->defer, SD_EVENT_ONESHOT);
}

static void stream_resume(HttpStream *st) {
        st->hup = sd_event_source_disable_unref(st->hup);
        if (!st->suspended)
                return;
        st->suspended = false;
        MHD_resume_connection(st->conn);
        server_wake(st->server);
}

static int on_stream_hup(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        HttpStream *st = userdata;
        /* MHD does not watch suspended connections, so this is how a client that left while the producer had
         * nothing to say is noticed. Resuming lets stream_read() fail the response; MHD then closes the connection
         * and releases the response, which tells the producer (stream_response_freed()). */
        st->client_gone = true;
        stream_resume(st);
        return 0;
}

static void stream_suspend(HttpStream *st) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        MHD_suspend_connection(st->conn);
        st->suspended = true;
        if (ci && sd_event_add_io(st->server->event, &st->hup, ci->connect_fd, EPOLLRDHUP, on_stream_hup, st) >= 0)
                (void) sd_event_source_set_description(st->hup, "http-stream-hup");
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        HttpStream *st = cls;
        size_t n = st->end - st->start;

        if (st->aborted || st->client_gone)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        if (n > 0) {
                n = MIN(n, max);
                memcpy(buf, st->buf + st->start, n);
                st->start += n;
                if (st->start == st->end) {
                        st->start = st->end = 0;
                        if (st->want_drained && st->producer_attached) {
                                st->want_drained = false;
                                st->drained_pending = true;
                                stream_schedule(st);
                        }
                }
                return (ssize_t) n;
        }
        if (st->ended)
                return MHD_CONTENT_READER_END_OF_STREAM;
        /* Nothing to send yet: returning 0 alone would make MHD call again at once (busy loop). */
        stream_suspend(st);
        return 0;
}

static void stream_response_freed(void *cls) {
        HttpStream *st = cls;

        st->response_alive = false;
        st->conn = NULL;
        st->suspended = false;
        st->hup = sd_event_source_disable_unref(st->hup);
        if (!st->producer_attached) {
                stream_unlink_free(st);
                return;
        }
        /* MHD let go before the producer ended: the client went away (or the connection failed or timed out). */
        st->client_gone = true;
        st->closed_pending = true;
        stream_schedule(st);
}

static int on_stream_event(sd_event_source *src, void *userdata) {
        HttpStream *st = userdata;

        if (st->closed_pending) {
                st->closed_pending = st->drained_pending = false;
                if (st->producer_attached) {
                        st->producer_attached = false;
                        st->cb(st, HTTP_STREAM_CLOSED, st->userdata);
                }
                if (!st->response_alive)
                        stream_unlink_free(st);
                return 0;
        }
        if (st->drained_pending) {
                st->drained_pending = false;
                if (st->producer_attached)
                        st->cb(st, HTTP_STREAM_DRAINED, st->userdata);
        }
        return 0;
}

int http_stream_write(HttpStream *st, const void *data, size_t size) {
        size_t n = st->end - st->start;

        if (st->client_gone || !st->response_alive)
                return -EPIPE;
        if (size == 0)
                return 0;
        if (n + size > st->server->max_stream_buffer) {
                st->want_drained = true;
                return -ENOBUFS;
        }
        if (st->start > 0) { /* compact before growing */
                memmove(st->buf, st->buf + st->start, n);
                st->start = 0;
                st->end = n;
        }
        if (n + size > st->alloc) {
                size_t a = MAX(n + size, MAX(st->alloc * 2, (size_t) 4096));
                char *b = realloc(st->buf, a);
                RET_NULL_ENOMEM(b);
                st->buf = b;
                st->alloc = a;
        }
        memcpy(st->buf + st->end, data, size);
        st->end += size;
        stream_resume(st);
        return 0;
}

size_t http_stream_buffered(HttpStream *st) {
        return st->end - st->start;
}

static void stream_detach(HttpStream *st) {
        st->producer_attached = false;
        st->drained_pending = false;
        if (st->closed_pending || st->server->freeing)
                return; /* on_stream_event() frees it */
        if (!st->response_alive) {
                stream_unlink_free(st);
                return;
        }
        stream_resume(st);
}

void http_stream_end(HttpStream *st) {
        if (!st)
                return;
        st->ended = true;
        stream_detach(st);
}

void http_stream_abort(HttpStream *st) {
        if (!st)
                return;
        st->aborted = true;
        stream_detach(st);
}

/* ---- requests ---- */

const char *http_request_method(const HttpRequest *r) {
        return r->method;
}

const char *http_request_path(const HttpRequest *r) {
        return r->url;
}

const char *http_request_path_rest(const HttpRequest *r) {
        return r->rest ?: "";
}

const char *http_request_query(const HttpRequest *r, const char *key) {
        const char *value = NULL;
        size_t len = 0;

        if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &value, &len) != MHD_YES)
                return NULL;
        return value ?: "";
}

const char *http_request_header(const HttpRequest *r, const char *name) {
        return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_request_body(const HttpRequest *r, size_t *ret_size) {
        if (ret_size)
                *ret_size = r->body_size;
        return r->body;
}

int http_request_add_header(HttpRequest *r, const char *name, const char *value) {
        char *n, *v;

        if (r->n_headers >= MAX_RESPONSE_HEADERS)
                return -E2BIG;
        n = strdup(name);
        v = strdup(value);
        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        r->headers[r->n_headers][0] = n;
        r->headers[r->n_headers][1] = v;
        r->n_headers++;
        return 0;
}

static void request_free(HttpRequest *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_headers; i++) {
                free(r->headers[i][0]);
                free(r->headers[i][1]);
        }
        free(r->body);
        free(r);
}

/* Adds the headers and queues the response; the response reference is dropped either way. */
static int request_queue(HttpRequest *r, unsigned status, const char *content_type, struct MHD_Response *resp) {
        enum MHD_Result q;

        if (content_type && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES)
                goto fail;
        for (size_t i = 0; i < r->n_headers; i++)
                if (MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]) != MHD_YES)
                        goto fail;
        q = MHD_queue_response(r->conn, status, resp);
        MHD_destroy_response(resp);
        if (q != MHD_YES)
                return -EIO;
        r->responded = true;
        return 0;
fail:
        MHD_destroy_response(resp);
        return -EINVAL;
}

int http_respond(HttpRequest *r, unsigned status, const char *content_type, char *body, size_t size) {
        struct MHD_Response *resp;

        if (r->responded) {
                free(body);
                return -EALREADY;
        }
        if (body)
                resp = MHD_create_response_from_buffer_with_free_callback(size, body, free);
        else
                resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(body);
                return -ENOMEM;
        }
        return request_queue(r, status, content_type, resp);
}

int http_respond_text(HttpRequest *r, unsigned status, const char *text) {
        char *copy = strdup(text);
        RET_NULL_ENOMEM(copy);
        return http_respond(r, status, "text/plain; charset=utf-8", copy, strlen(copy));
}

int http_respond_stream(HttpRequest *r, unsigned status, const char *content_type, http_stream_event_t cb,
                        void *userdata, HttpStream **ret) {
        HttpServer *s = r->server;
        struct MHD_Response *resp;
        HttpStream *st;
        int q;

        if (r->responded)
                return -EALREADY;
        st = calloc(1, sizeof *st);
        RET_NULL_ENOMEM(st);
        *st = (HttpStream){.server = s, .conn = r->conn, .cb = cb, .userdata = userdata};
        if (sd_event_add_defer(s->event, &st->defer, on_stream_event, st) < 0) {
                free(st);
                return -ENOMEM;
        }
        (void) sd_event_source_set_enabled(st->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(st->defer, "http-stream");
        st->next = s->streams;
        if (s->streams)
                s->streams->prev = st;
        s->streams = st;

        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_SIZE, stream_read, st,
                                                 stream_response_freed);
        if (!resp) {
                stream_unlink_free(st);
                return -ENOMEM;
        }
        st->response_alive = true;
        q = request_queue(r, status, content_type, resp);
        if (q < 0) {
                /* request_queue() dropped the response: stream_response_freed() ran and, with no producer yet,
                 * freed the stream. */
                return q;
        }
        st->producer_attached = true;
        *ret = st;
        return 0;
}

/* ---- routing ---- */

static bool method_matches(const Route *rt, const char *method) {
        if (!rt->method)
                return true;
        if (streq(rt->method, method))
                return true;
        return streq(rt->method, MHD_HTTP_METHOD_GET) && streq(method, MHD_HTTP_METHOD_HEAD);
}

/* The most specific path: an exact route, else the longest subtree route. */
static const char *route_best_path(HttpServer *s, const char *url, bool *ret_subtree) {
        const char *best = NULL;
        bool best_subtree = false;

        for (size_t i = 0; i < s->n_routes; i++) {
                const Route *rt = &s->routes[i];
                if (!rt->subtree) {
                        if (streq(rt->path, url)) {
                                *ret_subtree = false;
                                return rt->path;
                        }
                        continue;
                }
                if (startswith(url, rt->path) && (!best || strlen(rt->path) > strlen(best))) {
                        best = rt->path;
                        best_subtree = true;
                }
        }
        *ret_subtree = best_subtree;
        return best;
}

static int respond_not_allowed(HttpServer *s, HttpRequest *r, const char *path, bool subtree) {
        char allow[256] = "";
        size_t len = 0;

        for (size_t i = 0; i < s->n_routes; i++) {
                const Route *rt = &s->routes[i];
                if (rt->subtree != subtree || !streq(rt->path, path) || !rt->method)
                        continue;
                int n = snprintf(allow + len, sizeof allow - len, "%s%s", len ? ", " : "", rt->method);
                if (n < 0 || (size_t) n >= sizeof allow - len)
                        break;
                len += (size_t) n;
        }
        (void) http_request_add_header(r, MHD_HTTP_HEADER_ALLOW, allow);
        return http_respond_text(r, MHD_HTTP_METHOD_NOT_ALLOWED, "405 method not allowed\n");
}

static int dispatch(HttpServer *s, HttpRequest *r) {
        const char *path;
        bool subtree;
        int ret;

        if (r->body_too_large)
                return http_respond_text(r, MHD_HTTP_CONTENT_TOO_LARGE, "413 request body too large\n");
        path = route_best_path(s, r->url, &subtree);
        if (!path)
                return http_respond_text(r, MHD_HTTP_NOT_FOUND, "404 page not found\n");
        for (size_t i = 0; i < s->n_routes; i++) {
                const Route *rt = &s->routes[i];
                if (rt->subtree != subtree || !streq(rt->path, path) || !method_matches(rt, r->method))
                        continue;
                r->rest = subtree ? r->url + strlen(path) : "";
                ret = rt->handler(r, rt->userdata);
                if (r->responded)
                        return 0;
                if (ret >= 0)
                        log_debug("HTTP handler for %s %s returned without a response", r->method, r->url);
                else
                        log_debug_errno(ret, "HTTP handler for %s %s failed: %m", r->method, r->url);
                return http_respond_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "500 internal server error\n");
        }
        return respond_not_allowed(s, r, path, subtree);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        HttpServer *s = cls;
        HttpRequest *r = *con_cls;

        if (!r) {
                const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                r = calloc(1, sizeof *r);
                if (!r)
                        return MHD_NO; /* closes the connection */
                *r = (HttpRequest){.server = s, .conn = conn, .method = method, .url = url};
                *con_cls = r;
                /* Refuse a body announced too large before reading it. */
                if (cl && strtoull(cl, NULL, 10) > s->max_request_body) {
                        r->body_too_large = true;
                        return dispatch(s, r) < 0 ? MHD_NO : MHD_YES;
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                if (r->body_too_large || r->responded)
                        return MHD_YES;
                if (r->body_size + n > s->max_request_body) {
                        r->body_too_large = true;
                        free(r->body);
                        r->body = NULL;
                        r->body_size = 0;
                        return MHD_YES;
                }
                char *b = realloc(r->body, r->body_size + n + 1);
                if (!b)
                        return MHD_NO;
                memcpy(b + r->body_size, upload_data, n);
                r->body = b;
                r->body_size += n;
                r->body[r->body_size] = 0;
                return MHD_YES;
        }
        if (r->responded)
                return MHD_YES;
        return dispatch(s, r) < 0 ? MHD_NO : MHD_YES;
}

/* MHD takes its listen socket out of its epoll set while at max_connections and puts it back at the start of the
 * next MHD_run(); with nothing else pending that run might never come, so every closed connection asks for one. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
        if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
                server_wake(cls);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        request_free(*con_cls);
        *con_cls = NULL;
}

/* ---- loop integration ---- */

static void server_rearm(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG ms = 0;

        if (s->wake) {
                server_wake(s);
                return;
        }
        if (MHD_get_timeout(s->daemon, &ms) != MHD_YES) {
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        /* 0 ("call again now": MHD has connections with work left) becomes a time source in the past, which fires
         * on the next iteration after other sources had their turn. */
        if (sd_event_source_set_time(s->timer, event_now_plus(s->event, (uint64_t) ms * USEC_PER_MSEC)) < 0 ||
            sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT) < 0)
                log_debug("Failed to arm the HTTP server timer");
}

static void server_run(HttpServer *s) {
        s->wake = false;
        (void) MHD_run(s->daemon);
        server_rearm(s);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        server_run(userdata);
        return 0;
}

_printf_(2, 0) static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        (void) log_internalv(LOG_LEVEL_DEBUG, 0, __FILE__, __LINE__, __func__, fmt, ap);
}

static int listen_socket(const char *address, uint16_t port, int *ret_fd, uint16_t *ret_port, ErrorBuf *err) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } sa = {};
        socklen_t salen;
        _cleanup_close_ int fd = -EBADF;
        char shown[INET6_ADDRSTRLEN + 2];
        int one = 1, zero = 0;

        if (!address || inet_pton(AF_INET6, address, &sa.in6.sin6_addr) == 1) {
                sa.in6.sin6_family = AF_INET6;
                sa.in6.sin6_port = htons(port);
                salen = sizeof sa.in6;
                fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0 && errno == EAFNOSUPPORT && !address) {
                        /* No IPv6 on this host: every address means every IPv4 address. */
                        sa.in = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
                        salen = sizeof sa.in;
                        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                } else if (fd >= 0 && !address)
                        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        } else if (inet_pton(AF_INET, address, &sa.in.sin_addr) == 1) {
                sa.in.sin_family = AF_INET;
                sa.in.sin_port = htons(port);
                salen = sizeof sa.in;
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        } else
                return error_set(err, -EINVAL, "bind address \"%s\": not an IP address", address);

        if (address && strchr(address, ':'))
                (void) snprintf(shown, sizeof shown, "[%s]", address);
        else
                (void) snprintf(shown, sizeof shown, "%s", address ?: "[::]");
        if (fd < 0)
                return error_set(err, -errno, "socket for %s:%u: %s", shown, port, strerror(errno));
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, &sa.sa, salen) < 0)
                return error_set(err, -errno, "bind %s:%u: %s", shown, port, strerror(errno));
        if (listen(fd, SOMAXCONN) < 0)
                return error_set(err, -errno, "listen on %s:%u: %s", shown, port, strerror(errno));
        salen = sizeof sa;
        if (getsockname(fd, &sa.sa, &salen) < 0)
                return error_set(err, -errno, "getsockname for %s:%u: %s", shown, port, strerror(errno));
        *ret_port = ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port : sa.in.sin_port);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int http_server_new(sd_event *e, const HttpServerConfig *c, HttpServer **ret, ErrorBuf *err) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        bool tls = c->tls_cert_pem || c->tls_key_pem;
        int r;

        if (tls && (!c->tls_cert_pem || !c->tls_key_pem))
                return error_set(err, -EINVAL, "TLS needs both a certificate and a key");
        if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                return error_set(err, -EOPNOTSUPP, "libmicrohttpd was built without TLS support");
        if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES)
                return error_set(err, -EOPNOTSUPP, "libmicrohttpd was built without epoll support");

        s = calloc(1, sizeof *s);
        RET_NULL_ENOMEM(s);
        s->event = sd_event_ref(e);
        s->max_request_body = c->max_request_body ?: DEFAULT_MAX_REQUEST_BODY;
        s->max_stream_buffer = c->max_stream_buffer ?: DEFAULT_MAX_STREAM_BUFFER;
        if (tls) {
                s->tls_cert = strdup(c->tls_cert_pem);
                s->tls_key = strdup(c->tls_key_pem);
                if (!s->tls_cert || !s->tls_key)
                        return -ENOMEM;
                flags |= MHD_USE_TLS;
        }

        r = listen_socket(c->bind_address, c->port, &fd, &s->port, err);
        if (r < 0)
                return r;

        struct MHD_OptionItem opts[] = {
                /* First, so that MHD's own complaints about later options go through it too. */
                {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) on_mhd_log, NULL},
                {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
                {MHD_OPTION_CONNECTION_LIMIT, c->max_connections ?: DEFAULT_MAX_CONNECTIONS, NULL},
                {MHD_OPTION_CONNECTION_TIMEOUT, c->connection_timeout_sec ?: DEFAULT_CONNECTION_TIMEOUT_SEC, NULL},
                {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
                {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, NULL},
                {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) on_connection, s},
                {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key},
                {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
                {MHD_OPTION_END, 0, NULL},
        };
        s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!s->daemon)
                return error_set(err, -EIO, "starting the HTTP server on port %u failed%s", s->port,
                                 tls ? " (bad TLS certificate or key?)" : "");
        TAKE_FD(fd); /* MHD closes it when it stops */

        info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info)
                return error_set(err, -EIO, "libmicrohttpd has no epoll fd");
        r = sd_event_add_io(e, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->io, "http-server-io");
        r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_timer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->timer, "http-server-timer");
        server_rearm(s);
        *ret = TAKE_PTR(s);
        return 0;
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        s->freeing = true;
        /* Producers stop first, then every suspended connection is resumed (MHD refuses to stop with suspended
         * connections) so that MHD_stop_daemon() closes it and releases its response. */
        for (HttpStream *st = s->streams, *next; st; st = next) {
                next = st->next;
                st->client_gone = true;
                st->closed_pending = st->drained_pending = false;
                if (st->producer_attached) {
                        st->producer_attached = false;
                        st->cb(st, HTTP_STREAM_CLOSED, st->userdata);
                }
        }
        for (HttpStream *st = s->streams, *next; st; st = next) {
                next = st->next;
                if (st->response_alive)
                        stream_resume(st);
                else
                        stream_unlink_free(st);
        }
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        while (s->streams) /* responses MHD never released (it should have) */
                stream_unlink_free(s->streams);
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        for (size_t i = 0; i < s->n_routes; i++) {
                free(s->routes[i].method);
                free(s->routes[i].path);
        }
        free(s->routes);
        free(s->tls_cert);
        free(s->tls_key);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

uint16_t http_server_port(HttpServer *s) {
        return s->port;
}

unsigned http_server_n_connections(HttpServer *s) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        return info ? info->num_connections : 0;
}

int http_server_add_route(HttpServer *s, const char *method, const char *path, http_handler_t handler, void *userdata) {
        Route *l;
        char *m = NULL, *p;

        if (isempty(path) || path[0] != '/' || !handler)
                return -EINVAL;
        for (size_t i = 0; i < s->n_routes; i++)
                if (streq(s->routes[i].path, path) && streq_ptr(s->routes[i].method, method))
                        return -EEXIST;
        l = realloc(s->routes, (s->n_routes + 1) * sizeof *l);
        RET_NULL_ENOMEM(l);
        s->routes = l;
        p = strdup(path);
        if (method)
                m = strdup(method);
        if (!p || (method && !m)) {
                free(p);
                free(m);
                return -ENOMEM;
        }
        s->routes[s->n_routes++] = (Route){
                .method = m,
                .path = p,
                .subtree = endswith(path, "/"),
                .handler = handler,
                .userdata = userdata,
        };
        return 0;
}
