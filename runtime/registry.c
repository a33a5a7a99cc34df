/* SPDX-License-Identifier: Apache-2.0 */
/* Registry pulls (distribution-spec v2) on CurlGlue. One Pull per reference in flight, shared by every caller that
 * asked for it; one Req per HTTP transfer. The sequence: ping → (token) → manifest (→ index → manifest) → config →
 * layers (bounded concurrency, each streamed into partial/ and hashed, then unpacked on the WorkPool) → commit on the
 * WorkPool under the store lock. See runtime/registry.h and docs/runtime-images.md. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/strv.h"
#include "runtime/image-internal.h"
#include "runtime/layer.h"
#include "runtime/reference.h"
#include "runtime/registry-internal.h"

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#elif defined(__i386__)
#define HOST_ARCH "386"
#elif defined(__powerpc64__)
#define HOST_ARCH "ppc64le"
#elif defined(__s390x__)
#define HOST_ARCH "s390x"
#else
#define HOST_ARCH "unknown"
#endif

#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
/* How often a pull waiting for another's download of the same blob looks at its lock. */
#define PULL_LOCK_POLL_USEC (100 * USEC_PER_MSEC)
#define ACCEPT_MANIFESTS                                                                                               \
        "Accept: " MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST                       \
        ", " MT_DOCKER_SCHEMA1 ", " MT_DOCKER_SCHEMA1_SIGNED

typedef struct Pull Pull;
typedef struct Req Req;

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

typedef enum BlobState {
        BLOB_QUEUED,
        BLOB_WAITING,   /* another pull (here or in another process) downloads this blob: polling its lock */
        BLOB_PREPARING, /* hashing the prefix of a partial download on the pool */
        BLOB_DOWNLOADING,
        BLOB_UNPACKING,
        BLOB_DONE,
} BlobState;

typedef struct Blob {
        Pull *pull;
        size_t idx;
        Descriptor d;
        char diff_hex[SHA256_HEX_LEN + 1];
        BlobState state;
        bool download;    /* false: the blob is in the store already */
        char *part_path;  /* partial/<hex>.part, or a staging file when another pull holds that one */
        char *blob_path;  /* verified blob, in the staging directory (or the store's, when not downloaded) */
        char *unpack_dir; /* staging/layer-<idx>, NULL when the layer is unpacked in the store already */
        int fd;           /* part_path, flock()ed while we write it */
        char *lock_path;  /* partial/<hex>.lock: whoever holds its flock() downloads the blob */
        int lock_fd;
        sd_event_source *wait_source; /* BLOB_WAITING: the next look at the lock */
        Sha256 *hash;
        uint64_t have;       /* bytes in the part file */
        bool range;          /* the request asked for bytes=have- */
        bool checked_status; /* the response's status was looked at by the write callback */
        Req *req;
        ErrorBuf err; /* from pool jobs */
} Blob;

typedef void (*req_done_fn)(Req *q, int r);

struct Req {
        Pull *pull;
        CURL *curl;
        struct curl_slist *headers;
        char *buf; /* body, or the error body when status >= 400 */
        size_t size, max, cap;
        Blob *blob; /* streaming into a blob file instead */
        int abort_r;
        long status;
        req_done_fn done;
        char curl_error[CURL_ERROR_SIZE];
};

struct ImagePull {
        Pull *pull;
        pull_done_fn done;
        void *userdata;
        ImagePull *next;
};

struct Pull {
        ImagePuller *puller;
        Pull *prev, *next;
        unsigned n_ref; /* the puller's list + every pool job in flight */
        bool finished;

        char *ref; /* normalized */
        char *host, *api_host, *path, *tag, *digest;
        char *orig_digest; /* the reference's own: digest becomes an index's choice */
        char *os, *arch, *variant;
        char *user, *pass;                /* for the host in use */
        char *opt_user, *opt_pass;        /* PullOptions.username/password: the upstream's */
        char *auth_json, *node_auth_json; /* PullOptions' */
        char **insecure;
        bool tls_verify_off, opt_tls_verify_off; /* for the host in use; PullOptions' */
        const char *ca_file;                     /* for the host in use: its `ca`, else opt_ca_file */
        char *opt_ca_file;
        RegistryHosts hosts; /* mirrors, then the upstream */
        size_t host_idx;     /* the one in use */
        bool restarting;     /* a host failed: waiting for the pool jobs to finish before the next one */
        bool local_error;    /* the failure is ours (disk, memory, layer content): no other host helps */
        unsigned jobs;       /* pool jobs in flight */
        sd_event_source *restart_source;
        char fallbacks[600]; /* "https://mirror: why; …" for the final message */
        char **published;    /* partial/<hex>.verified files this pull made for others, removed at the end */
        unsigned concurrency, stall_sec;
        pull_progress_fn progress;
        void *progress_userdata;

        ImagePull *waiters;
        char *base; /* https://host or http://host */
        bool plain_http_allowed, tried_http;
        char https_error[CURL_ERROR_SIZE]; /* why HTTPS failed, when plain HTTP was tried next */
        char *auth;                        /* "Authorization: ..." header, or NULL */
        Req *req;                          /* the metadata request in flight */

        char *staging;
        int staging_fd; /* flock()ed: the staging directory is in use */
        char manifest_hex[SHA256_HEX_LEN + 1];
        Manifest m;
        ImageConfig cfg;
        Blob *blobs;
        size_t n_blobs, next_blob;
        unsigned downloading;
        PullProgress prog;

        ImageInfo *info;
        ErrorBuf e;
        int error;
};

struct ImagePuller {
        ImageStore *store;
        CurlGlue *glue;
        sd_event *event;
        WorkPool *pool;
        char *partial;
        Pull *pulls;
};

static void pull_fail(Pull *p, int r);
static Pull *pull_unref(Pull *p);
static void pull_schedule(Pull *p);
static int fetch_manifest(Pull *p, const char *ref);
static bool host_is_loopback(const char *host);

/* ---- requests ---- */

static Req *req_free(Req *q) {
        if (!q)
                return NULL;
        if (q->curl)
                curl_glue_cancel(q->pull->puller->glue, q->curl);
        curl_slist_free_all(q->headers);
        free(q->buf);
        free(q);
        return NULL;
}

static int req_buf_append(Req *q, const char *data, size_t n, size_t max) {
        if (q->size + n > max)
                return -EFBIG;
        if (q->size + n + 1 > q->cap) {
                /* Doubling: a 4 MiB manifest arrives in hundreds of pieces; copying it each time is quadratic. */
                size_t cap = MAX(q->size + n + 1, MIN(MAX(q->cap * 2, (size_t) 16384), max + 1));
                char *b = realloc(q->buf, cap);
                RET_NULL_ENOMEM(b);
                q->buf = b;
                q->cap = cap;
        }
        char *b = q->buf;
        memcpy(b + q->size, data, n);
        q->size += n;
        b[q->size] = 0;
        return 0;
}

static int blob_write(Blob *b, Req *q, const char *data, size_t n);

static size_t req_write(char *data, size_t size, size_t nmemb, void *userdata) {
        Req *q = userdata;
        size_t n = size * nmemb;
        (void) curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &q->status);
        if (q->status >= 300) {
                /* An error body: keep the start for the registry's message, drop the rest. */
                if (q->size < PULL_ERROR_BODY_MAX)
                        (void) req_buf_append(q, data, MIN(n, PULL_ERROR_BODY_MAX - q->size), PULL_ERROR_BODY_MAX);
                return n;
        }
        int r = q->blob ? blob_write(q->blob, q, data, n) : req_buf_append(q, data, n, q->max);
        if (r < 0) {
                q->abort_r = r;
                return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
        return n;
}

static void req_finished(CurlGlue *g, CURL *c, CURLcode result, void *userdata) {
        Req *q = userdata;
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
        int r = 0;
        if (q->abort_r < 0)
                r = q->abort_r;
        else if (result == CURLE_FILESIZE_EXCEEDED)
                r = -EFBIG; /* Content-Length above the limit: refused before reading the body */
        else if (result != CURLE_OK) {
                r = result == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
                if (!q->curl_error[0])
                        snprintf(q->curl_error, sizeof q->curl_error, "%s", curl_easy_strerror(result));
        }
        /* c stays for getinfo() and headers in done(); req_free() cleans it up (curl_glue_cancel() on a handle that
         * already left the multi handle only does that). The pull must outlive done() whatever it calls. */
        Pull *p = q->pull;
        p->n_ref++;
        q->done(q, r);
        pull_unref(p);
}

/* Starts GET url. accept: an "Accept: …" header or NULL; max: body limit (ignored for blob downloads). */
static int req_start(Pull *p, const char *url, const char *accept, const char *auth, size_t max, Blob *blob,
                     uint64_t range_from, req_done_fn done, Req **ret) {
        _cleanup_free_ Req *q = calloc(1, sizeof *q);
        RET_NULL_ENOMEM(q);
        *q = (Req){.pull = p, .max = max, .blob = blob, .done = done};
        int r = curl_glue_make(url, &q->curl);
        if (r < 0)
                return r;
        const char *hdrs[] = {accept, auth};
        bool ok = true;
        for (size_t i = 0; ok && i < ELEMENTSOF(hdrs); i++)
                if (hdrs[i]) {
                        struct curl_slist *h = curl_slist_append(q->headers, hdrs[i]);
                        if (h)
                                q->headers = h;
                        ok = h;
                }
        ok = ok && curl_easy_setopt(q->curl, CURLOPT_WRITEFUNCTION, req_write) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_WRITEDATA, q) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, q->headers) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_ERRORBUFFER, q->curl_error) == CURLE_OK &&
             /* Blobs are served through redirects to storage (S3, CDNs). curl does not send our Authorization
                   * header to another host. */
             curl_easy_setopt(q->curl, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_MAXREDIRS, 5L) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_LOW_SPEED_TIME, (long) p->stall_sec) == CURLE_OK &&
             curl_easy_setopt(q->curl, CURLOPT_ACCEPT_ENCODING, NULL) == CURLE_OK;
        if (ok && p->tls_verify_off)
                ok = curl_easy_setopt(q->curl, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK &&
                     curl_easy_setopt(q->curl, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
        if (ok && p->ca_file)
                ok = curl_easy_setopt(q->curl, CURLOPT_CAINFO, p->ca_file) == CURLE_OK;
        if (ok && range_from > 0)
                ok = curl_easy_setopt(q->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t) range_from) == CURLE_OK;
        /* A Content-Length above what we accept ends the transfer at the headers (a 100 MB "manifest" is not read);
         * without one, the write callback counts. */
        uint64_t limit = blob ? (range_from > 0 ? 0 : blob->d.size) : max;
        if (ok && limit > 0)
                ok = curl_easy_setopt(q->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) limit) == CURLE_OK;
        if (!ok) {
                curl_easy_cleanup(q->curl);
                curl_slist_free_all(q->headers);
                return -EIO;
        }
        r = curl_glue_add(p->puller->glue, q->curl, req_finished, q);
        if (r < 0) {
                curl_easy_cleanup(q->curl);
                curl_slist_free_all(q->headers);
                return r;
        }
        *ret = TAKE_PTR(q);
        return 0;
}

static const char *req_content_type(Req *q) {
        const char *ct = NULL;
        (void) curl_easy_getinfo(q->curl, CURLINFO_CONTENT_TYPE, &ct);
        return ct;
}

/* "HTTP 401: authentication required (UNAUTHORIZED)": the registry's own words (distribution-spec error codes). */
static int req_http_error(Pull *p, Req *q, const char *what) {
        _cleanup_json_ json_t *j = q->buf ? json_loads(q->buf, 0, NULL) : NULL;
        json_t *err0 = json_array_get(json_object_get(j, "errors"), 0);
        const char *msg = json_string_value(json_object_get(err0, "message"));
        const char *code = json_string_value(json_object_get(err0, "code"));
        if (!msg) /* token servers: {"details": "..."} (docker auth) or {"error": "..."} */
                msg = json_string_value(json_object_get(j, "details"))
                              ?: json_string_value(json_object_get(j, "error"));
        int r = q->status == 401 || q->status == 403 ? -EACCES : q->status == 404 ? -ENOENT : -EIO;
        if (msg)
                return error_set(&p->e, r, "%s: HTTP %ld: %s%s%s%s", what, q->status, msg, code ? " (" : "",
                                 strempty(code), code ? ")" : "");
        return error_set(&p->e, r, "%s: HTTP %ld", what, q->status);
}

static int req_transport_error(Pull *p, Req *q, int r, const char *what) {
        if (r == -EFBIG && q->blob)
                return error_set(&p->e, -EBADMSG, "%s: the registry sent more than the descriptor's %" PRIu64 " bytes",
                                 what, q->blob->d.size);
        if (r == -EFBIG)
                return error_set(&p->e, r, "%s: larger than the limit of %zu bytes", what, q->max);
        if (p->e.msg[0])
                return r;
        if (r == -ETIMEDOUT && startswith(q->curl_error, "Operation too slow"))
                return error_set(&p->e, r, "%s: stalled: no data from the registry for %u s", what, p->stall_sec);
        return error_set(&p->e, r, "%s: %s", what, q->curl_error[0] ? q->curl_error : strerror(-r));
}

static int url_for(Pull *p, const char *kind, const char *ref, char **ret) {
        if (asprintf(ret, "%s/%s/%s/%s", p->base, p->path, kind, ref) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- progress and completion ---- */

static void pull_report(Pull *p, const char *event, const char *layer_hex) {
        char digest[DIGEST_STR_MAX];
        if (!p->progress)
                return;
        p->prog.event = event;
        p->prog.layer = NULL;
        if (layer_hex) {
                snprintf(digest, sizeof digest, "sha256:%s", layer_hex);
                p->prog.layer = digest;
        }
        p->progress(&p->prog, p->progress_userdata);
        p->prog.layer = NULL;
}

/* Lets other pulls have the blob's lock. The file goes first: whoever waits on this inode sees it unlinked and
 * opens the path again (blob_lock_try()). */
static void blob_unlock(Blob *b) {
        if (b->lock_fd < 0)
                return;
        (void) unlink(b->lock_path);
        b->lock_fd = safe_close(b->lock_fd);
}

static void blob_done(Blob *b) {
        b->wait_source = sd_event_source_disable_unref(b->wait_source);
        if (b->fd >= 0)
                b->fd = safe_close(b->fd);
        blob_unlock(b);
        b->hash = sha256_free(b->hash);
        free(b->part_path);
        free(b->blob_path);
        free(b->unpack_dir);
        free(b->lock_path);
}

static Pull *pull_unref(Pull *p) {
        if (!p || --p->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < p->n_blobs; i++)
                blob_done(&p->blobs[i]);
        free(p->blobs);
        /* Handed to other pulls while this one ran; the store has them now, or the pull failed. */
        for (char **i = p->published; i && *i; i++)
                (void) unlink(*i);
        strv_free(p->published);
        p->restart_source = sd_event_source_disable_unref(p->restart_source);
        registry_hosts_done(&p->hosts);
        manifest_done(&p->m);
        image_config_done(&p->cfg);
        if (p->staging)
                (void) rm_rf(p->staging);
        safe_close(p->staging_fd);
        free(p->staging);
        image_info_free(p->info);
        free(p->ref);
        free(p->host);
        free(p->api_host);
        free(p->path);
        free(p->tag);
        free(p->digest);
        free(p->orig_digest);
        free(p->os);
        free(p->arch);
        free(p->variant);
        char *secrets[] = {p->pass, p->opt_pass, p->auth_json, p->node_auth_json};
        for (size_t i = 0; i < ELEMENTSOF(secrets); i++)
                if (secrets[i])
                        explicit_bzero(secrets[i], strlen(secrets[i]));
        free(p->user);
        free(p->pass);
        free(p->opt_user);
        free(p->opt_pass);
        free(p->auth_json);
        free(p->node_auth_json);
        strv_free(p->insecure);
        free(p->opt_ca_file);
        free(p->base);
        if (p->auth)
                explicit_bzero(p->auth, strlen(p->auth));
        free(p->auth);
        free(p);
        return NULL;
}

/* Stops the transfers and takes the pull out of the puller; pool jobs still running hold their reference. */
static void pull_stop_transfers(Pull *p) {
        p->req = req_free(p->req);
        for (size_t i = 0; i < p->n_blobs; i++) {
                p->blobs[i].req = req_free(p->blobs[i].req);
                p->blobs[i].wait_source = sd_event_source_disable_unref(p->blobs[i].wait_source);
        }
}

static void pull_stop(Pull *p) {
        pull_stop_transfers(p);
        p->restart_source = sd_event_source_disable_unref(p->restart_source);
        if (p->finished)
                return;
        p->finished = true;
        if (p->prev)
                p->prev->next = p->next;
        else
                p->puller->pulls = p->next;
        if (p->next)
                p->next->prev = p->prev;
        p->prev = p->next = NULL;
}

static void pull_finish(Pull *p, int r) {
        if (p->finished)
                return;
        pull_stop(p);
        if (r < 0)
                (void) error_prefix(&p->e, r, "%s", p->ref);
        /* Callers of pull_finish() hold a reference of their own, so p outlives the callbacks. */
        ImagePull *w = TAKE_PTR(p->waiters);
        while (w) {
                ImagePull *next = w->next;
                w->done(r, r >= 0 ? p->info : NULL, r < 0 ? error_message(&p->e, r) : NULL, w->userdata);
                free(w);
                w = next;
        }
        pull_unref(p); /* the waiters' */
        pull_unref(p); /* the list's */
}

static bool pull_gone(const Pull *p) {
        return p->finished || p->restarting;
}

/* The next host after the one in use that can serve this pull, or hosts.n. */
static size_t pull_next_host(const Pull *p) {
        for (size_t i = p->host_idx + 1; i < p->hosts.n; i++) {
                const RegistryHost *h = &p->hosts.hosts[i];
                /* A tag needs a host that may resolve it; a digest only one that serves content. */
                if (h->pull && (p->orig_digest || h->resolve))
                        return i;
        }
        return p->hosts.n;
}

static int ping(Pull *p);
static int pull_use_host(Pull *p, size_t idx);

/* Empties the staging directory for the next host (it stays, flock()ed). */
static void staging_clear(Pull *p) {
        _cleanup_(closedirp) DIR *d = opendir(p->staging);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                if (streq(de->d_name, ".") || streq(de->d_name, "..") || path_join(&path, p->staging, de->d_name) < 0)
                        continue;
                (void) rm_rf(path);
        }
}

/* No pool job left: start over on the next host. Part files and the blobs other pulls were handed stay, so what
 * was downloaded from the failed host is resumed or reused, not fetched again. */
static void pull_restart(Pull *p) {
        for (size_t i = 0; i < p->n_blobs; i++)
                blob_done(&p->blobs[i]);
        p->blobs = mfree(p->blobs);
        p->n_blobs = p->next_blob = 0;
        p->downloading = 0;
        manifest_done(&p->m);
        p->m = (Manifest){};
        image_config_done(&p->cfg);
        p->cfg = (ImageConfig){};
        p->manifest_hex[0] = 0;
        free(p->digest);
        p->digest = NULL;
        if (p->auth)
                explicit_bzero(p->auth, strlen(p->auth));
        p->auth = mfree(p->auth);
        p->tried_http = false;
        p->https_error[0] = 0;
        staging_clear(p);
        p->prog = (PullProgress){};
        error_clear(&p->e);
        p->local_error = false;
        p->restarting = false;
        int r = p->orig_digest && !(p->digest = strdup(p->orig_digest)) ? -ENOMEM : 0;
        if (r >= 0)
                r = pull_use_host(p, pull_next_host(p));
        if (r >= 0)
                r = ping(p);
        if (r < 0)
                pull_fail(p, r);
}

static int on_restart(sd_event_source *s, void *userdata) {
        Pull *p = userdata;
        if (p->restarting && p->jobs == 0)
                pull_restart(p);
        return 0;
}

/* A pool job of p ended: the last one lets a pending restart go on. */
static void pull_job_done(Pull *p) {
        p->jobs--;
        if (p->restarting && p->jobs == 0 && p->restart_source)
                (void) sd_event_source_set_enabled(p->restart_source, SD_EVENT_ONESHOT);
}

/* The host in use failed: stop its transfers and go on with the next one from the loop (never from within a
 * callback of the request that failed), once the pool jobs of this attempt have finished. */
static void pull_fallback(Pull *p, int r) {
        const RegistryHost *h = &p->hosts.hosts[p->host_idx];
        const RegistryHost *next = &p->hosts.hosts[pull_next_host(p)];
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s", h->url, error_message(&p->e, r));
        size_t n = strlen(p->fallbacks);
        snprintf(p->fallbacks + n, sizeof p->fallbacks - n, "%s%.280s", n ? "; " : "", msg);
        pull_stop_transfers(p);
        p->restarting = true;
        if (p->progress) {
                char m[1100];
                snprintf(m, sizeof m, "%s: %s; trying %s", p->ref, msg, next->url);
                p->prog.message = m;
                pull_report(p, "fallback", NULL);
                p->prog.message = NULL;
        }
        if (!p->restart_source) {
                r = sd_event_add_defer(p->puller->event, &p->restart_source, on_restart, p);
                if (r < 0) {
                        p->restarting = false;
                        p->local_error = true;
                        p->restart_source = NULL;
                        return pull_finish(p, r);
                }
        }
        (void) sd_event_source_set_enabled(p->restart_source, p->jobs == 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
}

static void pull_fail(Pull *p, int r) {
        if (pull_gone(p))
                return;
        if (r != -ENOMEM && !p->local_error && pull_next_host(p) < p->hosts.n)
                return pull_fallback(p, r);
        p->error = r;
        if (p->fallbacks[0]) {
                char msg[sizeof p->e.msg];
                snprintf(msg, sizeof msg, "%s (tried first: %s)", error_message(&p->e, r), p->fallbacks);
                memcpy(p->e.msg, msg, sizeof msg);
        }
        pull_finish(p, r);
}

/* A failure no other host would avoid. */
static void pull_fail_local(Pull *p, int r) {
        p->local_error = true;
        pull_fail(p, r);
}

/* ---- commit (pool thread) ---- */

static int rename_into(const char *from, const char *to) {
        if (access(to, F_OK) == 0) {
                (void) rm_rf(from); /* the same content (by digest) is there already */
                return 0;
        }
        if (rename(from, to) < 0)
                return errno == EEXIST || errno == ENOTEMPTY ? 0 : -errno;
        return 0;
}

static int commit_locked(Pull *p) {
        ImageStore *s = p->puller->store;
        _cleanup_free_ char *mpath = NULL, *cpath = NULL, *mstage = NULL, *cstage = NULL;
        int r;
        for (size_t i = 0; i < p->n_blobs; i++) {
                Blob *b = &p->blobs[i];
                _cleanup_free_ char *dst = NULL, *ldst = NULL;
                if (store_blob_path(s, b->d.hex, &dst) < 0 || store_layer_path(s, b->diff_hex, &ldst) < 0)
                        return -ENOMEM;
                if (b->download) {
                        r = rename_into(b->blob_path, dst);
                        if (r < 0)
                                return error_set(&b->err, r, "layer sha256:%s: cannot store: %s", b->d.hex,
                                                 strerror(-r));
                } else if (access(dst, F_OK) < 0)
                        /* Removed (image rm + gc) after we decided to skip it. */
                        return error_set(&b->err, -EAGAIN, "layer sha256:%s: removed from the store during the pull",
                                         b->d.hex);
                if (b->unpack_dir) {
                        r = rename_into(b->unpack_dir, ldst);
                        if (r < 0)
                                return error_set(&b->err, r, "layer sha256:%s: cannot store: %s", b->d.hex,
                                                 strerror(-r));
                } else if (access(ldst, F_OK) < 0)
                        return error_set(&b->err, -EAGAIN, "layer sha256:%s: removed from the store during the pull",
                                         b->d.hex);
        }
        if (store_blob_path(s, p->m.config.hex, &cpath) < 0 || store_blob_path(s, p->manifest_hex, &mpath) < 0 ||
            path_join(&cstage, p->staging, "config") < 0 || path_join(&mstage, p->staging, "manifest") < 0)
                return -ENOMEM;
        r = rename_into(cstage, cpath);
        if (r >= 0)
                r = rename_into(mstage, mpath);
        if (r < 0)
                return error_set(&p->blobs[0].err, r, "cannot store manifest: %s", strerror(-r));
        _cleanup_close_ int dfd = open(s->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);

        /* The index, as image-import.c's commit_index() writes it: a reference names one image, it moves. */
        _cleanup_json_ json_t *index = NULL;
        r = store_index_load(s, &index, NULL);
        if (r < 0)
                return r;
        char id[DIGEST_STR_MAX], mdigest[DIGEST_STR_MAX];
        snprintf(id, sizeof id, "sha256:%s", p->m.config.hex);
        snprintf(mdigest, sizeof mdigest, "sha256:%s", p->manifest_hex);
        json_t *images = json_object_get(index, "images");
        json_t *entry = json_object_get(images, id);
        if (!entry) {
                entry = json_pack("{s:[]}", "refs");
                if (!entry || json_object_set_new(images, id, entry) < 0)
                        return -ENOMEM;
        }
        if (json_object_set_new(entry, "manifest", json_string(mdigest)) < 0)
                return -ENOMEM;
        const char *other_id;
        json_t *img, *v;
        size_t k;
        json_object_foreach (images, other_id, img)
                json_array_foreach (json_object_get(img, "refs"), k, v)
                        if (streq(json_string_value(v), p->ref)) {
                                json_array_remove(json_object_get(img, "refs"), k);
                                break;
                        }
        if (json_array_append_new(json_object_get(entry, "refs"), json_string(p->ref)) < 0)
                return -ENOMEM;
        r = store_index_save(s, index);
        if (r < 0)
                return r;
        return store_image_info(s, id, entry, &p->info, &p->blobs[0].err);
}

static int commit_work(void *userdata) {
        Pull *p = userdata;
        _cleanup_close_ int lock = -EBADF;
        int r = store_lock(p->puller->store, &lock);
        if (r < 0)
                return r;
        return commit_locked(p);
}

static void commit_finished(int result, void *userdata) {
        Pull *p = userdata;
        pull_job_done(p);
        if (!pull_gone(p)) {
                if (result < 0) {
                        for (size_t i = 0; i < p->n_blobs && !p->e.msg[0]; i++)
                                if (p->blobs[i].err.msg[0])
                                        (void) error_set(&p->e, result, "%s", p->blobs[i].err.msg);
                        (void) error_set(&p->e, result, "cannot commit the image to the store: %s", strerror(-result));
                        pull_fail_local(p, result);
                } else {
                        pull_report(p, "commit", NULL);
                        pull_finish(p, 0);
                }
        }
        pull_unref(p);
}

static void pull_maybe_commit(Pull *p) {
        for (size_t i = 0; i < p->n_blobs; i++)
                if (p->blobs[i].state != BLOB_DONE)
                        return;
        for (size_t i = 0; i < p->n_blobs; i++)
                error_clear(&p->blobs[i].err);
        if (p->n_blobs == 0) /* an image without layers is valid (scratch); give the commit a place for errors */
                return pull_fail(p, error_set(&p->e, -EBADMSG, "manifest has no layers"));
        int r = work_pool_submit(p->puller->pool, commit_work, commit_finished, p);
        if (r < 0)
                return pull_fail_local(p, r);
        p->n_ref++;
        p->jobs++;
}

/* ---- layers ---- */

static int unpack_work(void *userdata) {
        Blob *b = userdata;
        char got[SHA256_HEX_LEN + 1];
        if (mkdir(b->unpack_dir, 0755) < 0 || chmod(b->unpack_dir, 0755) < 0)
                return error_set(&b->err, -errno, "layer sha256:%s: %s: %m", b->d.hex, b->unpack_dir);
        _cleanup_close_ int fd = open(b->blob_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return error_set(&b->err, -errno, "layer sha256:%s: %s: %m", b->d.hex, b->blob_path);
        int r = layer_unpack(fd, b->unpack_dir, got, &b->err);
        if (r < 0)
                return error_prefix(&b->err, r, "layer sha256:%s", b->d.hex);
        if (!streq(got, b->diff_hex))
                return error_set(&b->err, -EBADMSG,
                                 "layer sha256:%s: diff_id mismatch: config rootfs.diff_ids[%zu] is sha256:%s, the "
                                 "uncompressed layer is sha256:%s",
                                 b->d.hex, b->idx, b->diff_hex, got);
        return 0;
}

static void unpack_finished(int result, void *userdata) {
        Blob *b = userdata;
        Pull *p = b->pull;
        pull_job_done(p);
        if (!pull_gone(p)) {
                if (result < 0) {
                        /* The content is what its digest says: another host would send the same. */
                        (void) error_set(&p->e, result, "%s", error_message(&b->err, result));
                        pull_fail_local(p, result);
                } else {
                        b->state = BLOB_DONE;
                        p->prog.layers_done++;
                        pull_report(p, "layer", b->d.hex);
                        pull_maybe_commit(p);
                }
        }
        pull_unref(p);
}

static void blob_unpack(Blob *b) {
        Pull *p = b->pull;
        if (!b->unpack_dir) {
                /* Unpacked in the store already (reported as skipped when nothing was downloaded either). */
                b->state = BLOB_DONE;
                p->prog.layers_done++;
                if (b->download)
                        pull_report(p, "layer", b->d.hex);
                return pull_maybe_commit(p);
        }
        b->state = BLOB_UNPACKING;
        int r = work_pool_submit(p->puller->pool, unpack_work, unpack_finished, b);
        if (r < 0)
                return pull_fail_local(p, r);
        p->n_ref++;
        p->jobs++;
}

static void blob_publish(Blob *b);

static int blob_write(Blob *b, Req *q, const char *data, size_t n) {
        if (!b->checked_status) {
                b->checked_status = true;
                if (b->range && q->status != 206) {
                        /* The registry ignored Range (a 200 with the whole blob): start over. */
                        if (ftruncate(b->fd, 0) < 0 || lseek(b->fd, 0, SEEK_SET) < 0)
                                return -errno;
                        b->hash = sha256_free(b->hash);
                        int r = sha256_new(&b->hash);
                        if (r < 0)
                                return r;
                        b->pull->prog.bytes_done -= b->have;
                        b->have = 0;
                }
        }
        if (b->have + n > b->d.size)
                return error_set(&b->pull->e, -EBADMSG,
                                 "layer sha256:%s: the registry sent more than the descriptor's %" PRIu64 " bytes",
                                 b->d.hex, b->d.size);
        int r = sha256_update(b->hash, data, n);
        if (r < 0)
                return r;
        for (size_t off = 0; off < n;) {
                ssize_t k = write(b->fd, data + off, n - off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        b->pull->local_error = true; /* a full disk, not the registry */
                        return error_set(&b->pull->e, -errno, "layer sha256:%s: cannot write %s: %m", b->d.hex,
                                         b->part_path);
                }
                off += (size_t) k;
        }
        b->have += n;
        b->pull->prog.bytes_done += n;
        pull_report(b->pull, "bytes", NULL);
        return 0;
}

static void blob_fetched(Req *q, int r) {
        Blob *b = q->blob;
        Pull *p = q->pull;
        char what[128], hex[SHA256_HEX_LEN + 1];
        snprintf(what, sizeof what, "layer sha256:%s", b->d.hex);
        if (r >= 0 && q->status != 200 && q->status != 206)
                r = req_http_error(p, q, what);
        else if (r < 0)
                r = req_transport_error(p, q, r, what);
        b->req = req_free(q);
        p->downloading--;
        if (r < 0)
                return pull_fail(p, r); /* the part file stays for the next pull to resume */
        if (b->have != b->d.size) {
                (void) unlink(b->part_path);
                return pull_fail(p, error_set(&p->e, -EBADMSG,
                                              "%s: size mismatch: descriptor says %" PRIu64
                                              " bytes, the registry sent %" PRIu64,
                                              what, b->d.size, b->have));
        }
        r = sha256_final_hex(b->hash, hex);
        b->hash = sha256_free(b->hash);
        if (r < 0)
                return pull_fail(p, r);
        if (!streq(hex, b->d.hex)) {
                (void) unlink(b->part_path); /* no use resuming it */
                return pull_fail(p, error_set(&p->e, -EBADMSG,
                                              "%s: digest mismatch: the registry sent content with digest sha256:%s",
                                              what, hex));
        }
        if (fdatasync(b->fd) < 0 || rename(b->part_path, b->blob_path) < 0)
                return pull_fail_local(p, error_set(&p->e, -errno, "%s: cannot stage %s: %m", what, b->blob_path));
        b->fd = safe_close(b->fd);
        blob_publish(b);
        blob_unpack(b);
        pull_schedule(p);
}

static void blob_request(Blob *b) {
        Pull *p = b->pull;
        _cleanup_free_ char *url = NULL;
        char digest[DIGEST_STR_MAX];
        snprintf(digest, sizeof digest, "sha256:%s", b->d.hex);
        b->range = b->have > 0;
        p->prog.bytes_done += b->have;
        b->state = BLOB_DOWNLOADING;
        int r = url_for(p, "blobs", digest, &url);
        if (r >= 0)
                r = req_start(p, url, NULL, p->auth, 0, b, b->have, blob_fetched, &b->req);
        if (r < 0)
                return pull_fail(p, r);
}

static int prefix_work(void *userdata) {
        Blob *b = userdata;
        char buf[128 * 1024];
        uint64_t left = b->have;
        if (lseek(b->fd, 0, SEEK_SET) < 0)
                return -errno;
        while (left > 0) {
                ssize_t k = read(b->fd, buf, MIN(sizeof buf, left));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                int r = sha256_update(b->hash, buf, (size_t) k);
                if (r < 0)
                        return r;
                left -= (uint64_t) k;
        }
        return 0;
}

static void prefix_finished(int result, void *userdata) {
        Blob *b = userdata;
        Pull *p = b->pull;
        pull_job_done(p);
        if (!pull_gone(p)) {
                if (result < 0) {
                        /* Cannot use what is there: download it whole. */
                        b->have = 0;
                        b->hash = sha256_free(b->hash);
                        if (ftruncate(b->fd, 0) < 0 || sha256_new(&b->hash) < 0)
                                pull_fail_local(p, error_set(&p->e, -EIO, "layer sha256:%s: cannot reset %s", b->d.hex,
                                                             b->part_path));
                }
                if (!pull_gone(p))
                        blob_request(b);
        }
        pull_unref(p);
}

/* Opens partial/<hex>.part for resuming (flock()ed, so two pulls never write one file), or a private staging file
 * when a pull that predates the blob locks holds it. */
static int blob_open(Blob *b) {
        Pull *p = b->pull;
        struct stat st;
        int r;
        if (asprintf(&b->part_path, "%s/%s.part", p->puller->partial, b->d.hex) < 0)
                return -ENOMEM;
        b->fd = open(b->part_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (b->fd < 0)
                return error_set(&p->e, -errno, "%s: %m", b->part_path);
        if (flock(b->fd, LOCK_EX | LOCK_NB) < 0) {
                b->fd = safe_close(b->fd);
                free(b->part_path);
                if (asprintf(&b->part_path, "%s/part-%zu", p->staging, b->idx) < 0)
                        return -ENOMEM;
                b->fd = open(b->part_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (b->fd < 0)
                        return error_set(&p->e, -errno, "%s: %m", b->part_path);
        }
        if (fstat(b->fd, &st) < 0)
                return -errno;
        r = sha256_new(&b->hash);
        if (r < 0)
                return r;
        b->have = (uint64_t) st.st_size;
        if (b->have >= b->d.size) {
                /* Complete but never verified, or longer than it can be: fetch it again. */
                if (ftruncate(b->fd, 0) < 0)
                        return -errno;
                b->have = 0;
        }
        if (lseek(b->fd, (off_t) b->have, SEEK_SET) < 0)
                return -errno;
        return 0;
}

static int verified_path(Pull *p, const char *hex, char **ret) {
        if (asprintf(ret, "%s/%s.verified", p->puller->partial, hex) < 0)
                return -ENOMEM;
        return 0;
}

/* Leaves the verified blob for pulls waiting on its lock: a hard link in partial/, removed when this pull ends
 * (by then the store has it, or nobody will). */
static void blob_publish(Blob *b) {
        Pull *p = b->pull;
        _cleanup_free_ char *path = NULL;
        size_t n = 0;
        if (verified_path(p, b->d.hex, &path) < 0 || link(b->blob_path, path) < 0)
                return; /* EEXIST: the same content (by digest) is there already, from another pull */
        while (p->published && p->published[n])
                n++;
        char **l = realloc(p->published, (n + 2) * sizeof(char *));
        if (!l) {
                (void) unlink(path);
                return;
        }
        l[n] = TAKE_PTR(path);
        l[n + 1] = NULL;
        p->published = l;
}

/* 1: we hold partial/<hex>.lock; 0: another pull does. The holder unlinks the file before it lets go, so a lock
 * won on a file that is no longer under that name guards nothing: open the name again. */
static int blob_lock_try(Blob *b) {
        for (unsigned i = 0; i < 8; i++) {
                struct stat st, st_path;
                _cleanup_close_ int fd = open(b->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return -errno;
                if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                        return errno == EWOULDBLOCK ? 0 : -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (stat(b->lock_path, &st_path) == 0 && st.st_ino == st_path.st_ino && st.st_dev == st_path.st_dev) {
                        b->lock_fd = TAKE_FD(fd);
                        return 1;
                }
        }
        return 0;
}

/* 1 when the blob is there already, verified (the store's copy, or one another pull just downloaded): it is
 * hard-linked into our staging, where the store's garbage collection cannot take it away. */
static int blob_take_existing(Blob *b) {
        Pull *p = b->pull;
        _cleanup_free_ char *stored = NULL, *verified = NULL;
        if (store_blob_path(p->puller->store, b->d.hex, &stored) < 0 || verified_path(p, b->d.hex, &verified) < 0)
                return -ENOMEM;
        /* The store again last: the other pull may have committed and removed its .verified in between. */
        const char *candidates[] = {stored, verified, stored};
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                struct stat st;
                if (stat(candidates[i], &st) < 0 || (uint64_t) st.st_size != b->d.size)
                        continue;
                (void) unlink(b->blob_path);
                if (link(candidates[i], b->blob_path) == 0)
                        return 1;
        }
        return 0;
}

static int on_blob_wait(sd_event_source *s, uint64_t usec, void *userdata);

/* Starts the download of b (which holds a download slot), or waits for the pull that downloads it now, or takes
 * what that one left. */
static void blob_start(Blob *b) {
        Pull *p = b->pull;
        int r = 0;
        if (!b->lock_path && asprintf(&b->lock_path, "%s/%s.lock", p->puller->partial, b->d.hex) < 0) {
                b->lock_path = NULL;
                return pull_fail_local(p, -ENOMEM);
        }
        r = blob_lock_try(b);
        if (r < 0)
                return pull_fail_local(p, error_set(&p->e, r, "%s: %s", b->lock_path, strerror(-r)));
        if (r == 0) {
                /* Polled, not waited for: the loop stays free, and a holder that dies lets go by itself. */
                b->state = BLOB_WAITING;
                r = sd_event_add_time_relative(p->puller->event, &b->wait_source, CLOCK_MONOTONIC, PULL_LOCK_POLL_USEC,
                                               PULL_LOCK_POLL_USEC / 10, on_blob_wait, b);
                if (r < 0)
                        pull_fail_local(p, r);
                return;
        }
        r = blob_take_existing(b);
        if (r < 0)
                return pull_fail_local(p, r);
        if (r > 0) {
                blob_unlock(b);
                p->downloading--;
                p->prog.bytes_done += b->d.size;
                return blob_unpack(b);
        }
        r = blob_open(b);
        if (r < 0)
                return pull_fail_local(p, r);
        if (b->have > 0) {
                b->state = BLOB_PREPARING;
                r = work_pool_submit(p->puller->pool, prefix_work, prefix_finished, b);
                if (r < 0)
                        return pull_fail_local(p, r);
                p->n_ref++;
                p->jobs++;
        } else
                blob_request(b);
}

static int on_blob_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        Blob *b = userdata;
        Pull *p = b->pull;
        b->wait_source = sd_event_source_disable_unref(b->wait_source);
        if (pull_gone(p))
                return 0;
        p->n_ref++; /* blob_start() may end the pull */
        blob_start(b);
        pull_schedule(p);
        pull_unref(p);
        return 0;
}

static void pull_schedule(Pull *p) {
        while (!pull_gone(p) && p->downloading < p->concurrency && p->next_blob < p->n_blobs) {
                Blob *b = &p->blobs[p->next_blob++];
                if (!b->download) {
                        blob_unpack(b);
                        continue;
                }
                p->downloading++;
                blob_start(b);
        }
}

/* ---- manifest and config ---- */

static int stage_file(Pull *p, const char *name, const char *data, size_t size) {
        _cleanup_free_ char *path = NULL;
        int r = path_join(&path, p->staging, name);
        if (r < 0)
                return r;
        r = write_file_atomic(path, data, size, 0644, true);
        if (r < 0) {
                p->local_error = true;
                return error_set(&p->e, r, "%s: cannot write: %s", path, strerror(-r));
        }
        return 0;
}

static int layers_plan(Pull *p) {
        ImageStore *s = p->puller->store;
        p->blobs = calloc(p->m.n_layers, sizeof(Blob));
        RET_NULL_ENOMEM(p->blobs);
        p->n_blobs = p->m.n_layers;
        p->prog.layers_total = (unsigned) p->n_blobs;
        for (size_t i = 0; i < p->n_blobs; i++) {
                Blob *b = &p->blobs[i];
                _cleanup_free_ char *bpath = NULL, *lpath = NULL;
                struct stat st;
                *b = (Blob){.pull = p, .idx = i, .fd = -EBADF, .lock_fd = -EBADF, .d = p->m.layers[i]};
                b->d.media_type = NULL; /* owned by p->m */
                memcpy(b->diff_hex, p->cfg.diff_ids[i], sizeof b->diff_hex);
                if (store_blob_path(s, b->d.hex, &bpath) < 0 || store_layer_path(s, b->diff_hex, &lpath) < 0)
                        return -ENOMEM;
                /* The same layer twice in one image is downloaded and unpacked once. */
                bool dup = false;
                for (size_t k = 0; k < i; k++)
                        dup = dup || streq(p->blobs[k].d.hex, b->d.hex);
                bool have_blob = stat(bpath, &st) == 0 && (uint64_t) st.st_size == b->d.size;
                bool have_layer = access(lpath, F_OK) == 0;
                b->download = !have_blob && !dup;
                if (b->download) {
                        if (asprintf(&b->blob_path, "%s/blob-%zu", p->staging, i) < 0)
                                return -ENOMEM;
                        p->prog.bytes_total += b->d.size;
                } else if (!dup) /* in the store: unpacked from there when its tree is missing */
                        b->blob_path = TAKE_PTR(bpath);
                /* A duplicate waits for nothing: the commit renames the first copy into place before it checks. */
                if (!have_layer && !dup && asprintf(&b->unpack_dir, "%s/layer-%zu", p->staging, i) < 0)
                        return -ENOMEM;
                if (!b->download) {
                        p->prog.layers_skipped++;
                        pull_report(p, "skipped", b->d.hex);
                }
        }
        return 0;
}

static void config_fetched(Req *q, int r) {
        Pull *p = q->pull;
        char what[128], hex[SHA256_HEX_LEN + 1];
        _cleanup_json_ json_t *j = NULL;
        snprintf(what, sizeof what, "config sha256:%s", p->m.config.hex);
        if (r >= 0 && q->status != 200)
                r = req_http_error(p, q, what);
        else if (r < 0)
                r = req_transport_error(p, q, r, what);
        if (r >= 0)
                r = sha256_hex(q->buf ?: "", q->size, hex);
        if (r >= 0 && (!streq(hex, p->m.config.hex) || q->size != p->m.config.size))
                r = error_set(&p->e, -EBADMSG, "%s: digest mismatch: the registry sent %zu bytes with digest sha256:%s",
                              what, q->size, hex);
        if (r >= 0)
                r = jx_parse(q->buf ?: "", q->size, what, &j, &p->e);
        if (r >= 0)
                r = image_config_parse(j, what, &p->cfg, &p->e);
        if (r >= 0 && p->cfg.n_diff_ids != p->m.n_layers)
                r = error_set(&p->e, -EBADMSG, "manifest sha256:%s has %zu layers but %s lists %zu rootfs.diff_ids",
                              p->manifest_hex, p->m.n_layers, what, p->cfg.n_diff_ids);
        if (r >= 0)
                r = stage_file(p, "config", q->buf ?: "", q->size);
        p->req = req_free(q);
        if (r >= 0)
                r = layers_plan(p);
        if (r < 0)
                return pull_fail(p, r);
        pull_report(p, "manifest", NULL);
        pull_schedule(p);
        if (!p->finished && p->n_blobs == 0)
                pull_maybe_commit(p);
}

static bool platform_matches(Pull *p, const json_t *platform) {
        const char *os = json_string_value(json_object_get(platform, "os"));
        const char *arch = json_string_value(json_object_get(platform, "architecture"));
        const char *variant = json_string_value(json_object_get(platform, "variant"));
        if (!streq_ptr(os, p->os) || !streq_ptr(arch, p->arch))
                return false;
        if (!p->variant)
                return true;
        /* Like containerd's platforms matcher: arm64 without a variant is v8. */
        return streq_ptr(variant, p->variant) || (!variant && streq(p->arch, "arm64") && streq(p->variant, "v8"));
}

static int index_select(Pull *p, const json_t *j, const char *what) {
        json_t *manifests = json_object_get(j, "manifests"), *d;
        size_t i;
        char path[320];
        if (!json_is_array(manifests))
                return error_set(&p->e, -EBADMSG, "%s: manifests: expected an array", what);
        json_array_foreach (manifests, i, d) {
                Descriptor desc = {};
                snprintf(path, sizeof path, "%s: manifests[%zu]", what, i);
                if (!platform_matches(p, json_object_get(d, "platform")))
                        continue;
                int r = descriptor_parse(d, path, &desc, &p->e);
                if (r < 0)
                        return r;
                bool ok = streq(desc.media_type, MT_OCI_MANIFEST) || streq(desc.media_type, MT_DOCKER_MANIFEST);
                free(desc.media_type);
                if (!ok)
                        continue;
                char digest[DIGEST_STR_MAX];
                snprintf(digest, sizeof digest, "sha256:%s", desc.hex);
                free(p->digest);
                p->digest = strdup(digest); /* what the manifest must hash to */
                RET_NULL_ENOMEM(p->digest);
                return fetch_manifest(p, digest);
        }
        return error_set(&p->e, -ENOENT, "%s: no manifest for platform %s/%s%s%s", what, p->os, p->arch,
                         p->variant ? "/" : "", strempty(p->variant));
}

static int manifest_handle(Pull *p, Req *q, int r) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *ct = NULL;
        char what[256], hex[SHA256_HEX_LEN + 1];
        bool is_index;
        if (p->digest)
                snprintf(what, sizeof what, "manifest %s", p->digest);
        else
                snprintf(what, sizeof what, "manifest of tag '%s'", strempty(p->tag));
        if (r >= 0 && q->status != 200)
                r = req_http_error(p, q, what);
        else if (r < 0)
                r = req_transport_error(p, q, r, what);
        if (r < 0)
                return r;
        if (req_content_type(q)) {
                ct = strndup(req_content_type(q), strcspn(req_content_type(q), "; "));
                if (!ct)
                        return -ENOMEM;
        }
        if (ct && (streq(ct, MT_DOCKER_SCHEMA1) || streq(ct, MT_DOCKER_SCHEMA1_SIGNED))) {
                r = error_set(&p->e, -EPROTONOSUPPORT,
                              "%s: Docker schema 1 manifests are not supported (deprecated since 2017; push the image "
                              "again with a current docker, podman or skopeo)",
                              what);
                return r;
        }
        if (ct && (streq(ct, "text/html") || startswith(ct, "text/"))) {
                r = error_set(&p->e, -EBADMSG, "%s: the registry answered with a %s page, not a manifest", what, ct);
                return r;
        }
        r = sha256_hex(q->buf ?: "", q->size, hex);
        if (r < 0)
                return r;
        if (p->digest && !streq(p->digest + STRLEN("sha256:"), hex)) {
                r = error_set(&p->e, -EBADMSG,
                              "%s: digest mismatch: the registry sent a manifest with digest sha256:%s", what, hex);
                return r;
        }
        r = jx_parse(q->buf ?: "", q->size, what, &j, &p->e);
        if (r < 0)
                return r;
        if (!json_is_object(j)) {
                r = error_set(&p->e, -EBADMSG, "%s: expected an object, got %s", what, json_type_name(j));
                return r;
        }
        json_t *sv = json_object_get(j, "schemaVersion");
        if (json_is_integer(sv) && json_integer_value(sv) == 1) {
                r = error_set(&p->e, -EPROTONOSUPPORT,
                              "%s: Docker schema 1 manifests are not supported (deprecated since 2017; push the image "
                              "again with a current docker, podman or skopeo)",
                              what);
                return r;
        }
        const char *mt = json_string_value(json_object_get(j, "mediaType")) ?: ct;
        is_index = streq_ptr(mt, MT_OCI_INDEX) || streq_ptr(mt, MT_DOCKER_LIST) ||
                   (!json_object_get(j, "config") && json_is_array(json_object_get(j, "manifests")));
        if (is_index) {
                if (p->manifest_hex[0]) /* an index pointing at an index */
                        return error_set(&p->e, -EBADMSG, "%s: nested image indexes are not supported", what);
                memcpy(p->manifest_hex, hex, sizeof hex); /* marks "seen an index" */
                return index_select(p, j, what);
        }
        if (mt && !streq(mt, MT_OCI_MANIFEST) && !streq(mt, MT_DOCKER_MANIFEST)) {
                r = error_set(&p->e, -EBADMSG, "%s: unsupported media type '%s'", what, mt);
                return r;
        }
        r = manifest_parse(j, what, &p->m, &p->e);
        if (r >= 0)
                r = stage_file(p, "manifest", q->buf ?: "", q->size);
        if (r < 0)
                return r;
        memcpy(p->manifest_hex, hex, sizeof hex);
        _cleanup_free_ char *url = NULL;
        char digest[DIGEST_STR_MAX];
        snprintf(digest, sizeof digest, "sha256:%s", p->m.config.hex);
        r = url_for(p, "blobs", digest, &url);
        if (r < 0)
                return r;
        return req_start(p, url, NULL, p->auth, JSON_BLOB_MAX, NULL, 0, config_fetched, &p->req);
}

static void manifest_fetched(Req *q, int r) {
        Pull *p = q->pull;
        r = manifest_handle(p, q, r);
        if (p->req == q) /* else it is the next request */
                p->req = NULL;
        req_free(q);
        if (r < 0)
                pull_fail(p, r);
}

static int fetch_manifest(Pull *p, const char *ref) {
        _cleanup_free_ char *url = NULL;
        int r = url_for(p, "manifests", ref, &url);
        if (r < 0)
                return r;
        return req_start(p, url, ACCEPT_MANIFESTS, p->auth, PULL_MANIFEST_MAX, NULL, 0, manifest_fetched, &p->req);
}

/* ---- authentication ---- */

static int basic_header(const char *user, const char *pass, char **ret) {
        _cleanup_free_ char *plain = NULL, *b64 = NULL;
        if (asprintf(&plain, "%s:%s", user, pass) < 0)
                return -ENOMEM;
        int r = pull_base64_encode(plain, &b64);
        explicit_bzero(plain, strlen(plain));
        if (r < 0)
                return r;
        if (asprintf(ret, "Authorization: Basic %s", b64) < 0)
                return -ENOMEM;
        return 0;
}

static void token_fetched(Req *q, int r) {
        Pull *p = q->pull;
        _cleanup_json_ json_t *j = NULL;
        const char *what = "token server";
        if (r >= 0 && q->status != 200)
                r = req_http_error(p, q, what);
        else if (r < 0)
                r = req_transport_error(p, q, r, what);
        if (r >= 0)
                r = jx_parse(q->buf ?: "", q->size, what, &j, &p->e);
        const char *tok = NULL;
        if (r >= 0) {
                /* distribution token spec: "token", with "access_token" as the OAuth2-compatible alias */
                tok = json_string_value(json_object_get(j, "token"))
                              ?: json_string_value(json_object_get(j, "access_token"));
                if (isempty(tok))
                        r = error_set(&p->e, -EBADMSG, "%s: answer has no token", what);
        }
        p->req = req_free(q);
        if (r >= 0 && asprintf(&p->auth, "Authorization: Bearer %s", tok) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = fetch_manifest(p, p->digest ?: p->tag);
        if (r < 0)
                pull_fail(p, r);
}

static int handle_challenge(Pull *p, Req *q) {
        struct curl_header *h = NULL;
        _cleanup_(auth_challenge_done) AuthChallenge c = {};
        bool have_creds = p->user && p->pass;
        for (size_t i = 0; curl_easy_header(q->curl, "WWW-Authenticate", i, CURLH_HEADER, -1, &h) == CURLHE_OK; i++) {
                auth_challenge_done(&c);
                if (auth_challenge_parse(h->value, &c) < 0)
                        return error_set(&p->e, -EBADMSG, "registry %s: cannot parse WWW-Authenticate '%s'",
                                         p->api_host, h->value);
                if (strcasecmp(c.scheme, "Bearer") == 0 || strcasecmp(c.scheme, "Basic") == 0)
                        break;
        }
        if (!c.scheme)
                return error_set(&p->e, -EACCES, "registry %s: HTTP 401 without a WWW-Authenticate challenge",
                                 p->api_host);
        if (strcasecmp(c.scheme, "Basic") == 0) {
                if (!have_creds)
                        return fetch_manifest(p, p->digest ?: p->tag); /* the registry's own 401 message */
                int r = basic_header(p->user, p->pass, &p->auth);
                if (r < 0)
                        return r;
                return fetch_manifest(p, p->digest ?: p->tag);
        }
        if (strcasecmp(c.scheme, "Bearer") != 0)
                return error_set(&p->e, -EOPNOTSUPP, "registry %s: unsupported authentication scheme '%s'", p->api_host,
                                 c.scheme);
        if (isempty(c.realm) || !(startswith(c.realm, "https://") || startswith(c.realm, "http://")))
                return error_set(&p->e, -EBADMSG, "registry %s: WWW-Authenticate Bearer challenge has no usable realm",
                                 p->api_host);
        _cleanup_free_ char *url = NULL, *scope = NULL, *creds = NULL;
        _cleanup_(curl_easy_cleanupp) CURL *esc = curl_easy_init();
        RET_NULL_ENOMEM(esc);
        if (asprintf(&scope, "repository:%s:pull", p->path) < 0)
                return -ENOMEM;
        char *es = curl_easy_escape(esc, scope, 0), *ev = c.service ? curl_easy_escape(esc, c.service, 0) : NULL;
        int k = es ? asprintf(&url, "%s%sscope=%s%s%s", c.realm, strchr(c.realm, '?') ? "&" : "?", es,
                              ev ? "&service=" : "", strempty(ev))
                   : -1;
        curl_free(es);
        curl_free(ev);
        if (k < 0)
                return -ENOMEM;
        if (have_creds) {
                int r = basic_header(p->user, p->pass, &creds);
                if (r < 0)
                        return r;
        }
        return req_start(p, url, NULL, creds, 64 * 1024, NULL, 0, token_fetched, &p->req);
}

static int ping(Pull *p);

static void ping_fetched(Req *q, int r) {
        Pull *p = q->pull;
        char what[256];
        snprintf(what, sizeof what, "registry %s", p->base);
        if (r < 0 && p->plain_http_allowed && !p->tried_http) {
                /* Like docker and containerd for insecure registries: HTTPS first, then plain HTTP. */
                snprintf(p->https_error, sizeof p->https_error, "%s", q->curl_error[0] ? q->curl_error : strerror(-r));
                p->req = req_free(q);
                p->tried_http = true;
                const char *rest = startswith(p->base, "https://") ?: p->base;
                char *base = NULL;
                if (asprintf(&base, "http://%s", rest) < 0)
                        return pull_fail(p, -ENOMEM);
                free(p->base);
                p->base = base;
                r = ping(p);
                if (r < 0)
                        pull_fail(p, r);
                return;
        }
        if (r < 0 && p->tried_http)
                r = error_set(&p->e, r, "registry %s: HTTPS: %s; plain HTTP: %s", p->api_host, p->https_error,
                              q->curl_error[0] ? q->curl_error : strerror(-r));
        else if (r < 0)
                r = req_transport_error(p, q, r, what);
        else if (q->status == 401)
                r = handle_challenge(p, q);
        else if (q->status == 200)
                r = fetch_manifest(p, p->digest ?: p->tag);
        else if (p->tried_http)
                /* Plain HTTP to a TLS port (400) says nothing: why HTTPS failed does. */
                r = error_set(&p->e, -EIO, "registry %s: HTTPS: %s; plain HTTP: HTTP %ld", p->api_host, p->https_error,
                              q->status);
        else
                r = req_http_error(p, q, what);
        if (p->req == q)
                p->req = NULL;
        req_free(q);
        if (r < 0)
                pull_fail(p, r);
}

static int ping(Pull *p) {
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s/", p->base) < 0)
                return -ENOMEM;
        return req_start(p, url, NULL, NULL, PULL_ERROR_BODY_MAX, NULL, 0, ping_fetched, &p->req);
}

/* ---- setup ---- */

static bool host_is_loopback(const char *host) {
        return startswith(host, "127.") || streq(host, "localhost") || startswith(host, "localhost:") ||
               startswith(host, "[::1]");
}

/* Switches to hosts[idx]: its URL, TLS settings and credentials (see registry.h for whose). */
static int pull_use_host(Pull *p, size_t idx) {
        const RegistryHost *h = &p->hosts.hosts[idx];
        p->host_idx = idx;
        free(p->api_host);
        free(p->base);
        p->api_host = strdup(h->host);
        p->base = strdup(h->api);
        if (!p->api_host || !p->base)
                return -ENOMEM;
        /* Plain HTTP: an http:// host as configured; else HTTPS first, then HTTP for loopback and insecure ones. */
        p->plain_http_allowed = false;
        if (!h->plain_http) {
                p->plain_http_allowed = host_is_loopback(h->host);
                for (char **i = p->insecure; i && *i; i++)
                        p->plain_http_allowed =
                                p->plain_http_allowed || streq(*i, h->host) || (h->upstream && streq(*i, p->host));
        }
        p->tls_verify_off = p->opt_tls_verify_off || h->skip_verify;
        p->ca_file = h->ca_file ?: p->opt_ca_file;

        if (p->pass)
                explicit_bzero(p->pass, strlen(p->pass));
        p->user = mfree(p->user);
        p->pass = mfree(p->pass);
        if (h->upstream && p->opt_user) {
                p->user = strdup(p->opt_user);
                p->pass = strdup(p->opt_pass);
                if (!p->user || !p->pass)
                        return -ENOMEM;
                return 0;
        }
        /* The pod's credentials first, then the node's, like the kubelet's keyring; both were checked by
         * pull_setup(). A mirror's are its own host's: the image registry's are never sent elsewhere. */
        const char *key = h->upstream ? p->host : h->host;
        int r = 0;
        if (p->auth_json)
                r = pull_auth_lookup(p->auth_json, key, p->path, &p->user, &p->pass, NULL);
        if (r >= 0 && !p->user && p->node_auth_json)
                r = pull_auth_lookup(p->node_auth_json, key, p->path, &p->user, &p->pass, NULL);
        return r == -ENOMEM ? r : 0;
}

static int pull_setup(ImagePuller *pl, Pull *p, const PullOptions *o, ErrorBuf *e) {
        _cleanup_free_ char *repo = NULL, *u = NULL, *pw = NULL;
        int r = reference_normalize(o->ref, &p->ref, e);
        if (r < 0)
                return r;
        r = reference_split(p->ref, &repo, &p->tag, &p->digest);
        if (r < 0)
                return r;
        char *slash = strchr(repo, '/');
        if (!slash)
                return error_set(e, -EINVAL, "invalid reference '%s': no registry", o->ref);
        p->host = strndup(repo, (size_t) (slash - repo));
        p->path = strdup(slash + 1);
        if (!p->host || !p->path || (p->digest && !(p->orig_digest = strdup(p->digest))))
                return -ENOMEM;
        if (o->platform)
                r = pull_platform_parse(o->platform, &p->os, &p->arch, &p->variant, e);
        else if (!(p->os = strdup("linux")) || !(p->arch = strdup(HOST_ARCH)))
                r = -ENOMEM;
        if (r < 0)
                return r;
        if (o->username) {
                p->opt_user = strdup(o->username);
                p->opt_pass = strdup(strempty(o->password));
                if (!p->opt_user || !p->opt_pass)
                        return -ENOMEM;
        }
        if (o->auth_json) {
                /* A malformed file is the caller's to fix: said now, not silently skipped. */
                r = pull_auth_lookup(o->auth_json, p->host, p->path, &u, &pw, e);
                if (pw)
                        explicit_bzero(pw, strlen(pw));
                if (r < 0)
                        return r;
                if (!(p->auth_json = strdup(o->auth_json)))
                        return -ENOMEM;
        }
        if (o->node_auth_json && !(p->node_auth_json = strdup(o->node_auth_json)))
                return -ENOMEM;
        if (o->insecure_registries && !(p->insecure = strv_copy(o->insecure_registries)))
                return -ENOMEM;
        p->opt_tls_verify_off = o->tls_verify_off;
        if (o->ca_file && !(p->opt_ca_file = strdup(o->ca_file)))
                return -ENOMEM;
        /* Docker Hub's API lives on another name than its references use. */
        r = registry_hosts_load(o->registry_config_dir, p->host,
                                streq(p->host, "docker.io") ? "registry-1.docker.io" : p->host, &p->hosts, e);
        if (r < 0)
                return r;
        /* The first host that can serve this pull; the upstream always can. */
        p->host_idx = (size_t) -1;
        size_t first = 0;
        while (first + 1 < p->hosts.n &&
               !(p->hosts.hosts[first].pull && (p->orig_digest || p->hosts.hosts[first].resolve)))
                first++;
        r = pull_use_host(p, first);
        if (r < 0)
                return r;
        p->concurrency = o->concurrency ?: PULL_DEFAULT_CONCURRENCY;
        p->stall_sec = o->stall_timeout_sec ?: PULL_DEFAULT_STALL_TIMEOUT_SEC;
        p->progress = o->progress;
        p->progress_userdata = o->progress_userdata;
        if (asprintf(&p->staging, "%s/pull-XXXXXX", pl->partial) < 0)
                return -ENOMEM;
        if (!mkdtemp(p->staging)) {
                r = -errno;
                p->staging = mfree(p->staging);
                return error_set(e, r, "%s: cannot create staging directory: %s", pl->partial, strerror(-r));
        }
        p->staging_fd = open(p->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (p->staging_fd < 0 || flock(p->staging_fd, LOCK_EX) < 0)
                return -errno;
        return 0;
}

static bool pull_same(const Pull *p, const char *ref, const PullOptions *o) {
        _cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL;
        if (!streq(p->ref, ref))
                return false;
        if (!o->platform)
                return streq(p->os, "linux") && streq(p->arch, HOST_ARCH) && !p->variant;
        if (pull_platform_parse(o->platform, &os, &arch, &variant, NULL) < 0)
                return false;
        return streq(p->os, os) && streq(p->arch, arch) && streq_ptr(p->variant, variant);
}

int image_pull_async(ImagePuller *pl, const PullOptions *o, pull_done_fn done, void *userdata, ImagePull **ret,
                     ErrorBuf *e) {
        _cleanup_free_ ImagePull *w = calloc(1, sizeof *w);
        _cleanup_free_ char *norm = NULL;
        RET_NULL_ENOMEM(w);
        *w = (ImagePull){.done = done, .userdata = userdata};
        int r = reference_normalize(o->ref, &norm, e);
        if (r < 0)
                return r;
        for (Pull *p = pl->pulls; p; p = p->next)
                if (pull_same(p, norm, o)) {
                        w->pull = p;
                        w->next = p->waiters;
                        p->waiters = w;
                        if (ret)
                                *ret = w;
                        w = NULL;
                        return 0;
                }
        Pull *p = calloc(1, sizeof *p);
        RET_NULL_ENOMEM(p);
        *p = (Pull){.puller = pl, .n_ref = 2, .staging_fd = -EBADF}; /* the list's and the caller's */
        r = pull_setup(pl, p, o, e);
        if (r >= 0)
                r = ping(p);
        if (r < 0) {
                p->finished = true;
                p->req = req_free(p->req);
                p->n_ref = 1;
                pull_unref(p);
                return r;
        }
        p->next = pl->pulls;
        if (pl->pulls)
                pl->pulls->prev = p;
        pl->pulls = p;
        w->pull = p;
        p->waiters = w;
        if (ret)
                *ret = w;
        w = NULL;
        return 0;
}

void image_pull_cancel(ImagePull *h) {
        if (!h)
                return;
        Pull *p = h->pull;
        for (ImagePull **i = &p->waiters; *i; i = &(*i)->next)
                if (*i == h) {
                        *i = h->next;
                        break;
                }
        free(h);
        if (!p->waiters && !p->finished) {
                pull_stop(p);
                pull_unref(p); /* the caller's */
                pull_unref(p); /* the list's */
        }
}

/* Partial downloads and staging directories nobody holds a lock on: left by a pull that died. Part files are kept
 * for a while for resumption; staging directories hold nothing resumable. */
static void partial_gc(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        time_t now = time(NULL);
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                struct stat st;
                bool part = endswith(de->d_name, ".part");
                if (!part && !startswith(de->d_name, "pull-"))
                        continue;
                if (path_join(&path, dir, de->d_name) < 0)
                        return;
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || fstat(fd, &st) < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                if (part && now - st.st_mtime < PULL_PARTIAL_MAX_AGE_SEC)
                        continue;
                (void) rm_rf(path);
        }
}

int image_puller_new(ImageStore *s, CurlGlue *g, sd_event *e, ImagePuller **ret) {
        _cleanup_(image_puller_freep) ImagePuller *p = calloc(1, sizeof *p);
        RET_NULL_ENOMEM(p);
        *p = (ImagePuller){.store = s, .glue = g, .event = e};
        int r = path_join(&p->partial, s->dir, "partial");
        if (r < 0)
                return r;
        r = mkdir_p(p->partial, 0700);
        if (r < 0)
                return r;
        r = work_pool_new(e, 2, &p->pool);
        if (r < 0)
                return r;
        partial_gc(p->partial);
        *ret = TAKE_PTR(p);
        return 0;
}

ImagePuller *image_puller_free(ImagePuller *p) {
        if (!p)
                return NULL;
        /* First the pool: it waits for running jobs and drops queued ones, so no done() can come later. */
        p->pool = work_pool_free(p->pool);
        while (p->pulls) {
                Pull *x = p->pulls;
                for (ImagePull *w = TAKE_PTR(x->waiters), *next; w; w = next) {
                        next = w->next;
                        free(w);
                }
                pull_stop(x);
                x->n_ref = 1;
                pull_unref(x);
        }
        free(p->partial);
        free(p);
        return NULL;
}

/* ---- blocking ---- */

typedef struct SyncPull {
        sd_event *event;
        int r;
        ImageInfo *info;
        ErrorBuf *e;
} SyncPull;

static int image_info_copy(const ImageInfo *i, ImageInfo **ret) {
        _cleanup_(image_info_freep) ImageInfo *c = calloc(1, sizeof *c);
        RET_NULL_ENOMEM(c);
        c->id = strdup(i->id);
        c->manifest_digest = strdup(i->manifest_digest);
        c->refs = strv_copy(i->refs);
        c->entrypoint = strv_copy(i->entrypoint);
        c->cmd = strv_copy(i->cmd);
        c->env = strv_copy(i->env);
        c->layer_dirs = strv_copy(i->layer_dirs);
        c->size = i->size;
        if (!c->id || !c->manifest_digest || !c->refs || !c->entrypoint || !c->cmd || !c->env || !c->layer_dirs)
                return -ENOMEM;
        if ((i->working_dir && !(c->working_dir = strdup(i->working_dir))) ||
            (i->user && !(c->user = strdup(i->user))) || (i->stop_signal && !(c->stop_signal = strdup(i->stop_signal))))
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

static void sync_done(int r, const ImageInfo *info, const char *message, void *userdata) {
        SyncPull *sp = userdata;
        sp->r = r;
        if (r < 0)
                (void) error_set(sp->e, r, "%s", message);
        else
                sp->r = image_info_copy(info, &sp->info);
        (void) sd_event_exit(sp->event, 0);
}

int image_pull(ImageStore *s, const PullOptions *o, ImageInfo **ret, ErrorBuf *e) {
        _cleanup_event_ sd_event *ev = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        _cleanup_(image_puller_freep) ImagePuller *pl = NULL;
        SyncPull sp = {.r = -EIO, .e = e};
        int r = sd_event_new(&ev);
        if (r < 0)
                return r;
        sp.event = ev;
        r = curl_glue_new(ev, &g);
        if (r >= 0)
                r = image_puller_new(s, g, ev, &pl);
        if (r >= 0)
                r = image_pull_async(pl, o, sync_done, &sp, NULL, e);
        if (r >= 0)
                r = sd_event_loop(ev);
        if (r < 0)
                return r;
        if (sp.r < 0) {
                image_info_free(sp.info);
                return sp.r;
        }
        if (ret)
                *ret = TAKE_PTR(sp.info);
        image_info_free(sp.info);
        return 0;
}
