/* SPDX-License-Identifier: Apache-2.0 */
/* ConfigMaps, Secrets and service account tokens for this node's API pods: the kubelet's watch-based object manager
 * and token manager on the daemon's loop. See agent/api-objects.h. */
#include "agent/api-objects.h"

#include <inttypes.h>
#include <stdio.h>

#include "agent/informer.h"
#include "agent/kubeconfig.h"
#include "common/json-util.h"
#include "common/log.h"

#define TOKEN_MAX_TTL_USEC (24 * 3600 * USEC_PER_SEC) /* the kubelet's maxTTL */
#define TOKEN_RETRY_INITIAL_USEC (1 * USEC_PER_SEC)
#define TOKEN_RETRY_MAX_USEC (300 * USEC_PER_SEC)

/* One ConfigMap or Secret, shared by every pod of its namespace that names it. */
typedef struct ObjEntry {
        struct ObjEntry *next;
        ApiObjects *o;
        bool secret;
        char *ns, *name;
        unsigned refs;
        Informer *inf;
        bool synced;     /* listed at least once: content is authoritative */
        json_t *content; /* api_objects_content(); NULL = not found */
        char *error;     /* why the informer cannot list it, while not synced */
        char *invalid;   /* the object as the server sent it cannot be used (bad input: field and reason) */
} ObjEntry;

/* One serviceAccountToken projection of one pod. */
typedef struct TokenEntry {
        struct TokenEntry *next;
        ApiObjects *o;
        char *pod_uid, *pod_name, *ns, *sa;
        char *key; /* "<volume>/<source index>" */
        char *audience;
        int64_t expiration_seconds;
        char *token;
        char *error; /* the last request failed and there is no token */
        ApiRequest *req;
        sd_event_source *timer; /* refresh or retry */
        uint64_t retry_usec;
        bool keep; /* marked during api_objects_pod_acquire() */
} TokenEntry;

typedef struct PodRefs {
        struct PodRefs *next;
        char *uid;
        ObjEntry **objs;
        size_t n_objs;
} PodRefs;

struct ApiObjects {
        ApiClient *api;
        api_objects_changed_fn_t changed;
        void *userdata;
        ObjEntry *objects;
        TokenEntry *tokens;
        PodRefs *pods;
        ApiObjectsStats stats;
};

uint64_t api_objects_token_refresh_usec(uint64_t ttl_usec) {
        return MIN(ttl_usec / 10 * 8, TOKEN_MAX_TTL_USEC);
}

/* ---- content ---- */

static int content_copy(const json_t *src, const char *field, bool decode, json_t *dst, ErrorBuf *e) {
        const char *k;
        json_t *v;
        if (!src || json_is_null(src))
                return 0;
        if (!json_is_object(src))
                return error_set(e, -EINVAL, "%s: expected an object, got %s", field, json_type_name(src));
        json_object_foreach ((json_t *) src, k, v) {
                json_t *s;
                if (!json_is_string(v))
                        return error_set(e, -EINVAL, "%s.%s: expected a string, got %s", field, k, json_type_name(v));
                if (decode) {
                        _cleanup_free_ char *buf = NULL;
                        size_t size = 0;
                        int r = kubeconfig_base64_decode(json_string_value(v), &buf, &size);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return error_set(e, -EINVAL, "%s.%s: invalid base64", field, k);
                        /* Any bytes: a Secret may hold binary data (files written with their length). */
                        s = json_stringn_nocheck(buf, size);
                } else
                        s = json_stringn_nocheck(json_string_value(v), json_string_length(v));
                if (!s || json_object_set_new(dst, k, s) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int api_objects_content(const json_t *object, bool secret, json_t **ret, ErrorBuf *e) {
        _cleanup_json_ json_t *out = json_object(), *data = json_object(), *bin = json_object();
        if (!out || !data || !bin)
                return -ENOMEM;
        int r = content_copy(json_object_get(object, "data"), "data", secret, data, e);
        /* binaryData is a ConfigMap field; a Secret's data is base64 already. */
        if (r >= 0 && !secret)
                r = content_copy(json_object_get(object, "binaryData"), "binaryData", true, bin, e);
        if (r < 0)
                return r;
        if (json_object_set(out, "data", data) < 0 || json_object_set(out, "binaryData", bin) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- notifications ---- */

static bool pod_refs_has(const PodRefs *pr, const ObjEntry *x) {
        for (size_t i = 0; i < pr->n_objs; i++)
                if (pr->objs[i] == x)
                        return true;
        return false;
}

static void notify_object(ObjEntry *x) {
        ApiObjects *o = x->o;
        for (PodRefs *pr = o->pods; pr; pr = pr->next)
                if (pod_refs_has(pr, x) && o->changed)
                        o->changed(o, pr->uid, o->userdata);
}

static void notify_pod(ApiObjects *o, const char *uid) {
        if (o->changed)
                o->changed(o, uid, o->userdata);
}

/* ---- objects ---- */

static const char *kind_name(bool secret) {
        return secret ? "secret" : "configmap";
}

static void on_object_event(Informer *inf, InformerEventType type, json_t *object, void *userdata) {
        ObjEntry *x = userdata;
        _cleanup_json_ json_t *content = NULL;
        const char *name = json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));

        /* The field selector should make this impossible; a server that ignores it must not mix objects up. */
        if (!streq_ptr(name, x->name))
                return;
        if (type != INFORMER_DELETED) {
                ErrorBuf e = {};
                int r = api_objects_content(object, x->secret, &content, &e);
                if (r < 0) {
                        /* Kept as it was; a pod that cannot start for want of it is told why. */
                        log_debug("%s %s/%s: %s", kind_name(x->secret), x->ns, x->name, error_message(&e, r));
                        free(x->invalid);
                        x->invalid = strdup(error_message(&e, r));
                        return;
                }
        }
        x->invalid = mfree(x->invalid);
        bool same = (!content && !x->content) || (content && x->content && json_equal(content, x->content));
        json_decref(x->content);
        x->content = TAKE_PTR(content);
        if (x->synced && !same)
                notify_object(x);
}

static void on_object_synced(Informer *inf, void *userdata) {
        ObjEntry *x = userdata;
        x->synced = true;
        x->error = mfree(x->error);
        notify_object(x);
}

static void on_object_error(Informer *inf, int r, const char *message, void *userdata) {
        ObjEntry *x = userdata;
        if (x->synced)
                return; /* the cached content stays in use while the watch recovers, like the kubelet's */
        bool first = !x->error;
        free(x->error);
        x->error = strdup(strempty(message));
        if (first)
                notify_object(x);
}

static ObjEntry *obj_entry_free(ObjEntry *x) {
        if (!x)
                return NULL;
        x->inf = informer_free(x->inf);
        json_decref(x->content);
        free(x->invalid);
        free(x->ns);
        free(x->name);
        free(x->error);
        free(x);
        return NULL;
}

static ObjEntry *obj_find(ApiObjects *o, bool secret, const char *ns, const char *name) {
        for (ObjEntry *x = o->objects; x; x = x->next)
                if (x->secret == secret && streq(x->ns, ns) && streq(x->name, name))
                        return x;
        return NULL;
}

/* A reference on the object, creating its entry and informer when it is new. */
static int obj_ref(ApiObjects *o, bool secret, const char *ns, const char *name, ObjEntry **ret) {
        ObjEntry *x = obj_find(o, secret, ns, name);
        if (x) {
                x->refs++;
                *ret = x;
                return 0;
        }
        x = calloc(1, sizeof(ObjEntry));
        RET_NULL_ENOMEM(x);
        x->o = o;
        x->secret = secret;
        x->ns = strdup(ns);
        x->name = strdup(name);
        _cleanup_free_ char *path = NULL, *ens = NULL, *selector = NULL;
        if (!x->ns || !x->name || api_escape(ns, &ens) < 0 ||
            asprintf(&path, "/api/v1/namespaces/%s/%s", ens, secret ? "secrets" : "configmaps") < 0 ||
            asprintf(&selector, "metadata.name=%s", name) < 0) {
                obj_entry_free(x);
                return -ENOMEM;
        }
        static const InformerCallbacks cb = {
                .event = on_object_event,
                .synced = on_object_synced,
                .error = on_object_error,
        };
        InformerOptions io = {.path = path, .field_selector = selector};
        int r = informer_new(o->api, &io, &cb, x, &x->inf);
        if (r >= 0)
                r = informer_start(x->inf);
        if (r < 0) {
                obj_entry_free(x);
                return r;
        }
        x->refs = 1;
        x->next = o->objects;
        o->objects = x;
        *ret = x;
        return 0;
}

static void obj_unref(ApiObjects *o, ObjEntry *x) {
        if (--x->refs > 0)
                return;
        for (ObjEntry **p = &o->objects; *p; p = &(*p)->next)
                if (*p == x) {
                        *p = x->next;
                        break;
                }
        obj_entry_free(x);
}

/* ---- tokens ---- */

static int token_request(TokenEntry *t);

static TokenEntry *token_entry_free(TokenEntry *t) {
        if (!t)
                return NULL;
        if (t->req)
                api_request_cancel(t->req);
        t->timer = sd_event_source_disable_unref(t->timer);
        free(t->pod_uid);
        free(t->pod_name);
        free(t->ns);
        free(t->sa);
        free(t->key);
        free(t->audience);
        free(t->token);
        free(t->error);
        free(t);
        return NULL;
}

static void token_arm(TokenEntry *t, uint64_t usec);

static int on_token_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        TokenEntry *t = userdata;
        t->timer = sd_event_source_disable_unref(t->timer);
        int r = token_request(t);
        if (r < 0) {
                log_debug_errno(r, "TokenRequest for pod %s: %m", t->pod_uid);
                t->retry_usec = t->retry_usec ? MIN(t->retry_usec * 2, TOKEN_RETRY_MAX_USEC) : TOKEN_RETRY_INITIAL_USEC;
                token_arm(t, t->retry_usec);
        }
        return 0;
}

static void token_arm(TokenEntry *t, uint64_t usec) {
        t->timer = sd_event_source_disable_unref(t->timer);
        (void) sd_event_add_time_relative(api_client_event(t->o->api), &t->timer, CLOCK_MONOTONIC, usec, USEC_PER_SEC,
                                          on_token_timer, t);
}

static void token_done(ApiClient *c, const ApiResponse *resp, void *userdata) {
        TokenEntry *t = userdata;
        t->req = NULL;
        const char *token = json_string_value(json_object_get(json_object_get(resp->body, "status"), "token"));
        if (resp->error < 0 || isempty(token)) {
                char msg[512];
                snprintf(msg, sizeof(msg), "failed to fetch token: %s",
                         resp->error < 0 ? (!isempty(resp->message) ? resp->message : strerror(-resp->error))
                                         : "the response has no status.token");
                t->retry_usec = t->retry_usec ? MIN(t->retry_usec * 2, TOKEN_RETRY_MAX_USEC) : TOKEN_RETRY_INITIAL_USEC;
                /* With a token: keep using it (still valid for a while). Either way: again after the back-off. */
                log_debug("TokenRequest for pod %s: %s", t->pod_uid, msg);
                token_arm(t, t->retry_usec);
                if (t->token)
                        return;
                /* No token yet: the pod's setup reports the failure (once: the next news is a token). */
                bool first = !t->error;
                free(t->error);
                t->error = strdup(msg);
                if (first)
                        notify_pod(t->o, t->pod_uid);
                return;
        }
        /* The lifetime the server granted (it may shorten the request), else what was asked for. */
        json_t *exp = json_object_get(json_object_get(resp->body, "spec"), "expirationSeconds");
        int64_t ttl =
                json_is_integer(exp) && json_integer_value(exp) > 0 ? json_integer_value(exp) : t->expiration_seconds;
        bool changed = !streq_ptr(t->token, token);
        char *copy = strdup(token);
        if (!copy) {
                token_arm(t, TOKEN_RETRY_INITIAL_USEC);
                return;
        }
        free(t->token);
        t->token = copy;
        t->error = mfree(t->error);
        t->retry_usec = 0;
        token_arm(t, api_objects_token_refresh_usec((uint64_t) ttl * USEC_PER_SEC));
        if (changed)
                notify_pod(t->o, t->pod_uid);
}

/* The kubelet's TokenRequest for a projection: audience (none = the API server's own), the projection's
 * expirationSeconds, bound to the pod by name and uid (the token dies with the pod). */
static int token_request(TokenEntry *t) {
        _cleanup_json_ json_t *body =
                json_pack("{s:s, s:s, s:{s:I, s:{s:s, s:s, s:s, s:s}}}", "apiVersion", "authentication.k8s.io/v1",
                          "kind", "TokenRequest", "spec", "expirationSeconds", (json_int_t) t->expiration_seconds,
                          "boundObjectRef", "apiVersion", "v1", "kind", "Pod", "name", t->pod_name, "uid", t->pod_uid);
        _cleanup_free_ char *path = NULL, *ns = NULL, *sa = NULL;
        if (!body || api_escape(t->ns, &ns) < 0 || api_escape(t->sa, &sa) < 0 ||
            asprintf(&path, "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa) < 0)
                return -ENOMEM;
        if (!isempty(t->audience) &&
            json_object_set_new(json_object_get(body, "spec"), "audiences", json_pack("[s]", t->audience)) < 0)
                return -ENOMEM;
        if (t->req)
                return 0;
        int r = api_client_create(t->o->api, path, body, token_done, t, &t->req);
        if (r < 0)
                return r;
        t->o->stats.token_requests++;
        return 0;
}

static TokenEntry *token_find(ApiObjects *o, const char *uid, const char *key) {
        for (TokenEntry *t = o->tokens; t; t = t->next)
                if (streq(t->pod_uid, uid) && streq(t->key, key))
                        return t;
        return NULL;
}

static void token_unlink(ApiObjects *o, TokenEntry *t) {
        for (TokenEntry **p = &o->tokens; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        return;
                }
}

static int token_acquire(ApiObjects *o, const Pod *p, const char *key, const ProjectedSource *s) {
        TokenEntry *t = token_find(o, p->uid, key);
        if (t && streq_ptr(t->audience, s->audience) && t->expiration_seconds == s->expiration_seconds &&
            streq_ptr(t->sa, p->service_account_name)) {
                t->keep = true;
                return 0;
        }
        if (t) {
                token_unlink(o, t);
                token_entry_free(t);
        }
        t = calloc(1, sizeof(TokenEntry));
        RET_NULL_ENOMEM(t);
        t->o = o;
        t->expiration_seconds = s->expiration_seconds > 0 ? s->expiration_seconds : 3600;
        t->pod_uid = strdup(p->uid);
        t->pod_name = strdup(p->name);
        t->ns = strdup(p->namespace_);
        t->sa = strdup(p->service_account_name ?: "default");
        t->key = strdup(key);
        t->audience = s->audience ? strdup(s->audience) : NULL;
        if (!t->pod_uid || !t->pod_name || !t->ns || !t->sa || !t->key || (s->audience && !t->audience)) {
                token_entry_free(t);
                return -ENOMEM;
        }
        t->keep = true;
        t->next = o->tokens;
        o->tokens = t;
        int r = token_request(t);
        if (r < 0) {
                free(t->error);
                t->error = strdup("failed to fetch token: the request could not be started");
                t->retry_usec = TOKEN_RETRY_INITIAL_USEC;
                token_arm(t, t->retry_usec);
        }
        return 0;
}

/* ---- pods ---- */

static PodRefs *pod_refs_find(ApiObjects *o, const char *uid) {
        for (PodRefs *pr = o->pods; pr; pr = pr->next)
                if (streq(pr->uid, uid))
                        return pr;
        return NULL;
}

typedef struct RefList {
        struct {
                bool secret;
                const char *name;
        } * l;
        size_t n;
} RefList;

static int ref_list_add(RefList *rl, bool secret, const char *name) {
        if (isempty(name))
                return 0;
        for (size_t i = 0; i < rl->n; i++)
                if (rl->l[i].secret == secret && streq(rl->l[i].name, name))
                        return 0;
        void *n = realloc(rl->l, (rl->n + 1) * sizeof(*rl->l));
        RET_NULL_ENOMEM(n);
        rl->l = n;
        rl->l[rl->n].secret = secret;
        rl->l[rl->n++].name = name;
        return 0;
}

static int container_refs(const PodContainer *c, RefList *rl) {
        int r = 0;
        for (size_t i = 0; i < c->n_env && r >= 0; i++)
                if (c->env[i].source == ENV_SOURCE_CONFIG_MAP_KEY || c->env[i].source == ENV_SOURCE_SECRET_KEY)
                        r = ref_list_add(rl, c->env[i].source == ENV_SOURCE_SECRET_KEY, c->env[i].ref_name);
        for (size_t i = 0; i < c->n_env_from && r >= 0; i++)
                r = ref_list_add(rl, c->env_from[i].secret, c->env_from[i].name);
        return r;
}

/* Every ConfigMap and Secret the pod names (the Node authorizer's edges for the pod). Names are borrowed from p. */
static int pod_refs_collect(const Pod *p, RefList *rl) {
        int r = 0;
        for (size_t i = 0; i < p->n_volumes && r >= 0; i++) {
                const Volume *v = &p->volumes[i];
                if (v->type == VOLUME_CONFIG_MAP || v->type == VOLUME_SECRET)
                        r = ref_list_add(rl, v->type == VOLUME_SECRET, v->ref_name);
                for (size_t k = 0; v->type == VOLUME_PROJECTED && k < v->n_sources && r >= 0; k++)
                        if (v->sources[k].type == VOLUME_CONFIG_MAP || v->sources[k].type == VOLUME_SECRET)
                                r = ref_list_add(rl, v->sources[k].type == VOLUME_SECRET, v->sources[k].name);
        }
        for (size_t i = 0; i < p->n_init_containers && r >= 0; i++)
                r = container_refs(&p->init_containers[i], rl);
        for (size_t i = 0; i < p->n_containers && r >= 0; i++)
                r = container_refs(&p->containers[i], rl);
        /* imagePullSecrets: the credentials of the pod's image pulls (agent/image-pull.h). */
        const json_t *pull_secrets = json_object_get(json_object_get(p->object, "spec"), "imagePullSecrets"), *ps;
        size_t k;
        json_array_foreach (pull_secrets, k, ps)
                if (r >= 0 && json_is_string(json_object_get(ps, "name")))
                        r = ref_list_add(rl, true, json_string_value(json_object_get(ps, "name")));
        return r;
}

static void pod_tokens_release(ApiObjects *o, const char *uid, bool only_unkept) {
        for (TokenEntry **p = &o->tokens; *p;) {
                TokenEntry *t = *p;
                if (streq(t->pod_uid, uid) && (!only_unkept || !t->keep)) {
                        *p = t->next;
                        token_entry_free(t);
                } else
                        p = &t->next;
        }
}

int api_objects_pod_acquire(ApiObjects *o, const Pod *p) {
        _cleanup_free_ ObjEntry **objs = NULL;
        RefList rl = {};
        size_t n = 0;
        int r;

        if (!o)
                return 0;
        r = pod_refs_collect(p, &rl);
        if (r >= 0 && rl.n > 0 && !(objs = calloc(rl.n, sizeof(ObjEntry *))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < rl.n; i++) {
                r = obj_ref(o, rl.l[i].secret, p->namespace_, rl.l[i].name, &objs[n]);
                if (r >= 0)
                        n++;
        }
        free(rl.l);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        obj_unref(o, objs[i]);
                return r;
        }

        PodRefs *pr = pod_refs_find(o, p->uid);
        if (!pr) {
                pr = calloc(1, sizeof(PodRefs));
                if (!pr || !(pr->uid = strdup(p->uid))) {
                        free(pr);
                        for (size_t i = 0; i < n; i++)
                                obj_unref(o, objs[i]);
                        return -ENOMEM;
                }
                pr->next = o->pods;
                o->pods = pr;
        }
        /* The new references first, then the old ones go: an object in both sets keeps its informer. */
        for (size_t i = 0; i < pr->n_objs; i++)
                obj_unref(o, pr->objs[i]);
        free(pr->objs);
        pr->objs = TAKE_PTR(objs);
        pr->n_objs = n;

        for (TokenEntry *t = o->tokens; t; t = t->next)
                if (streq(t->pod_uid, p->uid))
                        t->keep = false;
        for (size_t i = 0; i < p->n_volumes; i++) {
                const Volume *v = &p->volumes[i];
                for (size_t k = 0; v->type == VOLUME_PROJECTED && k < v->n_sources; k++) {
                        char key[128];
                        if (v->sources[k].type != VOLUME_SERVICE_ACCOUNT_TOKEN)
                                continue;
                        snprintf(key, sizeof(key), "%s/%zu", v->name, k);
                        r = token_acquire(o, p, key, &v->sources[k]);
                        if (r < 0)
                                return r;
                }
        }
        pod_tokens_release(o, p->uid, true);
        return 0;
}

void api_objects_pod_release(ApiObjects *o, const char *pod_uid) {
        if (!o || !pod_uid)
                return;
        pod_tokens_release(o, pod_uid, false);
        for (PodRefs **p = &o->pods; *p; p = &(*p)->next)
                if (streq((*p)->uid, pod_uid)) {
                        PodRefs *pr = *p;
                        *p = pr->next;
                        for (size_t i = 0; i < pr->n_objs; i++)
                                obj_unref(o, pr->objs[i]);
                        free(pr->objs);
                        free(pr->uid);
                        free(pr);
                        return;
                }
}

int api_objects_pod_ready(ApiObjects *o, const Pod *p, ErrorBuf *e) {
        PodRefs *pr = pod_refs_find(o, p->uid);
        bool waiting = false;
        if (!pr)
                return error_set(e, -ENOENT, "the pod's API objects are not being watched");
        for (size_t i = 0; i < pr->n_objs; i++) {
                ObjEntry *x = pr->objs[i];
                if (x->synced && !x->content && x->invalid)
                        return error_set(e, -EINVAL, "%s \"%s\": %s", kind_name(x->secret), x->name, x->invalid);
                if (x->synced)
                        continue;
                /* The kubelet's message when its object cache cannot sync. */
                if (x->error)
                        return error_set(e, -EIO, "failed to sync %s cache: %s \"%s\": %s", kind_name(x->secret),
                                         kind_name(x->secret), x->name, x->error);
                waiting = true;
        }
        for (TokenEntry *t = o->tokens; t; t = t->next) {
                if (!streq(t->pod_uid, p->uid) || t->token)
                        continue;
                /* The entry retries on its own timer and reports the token when it comes. */
                if (t->error)
                        return error_set(e, -EIO, "%s", t->error);
                waiting = true;
        }
        return waiting ? 0 : 1;
}

int api_objects_pod_snapshot(ApiObjects *o, const Pod *p, json_t **ret) {
        _cleanup_json_ json_t *out = json_object(), *cms = json_object(), *secrets = json_object(),
                              *tokens = json_object();
        if (!out || !cms || !secrets || !tokens)
                return -ENOMEM;
        PodRefs *pr = o ? pod_refs_find(o, p->uid) : NULL;
        for (size_t i = 0; pr && i < pr->n_objs; i++) {
                ObjEntry *x = pr->objs[i];
                if (!x->synced || !x->content)
                        continue;
                /* A deep copy: the job reads it on a pool thread while the loop may replace ours. */
                json_t *c = json_deep_copy(x->content);
                if (!c || json_object_set_new(x->secret ? secrets : cms, x->name, c) < 0)
                        return -ENOMEM;
        }
        for (TokenEntry *t = o ? o->tokens : NULL; t; t = t->next)
                if (t->token && streq(t->pod_uid, p->uid) &&
                    json_object_set_new(tokens, t->key, json_string(t->token)) < 0)
                        return -ENOMEM;
        if (json_object_set(out, "configMaps", cms) < 0 || json_object_set(out, "secrets", secrets) < 0 ||
            json_object_set(out, "tokens", tokens) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

void api_objects_stats(const ApiObjects *o, ApiObjectsStats *ret) {
        *ret = o->stats;
        ret->objects = ret->tokens = 0;
        for (ObjEntry *x = o->objects; x; x = x->next)
                ret->objects++;
        for (TokenEntry *t = o->tokens; t; t = t->next)
                ret->tokens += !!t->token;
}

int api_objects_new(ApiClient *api, api_objects_changed_fn_t changed, void *userdata, ApiObjects **ret) {
        ApiObjects *o = calloc(1, sizeof(ApiObjects));
        RET_NULL_ENOMEM(o);
        o->api = api;
        o->changed = changed;
        o->userdata = userdata;
        *ret = o;
        return 0;
}

ApiObjects *api_objects_free(ApiObjects *o) {
        if (!o)
                return NULL;
        while (o->pods) {
                PodRefs *pr = o->pods;
                o->pods = pr->next;
                free(pr->objs);
                free(pr->uid);
                free(pr);
        }
        while (o->objects) {
                ObjEntry *x = o->objects;
                o->objects = x->next;
                obj_entry_free(x);
        }
        while (o->tokens) {
                TokenEntry *t = o->tokens;
                o->tokens = t->next;
                token_entry_free(t);
        }
        free(o);
        return NULL;
}
