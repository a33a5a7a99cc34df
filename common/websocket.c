/* SPDX-License-Identifier: Apache-2.0 */
#include "common/websocket.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>

#include "common/frame-conn.h"
#include "common/log.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define DEFAULT_MAX_MESSAGE (1024U * 1024)
#define MAX_CONTROL_PAYLOAD 125
#define MAX_HEADER 14

struct WebSocket {
        FrameConn *conn;
        size_t max_message;
        uint8_t *msg; /* a fragmented message being reassembled */
        size_t msg_size;
        uint8_t msg_opcode; /* 0: none in progress */
        bool close_sent, close_received, reported;
        unsigned peer_code;
        const WebSocketOps *ops;
        void *userdata;
};

int websocket_accept_key(const char *key, char ret[static 29]) {
        uint8_t raw[32], digest[SHA_DIGEST_LENGTH];
        char buf[128];
        size_t l = key ? strlen(key) : 0;

        /* 16 random bytes, base64: 24 characters (RFC 6455 4.2.1 item 5). */
        if (l != 24 || EVP_DecodeBlock(raw, (const unsigned char *) key, (int) l) != 18)
                return -EINVAL;
        (void) snprintf(buf, sizeof(buf), "%s" WS_GUID, key);
        SHA1((const unsigned char *) buf, strlen(buf), digest);
        if (EVP_EncodeBlock((unsigned char *) ret, digest, SHA_DIGEST_LENGTH) != 28)
                return -EINVAL;
        return 0;
}

const char *websocket_pick_protocol(const char *offered, const char *const *supported) {
        if (isempty(offered))
                return NULL;
        for (const char *const *s = supported; *s; s++) {
                size_t l = strlen(*s);
                for (const char *p = offered; *p;) {
                        p += strspn(p, " \t,");
                        size_t n = strcspn(p, " \t,");
                        if (n == l && strncmp(p, *s, l) == 0)
                                return *s;
                        p += n;
                }
        }
        return NULL;
}

static bool opcode_valid(uint8_t op) {
        return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

ssize_t websocket_frame_decode(uint8_t *data, size_t size, size_t max_payload, WebSocketFrame *ret) {
        size_t off = 2;
        uint64_t len;

        if (size < 2)
                return 0;
        uint8_t b0 = data[0], b1 = data[1], opcode = b0 & 0x0F;
        if (b0 & 0x70) /* RSV1-3: no extension was negotiated */
                return -EBADMSG;
        if (!opcode_valid(opcode))
                return -EBADMSG;
        len = b1 & 0x7F;
        if (len == 126) {
                if (size < 4)
                        return 0;
                len = (uint64_t) data[2] << 8 | data[3];
                off = 4;
        } else if (len == 127) {
                if (size < 10)
                        return 0;
                len = 0;
                for (int i = 0; i < 8; i++)
                        len = len << 8 | data[2 + i];
                if (len >> 63)
                        return -EBADMSG;
                off = 10;
        }
        if (opcode >= WS_OP_CLOSE && (!(b0 & 0x80) || len > MAX_CONTROL_PAYLOAD))
                return -EBADMSG;
        if (len > max_payload)
                return -EMSGSIZE;
        bool masked = b1 & 0x80;
        uint8_t mask[4] = {};
        if (masked) {
                if (size < off + 4)
                        return 0;
                memcpy(mask, data + off, 4);
                off += 4;
        }
        if (size - off < len)
                return 0;
        if (masked)
                for (size_t i = 0; i < len; i++)
                        data[off + i] ^= mask[i & 3];
        *ret = (WebSocketFrame){
                .fin = b0 & 0x80,
                .opcode = opcode,
                .masked = masked,
                .payload = data + off,
                .payload_size = (size_t) len,
        };
        return (ssize_t) (off + len);
}

static size_t frame_header(uint8_t opcode, bool fin, const uint8_t *mask, size_t size, uint8_t h[static MAX_HEADER]) {
        size_t n = 2;

        h[0] = (uint8_t) ((fin ? 0x80 : 0) | (opcode & 0x0F));
        if (size < 126)
                h[1] = (uint8_t) size;
        else if (size <= 0xFFFF) {
                h[1] = 126;
                h[2] = (uint8_t) (size >> 8);
                h[3] = (uint8_t) size;
                n = 4;
        } else {
                h[1] = 127;
                for (int i = 0; i < 8; i++)
                        h[2 + i] = (uint8_t) ((uint64_t) size >> (56 - 8 * i));
                n = 10;
        }
        if (mask) {
                h[1] |= 0x80;
                memcpy(h + n, mask, 4);
                n += 4;
        }
        return n;
}

int websocket_frame_encode(uint8_t opcode, bool fin, const uint8_t *mask, const void *payload, size_t payload_size,
                           uint8_t **buf, size_t *size) {
        uint8_t h[MAX_HEADER];
        size_t hn = frame_header(opcode, fin, mask, payload_size, h);
        uint8_t *p = realloc(*buf, *size + hn + payload_size);

        RET_NULL_ENOMEM(p);
        memcpy(p + *size, h, hn);
        if (payload_size > 0)
                memcpy(p + *size + hn, payload, payload_size);
        if (mask)
                for (size_t i = 0; i < payload_size; i++)
                        p[*size + hn + i] ^= mask[i & 3];
        *buf = p;
        *size += hn + payload_size;
        return 0;
}

/* ---- connection ---- */

static int ws_write(WebSocket *ws, uint8_t opcode, const void *a, size_t a_size, const void *b, size_t b_size,
                    bool force) {
        uint8_t h[MAX_HEADER];
        size_t hn = frame_header(opcode, true, NULL, a_size + b_size, h);
        _cleanup_free_ uint8_t *frame = malloc(hn + a_size + b_size);

        RET_NULL_ENOMEM(frame);
        memcpy(frame, h, hn);
        if (a_size > 0)
                memcpy(frame + hn, a, a_size);
        if (b_size > 0)
                memcpy(frame + hn + a_size, b, b_size);
        return frame_conn_write(ws->conn, frame, hn + a_size + b_size, force);
}

static void ws_send_close(WebSocket *ws, unsigned code, const char *reason) {
        uint8_t p[MAX_CONTROL_PAYLOAD];
        size_t n = 0;

        if (ws->close_sent)
                return;
        ws->close_sent = true;
        if (code != 0) {
                p[0] = (uint8_t) (code >> 8);
                p[1] = (uint8_t) code;
                n = 2;
                if (reason) {
                        size_t l = MIN(strlen(reason), sizeof(p) - 2);
                        memcpy(p + 2, reason, l);
                        n += l;
                }
        }
        (void) ws_write(ws, WS_OP_CLOSE, p, n, NULL, 0, true);
        frame_conn_finish(ws->conn);
}

static int ws_fail(WebSocket *ws, int r) {
        ws_send_close(ws, r == -EMSGSIZE ? WS_CLOSE_TOO_BIG : WS_CLOSE_PROTOCOL_ERROR, NULL);
        return 0;
}

static ssize_t ws_parse(FrameConn *c, uint8_t *data, size_t size, void *userdata) {
        WebSocket *ws = userdata;
        WebSocketFrame f;
        ssize_t n;

        if (ws->close_received || ws->close_sent)
                return (ssize_t) size; /* after a close frame nothing more counts (RFC 6455 5.5.1) */
        n = websocket_frame_decode(data, size, ws->max_message, &f);
        if (n <= 0) {
                if (n < 0)
                        (void) ws_fail(ws, (int) n);
                return n < 0 ? (ssize_t) size : 0;
        }
        if (!f.masked) {
                (void) ws_fail(ws, -EBADMSG);
                return (ssize_t) size;
        }
        switch (f.opcode) {
        case WS_OP_PING:
                (void) ws_write(ws, WS_OP_PONG, f.payload, f.payload_size, NULL, 0, true);
                return n;
        case WS_OP_PONG:
                return n;
        case WS_OP_CLOSE:
                ws->close_received = true;
                ws->peer_code = f.payload_size >= 2 ? (unsigned) f.payload[0] << 8 | f.payload[1] : 1005;
                /* Echo the code, as RFC 6455 5.5.1 suggests, then close once it is flushed. */
                ws_send_close(ws, ws->peer_code == 1005 ? 0 : ws->peer_code, NULL);
                return n;
        case WS_OP_CONTINUATION:
                if (ws->msg_opcode == 0) {
                        (void) ws_fail(ws, -EBADMSG);
                        return (ssize_t) size;
                }
                break;
        default: /* text or binary */
                if (ws->msg_opcode != 0) {
                        (void) ws_fail(ws, -EBADMSG);
                        return (ssize_t) size;
                }
                if (f.fin) {
                        ws->ops->message(ws, f.opcode, f.payload, f.payload_size, ws->userdata);
                        return n;
                }
                ws->msg_opcode = f.opcode;
                break;
        }
        if (ws->msg_size + f.payload_size > ws->max_message) {
                (void) ws_fail(ws, -EMSGSIZE);
                return (ssize_t) size;
        }
        uint8_t *p = realloc(ws->msg, ws->msg_size + f.payload_size + 1);
        if (!p)
                return -ENOMEM;
        memcpy(p + ws->msg_size, f.payload, f.payload_size);
        ws->msg = p;
        ws->msg_size += f.payload_size;
        if (f.fin) {
                uint8_t op = ws->msg_opcode;
                size_t sz = ws->msg_size;
                ws->msg_opcode = 0;
                ws->msg_size = 0;
                ws->ops->message(ws, op, ws->msg, sz, ws->userdata);
        }
        return n;
}

static void ws_closed(FrameConn *c, int error, void *userdata) {
        WebSocket *ws = userdata;

        if (ws->reported)
                return;
        ws->reported = true;
        if (error == 0 && !ws->close_received && !ws->close_sent)
                error = -ECONNRESET; /* EOF without a close frame */
        ws->ops->closed(ws, error, ws->close_received ? ws->peer_code : 0, ws->userdata);
}

static void ws_drained(FrameConn *c, void *userdata) {
        WebSocket *ws = userdata;
        if (ws->ops->drained)
                ws->ops->drained(ws, ws->userdata);
}

static const FrameConnOps ws_conn_ops = {
        .parse = ws_parse,
        .closed = ws_closed,
        .drained = ws_drained,
};

int websocket_new(sd_event *e, int fd, const WebSocketConfig *c, const WebSocketOps *ops, void *userdata,
                  WebSocket **ret) {
        _cleanup_(websocket_freep) WebSocket *ws = calloc(1, sizeof(*ws));
        int r;

        RET_NULL_ENOMEM(ws);
        ws->max_message = (c ? c->max_message : 0) ?: DEFAULT_MAX_MESSAGE;
        ws->ops = ops;
        ws->userdata = userdata;
        /* The input buffer holds at least one whole frame of the largest message plus its header. */
        r = frame_conn_new(e, fd, ws->max_message + MAX_HEADER, c ? c->max_output : 0, &ws_conn_ops, ws, &ws->conn);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ws);
        return 0;
}

WebSocket *websocket_free(WebSocket *ws) {
        if (!ws)
                return NULL;
        frame_conn_free(ws->conn);
        free(ws->msg);
        free(ws);
        return NULL;
}

int websocket_feed(WebSocket *ws, const void *data, size_t size) {
        return frame_conn_feed(ws->conn, data, size);
}

int websocket_send(WebSocket *ws, uint8_t opcode, const void *data, size_t size) {
        return websocket_send2(ws, opcode, data, size, NULL, 0);
}

int websocket_send2(WebSocket *ws, uint8_t opcode, const void *a, size_t a_size, const void *b, size_t b_size) {
        if (ws->close_sent)
                return -EPIPE;
        return ws_write(ws, opcode, a, a_size, b, b_size, false);
}

size_t websocket_buffered(const WebSocket *ws) {
        return frame_conn_buffered(ws->conn);
}

void websocket_pause(WebSocket *ws, bool paused) {
        frame_conn_pause(ws->conn, paused);
}

void websocket_want_drained(WebSocket *ws) {
        frame_conn_want_drained(ws->conn);
}

void websocket_close(WebSocket *ws, unsigned code, const char *reason) {
        ws_send_close(ws, code, reason);
}
