/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Incremental JSON reading: bytes go in as they arrive (any chunking, down to one byte at a time), jansson values
 * come out one object at a time, so a 10k-item `List`, an API server list page or a watch stream is never one tree.
 *
 * The input is a sequence of top-level objects or arrays (whitespace between them, as in a watch stream or
 * concatenated `kubectl get -o json` output). When split_member is set (e.g. "items"), the elements of that array
 * member of a top-level object are handed to on_item() one by one as soon as each is complete, together with the
 * members that came before the array (`kind`, `apiVersion`, `metadata` of a list as the API server orders them).
 * on_value() then gets the rest of the top-level value with that array left empty (`"items":[]`) and the number of
 * elements handed out (for a list page: metadata.continue and resourceVersion). Objects without the member come out
 * whole through on_value().
 *
 * A small scanner tracks strings, escapes and nesting to find where each element ends; each element is then parsed on
 * its own (a fast path for ASCII strings, integers and literals, else json_loadb(), so the values and the accepted
 * language are jansson's). Memory is bounded by the largest element plus the rest of a top-level value
 * (max_value_size). Errors name the source and the byte offset in the stream. */

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "common/macro.h"

typedef struct JxStream JxStream;

/* Both callbacks get a value they may keep with json_incref(); the stream drops its reference when they return.
 * head: the members of the enclosing object seen before the array (borrowed, valid during the call). index: the
 * element's position in the array. A negative return stops the stream; feed() returns it (e is passed through so a
 * callback can say why). */
typedef int (*jx_stream_item_fn)(json_t *item, const json_t *head, size_t index, void *userdata, ErrorBuf *e);
typedef int (*jx_stream_value_fn)(json_t *value, size_t n_items, void *userdata, ErrorBuf *e);

#define JX_STREAM_MAX_DEPTH_DEFAULT 256U
#define JX_STREAM_MAX_VALUE_SIZE_DEFAULT (64U * 1024U * 1024U)

typedef struct JxStreamConfig {
        const char *source;       /* messages start with it ("a.json: byte 7: ..."); NULL = none; copied */
        const char *split_member; /* array member of top-level objects handed out per element; NULL = none; copied */
        unsigned max_depth;       /* nesting limit for {} and []; 0 = JX_STREAM_MAX_DEPTH_DEFAULT */
        size_t max_value_size;    /* bytes buffered for one element or one top-level value; 0 = the default */
        jx_stream_item_fn on_item;
        jx_stream_value_fn on_value;
        void *userdata;
} JxStreamConfig;

int jx_stream_new(const JxStreamConfig *config, JxStream **ret);
JxStream *jx_stream_free(JxStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(JxStream *, jx_stream_free)

/* Consumes size bytes, calling back for every element and top-level value completed by them. Returns 0, or a
 * negative errno: -EBADMSG malformed input, -E2BIG a value above max_value_size, -ELNRNG nesting above max_depth,
 * -ENOMEM, or what a callback returned. Errors are sticky: later calls return the same error. */
int jx_stream_feed(JxStream *s, const void *data, size_t size, ErrorBuf *e);
/* End of input: -EBADMSG when it stops inside a value. The stream may then be fed again (a new page). */
int jx_stream_finish(JxStream *s, ErrorBuf *e);
/* Reads fd to its end in chunks, feeding each, then finishes. */
int jx_stream_feed_fd(JxStream *s, int fd, ErrorBuf *e);

/* Bytes consumed so far, and top-level values and split elements delivered so far. */
uint64_t jx_stream_offset(const JxStream *s);
uint64_t jx_stream_n_delivered(const JxStream *s);
