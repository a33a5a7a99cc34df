/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the kubelet API's request handling (common/http-server.c with the kubelet's auth filter,
 * agent/kubelet-auth.h) and its x509 subject mapping.
 *
 * - HTTP: one plain HTTP server on 127.0.0.1 (set up once per process) with the auth filter (anonymous allowed,
 *   bearer tokens looked at, no API server: tokens are refused) in front of a handler that reads the path, query
 *   and headers back; each input is written as one client connection's bytes, then the connection is half-closed
 *   and the loop runs until the server has answered and closed it.
 * - x509: the input as a certificate (DER, then PEM) mapped to user and groups the way the secure port maps a
 *   verified client certificate (subject CN → user, O → groups); http-server.c is compiled into this harness for
 *   that, since the mapping is static there. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "agent/kubelet-auth.h"
#include "common/http-server.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_x509(const uint8_t *data, size_t size, gnutls_x509_crt_fmt_t fmt) {
        gnutls_x509_crt_t crt = NULL;
        const gnutls_datum_t d = {.data = (unsigned char *) data, .size = (unsigned) size};
        char **cns = NULL, **orgs = NULL;

        if (size > UINT_MAX || gnutls_x509_crt_init(&crt) < 0)
                return;
        if (gnutls_x509_crt_import(crt, &d, fmt) >= 0 && crt_dn_values(crt, GNUTLS_OID_X520_COMMON_NAME, &cns) >= 0 &&
            crt_dn_values(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, &orgs) >= 0 && (!cns || !orgs))
                abort(); /* success always gives lists */
        strv_free(cns);
        strv_free(orgs);
        gnutls_x509_crt_deinit(crt);
}

static int handle(HttpRequest *r, void *userdata) {
        char **values = NULL;
        (void) http_request_path_rest(r);
        (void) http_request_query(r, "follow");
        if (http_request_header_strv(r, "Accept", &values) >= 0)
                strv_free(values);
        return http_respond_text(r, 200, http_request_method(r));
}

static struct {
        sd_event *event;
        HttpServer *server;
        KubeletAuth *auth;
        uint16_t port;
} h;

static int setup(void) {
        static const HttpServerConfig cfg = {.bind_address = "127.0.0.1", .max_request_body = 4096};
        static const KubeletAuthOptions o = {.node_name = "node1", .anonymous = true, .webhook_authentication = true};
        ErrorBuf e = {};

        if (h.server)
                return 0;
        if (sd_event_new(&h.event) < 0 || http_server_new(h.event, &cfg, &h.server, &e) < 0 ||
            kubelet_auth_new(h.event, NULL, &o, &h.auth) < 0 ||
            http_server_add_route(h.server, NULL, "/", handle, NULL) < 0)
                return -EIO;
        http_server_set_filter(h.server, kubelet_auth_filter, h.auth);
        h.port = http_server_port(h.server);
        return 0;
}

static void fuzz_request(const uint8_t *data, size_t size) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(h.port)};
        char sink[4096];
        size_t off = 0;
        unsigned idle = 0;
        int fd;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                abort();
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno != EINPROGRESS)
                abort();
        /* Bounded: the loop ends when the server closed the connection, or when everything was sent and three
         * iterations in a row (1 ms each) had nothing to do: the server then waits for more than this input has. */
        for (unsigned i = 0; i < 1000; i++) {
                if (off < size) {
                        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
                        if (n > 0)
                                off += (size_t) n;
                        else if (n < 0 && errno != EAGAIN && errno != ENOTCONN)
                                break;
                        if (off == size)
                                (void) shutdown(fd, SHUT_WR);
                } else if (size == 0)
                        (void) shutdown(fd, SHUT_WR);
                int r = sd_event_run(h.event, USEC_PER_MSEC);
                ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN))
                        break;
                /* everything sent and nothing happening: the server waits for more than we have */
                idle = r == 0 && n < 0 && off == size ? idle + 1 : 0;
                if (idle >= 3)
                        break;
        }
        safe_close(fd);
        /* let the server see the close */
        for (unsigned i = 0; i < 8 && sd_event_run(h.event, 0) > 0; i++)
                ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (setup() < 0)
                abort();
        fuzz_x509(data, size, GNUTLS_X509_FMT_DER);
        fuzz_x509(data, size, GNUTLS_X509_FMT_PEM);
        fuzz_request(data, size);
        return 0;
}
