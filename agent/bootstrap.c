/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/bootstrap.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/strv.h"
#include "common/tls-util.h"

/* client-go's certificate manager backoff: 2 s, factor 2, 7 steps (128 s). */
#define RETRY_INITIAL_USEC (2 * USEC_PER_SEC)
#define RETRY_MAX_USEC (128 * USEC_PER_SEC)
/* How long one CSR is waited for before a new one is made (the kubelet's bootstrap gives up after an hour and is
 * restarted; here a new CSR with the same key is the cheaper equivalent). */
#define CSR_WAIT_USEC (15 * 60 * USEC_PER_SEC)
/* A watch is re-established at least this often (the server ends it after timeoutSeconds). */
#define CSR_WATCH_TIMEOUT_SEC 300
#define CSR_PATH "/apis/certificates.k8s.io/v1/certificatesigningrequests"
#define MAX_PEM_SIZE (1U << 20)

typedef enum CertState {
        CERT_STATE_IDLE,     /* nothing in flight: a timer (retry or rotation) or cert_manager_set_api() is next */
        CERT_STATE_CREATING, /* POST of the CSR */
        CERT_STATE_WATCHING, /* watch of the CSR */
        CERT_STATE_GETTING,  /* GET of the CSR between two watches */
        CERT_STATE_WRITING,  /* the files, on the WorkPool */
} CertState;

typedef struct PersistJob PersistJob;

struct CertManager {
        sd_event *event;
        CurlGlue *glue;
        WorkPool *pool;
        CertKind kind;
        char *cert_dir, *node_name, *kubeconfig, *bootstrap_kubeconfig;
        char **hostnames, **ips;
        bool rotate;
        uint64_t retry_initial_usec, retry_max_usec;
        CertManagerCallbacks cb;
        void *userdata;

        ApiClient *api;     /* borrowed: the node's credentials */
        ApiClient *own_api; /* the bootstrap credentials, while they are used */
        Kubeconfig *base;   /* --kubeconfig as loaded (client): the credentials to swap the certificate into */

        /* the current certificate */
        char *cert_pem, *key_pem;
        int64_t not_before, not_after;
        uint64_t deadline_usec;
        bool has_current;

        /* the request in flight */
        CertState state;
        bool bootstrapping; /* with the bootstrap kubeconfig: write --kubeconfig afterwards */
        Kubeconfig *bootstrap_kc;
        char *new_key_pem;
        char *pending_cert; /* issued, being written */
        int64_t pending_nb, pending_na;
        char *csr_name, *csr_rv;
        ApiClient *req_api;
        ApiRequest *req;
        uint64_t wait_started_usec, watch_started_usec;
        unsigned quick_watches; /* watches in a row that ended within a second */
        PersistJob *job;

        sd_event_source *timer; /* retry, rotation or the end of the CSR wait */
        unsigned attempt;
        unsigned n_requests;
        uint64_t rng;
        bool waiting_for_api;
};

struct PersistJob {
        CertManager *cm; /* NULL once the manager is gone: done() only frees the job */
        CertKind kind;
        char *dir;
        char *pem;        /* cert + key */
        char *stamp;      /* YYYY-MM-DD-HH-MM-SS */
        char *kubeconfig; /* write it (bootstrap), else NULL */
        Kubeconfig *bootstrap_kc;
        char *current_path; /* out: <dir>/kubelet-<kind>-current.pem */
        ErrorBuf e;
};

static const char *const kind_table[_CERT_KIND_MAX] = {
        [CERT_KIND_CLIENT] = "client",
        [CERT_KIND_SERVING] = "server",
};

const char *cert_kind_to_string(CertKind k) {
        return k >= 0 && k < _CERT_KIND_MAX ? kind_table[k] : NULL;
}

/* ---- pure pieces ---- */

uint64_t cert_rotation_deadline_usec(int64_t not_before, int64_t not_after, double random) {
        double lifetime = (double) (not_after - not_before), d;

        if (lifetime < 0)
                lifetime = 0;
        if (random < 0 || random >= 1)
                random = 0;
        d = ((double) not_before + lifetime * (0.7 + 0.2 * random)) * (double) USEC_PER_SEC;
        return d <= 0 ? 0 : (uint64_t) d;
}

static int base64_encode(const char *data, size_t size, char **ret) {
        size_t n = 4 * ((size + 2) / 3) + 1;
        char *s;

        if (size > INT_MAX / 2)
                return -EFBIG;
        s = malloc(n);
        RET_NULL_ENOMEM(s);
        (void) EVP_EncodeBlock((unsigned char *) s, (const unsigned char *) data, (int) size);
        *ret = s;
        return 0;
}

int cert_csr_object(CertKind kind, const char *csr_pem, json_t **ret) {
        _cleanup_free_ char *b64 = NULL;
        _cleanup_json_ json_t *o = NULL;
        int r;

        if (kind < 0 || kind >= _CERT_KIND_MAX || isempty(csr_pem))
                return -EINVAL;
        r = base64_encode(csr_pem, strlen(csr_pem), &b64);
        if (r < 0)
                return r;
        /* ECDSA keys: "digital signature" only, no "key encipherment" (the kubelet drops it for non-RSA keys). */
        o = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:[s, s]}}", "apiVersion", "certificates.k8s.io/v1", "kind",
                      "CertificateSigningRequest", "metadata", "generateName", "csr-", "spec", "request", b64,
                      "signerName", kind == CERT_KIND_CLIENT ? CERT_SIGNER_CLIENT_KUBELET : CERT_SIGNER_KUBELET_SERVING,
                      "usages", "digital signature", kind == CERT_KIND_CLIENT ? "client auth" : "server auth");
        RET_NULL_ENOMEM(o);
        *ret = TAKE_PTR(o);
        return 0;
}

int cert_csr_result(const json_t *csr, char **ret_cert_pem, ErrorBuf *e) {
        json_t *status = json_object_get(csr, "status"), *conds = json_object_get(status, "conditions"), *c;
        const char *cert = json_string_value(json_object_get(status, "certificate"));
        bool approved = false;
        size_t i;

        json_array_foreach (conds, i, c) {
                const char *type = json_string_value(json_object_get(c, "type"));
                if (streq_ptr(type, "Denied") || streq_ptr(type, "Failed"))
                        return error_set(e, -EPERM, "%s: %s: %s", streq(type, "Denied") ? "denied" : "failed",
                                         strna(json_string_value(json_object_get(c, "reason"))),
                                         strempty(json_string_value(json_object_get(c, "message"))));
                if (streq_ptr(type, "Approved"))
                        approved = true;
        }
        if (!approved || isempty(cert))
                return 0;
        _cleanup_free_ char *pem = NULL;
        size_t size;
        int r = kubeconfig_base64_decode(cert, &pem, &size);
        if (r < 0 || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
                return error_set(e, -EINVAL, "status.certificate: not a base64-encoded PEM certificate");
        *ret_cert_pem = TAKE_PTR(pem);
        return 1;
}

static int strdup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        RET_NULL_ENOMEM(*ret);
        return 0;
}

static int memdup_opt(const char *s, size_t size, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = malloc(size + 1);
        RET_NULL_ENOMEM(*ret);
        memcpy(*ret, s, size);
        (*ret)[size] = 0;
        return 0;
}

int kubeconfig_with_cert(const Kubeconfig *k, const char *cert_pem, const char *key_pem, Kubeconfig **ret) {
        _cleanup_(kubeconfig_freep) Kubeconfig *n = NULL;

        if (!k || isempty(cert_pem) || isempty(key_pem))
                return -EINVAL;
        n = calloc(1, sizeof *n);
        RET_NULL_ENOMEM(n);
        n->insecure_skip_tls_verify = k->insecure_skip_tls_verify;
        n->ca_data_size = k->ca_data_size;
        if (strdup_opt(k->path, &n->path) < 0 || strdup_opt(k->context, &n->context) < 0 ||
            strdup_opt(k->cluster, &n->cluster) < 0 || strdup_opt(k->user, &n->user) < 0 ||
            strdup_opt(k->namespace_, &n->namespace_) < 0 || strdup_opt(k->server, &n->server) < 0 ||
            strdup_opt(k->ca_file, &n->ca_file) < 0 || memdup_opt(k->ca_data, k->ca_data_size, &n->ca_data) < 0 ||
            strdup_opt(k->tls_server_name, &n->tls_server_name) < 0 || strdup_opt(k->token, &n->token) < 0 ||
            strdup_opt(k->token_file, &n->token_file) < 0 || strdup_opt(cert_pem, &n->client_cert_data) < 0 ||
            strdup_opt(key_pem, &n->client_key_data) < 0)
                return -ENOMEM;
        n->client_cert_data_size = strlen(cert_pem);
        n->client_key_data_size = strlen(key_pem);
        *ret = TAKE_PTR(n);
        return 0;
}

int cert_write_kubeconfig(const char *path, const Kubeconfig *bootstrap, const char *cert_path, ErrorBuf *e) {
        _cleanup_free_ char *ca = NULL, *dir = NULL;
        size_t size;
        int r;

        if (bootstrap->ca_data) {
                ca = strndup(bootstrap->ca_data, bootstrap->ca_data_size);
                RET_NULL_ENOMEM(ca);
        } else if (bootstrap->ca_file) {
                /* Inlined: the kubeconfig must not depend on the bootstrap files staying around. */
                r = read_full_file(bootstrap->ca_file, MAX_PEM_SIZE, &ca, &size);
                if (r < 0)
                        return error_set(e, r, "%s: certificate-authority %s: %s", bootstrap->path, bootstrap->ca_file,
                                         strerror(-r));
        }
        dir = strdup(path);
        RET_NULL_ENOMEM(dir);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                (void) mkdir_p(dir, 0755);
        }
        r = kubeconfig_write(path, bootstrap->server, ca, cert_path, cert_path);
        if (r < 0)
                return error_set(e, r, "writing %s: %s", path, strerror(-r));
        return 0;
}

/* ---- files ---- */

static int current_path(const char *dir, CertKind kind, char **ret) {
        return asprintf(ret, "%s/kubelet-%s-current.pem", dir, cert_kind_to_string(kind)) < 0 ? -ENOMEM : 0;
}

/* A certificate + key file (the store, or a kubeconfig's files): both parse, the key is the certificate's and it
 * has not expired. */
static int load_pair(const char *cert_pem, const char *key_pem, int64_t *ret_nb, int64_t *ret_na, ErrorBuf *e) {
        int64_t nb, na;
        int r = tls_cert_validity(cert_pem, &nb, &na);
        if (r < 0)
                return error_set(e, r, "no PEM certificate");
        r = tls_cert_check_key(cert_pem, key_pem);
        if (r == -EKEYREJECTED)
                return error_set(e, r, "the private key does not belong to the certificate");
        if (r < 0)
                return error_set(e, r, "no PEM private key");
        if ((int64_t) time(NULL) >= na) {
                char buf[64];
                struct tm tm;
                time_t t = (time_t) na;
                (void) strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
                return error_set(e, -EKEYEXPIRED, "the certificate expired at %s", buf);
        }
        *ret_nb = nb;
        *ret_na = na;
        return 0;
}

static int persist_work(void *userdata) {
        PersistJob *j = userdata;
        _cleanup_free_ char *file = NULL, *tmp_link = NULL;
        int r;

        r = mkdir_p(j->dir, 0700);
        if (r < 0)
                return error_set(&j->e, r, "creating %s: %s", j->dir, strerror(-r));
        if (asprintf(&file, "%s/kubelet-%s-%s.pem", j->dir, cert_kind_to_string(j->kind), j->stamp) < 0 ||
            asprintf(&tmp_link, "%s/.kubelet-%s-current.pem.tmp", j->dir, cert_kind_to_string(j->kind)) < 0 ||
            current_path(j->dir, j->kind, &j->current_path) < 0)
                return -ENOMEM;
        r = write_file_atomic(file, j->pem, strlen(j->pem), 0600, true);
        if (r < 0)
                return error_set(&j->e, r, "writing %s: %s", file, strerror(-r));
        /* The symlink is switched atomically too: a new one beside it, renamed over the old. */
        (void) unlink(tmp_link);
        if (symlink(file, tmp_link) < 0 || rename(tmp_link, j->current_path) < 0) {
                r = -errno;
                (void) unlink(tmp_link);
                return error_set(&j->e, r, "linking %s to %s: %s", j->current_path, file, strerror(-r));
        }
        if (j->kubeconfig) {
                r = cert_write_kubeconfig(j->kubeconfig, j->bootstrap_kc, j->current_path, &j->e);
                if (r < 0)
                        return r;
        }
        if (j->kind == CERT_KIND_CLIENT) {
                _cleanup_free_ char *key_tmp = NULL;
                if (asprintf(&key_tmp, "%s/kubelet-client.key.tmp", j->dir) < 0)
                        return -ENOMEM;
                (void) unlink(key_tmp);
        }
        return 0;
}

static PersistJob *persist_job_free(PersistJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(PersistJob *, persist_job_free)

static PersistJob *persist_job_free(PersistJob *j) {
        if (!j)
                return NULL;
        free(j->dir);
        free(j->pem);
        free(j->stamp);
        free(j->kubeconfig);
        kubeconfig_free(j->bootstrap_kc);
        free(j->current_path);
        free(j);
        return NULL;
}

/* ---- the manager ---- */

static void begin_request(CertManager *cm);
static int try_current(CertManager *cm);

static uint64_t mono_now(CertManager *cm) {
        uint64_t t = 0;
        (void) sd_event_now(cm->event, CLOCK_MONOTONIC, &t);
        return t;
}

static double cm_random(CertManager *cm) {
        /* xorshift64: jitter only, no secrecy needed */
        cm->rng ^= cm->rng << 13;
        cm->rng ^= cm->rng >> 7;
        cm->rng ^= cm->rng << 17;
        return (double) (cm->rng >> 11) / (double) (1ULL << 53);
}

static const char *what(const CertManager *cm) {
        return cm->kind == CERT_KIND_CLIENT ? "client certificate" : "serving certificate";
}

static void cancel_request(CertManager *cm) {
        if (cm->req) {
                api_request_cancel(cm->req);
                cm->req = NULL;
        }
        cm->req_api = NULL;
        cm->csr_name = mfree(cm->csr_name);
        cm->csr_rv = mfree(cm->csr_rv);
        if (cm->state != CERT_STATE_WRITING)
                cm->state = CERT_STATE_IDLE;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Arms the one timer: clock CLOCK_MONOTONIC for retries and waits, CLOCK_REALTIME for rotation deadlines. */
static void arm_timer(CertManager *cm, clockid_t clock, uint64_t usec) {
        cm->timer = sd_event_source_disable_unref(cm->timer);
        int r = sd_event_add_time(cm->event, &cm->timer, clock, usec, USEC_PER_SEC, on_timer, cm);
        if (r < 0) {
                log_error_errno(r, "Failed to arm the %s timer: %m", what(cm));
                return;
        }
        (void) sd_event_source_set_description(cm->timer, "cert-manager");
}

static void schedule_retry(CertManager *cm) {
        uint64_t d = api_backoff_usec(cm->attempt, cm->retry_initial_usec, cm->retry_max_usec, cm_random(cm));
        cm->attempt++;
        arm_timer(cm, CLOCK_MONOTONIC, event_now_plus(cm->event, d));
}

/* One attempt failed: say what, and try again after the backoff. */
static void fail(CertManager *cm, int r, const char *fmt, ...) _printf_(3, 4);
static void fail(CertManager *cm, int r, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        uint64_t d = api_backoff_usec(cm->attempt, cm->retry_initial_usec, cm->retry_max_usec, cm_random(cm));

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        cancel_request(cm);
        log_error_errno(r, "Failed to obtain the %s for node %s: %s; retrying in %llus", what(cm), cm->node_name,
                        msg ?: "out of memory", (unsigned long long) ((d + USEC_PER_SEC / 2) / USEC_PER_SEC));
        cm->attempt++;
        arm_timer(cm, CLOCK_MONOTONIC, event_now_plus(cm->event, d));
}

static void schedule_rotation(CertManager *cm) {
        if (!cm->rotate || !cm->has_current || !cm->cert_pem) {
                cm->deadline_usec = 0;
                cm->timer = sd_event_source_disable_unref(cm->timer);
                return;
        }
        cm->deadline_usec = cert_rotation_deadline_usec(cm->not_before, cm->not_after, cm_random(cm));
        time_t t = (time_t) (cm->deadline_usec / USEC_PER_SEC);
        struct tm tm;
        char buf[64];
        (void) strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        log_info("The %s of node %s rotates at %s", what(cm), cm->node_name, buf);
        arm_timer(cm, CLOCK_REALTIME, cm->deadline_usec);
}

/* A certificate became current: keep it and tell the daemon. */
static void set_current(CertManager *cm, char *cert_pem, char *key_pem, int64_t nb, int64_t na) {
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = NULL;

        free(cm->cert_pem);
        free(cm->key_pem);
        cm->cert_pem = cert_pem;
        cm->key_pem = key_pem;
        cm->not_before = nb;
        cm->not_after = na;
        cm->has_current = true;
        cm->attempt = 0;
        if (cm->kind == CERT_KIND_CLIENT && cm->base && cert_pem) {
                int r = kubeconfig_with_cert(cm->base, cert_pem, key_pem, &kc);
                if (r < 0)
                        log_error_errno(r, "Failed to set up the new client credentials: %m");
        }
        schedule_rotation(cm);
        if (cm->cb.ready)
                cm->cb.ready(cm, cert_pem, key_pem, kc, cm->userdata);
}

static void persist_done(int result, void *userdata) {
        PersistJob *j = userdata;
        CertManager *cm = j->cm;

        if (!cm) {
                persist_job_free(j);
                return;
        }
        cm->job = NULL;
        cm->state = CERT_STATE_IDLE;
        if (result < 0) {
                fail(cm, result, "%s", error_message(&j->e, result));
                persist_job_free(j);
                return;
        }
        if (j->kubeconfig) {
                /* The kubeconfig just written is what the node uses from now on (and after a restart). */
                ErrorBuf e = {};
                Kubeconfig *kc = NULL;
                int r = kubeconfig_load(j->kubeconfig, NULL, &kc, &e);
                if (r < 0) {
                        fail(cm, r, "%s", error_message(&e, r));
                        persist_job_free(j);
                        return;
                }
                kubeconfig_free(cm->base);
                cm->base = kc;
                log_info("Wrote %s for node %s (client certificate %s)", j->kubeconfig, cm->node_name, j->current_path);
        }
        persist_job_free(j);

        /* The key went into the .pem with the certificate. */
        char *key = TAKE_PTR(cm->new_key_pem), *cert = NULL;
        int64_t nb = cm->pending_nb, na = cm->pending_na;
        cert = TAKE_PTR(cm->pending_cert);
        cm->bootstrap_kc = kubeconfig_free(cm->bootstrap_kc);
        set_current(cm, cert, key, nb, na);
}

/* The CSR was answered with a certificate: check it, then write it (and the kubeconfig after a bootstrap). */
static void got_certificate(CertManager *cm, char *cert_pem) {
        _cleanup_free_ char *cert = cert_pem;
        _cleanup_(persist_job_freep) PersistJob *j = NULL;
        ErrorBuf e = {};
        int64_t nb, na;
        char stamp[32];
        struct tm tm;
        time_t now = time(NULL);
        int r;

        r = load_pair(cert, cm->new_key_pem, &nb, &na, &e);
        if (r < 0)
                return fail(cm, r, "CertificateSigningRequest %s: the issued certificate: %s", strna(cm->csr_name),
                            error_message(&e, r));
        log_info("CertificateSigningRequest %s for node %s approved and issued (%s, valid for %" PRIi64 "s)",
                 strna(cm->csr_name), cm->node_name, what(cm), na - nb);
        cancel_request(cm);

        j = calloc(1, sizeof *j);
        if (!j)
                return fail(cm, -ENOMEM, "out of memory");
        (void) strftime(stamp, sizeof stamp, "%Y-%m-%d-%H-%M-%S", localtime_r(&now, &tm));
        j->cm = cm;
        j->kind = cm->kind;
        if (!(j->dir = strdup(cm->cert_dir)) || !(j->stamp = strdup(stamp)) ||
            asprintf(&j->pem, "%s%s%s", cert, endswith(cert, "\n") ? "" : "\n", cm->new_key_pem) < 0) {
                j->pem = NULL;
                return fail(cm, -ENOMEM, "out of memory");
        }
        if (cm->bootstrapping && cm->kind == CERT_KIND_CLIENT) {
                j->kubeconfig = strdup(cm->kubeconfig);
                if (!j->kubeconfig)
                        return fail(cm, -ENOMEM, "out of memory");
                j->bootstrap_kc = TAKE_PTR(cm->bootstrap_kc);
        }
        free(cm->pending_cert);
        cm->pending_cert = TAKE_PTR(cert);
        cm->pending_nb = nb;
        cm->pending_na = na;
        cm->state = CERT_STATE_WRITING;
        cm->job = j;
        if (cm->pool) {
                r = work_pool_submit(cm->pool, persist_work, persist_done, j);
                if (r < 0) {
                        cm->job = NULL;
                        cm->state = CERT_STATE_IDLE;
                        return fail(cm, r, "could not queue the file writes: %s", strerror(-r));
                }
                TAKE_PTR(j);
                return;
        }
        r = persist_work(j);
        persist_done(r, TAKE_PTR(j));
}

/* A CSR object (from the create, a GET or a watch event): issued, denied, or still pending. */
static int check_csr(CertManager *cm, const json_t *obj) {
        _cleanup_free_ char *cert = NULL;
        ErrorBuf e = {};
        const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        int r;

        if (rv) {
                free(cm->csr_rv);
                cm->csr_rv = strdup(rv);
        }
        r = cert_csr_result(obj, &cert, &e);
        if (r < 0) {
                fail(cm, r, "CertificateSigningRequest %s: %s", strna(cm->csr_name), error_message(&e, r));
                return 1;
        }
        if (r > 0) {
                got_certificate(cm, TAKE_PTR(cert));
                return 1;
        }
        return 0;
}

static void start_watch(CertManager *cm);

static void on_get(ApiClient *c, const ApiResponse *resp, void *userdata) {
        CertManager *cm = userdata;

        cm->req = NULL;
        if (resp->error == -ENOENT)
                return fail(cm, resp->error, "CertificateSigningRequest %s was deleted before it was issued",
                            strna(cm->csr_name));
        if (resp->error < 0)
                return fail(cm, resp->error, "reading CertificateSigningRequest %s: %s", strna(cm->csr_name),
                            resp->message);
        if (check_csr(cm, resp->body) == 0)
                start_watch(cm);
}

/* Re-reads the CSR after a watch ended; the next watch starts from what it says. */
static void get_csr(CertManager *cm) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r = api_escape(cm->csr_name, &name);
        if (r < 0 || asprintf(&path, CSR_PATH "/%s", name) < 0)
                return fail(cm, -ENOMEM, "out of memory");
        cm->state = CERT_STATE_GETTING;
        r = api_client_get(cm->req_api, path, on_get, cm, &cm->req);
        if (r < 0)
                return fail(cm, r, "reading CertificateSigningRequest %s: %s", cm->csr_name, strerror(-r));
}

static int on_watch_line(ApiClient *c, const char *line, size_t size, void *userdata) {
        CertManager *cm = userdata;
        _cleanup_json_ json_t *ev = NULL;
        const char *type;

        ev = json_loadb(line, size, 0, NULL);
        type = json_string_value(json_object_get(ev, "type"));
        if (!type)
                return -EBADMSG;
        if (streq(type, "ERROR"))
                return -ETIME; /* 410 and friends: re-read the object, then watch again */
        if (streq(type, "DELETED"))
                return -ENOENT;
        if (!streq(type, "ADDED") && !streq(type, "MODIFIED"))
                return 0;
        json_t *obj = json_object_get(ev, "object");
        if (!streq_ptr(json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")), cm->csr_name))
                return 0;
        /* Settled (issued or denied): the request is cancelled from in here, which the client allows. */
        (void) check_csr(cm, obj);
        return 0;
}

static void on_watch_done(ApiClient *c, const ApiResponse *resp, void *userdata) {
        CertManager *cm = userdata;

        cm->req = NULL;
        if (resp->error == -ENOENT)
                return fail(cm, resp->error, "CertificateSigningRequest %s was deleted before it was issued",
                            strna(cm->csr_name));
        /* Ended by the client for new credentials (api_client_end_streams() at a client certificate rotation):
         * re-read the object and watch again with them, no backoff. */
        if (resp->error == -ECONNABORTED)
                return get_csr(cm);
        /* A watch that fails, or keeps ending at once, goes through the backoff (a new CSR, the same key for a
         * bootstrap): never a tight loop of GET + watch. */
        bool quick = mono_now(cm) - cm->watch_started_usec < USEC_PER_SEC;
        cm->quick_watches = quick ? cm->quick_watches + 1 : 0;
        if ((resp->error < 0 && resp->error != -ETIME) || (quick && (resp->error == 0 || cm->quick_watches > 3)))
                return fail(cm, resp->error < 0 ? resp->error : -ECONNRESET,
                            "watching CertificateSigningRequest %s: %s", strna(cm->csr_name),
                            resp->error < 0 ? (isempty(resp->message) ? strerror(-resp->error) : resp->message)
                                            : "the server ended the watch at once");
        /* The server ended the watch (timeoutSeconds) or its history is gone (410): read the object, then watch
         * again from there. */
        get_csr(cm);
}

static void start_watch(CertManager *cm) {
        _cleanup_free_ char *path = NULL, *sel = NULL, *fs = NULL, *rv = NULL;
        int r;

        if (mono_now(cm) - cm->wait_started_usec > CSR_WAIT_USEC)
                return fail(cm, -ETIMEDOUT, "CertificateSigningRequest %s was not issued within %llu minutes",
                            strna(cm->csr_name), (unsigned long long) (CSR_WAIT_USEC / USEC_PER_SEC / 60));
        if (asprintf(&sel, "metadata.name=%s", cm->csr_name) < 0 || api_escape(sel, &fs) < 0 ||
            api_escape(strempty(cm->csr_rv), &rv) < 0 ||
            asprintf(&path,
                     CSR_PATH "?fieldSelector=%s&watch=true&allowWatchBookmarks=true&resourceVersion=%s"
                              "&timeoutSeconds=%d",
                     fs, rv, CSR_WATCH_TIMEOUT_SEC) < 0)
                return fail(cm, -ENOMEM, "out of memory");
        cm->state = CERT_STATE_WATCHING;
        cm->watch_started_usec = mono_now(cm);
        r = api_client_stream(cm->req_api, path, MAX_PEM_SIZE * 2, (CSR_WATCH_TIMEOUT_SEC + 30) * USEC_PER_SEC,
                              on_watch_line, on_watch_done, cm, &cm->req);
        if (r < 0)
                return fail(cm, r, "watching CertificateSigningRequest %s: %s", cm->csr_name, strerror(-r));
}

static void on_created(ApiClient *c, const ApiResponse *resp, void *userdata) {
        CertManager *cm = userdata;
        const char *name;

        cm->req = NULL;
        if (resp->error < 0) {
                const char *hint = resp->error == -EACCES  ? " (the server rejected the credentials)"
                                   : resp->error == -EPERM ? " (not allowed to create CSRs)"
                                   : resp->error == -EPROTO && resp->status == 0
                                           ? " (TLS: is certificate-authority the API server's CA?)"
                                           : "";
                return fail(cm, resp->error, "creating a CertificateSigningRequest at %s with %s: %s%s",
                            api_client_kubeconfig(c)->server,
                            cm->bootstrapping ? cm->bootstrap_kubeconfig : "the node's credentials",
                            isempty(resp->message) ? strerror(-resp->error) : resp->message, hint);
        }
        name = json_string_value(json_object_get(json_object_get(resp->body, "metadata"), "name"));
        if (isempty(name))
                return fail(cm, -EBADMSG, "the created CertificateSigningRequest has no name");
        cm->csr_name = strdup(name);
        if (!cm->csr_name)
                return fail(cm, -ENOMEM, "out of memory");
        cm->n_requests++;
        log_info("Created CertificateSigningRequest %s for the %s of node %s (%s), waiting for it to be issued", name,
                 what(cm), cm->node_name,
                 cm->kind == CERT_KIND_CLIENT ? CERT_SIGNER_CLIENT_KUBELET : CERT_SIGNER_KUBELET_SERVING);
        cm->wait_started_usec = mono_now(cm);
        arm_timer(cm, CLOCK_MONOTONIC, event_now_plus(cm->event, CSR_WAIT_USEC));
        if (check_csr(cm, resp->body) == 0)
                start_watch(cm);
}

/* The private key for the next CSR. A bootstrap keeps it in <cert-dir>/kubelet-client.key.tmp (and reuses it after
 * a restart, like the kubelet, so a CSR approved meanwhile still matches); rotations keep it in memory until the
 * certificate is written with it. */
static int next_key(CertManager *cm, char **ret, ErrorBuf *e) {
        _cleanup_free_ char *path = NULL, *key = NULL;
        size_t size;
        int r;

        if (!(cm->kind == CERT_KIND_CLIENT && cm->bootstrapping))
                return tls_key_generate(ret);
        if (asprintf(&path, "%s/kubelet-client.key.tmp", cm->cert_dir) < 0)
                return -ENOMEM;
        if (read_full_file(path, MAX_PEM_SIZE, &key, &size) >= 0) {
                _cleanup_free_ char *probe = NULL;
                /* still usable? (a CSR from it proves it parses) */
                if (tls_csr_generate(key, "probe", NULL, NULL, NULL, &probe) >= 0) {
                        *ret = TAKE_PTR(key);
                        return 0;
                }
                log_warning("Replacing %s: not a usable private key", path);
        }
        key = mfree(key);
        r = tls_key_generate(&key);
        if (r < 0)
                return r;
        r = mkdir_p(cm->cert_dir, 0700);
        if (r >= 0)
                r = write_file_atomic(path, key, strlen(key), 0600, true);
        if (r < 0)
                return error_set(e, r, "writing %s: %s", path, strerror(-r));
        *ret = TAKE_PTR(key);
        return 0;
}

/* Picks the credentials for the CSR: the node's own while its certificate is valid, the bootstrap kubeconfig's
 * otherwise (or when there is no node client yet). Returns 0 when there are none to use now. */
static int pick_client(CertManager *cm, ErrorBuf *e) {
        bool current_valid = cm->has_current && (!cm->cert_pem || (int64_t) time(NULL) < cm->not_after);
        int r;

        cm->bootstrapping = false;
        cm->bootstrap_kc = kubeconfig_free(cm->bootstrap_kc);
        if (cm->api && (current_valid || cm->kind == CERT_KIND_SERVING || isempty(cm->bootstrap_kubeconfig))) {
                cm->req_api = cm->api;
                return 1;
        }
        if (cm->kind == CERT_KIND_SERVING)
                return 0;
        if (isempty(cm->bootstrap_kubeconfig))
                return error_set(e, -EKEYEXPIRED, "no usable client certificate and no --bootstrap-kubeconfig");
        r = kubeconfig_load(cm->bootstrap_kubeconfig, NULL, &cm->bootstrap_kc, e);
        if (r < 0)
                return r;
        cm->own_api = api_client_free(cm->own_api);
        ApiClientOptions o = {.qps = 5, .burst = 10};
        Kubeconfig *copy = NULL;
        /* The ApiClient takes a Kubeconfig over; bootstrap_kc stays ours for writing --kubeconfig later. */
        r = kubeconfig_load(cm->bootstrap_kubeconfig, NULL, &copy, e);
        if (r < 0)
                return r;
        r = api_client_new(cm->event, cm->glue, copy, &o, &cm->own_api);
        if (r < 0) {
                kubeconfig_free(copy);
                return error_set(e, r, "%s: cannot set up a client: %s", cm->bootstrap_kubeconfig, strerror(-r));
        }
        cm->bootstrapping = true;
        cm->req_api = cm->own_api;
        return 1;
}

static void begin_request(CertManager *cm) {
        _cleanup_free_ char *csr = NULL, *cn = NULL;
        _cleanup_json_ json_t *obj = NULL;
        _cleanup_strv_free_ char **dns = NULL;
        ErrorBuf e = {};
        int r;

        if (cm->state != CERT_STATE_IDLE)
                return;
        cancel_request(cm);
        cm->new_key_pem = mfree(cm->new_key_pem);
        r = pick_client(cm, &e);
        if (r < 0)
                return fail(cm, r, "%s", error_message(&e, r));
        if (r == 0) {
                cm->waiting_for_api = true;
                return;
        }
        cm->waiting_for_api = false;
        r = next_key(cm, &cm->new_key_pem, &e);
        if (r < 0)
                return fail(cm, r, "private key: %s", error_message(&e, r));
        if (asprintf(&cn, "system:node:%s", cm->node_name) < 0)
                return fail(cm, -ENOMEM, "out of memory");
        char *orgs[] = {(char *) "system:nodes", NULL};
        if (cm->kind == CERT_KIND_SERVING) {
                /* SANs: the node name and host names as DNS names, the addresses as IPs (the kubelet's
                 * serving certificate template: hostnames and node addresses). */
                size_t n = 0;
                unsigned char addr[16];
                dns = calloc(2 + strv_length(cm->hostnames), sizeof(char *));
                if (!dns)
                        return fail(cm, -ENOMEM, "out of memory");
                if (inet_pton(AF_INET, cm->node_name, addr) != 1 && inet_pton(AF_INET6, cm->node_name, addr) != 1 &&
                    !(dns[n++] = strdup(cm->node_name)))
                        return fail(cm, -ENOMEM, "out of memory");
                for (char **h = cm->hostnames; h && *h; h++)
                        if (!strv_contains(dns, *h) && !(dns[n++] = strdup(*h)))
                                return fail(cm, -ENOMEM, "out of memory");
        }
        r = tls_csr_generate(cm->new_key_pem, cn, orgs, dns, cm->kind == CERT_KIND_SERVING ? cm->ips : NULL, &csr);
        if (r < 0)
                return fail(cm, r, "generating the certificate request: %s", strerror(-r));
        r = cert_csr_object(cm->kind, csr, &obj);
        if (r < 0)
                return fail(cm, r, "out of memory");
        cm->state = CERT_STATE_CREATING;
        r = api_client_create(cm->req_api, CSR_PATH, obj, on_created, cm, &cm->req);
        if (r < 0)
                return fail(cm, r, "creating a CertificateSigningRequest: %s", strerror(-r));
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CertManager *cm = userdata;

        cm->timer = sd_event_source_disable_unref(cm->timer);
        switch (cm->state) {
        case CERT_STATE_WRITING:
                return 0;
        case CERT_STATE_CREATING:
        case CERT_STATE_WATCHING:
        case CERT_STATE_GETTING:
                /* The wait for this CSR is over: a new one (the same key for a bootstrap). */
                fail(cm, -ETIMEDOUT, "CertificateSigningRequest %s was not issued within %llu minutes",
                     strna(cm->csr_name), (unsigned long long) (CSR_WAIT_USEC / USEC_PER_SEC / 60));
                return 0;
        case CERT_STATE_IDLE:
                break;
        }
        /* A bootstrap client is dropped here, outside of its own callbacks. */
        cm->own_api = api_client_free(cm->own_api);
        if (!cm->has_current && cm->kind == CERT_KIND_CLIENT && try_current(cm) > 0)
                return 0;
        if (cm->has_current && cm->deadline_usec > 0)
                log_info("Rotating the %s of node %s", what(cm), cm->node_name);
        begin_request(cm);
        return 0;
}

/* Step 1 and 2 of the header: the store (with rotation) or the kubeconfig's own credentials. 1 when one is usable
 * (set_current() has run), 0 when not (the reason logged), < 0 on allocation failure. */
static int try_current(CertManager *cm) {
        _cleanup_free_ char *store = NULL, *pem = NULL, *key = NULL;
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = NULL;
        ErrorBuf e = {};
        int64_t nb, na;
        size_t size;
        int r;

        if (current_path(cm->cert_dir, cm->kind, &store) < 0)
                return -ENOMEM;
        if (cm->kind == CERT_KIND_CLIENT && !isempty(cm->kubeconfig)) {
                r = kubeconfig_load(cm->kubeconfig, NULL, &kc, &e);
                if (r < 0 && r != -ENOENT) {
                        log_warning("Cannot use --kubeconfig: %s", error_message(&e, r));
                        if (r == -ENOMEM)
                                return r;
                }
                kubeconfig_free(cm->base);
                cm->base = TAKE_PTR(kc);
        }
        if (cm->rotate || cm->kind == CERT_KIND_SERVING) {
                r = read_full_file(store, MAX_PEM_SIZE, &pem, &size);
                if (r >= 0) {
                        r = load_pair(pem, pem, &nb, &na, &e);
                        if (r >= 0 && (cm->kind == CERT_KIND_SERVING || cm->base)) {
                                /* The combined file: the certificate and the key are both in it. */
                                key = strdup(pem);
                                if (!key)
                                        return -ENOMEM;
                                log_info("Using the %s in %s", what(cm), store);
                                set_current(cm, TAKE_PTR(pem), TAKE_PTR(key), nb, na);
                                return 1;
                        }
                        if (r < 0)
                                log_warning("Not using %s: %s", store, error_message(&e, r));
                } else if (r != -ENOENT)
                        log_warning_errno(r, "Not using %s: %m", store);
        }
        if (cm->kind == CERT_KIND_SERVING || !cm->base)
                return 0;

        const Kubeconfig *b = cm->base;
        if (!b->client_cert_data && !b->client_cert_file) {
                /* A token (or anonymous): nothing to bootstrap or rotate. */
                set_current(cm, NULL, NULL, 0, 0);
                return 1;
        }
        error_clear(&e);
        if (b->client_cert_data)
                pem = strndup(b->client_cert_data, b->client_cert_data_size);
        else if ((r = read_full_file(b->client_cert_file, MAX_PEM_SIZE, &pem, &size)) < 0) {
                log_warning_errno(r, "%s: client-certificate %s: %m", b->path, b->client_cert_file);
                return 0;
        }
        if (b->client_key_data)
                key = strndup(b->client_key_data, b->client_key_data_size);
        else if (b->client_key_file && (r = read_full_file(b->client_key_file, MAX_PEM_SIZE, &key, &size)) < 0) {
                log_warning_errno(r, "%s: client-key %s: %m", b->path, b->client_key_file);
                return 0;
        }
        if (!pem || !key)
                return -ENOMEM;
        r = load_pair(pem, key, &nb, &na, &e);
        if (r < 0) {
                log_warning("%s: client certificate %s: %s%s", b->path, b->client_cert_file ?: "(inline)",
                            error_message(&e, r),
                            isempty(cm->bootstrap_kubeconfig) ? ""
                                                              : "; requesting a new one with the bootstrap kubeconfig");
                return 0;
        }
        set_current(cm, TAKE_PTR(pem), TAKE_PTR(key), nb, na);
        return 1;
}

int cert_manager_start(CertManager *cm) {
        int r;

        if (!cm)
                return -EINVAL;
        r = try_current(cm);
        if (r != 0)
                return r;
        if (cm->kind == CERT_KIND_CLIENT && isempty(cm->bootstrap_kubeconfig)) {
                if (!cm->base)
                        log_error("No credentials for node %s: --kubeconfig %s cannot be used and there is no "
                                  "--bootstrap-kubeconfig; trying again later",
                                  cm->node_name, strempty(cm->kubeconfig));
                else
                        log_error("The client certificate of --kubeconfig %s cannot be used (see above) and there is "
                                  "no --bootstrap-kubeconfig to request a new one; trying again later",
                                  cm->kubeconfig);
                schedule_retry(cm);
                return 0;
        }
        begin_request(cm);
        return 0;
}

void cert_manager_set_api(CertManager *cm, ApiClient *api) {
        if (!cm)
                return;
        if (!api && cm->req_api == cm->api && cm->req_api) {
                cancel_request(cm);
                cm->api = NULL;
                schedule_retry(cm);
                return;
        }
        cm->api = api;
        if (api && cm->waiting_for_api && cm->state == CERT_STATE_IDLE)
                begin_request(cm);
}

bool cert_manager_current(const CertManager *cm, int64_t *ret_not_before, int64_t *ret_not_after,
                          uint64_t *ret_deadline_usec) {
        if (!cm || !cm->has_current)
                return false;
        if (ret_not_before)
                *ret_not_before = cm->not_before;
        if (ret_not_after)
                *ret_not_after = cm->not_after;
        if (ret_deadline_usec)
                *ret_deadline_usec = cm->deadline_usec;
        return true;
}

unsigned cert_manager_n_requests(const CertManager *cm) {
        return cm ? cm->n_requests : 0;
}

int cert_manager_new(sd_event *e, CurlGlue *glue, WorkPool *pool, const CertManagerConfig *cfg,
                     const CertManagerCallbacks *cb, void *userdata, CertManager **ret) {
        _cleanup_(cert_manager_freep) CertManager *cm = NULL;

        if (!e || !glue || !cfg || cfg->kind < 0 || cfg->kind >= _CERT_KIND_MAX || isempty(cfg->cert_dir) ||
            isempty(cfg->node_name) || (cfg->kind == CERT_KIND_CLIENT && isempty(cfg->kubeconfig)))
                return -EINVAL;
        cm = calloc(1, sizeof *cm);
        RET_NULL_ENOMEM(cm);
        cm->event = sd_event_ref(e);
        cm->glue = glue;
        cm->pool = pool;
        cm->kind = cfg->kind;
        cm->rotate = cfg->rotate || cfg->kind == CERT_KIND_SERVING;
        cm->retry_initial_usec = cfg->retry_initial_usec ?: RETRY_INITIAL_USEC;
        cm->retry_max_usec = MAX(cfg->retry_max_usec ?: RETRY_MAX_USEC, cm->retry_initial_usec);
        if (cb)
                cm->cb = *cb;
        cm->userdata = userdata;
        if (strdup_opt(cfg->cert_dir, &cm->cert_dir) < 0 || strdup_opt(cfg->node_name, &cm->node_name) < 0 ||
            strdup_opt(cfg->kubeconfig, &cm->kubeconfig) < 0 ||
            strdup_opt(cfg->bootstrap_kubeconfig, &cm->bootstrap_kubeconfig) < 0 ||
            !(cm->hostnames = strv_copy(cfg->hostnames)) || !(cm->ips = strv_copy(cfg->ips)))
                return -ENOMEM;
        if (getrandom(&cm->rng, sizeof cm->rng, GRND_NONBLOCK) != sizeof cm->rng || cm->rng == 0)
                cm->rng = 0x2545f4914f6cdd1dULL ^ (uint64_t) getpid();
        *ret = TAKE_PTR(cm);
        return 0;
}

CertManager *cert_manager_free(CertManager *cm) {
        if (!cm)
                return NULL;
        cancel_request(cm);
        if (cm->job)
                cm->job->cm = NULL; /* its done() frees it */
        cm->timer = sd_event_source_disable_unref(cm->timer);
        api_client_free(cm->own_api);
        kubeconfig_free(cm->base);
        kubeconfig_free(cm->bootstrap_kc);
        free(cm->cert_pem);
        free(cm->key_pem);
        free(cm->new_key_pem);
        free(cm->pending_cert);
        free(cm->cert_dir);
        free(cm->node_name);
        free(cm->kubeconfig);
        free(cm->bootstrap_kubeconfig);
        strv_free(cm->hostnames);
        strv_free(cm->ips);
        sd_event_unref(cm->event);
        free(cm);
        return NULL;
}
