/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The Kubernetes API client: asynchronous REST calls on the daemon's loop through CurlGlue (libcurl multi).
 *
 * - One connection pool: every ApiClient sharing a CurlGlue shares curl's connection cache; HTTP/2 is used when the
 *   server offers it in ALPN (requests multiplex on one connection, CURLPIPE_MULTIPLEX is curl's default and
 *   PIPEWAIT makes a new request wait for a connection being set up rather than open a second one), HTTP/1.1
 *   otherwise (keep-alive).
 * - TLS and credentials from a Kubeconfig (agent/kubeconfig.h): the CA (inline or file; the system roots only when
 *   the kubeconfig names none), insecure-skip-tls-verify, tls-server-name, client certificate and key, bearer token
 *   (the token file re-read when it changes).
 * - Every request sends `Accept: application/json` and `User-Agent: nodelet/v<ver> (linux/<arch>) kubernetes/...`.
 * - Client-side rate limit like client-go's: a token bucket of QPS/burst (the kubelet's defaults 50/100) that every
 *   request, watches included, goes through; a request over the limit waits on a timer, nothing blocks.
 * - Bodies are JSON (jansson). Responses are bounded (max_response_size); error responses are decoded from the
 *   Status object (code, reason, message) into a negative errno (table below) and the Status fields.
 * - Retries: 429 TooManyRequests is retried for every verb after the server's Retry-After (the server did not act
 *   on the request); 5xx and connection failures are retried with exponential backoff and jitter for the
 *   idempotent verbs only (GET, PUT, DELETE), up to max_retries; POST and PATCH are never repeated behind the
 *   caller's back.
 * - Everything is asynchronous: the callback runs on the loop, exactly once, unless the request is cancelled.
 *
 * Errors (ApiResponse.error): 0 for 2xx; 400 -EINVAL, 401 -EACCES, 403 -EPERM, 404 -ENOENT, 405 -EOPNOTSUPP,
 * 409 AlreadyExists -EEXIST, 409 Conflict (stale resourceVersion, failed precondition) -ESTALE, 410 Gone/Expired
 * -ETIME, 413 -EFBIG, 415/422 -EINVAL, 429 -EBUSY, 504 -ETIMEDOUT, other 5xx -EIO, other statuses -EPROTO;
 * no response: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EPROTO (TLS), -EIO; a response over the size cap
 * -EFBIG; a 2xx body that is not JSON -EBADMSG. */

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/kubeconfig.h"
#include "common/curl-glue.h"
#include "common/error.h"
#include "common/macro.h"

typedef struct ApiClient ApiClient;
typedef struct ApiRequest ApiRequest;

typedef enum ApiVerb {
        API_VERB_GET,
        API_VERB_POST, /* create */
        API_VERB_PUT,  /* update */
        API_VERB_PATCH,
        API_VERB_DELETE,
        _API_VERB_MAX,
        _API_VERB_INVALID = -EINVAL,
} ApiVerb;
const char *api_verb_to_string(ApiVerb v); /* "GET", ... */

typedef enum ApiPatchType {
        API_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
        API_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (what the kubelet sends for status) */
        API_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
        _API_PATCH_TYPE_MAX,
        _API_PATCH_TYPE_INVALID = -EINVAL,
} ApiPatchType;
const char *api_patch_type_to_content_type(ApiPatchType t);

typedef struct ApiClientOptions {
        double qps;                  /* 0: 50 (kubeAPIQPS); < 0: no client-side limit */
        unsigned burst;              /* 0: 100 (kubeAPIBurst) */
        size_t max_response_size;    /* 0: 64 MiB; also the bound of a watch's error body */
        unsigned max_retries;        /* retries after the first attempt; 0: 5 */
        uint64_t retry_initial_usec; /* 5xx/connection backoff: 0: 500 ms, doubling */
        uint64_t retry_max_usec;     /* 0: 30 s */
        uint64_t timeout_usec;       /* per attempt of a non-watch request; 0: 60 s */
        const char *user_agent;      /* NULL: nodelet's own */
} ApiClientOptions;

typedef struct ApiResponse {
        int error;           /* 0 or a negative errno (see the table above) */
        long status;         /* HTTP status; 0 when no response arrived */
        const char *reason;  /* Status.reason ("NotFound", "AlreadyExists", "Conflict", "Expired", ...); "" */
        const char *message; /* Status.message, or what failed locally; "" on success */
        json_t *body;        /* the parsed body (on errors: the Status when it was one); borrowed, may be NULL */
} ApiResponse;

typedef void (*api_response_fn_t)(ApiClient *c, const ApiResponse *r, void *userdata);
/* One line of a streamed 2xx response (watch), without its '\n'; empty lines are skipped. Return < 0 to end the
 * transfer: its done callback then gets that error. */
typedef int (*api_line_fn_t)(ApiClient *c, const char *line, size_t size, void *userdata);

/* glue is borrowed (it must outlive the client); kc is taken over on success. */
int api_client_new(sd_event *e, CurlGlue *glue, Kubeconfig *kc, const ApiClientOptions *o, ApiClient **ret);
/* Cancels every request still pending without calling its callback. Not to be called from a callback. */
ApiClient *api_client_free(ApiClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiClient *, api_client_free)
const Kubeconfig *api_client_kubeconfig(const ApiClient *c);
/* Swaps the credentials (a rotated client certificate, agent/bootstrap.h) without a restart: kc is taken over and
 * every request started from now on (retries and re-watches included) uses it; requests already on the wire finish
 * with the old one. Give the certificate and key as -data (PEM in memory): curl then matches connections by their
 * content, so a new request never reuses a connection set up with the old certificate. The server and TLS settings
 * must stay those of the old kubeconfig (-EINVAL otherwise, kc not taken). */
int api_client_set_kubeconfig(ApiClient *c, Kubeconfig *kc);
/* Ends every stream (api_client_stream(): watches) on the wire soon, from the loop: its done callback gets
 * -ECONNABORTED. After api_client_set_kubeconfig(), so that the server sees the new identity at once, like client-go
 * closing its connections when the client certificate rotates; callers re-watch at once on -ECONNABORTED.
 * Safe from inside any callback. */
void api_client_end_streams(ApiClient *c);
sd_event *api_client_event(const ApiClient *c);
size_t api_client_n_pending(const ApiClient *c);

/* Starts a request. path is absolute with its query ("/api/v1/namespaces/default/pods/web?..."); escape values
 * with api_escape(). body (may be NULL) is serialized at once; patch is used with API_VERB_PATCH only. done runs
 * once on the loop. When ret is not NULL it gets a handle, valid until done has returned or the request is
 * cancelled (clear it in done). */
int api_client_request(ApiClient *c, ApiVerb verb, const char *path, const json_t *body, ApiPatchType patch,
                       api_response_fn_t done, void *userdata, ApiRequest **ret);
/* A streamed GET (watch): lines of a 2xx response go to on_line as they arrive (a line longer than max_line ends
 * the transfer with -EMSGSIZE); done runs at the end: error 0 when the server ended the stream cleanly after a
 * complete line, -EBADMSG when it ended inside a line (truncated), the HTTP error as above, or the transport
 * error. Never retried by the client: the caller (the informer) decides. timeout_usec: 0 = none. */
int api_client_stream(ApiClient *c, const char *path, size_t max_line, uint64_t timeout_usec, api_line_fn_t on_line,
                      api_response_fn_t done, void *userdata, ApiRequest **ret);
/* The body of a 2xx response as it arrives, in curl's chunks, for a parser that reads incrementally (informers read
 * list pages through common/json-stream, so a page is never one buffer or one tree). Return < 0 to end the transfer
 * (its done callback then gets that error). */
typedef int (*api_data_fn_t)(ApiClient *c, const char *data, size_t size, void *userdata);
/* A GET whose 2xx body goes to on_data (bounded by max_response_size: -EFBIG beyond); an error response is buffered
 * and decoded as usual. done gets error 0 when the body ended normally: whether it was complete is the parser's
 * to say. Not retried by the client (the caller decides). timeout_usec: 0 = the client's per-request timeout. */
int api_client_stream_raw(ApiClient *c, const char *path, uint64_t timeout_usec, api_data_fn_t on_data,
                          api_response_fn_t done, void *userdata, ApiRequest **ret);
/* Cancels a request that has not completed: its callback is not called. Safe from the request's own on_line. */
void api_request_cancel(ApiRequest *r);

static inline int api_client_get(ApiClient *c, const char *path, api_response_fn_t done, void *userdata,
                                 ApiRequest **ret) {
        return api_client_request(c, API_VERB_GET, path, NULL, 0, done, userdata, ret);
}
static inline int api_client_create(ApiClient *c, const char *path, const json_t *body, api_response_fn_t done,
                                    void *userdata, ApiRequest **ret) {
        return api_client_request(c, API_VERB_POST, path, body, 0, done, userdata, ret);
}
static inline int api_client_update(ApiClient *c, const char *path, const json_t *body, api_response_fn_t done,
                                    void *userdata, ApiRequest **ret) {
        return api_client_request(c, API_VERB_PUT, path, body, 0, done, userdata, ret);
}
static inline int api_client_patch(ApiClient *c, const char *path, ApiPatchType type, const json_t *body,
                                   api_response_fn_t done, void *userdata, ApiRequest **ret) {
        return api_client_request(c, API_VERB_PATCH, path, body, type, done, userdata, ret);
}
/* body: DeleteOptions (gracePeriodSeconds, preconditions) or NULL. */
static inline int api_client_delete(ApiClient *c, const char *path, const json_t *body, api_response_fn_t done,
                                    void *userdata, ApiRequest **ret) {
        return api_client_request(c, API_VERB_DELETE, path, body, 0, done, userdata, ret);
}

/* Percent-encodes s for a query value or path segment (RFC 3986 unreserved characters stay). */
int api_escape(const char *s, char **ret);

/* ---- pieces with no I/O, shared with the tests ---- */

/* client-go's rate limiter (golang.org/x/time/rate as flowcontrol uses it): a bucket of `burst` tokens refilled
 * at `qps` per second. Every request reserves one token; when the bucket is empty the reservation goes negative and
 * the request waits until its token has accrued, so waiters are served in order and the long-run rate is qps. */
typedef struct TokenBucket {
        double qps, burst, tokens;
        uint64_t last_usec;
} TokenBucket;
void token_bucket_init(TokenBucket *b, double qps, unsigned burst, uint64_t now_usec);
/* Reserves one token at now_usec; returns how long (usec) the caller must wait before using it (0 = now). */
uint64_t token_bucket_reserve(TokenBucket *b, uint64_t now_usec);

/* Exponential backoff with jitter: initial * 2^attempt, capped at max, then scaled by 0.8 + 0.4 * random (random
 * in [0, 1)) and kept within [initial, max], so clients that failed together do not retry together. */
uint64_t api_backoff_usec(unsigned attempt, uint64_t initial_usec, uint64_t max_usec, double random);
/* Retry-After in delta-seconds ("3"); an HTTP date or garbage → -EINVAL. Capped at 10 minutes. */
int api_parse_retry_after(const char *value, uint64_t *ret_usec);
/* The errno for an HTTP status and Status.reason (table above). */
int api_status_to_errno(long status, const char *reason);
