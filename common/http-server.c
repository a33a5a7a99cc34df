/* SPDX-License-Identifier: Apache-2.0 */
#include "common/http-server.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/event-util.h"
#include "common/http-tls.h"
#include "common/log.h"

#define DEFAULT_MAX_CONNECTIONS 256U
#define DEFAULT_CONNECTION_TIMEOUT_SEC 60U
#define DEFAULT_MAX_REQUEST_BODY (64U * 1024)
#define DEFAULT_MAX_STREAM_BUFFER (1024U * 1024)
#define STREAM_BLOCK_SIZE (16U * 1024)
#define MAX_RESPONSE_HEADERS 16
#define UPGRADE_CLOSE_POLL_MSEC 10U
#define UPGRADE_CLOSE_MAX_USEC (20 * USEC_PER_SEC)
#define UPGRADE_DRAIN_MAX_USEC (15 * USEC_PER_SEC)

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
        char *client_ca;          /* PEM: client certificates are asked for and verified against it */
        struct TlsCert *cert;     /* what handshakes get now (http_server_set_certificate()) */
        struct TlsCert **retired; /* earlier ones: sessions set up with them may still refer to them */
        size_t n_retired;
        gnutls_certificate_credentials_t tls_cred; /* with TLS: the handshakes' credentials (certificate callback) */
        HttpTls *tls_front;                        /* with TLS: accepts the clients, MHD sees plaintext */
        http_filter_t filter;                      /* runs before routing */
        void *filter_userdata;
        HttpRequest *parked; /* requests suspended by http_request_suspend() */
        Route *routes;
        size_t n_routes;
        HttpStream *streams;   /* every stream whose response MHD still holds, or whose producer is attached */
        HttpUpgrade *upgrades; /* upgraded connections not closed yet */
        bool freeing;          /* http_server_free() runs: it frees the streams itself */
        bool wake;             /* MHD_run() is wanted on the next iteration, whatever MHD_get_timeout() says */
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
        /* http_request_suspend(): parked by the filter (it passes the request when resumed) or by a handler */
        bool parked, in_filter, parked_by_filter, filter_passed, handler_abandoned;
        http_request_cancel_t cancel;
        void *cancel_userdata;
        HttpRequest *park_prev, *park_next;
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

typedef struct ValuesCollect {
        const char *key;
        bool case_insensitive;
        char **l;
        size_t n;
        bool oom;
} ValuesCollect;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        ValuesCollect *c = cls;
        if (!key || !(c->case_insensitive ? strcasecmp(key, c->key) == 0 : streq(key, c->key)))
                return MHD_YES;
        char **l = realloc(c->l, (c->n + 2) * sizeof(char *));
        if (!l) {
                c->oom = true;
                return MHD_NO;
        }
        c->l = l;
        if (!(l[c->n] = strdup(value ?: ""))) {
                c->oom = true;
                return MHD_NO;
        }
        l[++c->n] = NULL;
        return MHD_YES;
}

static int request_values(const HttpRequest *r, enum MHD_ValueKind kind, const char *key, bool ci, char ***ret) {
        ValuesCollect c = {.key = key, .case_insensitive = ci};
        (void) MHD_get_connection_values(r->conn, kind, collect_value, &c);
        if (!c.oom && !c.l)
                c.oom = !(c.l = calloc(1, sizeof(char *)));
        if (c.oom) {
                strv_free(c.l);
                return -ENOMEM;
        }
        *ret = c.l;
        return 0;
}

int http_request_query_strv(const HttpRequest *r, const char *key, char ***ret) {
        return request_values(r, MHD_GET_ARGUMENT_KIND, key, false, ret);
}

int http_request_header_strv(const HttpRequest *r, const char *name, char ***ret) {
        return request_values(r, MHD_HEADER_KIND, name, true, ret);
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

static void park_unlink(HttpRequest *r);

static void request_free(HttpRequest *r) {
        if (!r)
                return;
        if (r->parked) /* not expected: MHD does not complete suspended connections */
                park_unlink(r);
        for (size_t i = 0; i < r->n_headers; i++) {
                free(r->headers[i][0]);
                free(r->headers[i][1]);
        }
        free(r->body);
        free(r);
}

/* ---- authentication: client certificates, the filter, parked requests ---- */

static void park_unlink(HttpRequest *r) {
        if (r->park_prev)
                r->park_prev->park_next = r->park_next;
        else if (r->server->parked == r)
                r->server->parked = r->park_next;
        if (r->park_next)
                r->park_next->park_prev = r->park_prev;
        r->park_prev = r->park_next = NULL;
        r->parked = false;
}

int http_request_suspend(HttpRequest *r, http_request_cancel_t cancel, void *userdata) {
        HttpServer *s = r->server;

        if (r->parked)
                return -EALREADY;
        MHD_suspend_connection(r->conn);
        r->parked = true;
        r->parked_by_filter = r->in_filter;
        r->cancel = cancel;
        r->cancel_userdata = userdata;
        r->park_next = s->parked;
        if (s->parked)
                s->parked->park_prev = r;
        s->parked = r;
        return 0;
}

void http_request_resume(HttpRequest *r) {
        if (!r || !r->parked)
                return;
        park_unlink(r);
        if (!r->responded) {
                if (r->parked_by_filter)
                        r->filter_passed = true;
                else
                        r->handler_abandoned = true;
        }
        /* MHD calls on_request() again for the resumed connection: it sends what was queued, or routes. */
        MHD_resume_connection(r->conn);
        server_wake(r->server);
}

/* MHD refuses to stop with suspended connections: their owners forget them, then MHD closes them. */
static void server_cancel_parked(HttpServer *s) {
        while (s->parked) {
                HttpRequest *r = s->parked;
                http_request_cancel_t cancel = r->cancel;
                void *userdata = r->cancel_userdata;

                park_unlink(r);
                r->handler_abandoned = true;
                r->filter_passed = true;
                if (cancel)
                        cancel(r, userdata);
                MHD_resume_connection(r->conn);
        }
}

void http_server_set_filter(HttpServer *s, http_filter_t filter, void *userdata) {
        s->filter = filter;
        s->filter_userdata = userdata;
}

static int crt_dn_values(gnutls_x509_crt_t crt, const char *oid, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        for (unsigned i = 0;; i++) {
                char buf[1024];
                size_t size = sizeof buf;
                int k = gnutls_x509_crt_get_dn_by_oid(crt, oid, i, 0, buf, &size);
                if (k == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (k < 0)
                        return -EBADMSG; /* too long or undecodable: not an identity to trust */
                char **nl = realloc(l, (n + 2) * sizeof *nl);
                RET_NULL_ENOMEM(nl);
                l = nl;
                l[n] = strndup(buf, size);
                RET_NULL_ENOMEM(l[n]);
                l[++n] = NULL;
        }
        if (!l) {
                l = calloc(1, sizeof *l);
                RET_NULL_ENOMEM(l);
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int http_request_peer_identity(const HttpRequest *r, char **ret_cn, char ***ret_orgs) {
        const union MHD_ConnectionInfo *ci;
        gnutls_session_t session;
        const gnutls_datum_t *peers;
        gnutls_x509_crt_t crt = NULL;
        _cleanup_strv_free_ char **cns = NULL, **orgs = NULL;
        unsigned n = 0, status = 0;
        /* Like Go's x509 verification for client certificates: the chain must allow TLS client authentication. */
        gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                         .data = (unsigned char *) GNUTLS_KP_TLS_WWW_CLIENT};
        int k, ret;

        if (!r->server->client_ca)
                return -ENOENT;
        /* TLS is terminated by common/http-tls.c: MHD's connection is the plain end of its socketpair. */
        ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        session = ci ? http_tls_session(r->server->tls_front, ci->connect_fd) : NULL;
        if (!session)
                return -ENOENT;
        peers = gnutls_certificate_get_peers(session, &n);
        if (!peers || n == 0)
                return -ENOENT;
        k = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
        if (k < 0 || status != 0) {
                gnutls_datum_t why = {};
                if (k >= 0 && gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) ==
                                      GNUTLS_E_SUCCESS) {
                        log_debug("Client certificate rejected: %s", why.data);
                        gnutls_free(why.data);
                } else
                        log_debug("Client certificate rejected: %s", gnutls_strerror(k));
                return -EACCES;
        }
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0)
                ret = -EACCES;
        else
                ret = crt_dn_values(crt, GNUTLS_OID_X520_COMMON_NAME, &cns);
        if (ret >= 0)
                ret = crt_dn_values(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, &orgs);
        gnutls_x509_crt_deinit(crt);
        if (ret < 0)
                return ret;
        if (!cns[0])
                return -EACCES; /* the apiserver's CommonNameUserConversion: no CN, no user */
        *ret_cn = strdup(cns[0]);
        RET_NULL_ENOMEM(*ret_cn);
        *ret_orgs = TAKE_PTR(orgs);
        return 0;
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

/* ---- protocol upgrades ---- */

struct HttpUpgrade {
        HttpServer *server;
        struct MHD_UpgradeResponseHandle *urh; /* NULL until MHD handed the connection over */
        struct MHD_Connection *conn;
        int fd;                 /* our end (with TLS: of MHD's socketpair) */
        uint64_t closing_since; /* http_upgrade_close() was called (monotonic µs); 0 = in use */
        http_upgrade_fn_t on_upgrade;
        http_upgrade_abort_fn_t on_abort;
        void *userdata;
        HttpUpgrade *prev, *next;
};

static void upgrade_unlink_free(HttpUpgrade *u) {
        HttpServer *s = u->server;
        if (u->prev)
                u->prev->next = u->next;
        else if (s->upgrades == u)
                s->upgrades = u->next;
        if (u->next)
                u->next->prev = u->prev;
        free(u);
}

static void on_mhd_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                           size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        HttpUpgrade *u = cls;
        u->urh = urh;
        u->conn = conn;
        u->fd = sock;
        u->on_upgrade(u, sock, extra_in, extra_in_size, u->userdata);
}

int http_respond_upgrade(HttpRequest *r, const char *protocol, http_upgrade_fn_t on_upgrade,
                         http_upgrade_abort_fn_t on_abort, void *userdata) {
        HttpServer *s = r->server;
        struct MHD_Response *resp;
        HttpUpgrade *u;
        int q;

        if (r->responded)
                return -EALREADY;
        u = calloc(1, sizeof(*u));
        RET_NULL_ENOMEM(u);
        *u = (HttpUpgrade){.server = s, .on_upgrade = on_upgrade, .on_abort = on_abort, .userdata = userdata};
        resp = MHD_create_response_for_upgrade(on_mhd_upgrade, u);
        if (!resp) {
                free(u);
                return -ENOMEM;
        }
        /* MHD adds "Connection: Upgrade" itself. */
        if (MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, protocol) != MHD_YES) {
                MHD_destroy_response(resp);
                free(u);
                return -ENOMEM;
        }
        u->next = s->upgrades;
        if (s->upgrades)
                s->upgrades->prev = u;
        s->upgrades = u;
        q = request_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, NULL, resp);
        if (q < 0) {
                upgrade_unlink_free(u);
                return q;
        }
        return 0;
}

/* With TLS, MHD forwards what we wrote from its end of a socketpair, but an upgraded connection closed while data
 * is still unread in that socketpair is cleaned up without it (libmicrohttpd 0.9.75): the tail of the stream, e.g.
 * the exit status of a `kubectl exec`, would be lost. So the close is only handed to MHD once our end's send queue
 * (SIOCOUTQ: bytes the peer has not read yet) is empty, or after a grace period. */
static void upgrade_try_close(HttpUpgrade *u, uint64_t now) {
        int outq = 0;
        if (!u->urh)
                return;
        if (ioctl(u->fd, SIOCOUTQ, &outq) >= 0 && outq > 0 && now - u->closing_since < UPGRADE_DRAIN_MAX_USEC)
                return;
        (void) MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
        u->urh = NULL;
}

void http_upgrade_close(HttpUpgrade *u) {
        if (!u)
                return;
        if (!u->urh) {
                upgrade_unlink_free(u);
                return;
        }
        u->on_abort = NULL;
        /* Kept until MHD reports the connection closed (on_connection()); server_rearm() polls meanwhile, and the
         * close itself waits for MHD to have read what we wrote (upgrade_try_close()). */
        (void) sd_event_now(u->server->event, CLOCK_MONOTONIC, &u->closing_since);
        u->closing_since = MAX(u->closing_since, (uint64_t) 1);
        upgrade_try_close(u, u->closing_since);
        server_wake(u->server);
}

static bool upgrades_closing(HttpServer *s) {
        uint64_t now = 0;
        bool any = false;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        for (HttpUpgrade *u = s->upgrades, *next; u; u = next) {
                next = u->next;
                if (u->closing_since == 0)
                        continue;
                upgrade_try_close(u, now);
                if (now - u->closing_since > UPGRADE_CLOSE_MAX_USEC) { /* MHD never said: stop polling */
                        upgrade_unlink_free(u);
                        continue;
                }
                any = true;
        }
        return any;
}

static void upgrade_connection_closed(HttpServer *s, struct MHD_Connection *conn) {
        for (HttpUpgrade *u = s->upgrades; u; u = u->next)
                if (u->closing_since != 0 && u->conn == conn) {
                        upgrade_unlink_free(u);
                        return;
                }
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
        if (r->handler_abandoned)
                return http_respond_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "500 internal server error\n");
        if (s->filter && !r->filter_passed) {
                r->in_filter = true;
                ret = s->filter(r, s->filter_userdata);
                r->in_filter = false;
                if (r->responded || r->parked)
                        return 0;
                if (ret != HTTP_FILTER_PASS) {
                        log_debug_errno(ret < 0 ? ret : -EINVAL, "HTTP filter for %s %s failed: %m", r->method, r->url);
                        return http_respond_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "500 internal server error\n");
                }
                r->filter_passed = true;
        }
        path = route_best_path(s, r->url, &subtree);
        if (!path)
                return http_respond_text(r, MHD_HTTP_NOT_FOUND, "404 page not found\n");
        for (size_t i = 0; i < s->n_routes; i++) {
                const Route *rt = &s->routes[i];
                if (rt->subtree != subtree || !streq(rt->path, path) || !method_matches(rt, r->method))
                        continue;
                r->rest = subtree ? r->url + strlen(path) : "";
                ret = rt->handler(r, rt->userdata);
                if (r->responded || (r->parked && ret >= 0))
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
        if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                upgrade_connection_closed(cls, conn);
                server_wake(cls);
        }
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
        if (MHD_get_timeout(s->daemon, &ms) != MHD_YES)
                ms = UINT64_MAX;
        /* An upgraded connection being closed needs several MHD_run()s (forwarding what is left through TLS, then
         * the cleanup), which nothing on its epoll fd announces: poll until MHD reports it closed. */
        if (upgrades_closing(s))
                ms = MIN(ms, (MHD_UNSIGNED_LONG_LONG) UPGRADE_CLOSE_POLL_MSEC);
        if (ms == UINT64_MAX) {
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

/* ---- the TLS certificate: replaceable while the server runs ---- */

typedef struct TlsCert {
        gnutls_pcert_st pcerts[16]; /* the chain: leaf first */
        unsigned n_pcerts;
        gnutls_privkey_t key;
} TlsCert;

static TlsCert *tls_cert_free(TlsCert *c) {
        if (!c)
                return NULL;
        for (unsigned i = 0; i < c->n_pcerts; i++)
                gnutls_pcert_deinit(&c->pcerts[i]);
        if (c->key)
                gnutls_privkey_deinit(c->key);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(TlsCert *, tls_cert_free)

static int tls_cert_load(const char *cert_pem, const char *key_pem, TlsCert **ret, ErrorBuf *err) {
        _cleanup_(tls_cert_freep) TlsCert *c = calloc(1, sizeof(TlsCert));
        gnutls_datum_t cd = {(unsigned char *) cert_pem, (unsigned) strlen(cert_pem)};
        gnutls_datum_t kd = {(unsigned char *) key_pem, (unsigned) strlen(key_pem)};
        int g;

        RET_NULL_ENOMEM(c);
        c->n_pcerts = ELEMENTSOF(c->pcerts);
        g = gnutls_pcert_list_import_x509_raw(c->pcerts, &c->n_pcerts, &cd, GNUTLS_X509_FMT_PEM, 0);
        if (g < 0) {
                c->n_pcerts = 0;
                return error_set(err, -EINVAL, "TLS certificate: %s", gnutls_strerror(g));
        }
        if (c->n_pcerts == 0)
                return error_set(err, -EINVAL, "TLS certificate: none in the PEM data");
        if (gnutls_privkey_init(&c->key) < 0)
                return -ENOMEM;
        g = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (g < 0)
                return error_set(err, -EINVAL, "TLS private key: %s", gnutls_strerror(g));
        *ret = TAKE_PTR(c);
        return 0;
}

/* GnuTLS asks for the server's certificate during each handshake. The session's pointer is the server
 * (http_tls_new()'s userdata). */
static int on_cert_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                            const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                            unsigned int *pcert_length, gnutls_privkey_t *pkey) {
        HttpServer *s = gnutls_session_get_ptr(session);

        if (!s || !s->cert)
                return -1;
        *pcert = s->cert->pcerts;
        *pcert_length = s->cert->n_pcerts;
        *pkey = s->cert->key;
        return 0;
}

int http_server_set_certificate(HttpServer *s, const char *cert_pem, const char *key_pem, ErrorBuf *err) {
        TlsCert *c = NULL, **l;
        int r;

        if (!s || !s->cert || isempty(cert_pem) || isempty(key_pem))
                return error_set(err, -EINVAL, "not a TLS server, or no certificate given");
        r = tls_cert_load(cert_pem, key_pem, &c, err);
        if (r < 0)
                return r;
        l = reallocarray(s->retired, s->n_retired + 1, sizeof *l);
        if (!l) {
                tls_cert_free(c);
                return -ENOMEM;
        }
        s->retired = l;
        s->retired[s->n_retired++] = s->cert;
        s->cert = c;
        return 0;
}

static void on_tls_ready(int plain_fd, const struct sockaddr *peer, socklen_t peer_len, void *userdata) {
        HttpServer *s = userdata;
        struct sockaddr_in6 none = {.sin6_family = AF_INET6};

        /* MHD closes the fd when it refuses the connection (at its limit). */
        if (MHD_add_connection(s->daemon, plain_fd, peer ?: (const struct sockaddr *) &none,
                               peer ? peer_len : sizeof none) != MHD_YES)
                log_debug("libmicrohttpd refused a TLS client connection");
        server_wake(s);
}

/* The handshakes' credentials: the certificate from a callback (it can then be replaced while the server runs, a
 * rotated serving certificate: http_server_set_certificate()), and the client CAs that every client is asked for a
 * certificate of (optional for the client) and that gnutls_certificate_verify_peers() checks it against. */
static int server_start_tls(HttpServer *s, const HttpServerConfig *c, int listen_fd, ErrorBuf *err) {
        int g;

        if (gnutls_certificate_allocate_credentials(&s->tls_cred) < 0) {
                s->tls_cred = NULL;
                (void) safe_close(listen_fd);
                return -ENOMEM;
        }
        gnutls_certificate_set_retrieve_function2(s->tls_cred, on_cert_retrieve);
        if (s->client_ca) {
                gnutls_datum_t ca = {(unsigned char *) s->client_ca, (unsigned) strlen(s->client_ca)};
                g = gnutls_certificate_set_x509_trust_mem(s->tls_cred, &ca, GNUTLS_X509_FMT_PEM);
                if (g <= 0) {
                        (void) safe_close(listen_fd);
                        return error_set(err, -EINVAL, "client CA: %s",
                                         g < 0 ? gnutls_strerror(g) : "no certificate in the PEM data");
                }
        }
        return http_tls_new(s->event, listen_fd, s->tls_cred, s->client_ca,
                            c->max_connections ?: DEFAULT_MAX_CONNECTIONS,
                            (uint64_t) (c->connection_timeout_sec ?: DEFAULT_CONNECTION_TIMEOUT_SEC) * USEC_PER_SEC,
                            on_tls_ready, s, &s->tls_front);
}

int http_server_new(sd_event *e, const HttpServerConfig *c, HttpServer **ret, ErrorBuf *err) {
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
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
                /* TLS is terminated by common/http-tls.c (see there why), which accepts the clients and hands MHD
                 * the plaintext: MHD itself listens on nothing. */
                flags |= MHD_USE_NO_LISTEN_SOCKET;
                if (c->client_ca_pem && !(s->client_ca = strdup(c->client_ca_pem)))
                        return -ENOMEM;
        }

        r = listen_socket(c->bind_address, c->port, &fd, &s->port, err);
        if (r < 0)
                return r;

        struct MHD_OptionItem opts[] = {
                /* First, so that MHD's own complaints about later options go through it too. */
                {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t) on_mhd_log, NULL},
                {MHD_OPTION_CONNECTION_LIMIT, c->max_connections ?: DEFAULT_MAX_CONNECTIONS, NULL},
                {MHD_OPTION_CONNECTION_TIMEOUT, c->connection_timeout_sec ?: DEFAULT_CONNECTION_TIMEOUT_SEC, NULL},
                {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL},
                {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, NULL},
                {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t) on_connection, s},
                /* Last: without TLS MHD accepts the clients itself (with TLS, common/http-tls.c does). */
                {tls ? MHD_OPTION_END : MHD_OPTION_LISTEN_SOCKET, fd, NULL},
                {MHD_OPTION_END, 0, NULL},
        };
        if (tls) {
                r = tls_cert_load(s->tls_cert, s->tls_key, &s->cert, err);
                if (r < 0)
                        return r;
        }
        s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!s->daemon)
                return error_set(err, -EIO, "starting the HTTP server on port %u failed", s->port);
        if (tls) {
                r = server_start_tls(s, c, TAKE_FD(fd), err);
                if (r < 0)
                        return r;
        } else
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
        server_cancel_parked(s);
        /* Upgraded connections: their owners let go, then MHD closes each. */
        while (s->upgrades) {
                HttpUpgrade *u = s->upgrades;
                if (u->on_abort)
                        u->on_abort(u, u->userdata);
                if (u->urh)
                        (void) MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
                upgrade_unlink_free(u);
        }
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        s->tls_front = http_tls_free(s->tls_front);
        if (s->tls_cred)
                gnutls_certificate_free_credentials(s->tls_cred);
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
        free(s->client_ca);
        tls_cert_free(s->cert);
        for (size_t i = 0; i < s->n_retired; i++)
                tls_cert_free(s->retired[i]);
        free(s->retired);
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
