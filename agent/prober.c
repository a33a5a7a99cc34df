/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/prober.h"

#include <ctype.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "common/curl-glue.h"
#include "common/event-util.h"
#include "common/log.h"
#include "common/time-util.h"

#define MAX_BODY (10U * 1024) /* the kubelet's maxRespBodyLength */
#define MAX_REDIRECTS 10
#define DEFAULT_TIMEOUT_USEC USEC_PER_SEC
#define MAX_IDLE_HANDLES 16

typedef enum ProbeKind {
        PROBE_HTTP,
        PROBE_TCP,
        PROBE_GRPC,
} ProbeKind;

struct Prober {
        CurlGlue *glue;
        char *user_agent;
        CURL *idle[MAX_IDLE_HANDLES]; /* reset handles kept for the next probe: saves their setup */
        size_t n_idle;
        ProbeJob *jobs;
        size_t n_jobs;
};

struct ProbeJob {
        Prober *prober;
        ProbeKind kind;
        CURL *curl;
        probe_done_t done;
        void *userdata;
        char *url;      /* of the current request (changes on redirects) */
        char *hostname; /* of the first request: redirects elsewhere are not followed */
        char addr[300]; /* host:port as Go's net.JoinHostPort() writes it */
        struct curl_slist *headers, *headers_no_host;
        bool has_host_header;
        uint64_t timeout_usec, deadline;
        int n_redirects;
        char *body;
        size_t body_size;
        bool truncated;
        uint8_t *request; /* gRPC request frame */
        size_t request_size;
        int grpc_status; /* -1 = no grpc-status seen */
        char *grpc_message;
        char errbuf[CURL_ERROR_SIZE];
        ProbeJob *prev, *next;
};

static const char *const probe_result_table[_PROBE_RESULT_MAX] = {
        [PROBE_RESULT_SUCCESS] = "success",
        [PROBE_RESULT_WARNING] = "warning",
        [PROBE_RESULT_FAILURE] = "failure",
        [PROBE_RESULT_UNKNOWN] = "unknown",
};

const char *probe_result_to_string(ProbeResult r) {
        return r >= 0 && r < _PROBE_RESULT_MAX ? probe_result_table[r] : NULL;
}

/* Go's time.Duration formatting for the usual probe timeouts: "1s", "1.5s", "500ms". */
static void format_duration(uint64_t usec, char *buf, size_t size) {
        if (usec >= USEC_PER_SEC) {
                int n = snprintf(buf, size, "%.6f", (double) usec / USEC_PER_SEC);
                while (n > 0 && buf[n - 1] == '0')
                        buf[--n] = 0;
                if (n > 0 && buf[n - 1] == '.')
                        buf[--n] = 0;
                (void) snprintf(buf + n, size - (size_t) n, "s");
        } else if (usec >= USEC_PER_MSEC)
                (void) snprintf(buf, size, "%llums", (unsigned long long) (usec / USEC_PER_MSEC));
        else
                (void) snprintf(buf, size, "%lluµs", (unsigned long long) usec);
}

/* ---- gRPC health messages (hand-encoded protobuf: both messages have one field) ---- */

int prober_grpc_encode_request(const char *service, uint8_t **ret, size_t *ret_size) {
        size_t l = service ? strlen(service) : 0, n = 0, msg;
        uint8_t varint[10], *b;
        size_t nv = 0;

        /* HealthCheckRequest{service = 1 (string)}; proto3 leaves an empty string out. */
        for (uint64_t v = l; nv == 0 || v > 0; v >>= 7)
                varint[nv++] = (uint8_t) ((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        msg = l > 0 ? 1 + nv + l : 0;
        if (msg > UINT32_MAX)
                return -EINVAL;
        b = malloc(5 + msg);
        RET_NULL_ENOMEM(b);
        /* gRPC length-prefixed message: compressed flag, 4-byte big-endian length. */
        b[n++] = 0;
        b[n++] = (uint8_t) (msg >> 24);
        b[n++] = (uint8_t) (msg >> 16);
        b[n++] = (uint8_t) (msg >> 8);
        b[n++] = (uint8_t) msg;
        if (l > 0) {
                b[n++] = 0x0a; /* field 1, wire type 2 */
                memcpy(b + n, varint, nv);
                n += nv;
                memcpy(b + n, service, l);
                n += l;
        }
        *ret = b;
        *ret_size = n;
        return 0;
}

static int read_varint(const uint8_t *p, size_t size, size_t *i, uint64_t *ret) {
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
                if (*i >= size)
                        return -EBADMSG;
                uint8_t c = p[(*i)++];
                v |= (uint64_t) (c & 0x7f) << shift;
                if (!(c & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

int prober_grpc_decode_response(const uint8_t *data, size_t size, int64_t *ret_status) {
        int64_t status = 0; /* proto3: an absent enum is its zero value, UNKNOWN */
        size_t len, i;

        if (size < 5 || data[0] != 0) /* we never offer compression, so a compressed frame is an error */
                return -EBADMSG;
        len = (size_t) data[1] << 24 | (size_t) data[2] << 16 | (size_t) data[3] << 8 | data[4];
        if (len > size - 5)
                return -EBADMSG;
        data += 5;
        for (i = 0; i < len;) {
                uint64_t key, v;
                if (read_varint(data, len, &i, &key) < 0)
                        return -EBADMSG;
                switch (key & 7) {
                case 0:
                        if (read_varint(data, len, &i, &v) < 0)
                                return -EBADMSG;
                        if (key >> 3 == 1)
                                status = (int64_t) v;
                        break;
                case 1:
                        if (len - i < 8)
                                return -EBADMSG;
                        i += 8;
                        break;
                case 2:
                        if (read_varint(data, len, &i, &v) < 0 || v > len - i)
                                return -EBADMSG;
                        i += v;
                        break;
                case 5:
                        if (len - i < 4)
                                return -EBADMSG;
                        i += 4;
                        break;
                default:
                        return -EBADMSG;
                }
        }
        *ret_status = status;
        return 0;
}

static const char *serving_status_name(int64_t s, char *buf, size_t size) {
        static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
        if (s >= 0 && s < (int64_t) ELEMENTSOF(names))
                return names[s];
        (void) snprintf(buf, size, "%lld", (long long) s); /* what Go's String() gives an unknown enum value */
        return buf;
}

static const char *grpc_code_name(int code) {
        static const char *const names[] = {
                "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
                "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
                "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
                "DataLoss", "Unauthenticated",
        };
        return code >= 0 && code < (int) ELEMENTSOF(names) ? names[code] : "Unknown";
}

/* ---- jobs ---- */

static void job_free(ProbeJob *j) {
        curl_slist_free_all(j->headers);
        curl_slist_free_all(j->headers_no_host);
        free(j->url);
        free(j->hostname);
        free(j->body);
        free(j->request);
        free(j->grpc_message);
        free(j);
}

static void job_unlink(ProbeJob *j) {
        Prober *p = j->prober;
        if (j->prev)
                j->prev->next = j->next;
        else
                p->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        p->n_jobs--;
}

/* Hands the easy handle back to the pool (reset) or frees it. A TCP probe's handle keeps its connection (curl's
 * CONNECT_ONLY), so it is always freed, which closes the connection. */
static void job_release_handle(ProbeJob *j) {
        Prober *p = j->prober;
        CURL *c = TAKE_PTR(j->curl);
        if (!c)
                return;
        if (j->kind == PROBE_TCP || p->n_idle >= MAX_IDLE_HANDLES) {
                curl_easy_cleanup(c);
                return;
        }
        curl_easy_reset(c);
        p->idle[p->n_idle++] = c;
}

static void job_finish(ProbeJob *j, ProbeResult r, char *message) {
        probe_done_t done = j->done;
        void *userdata = j->userdata;
        _cleanup_free_ char *m = message;

        job_unlink(j);
        job_release_handle(j);
        job_free(j);
        done(r, m ?: "", userdata);
}

/* Only fails for lack of memory: then the probe still ends (as unknown), the daemon retries next period. */
_printf_(3, 4) static void job_finishf(ProbeJob *j, ProbeResult r, const char *fmt, ...) {
        char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0) {
                m = NULL;
                r = PROBE_RESULT_UNKNOWN;
        }
        va_end(ap);
        job_finish(j, r, m);
}

ProbeJob *probe_job_cancel(ProbeJob *j) {
        if (!j)
                return NULL;
        job_unlink(j);
        if (j->curl)
                curl_glue_cancel(j->prober->glue, TAKE_PTR(j->curl));
        job_free(j);
        return NULL;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *userdata) {
        ProbeJob *j = userdata;
        size_t l = size * n, take = MIN(l, MAX_BODY - j->body_size);

        if (take > 0) {
                char *b = realloc(j->body, j->body_size + take + 1);
                if (!b)
                        return 0;
                memcpy(b + j->body_size, ptr, take);
                j->body = b;
                j->body_size += take;
                j->body[j->body_size] = 0;
        }
        if (take < l) {
                /* Like the kubelet's ReadAtMost(): the rest is not read; stopping here ends the transfer. */
                j->truncated = true;
                return 0;
        }
        return l;
}

static size_t on_grpc_header(char *ptr, size_t size, size_t n, void *userdata) {
        ProbeJob *j = userdata;
        size_t l = size * n;
        const char *v;
        char line[512];

        /* Headers and (HTTP/2) trailers both come through here: a failing server may send grpc-status in either. */
        (void) snprintf(line, sizeof line, "%.*s", (int) MIN(l, sizeof line - 1), ptr);
        line[strcspn(line, "\r\n")] = 0;
        if (strncasecmp(line, "grpc-status:", 12) == 0) {
                v = line + 12 + strspn(line + 12, " \t");
                j->grpc_status = atoi(v);
        } else if (strncasecmp(line, "grpc-message:", 13) == 0) {
                v = line + 13 + strspn(line + 13, " \t");
                free(j->grpc_message);
                j->grpc_message = curl_easy_unescape(NULL, v, 0, NULL); /* percent-encoded on the wire */
                if (j->grpc_message) {
                        char *copy = strdup(j->grpc_message);
                        curl_free(j->grpc_message);
                        j->grpc_message = copy;
                }
        }
        return l;
}

/* Like the kubelet's probe dialer: close with a reset instead of lingering in TIME_WAIT. */
static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        return CURL_SOCKOPT_OK;
}

static long remaining_ms(ProbeJob *j) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        if (now >= j->deadline)
                return 0;
        return (long) MAX((j->deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, 1ULL);
}

static int job_setup(ProbeJob *j) {
        CURL *c = j->curl;
        long ms = remaining_ms(j);

        if (curl_easy_setopt(c, CURLOPT_URL, j->url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK || /* probes never go through a proxy */
            curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
            /* Nothing is verified, so loading the system CA bundle for every probe would be wasted work. */
            curl_easy_setopt(c, CURLOPT_CAINFO, NULL) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK)
                return -EIO;
        if (j->kind == PROBE_TCP)
                return curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L) == CURLE_OK ? 0 : -EIO;
        if (curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, j) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, j->headers) != CURLE_OK)
                return -EIO;
        if (j->kind == PROBE_HTTP)
                return curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1) == CURLE_OK ? 0 : -EIO;
        if (curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) j->request_size) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->request) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_grpc_header) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERDATA, j) != CURLE_OK)
                return -EIO;
        return 0;
}

/* The host as Go's URL.Hostname() gives it (no brackets, no port), for the same-host redirect rule. */
static char *url_hostname(const char *url) {
        CURLU *u = curl_url();
        char *h = NULL, *ret = NULL;

        if (!u)
                return NULL;
        if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h) {
                size_t l = strlen(h);
                if (l >= 2 && h[0] == '[' && h[l - 1] == ']')
                        ret = strndup(h + 1, l - 2);
                else
                        ret = strdup(h);
        }
        curl_free(h);
        curl_url_cleanup(u);
        return ret;
}

static void on_done(CurlGlue *g, CURL *c, CURLcode result, void *userdata);

static const char *os_error(ProbeJob *j, char *buf, size_t size) {
        long e = 0;
        (void) curl_easy_getinfo(j->curl, CURLINFO_OS_ERRNO, &e);
        if (e <= 0)
                return j->errbuf[0] ? j->errbuf : "connection failed";
        /* Go prints errno texts in lower case ("connection refused"). */
        (void) snprintf(buf, size, "%s", strerror((int) e));
        buf[0] = (char) tolower((unsigned char) buf[0]);
        return buf;
}

/* Transport errors, worded like Go's dialer and http.Client. */
static void finish_transport_error(ProbeJob *j, CURLcode result) {
        char ebuf[128], dur[32];
        const char *detail = j->errbuf[0] ? j->errbuf : curl_easy_strerror(result);
        curl_off_t connect_time = 0;

        format_duration(j->timeout_usec, dur, sizeof dur);
        (void) curl_easy_getinfo(j->curl, CURLINFO_CONNECT_TIME_T, &connect_time);
        switch (j->kind) {
        case PROBE_TCP:
                if (result == CURLE_OPERATION_TIMEDOUT)
                        return job_finishf(j, PROBE_RESULT_FAILURE, "dial tcp %s: i/o timeout", j->addr);
                if (result == CURLE_COULDNT_CONNECT)
                        return job_finishf(j, PROBE_RESULT_FAILURE, "dial tcp %s: connect: %s", j->addr,
                                           os_error(j, ebuf, sizeof ebuf));
                if (result == CURLE_COULDNT_RESOLVE_HOST)
                        return job_finishf(j, PROBE_RESULT_FAILURE, "dial tcp: lookup %s: no such host", j->hostname);
                return job_finishf(j, PROBE_RESULT_FAILURE, "dial tcp %s: %s", j->addr, detail);
        case PROBE_HTTP:
                if (result == CURLE_OPERATION_TIMEDOUT)
                        return job_finishf(j, PROBE_RESULT_FAILURE,
                                           "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while "
                                           "awaiting headers)",
                                           j->url);
                if (result == CURLE_COULDNT_CONNECT)
                        return job_finishf(j, PROBE_RESULT_FAILURE, "Get \"%s\": dial tcp %s: connect: %s", j->url,
                                           j->addr, os_error(j, ebuf, sizeof ebuf));
                return job_finishf(j, PROBE_RESULT_FAILURE, "Get \"%s\": %s", j->url, detail);
        case PROBE_GRPC:
                if (result == CURLE_OPERATION_TIMEDOUT && connect_time == 0)
                        return job_finishf(j, PROBE_RESULT_FAILURE,
                                           "timeout: failed to connect service \"%s\" within %s: context deadline "
                                           "exceeded",
                                           j->addr, dur);
                if (result == CURLE_OPERATION_TIMEDOUT)
                        return job_finishf(j, PROBE_RESULT_FAILURE, "timeout: health rpc did not complete within %s",
                                           dur);
                if (result == CURLE_COULDNT_CONNECT)
                        return job_finishf(j, PROBE_RESULT_FAILURE,
                                           "error: failed to connect service at \"%s\": dial tcp %s: connect: %s",
                                           j->addr, j->addr, os_error(j, ebuf, sizeof ebuf));
                return job_finishf(j, PROBE_RESULT_FAILURE, "error: health rpc probe failed: %s", detail);
        }
}

/* Returns true when the redirect was followed (the job goes on). */
static bool http_follow_redirect(ProbeJob *j, long status) {
        const char *target = NULL;
        struct curl_header *loc = NULL;
        _cleanup_free_ char *host = NULL, *url = NULL;
        bool relative;

        /* Go's http.Client follows these (and only with a Location); 300 and 304 are final responses. */
        if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
                return false;
        if (curl_easy_getinfo(j->curl, CURLINFO_REDIRECT_URL, &target) != CURLE_OK || !target)
                return false;
        host = url_hostname(target);
        if (!host || !streq(host, j->hostname))
                return false; /* another host: the 3xx is the answer (WARNING) */
        url = strdup(target);
        if (!url)
                return false;
        if (++j->n_redirects >= MAX_REDIRECTS) {
                free(j->url);
                j->url = TAKE_PTR(url);
                job_finishf(j, PROBE_RESULT_FAILURE, "Get \"%s\": stopped after %d redirects", j->url, MAX_REDIRECTS);
                return true;
        }
        if (remaining_ms(j) == 0) {
                job_finishf(j, PROBE_RESULT_FAILURE,
                            "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                            url);
                return true;
        }
        /* A custom Host header survives a relative Location only (Go's http.Client). */
        relative = curl_easy_header(j->curl, "Location", 0, CURLH_HEADER, -1, &loc) == CURLHE_OK && loc &&
                   !strstr(loc->value, "://");
        free(j->url);
        j->url = TAKE_PTR(url);
        free(j->body);
        j->body = NULL;
        j->body_size = 0;
        j->truncated = false;
        j->errbuf[0] = 0;
        if (curl_easy_setopt(j->curl, CURLOPT_URL, j->url) != CURLE_OK ||
            curl_easy_setopt(j->curl, CURLOPT_TIMEOUT_MS, remaining_ms(j)) != CURLE_OK ||
            curl_easy_setopt(j->curl, CURLOPT_CONNECTTIMEOUT_MS, remaining_ms(j)) != CURLE_OK ||
            (j->has_host_header && !relative &&
             curl_easy_setopt(j->curl, CURLOPT_HTTPHEADER, j->headers_no_host) != CURLE_OK) ||
            curl_glue_add(j->prober->glue, j->curl, on_done, j) < 0) {
                job_finishf(j, PROBE_RESULT_UNKNOWN, "Get \"%s\": failed to follow the redirect", j->url);
                return true;
        }
        return true;
}

static void finish_http(ProbeJob *j) {
        long status = 0;

        (void) curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 300 && status < 400 && http_follow_redirect(j, status))
                return;
        if (j->truncated)
                log_debug("Probe of %s: body truncated at %u bytes", j->url, MAX_BODY);
        if (status >= 200 && status < 300)
                return job_finish(j, PROBE_RESULT_SUCCESS, TAKE_PTR(j->body));
        if (status >= 300 && status < 400)
                return job_finishf(j, PROBE_RESULT_WARNING, "Probe terminated redirects, Response body: %s",
                                   strempty(j->body));
        job_finishf(j, PROBE_RESULT_FAILURE, "HTTP probe failed with statuscode: %ld", status);
}

static void finish_grpc(ProbeJob *j) {
        char dur[32], nbuf[32];
        long status = 0;
        int64_t serving;

        format_duration(j->timeout_usec, dur, sizeof dur);
        (void) curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &status);
        if (j->grpc_status < 0) {
                if (status != 200)
                        return job_finishf(j, PROBE_RESULT_FAILURE,
                                           "error: health rpc probe failed: rpc error: code = Unknown desc = "
                                           "unexpected HTTP status code received from server: %ld",
                                           status);
                return job_finishf(j, PROBE_RESULT_FAILURE,
                                   "error: health rpc probe failed: rpc error: code = Internal desc = server closed "
                                   "the stream without sending trailers");
        }
        switch (j->grpc_status) {
        case 0:
                break;
        case 12: /* UNIMPLEMENTED */
                return job_finishf(j, PROBE_RESULT_FAILURE,
                                   "error: this server does not implement the grpc health protocol "
                                   "(grpc.health.v1.Health): %s",
                                   strempty(j->grpc_message));
        case 4: /* DEADLINE_EXCEEDED */
                return job_finishf(j, PROBE_RESULT_FAILURE, "timeout: health rpc did not complete within %s", dur);
        default:
                return job_finishf(j, PROBE_RESULT_FAILURE,
                                   "error: health rpc probe failed: rpc error: code = %s desc = %s",
                                   grpc_code_name(j->grpc_status), strempty(j->grpc_message));
        }
        if (j->truncated || prober_grpc_decode_response((const uint8_t *) j->body, j->body_size, &serving) < 0)
                return job_finishf(j, PROBE_RESULT_FAILURE,
                                   "error: health rpc probe failed: rpc error: code = Internal desc = grpc: failed to "
                                   "unmarshal the received message");
        if (serving != 1)
                return job_finishf(j, PROBE_RESULT_FAILURE, "service unhealthy (responded with \"%s\")",
                                   serving_status_name(serving, nbuf, sizeof nbuf));
        job_finishf(j, PROBE_RESULT_SUCCESS, "service healthy");
}

static void on_done(CurlGlue *g, CURL *c, CURLcode result, void *userdata) {
        ProbeJob *j = userdata;

        if (result == CURLE_WRITE_ERROR && j->truncated)
                result = CURLE_OK; /* we stopped reading on purpose */
        if (result != CURLE_OK)
                return finish_transport_error(j, result);
        switch (j->kind) {
        case PROBE_TCP:
                return job_finish(j, PROBE_RESULT_SUCCESS, NULL);
        case PROBE_HTTP:
                return finish_http(j);
        case PROBE_GRPC:
                return finish_grpc(j);
        }
}

/* ---- starting probes ---- */

static bool header_name_valid(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s))
                        return false;
        return true;
}

static int slist_add(struct curl_slist **l, const char *line) {
        struct curl_slist *n = curl_slist_append(*l, line);
        RET_NULL_ENOMEM(n);
        *l = n;
        return 0;
}

/* Adds name, sep, value as one header line to the headers, and to the copy without Host unless it is the Host
 * header. sep is ": ", or for an empty value ":" (curl leaves the header out) or ";" (curl sends it empty). */
static int header_add(ProbeJob *j, bool is_host, const char *name, const char *sep, const char *value) {
        _cleanup_free_ char *line = NULL;
        int r;

        if (asprintf(&line, "%s%s%s", name, sep, value) < 0)
                return -ENOMEM;
        r = slist_add(&j->headers, line);
        if (r < 0 || is_host)
                return r;
        return slist_add(&j->headers_no_host, line);
}

/* Builds the request headers twice: as given, and without Host (for redirects to absolute URLs). */
static int http_headers(ProbeJob *j, const char *user_agent, const HttpHeader *headers, size_t n_headers) {
        bool have_ua = false, have_accept = false;
        int r;

        for (size_t i = 0; i < n_headers; i++) {
                const char *name = headers[i].name, *value = strempty(headers[i].value);
                bool is_host, drop_empty;

                if (!header_name_valid(name) || strpbrk(value, "\r\n"))
                        return -EINVAL;
                is_host = strcasecmp(name, "Host") == 0;
                if (strcasecmp(name, "User-Agent") == 0)
                        have_ua = true;
                if (strcasecmp(name, "Accept") == 0)
                        have_accept = true;
                if (is_host && isempty(value))
                        continue; /* an empty Host means the default one */
                if (is_host)
                        j->has_host_header = true;
                /* curl drops a header given as "Name:" and sends "Name;" as an empty one. The kubelet deletes an
                 * empty Accept and Go sends no empty User-Agent; other empty headers go out empty. */
                drop_empty = strcasecmp(name, "Accept") == 0 || strcasecmp(name, "User-Agent") == 0;
                if (isempty(value))
                        r = header_add(j, is_host, name, drop_empty ? ":" : ";", "");
                else
                        r = header_add(j, is_host, name, ": ", value);
                if (r < 0)
                        return r;
        }
        if (!have_ua && (r = header_add(j, false, "User-Agent", ": ", user_agent)) < 0)
                return r;
        if (!have_accept && (r = header_add(j, false, "Accept", ": ", "*/*")) < 0)
                return r;
        /* DisableKeepAlives in the kubelet's transport: Go then asks the server to close. */
        return header_add(j, false, "Connection", ": ", "close");
}

static int grpc_headers(ProbeJob *j, const char *user_agent) {
        char timeout[32];
        int r;

        /* grpc-timeout: at most 8 digits; milliseconds cover every probe timeout. */
        (void) snprintf(timeout, sizeof timeout, "%llum",
                        (unsigned long long) MIN(j->timeout_usec / USEC_PER_MSEC, 99999999ULL));
        if ((r = header_add(j, false, "Content-Type", ": ", "application/grpc")) < 0 ||
            (r = header_add(j, false, "TE", ": ", "trailers")) < 0 ||
            (r = header_add(j, false, "User-Agent", ": ", user_agent)) < 0 ||
            (r = header_add(j, false, "grpc-timeout", ": ", timeout)) < 0 ||
            (r = header_add(j, false, "Accept", ":", "")) < 0 || /* curl's default, not gRPC's */
            (r = header_add(j, false, "Expect", ":", "")) < 0)
                return r;
        return 0;
}

int prober_new(sd_event *e, const char *user_agent, Prober **ret) {
        _cleanup_(prober_freep) Prober *p = NULL;
        int r;

        p = calloc(1, sizeof *p);
        RET_NULL_ENOMEM(p);
        p->user_agent = strdup(user_agent);
        RET_NULL_ENOMEM(p->user_agent);
        r = curl_glue_new(e, &p->glue);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

Prober *prober_free(Prober *p) {
        if (!p)
                return NULL;
        while (p->jobs)
                probe_job_cancel(p->jobs);
        for (size_t i = 0; i < p->n_idle; i++)
                curl_easy_cleanup(p->idle[i]);
        curl_glue_free(p->glue);
        free(p->user_agent);
        free(p);
        return NULL;
}

size_t prober_n_running(Prober *p) {
        return p->n_jobs;
}

static void job_freep(ProbeJob **j) {
        if (!*j)
                return;
        if ((*j)->curl)
                curl_easy_cleanup((*j)->curl);
        job_free(*j);
}

/* A job with its URL and address worked out; IPv6 literals get brackets ("[fd00::1]:8080", Go's JoinHostPort). */
static int job_new(Prober *p, ProbeKind kind, const char *scheme, const char *host, uint16_t port, const char *path,
                   uint64_t timeout_usec, probe_done_t done, void *userdata, ProbeJob **ret) {
        _cleanup_(job_freep) ProbeJob *j = NULL;
        _cleanup_free_ char *escaped = NULL;
        size_t n = 0;
        bool v6;

        if (isempty(host) || strpbrk(host, "/?#@[] \t\r\n") || port == 0 || !done)
                return -EINVAL;
        j = calloc(1, sizeof *j);
        RET_NULL_ENOMEM(j);
        *j = (ProbeJob){
                .prober = p,
                .kind = kind,
                .done = done,
                .userdata = userdata,
                .grpc_status = -1,
                .timeout_usec = timeout_usec ?: DEFAULT_TIMEOUT_USEC,
        };
        j->deadline = now_usec(CLOCK_MONOTONIC) + j->timeout_usec;
        v6 = strchr(host, ':');
        (void) snprintf(j->addr, sizeof j->addr, v6 ? "[%s]:%u" : "%s:%u", host, port);
        j->hostname = strdup(host);
        RET_NULL_ENOMEM(j->hostname);

        /* The path as the kubelet passes it on: a leading '/' added when missing; bytes a URL cannot carry
         * (spaces, control characters, non-ASCII) percent-encoded, everything else (query included) as given. */
        path = strempty(path);
        escaped = malloc(strlen(path) * 3 + 2);
        RET_NULL_ENOMEM(escaped);
        if (path[0] != '/')
                escaped[n++] = '/';
        for (const unsigned char *c = (const unsigned char *) path; *c; c++)
                if (*c <= ' ' || *c >= 127 || *c == '"' || *c == '<' || *c == '>' || *c == '\\' || *c == '^' ||
                    *c == '`' || *c == '{' || *c == '|' || *c == '}')
                        n += (size_t) sprintf(escaped + n, "%%%02X", *c);
                else
                        escaped[n++] = (char) *c;
        escaped[n] = 0;
        if (asprintf(&j->url, "%s://%s%s", scheme, j->addr, escaped) < 0)
                return -ENOMEM;

        j->curl = p->n_idle > 0 ? p->idle[--p->n_idle] : curl_easy_init();
        RET_NULL_ENOMEM(j->curl);
        *ret = TAKE_PTR(j);
        return 0;
}

static int job_start(Prober *p, ProbeJob *j, ProbeJob **ret) {
        _cleanup_(job_freep) ProbeJob *owned = j;
        int r;

        r = job_setup(j);
        if (r < 0)
                return r;
        r = curl_glue_add(p->glue, j->curl, on_done, j);
        if (r < 0)
                return r;
        TAKE_PTR(owned);
        j->next = p->jobs;
        if (p->jobs)
                p->jobs->prev = j;
        p->jobs = j;
        p->n_jobs++;
        if (ret)
                *ret = j;
        return 0;
}

int prober_http(Prober *p, const char *host, uint16_t port, const char *path, bool https, const HttpHeader *headers,
                size_t n_headers, uint64_t timeout_usec, probe_done_t done, void *userdata, ProbeJob **ret) {
        _cleanup_(job_freep) ProbeJob *j = NULL;
        int r;

        r = job_new(p, PROBE_HTTP, https ? "https" : "http", host, port, path, timeout_usec, done, userdata, &j);
        if (r < 0)
                return r;
        r = http_headers(j, p->user_agent, headers, n_headers);
        if (r < 0)
                return r;
        return job_start(p, TAKE_PTR(j), ret);
}

int prober_tcp(Prober *p, const char *host, uint16_t port, uint64_t timeout_usec, probe_done_t done, void *userdata,
               ProbeJob **ret) {
        _cleanup_(job_freep) ProbeJob *j = NULL;
        int r;

        r = job_new(p, PROBE_TCP, "http", host, port, "/", timeout_usec, done, userdata, &j);
        if (r < 0)
                return r;
        return job_start(p, TAKE_PTR(j), ret);
}

int prober_grpc(Prober *p, const char *host, uint16_t port, const char *service, uint64_t timeout_usec,
                probe_done_t done, void *userdata, ProbeJob **ret) {
        _cleanup_(job_freep) ProbeJob *j = NULL;
        int r;

        r = job_new(p, PROBE_GRPC, "http", host, port, "/grpc.health.v1.Health/Check", timeout_usec, done, userdata,
                    &j);
        if (r < 0)
                return r;
        r = prober_grpc_encode_request(service, &j->request, &j->request_size);
        if (r < 0)
                return r;
        r = grpc_headers(j, p->user_agent);
        if (r < 0)
                return r;
        return job_start(p, TAKE_PTR(j), ret);
}
