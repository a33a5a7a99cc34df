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
#include "agent/config.h"
#include "agent/static-pods.h"
#include "common/json-util.h"
#include "common/log.h"

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

/* A helper program: $ENV, else the first of rel (relative to this binary's directory: the install next to it, the
 * build tree) that is executable, else the installed path. */
static void find_helper(const char *env, const char *const *rel, size_t n_rel, const char *installed, char *buf,
                        size_t size) {
        const char *path = getenv(env);
        if (path) {
                snprintf(buf, size, "%s", path);
                return;
        }
        char exe[PATH_MAX - 64];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                char *slash = strrchr(exe, '/');
                if (slash) {
                        *slash = 0;
                        for (size_t i = 0; i < n_rel; i++) {
                                snprintf(buf, size, "%s/%s", exe, rel[i]);
                                if (access(buf, X_OK) == 0)
                                        return;
                        }
                }
        }
        snprintf(buf, size, "%s", installed);
}

/* nodelet-shim: $NODELET_SHIM, next to this binary, the build tree's runtime/, then the installed libexec dir. */
static void find_shim(char *buf, size_t size) {
        static const char *const rel[] = {"nodelet-shim", "../runtime/nodelet-shim", "../libexec/nodelet/nodelet-shim"};
        find_helper("NODELET_SHIM", rel, ELEMENTSOF(rel), NODELET_LIBEXECDIR "/nodelet-shim", buf, size);
}

/* nodeletctl, which imports the preloaded image tars (agent/preload.h): $NODELET_CTL, next to this binary (installed,
 * or the build tree's agent/), ../agent/ in the build tree, then the installed bindir. */
static void find_ctl(char *buf, size_t size) {
        static const char *const rel[] = {"nodeletctl", "../agent/nodeletctl"};
        find_helper("NODELET_CTL", rel, ELEMENTSOF(rel), NODELET_BINDIR "/nodeletctl", buf, size);
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
        if (!isempty(c->kubeconfig) && manager_connect(d.m, c->kubeconfig) < 0) {
                d.m = manager_free(d.m);
                return 1;
        }
        r = manager_start_servers(d.m);
        if (r < 0) {
                d.m = manager_free(d.m);
                return 1;
        }
        r = manager_start(d.m);
        if (r < 0) {
                manager_stop_servers(d.m);
                d.m = manager_free(d.m);
                return 1;
        }
        (void) sd_event_add_time_relative(e, &d.status_timer, CLOCK_MONOTONIC, 10 * USEC_PER_SEC, 0, on_status, &d);
        r = event_loop_run(e, "Running");
        log_info("nodelet exiting%s", d.draining ? " (pods stopped)" : "; pods keep running");
        d.status_timer = sd_event_source_disable_unref(d.status_timer);
        manager_stop_servers(d.m);
        d.m = manager_free(d.m);
        return r < 0 ? 1 : 0;
}
