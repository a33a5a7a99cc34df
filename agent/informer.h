/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* An informer: list + watch of one resource collection through an ApiClient, like client-go's Reflector, without
 * keeping the objects. The caller decides what to keep (netproxy turns Services into its compact model as they
 * arrive), so nothing here ever holds a whole list:
 *
 * - LIST in pages (limit=500 + continue, no resourceVersion: a consistent read that honours the limit, unlike the
 *   watch cache's resourceVersion=0). A page is read as it arrives through common/json-stream: each item is
 *   parsed on its own and handed out as soon as it is complete (with its list's kind/apiVersion, which the wire
 *   leaves out), so neither the page's bytes nor its tree are ever held whole; the next page is asked for once
 *   the page ended. A continue token that expired (410) restarts the list.
 * - WATCH from the list's resourceVersion with allowWatchBookmarks=true and timeoutSeconds random in 300..600 (so
 *   a fleet of nodes does not re-watch in step). The stream is parsed line by line as it arrives, one JSON event
 *   per line, a line bounded by max_line. BOOKMARKs only advance the resourceVersion.
 * - 410 Gone/Expired (an ERROR event with code 410, or HTTP 410) → relist. A watch the server ended normally
 *   (timeoutSeconds) → re-watch at once from the last resourceVersion. Anything else — a disconnect, garbage or a
 *   truncated line, an HTML page, a 5xx, a 403 — → re-watch from the last resourceVersion (or relist, when the
 *   list itself failed) after an exponential backoff with jitter (1 s .. 30 s by default), reset by the next
 *   success. A watch that ends cleanly within a second without an event counts as a failure (client-go's "very
 *   short watch"), so a misbehaving server can never make the informer spin.
 * - A small index namespace/name → (uid, resourceVersion) of what was seen, so events are consistent across
 *   relists: an item of a relist is ADDED when new, MODIFIED when its resourceVersion changed, not handed out again
 *   when unchanged, and objects that vanished while the watch was down come as DELETED with a stub object
 *   carrying only metadata.namespace/name/uid/resourceVersion (their final state is unknown, as with client-go's
 *   DeletedFinalStateUnknown). */

#include <jansson.h>

#include "agent/apiclient.h"
#include "common/macro.h"

typedef struct Informer Informer;

typedef enum InformerEventType {
        INFORMER_ADDED,
        INFORMER_MODIFIED,
        INFORMER_DELETED,
        _INFORMER_EVENT_TYPE_MAX,
        _INFORMER_EVENT_TYPE_INVALID = -EINVAL,
} InformerEventType;
const char *informer_event_type_to_string(InformerEventType t); /* "ADDED", "MODIFIED", "DELETED" */

typedef struct InformerOptions {
        const char *path;              /* the collection: "/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices" */
        const char *field_selector;    /* "spec.nodeName=node1"; NULL = none (escaped by the informer) */
        const char *label_selector;    /* NULL = none */
        unsigned page_size;            /* 0: 500 */
        size_t max_line;               /* longest watch event accepted; 0: 16 MiB */
        uint64_t backoff_initial_usec; /* 0: 1 s */
        uint64_t backoff_max_usec;     /* 0: 30 s */
} InformerOptions;

typedef struct InformerCallbacks {
        /* An object (borrowed: json_incref() it or copy what is needed) added, changed or removed. */
        void (*event)(Informer *inf, InformerEventType type, json_t *object, void *userdata);
        /* The first complete list was handed out (client-go's HasSynced turning true). Called once. */
        void (*synced)(Informer *inf, void *userdata);
        /* A failure the informer retries on its own, for the caller to log: r is a negative errno, message says
         * what happened ("watch: the server responded with status 500", "list: forbidden: ..."). May be NULL. */
        void (*error)(Informer *inf, int r, const char *message, void *userdata);
} InformerCallbacks;

/* The options' strings are copied; callbacks are called on the loop. The informer does nothing until started. */
int informer_new(ApiClient *c, const InformerOptions *o, const InformerCallbacks *cb, void *userdata, Informer **ret);
int informer_start(Informer *inf);
/* Cancels what is running, without callbacks. Not to be called from the informer's own callbacks. */
Informer *informer_free(Informer *inf);
DEFINE_TRIVIAL_CLEANUP_FUNC(Informer *, informer_free)

bool informer_has_synced(const Informer *inf);
/* The resourceVersion the next watch starts from ("" before the first list). */
const char *informer_resource_version(const Informer *inf);
/* Objects currently known (the index). */
size_t informer_n_objects(const Informer *inf);

typedef struct InformerStats {
        unsigned lists;    /* lists started (1 + relists) */
        unsigned pages;    /* pages received */
        unsigned watches;  /* watches started */
        unsigned expired;  /* 410s seen (each leads to a relist) */
        unsigned failures; /* failures retried after a backoff */
} InformerStats;
const InformerStats *informer_stats(const Informer *inf);
