/* SPDX-License-Identifier: Apache-2.0 */
/* SPDY/3.1 (common/spdy.h): the header dictionary (its size and the spec's first and last bytes), header blocks
 * through one compression context per direction (later blocks depend on earlier ones, as on a connection), frames
 * of every form, and a session on a socketpair driven by a client built from the same codec: SYN_STREAM accepted
 * and answered with SYN_REPLY, data both ways with FIN, PING echoed, data on an unknown stream reset, GOAWAY on
 * close. */

#include <sys/socket.h>
#include <zlib.h>

#include "common/event-util.h"
#include "common/spdy.h"
#include "tests/lib/testlib.h"

START_TEST(test_dictionary) {
        const uint8_t *d;
        size_t n;
        spdy_dictionary(&d, &n);
        ck_assert_uint_eq(n, 1423);
        static const uint8_t head[] = {0x00, 0x00, 0x00, 0x07, 'o',  'p',  't', 'i',
                                       'o',  'n',  's',  0x00, 0x00, 0x00, 0x04};
        ck_assert(memcmp(d, head, sizeof(head)) == 0);
        ck_assert(memcmp(d + n - 7, ",enq=0.", 7) == 0);
}
END_TEST

START_TEST(test_headers) {
        _cleanup_(spdy_z_freep) SpdyZ *out = NULL, *in = NULL;
        char *h1[] = {(char *) "StreamType", (char *) "stdout", (char *) "port", (char *) "8080", NULL};
        char *h2[] = {(char *) "streamtype", (char *) "error", NULL};

        ck_assert_int_eq(spdy_z_new(true, &out), 0);
        ck_assert_int_eq(spdy_z_new(false, &in), 0);
        for (int round = 0; round < 3; round++) {
                _cleanup_free_ uint8_t *b1 = NULL, *b2 = NULL;
                size_t n1 = 0, n2 = 0;
                _cleanup_strv_free_ char **l1 = NULL, **l2 = NULL;
                ck_assert_int_eq(spdy_headers_encode(out, h1, &b1, &n1), 0);
                ck_assert_int_eq(spdy_headers_encode(out, h2, &b2, &n2), 0);
                ck_assert_int_eq(spdy_headers_decode(in, b1, n1, 4096, &l1), 0);
                ck_assert_int_eq(spdy_headers_decode(in, b2, n2, 4096, &l2), 0);
                ck_assert_str_eq(l1[0], "streamtype"); /* lower-cased on the wire */
                ck_assert_str_eq(spdy_headers_get(l1, "StreamType"), "stdout");
                ck_assert_str_eq(spdy_headers_get(l1, "port"), "8080");
                ck_assert_ptr_null(l1[4]);
                ck_assert_str_eq(spdy_headers_get(l2, "streamtype"), "error");
                ck_assert_ptr_null(spdy_headers_get(l2, "port"));
        }

        /* A block compressed by plain zlib with the dictionary (what Go's compress/zlib writes) decodes too, and a
         * block that does not inflate is refused. */
        _cleanup_(spdy_z_freep) SpdyZ *in2 = NULL;
        const uint8_t *dict;
        size_t dict_size;
        uint8_t raw[] = {0, 0, 0, 1, 0, 0, 0, 4, 'p', 'o', 'r', 't', 0, 0, 0, 2, '8', '0'}, z[256];
        z_stream zs = {};
        _cleanup_strv_free_ char **l = NULL;
        spdy_dictionary(&dict, &dict_size);
        ck_assert_int_eq(deflateInit(&zs, 9), Z_OK);
        ck_assert_int_eq(deflateSetDictionary(&zs, dict, (uInt) dict_size), Z_OK);
        zs.next_in = raw;
        zs.avail_in = sizeof(raw);
        zs.next_out = z;
        zs.avail_out = sizeof(z);
        ck_assert_int_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
        size_t zn = sizeof(z) - zs.avail_out;
        deflateEnd(&zs);
        ck_assert_int_eq(spdy_z_new(false, &in2), 0);
        ck_assert_int_eq(spdy_headers_decode(in2, z, zn, 4096, &l), 0);
        ck_assert_str_eq(spdy_headers_get(l, "port"), "80");
        _cleanup_(spdy_z_freep) SpdyZ *in3 = NULL;
        _cleanup_strv_free_ char **bad = NULL;
        ck_assert_int_eq(spdy_z_new(false, &in3), 0);
        ck_assert_int_lt(spdy_headers_decode(in3, raw, sizeof(raw), 4096, &bad), 0);
}
END_TEST

START_TEST(test_frames) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        SpdyFrame f;
        uint8_t ping[4] = {0, 0, 0, 7};

        ck_assert_int_eq(spdy_frame_encode_control(SPDY_PING, 0, ping, 4, &buf, &n), 0);
        ck_assert_int_eq(spdy_frame_encode_data(5, SPDY_FLAG_FIN, "abc", 3, &buf, &n), 0);
        ck_assert_uint_eq(n, 12 + 11);
        static const uint8_t expect_ping[] = {0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 7};
        ck_assert(memcmp(buf, expect_ping, sizeof(expect_ping)) == 0);
        ck_assert_int_eq(spdy_frame_decode(buf, 11, 1000, &f), 0);
        ck_assert_int_eq(spdy_frame_decode(buf, n, 1000, &f), 12);
        ck_assert(f.control);
        ck_assert_uint_eq(f.version, 3);
        ck_assert_uint_eq(f.type, SPDY_PING);
        ck_assert_int_eq(spdy_frame_decode(buf + 12, n - 12, 1000, &f), 11);
        ck_assert(!f.control);
        ck_assert_uint_eq(f.stream_id, 5);
        ck_assert_uint_eq(f.flags, SPDY_FLAG_FIN);
        ck_assert(f.size == 3 && memcmp(f.data, "abc", 3) == 0);
        ck_assert_int_eq(spdy_frame_decode(buf + 12, n - 12, 2, &f), -EMSGSIZE);
}
END_TEST

/* ---- a session ---- */

static bool session_closed;
static uint32_t accepted_id;
static char received[64];

static int on_stream(SpdySession *s, uint32_t id, char *const *headers, bool fin, void *userdata) {
        if (!streq_ptr(spdy_headers_get(headers, "streamtype"), "data"))
                return -EINVAL;
        accepted_id = id;
        ck_assert_int_eq(spdy_session_reply(s, id, NULL, false), 0);
        return 0;
}

static void on_data(SpdySession *s, uint32_t id, const uint8_t *data, size_t size, bool fin, void *userdata) {
        ck_assert_uint_eq(id, accepted_id);
        strncat(received, (const char *) data, MIN(size, sizeof(received) - strlen(received) - 1));
        if (fin) {
                ck_assert_int_eq(spdy_session_send(s, id, "pong", 4, true), 0);
                spdy_session_close(s);
        }
}

static void on_closed(SpdySession *s, int error, void *userdata) {
        session_closed = true;
}

static const SpdySessionOps ops = {.stream = on_stream, .data = on_data, .closed = on_closed};

static void client_syn(SpdyZ *z, uint32_t id, const char *type, uint8_t **frames, size_t *fn) {
        _cleanup_free_ uint8_t *payload = malloc(10);
        size_t n = 10;
        char *h[] = {(char *) "streamtype", (char *) type, NULL};
        memset(payload, 0, 10);
        payload[3] = (uint8_t) id;
        ck_assert_int_eq(spdy_headers_encode(z, h, &payload, &n), 0);
        ck_assert_int_eq(spdy_frame_encode_control(SPDY_SYN_STREAM, 0, payload, n, frames, fn), 0);
}

START_TEST(test_session) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(spdy_session_freep) SpdySession *s = NULL;
        _cleanup_(spdy_z_freep) SpdyZ *out = NULL, *in = NULL;
        int sv[2];
        uint8_t buf[4096];
        size_t have = 0;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(spdy_session_new(e, sv[0], NULL, &ops, NULL, &s), 0);
        ck_assert_int_eq(spdy_z_new(true, &out), 0);
        ck_assert_int_eq(spdy_z_new(false, &in), 0);

        _cleanup_free_ uint8_t *frames = NULL;
        size_t fn = 0;
        client_syn(out, 1, "data", &frames, &fn);
        client_syn(out, 3, "bogus", &frames, &fn); /* refused: RST_STREAM */
        uint8_t ping[4] = {0, 0, 0, 1};
        ck_assert_int_eq(spdy_frame_encode_control(SPDY_PING, 0, ping, 4, &frames, &fn), 0);
        ck_assert_int_eq(spdy_frame_encode_data(9, 0, "x", 1, &frames, &fn), 0); /* unknown stream: RST */
        ck_assert_int_eq(spdy_frame_encode_data(1, 0, "hello ", 6, &frames, &fn), 0);
        ck_assert_int_eq(spdy_frame_encode_data(1, SPDY_FLAG_FIN, "spdy", 4, &frames, &fn), 0);
        /* The first bytes go through spdy_session_feed(), as the HTTP server hands them over after the upgrade. */
        ck_assert_int_eq(spdy_session_feed(s, frames, 5), 0);
        ck_assert_int_eq(write(sv[1], frames + 5, fn - 5), (ssize_t) (fn - 5));

        for (int i = 0; i < 200 && !session_closed; i++)
                ck_assert_int_ge(sd_event_run(e, 10 * USEC_PER_MSEC), 0);
        ck_assert(session_closed);
        ck_assert_str_eq(received, "hello spdy");

        ssize_t r;
        while ((r = read(sv[1], buf + have, sizeof(buf) - have)) > 0)
                have += (size_t) r;
        /* SYN_REPLY 1, RST 3, PING, RST 9, data "pong" FIN, GOAWAY */
        bool syn_reply = false, rst3 = false, pong = false, rst9 = false, data = false, goaway = false;
        for (size_t off = 0; off < have;) {
                SpdyFrame f;
                ssize_t k = spdy_frame_decode(buf + off, have - off, 4096, &f);
                ck_assert_int_gt(k, 0);
                if (f.control && f.type == SPDY_SYN_REPLY) {
                        _cleanup_strv_free_ char **h = NULL;
                        ck_assert_int_eq(spdy_headers_decode(in, f.data + 4, f.size - 4, 4096, &h), 0);
                        syn_reply = f.data[3] == 1;
                }
                rst3 = rst3 ||
                       (f.control && f.type == SPDY_RST_STREAM && f.data[3] == 3 && f.data[7] == SPDY_REFUSED_STREAM);
                rst9 = rst9 ||
                       (f.control && f.type == SPDY_RST_STREAM && f.data[3] == 9 && f.data[7] == SPDY_INVALID_STREAM);
                pong = pong || (f.control && f.type == SPDY_PING && f.data[3] == 1);
                data = data || (!f.control && f.stream_id == 1 && f.flags == SPDY_FLAG_FIN && f.size == 4 &&
                                memcmp(f.data, "pong", 4) == 0);
                goaway = goaway || (f.control && f.type == SPDY_GOAWAY);
                off += (size_t) k;
        }
        ck_assert(syn_reply && rst3 && pong && rst9 && data && goaway);
        s = spdy_session_free(s);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

int main(void) {
        Suite *s = suite_create("spdy");
        TCase *tc = tcase_create("codec");
        tcase_add_test(tc, test_dictionary);
        tcase_add_test(tc, test_headers);
        tcase_add_test(tc, test_frames);
        tcase_add_test(tc, test_session);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
