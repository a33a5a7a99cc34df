/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* TLS for common/http-server.c, terminated on the loop with GnuTLS instead of inside libmicrohttpd.
 *
 * Why: libmicrohttpd 0.9.75 (Debian 12) forwards an upgraded TLS connection (kubectl exec/attach/port-forward)
 * through buffers carved from what is left of the connection's memory pool at upgrade time; the response head has
 * taken all of it by then (its write buffer is grown to every free byte and never shrunk), so the forwarding runs
 * through an 8-byte emergency buffer, one MHD_run() per 4 bytes: bulk transfers crawl whatever the pool size. So
 * the server keeps MHD on plain HTTP and this layer accepts the clients: handshake, then every connection's
 * plaintext goes over a socketpair whose other end is handed to MHD (MHD_add_connection()); an upgraded connection
 * is then that plain socket, forwarded here with 32 KiB buffers each way.
 *
 * Everything runs on the loop, no thread: per connection one IO source on the TCP socket and one on the socketpair.
 * Backpressure is the buffers: a side is only read while the buffer towards the other side has room. */

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

typedef struct HttpTls HttpTls;

/* A client finished its handshake: plain_fd (non-blocking, owned by the callee from now on, also on failure) carries
 * its plaintext. */
typedef void (*http_tls_ready_t)(int plain_fd, const struct sockaddr *peer, socklen_t peer_len, void *userdata);

/* Takes listen_fd over (a listening, non-blocking socket). cred is borrowed and must outlive t; sessions get
 * userdata as their pointer (gnutls_session_get_ptr(), e.g. for a certificate callback). With ask_client_cert every
 * client is asked for a certificate (optional for it), verified later against cred's trust list. At most
 * max_connections clients at a time (more wait in the backlog); a handshake not done within handshake_timeout_usec
 * is dropped. */
int http_tls_new(sd_event *e, int listen_fd, gnutls_certificate_credentials_t cred, bool ask_client_cert,
                 unsigned max_connections, uint64_t handshake_timeout_usec, http_tls_ready_t on_ready, void *userdata,
                 HttpTls **ret);
/* Closes the listener and every client connection. NULL-safe, returns NULL. */
HttpTls *http_tls_free(HttpTls *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpTls *, http_tls_free)

/* The TLS session behind a plain fd handed to on_ready() and still open on the server's side; NULL when unknown. */
gnutls_session_t http_tls_session(HttpTls *t, int plain_fd);
