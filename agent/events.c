/* SPDX-License-Identifier: Apache-2.0 */
/* Events (core/v1): client-go's tools/record as the kubelet uses it, on the loop. agent/events.h describes the
 * behaviour; this file has the correlator (pure: three LRU caches with client-go's keys) and the writer (a bounded
 * queue, one request at a time, bounded retries). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "agent/events.h"
#include "agent/kubeconfig.h"
#include "common/json-util.h"
#include "common/log.h"

/* client-go's defaults (tools/record/events_cache.go, event.go). */
#define DEFAULT_SPAM_BURST 25U
#define DEFAULT_SPAM_QPS (1.0 / 300.0)
#define DEFAULT_AGGREGATE_MAX_EVENTS 10U
#define DEFAULT_AGGREGATE_WINDOW_USEC (600 * USEC_PER_SEC)
#define DEFAULT_CACHE_SIZE 4096U
#define DEFAULT_MAX_QUEUE 1000U
#define DEFAULT_MAX_TRIES 12U
#define DEFAULT_RETRY_USEC (10 * USEC_PER_SEC)
#define MESSAGE_MAX 1024
#define AGGREGATE_PREFIX "(combined from similar events): "

const char *event_type_to_string(EventType t) {
        static const char *const table[_EVENT_TYPE_MAX] = {
                [EVENT_TYPE_NORMAL] = "Normal",
                [EVENT_TYPE_WARNING] = "Warning",
        };
        return t >= 0 && t < _EVENT_TYPE_MAX ? table[t] : NULL;
}

/* ---- a small LRU cache: string keys, owned values ---- */

typedef struct LruEntry {
        struct LruEntry *hnext;       /* hash chain */
        struct LruEntry *prev, *next; /* recency: head is the most recently used */
        uint64_t hash;
        char *key;
        void *value;
} LruEntry;

typedef struct Lru {
        LruEntry **buckets;
        size_t n_buckets, size, max;
        LruEntry *head, *tail;
        void (*free_value)(void *v);
} Lru;

static uint64_t hash_string(const char *s) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 1099511628211ULL;
        return h;
}

static int lru_init(Lru *l, size_t max, void (*free_value)(void *v)) {
        size_t n = 16;
        while (n < max)
                n *= 2;
        *l = (Lru){.n_buckets = n, .max = max, .free_value = free_value};
        l->buckets = calloc(n, sizeof(LruEntry *));
        RET_NULL_ENOMEM(l->buckets);
        return 0;
}

static void lru_unlink(Lru *l, LruEntry *x) {
        if (x->prev)
                x->prev->next = x->next;
        else
                l->head = x->next;
        if (x->next)
                x->next->prev = x->prev;
        else
                l->tail = x->prev;
        x->prev = x->next = NULL;
}

static void lru_push_front(Lru *l, LruEntry *x) {
        x->prev = NULL;
        x->next = l->head;
        if (l->head)
                l->head->prev = x;
        l->head = x;
        if (!l->tail)
                l->tail = x;
}

static void lru_entry_free(Lru *l, LruEntry *x) {
        l->free_value(x->value);
        free(x->key);
        free(x);
}

static void lru_remove(Lru *l, LruEntry *x) {
        for (LruEntry **p = &l->buckets[x->hash & (l->n_buckets - 1)]; *p; p = &(*p)->hnext)
                if (*p == x) {
                        *p = x->hnext;
                        break;
                }
        lru_unlink(l, x);
        l->size--;
        lru_entry_free(l, x);
}

static void lru_done(Lru *l) {
        while (l->head)
                lru_remove(l, l->head);
        l->buckets = mfree(l->buckets);
}

/* The value stored under key (now the most recently used), or NULL. */
static void *lru_get(Lru *l, const char *key) {
        uint64_t h = hash_string(key);
        for (LruEntry *x = l->buckets[h & (l->n_buckets - 1)]; x; x = x->hnext)
                if (x->hash == h && streq(x->key, key)) {
                        lru_unlink(l, x);
                        lru_push_front(l, x);
                        return x->value;
                }
        return NULL;
}

/* Stores value (taken over, also on failure) under a new key; the least recently used entry goes when full. */
static int lru_add(Lru *l, const char *key, void *value) {
        LruEntry *x = calloc(1, sizeof(LruEntry));
        if (!x || !(x->key = strdup(key))) {
                free(x);
                l->free_value(value);
                return -ENOMEM;
        }
        x->hash = hash_string(key);
        x->value = value;
        LruEntry **b = &l->buckets[x->hash & (l->n_buckets - 1)];
        x->hnext = *b;
        *b = x;
        lru_push_front(l, x);
        if (++l->size > l->max)
                lru_remove(l, l->tail);
        return 0;
}

/* ---- the correlator ---- */

typedef struct AggregateRecord {
        char **messages; /* distinct messages seen in the window, oldest first; at most max_events - 1 kept */
        size_t n;
        uint64_t last_usec;
} AggregateRecord;

typedef struct LogRecord {
        unsigned count;
        char *first_timestamp, *name, *resource_version;
} LogRecord;

typedef struct SpamRecord {
        double tokens;
        uint64_t last_usec;
} SpamRecord;

struct EventCorrelator {
        EventCorrelatorOptions o;
        Lru aggregates, logs, spam;
};

static void aggregate_record_free(void *v) {
        AggregateRecord *a = v;
        if (!a)
                return;
        for (size_t i = 0; i < a->n; i++)
                free(a->messages[i]);
        free(a->messages);
        free(a);
}

static void log_record_free(void *v) {
        LogRecord *x = v;
        if (!x)
                return;
        free(x->first_timestamp);
        free(x->name);
        free(x->resource_version);
        free(x);
}

int event_correlator_new(const EventCorrelatorOptions *o, EventCorrelator **ret) {
        _cleanup_(event_correlator_freep) EventCorrelator *c = calloc(1, sizeof(EventCorrelator));
        RET_NULL_ENOMEM(c);
        if (o)
                c->o = *o;
        if (c->o.spam_burst == 0)
                c->o.spam_burst = DEFAULT_SPAM_BURST;
        if (c->o.spam_qps <= 0)
                c->o.spam_qps = DEFAULT_SPAM_QPS;
        if (c->o.aggregate_max_events == 0)
                c->o.aggregate_max_events = DEFAULT_AGGREGATE_MAX_EVENTS;
        if (c->o.aggregate_window_usec == 0)
                c->o.aggregate_window_usec = DEFAULT_AGGREGATE_WINDOW_USEC;
        if (c->o.cache_size == 0)
                c->o.cache_size = DEFAULT_CACHE_SIZE;
        int r = lru_init(&c->aggregates, c->o.cache_size, aggregate_record_free);
        if (r >= 0)
                r = lru_init(&c->logs, c->o.cache_size, log_record_free);
        if (r >= 0)
                r = lru_init(&c->spam, c->o.cache_size, free);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

EventCorrelator *event_correlator_free(EventCorrelator *c) {
        if (!c)
                return NULL;
        if (c->aggregates.buckets)
                lru_done(&c->aggregates);
        if (c->logs.buckets)
                lru_done(&c->logs);
        if (c->spam.buckets)
                lru_done(&c->spam);
        free(c);
        return NULL;
}

static json_t *json_decref_safe(json_t *j) {
        json_decref(j);
        return NULL;
}

void event_correlation_done(EventCorrelation *c) {
        c->event = json_decref_safe(c->event);
        c->patch = json_decref_safe(c->patch);
}

static const char *field(const json_t *ev, const char *object, const char *key) {
        const json_t *o = object ? json_object_get(ev, object) : ev;
        return strempty(json_string_value(json_object_get(o, key)));
}

/* The fields joined with a separator that cannot occur in them (client-go joins with "", which can collide). */
static int join_key(const json_t *ev, const char *const (*fields)[2], size_t n, char **ret) {
        size_t size = 1;
        for (size_t i = 0; i < n; i++)
                size += strlen(field(ev, fields[i][0], fields[i][1])) + 1;
        char *k = malloc(size), *p = k;
        RET_NULL_ENOMEM(k);
        for (size_t i = 0; i < n; i++) {
                p = stpcpy(p, field(ev, fields[i][0], fields[i][1]));
                *p++ = '\x1f';
        }
        *p = 0;
        *ret = k;
        return 0;
}

/* getEventKey: source, the whole involvedObject, type, reason and message. */
static int event_key(const json_t *ev, char **ret) {
        static const char *const f[][2] = {
                {"source", "component"},
                {"source", "host"},
                {"involvedObject", "kind"},
                {"involvedObject", "namespace"},
                {"involvedObject", "name"},
                {"involvedObject", "fieldPath"},
                {"involvedObject", "uid"},
                {"involvedObject", "apiVersion"},
                {NULL, "type"},
                {NULL, "reason"},
                {NULL, "message"},
        };
        return join_key(ev, f, ELEMENTSOF(f), ret);
}

/* EventAggregatorByReasonFunc: the object without fieldPath, type, reason and the reporting controller; the message
 * is what varies. */
static int aggregate_key(const json_t *ev, char **ret) {
        static const char *const f[][2] = {
                {"source", "component"},
                {"source", "host"},
                {"involvedObject", "kind"},
                {"involvedObject", "namespace"},
                {"involvedObject", "name"},
                {"involvedObject", "uid"},
                {"involvedObject", "apiVersion"},
                {NULL, "type"},
                {NULL, "reason"},
                {NULL, "reportingComponent"},
                {NULL, "reportingInstance"},
        };
        return join_key(ev, f, ELEMENTSOF(f), ret);
}

/* getSpamKey: source + object. */
static int spam_key(const json_t *ev, char **ret) {
        static const char *const f[][2] = {
                {"source", "component"},          {"source", "host"},         {"involvedObject", "kind"},
                {"involvedObject", "namespace"},  {"involvedObject", "name"}, {"involvedObject", "uid"},
                {"involvedObject", "apiVersion"},
        };
        return join_key(ev, f, ELEMENTSOF(f), ret);
}

static void format_timestamp(uint64_t realtime_nsec, char buf[static 32]) {
        time_t t = (time_t) (realtime_nsec / NSEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, 32, "1970-01-01T00:00:00Z");
}

int event_make(const EventObjectRef *obj, EventType type, const char *reason, const char *message,
               const char *component, const char *host, uint64_t now_realtime_nsec, json_t **ret) {
        if (!obj || isempty(obj->name) || !event_type_to_string(type) || isempty(reason))
                return -EINVAL;
        char ts[32], name[512];
        format_timestamp(now_realtime_nsec, ts);
        snprintf(name, sizeof(name), "%s.%" PRIx64, obj->name, now_realtime_nsec);
        _cleanup_json_ json_t *io = json_object();
        RET_NULL_ENOMEM(io);
        const struct {
                const char *key, *value;
        } refs[] = {
                {"kind", obj->kind},
                {"namespace", obj->namespace_},
                {"name", obj->name},
                {"uid", obj->uid},
                {"apiVersion", obj->api_version},
                {"resourceVersion", obj->resource_version},
                {"fieldPath", obj->field_path},
        };
        for (size_t i = 0; i < ELEMENTSOF(refs); i++)
                if (!isempty(refs[i].value) && json_object_set_new(io, refs[i].key, json_string(refs[i].value)) < 0)
                        return -ENOMEM;
        json_t *ev =
                json_pack("{s:s,s:s,s:{s:s,s:s},s:O,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i,s:s,s:n,s:s,s:s}", "kind", "Event",
                          "apiVersion", "v1", "metadata", "name", name, "namespace",
                          isempty(obj->namespace_) ? "default" : obj->namespace_, "involvedObject", io, "reason",
                          reason, "message", strempty(message), "source", "component", component, "host", host,
                          "firstTimestamp", ts, "lastTimestamp", ts, "count", 1, "type", event_type_to_string(type),
                          "eventTime", "reportingComponent", component, "reportingInstance", host);
        RET_NULL_ENOMEM(ev);
        *ret = ev;
        return 0;
}

/* EventAggregate: returns in *ret_event a new aggregate event (and true) once max_events distinct messages of the
 * same aggregate key were seen within the window; false (and nothing) otherwise. */
static int correlator_aggregate(EventCorrelator *c, const json_t *ev, const char *key, uint64_t now_usec,
                                uint64_t now_realtime_nsec, json_t **ret_event) {
        const char *message = field(ev, NULL, "message");
        AggregateRecord *a = lru_get(&c->aggregates, key);
        int r;

        *ret_event = NULL;
        if (!a) {
                a = calloc(1, sizeof(AggregateRecord));
                RET_NULL_ENOMEM(a);
                a->messages = calloc(c->o.aggregate_max_events, sizeof(char *));
                if (!a->messages) {
                        free(a);
                        return -ENOMEM;
                }
                a->last_usec = now_usec;
                r = lru_add(&c->aggregates, key, a);
                if (r < 0)
                        return r;
        }
        if (now_usec - a->last_usec > c->o.aggregate_window_usec) {
                for (size_t i = 0; i < a->n; i++)
                        free(a->messages[i]);
                a->n = 0;
        }
        a->last_usec = now_usec;
        bool known = false;
        for (size_t i = 0; i < a->n && !known; i++)
                known = streq(a->messages[i], message);
        if (!known) {
                RET_NULL_ENOMEM(a->messages[a->n] = strdup(message));
                a->n++;
        }
        if (a->n < c->o.aggregate_max_events)
                return 0;
        /* Keep the set below the maximum (client-go pops an arbitrary one; the oldest here). */
        free(a->messages[0]);
        memmove(a->messages, a->messages + 1, (a->n - 1) * sizeof(char *));
        a->n--;

        char ts[32], name[512];
        format_timestamp(now_realtime_nsec, ts);
        snprintf(name, sizeof(name), "%s.%" PRIx64, field(ev, "involvedObject", "name"), now_realtime_nsec);
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, AGGREGATE_PREFIX "%s", message) < 0)
                return -ENOMEM;
        /* Like client-go's aggregate copy: no reporting fields. */
        json_t *agg = json_pack("{s:s,s:s,s:{s:s,s:s},s:O,s:s,s:s,s:O,s:s,s:s,s:i,s:s,s:n}", "kind", "Event",
                                "apiVersion", "v1", "metadata", "name", name, "namespace",
                                field(json_object_get(ev, "metadata"), NULL, "namespace"), "involvedObject",
                                json_object_get(ev, "involvedObject"), "reason", field(ev, NULL, "reason"), "message",
                                msg, "source", json_object_get(ev, "source"), "firstTimestamp", ts, "lastTimestamp", ts,
                                "count", 1, "type", field(ev, NULL, "type"), "eventTime");
        RET_NULL_ENOMEM(agg);
        *ret_event = agg;
        return 1;
}

static int log_record_new(const json_t *ev, LogRecord **ret) {
        LogRecord *x = calloc(1, sizeof(LogRecord));
        RET_NULL_ENOMEM(x);
        x->count = (unsigned) json_integer_value(json_object_get(ev, "count"));
        x->first_timestamp = strdup(field(ev, NULL, "firstTimestamp"));
        x->name = strdup(field(json_object_get(ev, "metadata"), NULL, "name"));
        x->resource_version = strdup(field(json_object_get(ev, "metadata"), NULL, "resourceVersion"));
        if (!x->first_timestamp || !x->name || !x->resource_version) {
                log_record_free(x);
                return -ENOMEM;
        }
        *ret = x;
        return 0;
}

/* Replaces (or adds) the observation stored under key. */
static int correlator_store(EventCorrelator *c, const char *key, const json_t *ev) {
        LogRecord *x;
        int r = log_record_new(ev, &x);
        if (r < 0)
                return r;
        LogRecord *old = lru_get(&c->logs, key);
        if (old) {
                /* lru_get made it the head: swap the contents in place */
                LogRecord tmp = *old;
                *old = *x;
                *x = tmp;
                log_record_free(x);
                return 0;
        }
        return lru_add(&c->logs, key, x);
}

/* eventObserve: a known key turns the event into an update of the first one (its name, resourceVersion and first
 * timestamp, count + 1) with the patch the kubelet sends; the observation is stored either way. */
static int correlator_observe(EventCorrelator *c, json_t *ev, const char *key, json_t **ret_patch) {
        LogRecord *last = lru_get(&c->logs, key);
        json_t *meta = json_object_get(ev, "metadata");

        *ret_patch = NULL;
        if (last && last->count > 0) {
                if (json_object_set_new(meta, "name", json_string(last->name)) < 0 ||
                    json_object_set_new(ev, "firstTimestamp", json_string(last->first_timestamp)) < 0 ||
                    json_object_set_new(ev, "count", json_integer((json_int_t) last->count + 1)) < 0)
                        return -ENOMEM;
                if (!isempty(last->resource_version) &&
                    json_object_set_new(meta, "resourceVersion", json_string(last->resource_version)) < 0)
                        return -ENOMEM;
                json_t *patch =
                        json_pack("{s:O,s:O,s:O}", "count", json_object_get(ev, "count"), "lastTimestamp",
                                  json_object_get(ev, "lastTimestamp"), "message", json_object_get(ev, "message"));
                RET_NULL_ENOMEM(patch);
                *ret_patch = patch;
        }
        return correlator_store(c, key, ev);
}

/* The spam filter: true when the event must be dropped (the object's bucket is empty). */
static int correlator_spam(EventCorrelator *c, const json_t *ev, uint64_t now_usec, bool *ret_filtered) {
        _cleanup_free_ char *key = NULL;
        int r = spam_key(ev, &key);
        if (r < 0)
                return r;
        SpamRecord *s = lru_get(&c->spam, key);
        if (!s) {
                s = calloc(1, sizeof(SpamRecord));
                RET_NULL_ENOMEM(s);
                s->tokens = c->o.spam_burst;
                s->last_usec = now_usec;
                r = lru_add(&c->spam, key, s);
                if (r < 0)
                        return r;
        }
        if (now_usec > s->last_usec) {
                s->tokens += (double) (now_usec - s->last_usec) / (double) USEC_PER_SEC * c->o.spam_qps;
                if (s->tokens > c->o.spam_burst)
                        s->tokens = c->o.spam_burst;
                s->last_usec = now_usec;
        }
        *ret_filtered = s->tokens < 1.0;
        if (!*ret_filtered)
                s->tokens -= 1.0;
        return 0;
}

int event_correlate(EventCorrelator *c, const json_t *event, uint64_t now_usec, uint64_t now_realtime_nsec,
                    EventCorrelation *ret) {
        _cleanup_free_ char *ekey = NULL, *akey = NULL;
        _cleanup_json_ json_t *ev = NULL, *patch = NULL;
        bool filtered = false;
        int r;

        r = event_key(event, &ekey);
        if (r >= 0)
                r = aggregate_key(event, &akey);
        if (r >= 0)
                r = correlator_aggregate(c, event, akey, now_usec, now_realtime_nsec, &ev);
        if (r < 0)
                return r;
        const char *key = r > 0 ? akey : ekey;
        if (!ev)
                RET_NULL_ENOMEM(ev = json_deep_copy(event));
        r = correlator_observe(c, ev, key, &patch);
        if (r >= 0)
                r = correlator_spam(c, ev, now_usec, &filtered);
        if (r < 0)
                return r;
        *ret = (EventCorrelation){.skip = filtered};
        if (!filtered) {
                ret->event = TAKE_PTR(ev);
                ret->patch = TAKE_PTR(patch);
        }
        return 0;
}

int event_correlator_update_state(EventCorrelator *c, const json_t *server_event) {
        _cleanup_free_ char *key = NULL;
        int r = event_key(server_event, &key);
        if (r < 0)
                return r;
        return correlator_store(c, key, server_event);
}

/* ---- the recorder ---- */

typedef struct QueuedEvent {
        struct QueuedEvent *next;
        json_t *event;
} QueuedEvent;

struct EventRecorder {
        sd_event *event;
        ApiClient *api;
        bool own_api;
        char *host, *component;
        size_t max_queue;
        unsigned max_tries;
        uint64_t retry_usec;
        EventCorrelator *correlator;
        QueuedEvent *head, *tail;
        size_t n_queued;
        /* the event being written */
        EventCorrelation cur;
        unsigned tries;
        ApiRequest *req;
        sd_event_source *retry_timer, *defer;
        EventRecorderStats stats;
};

static void recorder_send(EventRecorder *r);

static uint64_t now_realtime_nsec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

static void recorder_kick(EventRecorder *r) {
        if (r->defer)
                (void) sd_event_source_set_enabled(r->defer, SD_EVENT_ONESHOT);
}

/* Takes the next queued event through the correlator; the ones the spam filter drops are skipped here. */
static void recorder_next(EventRecorder *r) {
        while (!r->cur.event && !r->req && !r->retry_timer && r->head) {
                QueuedEvent *q = r->head;
                r->head = q->next;
                if (!r->head)
                        r->tail = NULL;
                r->n_queued--;
                uint64_t now = 0;
                (void) sd_event_now(r->event, CLOCK_MONOTONIC, &now);
                int k = event_correlate(r->correlator, q->event, now, now_realtime_nsec(), &r->cur);
                json_decref(q->event);
                free(q);
                if (k < 0) {
                        r->stats.failed++;
                        continue;
                }
                if (r->cur.skip) {
                        r->stats.skipped++;
                        continue;
                }
                r->tries = 0;
                recorder_send(r);
        }
}

static int on_defer(sd_event_source *s, void *userdata) {
        recorder_next(userdata);
        return 0;
}

static void recorder_finish(EventRecorder *r) {
        event_correlation_done(&r->cur);
        recorder_kick(r);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        EventRecorder *r = userdata;
        r->retry_timer = sd_event_source_disable_unref(r->retry_timer);
        r->stats.retries++;
        recorder_send(r);
        return 0;
}

static const char *cur_what(const EventRecorder *r, char *buf, size_t size) {
        const json_t *ev = r->cur.event;
        snprintf(buf, size, "%s %s/%s %s", field(ev, "involvedObject", "kind"),
                 field(ev, "involvedObject", "namespace"), field(ev, "involvedObject", "name"),
                 field(ev, NULL, "reason"));
        return buf;
}

static void on_written(ApiClient *api, const ApiResponse *resp, void *userdata) {
        EventRecorder *r = userdata;
        char what[512];

        r->req = NULL;
        if (resp->error == 0) {
                if (r->cur.patch)
                        r->stats.patched++;
                else
                        r->stats.created++;
                if (resp->body)
                        (void) event_correlator_update_state(r->correlator, resp->body);
                recorder_finish(r);
                return;
        }
        if (resp->error == -ENOENT && r->cur.patch) {
                /* The Event expired (or was deleted): create it again, as client-go does. */
                r->cur.patch = json_decref_safe(r->cur.patch);
                (void) json_object_del(json_object_get(r->cur.event, "metadata"), "resourceVersion");
                recorder_send(r);
                return;
        }
        if (resp->status == 0 && ++r->tries < r->max_tries) {
                /* No answer: hold everything and try again later, the first wait randomised so that nodes that
                 * lost the server together do not come back together. */
                uint64_t delay = r->retry_usec;
                if (r->tries == 1) {
                        uint32_t v = 0;
                        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == sizeof(v))
                                delay = (uint64_t) ((double) r->retry_usec * ((double) v / 4294967296.0));
                }
                log_debug("Unable to write event %s: %s (try %u of %u)", cur_what(r, what, sizeof(what)),
                          strempty(resp->message), r->tries, r->max_tries);
                if (sd_event_add_time_relative(r->event, &r->retry_timer, CLOCK_MONOTONIC, delay, USEC_PER_MSEC,
                                               on_retry, r) >= 0)
                        return;
        }
        r->stats.failed++;
        if (resp->status == 0)
                log_warning("Unable to write event %s: %s (retry limit exceeded)", cur_what(r, what, sizeof(what)),
                            strempty(resp->message));
        else if (resp->error == -EEXIST)
                log_debug("Server rejected event %s: %s (will not retry)", cur_what(r, what, sizeof(what)),
                          strempty(resp->message));
        else
                log_warning("Server rejected event %s: %s (will not retry)", cur_what(r, what, sizeof(what)),
                            strempty(resp->message));
        recorder_finish(r);
}

static void recorder_send(EventRecorder *r) {
        _cleanup_free_ char *ns = NULL, *name = NULL, *path = NULL;
        const json_t *meta = json_object_get(r->cur.event, "metadata");
        int k = api_escape(field(meta, NULL, "namespace"), &ns);
        if (k >= 0)
                k = api_escape(field(meta, NULL, "name"), &name);
        if (k >= 0 && r->cur.patch) {
                if (asprintf(&path, "/api/v1/namespaces/%s/events/%s", ns, name) < 0)
                        path = NULL;
                else
                        k = api_client_patch(r->api, path, API_PATCH_STRATEGIC, r->cur.patch, on_written, r, &r->req);
        } else if (k >= 0) {
                if (asprintf(&path, "/api/v1/namespaces/%s/events", ns) < 0)
                        path = NULL;
                else
                        k = api_client_create(r->api, path, r->cur.event, on_written, r, &r->req);
        }
        if (k >= 0 && !path)
                k = -ENOMEM;
        if (k < 0) {
                r->stats.failed++;
                log_debug("Cannot write an event: %s", strerror(-k));
                recorder_finish(r);
        }
}

int event_recorder_new(sd_event *e, ApiClient *api, const char *host, const EventRecorderOptions *o,
                       EventRecorder **ret) {
        _cleanup_(event_recorder_freep) EventRecorder *r = calloc(1, sizeof(EventRecorder));
        RET_NULL_ENOMEM(r);
        r->event = sd_event_ref(e);
        r->host = strdup(strempty(host));
        r->component = strdup(o && o->component ? o->component : "kubelet");
        RET_NULL_ENOMEM(r->host);
        RET_NULL_ENOMEM(r->component);
        r->max_queue = o && o->max_queue ? o->max_queue : DEFAULT_MAX_QUEUE;
        r->max_tries = o && o->max_tries ? o->max_tries : DEFAULT_MAX_TRIES;
        r->retry_usec = o && o->retry_usec ? o->retry_usec : DEFAULT_RETRY_USEC;
        int k = event_correlator_new(o ? &o->correlator : NULL, &r->correlator);
        if (k < 0)
                return k;
        if (api) {
                k = sd_event_add_defer(e, &r->defer, on_defer, r);
                if (k < 0)
                        return k;
                (void) sd_event_source_set_enabled(r->defer, SD_EVENT_OFF);
        }
        r->api = api;
        *ret = TAKE_PTR(r);
        return 0;
}

int event_recorder_connect(sd_event *e, CurlGlue *glue, const char *kubeconfig_path, double qps, unsigned burst,
                           const char *host, const EventRecorderOptions *o, EventRecorder **ret) {
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = NULL;
        _cleanup_(api_client_freep) ApiClient *api = NULL;
        ErrorBuf err = {};
        int r = kubeconfig_load(kubeconfig_path, NULL, &kc, &err);
        if (r < 0)
                return log_debug_errno(r, "%s", error_message(&err, r));
        /* eventRecordQPS 0 means no limit (the ApiClient's "< 0") */
        ApiClientOptions ao = {.qps = qps > 0 ? qps : -1, .burst = burst};
        r = api_client_new(e, glue, kc, &ao, &api);
        if (r < 0)
                return r;
        TAKE_PTR(kc);
        EventRecorder *rec;
        r = event_recorder_new(e, api, host, o, &rec);
        if (r < 0)
                return r;
        rec->own_api = true;
        TAKE_PTR(api);
        *ret = rec;
        return 0;
}

int event_recorder_set_kubeconfig(EventRecorder *r, CurlGlue *glue, Kubeconfig *kc, double qps, unsigned burst) {
        _cleanup_(api_client_freep) ApiClient *api = NULL;
        int k;

        if (!r || !kc)
                return -EINVAL;
        if (r->api) {
                /* A client borrowed from someone else follows its owner's credentials. */
                if (!r->own_api)
                        return -EINVAL;
                /* Like the main client: PEM data, so no new request reuses a connection of the old certificate;
                 * the request in flight finishes with the old one. */
                return api_client_set_kubeconfig(r->api, kc);
        }
        /* Started before there were credentials (TLS bootstrap): only logged so far, written from now on. */
        ApiClientOptions ao = {.qps = qps > 0 ? qps : -1, .burst = burst};
        if (!r->defer) {
                k = sd_event_add_defer(r->event, &r->defer, on_defer, r);
                if (k < 0)
                        return k;
                (void) sd_event_source_set_enabled(r->defer, SD_EVENT_OFF);
        }
        k = api_client_new(r->event, glue, kc, &ao, &api);
        if (k < 0)
                return k;
        r->api = TAKE_PTR(api);
        r->own_api = true;
        return 0;
}

EventRecorder *event_recorder_free(EventRecorder *r) {
        if (!r)
                return NULL;
        if (r->req)
                api_request_cancel(r->req);
        r->req = NULL;
        while (r->head) {
                QueuedEvent *q = r->head;
                r->head = q->next;
                json_decref(q->event);
                free(q);
        }
        event_correlation_done(&r->cur);
        r->retry_timer = sd_event_source_disable_unref(r->retry_timer);
        r->defer = sd_event_source_disable_unref(r->defer);
        if (r->own_api)
                r->api = api_client_free(r->api);
        event_correlator_free(r->correlator);
        free(r->host);
        free(r->component);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

void event_recordv(EventRecorder *r, const EventObjectRef *obj, EventType type, const char *reason, const char *fmt,
                   va_list ap) {
        char message[MESSAGE_MAX];
        if (!r)
                return;
        r->stats.recorded++;
        (void) vsnprintf(message, sizeof(message), fmt, ap);
        log_debug("Event(%s %s%s%s%s%s): type: '%s' reason: '%s' %s", strempty(obj->kind), strempty(obj->namespace_),
                  isempty(obj->namespace_) ? "" : "/", strempty(obj->name), obj->field_path ? " " : "",
                  strempty(obj->field_path), strna(event_type_to_string(type)), reason, message);
        if (!r->api)
                return;
        if (r->n_queued >= r->max_queue) {
                /* The broadcaster's DropIfChannelFull: the new event goes. */
                r->stats.dropped++;
                return;
        }
        QueuedEvent *q = calloc(1, sizeof(QueuedEvent));
        if (!q || event_make(obj, type, reason, message, r->component, r->host, now_realtime_nsec(), &q->event) < 0) {
                free(q);
                r->stats.dropped++;
                return;
        }
        if (r->tail)
                r->tail->next = q;
        else
                r->head = q;
        r->tail = q;
        r->n_queued++;
        recorder_kick(r);
}

void event_record(EventRecorder *r, const EventObjectRef *obj, EventType type, const char *reason, const char *fmt,
                  ...) {
        va_list ap;
        va_start(ap, fmt);
        event_recordv(r, obj, type, reason, fmt, ap);
        va_end(ap);
}

const EventRecorderStats *event_recorder_stats(const EventRecorder *r) {
        return &r->stats;
}

size_t event_recorder_queued(const EventRecorder *r) {
        return r->n_queued;
}
