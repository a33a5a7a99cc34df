/* SPDX-License-Identifier: Apache-2.0 */
#include "common/spdy.h"

#include <ctype.h>
#include <strings.h>
#include <zlib.h>

#include "common/frame-conn.h"
#include "common/log.h"

#define DEFAULT_MAX_FRAME (1024U * 1024)
#define MAX_HEADER_BLOCK (64U * 1024)
#define MAX_STREAMS 1024
#define DICTIONARY_SIZE 1423

/* ---- the SPDY/3 dictionary (spec section 2.6.10.1): length-prefixed header names and values, then a tail ---- */

static const char *const dictionary_words[] = {
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
};
static const char dictionary_tail[] =
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static void put32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

void spdy_dictionary(const uint8_t **ret, size_t *ret_size) {
        /* Built once from the spec's table; immutable afterwards (the daemon is single-threaded where it speaks
         * SPDY, and a second builder would write the same bytes). */
        static uint8_t dict[DICTIONARY_SIZE];
        static size_t size;

        if (size == 0) {
                size_t n = 0;
                for (size_t i = 0; i < ELEMENTSOF(dictionary_words); i++) {
                        size_t l = strlen(dictionary_words[i]);
                        put32(dict + n, (uint32_t) l);
                        memcpy(dict + n + 4, dictionary_words[i], l);
                        n += 4 + l;
                }
                memcpy(dict + n, dictionary_tail, sizeof(dictionary_tail) - 1);
                n += sizeof(dictionary_tail) - 1;
                size = n;
        }
        *ret = dict;
        *ret_size = size;
}

/* ---- frames ---- */

ssize_t spdy_frame_decode(const uint8_t *data, size_t size, size_t max_payload, SpdyFrame *ret) {
        if (size < 8)
                return 0;
        size_t len = (size_t) data[5] << 16 | (size_t) data[6] << 8 | data[7];
        if (len > max_payload)
                return -EMSGSIZE;
        if (size - 8 < len)
                return 0;
        SpdyFrame f = {.flags = data[4], .data = data + 8, .size = len};
        if (data[0] & 0x80) {
                f.control = true;
                f.version = (uint16_t) ((data[0] & 0x7F) << 8 | data[1]);
                f.type = (uint16_t) (data[2] << 8 | data[3]);
        } else {
                f.type = SPDY_DATA;
                f.stream_id = get32(data) & 0x7FFFFFFF;
        }
        *ret = f;
        return (ssize_t) (8 + len);
}

static int buf_grow(uint8_t **buf, size_t *buf_size, size_t more, uint8_t **ret_at) {
        uint8_t *p = realloc(*buf, *buf_size + more);
        RET_NULL_ENOMEM(p);
        *buf = p;
        *ret_at = p + *buf_size;
        *buf_size += more;
        return 0;
}

int spdy_frame_encode_control(uint16_t type, uint8_t flags, const void *payload, size_t size, uint8_t **buf,
                              size_t *buf_size) {
        uint8_t *p;
        if (size > 0xFFFFFF)
                return -EMSGSIZE;
        int r = buf_grow(buf, buf_size, 8 + size, &p);
        if (r < 0)
                return r;
        p[0] = 0x80;
        p[1] = SPDY_VERSION;
        p[2] = (uint8_t) (type >> 8);
        p[3] = (uint8_t) type;
        put32(p + 4, (uint32_t) size);
        p[4] = flags;
        if (size > 0)
                memcpy(p + 8, payload, size);
        return 0;
}

int spdy_frame_encode_data(uint32_t stream_id, uint8_t flags, const void *data, size_t size, uint8_t **buf,
                           size_t *buf_size) {
        uint8_t *p;
        if (size > 0xFFFFFF)
                return -EMSGSIZE;
        int r = buf_grow(buf, buf_size, 8 + size, &p);
        if (r < 0)
                return r;
        put32(p, stream_id & 0x7FFFFFFF);
        put32(p + 4, (uint32_t) size);
        p[4] = flags;
        if (size > 0)
                memcpy(p + 8, data, size);
        return 0;
}

/* ---- header blocks ---- */

struct SpdyZ {
        z_stream z;
        bool deflate;
};

int spdy_z_new(bool deflate, SpdyZ **ret) {
        SpdyZ *z = calloc(1, sizeof(*z));
        const uint8_t *dict;
        size_t dict_size;
        int r;

        RET_NULL_ENOMEM(z);
        z->deflate = deflate;
        if (deflate) {
                r = deflateInit(&z->z, Z_DEFAULT_COMPRESSION);
                if (r == Z_OK) {
                        spdy_dictionary(&dict, &dict_size);
                        r = deflateSetDictionary(&z->z, dict, (uInt) dict_size);
                        if (r != Z_OK)
                                (void) deflateEnd(&z->z);
                }
        } else
                r = inflateInit(&z->z);
        if (r != Z_OK) {
                free(z);
                return r == Z_MEM_ERROR ? -ENOMEM : -EIO;
        }
        *ret = z;
        return 0;
}

SpdyZ *spdy_z_free(SpdyZ *z) {
        if (!z)
                return NULL;
        if (z->deflate)
                (void) deflateEnd(&z->z);
        else
                (void) inflateEnd(&z->z);
        free(z);
        return NULL;
}

int spdy_headers_encode(SpdyZ *z, char *const *headers, uint8_t **buf, size_t *buf_size) {
        size_t n = 0, raw_size = 4;
        for (; headers && headers[n] && headers[n + 1]; n += 2)
                raw_size += 8 + strlen(headers[n]) + strlen(headers[n + 1]);
        _cleanup_free_ uint8_t *raw = malloc(raw_size);
        RET_NULL_ENOMEM(raw);
        put32(raw, (uint32_t) (n / 2));
        size_t off = 4;
        for (size_t i = 0; i < n; i += 2) {
                size_t nl = strlen(headers[i]), vl = strlen(headers[i + 1]);
                put32(raw + off, (uint32_t) nl);
                for (size_t k = 0; k < nl; k++)
                        raw[off + 4 + k] = (uint8_t) tolower((unsigned char) headers[i][k]);
                off += 4 + nl;
                put32(raw + off, (uint32_t) vl);
                memcpy(raw + off + 4, headers[i + 1], vl);
                off += 4 + vl;
        }
        /* A sync flush ends every block on a byte boundary, so the peer can inflate it alone. */
        size_t bound = deflateBound(&z->z, raw_size) + 16;
        uint8_t *p;
        size_t start = *buf_size;
        int r = buf_grow(buf, buf_size, bound, &p);
        if (r < 0)
                return r;
        z->z.next_in = raw;
        z->z.avail_in = (uInt) raw_size;
        z->z.next_out = p;
        z->z.avail_out = (uInt) bound;
        r = deflate(&z->z, Z_SYNC_FLUSH);
        if (r != Z_OK || z->z.avail_in != 0) {
                *buf_size = start;
                return -EIO;
        }
        *buf_size = start + (bound - z->z.avail_out);
        return 0;
}

int spdy_headers_decode(SpdyZ *z, const uint8_t *data, size_t size, size_t max, char ***ret) {
        _cleanup_free_ uint8_t *raw = malloc(max);
        RET_NULL_ENOMEM(raw);
        z->z.next_in = (uint8_t *) data;
        z->z.avail_in = (uInt) size;
        z->z.next_out = raw;
        z->z.avail_out = (uInt) max;
        while (z->z.avail_in > 0) {
                int r = inflate(&z->z, Z_SYNC_FLUSH);
                if (r == Z_NEED_DICT) {
                        const uint8_t *dict;
                        size_t dict_size;
                        spdy_dictionary(&dict, &dict_size);
                        if (inflateSetDictionary(&z->z, dict, (uInt) dict_size) != Z_OK)
                                return -EBADMSG;
                        continue;
                }
                if (r == Z_BUF_ERROR && z->z.avail_out == 0)
                        return -EMSGSIZE;
                if (r != Z_OK)
                        return -EBADMSG;
                if (z->z.avail_out == 0 && z->z.avail_in > 0)
                        return -EMSGSIZE;
        }
        size_t n = max - z->z.avail_out, off = 4;
        if (n < 4)
                return -EBADMSG;
        uint32_t pairs = get32(raw);
        if (pairs > n / 8)
                return -EBADMSG;
        _cleanup_strv_free_ char **l = calloc(2 * (size_t) pairs + 1, sizeof(char *));
        RET_NULL_ENOMEM(l);
        for (uint32_t i = 0; i < 2 * pairs; i++) {
                if (n - off < 4)
                        return -EBADMSG;
                uint32_t len = get32(raw + off);
                off += 4;
                if (n - off < len || (i % 2 == 0 && len == 0))
                        return -EBADMSG;
                l[i] = strndup((const char *) raw + off, len); /* stops at the first NUL of a multi-value */
                RET_NULL_ENOMEM(l[i]);
                if (i % 2 == 0)
                        for (char *c = l[i]; *c; c++)
                                *c = (char) tolower((unsigned char) *c);
                off += len;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

const char *spdy_headers_get(char *const *headers, const char *name) {
        for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
                if (strcasecmp(headers[i], name) == 0)
                        return headers[i + 1];
        return NULL;
}

/* ---- session ---- */

typedef struct SpdyStreamState {
        uint32_t id;
        bool local_closed, remote_closed;
} SpdyStreamState;

struct SpdySession {
        FrameConn *conn;
        SpdyZ *in_z, *out_z;
        size_t max_frame;
        uint32_t last_client_id;
        SpdyStreamState *streams;
        size_t n_streams;
        bool goaway_sent;
        bool reported;
        const SpdySessionOps *ops;
        void *userdata;
};

static SpdyStreamState *stream_find(SpdySession *s, uint32_t id) {
        for (size_t i = 0; i < s->n_streams; i++)
                if (s->streams[i].id == id)
                        return &s->streams[i];
        return NULL;
}

static void stream_forget(SpdySession *s, uint32_t id) {
        for (size_t i = 0; i < s->n_streams; i++)
                if (s->streams[i].id == id) {
                        s->streams[i] = s->streams[--s->n_streams];
                        return;
                }
}

static void stream_maybe_done(SpdySession *s, SpdyStreamState *st) {
        if (st->local_closed && st->remote_closed)
                stream_forget(s, st->id);
}

static int session_control(SpdySession *s, uint16_t type, uint8_t flags, const void *payload, size_t size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int r = spdy_frame_encode_control(type, flags, payload, size, &buf, &n);
        if (r < 0)
                return r;
        return frame_conn_write(s->conn, buf, n, true);
}

static int session_rst(SpdySession *s, uint32_t id, uint32_t status) {
        uint8_t p[8];
        put32(p, id & 0x7FFFFFFF);
        put32(p + 4, status);
        stream_forget(s, id);
        return session_control(s, SPDY_RST_STREAM, 0, p, sizeof(p));
}

static void session_goaway(SpdySession *s, uint32_t status) {
        uint8_t p[8];
        if (s->goaway_sent)
                return;
        s->goaway_sent = true;
        put32(p, s->last_client_id);
        put32(p + 4, status);
        (void) session_control(s, SPDY_GOAWAY, 0, p, sizeof(p));
        frame_conn_finish(s->conn);
}

static int handle_syn_stream(SpdySession *s, const SpdyFrame *f) {
        if (f->size < 10)
                return -EBADMSG;
        uint32_t id = get32(f->data) & 0x7FFFFFFF;
        _cleanup_strv_free_ char **headers = NULL;
        /* The header block is decoded whatever happens to the stream: the zlib stream continues across blocks. */
        int r = spdy_headers_decode(s->in_z, f->data + 10, f->size - 10, MAX_HEADER_BLOCK, &headers);
        if (r < 0)
                return r;
        if (id == 0 || id % 2 == 0 || id <= s->last_client_id)
                return session_rst(s, id, SPDY_PROTOCOL_ERROR);
        s->last_client_id = id;
        if (s->goaway_sent || s->n_streams >= MAX_STREAMS)
                return session_rst(s, id, SPDY_REFUSED_STREAM);
        SpdyStreamState *l = realloc(s->streams, (s->n_streams + 1) * sizeof(*l));
        RET_NULL_ENOMEM(l);
        s->streams = l;
        bool fin = f->flags & SPDY_FLAG_FIN;
        s->streams[s->n_streams++] = (SpdyStreamState){
                .id = id,
                .remote_closed = fin,
                .local_closed = f->flags & SPDY_FLAG_UNIDIRECTIONAL,
        };
        r = s->ops->stream(s, id, headers, fin, s->userdata);
        if (r < 0 && !s->reported)
                return session_rst(s, id, SPDY_REFUSED_STREAM);
        return 0;
}

static int handle_control(SpdySession *s, const SpdyFrame *f) {
        uint8_t p[8];

        if (f->version != SPDY_VERSION)
                return -EPROTONOSUPPORT;
        switch (f->type) {
        case SPDY_SYN_STREAM:
                return handle_syn_stream(s, f);
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS: {
                /* Not expected from a client that only opens streams, but the compression state must follow. */
                _cleanup_strv_free_ char **headers = NULL;
                if (f->size < 4)
                        return -EBADMSG;
                return spdy_headers_decode(s->in_z, f->data + 4, f->size - 4, MAX_HEADER_BLOCK, &headers);
        }
        case SPDY_RST_STREAM: {
                if (f->size < 8)
                        return -EBADMSG;
                uint32_t id = get32(f->data) & 0x7FFFFFFF;
                if (!stream_find(s, id))
                        return 0;
                stream_forget(s, id);
                if (s->ops->reset)
                        s->ops->reset(s, id, get32(f->data + 4), s->userdata);
                return 0;
        }
        case SPDY_PING:
                if (f->size != 4)
                        return -EBADMSG;
                /* Echo the client's pings (odd ids); an even id would answer a ping of ours: we send none. */
                if (get32(f->data) % 2 == 1) {
                        memcpy(p, f->data, 4);
                        return session_control(s, SPDY_PING, 0, p, 4);
                }
                return 0;
        case SPDY_GOAWAY:
                /* No new streams from the client; the ones open continue until it closes the connection. */
                return 0;
        default: /* SETTINGS, WINDOW_UPDATE (no flow control, like spdystream), unknown types: ignored */
                return 0;
        }
}

static ssize_t session_parse(FrameConn *c, uint8_t *data, size_t size, void *userdata) {
        SpdySession *s = userdata;
        SpdyFrame f;
        ssize_t n = spdy_frame_decode(data, size, s->max_frame, &f);
        int r;

        if (n <= 0)
                return n;
        if (f.control) {
                r = handle_control(s, &f);
                if (r < 0 && !s->reported) {
                        session_goaway(s, 1 /* PROTOCOL_ERROR */);
                        return (ssize_t) size;
                }
                return n;
        }
        SpdyStreamState *st = stream_find(s, f.stream_id);
        if (!st || st->remote_closed) {
                (void) session_rst(s, f.stream_id, st ? SPDY_STREAM_ALREADY_CLOSED : SPDY_INVALID_STREAM);
                return n;
        }
        bool fin = f.flags & SPDY_FLAG_FIN;
        uint32_t id = st->id;
        if (fin) {
                st->remote_closed = true;
                stream_maybe_done(s, st);
        }
        s->ops->data(s, id, f.data, f.size, fin, s->userdata);
        return n;
}

static void session_closed(FrameConn *c, int error, void *userdata) {
        SpdySession *s = userdata;
        if (s->reported)
                return;
        s->reported = true;
        s->ops->closed(s, error, s->userdata);
}

static void session_drained(FrameConn *c, void *userdata) {
        SpdySession *s = userdata;
        if (s->ops->drained)
                s->ops->drained(s, s->userdata);
}

static const FrameConnOps session_conn_ops = {
        .parse = session_parse,
        .closed = session_closed,
        .drained = session_drained,
};

int spdy_session_new(sd_event *e, int fd, const SpdyConfig *c, const SpdySessionOps *ops, void *userdata,
                     SpdySession **ret) {
        _cleanup_(spdy_session_freep) SpdySession *s = calloc(1, sizeof(*s));
        int r;

        RET_NULL_ENOMEM(s);
        s->max_frame = (c ? c->max_frame : 0) ?: DEFAULT_MAX_FRAME;
        s->ops = ops;
        s->userdata = userdata;
        if ((r = spdy_z_new(false, &s->in_z)) < 0 || (r = spdy_z_new(true, &s->out_z)) < 0)
                return r;
        r = frame_conn_new(e, fd, s->max_frame + 8, c ? c->max_output : 0, &session_conn_ops, s, &s->conn);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

SpdySession *spdy_session_free(SpdySession *s) {
        if (!s)
                return NULL;
        frame_conn_free(s->conn);
        spdy_z_free(s->in_z);
        spdy_z_free(s->out_z);
        free(s->streams);
        free(s);
        return NULL;
}

int spdy_session_feed(SpdySession *s, const void *data, size_t size) {
        return frame_conn_feed(s->conn, data, size);
}

int spdy_session_reply(SpdySession *s, uint32_t id, char *const *headers, bool fin) {
        _cleanup_free_ uint8_t *payload = malloc(4);
        size_t n = 4;
        SpdyStreamState *st = stream_find(s, id);
        int r;

        RET_NULL_ENOMEM(payload);
        if (!st || st->local_closed)
                return -ENOENT;
        put32(payload, id);
        r = spdy_headers_encode(s->out_z, headers, &payload, &n);
        if (r < 0)
                return r;
        r = session_control(s, SPDY_SYN_REPLY, fin ? SPDY_FLAG_FIN : 0, payload, n);
        if (r >= 0 && fin) {
                st->local_closed = true;
                stream_maybe_done(s, st);
        }
        return r;
}

int spdy_session_send(SpdySession *s, uint32_t id, const void *data, size_t size, bool fin) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        SpdyStreamState *st = stream_find(s, id);
        int r;

        if (s->goaway_sent || s->reported)
                return -EPIPE;
        if (!st || st->local_closed)
                return -ENOENT;
        r = spdy_frame_encode_data(id, fin ? SPDY_FLAG_FIN : 0, data, size, &buf, &n);
        if (r < 0)
                return r;
        r = frame_conn_write(s->conn, buf, n, size == 0);
        if (r >= 0 && fin) {
                st->local_closed = true;
                stream_maybe_done(s, st);
        }
        return r;
}

int spdy_session_reset(SpdySession *s, uint32_t id, uint32_t status) {
        if (!stream_find(s, id))
                return -ENOENT;
        return session_rst(s, id, status);
}

size_t spdy_session_buffered(const SpdySession *s) {
        return frame_conn_buffered(s->conn);
}

void spdy_session_pause(SpdySession *s, bool paused) {
        frame_conn_pause(s->conn, paused);
}

void spdy_session_want_drained(SpdySession *s) {
        frame_conn_want_drained(s->conn);
}

void spdy_session_close(SpdySession *s) {
        session_goaway(s, 0);
}
