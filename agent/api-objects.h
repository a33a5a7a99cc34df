/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The ConfigMaps, Secrets and service account tokens this node's API pods refer to (agent/api-objects.c), after the
 * kubelet's "Watch" change-detection strategy (pkg/kubelet/util/manager/watch_based_manager.go) and its token
 * manager (pkg/kubelet/token):
 *
 * - Objects are reference-counted per pod: api_objects_pod_acquire() takes a reference on every ConfigMap and
 *   Secret the pod names (configMap/secret volumes, projections, env valueFrom, envFrom), api_objects_pod_release()
 *   drops them; an object is forgotten when its last pod is gone.
 * - Each object has its own informer: list+watch of its namespace's collection with
 *   fieldSelector=metadata.name=<name>, which the Node authorizer allows for objects referenced by pods bound to
 *   the node. Only the data is kept (Secret values and ConfigMap binaryData base64-decoded).
 * - Tokens: a TokenRequest (POST serviceaccounts/<sa>/token with the projection's audience and expirationSeconds and
 *   a boundObjectRef to the Pod and its uid) per pod and serviceAccountToken projection, requested again at 80 % of
 *   its lifetime or after 24 hours, whichever comes first (the kubelet's requiresRefresh); a failed request is
 *   retried on the entry's own timer (1 s doubling to 5 min), a failed refresh keeps using the old token.
 * - changed(pod_uid) runs on the loop when something a pod refers to changed (an object was added, modified or
 *   deleted, an object's first list completed, a token arrived or failed), so the pod worker can continue its
 *   setup or rewrite its volumes.
 *
 * Everything runs on the loop; what a WorkPool job needs is handed out as a deep copy (api_objects_pod_snapshot). */

#include <jansson.h>

#include "agent/apiclient.h"
#include "agent/pod.h"
#include "common/error.h"
#include "common/macro.h"

typedef struct ApiObjects ApiObjects;

typedef void (*api_objects_changed_fn_t)(ApiObjects *o, const char *pod_uid, void *userdata);

/* api is borrowed (it must outlive the cache). */
int api_objects_new(ApiClient *api, api_objects_changed_fn_t changed, void *userdata, ApiObjects **ret);
/* Stops every informer and request without callbacks. */
ApiObjects *api_objects_free(ApiObjects *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiObjects *, api_objects_free)

/* Takes references on what p refers to and starts the token requests of its serviceAccountToken projections.
 * Idempotent; called again with a changed pod (same uid), the pod's set is replaced. o may be NULL (no-op). */
int api_objects_pod_acquire(ApiObjects *o, const Pod *p);
/* Drops the references and tokens of the pod. o may be NULL. */
void api_objects_pod_release(ApiObjects *o, const char *pod_uid);

/* Whether what p refers to is known: 1 when every object was listed at least once and every token was issued;
 * 0 when still waiting (changed() fires for the pod later); < 0 with e set when an object cannot be listed or a
 * token request failed ("failed to fetch token: ..."; changed() fires once for the first failure and again when
 * a token arrives). The pod must have been acquired. */
int api_objects_pod_ready(ApiObjects *o, const Pod *p, ErrorBuf *e);

/* What the pod's jobs need, in the form PodRuntimeInfo.api_objects documents (agent/pod.h): a new tree the caller
 * owns, with what is known so far (objects not found or not listed yet are absent). */
int api_objects_pod_snapshot(ApiObjects *o, const Pod *p, json_t **ret);

typedef struct ApiObjectsStats {
        unsigned objects;        /* cached ConfigMaps + Secrets */
        unsigned tokens;         /* tokens held */
        unsigned token_requests; /* TokenRequests sent */
} ApiObjectsStats;
void api_objects_stats(const ApiObjects *o, ApiObjectsStats *ret);

/* ---- pieces with no I/O, shared with the tests ---- */

/* The kubelet's token refresh rule: usec after issue at which a token valid for ttl_usec is requested again
 * (80 % of its lifetime, at most 24 hours). */
uint64_t api_objects_token_refresh_usec(uint64_t ttl_usec);
/* The cached form of a v1.ConfigMap or v1.Secret object: {"data": {...}, "binaryData": {...}} with Secret data and
 * ConfigMap binaryData base64-decoded (json_stringn: values may hold NUL bytes). Values that are not strings or
 * not base64 are refused with -EINVAL and e naming the key. */
int api_objects_content(const json_t *object, bool secret, json_t **ret, ErrorBuf *e);
