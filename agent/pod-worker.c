/* SPDX-License-Identifier: Apache-2.0 */
/* One state machine per pod, the kubelet's pod worker + SyncPod + computePodActions in one place, on the loop.
 *
 *   W_SETUP ──job──► W_NETWORK ──CNI ADD──► W_RUNNING ──(terminal phase | removal)──► W_STOPPING
 *      W_STOPPING ──containers gone──► W_NET_DOWN ──CNI DEL──► W_TERMINAL ──removal──► W_REMOVING ──job──► W_GONE
 *
 * Blocking steps (volumes, pod cgroup, sandbox namespaces, image lookup + container_create, removal) run as WorkPool
 * jobs whose done() comes back here; CNI through the async runner; container start through
 * container_start_begin/finish with an io source; exits through the shim's pidfd. worker_sync() is the single place
 * that decides what to do next, so every event (exit, probe result, timer, job done) only records what happened and
 * schedules a sync (a defer source: bursts of events cost one pass).
 *
 * Restart safety: containers carry the pod's identity in annotations; after a daemon restart the manager hands a
 * worker the containers it found (pod_worker_adopt) and the worker continues from them: running ones are watched
 * again, exited ones are handled as if their exit was seen live. Back-off state is kept in <pod-dir>/state.json. */
#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/api-objects.h"
#include "agent/api-pods.h"
#include "agent/image-gc.h"
#include "agent/image-pull.h"
#include "agent/pod-events.h"
#include "agent/volumes.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/strv.h"
#include "runtime/logs.h"
#include "runtime/sandbox.h"
#include "runtime/signals.h"

#define BACKOFF_INITIAL_USEC (10 * USEC_PER_SEC)
#define BACKOFF_RESET_NS (600 * NSEC_PER_SEC) /* 10 minutes of clean running reset the back-off */
#define MIN_GRACE_AFTER_PRESTOP_USEC (2 * USEC_PER_SEC)

static void worker_sync(PodWorker *w);
static void worker_network_ready(PodWorker *w);
static void container_start_instance(CState *cs);
static void worker_save_state(PodWorker *w);

const char *worker_state_to_string(WorkerState s) {
        static const char *const t[] = {
                [W_SETUP] = "setup",       [W_NETWORK] = "network",   [W_RUNNING] = "running",
                [W_STOPPING] = "stopping", [W_NET_DOWN] = "net-down", [W_TERMINAL] = "terminal",
                [W_REMOVING] = "removing", [W_GONE] = "gone",
        };
        return s >= 0 && s < (int) ELEMENTSOF(t) ? t[s] : NULL;
}

const char *pod_phase_to_string(PodPhase p) {
        static const char *const t[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};
        return p >= 0 && p < (int) ELEMENTSOF(t) ? t[p] : "Unknown";
}

static uint64_t now_ns(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

static uint64_t now_usec(Manager *m) {
        uint64_t t = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* "name_namespace(uid)", the kubelet's format.Pod() used in its messages. */
static void pod_format(const PodWorker *w, char *buf, size_t size) {
        snprintf(buf, size, "%s_%s(%s)", w->pod->name, w->pod->namespace_, w->pod->uid);
}

void pod_worker_schedule(PodWorker *w) {
        if (w->sync_source)
                (void) sd_event_source_set_enabled(w->sync_source, SD_EVENT_ONESHOT);
}

static int on_sync(sd_event_source *s, void *userdata) {
        worker_sync(userdata);
        return 0;
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        PodWorker *w = userdata;
        w->retry_timer = sd_event_source_disable_unref(w->retry_timer);
        worker_sync(w);
        return 0;
}

static void cs_set_waiting(CState *cs, const char *reason, const char *fmt, ...) _printf_(3, 4);
static void cs_set_waiting(CState *cs, const char *reason, const char *fmt, ...) {
        snprintf(cs->reason, sizeof(cs->reason), "%s", reason);
        cs->message[0] = 0;
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                (void) vsnprintf(cs->message, sizeof(cs->message), fmt, ap);
                va_end(ap);
        }
}

static const char *kind_annotation(ContainerKind k) {
        return k == CONTAINER_KIND_INIT ? "init" : "app";
}

/* ---- job plumbing: WorkPool jobs hold the worker; a worker freed meanwhile is freed when the last job ends ---- */

static void worker_job_begin(PodWorker *w) {
        w->jobs++;
}

/* Returns false when the worker is being freed (the caller must not touch it beyond this). */
static bool worker_job_end(PodWorker *w) {
        assert(w->jobs > 0);
        w->jobs--;
        if (w->freeing) {
                if (w->jobs == 0)
                        pod_worker_free(w);
                return false;
        }
        return true;
}

/* ---- pod-level setup ---- */

typedef struct SetupJob {
        PodWorker *w;
        Runtime *rt;
        const Pod *pod;
        char *pod_dir, *log_dir, *cgroup_rel;
        ContainerResources pod_res;
        bool host_network;
        char *hostname;
        PodRuntimeInfo info;
        json_t *api_data; /* ConfigMaps, Secrets, tokens (API pods): the job's own copy, info.api_objects */
        int r;
        ErrorBuf e;
        char reason[64];
} SetupJob;

static int setup_work(void *userdata) {
        SetupJob *j = userdata;
        int r;

        r = mkdir_p(j->pod_dir, 0750);
        if (r >= 0)
                r = mkdir_p(j->log_dir, 0755);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "FailedMount");
                return j->r = error_set(&j->e, r, "creating %s: %s", j->pod_dir, strerror(-r));
        }
        r = pod_volumes_setup(j->pod, j->pod_dir, &j->info, &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "FailedMount");
                return j->r = r;
        }
        r = runtime_pod_cgroup_apply(j->rt, j->cgroup_rel, &j->pod_res, &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "FailedCreatePodSandBox");
                return j->r = r;
        }
        /* The sandbox's namespaces outlive the daemon: a re-adopted pod finds them in place. */
        _cleanup_free_ char *ns = NULL;
        r = sandbox_ns_path(j->rt, j->pod->uid, NAMESPACE_NET, &ns);
        if (r < 0)
                return j->r = r;
        if (access(ns, F_OK) < 0) {
                r = sandbox_create(j->rt, j->pod->uid, j->hostname, &j->e);
                if (r < 0) {
                        snprintf(j->reason, sizeof(j->reason), "FailedCreatePodSandBox");
                        return j->r = r;
                }
        }
        return j->r = 0;
}

static void setup_job_free(SetupJob *j) {
        json_decref(j->api_data);
        free(j->pod_dir);
        free(j->log_dir);
        free(j->cgroup_rel);
        free(j->hostname);
        free(j);
}

static void worker_fail_pod_step(PodWorker *w, const char *reason, const char *message) {
        char pf[512];
        pod_format(w, pf, sizeof(pf));
        snprintf(w->failure_reason, sizeof(w->failure_reason), "%s", reason);
        snprintf(w->failure_message, sizeof(w->failure_message), "%s", message);
        log_warning("Pod %s: %s: %s", pf, reason, message);
        pod_events_pod_failed(w, reason, message);
        /* Retry with a back-off like the kubelet's pod sync errors (kubelet retries the sync with back-off). */
        w->retry_usec = w->retry_usec ? MIN(w->retry_usec * 2, 300 * USEC_PER_SEC) : USEC_PER_SEC;
        w->retry_timer = sd_event_source_disable_unref(w->retry_timer);
        (void) sd_event_add_time_relative(w->m->event, &w->retry_timer, CLOCK_MONOTONIC, w->retry_usec, 0,
                                          on_retry_timer, w);
}

static void setup_done(int result, void *userdata) {
        SetupJob *j = userdata;
        PodWorker *w = j->w;
        if (!worker_job_end(w)) {
                setup_job_free(j);
                return;
        }
        w->busy = false;
        if (j->r < 0)
                worker_fail_pod_step(w, j->reason[0] ? j->reason : "FailedCreatePodSandBox",
                                     error_message(&j->e, j->r));
        else {
                w->sandbox_ready = true;
                w->state = W_NETWORK;
                log_debug("Pod %s/%s: sandbox ready", w->pod->namespace_, w->pod->name);
        }
        setup_job_free(j);
        pod_worker_schedule(w);
}

/* The pod cgroup's limits (the kubelet's pod-level cgroup: cpu.shares from the sum of requests, quota and memory
 * from the sum of limits when every container has one). */
static void pod_cgroup_resources(const Pod *p, ContainerResources *ret) {
        int64_t cpu_req = 0, cpu_lim = 0, mem_lim = 0;
        bool all_cpu = true, all_mem = true;
        for (size_t i = 0; i < p->n_containers; i++) {
                const Resources *r = &p->containers[i].resources;
                cpu_req += MAX(r->requests.cpu_milli, 0);
                if (r->limits.cpu_milli >= 0)
                        cpu_lim += r->limits.cpu_milli;
                else
                        all_cpu = false;
                if (r->limits.memory >= 0)
                        mem_lim += r->limits.memory;
                else
                        all_mem = false;
        }
        /* Init containers run one at a time: the pod needs the max of them, if larger. */
        for (size_t i = 0; i < p->n_init_containers; i++) {
                const Resources *r = &p->init_containers[i].resources;
                cpu_req = MAX(cpu_req, r->requests.cpu_milli);
                if (r->limits.cpu_milli >= 0)
                        cpu_lim = MAX(cpu_lim, r->limits.cpu_milli);
                if (r->limits.memory >= 0)
                        mem_lim = MAX(mem_lim, r->limits.memory);
        }
        *ret = (ContainerResources){};
        ret->cpu_shares = p->qos_class == QOS_BEST_EFFORT ? 2 : MAX((uint64_t) cpu_req * 1024 / 1000, 2);
        if (all_cpu && cpu_lim > 0)
                ret->cpu_quota_us = MAX(cpu_lim * 100, 1000);
        if (all_mem && mem_lim > 0)
                ret->memory_limit = mem_lim;
}

static int worker_api_objects(PodWorker *w, json_t **ret);

static void worker_start_setup(PodWorker *w) {
        _cleanup_json_ json_t *api_data = NULL;
        if (worker_api_objects(w, &api_data) <= 0)
                return; /* waiting for the API objects, or failed (retried with back-off) */
        SetupJob *j = calloc(1, sizeof(SetupJob));
        if (!j)
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", "out of memory");
        j->w = w;
        j->rt = w->m->runtime;
        j->pod = w->pod;
        j->host_network = w->pod->host_network;
        pod_worker_runtime_info(w, &j->info);
        j->api_data = TAKE_PTR(api_data);
        j->info.api_objects = j->api_data;
        pod_cgroup_resources(w->pod, &j->pod_res);
        const char *hn = w->pod->hostname ?: w->pod->name;
        if (!(j->pod_dir = strdup(w->pod_dir)) || !(j->log_dir = strdup(w->log_dir)) ||
            !(j->cgroup_rel = strdup(w->cgroup_rel)) || !(j->hostname = strndup(hn, 63))) {
                setup_job_free(j);
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", "out of memory");
        }
        int r = work_pool_submit(w->m->pool, setup_work, setup_done, j);
        if (r < 0) {
                setup_job_free(j);
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", strerror(-r));
        }
        worker_job_begin(w);
        w->busy = true;
}

/* ---- network ---- */

static char *sandbox_net_path(PodWorker *w) {
        char *p = NULL;
        return sandbox_ns_path(w->m->runtime, w->pod->uid, NAMESPACE_NET, &p) < 0 ? NULL : p;
}

static int cni_args(PodWorker *w, char ***ret) {
        char **a = calloc(6, sizeof(char *));
        RET_NULL_ENOMEM(a);
        if (asprintf(&a[0], "IgnoreUnknown=1") < 0 || asprintf(&a[1], "K8S_POD_NAMESPACE=%s", w->pod->namespace_) < 0 ||
            asprintf(&a[2], "K8S_POD_NAME=%s", w->pod->name) < 0 ||
            asprintf(&a[3], "K8S_POD_INFRA_CONTAINER_ID=%s", w->pod->uid) < 0 ||
            asprintf(&a[4], "K8S_POD_UID=%s", w->pod->uid) < 0) {
                strv_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

/* hostPorts → the portMappings capability (what the CRI passes to portmap). */
static json_t *port_mappings(const Pod *p) {
        json_t *l = json_array();
        if (!l)
                return NULL;
        for (size_t i = 0; i < p->n_containers; i++)
                for (size_t k = 0; k < p->containers[i].n_ports; k++) {
                        const ContainerPort *cp = &p->containers[i].ports[k];
                        if (cp->host_port <= 0)
                                continue;
                        char proto[8];
                        snprintf(proto, sizeof(proto), "%s", cp->protocol ?: "TCP");
                        for (char *c = proto; *c; c++)
                                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
                        json_t *m = json_pack("{s:i, s:i, s:s}", "hostPort", (json_int_t) cp->host_port,
                                              "containerPort", (json_int_t) cp->container_port, "protocol", proto);
                        if (m && cp->host_ip)
                                (void) json_object_set_new(m, "hostIP", json_string(cp->host_ip));
                        (void) json_array_append_new(l, m);
                }
        return l;
}

static void network_done(int r, const json_t *result, const CniError *err, void *userdata) {
        PodWorker *w = userdata;
        w->busy = false;
        if (r < 0) {
                char msg[2200];
                snprintf(msg, sizeof(msg), "failed to set up the pod network: plugin type=\"%s\": %s%s%s",
                         w->m->network ? cni_network_plugin_type(w->m->network, 0) : "?",
                         err && err->msg[0] ? err->msg : strerror(-r), err && err->details[0] ? ": " : "",
                         err && err->details[0] ? err->details : "");
                w->m->metrics.cni_errors++;
                worker_fail_pod_step(w, "FailedCreatePodSandBox", msg);
                return;
        }
        char **ips = NULL;
        if (cni_result_pod_ips(result, &ips) < 0)
                ips = NULL;
        strv_free(w->pod_ips);
        w->pod_ips = ips;
        w->network_ready = true;
        log_debug("Pod %s/%s: network ready (%s)", w->pod->namespace_, w->pod->name,
                  w->pod_ips && w->pod_ips[0] ? w->pod_ips[0] : "no IP");
        w->failure_reason[0] = w->failure_message[0] = 0;
        w->retry_usec = 0;
        w->net_ready_since_ns = now_ns();
        worker_save_state(w);
        worker_network_ready(w);
}

/* A re-adopted pod keeps its network: the runner's cache (libcni's) holds the ADD result. */
static int cached_pod_ips(PodWorker *w, char ***ret) {
        _cleanup_free_ char *path =
                cni_cache_path(w->m->cfg.cni_cache_dir, cni_network_name(w->m->network), w->pod->uid, "eth0");
        _cleanup_json_ json_t *j = NULL;
        if (!path)
                return -ENOMEM;
        int r = jx_load_file(path, &j, NULL);
        if (r < 0)
                return r;
        json_t *res = json_object_get(j, "result");
        if (!res)
                return -ENOENT;
        return cni_result_pod_ips(res, ret);
}

static void worker_start_network(PodWorker *w) {
        if (w->pod->host_network) {
                strv_free(w->pod_ips);
                w->pod_ips = NULL;
                if (w->m->host_ip) {
                        w->pod_ips = calloc(2, sizeof(char *));
                        if (w->pod_ips)
                                w->pod_ips[0] = strdup(w->m->host_ip);
                }
                w->network_ready = true;
                w->net_ready_since_ns = now_ns();
                return worker_network_ready(w);
        }
        if (!w->m->network)
                return worker_fail_pod_step(w, "NetworkNotReady",
                                            w->m->cni_load_error ?: "no CNI network configuration found");
        char **ips = NULL;
        if (w->adopted && cached_pod_ips(w, &ips) > 0) {
                strv_free(w->pod_ips);
                w->pod_ips = ips;
                w->network_ready = true;
                return worker_network_ready(w);
        }
        strv_free(ips);
        _cleanup_free_ char *ns = sandbox_net_path(w);
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_json_ json_t *caps = json_object(), *pm = port_mappings(w->pod);
        if (!ns || cni_args(w, &args) < 0 || !caps || !pm)
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", "out of memory");
        if (json_array_size(pm) > 0)
                (void) json_object_set(caps, "portMappings", pm);
        CniRuntimeConf rc = {
                .container_id = w->pod->uid,
                .netns = ns,
                .ifname = "eth0",
                .args = args,
                .capability_args = caps,
        };
        int r = cni_runner_start(w->m->cni, CNI_CMD_ADD, w->m->network, &rc, network_done, w);
        if (r < 0)
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", strerror(-r));
        w->busy = true;
}

static void network_down_done(int r, const json_t *result, const CniError *err, void *userdata) {
        PodWorker *w = userdata;
        w->busy = false;
        if (r < 0) {
                char pf[512];
                pod_format(w, pf, sizeof(pf));
                log_warning("Pod %s: CNI DEL failed: %s", pf, err && err->msg[0] ? err->msg : strerror(-r));
        }
        w->network_ready = false;
        w->state = w->removal_requested ? W_REMOVING : W_TERMINAL;
        pod_worker_schedule(w);
}

static void worker_start_network_down(PodWorker *w) {
        if (w->pod->host_network || !w->m->network || !w->sandbox_ready) {
                w->state = w->removal_requested ? W_REMOVING : W_TERMINAL;
                return pod_worker_schedule(w);
        }
        _cleanup_free_ char *ns = sandbox_net_path(w);
        _cleanup_strv_free_ char **args = NULL;
        if (!ns || cni_args(w, &args) < 0) {
                w->state = w->removal_requested ? W_REMOVING : W_TERMINAL;
                return pod_worker_schedule(w);
        }
        CniRuntimeConf rc = {.container_id = w->pod->uid, .netns = ns, .ifname = "eth0", .args = args};
        int r = cni_runner_start(w->m->cni, CNI_CMD_DEL, w->m->network, &rc, network_down_done, w);
        if (r < 0) {
                /* No cached result: nothing was added (or it is gone already). */
                w->state = w->removal_requested ? W_REMOVING : W_TERMINAL;
                return pod_worker_schedule(w);
        }
        w->busy = true;
}

/* ---- pod files (/etc/hosts, resolv.conf, hostname) once the IPs are known: one job before any container ---- */

typedef struct FilesJob {
        PodWorker *w;
        const Pod *pod;
        char *pod_dir;
        char **pod_ips;
        PodDnsSettings dns;
        int r;
        ErrorBuf e;
} FilesJob;

static int files_work(void *userdata) {
        FilesJob *j = userdata;
        return j->r = pod_files_write(j->pod, j->pod_dir, j->pod_ips, &j->dns, &j->e);
}

static void files_job_free(FilesJob *j) {
        free(j->pod_dir);
        strv_free(j->pod_ips);
        free(j);
}

static void files_done(int result, void *userdata) {
        FilesJob *j = userdata;
        PodWorker *w = j->w;
        if (!worker_job_end(w)) {
                files_job_free(j);
                return;
        }
        w->busy = false;
        if (j->r < 0)
                worker_fail_pod_step(w, "FailedCreatePodSandBox", error_message(&j->e, j->r));
        else {
                w->files_written = true;
                w->state = W_RUNNING;
        }
        files_job_free(j);
        pod_worker_schedule(w);
}

/* The network is up (or hostNetwork): write the pod's files, then run containers. */
static void worker_network_ready(PodWorker *w) {
        FilesJob *j = calloc(1, sizeof(FilesJob));
        if (!j || !(j->pod_dir = strdup(w->pod_dir)) || (w->pod_ips && !(j->pod_ips = strv_copy(w->pod_ips)))) {
                if (j)
                        files_job_free(j);
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", "out of memory");
        }
        j->w = w;
        j->pod = w->pod;
        j->dns = (PodDnsSettings){.cluster_dns = w->m->cfg.cluster_dns,
                                  .cluster_domain = w->m->cfg.cluster_domain,
                                  .host_resolv_conf = w->m->cfg.resolv_conf};
        int r = work_pool_submit(w->m->pool, files_work, files_done, j);
        if (r < 0) {
                files_job_free(j);
                return worker_fail_pod_step(w, "FailedCreatePodSandBox", strerror(-r));
        }
        worker_job_begin(w);
        w->busy = true;
}

/* ---- containers: create (job) and start (loop) ---- */

typedef struct CreateJob {
        CState *cs;
        PodWorker *w;
        Runtime *rt;
        ImageStore *images;
        const Pod *pod;
        const PodContainer *spec;
        ManagerConfig cfg; /* borrowed strings: the manager outlives its jobs */
        PodRuntimeInfo info;
        json_t *api_data; /* API pods: ConfigMaps and Secrets for env, the job's own copy (info.api_objects) */
        char **pod_ips;
        char *pod_dir, *log_dir, *cgroup_rel, *termination_file;
        char id[40];
        unsigned restart;
        bool may_pull; /* no pull just happened for this attempt */
        /* out */
        bool need_pull; /* nothing created: the image is to be pulled first (image_ref) */
        Container *c;
        ImageInfo *img;
        char *image_ref;
        int r;
        ErrorBuf e;
        char reason[64];
        int stop_signal;
} CreateJob;

static void create_job_free(CreateJob *j) {
        if (j->c)
                (void) container_remove(j->c, true, NULL);
        image_info_free(j->img);
        json_decref(j->api_data);
        strv_free(j->pod_ips);
        free(j->pod_dir);
        free(j->log_dir);
        free(j->cgroup_rel);
        free(j->termination_file);
        free(j->image_ref);
        free(j);
}

static int annotate(char ***l, const char *k, const char *v) {
        return strv_extendf(l, "%s=%s", k, v);
}

/* The user the container runs as: runAsUser (container, then pod) or the image's USER; runAsNonRoot checked like
 * the kubelet's verifyRunAsNonRoot. */
static int resolve_user(const Pod *p, const PodContainer *c, const ImageInfo *img, ContainerSpec *s, ErrorBuf *e) {
        int64_t uid = c->security_context.run_as_user >= 0 ? c->security_context.run_as_user
                                                           : p->security_context.run_as_user;
        int64_t gid = c->security_context.run_as_group >= 0 ? c->security_context.run_as_group
                                                            : p->security_context.run_as_group;
        int non_root = c->security_context.run_as_non_root >= 0 ? c->security_context.run_as_non_root
                                                                : p->security_context.run_as_non_root;
        if (uid >= 0) {
                s->uid_set = true;
                s->uid = (uid_t) uid;
                s->gid = gid >= 0 ? (gid_t) gid : 0;
                if (non_root == 1 && uid == 0)
                        return error_set(e, -EPERM,
                                         "container's runAsUser breaks non-root policy (pod: \"%s\", container: %s)",
                                         p->name, c->name);
                return 0;
        }
        const char *u = img->user && *img->user ? img->user : NULL;
        if (non_root == 1) {
                if (!u)
                        return error_set(e, -EPERM,
                                         "container has runAsNonRoot and image will run as root (pod: \"%s\", "
                                         "container: %s)",
                                         p->name, c->name);
                char *end;
                unsigned long v = strtoul(u, &end, 10);
                if (end == u || (*end && *end != ':'))
                        return error_set(e, -EPERM,
                                         "container has runAsNonRoot and image has non-numeric user (%s), cannot "
                                         "verify user is non-root (pod: \"%s\", container: %s)",
                                         u, p->name, c->name);
                if (v == 0)
                        return error_set(e, -EPERM,
                                         "container has runAsNonRoot and image will run as root (pod: \"%s\", "
                                         "container: %s)",
                                         p->name, c->name);
        }
        if (u) {
                if (gid >= 0 && !strchr(u, ':')) {
                        if (asprintf(&s->user, "%s:%" PRId64, u, gid) < 0)
                                return -ENOMEM;
                } else if (!(s->user = strdup(u)))
                        return -ENOMEM;
        } else if (gid >= 0) {
                s->uid_set = true;
                s->uid = 0;
                s->gid = (gid_t) gid;
        }
        return 0;
}

static SeccompMode seccomp_mode(SeccompProfileType t, bool dflt) {
        switch (t) {
        case SECCOMP_PROFILE_RUNTIME_DEFAULT:
                return SECCOMP_MODE_RUNTIME_DEFAULT;
        case SECCOMP_PROFILE_UNCONFINED:
                return SECCOMP_MODE_UNCONFINED;
        case SECCOMP_PROFILE_LOCALHOST:
                return SECCOMP_MODE_LOCALHOST;
        default:
                return dflt ? SECCOMP_MODE_RUNTIME_DEFAULT : SECCOMP_MODE_UNCONFINED;
        }
}

static int build_spec(CreateJob *j, ContainerSpec *s) {
        const Pod *p = j->pod;
        const PodContainer *c = j->spec;
        const SecurityContext *sc = &c->security_context;
        _cleanup_strv_free_ char **env = NULL;
        int r;

        r = pod_container_env(p, c, &j->info, &env, &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "CreateContainerConfigError");
                return r;
        }
        r = image_resolve_process(j->img, c->command, c->args, env, IMAGE_RESOLVE_EXPAND_VARS, &s->argv, &s->env,
                                  &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "CreateContainerConfigError");
                return r;
        }
        r = resolve_user(p, c, j->img, s, &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "CreateContainerConfigError");
                return r;
        }
        size_t n_lower = 0;
        while (j->img->layer_dirs[n_lower])
                n_lower++;
        s->lower_dirs = calloc(n_lower + 1, sizeof(char *));
        RET_NULL_ENOMEM(s->lower_dirs);
        for (size_t i = 0; i < n_lower; i++)
                RET_NULL_ENOMEM(s->lower_dirs[i] = strdup(j->img->layer_dirs[i]));
        s->readonly_rootfs = sc->read_only_root_filesystem == 1;
        /* Like the CRI's ContainerConfig: the shim keeps stdin open for kubectl attach -i (agent/streaming.c). */
        s->stdin_open = c->stdin_;
        s->stdin_once = c->stdin_once;
        s->tty = c->tty;
        const char *cwd = c->working_dir ?: j->img->working_dir;
        if (cwd && *cwd)
                RET_NULL_ENOMEM(s->cwd = strdup(cwd));

        /* supplementalGroups and fsGroup join the process's groups (CRI: SupplementalGroups). */
        size_t ng = p->security_context.n_supplemental_groups + (p->security_context.fs_group >= 0);
        if (ng > 0) {
                s->additional_gids = calloc(ng, sizeof(gid_t));
                RET_NULL_ENOMEM(s->additional_gids);
                for (size_t i = 0; i < p->security_context.n_supplemental_groups; i++)
                        s->additional_gids[s->n_additional_gids++] = (gid_t) p->security_context.supplemental_groups[i];
                if (p->security_context.fs_group >= 0)
                        s->additional_gids[s->n_additional_gids++] = (gid_t) p->security_context.fs_group;
        }
        if (sc->cap_add) {
                RET_NULL_ENOMEM(s->cap_add = calloc(1, sizeof(char *)));
                for (char **i = sc->cap_add; *i; i++)
                        if (strv_extend(&s->cap_add, *i) < 0)
                                return -ENOMEM;
        }
        if (sc->cap_drop) {
                RET_NULL_ENOMEM(s->cap_drop = calloc(1, sizeof(char *)));
                for (char **i = sc->cap_drop; *i; i++)
                        if (strv_extend(&s->cap_drop, *i) < 0)
                                return -ENOMEM;
        }
        s->privileged = sc->privileged == 1;
        s->no_new_privs = sc->allow_privilege_escalation == 0;
        SeccompProfileType st = sc->seccomp != SECCOMP_PROFILE_UNSET ? sc->seccomp : p->security_context.seccomp;
        s->seccomp = s->privileged ? SECCOMP_MODE_UNCONFINED : seccomp_mode(st, j->cfg.seccomp_default);
        if (s->seccomp == SECCOMP_MODE_LOCALHOST) {
                const char *prof = sc->seccomp == SECCOMP_PROFILE_LOCALHOST
                                           ? sc->seccomp_localhost_profile
                                           : p->security_context.seccomp_localhost_profile;
                if (!prof || strstr(prof, "..")) {
                        snprintf(j->reason, sizeof(j->reason), "CreateContainerConfigError");
                        return error_set(&j->e, -EINVAL, "seccompProfile.localhostProfile: invalid path");
                }
                if (asprintf(&s->seccomp_profile, "%s/seccomp/%s", j->cfg.root_dir, prof) < 0)
                        return -ENOMEM;
        }

        /* Namespaces: the sandbox's, or the daemon's own for hostNetwork (the shim's /proc/self is the daemon's
         * namespace: joining it is a no-op, so the container shares the host's). */
        for (NamespaceKind k = 0; k < _NAMESPACE_KIND_MAX; k++) {
                bool host = (k == NAMESPACE_NET || k == NAMESPACE_UTS) ? p->host_network : p->host_ipc;
                if (host) {
                        if (asprintf(&s->ns_paths[k], "/proc/self/ns/%s", namespace_kind_to_string(k)) < 0)
                                return -ENOMEM;
                } else if ((r = sandbox_ns_path(j->rt, p->uid, k, &s->ns_paths[k])) < 0)
                        return r;
        }

        /* Mounts: volumes, /etc/hosts, resolv.conf, hostname, termination log. */
        r = pod_volumes_container_mounts(p, c, j->pod_dir, s->env, j->termination_file, &s->mounts, &s->n_mounts,
                                         &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "CreateContainerConfigError");
                return r;
        }

        /* Resources → cgroup (the kubelet's container-level values). */
        const Resources *res = &c->resources;
        if (res->requests.cpu_milli > 0)
                s->resources.cpu_shares = MAX((uint64_t) res->requests.cpu_milli * 1024 / 1000, 2);
        else if (res->limits.cpu_milli > 0)
                s->resources.cpu_shares = MAX((uint64_t) res->limits.cpu_milli * 1024 / 1000, 2);
        else
                s->resources.cpu_shares = 2;
        if (res->limits.cpu_milli > 0) {
                s->resources.cpu_period_us = 100000;
                s->resources.cpu_quota_us = MAX(res->limits.cpu_milli * 100, 1000);
        }
        if (res->limits.memory > 0)
                s->resources.memory_limit = res->limits.memory;
        RET_NULL_ENOMEM(s->cgroup_parent = strdup(j->cgroup_rel));
        /* No or an unknown StopSignal: 0, which stops with SIGTERM (containerd's default). */
        s->stop_signal = MAX(signal_from_string(j->img->stop_signal), 0);
        j->stop_signal = s->stop_signal ?: SIGTERM;

        char rs[16], sig[16];
        snprintf(rs, sizeof(rs), "%u", j->restart);
        snprintf(sig, sizeof(sig), "%d", j->stop_signal);
        if (annotate(&s->annotations, POD_ANNOTATION_POD_UID, p->uid) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_POD_NAME, p->name) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_POD_NAMESPACE, p->namespace_) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_CONTAINER_NAME, c->name) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_CONTAINER_KIND, kind_annotation(c->kind)) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_CONTAINER_HASH, c->hash) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_RESTART_COUNT, rs) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_IMAGE, j->image_ref) < 0 ||
            annotate(&s->annotations, POD_ANNOTATION_IMAGE_ID, j->img->id) < 0 ||
            annotate(&s->annotations, "io.nodelet.stop-signal", sig) < 0)
                return -ENOMEM;
        if (asprintf(&s->log_path, "%s/%s/%u.log", j->log_dir, c->name, j->restart) < 0)
                return -ENOMEM;
        s->log_max_size = j->cfg.container_log_max_size;
        s->log_max_files = j->cfg.container_log_max_files;
        return 0;
}

static int create_work(void *userdata) {
        CreateJob *j = userdata;
        const PodContainer *c = j->spec;
        int r;

        r = reference_normalize(c->image, &j->image_ref, &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "InvalidImageName");
                return j->r = error_set(&j->e, r, "Failed to apply default image tag \"%s\": couldn't parse image name",
                                        c->image);
        }
        /* The kubelet's shouldPullImage(): Always pulls every time (the registry may have moved the tag), IfNotPresent
         * only when the image is missing. The pull runs from the loop (create_done()), then this job again. */
        if (j->may_pull && c->image_pull_policy == PULL_POLICY_ALWAYS) {
                j->need_pull = true;
                return j->r = 0;
        }
        r = image_store_get(j->images, j->image_ref, &j->img, NULL);
        if (r == -ENOENT) {
                if (c->image_pull_policy == PULL_POLICY_NEVER) {
                        snprintf(j->reason, sizeof(j->reason), "ErrImageNeverPull");
                        return j->r = error_set(&j->e, r,
                                                "Container image \"%s\" is not present with pull policy of Never",
                                                c->image);
                }
                if (j->may_pull) {
                        j->need_pull = true;
                        return j->r = 0;
                }
                /* Pulled a moment ago and gone already (removed by hand meanwhile): the next attempt pulls again. */
                snprintf(j->reason, sizeof(j->reason), "ErrImagePull");
                return j->r = error_set(&j->e, r,
                                        "image \"%s\" is not present in the node's image store after its pull",
                                        c->image);
        }
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "ErrImagePull");
                return j->r = error_set(&j->e, r, "image \"%s\": %s", c->image, strerror(-r));
        }
        _cleanup_(container_spec_done) ContainerSpec s = {};
        r = build_spec(j, &s);
        if (r < 0) {
                if (!j->reason[0])
                        snprintf(j->reason, sizeof(j->reason), "CreateContainerError");
                return j->r = r;
        }
        r = container_create(j->rt, j->id, &s, &j->c, &j->e);
        if (r < 0) {
                snprintf(j->reason, sizeof(j->reason), "CreateContainerError");
                return j->r = r;
        }
        (void) image_store_add_user(j->images, j->img->id, j->id);
        return j->r = 0;
}

static void random_container_id(char buf[40]) {
        uint8_t b[16];
        if (getrandom(b, sizeof(b), GRND_NONBLOCK) != sizeof(b)) {
                uint64_t t = now_ns();
                memcpy(b, &t, 8);
                memcpy(b + 8, &b[0], 8);
        }
        for (size_t i = 0; i < sizeof(b); i++)
                snprintf(buf + 2 * i, 3, "%02x", b[i]);
}

static void cs_record_start_failure(CState *cs, const char *reason, const char *message) {
        cs_set_waiting(cs, reason, "%s", message);
        char pf[512];
        pod_format(cs->w, pf, sizeof(pf));
        log_warning("Pod %s: container %s: %s: %s", pf, cs->spec->name, reason, message);
        pod_events_container_failed(cs, reason, message);
}

/* An attempt that failed before the container ran counts for the back-off like a crash. */
static void cs_backoff_step(CState *cs) {
        uint64_t now = now_ns();
        if (cs->backoff_last_ns && now - cs->backoff_last_ns > BACKOFF_RESET_NS)
                cs->backoff_count = 0;
        uint64_t delay = 0;
        if (cs->backoff_count > 0) {
                delay = BACKOFF_INITIAL_USEC;
                for (unsigned i = 1; i < cs->backoff_count && delay < cs->w->m->cfg.max_restart_period_usec; i++)
                        delay *= 2;
                delay = MIN(delay, cs->w->m->cfg.max_restart_period_usec);
        }
        cs->backoff_count++;
        cs->backoff_last_ns = now;
        cs->backoff_until_ns = now + delay * NSEC_PER_USEC;
        worker_save_state(cs->w);
}

static void start_watch_exit(CState *cs);
static void cs_read_termination_message(CState *cs);

static int on_start_answer(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CState *cs = userdata;
        ErrorBuf e = {};
        cs->start_source = sd_event_source_disable_unref(cs->start_source);
        int r = container_start_finish(cs->current, &e);
        (void) container_get_status(cs->current, &cs->status);
        if (r < 0) {
                /* The runtime records the attempt as exited with reason StartError; the kubelet shows
                 * RunContainerError and restarts it with back-off. */
                cs->phase = CS_EXITED;
                cs_record_start_failure(cs, "RunContainerError", error_message(&e, r));
                cs_backoff_step(cs);
                pod_worker_schedule(cs->w);
                return 0;
        }
        cs->phase = CS_RUNNING;
        cs->ever_started = true;
        pod_events_container_started(cs);
        log_debug("Pod %s/%s: container %s started (%s)", cs->w->pod->namespace_, cs->w->pod->name, cs->spec->name,
                  container_id(cs->current));
        cs->reason[0] = cs->message[0] = 0;
        start_watch_exit(cs);
        probes_start(cs);
        if (cs->spec->post_start) {
                /* postStart runs after the entrypoint started; the container is not "started"/"running" in the
                 * kubelet's sense until it returned (the sync does not start later containers meanwhile). */
                pod_worker_run_post_start(cs);
        }
        pod_worker_schedule(cs->w);
        return 0;
}

/* ---- image pulls (agent/image-pull.h): between the create job that found the image missing and the next one ---- */

#define IMAGE_BACKOFF_INITIAL_USEC (10 * USEC_PER_SEC)
#define IMAGE_BACKOFF_MAX_USEC (300 * USEC_PER_SEC)
#define PRELOAD_WAIT_USEC USEC_PER_SEC
/* A failed pull shows ErrImagePull for a while before ImagePullBackOff: the kubelet's pod worker syncs again only
 * after its own back-off, so its ErrImagePull stays visible for seconds too (clients wait for either). */
#define IMAGE_PULL_ERROR_SHOWN_USEC (5 * USEC_PER_SEC)

/* The kubelet's image back-off (pkg/kubelet/images: flowcontrol.Backoff per pod and image): 10 s after the first
 * failed pull, doubling up to 300 s; restart_with_backoff() shows ImagePullBackOff meanwhile. */
static void cs_image_backoff_step(CState *cs) {
        uint64_t now = now_ns(), delay = IMAGE_BACKOFF_INITIAL_USEC;
        for (unsigned i = 0; i < cs->pull_backoff && delay < IMAGE_BACKOFF_MAX_USEC; i++)
                delay *= 2;
        delay = MIN(delay, IMAGE_BACKOFF_MAX_USEC);
        cs->pull_backoff++;
        cs->backoff_last_ns = now;
        cs->backoff_until_ns = now + delay * NSEC_PER_USEC;
        worker_save_state(cs->w);
}

/* A Go time.Duration as the kubelet's messages print it ("1.204313s", "812.5ms"), to the microsecond. */
static void format_duration(uint64_t usec, char *buf, size_t size) {
        uint64_t unit = usec >= USEC_PER_SEC ? USEC_PER_SEC : usec >= USEC_PER_MSEC ? USEC_PER_MSEC : 1;
        const char *suffix = unit == USEC_PER_SEC ? "s" : unit == USEC_PER_MSEC ? "ms" : "µs";
        int digits = unit == USEC_PER_SEC ? 6 : unit == USEC_PER_MSEC ? 3 : 0;
        uint64_t frac = usec % unit;
        while (digits > 0 && frac % 10 == 0) {
                frac /= 10;
                digits--;
        }
        if (digits > 0)
                snprintf(buf, size, "%" PRIu64 ".%0*" PRIu64 "%s", usec / unit, digits, frac, suffix);
        else
                snprintf(buf, size, "%" PRIu64 "%s", usec / unit, suffix);
}

static void cs_cancel_pull(CState *cs) {
        if (!cs->pull)
                return;
        image_pull_request_cancel(cs->pull);
        cs->pull = NULL;
        cs->pull_ref = mfree(cs->pull_ref);
        cs->phase = cs->current ? CS_EXITED : CS_WAITING;
}

static int on_backoff_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void on_pull_done(int r, const ImagePullResult *res, void *userdata) {
        CState *cs = userdata;
        PodWorker *w = cs->w;
        Manager *m = w->m;
        _cleanup_free_ char *ref = TAKE_PTR(cs->pull_ref);

        cs->pull = NULL;
        cs->phase = cs->current ? CS_EXITED : CS_WAITING;
        if (r >= 0) /* a use of the image, a new list for status.images, and a disk that may be full now */
                image_gc_image_pulled(m->image_gc, res->image_id);
        if (w->state != W_RUNNING || cs->stopping) {
                pod_worker_schedule(w);
                return;
        }
        if (r < 0) {
                /* containerd's wording, which the kubelet shows; the child's message names the image already. */
                const char *why = strempty(res->message), *rest;
                if (ref && (rest = startswith(why, ref)) && startswith(rest, ": "))
                        why = rest + 2;
                char msg[sizeof(cs->message)];
                snprintf(msg, sizeof msg, "failed to pull and unpack image \"%s\": %s", strna(ref), why);
                cs_record_start_failure(cs, "ErrImagePull", msg);
                cs->create_failed = true;
                cs_image_backoff_step(cs);
                /* Wakes the sync that turns ErrImagePull into ImagePullBackOff (restart_with_backoff() then arms
                 * the timer for the end of the back-off). */
                cs->backoff_timer = sd_event_source_disable_unref(cs->backoff_timer);
                (void) sd_event_add_time_relative(m->event, &cs->backoff_timer, CLOCK_MONOTONIC,
                                                  IMAGE_PULL_ERROR_SHOWN_USEC + 50 * USEC_PER_MSEC, 0, on_backoff_timer,
                                                  cs);
                pod_worker_schedule(w);
                return;
        }
        char pf[512];
        pod_format(w, pf, sizeof pf);
        log_info("Pod %s: container %s: pulled image %s (%s)", pf, cs->spec->name, strna(ref), res->image_id);
        char took[32], total[32];
        format_duration(res->pull_usec, took, sizeof took);
        format_duration(res->pull_waiting_usec, total, sizeof total);
        pod_events_image_pulled(cs, took, total);
        cs->pull_backoff = 0;
        cs->pull_done = true;
        cs->pulled_now = true;
        container_start_instance(cs);
}

/* The create job found that ref is to be pulled: starts (or joins) its pull; the container stays "creating". */
static void cs_pull_image(CState *cs, const char *ref) {
        PodWorker *w = cs->w;
        Manager *m = w->m;
        _cleanup_free_ char *auth = NULL;
        int r;

        if (!m->preload_done) {
                /* The preload may bring this image: look again in a moment instead of asking a registry. */
                cs->phase = cs->current ? CS_EXITED : CS_WAITING;
                cs->create_failed = true;
                cs->backoff_until_ns = now_ns() + PRELOAD_WAIT_USEC * NSEC_PER_USEC;
                pod_worker_schedule(w);
                return;
        }
        if (m->api_objects && streq_ptr(w->pod->source, "api")) {
                /* imagePullSecrets, from the cache (the pod's references include them). */
                _cleanup_json_ json_t *objects = NULL;
                r = api_objects_pod_snapshot(m->api_objects, w->pod, &objects);
                if (r >= 0)
                        r = image_pull_auth_from_secrets(w->pod->object, json_object_get(objects, "secrets"), &auth);
                if (r < 0)
                        log_warning_errno(r, "Pod %s/%s: cannot read imagePullSecrets, pulling without: %m",
                                          w->pod->namespace_, w->pod->name);
        }
        cs->pull_ref = strdup(ref);
        r = cs->pull_ref ? image_pull_queue_request(m->pulls, ref, auth, on_pull_done, cs, &cs->pull) : -ENOMEM;
        if (auth)
                explicit_bzero(auth, strlen(auth));
        if (r < 0) {
                cs->pull_ref = mfree(cs->pull_ref);
                cs->phase = cs->current ? CS_EXITED : CS_WAITING;
                char msg[256];
                snprintf(msg, sizeof msg, "failed to pull and unpack image \"%s\": %s", ref, strerror(-r));
                cs_record_start_failure(cs, "ErrImagePull", msg);
                cs->create_failed = true;
                cs_image_backoff_step(cs);
                pod_worker_schedule(w);
                return;
        }
        pod_events_image_pulling(cs);
        cs->phase = CS_CREATING;
}

static void create_done(int result, void *userdata) {
        CreateJob *j = userdata;
        PodWorker *w = j->w;
        CState *cs = j->cs;
        if (!worker_job_end(w)) {
                create_job_free(j);
                return;
        }
        if (w->state != W_RUNNING || cs->stopping) {
                /* The pod is going away: drop what was made. */
                cs->phase = cs->current ? CS_EXITED : CS_WAITING;
                create_job_free(j);
                pod_worker_schedule(w);
                return;
        }
        if (j->need_pull) {
                cs_pull_image(cs, j->image_ref);
                create_job_free(j);
                return;
        }
        if (j->r < 0) {
                cs->phase = cs->current ? CS_EXITED : CS_WAITING;
                cs_record_start_failure(cs, j->reason[0] ? j->reason : "CreateContainerError",
                                        error_message(&j->e, j->r));
                cs->pulled_now = false;
                cs->create_failed = true;
                cs_backoff_step(cs);
                create_job_free(j);
                pod_worker_schedule(w);
                return;
        }
        cs->create_failed = false;
        log_debug("Pod %s/%s: container %s created", w->pod->namespace_, w->pod->name, cs->spec->name);
        pod_events_container_created(cs);
        cs->pulled_now = false;
        /* Keep one previous instance for lastState and `logs --previous`; older ones go. */
        if (cs->current) {
                Container *older = TAKE_PTR(cs->previous);
                cs->previous = TAKE_PTR(cs->current);
                cs->has_last = true;
                cs->last_status = cs->status;
                free(cs->last_id);
                cs->last_id = strdup(container_id(cs->previous));
                if (older) {
                        if (cs->image_id)
                                (void) image_store_remove_user(w->m->images, cs->image_id, container_id(older));
                        (void) container_remove(older, true, NULL);
                }
                cs->exit_source = sd_event_source_disable_unref(cs->exit_source);
        }
        cs->current = TAKE_PTR(j->c);
        cs->restart_count = j->restart;
        cs->stop_signal = j->stop_signal;
        cs->status = (ContainerStatus){.state = CONTAINER_CREATED};
        free(cs->image_ref);
        cs->image_ref = TAKE_PTR(j->image_ref);
        free(cs->image_id);
        cs->image_id = strdup(j->img->id);
        free(cs->image_digest_ref);
        cs->image_digest_ref = NULL;
        if (j->img->refs[0] && j->img->manifest_digest) {
                const char *ref = j->img->refs[0];
                const char *at = strchr(ref, '@');
                const char *colon = strrchr(ref, ':');
                const char *slash = strrchr(ref, '/');
                size_t n = at ? (size_t) (at - ref)
                              : (colon && (!slash || colon > slash) ? (size_t) (colon - ref) : strlen(ref));
                if (asprintf(&cs->image_digest_ref, "%.*s@%s", (int) n, ref, j->img->manifest_digest) < 0)
                        cs->image_digest_ref = NULL;
        }
        free(cs->termination_file);
        cs->termination_file = TAKE_PTR(j->termination_file);
        create_job_free(j);

        ErrorBuf e = {};
        int fd = -1;
        int r = container_start_begin(cs->current, -1, -1, &fd, &e);
        if (r >= 0)
                r = sd_event_add_io(w->m->event, &cs->start_source, fd, EPOLLIN, on_start_answer, cs);
        if (r < 0) {
                (void) container_get_status(cs->current, &cs->status);
                cs->phase = CS_EXITED;
                cs_record_start_failure(cs, "RunContainerError", error_message(&e, r));
                cs_backoff_step(cs);
                pod_worker_schedule(w);
                return;
        }
        cs->phase = CS_STARTING;
}

static void container_start_instance(CState *cs) {
        PodWorker *w = cs->w;
        Manager *m = w->m;
        CreateJob *j = calloc(1, sizeof(CreateJob));
        if (!j)
                return cs_record_start_failure(cs, "CreateContainerError", "out of memory");
        j->cs = cs;
        j->w = w;
        j->rt = m->runtime;
        j->images = m->images;
        j->pod = w->pod;
        j->spec = cs->spec;
        j->cfg = m->cfg;
        pod_worker_runtime_info(w, &j->info);
        if (w->m->api_objects && streq_ptr(w->pod->source, "api")) {
                /* env valueFrom/envFrom: from the cache as it is now (a missing object fails the creation). */
                if (api_objects_pod_snapshot(w->m->api_objects, w->pod, &j->api_data) < 0) {
                        create_job_free(j);
                        return cs_record_start_failure(cs, "CreateContainerError", "out of memory");
                }
                j->info.api_objects = j->api_data;
        }
        j->restart = cs->current ? cs->restart_count + 1 : cs->restart_count;
        j->may_pull = !cs->pull_done;
        cs->pull_done = false; /* one pull per attempt */
        random_container_id(j->id);
        bool oom = false;
        if (w->pod_ips) {
                size_t n = 0;
                while (w->pod_ips[n])
                        n++;
                j->pod_ips = calloc(n + 1, sizeof(char *));
                oom = !j->pod_ips;
                for (size_t i = 0; !oom && i < n; i++)
                        oom = !(j->pod_ips[i] = strdup(w->pod_ips[i]));
                /* PodRuntimeInfo must point at the job's own copy: the worker's may change meanwhile. */
                j->info.pod_ips = j->pod_ips;
        }
        if (oom || !(j->pod_dir = strdup(w->pod_dir)) || !(j->log_dir = strdup(w->log_dir)) ||
            !(j->cgroup_rel = strdup(w->cgroup_rel)) ||
            asprintf(&j->termination_file, "%s/containers/%s/%s", w->pod_dir, cs->spec->name, j->id) < 0) {
                j->termination_file = NULL;
                create_job_free(j);
                return cs_record_start_failure(cs, "CreateContainerError", "out of memory");
        }
        int r = work_pool_submit(m->pool, create_work, create_done, j);
        if (r < 0) {
                create_job_free(j);
                return cs_record_start_failure(cs, "CreateContainerError", strerror(-r));
        }
        worker_job_begin(w);
        cs->phase = CS_CREATING;
        if (!cs->current && !cs->ever_started)
                cs_set_waiting(cs, cs->spec->kind == CONTAINER_KIND_INIT ? "PodInitializing" : "ContainerCreating",
                               NULL);
        if (cs->spec->kind == CONTAINER_KIND_INIT && !pod_container_is_sidecar(cs->spec))
                cs_set_waiting(cs, "PodInitializing", NULL);
}

/* ---- exits ---- */

static void on_container_exit(CState *cs) {
        PodWorker *w = cs->w;
        cs->exit_source = sd_event_source_disable_unref(cs->exit_source);
        cs->kill_timer = sd_event_source_disable_unref(cs->kill_timer);
        (void) container_get_status(cs->current, &cs->status);
        if (cs->status.state == CONTAINER_RUNNING) {
                /* The shim went away but the exit record says running: re-read once the record is complete. */
                cs->status.state = CONTAINER_UNKNOWN;
        }
        probes_stop(cs);
        hook_cancel(cs);
        cs->in_post_start = cs->in_pre_stop = false;
        cs->stopping_instance = false;
        cs->phase = CS_EXITED;
        cs_read_termination_message(cs);
        cs->ready = false;
        if (cs->killed_by_us && cs->kill_reason[0] && !cs->status.oom_killed) {
                snprintf(cs->status.reason, sizeof(cs->status.reason), "%s", cs->kill_reason);
                if (cs->kill_message[0])
                        snprintf(cs->status.message, sizeof(cs->status.message), "%s", cs->kill_message);
        }
        char pf[512];
        pod_format(w, pf, sizeof(pf));
        log_info("Pod %s: container %s exited with code %d%s%s", pf, cs->spec->name, cs->status.exit_code,
                 cs->status.oom_killed ? " (OOMKilled)" : "", cs->stopping ? " (stopped)" : "");
        if (!cs->stopping && w->state == W_RUNNING)
                cs_backoff_step(cs);
        cs->killed_by_us = false;
        pod_worker_schedule(w);
}

/* terminationMessagePath, or with FallbackToLogsOnError and a failure, the log's tail (the kubelet: the last 80
 * lines, at most 2048 bytes). Both small and bounded. */
static void cs_read_termination_message(CState *cs) {
        cs->termination_message = mfree(cs->termination_message);
        if (cs->termination_file)
                (void) pod_termination_message_read(cs->termination_file, &cs->termination_message);
        if ((!cs->termination_message || !*cs->termination_message) && cs->spec->termination_message_fallback_to_logs &&
            cs->status.exit_code != 0 && cs->current) {
                const char *path = container_log_path(cs->current);
                _cleanup_free_ char *data = NULL;
                size_t size = 0;
                if (!path || read_full_file(path, 1 << 20, &data, &size) < 0)
                        return;
                /* Decode the CRI records of the last lines. */
                size_t lines = 0, off = size;
                while (off > 0 && lines <= 80) {
                        off--;
                        if (data[off] == '\n' && off + 1 < size)
                                lines++;
                }
                if (lines > 80)
                        off++;
                size_t cap = 2048, n = 0;
                char *msg = malloc(cap + 1);
                if (!msg)
                        return;
                for (char *p = data + off, *end = data + size; p < end;) {
                        char *nl = memchr(p, '\n', (size_t) (end - p));
                        size_t len = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
                        CriLogLine l;
                        if (cri_log_parse_line(p, len, &l) >= 0) {
                                size_t take = MIN(l.content_size, cap - n);
                                memcpy(msg + n, l.content, take);
                                n += take;
                                if (!l.partial && n < cap)
                                        msg[n++] = '\n';
                        }
                        p += len;
                }
                /* Keep the end: the newest lines matter most. */
                msg[n] = 0;
                free(cs->termination_message);
                cs->termination_message = msg;
        }
}

static int on_exit_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        on_container_exit(userdata);
        return 0;
}

static void start_watch_exit(CState *cs) {
        int fd = container_exit_fd(cs->current);
        if (fd < 0 || sd_event_add_io(cs->w->m->event, &cs->exit_source, fd, EPOLLIN, on_exit_fd, cs) < 0) {
                /* Already gone (or no pidfd): handle it now, on the next iteration. */
                on_container_exit(cs);
        }
}

/* ---- stopping ---- */

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CState *cs = userdata;
        cs->kill_timer = sd_event_source_disable_unref(cs->kill_timer);
        if (cs->in_pre_stop) {
                /* preStop overran the grace period: the kubelet gives the stop signal 2 s more. */
                hook_cancel(cs);
                cs->in_pre_stop = false;
                (void) container_kill(cs->current, cs->stop_signal ?: SIGTERM);
                (void) sd_event_add_time_relative(cs->w->m->event, &cs->kill_timer, CLOCK_MONOTONIC,
                                                  MIN_GRACE_AFTER_PRESTOP_USEC, 0, on_kill_timer, cs);
                return 0;
        }
        (void) container_kill(cs->current, SIGKILL);
        return 0;
}

static void pre_stop_done(CState *cs, bool ok, const char *message) {
        cs->in_pre_stop = false;
        if (!ok) {
                char pf[512];
                pod_format(cs->w, pf, sizeof(pf));
                log_warning("Pod %s: container %s: PreStop hook failed: %s", pf, cs->spec->name, strempty(message));
                pod_events_hook_failed(cs, false, message);
        }
        if (cs->phase != CS_RUNNING)
                return;
        (void) container_kill(cs->current, cs->stop_signal ?: SIGTERM);
        uint64_t now = now_usec(cs->w->m);
        uint64_t left = cs->kill_deadline_usec > now ? cs->kill_deadline_usec - now : 0;
        if (left < MIN_GRACE_AFTER_PRESTOP_USEC)
                left = MIN_GRACE_AFTER_PRESTOP_USEC;
        cs->kill_timer = sd_event_source_disable_unref(cs->kill_timer);
        (void) sd_event_add_time_relative(cs->w->m->event, &cs->kill_timer, CLOCK_MONOTONIC, left, 0, on_kill_timer,
                                          cs);
}

/* Stops a running container with the grace period: preStop, the stop signal, SIGKILL at the deadline. */
void pod_worker_kill_container(CState *cs, uint64_t grace_usec, const char *reason, const char *message) {
        if (cs->phase != CS_RUNNING || cs->stopping_instance)
                return;
        cs->stopping_instance = true;
        cs->killed_by_us = true;
        snprintf(cs->kill_reason, sizeof(cs->kill_reason), "%s", strempty(reason));
        snprintf(cs->kill_message, sizeof(cs->kill_message), "%s", strempty(message));
        pod_events_killing(cs, message);
        probes_stop(cs);
        cs->ready = false;
        cs->kill_deadline_usec = now_usec(cs->w->m) + grace_usec;
        if (cs->in_post_start)
                hook_cancel(cs);
        cs->in_post_start = false;
        if (cs->spec->pre_stop && grace_usec > 0) {
                cs->in_pre_stop = true;
                if (hook_run(cs, cs->spec->pre_stop, grace_usec, pre_stop_done) >= 0) {
                        (void) sd_event_add_time_relative(cs->w->m->event, &cs->kill_timer, CLOCK_MONOTONIC, grace_usec,
                                                          0, on_kill_timer, cs);
                        return;
                }
                cs->in_pre_stop = false;
        }
        if (grace_usec == 0) {
                (void) container_kill(cs->current, SIGKILL);
                return;
        }
        (void) container_kill(cs->current, cs->stop_signal ?: SIGTERM);
        (void) sd_event_add_time_relative(cs->w->m->event, &cs->kill_timer, CLOCK_MONOTONIC, grace_usec, 0,
                                          on_kill_timer, cs);
}

static uint64_t pod_grace_usec(PodWorker *w) {
        int64_t g = w->pod->deletion_grace_period_seconds >= 0 ? w->pod->deletion_grace_period_seconds
                                                               : w->pod->termination_grace_period_seconds;
        return (uint64_t) MAX(g, 0) * USEC_PER_SEC;
}

static bool cs_busy(const CState *cs) {
        return cs->phase == CS_CREATING || cs->phase == CS_STARTING;
}

/* Stops everything: regular containers first, all at once; then sidecars in reverse order, one after the other.
 * Returns true once nothing runs. */
static bool worker_stop_containers(PodWorker *w) {
        uint64_t now = now_usec(w->m);
        uint64_t left = w->stop_deadline_usec > now ? w->stop_deadline_usec - now : 0;
        bool waiting = false;
        for (size_t i = 0; i < w->n_app; i++) {
                CState *cs = &w->app[i];
                cs->stopping = true;
                cs->backoff_timer = sd_event_source_disable_unref(cs->backoff_timer);
                cs_cancel_pull(cs); /* nothing to wait for: the pod goes */
                if (cs->phase == CS_RUNNING) {
                        pod_worker_kill_container(cs, left, NULL, NULL);
                        waiting = true;
                } else if (cs_busy(cs))
                        waiting = true;
        }
        for (size_t i = 0; i < w->n_init; i++) {
                CState *cs = &w->init[i];
                cs->backoff_timer = sd_event_source_disable_unref(cs->backoff_timer);
                cs_cancel_pull(cs);
                if (pod_container_is_sidecar(cs->spec))
                        continue;
                cs->stopping = true;
                if (cs->phase == CS_RUNNING) {
                        pod_worker_kill_container(cs, left, NULL, NULL);
                        waiting = true;
                } else if (cs_busy(cs))
                        waiting = true;
        }
        if (waiting)
                return false;
        for (size_t i = w->n_init; i > 0; i--) {
                CState *cs = &w->init[i - 1];
                if (!pod_container_is_sidecar(cs->spec))
                        continue;
                cs->stopping = true;
                if (cs->phase == CS_RUNNING) {
                        /* Sidecars get what is left of the grace period, at least the 2 s minimum. */
                        pod_worker_kill_container(cs, MAX(left, MIN_GRACE_AFTER_PRESTOP_USEC), NULL, NULL);
                        return false;
                }
                if (cs_busy(cs))
                        return false;
        }
        return true;
}

/* ---- removal ---- */

typedef struct RemoveJob {
        PodWorker *w;
        Runtime *rt;
        ImageStore *images;
        Container **containers;
        char **image_ids;
        size_t n;
        char *uid, *pod_dir, *log_dir, *cgroup_rel;
} RemoveJob;

static int remove_work(void *userdata) {
        RemoveJob *j = userdata;
        ErrorBuf e = {};
        for (size_t i = 0; i < j->n; i++) {
                if (j->image_ids[i])
                        (void) image_store_remove_user(j->images, j->image_ids[i], container_id(j->containers[i]));
                if (container_remove(j->containers[i], true, &e) < 0)
                        log_debug("removing container: %s", e.msg);
                j->containers[i] = NULL;
        }
        (void) sandbox_remove(j->rt, j->uid, NULL);
        (void) runtime_pod_cgroup_remove(j->rt, j->cgroup_rel, NULL);
        error_clear(&e);
        if (pod_volumes_teardown(j->pod_dir, &e) < 0)
                log_warning("Failed to remove %s: %s", j->pod_dir, e.msg);
        (void) rm_rf(j->log_dir);
        return 0;
}

static void remove_job_free(RemoveJob *j) {
        for (size_t i = 0; i < j->n; i++) {
                container_free(j->containers[i]);
                free(j->image_ids[i]);
        }
        free(j->containers);
        free(j->image_ids);
        free(j->uid);
        free(j->pod_dir);
        free(j->log_dir);
        free(j->cgroup_rel);
        free(j);
}

static void remove_done(int result, void *userdata) {
        RemoveJob *j = userdata;
        PodWorker *w = j->w;
        remove_job_free(j);
        if (!worker_job_end(w))
                return;
        w->busy = false;
        w->state = W_GONE;
        manager_pod_gone(w->m, w);
}

static int remove_job_take(RemoveJob *j, Container **c, const char *image_id) {
        if (!*c)
                return 0;
        j->containers[j->n] = TAKE_PTR(*c);
        j->image_ids[j->n] = image_id ? strdup(image_id) : NULL;
        j->n++;
        return 0;
}

static void worker_start_removal(PodWorker *w) {
        size_t max = 2 * (w->n_init + w->n_app) + 1;
        RemoveJob *j = calloc(1, sizeof(RemoveJob));
        if (!j || !(j->containers = calloc(max, sizeof(Container *))) ||
            !(j->image_ids = calloc(max, sizeof(char *))) || !(j->uid = strdup(w->pod->uid)) ||
            !(j->pod_dir = strdup(w->pod_dir)) || !(j->log_dir = strdup(w->log_dir)) ||
            !(j->cgroup_rel = strdup(w->cgroup_rel))) {
                if (j)
                        remove_job_free(j);
                return worker_fail_pod_step(w, "FailedKillPod", "out of memory");
        }
        j->w = w;
        j->rt = w->m->runtime;
        j->images = w->m->images;
        for (size_t k = 0; k < 2; k++) {
                CState *l = k == 0 ? w->init : w->app;
                size_t n = k == 0 ? w->n_init : w->n_app;
                for (size_t i = 0; i < n; i++) {
                        CState *cs = &l[i];
                        cs->exit_source = sd_event_source_disable_unref(cs->exit_source);
                        cs->start_source = sd_event_source_disable_unref(cs->start_source);
                        (void) remove_job_take(j, &cs->current, cs->image_id);
                        (void) remove_job_take(j, &cs->previous, cs->image_id);
                }
        }
        int r = work_pool_submit(w->m->pool, remove_work, remove_done, j);
        if (r < 0) {
                remove_job_free(j);
                return worker_fail_pod_step(w, "FailedKillPod", strerror(-r));
        }
        worker_job_begin(w);
        w->busy = true;
}

/* ---- the sync ---- */

static bool should_restart(const PodWorker *w, const CState *cs) {
        if (pod_container_is_sidecar(cs->spec))
                return true;
        switch (w->pod->restart_policy) {
        case RESTART_POLICY_ALWAYS:
                return true;
        case RESTART_POLICY_ON_FAILURE:
                return cs->status.exit_code != 0 || cs->status.state != CONTAINER_EXITED;
        default:
                return false;
        }
}

static int on_backoff_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        CState *cs = userdata;
        cs->backoff_timer = sd_event_source_disable_unref(cs->backoff_timer);
        pod_worker_schedule(cs->w);
        return 0;
}

/* Restarts cs unless it is still backing off; true when a start was initiated. */
static bool restart_with_backoff(CState *cs) {
        uint64_t now = now_ns();
        if (cs->backoff_until_ns > now) {
                if (!cs->backoff_timer)
                        (void) sd_event_add_time_relative(cs->w->m->event, &cs->backoff_timer, CLOCK_MONOTONIC,
                                                          (cs->backoff_until_ns - now) / NSEC_PER_USEC, 0,
                                                          on_backoff_timer, cs);
                char pf[512];
                pod_format(cs->w, pf, sizeof(pf));
                uint64_t secs = (cs->backoff_until_ns - cs->backoff_last_ns + NSEC_PER_SEC / 2) / NSEC_PER_SEC;
                if (!streq(cs->reason, "CrashLoopBackOff") && !cs->create_failed) {
                        cs_set_waiting(cs, "CrashLoopBackOff",
                                       "back-off %" PRIu64 "s restarting failed container=%s pod=%s", secs,
                                       cs->spec->name, pf);
                        pod_events_backoff(cs, false);
                } else if (cs->create_failed && !startswith(cs->reason, "ImagePullBackOff") &&
                           streq(cs->reason, "ErrImagePull") &&
                           now >= cs->backoff_last_ns + IMAGE_PULL_ERROR_SHOWN_USEC * NSEC_PER_USEC) {
                        cs_set_waiting(cs, "ImagePullBackOff", "Back-off pulling image \"%s\"", cs->spec->image);
                        pod_events_backoff(cs, true);
                }
                return false;
        }
        if (cs->current || cs->ever_started)
                cs->w->m->metrics.container_restarts += cs->current ? 1 : 0;
        container_start_instance(cs);
        return true;
}

static void worker_become_terminal(PodWorker *w, PodPhase phase) {
        if (w->terminal_phase != POD_PHASE_UNKNOWN)
                return;
        w->terminal_phase = phase;
        char pf[512];
        pod_format(w, pf, sizeof(pf));
        log_info("Pod %s: %s", pf, pod_phase_to_string(phase));
        w->stop_deadline_usec = now_usec(w->m) + pod_grace_usec(w);
        w->state = W_STOPPING;
        worker_save_state(w);
}

/* activeDeadlineSeconds: counted from the pod's start; the kubelet then fails the pod (DeadlineExceeded). */
static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        PodWorker *w = userdata;
        w->deadline_timer = sd_event_source_disable_unref(w->deadline_timer);
        if (w->terminal_phase != POD_PHASE_UNKNOWN || w->state > W_RUNNING)
                return 0;
        snprintf(w->terminal_reason, sizeof(w->terminal_reason), "DeadlineExceeded");
        snprintf(w->terminal_message, sizeof(w->terminal_message),
                 "Pod was active on the node longer than the specified deadline");
        worker_become_terminal(w, POD_PHASE_FAILED);
        pod_worker_schedule(w);
        return 0;
}

static void worker_arm_deadline(PodWorker *w) {
        if (w->pod->active_deadline_seconds < 0 || w->deadline_timer || w->terminal_phase != POD_PHASE_UNKNOWN)
                return;
        uint64_t end = w->start_time_ns + (uint64_t) w->pod->active_deadline_seconds * NSEC_PER_SEC, now = now_ns();
        (void) sd_event_add_time_relative(w->m->event, &w->deadline_timer, CLOCK_MONOTONIC,
                                          end > now ? (end - now) / NSEC_PER_USEC : 0, 0, on_deadline, w);
}

/* computePodActions: init containers in order (a sidecar counts once started), then every app container. */
static void sync_containers(PodWorker *w) {
        if (!w->initialized) {
                for (size_t i = 0; i < w->n_init; i++) {
                        CState *cs = &w->init[i];
                        if (pod_container_is_sidecar(cs->spec)) {
                                if (cs->phase == CS_RUNNING && cs->started && !cs->in_post_start)
                                        continue;
                                if (cs->phase == CS_EXITED || (cs->phase == CS_WAITING))
                                        (void) restart_with_backoff(cs);
                                return;
                        }
                        if (cs->phase == CS_EXITED && cs->status.state == CONTAINER_EXITED &&
                            cs->status.exit_code == 0 && !cs->create_failed)
                                continue;
                        if (cs->phase == CS_EXITED || cs->phase == CS_WAITING) {
                                if (cs->phase == CS_EXITED && !cs->create_failed &&
                                    w->pod->restart_policy == RESTART_POLICY_NEVER) {
                                        snprintf(w->terminal_reason, sizeof(w->terminal_reason), "%s", "");
                                        worker_become_terminal(w, POD_PHASE_FAILED);
                                        return;
                                }
                                (void) restart_with_backoff(cs);
                        }
                        return;
                }
                w->initialized = true;
                w->initialized_since_ns = now_ns();
                worker_save_state(w);
        }
        /* Sidecars keep running next to the app containers: restart them whenever they exit. */
        for (size_t i = 0; i < w->n_init; i++) {
                CState *cs = &w->init[i];
                if (pod_container_is_sidecar(cs->spec) && (cs->phase == CS_EXITED || cs->phase == CS_WAITING))
                        (void) restart_with_backoff(cs);
        }
        bool all_done = true, all_ok = true;
        for (size_t i = 0; i < w->n_app; i++) {
                CState *cs = &w->app[i];
                switch (cs->phase) {
                case CS_WAITING:
                        all_done = false;
                        (void) restart_with_backoff(cs);
                        break;
                case CS_EXITED:
                        if (cs->create_failed || should_restart(w, cs)) {
                                all_done = false;
                                (void) restart_with_backoff(cs);
                        } else if (cs->status.exit_code != 0 || cs->status.state != CONTAINER_EXITED)
                                all_ok = false;
                        break;
                default:
                        all_done = false;
                }
        }
        if (all_done && w->n_app > 0)
                worker_become_terminal(w, all_ok ? POD_PHASE_SUCCEEDED : POD_PHASE_FAILED);
}

static bool all_containers_running(const PodWorker *w) {
        for (size_t i = 0; i < w->n_app; i++)
                if (w->app[i].phase != CS_RUNNING)
                        return false;
        return w->n_app > 0;
}

/* lastTransitionTime of Ready/ContainersReady. */
static void worker_track_ready(PodWorker *w) {
        bool ready = w->initialized && w->terminal_phase == POD_PHASE_UNKNOWN && w->n_app > 0;
        for (size_t i = 0; i < w->n_app && ready; i++)
                ready = w->app[i].phase == CS_RUNNING && w->app[i].ready;
        for (size_t i = 0; i < w->n_init && ready; i++)
                ready = !pod_container_is_sidecar(w->init[i].spec) ||
                        (w->init[i].phase == CS_RUNNING && w->init[i].ready);
        if (ready != w->was_ready) {
                w->was_ready = ready;
                w->ready_since_ns = now_ns();
        }
}

static void worker_sync(PodWorker *w) {
        if (w->busy || w->freeing)
                return;
        uint64_t t0 = now_usec(w->m);
        if (w->removal_requested && w->state < W_STOPPING) {
                w->stop_deadline_usec = now_usec(w->m) + pod_grace_usec(w);
                w->state = W_STOPPING;
        }
        switch (w->state) {
        case W_SETUP:
        case W_NETWORK:
                /* A failed pod-level step waits for its back-off timer, whatever else schedules a sync meanwhile. */
                if (w->retry_timer)
                        break;
                if (w->state == W_SETUP)
                        worker_start_setup(w);
                else
                        worker_start_network(w);
                break;
        case W_RUNNING:
                if (w->adopted && !w->resumed) {
                        w->resumed = true;
                        pod_worker_resume_adopted(w);
                }
                worker_arm_deadline(w);
                sync_containers(w);
                if (w->state == W_RUNNING) {
                        if (!w->start_recorded && all_containers_running(w)) {
                                w->start_recorded = true;
                                if (!w->adopted)
                                        manager_record_pod_start(w->m, now_usec(w->m) - w->first_seen_usec);
                        }
                        break;
                }
                _fallthrough_;
        case W_STOPPING:
                if (!worker_stop_containers(w))
                        break;
                w->state = W_NET_DOWN;
                _fallthrough_;
        case W_NET_DOWN:
                worker_start_network_down(w);
                break;
        case W_TERMINAL:
                if (w->removal_requested) {
                        w->state = W_REMOVING;
                        worker_start_removal(w);
                }
                break;
        case W_REMOVING:
                worker_start_removal(w);
                break;
        case W_GONE:
                break;
        }
        worker_track_ready(w);
        api_pods_status_changed(w->m->api_pods, w);
        w->m->metrics.syncs++;
        w->m->metrics.sync_usec_total += now_usec(w->m) - t0;
}

void pod_worker_request_removal(PodWorker *w) {
        if (w->removal_requested)
                return;
        w->removal_requested = true;
        w->stop_deadline_usec = now_usec(w->m) + pod_grace_usec(w);
        pod_worker_schedule(w);
}

/* ---- postStart ---- */

static void post_start_done(CState *cs, bool ok, const char *message) {
        cs->in_post_start = false;
        if (!ok && cs->phase == CS_RUNNING) {
                char pf[512];
                pod_format(cs->w, pf, sizeof(pf));
                log_warning("Pod %s: container %s: PostStartHook failed: %s", pf, cs->spec->name, strempty(message));
                pod_events_hook_failed(cs, true, message);
                /* The kubelet kills the container; its status shows the hook's failure. */
                pod_worker_kill_container(cs, pod_grace_usec(cs->w), "PostStartHookError", message);
        }
        pod_worker_schedule(cs->w);
}

void pod_worker_run_post_start(CState *cs) {
        cs->in_post_start = true;
        if (hook_run(cs, cs->spec->post_start, 0, post_start_done) < 0)
                post_start_done(cs, false, "failed to run the hook");
}

/* ---- probes ---- */

void pod_worker_probe_changed(CState *cs, ProbeKind kind, bool result, const char *message) {
        PodWorker *w = cs->w;
        char pf[512];
        pod_format(w, pf, sizeof(pf));
        switch (kind) {
        case PROBE_KIND_STARTUP:
                if (result) {
                        cs->started = true;
                        probes_start(cs); /* liveness and readiness begin now */
                } else {
                        log_info("Pod %s: container %s failed startup probe, will be restarted", pf, cs->spec->name);
                        char msg[300];
                        snprintf(msg, sizeof(msg), "Container %s failed startup probe, will be restarted",
                                 cs->spec->name);
                        uint64_t g = cs->spec->startup_probe->termination_grace_period_seconds >= 0
                                             ? (uint64_t) cs->spec->startup_probe->termination_grace_period_seconds *
                                                       USEC_PER_SEC
                                             : pod_grace_usec(w);
                        pod_worker_kill_container(cs, g, NULL, msg);
                }
                break;
        case PROBE_KIND_LIVENESS:
                if (!result) {
                        log_info("Pod %s: container %s failed liveness probe, will be restarted: %s", pf,
                                 cs->spec->name, strempty(message));
                        char msg[300];
                        snprintf(msg, sizeof(msg), "Container %s failed liveness probe, will be restarted",
                                 cs->spec->name);
                        uint64_t g = cs->spec->liveness_probe->termination_grace_period_seconds >= 0
                                             ? (uint64_t) cs->spec->liveness_probe->termination_grace_period_seconds *
                                                       USEC_PER_SEC
                                             : pod_grace_usec(w);
                        pod_worker_kill_container(cs, g, NULL, msg);
                }
                break;
        case PROBE_KIND_READINESS:
                cs->ready = result;
                break;
        default:
                break;
        }
        pod_worker_schedule(w);
}

/* ---- ConfigMaps, Secrets and tokens of API pods (agent/api-objects.h) ---- */

/* Before the setup of an API pod: everything its volumes and env refer to must be known (the kubelet waits for its
 * object caches the same way). 1 to go on, with *ret the job's copy (NULL for pods without the API); 0 to wait in
 * W_SETUP (pod_worker_api_objects_changed() schedules the worker again); < 0 failed: FailedMount, retried with the
 * pod step back-off. Static pods cannot refer to API objects (the kubelet refuses them): nothing changes for them. */
static int worker_api_objects(PodWorker *w, json_t **ret) {
        ApiObjects *o = w->m->api_objects;
        ErrorBuf e = {};
        *ret = NULL;
        if (!o || !streq_ptr(w->pod->source, "api"))
                return 1;
        int r = api_objects_pod_acquire(o, w->pod);
        if (r >= 0)
                r = api_objects_pod_ready(o, w->pod, &e);
        if (r == 0)
                return 0;
        if (r > 0)
                r = api_objects_pod_snapshot(o, w->pod, ret);
        if (r < 0) {
                worker_fail_pod_step(w, "FailedMount", error_message(&e, r));
                return r;
        }
        return 1;
}

/* A changed object rewritten into the pod's volumes (the kubelet's periodic remount; here on the change itself):
 * a WorkPool job with its own copy of the values. */
typedef struct RefreshJob {
        PodWorker *w;
        const Pod *pod;
        char *pod_dir;
        char **pod_ips;
        PodRuntimeInfo info;
        json_t *api_data;
        int r;
        ErrorBuf e;
} RefreshJob;

static void refresh_job_free(RefreshJob *j) {
        json_decref(j->api_data);
        strv_free(j->pod_ips);
        free(j->pod_dir);
        free(j);
}

static int refresh_work(void *userdata) {
        RefreshJob *j = userdata;
        return j->r = pod_volumes_refresh(j->pod, j->pod_dir, &j->info, &j->e);
}

static void worker_refresh_volumes(PodWorker *w);

static void refresh_done(int result, void *userdata) {
        RefreshJob *j = userdata;
        PodWorker *w = j->w;
        if (!worker_job_end(w)) {
                refresh_job_free(j);
                return;
        }
        w->objects_refreshing = false;
        char pf[512];
        pod_format(w, pf, sizeof(pf));
        if (j->r < 0)
                log_warning("Pod %s: updating volumes: %s", pf, error_message(&j->e, j->r));
        else if (j->r > 0)
                log_debug("Pod %s: volumes updated", pf);
        refresh_job_free(j);
        if (w->objects_refresh_again && w->state < W_STOPPING) {
                w->objects_refresh_again = false;
                worker_refresh_volumes(w);
        }
}

static void worker_refresh_volumes(PodWorker *w) {
        if (w->objects_refreshing) {
                w->objects_refresh_again = true;
                return;
        }
        RefreshJob *j = calloc(1, sizeof(RefreshJob));
        if (!j)
                return;
        j->w = w;
        j->pod = w->pod;
        pod_worker_runtime_info(w, &j->info);
        if ((w->pod_ips && !(j->pod_ips = strv_copy(w->pod_ips))) || !(j->pod_dir = strdup(w->pod_dir)) ||
            api_objects_pod_snapshot(w->m->api_objects, w->pod, &j->api_data) < 0) {
                refresh_job_free(j);
                return;
        }
        /* The job's own copies, never the worker's (they may change while it runs). */
        j->info.pod_ips = j->pod_ips;
        j->info.api_objects = j->api_data;
        if (work_pool_submit(w->m->pool, refresh_work, refresh_done, j) < 0) {
                refresh_job_free(j);
                return;
        }
        worker_job_begin(w);
        w->objects_refreshing = true;
}

void pod_worker_api_objects_changed(PodWorker *w) {
        switch (w->state) {
        case W_SETUP:
                /* Waiting for them, or failed for want of one: try now rather than after the back-off. */
                if (!w->busy && (!w->retry_timer || streq(w->failure_reason, "FailedMount"))) {
                        w->retry_timer = sd_event_source_disable_unref(w->retry_timer);
                        pod_worker_schedule(w);
                }
                break;
        case W_NETWORK:
        case W_RUNNING:
                if (w->sandbox_ready)
                        worker_refresh_volumes(w);
                break;
        default:
                break;
        }
}

/* ---- state file ---- */

static void worker_save_state(PodWorker *w) {
        _cleanup_json_ json_t *j = json_object(), *cs = json_object();
        if (!j || !cs)
                return;
        (void) json_object_set_new(j, "startTime", json_integer((json_int_t) w->start_time_ns));
        (void) json_object_set_new(j, "initialized", json_boolean(w->initialized));
        if (w->terminal_phase != POD_PHASE_UNKNOWN)
                (void) json_object_set_new(j, "phase", json_string(pod_phase_to_string(w->terminal_phase)));
        for (size_t k = 0; k < 2; k++) {
                CState *l = k == 0 ? w->init : w->app;
                size_t n = k == 0 ? w->n_init : w->n_app;
                for (size_t i = 0; i < n; i++)
                        (void) json_object_set_new(cs, l[i].spec->name,
                                                   json_pack("{s:i, s:I, s:I}", "backoffCount",
                                                             (int) l[i].backoff_count, "backoffLast",
                                                             (json_int_t) l[i].backoff_last_ns, "backoffUntil",
                                                             (json_int_t) l[i].backoff_until_ns));
        }
        (void) json_object_set(j, "containers", cs);
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
        _cleanup_free_ char *path = NULL;
        if (!text || path_join(&path, w->pod_dir, "state.json") < 0)
                return;
        /* Small and without fsync: the directory exists once setup ran. */
        if (access(w->pod_dir, F_OK) == 0)
                (void) write_file_atomic(path, text, strlen(text), 0600, false);
}

static void worker_load_state(PodWorker *w) {
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *j = NULL;
        if (path_join(&path, w->pod_dir, "state.json") < 0 || jx_load_file(path, &j, NULL) < 0)
                return;
        json_t *st = json_object_get(j, "startTime");
        if (json_is_integer(st) && json_integer_value(st) > 0)
                w->start_time_ns = (uint64_t) json_integer_value(st);
        w->initialized = json_is_true(json_object_get(j, "initialized"));
        const char *phase = json_string_value(json_object_get(j, "phase"));
        if (phase && streq(phase, "Succeeded"))
                w->terminal_phase = POD_PHASE_SUCCEEDED;
        else if (phase && streq(phase, "Failed"))
                w->terminal_phase = POD_PHASE_FAILED;
        json_t *cs = json_object_get(j, "containers");
        for (size_t k = 0; k < 2; k++) {
                CState *l = k == 0 ? w->init : w->app;
                size_t n = k == 0 ? w->n_init : w->n_app;
                for (size_t i = 0; i < n; i++) {
                        json_t *c = json_object_get(cs, l[i].spec->name);
                        if (!c)
                                continue;
                        l[i].backoff_count = (unsigned) json_integer_value(json_object_get(c, "backoffCount"));
                        l[i].backoff_last_ns = (uint64_t) json_integer_value(json_object_get(c, "backoffLast"));
                        l[i].backoff_until_ns = (uint64_t) json_integer_value(json_object_get(c, "backoffUntil"));
                }
        }
}

/* ---- construction, adoption ---- */

static const char *qos_cgroup(QosClass q) {
        return q == QOS_GUARANTEED ? "kubepods" : q == QOS_BURSTABLE ? "kubepods/burstable" : "kubepods/besteffort";
}

static void cstate_init(PodWorker *w, CState *cs, const PodContainer *spec) {
        cs->w = w;
        cs->spec = spec;
        cs->phase = CS_WAITING;
        cs->started = false;
        for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
                cs->probes[k].cs = cs;
                cs->probes[k].kind = k;
        }
        cs->probes[PROBE_KIND_STARTUP].probe = spec->startup_probe;
        cs->probes[PROBE_KIND_LIVENESS].probe = spec->liveness_probe;
        cs->probes[PROBE_KIND_READINESS].probe = spec->readiness_probe;
        cs_set_waiting(cs, spec->kind == CONTAINER_KIND_INIT ? "PodInitializing" : "ContainerCreating", NULL);
        if (spec->kind == CONTAINER_KIND_APP && w->pod->n_init_containers > 0)
                cs_set_waiting(cs, "PodInitializing", NULL);
}

int pod_worker_new(Manager *m, Pod *pod, PodWorker **ret) {
        PodWorker *w = calloc(1, sizeof(PodWorker));
        RET_NULL_ENOMEM(w);
        w->m = m;
        w->pod = pod;
        w->terminal_phase = POD_PHASE_UNKNOWN;
        w->first_seen_usec = now_usec(m);
        w->start_time_ns = now_ns();
        if (asprintf(&w->pod_dir, "%s/pods/%s", m->cfg.root_dir, pod->uid) < 0 ||
            asprintf(&w->log_dir, "%s/%s_%s_%s", m->cfg.pod_logs_dir, pod->namespace_, pod->name, pod->uid) < 0 ||
            asprintf(&w->cgroup_rel, "%s/pod%s", qos_cgroup(pod->qos_class), pod->uid) < 0) {
                w->pod = NULL;
                pod_worker_free(w);
                return -ENOMEM;
        }
        w->n_init = pod->n_init_containers;
        w->n_app = pod->n_containers;
        w->init = calloc(MAX(w->n_init, 1), sizeof(CState));
        w->app = calloc(MAX(w->n_app, 1), sizeof(CState));
        if (!w->init || !w->app) {
                w->pod = NULL;
                pod_worker_free(w);
                return -ENOMEM;
        }
        for (size_t i = 0; i < w->n_init; i++)
                cstate_init(w, &w->init[i], &pod->init_containers[i]);
        for (size_t i = 0; i < w->n_app; i++)
                cstate_init(w, &w->app[i], &pod->containers[i]);
        int r = sd_event_add_defer(m->event, &w->sync_source, on_sync, w);
        if (r < 0) {
                w->pod = NULL;
                pod_worker_free(w);
                return r;
        }
        (void) sd_event_source_set_enabled(w->sync_source, SD_EVENT_ONESHOT);
        worker_load_state(w);
        *ret = w;
        return 0;
}

static CState *worker_find_cs(PodWorker *w, ContainerKind kind, const char *name) {
        CState *l = kind == CONTAINER_KIND_INIT ? w->init : w->app;
        size_t n = kind == CONTAINER_KIND_INIT ? w->n_init : w->n_app;
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].spec->name, name))
                        return &l[i];
        return NULL;
}

void pod_worker_adopt(PodWorker *w, AdoptedContainer *list) {
        w->adopted = list != NULL;
        /* Newest first per container: sort by restart count, descending (insertion into a small list). */
        for (AdoptedContainer *a = list, *next; a; a = next) {
                next = a->next;
                CState *cs = worker_find_cs(w, a->kind, a->name);
                const char *hash = container_annotation(a->c, POD_ANNOTATION_CONTAINER_HASH);
                if (!cs || !streq_ptr(hash, cs->spec->hash)) {
                        /* Not in the spec any more (or changed while we were down): stop and remove it. */
                        (void) container_remove(a->c, true, NULL);
                } else if (!cs->current || a->restart_count > cs->restart_count) {
                        if (cs->previous)
                                (void) container_remove(cs->previous, true, NULL);
                        cs->previous = cs->current;
                        cs->current = a->c;
                        if (cs->previous) {
                                cs->has_last = true;
                                (void) container_get_status(cs->previous, &cs->last_status);
                                free(cs->last_id);
                                cs->last_id = strdup(container_id(cs->previous));
                        }
                        cs->restart_count = a->restart_count;
                } else if (!cs->previous || a->restart_count > cs->restart_count - 1) {
                        if (cs->previous)
                                (void) container_remove(cs->previous, true, NULL);
                        cs->previous = a->c;
                        cs->has_last = true;
                        (void) container_get_status(cs->previous, &cs->last_status);
                        free(cs->last_id);
                        cs->last_id = strdup(container_id(cs->previous));
                } else
                        (void) container_remove(a->c, true, NULL);
                a->c = NULL;
                free(a->pod_uid);
                free(a->pod_name);
                free(a->pod_namespace);
                free(a->name);
                free(a);
        }
        if (!w->adopted)
                return;
        /* The sandbox, the network and the pod files exist: setup and CNI find them (both are idempotent). */
        w->files_written = true;
        for (size_t k = 0; k < 2; k++) {
                CState *l = k == 0 ? w->init : w->app;
                size_t n = k == 0 ? w->n_init : w->n_app;
                for (size_t i = 0; i < n; i++) {
                        CState *cs = &l[i];
                        if (!cs->current)
                                continue;
                        const char *img = container_annotation(cs->current, POD_ANNOTATION_IMAGE);
                        const char *iid = container_annotation(cs->current, POD_ANNOTATION_IMAGE_ID);
                        const char *sig = container_annotation(cs->current, "io.nodelet.stop-signal");
                        cs->image_ref = img ? strdup(img) : NULL;
                        cs->image_id = iid ? strdup(iid) : NULL;
                        cs->stop_signal = sig ? atoi(sig) : SIGTERM;
                        if (asprintf(&cs->termination_file, "%s/containers/%s/%s", w->pod_dir, cs->spec->name,
                                     container_id(cs->current)) < 0)
                                cs->termination_file = NULL;
                        (void) container_get_status(cs->current, &cs->status);
                        cs->ever_started = cs->status.started_at > 0;
                        cs->reason[0] = cs->message[0] = 0;
                        cs->adopted = true;
                        if (cs->status.state == CONTAINER_RUNNING) {
                                cs->phase = CS_RUNNING;
                        } else if (cs->status.state == CONTAINER_CREATED) {
                                /* Created but never started (we died in between): start it now. */
                                cs->phase = CS_EXITED;
                                cs->create_failed = true;
                        } else
                                cs->phase = CS_EXITED;
                }
        }
        if (w->initialized)
                w->start_recorded = true;
}

/* After setup and network of an adopted pod: watch the running containers again. Called once from the sync. */
void pod_worker_resume_adopted(PodWorker *w) {
        for (size_t k = 0; k < 2; k++) {
                CState *l = k == 0 ? w->init : w->app;
                size_t n = k == 0 ? w->n_init : w->n_app;
                for (size_t i = 0; i < n; i++) {
                        CState *cs = &l[i];
                        if (!cs->adopted)
                                continue;
                        cs->adopted = false;
                        if (cs->phase == CS_RUNNING) {
                                start_watch_exit(cs);
                                if (cs->phase == CS_RUNNING)
                                        probes_start(cs);
                        } else if (cs->phase == CS_EXITED && !cs->create_failed && cs->backoff_until_ns == 0)
                                cs_backoff_step(cs); /* exited while we were down: as if seen live */
                }
        }
}

void pod_worker_runtime_info(const PodWorker *w, PodRuntimeInfo *ret) {
        *ret = (PodRuntimeInfo){
                .pod_ips = w->pod_ips,
                .host_ip = w->m->host_ip,
                .node_name = w->m->node_name,
                .node_allocatable_cpu_milli = w->m->node_cpu_milli,
                .node_allocatable_memory = w->m->node_memory,
        };
}

PodPhase pod_worker_phase(const PodWorker *w) {
        if (w->terminal_phase != POD_PHASE_UNKNOWN)
                return w->terminal_phase;
        /* getPhase: Pending until every app container has been started (init done); Running once all have started
         * and at least one runs or is restarting. */
        if (!w->initialized)
                return POD_PHASE_PENDING;
        size_t running = 0, waiting = 0, exited = 0;
        for (size_t i = 0; i < w->n_app; i++) {
                const CState *cs = &w->app[i];
                if (cs->phase == CS_RUNNING)
                        running++;
                else if (cs->ever_started || cs->current)
                        exited++;
                else
                        waiting++;
        }
        if (waiting > 0)
                return POD_PHASE_PENDING;
        if (running > 0 || exited > 0)
                return POD_PHASE_RUNNING;
        return POD_PHASE_PENDING;
}

size_t pod_worker_running_containers(const PodWorker *w) {
        size_t n = 0;
        for (size_t i = 0; i < w->n_init; i++)
                n += w->init[i].phase == CS_RUNNING;
        for (size_t i = 0; i < w->n_app; i++)
                n += w->app[i].phase == CS_RUNNING;
        return n;
}

static void cstate_done(CState *cs) {
        cs_cancel_pull(cs);
        probes_free(cs);
        hook_cancel(cs);
        cs->exit_source = sd_event_source_disable_unref(cs->exit_source);
        cs->start_source = sd_event_source_disable_unref(cs->start_source);
        cs->backoff_timer = sd_event_source_disable_unref(cs->backoff_timer);
        cs->kill_timer = sd_event_source_disable_unref(cs->kill_timer);
        /* The handles only: the containers keep running (the daemon may just be restarting). */
        cs->current = container_free(cs->current);
        cs->previous = container_free(cs->previous);
        free(cs->image_ref);
        free(cs->image_id);
        free(cs->image_digest_ref);
        free(cs->last_id);
        free(cs->termination_file);
        free(cs->termination_message);
}

void pod_worker_free(PodWorker *w) {
        if (!w)
                return;
        w->sync_source = sd_event_source_disable_unref(w->sync_source);
        w->retry_timer = sd_event_source_disable_unref(w->retry_timer);
        w->deadline_timer = sd_event_source_disable_unref(w->deadline_timer);
        for (size_t i = 0; w->init && i < w->n_init; i++)
                cstate_done(&w->init[i]);
        for (size_t i = 0; w->app && i < w->n_app; i++)
                cstate_done(&w->app[i]);
        if (w->jobs > 0) {
                /* A WorkPool job still refers to the worker: the last one to finish frees it. */
                w->freeing = true;
                return;
        }
        free(w->init);
        free(w->app);
        strv_free(w->pod_ips);
        free(w->pod_dir);
        free(w->log_dir);
        free(w->cgroup_rel);
        pod_free(w->pod);
        free(w);
}
