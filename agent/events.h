/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Events (core/v1) the way the kubelet records them: client-go's tools/record (EventRecorder, EventBroadcaster,
 * EventCorrelator) on the daemon's loop.
 *
 * - An event names its object (involvedObject: kind, namespace, name, uid, apiVersion, resourceVersion and, for a
 *   container, fieldPath `spec.containers{name}`), a type (Normal, Warning), a reason and a message. It is logged at
 *   debug level and, with an API server, queued (bounded: 1000 like the broadcaster's queue; a full queue drops the
 *   new event and counts it) and written by one writer, one request at a time.
 * - Before it is written every event goes through the correlator (pure, below): aggregation of similar events,
 *   deduplication into a count PATCH of the existing Event, and the per-object spam filter.
 * - Writes: POST /api/v1/namespaces/<ns>/events, or for a repeated event a strategic merge PATCH of count,
 *   lastTimestamp and message (a PATCH answered 404 — the Event expired — creates it again). Like client-go, only
 *   failures without an answer (connection refused, timeouts) are retried: up to 12 tries 10 s apart (the first
 *   wait randomised), so an API server that is down costs one request every 10 s, never a storm; an answer that is
 *   an error (403, 409, 422, ...) drops the event.
 * - Rate limit: the kubelet writes events with a client of their own (eventRecordQPS/eventBurst, 50/100; QPS 0 = no
 *   limit) so that events never delay status updates: event_recorder_connect() makes that client.
 *
 * Everything runs on the loop; nothing blocks. */

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/apiclient.h"
#include "common/curl-glue.h"
#include "common/macro.h"

typedef enum EventType {
        EVENT_TYPE_NORMAL,
        EVENT_TYPE_WARNING,
        _EVENT_TYPE_MAX,
        _EVENT_TYPE_INVALID = -EINVAL,
} EventType;
const char *event_type_to_string(EventType t); /* "Normal", "Warning" */

/* The object an event is about (v1.ObjectReference). Strings are borrowed for the call; NULL or "" = omitted. */
typedef struct EventObjectRef {
        const char *kind;        /* "Pod", "Node" */
        const char *api_version; /* "v1"; the kubelet's Node reference has none */
        const char *namespace_;  /* "" for cluster-scoped objects: their events go to the "default" namespace */
        const char *name;
        const char *uid;
        const char *resource_version;
        const char *field_path; /* "spec.containers{web}"; NULL = the object itself */
} EventObjectRef;

/* The correlator's knobs; 0 = client-go's default. */
typedef struct EventCorrelatorOptions {
        unsigned spam_burst;            /* 25 events per source+object ... */
        double spam_qps;                /* ... refilled at 1 per 5 minutes (1/300) */
        unsigned aggregate_max_events;  /* 10 distinct messages of one reason ... */
        uint64_t aggregate_window_usec; /* ... within 10 minutes are combined into one event */
        size_t cache_size;              /* entries per LRU cache: 4096 */
} EventCorrelatorOptions;

typedef struct EventRecorderOptions {
        const char *component; /* source.component and reportingComponent: NULL = "kubelet" */
        size_t max_queue;      /* events waiting to be written: 0 = 1000 */
        unsigned max_tries;    /* attempts per event while the server does not answer: 0 = 12 */
        uint64_t retry_usec;   /* between attempts: 0 = 10 s (the first wait is random in [0, retry)) */
        EventCorrelatorOptions correlator;
} EventRecorderOptions;

typedef struct EventRecorderStats {
        uint64_t recorded; /* event_record() calls */
        uint64_t dropped;  /* the queue was full */
        uint64_t skipped;  /* the spam filter said no */
        uint64_t created;  /* POSTs answered 2xx */
        uint64_t patched;  /* PATCHes answered 2xx */
        uint64_t failed;   /* given up: rejected by the server, or out of tries */
        uint64_t retries;  /* attempts repeated after no answer */
} EventRecorderStats;

typedef struct EventRecorder EventRecorder;

/* api (borrowed, may be NULL: standalone, events are only logged) writes the events; host is the node name
 * (source.host, reportingInstance); o may be NULL. */
int event_recorder_new(sd_event *e, ApiClient *api, const char *host, const EventRecorderOptions *o,
                       EventRecorder **ret);
/* The kubelet's event client: an ApiClient of the recorder's own on glue (borrowed), from the kubeconfig file, with
 * client-side rate limit qps/burst (eventRecordQPS, eventBurst; qps 0 = no limit). */
int event_recorder_connect(sd_event *e, CurlGlue *glue, const char *kubeconfig_path, double qps, unsigned burst,
                           const char *host, const EventRecorderOptions *o, EventRecorder **ret);
/* Client certificate rotation (agent/bootstrap.h) for the recorder's own client: kc (certificate and key as PEM
 * data, see api_client_set_kubeconfig()) is taken over on success and used by every write from now on. A recorder
 * created without a client (standalone, or before a TLS bootstrap gave credentials) gets one on glue (borrowed) with
 * qps/burst as in event_recorder_connect(), and writes events from then on. -EINVAL (kc not taken) for a recorder
 * whose client is borrowed, or a server or TLS settings different from the current client's. */
int event_recorder_set_kubeconfig(EventRecorder *r, CurlGlue *glue, Kubeconfig *kc, double qps, unsigned burst);
/* Drops what is queued, cancels the request in flight. */
EventRecorder *event_recorder_free(EventRecorder *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(EventRecorder *, event_recorder_free)

/* Records an event (r may be NULL: nothing happens). Never fails from the caller's view: out of memory or a full
 * queue drops the event (counted). */
void event_record(EventRecorder *r, const EventObjectRef *obj, EventType type, const char *reason, const char *fmt, ...)
        _printf_(5, 6);
void event_recordv(EventRecorder *r, const EventObjectRef *obj, EventType type, const char *reason, const char *fmt,
                   va_list ap) _printf_(5, 0);
const EventRecorderStats *event_recorder_stats(const EventRecorder *r);
size_t event_recorder_queued(const EventRecorder *r);

/* ---- pieces with no I/O, shared with the tests ---- */

/* A v1.Event as the kubelet's recorder makes it: name `<object name>.<now in unix nanoseconds, hex>`, the object's
 * namespace ("default" when it has none), count 1, first and last timestamp now (RFC 3339, seconds), source and
 * reporting component/instance, eventTime null. */
int event_make(const EventObjectRef *obj, EventType type, const char *reason, const char *message,
               const char *component, const char *host, uint64_t now_realtime_nsec, json_t **ret);

typedef struct EventCorrelator EventCorrelator;
int event_correlator_new(const EventCorrelatorOptions *o, EventCorrelator **ret);
EventCorrelator *event_correlator_free(EventCorrelator *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(EventCorrelator *, event_correlator_free)

typedef struct EventCorrelation {
        bool skip;     /* the spam filter dropped it: write nothing */
        json_t *event; /* what to create (patch NULL), or the updated event (count, lastTimestamp) to patch */
        json_t *patch; /* {"count", "lastTimestamp", "message"}: a strategic merge PATCH of an Event already there */
} EventCorrelation;
void event_correlation_done(EventCorrelation *c);

/* client-go's EventCorrelate for one event made by event_make() (borrowed): aggregation (the 10th distinct message
 * of the same source, object, type and reason within the window becomes a new event "(combined from similar
 * events): <message>", and later ones count on it), then deduplication (an event seen before becomes a PATCH of
 * the first one's name with count + 1), then the spam filter (a token bucket per source+object). now_usec is a
 * monotonic clock for the windows and buckets, now_realtime_nsec names an aggregate event. */
int event_correlate(EventCorrelator *c, const json_t *event, uint64_t now_usec, uint64_t now_realtime_nsec,
                    EventCorrelation *ret);
/* After a successful write: remember the server's name, resourceVersion and count for the event (its answer). */
int event_correlator_update_state(EventCorrelator *c, const json_t *server_event);
