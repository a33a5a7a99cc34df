/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* SPDY/3.1, server side, on the daemon's loop: the stream multiplexing `kubectl exec/attach/port-forward` use
 * towards a kubelet (k8s.io/apimachinery's httpstream/spdy over moby/spdystream; API servers >= 1.30 translate
 * WebSocket clients into it too).
 *
 * Framing (draft-mbelshe-httpbis-spdy-00, version 3): 8-byte frame headers, control frames SYN_STREAM, SYN_REPLY,
 * RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE and data frames with FLAG_FIN. Header blocks are zlib
 * streams, one per direction and connection, primed with the spec's dictionary (spdy_dictionary()), each block
 * ending with a sync flush.
 *
 * Streams: the client opens them (odd ids, increasing); ops->stream() accepts or refuses each, the session sends
 * RST_STREAM for data on streams it does not know. Flow control: like spdystream, the session neither waits for
 * nor sends WINDOW_UPDATE (received ones are accepted and ignored); backpressure is the bounded output buffer
 * (-ENOBUFS, then drained()) and pausing input.
 *
 * The codec functions are separate so that framing and header compression can be tested alone. */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

#define SPDY_VERSION 3
#define SPDY_FLAG_FIN 0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02

typedef enum SpdyFrameType {
        SPDY_DATA = 0, /* not a control frame type: the type of data frames in SpdyFrame */
        SPDY_SYN_STREAM = 1,
        SPDY_SYN_REPLY = 2,
        SPDY_RST_STREAM = 3,
        SPDY_SETTINGS = 4,
        SPDY_PING = 6,
        SPDY_GOAWAY = 7,
        SPDY_HEADERS = 8,
        SPDY_WINDOW_UPDATE = 9,
} SpdyFrameType;

/* RST_STREAM status codes */
#define SPDY_PROTOCOL_ERROR 1
#define SPDY_INVALID_STREAM 2
#define SPDY_REFUSED_STREAM 3
#define SPDY_CANCEL 5
#define SPDY_INTERNAL_ERROR 6
#define SPDY_STREAM_IN_USE 8
#define SPDY_STREAM_ALREADY_CLOSED 9

/* The SPDY/3 header compression dictionary (1423 bytes). */
void spdy_dictionary(const uint8_t **ret, size_t *ret_size);

typedef struct SpdyFrame {
        bool control;
        uint16_t version; /* control frames */
        uint16_t type;    /* SpdyFrameType */
        uint8_t flags;
        uint32_t stream_id;  /* data frames */
        const uint8_t *data; /* the payload after the 8-byte header */
        size_t size;
} SpdyFrame;

/* Decodes one frame: its total size, 0 when incomplete, -EMSGSIZE when the payload exceeds max_payload. */
ssize_t spdy_frame_decode(const uint8_t *data, size_t size, size_t max_payload, SpdyFrame *ret);
/* Appends a control frame (header + payload) / a data frame to *buf. */
int spdy_frame_encode_control(uint16_t type, uint8_t flags, const void *payload, size_t size, uint8_t **buf,
                              size_t *buf_size);
int spdy_frame_encode_data(uint32_t stream_id, uint8_t flags, const void *data, size_t size, uint8_t **buf,
                           size_t *buf_size);

/* Header compression state of one direction of one connection. */
typedef struct SpdyZ SpdyZ;
int spdy_z_new(bool deflate, SpdyZ **ret);
SpdyZ *spdy_z_free(SpdyZ *z);
DEFINE_TRIVIAL_CLEANUP_FUNC(SpdyZ *, spdy_z_free)
/* headers: name, value, name, value, ..., NULL (names are sent lower-cased, as SPDY/3 requires). Appends the
 * compressed block to *buf. */
int spdy_headers_encode(SpdyZ *z, char *const *headers, uint8_t **buf, size_t *buf_size);
/* Decompresses and parses a header block (at most max bytes uncompressed) into a name, value, ... NULL strv with
 * lower-cased names; a value holding several NUL-separated values keeps the first. -EBADMSG when malformed. */
int spdy_headers_decode(SpdyZ *z, const uint8_t *data, size_t size, size_t max, char ***ret);
/* The value of name (case-insensitive) in a decoded header list, NULL when absent. */
const char *spdy_headers_get(char *const *headers, const char *name);

typedef struct SpdySession SpdySession;
typedef struct SpdySessionOps {
        /* The client opened stream id (SYN_STREAM; fin: it sends nothing more). Return >= 0 to accept it (then
         * answer with spdy_session_reply()), < 0 to refuse it (the session sends RST_STREAM REFUSED_STREAM). */
        int (*stream)(SpdySession *s, uint32_t id, char *const *headers, bool fin, void *userdata);
        /* Data on an accepted stream; fin: the client's half is closed (size may be 0). */
        void (*data)(SpdySession *s, uint32_t id, const uint8_t *data, size_t size, bool fin, void *userdata);
        /* The client reset the stream: it is gone. May be NULL. */
        void (*reset)(SpdySession *s, uint32_t id, uint32_t status, void *userdata);
        /* The connection ended (0: EOF, else a negative errno). Called once; free the session afterwards. */
        void (*closed)(SpdySession *s, int error, void *userdata);
        /* Output drained after a send returned -ENOBUFS. May be NULL. */
        void (*drained)(SpdySession *s, void *userdata);
} SpdySessionOps;

typedef struct SpdyConfig {
        size_t max_frame;  /* largest frame payload accepted; 0 = 1 MiB */
        size_t max_output; /* queued unsent bytes before a data send refuses; 0 = 1 MiB */
} SpdyConfig;

/* Serves fd (an upgraded connection, which stays the caller's) on e. ops is referenced, not copied. */
int spdy_session_new(sd_event *e, int fd, const SpdyConfig *c, const SpdySessionOps *ops, void *userdata,
                     SpdySession **ret);
SpdySession *spdy_session_free(SpdySession *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SpdySession *, spdy_session_free)
int spdy_session_feed(SpdySession *s, const void *data, size_t size);
/* SYN_REPLY for an accepted stream (headers as for spdy_headers_encode(); NULL = none). */
int spdy_session_reply(SpdySession *s, uint32_t id, char *const *headers, bool fin);
/* A data frame; fin closes our half. -ENOBUFS when over max_output (nothing queued; drained() follows; a
 * zero-length fin is always queued), -EPIPE after close, -ENOENT for a stream not open on our side. */
int spdy_session_send(SpdySession *s, uint32_t id, const void *data, size_t size, bool fin);
int spdy_session_reset(SpdySession *s, uint32_t id, uint32_t status);
size_t spdy_session_buffered(const SpdySession *s);
void spdy_session_pause(SpdySession *s, bool paused);
/* drained() once everything queued was written (see frame_conn_want_drained()). */
void spdy_session_want_drained(SpdySession *s);
/* GOAWAY, flush, half-close; then closed(0). */
void spdy_session_close(SpdySession *s);
