/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/informer.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>

#include "common/event-util.h"
#include "common/json-stream.h"
#include "common/json-util.h"
#include "common/log.h"

#define DEFAULT_PAGE_SIZE 500U
#define DEFAULT_MAX_LINE (16U * 1024U * 1024U)
#define DEFAULT_BACKOFF_INITIAL_USEC USEC_PER_SEC
#define DEFAULT_BACKOFF_MAX_USEC (30 * USEC_PER_SEC)
/* client-go's reflector: timeoutSeconds = minWatchTimeout * (1 + rand), minWatchTimeout 5 minutes. */
#define WATCH_TIMEOUT_MIN_SEC 300U
#define WATCH_TIMEOUT_SPREAD_SEC 300U
/* The watch's transfer may last a little longer than the server's timeout before curl gives up on a dead peer. */
#define WATCH_GRACE_USEC (30 * USEC_PER_SEC)
/* client-go: a watch that ends within a second without any event is an error, not a normal expiry. */
#define WATCH_MIN_CLEAN_USEC USEC_PER_SEC

/* What the informer knows of one object: enough to tell new from changed from unchanged and to build a DELETED
 * stub, a few dozen bytes per object. */
typedef struct IndexEntry {
        char *key; /* "namespace/name", or "name" for cluster-scoped objects */
        char *uid;
        char *rv;
        unsigned gen; /* the list generation that last saw it */
        struct IndexEntry *next;
} IndexEntry;

typedef enum NextStep {
        STEP_LIST,
        STEP_WATCH,
} NextStep;

struct Informer {
        ApiClient *client;
        char *path, *field_selector, *label_selector; /* selectors escaped */
        unsigned page_size;
        size_t max_line;
        uint64_t backoff_initial_usec, backoff_max_usec;
        InformerCallbacks cb;
        void *userdata;

        bool started, synced;
        char *rv;
        char *continue_token; /* while a list is in progress */
        unsigned gen;
        ApiRequest *request; /* the list page or the watch in flight */
        sd_event_source *timer;
        NextStep next;
        unsigned failures; /* consecutive, for the backoff */
        uint64_t rng;

        /* The current watch. */
        uint64_t watch_start_usec;
        unsigned watch_events;
        bool watch_expired;
        bool expired_since_event; /* a 410 since the last watch event: the next one backs off */
        char watch_error[512];

        IndexEntry **buckets;
        size_t n_buckets, n_entries;

        /* The list page being read: parsed item by item as it arrives (common/json-stream), never one tree. */
        JxStream *page;
        json_t *page_rest; /* the page without its items (metadata.resourceVersion, continue), once complete */
        size_t page_items;
        int page_error; /* what stopped the page (-ENOMEM, -EBADMSG) */
        ErrorBuf page_errbuf;

        InformerStats stats;
};

static const char *const event_type_table[_INFORMER_EVENT_TYPE_MAX] = {
        [INFORMER_ADDED] = "ADDED",
        [INFORMER_MODIFIED] = "MODIFIED",
        [INFORMER_DELETED] = "DELETED",
};

const char *informer_event_type_to_string(InformerEventType t) {
        return t >= 0 && t < _INFORMER_EVENT_TYPE_MAX ? event_type_table[t] : NULL;
}

/* ---- the index ---- */

static size_t key_hash(const char *s) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return (size_t) h;
}

static IndexEntry *index_find(Informer *inf, const char *key) {
        if (inf->n_buckets == 0)
                return NULL;
        for (IndexEntry *e = inf->buckets[key_hash(key) & (inf->n_buckets - 1)]; e; e = e->next)
                if (streq(e->key, key))
                        return e;
        return NULL;
}

static int index_grow(Informer *inf) {
        size_t n = inf->n_buckets ? inf->n_buckets * 2 : 64;
        IndexEntry **b = calloc(n, sizeof *b);
        RET_NULL_ENOMEM(b);
        for (size_t i = 0; i < inf->n_buckets; i++)
                for (IndexEntry *e = inf->buckets[i], *next; e; e = next) {
                        size_t h = key_hash(e->key) & (n - 1);
                        next = e->next;
                        e->next = b[h];
                        b[h] = e;
                }
        free(inf->buckets);
        inf->buckets = b;
        inf->n_buckets = n;
        return 0;
}

static void entry_free(IndexEntry *e) {
        free(e->key);
        free(e->uid);
        free(e->rv);
        free(e);
}

static void index_remove(Informer *inf, IndexEntry *e) {
        IndexEntry **p = &inf->buckets[key_hash(e->key) & (inf->n_buckets - 1)];
        while (*p != e)
                p = &(*p)->next;
        *p = e->next;
        inf->n_entries--;
        entry_free(e);
}

static int index_add(Informer *inf, const char *key, IndexEntry **ret) {
        IndexEntry *e;
        int r;

        if (inf->n_entries >= inf->n_buckets) {
                r = index_grow(inf);
                if (r < 0)
                        return r;
        }
        e = calloc(1, sizeof *e);
        RET_NULL_ENOMEM(e);
        e->key = strdup(key);
        if (!e->key) {
                free(e);
                return -ENOMEM;
        }
        size_t h = key_hash(key) & (inf->n_buckets - 1);
        e->next = inf->buckets[h];
        inf->buckets[h] = e;
        inf->n_entries++;
        *ret = e;
        return 0;
}

static int set_str(char **p, const char *v) {
        if (streq_ptr(*p, v))
                return 0;
        char *c = v ? strdup(v) : NULL;
        if (v && !c)
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

/* ---- events ---- */

static void emit(Informer *inf, InformerEventType type, json_t *object) {
        if (inf->cb.event)
                inf->cb.event(inf, type, object, inf->userdata);
}

static void report(Informer *inf, int r, const char *fmt, ...) _printf_(3, 4);
static void report(Informer *inf, int r, const char *fmt, ...) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_debug("informer %s: %s", inf->path, msg);
        if (inf->cb.error)
                inf->cb.error(inf, r, msg, inf->userdata);
}

/* A DELETED for an object whose last state is unknown: only the identity the index kept. */
static void emit_stub_deleted(Informer *inf, const IndexEntry *e) {
        _cleanup_json_ json_t *o = NULL, *meta = NULL;
        const char *slash = strchr(e->key, '/');

        meta = slash ? json_pack("{s:s%,s:s}", "namespace", e->key, (size_t) (slash - e->key), "name", slash + 1)
                     : json_pack("{s:s}", "name", e->key);
        if (!meta)
                return; /* out of memory: the consumer's next full sync corrects it */
        if ((e->uid && json_object_set_new(meta, "uid", json_string(e->uid)) < 0) ||
            (e->rv && json_object_set_new(meta, "resourceVersion", json_string(e->rv)) < 0))
                return;
        o = json_pack("{s:O}", "metadata", meta);
        if (o)
                emit(inf, INFORMER_DELETED, o);
}

/* Reads the identity of an object; -EBADMSG when it has none (then it cannot be tracked or handed out). */
static int object_identity(const json_t *object, char *key, size_t key_size, const char **ret_uid,
                           const char **ret_rv) {
        json_t *meta = json_object_get(object, "metadata");
        const char *ns, *name;

        if (!json_is_object(meta))
                return -EBADMSG;
        name = json_string_value(json_object_get(meta, "name"));
        ns = json_string_value(json_object_get(meta, "namespace"));
        if (isempty(name))
                return -EBADMSG;
        if (isempty(ns))
                (void) snprintf(key, key_size, "%s", name);
        else
                (void) snprintf(key, key_size, "%s/%s", ns, name);
        *ret_uid = json_string_value(json_object_get(meta, "uid"));
        *ret_rv = json_string_value(json_object_get(meta, "resourceVersion"));
        return 0;
}

/* An object from a list page or an ADDED/MODIFIED event: update the index, hand it out as ADDED or MODIFIED
 * (from a list: not at all when unchanged). A new uid under a known name is a different object: the old one is
 * reported DELETED first. */
static int handle_object(Informer *inf, json_t *object, bool from_list) {
        const char *uid = NULL, *rv = NULL;
        char key[512];
        IndexEntry *e;
        int r;

        r = object_identity(object, key, sizeof key, &uid, &rv);
        if (r < 0)
                return r;
        e = index_find(inf, key);
        if (e && uid && e->uid && !streq(uid, e->uid)) {
                emit_stub_deleted(inf, e);
                /* the callback may have run for a while; the entry is still ours (single thread) */
                index_remove(inf, e);
                e = NULL;
        }
        if (!e) {
                r = index_add(inf, key, &e);
                if (r < 0)
                        return r;
                if (set_str(&e->uid, uid) < 0 || set_str(&e->rv, rv) < 0) {
                        index_remove(inf, e);
                        return -ENOMEM;
                }
                e->gen = inf->gen;
                emit(inf, INFORMER_ADDED, object);
                return 0;
        }
        e->gen = inf->gen;
        if (from_list && streq_ptr(e->rv, rv))
                return 0;
        if (set_str(&e->rv, rv) < 0 || set_str(&e->uid, uid) < 0)
                return -ENOMEM;
        emit(inf, INFORMER_MODIFIED, object);
        return 0;
}

static int handle_deleted(Informer *inf, json_t *object) {
        const char *uid = NULL, *rv = NULL;
        char key[512];
        IndexEntry *e;
        int r;

        r = object_identity(object, key, sizeof key, &uid, &rv);
        if (r < 0)
                return r;
        e = index_find(inf, key);
        if (e)
                index_remove(inf, e);
        emit(inf, INFORMER_DELETED, object);
        return 0;
}

/* ---- scheduling ---- */

static double informer_random(Informer *inf) {
        inf->rng ^= inf->rng >> 12;
        inf->rng ^= inf->rng << 25;
        inf->rng ^= inf->rng >> 27;
        return (double) ((inf->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void list_begin(Informer *inf);
static void watch_begin(Informer *inf);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Informer *inf = userdata;
        if (inf->next == STEP_LIST)
                list_begin(inf);
        else
                watch_begin(inf);
        return 0;
}

static void schedule(Informer *inf, NextStep step, uint64_t delay_usec) {
        uint64_t when = event_now_plus(api_client_event(inf->client), delay_usec);
        int r;

        inf->next = step;
        if (!inf->timer) {
                r = sd_event_add_time(api_client_event(inf->client), &inf->timer, CLOCK_MONOTONIC, when, 0, on_timer,
                                      inf);
                if (r >= 0)
                        (void) sd_event_source_set_description(inf->timer, "informer");
        } else {
                r = sd_event_source_set_time(inf->timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(inf->timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                /* Nothing else would ever restart the informer: say so loudly, this is not input we can fix. */
                log_error_errno(r, "informer %s: cannot arm its timer, it stops: %m", inf->path);
}

/* A failure: back off, then go on with step. */
static void backoff(Informer *inf, NextStep step) {
        uint64_t d =
                api_backoff_usec(inf->failures, inf->backoff_initial_usec, inf->backoff_max_usec, informer_random(inf));
        if (inf->failures < 64)
                inf->failures++;
        inf->stats.failures++;
        schedule(inf, step, d);
}

/* ---- list ---- */

static void on_list_page(ApiClient *c, const ApiResponse *resp, void *userdata);

/* An item of the page, complete: items of a list carry no kind/apiVersion on the wire (the list does: "PodList",
 * "v1"); give them theirs, as client-go's decoder does, so a listed object looks like a watched one. */
static int on_page_item(json_t *item, const json_t *head, size_t index, void *userdata, ErrorBuf *e) {
        Informer *inf = userdata;
        const char *list_kind = json_string_value(json_object_get(head, "kind"));
        json_t *api_version = json_object_get(head, "apiVersion");
        int r;

        if (json_is_object(item)) {
                if (list_kind && endswith(list_kind, "List") && strlen(list_kind) > 4 &&
                    !json_object_get(item, "kind") &&
                    json_object_set_new(item, "kind", json_stringn(list_kind, strlen(list_kind) - 4)) < 0)
                        return -ENOMEM;
                if (json_is_string(api_version) && !json_object_get(item, "apiVersion") &&
                    json_object_set(item, "apiVersion", api_version) < 0)
                        return -ENOMEM;
        }
        r = handle_object(inf, item, true);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                report(inf, r, "list: items[%zu] has no metadata.name, skipped", index);
        inf->page_items++;
        return 0;
}

static int on_page_rest(json_t *value, size_t n_items, void *userdata, ErrorBuf *e) {
        Informer *inf = userdata;
        if (inf->page_rest)
                return error_set(e, -EBADMSG, "more than one JSON value");
        inf->page_rest = json_incref(value);
        return 0;
}

static int on_list_data(ApiClient *c, const char *data, size_t size, void *userdata) {
        Informer *inf = userdata;
        int r = jx_stream_feed(inf->page, data, size, &inf->page_errbuf);
        if (r < 0)
                inf->page_error = r;
        return r;
}

static int append_param(char **url, const char *name, const char *value) {
        char *n = NULL;
        if (asprintf(&n, "%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', name, value) < 0)
                return -ENOMEM;
        free(*url);
        *url = n;
        return 0;
}

static int list_request(Informer *inf) {
        _cleanup_free_ char *url = strdup(inf->path), *limit = NULL;
        int r;

        RET_NULL_ENOMEM(url);
        if (asprintf(&limit, "%u", inf->page_size) < 0)
                return -ENOMEM;
        if ((inf->field_selector && (r = append_param(&url, "fieldSelector", inf->field_selector)) < 0) ||
            (inf->label_selector && (r = append_param(&url, "labelSelector", inf->label_selector)) < 0) ||
            (r = append_param(&url, "limit", limit)) < 0)
                return r;
        if (inf->continue_token) {
                _cleanup_free_ char *esc = NULL;
                r = api_escape(inf->continue_token, &esc);
                if (r < 0 || (r = append_param(&url, "continue", esc)) < 0)
                        return r;
        }
        json_decref(inf->page_rest);
        inf->page_rest = NULL;
        inf->page_items = 0;
        inf->page_error = 0;
        inf->page_errbuf = (ErrorBuf){};
        inf->page = jx_stream_free(inf->page);
        JxStreamConfig jc = {.source = "list page",
                             .split_member = "items",
                             .max_value_size = inf->max_line,
                             .on_item = on_page_item,
                             .on_value = on_page_rest,
                             .userdata = inf};
        r = jx_stream_new(&jc, &inf->page);
        if (r < 0)
                return r;
        return api_client_stream_raw(inf->client, url, 0, on_list_data, on_list_page, inf, &inf->request);
}

static void list_begin(Informer *inf) {
        int r;

        inf->gen++;
        inf->continue_token = mfree(inf->continue_token);
        inf->stats.lists++;
        r = list_request(inf);
        if (r < 0) {
                report(inf, r, "list: cannot start the request: %s", strerror(-r));
                backoff(inf, STEP_LIST);
        }
}

/* The list is complete: whatever the index has that this list did not show is gone. */
static void list_finish(Informer *inf) {
        for (size_t i = 0; i < inf->n_buckets; i++)
                for (IndexEntry *e = inf->buckets[i], *next; e; e = next) {
                        next = e->next;
                        if (e->gen == inf->gen)
                                continue;
                        emit_stub_deleted(inf, e);
                        index_remove(inf, e);
                }
        if (!inf->synced) {
                inf->synced = true;
                if (inf->cb.synced)
                        inf->cb.synced(inf, inf->userdata);
        }
        watch_begin(inf);
}

static void on_list_page(ApiClient *c, const ApiResponse *resp, void *userdata) {
        Informer *inf = userdata;
        json_t *items, *meta;
        const char *rv, *cont;
        int r;

        inf->request = NULL;
        if (resp->error < 0 && inf->page_error < 0) {
                /* The parser (or a callback) stopped the transfer: say why. */
                r = inf->page_error;
                if (r == -ENOMEM)
                        report(inf, r, "list: out of memory");
                else
                        report(inf, -EBADMSG, "list: the response is not a list: %s",
                               error_message(&inf->page_errbuf, r));
                backoff(inf, STEP_LIST);
                return;
        }
        if (resp->error < 0) {
                if (resp->status == 410 && inf->continue_token) {
                        /* The continue token outlived etcd's compaction: the list starts over (the index keeps
                         * the objects seen so far, so only changes are handed out again). */
                        inf->stats.expired++;
                        report(inf, resp->error, "list: %s", resp->message);
                        list_begin(inf);
                        return;
                }
                report(inf, resp->error, "list: %s", resp->message);
                backoff(inf, STEP_LIST);
                return;
        }
        r = jx_stream_finish(inf->page, &inf->page_errbuf);
        if (r < 0) {
                report(inf, -EBADMSG, "list: the response ended early: %s", error_message(&inf->page_errbuf, r));
                backoff(inf, STEP_LIST);
                return;
        }
        inf->stats.pages++;
        meta = json_object_get(inf->page_rest, "metadata");
        items = json_object_get(inf->page_rest, "items");
        rv = json_string_value(json_object_get(meta, "resourceVersion"));
        if (!json_is_object(inf->page_rest) || isempty(rv) ||
            !(json_is_array(items) || json_is_null(items) || !items)) {
                report(inf, -EBADMSG, "list: the response is not a list (no metadata.resourceVersion or items)");
                backoff(inf, STEP_LIST);
                return;
        }
        /* Every page carries the list's resourceVersion (that of its first page): the watch starts there. */
        if (set_str(&inf->rv, rv) < 0) {
                report(inf, -ENOMEM, "list: out of memory");
                backoff(inf, STEP_LIST);
                return;
        }
        cont = json_string_value(json_object_get(meta, "continue"));
        if (!isempty(cont)) {
                if (set_str(&inf->continue_token, cont) < 0 || (r = list_request(inf)) < 0) {
                        report(inf, -ENOMEM, "list: cannot request the next page");
                        backoff(inf, STEP_LIST);
                }
                return;
        }
        inf->continue_token = mfree(inf->continue_token);
        list_finish(inf);
}

/* ---- watch ---- */

static void on_watch_done(ApiClient *c, const ApiResponse *resp, void *userdata);

static int on_watch_line(ApiClient *c, const char *line, size_t size, void *userdata) {
        Informer *inf = userdata;
        _cleanup_json_ json_t *ev = NULL;
        json_t *object;
        const char *type, *rv;
        json_error_t je;
        int r;

        ev = json_loadb(line, size, 0, &je);
        if (!ev || !json_is_object(ev)) {
                (void) snprintf(inf->watch_error, sizeof inf->watch_error, "watch: an event is not JSON: %s",
                                ev ? "not an object" : je.text);
                return -EBADMSG;
        }
        type = json_string_value(json_object_get(ev, "type"));
        object = json_object_get(ev, "object");
        if (!type || !json_is_object(object)) {
                (void) snprintf(inf->watch_error, sizeof inf->watch_error, "watch: an event without type or object");
                return -EBADMSG;
        }
        if (streq(type, "ERROR")) {
                json_t *code = json_object_get(object, "code");
                const char *msg = json_string_value(json_object_get(object, "message"));
                if (json_integer_value(code) == 410) {
                        inf->watch_expired = true;
                        (void) snprintf(inf->watch_error, sizeof inf->watch_error, "watch: %s", strempty(msg));
                        return -ETIME;
                }
                (void) snprintf(inf->watch_error, sizeof inf->watch_error, "watch: ERROR event %" PRId64 ": %s",
                                (int64_t) json_integer_value(code), strempty(msg));
                return api_status_to_errno(json_integer_value(code),
                                           json_string_value(json_object_get(object, "reason")));
        }
        rv = json_string_value(json_object_get(json_object_get(object, "metadata"), "resourceVersion"));
        if (streq(type, "BOOKMARK"))
                r = 0;
        else if (streq(type, "ADDED") || streq(type, "MODIFIED"))
                r = handle_object(inf, object, false);
        else if (streq(type, "DELETED"))
                r = handle_deleted(inf, object);
        else {
                (void) snprintf(inf->watch_error, sizeof inf->watch_error, "watch: unknown event type \"%s\"", type);
                return -EBADMSG;
        }
        if (r < 0) {
                (void) snprintf(inf->watch_error, sizeof inf->watch_error, "watch: %s event: %s", type,
                                r == -ENOMEM ? "out of memory" : "object without metadata.name");
                return r;
        }
        if (!isempty(rv) && set_str(&inf->rv, rv) < 0)
                return -ENOMEM;
        inf->watch_events++;
        inf->failures = 0; /* the watch works: the next failure starts the backoff from the beginning */
        inf->expired_since_event = false;
        return 0;
}

static void watch_begin(Informer *inf) {
        _cleanup_free_ char *url = strdup(inf->path), *timeout = NULL, *rv = NULL;
        unsigned t = WATCH_TIMEOUT_MIN_SEC + (unsigned) (informer_random(inf) * (WATCH_TIMEOUT_SPREAD_SEC + 1));
        int r = -ENOMEM;

        t = MIN(t, WATCH_TIMEOUT_MIN_SEC + WATCH_TIMEOUT_SPREAD_SEC);
        inf->watch_events = 0;
        inf->watch_expired = false;
        inf->watch_error[0] = 0;
        inf->watch_start_usec = event_now_plus(api_client_event(inf->client), 0);
        inf->stats.watches++;
        if (!url || asprintf(&timeout, "%u", t) < 0 || api_escape(strempty(inf->rv), &rv) < 0)
                goto fail;
        if ((r = append_param(&url, "watch", "true")) < 0 ||
            (r = append_param(&url, "allowWatchBookmarks", "true")) < 0 ||
            (r = append_param(&url, "resourceVersion", rv)) < 0 ||
            (r = append_param(&url, "timeoutSeconds", timeout)) < 0 ||
            (inf->field_selector && (r = append_param(&url, "fieldSelector", inf->field_selector)) < 0) ||
            (inf->label_selector && (r = append_param(&url, "labelSelector", inf->label_selector)) < 0))
                goto fail;
        r = api_client_stream(inf->client, url, inf->max_line, t * USEC_PER_SEC + WATCH_GRACE_USEC, on_watch_line,
                              on_watch_done, inf, &inf->request);
        if (r >= 0)
                return;
fail:
        report(inf, r, "watch: cannot start the request: %s", strerror(-r));
        backoff(inf, STEP_WATCH);
}

static void on_watch_done(ApiClient *c, const ApiResponse *resp, void *userdata) {
        Informer *inf = userdata;
        uint64_t now = event_now_plus(api_client_event(inf->client), 0);

        inf->request = NULL;
        if (inf->watch_expired || resp->status == 410) {
                /* The resourceVersion is gone from the server's history: only a new list can say what is there.
                 * The first relist is immediate — also after an outage, whose failed connections say nothing
                 * about the server that answered now; repeated 410s without a working watch in between back off. */
                inf->stats.expired++;
                report(inf, -ETIME, "%s", inf->watch_error[0] ? inf->watch_error : resp->message);
                if (!inf->expired_since_event) {
                        inf->expired_since_event = true;
                        inf->failures = 1;
                        list_begin(inf);
                } else
                        backoff(inf, STEP_LIST);
                return;
        }
        if (resp->error == -ECONNABORTED) {
                /* api_client_end_streams(): the client's credentials changed (certificate rotation); watch again
                 * at once with the new ones. */
                watch_begin(inf);
                return;
        }
        if (resp->error == 0) {
                if (inf->watch_events == 0 && now - inf->watch_start_usec < WATCH_MIN_CLEAN_USEC) {
                        report(inf, -EPROTO, "watch: the server ended the watch at once without an event");
                        backoff(inf, STEP_WATCH);
                        return;
                }
                /* The server's timeoutSeconds: the normal end of a watch. */
                inf->failures = 0;
                watch_begin(inf);
                return;
        }
        report(inf, resp->error, "%s", inf->watch_error[0] ? inf->watch_error : resp->message);
        backoff(inf, STEP_WATCH);
}

/* ---- the object ---- */

int informer_new(ApiClient *c, const InformerOptions *o, const InformerCallbacks *cb, void *userdata, Informer **ret) {
        _cleanup_(informer_freep) Informer *inf = NULL;

        if (!c || !o || isempty(o->path) || o->path[0] != '/')
                return -EINVAL;
        inf = calloc(1, sizeof *inf);
        RET_NULL_ENOMEM(inf);
        inf->client = c;
        inf->path = strdup(o->path);
        RET_NULL_ENOMEM(inf->path);
        if (!isempty(o->field_selector) && api_escape(o->field_selector, &inf->field_selector) < 0)
                return -ENOMEM;
        if (!isempty(o->label_selector) && api_escape(o->label_selector, &inf->label_selector) < 0)
                return -ENOMEM;
        inf->page_size = o->page_size ?: DEFAULT_PAGE_SIZE;
        inf->max_line = o->max_line ?: DEFAULT_MAX_LINE;
        inf->backoff_initial_usec = o->backoff_initial_usec ?: DEFAULT_BACKOFF_INITIAL_USEC;
        inf->backoff_max_usec = MAX(o->backoff_max_usec ?: DEFAULT_BACKOFF_MAX_USEC, inf->backoff_initial_usec);
        if (cb)
                inf->cb = *cb;
        inf->userdata = userdata;
        if (getrandom(&inf->rng, sizeof inf->rng, GRND_NONBLOCK) != sizeof inf->rng || inf->rng == 0)
                inf->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t) (uintptr_t) inf;
        *ret = TAKE_PTR(inf);
        return 0;
}

int informer_start(Informer *inf) {
        if (inf->started)
                return -EBUSY;
        inf->started = true;
        list_begin(inf);
        return 0;
}

Informer *informer_free(Informer *inf) {
        if (!inf)
                return NULL;
        api_request_cancel(inf->request);
        sd_event_source_disable_unref(inf->timer);
        for (size_t i = 0; i < inf->n_buckets; i++)
                for (IndexEntry *e = inf->buckets[i], *next; e; e = next) {
                        next = e->next;
                        entry_free(e);
                }
        free(inf->buckets);
        free(inf->path);
        free(inf->field_selector);
        free(inf->label_selector);
        free(inf->rv);
        free(inf->continue_token);
        jx_stream_free(inf->page);
        json_decref(inf->page_rest);
        free(inf);
        return NULL;
}

bool informer_has_synced(const Informer *inf) {
        return inf->synced;
}

const char *informer_resource_version(const Informer *inf) {
        return strempty(inf->rv);
}

size_t informer_n_objects(const Informer *inf) {
        return inf->n_entries;
}

const InformerStats *informer_stats(const Informer *inf) {
        return &inf->stats;
}
