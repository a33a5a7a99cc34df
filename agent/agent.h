/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The daemon core, shared by manager.c (sources, workers, re-adoption), pod-worker.c (one state machine per pod),
 * probes.c (probe workers), status.c (v1.PodStatus) and server.c (HTTP endpoints). docs/agent.md describes the
 * design. Everything here runs on the one sd-event loop; blocking steps go to the WorkPool and come back through
 * their done() callbacks. */

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/pod.h"
#include "cni/runner.h"
#include "common/event-util.h"
#include "runtime/container.h"
#include "runtime/image-store.h"

typedef struct Manager Manager;
typedef struct PodWorker PodWorker;
typedef struct CState CState;
typedef struct Prober Prober;
typedef struct ProbeJob ProbeJob;
typedef struct StaticPodSource StaticPodSource;
typedef struct HttpServer HttpServer;
typedef struct ApiPods ApiPods;
typedef struct ApiObjects ApiObjects;
typedef struct ApiClient ApiClient;
typedef struct CurlGlue CurlGlue;
typedef struct NodeController NodeController;
typedef struct NodeletConfig NodeletConfig;
typedef struct EventRecorder EventRecorder;

/* What the manager needs of the configuration (nodelet.c maps NodeletConfig onto it). Strings are borrowed. */
typedef struct ManagerConfig {
        const char *root_dir;  /* /var/lib/nodelet */
        const char *state_dir; /* /run/nodelet */
        const char *shim_path;
        const char *ctl_path;              /* nodeletctl, for the image preload (agent/preload.h); NULL: its default */
        unsigned max_parallel_image_pulls; /* image pulls at once: 1 = serializeImagePulls, 0 = no limit */
        const NodeletConfig *nodelet_config; /* the whole configuration, for the node controller (cluster mode) */
        const char *pod_logs_dir;            /* /var/log/pods */
        const char *pod_manifest_path;
        const char *node_name;
        char **node_ips; /* at most one per family; NULL/empty = detect */
        char **pod_cidrs;
        bool pod_cidrs_from_flag; /* --pod-cidr/podCIDR given (else the standalone default) */
        char **cluster_dns;
        const char *cluster_domain;
        const char *resolv_conf; /* the host's, for dnsPolicy Default; /etc/resolv.conf */
        const char *cgroup_root; /* NULL: the runtime's default below our own cgroup */
        const char *cni_conf_dir;
        char **cni_bin_dirs;
        const char *cni_cache_dir;
        uint64_t file_check_frequency_usec;
        uint64_t max_restart_period_usec; /* crashLoopBackOff.maxContainerRestartPeriod, 300 s */
        unsigned max_pods;
        double api_qps;     /* kubeAPIQPS (cluster mode) */
        unsigned api_burst; /* kubeAPIBurst */
        uint64_t container_log_max_size;
        unsigned container_log_max_files;
        bool seccomp_default;
        bool drain_on_exit; /* stop every pod when the daemon exits */
        /* HTTP endpoints (0 = off) */
        const char *healthz_bind_address;
        uint16_t healthz_port;
        const char *address;
        uint16_t port, read_only_port;
        const char *tls_cert_file, *tls_key_file, *cert_dir;
} ManagerConfig;

/* ---- per container ---- */

typedef enum ProbeKind {
        PROBE_KIND_STARTUP,
        PROBE_KIND_LIVENESS,
        PROBE_KIND_READINESS,
        _PROBE_KIND_MAX,
} ProbeKind;
const char *probe_kind_to_string(ProbeKind k); /* "Startup", "Liveness", "Readiness" */

typedef struct ProbeWorker {
        CState *cs;
        ProbeKind kind;
        const Probe *probe;
        sd_event_source *timer;
        ProbeJob *net_job;     /* http/tcp/grpc in flight */
        void *exec_job;        /* ExecJob in flight */
        uint64_t started_usec; /* monotonic start of the current probe */
        int successes, failures;
        bool result;  /* the current (thresholded) result */
        bool on_hold; /* liveness/startup failed: wait for a new container instance */
        uint64_t runs, last_duration_usec;
} ProbeWorker;

typedef enum CStatePhase {
        CS_WAITING,  /* not created yet, or waiting for a restart (backoff) */
        CS_CREATING, /* WorkPool job: image, env, mounts, container_create */
        CS_STARTING, /* container_start_begin() in flight */
        CS_RUNNING,
        CS_EXITED,
} CStatePhase;

struct CState {
        PodWorker *w;
        const PodContainer *spec;
        CStatePhase phase;
        Container *current;     /* the newest instance (running or exited) */
        Container *previous;    /* the one before, kept for lastState and `logs --previous` */
        int stop_signal;        /* the image's StopSignal, default SIGTERM */
        bool create_failed;     /* the last attempt failed before the container ran (image, config, create) */
        bool stopping_instance; /* a stop of the current instance is under way */
        bool adopted;           /* re-adopted, not watched yet */
        ContainerStatus status; /* of current, refreshed on exit */
        sd_event_source *exit_source, *start_source;
        char *image_ref;        /* normalized reference */
        char *image_id;         /* sha256:... */
        char *image_digest_ref; /* repo@sha256:manifest, for status.imageID */
        unsigned restart_count; /* of current */
        bool ever_started;
        /* previous instance, for lastState */
        bool has_last;
        ContainerStatus last_status;
        char *last_id;
        /* waiting reason/message (ContainerCreating, CrashLoopBackOff, CreateContainerError, ...) */
        char reason[64];
        char message[512];
        /* CrashLoopBackOff, persisted in the pod state file */
        unsigned backoff_count;    /* consecutive restarts counted for the back-off */
        uint64_t backoff_last_ns;  /* realtime of the last restart decision */
        uint64_t backoff_until_ns; /* realtime; 0 = not backing off */
        sd_event_source *backoff_timer;
        /* probes and hooks */
        ProbeWorker probes[_PROBE_KIND_MAX];
        bool started; /* startup probe succeeded (or none) */
        bool ready;
        bool in_post_start;
        void *hook_job; /* ExecJob or ProbeJob of a lifecycle hook */
        bool hook_is_exec;
        /* stopping */
        bool stopping;
        bool killed_by_us; /* liveness / postStart failure / termination */
        char kill_reason[64];
        char kill_message[256];
        sd_event_source *kill_timer;
        uint64_t kill_deadline_usec;
        bool in_pre_stop;
        /* termination message file (host side), and the message read when the instance exited */
        char *termination_file;
        char *termination_message;
        /* image pull (agent/image-pull.h): in flight, and its outcome for the create that follows */
        struct ImagePullRequest *pull;
        char *pull_ref;        /* the normalized reference being pulled */
        bool pull_done;        /* pulled for the next create: no pull again (imagePullPolicy Always) */
        bool pulled_now;       /* the next Created event follows a pull: no "already present" */
        unsigned pull_backoff; /* consecutive failed pulls, for the image back-off */
};

typedef enum WorkerState {
        W_SETUP,    /* pod dir, volumes, pod cgroup, sandbox (WorkPool) */
        W_NETWORK,  /* CNI ADD */
        W_RUNNING,  /* containers */
        W_STOPPING, /* containers being stopped (termination or terminal phase) */
        W_NET_DOWN, /* CNI DEL */
        W_TERMINAL, /* stopped and unwired; kept for status until removed */
        W_REMOVING, /* containers, sandbox, volumes being removed (WorkPool) */
        W_GONE,
} WorkerState;
const char *worker_state_to_string(WorkerState s);

typedef enum PodPhase {
        POD_PHASE_PENDING,
        POD_PHASE_RUNNING,
        POD_PHASE_SUCCEEDED,
        POD_PHASE_FAILED,
        POD_PHASE_UNKNOWN,
} PodPhase;
const char *pod_phase_to_string(PodPhase p);

struct PodWorker {
        Manager *m;
        PodWorker *next;
        Pod *pod;
        char *pod_dir;    /* <root>/pods/<uid> */
        char *log_dir;    /* <pod-logs>/<ns>_<name>_<uid> */
        char *cgroup_rel; /* kubepods/[burstable|besteffort/]pod<uid> */
        WorkerState state;
        bool busy;     /* a WorkPool job or CNI run of the worker itself is in flight */
        unsigned jobs; /* WorkPool jobs in flight (worker and containers); free waits for 0 */
        bool freeing;
        bool removal_requested; /* the source removed the pod */
        bool adopted;           /* re-adopted after a daemon restart */
        bool resumed;           /* adopted containers are watched again */
        bool files_written;     /* /etc/hosts, resolv.conf, hostname are in the pod dir */
        sd_event_source *sync_source;
        sd_event_source *deadline_timer; /* activeDeadlineSeconds */

        CState *init;
        size_t n_init;
        CState *app;
        size_t n_app;

        char **pod_ips;
        bool sandbox_ready, network_ready, initialized;
        PodPhase terminal_phase; /* POD_PHASE_UNKNOWN while not terminal */
        char terminal_reason[64], terminal_message[256];
        char failure_reason[64]; /* pod-level: CNI or sandbox failure, shown in conditions/events */
        char failure_message[512];
        uint64_t start_time_ns; /* status.startTime (realtime) */
        uint64_t ready_since_ns, initialized_since_ns, containers_ready_since_ns, net_ready_since_ns;
        bool was_ready;
        uint64_t first_seen_usec; /* monotonic: for the pod start SLI */
        bool start_recorded;
        uint64_t stop_deadline_usec;
        uint64_t retry_usec;                            /* back-off for pod-level failures (CNI) */
        bool objects_refreshing, objects_refresh_again; /* API pods: a volume refresh job runs / is due again */
        sd_event_source *retry_timer;
};

/* ---- manager ---- */

typedef struct ManagerMetrics {
        uint64_t pod_starts;
        uint64_t start_buckets[16]; /* kubelet_pod_start_sli_duration_seconds histogram */
        double start_sum;
        uint64_t start_count;
        uint64_t probes[_PROBE_KIND_MAX][3]; /* successful, failed, unknown */
        uint64_t probe_duration_usec[_PROBE_KIND_MAX];
        uint64_t container_restarts;
        uint64_t syncs;
        uint64_t sync_usec_total;
        uint64_t cni_errors;
} ManagerMetrics;

typedef struct AdoptedContainer {
        struct AdoptedContainer *next;
        Container *c;
        char *pod_uid, *pod_name, *pod_namespace, *name;
        ContainerKind kind;
        unsigned restart_count;
} AdoptedContainer;

struct Manager {
        sd_event *event;
        ManagerConfig cfg;
        char *node_name;
        char **node_ips;
        char *host_ip;
        Runtime *runtime;
        ImageStore *images;
        WorkPool *pool;
        CniRunner *cni;
        CniNetwork *network;
        char *cni_load_error;
        Prober *prober;
        StaticPodSource *static_source;
        /* cluster mode (--kubeconfig): the API client and the pods from the API server */
        CurlGlue *glue;
        ApiClient *api;
        ApiPods *api_pods;
        ApiObjects *api_objects; /* the ConfigMaps, Secrets and tokens API pods refer to (agent/api-objects.h) */
        NodeController *node;
        EventRecorder *events;    /* Events (agent/events.h): written in cluster mode, only logged standalone */
        unsigned sources_pending; /* sources whose first sync is still to come */
        bool api_pending;         /* cluster mode, credentials still to come (TLS bootstrap, agent/bootstrap.h) */
        void *preload;
        struct ImagePullQueue *pulls; /* registry pulls, `nodeletctl images pull` children (agent/image-pull.h) */
        struct ImageGc *image_gc;     /* image garbage collection, the cached image list (agent/image-gc.h) */
        bool preload_done;
        bool source_synced;
        PodWorker *workers;
        size_t n_workers;
        AdoptedContainer *adopted;
        char **adopted_sandboxes; /* sandbox ids (pod uids) found at start */
        uint64_t started_usec;
        uint64_t last_heartbeat_usec; /* the work pool's last heartbeat job, for /healthz */
        bool heartbeat_pending;
        sd_event_source *heartbeat;
        HttpServer *healthz_server, *server, *ro_server;
        struct KubeletAuth *auth;   /* server.c: authentication and authorization of the secure port */
        struct StatsSampler *stats; /* server.c: the previous CPU samples for /stats/summary */
        ManagerMetrics metrics;
        bool exiting;
        int64_t node_cpu_milli, node_memory;
        json_t *file_errors; /* path → message */
};

int manager_new(sd_event *e, const ManagerConfig *cfg, Manager **ret);
/* Starts sources, re-adopts containers, starts the HTTP endpoints. */
int manager_start(Manager *m);
/* Stops everything owned by the daemon; pods keep running unless cfg.drain_on_exit (then they are stopped first by
 * manager_drain). */
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free)
/* Stops every pod and runs the loop until they are gone; for --drain. */
int manager_drain(Manager *m);

PodWorker *manager_find_worker(Manager *m, const char *uid);
/* origin names the manifest file and document, for messages (NULL: none). */
void manager_pod_add(Manager *m, json_t *obj, const char *source, const char *origin);
void manager_pod_remove(Manager *m, const char *uid);
/* Takes the re-adopted containers of a pod (list, to be freed by the caller's worker). */
AdoptedContainer *manager_take_adopted(Manager *m, const char *uid);
void manager_record_pod_start(Manager *m, uint64_t usec);
/* A source delivered its first complete set of pods; after the last one, orphans are cleaned up. */
void manager_source_synced(Manager *m, const char *source);
/* Cluster mode: the kubeconfig to reach the API server with (call before manager_start()). */
int manager_connect(Manager *m, const char *kubeconfig_path);
/* The same with credentials in memory (the TLS bootstrap's, agent/bootstrap.h): kc is taken over, also on failure;
 * origin names it in the log. May come after manager_start(): then manager_start_api() starts the API parts. */
struct Kubeconfig;
int manager_connect_kubeconfig(Manager *m, struct Kubeconfig *kc, const char *origin);
/* Starts what needs the API server (node controller, API pod source, ConfigMap/Secret cache): part of
 * manager_start(), or on its own once credentials arrived after it (m->api_pending). No-op without m->api. */
int manager_start_api(Manager *m);
/* The worker finished removing its pod: the manager unlinks and frees it. */
void manager_pod_gone(Manager *m, PodWorker *w);

/* HTTP endpoints (server.c). */
int manager_start_servers(Manager *m);
void manager_stop_servers(Manager *m);

/* ---- worker ---- */
int pod_worker_new(Manager *m, Pod *pod, PodWorker **ret);
void pod_worker_adopt(PodWorker *w, AdoptedContainer *list);
void pod_worker_schedule(PodWorker *w);
/* The source removed the pod: graceful termination, then removal; the manager frees the worker once W_GONE. */
void pod_worker_request_removal(PodWorker *w);
void pod_worker_free(PodWorker *w);
void pod_worker_resume_adopted(PodWorker *w);
/* Something the (API) pod refers to changed: continue a setup waiting for it, or rewrite the pod's volumes. */
void pod_worker_api_objects_changed(PodWorker *w);
void pod_worker_run_post_start(CState *cs);
/* Stops the running instance: preStop, the stop signal, SIGKILL after grace_usec; reason/message (may be NULL) are
 * reported in the terminated state (e.g. a failed postStart hook). */
void pod_worker_kill_container(CState *cs, uint64_t grace_usec, const char *reason, const char *message);
PodPhase pod_worker_phase(const PodWorker *w);
/* Containers the daemon is waiting on; for the /healthz sync check and metrics. */
size_t pod_worker_running_containers(const PodWorker *w);

/* The runtime info of the pod for env and the downward API. */
void pod_worker_runtime_info(const PodWorker *w, PodRuntimeInfo *ret);

/* ---- probes (probes.c) ---- */
void probes_start(CState *cs); /* container started: arm the probe workers */
void probes_stop(CState *cs);  /* container exited or stopping */
void probes_free(CState *cs);

/* ---- lifecycle hooks (probes.c: same handlers) ---- */
typedef void (*hook_done_t)(CState *cs, bool ok, const char *message);
int hook_run(CState *cs, const Handler *h, uint64_t timeout_usec, hook_done_t done);
void hook_cancel(CState *cs);

/* Called by probes.c when a thresholded result changed. */
void pod_worker_probe_changed(CState *cs, ProbeKind kind, bool result, const char *message);

/* ---- status (status.c) ---- */
json_t *pod_worker_status_json(const PodWorker *w);
/* The pod object with status, as /pods serves it. */
json_t *pod_worker_pod_json(const PodWorker *w);
