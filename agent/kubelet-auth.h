/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Authentication and authorization of the kubelet API (the secure port, 10250), with the kubelet's semantics
 * (pkg/kubelet/server auth filter, the apiserver's delegating authenticator and authorizer factories):
 *
 * Authentication, in order:
 *   1. x509 client certificate verified against authentication.x509.clientCAFile (the HttpServer verifies it, see
 *      http_request_peer_identity()): user = subject CN, groups = subject O;
 *   2. a bearer token ("Authorization: Bearer <token>") reviewed with a TokenReview (authentication.k8s.io/v1) when
 *      authentication.webhook.enabled; answers (authenticated or not) cached for cacheTTL (2 min), keyed by the
 *      token's SHA-256;
 *   3. anonymous (user system:anonymous, group system:unauthenticated) when authentication.anonymous.enabled.
 *   Authenticated users get the group system:authenticated. A certificate that does not verify or a token the API
 *   server rejects is an error, not "no credentials": 401 even with anonymous enabled (the apiserver's
 *   FailOnError union). Nothing that authenticates: 401 "Unauthorized".
 * Authorization: AlwaysAllow, or Webhook: a SubjectAccessReview (authorization.k8s.io/v1) for verb (from the HTTP
 *   method), resource "nodes", subresource (from the path), name = the node; "allowed" cached for
 *   cacheAuthorizedTTL (5 min), denials for cacheUnauthorizedTTL (30 s). Denied: 403 "Forbidden (user=..., verb=...,
 *   resource=nodes, subresource=...)". A webhook that fails (unreachable API server, bad answer) is never cached:
 *   TokenReview failure → 401, SubjectAccessReview failure → 500 "Authorization error (...)", like the kubelet; both
 *   logged.
 *
 * Everything runs on the loop: a request that needs the API server is suspended (http_request_suspend()) until the
 * answer arrives. */

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/apiclient.h"
#include "common/http-server.h"
#include "common/macro.h"

typedef struct KubeletAuth KubeletAuth;

typedef struct KubeletAuthOptions {
        const char *node_name;          /* the SubjectAccessReview's name (copied) */
        bool anonymous;                 /* authentication.anonymous.enabled */
        bool webhook_authentication;    /* authentication.webhook.enabled */
        uint64_t token_cache_ttl_usec;  /* authentication.webhook.cacheTTL; 0: 2 min */
        bool webhook_authorization;     /* authorization.mode Webhook (else AlwaysAllow) */
        uint64_t authorized_ttl_usec;   /* authorization.webhook.cacheAuthorizedTTL; 0: 5 min */
        uint64_t unauthorized_ttl_usec; /* authorization.webhook.cacheUnauthorizedTTL; 0: 30 s */
} KubeletAuthOptions;

/* api (borrowed, may be NULL: standalone) must outlive the KubeletAuth. Without it, tokens are not accepted and
 * Webhook authorization answers 500 (the kubelet refuses to start that way; nodelet keeps serving, and says why). */
int kubelet_auth_new(sd_event *e, ApiClient *api, const KubeletAuthOptions *o, KubeletAuth **ret);
/* Cancels the reviews in flight. Free the HttpServer first: it hands back the requests still suspended. */
KubeletAuth *kubelet_auth_free(KubeletAuth *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeletAuth *, kubelet_auth_free)

/* The http_filter_t to install on the secure server: http_server_set_filter(s, kubelet_auth_filter, a). */
int kubelet_auth_filter(HttpRequest *r, void *userdata);

/* ---- pieces with no I/O, shared with the tests ---- */

/* The authorization verb for an HTTP method (GET and HEAD → get, POST → create, PUT → update, PATCH → patch,
 * DELETE → delete); "" for other methods, like the kubelet. */
const char *kubelet_auth_verb(const char *method);
/* The subresource of nodes a kubelet API path stands for: /stats → stats, /metrics → metrics, /logs → log,
 * /spec → spec, /checkpoint → checkpoint (each also for paths below it), everything else → proxy. */
const char *kubelet_auth_subresource(const char *path);

/* A bounded map of answers with an expiry each (TokenReview and SubjectAccessReview caches). */
typedef struct AuthCache AuthCache;
/* max_entries: 0 = 4096. When full, expired entries are dropped first, then everything. */
int auth_cache_new(size_t max_entries, AuthCache **ret);
AuthCache *auth_cache_free(AuthCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AuthCache *, auth_cache_free)
/* Stores ok and info (may be NULL; a reference is taken) under key until now + ttl. */
int auth_cache_put(AuthCache *c, const char *key, bool ok, json_t *info, uint64_t now_usec, uint64_t ttl_usec);
/* 1 and the answer (info borrowed, valid until the next put) when key holds an entry that has not expired at
 * now_usec, else 0 (an expired entry is dropped). */
int auth_cache_get(AuthCache *c, const char *key, uint64_t now_usec, bool *ret_ok, json_t **ret_info);
size_t auth_cache_size(const AuthCache *c);
