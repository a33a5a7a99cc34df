/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what an informer reads from the API server (agent/informer.c): list pages read item by item as they
 * arrive (with continue tokens and 410s), and watch streams one event line at a time (ADDED/MODIFIED/DELETED,
 * BOOKMARK, ERROR with 410), with the index that turns them into events and the relist that turns what a list no
 * longer shows into DELETED stubs.
 *
 * informer.c is compiled into this harness with the four API client calls it makes renamed to the stand-ins below,
 * so the informer's real code runs on the fuzzer's responses without a network, a server or a loop.
 *
 * Input: the first byte picks the chunk size a page is delivered in; the rest is a sequence of responses separated
 * by lines holding only "\f". A response starting with "HTTP nnn\n" has that status (the rest is its message);
 * otherwise it is a 200 whose body goes to the request in flight: a list page, or a watch (split into lines). */

#include <stdint.h>
#include <stdio.h>

#define api_client_stream fuzz_api_client_stream
#define api_client_stream_raw fuzz_api_client_stream_raw
#define api_request_cancel fuzz_api_request_cancel
#define api_client_event fuzz_api_client_event
#include "agent/informer.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The one request in flight (an informer has at most one). */
static struct {
        bool active, watch;
        api_line_fn_t on_line;
        api_data_fn_t on_data;
        api_response_fn_t done;
        void *userdata;
        sd_event *event;
        unsigned events;
} fake;

static char fake_handle;

int fuzz_api_client_stream(ApiClient *c, const char *path, size_t max_line, uint64_t timeout_usec,
                           api_line_fn_t on_line, api_response_fn_t done, void *userdata, ApiRequest **ret) {
        if (fake.active)
                abort(); /* one request at a time */
        fake.active = true;
        fake.watch = true;
        fake.on_line = on_line;
        fake.done = done;
        fake.userdata = userdata;
        *ret = (ApiRequest *) &fake_handle;
        return 0;
}

int fuzz_api_client_stream_raw(ApiClient *c, const char *path, uint64_t timeout_usec, api_data_fn_t on_data,
                               api_response_fn_t done, void *userdata, ApiRequest **ret) {
        if (fake.active)
                abort();
        fake.active = true;
        fake.watch = false;
        fake.on_data = on_data;
        fake.done = done;
        fake.userdata = userdata;
        *ret = (ApiRequest *) &fake_handle;
        return 0;
}

void fuzz_api_request_cancel(ApiRequest *r) {
        if (r)
                fake.active = false;
}

sd_event *fuzz_api_client_event(const ApiClient *c) {
        return fake.event;
}

static void on_event(Informer *inf, InformerEventType type, json_t *object, void *userdata) {
        /* everything handed out is an object with a name */
        if (!json_is_object(object) ||
            isempty(json_string_value(json_object_get(json_object_get(object, "metadata"), "name"))))
                abort();
        fake.events++;
}

/* Delivers one response to the request in flight. */
static void respond(Informer *inf, const char *text, size_t size, size_t chunk) {
        ApiResponse resp = {.status = 200, .reason = "", .message = ""};
        char msg[256] = {};
        unsigned status;
        int r = 0;

        fake.active = false;
        char head[10] = {};
        if (size >= 9)
                memcpy(head, text, 9); /* the input is not NUL-terminated: sscanf() must not run past it */
        if (size >= 9 && sscanf(head, "HTTP %3u\n", &status) == 1 && head[8] == '\n') {
                (void) snprintf(msg, sizeof msg, "%.*s", (int) MIN(size - 9, sizeof msg - 1), text + 9);
                resp.status = status;
                resp.error = status / 100 == 2 ? 0 : api_status_to_errno(status, NULL);
                resp.message = msg;
                fake.done(NULL, &resp, fake.userdata);
                return;
        }
        if (fake.watch)
                for (size_t i = 0; i < size && r >= 0;) {
                        const char *nl = memchr(text + i, '\n', size - i);
                        size_t n = nl ? (size_t) (nl - text - i) : size - i;
                        if (n > 0)
                                r = fake.on_line(NULL, text + i, n, fake.userdata);
                        i += n + 1;
                }
        else
                for (size_t i = 0; i < size && r >= 0; i += chunk)
                        r = fake.on_data(NULL, text + i, MIN(chunk, size - i), fake.userdata);
        resp.error = r < 0 ? r : 0;
        fake.done(NULL, &resp, fake.userdata);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const InformerOptions o = {.path = "/api/v1/pods", .field_selector = "spec.nodeName=node1"};
        static const InformerCallbacks cb = {.event = on_event};
        Informer *inf = NULL;

        if (size < 1)
                return 0;
        fake = (typeof(fake)){};
        if (sd_event_new(&fake.event) < 0)
                abort();
        /* any non-NULL client: only the stand-ins above see it */
        if (informer_new((ApiClient *) &fake_handle, &o, &cb, NULL, &inf) < 0 || informer_start(inf) < 0)
                abort();
        size_t chunk = 1 + data[0] % 64;
        const char *text = (const char *) data + 1, *end = text + size - 1;
        for (unsigned n = 0; text < end && n < 256; n++) {
                const char *sep = memmem(text, (size_t) (end - text), "\n\f\n", 3);
                size_t len = sep ? (size_t) (sep - text) : (size_t) (end - text);
                /* after a failure the informer waits for its backoff timer: fire it now */
                if (!fake.active)
                        (void) on_timer(inf->timer, 0, inf);
                if (!fake.active)
                        abort(); /* the informer always goes on with a list or a watch */
                respond(inf, text, len, chunk);
                text += len + (sep ? 3 : 0);
        }
        if (inf->n_entries != informer_n_objects(inf))
                abort();
        informer_free(inf);
        fake.event = sd_event_unref(fake.event);
        return 0;
}
