/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the incremental JSON reader (common/json-stream.h). The first byte picks the chunk size; the rest is
 * fed in chunks of that size and must give exactly what feeding it at once gives (items and values, or the same
 * error at the same offset), and a single value must read as jansson reads it. */

#include <stdint.h>
#include <stdio.h>

#include "common/json-stream.h"
#include "common/json-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int collect_item(json_t *item, const json_t *head, size_t index, void *userdata, ErrorBuf *e) {
        return json_array_append(json_object_get(userdata, "items"), item);
}

static int collect_value(json_t *value, size_t n_items, void *userdata, ErrorBuf *e) {
        return json_array_append(json_object_get(userdata, "values"), value);
}

/* Returns the stream's result; *ret gets {"items": [...], "values": [...]} and e the message. */
static int run(const char *text, size_t size, size_t chunk, json_t **ret, ErrorBuf *e) {
        json_t *got = json_pack("{s:[],s:[]}", "items", "values");
        JxStreamConfig cfg = {.source = "fuzz",
                              .split_member = "items",
                              .max_depth = 64,
                              .on_item = collect_item,
                              .on_value = collect_value,
                              .userdata = got};
        JxStream *s = NULL;
        int r;

        if (!got)
                abort();
        if (jx_stream_new(&cfg, &s) < 0)
                abort();
        r = 0;
        for (size_t i = 0; i < size && r >= 0; i += chunk)
                r = jx_stream_feed(s, text + i, MIN(chunk, size - i), e);
        if (r >= 0)
                r = jx_stream_finish(s, e);
        jx_stream_free(s);
        *ret = got;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *whole = NULL, *chunked = NULL;
        ErrorBuf e1 = {}, e2 = {};
        int r1, r2;

        if (size < 1)
                return 0;
        size_t chunk = 1 + data[0] % 16;
        const char *text = (const char *) data + 1;
        size--;
        r1 = run(text, size, size ?: 1, &whole, &e1);
        r2 = run(text, size, chunk, &chunked, &e2);
        /* the chunking never changes the outcome, and errors are reported at the same place */
        if (r1 != r2 || !json_equal(whole, chunked) || strcmp(e1.msg, e2.msg) != 0)
                abort();
        json_decref(whole);
        json_decref(chunked);
        return 0;
}
