/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>

#include "agent/quantity.h"
#include "common/json-util.h"
#include "common/strv.h"
#include "common/yaml.h"
#include "nodelet-paths.h"

/* ---- enums ---- */

/* Field paths for messages ("evictionHard.memory.available", "registerWithTaints[2].effect"): truncated when absurdly
 * long, which only shortens a message. (A function, so gcc does not warn about the truncation it cannot rule out.) */
static void path_fmt(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void path_fmt(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

static const char *const cgroup_driver_table[_CGROUP_DRIVER_MAX] = {
        [CGROUP_DRIVER_CGROUPFS] = "cgroupfs",
        [CGROUP_DRIVER_SYSTEMD] = "systemd",
};

const char *cgroup_driver_kind_to_string(CgroupDriverKind d) {
        return d >= 0 && d < _CGROUP_DRIVER_MAX ? cgroup_driver_table[d] : NULL;
}

CgroupDriverKind cgroup_driver_kind_from_string(const char *s) {
        for (CgroupDriverKind d = 0; s && d < _CGROUP_DRIVER_MAX; d++)
                if (streq(s, cgroup_driver_table[d]))
                        return d;
        return _CGROUP_DRIVER_INVALID;
}

static const char *const authorization_mode_table[_AUTHORIZATION_MODE_MAX] = {
        [AUTHORIZATION_MODE_ALWAYS_ALLOW] = "AlwaysAllow",
        [AUTHORIZATION_MODE_WEBHOOK] = "Webhook",
};

const char *authorization_mode_to_string(AuthorizationMode m) {
        return m >= 0 && m < _AUTHORIZATION_MODE_MAX ? authorization_mode_table[m] : NULL;
}

AuthorizationMode authorization_mode_from_string(const char *s) {
        for (AuthorizationMode m = 0; s && m < _AUTHORIZATION_MODE_MAX; m++)
                if (streq(s, authorization_mode_table[m]))
                        return m;
        return _AUTHORIZATION_MODE_INVALID;
}

/* ---- value formats ---- */

int config_parse_duration(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *unit;
                uint64_t nsec;
        } units[] = {
                {"ns", 1},           {"us", 1000},        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
                {"\xce\xbcs", 1000},                                           /* U+03BC Greek mu */
                {"ms", 1000000},     {"s", NSEC_PER_SEC}, {"m", 60 * NSEC_PER_SEC}, {"h", 3600 * NSEC_PER_SEC},
        };
        const char *p = s;
        uint64_t total = 0;

        if (!s)
                return -EINVAL;
        if (*p == '-') /* Go accepts negative durations; no setting here wants one */
                return -ERANGE;
        if (*p == '+')
                p++;
        if (streq(p, "0")) {
                *ret_usec = 0;
                return 0;
        }
        if (!*p)
                return -EINVAL;
        while (*p) {
                uint64_t whole = 0, frac = 0, scale = 1;
                bool digits = false;
                size_t n;

                for (; isdigit((unsigned char) *p); p++, digits = true) {
                        if (whole > (UINT64_MAX - 9) / 10)
                                return -ERANGE;
                        whole = whole * 10 + (uint64_t) (*p - '0');
                }
                if (*p == '.')
                        for (p++; isdigit((unsigned char) *p); p++, digits = true)
                                if (scale < 1000000000000000000ULL) { /* further digits are below 1 ns */
                                        frac = frac * 10 + (uint64_t) (*p - '0');
                                        scale *= 10;
                                }
                if (!digits)
                        return -EINVAL;
                for (n = 0; p[n] && p[n] != '.' && !isdigit((unsigned char) p[n]); n++)
                        ;
                size_t i;
                for (i = 0; i < ELEMENTSOF(units); i++)
                        if (strlen(units[i].unit) == n && strncmp(p, units[i].unit, n) == 0)
                                break;
                if (i >= ELEMENTSOF(units))
                        return -EINVAL; /* missing or unknown unit */
                p += n;
                if (whole > UINT64_MAX / units[i].nsec)
                        return -ERANGE;
                uint64_t v = whole * units[i].nsec;
                /* frac/scale of a unit: multiply in long double, fractions of a nanosecond do not matter */
                v += (uint64_t) ((long double) frac * (long double) units[i].nsec / (long double) scale);
                if (v > UINT64_MAX - total)
                        return -ERANGE;
                total += v;
        }
        if (total > (uint64_t) INT64_MAX) /* Go's Duration is an int64 of nanoseconds */
                return -ERANGE;
        *ret_usec = total / NSEC_PER_USEC;
        return 0;
}

/* Go's Duration.String() for whole microseconds. */
const char *config_format_duration(uint64_t usec, char *buf, size_t size) {
        if (usec == 0)
                snprintf(buf, size, "0s");
        else if (usec < USEC_PER_MSEC)
                snprintf(buf, size, "%" PRIu64 "\xc2\xb5s", usec);
        else if (usec < USEC_PER_SEC) {
                char frac[8];
                snprintf(frac, sizeof frac, "%03" PRIu64, (uint64_t) (usec % USEC_PER_MSEC));
                for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
                        frac[n - 1] = 0;
                snprintf(buf, size, "%" PRIu64 "%s%sms", (uint64_t) (usec / USEC_PER_MSEC), frac[0] ? "." : "", frac);
        } else {
                uint64_t s = usec / USEC_PER_SEC, h = s / 3600, m = s / 60 % 60;
                char frac[8], hm[48] = "";
                snprintf(frac, sizeof frac, "%06" PRIu64, (uint64_t) (usec % USEC_PER_SEC));
                for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
                        frac[n - 1] = 0;
                if (h > 0)
                        snprintf(hm, sizeof hm, "%" PRIu64 "h%" PRIu64 "m", h, m);
                else if (m > 0)
                        snprintf(hm, sizeof hm, "%" PRIu64 "m", m);
                snprintf(buf, size, "%s%" PRIu64 "%s%ss", hm, s % 60, frac[0] ? "." : "", frac);
        }
        return buf;
}

int config_parse_quantity(const char *s, bool milli, int64_t *ret) {
        int64_t v;
        int r = quantity_parse(s, milli, &v);
        if (r < 0)
                return r;
        /* Reservations, thresholds and limits: a negative amount is a typo, not a credit. */
        if (v < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Go's strconv.ParseBool, which pflag uses for boolean flags. */
static int parse_bool(const char *s, bool *ret) {
        static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                if (streq(s, t[i])) {
                        *ret = true;
                        return 0;
                }
                if (streq(s, f[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_int64(const char *s, int64_t *ret) {
        char *end;
        errno = 0;
        if (isempty(s) || isspace((unsigned char) s[0]))
                return -EINVAL;
        long long v = strtoll(s, &end, 10);
        if (*end)
                return -EINVAL;
        if (errno == ERANGE)
                return -ERANGE;
        *ret = v;
        return 0;
}

static bool ip_family(const char *s, int *ret_family) {
        unsigned char buf[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, s, buf) == 1) {
                *ret_family = AF_INET;
                return true;
        }
        if (inet_pton(AF_INET6, s, buf) == 1) {
                *ret_family = AF_INET6;
                return true;
        }
        return false;
}

/* The checks below return NULL when s is fine, else what is wrong with it (for "<setting>: <what>"). */
static const char *check_ip(const char *s) {
        int family;
        return ip_family(s, &family) ? NULL : "expected an IP address";
}

static const char *check_cidr(const char *s) {
        char addr[INET6_ADDRSTRLEN + 1];
        const char *slash = strchr(s, '/');
        int family;
        int64_t bits;

        if (isempty(s))
                return NULL;
        if (!slash || (size_t) (slash - s) >= sizeof addr)
                return "expected a CIDR (address/prefix length)";
        memcpy(addr, s, slash - s);
        addr[slash - s] = 0;
        if (!ip_family(addr, &family) || parse_int64(slash + 1, &bits) < 0 || bits < 0 ||
            bits > (family == AF_INET ? 32 : 128))
                return "expected a CIDR (address/prefix length)";
        return NULL;
}

/* kube-proxy's --proxy-mode: nodelet programs nftables only (iptables and ipvs are kube-proxy's older modes). */
static const char *check_proxy_mode(const char *s) {
        return streq(s, "nftables") ? NULL : "only \"nftables\" is supported";
}

/* kube-proxy's --nodeport-addresses: CIDRs, or "primary" (the node's IPs, which is also the default). */
static const char *check_nodeport_address(const char *s) {
        return streq(s, "primary") || !check_cidr(s) ? NULL : "expected a CIDR or \"primary\"";
}

/* RFC 1123 subdomain, as Kubernetes validates names and DNS domains. */
static bool is_dns1123_subdomain(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 253)
                return false;
        for (const char *label = s; label;) {
                const char *dot = strchr(label, '.');
                size_t l = dot ? (size_t) (dot - label) : strlen(label);
                if (l == 0 || l > 63 || !isalnum((unsigned char) label[0]) || !isalnum((unsigned char) label[l - 1]))
                        return false;
                for (size_t i = 0; i < l; i++)
                        if (!(islower((unsigned char) label[i]) || isdigit((unsigned char) label[i]) ||
                              label[i] == '-'))
                                return false;
                label = dot ? dot + 1 : NULL;
        }
        return true;
}

static const char *check_dns_domain(const char *s) {
        if (isempty(s))
                return NULL;
        /* A fully qualified "cluster.local." is fine too. */
        _cleanup_free_ char *t = strdup(s);
        if (!t)
                return "out of memory";
        if (endswith(t, "."))
                t[strlen(t) - 1] = 0;
        return is_dns1123_subdomain(t) ? NULL : "expected a DNS domain (RFC 1123 subdomain)";
}

/* A label value or the name part of a label key: up to 63 of [A-Za-z0-9-_.], alphanumeric at both ends. */
static bool is_label_name(const char *s, bool allow_empty) {
        size_t n = strlen(s);
        if (n == 0)
                return allow_empty;
        if (n > 63 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("-_.", s[i]))
                        return false;
        return true;
}

static bool is_label_key(const char *s) {
        const char *slash = strchr(s, '/');
        if (!slash)
                return is_label_name(s, false);
        _cleanup_free_ char *prefix = strndup(s, slash - s);
        return prefix && is_dns1123_subdomain(prefix) && is_label_name(slash + 1, false);
}

static int set_string(char **field, const char *s) {
        char *n = strdup(s);
        RET_NULL_ENOMEM(n);
        free(*field);
        *field = n;
        return 0;
}

/* Splits "a, b,c" on commas, trimming blanks; "" yields an empty list. */
static int split_list(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        RET_NULL_ENOMEM(l);
        for (const char *p = s; *p;) {
                const char *comma = strchrnul(p, ',');
                const char *a = p, *b = comma;
                while (a < b && isspace((unsigned char) *a))
                        a++;
                while (b > a && isspace((unsigned char) b[-1]))
                        b--;
                _cleanup_free_ char *item = strndup(a, b - a);
                RET_NULL_ENOMEM(item);
                if (*item) {
                        int r = strv_extend(&l, item);
                        if (r < 0)
                                return r;
                }
                p = *comma ? comma + 1 : comma;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- quantity maps, labels, taints, gates ---- */

static void quantities_free(NodeletQuantity *q, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(q[i].name);
                free(q[i].value);
        }
        free(q);
}

static void labels_free(NodeletLabel *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].key);
                free(l[i].value);
        }
        free(l);
}

static void taints_free(NodeletTaint *t, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(t[i].key);
                free(t[i].value);
                free(t[i].effect);
        }
        free(t);
}

static void gates_free(NodeletFeatureGate *g, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(g[i].name);
        free(g);
}

/* Map entries: a later entry with the same name replaces the earlier one (maps, and repeated flags). */
static int quantity_put(NodeletQuantity **q, size_t *n, const char *name, const char *value, bool percentage,
                        double percent, int64_t amount) {
        size_t i;
        for (i = 0; i < *n; i++)
                if (streq((*q)[i].name, name))
                        break;
        if (i == *n) {
                NodeletQuantity *nq = realloc(*q, (*n + 1) * sizeof(NodeletQuantity));
                RET_NULL_ENOMEM(nq);
                *q = nq;
                nq[i] = (NodeletQuantity){.name = strdup(name)};
                (*n)++;
                RET_NULL_ENOMEM(nq[i].name);
        }
        int r = set_string(&(*q)[i].value, value);
        if (r < 0)
                return r;
        (*q)[i].percentage = percentage;
        (*q)[i].percent = percent;
        (*q)[i].amount = amount;
        return 0;
}

static int label_put(NodeletLabel **l, size_t *n, const char *key, const char *value) {
        size_t i;
        for (i = 0; i < *n; i++)
                if (streq((*l)[i].key, key))
                        break;
        if (i == *n) {
                NodeletLabel *nl = realloc(*l, (*n + 1) * sizeof(NodeletLabel));
                RET_NULL_ENOMEM(nl);
                *l = nl;
                nl[i] = (NodeletLabel){.key = strdup(key)};
                (*n)++;
                RET_NULL_ENOMEM(nl[i].key);
        }
        return set_string(&(*l)[i].value, value);
}

static int gate_put(NodeletFeatureGate **g, size_t *n, const char *name, bool enabled) {
        size_t i;
        for (i = 0; i < *n; i++)
                if (streq((*g)[i].name, name))
                        break;
        if (i == *n) {
                NodeletFeatureGate *ng = realloc(*g, (*n + 1) * sizeof(NodeletFeatureGate));
                RET_NULL_ENOMEM(ng);
                *g = ng;
                ng[i] = (NodeletFeatureGate){.name = strdup(name)};
                (*n)++;
                RET_NULL_ENOMEM(ng[i].name);
        }
        (*g)[i].enabled = enabled;
        return 0;
}

static int taint_add(NodeletTaint **t, size_t *n, const char *key, const char *value, const char *effect) {
        NodeletTaint *nt = realloc(*t, (*n + 1) * sizeof(NodeletTaint));
        RET_NULL_ENOMEM(nt);
        *t = nt;
        nt[*n] = (NodeletTaint){.key = strdup(key), .value = strdup(value), .effect = strdup(effect)};
        (*n)++;
        RET_NULL_ENOMEM(nt[*n - 1].key && nt[*n - 1].value && nt[*n - 1].effect);
        return 0;
}

/* Eviction signals the kubelet knows (pkg/kubelet/eviction/api). */
static const char *const eviction_signals[] = {
        "memory.available",      "allocatableMemory.available", "nodefs.available",
        "nodefs.inodesFree",     "imagefs.available",           "imagefs.inodesFree",
        "containerfs.available", "containerfs.inodesFree",      "pid.available",
};

static const char *const taint_effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};

/* Feature gates whose value nodelet consults; any other gate is accepted with a warning. */
static const char *const known_feature_gates[] = {
        "KubeletCrashLoopBackOffMax",
};

/* ---- the settings table ---- */

typedef struct Loader Loader;
typedef struct Setting Setting;

typedef enum SettingKind {
        SETTING_STRING,   /* char *, checked by check() */
        SETTING_BOOL,     /* bool */
        SETTING_INT32,    /* int32_t in [min, max] */
        SETTING_DURATION, /* uint64_t µs in [min, max] */
        SETTING_STRV,     /* char **: a list in the file, comma-separated as a flag (repeats append) */
        SETTING_SPECIAL,  /* parse_flag() and parse_json() */
} SettingKind;

struct Setting {
        const char *flag;  /* without "--"; NULL: file only */
        const char *field; /* JSON path in the KubeletConfiguration; NULL: flag only */
        SettingKind kind;
        size_t offset;
        int64_t min, max;
        const char *(*check)(const char *s); /* STRING and STRV entries */
        int (*parse_flag)(Loader *l, const Setting *s, const char *value);
        int (*parse_json)(Loader *l, const Setting *s, json_t *v, const char *path);
        const char *arg;          /* --help: the argument's type */
        const char *help;         /* --help: what it does */
        const char *default_text; /* --help: the default when it is not simply the value's text */
        /* A non-pointer field of the v1beta1 Go struct: its zero value in a file (0, "", "0s") means "unset" and
         * the default applies, as the kubelet's defaulting does. kubeadm writes such zeros (`syncFrequency: 0s`). */
        bool zero_is_default;
};

typedef enum OriginKind {
        ORIGIN_DEFAULT,
        ORIGIN_FILE,
        ORIGIN_FLAG,
} OriginKind;

#define DURATION_MAX ((int64_t) (INT64_MAX / NSEC_PER_USEC))
#define F(field) offsetof(NodeletConfig, field)

static int flag_manifest_url(Loader *l, const Setting *s, const char *value);
static int json_static_pod_url(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_verbosity(Loader *l, const Setting *s, const char *value);
static int json_verbosity(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_cgroup_driver(Loader *l, const Setting *s, const char *value);
static int json_cgroup_driver(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_authorization_mode(Loader *l, const Setting *s, const char *value);
static int json_authorization_mode(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_log_max_size(Loader *l, const Setting *s, const char *value);
static int json_log_max_size(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_eviction(Loader *l, const Setting *s, const char *value);
static int json_eviction(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_reserved(Loader *l, const Setting *s, const char *value);
static int json_reserved(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_feature_gates(Loader *l, const Setting *s, const char *value);
static int json_feature_gates(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_taints(Loader *l, const Setting *s, const char *value);
static int json_taints(Loader *l, const Setting *s, json_t *v, const char *path);
static int flag_node_labels(Loader *l, const Setting *s, const char *value);
static int json_logging_format(Loader *l, const Setting *s, json_t *v, const char *path);

static const Setting settings[] = {
        {"config", NULL, SETTING_STRING, F(config_file), .arg = "string",
         .help = "The KubeletConfiguration file (kubelet.config.k8s.io/v1beta1) to load; flags override it"},
        {"kubeconfig", NULL, SETTING_STRING, F(kubeconfig), .arg = "string",
         .help = "kubeconfig of the API server to register with; none: standalone (static pods only)"},
        {"bootstrap-kubeconfig", NULL, SETTING_STRING, F(bootstrap_kubeconfig), .arg = "string",
         .help = "kubeconfig used to request a client certificate when --kubeconfig does not exist yet"},
        {"root-dir", NULL, SETTING_STRING, F(root_dir), .arg = "string",
         .help = "Directory for images, pod volumes and other persistent state"},
        {"state-dir", NULL, SETTING_STRING, F(state_dir), .arg = "string",
         .help = "Directory for runtime state (containers, sandboxes, namespace files)"},
        {"cert-dir", NULL, SETTING_STRING, F(cert_dir), .arg = "string",
         .help = "Directory for TLS certificates (ignored when --tls-cert-file is set)",
         .default_text = "<root-dir>/pki"},
        {"pod-manifest-path", "staticPodPath", SETTING_STRING, F(static_pod_path), .arg = "string",
         .help = "Directory (or file) of static pod manifests"},
        {"manifest-url", "staticPodURL", SETTING_SPECIAL, 0, .parse_flag = flag_manifest_url,
         .parse_json = json_static_pod_url, .arg = "string", .help = "Not supported: static pods come from files only"},
        {NULL, "podLogsDir", SETTING_STRING, F(pod_logs_dir), .zero_is_default = true},
        {"resolv-conf", "resolvConf", SETTING_STRING, F(resolv_conf), .arg = "string",
         .help = "Resolver configuration used as the basis of the pods' DNS configuration"},
        {"cni-conf-dir", NULL, SETTING_STRING, F(cni_conf_dir), .arg = "string",
         .help = "Directory of CNI network configurations"},
        {"cni-bin-dir", NULL, SETTING_STRV, F(cni_bin_dirs), .arg = "strings",
         .help = "Comma-separated directories to search for CNI plugins; /usr/lib/cni is always appended"},
        {"cni-cache-dir", NULL, SETTING_STRING, F(cni_cache_dir), .arg = "string",
         .help = "Directory where CNI plugins cache results"},
        {"registry-config-dir", NULL, SETTING_STRING, F(registry_config_dir), .arg = "string",
         .help = "Registry mirrors and plain-HTTP hosts: <dir>/<registry>/hosts.toml, containerd's hosts directory "
                 "layout"},
        {"hostname-override", NULL, SETTING_STRING, F(hostname), .arg = "string",
         .help = "The node's name instead of the host name", .default_text = "the host name, lowercased"},
        {"node-ip", NULL, SETTING_STRV, F(node_ips), .check = check_ip, .arg = "strings",
         .help = "Comma-separated node IP addresses, at most one per family", .default_text = "auto"},
        {"pod-cidr", "podCIDR", SETTING_STRING, F(pod_cidr), .check = check_cidr, .arg = "string",
         .help = "The CIDR for pod IPs, standalone mode only (when empty, the default CNI network uses "
                 "10.88.0.0/16)"},
        {"node-labels", NULL, SETTING_SPECIAL, 0, .parse_flag = flag_node_labels, .arg = "key=value,...",
         .help = "Labels to add when registering the node"},
        {"register-node", "registerNode", SETTING_BOOL, F(register_node), .arg = "",
         .help = "Register the node with the API server"},
        {"register-with-taints", "registerWithTaints", SETTING_SPECIAL, 0, .parse_flag = flag_taints,
         .parse_json = json_taints, .arg = "key=value:Effect,...", .help = "Taints to add when registering the node",
         .default_text = "none"},
        {"max-pods", "maxPods", SETTING_INT32, F(max_pods), 1, INT32_MAX, .arg = "int32",
         .help = "Number of pods that can run on this node", .zero_is_default = true},
        {"kube-api-qps", "kubeAPIQPS", SETTING_INT32, F(kube_api_qps), 0, INT32_MAX, .arg = "int32",
         .help = "Requests per second to the API server (client-side rate limit)", .zero_is_default = true},
        {"kube-api-burst", "kubeAPIBurst", SETTING_INT32, F(kube_api_burst), 0, INT32_MAX, .arg = "int32",
         .help = "Burst of requests to the API server above kubeAPIQPS", .zero_is_default = true},
        /* Events have an API client of their own, like the kubelet's; 0 QPS means no limit (so not a default). */
        {"event-qps", "eventRecordQPS", SETTING_INT32, F(event_record_qps), 0, INT32_MAX, .arg = "int32",
         .help = "Event creations per second (client-side rate limit; 0: no limit)"},
        {"event-burst", "eventBurst", SETTING_INT32, F(event_burst), 0, INT32_MAX, .arg = "int32",
         .help = "Burst of event creations above eventRecordQPS", .zero_is_default = true},
        {"cluster-dns", "clusterDNS", SETTING_STRV, F(cluster_dns), .check = check_ip, .arg = "strings",
         .help = "Comma-separated DNS server IPs for the pods"},
        {"cluster-domain", "clusterDomain", SETTING_STRING, F(cluster_domain), .check = check_dns_domain,
         .arg = "string", .help = "The cluster's DNS domain; pods search it in addition to the host's domains"},
        {"enable-server", "enableServer", SETTING_BOOL, F(enable_server), .arg = "",
         .help = "Serve the authenticated kubelet API on --address:--port"},
        {"address", "address", SETTING_STRING, F(address), .check = check_ip, .arg = "string",
         .help = "IP address for the kubelet API (0.0.0.0 or :: for all interfaces)", .zero_is_default = true},
        {"port", "port", SETTING_INT32, F(port), 1, 65535, .arg = "int32", .help = "Port of the kubelet API",
         .zero_is_default = true},
        {"read-only-port", "readOnlyPort", SETTING_INT32, F(read_only_port), 0, 65535, .arg = "int32",
         .help = "Port of the unauthenticated read-only API (0 disables it)"},
        {"healthz-bind-address", "healthzBindAddress", SETTING_STRING, F(healthz_bind_address), .check = check_ip,
         .arg = "string", .help = "IP address for the /healthz server", .zero_is_default = true},
        {"healthz-port", "healthzPort", SETTING_INT32, F(healthz_port), 0, 65535, .arg = "int32",
         .help = "Port of the /healthz server (0 disables it)"},
        {"tls-cert-file", "tlsCertFile", SETTING_STRING, F(tls_cert_file), .arg = "string",
         .help = "x509 certificate for the kubelet API (CA certificates appended)"},
        {"tls-private-key-file", "tlsPrivateKeyFile", SETTING_STRING, F(tls_private_key_file), .arg = "string",
         .help = "Private key of --tls-cert-file"},
        {"rotate-certificates", "rotateCertificates", SETTING_BOOL, F(rotate_certificates), .arg = "",
         .help = "Request a new client certificate from the API server (CSR) before the current one expires"},
        {"rotate-server-certificates", "serverTLSBootstrap", SETTING_BOOL, F(server_tls_bootstrap), .arg = "",
         .help = "Request the kubelet API's serving certificate from the API server (kubelet-serving CSR) and "
                 "renew it before it expires"},
        {"anonymous-auth", "authentication.anonymous.enabled", SETTING_BOOL, F(anonymous_auth), .arg = "",
         .help = "Allow anonymous requests to the kubelet API", .default_text = "true; false with --config"},
        {"authentication-token-webhook", "authentication.webhook.enabled", SETTING_BOOL, F(webhook_authentication),
         .arg = "", .help = "Authenticate bearer tokens with TokenReview", .default_text = "false; true with --config"},
        {"authentication-token-webhook-cache-ttl", "authentication.webhook.cacheTTL", SETTING_DURATION,
         F(webhook_authentication_cache_ttl_usec), 1, DURATION_MAX, .arg = "duration",
         .help = "How long to cache TokenReview results", .zero_is_default = true},
        {"client-ca-file", "authentication.x509.clientCAFile", SETTING_STRING, F(client_ca_file), .arg = "string",
         .help = "Authenticate client certificates signed by these CAs"},
        {"authorization-mode", "authorization.mode", SETTING_SPECIAL, 0, .parse_flag = flag_authorization_mode,
         .parse_json = json_authorization_mode, .arg = "string", .help = "AlwaysAllow or Webhook",
         .default_text = "AlwaysAllow; Webhook with --config", .zero_is_default = true},
        {"authorization-webhook-cache-authorized-ttl", "authorization.webhook.cacheAuthorizedTTL", SETTING_DURATION,
         F(webhook_cache_authorized_ttl_usec), 1, DURATION_MAX, .arg = "duration",
         .help = "How long to cache 'authorized' SubjectAccessReview results", .zero_is_default = true},
        {"authorization-webhook-cache-unauthorized-ttl", "authorization.webhook.cacheUnauthorizedTTL", SETTING_DURATION,
         F(webhook_cache_unauthorized_ttl_usec), 1, DURATION_MAX, .arg = "duration",
         .help = "How long to cache 'unauthorized' SubjectAccessReview results", .zero_is_default = true},
        {"cgroup-root", "cgroupRoot", SETTING_STRING, F(cgroup_root), .arg = "string", .help = "Cgroup for the pods",
         .default_text = "below nodelet's own cgroup"},
        {"cgroup-driver", "cgroupDriver", SETTING_SPECIAL, 0, .parse_flag = flag_cgroup_driver,
         .parse_json = json_cgroup_driver, .arg = "string",
         .help = "cgroupfs, or systemd (accepted; nodelet manages its delegated subtree either way)",
         .default_text = "cgroupfs", .zero_is_default = true},
        {"sync-frequency", "syncFrequency", SETTING_DURATION, F(sync_frequency_usec), 1, DURATION_MAX,
         .arg = "duration", .help = "Maximum period between pod syncs", .zero_is_default = true},
        {"file-check-frequency", "fileCheckFrequency", SETTING_DURATION, F(file_check_frequency_usec), 1, DURATION_MAX,
         .arg = "duration", .help = "Period of the static pod directory rescan", .zero_is_default = true},
        {"runtime-request-timeout", "runtimeRequestTimeout", SETTING_DURATION, F(runtime_request_timeout_usec), 1,
         DURATION_MAX, .arg = "duration", .help = "Timeout of runtime operations (except pulls, logs, exec)",
         .zero_is_default = true},
        {"node-status-update-frequency", "nodeStatusUpdateFrequency", SETTING_DURATION,
         F(node_status_update_frequency_usec), 1, DURATION_MAX, .arg = "duration",
         .help = "How often node status is computed", .zero_is_default = true},
        {NULL, "nodeStatusReportFrequency", SETTING_DURATION, F(node_status_report_frequency_usec), 1, DURATION_MAX,
         .zero_is_default = true},
        {NULL, "nodeLeaseDurationSeconds", SETTING_INT32, F(node_lease_duration_seconds), 1, INT32_MAX,
         .zero_is_default = true},
        {NULL, "crashLoopBackOff.maxContainerRestartPeriod", SETTING_DURATION, F(max_container_restart_period_usec),
         USEC_PER_SEC, 300 * USEC_PER_SEC},
        {NULL, "shutdownGracePeriod", SETTING_DURATION, F(shutdown_grace_period_usec), 0, DURATION_MAX},
        {NULL, "shutdownGracePeriodCriticalPods", SETTING_DURATION, F(shutdown_grace_period_critical_pods_usec), 0,
         DURATION_MAX},
        {"serialize-image-pulls", "serializeImagePulls", SETTING_BOOL, F(serialize_image_pulls), .arg = "",
         .help = "Pull one image at a time"},
        {"max-parallel-image-pulls", "maxParallelImagePulls", SETTING_INT32, F(max_parallel_image_pulls), 1, INT32_MAX,
         .arg = "int32", .help = "Maximum parallel image pulls (needs --serialize-image-pulls=false)",
         .default_text = "no limit"},
        {"image-gc-high-threshold", "imageGCHighThresholdPercent", SETTING_INT32, F(image_gc_high_threshold_percent), 0,
         100, .arg = "int32", .help = "Disk usage percentage above which image garbage collection always runs"},
        {"image-gc-low-threshold", "imageGCLowThresholdPercent", SETTING_INT32, F(image_gc_low_threshold_percent), 0,
         100, .arg = "int32", .help = "Disk usage percentage image garbage collection frees down to"},
        {"minimum-image-ttl-duration", "imageMinimumGCAge", SETTING_DURATION, F(image_minimum_gc_age_usec), 1,
         DURATION_MAX, .arg = "duration", .help = "Minimum age of an unused image before it is collected",
         .zero_is_default = true},
        /* The kubelet has no flag for it (KubeletConfiguration only, Kubernetes 1.29+). */
        {NULL, "imageMaximumGCAge", SETTING_DURATION, F(image_maximum_gc_age_usec), 0, DURATION_MAX},
        {"container-log-max-size", "containerLogMaxSize", SETTING_SPECIAL, 0, .parse_flag = flag_log_max_size,
         .parse_json = json_log_max_size, .arg = "quantity", .help = "Size at which a container log is rotated",
         .default_text = "10Mi", .zero_is_default = true},
        {"container-log-max-files", "containerLogMaxFiles", SETTING_INT32, F(container_log_max_files), 2, INT32_MAX,
         .arg = "int32", .help = "Maximum number of log files per container"},
        {"eviction-hard", "evictionHard", SETTING_SPECIAL, 0, .parse_flag = flag_eviction, .parse_json = json_eviction,
         .arg = "signal<value,...", .help = "Hard eviction thresholds",
         .default_text = "memory.available<100Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%"},
        {NULL, "mergeDefaultEvictionSettings", SETTING_BOOL, F(merge_default_eviction_settings)},
        {"kube-reserved", "kubeReserved", SETTING_SPECIAL, 0, .parse_flag = flag_reserved, .parse_json = json_reserved,
         .arg = "resource=quantity,...", .help = "Resources reserved for Kubernetes components",
         .default_text = "none"},
        {"system-reserved", "systemReserved", SETTING_SPECIAL, 0, .parse_flag = flag_reserved,
         .parse_json = json_reserved, .arg = "resource=quantity,...",
         .help = "Resources reserved for the operating system", .default_text = "none"},
        {"feature-gates", "featureGates", SETTING_SPECIAL, 0, .parse_flag = flag_feature_gates,
         .parse_json = json_feature_gates, .arg = "Gate=true|false,...",
         .help = "Feature gates (gates nodelet does not know are accepted with a warning)", .default_text = "none"},
        {"seccomp-default", "seccompDefault", SETTING_BOOL, F(seccomp_default), .arg = "",
         .help = "Use the RuntimeDefault seccomp profile for every workload"},
        {"fail-swap-on", "failSwapOn", SETTING_BOOL, F(fail_swap_on), .arg = "",
         .help = "Accepted for compatibility and ignored: nodelet starts with swap on"},
        {"v", "logging.verbosity", SETTING_SPECIAL, 0, .parse_flag = flag_verbosity, .parse_json = json_verbosity,
         .arg = "int", .help = "Log verbosity (klog): 0-2 info, 3 and more debug", .default_text = "0"},
        {NULL, "logging.format", SETTING_SPECIAL, 0, .parse_json = json_logging_format},
        {"drain", NULL, SETTING_BOOL, F(drain), .arg = "",
         .help = "Stop every pod when nodelet exits, instead of leaving them running for the next start to re-adopt"},
        {"check-config", NULL, SETTING_BOOL, F(check_config), .arg = "",
         .help = "Load and validate the flags and the --config file, print the effective KubeletConfiguration as "
                 "JSON and exit (0: valid)"},
        /* The kube-proxy part: flag-only, kube-proxy's names (see config.h). */
        {"disable-proxy", NULL, SETTING_BOOL, F(disable_proxy), .arg = "",
         .help = "Do not program Services (cluster mode), e.g. to run beside an existing kube-proxy"},
        {"proxy-mode", NULL, SETTING_STRING, F(proxy_mode), .check = check_proxy_mode, .arg = "string",
         .help = "How Services are programmed; only nftables"},
        {"proxy-kubeconfig", NULL, SETTING_STRING, F(proxy_kubeconfig), .arg = "string",
         .help = "kubeconfig of the kube-proxy identity (system:kube-proxy) for Services and EndpointSlices",
         .default_text = "--kubeconfig"},
        {"cluster-cidr", NULL, SETTING_STRV, F(cluster_cidrs), .check = check_cidr, .arg = "strings",
         .help = "Comma-separated pod network CIDRs, at most one per family: traffic from outside to ClusterIPs "
                 "is masqueraded"},
        {"service-cluster-ip-range", NULL, SETTING_STRV, F(service_cluster_ip_ranges), .check = check_cidr,
         .arg = "strings",
         .help = "Comma-separated Service CIDRs, at most one per family: traffic to unallocated IPs in them is "
                 "dropped"},
        {"nodeport-addresses", NULL, SETTING_STRV, F(nodeport_addresses), .check = check_nodeport_address,
         .arg = "strings",
         .help = "Comma-separated CIDRs (or \"primary\"): NodePorts are served on the node's addresses inside them",
         .default_text = "the node's IPs"},
        {"masquerade-all", NULL, SETTING_BOOL, F(masquerade_all), .arg = "",
         .help = "Masquerade all traffic sent to Service IPs"},
        {"proxy-min-sync-period", NULL, SETTING_DURATION, F(proxy_min_sync_period_usec), 0, DURATION_MAX,
         .arg = "duration",
         .help = "Minimum time between two programmings of the Services' rules (changes "
                 "meanwhile are coalesced)"},
};

#undef F

/* Objects of the KubeletConfiguration whose known children are settings above. */
static const char *const parent_fields[] = {
        "authentication", "authentication.anonymous", "authentication.webhook", "authentication.x509",
        "authorization",  "authorization.webhook",    "crashLoopBackOff",       "logging",
};

/* KubeletConfiguration fields nodelet does not implement: accepted (so kubeadm's and other real files load) with a
 * warning. Refer to k8s.io/kubelet/config/v1beta1 (KubeletConfiguration). */
static const char *const ignored_fields[] = {
        "allowedUnsafeSysctls",
        "configMapAndSecretChangeDetectionStrategy",
        "containerLogMaxWorkers",
        "containerLogMonitorInterval",
        "containerRuntimeEndpoint",
        "contentType",
        "cgroupsPerQOS",
        "cpuCFSQuota",
        "cpuCFSQuotaPeriod",
        "cpuManagerPolicy",
        "cpuManagerPolicyOptions",
        "cpuManagerReconcilePeriod",
        "draManagerReconcilePeriod",
        "enableContentionProfiling",
        "enableControllerAttachDetach",
        "enableDebugFlagsHandler",
        "enableDebuggingHandlers",
        "enableProfilingHandler",
        "enableSystemLogHandler",
        "enableSystemLogQuery",
        "enforceNodeAllocatable",
        "evictionMaxPodGracePeriod",
        "evictionMinimumReclaim",
        "evictionPressureTransitionPeriod",
        "evictionSoft",
        "evictionSoftGracePeriod",
        "failCgroupV1",
        "hairpinMode",
        "httpCheckFrequency",
        "imageMaximumGCAge",
        "imagePullCredentialsVerificationPolicy",
        "imageServiceEndpoint",
        "iptablesDropBit",
        "iptablesMasqueradeBit",
        "kernelMemcgNotification",
        "kubeReservedCgroup",
        "kubeletCgroups",
        "localStorageCapacityIsolation",
        "logging.flushFrequency",
        "logging.options",
        "logging.vmodule",
        "makeIPTablesUtilChains",
        "maxOpenFiles",
        "memoryManagerPolicy",
        "memoryReservationPolicy",
        "memorySwap",
        "memoryThrottlingFactor",
        "nodeStatusMaxImages",
        "oomScoreAdj",
        "podPidsLimit",
        "podsPerCore",
        "preloadedImagesVerificationAllowlist",
        "protectKernelDefaults",
        "providerID",
        "qosReserved",
        "registryBurst",
        "registryPullQPS",
        "reservedMemory",
        "reservedSystemCPUs",
        "runOnce",
        "showHiddenMetricsForVersion",
        "shutdownGracePeriodByPodPriority",
        "singleProcessOOMKill",
        "streamingConnectionIdleTimeout",
        "systemCgroups",
        "systemReservedCgroup",
        "tlsCipherSuites",
        "tlsCurvePreferences",
        "tlsMinVersion",
        "topologyManagerPolicy",
        "topologyManagerPolicyOptions",
        "topologyManagerScope",
        "tracing",
        "userNamespaces",
        "volumePluginDir",
        "volumeStatsAggPeriod",
};

/* ---- the loader: where each value came from, for messages ---- */

#define N_SETTINGS ELEMENTSOF(settings)

struct Loader {
        NodeletConfig *config;
        ErrorBuf *error;
        /* While applying the file: its positions. While applying a flag: its name as given. */
        const YamlPositions *positions;
        const char *flag;
        OriginKind origin[N_SETTINGS];
        unsigned origin_line[N_SETTINGS];
        bool flag_seen[N_SETTINGS]; /* list flags: the first use replaces, later uses append (like pflag) */
        bool flag_first;            /* the flag being applied is the first use of its setting */
};

static size_t setting_index(const Setting *s) {
        return (size_t) (s - settings);
}

static const Setting *setting_by_field(const char *field) {
        for (size_t i = 0; i < N_SETTINGS; i++)
                if (settings[i].field && streq(settings[i].field, field))
                        return &settings[i];
        return NULL;
}

static const Setting *setting_by_flag(const char *flag) {
        for (size_t i = 0; i < N_SETTINGS; i++)
                if (settings[i].flag && streq(settings[i].flag, flag))
                        return &settings[i];
        return NULL;
}

/* The line of path in the file, falling back to its closest parent (values from aliases have none). */
static unsigned file_line(const Loader *l, const char *path) {
        _cleanup_free_ char *p = strdup(path);
        unsigned line = 0;
        while (p && *p) {
                if (yaml_position_lookup(l->positions, p, &line, NULL) >= 0)
                        return line;
                char *cut = strrchr(p, '.'), *bracket = strrchr(p, '[');
                if (bracket && (!cut || bracket > cut))
                        cut = bracket;
                if (!cut)
                        break;
                *cut = 0;
        }
        return 0;
}

/* "--flag: msg" while applying flags, "file:line: path: msg" while applying the file. */
static int loader_fail(Loader *l, const char *path, const char *fmt, ...) _printf_(3, 4);
static int loader_fail(Loader *l, const char *path, const char *fmt, ...) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (l->flag)
                return error_set(l->error, -EINVAL, "--%s: %s", l->flag, msg);
        unsigned line = file_line(l, path);
        if (line == 0) /* a missing field has no line */
                return error_set(l->error, -EINVAL, "%s: %s: %s", yaml_positions_source(l->positions), path, msg);
        return error_set(l->error, -EINVAL, "%s:%u: %s: %s", yaml_positions_source(l->positions), line, path, msg);
}

/* For checks across settings after everything is merged: name the setting as it was given. */
static int setting_fail(Loader *l, const Setting *s, const char *fmt, ...) _printf_(3, 4);
static int setting_fail(Loader *l, const Setting *s, const char *fmt, ...) {
        char msg[768];
        size_t i = setting_index(s);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (l->origin[i] == ORIGIN_FILE)
                return error_set(l->error, -EINVAL, "%s:%u: %s: %s", l->config->config_file, l->origin_line[i],
                                 s->field, msg);
        if (s->flag)
                return error_set(l->error, -EINVAL, "--%s: %s", s->flag, msg);
        return error_set(l->error, -EINVAL, "%s: %s", s->field, msg);
}

static int loader_warn(Loader *l, const char *fmt, ...) _printf_(2, 3);
static int loader_warn(Loader *l, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_extend(&l->config->warnings, msg);
}

static void *field_ptr(const Loader *l, const Setting *s) {
        return (uint8_t *) l->config + s->offset;
}

/* The JSON value's text for "got string \"many\"" messages. */
static void describe(json_t *v, char *buf, size_t size) {
        if (json_is_string(v))
                snprintf(buf, size, "string \"%.64s\"", json_string_value(v));
        else if (json_is_integer(v))
                snprintf(buf, size, "number %" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                snprintf(buf, size, "number %g", json_real_value(v));
        else
                snprintf(buf, size, "%s", json_type_name(v));
}

static int json_expect(Loader *l, json_t *v, json_type want, const char *want_name, const char *path) {
        bool ok = json_typeof(v) == want || (want == JSON_TRUE && json_is_boolean(v));
        if (!ok) {
                char got[128];
                describe(v, got, sizeof got);
                return loader_fail(l, path, "expected %s, got %s", want_name, got);
        }
        return 0;
}

/* ---- applying values ---- */

static int apply_string(Loader *l, const Setting *s, const char *value, const char *path) {
        const char *what = s->check ? s->check(value) : NULL;
        if (what)
                return loader_fail(l, path, "%s, got \"%s\"", what, value);
        return set_string(field_ptr(l, s), value);
}

static int apply_int(Loader *l, const Setting *s, int64_t v, const char *path) {
        if (v < s->min || v > s->max)
                return loader_fail(l, path, "%" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", v, s->min,
                                   s->max);
        *(int32_t *) field_ptr(l, s) = (int32_t) v;
        return 0;
}

static int apply_duration(Loader *l, const Setting *s, const char *text, const char *path) {
        uint64_t usec;
        int r = config_parse_duration(text, &usec);
        if (r == -ERANGE && text[0] == '-')
                return loader_fail(l, path, "must not be negative, got \"%s\"", text);
        if (r < 0)
                return loader_fail(l, path, "expected a duration (like \"90s\", \"1m30s\", \"500ms\"), got \"%s\"",
                                   text);
        if (usec < (uint64_t) s->min || usec > (uint64_t) s->max) {
                char lo[32], hi[32];
                if (s->min > 0 && s->max == DURATION_MAX)
                        return loader_fail(l, path, "must be positive, got \"%s\"", text);
                return loader_fail(l, path, "\"%s\" is out of range [%s, %s]", text,
                                   config_format_duration(s->min, lo, sizeof lo),
                                   config_format_duration(s->max, hi, sizeof hi));
        }
        *(uint64_t *) field_ptr(l, s) = usec;
        return 0;
}

static int apply_strv_item(Loader *l, const Setting *s, const char *item, const char *path) {
        const char *what = s->check ? s->check(item) : NULL;
        if (what)
                return loader_fail(l, path, "%s, got \"%s\"", what, item);
        return strv_extend(field_ptr(l, s), item);
}

static int apply_flag(Loader *l, const Setting *s, const char *value) {
        size_t i = setting_index(s);
        bool first = !l->flag_seen[i];
        int64_t v;
        int r;

        l->flag_seen[i] = true;
        l->flag_first = first;
        l->origin[i] = ORIGIN_FLAG;
        switch (s->kind) {
        case SETTING_STRING:
                return apply_string(l, s, value, NULL);
        case SETTING_BOOL: {
                bool b;
                if (parse_bool(value, &b) < 0)
                        return loader_fail(l, NULL, "expected true or false, got \"%s\"", value);
                *(bool *) field_ptr(l, s) = b;
                return 0;
        }
        case SETTING_INT32:
                r = parse_int64(value, &v);
                if (r < 0 && r != -ERANGE)
                        return loader_fail(l, NULL, "expected an integer, got \"%s\"", value);
                if (r == -ERANGE)
                        v = value[0] == '-' ? INT64_MIN : INT64_MAX;
                return apply_int(l, s, v, NULL);
        case SETTING_DURATION:
                return apply_duration(l, s, value, NULL);
        case SETTING_STRV: {
                _cleanup_strv_free_ char **items = NULL;
                if ((r = split_list(value, &items)) < 0)
                        return r;
                if (first && (r = strv_set_empty(field_ptr(l, s))) < 0)
                        return r;
                for (char **it = items; *it; it++)
                        if ((r = apply_strv_item(l, s, *it, NULL)) < 0)
                                return r;
                return 0;
        }
        case SETTING_SPECIAL:
                /* Specials that accumulate (maps, lists) start over on their first flag: flags replace the file. */
                return s->parse_flag(l, s, value);
        }
        return -EINVAL;
}

static bool json_is_zero_value(const Setting *s, json_t *v) {
        uint64_t usec;
        if (json_is_integer(v))
                return json_integer_value(v) == 0;
        if (json_is_real(v))
                return json_real_value(v) == 0;
        if (!json_is_string(v))
                return false;
        if (isempty(json_string_value(v)))
                return true;
        return s->kind == SETTING_DURATION && config_parse_duration(json_string_value(v), &usec) >= 0 && usec == 0;
}

static int apply_json(Loader *l, const Setting *s, json_t *v, const char *path) {
        size_t i = setting_index(s);
        int r;

        if (s->zero_is_default && json_is_zero_value(s, v))
                return 0;

        l->origin[i] = ORIGIN_FILE;
        l->origin_line[i] = file_line(l, path);
        switch (s->kind) {
        case SETTING_STRING:
                if ((r = json_expect(l, v, JSON_STRING, "a string", path)) < 0)
                        return r;
                return apply_string(l, s, json_string_value(v), path);
        case SETTING_BOOL:
                if ((r = json_expect(l, v, JSON_TRUE, "a boolean", path)) < 0)
                        return r;
                *(bool *) field_ptr(l, s) = json_is_true(v);
                return 0;
        case SETTING_INT32: {
                if (json_is_real(v)) {
                        double d = json_real_value(v);
                        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double) (int64_t) d) {
                                char got[128];
                                describe(v, got, sizeof got);
                                return loader_fail(l, path, "expected an integer, got %s", got);
                        }
                        return apply_int(l, s, (int64_t) d, path);
                }
                if ((r = json_expect(l, v, JSON_INTEGER, "an integer", path)) < 0)
                        return r;
                return apply_int(l, s, json_integer_value(v), path);
        }
        case SETTING_DURATION:
                if ((r = json_expect(l, v, JSON_STRING, "a duration string", path)) < 0)
                        return r;
                return apply_duration(l, s, json_string_value(v), path);
        case SETTING_STRV: {
                size_t k;
                json_t *item;
                if ((r = json_expect(l, v, JSON_ARRAY, "a list", path)) < 0)
                        return r;
                if ((r = strv_set_empty(field_ptr(l, s))) < 0)
                        return r;
                json_array_foreach (v, k, item) {
                        char ipath[600];
                        path_fmt(ipath, sizeof ipath, "%s[%zu]", path, k);
                        if ((r = json_expect(l, item, JSON_STRING, "a string", ipath)) < 0)
                                return r;
                        if ((r = apply_strv_item(l, s, json_string_value(item), ipath)) < 0)
                                return r;
                }
                return 0;
        }
        case SETTING_SPECIAL:
                return s->parse_json(l, s, v, path);
        }
        return -EINVAL;
}

/* ---- special settings ---- */

static int flag_manifest_url(Loader *l, const Setting *s, const char *value) {
        return loader_fail(l, NULL, "not supported: nodelet reads static pods from --pod-manifest-path only");
}

static int json_static_pod_url(Loader *l, const Setting *s, json_t *v, const char *path) {
        if (json_is_string(v) && isempty(json_string_value(v)))
                return 0;
        return loader_fail(l, path, "not supported: nodelet reads static pods from staticPodPath only");
}

static int set_verbosity(Loader *l, int64_t v, const char *path) {
        if (v < 0 || v > INT32_MAX)
                return loader_fail(l, path, "%" PRId64 " is out of range [0, %d]", v, INT32_MAX);
        l->config->verbosity = (int32_t) v;
        return 0;
}

static int flag_verbosity(Loader *l, const Setting *s, const char *value) {
        int64_t v;
        if (parse_int64(value, &v) < 0)
                return loader_fail(l, NULL, "expected an integer, got \"%s\"", value);
        return set_verbosity(l, v, NULL);
}

static int json_verbosity(Loader *l, const Setting *s, json_t *v, const char *path) {
        int r = json_expect(l, v, JSON_INTEGER, "an integer", path);
        return r < 0 ? r : set_verbosity(l, json_integer_value(v), path);
}

static int json_logging_format(Loader *l, const Setting *s, json_t *v, const char *path) {
        int r = json_expect(l, v, JSON_STRING, "a string", path);
        if (r < 0)
                return r;
        const char *f = json_string_value(v);
        if (!streq(f, "text") && !streq(f, "json"))
                return loader_fail(l, path, "expected \"text\" or \"json\", got \"%s\"", f);
        if (streq(f, "json") && (r = loader_warn(l,
                                                 "%s:%u: %s: nodelet logs text (or to the journal); \"json\" is "
                                                 "ignored",
                                                 yaml_positions_source(l->positions), file_line(l, path), path)) < 0)
                return r;
        return set_string(&l->config->logging_format, "text");
}

static int set_cgroup_driver(Loader *l, const char *value, const char *path) {
        CgroupDriverKind d = cgroup_driver_kind_from_string(value);
        if (d < 0)
                return loader_fail(l, path, "expected \"cgroupfs\" or \"systemd\", got \"%s\"", value);
        l->config->cgroup_driver = d;
        return 0;
}

static int flag_cgroup_driver(Loader *l, const Setting *s, const char *value) {
        return set_cgroup_driver(l, value, NULL);
}

static int json_cgroup_driver(Loader *l, const Setting *s, json_t *v, const char *path) {
        int r = json_expect(l, v, JSON_STRING, "a string", path);
        return r < 0 ? r : set_cgroup_driver(l, json_string_value(v), path);
}

static int set_authorization_mode(Loader *l, const char *value, const char *path) {
        AuthorizationMode m = authorization_mode_from_string(value);
        if (m < 0)
                return loader_fail(l, path, "expected \"AlwaysAllow\" or \"Webhook\", got \"%s\"", value);
        l->config->authorization_mode = m;
        return 0;
}

static int flag_authorization_mode(Loader *l, const Setting *s, const char *value) {
        return set_authorization_mode(l, value, NULL);
}

static int json_authorization_mode(Loader *l, const Setting *s, json_t *v, const char *path) {
        int r = json_expect(l, v, JSON_STRING, "a string", path);
        return r < 0 ? r : set_authorization_mode(l, json_string_value(v), path);
}

static int set_log_max_size(Loader *l, const char *value, const char *path) {
        int64_t bytes;
        int r = config_parse_quantity(value, false, &bytes);
        if (r < 0)
                return loader_fail(l, path, "expected a quantity (like \"10Mi\"), got \"%s\"", value);
        if (bytes <= 0)
                return loader_fail(l, path, "must be positive, got \"%s\"", value);
        l->config->container_log_max_size_bytes = bytes;
        return set_string(&l->config->container_log_max_size, value);
}

static int flag_log_max_size(Loader *l, const Setting *s, const char *value) {
        return set_log_max_size(l, value, NULL);
}

static int json_log_max_size(Loader *l, const Setting *s, json_t *v, const char *path) {
        int r = json_expect(l, v, JSON_STRING, "a quantity string", path);
        return r < 0 ? r : set_log_max_size(l, json_string_value(v), path);
}

static bool is_eviction_signal(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(eviction_signals); i++)
                if (streq(s, eviction_signals[i]))
                        return true;
        return false;
}

/* One eviction threshold: "N%" or a quantity. path names it for messages. */
static int eviction_put(Loader *l, const char *signal, const char *value, const char *path) {
        NodeletConfig *c = l->config;
        int64_t amount = 0;
        double percent = 0;
        bool pct = endswith(value, "%");

        if (!is_eviction_signal(signal))
                return loader_fail(l, path, "unknown eviction signal \"%s\"", signal);
        if (pct) {
                char *end;
                _cleanup_free_ char *num = strndup(value, strlen(value) - 1);
                RET_NULL_ENOMEM(num);
                errno = 0;
                percent = strtod(num, &end);
                if (isempty(num) || *end || errno != 0 || !(percent >= 0 && percent <= 100))
                        return loader_fail(l, path, "expected a percentage in [0%%, 100%%], got \"%s\"", value);
        } else if (config_parse_quantity(value, false, &amount) < 0)
                return loader_fail(l, path, "expected a quantity or a percentage, got \"%s\"", value);
        return quantity_put(&c->eviction_hard, &c->n_eviction_hard, signal, value, pct, percent, amount);
}

static void eviction_clear(NodeletConfig *c) {
        quantities_free(c->eviction_hard, c->n_eviction_hard);
        c->eviction_hard = NULL;
        c->n_eviction_hard = 0;
}

static int flag_eviction(Loader *l, const Setting *s, const char *value) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        if (l->flag_first)
                eviction_clear(l->config);
        if ((r = split_list(value, &items)) < 0)
                return r;
        for (char **it = items; *it; it++) {
                char *lt = strchr(*it, '<');
                if (!lt)
                        return loader_fail(l, NULL, "expected signal<value, got \"%s\"", *it);
                *lt = 0;
                if ((r = eviction_put(l, *it, lt + 1, NULL)) < 0)
                        return r;
        }
        return 0;
}

static int json_eviction(Loader *l, const Setting *s, json_t *v, const char *path) {
        const char *k;
        json_t *item;
        int r;

        if ((r = json_expect(l, v, JSON_OBJECT, "a map of signal to threshold", path)) < 0)
                return r;
        eviction_clear(l->config);
        json_object_foreach (v, k, item) {
                char ipath[600];
                path_fmt(ipath, sizeof ipath, "%s.%s", path, k);
                if ((r = json_expect(l, item, JSON_STRING, "a string", ipath)) < 0)
                        return r;
                if ((r = eviction_put(l, k, json_string_value(item), ipath)) < 0)
                        return r;
        }
        return 0;
}

static int reserved_put(Loader *l, const Setting *s, const char *resource, const char *value, const char *path) {
        NodeletConfig *c = l->config;
        bool kube = streq(s->field, "kubeReserved");
        int64_t amount;

        if (!is_label_key(resource))
                return loader_fail(l, path, "invalid resource name \"%s\"", resource);
        if (config_parse_quantity(value, streq(resource, "cpu"), &amount) < 0)
                return loader_fail(l, path, "expected a non-negative quantity, got \"%s\"", value);
        return kube ? quantity_put(&c->kube_reserved, &c->n_kube_reserved, resource, value, false, 0, amount)
                    : quantity_put(&c->system_reserved, &c->n_system_reserved, resource, value, false, 0, amount);
}

static void reserved_clear(Loader *l, const Setting *s) {
        NodeletConfig *c = l->config;
        if (streq(s->field, "kubeReserved")) {
                quantities_free(c->kube_reserved, c->n_kube_reserved);
                c->kube_reserved = NULL;
                c->n_kube_reserved = 0;
        } else {
                quantities_free(c->system_reserved, c->n_system_reserved);
                c->system_reserved = NULL;
                c->n_system_reserved = 0;
        }
}

static int flag_reserved(Loader *l, const Setting *s, const char *value) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        if (l->flag_first)
                reserved_clear(l, s);
        if ((r = split_list(value, &items)) < 0)
                return r;
        for (char **it = items; *it; it++) {
                char *eq = strchr(*it, '=');
                if (!eq)
                        return loader_fail(l, NULL, "expected resource=quantity, got \"%s\"", *it);
                *eq = 0;
                if ((r = reserved_put(l, s, *it, eq + 1, NULL)) < 0)
                        return r;
        }
        return 0;
}

static int json_reserved(Loader *l, const Setting *s, json_t *v, const char *path) {
        const char *k;
        json_t *item;
        int r;

        if ((r = json_expect(l, v, JSON_OBJECT, "a map of resource to quantity", path)) < 0)
                return r;
        reserved_clear(l, s);
        json_object_foreach (v, k, item) {
                char ipath[600];
                path_fmt(ipath, sizeof ipath, "%s.%s", path, k);
                if ((r = json_expect(l, item, JSON_STRING, "a quantity string", ipath)) < 0)
                        return r;
                if ((r = reserved_put(l, s, k, json_string_value(item), ipath)) < 0)
                        return r;
        }
        return 0;
}

static int gate_set(Loader *l, const char *name, bool enabled, const char *path) {
        NodeletConfig *c = l->config;
        bool known = false;
        int r;

        if (isempty(name))
                return loader_fail(l, path, "empty feature gate name");
        for (size_t i = 0; i < ELEMENTSOF(known_feature_gates); i++)
                known = known || streq(name, known_feature_gates[i]);
        if (!known) {
                if (l->flag)
                        r = loader_warn(l, "--%s: %s: feature gate not used by nodelet, ignored", l->flag, name);
                else
                        r = loader_warn(l, "%s:%u: %s: feature gate not used by nodelet, ignored",
                                        yaml_positions_source(l->positions), file_line(l, path), path);
                if (r < 0)
                        return r;
        }
        return gate_put(&c->feature_gates, &c->n_feature_gates, name, enabled);
}

static int flag_feature_gates(Loader *l, const Setting *s, const char *value) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        if ((r = split_list(value, &items)) < 0)
                return r;
        for (char **it = items; *it; it++) {
                char *eq = strchr(*it, '=');
                bool b;
                if (!eq)
                        return loader_fail(l, NULL, "expected Gate=true|false, got \"%s\"", *it);
                *eq = 0;
                if (parse_bool(eq + 1, &b) < 0)
                        return loader_fail(l, NULL, "%s: expected true or false, got \"%s\"", *it, eq + 1);
                if ((r = gate_set(l, *it, b, NULL)) < 0)
                        return r;
        }
        return 0;
}

static int json_feature_gates(Loader *l, const Setting *s, json_t *v, const char *path) {
        const char *k;
        json_t *item;
        int r;

        if ((r = json_expect(l, v, JSON_OBJECT, "a map of gate to boolean", path)) < 0)
                return r;
        json_object_foreach (v, k, item) {
                char ipath[600];
                path_fmt(ipath, sizeof ipath, "%s.%s", path, k);
                if ((r = json_expect(l, item, JSON_TRUE, "a boolean", ipath)) < 0)
                        return r;
                if ((r = gate_set(l, k, json_is_true(item), ipath)) < 0)
                        return r;
        }
        return 0;
}

static int taint_check_add(Loader *l, const char *key, const char *value, const char *effect, const char *path) {
        bool effect_ok = false;
        if (!is_label_key(key))
                return loader_fail(l, path, "invalid taint key \"%s\"", key);
        if (!is_label_name(value, true))
                return loader_fail(l, path, "invalid taint value \"%s\"", value);
        for (size_t i = 0; i < ELEMENTSOF(taint_effects); i++)
                effect_ok = effect_ok || streq(effect, taint_effects[i]);
        if (!effect_ok)
                return loader_fail(
                        l, path, "taint effect must be NoSchedule, PreferNoSchedule or NoExecute, got \"%s\"", effect);
        return taint_add(&l->config->register_with_taints, &l->config->n_register_with_taints, key, value, effect);
}

static void taints_clear(NodeletConfig *c) {
        taints_free(c->register_with_taints, c->n_register_with_taints);
        c->register_with_taints = NULL;
        c->n_register_with_taints = 0;
}

/* key=value:Effect or key:Effect, comma-separated (the kubelet's --register-with-taints). */
static int flag_taints(Loader *l, const Setting *s, const char *value) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        if (l->flag_first)
                taints_clear(l->config);
        if ((r = split_list(value, &items)) < 0)
                return r;
        for (char **it = items; *it; it++) {
                char *colon = strrchr(*it, ':'), *eq;
                if (!colon)
                        return loader_fail(l, NULL, "expected key=value:Effect, got \"%s\"", *it);
                *colon = 0;
                eq = strchr(*it, '=');
                if (eq)
                        *eq = 0;
                if ((r = taint_check_add(l, *it, eq ? eq + 1 : "", colon + 1, NULL)) < 0)
                        return r;
        }
        return 0;
}

static int json_taints(Loader *l, const Setting *s, json_t *v, const char *path) {
        size_t k;
        json_t *item;
        int r;

        if ((r = json_expect(l, v, JSON_ARRAY, "a list of taints", path)) < 0)
                return r;
        taints_clear(l->config);
        json_array_foreach (v, k, item) {
                char ipath[600];
                const char *key = NULL, *value = "", *effect = NULL, *f;
                json_t *fv;
                path_fmt(ipath, sizeof ipath, "%s[%zu]", path, k);
                if ((r = json_expect(l, item, JSON_OBJECT, "a taint object", ipath)) < 0)
                        return r;
                json_object_foreach (item, f, fv) {
                        char fpath[600];
                        path_fmt(fpath, sizeof fpath, "%s.%s", ipath, f);
                        if (json_is_null(fv))
                                continue;
                        if (!streq(f, "key") && !streq(f, "value") && !streq(f, "effect") && !streq(f, "timeAdded"))
                                return loader_fail(l, fpath, "unknown field");
                        if ((r = json_expect(l, fv, JSON_STRING, "a string", fpath)) < 0)
                                return r;
                        if (streq(f, "key"))
                                key = json_string_value(fv);
                        else if (streq(f, "value"))
                                value = json_string_value(fv);
                        else if (streq(f, "effect"))
                                effect = json_string_value(fv);
                }
                if (!key)
                        return loader_fail(l, ipath, "key: required field is missing");
                if (!effect)
                        return loader_fail(l, ipath, "effect: required field is missing");
                if ((r = taint_check_add(l, key, value, effect, ipath)) < 0)
                        return r;
        }
        return 0;
}

static int flag_node_labels(Loader *l, const Setting *s, const char *value) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        if ((r = split_list(value, &items)) < 0)
                return r;
        for (char **it = items; *it; it++) {
                char *eq = strchr(*it, '=');
                if (!eq)
                        return loader_fail(l, NULL, "expected key=value, got \"%s\"", *it);
                *eq = 0;
                if (!is_label_key(*it))
                        return loader_fail(l, NULL, "invalid label key \"%s\"", *it);
                if (!is_label_name(eq + 1, true))
                        return loader_fail(l, NULL, "invalid value \"%s\" of label %s", eq + 1, *it);
                if ((r = label_put(&l->config->node_labels, &l->config->n_node_labels, *it, eq + 1)) < 0)
                        return r;
        }
        return 0;
}

/* ---- defaults ---- */

static int config_new_defaults(NodeletConfig **ret) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = calloc(1, sizeof(NodeletConfig));
        RET_NULL_ENOMEM(c);
        struct {
                char **field;
                const char *value;
        } strings[] = {
                {&c->config_file, ""},
                {&c->root_dir, "/var/lib/nodelet"},
                {&c->state_dir, "/run/nodelet"},
                {&c->cert_dir, ""}, /* <root-dir>/pki, once root-dir is known */
                {&c->static_pod_path, ""},
                {&c->pod_logs_dir, "/var/log/pods"},
                {&c->resolv_conf, "/etc/resolv.conf"},
                {&c->kubeconfig, ""},
                {&c->bootstrap_kubeconfig, ""},
                {&c->cni_conf_dir, "/etc/cni/net.d"},
                {&c->cni_cache_dir, "/var/lib/cni"},
                {&c->registry_config_dir, "/etc/nodelet/certs.d"},
                {&c->hostname, ""},
                {&c->pod_cidr, ""},
                {&c->cluster_domain, ""},
                {&c->address, "0.0.0.0"},
                {&c->healthz_bind_address, "127.0.0.1"},
                {&c->tls_cert_file, ""},
                {&c->tls_private_key_file, ""},
                {&c->client_ca_file, ""},
                {&c->cgroup_root, ""},
                {&c->container_log_max_size, "10Mi"},
                {&c->logging_format, "text"},
                {&c->proxy_mode, "nftables"},
                {&c->proxy_kubeconfig, ""},
        };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                *strings[i].field = strdup(strings[i].value);
                RET_NULL_ENOMEM(*strings[i].field);
        }
        int r;
        if ((r = strv_set_empty(&c->cni_bin_dirs)) < 0 || (r = strv_extend(&c->cni_bin_dirs, NODELET_CNI_BINDIR)) < 0 ||
            (r = strv_set_empty(&c->node_ips)) < 0 || (r = strv_set_empty(&c->cluster_dns)) < 0 ||
            (r = strv_set_empty(&c->warnings)) < 0)
                return r;
        if ((r = strv_set_empty(&c->cluster_cidrs)) < 0 || (r = strv_set_empty(&c->service_cluster_ip_ranges)) < 0 ||
            (r = strv_set_empty(&c->nodeport_addresses)) < 0)
                return r;
        c->proxy_min_sync_period_usec = USEC_PER_SEC; /* kube-proxy's minSyncPeriod default */
        c->register_node = true;
        c->max_pods = 110;
        c->kube_api_qps = 50;
        c->kube_api_burst = 100;
        c->event_record_qps = 50;
        c->event_burst = 100;
        c->enable_server = true;
        c->port = 10250;
        c->read_only_port = 0;
        c->healthz_port = 10248;
        /* The kubelet's flag defaults; the v1beta1 ones replace them when a file is given (see the header). */
        c->anonymous_auth = true;
        c->webhook_authentication = false;
        c->authorization_mode = AUTHORIZATION_MODE_ALWAYS_ALLOW;
        c->webhook_authentication_cache_ttl_usec = 2 * 60 * USEC_PER_SEC;
        c->webhook_cache_authorized_ttl_usec = 5 * 60 * USEC_PER_SEC;
        c->webhook_cache_unauthorized_ttl_usec = 30 * USEC_PER_SEC;
        c->cgroup_driver = CGROUP_DRIVER_CGROUPFS;
        c->sync_frequency_usec = 60 * USEC_PER_SEC;
        c->file_check_frequency_usec = 20 * USEC_PER_SEC;
        c->runtime_request_timeout_usec = 2 * 60 * USEC_PER_SEC;
        c->node_status_update_frequency_usec = 10 * USEC_PER_SEC;
        c->node_status_report_frequency_usec = 5 * 60 * USEC_PER_SEC;
        c->node_lease_duration_seconds = 40;
        c->max_container_restart_period_usec = 300 * USEC_PER_SEC;
        c->serialize_image_pulls = true;
        c->image_gc_high_threshold_percent = 85;
        c->image_gc_low_threshold_percent = 80;
        c->image_minimum_gc_age_usec = 2 * 60 * USEC_PER_SEC;
        c->container_log_max_size_bytes = 10 * 1024 * 1024;
        c->container_log_max_files = 5;
        c->fail_swap_on = true;
        c->log_level = LOG_LEVEL_INFO;
        *ret = TAKE_PTR(c);
        return 0;
}

/* The kubelet's default hard eviction thresholds (pkg/kubelet/apis/config/v1beta1/defaults.go). */
static const struct {
        const char *signal, *value;
} default_eviction_hard[] = {
        {"memory.available", "100Mi"},
        {"nodefs.available", "10%"},
        {"imagefs.available", "15%"},
        {"nodefs.inodesFree", "5%"},
};

static int eviction_defaults(Loader *l, bool only_missing) {
        for (size_t i = 0; i < ELEMENTSOF(default_eviction_hard); i++) {
                bool have = false;
                for (size_t k = 0; k < l->config->n_eviction_hard; k++)
                        have = have || streq(l->config->eviction_hard[k].name, default_eviction_hard[i].signal);
                if (have && only_missing)
                        continue;
                int r = eviction_put(l, default_eviction_hard[i].signal, default_eviction_hard[i].value,
                                     "evictionHard");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the file ---- */

static bool str_in_list(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

static bool json_is_empty(json_t *v) {
        return json_is_null(v) || (json_is_string(v) && isempty(json_string_value(v))) ||
               (json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0);
}

static int apply_object(Loader *l, json_t *obj, const char *prefix) {
        const char *k;
        json_t *v;
        int r;

        json_object_foreach (obj, k, v) {
                char path[512];
                const Setting *s;

                path_fmt(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
                if (!*prefix && (streq(k, "apiVersion") || streq(k, "kind")))
                        continue;
                if (json_is_null(v)) /* null is unset, as in every Kubernetes API */
                        continue;
                if ((s = setting_by_field(path))) {
                        if ((r = apply_json(l, s, v, path)) < 0)
                                return r;
                } else if (str_in_list(path, parent_fields, ELEMENTSOF(parent_fields))) {
                        if ((r = json_expect(l, v, JSON_OBJECT, "an object", path)) < 0)
                                return r;
                        if ((r = apply_object(l, v, path)) < 0)
                                return r;
                } else if (str_in_list(path, ignored_fields, ELEMENTSOF(ignored_fields))) {
                        if (!json_is_empty(v) &&
                            (r = loader_warn(l, "%s:%u: %s: not implemented by nodelet, ignored",
                                             yaml_positions_source(l->positions), file_line(l, path), path)) < 0)
                                return r;
                } else if (streq(path, "staticPodURLHeader")) {
                        return loader_fail(l, path, "not supported: nodelet reads static pods from staticPodPath only");
                } else
                        return loader_fail(l, path, "unknown field");
        }
        return 0;
}

static int apply_file(Loader *l, const char *file) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(yaml_positions_freep) YamlPositions *positions = NULL;
        const char *api_version = NULL, *kind = NULL;
        ErrorBuf e2 = {};
        int r;

        r = yaml_load_file_with_positions(file, &j, &positions, l->error);
        if (r < 0)
                return r == -EBADMSG ? -EINVAL : r;
        l->positions = positions;
        l->flag = NULL;
        if (!json_is_object(j)) {
                r = error_set(l->error, -EINVAL, "%s: expected a KubeletConfiguration object, got %s", file,
                              json_type_name(j));
                goto finish;
        }
        if (jx_get_string(j, "apiVersion", "", true, &api_version, &e2) < 0 ||
            !streq(api_version, NODELET_CONFIG_API_VERSION)) {
                r = loader_fail(l, "apiVersion", "expected \"%s\", got %s%s%s", NODELET_CONFIG_API_VERSION,
                                api_version ? "\"" : "", api_version ?: "none", api_version ? "\"" : "");
                goto finish;
        }
        if (jx_get_string(j, "kind", "", true, &kind, &e2) < 0 || !streq(kind, NODELET_CONFIG_KIND)) {
                r = loader_fail(l, "kind", "expected \"%s\", got %s%s%s", NODELET_CONFIG_KIND, kind ? "\"" : "",
                                kind ?: "none", kind ? "\"" : "");
                goto finish;
        }
        r = apply_object(l, j, "");
finish:
        l->positions = NULL;
        return r;
}

/* ---- flags ---- */

typedef struct FlagValue {
        const Setting *setting;
        char *name; /* as given, for messages */
        char *value;
} FlagValue;

static void flag_values_free(FlagValue *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].value);
        }
        free(v);
}

/* Reads argv into (setting, value) pairs without applying them: --config must be known before anything else. */
static int parse_argv(Loader *l, int argc, char *argv[], FlagValue **ret, size_t *ret_n, bool *ret_help) {
        FlagValue *values = NULL;
        size_t n = 0;
        bool help = false;
        int r = 0;

        for (int i = 1; i < argc && r >= 0; i++) {
                const char *arg = argv[i], *value = NULL;
                _cleanup_free_ char *name = NULL;
                const Setting *s;

                if (streq(arg, "--")) {
                        if (i + 1 < argc)
                                r = error_set(l->error, -EINVAL, "%s: unexpected argument, nodelet takes only flags",
                                              argv[i + 1]);
                        break;
                }
                if (arg[0] != '-' || streq(arg, "-")) {
                        r = error_set(l->error, -EINVAL, "%s: unexpected argument, nodelet takes only flags", arg);
                        break;
                }
                if (arg[1] == '-')
                        name = strdup(arg + 2);
                else if (arg[1] == 'v' || arg[1] == 'h') {
                        /* The only shorthands, as pflag reads them: -v 3, -v=3, -v3, -h. */
                        name = strdup(arg[1] == 'v' ? "v" : "help");
                        if (arg[2])
                                value = arg[2] == '=' ? arg + 3 : arg + 2;
                } else {
                        r = error_set(l->error, -EINVAL, "%s: unknown shorthand flag", arg);
                        break;
                }
                if (!name) {
                        r = -ENOMEM;
                        break;
                }
                if (!value) {
                        char *eq = strchr(name, '=');
                        if (eq) {
                                *eq = 0;
                                value = arg + (eq - name) + (arg[1] == '-' ? 2 : 1) + 1;
                        }
                }
                /* Like the kubelet (cliflag.WordSepNormalizeFunc): --max_pods is --max-pods. */
                for (char *p = name; *p; p++)
                        if (*p == '_')
                                *p = '-';
                if (streq(name, "help")) {
                        help = true;
                        continue;
                }
                s = setting_by_flag(name);
                if (!s) {
                        r = error_set(l->error, -EINVAL, "--%s: unknown flag", name);
                        break;
                }
                if (!value) {
                        if (s->kind == SETTING_BOOL)
                                value = "true"; /* "--flag false" is not a value for a boolean, as in pflag */
                        else if (i + 1 < argc)
                                value = argv[++i];
                        else {
                                r = error_set(l->error, -EINVAL, "--%s: flag needs an argument", name);
                                break;
                        }
                }
                FlagValue *nv = realloc(values, (n + 1) * sizeof(FlagValue));
                if (!nv) {
                        r = -ENOMEM;
                        break;
                }
                values = nv;
                values[n] = (FlagValue){.setting = s, .name = TAKE_PTR(name), .value = strdup(value)};
                n++;
                if (!values[n - 1].value)
                        r = -ENOMEM;
        }
        if (r < 0) {
                flag_values_free(values, n);
                return r;
        }
        *ret = values;
        *ret_n = n;
        *ret_help = help;
        return 0;
}

/* ---- merging and validation ---- */

/* A dual-stack CIDR list of kube-proxy's (--cluster-cidr, --service-cluster-ip-range): one CIDR per family. */
static int check_family_cidrs(Loader *l, char **list, const char *flag) {
        int first = AF_UNSPEC;
        size_t n = 0;
        for (char **i = list; i && *i; i++, n++) {
                char addr[INET6_ADDRSTRLEN + 1];
                int f = AF_UNSPEC;
                snprintf(addr, sizeof addr, "%.*s", (int) strcspn(*i, "/"), *i);
                (void) ip_family(addr, &f);
                if (n >= 2 || (n == 1 && f == first))
                        return setting_fail(l, setting_by_flag(flag), "at most one IPv4 and one IPv6 CIDR");
                first = n == 0 ? f : first;
        }
        return 0;
}

static int finalize_proxy(Loader *l) {
        NodeletConfig *c = l->config;
        int r;
        if ((r = check_family_cidrs(l, c->cluster_cidrs, "cluster-cidr")) < 0 ||
            (r = check_family_cidrs(l, c->service_cluster_ip_ranges, "service-cluster-ip-range")) < 0)
                return r;
        /* Like kube-proxy: "primary" stands alone. */
        if (strv_contains(c->nodeport_addresses, "primary") && c->nodeport_addresses[1])
                return setting_fail(l, setting_by_flag("nodeport-addresses"),
                                    "\"primary\" cannot be combined with CIDRs");
        return 0;
}

static int finalize(Loader *l) {
        NodeletConfig *c = l->config;
        const Setting *s;
        int r;

        if (isempty(c->cert_dir)) {
                free(c->cert_dir);
                if (asprintf(&c->cert_dir, "%s/pki", c->root_dir) < 0) {
                        c->cert_dir = NULL;
                        return -ENOMEM;
                }
        }
        if (isempty(c->hostname)) {
                char h[HOST_NAME_MAX + 1] = {};
                if (gethostname(h, sizeof h - 1) < 0)
                        return error_set(l->error, -errno, "gethostname(): %s", strerror(errno));
                if ((r = set_string(&c->hostname, h)) < 0)
                        return r;
        }
        /* Like the kubelet (nodeutil.GetHostname), also for --hostname-override: node names are lowercase. */
        for (char *p = c->hostname; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        if (!is_dns1123_subdomain(c->hostname))
                return setting_fail(l, setting_by_flag("hostname-override"),
                                    "\"%s\" is not a valid node name (RFC 1123 subdomain)", c->hostname);
        if (!strv_contains(c->cni_bin_dirs, "/usr/lib/cni") && (r = strv_extend(&c->cni_bin_dirs, "/usr/lib/cni")) < 0)
                return r;

        /* --node-ip: at most one address per family. */
        size_t n_ips = 0;
        int families[2] = {};
        for (char **ip = c->node_ips; *ip; ip++, n_ips++) {
                int f = AF_UNSPEC;
                (void) ip_family(*ip, &f);
                if (n_ips >= 2 || (n_ips == 1 && families[0] == f))
                        return setting_fail(l, setting_by_flag("node-ip"), "at most one IPv4 and one IPv6 address");
                families[n_ips] = f;
        }
        if ((r = finalize_proxy(l)) < 0)
                return r;

        /* Eviction thresholds: the defaults unless given; merged into the given ones only when asked to. */
        s = setting_by_field("evictionHard");
        if (l->origin[setting_index(s)] == ORIGIN_DEFAULT)
                r = eviction_defaults(l, false);
        else if (c->merge_default_eviction_settings)
                r = eviction_defaults(l, true);
        else
                r = 0;
        if (r < 0)
                return r;

        /* nodeStatusReportFrequency follows an explicit nodeStatusUpdateFrequency (kubelet defaults.go). */
        if (l->origin[setting_index(setting_by_field("nodeStatusReportFrequency"))] == ORIGIN_DEFAULT &&
            l->origin[setting_index(setting_by_field("nodeStatusUpdateFrequency"))] != ORIGIN_DEFAULT)
                c->node_status_report_frequency_usec = c->node_status_update_frequency_usec;

        /* Parallel pulls: serializeImagePulls defaults to false when only maxParallelImagePulls > 1 is given. */
        const Setting *serialize = setting_by_field("serializeImagePulls");
        const Setting *parallel = setting_by_field("maxParallelImagePulls");
        if (l->origin[setting_index(serialize)] == ORIGIN_DEFAULT && c->max_parallel_image_pulls > 1)
                c->serialize_image_pulls = false;
        if (c->serialize_image_pulls && c->max_parallel_image_pulls > 1)
                return setting_fail(l, parallel, "must not be larger than 1 when serializeImagePulls is true");

        if (c->image_gc_high_threshold_percent <= c->image_gc_low_threshold_percent)
                return setting_fail(l, setting_by_field("imageGCHighThresholdPercent"),
                                    "%d must be greater than imageGCLowThresholdPercent (%d)",
                                    c->image_gc_high_threshold_percent, c->image_gc_low_threshold_percent);
        /* The kubelet's validation: a maximum age must leave room above the minimum one. */
        if (c->image_maximum_gc_age_usec > 0 && c->image_maximum_gc_age_usec <= c->image_minimum_gc_age_usec) {
                char max[32], min[32];
                return setting_fail(l, setting_by_field("imageMaximumGCAge"),
                                    "%s must be greater than imageMinimumGCAge (%s)",
                                    config_format_duration(c->image_maximum_gc_age_usec, max, sizeof max),
                                    config_format_duration(c->image_minimum_gc_age_usec, min, sizeof min));
        }
        if (c->shutdown_grace_period_critical_pods_usec > c->shutdown_grace_period_usec)
                return setting_fail(l, setting_by_field("shutdownGracePeriodCriticalPods"),
                                    "must not be longer than shutdownGracePeriod");
        if (isempty(c->tls_cert_file) != isempty(c->tls_private_key_file))
                return setting_fail(l,
                                    setting_by_field(isempty(c->tls_cert_file) ? "tlsPrivateKeyFile" : "tlsCertFile"),
                                    "tlsCertFile and tlsPrivateKeyFile must be given together");

        if (c->cgroup_driver == CGROUP_DRIVER_SYSTEMD &&
            (r = loader_warn(l, "cgroupDriver: systemd: nodelet manages its delegated cgroup subtree directly, as "
                                "with cgroupfs")) < 0)
                return r;

        char v[16];
        snprintf(v, sizeof v, "%" PRId32, c->verbosity);
        c->log_level = log_level_from_string(v);
        return 0;
}

int nodelet_config_load(int argc, char *argv[], NodeletConfig **ret, ErrorBuf *e) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = NULL;
        _cleanup_free_ Loader *l = calloc(1, sizeof(Loader));
        FlagValue *values = NULL;
        size_t n_values = 0;
        const char *config_file = NULL;
        bool help = false;
        int r;

        RET_NULL_ENOMEM(l);
        if ((r = config_new_defaults(&c)) < 0)
                return r;
        l->config = c;
        l->error = e;

        r = parse_argv(l, argc, argv, &values, &n_values, &help);
        if (r < 0)
                return r;
        if (help) {
                flag_values_free(values, n_values);
                nodelet_config_usage(stdout);
                return NODELET_CONFIG_HELP;
        }
        for (size_t i = 0; i < n_values; i++)
                if (streq(values[i].setting->flag, "config"))
                        config_file = values[i].value;

        if (!isempty(config_file)) {
                /* The v1beta1 defaults for the servers' authentication, instead of the flag defaults. */
                c->anonymous_auth = false;
                c->webhook_authentication = true;
                c->authorization_mode = AUTHORIZATION_MODE_WEBHOOK;
                if ((r = set_string(&c->config_file, config_file)) < 0)
                        goto finish;
                if ((r = apply_file(l, config_file)) < 0)
                        goto finish;
        }
        for (size_t i = 0; i < n_values; i++) {
                l->flag = values[i].name;
                if ((r = apply_flag(l, values[i].setting, values[i].value)) < 0)
                        goto finish;
        }
        l->flag = NULL;
        if ((r = finalize(l)) < 0)
                goto finish;
        *ret = TAKE_PTR(c);
        r = 0;
finish:
        flag_values_free(values, n_values);
        return r;
}

NodeletConfig *nodelet_config_free(NodeletConfig *c) {
        if (!c)
                return NULL;
        char **strings[] = {
                &c->config_file,
                &c->root_dir,
                &c->state_dir,
                &c->cert_dir,
                &c->static_pod_path,
                &c->pod_logs_dir,
                &c->resolv_conf,
                &c->kubeconfig,
                &c->bootstrap_kubeconfig,
                &c->cni_conf_dir,
                &c->cni_cache_dir,
                &c->registry_config_dir,
                &c->hostname,
                &c->pod_cidr,
                &c->cluster_domain,
                &c->address,
                &c->healthz_bind_address,
                &c->tls_cert_file,
                &c->tls_private_key_file,
                &c->client_ca_file,
                &c->cgroup_root,
                &c->container_log_max_size,
                &c->logging_format,
                &c->proxy_mode,
                &c->proxy_kubeconfig,
        };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                free(*strings[i]);
        strv_free(c->cluster_cidrs);
        strv_free(c->service_cluster_ip_ranges);
        strv_free(c->nodeport_addresses);
        strv_free(c->cni_bin_dirs);
        strv_free(c->node_ips);
        strv_free(c->cluster_dns);
        strv_free(c->warnings);
        labels_free(c->node_labels, c->n_node_labels);
        taints_free(c->register_with_taints, c->n_register_with_taints);
        quantities_free(c->eviction_hard, c->n_eviction_hard);
        quantities_free(c->kube_reserved, c->n_kube_reserved);
        quantities_free(c->system_reserved, c->n_system_reserved);
        gates_free(c->feature_gates, c->n_feature_gates);
        free(c);
        return NULL;
}

bool nodelet_config_feature_enabled(const NodeletConfig *c, const char *gate, bool def) {
        for (size_t i = 0; c && i < c->n_feature_gates; i++)
                if (streq(c->feature_gates[i].name, gate))
                        return c->feature_gates[i].enabled;
        return def;
}

/* ---- --help ---- */

static void default_text(const NodeletConfig *c, const Setting *s, char *buf, size_t size) {
        const void *p = (const uint8_t *) c + s->offset;
        buf[0] = 0;
        if (s->default_text) {
                snprintf(buf, size, "%s", s->default_text);
                return;
        }
        switch (s->kind) {
        case SETTING_STRING:
                if (!isempty(*(char *const *) p))
                        snprintf(buf, size, "\"%s\"", *(char *const *) p);
                break;
        case SETTING_BOOL:
                snprintf(buf, size, "%s", *(const bool *) p ? "true" : "false");
                break;
        case SETTING_INT32:
                snprintf(buf, size, "%" PRId32, *(const int32_t *) p);
                break;
        case SETTING_DURATION:
                config_format_duration(*(const uint64_t *) p, buf, size);
                break;
        case SETTING_STRV: {
                size_t k = 0;
                for (char *const *i = *(char **const *) p; *i && k + 1 < size; i++)
                        k += (size_t) snprintf(buf + k, size - k, "%s%s", k ? "," : "", *i);
                break;
        }
        case SETTING_SPECIAL:
                break;
        }
}

void nodelet_config_usage(FILE *f) {
        _cleanup_(nodelet_config_freep) NodeletConfig *c = NULL;

        fprintf(f, "Usage: nodelet [flags]\n\n"
                   "A Kubernetes node agent: the kubelet and kube-proxy in one daemon, with its own container "
                   "runtime.\n"
                   "Settings come from the defaults, then the --config file, then the flags.\n\nFlags:\n");
        if (config_new_defaults(&c) < 0)
                c = NULL;
        for (size_t i = 0; i < N_SETTINGS; i++) {
                const Setting *s = &settings[i];
                char head[96], def[256] = "";
                if (!s->flag)
                        continue;
                /* pflag's layout; -v also has its klog spelling --v. */
                snprintf(head, sizeof head, "%s%s %s", streq(s->flag, "v") ? "-v, --" : "--", s->flag,
                         strempty(s->arg));
                if (c)
                        default_text(c, s, def, sizeof def);
                fprintf(f, "  %-44s%s%s%s%s%s\n", head,
                        strlen(head) >= 44 ? "\n                                              " : " ", s->help,
                        def[0] ? " (default " : "", def, def[0] ? ")" : "");
        }
        fprintf(f, "  %-44s %s\n", "-h, --help", "Show this help");
}

/* ---- /configz ---- */

static int put(json_t *obj, const char *key, json_t *v) {
        RET_NULL_ENOMEM(v);
        return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

static int put_string(json_t *obj, const char *key, const char *s) {
        return isempty(s) ? 0 : put(obj, key, json_string(s)); /* omitempty, like the kubelet's JSON */
}

static int put_duration(json_t *obj, const char *key, uint64_t usec) {
        char buf[64];
        return put(obj, key, json_string(config_format_duration(usec, buf, sizeof buf)));
}

static int put_quantities(json_t *obj, const char *key, const NodeletQuantity *q, size_t n) {
        if (n == 0)
                return 0;
        json_t *m = json_object();
        RET_NULL_ENOMEM(m);
        if (put(obj, key, m) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (put(m, q[i].name, json_string(q[i].value)) < 0)
                        return -ENOMEM;
        return 0;
}

static int put_strv(json_t *obj, const char *key, char **l) {
        if (!l || !*l)
                return 0;
        json_t *a = json_array();
        RET_NULL_ENOMEM(a);
        if (put(obj, key, a) < 0)
                return -ENOMEM;
        for (; *l; l++)
                if (json_array_append_new(a, json_string(*l)) < 0)
                        return -ENOMEM;
        return 0;
}

/* A new empty object set as parent[key]; NULL on allocation failure (nothing leaks: the parent owns it). */
static json_t *put_object(json_t *parent, const char *key) {
        json_t *o = json_object();
        if (!o || json_object_set_new(parent, key, o) < 0)
                return NULL;
        return o;
}

int nodelet_config_dump(const NodeletConfig *c, json_t **ret) {
        _cleanup_json_ json_t *o = json_object();
        json_t *authn, *authz, *x509, *webhook, *anonymous, *authz_webhook, *clbo, *logging;

        RET_NULL_ENOMEM(o);
        if (put(o, "apiVersion", json_string(NODELET_CONFIG_API_VERSION)) < 0 ||
            put(o, "kind", json_string(NODELET_CONFIG_KIND)) < 0)
                return -ENOMEM;
        if (!(authn = put_object(o, "authentication")) || !(authz = put_object(o, "authorization")) ||
            !(x509 = put_object(authn, "x509")) || !(webhook = put_object(authn, "webhook")) ||
            !(anonymous = put_object(authn, "anonymous")) || !(authz_webhook = put_object(authz, "webhook")) ||
            !(clbo = put_object(o, "crashLoopBackOff")) || !(logging = put_object(o, "logging")))
                return -ENOMEM;

        if (put(o, "enableServer", json_boolean(c->enable_server)) < 0 ||
            put_string(o, "staticPodPath", c->static_pod_path) < 0 ||
            put_string(o, "podLogsDir", c->pod_logs_dir) < 0 ||
            put_duration(o, "syncFrequency", c->sync_frequency_usec) < 0 ||
            put_duration(o, "fileCheckFrequency", c->file_check_frequency_usec) < 0 ||
            put_string(o, "address", c->address) < 0 || put(o, "port", json_integer(c->port)) < 0 ||
            put(o, "readOnlyPort", json_integer(c->read_only_port)) < 0 ||
            put_string(o, "tlsCertFile", c->tls_cert_file) < 0 ||
            put_string(o, "tlsPrivateKeyFile", c->tls_private_key_file) < 0 ||
            put_string(x509, "clientCAFile", c->client_ca_file) < 0 ||
            put(webhook, "enabled", json_boolean(c->webhook_authentication)) < 0 ||
            put_duration(webhook, "cacheTTL", c->webhook_authentication_cache_ttl_usec) < 0 ||
            put(anonymous, "enabled", json_boolean(c->anonymous_auth)) < 0 ||
            put(authz, "mode", json_string(authorization_mode_to_string(c->authorization_mode))) < 0 ||
            put_duration(authz_webhook, "cacheAuthorizedTTL", c->webhook_cache_authorized_ttl_usec) < 0 ||
            put_duration(authz_webhook, "cacheUnauthorizedTTL", c->webhook_cache_unauthorized_ttl_usec) < 0 ||
            put(o, "healthzPort", json_integer(c->healthz_port)) < 0 ||
            put_string(o, "healthzBindAddress", c->healthz_bind_address) < 0 ||
            put_string(o, "clusterDomain", c->cluster_domain) < 0 || put_strv(o, "clusterDNS", c->cluster_dns) < 0 ||
            put_duration(o, "nodeStatusUpdateFrequency", c->node_status_update_frequency_usec) < 0 ||
            put_duration(o, "nodeStatusReportFrequency", c->node_status_report_frequency_usec) < 0 ||
            put(o, "nodeLeaseDurationSeconds", json_integer(c->node_lease_duration_seconds)) < 0 ||
            put_duration(o, "imageMinimumGCAge", c->image_minimum_gc_age_usec) < 0 ||
            put(o, "imageGCHighThresholdPercent", json_integer(c->image_gc_high_threshold_percent)) < 0 ||
            put(o, "imageGCLowThresholdPercent", json_integer(c->image_gc_low_threshold_percent)) < 0 ||
            put_string(o, "cgroupRoot", c->cgroup_root) < 0 ||
            put(o, "cgroupDriver", json_string(cgroup_driver_kind_to_string(c->cgroup_driver))) < 0 ||
            put_duration(o, "runtimeRequestTimeout", c->runtime_request_timeout_usec) < 0 ||
            put(o, "maxPods", json_integer(c->max_pods)) < 0 ||
            put(o, "kubeAPIQPS", json_integer(c->kube_api_qps)) < 0 ||
            put(o, "kubeAPIBurst", json_integer(c->kube_api_burst)) < 0 ||
            put(o, "eventRecordQPS", json_integer(c->event_record_qps)) < 0 ||
            put(o, "eventBurst", json_integer(c->event_burst)) < 0 || put_string(o, "podCIDR", c->pod_cidr) < 0 ||
            put_string(o, "resolvConf", c->resolv_conf) < 0 ||
            put(o, "serializeImagePulls", json_boolean(c->serialize_image_pulls)) < 0 ||
            (c->max_parallel_image_pulls > 0 &&
             put(o, "maxParallelImagePulls", json_integer(c->max_parallel_image_pulls)) < 0) ||
            put_quantities(o, "evictionHard", c->eviction_hard, c->n_eviction_hard) < 0 ||
            put(o, "mergeDefaultEvictionSettings", json_boolean(c->merge_default_eviction_settings)) < 0 ||
            put(o, "failSwapOn", json_boolean(c->fail_swap_on)) < 0 ||
            put_string(o, "containerLogMaxSize", c->container_log_max_size) < 0 ||
            put(o, "containerLogMaxFiles", json_integer(c->container_log_max_files)) < 0 ||
            put_quantities(o, "systemReserved", c->system_reserved, c->n_system_reserved) < 0 ||
            put_quantities(o, "kubeReserved", c->kube_reserved, c->n_kube_reserved) < 0 ||
            put(logging, "verbosity", json_integer(c->verbosity)) < 0 ||
            put_string(logging, "format", c->logging_format) < 0 ||
            put_duration(o, "shutdownGracePeriod", c->shutdown_grace_period_usec) < 0 ||
            put_duration(o, "shutdownGracePeriodCriticalPods", c->shutdown_grace_period_critical_pods_usec) < 0 ||
            put_duration(clbo, "maxContainerRestartPeriod", c->max_container_restart_period_usec) < 0 ||
            put(o, "seccompDefault", json_boolean(c->seccomp_default)) < 0 ||
            put(o, "registerNode", json_boolean(c->register_node)) < 0 ||
            put(o, "rotateCertificates", json_boolean(c->rotate_certificates)) < 0 ||
            put(o, "serverTLSBootstrap", json_boolean(c->server_tls_bootstrap)) < 0)
                return -ENOMEM;
        if (c->n_feature_gates > 0) {
                json_t *g = json_object();
                if (put(o, "featureGates", g) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < c->n_feature_gates; i++)
                        if (put(g, c->feature_gates[i].name, json_boolean(c->feature_gates[i].enabled)) < 0)
                                return -ENOMEM;
        }
        if (c->n_register_with_taints > 0) {
                json_t *a = json_array();
                if (put(o, "registerWithTaints", a) < 0)
                        return -ENOMEM;
                for (size_t i = 0; i < c->n_register_with_taints; i++) {
                        json_t *t = json_object();
                        if (!t || json_array_append_new(a, t) < 0)
                                return -ENOMEM;
                        if (put(t, "key", json_string(c->register_with_taints[i].key)) < 0 ||
                            put_string(t, "value", c->register_with_taints[i].value) < 0 ||
                            put(t, "effect", json_string(c->register_with_taints[i].effect)) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}
