/* SPDX-License-Identifier: Apache-2.0 */
#include "common/http-tls.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>

#include "common/event-util.h"
#include "common/log.h"

/* Per direction. GnuTLS records carry at most 16 KiB; two of them in flight keep both sockets busy. */
#define TLS_BUF_SIZE (32U * 1024)

typedef struct TlsConn TlsConn;

struct HttpTls {
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_src;
        gnutls_certificate_credentials_t cred;
        bool ask_client_cert;
        unsigned max_connections, n_connections;
        uint64_t handshake_timeout_usec;
        http_tls_ready_t on_ready;
        void *userdata;
        TlsConn *conns; /* newest handshake first (http_tls_session() relies on it) */
};

struct TlsConn {
        HttpTls *tls;
        gnutls_session_t session;
        int fd;        /* the client's TCP socket */
        int plain_fd;  /* our end of the socketpair, once the handshake is done */
        int server_fd; /* the end handed to on_ready(), for lookups only: the server owns it */
        sd_event_source *io, *plain_io, *timer;
        bool handshaken;
        bool tls_eof;        /* the client sent close_notify or closed: the server's end is shut once `in` drained */
        bool plain_shut;     /* ... which happened */
        bool plain_eof;      /* the server closed its end: the TLS connection ends once `out` drained */
        size_t send_pending; /* gnutls_record_send() wants to be repeated with exactly this many bytes */
        char *in, *out;      /* client → server, server → client */
        size_t in_len, out_len;
        TlsConn *prev, *next;
};

static void conn_unlink(TlsConn *c) {
        HttpTls *t = c->tls;
        if (c->prev)
                c->prev->next = c->next;
        else if (t->conns == c)
                t->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

static void conn_link_head(TlsConn *c) {
        HttpTls *t = c->tls;
        c->next = t->conns;
        if (t->conns)
                t->conns->prev = c;
        t->conns = c;
}

static void conn_free(TlsConn *c) {
        HttpTls *t = c->tls;

        conn_unlink(c);
        /* Sources before their fds (docs/CODING_STYLE.md). */
        c->io = sd_event_source_disable_unref(c->io);
        c->plain_io = sd_event_source_disable_unref(c->plain_io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->fd = safe_close(c->fd);
        c->plain_fd = safe_close(c->plain_fd);
        if (c->session)
                gnutls_deinit(c->session);
        free(c->in);
        free(c->out);
        free(c);
        /* A slot is free again: accept the next client (the listener pauses at max_connections). */
        if (t->n_connections-- == t->max_connections && t->listen_src)
                (void) sd_event_source_set_enabled(t->listen_src, SD_EVENT_ON);
}

static void source_want(sd_event_source *s, uint32_t events) {
        if (!s)
                return;
        if (events == 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_io_events(s, events);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static bool gnutls_again(ssize_t r) {
        return r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED;
}

/* Moves what can be moved both ways without blocking; returns false when the connection was freed. */
static bool conn_pump(TlsConn *c) {
        bool progress;
        ssize_t n;

        do {
                progress = false;

                /* client → server */
                while (!c->tls_eof && c->in_len < TLS_BUF_SIZE) {
                        n = gnutls_record_recv(c->session, c->in + c->in_len, TLS_BUF_SIZE - c->in_len);
                        if (n > 0) {
                                c->in_len += (size_t) n;
                                progress = true;
                                continue;
                        }
                        if (gnutls_again(n) || n == GNUTLS_E_WARNING_ALERT_RECEIVED)
                                break;
                        /* 0: close_notify; a reset or a TLS error ends what the client can send as well. Like a
                         * TCP peer that went away: the server reads EOF and closes, or writes and fails. */
                        if (n < 0)
                                log_debug("TLS client connection: %s", gnutls_strerror((int) n));
                        c->tls_eof = true;
                        progress = true;
                }
                if (c->in_len > 0) {
                        n = send(c->plain_fd, c->in, c->in_len, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n > 0) {
                                memmove(c->in, c->in + n, c->in_len - (size_t) n);
                                c->in_len -= (size_t) n;
                                progress = true;
                        } else if (errno != EAGAIN && errno != EINTR) {
                                /* The server closed its end: nothing it would read can be delivered. */
                                c->in_len = 0;
                                c->tls_eof = c->plain_eof = true;
                        }
                }
                if (c->tls_eof && c->in_len == 0 && !c->plain_shut) {
                        (void) shutdown(c->plain_fd, SHUT_WR);
                        c->plain_shut = true;
                }

                /* server → client */
                while (!c->plain_eof && c->out_len < TLS_BUF_SIZE) {
                        n = recv(c->plain_fd, c->out + c->out_len, TLS_BUF_SIZE - c->out_len, MSG_DONTWAIT);
                        if (n > 0) {
                                c->out_len += (size_t) n;
                                progress = true;
                                continue;
                        }
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                break;
                        c->plain_eof = true;
                        progress = true;
                }
                if (c->out_len > 0) {
                        /* After GNUTLS_E_AGAIN the same data must be offered again, not more. */
                        size_t size = c->send_pending ?: c->out_len;
                        n = gnutls_record_send(c->session, c->out, size);
                        if (n > 0) {
                                memmove(c->out, c->out + n, c->out_len - (size_t) n);
                                c->out_len -= (size_t) n;
                                c->send_pending = 0;
                                progress = true;
                        } else if (gnutls_again(n))
                                c->send_pending = size;
                        else {
                                log_debug("TLS client connection: %s", gnutls_strerror((int) n));
                                conn_free(c);
                                return false;
                        }
                }
        } while (progress);

        if (c->plain_eof && c->out_len == 0) {
                /* The server is done with the connection: close_notify, best effort (the socket does not block),
                 * then the TCP close. */
                (void) gnutls_bye(c->session, GNUTLS_SHUT_WR);
                conn_free(c);
                return false;
        }

        source_want(c->io, (!c->tls_eof && c->in_len < TLS_BUF_SIZE ? EPOLLIN : 0) | (c->out_len > 0 ? EPOLLOUT : 0));
        source_want(c->plain_io,
                    (!c->plain_eof && c->out_len < TLS_BUF_SIZE ? EPOLLIN : 0) | (c->in_len > 0 ? EPOLLOUT : 0));
        /* Data GnuTLS decrypted but we had no room for is not announced by the socket: the plain side's EPOLLOUT
         * (in_len > 0 whenever our buffer is full) brings us back. */
        return true;
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) conn_pump(userdata);
        return 0;
}

static int conn_handshake_done(TlsConn *c) {
        HttpTls *t = c->tls;
        union {
                struct sockaddr sa;
                struct sockaddr_storage ss;
        } peer = {};
        socklen_t peer_len = sizeof peer;
        int sv[2], r;

        c->in = malloc(TLS_BUF_SIZE);
        c->out = malloc(TLS_BUF_SIZE);
        if (!c->in || !c->out)
                return -ENOMEM;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        c->plain_fd = sv[1];
        c->server_fd = sv[0];
        r = sd_event_add_io(t->event, &c->plain_io, c->plain_fd, EPOLLIN, on_conn_io, c);
        if (r < 0) {
                (void) safe_close(sv[0]);
                return r;
        }
        (void) sd_event_source_set_description(c->plain_io, "http-tls-plain");
        c->timer = sd_event_source_disable_unref(c->timer);
        c->handshaken = true;
        /* Newest first, so that a lookup by the server's fd number finds this connection and not an older one
         * whose server end (same number, since reused) the server closed already. */
        conn_unlink(c);
        conn_link_head(c);
        if (getpeername(c->fd, &peer.sa, &peer_len) < 0)
                peer_len = 0;
        t->on_ready(sv[0], peer_len > 0 ? &peer.sa : NULL, peer_len, t->userdata);
        return 0;
}

static void conn_handshake(TlsConn *c) {
        int g = gnutls_handshake(c->session);

        if (g == GNUTLS_E_SUCCESS) {
                int r = conn_handshake_done(c);
                if (r < 0) {
                        log_debug_errno(r, "TLS client connection set-up failed: %m");
                        conn_free(c);
                        return;
                }
                (void) conn_pump(c);
                return;
        }
        if (gnutls_again(g) || !gnutls_error_is_fatal(g)) {
                source_want(c->io, gnutls_record_get_direction(c->session) ? EPOLLOUT : EPOLLIN);
                return;
        }
        log_debug("TLS handshake failed: %s", gnutls_strerror(g));
        conn_free(c);
}

static int on_handshake_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        TlsConn *c = userdata;
        if (c->handshaken)
                (void) conn_pump(c);
        else
                conn_handshake(c);
        return 0;
}

static int on_handshake_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        log_debug("TLS handshake timed out");
        conn_free(userdata);
        return 0;
}

static int conn_new(HttpTls *t, int fd) {
        TlsConn *c;
        int one = 1, r;

        c = calloc(1, sizeof *c);
        if (!c) {
                (void) safe_close(fd);
                return -ENOMEM;
        }
        *c = (TlsConn){.tls = t, .fd = fd, .plain_fd = -EBADF, .server_fd = -EBADF};
        conn_link_head(c);
        t->n_connections++;
        /* Like Go's net package (the kubelet): no Nagle delay for the small frames of interactive streams. */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (gnutls_init(&c->session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
                c->session = NULL;
                conn_free(c);
                return -ENOMEM;
        }
        if (gnutls_set_default_priority(c->session) < 0 ||
            gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, t->cred) < 0) {
                conn_free(c);
                return -ENOMEM;
        }
        if (t->ask_client_cert)
                gnutls_certificate_server_set_request(c->session, GNUTLS_CERT_REQUEST);
        gnutls_session_set_ptr(c->session, t->userdata);
        gnutls_transport_set_int(c->session, fd);
        r = sd_event_add_io(t->event, &c->io, fd, EPOLLIN, on_handshake_io, c);
        if (r >= 0)
                r = sd_event_add_time(t->event, &c->timer, CLOCK_MONOTONIC,
                                      event_now_plus(t->event, t->handshake_timeout_usec), 0, on_handshake_timeout, c);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        (void) sd_event_source_set_description(c->io, "http-tls-client");
        conn_handshake(c);
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpTls *t = userdata;

        /* A few per wake-up, so a flood of connections does not starve the loop. */
        for (unsigned i = 0; i < 16 && t->n_connections < t->max_connections; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_debug_errno(-errno, "accept() on the TLS listener failed: %m");
                        break;
                }
                if (conn_new(t, cfd) == -ENOMEM)
                        break;
        }
        if (t->n_connections >= t->max_connections)
                (void) sd_event_source_set_enabled(t->listen_src, SD_EVENT_OFF);
        return 0;
}

int http_tls_new(sd_event *e, int listen_fd, gnutls_certificate_credentials_t cred, bool ask_client_cert,
                 unsigned max_connections, uint64_t handshake_timeout_usec, http_tls_ready_t on_ready, void *userdata,
                 HttpTls **ret) {
        _cleanup_(http_tls_freep) HttpTls *t = NULL;
        int r;

        t = calloc(1, sizeof *t);
        if (!t) {
                (void) safe_close(listen_fd);
                return -ENOMEM;
        }
        *t = (HttpTls){
                .event = sd_event_ref(e),
                .listen_fd = listen_fd,
                .cred = cred,
                .ask_client_cert = ask_client_cert,
                .max_connections = MAX(max_connections, 1U),
                .handshake_timeout_usec = handshake_timeout_usec,
                .on_ready = on_ready,
                .userdata = userdata,
        };
        r = sd_event_add_io(e, &t->listen_src, listen_fd, EPOLLIN, on_listen, t);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(t->listen_src, "http-tls-listen");
        *ret = TAKE_PTR(t);
        return 0;
}

HttpTls *http_tls_free(HttpTls *t) {
        if (!t)
                return NULL;
        t->listen_src = sd_event_source_disable_unref(t->listen_src);
        while (t->conns)
                conn_free(t->conns);
        t->listen_fd = safe_close(t->listen_fd);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}

gnutls_session_t http_tls_session(HttpTls *t, int plain_fd) {
        if (!t || plain_fd < 0)
                return NULL;
        for (TlsConn *c = t->conns; c; c = c->next)
                if (c->handshaken && c->server_fd == plain_fd)
                        return c->session;
        return NULL;
}
