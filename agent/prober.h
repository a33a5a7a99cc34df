/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The kubelet's network probes (pkg/probe/http, tcp, grpc), asynchronous on the daemon's loop: every probe is one
 * libcurl transfer on the Prober's CurlGlue, no thread per probe. Exec probes live with the runtime, not here.
 *
 * Semantics follow the kubelet:
 * - HTTP: GET with `User-Agent: <user_agent>` and `Accept: * / *` (without the spaces) unless the probe's headers set
 *   them (an empty Accept or User-Agent removes the header); a Host header sets the Host. No proxy, no compression,
 *   no keep-alive (`Connection: close`, a new connection per probe), HTTPS without certificate verification.
 *   200 <= status < 300 is a success whose message is the body; a 3xx that was not followed is a WARNING
 *   ("Probe terminated redirects, Response body: ..."); anything else a failure ("HTTP probe failed with
 *   statuscode: 503": like the kubelet, the body is left out of failure messages, kubernetes issue 99425). At most
 *   10 KiB of the body is read. Redirects (301/302/303/307/308) are followed only to the same host, at most 10; a
 *   custom Host header survives relative redirects only (Go's http.Client).
 * - TCP: success when the connection is established.
 * - gRPC: grpc.health.v1.Health/Check over cleartext HTTP/2; success only for SERVING ("service healthy"), else
 *   "service unhealthy (responded with \"NOT_SERVING\")" or the kubelet's error messages. Unlike grpc-go's blocking
 *   dial, a refused connection fails at once instead of being retried until the timeout.
 * - Sockets close with SO_LINGER 0 (a reset, no TIME_WAIT), like the kubelet's probe dialer, so frequent probes do
 *   not pile up TIME_WAIT sockets.
 * Errors (timeouts, refused connections) are failures whose message reads like the kubelet's ("Get \"http://...\":
 * dial tcp 10.0.0.5:8080: connect: connection refused"). IP literal hosts (also IPv6) need no DNS; names are
 * resolved by libcurl. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/pod.h"
#include "common/macro.h"

typedef enum ProbeResult {
        PROBE_RESULT_SUCCESS,
        PROBE_RESULT_WARNING, /* counts as a success; the kubelet records a ProbeWarning event */
        PROBE_RESULT_FAILURE,
        PROBE_RESULT_UNKNOWN,
        _PROBE_RESULT_MAX,
        _PROBE_RESULT_INVALID = -EINVAL,
} ProbeResult;
const char *probe_result_to_string(ProbeResult r); /* "success", "warning", "failure", "unknown" */

/* Runs on the loop once per probe unless it was cancelled. message is only valid during the call. It may start and
 * cancel probes, but must not free the Prober. */
typedef void (*probe_done_t)(ProbeResult r, const char *message, void *userdata);

typedef struct Prober Prober;
typedef struct ProbeJob ProbeJob;

/* user_agent: e.g. "kube-probe/1.26" (copied). */
int prober_new(sd_event *e, const char *user_agent, Prober **ret);
/* Cancels every probe still running (done() is not called). */
Prober *prober_free(Prober *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Prober *, prober_free)
size_t prober_n_running(Prober *p);

/* Each starts a probe and returns at once; done() reports the result later, never from inside the call. A negative
 * return (bad arguments: -EINVAL for a header with CR/LF or a bad name; -ENOMEM) means no probe and no done(). ret
 * may be NULL; *ret is valid until done() runs or the job is cancelled. timeout_usec 0 means the kubelet's default
 * of 1s; it bounds the whole probe, redirects included. path may carry a query ("/healthz?verbose"). */
int prober_http(Prober *p, const char *host, uint16_t port, const char *path, bool https, const HttpHeader *headers,
                size_t n_headers, uint64_t timeout_usec, probe_done_t done, void *userdata, ProbeJob **ret);
int prober_tcp(Prober *p, const char *host, uint16_t port, uint64_t timeout_usec, probe_done_t done, void *userdata,
               ProbeJob **ret);
/* service: NULL or "" asks for the server's overall health. */
int prober_grpc(Prober *p, const char *host, uint16_t port, const char *service, uint64_t timeout_usec,
                probe_done_t done, void *userdata, ProbeJob **ret);
/* Stops a probe without calling done(); accepts NULL; returns NULL. */
ProbeJob *probe_job_cancel(ProbeJob *j);

/* The gRPC health messages, exposed for tests. encode: a length-prefixed gRPC frame holding HealthCheckRequest
 * {service}; the caller frees *ret. decode: one gRPC frame holding a HealthCheckResponse → its status (0 UNKNOWN,
 * 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN; absent = 0); -EBADMSG for a malformed or compressed frame. */
int prober_grpc_encode_request(const char *service, uint8_t **ret, size_t *ret_size);
int prober_grpc_decode_response(const uint8_t *data, size_t size, int64_t *ret_status);
