/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket (common/websocket.h): the handshake key (RFC 6455's own example), frame encoding and decoding with every
 * length form and masking, malformed frames, and a live connection behind the HTTP server's upgrade API, over plain
 * HTTP and TLS: a fragmented message with a ping between its fragments, the echo, the pong, the close handshake and
 * the connection really closing; an oversized message closes with 1009. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "common/event-util.h"
#include "common/http-server.h"
#include "common/tls-util.h"
#include "common/websocket.h"
#include "tests/lib/testlib.h"

START_TEST(test_accept_key) {
        char out[29];
        /* RFC 6455 section 1.3 */
        ck_assert_int_eq(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
        ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        ck_assert_int_eq(websocket_accept_key("short", out), -EINVAL);
        ck_assert_int_eq(websocket_accept_key(NULL, out), -EINVAL);
}
END_TEST

START_TEST(test_pick_protocol) {
        static const char *const sup[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io", NULL};
        ck_assert_str_eq(websocket_pick_protocol("v4.channel.k8s.io, v5.channel.k8s.io", sup), "v5.channel.k8s.io");
        ck_assert_str_eq(websocket_pick_protocol("base64.channel.k8s.io,channel.k8s.io", sup), "channel.k8s.io");
        ck_assert_ptr_null(websocket_pick_protocol("SPDY/3.1+portforward.k8s.io", sup));
        ck_assert_ptr_null(websocket_pick_protocol("v5.channel.k8s.io.x", sup));
        ck_assert_ptr_null(websocket_pick_protocol(NULL, sup));
}
END_TEST

static void roundtrip(size_t size, const uint8_t *mask, size_t header) {
        _cleanup_free_ uint8_t *payload = malloc(size + 1), *buf = NULL;
        size_t n = 0;
        WebSocketFrame f;

        for (size_t i = 0; i < size; i++)
                payload[i] = (uint8_t) (i * 7);
        ck_assert_int_eq(websocket_frame_encode(WS_OP_BINARY, true, mask, payload, size, &buf, &n), 0);
        ck_assert_uint_eq(n, header + size);
        if (mask && size > 0)
                ck_assert(memcmp(buf + header, payload, size) != 0 || size < 4);
        /* Incomplete at every shorter length. */
        for (size_t k = 0; k < n; k += MAX((size_t) 1, n / 17))
                ck_assert_int_eq(websocket_frame_decode(buf, k, SIZE_MAX, &f), 0);
        ck_assert_int_eq(websocket_frame_decode(buf, n, SIZE_MAX, &f), (ssize_t) n);
        ck_assert(f.fin);
        ck_assert_uint_eq(f.opcode, WS_OP_BINARY);
        ck_assert(f.masked == !!mask);
        ck_assert_uint_eq(f.payload_size, size);
        ck_assert(size == 0 || memcmp(f.payload, payload, size) == 0);
        if (size > 0)
                ck_assert_int_eq(websocket_frame_decode(buf, n, size - 1, &f), -EMSGSIZE);
}

START_TEST(test_frames) {
        static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
        /* RFC 6455 5.7: a masked "Hello" from a client. */
        uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
        WebSocketFrame f;
        ck_assert_int_eq(websocket_frame_decode(hello, sizeof(hello), 125, &f), (ssize_t) sizeof(hello));
        ck_assert_uint_eq(f.opcode, WS_OP_TEXT);
        ck_assert_uint_eq(f.payload_size, 5);
        ck_assert(memcmp(f.payload, "Hello", 5) == 0);

        roundtrip(0, NULL, 2);
        roundtrip(125, NULL, 2);
        roundtrip(126, NULL, 4);
        roundtrip(65535, mask, 8);
        roundtrip(65536, NULL, 10);
        roundtrip(200000, mask, 14);

        /* Reserved bits, unknown opcodes, fragmented or long control frames. */
        uint8_t rsv[] = {0xC1, 0x00};
        uint8_t op3[] = {0x83, 0x00};
        uint8_t frag_ping[] = {0x09, 0x00};
        uint8_t long_ping[2 + 2 + 126] = {0x89, 126, 0, 126};
        ck_assert_int_eq(websocket_frame_decode(rsv, 2, 100, &f), -EBADMSG);
        ck_assert_int_eq(websocket_frame_decode(op3, 2, 100, &f), -EBADMSG);
        ck_assert_int_eq(websocket_frame_decode(frag_ping, 2, 100, &f), -EBADMSG);
        ck_assert_int_eq(websocket_frame_decode(long_ping, sizeof(long_ping), 1000, &f), -EBADMSG);
}
END_TEST

/* ---- a live connection through the HTTP server ---- */

static sd_event *event;
static HttpServer *server;
static WebSocket *conn;
static HttpUpgrade *upgrade;
static unsigned closed_code;
static bool closed;

static void on_message(WebSocket *ws, uint8_t opcode, const uint8_t *data, size_t size, void *userdata) {
        ck_assert_int_eq(websocket_send(ws, opcode, data, size), 0);
}

static void on_closed(WebSocket *ws, int error, unsigned code, void *userdata) {
        closed = true;
        closed_code = code;
        conn = websocket_free(conn);
        http_upgrade_close(TAKE_PTR(upgrade));
}

static const WebSocketOps ops = {.message = on_message, .closed = on_closed};

static void on_upgraded(HttpUpgrade *u, int fd, const void *extra, size_t extra_size, void *userdata) {
        WebSocketConfig c = {.max_message = 64 * 1024};
        upgrade = u;
        ck_assert_int_eq(websocket_new(event, fd, &c, &ops, NULL, &conn), 0);
        ck_assert_int_eq(websocket_feed(conn, extra, extra_size), 0);
}

static int handle_ws(HttpRequest *r, void *userdata) {
        char accept[29];
        static const char *const sup[] = {"v5.channel.k8s.io", NULL};
        const char *p = websocket_pick_protocol(http_request_header(r, "Sec-WebSocket-Protocol"), sup);
        if (websocket_accept_key(http_request_header(r, "Sec-WebSocket-Key"), accept) < 0 || !p)
                return http_respond_text(r, 400, "bad handshake\n");
        ck_assert_int_eq(http_request_add_header(r, "Sec-WebSocket-Accept", accept), 0);
        ck_assert_int_eq(http_request_add_header(r, "Sec-WebSocket-Protocol", p), 0);
        return http_respond_upgrade(r, "websocket", on_upgraded, NULL, NULL);
}

typedef struct Client {
        uint16_t port;
        bool tls;
        bool big; /* send a message over the limit instead */
        char response[1024];
        uint8_t received[256];
        size_t received_size;
        bool got_eof;
        bool done;
} Client;

typedef struct Io {
        int fd;
        SSL *ssl;
} Io;

static ssize_t io_read(Io *io, void *buf, size_t n) {
        return io->ssl ? SSL_read(io->ssl, buf, (int) n) : read(io->fd, buf, n);
}

static void io_write(Io *io, const void *buf, size_t n) {
        ssize_t w = io->ssl ? SSL_write(io->ssl, buf, (int) n) : write(io->fd, buf, n);
        ck_assert_int_eq(w, (ssize_t) n);
}

static void send_frame(Io *io, uint8_t opcode, bool fin, const void *data, size_t size) {
        static const uint8_t mask[4] = {1, 2, 3, 4};
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        ck_assert_int_eq(websocket_frame_encode(opcode, fin, mask, data, size, &buf, &n), 0);
        io_write(io, buf, n);
}

static void *client_main(void *userdata) {
        Client *c = userdata;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
        struct timeval tv = {.tv_sec = 10};
        Io io = {.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        SSL_CTX *ctx = NULL;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_ge(io.fd, 0);
        (void) setsockopt(io.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ck_assert_int_eq(connect(io.fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        if (c->tls) {
                ctx = SSL_CTX_new(TLS_client_method());
                io.ssl = SSL_new(ctx);
                SSL_set_fd(io.ssl, io.fd);
                ck_assert_int_eq(SSL_connect(io.ssl), 1);
        }
        const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Protocol: v4.channel.k8s.io, v5.channel.k8s.io\r\n\r\n";
        io_write(&io, req, strlen(req));
        size_t n = 0;
        while (!strstr(c->response, "\r\n\r\n")) {
                ssize_t k = io_read(&io, c->response + n, 1); /* byte by byte: frames follow the head */
                ck_assert_int_eq(k, 1);
                n++;
        }
        if (c->big) {
                _cleanup_free_ uint8_t *big = calloc(1, 70 * 1024);
                send_frame(&io, WS_OP_BINARY, true, big, 70 * 1024);
        } else {
                /* "hello world" in two fragments with a ping between them. */
                send_frame(&io, WS_OP_TEXT, false, "hello ", 6);
                send_frame(&io, WS_OP_PING, true, "p", 1);
                send_frame(&io, WS_OP_CONTINUATION, true, "world", 5);
                uint8_t close[2] = {0x03, 0xE8};
                send_frame(&io, WS_OP_CLOSE, true, close, 2);
        }
        for (;;) {
                ssize_t k = io_read(&io, c->received + c->received_size, sizeof(c->received) - c->received_size);
                if (k <= 0) {
                        c->got_eof = k == 0;
                        break;
                }
                c->received_size += (size_t) k;
        }
        if (io.ssl)
                SSL_free(io.ssl);
        if (ctx)
                SSL_CTX_free(ctx);
        close(io.fd);
        __atomic_store_n(&c->done, true, __ATOMIC_SEQ_CST);
        return NULL;
}

static void run_client(bool tls, bool big, Client *c) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        char *ips[] = {(char *) "127.0.0.1", NULL};
        HttpServerConfig cfg = {.bind_address = "127.0.0.1"};
        ErrorBuf err = {};
        pthread_t t;

        if (tls) {
                ck_assert_int_eq(tls_self_signed_generate("node", ips, &cert, &key), 0);
                cfg.tls_cert_pem = cert;
                cfg.tls_key_pem = key;
        }
        ck_assert_int_eq(sd_event_new(&event), 0);
        ck_assert_int_eq(http_server_new(event, &cfg, &server, &err), 0);
        ck_assert_int_eq(http_server_add_route(server, "GET", "/ws", handle_ws, NULL), 0);
        *c = (Client){.port = http_server_port(server), .tls = tls, .big = big};
        closed = false;
        ck_assert_int_eq(pthread_create(&t, NULL, client_main, c), 0);
        for (int i = 0; i < 300 && !__atomic_load_n(&c->done, __ATOMIC_SEQ_CST); i++)
                ck_assert_int_ge(sd_event_run(event, 50 * USEC_PER_MSEC), 0);
        ck_assert_msg(__atomic_load_n(&c->done, __ATOMIC_SEQ_CST), "the client did not finish");
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert(closed);
        server = http_server_free(server);
        event = sd_event_unref(event);
}

static void check_echo(Client *c) {
        WebSocketFrame f;
        ck_assert_ptr_nonnull(strstr(c->response, "HTTP/1.1 101"));
        ck_assert_ptr_nonnull(strstr(c->response, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        ck_assert_ptr_nonnull(strstr(c->response, "Sec-WebSocket-Protocol: v5.channel.k8s.io"));
        /* pong, then the reassembled message, then the close echo */
        ssize_t n = websocket_frame_decode(c->received, c->received_size, 1000, &f);
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq(f.opcode, WS_OP_PONG);
        size_t off = (size_t) n;
        n = websocket_frame_decode(c->received + off, c->received_size - off, 1000, &f);
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq(f.opcode, WS_OP_TEXT);
        ck_assert(!f.masked);
        ck_assert_uint_eq(f.payload_size, 11);
        ck_assert(memcmp(f.payload, "hello world", 11) == 0);
        off += (size_t) n;
        n = websocket_frame_decode(c->received + off, c->received_size - off, 1000, &f);
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq(f.opcode, WS_OP_CLOSE);
        ck_assert_uint_eq(f.payload[0] << 8 | f.payload[1], 1000);
        ck_assert(c->got_eof);
        ck_assert_uint_eq(closed_code, 1000);
}

START_TEST(test_connection_plain) {
        Client c;
        run_client(false, false, &c);
        check_echo(&c);
}
END_TEST

START_TEST(test_connection_tls) {
        Client c;
        run_client(true, false, &c);
        check_echo(&c);
}
END_TEST

START_TEST(test_connection_too_big) {
        Client c;
        WebSocketFrame f;
        run_client(false, true, &c);
        ck_assert_int_gt(websocket_frame_decode(c.received, c.received_size, 1000, &f), 0);
        ck_assert_uint_eq(f.opcode, WS_OP_CLOSE);
        ck_assert_uint_eq(f.payload[0] << 8 | f.payload[1], WS_CLOSE_TOO_BIG);
}
END_TEST

int main(void) {
        Suite *s = suite_create("websocket");
        TCase *tc = tcase_create("codec");
        tcase_add_test(tc, test_accept_key);
        tcase_add_test(tc, test_pick_protocol);
        tcase_add_test(tc, test_frames);
        suite_add_tcase(s, tc);
        tc = tcase_create("connection");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_connection_plain);
        tcase_add_test(tc, test_connection_tls);
        tcase_add_test(tc, test_connection_too_big);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
