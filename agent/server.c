/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's HTTP endpoints, all on the daemon's loop (common/http-server.h):
 *   healthz port (127.0.0.1:10248): /healthz
 *   main port (:10250, HTTPS; self-signed in --cert-dir unless --tls-cert-file): /healthz, /pods, /metrics,
 *       /containerLogs/{namespace}/{pod}/{container}?tailLines=&previous=&timestamps=&follow=
 *   read-only port (off unless --read-only-port): plain HTTP /healthz, /pods, /metrics
 *   both full ports: /stats/summary (agent/stats-summary.h)
 * The main port authenticates and authorizes every request like the kubelet (agent/kubelet-auth.h); the read-only
 * and healthz ports do not.
 * /healthz fails ("[-]syncloop failed") when the loop or the work pool stopped making progress: a heartbeat job is
 * sent through the pool every few seconds, and its completion on the loop is what /healthz checks, like the
 * kubelet's syncloop check (pleg/syncLoop health within a few minutes). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/kubelet-auth.h"
#include "agent/stats-summary.h"
#include "agent/streaming.h"
#include "common/fileio.h"
#include "common/http-server.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/tls-util.h"
#include "runtime/logs.h"

#define HEARTBEAT_PERIOD_USEC (5 * USEC_PER_SEC)
#define HEARTBEAT_STALL_USEC (120 * USEC_PER_SEC)
#define FOLLOW_POLL_USEC (250 * USEC_PER_MSEC)

/* ---- heartbeat ---- */

static int heartbeat_work(void *userdata) {
        return 0;
}

static void heartbeat_done(int result, void *userdata) {
        Manager *m = userdata;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &m->last_heartbeat_usec);
        m->heartbeat_pending = false;
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (!m->heartbeat_pending && work_pool_submit(m->pool, heartbeat_work, heartbeat_done, m) >= 0)
                m->heartbeat_pending = true;
        (void) sd_event_source_set_time_relative(s, HEARTBEAT_PERIOD_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static bool manager_healthy(Manager *m) {
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        return now - m->last_heartbeat_usec < HEARTBEAT_STALL_USEC;
}

static int handle_healthz(HttpRequest *r, void *userdata) {
        Manager *m = userdata;
        if (!manager_healthy(m))
                return http_respond_text(r, 500,
                                         "[-]syncloop failed: the work pool made no progress\nhealthz check failed\n");
        return http_respond_text(r, 200, "ok");
}

/* ---- /pods ---- */

static int handle_pods(HttpRequest *r, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_t *items = json_array();
        if (!items)
                return -ENOMEM;
        for (PodWorker *w = m->workers; w; w = w->next) {
                json_t *p = pod_worker_pod_json(w);
                if (p)
                        (void) json_array_append_new(items, p);
        }
        _cleanup_json_ json_t *list =
                json_pack("{s:s, s:s, s:{}, s:O}", "kind", "PodList", "apiVersion", "v1", "metadata", "items", items);
        if (!list)
                return -ENOMEM;
        char *body = json_dumps(list, JSON_COMPACT);
        if (!body)
                return -ENOMEM;
        return http_respond(r, 200, "application/json", body, strlen(body));
}

/* ---- /metrics ---- */

typedef struct Buf {
        char *data;
        size_t size, alloc;
        bool oom;
} Buf;

static void bprintf(Buf *b, const char *fmt, ...) _printf_(2, 3);
static void bprintf(Buf *b, const char *fmt, ...) {
        if (b->oom)
                return;
        for (;;) {
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(b->data ? b->data + b->size : NULL, b->data ? b->alloc - b->size : 0, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->oom = true;
                        return;
                }
                if (b->data && b->size + (size_t) n < b->alloc) {
                        b->size += (size_t) n;
                        return;
                }
                size_t na = MAX(b->alloc * 2, b->size + (size_t) n + 4096);
                char *nd = realloc(b->data, na);
                if (!nd) {
                        b->oom = true;
                        return;
                }
                b->data = nd;
                b->alloc = na;
        }
}

static int handle_metrics(HttpRequest *r, void *userdata) {
        Manager *m = userdata;
        Buf b = {};
        size_t pods = 0, containers = 0;
        for (PodWorker *w = m->workers; w; w = w->next) {
                pods += w->sandbox_ready && w->state <= W_STOPPING;
                containers += pod_worker_running_containers(w);
        }
        bprintf(&b,
                "# HELP kubelet_running_pods Number of pods that have a running pod sandbox\n"
                "# TYPE kubelet_running_pods gauge\nkubelet_running_pods %zu\n",
                pods);
        bprintf(&b,
                "# HELP kubelet_running_containers Number of containers currently running\n"
                "# TYPE kubelet_running_containers gauge\nkubelet_running_containers{container_state=\"running\"} "
                "%zu\n",
                containers);
        static const char *const le[] = {"0.5", "1",  "2",  "3",  "4",  "5",   "6",   "8",
                                         "10",  "20", "30", "45", "60", "120", "180", "240"};
        bprintf(&b, "# HELP kubelet_pod_start_sli_duration_seconds Duration in seconds to start a pod, excluding time "
                    "to pull images and run init containers, measured from pod creation timestamp to when all its "
                    "containers are reported as started and observed via watch\n"
                    "# TYPE kubelet_pod_start_sli_duration_seconds histogram\n");
        for (size_t i = 0; i < ELEMENTSOF(le); i++)
                bprintf(&b, "kubelet_pod_start_sli_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", le[i],
                        m->metrics.start_buckets[i]);
        bprintf(&b,
                "kubelet_pod_start_sli_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
                "\nkubelet_pod_start_sli_duration_seconds_sum %.6f\nkubelet_pod_start_sli_duration_seconds_count "
                "%" PRIu64 "\n",
                m->metrics.start_count, m->metrics.start_sum, m->metrics.start_count);
        bprintf(&b, "# HELP prober_probe_total Cumulative number of a liveness, readiness or startup probe for a "
                    "container by result.\n# TYPE prober_probe_total counter\n");
        static const char *const res[] = {"successful", "failed", "unknown"};
        for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++)
                for (size_t i = 0; i < 3; i++)
                        bprintf(&b, "prober_probe_total{probe_type=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                                probe_kind_to_string(k), res[i], m->metrics.probes[k][i]);
        bprintf(&b, "# HELP prober_probe_duration_seconds Duration in seconds for a probe response.\n"
                    "# TYPE prober_probe_duration_seconds summary\n");
        for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++)
                bprintf(&b,
                        "prober_probe_duration_seconds_sum{probe_type=\"%s\"} %.6f\n"
                        "prober_probe_duration_seconds_count{probe_type=\"%s\"} %" PRIu64 "\n",
                        probe_kind_to_string(k), (double) m->metrics.probe_duration_usec[k] / 1e6,
                        probe_kind_to_string(k),
                        m->metrics.probes[k][0] + m->metrics.probes[k][1] + m->metrics.probes[k][2]);
        bprintf(&b,
                "# HELP nodelet_container_restarts_total Containers restarted by the node agent.\n"
                "# TYPE nodelet_container_restarts_total counter\nnodelet_container_restarts_total %" PRIu64 "\n",
                m->metrics.container_restarts);
        bprintf(&b,
                "# HELP kubelet_pod_worker_duration_seconds Duration in seconds to sync a single pod.\n"
                "# TYPE kubelet_pod_worker_duration_seconds summary\n"
                "kubelet_pod_worker_duration_seconds_sum %.6f\nkubelet_pod_worker_duration_seconds_count %" PRIu64 "\n",
                (double) m->metrics.sync_usec_total / 1e6, m->metrics.syncs);
        bprintf(&b,
                "# HELP nodelet_cni_errors_total Failed CNI ADD operations.\n# TYPE nodelet_cni_errors_total "
                "counter\nnodelet_cni_errors_total %" PRIu64 "\n",
                m->metrics.cni_errors);
        if (b.oom) {
                free(b.data);
                return -ENOMEM;
        }
        return http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.size);
}

/* ---- /containerLogs ---- */

typedef struct LogFollow {
        Manager *m;
        HttpStream *st;
        char *path;
        char *pod_uid, *container;
        int fd;
        ino_t ino;
        char *pending; /* an incomplete line */
        size_t pending_size;
        char *partial; /* content of P records not yet completed by an F record */
        size_t partial_size;
        bool timestamps;
        sd_event_source *timer;
        bool blocked;
} LogFollow;

static void follow_free(LogFollow *f) {
        f->timer = sd_event_source_disable_unref(f->timer);
        safe_close(f->fd);
        free(f->path);
        free(f->pod_uid);
        free(f->container);
        free(f->pending);
        free(f->partial);
        free(f);
}

/* Appends the decoded content of complete CRI records in data to out (with "<ts> " prefixes when asked). */
static int decode_records(const char *data, size_t size, bool timestamps, char **partial, size_t *partial_size,
                          Buf *out) {
        size_t off = 0;
        while (off < size) {
                const char *nl = memchr(data + off, '\n', size - off);
                if (!nl)
                        break;
                size_t n = (size_t) (nl - (data + off)) + 1;
                CriLogLine l;
                if (cri_log_parse_line(data + off, n, &l) >= 0) {
                        if (l.partial) {
                                char *np = realloc(*partial, *partial_size + l.content_size + 1);
                                if (!np)
                                        return -ENOMEM;
                                memcpy(np + *partial_size, l.content, l.content_size);
                                *partial = np;
                                *partial_size += l.content_size;
                        } else {
                                if (timestamps)
                                        bprintf(out, "%s ", l.timestamp);
                                bprintf(out, "%.*s%.*s\n", (int) *partial_size, *partial ? *partial : "",
                                        (int) l.content_size, l.content);
                                *partial_size = 0;
                        }
                }
                off += n;
        }
        return (int) off;
}

static void follow_pump(LogFollow *f);

static int on_follow_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        follow_pump(userdata);
        return 0;
}

static bool follow_container_running(LogFollow *f) {
        PodWorker *w = manager_find_worker(f->m, f->pod_uid);
        if (!w)
                return false;
        for (size_t i = 0; i < w->n_init + w->n_app; i++) {
                CState *cs = i < w->n_init ? &w->init[i] : &w->app[i - w->n_init];
                if (streq(cs->spec->name, f->container))
                        return cs->phase == CS_RUNNING || cs->phase == CS_STARTING;
        }
        return false;
}

static void follow_pump(LogFollow *f) {
        Buf out = {};
        char buf[65536];
        bool running = follow_container_running(f);
        for (;;) {
                if (f->blocked)
                        break;
                ssize_t n = read(f->fd, buf, sizeof(buf));
                if (n <= 0) {
                        /* Rotated? The kubelet follows the new file. */
                        struct stat st;
                        if (stat(f->path, &st) == 0 && st.st_ino != f->ino) {
                                int fd = open(f->path, O_RDONLY | O_CLOEXEC);
                                if (fd >= 0) {
                                        safe_close(f->fd);
                                        f->fd = fd;
                                        f->ino = st.st_ino;
                                        continue;
                                }
                        }
                        break;
                }
                char *np = realloc(f->pending, f->pending_size + (size_t) n);
                if (!np)
                        break;
                memcpy(np + f->pending_size, buf, (size_t) n);
                f->pending = np;
                f->pending_size += (size_t) n;
                int used =
                        decode_records(f->pending, f->pending_size, f->timestamps, &f->partial, &f->partial_size, &out);
                if (used > 0) {
                        memmove(f->pending, f->pending + used, f->pending_size - (size_t) used);
                        f->pending_size -= (size_t) used;
                }
                if (out.size > 256 * 1024)
                        break;
        }
        if (out.size > 0) {
                int r = http_stream_write(f->st, out.data, out.size);
                if (r == -ENOBUFS)
                        f->blocked = true; /* resumes on HTTP_STREAM_DRAINED; this chunk is dropped: rare */
        }
        free(out.data);
        if (!running && !f->blocked) {
                /* The container is gone and everything it wrote is sent: the kubelet ends the stream too. */
                http_stream_end(f->st);
                follow_free(f);
                return;
        }
        f->timer = sd_event_source_disable_unref(f->timer);
        (void) sd_event_add_time_relative(f->m->event, &f->timer, CLOCK_MONOTONIC, FOLLOW_POLL_USEC, 0, on_follow_timer,
                                          f);
}

static void on_follow_event(HttpStream *st, HttpStreamEvent ev, void *userdata) {
        LogFollow *f = userdata;
        if (ev == HTTP_STREAM_CLOSED) {
                follow_free(f);
                return;
        }
        f->blocked = false;
        follow_pump(f);
}

static CState *find_container(Manager *m, const char *ns, const char *pod, const char *container, PodWorker **ret_w) {
        for (PodWorker *w = m->workers; w; w = w->next) {
                if (!streq(w->pod->namespace_, ns) || !streq(w->pod->name, pod))
                        continue;
                *ret_w = w;
                for (size_t i = 0; i < w->n_init + w->n_app; i++) {
                        CState *cs = i < w->n_init ? &w->init[i] : &w->app[i - w->n_init];
                        if (streq(cs->spec->name, container))
                                return cs;
                }
                return NULL;
        }
        *ret_w = NULL;
        return NULL;
}

static bool query_true(HttpRequest *r, const char *key) {
        const char *v = http_request_query(r, key);
        return v && (streq(v, "") || streq(v, "true") || streq(v, "1"));
}

static int handle_container_logs(HttpRequest *r, void *userdata) {
        Manager *m = userdata;
        char ns[254], pod[254], container[254];
        const char *rest = http_request_path_rest(r);
        if (sscanf(rest, "%253[^/]/%253[^/]/%253[^/]", ns, pod, container) != 3)
                return http_respond_text(r, 400, "usage: /containerLogs/{namespace}/{pod}/{container}\n");
        PodWorker *w = NULL;
        CState *cs = find_container(m, ns, pod, container, &w);
        if (!w)
                return http_respond_text(r, 404, "pod not found\n");
        if (!cs) {
                char msg[600];
                snprintf(msg, sizeof(msg), "container %s is not valid for pod %s\n", container, pod);
                return http_respond_text(r, 400, msg);
        }
        bool previous = query_true(r, "previous"), timestamps = query_true(r, "timestamps"),
             follow = query_true(r, "follow");
        const char *tail = http_request_query(r, "tailLines");
        long tail_lines = -1;
        if (tail) {
                char *end;
                tail_lines = strtol(tail, &end, 10);
                if (*end || tail_lines < 0)
                        return http_respond_text(r, 400, "tailLines: must be a non-negative integer\n");
        }
        Container *c = previous ? cs->previous : cs->current;
        if (previous && !c && cs->current && cs->phase == CS_EXITED && cs->reason[0])
                c = cs->current; /* waiting to restart: the exited instance is the previous one */
        if (!c) {
                char msg[600];
                snprintf(msg, sizeof(msg), "%s container \"%s\" in pod \"%s\" not found\n",
                         previous ? "previous terminated" : "", container, pod);
                return http_respond_text(r, 400, msg);
        }
        const char *path = container_log_path(c);
        _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -EBADF;
        if (fd < 0)
                return http_respond_text(r, 404, "log file not found\n");
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int k = read_full_fd(fd, 0, &data, &size);
        if (k < 0)
                return http_respond_text(r, 500, "reading the log failed\n");
        Buf out = {};
        char *partial = NULL;
        size_t partial_size = 0;
        int used = decode_records(data, size, timestamps, &partial, &partial_size, &out);
        free(partial);
        if (out.oom || used < 0) {
                free(out.data);
                return -ENOMEM;
        }
        if (tail_lines >= 0 && out.data) {
                /* The start of the last tail_lines lines (every line ends with '\n'). */
                size_t off = out.size, n = 0;
                while (off > 0) {
                        if (out.data[off - 1] == '\n' && off < out.size && ++n == (size_t) tail_lines)
                                break;
                        off--;
                }
                if (tail_lines == 0)
                        off = out.size;
                memmove(out.data, out.data + off, out.size - off);
                out.size -= off;
        }
        if (!follow || previous)
                return http_respond(r, 200, "text/plain; charset=utf-8", out.data ?: strdup(""), out.size);

        LogFollow *f = calloc(1, sizeof(LogFollow));
        if (!f) {
                free(out.data);
                return -ENOMEM;
        }
        f->m = m;
        f->fd = TAKE_FD(fd);
        f->timestamps = timestamps;
        struct stat st;
        if (fstat(f->fd, &st) == 0)
                f->ino = st.st_ino;
        f->pending_size = size - (size_t) used;
        if (f->pending_size > 0 && (f->pending = malloc(f->pending_size)))
                memcpy(f->pending, data + used, f->pending_size);
        else
                f->pending_size = 0;
        if (!(f->path = strdup(path)) || !(f->pod_uid = strdup(w->pod->uid)) || !(f->container = strdup(container))) {
                follow_free(f);
                free(out.data);
                return -ENOMEM;
        }
        int rr = http_respond_stream(r, 200, "text/plain; charset=utf-8", on_follow_event, f, &f->st);
        if (rr < 0) {
                follow_free(f);
                free(out.data);
                return rr;
        }
        if (out.size > 0)
                (void) http_stream_write(f->st, out.data, out.size);
        free(out.data);
        follow_pump(f);
        return rr;
}

/* ---- servers ---- */

static int load_tls(Manager *m, char **ret_cert, char **ret_key) {
        int r;
        if (!isempty(m->cfg.tls_cert_file)) {
                size_t sz;
                r = read_full_file(m->cfg.tls_cert_file, 1 << 20, ret_cert, &sz);
                if (r < 0)
                        return log_error_errno(r, "Failed to read --tls-cert-file %s: %m", m->cfg.tls_cert_file);
                r = read_full_file(m->cfg.tls_key_file, 1 << 20, ret_key, &sz);
                if (r < 0)
                        return log_error_errno(r, "Failed to read --tls-private-key-file %s: %m", m->cfg.tls_key_file);
                return 0;
        }
        /* Like the kubelet: <cert-dir>/kubelet.crt + kubelet.key, self-signed and generated once. */
        _cleanup_free_ char *crt = NULL, *key = NULL;
        if (asprintf(&crt, "%s/nodelet.crt", m->cfg.cert_dir) < 0 ||
            asprintf(&key, "%s/nodelet.key", m->cfg.cert_dir) < 0)
                return -ENOMEM;
        size_t sz;
        if (read_full_file(crt, 1 << 20, ret_cert, &sz) >= 0 && read_full_file(key, 1 << 20, ret_key, &sz) >= 0)
                return 0;
        free(*ret_cert);
        *ret_cert = NULL;
        r = tls_self_signed_generate(m->node_name, m->node_ips, ret_cert, ret_key);
        if (r < 0)
                return log_error_errno(r, "Failed to generate a self-signed serving certificate: %m");
        if (mkdir_p(m->cfg.cert_dir, 0700) >= 0) {
                (void) write_file_atomic(crt, *ret_cert, strlen(*ret_cert), 0644, true);
                (void) write_file_atomic(key, *ret_key, strlen(*ret_key), 0600, true);
        }
        return 0;
}

/* ---- authentication of the secure port (agent/kubelet-auth.h) ---- */

/* authentication.x509.clientCAFile: the CAs client certificates are verified against (read once at start). */
static int load_client_ca(Manager *m, char **ret) {
        const NodeletConfig *c = m->cfg.nodelet_config;
        size_t sz;
        int r;

        if (!c || isempty(c->client_ca_file))
                return 0;
        r = read_full_file(c->client_ca_file, 1 << 20, ret, &sz);
        if (r < 0)
                return log_error_errno(r, "Failed to read --client-ca-file %s: %m", c->client_ca_file);
        return 0;
}

/* Every route of the secure port goes through the kubelet's authentication and authorization filter; the read-only
 * port and the healthz port stay open, as in the kubelet. */
static int server_start_auth(Manager *m) {
        const NodeletConfig *c = m->cfg.nodelet_config;
        KubeletAuthOptions o = {.node_name = m->node_name, .anonymous = true};
        int r;

        if (c)
                o = (KubeletAuthOptions){
                        .node_name = m->node_name,
                        .anonymous = c->anonymous_auth,
                        .webhook_authentication = c->webhook_authentication,
                        .token_cache_ttl_usec = c->webhook_authentication_cache_ttl_usec,
                        .webhook_authorization = c->authorization_mode == AUTHORIZATION_MODE_WEBHOOK,
                        .authorized_ttl_usec = c->webhook_cache_authorized_ttl_usec,
                        .unauthorized_ttl_usec = c->webhook_cache_unauthorized_ttl_usec,
                };
        if (!m->api && (o.webhook_authentication || o.webhook_authorization))
                log_warning("Kubelet API: webhook authentication/authorization configured without --kubeconfig: "
                            "bearer tokens are refused%s",
                            o.webhook_authorization ? " and every request fails authorization" : "");
        r = kubelet_auth_new(m->event, m->api, &o, &m->auth);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the kubelet API authentication: %m");
        http_server_set_filter(m->server, kubelet_auth_filter, m->auth);
        log_info("Kubelet API authentication: x509 %s, webhook tokens %s, anonymous %s; authorization %s",
                 c && !isempty(c->client_ca_file) ? c->client_ca_file : "off", o.webhook_authentication ? "on" : "off",
                 o.anonymous ? "on" : "off", o.webhook_authorization ? "Webhook" : "AlwaysAllow");
        return 0;
}

static int server_start(Manager *m, const char *addr, uint16_t port, bool tls, bool full, HttpServer **ret) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *client_ca = NULL;
        if (tls) {
                int r = load_tls(m, &cert, &key);
                if (r < 0)
                        return r;
                r = load_client_ca(m, &client_ca);
                if (r < 0)
                        return r;
        }
        HttpServerConfig c = {.bind_address = isempty(addr) || streq(addr, "0.0.0.0") ? NULL : addr,
                              .port = port,
                              .tls_cert_pem = cert,
                              .tls_key_pem = key,
                              .client_ca_pem = client_ca};
        ErrorBuf e = {};
        int r = http_server_new(m->event, &c, ret, &e);
        if (r < 0)
                return log_error_errno(r, "Failed to start the HTTP server: %s", error_message(&e, r));
        (void) http_server_add_route(*ret, "GET", "/healthz", handle_healthz, m);
        if (full) {
                (void) http_server_add_route(*ret, "GET", "/pods", handle_pods, m);
                (void) http_server_add_route(*ret, "GET", "/metrics", handle_metrics, m);
                (void) http_server_add_route(*ret, "GET", "/stats/summary", stats_summary_handle, m);
        }
        return 0;
}

int manager_start_servers(Manager *m) {
        int r;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &m->last_heartbeat_usec);
        r = sd_event_add_time_relative(m->event, &m->heartbeat, CLOCK_MONOTONIC, HEARTBEAT_PERIOD_USEC, 0, on_heartbeat,
                                       m);
        if (r < 0)
                return r;
        if (m->cfg.healthz_port > 0) {
                r = server_start(m, m->cfg.healthz_bind_address, m->cfg.healthz_port, false, false, &m->healthz_server);
                if (r < 0)
                        return r;
        }
        if (m->cfg.port > 0) {
                r = server_start(m, m->cfg.address, m->cfg.port, true, true, &m->server);
                if (r < 0)
                        return r;
                (void) http_server_add_route(m->server, "GET", "/containerLogs/", handle_container_logs, m);
                /* kubectl exec/attach/port-forward (agent/streaming.c) */
                r = streaming_add_routes(m, m->server);
                if (r < 0)
                        return r;
                r = server_start_auth(m);
                if (r < 0)
                        return r;
        }
        if (m->cfg.read_only_port > 0) {
                r = server_start(m, m->cfg.address, m->cfg.read_only_port, false, true, &m->ro_server);
                if (r < 0)
                        return r;
        }
        return 0;
}

void manager_stop_servers(Manager *m) {
        m->heartbeat = sd_event_source_disable_unref(m->heartbeat);
        m->healthz_server = http_server_free(m->healthz_server);
        m->server = http_server_free(m->server);
        m->auth = kubelet_auth_free(m->auth); /* after the server: it hands back the requests still waiting */
        m->stats = stats_sampler_free(m->stats);
        m->ro_server = http_server_free(m->ro_server);
}
