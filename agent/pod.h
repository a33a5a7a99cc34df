/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The agent's typed model of a v1.Pod: what the pod workers, probes, volumes and status code read. A source (the
 * static-pod directory, later the API server) hands the manager a JSON object; pod_parse() applies the API server's
 * defaults (pkg/apis/core/v1/defaults.go: restartPolicy Always, dnsPolicy ClusterFirst, probe timings, protocol TCP,
 * terminationMessagePath, imagePullPolicy from the tag, ...) and validates what nodelet needs, naming the field of
 * every error ("spec.containers[0].livenessProbe: must specify a handler type"). Fields nodelet does not know are
 * ignored (a pod with unknown fields still runs, as with the kubelet); `pod->object` keeps the object as given (with
 * defaults filled in) for /pods and for the downward API.
 *
 * Quantities are parsed once: CPU in millicores, memory/storage in bytes. Every string is owned by the Pod;
 * strv fields are NULL-terminated and NULL when absent. */

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "common/macro.h"
#include "runtime/container.h"

/* Annotations nodelet puts on the runtime's containers so a restarted daemon can re-adopt them (like the kubelet's
 * io.kubernetes.* container labels in containerd). */
#define POD_ANNOTATION_POD_UID "io.kubernetes.pod.uid"
#define POD_ANNOTATION_POD_NAME "io.kubernetes.pod.name"
#define POD_ANNOTATION_POD_NAMESPACE "io.kubernetes.pod.namespace"
#define POD_ANNOTATION_CONTAINER_NAME "io.kubernetes.container.name"
#define POD_ANNOTATION_CONTAINER_KIND "io.nodelet.container.kind" /* "init" or "app" */
#define POD_ANNOTATION_CONTAINER_HASH "io.kubernetes.container.hash"
#define POD_ANNOTATION_RESTART_COUNT "io.kubernetes.container.restartCount"
#define POD_ANNOTATION_IMAGE "io.nodelet.image"       /* the reference as the pod names it */
#define POD_ANNOTATION_IMAGE_ID "io.nodelet.image-id" /* sha256:<config digest> */

/* Static pod annotations, as the kubelet sets them (pkg/kubelet/types). */
#define POD_ANNOTATION_CONFIG_SOURCE "kubernetes.io/config.source"
#define POD_ANNOTATION_CONFIG_HASH "kubernetes.io/config.hash"
#define POD_ANNOTATION_CONFIG_SEEN "kubernetes.io/config.seen"
#define POD_ANNOTATION_CONFIG_MIRROR "kubernetes.io/config.mirror"

typedef enum RestartPolicy {
        RESTART_POLICY_ALWAYS,
        RESTART_POLICY_ON_FAILURE,
        RESTART_POLICY_NEVER,
        _RESTART_POLICY_MAX,
        _RESTART_POLICY_INVALID = -EINVAL,
} RestartPolicy;
const char *restart_policy_to_string(RestartPolicy p);
RestartPolicy restart_policy_from_string(const char *s);

typedef enum PullPolicy {
        PULL_POLICY_ALWAYS,
        PULL_POLICY_IF_NOT_PRESENT,
        PULL_POLICY_NEVER,
        _PULL_POLICY_MAX,
        _PULL_POLICY_INVALID = -EINVAL,
} PullPolicy;
const char *pull_policy_to_string(PullPolicy p);
PullPolicy pull_policy_from_string(const char *s);

typedef enum DnsPolicy {
        DNS_POLICY_CLUSTER_FIRST,
        DNS_POLICY_CLUSTER_FIRST_WITH_HOST_NET,
        DNS_POLICY_DEFAULT,
        DNS_POLICY_NONE,
        _DNS_POLICY_MAX,
        _DNS_POLICY_INVALID = -EINVAL,
} DnsPolicy;
const char *dns_policy_to_string(DnsPolicy p);
DnsPolicy dns_policy_from_string(const char *s);

typedef enum QosClass {
        QOS_GUARANTEED,
        QOS_BURSTABLE,
        QOS_BEST_EFFORT,
        _QOS_CLASS_MAX,
        _QOS_CLASS_INVALID = -EINVAL,
} QosClass;
const char *qos_class_to_string(QosClass q); /* "Guaranteed", "Burstable", "BestEffort" */

/* ---- handlers (probes and lifecycle hooks) ---- */

typedef enum HandlerType {
        HANDLER_NONE,
        HANDLER_EXEC,
        HANDLER_HTTP_GET,
        HANDLER_TCP_SOCKET,
        HANDLER_GRPC,  /* probes only */
        HANDLER_SLEEP, /* lifecycle hooks only (sleep.seconds) */
        _HANDLER_TYPE_MAX,
        _HANDLER_TYPE_INVALID = -EINVAL,
} HandlerType;

typedef struct HttpHeader {
        char *name, *value;
} HttpHeader;

/* An IntOrString port: a number, or the name of one of the container's ports (resolved by the prober). */
typedef struct PortRef {
        int32_t number; /* 0 when name is set */
        char *name;
} PortRef;

typedef struct Handler {
        HandlerType type;
        char **exec_command; /* HANDLER_EXEC */
        char *http_host;     /* NULL = the pod IP */
        char *http_path;     /* defaulted to "/" */
        bool http_https;     /* scheme HTTPS */
        HttpHeader *http_headers;
        size_t n_http_headers;
        PortRef port;       /* HTTP_GET, TCP_SOCKET, GRPC (number only) */
        char *tcp_host;     /* NULL = the pod IP */
        char *grpc_service; /* NULL = "" (the server's overall health) */
        int64_t sleep_seconds;
} Handler;

typedef struct Probe {
        Handler handler;
        int32_t initial_delay_seconds;            /* default 0 */
        int32_t timeout_seconds;                  /* default 1 */
        int32_t period_seconds;                   /* default 10 */
        int32_t success_threshold;                /* default 1 (must be 1 for liveness and startup) */
        int32_t failure_threshold;                /* default 3 */
        int64_t termination_grace_period_seconds; /* probe-level override; -1 = unset */
} Probe;

/* ---- env ---- */

typedef enum EnvSource {
        ENV_SOURCE_VALUE,
        ENV_SOURCE_FIELD_REF,          /* field_path */
        ENV_SOURCE_RESOURCE_FIELD_REF, /* resource_container, resource, divisor */
        ENV_SOURCE_CONFIG_MAP_KEY,     /* cluster mode (ref_name, ref_key, optional) */
        ENV_SOURCE_SECRET_KEY,
        _ENV_SOURCE_MAX,
        _ENV_SOURCE_INVALID = -EINVAL,
} EnvSource;

typedef struct EnvVar {
        char *name;
        EnvSource source;
        char *value;              /* ENV_SOURCE_VALUE ("" when absent) */
        char *field_path;         /* e.g. "metadata.name", "metadata.labels['app']", "status.podIP" */
        char *resource_container; /* NULL = this container */
        char *resource;           /* "limits.cpu", "requests.memory", "limits.ephemeral-storage", ... */
        char *divisor;            /* as written, NULL = "1" */
        char *ref_name, *ref_key;
        bool optional;
} EnvVar;

/* envFrom (cluster mode: configMapRef / secretRef). */
typedef struct EnvFromSource {
        char *prefix;
        bool secret; /* false: configMapRef */
        char *name;
        bool optional;
} EnvFromSource;

/* ---- resources ---- */

typedef struct ResourceList {
        int64_t cpu_milli; /* -1 = unset */
        int64_t memory;    /* bytes, -1 = unset */
        int64_t ephemeral_storage;
        int64_t hugepages_2mi; /* parsed so they count for QoS; not enforced */
} ResourceList;

typedef struct Resources {
        ResourceList requests; /* requests default to limits where only limits are given (API defaulting) */
        ResourceList limits;
} Resources;

/* ---- security ---- */

typedef enum SeccompProfileType {
        SECCOMP_PROFILE_UNSET, /* the kubelet's default: Unconfined unless SeccompDefault is on */
        SECCOMP_PROFILE_RUNTIME_DEFAULT,
        SECCOMP_PROFILE_UNCONFINED,
        SECCOMP_PROFILE_LOCALHOST,
} SeccompProfileType;

typedef struct SecurityContext {
        /* -1 = unset for ids; tristate bools: -1 unset, 0 false, 1 true */
        int64_t run_as_user, run_as_group;
        int run_as_non_root;
        int read_only_root_filesystem;
        int privileged;
        int allow_privilege_escalation;
        char **cap_add, **cap_drop;
        SeccompProfileType seccomp;
        char *seccomp_localhost_profile; /* relative to <root-dir>/seccomp, like the kubelet */
} SecurityContext;

typedef struct PodSecurityContext {
        int64_t run_as_user, run_as_group, fs_group; /* -1 = unset */
        int run_as_non_root;
        int64_t *supplemental_groups;
        size_t n_supplemental_groups;
        SeccompProfileType seccomp;
        char *seccomp_localhost_profile;
        /* sysctls: name=value, only the namespaced safe set is applied */
        char **sysctls;
} PodSecurityContext;

/* ---- containers ---- */

typedef struct ContainerPort {
        char *name;
        int32_t container_port;
        int32_t host_port; /* 0 = none */
        char *protocol;    /* "TCP" (default), "UDP", "SCTP" */
        char *host_ip;
} ContainerPort;

typedef struct VolumeMount {
        char *name;
        char *mount_path;
        char *sub_path;      /* NULL = whole volume */
        char *sub_path_expr; /* $(VAR) expanded from the container env */
        bool read_only;
        MountPropagation propagation;
} VolumeMount;

typedef enum ContainerKind {
        CONTAINER_KIND_INIT,
        CONTAINER_KIND_APP,
        _CONTAINER_KIND_MAX,
        _CONTAINER_KIND_INVALID = -EINVAL,
} ContainerKind;

typedef struct PodContainer {
        ContainerKind kind;
        size_t index; /* in spec.containers or spec.initContainers */
        char *name;
        char *image;
        PullPolicy image_pull_policy; /* default: Always for :latest or no tag, else IfNotPresent */
        char **command, **args;
        char *working_dir;
        ContainerPort *ports;
        size_t n_ports;
        EnvVar *env;
        size_t n_env;
        EnvFromSource *env_from;
        size_t n_env_from;
        Resources resources;
        VolumeMount *volume_mounts;
        size_t n_volume_mounts;
        Probe *liveness_probe, *readiness_probe, *startup_probe; /* NULL = none */
        Handler *post_start, *pre_stop;                          /* NULL = none */
        char *termination_message_path;                          /* default /dev/termination-log */
        bool termination_message_fallback_to_logs;               /* policy FallbackToLogsOnError */
        SecurityContext security_context;                        /* all unset when absent */
        bool has_restart_policy; /* init containers only: restartPolicy Always makes a sidecar */
        RestartPolicy restart_policy;
        bool stdin_, tty;
        bool stdin_once; /* stdinOnce: the runtime closes stdin after the first attach (kubectl attach -i) */
        /* Hash of the container's spec as given (the kubelet restarts a container whose spec hash changed). */
        char hash[17];
} PodContainer;

static inline bool pod_container_is_sidecar(const PodContainer *c) {
        return c->kind == CONTAINER_KIND_INIT && c->has_restart_policy && c->restart_policy == RESTART_POLICY_ALWAYS;
}

/* ---- volumes ---- */

typedef enum VolumeType {
        VOLUME_EMPTY_DIR,
        VOLUME_HOST_PATH,
        VOLUME_DOWNWARD_API,
        VOLUME_PROJECTED,
        VOLUME_CONFIG_MAP,            /* cluster mode */
        VOLUME_SECRET,                /* cluster mode */
        VOLUME_SERVICE_ACCOUNT_TOKEN, /* a projection source only (cluster mode) */
        _VOLUME_TYPE_MAX,
        _VOLUME_TYPE_INVALID = -EINVAL,
} VolumeType;

typedef enum HostPathType {
        HOST_PATH_UNSET, /* "": no check */
        HOST_PATH_DIRECTORY_OR_CREATE,
        HOST_PATH_DIRECTORY,
        HOST_PATH_FILE_OR_CREATE,
        HOST_PATH_FILE,
        HOST_PATH_SOCKET,
        HOST_PATH_CHAR_DEVICE,
        HOST_PATH_BLOCK_DEVICE,
        _HOST_PATH_TYPE_MAX,
        _HOST_PATH_TYPE_INVALID = -EINVAL,
} HostPathType;
const char *host_path_type_to_string(HostPathType t);

/* One file of a downwardAPI volume or projection. */
typedef struct DownwardApiItem {
        char *path;       /* relative, no "..", validated */
        char *field_path; /* metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations,
                           * metadata.labels['k'], metadata.annotations['k'] */
        char *resource_container, *resource, *divisor; /* resourceFieldRef */
        int32_t mode;                                  /* -1 = the volume's defaultMode */
} DownwardApiItem;

/* configMap/secret items (cluster mode). */
typedef struct KeyToPath {
        char *key, *path;
        int32_t mode; /* -1 = default */
} KeyToPath;

typedef struct ProjectedSource {
        VolumeType type; /* VOLUME_DOWNWARD_API, VOLUME_CONFIG_MAP, VOLUME_SECRET or VOLUME_SERVICE_ACCOUNT_TOKEN;
                          * others (clusterTrustBundle) are ignored */
        DownwardApiItem *items;
        size_t n_items;
        char *name; /* configMap/secret name */
        KeyToPath *keys;
        size_t n_keys;
        bool optional;
        /* serviceAccountToken: audience (NULL = the API server's), expirationSeconds (default 3600), path */
        char *audience;
        int64_t expiration_seconds;
        char *token_path;
} ProjectedSource;

typedef struct Volume {
        char *name;
        VolumeType type;
        /* emptyDir */
        bool medium_memory;
        int64_t size_limit; /* bytes, -1 = unset */
        /* hostPath */
        char *host_path;
        HostPathType host_path_type;
        /* downwardAPI (items) and projected (sources); configMap/secret (name, keys, optional) */
        DownwardApiItem *items;
        size_t n_items;
        ProjectedSource *sources;
        size_t n_sources;
        char *ref_name;
        KeyToPath *keys;
        size_t n_keys;
        bool optional;
        int32_t default_mode; /* default 0644 */
} Volume;

/* ---- pod ---- */

typedef struct HostAlias {
        char *ip;
        char **hostnames;
} HostAlias;

typedef struct PodDnsConfig {
        char **nameservers, **searches;
        char **options; /* "name" or "name:value" as resolv.conf writes them */
} PodDnsConfig;

typedef struct Pod {
        json_t *object; /* the whole v1.Pod as given, with defaults filled in; owned */
        char *uid, *name, *namespace_;
        json_t *labels, *annotations; /* borrowed from object; never NULL (empty objects) */
        char *source;                 /* "file" or "api" */
        char *source_path;            /* the manifest file, for messages */

        char *node_name;
        char *hostname, *subdomain;
        char *service_account_name; /* default "default" */
        RestartPolicy restart_policy;
        DnsPolicy dns_policy;
        PodDnsConfig dns_config;
        bool has_dns_config;
        bool host_network, host_pid, host_ipc;
        bool share_process_namespace;
        int64_t termination_grace_period_seconds; /* default 30 */
        int64_t active_deadline_seconds;          /* -1 = unset */
        char *priority_class_name;
        int32_t priority;
        HostAlias *host_aliases;
        size_t n_host_aliases;
        PodSecurityContext security_context;
        bool automount_service_account_token;

        PodContainer *init_containers;
        size_t n_init_containers;
        PodContainer *containers;
        size_t n_containers;
        Volume *volumes;
        size_t n_volumes;

        QosClass qos_class;                    /* computed like pkg/apis/core/v1/helper/qos */
        int64_t deletion_grace_period_seconds; /* metadata (API pods), -1 = unset */
        bool deleting;                         /* metadata.deletionTimestamp set */
} Pod;

/* Parses and validates a v1.Pod object (borrowed; the Pod keeps a copy with defaults filled in). Errors name the
 * field; the pod name is added by the caller. source: "file" or "api". */
int pod_parse(const json_t *obj, const char *source, Pod **ret, ErrorBuf *e);
Pod *pod_free(Pod *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Pod *, pod_free)

/* "namespace/name", for messages. */
const char *pod_full_name(const Pod *p, char *buf, size_t size);
const PodContainer *pod_find_container(const Pod *p, const char *name);
const Volume *pod_find_volume(const Pod *p, const char *name);

/* Quantities: quantity_parse_milli(), quantity_parse_bytes(), quantity_from_json(). */
#include "agent/quantity.h"

/* What the runtime sees of the container's environment: the env list resolved (value, fieldRef, resourceFieldRef;
 * configMap/secret refs through the lookup, NULL = unresolvable), with $(VAR) expansion against earlier entries as
 * the kubelet does (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables). The pod IPs and host IP come from the
 * worker. Returns "NAME=value" strv. Errors name the field (spec.containers[1].env[2].valueFrom.fieldRef). */
typedef struct PodRuntimeInfo {
        char *const *pod_ips; /* may be NULL or empty */
        const char *host_ip;
        const char *node_name;
        int64_t node_allocatable_cpu_milli; /* used for limits.* when the container has no limit */
        int64_t node_allocatable_memory;
        int64_t node_allocatable_ephemeral_storage;
        /* Cluster mode (agent/api-objects.h): the ConfigMaps, Secrets and service account tokens the pod refers
         * to, resolved on the loop and owned by the job that reads them:
         *   {"configMaps": {"<name>": {"data": {k: v}, "binaryData": {k: decoded}}},
         *    "secrets": {"<name>": {"data": {k: decoded}}}, "tokens": {"<volume>/<source index>": "<jwt>"}}
         * (values may hold NUL bytes: use json_string_length). A name that is absent was not found. NULL (static
         * pods, standalone): configMap/secret references cannot be resolved. */
        const json_t *api_objects;
} PodRuntimeInfo;
int pod_container_env(const Pod *p, const PodContainer *c, const PodRuntimeInfo *info, char ***ret, ErrorBuf *e);

/* Whether a fieldRef fieldPath is one nodelet resolves: metadata.{name,namespace,uid,labels,annotations} and
 * metadata.labels['k'] / metadata.annotations['k'] everywhere; for env (volume false) also spec.nodeName,
 * spec.serviceAccountName, status.hostIP(s), status.podIP(s). */
bool pod_field_path_valid(const char *field_path, bool volume);

/* The value of a downward API fieldRef (metadata.*, spec.*, status.*), or a resourceFieldRef, as a string. */
int pod_field_ref_value(const Pod *p, const char *field_path, const PodRuntimeInfo *info, char **ret, ErrorBuf *e);
int pod_resource_field_ref_value(const Pod *p, const PodContainer *c, const char *resource, const char *divisor,
                                 const PodRuntimeInfo *info, char **ret, ErrorBuf *e);

/* $(VAR) expansion as Kubernetes does it (third_party/forked/golang/expansion): $(NAME) → value when NAME is in env
 * ("NAME=value" strv), else left as is; $$ → $. */
char *pod_expand_vars(const char *s, char *const *env);
