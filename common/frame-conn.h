/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A framed byte-stream connection on the daemon's sd-event loop, the transport under the WebSocket and SPDY
 * sessions (common/websocket.h, common/spdy.h): a non-blocking socket, bounded input and output buffers, and
 * backpressure both ways, with no thread.
 *
 * Input: bytes are read into a buffer of at most max_input and handed to ops->parse(), which consumes whole frames
 * and returns how many bytes it used (0: a frame is incomplete). A frame that cannot fit max_input is a protocol
 * error, as is a negative return. frame_conn_pause() stops reading (the consumer's own buffer is full), so a slow
 * consumer makes the peer block in TCP instead of making us buffer.
 * Output: frame_conn_write() queues a copy; beyond max_output it refuses with -ENOBUFS (nothing queued) and
 * ops->drained() follows once everything was written. Control frames pass force=true: they are small and must not
 * be lost (pongs, close replies, resets).
 *
 * The fd stays the caller's (an upgraded HTTP connection is closed through its server). Callbacks run from the
 * loop; frame_conn_free() may be called from inside them. */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

typedef struct FrameConn FrameConn;

typedef struct FrameConnOps {
        /* Consumes complete frames from data[0..size) (data may be modified in place, e.g. unmasked): returns the
         * bytes used, 0 when more are needed, a negative errno on a protocol error (the connection fails). */
        ssize_t (*parse)(FrameConn *c, uint8_t *data, size_t size, void *userdata);
        /* The connection ended: 0 when the peer closed it (EOF) or frame_conn_finish() flushed everything, else a
         * negative errno. Called once; no more callbacks follow. */
        void (*closed)(FrameConn *c, int error, void *userdata);
        /* Everything queued was written after a write had been refused with -ENOBUFS. May be NULL. */
        void (*drained)(FrameConn *c, void *userdata);
} FrameConnOps;

/* max_input/max_output: 0 = 1 MiB. ops is referenced, not copied. */
int frame_conn_new(sd_event *e, int fd, size_t max_input, size_t max_output, const FrameConnOps *ops, void *userdata,
                   FrameConn **ret);
FrameConn *frame_conn_free(FrameConn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(FrameConn *, frame_conn_free)

/* Bytes that arrived before the connection existed (read by the HTTP server after the request head). */
int frame_conn_feed(FrameConn *c, const void *data, size_t size);
int frame_conn_write(FrameConn *c, const void *data, size_t size, bool force);
size_t frame_conn_buffered(const FrameConn *c);
void frame_conn_pause(FrameConn *c, bool paused);
/* Asks for ops->drained() once the output buffer is empty (next loop iteration when it already is): producers that
 * stop at a high-water mark of their own use it to resume. */
void frame_conn_want_drained(FrameConn *c);
/* Flushes what is queued, then half-closes the socket and reports closed(0). Later writes fail with -EPIPE. */
void frame_conn_finish(FrameConn *c);
