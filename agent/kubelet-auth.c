/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/kubelet-auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <strings.h>

#include "common/json-util.h"
#include "common/log.h"

#define DEFAULT_TOKEN_TTL_USEC (2 * 60 * USEC_PER_SEC)
#define DEFAULT_AUTHORIZED_TTL_USEC (5 * 60 * USEC_PER_SEC)
#define DEFAULT_UNAUTHORIZED_TTL_USEC (30 * USEC_PER_SEC)
#define DEFAULT_CACHE_ENTRIES 4096U

#define TOKENREVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define SAR_PATH "/apis/authorization.k8s.io/v1/subjectaccessreviews"

/* ---- the cache ---- */

struct AuthCache {
        json_t *map; /* key → [expires_usec, ok, info] (jansson's hash table) */
        size_t max_entries;
};

int auth_cache_new(size_t max_entries, AuthCache **ret) {
        AuthCache *c = calloc(1, sizeof *c);
        RET_NULL_ENOMEM(c);
        c->map = json_object();
        if (!c->map) {
                free(c);
                return -ENOMEM;
        }
        c->max_entries = max_entries ?: DEFAULT_CACHE_ENTRIES;
        *ret = c;
        return 0;
}

AuthCache *auth_cache_free(AuthCache *c) {
        if (!c)
                return NULL;
        json_decref(c->map);
        free(c);
        return NULL;
}

size_t auth_cache_size(const AuthCache *c) {
        return json_object_size(c->map);
}

static uint64_t entry_expires(const json_t *v) {
        return (uint64_t) json_integer_value(json_array_get(v, 0));
}

static void cache_expire(AuthCache *c, uint64_t now_usec) {
        const char *key;
        json_t *v, *tmp;

        json_object_foreach_safe (c->map, tmp, key, v) {
                if (entry_expires(v) <= now_usec)
                        (void) json_object_del(c->map, key);
        }
}

int auth_cache_put(AuthCache *c, const char *key, bool ok, json_t *info, uint64_t now_usec, uint64_t ttl_usec) {
        json_t *v;

        if (!json_object_get(c->map, key) && json_object_size(c->map) >= c->max_entries) {
                cache_expire(c, now_usec);
                if (json_object_size(c->map) >= c->max_entries)
                        json_object_clear(c->map); /* a flood of distinct keys: start over rather than grow */
        }
        /* Durations are bounded by the configuration (hours at most); int64 microseconds hold centuries. */
        v = json_pack("[I, b, O?]", (json_int_t) (now_usec + ttl_usec), ok, info);
        RET_NULL_ENOMEM(v);
        return json_object_set_new(c->map, key, v) < 0 ? -ENOMEM : 0;
}

int auth_cache_get(AuthCache *c, const char *key, uint64_t now_usec, bool *ret_ok, json_t **ret_info) {
        json_t *v = json_object_get(c->map, key);

        if (!v)
                return 0;
        if (entry_expires(v) <= now_usec) {
                (void) json_object_del(c->map, key);
                return 0;
        }
        *ret_ok = json_is_true(json_array_get(v, 1));
        *ret_info = json_array_get(v, 2);
        if (json_is_null(*ret_info))
                *ret_info = NULL;
        return 1;
}

/* ---- request attributes ---- */

const char *kubelet_auth_verb(const char *method) {
        static const char *const table[][2] = {
                {"GET", "get"},    {"HEAD", "get"},    {"POST", "create"},
                {"PUT", "update"}, {"PATCH", "patch"}, {"DELETE", "delete"},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(method, table[i][0]))
                        return table[i][1];
        return "";
}

/* The kubelet's isSubpath(): the path itself or something below it, never a longer name ("/statsx"). */
static bool is_subpath(const char *path, const char *prefix) {
        const char *rest = startswith(path, prefix);
        return rest && (*rest == 0 || *rest == '/');
}

const char *kubelet_auth_subresource(const char *path) {
        static const char *const table[][2] = {
                {"/stats", "stats"}, {"/metrics", "metrics"},       {"/logs", "log"},
                {"/spec", "spec"},   {"/checkpoint", "checkpoint"},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (is_subpath(path, table[i][0]))
                        return table[i][1];
        return "proxy";
}

/* ---- the authenticator and authorizer ---- */

typedef struct AuthJob AuthJob;

struct KubeletAuth {
        sd_event *event;
        ApiClient *api;
        char *node_name;
        bool anonymous, webhook_authentication, webhook_authorization;
        uint64_t token_ttl, authorized_ttl, unauthorized_ttl;
        AuthCache *tokens, *decisions;
        AuthJob *jobs; /* requests suspended while a review is in flight */
};

/* One request being authenticated and authorized. */
struct AuthJob {
        KubeletAuth *a;
        HttpRequest *req;
        bool parked;
        ApiRequest *review;
        char *token_key; /* the TokenReview in flight: its cache key */
        char *sar_key;   /* the SubjectAccessReview in flight: its cache key */
        /* the user */
        char *user, *uid;
        json_t *groups; /* array of strings */
        json_t *extra;  /* object or NULL */
        const char *verb, *subresource;
        AuthJob *prev, *next;
};

/* What a step did with the request. */
enum {
        STEP_PASS,    /* authenticated and authorized: route it */
        STEP_DONE,    /* answered (401/403/500) */
        STEP_PENDING, /* waits for the API server */
};

static AuthJob *job_free(AuthJob *j) {
        if (!j)
                return NULL;
        if (j->review)
                api_request_cancel(j->review);
        if (j->prev)
                j->prev->next = j->next;
        else if (j->a->jobs == j)
                j->a->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        free(j->token_key);
        free(j->sar_key);
        free(j->user);
        free(j->uid);
        json_decref(j->groups);
        json_decref(j->extra);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(AuthJob *, job_free)

static uint64_t now_usec(KubeletAuth *a) {
        uint64_t t = 0;
        (void) sd_event_now(a->event, CLOCK_MONOTONIC, &t);
        return t;
}

static int respond_unauthorized(AuthJob *j) {
        int r = http_respond_text(j->req, 401, "Unauthorized");
        return r < 0 ? r : STEP_DONE;
}

static int respond_decision(AuthJob *j, unsigned status, const char *what) {
        char msg[1024];
        int r;

        (void) snprintf(msg, sizeof msg, "%s (user=%s, verb=%s, resource=nodes, subresource=%s)", what, j->user,
                        j->verb, j->subresource);
        r = http_respond_text(j->req, status, msg);
        return r < 0 ? r : STEP_DONE;
}

static int job_set_user(AuthJob *j, const char *name, const char *uid, json_t *groups, json_t *extra) {
        bool anonymous = streq(name, "system:anonymous");
        bool has_authenticated = false;
        size_t i;
        json_t *g;

        j->user = strdup(name);
        j->uid = strdup(uid ?: "");
        j->groups = json_array();
        if (!j->user || !j->uid || !j->groups)
                return -ENOMEM;
        json_array_foreach (groups, i, g) {
                if (!json_is_string(g))
                        continue;
                has_authenticated = has_authenticated || streq(json_string_value(g), "system:authenticated");
                if (json_array_append(j->groups, g) < 0)
                        return -ENOMEM;
        }
        /* The apiserver's AuthenticatedGroupAdder: every authenticated user except anonymous is in it. */
        if (!anonymous && !has_authenticated &&
            json_array_append_new(j->groups, json_string("system:authenticated")) < 0)
                return -ENOMEM;
        if (json_is_object(extra) && json_object_size(extra) > 0)
                j->extra = json_incref(extra);
        return 0;
}

/* ---- authorization ---- */

static json_t *sar_spec(AuthJob *j) {
        json_t *spec = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:O}", "resourceAttributes", "namespace", "",
                                 "verb", j->verb, "group", "", "resource", "nodes", "subresource", j->subresource,
                                 "name", j->a->node_name, "user", j->user, "groups", j->groups);
        if (!spec)
                return NULL;
        if ((!isempty(j->uid) && json_object_set_new(spec, "uid", json_string(j->uid)) < 0) ||
            (j->extra && json_object_set(spec, "extra", j->extra) < 0)) {
                json_decref(spec);
                return NULL;
        }
        return spec;
}

static int step_authorize(AuthJob *j);
static void job_continue(AuthJob *j, int step);

static void on_sar_done(ApiClient *c, const ApiResponse *resp, void *userdata) {
        AuthJob *j = userdata;
        KubeletAuth *a = j->a;
        json_t *status;
        bool allowed, denied = false;
        int k;

        j->review = NULL;
        status = json_object_get(resp->body, "status");
        if (resp->error < 0 || !json_is_object(status)) {
                log_warning("SubjectAccessReview for user %s (verb=%s, subresource=%s) failed: %s", j->user, j->verb,
                            j->subresource,
                            resp->error < 0 ? (isempty(resp->message) ? strerror(-resp->error) : resp->message)
                                            : "the answer has no status");
                job_continue(j, respond_decision(j, 500, "Authorization error"));
                return;
        }
        allowed = json_is_true(json_object_get(status, "allowed"));
        denied = json_is_true(json_object_get(status, "denied"));
        allowed = allowed && !denied;
        k = auth_cache_put(a->decisions, j->sar_key, allowed, NULL, now_usec(a),
                           allowed ? a->authorized_ttl : a->unauthorized_ttl);
        if (k < 0)
                log_debug_errno(k, "Failed to cache a SubjectAccessReview: %m");
        if (!allowed) {
                const char *reason = json_string_value(json_object_get(status, "reason"));
                log_info("Forbidden: user %s, verb %s, subresource %s%s%s", j->user, j->verb, j->subresource,
                         isempty(reason) ? "" : ": ", strempty(reason));
                job_continue(j, respond_decision(j, 403, "Forbidden"));
                return;
        }
        job_continue(j, STEP_PASS);
}

static int step_authorize(AuthJob *j) {
        KubeletAuth *a = j->a;
        _cleanup_json_ json_t *spec = NULL, *body = NULL;
        json_t *info;
        bool allowed;
        int r;

        if (!a->webhook_authorization)
                return STEP_PASS;
        if (!a->api) {
                log_warning("authorization.mode is Webhook but there is no API server (--kubeconfig): cannot authorize "
                            "user %s",
                            j->user);
                return respond_decision(j, 500, "Authorization error");
        }
        spec = sar_spec(j);
        if (!spec)
                return -ENOMEM;
        free(j->sar_key);
        j->sar_key = jx_dump_compact(spec);
        if (!j->sar_key)
                return -ENOMEM;
        if (auth_cache_get(a->decisions, j->sar_key, now_usec(a), &allowed, &info) > 0)
                return allowed ? STEP_PASS : respond_decision(j, 403, "Forbidden");
        body = json_pack("{s:s, s:s, s:O}", "apiVersion", "authorization.k8s.io/v1", "kind", "SubjectAccessReview",
                         "spec", spec);
        if (!body)
                return -ENOMEM;
        r = api_client_create(a->api, SAR_PATH, body, on_sar_done, j, &j->review);
        if (r < 0) {
                log_warning_errno(r, "SubjectAccessReview for user %s could not be sent: %m", j->user);
                return respond_decision(j, 500, "Authorization error");
        }
        return STEP_PENDING;
}

/* ---- authentication ---- */

static int token_cache_key(const char *token, char **ret) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        char *hex;

        if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1)
                return -EIO;
        hex = malloc(n * 2 + 1);
        RET_NULL_ENOMEM(hex);
        for (unsigned i = 0; i < n; i++)
                (void) snprintf(hex + i * 2, 3, "%02x", md[i]);
        *ret = hex;
        return 0;
}

/* The apiserver's bearer token authenticator: "Bearer <token>" (scheme case-insensitive) → 1 and the token in buf;
 * anything else is no token at all (0). A token too long for buf is -E2BIG (refused, not ignored). */
static int request_bearer_token(HttpRequest *r, char *buf, size_t size) {
        const char *h = http_request_header(r, "Authorization");
        const char *p, *end;

        if (!h)
                return 0;
        h += strspn(h, " \t");
        if (strncasecmp(h, "bearer ", 7) != 0)
                return 0;
        p = h + 7;
        end = p + strcspn(p, " \t");
        if (end == p)
                return 0;
        if ((size_t) (end - p) >= size)
                return -E2BIG;
        memcpy(buf, p, (size_t) (end - p));
        buf[end - p] = 0;
        return 1;
}

static int token_answer(AuthJob *j, bool ok, json_t *user) {
        int r;

        if (!ok || !json_is_object(user) || !json_is_string(json_object_get(user, "username")))
                return respond_unauthorized(j);
        r = job_set_user(j, json_string_value(json_object_get(user, "username")),
                         json_string_value(json_object_get(user, "uid")), json_object_get(user, "groups"),
                         json_object_get(user, "extra"));
        if (r < 0)
                return r;
        return step_authorize(j);
}

static void on_token_review_done(ApiClient *c, const ApiResponse *resp, void *userdata) {
        AuthJob *j = userdata;
        KubeletAuth *a = j->a;
        json_t *status, *user;
        bool ok;
        int k;

        j->review = NULL;
        status = json_object_get(resp->body, "status");
        if (resp->error < 0 || !json_is_object(status)) {
                log_warning("TokenReview failed: %s",
                            resp->error < 0 ? (isempty(resp->message) ? strerror(-resp->error) : resp->message)
                                            : "the answer has no status");
                job_continue(j, respond_unauthorized(j));
                return;
        }
        ok = json_is_true(json_object_get(status, "authenticated"));
        user = json_object_get(status, "user");
        if (!ok) {
                const char *err = json_string_value(json_object_get(status, "error"));
                log_debug("TokenReview: token not authenticated%s%s", isempty(err) ? "" : ": ", strempty(err));
        }
        k = auth_cache_put(a->tokens, j->token_key, ok, ok ? user : NULL, now_usec(a), a->token_ttl);
        if (k < 0)
                log_debug_errno(k, "Failed to cache a TokenReview: %m");
        job_continue(j, token_answer(j, ok, user));
}

static int step_authenticate(AuthJob *j) {
        KubeletAuth *a = j->a;
        _cleanup_free_ char *cn = NULL;
        _cleanup_strv_free_ char **orgs = NULL;
        _cleanup_json_ json_t *groups = NULL, *body = NULL;
        char tokenbuf[8192];
        bool failed = false, ok;
        json_t *info;
        int r;

        /* 1. x509 client certificate */
        r = http_request_peer_identity(j->req, &cn, &orgs);
        if (r >= 0) {
                groups = json_array();
                if (!groups)
                        return -ENOMEM;
                for (char **o = orgs; *o; o++)
                        if (json_array_append_new(groups, json_string(*o)) < 0)
                                return -ENOMEM;
                r = job_set_user(j, cn, NULL, groups, NULL);
                if (r < 0)
                        return r;
                return step_authorize(j);
        }
        if (r == -ENOMEM)
                return r;
        if (r != -ENOENT) {
                log_debug("Client certificate of %s %s did not verify", http_request_method(j->req),
                          http_request_path(j->req));
                failed = true;
        }

        /* 2. bearer token through a TokenReview */
        r = a->webhook_authentication ? request_bearer_token(j->req, tokenbuf, sizeof tokenbuf) : 0;
        if (r < 0) {
                log_debug("Bearer token of %s %s too long", http_request_method(j->req), http_request_path(j->req));
                return respond_unauthorized(j);
        }
        if (r > 0) {
                const char *token = tokenbuf;
                if (!a->api) {
                        log_warning("authentication.webhook.enabled but there is no API server (--kubeconfig): "
                                    "bearer token refused");
                        return respond_unauthorized(j);
                }
                r = token_cache_key(token, &j->token_key);
                if (r < 0)
                        return r;
                if (auth_cache_get(a->tokens, j->token_key, now_usec(a), &ok, &info) > 0)
                        return token_answer(j, ok, info);
                body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1", "kind", "TokenReview",
                                 "spec", "token", token);
                explicit_bzero(tokenbuf, sizeof tokenbuf);
                if (!body)
                        return -ENOMEM;
                r = api_client_create(a->api, TOKENREVIEW_PATH, body, on_token_review_done, j, &j->review);
                if (r < 0) {
                        log_warning_errno(r, "TokenReview could not be sent: %m");
                        return respond_unauthorized(j);
                }
                return STEP_PENDING;
        }

        /* 3. anonymous, unless a credential was presented and failed */
        if (failed || !a->anonymous)
                return respond_unauthorized(j);
        groups = json_pack("[s]", "system:unauthenticated");
        if (!groups)
                return -ENOMEM;
        r = job_set_user(j, "system:anonymous", NULL, groups, NULL);
        if (r < 0)
                return r;
        return step_authorize(j);
}

/* ---- the filter ---- */

/* Ends a suspended request's job: answered, passed on to routing, or failed. */
static void job_continue(AuthJob *j, int step) {
        HttpRequest *req = j->req;

        if (step == STEP_PENDING)
                return;
        if (step < 0) {
                log_warning_errno(step, "Authenticating %s %s failed: %m", http_request_method(req),
                                  http_request_path(req));
                (void) http_respond_text(req, 500, "Internal Server Error");
        }
        job_free(j);
        http_request_resume(req);
}

static void on_request_cancelled(HttpRequest *req, void *userdata) {
        job_free(userdata);
}

int kubelet_auth_filter(HttpRequest *r, void *userdata) {
        KubeletAuth *a = userdata;
        _cleanup_(job_freep) AuthJob *j = NULL;
        int k;

        j = calloc(1, sizeof *j);
        RET_NULL_ENOMEM(j);
        j->a = a;
        j->req = r;
        j->verb = kubelet_auth_verb(http_request_method(r));
        j->subresource = kubelet_auth_subresource(http_request_path(r));
        k = step_authenticate(j);
        if (k < 0)
                return k;
        if (k == STEP_PASS)
                return HTTP_FILTER_PASS;
        if (k == STEP_DONE)
                return 0;
        /* STEP_PENDING: the review's callback resumes it. */
        k = http_request_suspend(r, on_request_cancelled, j);
        if (k < 0)
                return k; /* j (and the review in flight) go with the cleanup */
        j->parked = true;
        j->next = a->jobs;
        if (a->jobs)
                a->jobs->prev = j;
        a->jobs = TAKE_PTR(j);
        return 0;
}

int kubelet_auth_new(sd_event *e, ApiClient *api, const KubeletAuthOptions *o, KubeletAuth **ret) {
        _cleanup_(kubelet_auth_freep) KubeletAuth *a = NULL;
        int r;

        a = calloc(1, sizeof *a);
        RET_NULL_ENOMEM(a);
        a->event = sd_event_ref(e);
        a->api = api;
        a->anonymous = o->anonymous;
        a->webhook_authentication = o->webhook_authentication;
        a->webhook_authorization = o->webhook_authorization;
        a->token_ttl = o->token_cache_ttl_usec ?: DEFAULT_TOKEN_TTL_USEC;
        a->authorized_ttl = o->authorized_ttl_usec ?: DEFAULT_AUTHORIZED_TTL_USEC;
        a->unauthorized_ttl = o->unauthorized_ttl_usec ?: DEFAULT_UNAUTHORIZED_TTL_USEC;
        a->node_name = strdup(strempty(o->node_name));
        RET_NULL_ENOMEM(a->node_name);
        r = auth_cache_new(0, &a->tokens);
        if (r < 0)
                return r;
        r = auth_cache_new(0, &a->decisions);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

KubeletAuth *kubelet_auth_free(KubeletAuth *a) {
        if (!a)
                return NULL;
        /* Jobs left here belong to requests of a server still running: answer them rather than leave them hanging. */
        while (a->jobs) {
                AuthJob *j = a->jobs;
                HttpRequest *req = j->req;
                (void) http_respond_text(req, 503, "Service Unavailable");
                job_free(j);
                http_request_resume(req);
        }
        auth_cache_free(a->tokens);
        auth_cache_free(a->decisions);
        free(a->node_name);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}
