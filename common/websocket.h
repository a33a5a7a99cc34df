/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* WebSocket (RFC 6455), server side, on the daemon's loop: what the kubelet API needs for `kubectl exec/attach/
 * port-forward` over the channel protocols (v5.channel.k8s.io and friends).
 *
 * Handshake: the HTTP layer checks the request (GET, Upgrade: websocket, Sec-WebSocket-Version: 13) and answers 101
 * with websocket_accept_key() of the client's Sec-WebSocket-Key and the subprotocol chosen by
 * websocket_pick_protocol(); then the upgraded socket becomes a WebSocket here.
 *
 * Framing: client frames must be masked (RFC 6455 5.1: the server fails the connection otherwise), ours are not.
 * Fragmented messages are reassembled up to max_message (larger ones close the connection with 1009); control frames
 * may arrive between fragments. Pings are answered with pongs, a close frame with a close frame, after which the
 * connection reports closed. Text messages are not checked for UTF-8 (the channel protocols' base64 text is ASCII).
 *
 * The codec functions (websocket_frame_encode/decode) are separate so that the framing can be tested alone. */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

typedef enum WebSocketOpcode {
        WS_OP_CONTINUATION = 0x0,
        WS_OP_TEXT = 0x1,
        WS_OP_BINARY = 0x2,
        WS_OP_CLOSE = 0x8,
        WS_OP_PING = 0x9,
        WS_OP_PONG = 0xA,
} WebSocketOpcode;

/* Close status codes (RFC 6455 7.4.1) we send. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL_ERROR 1011

/* The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)), 28 characters.
 * -EINVAL when key is not the base64 of 16 bytes. */
int websocket_accept_key(const char *key, char ret[static 29]);
/* The first protocol in supported (a NULL-terminated list in our order of preference) that the client offered in
 * its Sec-WebSocket-Protocol header value(s) (comma-separated); NULL when none matches or nothing was offered. */
const char *websocket_pick_protocol(const char *offered, const char *const *supported);

typedef struct WebSocketFrame {
        bool fin;
        uint8_t opcode;
        bool masked;
        uint8_t *payload; /* points into the decoded buffer, unmasked in place */
        size_t payload_size;
} WebSocketFrame;

/* Decodes one frame from data[0..size), unmasking its payload in place. Returns the frame's total size, 0 when the
 * frame is incomplete, -EMSGSIZE when its payload exceeds max_payload, -EBADMSG on a malformed frame (reserved bits,
 * unknown opcode, a fragmented or oversized control frame, a 64-bit length with the top bit set). */
ssize_t websocket_frame_decode(uint8_t *data, size_t size, size_t max_payload, WebSocketFrame *ret);
/* Appends one frame to *buf (realloc'ed; *size grows). mask: NULL for a server frame, else the 4-byte key a client
 * uses. */
int websocket_frame_encode(uint8_t opcode, bool fin, const uint8_t *mask, const void *payload, size_t payload_size,
                           uint8_t **buf, size_t *size);

typedef struct WebSocket WebSocket;
typedef struct WebSocketOps {
        /* A complete message (opcode WS_OP_TEXT or WS_OP_BINARY). data is valid during the call only. */
        void (*message)(WebSocket *ws, uint8_t opcode, const uint8_t *data, size_t size, void *userdata);
        /* The connection ended: code is the peer's close code (1005 when none), or 0 with error < 0 when it failed or
         * dropped without a close frame. Called once; free the WebSocket afterwards (also from inside). */
        void (*closed)(WebSocket *ws, int error, unsigned code, void *userdata);
        /* Output drained after websocket_send() returned -ENOBUFS. May be NULL. */
        void (*drained)(WebSocket *ws, void *userdata);
} WebSocketOps;

typedef struct WebSocketConfig {
        size_t max_message; /* reassembled message size; 0 = 1 MiB */
        size_t max_output;  /* queued unsent bytes before websocket_send() refuses; 0 = 1 MiB */
} WebSocketConfig;

/* Serves fd (an upgraded connection, which stays the caller's) on e. ops is referenced, not copied. */
int websocket_new(sd_event *e, int fd, const WebSocketConfig *c, const WebSocketOps *ops, void *userdata,
                  WebSocket **ret);
WebSocket *websocket_free(WebSocket *ws);
DEFINE_TRIVIAL_CLEANUP_FUNC(WebSocket *, websocket_free)
/* Bytes the client sent right after its handshake request. */
int websocket_feed(WebSocket *ws, const void *data, size_t size);
/* Queues one message. -ENOBUFS when over max_output (nothing queued; drained() follows), -EPIPE once closing. */
int websocket_send(WebSocket *ws, uint8_t opcode, const void *data, size_t size);
/* Two buffers as one message (a channel byte and its payload) without copying them together first. */
int websocket_send2(WebSocket *ws, uint8_t opcode, const void *a, size_t a_size, const void *b, size_t b_size);
size_t websocket_buffered(const WebSocket *ws);
/* Stops reading client messages while the consumer cannot take more. */
void websocket_pause(WebSocket *ws, bool paused);
/* drained() once everything queued was written (see frame_conn_want_drained()). */
void websocket_want_drained(WebSocket *ws);
/* Sends a close frame (code, reason), flushes, half-closes and then reports closed(). */
void websocket_close(WebSocket *ws, unsigned code, const char *reason);
