/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: WebSocket as the kubelet API serves it to kubectl exec/attach/port-forward (common/websocket.h): the
 * frame codec (every decoded frame re-encodes to a frame that decodes the same), the handshake helpers on the
 * input's first line (Sec-WebSocket-Key, Sec-WebSocket-Protocol), and a whole server session on a socketpair fed
 * the input as the client's bytes: reassembly, control frames between fragments, close handshake. */

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096U

static void fuzz_codec(const uint8_t *data, size_t size) {
        uint8_t *copy = malloc(size ?: 1);
        size_t max_payload = size > 0 ? (size_t) data[0] * 64 : 0;

        if (!copy)
                return;
        memcpy(copy, data, size);
        for (size_t off = 0; off < size;) {
                WebSocketFrame f, g;
                ssize_t n = websocket_frame_decode(copy + off, size - off, max_payload, &f);
                if (n <= 0)
                        break;
                if ((size_t) n > size - off || f.payload < copy + off || f.payload + f.payload_size > copy + off + n)
                        abort();
                /* the same frame, encoded as a client would (masked) and decoded again */
                static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
                uint8_t *buf = NULL;
                size_t buf_size = 0;
                if (websocket_frame_encode(f.opcode, f.fin, mask, f.payload, f.payload_size, &buf, &buf_size) < 0)
                        abort();
                if (websocket_frame_decode(buf, buf_size, max_payload, &g) != (ssize_t) buf_size || g.fin != f.fin ||
                    g.opcode != f.opcode || g.payload_size != f.payload_size ||
                    memcmp(g.payload, f.payload, f.payload_size) != 0)
                        abort();
                free(buf);
                off += (size_t) n;
        }
        free(copy);
}

static void fuzz_handshake(const char *line) {
        static const char *const supported[] = {"v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io", NULL};
        char accept[29];
        const char *p = websocket_pick_protocol(line, supported);
        if (p && !strstr(line, p))
                abort(); /* only a protocol the client offered */
        if (websocket_accept_key(line, accept) >= 0 && strlen(accept) != 28)
                abort();
}

static bool session_closed;

static void on_message(WebSocket *ws, uint8_t opcode, const uint8_t *data, size_t size, void *userdata) {
        if ((opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) || size > MAX_MESSAGE)
                abort();
        /* answer like the exec handler does, so the output side runs too */
        (void) websocket_send2(ws, WS_OP_BINARY, "\1", 1, data, size);
}

static void on_closed(WebSocket *ws, int error, unsigned code, void *userdata) {
        session_closed = true;
}

static void fuzz_session(const uint8_t *data, size_t size) {
        static const WebSocketOps ops = {.message = on_message, .closed = on_closed};
        static const WebSocketConfig cfg = {.max_message = MAX_MESSAGE, .max_output = 64 * 1024};
        sd_event *e = NULL;
        WebSocket *ws = NULL;
        int fds[2];
        char sink[4096];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0 || sd_event_new(&e) < 0 ||
            websocket_new(e, fds[0], &cfg, &ops, NULL, &ws) < 0)
                abort();
        session_closed = false;
        if (websocket_feed(ws, data, size) >= 0)
                /* bounded: every iteration either makes progress or the loop ends */
                for (unsigned i = 0; i < 256 && !session_closed; i++) {
                        int r = sd_event_run(e, 0);
                        while (read(fds[1], sink, sizeof sink) > 0)
                                ;
                        if (r <= 0)
                                break;
                }
        websocket_free(ws);
        safe_close(fds[0]);
        safe_close(fds[1]);
        sd_event_unref(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nl = memchr(data, '\n', size);
        char *line = strndup((const char *) data, nl ? (size_t) (nl - (const char *) data) : MIN(size, 256));

        if (line)
                fuzz_handshake(line);
        free(line);
        fuzz_codec(data, size);
        fuzz_session(data, size);
        return 0;
}
