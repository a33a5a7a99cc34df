/* SPDX-License-Identifier: Apache-2.0 */
/* nodelet: the node agent daemon. Flags and the KubeletConfiguration file (agent/config.h), then one sd-event loop
 * running the manager (agent/manager.c): the static-pod source, pod workers, probes and the HTTP endpoints.
 *
 * SIGTERM/SIGINT end the daemon and leave every pod running (a restarted daemon re-adopts them, like the kubelet
 * with containerd); with --drain they stop every pod first (graceful, each pod's terminationGracePeriodSeconds),
 * and a second signal exits at once. SIGHUP rescans the manifest directory. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/bootstrap.h"
#include "agent/api-services.h"
#include "agent/config.h"
#include "agent/events.h"
#include "agent/static-pods.h"
#include "common/http-server.h"
#include "common/json-util.h"
#include "common/log.h"
#include "runtime/helper-path.h"

#define NODELET_VERSION "0.1.0"
#ifndef NODELET_LIBEXECDIR
#define NODELET_LIBEXECDIR "/usr/local/libexec/nodelet"
#endif
#ifndef NODELET_BINDIR
#define NODELET_BINDIR "/usr/local/bin"
#endif

typedef struct Daemon {
        Manager *m;
        bool drain;
        bool draining;
        sd_event_source *status_timer;
        ApiServices *services; /* cluster mode: Services from the API server (the kube-proxy part) */
        /* TLS bootstrap and certificate rotation (agent/bootstrap.h) */
        const NodeletConfig *config;
        CertManager *client_cert, *serving_cert;
        char *serving_cert_pem, *serving_key_pem; /* the latest serving certificate, for the kubelet API */
        bool started;                             /* manager_start() has run */
} Daemon;

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        sd_event *e = sd_event_source_get_event(s);
        if (!d->drain || d->draining || !d->m || !d->m->workers) {
                if (d->draining)
                        log_warning("Second signal: exiting without waiting for the pods to stop");
                return sd_event_exit(e, 0);
        }
        d->draining = true;
        log_info("Draining: stopping %zu pods before exiting", d->m->n_workers);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping pods");
        d->m->exiting = true;
        d->m->static_source = static_pod_source_free(d->m->static_source);
        for (PodWorker *w = d->m->workers; w; w = w->next)
                pod_worker_request_removal(w);
        return 0;
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        if (d->m && d->m->static_source)
                static_pod_source_rescan(d->m->static_source);
        return 0;
}

static int on_status(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        size_t running = 0;
        for (PodWorker *w = d->m->workers; w; w = w->next)
                running += pod_worker_phase(w) == POD_PHASE_RUNNING;
        (void) sd_notifyf(false, "STATUS=%zu pods, %zu running", d->m->n_workers, running);
        (void) sd_event_source_set_time_relative(s, 10 * USEC_PER_SEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* nodelet-shim: $NODELET_SHIM, next to this binary, the build tree's runtime/, then the installed libexec dir. */
static void find_shim(char *buf, size_t size) {
        static const char *const rel[] = {"nodelet-shim", "../runtime/nodelet-shim", "../libexec/nodelet/nodelet-shim"};
        (void) runtime_find_helper("NODELET_SHIM", rel, ELEMENTSOF(rel), NODELET_LIBEXECDIR "/nodelet-shim", buf, size);
}

/* nodeletctl, which imports the preloaded image tars (agent/preload.h): $NODELET_CTL, next to this binary (installed,
 * or the build tree's agent/), ../agent/ in the build tree, then the installed bindir. */
static void find_ctl(char *buf, size_t size) {
        static const char *const rel[] = {"nodeletctl", "../agent/nodeletctl"};
        (void) runtime_find_helper("NODELET_CTL", rel, ELEMENTSOF(rel), NODELET_BINDIR "/nodeletctl", buf, size);
}

/* Cluster mode: the kube-proxy part on the same loop and API connection pool. Only a bad --proxy-kubeconfig is
 * fatal; a proxy that cannot program nftables or list EndpointSlices logs and retries, the pods are unaffected. */
static int start_services(Daemon *d, const NodeletConfig *c) {
        ApiServicesConfig sc = {
                .node_name = d->m->node_name,
                .node_ips = d->m->node_ips,
                .cluster_cidrs = c->cluster_cidrs,
                .service_cidrs = c->service_cluster_ip_ranges,
                .nodeport_addresses = c->nodeport_addresses,
                .masquerade_all = c->masquerade_all,
                .min_sync_period_usec = c->proxy_min_sync_period_usec,
                .proxy_kubeconfig = c->proxy_kubeconfig,
                .api_qps = c->kube_api_qps,
                .api_burst = (unsigned) c->kube_api_burst,
        };
        ErrorBuf err = {};
        int r = api_services_new(d->m->event, d->m->glue, d->m->api, &sc, &d->services, &err);
        if (r < 0)
                return log_error_errno(r, "Services: %s", error_message(&err, r));
        return 0;
}

/* Events: with an API server through a client of their own (the kubelet's eventRecordQPS/eventBurst), else only
 * logged. Not fatal: without a recorder the daemon runs on and events are lost. */
static void start_events(Daemon *d, const NodeletConfig *c) {
        int r;
        if (d->m->api)
                r = event_recorder_connect(d->m->event, d->m->glue, c->kubeconfig, c->event_record_qps,
                                           (unsigned) c->event_burst, d->m->node_name, NULL, &d->m->events);
        else
                r = event_recorder_new(d->m->event, NULL, d->m->node_name, NULL, &d->m->events);
        if (r < 0)
                log_warning_errno(r, "Events will not be recorded: %m");
}

/* ---- TLS bootstrap and certificate rotation (agent/bootstrap.h) ---- */

static int start_services(Daemon *d, const NodeletConfig *c);

/* The kubelet API on --port serves the latest serving certificate (the server may start after it arrived). */
static void apply_serving_cert(Daemon *d) {
        ErrorBuf e = {};
        if (!d->m->server || !d->serving_cert_pem)
                return;
        int r = http_server_set_certificate(d->m->server, d->serving_cert_pem, d->serving_key_pem, &e);
        if (r < 0)
                log_error_errno(r, "Failed to switch the kubelet API to the new serving certificate: %s",
                                error_message(&e, r));
        else
                log_info("The kubelet API serves the certificate issued through the API server from now on");
}

static void on_serving_cert(CertManager *cm, const char *cert_pem, const char *key_pem, const Kubeconfig *kc,
                            void *userdata) {
        Daemon *d = userdata;
        char *cert = strdup(cert_pem), *key = strdup(key_pem);
        if (!cert || !key) {
                free(cert);
                free(key);
                log_error_errno(-ENOMEM, "Out of memory keeping the serving certificate");
                return;
        }
        free(d->serving_cert_pem);
        free(d->serving_key_pem);
        d->serving_cert_pem = cert;
        d->serving_key_pem = key;
        apply_serving_cert(d);
}

/* serverTLSBootstrap: the serving certificate through a kubelet-serving CSR, sent with the node's credentials. */
static void start_serving_cert(Daemon *d) {
        const NodeletConfig *c = d->config;
        if (!c->server_tls_bootstrap || !c->enable_server || !isempty(c->tls_cert_file) || d->serving_cert ||
            !d->m->api)
                return;
        /* SANs: the node name and its addresses (--node-ip, else the detected one). */
        char *detected[] = {d->m->host_ip, NULL};
        CertManagerConfig cfg = {
                .kind = CERT_KIND_SERVING,
                .cert_dir = c->cert_dir,
                .node_name = d->m->node_name,
                .ips = d->m->node_ips && d->m->node_ips[0] ? d->m->node_ips : detected,
        };
        static const CertManagerCallbacks cb = {.ready = on_serving_cert};
        int r = cert_manager_new(d->m->event, d->m->glue, d->m->pool, &cfg, &cb, d, &d->serving_cert);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the serving certificate manager: %m");
                return;
        }
        cert_manager_set_api(d->serving_cert, d->m->api);
        r = cert_manager_start(d->serving_cert);
        if (r < 0)
                log_error_errno(r, "Failed to request a serving certificate: %m");
}

/* The event recorder's own client follows the client certificate too (a copy: each client owns its Kubeconfig); one
 * started before the first certificate (TLS bootstrap) starts writing events with it. */
static void events_follow_cert(Daemon *d, const Kubeconfig *kc, const char *cert_pem, const char *key_pem) {
        Kubeconfig *copy = NULL;
        int r;

        if (!d->m->events || !kc || !d->m->glue)
                return;
        r = kubeconfig_with_cert(kc, cert_pem, key_pem, &copy);
        if (r >= 0)
                r = event_recorder_set_kubeconfig(d->m->events, d->m->glue, copy, d->config->event_record_qps,
                                                  (unsigned) d->config->event_burst);
        if (r < 0) {
                kubeconfig_free(copy);
                log_warning_errno(r, "The event recorder cannot use the new client certificate: %m");
        }
}

/* A client certificate is current: the first one connects the daemon to the API server (and starts what needs it
 * when the manager runs already); later ones (rotation) replace the API client's credentials in place. */
static void on_client_cert(CertManager *cm, const char *cert_pem, const char *key_pem, const Kubeconfig *kc,
                           void *userdata) {
        Daemon *d = userdata;
        const NodeletConfig *c = d->config;
        Kubeconfig *copy = NULL;
        int r;

        if (kc) {
                r = kubeconfig_with_cert(kc, cert_pem, key_pem, &copy);
                if (r < 0) {
                        log_error_errno(r, "Failed to set up the client credentials: %m");
                        return;
                }
        }
        if (d->m->api) {
                if (!copy)
                        return;
                r = api_client_set_kubeconfig(d->m->api, copy);
                if (r < 0) {
                        kubeconfig_free(copy);
                        log_error_errno(r, "Failed to switch the API client to the new client certificate: %m");
                        return;
                }
                log_info("The API client uses the new client certificate from now on");
                /* Like the kubelet, which closes its connections at a rotation: open watches start again at once,
                 * so the server sees the new identity everywhere, not only once they time out. */
                api_client_end_streams(d->m->api);
                events_follow_cert(d, kc, cert_pem, key_pem);
                return;
        }
        r = copy ? manager_connect_kubeconfig(d->m, copy, c->kubeconfig) : manager_connect(d->m, c->kubeconfig);
        if (r < 0)
                return;
        cert_manager_set_api(cm, d->m->api);
        events_follow_cert(d, kc, cert_pem, key_pem);
        if (d->started) {
                /* Credentials came after the start (TLS bootstrap): the API parts start now. */
                r = manager_start_api(d->m);
                if (r < 0)
                        log_error_errno(r, "Failed to start the API server connection: %m");
                else if (!c->disable_proxy)
                        (void) start_services(d, c);
        }
        start_serving_cert(d);
}

/* Cluster mode. Without --bootstrap-kubeconfig and rotation, --kubeconfig is used as it is; otherwise the client
 * certificate manager decides (agent/bootstrap.h) and the API parts wait for its certificate, static pods don't. */
static int connect_api(Daemon *d, const NodeletConfig *c) {
        if (isempty(c->bootstrap_kubeconfig) && !c->rotate_certificates) {
                int r = manager_connect(d->m, c->kubeconfig);
                if (r >= 0)
                        start_serving_cert(d);
                return r;
        }
        int r;
        if (!d->m->glue) {
                r = curl_glue_new(d->m->event, &d->m->glue);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the HTTP client: %m");
        }
        CertManagerConfig cfg = {
                .kind = CERT_KIND_CLIENT,
                .cert_dir = c->cert_dir,
                .node_name = d->m->node_name,
                .rotate = c->rotate_certificates,
                .kubeconfig = c->kubeconfig,
                .bootstrap_kubeconfig = c->bootstrap_kubeconfig,
        };
        static const CertManagerCallbacks cb = {.ready = on_client_cert};
        r = cert_manager_new(d->m->event, d->m->glue, d->m->pool, &cfg, &cb, d, &d->client_cert);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the client certificate manager: %m");
        r = cert_manager_start(d->client_cert);
        if (r < 0)
                return log_error_errno(r, "Failed to start the client certificate manager: %m");
        if (!d->m->api) {
                d->m->api_pending = true;
                log_info("Waiting for client credentials for node %s (TLS bootstrap); static pods start meanwhile",
                         d->m->node_name);
        }
        return 0;
}

static void stop_cert_managers(Daemon *d) {
        d->client_cert = cert_manager_free(d->client_cert);
        d->serving_cert = cert_manager_free(d->serving_cert);
        d->serving_cert_pem = mfree(d->serving_cert_pem);
        d->serving_key_pem = mfree(d->serving_key_pem);
}

static char **split_commas(const char *s) {
        size_t n = 1;
        for (const char *p = s; *p; p++)
                n += *p == ',';
        char **l = calloc(n + 1, sizeof(char *));
        if (!l)
                return NULL;
        size_t k = 0;
        for (const char *p = s; *p;) {
                size_t len = strcspn(p, ",");
                if (len > 0 && !(l[k++] = strndup(p, len))) {
                        strv_free(l);
                        return NULL;
                }
                p += len + (p[len] == ',');
        }
        return l;
}

int main(int argc, char *argv[]) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = NULL;
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_strv_free_ char **pod_cidrs = NULL;
        Daemon d = {};
        ErrorBuf err = {};
        int r;

        log_set_program("nodelet");
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--version")) {
                        printf("nodelet v%s (Kubernetes v1.26 compatible)\n", NODELET_VERSION);
                        return 0;
                }
        r = nodelet_config_load(argc, argv, &c, &err);
        if (r == NODELET_CONFIG_HELP)
                return 0;
        if (r < 0) {
                log_error("%s", error_message(&err, r));
                return 1;
        }
        log_set_max_level(c->log_level);
        for (char **w = c->warnings; *w; w++)
                log_warning("%s", *w);
        if (c->check_config) {
                _cleanup_json_ json_t *dump = NULL;
                r = nodelet_config_dump(c, &dump);
                _cleanup_free_ char *text = r >= 0 ? json_dumps(dump, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
                if (!text)
                        return log_error_errno(r < 0 ? r : -ENOMEM, "Failed to format the configuration: %m"), 1;
                puts(text);
                return 0;
        }
        if (geteuid() != 0) {
                log_error("nodelet must run as root (namespaces, mounts, cgroups)");
                return 1;
        }
        pod_cidrs = split_commas(isempty(c->pod_cidr) ? "10.88.0.0/16" : c->pod_cidr);
        if (!pod_cidrs)
                return log_error_errno(-ENOMEM, "Out of memory"), 1;

        d.drain = c->drain;
        r = event_loop_new_full(on_term, &d, &e);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m"), 1;
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        (void) pthread_sigmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(e, NULL, SIGHUP, on_hup, &d);
        /* The container exits are watched through pidfds; SIGCHLD must not kill or interrupt anything. */

        char shim[PATH_MAX];
        find_shim(shim, sizeof(shim));
        char ctl[PATH_MAX];
        find_ctl(ctl, sizeof(ctl));
        ManagerConfig mc = {
                .shim_path = shim,
                .ctl_path = ctl,
                /* serializeImagePulls wins (config.c refuses it with maxParallelImagePulls > 1); unset: no limit. */
                .max_parallel_image_pulls =
                        c->serialize_image_pulls ? 1 : (unsigned) MAX(c->max_parallel_image_pulls, 0),
                .root_dir = c->root_dir,
                .state_dir = c->state_dir,
                .pod_logs_dir = c->pod_logs_dir,
                .pod_manifest_path = c->static_pod_path,
                .node_name = c->hostname,
                .node_ips = c->node_ips,
                .pod_cidrs = pod_cidrs,
                .pod_cidrs_from_flag = !isempty(c->pod_cidr),
                .nodelet_config = c,
                .cluster_dns = c->cluster_dns,
                .cluster_domain = c->cluster_domain,
                .resolv_conf = c->resolv_conf,
                .cgroup_root = isempty(c->cgroup_root) ? NULL : c->cgroup_root,
                .cni_conf_dir = c->cni_conf_dir,
                .cni_bin_dirs = c->cni_bin_dirs,
                .cni_cache_dir = c->cni_cache_dir,
                .file_check_frequency_usec = c->file_check_frequency_usec,
                .max_restart_period_usec = c->max_container_restart_period_usec,
                .max_pods = (unsigned) c->max_pods,
                .api_qps = c->kube_api_qps,
                .api_burst = (unsigned) c->kube_api_burst,
                .container_log_max_size = (uint64_t) c->container_log_max_size_bytes,
                .container_log_max_files = (unsigned) c->container_log_max_files,
                .seccomp_default = c->seccomp_default,
                .drain_on_exit = c->drain,
                .healthz_bind_address = c->healthz_bind_address,
                .healthz_port = (uint16_t) c->healthz_port,
                .address = c->address,
                .port = c->enable_server ? (uint16_t) c->port : 0,
                .read_only_port = (uint16_t) c->read_only_port,
                .tls_cert_file = c->tls_cert_file,
                .tls_key_file = c->tls_private_key_file,
                .cert_dir = c->cert_dir,
        };
        r = manager_new(e, &mc, &d.m);
        if (r < 0)
                return 1;
        log_info("nodelet v%s starting: node %s (%s), root %s, pods from %s", NODELET_VERSION, d.m->node_name,
                 d.m->host_ip, c->root_dir, isempty(c->static_pod_path) ? "(none)" : c->static_pod_path);
        d.config = c;
        if (!isempty(c->kubeconfig) && connect_api(&d, c) < 0) {
                stop_cert_managers(&d);
                d.m = manager_free(d.m);
                return 1;
        }
        start_events(&d, c);
        r = manager_start_servers(d.m);
        if (r < 0) {
                stop_cert_managers(&d);
                d.m = manager_free(d.m);
                return 1;
        }
        apply_serving_cert(&d);
        r = manager_start(d.m);
        if (r < 0) {
                stop_cert_managers(&d);
                manager_stop_servers(d.m);
                d.m = manager_free(d.m);
                return 1;
        }
        d.started = true;
        if (d.m->api && !c->disable_proxy && start_services(&d, c) < 0) {
                manager_stop_servers(d.m);
                d.m = manager_free(d.m);
                return 1;
        }
        (void) sd_event_add_time_relative(e, &d.status_timer, CLOCK_MONOTONIC, 10 * USEC_PER_SEC, 0, on_status, &d);
        r = event_loop_run(e, "Running");
        log_info("nodelet exiting%s", d.draining ? " (pods stopped)" : "; pods keep running");
        d.status_timer = sd_event_source_disable_unref(d.status_timer);
        d.services = api_services_free(d.services); /* before the manager: it borrows the API client */
        stop_cert_managers(&d); /* before the manager too: they borrow its API client, pool and HTTP pool */
        manager_stop_servers(d.m);
        d.m = manager_free(d.m);
        return r < 0 ? 1 : 0;
}
