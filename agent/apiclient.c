/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/apiclient.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <sys/random.h>

#include "common/event-util.h"
#include "common/json-util.h"
#include "common/log.h"

#ifndef NODELET_VERSION_STRING
#define NODELET_VERSION_STRING "0.0.0"
#endif

/* GOARCH spelling, as the kubelet's User-Agent has it. */
#if defined(__x86_64__)
#define API_ARCH "amd64"
#elif defined(__aarch64__)
#define API_ARCH "arm64"
#elif defined(__arm__)
#define API_ARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define API_ARCH "ppc64le"
#elif defined(__s390x__)
#define API_ARCH "s390x"
#elif defined(__riscv)
#define API_ARCH "riscv64"
#else
#define API_ARCH "unknown"
#endif

/* "<program>/<version> (<os>/<arch>) kubernetes/<commit>" like every client-go user; nodelet speaks the v1.26 API. */
#define API_DEFAULT_USER_AGENT "nodelet/v" NODELET_VERSION_STRING " (linux/" API_ARCH ") kubernetes/v1.26.1"

#define DEFAULT_QPS 50.0
#define DEFAULT_BURST 100U
#define DEFAULT_MAX_RESPONSE_SIZE (64U * 1024U * 1024U)
#define DEFAULT_MAX_RETRIES 5U
#define DEFAULT_RETRY_INITIAL_USEC (500 * USEC_PER_MSEC)
#define DEFAULT_RETRY_MAX_USEC (30 * USEC_PER_SEC)
#define DEFAULT_TIMEOUT_USEC (60 * USEC_PER_SEC)
/* 429 without a usable Retry-After: client-go waits one second. */
#define DEFAULT_RETRY_AFTER_USEC USEC_PER_SEC
#define RETRY_AFTER_MAX_USEC (600 * USEC_PER_SEC)

struct ApiRequest {
        ApiClient *client;
        ApiRequest *prev, *next;

        ApiVerb verb;
        ApiPatchType patch;
        char *url;
        char *body;
        size_t body_size;
        bool stream;
        size_t max_line;
        uint64_t timeout_usec;
        api_line_fn_t on_line;
        api_data_fn_t on_data; /* raw stream: the 2xx body as it arrives, nothing buffered */
        size_t raw_size;       /* bytes handed to on_data (bounded by max_response_size) */
        api_response_fn_t done;
        void *userdata;

        unsigned attempt;
        bool admitted; /* holds a rate-limiter token for the next attempt */
        sd_event_source *timer;
        CURL *curl;
        struct curl_slist *headers, *connect_to; /* live as long as the easy handle */
        char errbuf[CURL_ERROR_SIZE];
        ErrorBuf start_error; /* why the last attempt could not be started */

        /* The current attempt's response. */
        long status;
        char *buf;
        size_t size, alloc, scanned;
        bool has_retry_after;
        uint64_t retry_after_usec;
        int abort_error; /* why our write callback ended the transfer */

        bool cancelled, in_done;
        bool end_requested; /* api_client_end_streams(): end it from its timer */
};

struct ApiClient {
        sd_event *event;
        CurlGlue *glue;
        Kubeconfig *kc;
        Kubeconfig **retired_kc; /* earlier credentials: curl may still read their PEM blobs (CURL_BLOB_NOCOPY) */
        size_t n_retired_kc;
        ApiClientOptions options;
        char *user_agent;
        char *base_url;   /* scheme://host:port[/prefix], host replaced by tls-server-name when set */
        char *connect_to; /* "sni:port:host:port" when tls-server-name is set */
        TokenBucket bucket;
        uint64_t rng;
        ApiRequest *requests;
        size_t n_pending;
        sd_event_source *reaper; /* frees cancelled requests outside curl's callbacks */
};

static const char *const verb_table[_API_VERB_MAX] = {
        [API_VERB_GET] = "GET",     [API_VERB_POST] = "POST",     [API_VERB_PUT] = "PUT",
        [API_VERB_PATCH] = "PATCH", [API_VERB_DELETE] = "DELETE",
};

const char *api_verb_to_string(ApiVerb v) {
        return v >= 0 && v < _API_VERB_MAX ? verb_table[v] : NULL;
}

static const char *const patch_table[_API_PATCH_TYPE_MAX] = {
        [API_PATCH_MERGE] = "application/merge-patch+json",
        [API_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
        [API_PATCH_JSON] = "application/json-patch+json",
};

const char *api_patch_type_to_content_type(ApiPatchType t) {
        return t >= 0 && t < _API_PATCH_TYPE_MAX ? patch_table[t] : NULL;
}

/* ---- pure pieces ---- */

void token_bucket_init(TokenBucket *b, double qps, unsigned burst, uint64_t now_usec) {
        *b = (TokenBucket){.qps = qps, .burst = MAX(burst, 1U), .tokens = MAX(burst, 1U), .last_usec = now_usec};
}

uint64_t token_bucket_reserve(TokenBucket *b, uint64_t now_usec) {
        if (b->qps <= 0)
                return 0;
        /* Refill for the time passed (never for time going backwards), up to the bucket's size. */
        if (now_usec > b->last_usec) {
                b->tokens = MIN(b->burst, b->tokens + (double) (now_usec - b->last_usec) * b->qps / 1e6);
                b->last_usec = now_usec;
        }
        b->tokens -= 1;
        if (b->tokens >= 0)
                return 0;
        return (uint64_t) ceil(-b->tokens * 1e6 / b->qps);
}

uint64_t api_backoff_usec(unsigned attempt, uint64_t initial_usec, uint64_t max_usec, double random) {
        double d = (double) initial_usec * pow(2.0, MIN(attempt, 40U));
        if (d > (double) max_usec)
                d = (double) max_usec;
        d *= 0.8 + 0.4 * random;
        if (d < (double) initial_usec)
                d = (double) initial_usec;
        if (d > (double) max_usec)
                d = (double) max_usec;
        return (uint64_t) d;
}

int api_parse_retry_after(const char *value, uint64_t *ret_usec) {
        unsigned long long s = 0;
        const char *p = value;

        while (*p == ' ' || *p == '\t')
                p++;
        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                s = s * 10 + (unsigned long long) (*p - '0');
                if (s > RETRY_AFTER_MAX_USEC / USEC_PER_SEC)
                        s = RETRY_AFTER_MAX_USEC / USEC_PER_SEC;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
        if (*p)
                return -EINVAL;
        *ret_usec = (uint64_t) s * USEC_PER_SEC;
        return 0;
}

int api_status_to_errno(long status, const char *reason) {
        if (status >= 200 && status < 300)
                return 0;
        switch (status) {
        case 400:
        case 415:
        case 422:
                return -EINVAL;
        case 401:
                return -EACCES;
        case 403:
                return -EPERM;
        case 404:
                return -ENOENT;
        case 405:
                return -EOPNOTSUPP;
        case 409:
                return streq_ptr(reason, "AlreadyExists") ? -EEXIST : -ESTALE;
        case 410:
                return -ETIME;
        case 413:
                return -EFBIG;
        case 429:
                return -EBUSY;
        case 504:
                return -ETIMEDOUT;
        default:
                return status >= 500 && status < 600 ? -EIO : -EPROTO;
        }
}

static int curl_code_to_errno(CURLcode c) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_USE_SSL_FAILED:
                return -EPROTO;
        default:
                return -EIO;
        }
}

int api_escape(const char *s, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s), o = 0;
        char *out = malloc(n * 3 + 1);

        RET_NULL_ENOMEM(out);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
                        out[o++] = (char) *p;
                else {
                        out[o++] = '%';
                        out[o++] = hex[*p >> 4];
                        out[o++] = hex[*p & 15];
                }
        }
        out[o] = 0;
        *ret = out;
        return 0;
}

/* ---- the client ---- */

static double client_random(ApiClient *c) {
        /* xorshift64*: jitter only needs to differ between nodes, not to be unpredictable */
        c->rng ^= c->rng >> 12;
        c->rng ^= c->rng << 25;
        c->rng ^= c->rng >> 27;
        return (double) ((c->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static uint64_t client_now(ApiClient *c) {
        uint64_t now = 0;
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        return now;
}

static void request_unlink(ApiRequest *r) {
        ApiClient *c = r->client;
        if (r->prev)
                r->prev->next = r->next;
        else
                c->requests = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
        if (!r->cancelled)
                c->n_pending--;
}

static void request_reset_attempt(ApiRequest *r) {
        if (r->curl) {
                curl_glue_cancel(r->client->glue, r->curl);
                r->curl = NULL;
        }
        curl_slist_free_all(r->headers);
        r->headers = NULL;
        curl_slist_free_all(r->connect_to);
        r->connect_to = NULL;
        r->buf = mfree(r->buf);
        r->size = r->alloc = r->scanned = 0;
        r->status = 0;
        r->has_retry_after = false;
        r->abort_error = 0;
        r->errbuf[0] = 0;
}

static void request_free(ApiRequest *r) {
        request_unlink(r);
        request_reset_attempt(r);
        sd_event_source_disable_unref(r->timer);
        free(r->url);
        free(r->body);
        free(r);
}

static int on_reap(sd_event_source *s, void *userdata) {
        ApiClient *c = userdata;
        ApiRequest *r = c->requests, *next;
        for (; r; r = next) {
                next = r->next;
                if (r->cancelled)
                        request_free(r);
        }
        return sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

void api_request_cancel(ApiRequest *r) {
        if (!r || r->cancelled || r->in_done)
                return;
        /* Only marked here: the cancel may come from inside one of curl's callbacks (a watch line handed to a
         * consumer that stops its informer), where the easy handle must not be removed. The reaper frees it on
         * the next loop iteration; until then no callback of the request runs. */
        r->cancelled = true;
        r->client->n_pending--;
        (void) sd_event_source_set_enabled(r->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(r->client->reaper, SD_EVENT_ONESHOT);
}

/* Runs done once and frees the request. */
static void request_complete(ApiRequest *r, int error, const char *reason, const char *message, json_t *body) {
        ApiResponse resp = {
                .error = error,
                .status = r->status,
                .reason = strempty(reason),
                .message = strempty(message),
                .body = body,
        };
        r->in_done = true;
        if (r->done)
                r->done(r->client, &resp, r->userdata);
        request_free(r);
}

static void on_curl_done(CurlGlue *g, CURL *curl, CURLcode result, void *userdata);
static int request_admit(ApiRequest *r);

static int on_request_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ApiRequest *r = userdata;
        if (r->end_requested) {
                request_reset_attempt(r);
                request_complete(r, -ECONNABORTED, NULL, "the client ended the stream (new credentials)", NULL);
                return 0;
        }
        int k = request_admit(r);
        if (k < 0)
                request_complete(r, k, NULL, error_message(&r->start_error, k), NULL);
        return 0;
}

static int request_arm_timer(ApiRequest *r, uint64_t delay_usec) {
        uint64_t when = event_now_plus(r->client->event, delay_usec);
        int k;
        if (!r->timer) {
                k = sd_event_add_time(r->client->event, &r->timer, CLOCK_MONOTONIC, when, 0, on_request_timer, r);
                if (k < 0)
                        return k;
                (void) sd_event_source_set_description(r->timer, "api-request");
                return 0;
        }
        k = sd_event_source_set_time(r->timer, when);
        if (k < 0)
                return k;
        return sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata) {
        ApiRequest *r = userdata;
        size_t n = size * nmemb;
        const char *v;
        char line[128];

        if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a new response (after a 100 Continue or a redirect) */
                r->has_retry_after = false;
                return n;
        }
        if (n >= sizeof line || n < STRLEN("retry-after:"))
                return n;
        memcpy(line, data, n);
        line[n] = 0;
        if (strncasecmp(line, "retry-after:", STRLEN("retry-after:")) != 0)
                return n;
        v = line + STRLEN("retry-after:");
        r->has_retry_after = api_parse_retry_after(v, &r->retry_after_usec) >= 0;
        return n;
}

static int buf_append(ApiRequest *r, const char *data, size_t n, size_t cap) {
        if (r->size + n > cap)
                return -EFBIG;
        if (r->size + n + 1 > r->alloc) {
                size_t a = MAX(r->alloc * 2, r->size + n + 1);
                a = MAX(a, (size_t) 4096);
                char *b = realloc(r->buf, a);
                RET_NULL_ENOMEM(b);
                r->buf = b;
                r->alloc = a;
        }
        memcpy(r->buf + r->size, data, n);
        r->size += n;
        r->buf[r->size] = 0;
        return 0;
}

/* Hands every complete line in the buffer to on_line, keeps the incomplete rest. */
static int stream_lines(ApiRequest *r) {
        size_t start = 0;
        int k;

        for (;;) {
                char *nl = memchr(r->buf + r->scanned, '\n', r->size - r->scanned);
                if (!nl)
                        break;
                size_t end = (size_t) (nl - r->buf), len = end - start;
                if (len > 0 && r->buf[end - 1] == '\r')
                        len--;
                if (len > 0) {
                        r->buf[start + len] = 0;
                        k = r->on_line(r->client, r->buf + start, len, r->userdata);
                        if (k < 0)
                                return k;
                        if (r->cancelled)
                                return -ECANCELED;
                }
                start = end + 1;
                r->scanned = start;
        }
        if (start > 0) {
                memmove(r->buf, r->buf + start, r->size - start);
                r->size -= start;
                r->buf[r->size] = 0;
        }
        r->scanned = r->size;
        if (r->size > r->max_line)
                return -EMSGSIZE;
        return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        ApiRequest *r = userdata;
        size_t n = size * nmemb;
        int k;

        if (r->cancelled)
                return 0;
        if (r->status == 0)
                (void) curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->on_data && r->status >= 200 && r->status < 300) {
                r->raw_size += n;
                k = r->raw_size > r->client->options.max_response_size ? -EFBIG
                                                                       : r->on_data(r->client, data, n, r->userdata);
                if (k >= 0 && r->cancelled)
                        k = -ECANCELED;
        } else if (r->stream && r->status >= 200 && r->status < 300) {
                k = buf_append(r, data, n, SIZE_MAX / 2);
                if (k >= 0)
                        k = stream_lines(r);
        } else
                k = buf_append(r, data, n, r->client->options.max_response_size);
        if (k < 0) {
                r->abort_error = k;
                return 0;
        }
        return n;
}

static int request_start(ApiRequest *r) {
        ApiClient *c = r->client;
        _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
        const Kubeconfig *kc = c->kc;
        const char *token = NULL;
        CURLcode cc = CURLE_OK;
        int k;

        request_reset_attempt(r);
        r->admitted = false;
        error_clear(&r->start_error);
        k = kubeconfig_token(c->kc, &token, &r->start_error);
        if (k < 0)
                return k;
        r->headers = curl_slist_append(NULL, "Accept: application/json");
        RET_NULL_ENOMEM(r->headers);
        /* Bodies of any size are sent at once: no Expect: 100-continue round trip. */
        if (!curl_slist_append(r->headers, "Expect:"))
                return -ENOMEM;
        if (r->body) {
                const char *ct =
                        r->verb == API_VERB_PATCH ? api_patch_type_to_content_type(r->patch) : "application/json";
                _cleanup_free_ char *h = NULL;
                if (asprintf(&h, "Content-Type: %s", ct) < 0 || !curl_slist_append(r->headers, h))
                        return -ENOMEM;
        }
        if (token) {
                _cleanup_free_ char *h = NULL;
                if (asprintf(&h, "Authorization: Bearer %s", token) < 0 || !curl_slist_append(r->headers, h))
                        return -ENOMEM;
        }

        k = curl_glue_make(r->url, &curl);
        if (k < 0)
                return k;
#define SET(opt, val)                                                                                                  \
        if (cc == CURLE_OK)                                                                                            \
        cc = curl_easy_setopt(curl, opt, val)
        SET(CURLOPT_USERAGENT, c->user_agent);
        SET(CURLOPT_HTTPHEADER, r->headers);
        SET(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
        SET(CURLOPT_PIPEWAIT, 1L);
        SET(CURLOPT_ERRORBUFFER, r->errbuf);
        SET(CURLOPT_WRITEFUNCTION, on_write);
        SET(CURLOPT_WRITEDATA, r);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, r);
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_TIMEOUT_MS, (long) (r->timeout_usec / USEC_PER_MSEC));
        SET(CURLOPT_CUSTOMREQUEST, r->verb == API_VERB_GET ? NULL : api_verb_to_string(r->verb));
        if (r->body) {
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_size);
                SET(CURLOPT_POSTFIELDS, r->body);
        }
        if (c->connect_to) {
                r->connect_to = curl_slist_append(NULL, c->connect_to);
                RET_NULL_ENOMEM(r->connect_to);
                SET(CURLOPT_CONNECT_TO, r->connect_to);
        }
        if (kc->insecure_skip_tls_verify) {
                SET(CURLOPT_SSL_VERIFYPEER, 0L);
                SET(CURLOPT_SSL_VERIFYHOST, 0L);
        } else if (kc->ca_data || kc->ca_file) {
                /* Only the kubeconfig's CA is trusted, as with client-go's RootCAs: no system bundle. */
                SET(CURLOPT_CAPATH, NULL);
                if (kc->ca_data) {
                        struct curl_blob blob = {
                                .data = kc->ca_data, .len = kc->ca_data_size, .flags = CURL_BLOB_NOCOPY};
                        SET(CURLOPT_CAINFO, NULL);
                        SET(CURLOPT_CAINFO_BLOB, &blob);
                } else
                        SET(CURLOPT_CAINFO, kc->ca_file);
        }
        if (kc->client_cert_data) {
                struct curl_blob blob = {
                        .data = kc->client_cert_data, .len = kc->client_cert_data_size, .flags = CURL_BLOB_NOCOPY};
                SET(CURLOPT_SSLCERT_BLOB, &blob);
                SET(CURLOPT_SSLCERTTYPE, "PEM");
        } else if (kc->client_cert_file)
                SET(CURLOPT_SSLCERT, kc->client_cert_file);
        if (kc->client_key_data) {
                struct curl_blob blob = {
                        .data = kc->client_key_data, .len = kc->client_key_data_size, .flags = CURL_BLOB_NOCOPY};
                SET(CURLOPT_SSLKEY_BLOB, &blob);
                SET(CURLOPT_SSLKEYTYPE, "PEM");
        } else if (kc->client_key_file)
                SET(CURLOPT_SSLKEY, kc->client_key_file);
#undef SET
        if (cc != CURLE_OK)
                return cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
        k = curl_glue_add(c->glue, curl, on_curl_done, r);
        if (k < 0)
                return k;
        r->curl = TAKE_PTR(curl);
        return 0;
}

/* Takes a rate-limiter token (once per attempt) and starts, or waits for the token on the timer. */
static int request_admit(ApiRequest *r) {
        if (!r->admitted) {
                uint64_t wait = token_bucket_reserve(&r->client->bucket, client_now(r->client));
                r->admitted = true;
                if (wait > 0)
                        return request_arm_timer(r, wait);
        }
        return request_start(r);
}

static bool verb_is_idempotent(ApiVerb v) {
        return v == API_VERB_GET || v == API_VERB_PUT || v == API_VERB_DELETE;
}

/* A short printable excerpt of a body that is not a Status (an HTML error page, a proxy's text). */
static void body_excerpt(const char *buf, size_t size, char *out, size_t out_size) {
        size_t o = 0;
        bool space = false;
        for (size_t i = 0; i < size && o + 4 < out_size && o < 160; i++) {
                unsigned char ch = (unsigned char) buf[i];
                if (isspace(ch) || !isprint(ch)) {
                        space = o > 0;
                        continue;
                }
                if (space)
                        out[o++] = ' ';
                space = false;
                out[o++] = (char) ch;
        }
        if (o + 4 < out_size && size > 0 && o >= 160) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = 0;
}

static void on_curl_done(CurlGlue *g, CURL *curl, CURLcode result, void *userdata) {
        ApiRequest *r = userdata;
        ApiClient *c = r->client;
        _cleanup_json_ json_t *body = NULL;
        const char *reason = NULL, *message = NULL;
        char msg[512] = "";
        bool retry = false;
        uint64_t delay = 0;
        int error = 0, k;

        (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_cleanup(curl);
        r->curl = NULL;
        if (r->cancelled) {
                request_free(r);
                return;
        }

        if (r->abort_error < 0) {
                error = r->abort_error;
                if (error == -EFBIG)
                        (void) snprintf(msg, sizeof msg, "the response is larger than %zu bytes",
                                        c->options.max_response_size);
                else if (error == -EMSGSIZE)
                        (void) snprintf(msg, sizeof msg, "a line of the stream is longer than %zu bytes", r->max_line);
                else
                        (void) snprintf(msg, sizeof msg, "the stream was ended: %s", strerror(-error));
        } else if (result != CURLE_OK) {
                error = curl_code_to_errno(result);
                (void) snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(result));
                r->status = 0;
                retry = !r->stream && verb_is_idempotent(r->verb) && error != -ENOMEM;
        } else if (r->status >= 200 && r->status < 300) {
                if (r->stream) {
                        if (r->size > 0) {
                                error = -EBADMSG;
                                (void) snprintf(msg, sizeof msg, "the stream ended inside a line (%zu bytes)", r->size);
                        }
                } else if (r->size > 0) {
                        json_error_t je;
                        body = json_loadb(r->buf, r->size, 0, &je);
                        if (!body) {
                                error = -EBADMSG;
                                (void) snprintf(msg, sizeof msg, "the response is not JSON: %s (line %d)", je.text,
                                                je.line);
                        }
                }
        } else {
                /* An error: a Status object, or whatever a proxy in between sent. */
                body = r->size > 0 ? json_loadb(r->buf, r->size, 0, NULL) : NULL;
                if (body && json_is_object(body) &&
                    streq_ptr(json_string_value(json_object_get(body, "kind")), "Status")) {
                        reason = json_string_value(json_object_get(body, "reason"));
                        message = json_string_value(json_object_get(body, "message"));
                } else {
                        char excerpt[200];
                        json_decref(body);
                        body = NULL;
                        body_excerpt(r->buf, r->size, excerpt, sizeof excerpt);
                        (void) snprintf(msg, sizeof msg, "the server responded with status %ld%s%s", r->status,
                                        excerpt[0] ? ": " : "", excerpt);
                }
                error = api_status_to_errno(r->status, reason);
                if (!r->stream && r->status == 429) {
                        retry = true;
                        delay = r->has_retry_after ? r->retry_after_usec : DEFAULT_RETRY_AFTER_USEC;
                } else if (!r->stream && r->status >= 500 && verb_is_idempotent(r->verb)) {
                        retry = true;
                        if (r->has_retry_after)
                                delay = r->retry_after_usec;
                }
        }

        if (retry && r->attempt < c->options.max_retries) {
                if (delay == 0)
                        delay = api_backoff_usec(r->attempt, c->options.retry_initial_usec, c->options.retry_max_usec,
                                                 client_random(c));
                log_debug("%s %s: %s, retrying in %" PRIu64 " ms", api_verb_to_string(r->verb), r->url, message ?: msg,
                          (uint64_t) (delay / USEC_PER_MSEC));
                r->attempt++;
                k = request_arm_timer(r, delay);
                if (k >= 0)
                        return;
                error = k;
        }
        request_complete(r, error, reason, message ?: msg, body);
}

static int client_request_new(ApiClient *c, ApiVerb verb, const char *path, ApiRequest **ret) {
        ApiRequest *r;

        if (verb < 0 || verb >= _API_VERB_MAX || !path || path[0] != '/')
                return -EINVAL;
        r = calloc(1, sizeof *r);
        RET_NULL_ENOMEM(r);
        r->client = c;
        r->verb = verb;
        if (asprintf(&r->url, "%s%s", c->base_url, path) < 0) {
                free(r);
                return -ENOMEM;
        }
        r->next = c->requests;
        if (c->requests)
                c->requests->prev = r;
        c->requests = r;
        c->n_pending++;
        *ret = r;
        return 0;
}

int api_client_request(ApiClient *c, ApiVerb verb, const char *path, const json_t *body, ApiPatchType patch,
                       api_response_fn_t done, void *userdata, ApiRequest **ret) {
        ApiRequest *r = NULL;
        int k;

        if (verb == API_VERB_PATCH && (patch < 0 || patch >= _API_PATCH_TYPE_MAX || !body))
                return -EINVAL;
        k = client_request_new(c, verb, path, &r);
        if (k < 0)
                return k;
        r->patch = patch;
        r->done = done;
        r->userdata = userdata;
        r->timeout_usec = c->options.timeout_usec;
        if (body) {
                r->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!r->body) {
                        request_free(r);
                        return -ENOMEM;
                }
                r->body_size = strlen(r->body);
        }
        k = request_admit(r);
        if (k < 0) {
                request_free(r);
                return k;
        }
        if (ret)
                *ret = r;
        return 0;
}

int api_client_stream_raw(ApiClient *c, const char *path, uint64_t timeout_usec, api_data_fn_t on_data,
                          api_response_fn_t done, void *userdata, ApiRequest **ret) {
        ApiRequest *r = NULL;
        int k;

        if (!on_data)
                return -EINVAL;
        k = client_request_new(c, API_VERB_GET, path, &r);
        if (k < 0)
                return k;
        r->stream = true;
        if (timeout_usec > 0)
                r->timeout_usec = timeout_usec;
        r->on_data = on_data;
        r->done = done;
        r->userdata = userdata;
        k = request_admit(r);
        if (k < 0) {
                request_free(r);
                return k;
        }
        if (ret)
                *ret = r;
        return 0;
}

int api_client_stream(ApiClient *c, const char *path, size_t max_line, uint64_t timeout_usec, api_line_fn_t on_line,
                      api_response_fn_t done, void *userdata, ApiRequest **ret) {
        ApiRequest *r = NULL;
        int k;

        if (!on_line || max_line == 0)
                return -EINVAL;
        k = client_request_new(c, API_VERB_GET, path, &r);
        if (k < 0)
                return k;
        r->stream = true;
        r->max_line = max_line;
        r->timeout_usec = timeout_usec;
        r->on_line = on_line;
        r->done = done;
        r->userdata = userdata;
        k = request_admit(r);
        if (k < 0) {
                request_free(r);
                return k;
        }
        if (ret)
                *ret = r;
        return 0;
}

/* Splits the server URL so that tls-server-name can be verified: curl checks the certificate against the URL's
 * host, so the URL carries the server name and CONNECT_TO sends the connection to the real address. */
static int client_setup_url(ApiClient *c) {
        const char *server = c->kc->server, *auth, *end, *prefix, *host_end, *port;
        _cleanup_free_ char *host = NULL;
        bool https = startswith(server, "https://");
        unsigned long p;

        auth = server + (https ? STRLEN("https://") : STRLEN("http://"));
        prefix = auth + strcspn(auth, "/?#");
        if (!c->kc->tls_server_name) {
                /* the server as written, with its path prefix if any (an API server behind a proxy) */
                c->base_url = strdup(server);
                RET_NULL_ENOMEM(c->base_url);
                return 0;
        }
        end = prefix;
        if (*auth == '[') {
                host_end = memchr(auth, ']', (size_t) (end - auth));
                if (!host_end)
                        return -EINVAL;
                host_end++;
        } else
                host_end = memchr(auth, ':', (size_t) (end - auth)) ?: end;
        host = strndup(auth, (size_t) (host_end - auth));
        RET_NULL_ENOMEM(host);
        if (host_end < end && *host_end == ':') {
                port = host_end + 1;
                p = strtoul(port, NULL, 10);
        } else
                p = https ? 443 : 80;
        if (asprintf(&c->base_url, "%s://%s:%lu%s", https ? "https" : "http", c->kc->tls_server_name, p,
                     *prefix == '/' ? prefix : "") < 0)
                return -ENOMEM;
        if (asprintf(&c->connect_to, "%s:%lu:%s:%lu", c->kc->tls_server_name, p, host, p) < 0)
                return -ENOMEM;
        return 0;
}

int api_client_new(sd_event *e, CurlGlue *glue, Kubeconfig *kc, const ApiClientOptions *o, ApiClient **ret) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        int k;

        if (!e || !glue || !kc || !kc->server)
                return -EINVAL;
        c = calloc(1, sizeof *c);
        RET_NULL_ENOMEM(c);
        c->event = sd_event_ref(e);
        c->glue = glue;
        if (o)
                c->options = *o;
        if (c->options.qps == 0)
                c->options.qps = DEFAULT_QPS;
        if (c->options.burst == 0)
                c->options.burst = DEFAULT_BURST;
        if (c->options.max_response_size == 0)
                c->options.max_response_size = DEFAULT_MAX_RESPONSE_SIZE;
        if (c->options.max_retries == 0)
                c->options.max_retries = DEFAULT_MAX_RETRIES;
        if (c->options.retry_initial_usec == 0)
                c->options.retry_initial_usec = DEFAULT_RETRY_INITIAL_USEC;
        if (c->options.retry_max_usec == 0)
                c->options.retry_max_usec = DEFAULT_RETRY_MAX_USEC;
        if (c->options.timeout_usec == 0)
                c->options.timeout_usec = DEFAULT_TIMEOUT_USEC;
        c->user_agent = strdup(c->options.user_agent ?: API_DEFAULT_USER_AGENT);
        RET_NULL_ENOMEM(c->user_agent);
        c->options.user_agent = NULL;
        if (getrandom(&c->rng, sizeof c->rng, GRND_NONBLOCK) != sizeof c->rng || c->rng == 0)
                c->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t) getpid();
        token_bucket_init(&c->bucket, c->options.qps, c->options.burst, client_now(c));
        k = sd_event_add_defer(e, &c->reaper, on_reap, c);
        if (k < 0)
                return k;
        (void) sd_event_source_set_enabled(c->reaper, SD_EVENT_OFF);
        (void) sd_event_source_set_description(c->reaper, "api-reaper");
        c->kc = kc; /* taken over only on success: cleared again below if anything fails */
        k = client_setup_url(c);
        if (k < 0) {
                c->kc = NULL;
                return k;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

ApiClient *api_client_free(ApiClient *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_free(c->requests);
        sd_event_source_disable_unref(c->reaper);
        kubeconfig_free(c->kc);
        for (size_t i = 0; i < c->n_retired_kc; i++)
                kubeconfig_free(c->retired_kc[i]);
        free(c->retired_kc);
        free(c->user_agent);
        free(c->base_url);
        free(c->connect_to);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

const Kubeconfig *api_client_kubeconfig(const ApiClient *c) {
        return c->kc;
}

int api_client_set_kubeconfig(ApiClient *c, Kubeconfig *kc) {
        Kubeconfig **l;

        if (!c || !kc || !streq_ptr(kc->server, c->kc->server) ||
            !streq_ptr(kc->tls_server_name, c->kc->tls_server_name))
                return -EINVAL;
        /* The old one stays until the client is freed: easy handles of requests in flight point into its PEM data.
         * Rotations are rare (months apart), so this is a handful of kilobytes over the daemon's life. */
        l = reallocarray(c->retired_kc, c->n_retired_kc + 1, sizeof *l);
        RET_NULL_ENOMEM(l);
        c->retired_kc = l;
        c->retired_kc[c->n_retired_kc++] = c->kc;
        c->kc = kc;
        return 0;
}

void api_client_end_streams(ApiClient *c) {
        if (!c)
                return;
        /* Only marked and timed here: the caller may be inside a curl callback (a CSR watch line), where no easy
         * handle may be removed. Streams waiting for their (next) start are left alone: they start with the
         * credentials current then. */
        for (ApiRequest *r = c->requests; r; r = r->next)
                if (r->stream && r->curl && !r->cancelled && !r->end_requested) {
                        r->end_requested = true;
                        if (request_arm_timer(r, 0) < 0)
                                r->end_requested = false;
                }
}

sd_event *api_client_event(const ApiClient *c) {
        return c->event;
}

size_t api_client_n_pending(const ApiClient *c) {
        return c->n_pending;
}
