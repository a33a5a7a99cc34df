/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The daemon's configuration: kubelet-compatible command-line flags and a KubeletConfiguration file
 * (kubelet.config.k8s.io/v1beta1), merged the way the kubelet merges them: built-in defaults (those of
 * pkg/kubelet/apis/config/v1beta1/defaults.go), then the --config file, then the flags, which win.
 *
 * Everything is strict, because a typo in a node agent's configuration should stop it, not be silently ignored:
 * an unknown flag, an unknown field, a value of the wrong type or out of range makes nodelet_config_load() fail
 * with -EINVAL and a message that names the setting and where it came from:
 *     --max-pods: expected an integer, got "many"
 *     /etc/nodelet/config.yaml:7: staticPodPth: unknown field
 *     /etc/nodelet/config.yaml:9: maxPods: expected an integer, got string "many"
 * Fields the kubelet knows and nodelet does not implement (cpuManagerPolicy, kubeAPIQPS, tlsCipherSuites, ...) are
 * accepted so that real kubelet configuration files work, and each one gets a line in `warnings` for the daemon to
 * log at start. staticPodURL (--manifest-url) is refused: nodelet does not fetch pods over HTTP.
 *
 * Decisions where nodelet differs from, or has to choose for, the kubelet:
 * - cgroupDriver: "cgroupfs" and "systemd" are both accepted. nodelet always manages its own delegated cgroup
 *   subtree directly (the unit has Delegate=yes), which is what systemd expects from a delegated service; "systemd"
 *   is kept (and shown by nodelet_config_dump()) but changes nothing, and a warning says so.
 * - failSwapOn is parsed and kept, and ignored on purpose: nodelet does not refuse to start on a node with swap.
 * - featureGates: values must be booleans; gates nodelet does not know are accepted with a warning (the kubelet
 *   refuses them, but its list changes with every release and nodelet should run the files written for it).
 * - evictionHard: a given map replaces the kubelet's default thresholds (unlisted signals are then disabled), unless
 *   mergeDefaultEvictionSettings is true, like the kubelet. nodelet parses and keeps the thresholds.
 * - Without --config the kubelet's flag defaults for its servers apply: anonymous authentication on, token webhook
 *   off, authorization AlwaysAllow; with a file, the v1beta1 defaults (anonymous off, webhook on, mode Webhook).
 *   The read-only port defaults to 0 (off) in both cases.
 * - nodeStatusReportFrequency defaults to nodeStatusUpdateFrequency when only the latter is set (as the kubelet).
 * - --cni-bin-dir is a list; /usr/lib/cni (where Debian installs the reference plugins) is always appended.
 * - nodelet's own flags: --state-dir (runtime state), --cni-conf-dir/--cni-bin-dir/--cni-cache-dir (removed from
 *   the kubelet with dockershim, nodelet runs CNI itself) and --drain (stop every pod when the daemon exits
 *   instead of leaving them running for the next start to re-adopt). */

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/log.h"
#include "common/macro.h"

#define NODELET_CONFIG_API_VERSION "kubelet.config.k8s.io/v1beta1"
#define NODELET_CONFIG_KIND "KubeletConfiguration"

/* nodelet_config_load() printed the --help text to stdout and returned no configuration: the caller exits 0. */
#define NODELET_CONFIG_HELP 1

typedef enum CgroupDriverKind {
        CGROUP_DRIVER_CGROUPFS,
        CGROUP_DRIVER_SYSTEMD, /* accepted, behaves as cgroupfs (see above) */
        _CGROUP_DRIVER_MAX,
        _CGROUP_DRIVER_INVALID = -EINVAL,
} CgroupDriverKind;
const char *cgroup_driver_kind_to_string(CgroupDriverKind d);
CgroupDriverKind cgroup_driver_kind_from_string(const char *s);

typedef enum AuthorizationMode {
        AUTHORIZATION_MODE_ALWAYS_ALLOW,
        AUTHORIZATION_MODE_WEBHOOK,
        _AUTHORIZATION_MODE_MAX,
        _AUTHORIZATION_MODE_INVALID = -EINVAL,
} AuthorizationMode;
const char *authorization_mode_to_string(AuthorizationMode m); /* "AlwaysAllow", "Webhook" */
AuthorizationMode authorization_mode_from_string(const char *s);

typedef struct NodeletLabel {
        char *key, *value;
} NodeletLabel;

typedef struct NodeletTaint {
        char *key, *value, *effect; /* value "" when none; effect NoSchedule, PreferNoSchedule or NoExecute */
} NodeletTaint;

/* An entry of evictionHard, kubeReserved or systemReserved. */
typedef struct NodeletQuantity {
        char *name;      /* the signal ("memory.available") or resource ("cpu", "memory", "ephemeral-storage") */
        char *value;     /* as written: "100Mi", "10%", "250m" */
        bool percentage; /* eviction thresholds only: value was "N%" */
        double percent;  /* 0..100 when percentage */
        int64_t amount;  /* otherwise: bytes, millicores for "cpu", a count for inodes and pids */
} NodeletQuantity;

typedef struct NodeletFeatureGate {
        char *name;
        bool enabled;
} NodeletFeatureGate;

/* Every string is owned by the config and non-NULL ("" when unset); strv fields are NULL-terminated and never
 * NULL; durations are in microseconds. */
typedef struct NodeletConfig {
        char *config_file; /* --config; "" when none */

        /* Directories and files */
        char *root_dir;             /* --root-dir: /var/lib/nodelet */
        char *state_dir;            /* --state-dir: /run/nodelet */
        char *cert_dir;             /* --cert-dir: <root-dir>/pki */
        char *static_pod_path;      /* --pod-manifest-path, staticPodPath: "" = no static pods */
        char *pod_logs_dir;         /* podLogsDir: /var/log/pods */
        char *resolv_conf;          /* --resolv-conf, resolvConf: /etc/resolv.conf; "" = none (no DNS) */
        char *kubeconfig;           /* --kubeconfig: "" = standalone */
        char *bootstrap_kubeconfig; /* --bootstrap-kubeconfig */
        char *cni_conf_dir;         /* --cni-conf-dir: /etc/cni/net.d */
        char **cni_bin_dirs;        /* --cni-bin-dir: /opt/cni/bin, always followed by /usr/lib/cni */
        char *cni_cache_dir;        /* --cni-cache-dir: /var/lib/cni */
        char *registry_config_dir;  /* --registry-config-dir: /etc/nodelet/certs.d (hosts.toml per registry) */

        /* The node */
        char *hostname;            /* --hostname-override, else gethostname() lowercased */
        char **node_ips;           /* --node-ip: at most one per family, empty = auto */
        char *pod_cidr;            /* --pod-cidr, podCIDR: "" (standalone CNI default: 10.88.0.0/16) */
        NodeletLabel *node_labels; /* --node-labels */
        size_t n_node_labels;
        bool register_node;                 /* --register-node, registerNode: true */
        NodeletTaint *register_with_taints; /* --register-with-taints, registerWithTaints */
        size_t n_register_with_taints;
        int32_t max_pods;         /* --max-pods, maxPods: 110 */
        int32_t kube_api_qps;     /* --kube-api-qps, kubeAPIQPS: 50 (client-side rate limit to the API server) */
        int32_t kube_api_burst;   /* --kube-api-burst, kubeAPIBurst: 100 */
        int32_t event_record_qps; /* --event-qps, eventRecordQPS: 50 (events' own client; 0 = no limit) */
        int32_t event_burst;      /* --event-burst, eventBurst: 100 */
        char **cluster_dns;       /* --cluster-dns, clusterDNS: IPs, empty */
        char *cluster_domain;     /* --cluster-domain, clusterDomain: "" */

        /* Servers */
        bool enable_server;          /* --enable-server, enableServer: true */
        char *address;               /* --address: 0.0.0.0 */
        int32_t port;                /* --port: 10250 */
        int32_t read_only_port;      /* --read-only-port: 0 = off */
        char *healthz_bind_address;  /* --healthz-bind-address: 127.0.0.1 */
        int32_t healthz_port;        /* --healthz-port: 10248, 0 = off */
        char *tls_cert_file;         /* --tls-cert-file: "" = self-signed in cert_dir */
        char *tls_private_key_file;  /* --tls-private-key-file */
        bool rotate_certificates;    /* --rotate-certificates, rotateCertificates: false (client cert rotation) */
        bool server_tls_bootstrap;   /* --rotate-server-certificates, serverTLSBootstrap: false (serving cert CSR) */
        bool anonymous_auth;         /* authentication.anonymous.enabled */
        bool webhook_authentication; /* authentication.webhook.enabled */
        uint64_t webhook_authentication_cache_ttl_usec; /* authentication.webhook.cacheTTL: 2m */
        char *client_ca_file;                           /* authentication.x509.clientCAFile */
        AuthorizationMode authorization_mode;           /* authorization.mode */
        uint64_t webhook_cache_authorized_ttl_usec;     /* authorization.webhook.cacheAuthorizedTTL: 5m */
        uint64_t webhook_cache_unauthorized_ttl_usec;   /* authorization.webhook.cacheUnauthorizedTTL: 30s */

        /* Cgroups */
        char *cgroup_root;              /* --cgroup-root: "" = the runtime's default below nodelet's own cgroup */
        CgroupDriverKind cgroup_driver; /* --cgroup-driver: cgroupfs */

        /* Timing */
        uint64_t sync_frequency_usec;                      /* 1m */
        uint64_t file_check_frequency_usec;                /* 20s */
        uint64_t runtime_request_timeout_usec;             /* 2m */
        uint64_t node_status_update_frequency_usec;        /* 10s */
        uint64_t node_status_report_frequency_usec;        /* 5m */
        int32_t node_lease_duration_seconds;               /* 40 */
        uint64_t max_container_restart_period_usec;        /* crashLoopBackOff.maxContainerRestartPeriod: 300s */
        uint64_t shutdown_grace_period_usec;               /* 0 */
        uint64_t shutdown_grace_period_critical_pods_usec; /* 0 */

        /* Images */
        bool serialize_image_pulls;              /* true (false when maxParallelImagePulls > 1 alone) */
        int32_t max_parallel_image_pulls;        /* 0 = unset (nil: no limit) */
        int32_t image_gc_high_threshold_percent; /* 85 */
        int32_t image_gc_low_threshold_percent;  /* 80 */
        uint64_t image_minimum_gc_age_usec;      /* 2m */
        uint64_t image_maximum_gc_age_usec;      /* imageMaximumGCAge: 0 = off (agent/image-gc.h) */

        /* Container logs */
        char *container_log_max_size; /* as written: 10Mi */
        int64_t container_log_max_size_bytes;
        int32_t container_log_max_files; /* 5 */

        /* Resources */
        NodeletQuantity *eviction_hard; /* kubelet defaults, see above */
        size_t n_eviction_hard;
        bool merge_default_eviction_settings;
        NodeletQuantity *kube_reserved;
        size_t n_kube_reserved;
        NodeletQuantity *system_reserved;
        size_t n_system_reserved;

        /* Behaviour */
        NodeletFeatureGate *feature_gates;
        size_t n_feature_gates;
        bool seccomp_default; /* false */
        bool fail_swap_on;    /* true; ignored on purpose */
        bool drain;           /* --drain: false */
        bool check_config;    /* --check-config: validate, print the effective configuration, exit */

        /* The kube-proxy part (cluster mode; agent/api-services.h). Flag-only, with kube-proxy's flag names: they
         * are no KubeletConfiguration fields, so the --config file does not take them and the dump omits them. */
        bool disable_proxy;                  /* --disable-proxy: false (run beside an existing kube-proxy) */
        char *proxy_mode;                    /* --proxy-mode: "nftables", the only mode */
        char *proxy_kubeconfig;              /* --proxy-kubeconfig: "" = the node's --kubeconfig */
        char **cluster_cidrs;                /* --cluster-cidr: at most one per family */
        char **service_cluster_ip_ranges;    /* --service-cluster-ip-range: at most one per family */
        char **nodeport_addresses;           /* --nodeport-addresses: CIDRs or "primary"; empty = the node's IPs */
        bool masquerade_all;                 /* --masquerade-all: false */
        uint64_t proxy_min_sync_period_usec; /* --proxy-min-sync-period: 1s (kube-proxy's minSyncPeriod) */

        /* Logging: klog verbosity (--v, logging.verbosity) and what it means for log_set_max_level(). */
        int32_t verbosity;
        LogLevel log_level;   /* 0-2 info, >= 3 debug */
        char *logging_format; /* logging.format: "text" */

        /* Messages for the daemon to log at start (ignored fields, unknown feature gates); never NULL. */
        char **warnings;
} NodeletConfig;

/* Parses argv (argv[0] is the program name and skipped), reads the --config file when given, applies defaults and
 * validates the result. Returns 0 and a new config in *ret; NODELET_CONFIG_HELP after printing --help to stdout
 * (*ret untouched); or -EINVAL with the message in e (-ENOMEM, or the file's read error, otherwise). */
int nodelet_config_load(int argc, char *argv[], NodeletConfig **ret, ErrorBuf *e);
NodeletConfig *nodelet_config_free(NodeletConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(NodeletConfig *, nodelet_config_free)

/* The --help text: every flag with its argument type, purpose and default. */
void nodelet_config_usage(FILE *f);

/* The effective configuration as a KubeletConfiguration object (apiVersion and kind included), in the kubelet's
 * field names and formats (durations "1m0s"): what the kubelet's /configz shows under "kubeletconfig". Flag-only
 * settings (directories, hostname, labels, CNI) are not part of it. The result loads back as a --config file. */
int nodelet_config_dump(const NodeletConfig *c, json_t **ret);

/* Whether a feature gate is enabled: the configured value, else def. */
bool nodelet_config_feature_enabled(const NodeletConfig *c, const char *gate, bool def);

/* Helpers shared with the tests (and anyone parsing the same formats). */
/* Go's time.ParseDuration ("1m30s", "500ms", "1h", "0"), in microseconds; negative durations are refused. */
int config_parse_duration(const char *s, uint64_t *ret_usec);
/* Go's time.Duration.String(): "1m30s", "500ms", "0s". buf of at least 32 bytes. */
const char *config_format_duration(uint64_t usec, char *buf, size_t size);
/* A non-negative resource.Quantity ("100Mi", "1.5G", "250m", "1e3"), rounded up to a whole number of base units
 * (bytes), or of thousandths of them when milli is true (millicores). -EINVAL when invalid, -ERANGE on overflow. */
int config_parse_quantity(const char *s, bool milli, int64_t *ret);
