/* SPDX-License-Identifier: Apache-2.0 */
/* Incremental JSON reader (common/json-stream.h). The scanner below only needs to know where values end: it tracks
 * strings (with escapes, so `"}\""` is not a brace), the nesting stack (so `{]` is caught where it happens) and, at
 * depth 1 of a top-level object, which member a value belongs to. Everything else (numbers, literals, UTF-8,
 * duplicate keys) is left to the parser of each buffered piece: the fast path below or json_loadb(), so the accepted
 * language is exactly jansson's. */

#include <inttypes.h>
#include <stdio.h>

#include "common/json-stream.h"
#include "common/json-util.h"

#define KEY_MAX 64
#define BUF_KEEP_MAX (1024U * 1024U)

typedef struct Buf {
        char *data;
        size_t len, size;
} Buf;

typedef struct Fast {
        const char *p, *end;
        Buf scratch; /* unescaped strings */
} Fast;

typedef enum SplitState {
        SPLIT_NONE,   /* not (yet) at the split member */
        SPLIT_KEY,    /* the split member's key was read, ':' may follow */
        SPLIT_VALUE,  /* after ':': an array here is split */
        SPLIT_ACTIVE, /* inside the split array */
        SPLIT_DONE,   /* this value had its split array; later members with the same name stay in the value */
} SplitState;

struct JxStream {
        char *source, *split_member;
        size_t split_len;
        unsigned max_depth;
        size_t max_value_size;
        jx_stream_item_fn on_item;
        jx_stream_value_fn on_value;
        void *userdata;

        uint64_t offset; /* of the byte being scanned */
        uint64_t n_delivered;
        int error; /* sticky */

        /* scanner */
        char *stack; /* '{' or '[' per open level */
        unsigned depth;
        bool in_string, escape;
        bool expect_key; /* at depth 1 of an object: the next string is a member name */
        bool key_capture;
        char key[KEY_MAX];
        size_t key_len;
        bool key_overflow;

        /* the current top-level value, without the elements of its split array */
        Buf value;
        uint64_t value_start;
        SplitState split;
        size_t split_pos;   /* length of value right after the split array's '[' */
        uint64_t split_end; /* stream offset of the split array's ']' */
        json_t *head;

        /* the current element of the split array */
        Buf item;
        uint64_t item_start;
        size_t n_items;
        bool after_comma;

        Fast fast;
};

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void buf_done(Buf *b) {
        b->data = mfree(b->data);
        b->len = b->size = 0;
}

/* Empties b for the next piece; one huge value does not keep its buffer for the rest of a long watch stream. */
static void buf_reset(Buf *b) {
        if (b->size > BUF_KEEP_MAX)
                buf_done(b);
        b->len = 0;
}

static int buf_grow(Buf *b, size_t need) {
        size_t n = MAX(b->size * 2, MAX(need, (size_t) 4096));
        char *d = realloc(b->data, n);
        RET_NULL_ENOMEM(d);
        b->data = d;
        b->size = n;
        return 0;
}

static int buf_put(Buf *b, char c) {
        if (_unlikely_(b->len + 1 > b->size)) {
                int r = buf_grow(b, b->len + 1);
                if (r < 0)
                        return r;
        }
        b->data[b->len++] = c;
        return 0;
}

static int buf_append(Buf *b, const char *p, size_t n) {
        if (n == 0)
                return 0;
        if (b->len + n > b->size) {
                int r = buf_grow(b, b->len + n);
                if (r < 0)
                        return r;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

int jx_stream_new(const JxStreamConfig *config, JxStream **ret) {
        _cleanup_(jx_stream_freep) JxStream *s = calloc(1, sizeof(JxStream));

        RET_NULL_ENOMEM(s);
        s->max_depth = config->max_depth ?: JX_STREAM_MAX_DEPTH_DEFAULT;
        s->max_value_size = config->max_value_size ?: JX_STREAM_MAX_VALUE_SIZE_DEFAULT;
        s->on_item = config->on_item;
        s->on_value = config->on_value;
        s->userdata = config->userdata;
        s->stack = malloc(s->max_depth);
        RET_NULL_ENOMEM(s->stack);
        if (config->source) {
                s->source = strdup(config->source);
                RET_NULL_ENOMEM(s->source);
        }
        if (config->split_member) {
                s->split_member = strdup(config->split_member);
                RET_NULL_ENOMEM(s->split_member);
                s->split_len = strlen(s->split_member);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

JxStream *jx_stream_free(JxStream *s) {
        if (!s)
                return NULL;
        buf_done(&s->value);
        buf_done(&s->item);
        buf_done(&s->fast.scratch);
        json_decref(s->head);
        free(s->stack);
        free(s->source);
        free(s->split_member);
        free(s);
        return NULL;
}

uint64_t jx_stream_offset(const JxStream *s) {
        return s->offset;
}

uint64_t jx_stream_n_delivered(const JxStream *s) {
        return s->n_delivered;
}

static int stream_fail(JxStream *s, ErrorBuf *e, int r, uint64_t offset, const char *what) {
        s->error = r;
        if (!s->source)
                return error_set(e, r, "byte %" PRIu64 ": %s", offset, what);
        return error_set(e, r, "%s: byte %" PRIu64 ": %s", s->source, offset, what);
}

static int stream_callback_failed(JxStream *s, int r) {
        /* The callback named the problem itself (or it is -ENOMEM); just make it sticky. */
        s->error = r;
        return r;
}

/* A fast path for what API objects are made of: ASCII strings with short escapes, integers, literals, objects and
 * arrays. jansson reads byte by byte through a callback and validates UTF-8 per character, which made it most of the
 * cost of reading a 10k-Service List. Anything else (non-ASCII bytes, \u escapes, reals, long integers, deep nesting,
 * any error) makes the fast path give up, and jansson reads the piece as before: the values built are the same and
 * the accepted language and the error messages stay jansson's. */
#define FAST_MAX_DEPTH 64U

static void fast_ws(Fast *f) {
        while (f->p < f->end && is_space(*f->p))
                f->p++;
}

/* At a '"': the string's bytes (unescaped into f->scratch when needed). 1 = done, 0 = give up, -ENOMEM. */
static int fast_string(Fast *f, const char **ret, size_t *ret_len) {
        const char *start = ++f->p, *q = start;

        while (q < f->end && *q != '"' && *q != '\\' && (unsigned char) *q >= 0x20 && (unsigned char) *q < 0x80)
                q++;
        if (q >= f->end)
                return 0;
        if (*q == '"') {
                *ret = start;
                *ret_len = (size_t) (q - start);
                f->p = q + 1;
                return 1;
        }
        f->scratch.len = 0;
        if (buf_append(&f->scratch, start, (size_t) (q - start)) < 0)
                return -ENOMEM;
        for (;;) {
                char c;
                if (q >= f->end || (unsigned char) *q < 0x20 || (unsigned char) *q >= 0x80)
                        return 0;
                if (*q == '"')
                        break;
                c = *q++;
                if (c == '\\') {
                        if (q >= f->end)
                                return 0;
                        switch (*q++) {
                        case '"':
                                c = '"';
                                break;
                        case '\\':
                                c = '\\';
                                break;
                        case '/':
                                c = '/';
                                break;
                        case 'b':
                                c = '\b';
                                break;
                        case 'f':
                                c = '\f';
                                break;
                        case 'n':
                                c = '\n';
                                break;
                        case 'r':
                                c = '\r';
                                break;
                        case 't':
                                c = '\t';
                                break;
                        default: /* \u and invalid escapes */
                                return 0;
                        }
                }
                if (buf_put(&f->scratch, c) < 0)
                        return -ENOMEM;
        }
        *ret = f->scratch.data ?: "";
        *ret_len = f->scratch.len;
        f->p = q + 1;
        return 1;
}

static int fast_value(Fast *f, unsigned depth, json_t **ret);

static int fast_object(Fast *f, unsigned depth, json_t **ret) {
        _cleanup_json_ json_t *o = json_object();
        int r;

        RET_NULL_ENOMEM(o);
        f->p++;
        fast_ws(f);
        if (f->p < f->end && *f->p == '}') {
                f->p++;
                *ret = TAKE_PTR(o);
                return 1;
        }
        for (;;) {
                _cleanup_free_ char *key = NULL;
                const char *k;
                size_t klen;
                json_t *v;

                if (f->p >= f->end || *f->p != '"')
                        return 0;
                if ((r = fast_string(f, &k, &klen)) <= 0)
                        return r;
                if (k == f->scratch.data) {
                        /* an unescaped key lives in the scratch buffer, which the value may need */
                        k = key = strndup(k, klen);
                        RET_NULL_ENOMEM(key);
                }
                fast_ws(f);
                if (f->p >= f->end || *f->p != ':')
                        return 0;
                f->p++;
                fast_ws(f);
                if ((r = fast_value(f, depth + 1, &v)) <= 0)
                        return r;
                if (json_object_setn_new_nocheck(o, k, klen, v) < 0)
                        return -ENOMEM;
                fast_ws(f);
                if (f->p >= f->end)
                        return 0;
                if (*f->p == '}') {
                        f->p++;
                        *ret = TAKE_PTR(o);
                        return 1;
                }
                if (*f->p != ',')
                        return 0;
                f->p++;
                fast_ws(f);
        }
}

static int fast_array(Fast *f, unsigned depth, json_t **ret) {
        _cleanup_json_ json_t *a = json_array();
        int r;

        RET_NULL_ENOMEM(a);
        f->p++;
        fast_ws(f);
        if (f->p < f->end && *f->p == ']') {
                f->p++;
                *ret = TAKE_PTR(a);
                return 1;
        }
        for (;;) {
                json_t *v;
                if ((r = fast_value(f, depth + 1, &v)) <= 0)
                        return r;
                if (json_array_append_new(a, v) < 0)
                        return -ENOMEM;
                fast_ws(f);
                if (f->p >= f->end)
                        return 0;
                if (*f->p == ']') {
                        f->p++;
                        *ret = TAKE_PTR(a);
                        return 1;
                }
                if (*f->p != ',')
                        return 0;
                f->p++;
                fast_ws(f);
        }
}

static bool fast_literal(Fast *f, const char *word) {
        size_t n = strlen(word);
        if ((size_t) (f->end - f->p) < n || memcmp(f->p, word, n) != 0)
                return false;
        f->p += n;
        return true;
}

static int fast_value(Fast *f, unsigned depth, json_t **ret) {
        json_t *v = NULL;
        int r;

        if (f->p >= f->end || depth > FAST_MAX_DEPTH)
                return 0;
        switch (*f->p) {
        case '{':
                return fast_object(f, depth, ret);
        case '[':
                return fast_array(f, depth, ret);
        case '"': {
                const char *str;
                size_t len;
                if ((r = fast_string(f, &str, &len)) <= 0)
                        return r;
                v = json_stringn_nocheck(str, len);
                break;
        }
        case 't':
                if (!fast_literal(f, "true"))
                        return 0;
                v = json_true();
                break;
        case 'f':
                if (!fast_literal(f, "false"))
                        return 0;
                v = json_false();
                break;
        case 'n':
                if (!fast_literal(f, "null"))
                        return 0;
                v = json_null();
                break;
        default: {
                /* integers of up to 18 digits cannot overflow json_int_t; reals and leading zeros go to jansson */
                const char *q = f->p;
                bool neg = *q == '-';
                json_int_t n = 0;
                q += neg;
                const char *digits = q;
                while (q < f->end && *q >= '0' && *q <= '9' && q - digits < 18)
                        n = n * 10 + (*q++ - '0');
                /* a 19th digit, a fraction or an exponent: jansson's */
                if (q == digits || (*digits == '0' && q - digits > 1) ||
                    (q < f->end && (*q == '.' || *q == 'e' || *q == 'E' || (*q >= '0' && *q <= '9'))))
                        return 0;
                f->p = q;
                v = json_integer(neg ? -n : n);
        }
        }
        RET_NULL_ENOMEM(v);
        *ret = v;
        return 1;
}

/* 1 and *ret when the fast path read all of text, 0 when jansson has to, -ENOMEM. */
static int fast_parse(Fast *f, const char *text, size_t len, json_t **ret) {
        _cleanup_json_ json_t *v = NULL;
        int r;

        buf_reset(&f->scratch);
        f->p = text;
        f->end = text + len;
        fast_ws(f);
        if ((r = fast_value(f, 0, &v)) <= 0)
                return r;
        fast_ws(f);
        if (f->p != f->end)
                return 0;
        *ret = TAKE_PTR(v);
        return 1;
}

/* Parses a buffered piece (the fast path, else json_loadb()); on error jansson's position in the piece is mapped back
 * to the stream. */
static int parse_piece(JxStream *s, const Buf *b, uint64_t base, bool envelope, json_t **ret, ErrorBuf *e) {
        json_error_t je;
        json_t *j = NULL;
        int r = fast_parse(&s->fast, b->data, b->len, &j);
        if (r < 0)
                return stream_fail(s, e, r, s->offset, "out of memory");
        if (r > 0) {
                *ret = j;
                return 0;
        }
        j = json_loadb(b->data, b->len, JSON_DECODE_ANY, &je);
        if (!j) {
                uint64_t pos = (uint64_t) MAX(je.position, 0), at = base + pos;
                char what[256];
                /* The value buffer lacks the split array's elements: positions after its '[' are shifted. */
                if (envelope && s->split >= SPLIT_ACTIVE && pos >= s->split_pos)
                        at = s->split_end + (pos - s->split_pos);
                if (json_error_code(&je) == json_error_out_of_memory)
                        return stream_fail(s, e, -ENOMEM, at, "out of memory");
                snprintf(what, sizeof what, "invalid JSON: %s", je.text);
                return stream_fail(s, e, -EBADMSG, MIN(at, s->offset), what);
        }
        *ret = j;
        return 0;
}

static int flush_item(JxStream *s, ErrorBuf *e) {
        _cleanup_json_ json_t *j = NULL;
        int r;

        if ((r = parse_piece(s, &s->item, s->item_start, false, &j, e)) < 0)
                return r;
        buf_reset(&s->item);
        s->n_delivered++;
        if (s->on_item && (r = s->on_item(j, s->head, s->n_items, s->userdata, e)) < 0)
                return stream_callback_failed(s, r);
        s->n_items++;
        return 0;
}

/* At the split array's '[': the members so far, closed with "]}", are the head the elements come with. */
static int start_split(JxStream *s, ErrorBuf *e) {
        Buf b = {};
        int r;

        s->split = SPLIT_ACTIVE;
        s->split_pos = s->value.len;
        s->n_items = 0;
        s->after_comma = false;
        s->item.len = 0;
        if ((r = buf_append(&b, s->value.data, s->value.len)) < 0 || (r = buf_append(&b, "]}", 2)) < 0) {
                buf_done(&b);
                return stream_fail(s, e, r, s->offset, "out of memory");
        }
        r = parse_piece(s, &b, s->value_start, false, &s->head, e);
        buf_done(&b);
        return r;
}

static int finish_value(JxStream *s, ErrorBuf *e) {
        _cleanup_json_ json_t *j = NULL;
        int r;

        if ((r = parse_piece(s, &s->value, s->value_start, true, &j, e)) < 0)
                return r;
        buf_reset(&s->value);
        json_decref(s->head);
        s->head = NULL;
        s->split = SPLIT_NONE;
        s->n_delivered++;
        if (s->on_value && (r = s->on_value(j, s->n_items, s->userdata, e)) < 0)
                return stream_callback_failed(s, r);
        s->n_items = 0;
        return 0;
}

/* Structure outside strings: nesting, member names at depth 1 and the split member's state. */
static int scan_structure(JxStream *s, char c, ErrorBuf *e) {
        bool at_member = s->depth == 1;

        switch (c) {
        case '"':
                s->in_string = true;
                s->key_capture = at_member && s->stack[0] == '{' && s->expect_key;
                if (s->key_capture) {
                        s->key_len = 0;
                        s->key_overflow = false;
                }
                break;
        case '{':
        case '[':
                if (s->depth >= s->max_depth) {
                        char what[64];
                        snprintf(what, sizeof what, "nesting deeper than %u levels", s->max_depth);
                        return stream_fail(s, e, -ELNRNG, s->offset, what);
                }
                s->stack[s->depth++] = c;
                if (at_member && s->split == SPLIT_VALUE && c == '[')
                        return start_split(s, e);
                if (c == '{' && s->depth == 1)
                        s->expect_key = true;
                break;
        case '}':
        case ']':
                if (s->depth == 0 || s->stack[s->depth - 1] != (c == '}' ? '{' : '['))
                        return stream_fail(s, e, -EBADMSG, s->offset, c == '}' ? "unexpected '}'" : "unexpected ']'");
                s->depth--;
                break;
        case ',':
                if (at_member && s->stack[0] == '{')
                        s->expect_key = true;
                break;
        case ':':
                if (at_member)
                        s->expect_key = false;
                break;
        default:
                break;
        }
        /* Only an array right after the split member's ':' is split; any other value stays in the value. */
        if (at_member && !is_space(c)) {
                if (s->split == SPLIT_KEY)
                        s->split = c == ':' ? SPLIT_VALUE : SPLIT_NONE;
                else if (s->split == SPLIT_VALUE)
                        s->split = SPLIT_NONE;
        }
        return 0;
}

static void scan_string(JxStream *s, char c) {
        if (s->escape)
                s->escape = false;
        else if (c == '\\')
                s->escape = true;
        else if (c == '"') {
                s->in_string = false;
                if (s->key_capture) {
                        /* Names are compared as written: an escaped spelling of the member is not split. */
                        s->key_capture = false;
                        s->expect_key = false;
                        if (s->split == SPLIT_NONE && s->split_member && !s->key_overflow &&
                            s->key_len == s->split_len && memcmp(s->key, s->split_member, s->key_len) == 0)
                                s->split = SPLIT_KEY;
                }
                return;
        }
        if (s->key_capture) {
                if (s->key_len < KEY_MAX)
                        s->key[s->key_len++] = c;
                else
                        s->key_overflow = true;
        }
}

static int too_big(JxStream *s, ErrorBuf *e) {
        char what[96];
        snprintf(what, sizeof what, "value larger than %zu bytes", s->max_value_size);
        return stream_fail(s, e, -E2BIG, s->offset, what);
}

/* One byte inside the split array: element bytes go to s->item, separators end elements. */
static int scan_split(JxStream *s, char c, ErrorBuf *e) {
        int r;

        if (!s->in_string && s->depth == 2) {
                if (is_space(c)) {
                        if (s->item.len > 0 && buf_put(&s->item, c) < 0)
                                return stream_fail(s, e, -ENOMEM, s->offset, "out of memory");
                        return 0;
                }
                if (c == ',' || c == ']') {
                        if (s->item.len > 0) {
                                if ((r = flush_item(s, e)) < 0)
                                        return r;
                        } else if (c == ',' || s->after_comma)
                                return stream_fail(s, e, -EBADMSG, s->offset, "expected a value");
                        s->after_comma = c == ',';
                        if (c == ',')
                                return 0;
                        s->depth--;
                        s->split = SPLIT_DONE;
                        s->split_end = s->offset;
                        json_decref(s->head);
                        s->head = NULL;
                        if (buf_put(&s->value, c) < 0)
                                return stream_fail(s, e, -ENOMEM, s->offset, "out of memory");
                        return 0;
                }
                if (s->item.len == 0)
                        s->item_start = s->offset;
        }
        if (buf_put(&s->item, c) < 0)
                return stream_fail(s, e, -ENOMEM, s->offset, "out of memory");
        if (_unlikely_(s->item.len > s->max_value_size))
                return too_big(s, e);
        if (s->in_string)
                scan_string(s, c);
        else if ((r = scan_structure(s, c, e)) < 0)
                return r;
        return 0;
}

static int scan_byte(JxStream *s, char c, ErrorBuf *e) {
        int r;

        if (s->split == SPLIT_ACTIVE)
                return scan_split(s, c, e);
        if (s->depth == 0 && !s->in_string) {
                if (is_space(c))
                        return 0;
                if (c != '{' && c != '[')
                        return stream_fail(s, e, -EBADMSG, s->offset, "expected '{' or '[' at the top level");
                s->value_start = s->offset;
                s->value.len = 0;
        }
        if (buf_put(&s->value, c) < 0)
                return stream_fail(s, e, -ENOMEM, s->offset, "out of memory");
        if (_unlikely_(s->value.len > s->max_value_size))
                return too_big(s, e);
        if (s->in_string) {
                scan_string(s, c);
                return 0;
        }
        if ((r = scan_structure(s, c, e)) < 0)
                return r;
        if (s->depth == 0)
                return finish_value(s, e);
        return 0;
}

int jx_stream_feed(JxStream *s, const void *data, size_t size, ErrorBuf *e) {
        const char *p = data;

        if (s->error < 0)
                return s->error;
        for (size_t i = 0; i < size; i++, s->offset++) {
                /* Fast path: the body of a string outside member names is copied as one run. */
                if (s->in_string && !s->escape && !s->key_capture) {
                        size_t n = 0;
                        while (i + n < size && p[i + n] != '"' && p[i + n] != '\\')
                                n++;
                        if (n > 0) {
                                Buf *b = s->split == SPLIT_ACTIVE ? &s->item : &s->value;
                                if (buf_append(b, p + i, n) < 0)
                                        return stream_fail(s, e, -ENOMEM, s->offset, "out of memory");
                                if (b->len > s->max_value_size) {
                                        /* name the byte that crossed the limit, as byte-wise feeding does */
                                        s->offset += s->max_value_size - (b->len - n);
                                        return too_big(s, e);
                                }
                                i += n;
                                s->offset += n;
                                if (i == size)
                                        break;
                        }
                }
                int r = scan_byte(s, p[i], e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int jx_stream_finish(JxStream *s, ErrorBuf *e) {
        if (s->error < 0)
                return s->error;
        if (s->depth > 0 || s->in_string) {
                char what[96];
                snprintf(what, sizeof what, "unexpected end of input in the value that starts at byte %" PRIu64,
                         s->value_start);
                return stream_fail(s, e, -EBADMSG, s->offset, what);
        }
        return 0;
}

int jx_stream_feed_fd(JxStream *s, int fd, ErrorBuf *e) {
        char buf[64 * 1024];
        int r;

        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return stream_fail(s, e, -errno, s->offset, strerror(errno));
                }
                if (n == 0)
                        break;
                if ((r = jx_stream_feed(s, buf, (size_t) n, e)) < 0)
                        return r;
        }
        return jx_stream_finish(s, e);
}
