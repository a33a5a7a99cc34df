/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: SPDY/3.1 as kubectl (and API servers translating for it) speak it to the kubelet API
 * (common/spdy.h): frames, the zlib header blocks of SYN_STREAM/SYN_REPLY/HEADERS decoded with one inflate stream
 * per connection (a decoded list re-encodes to one that decodes the same), and a whole server session on a
 * socketpair fed the input as the client's bytes: streams opened, data, resets, pings, GOAWAY. */

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAME 65536U
#define MAX_HEADERS 16384U

static bool strv_equal(char **a, char **b) {
        for (; *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return !*a && !*b;
}

static void fuzz_headers(SpdyZ *in, const uint8_t *block, size_t size) {
        char **h = NULL, **h2 = NULL;
        SpdyZ *out = NULL, *in2 = NULL;
        uint8_t *buf = NULL;
        size_t buf_size = 0;

        if (spdy_headers_decode(in, block, size, MAX_HEADERS, &h) < 0)
                return;
        for (char **p = h; *p; p += 2)
                if (!p[1])
                        abort(); /* names and values come in pairs */
        (void) spdy_headers_get(h, ":path");
        if (spdy_z_new(true, &out) < 0 || spdy_z_new(false, &in2) < 0 ||
            spdy_headers_encode(out, h, &buf, &buf_size) < 0)
                abort();
        /* what we decoded (lower-cased names, first values) encodes to a block that decodes the same */
        if (spdy_headers_decode(in2, buf, buf_size, MAX_HEADERS * 2, &h2) < 0 || !strv_equal(h, h2))
                abort();
        strv_free(h);
        strv_free(h2);
        free(buf);
        spdy_z_free(out);
        spdy_z_free(in2);
}

static void fuzz_frames(const uint8_t *data, size_t size) {
        SpdyZ *z = NULL;

        if (spdy_z_new(false, &z) < 0)
                abort();
        for (size_t off = 0; off < size;) {
                SpdyFrame f;
                ssize_t n = spdy_frame_decode(data + off, size - off, MAX_FRAME, &f);
                if (n <= 0)
                        break;
                if ((size_t) n != 8 + f.size || (size_t) n > size - off)
                        abort();
                if (f.control) {
                        size_t skip = f.type == SPDY_SYN_STREAM                            ? 10
                                      : f.type == SPDY_SYN_REPLY || f.type == SPDY_HEADERS ? 4
                                                                                           : SIZE_MAX;
                        if (skip != SIZE_MAX && f.size >= skip)
                                fuzz_headers(z, f.data + skip, f.size - skip);
                }
                off += (size_t) n;
        }
        spdy_z_free(z);
}

static bool session_closed;

static int on_stream(SpdySession *s, uint32_t id, char *const *headers, bool fin, void *userdata) {
        /* accept the streams kubectl opens (error, stdin, stdout, ...) and refuse the rest */
        const char *type = spdy_headers_get(headers, "streamtype");
        if (!type)
                return -EINVAL;
        return spdy_session_reply(s, id, NULL, false);
}

static void on_data(SpdySession *s, uint32_t id, const uint8_t *data, size_t size, bool fin, void *userdata) {
        if (size > MAX_FRAME)
                abort();
        (void) spdy_session_send(s, id, data, size, fin);
}

static void on_closed(SpdySession *s, int error, void *userdata) {
        session_closed = true;
}

static void fuzz_session(const uint8_t *data, size_t size) {
        static const SpdySessionOps ops = {.stream = on_stream, .data = on_data, .closed = on_closed};
        static const SpdyConfig cfg = {.max_frame = MAX_FRAME, .max_output = 64 * 1024};
        sd_event *e = NULL;
        SpdySession *s = NULL;
        int fds[2];
        char sink[4096];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0 || sd_event_new(&e) < 0 ||
            spdy_session_new(e, fds[0], &cfg, &ops, NULL, &s) < 0)
                abort();
        session_closed = false;
        if (spdy_session_feed(s, data, size) >= 0)
                /* bounded: every iteration either makes progress or the loop ends */
                for (unsigned i = 0; i < 256 && !session_closed; i++) {
                        int r = sd_event_run(e, 0);
                        while (read(fds[1], sink, sizeof sink) > 0)
                                ;
                        if (r <= 0)
                                break;
                }
        spdy_session_free(s);
        safe_close(fds[0]);
        safe_close(fds[1]);
        sd_event_unref(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_frames(data, size);
        fuzz_session(data, size);
        return 0;
}
