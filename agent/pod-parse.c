/* SPDX-License-Identifier: Apache-2.0 */
/* v1.Pod → Pod: the API server's defaulting (pkg/apis/core/v1/defaults.go) written into a copy of the object and
 * into the struct, and the part of its validation (pkg/apis/core/validation) that nodelet relies on, with the field
 * path in every message. One pass: each field is defaulted in the JSON copy, then read back from it, so the struct
 * and pod->object never disagree. Unknown fields are left alone. */

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "agent/pod.h"
#include "common/json-util.h"
#include "runtime/image-store.h"
#include "runtime/reference.h"

#define PATH_SIZE 256
#define ANNOTATIONS_SIZE_MAX (256 * 1024) /* apimachinery TotalAnnotationSizeLimitB */
#define DNS_NAMESERVERS_MAX 3             /* validation.MaxDNSNameservers */
#define DNS_SEARCHES_MAX 32               /* validation.MaxDNSSearchPaths */
#define DNS_SEARCH_LIST_CHARS_MAX 2048    /* validation.MaxDNSSearchListChars */
#define DEFAULT_MODE 0644
#define MODE_MAX 0777

static const char *const restart_policy_table[_RESTART_POLICY_MAX] = {
        [RESTART_POLICY_ALWAYS] = "Always",
        [RESTART_POLICY_ON_FAILURE] = "OnFailure",
        [RESTART_POLICY_NEVER] = "Never",
};

static const char *const pull_policy_table[_PULL_POLICY_MAX] = {
        [PULL_POLICY_ALWAYS] = "Always",
        [PULL_POLICY_IF_NOT_PRESENT] = "IfNotPresent",
        [PULL_POLICY_NEVER] = "Never",
};

static const char *const dns_policy_table[_DNS_POLICY_MAX] = {
        [DNS_POLICY_CLUSTER_FIRST] = "ClusterFirst",
        [DNS_POLICY_CLUSTER_FIRST_WITH_HOST_NET] = "ClusterFirstWithHostNet",
        [DNS_POLICY_DEFAULT] = "Default",
        [DNS_POLICY_NONE] = "None",
};

static const char *const qos_class_table[_QOS_CLASS_MAX] = {
        [QOS_GUARANTEED] = "Guaranteed",
        [QOS_BURSTABLE] = "Burstable",
        [QOS_BEST_EFFORT] = "BestEffort",
};

static const char *const host_path_type_table[_HOST_PATH_TYPE_MAX] = {
        [HOST_PATH_UNSET] = "",
        [HOST_PATH_DIRECTORY_OR_CREATE] = "DirectoryOrCreate",
        [HOST_PATH_DIRECTORY] = "Directory",
        [HOST_PATH_FILE_OR_CREATE] = "FileOrCreate",
        [HOST_PATH_FILE] = "File",
        [HOST_PATH_SOCKET] = "Socket",
        [HOST_PATH_CHAR_DEVICE] = "CharDevice",
        [HOST_PATH_BLOCK_DEVICE] = "BlockDevice",
};

static const char *const protocol_table[] = {"TCP", "UDP", "SCTP"};
static const char *const termination_message_policy_table[] = {"File", "FallbackToLogsOnError"};
static const char *const mount_propagation_table[] = {"None", "HostToContainer", "Bidirectional"};
static const char *const seccomp_type_table[] = {"RuntimeDefault", "Unconfined", "Localhost"};

static int table_lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *restart_policy_to_string(RestartPolicy p) {
        return p >= 0 && p < _RESTART_POLICY_MAX ? restart_policy_table[p] : NULL;
}
RestartPolicy restart_policy_from_string(const char *s) {
        return (RestartPolicy) table_lookup(restart_policy_table, _RESTART_POLICY_MAX, s);
}
const char *pull_policy_to_string(PullPolicy p) {
        return p >= 0 && p < _PULL_POLICY_MAX ? pull_policy_table[p] : NULL;
}
PullPolicy pull_policy_from_string(const char *s) {
        return (PullPolicy) table_lookup(pull_policy_table, _PULL_POLICY_MAX, s);
}
const char *dns_policy_to_string(DnsPolicy p) {
        return p >= 0 && p < _DNS_POLICY_MAX ? dns_policy_table[p] : NULL;
}
DnsPolicy dns_policy_from_string(const char *s) {
        return (DnsPolicy) table_lookup(dns_policy_table, _DNS_POLICY_MAX, s);
}
const char *qos_class_to_string(QosClass q) {
        return q >= 0 && q < _QOS_CLASS_MAX ? qos_class_table[q] : NULL;
}
const char *host_path_type_to_string(HostPathType t) {
        return t >= 0 && t < _HOST_PATH_TYPE_MAX ? host_path_type_table[t] : NULL;
}

/* ---- helpers ---- */

static const char *pathf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static const char *pathf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return buf;
}

static bool is_set(const json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return v && !json_is_null(v);
}

/* Defaulting: sets o[key] = v when it is absent or null (Kubernetes treats null as unset). Takes v. */
static int set_default(json_t *o, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (is_set(o, key)) {
                json_decref(v);
                return 0;
        }
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int get_strdup(const json_t *o, const char *key, const char *path, bool required, char **ret, ErrorBuf *e) {
        const char *s = NULL;
        int r = jx_get_string(o, key, path, required, &s, e);
        if (r < 0 || !s)
                return r;
        char *d = strdup(s);
        RET_NULL_ENOMEM(d);
        free(*ret);
        *ret = d;
        return 0;
}

static int get_int32(const json_t *o, const char *key, const char *path, int64_t min, int64_t max, int32_t *ret,
                     ErrorBuf *e) {
        int64_t v;
        int r = jx_get_int(o, key, path, false, min, max, &v, e);
        if (r < 0)
                return r;
        if (is_set(o, key))
                *ret = (int32_t) v;
        return 0;
}

/* -1 unset, 0 false, 1 true. */
static int get_tristate(const json_t *o, const char *key, const char *path, int *ret, ErrorBuf *e) {
        bool b = false;
        int r = jx_get_bool(o, key, path, false, &b, e);
        if (r < 0)
                return r;
        *ret = is_set(o, key) ? b : -1;
        return 0;
}

static int get_enum(const json_t *o, const char *key, const char *path, const char *const *table, size_t n, int *ret,
                    ErrorBuf *e) {
        const char *s = NULL;
        int r = jx_get_string(o, key, path, true, &s, e);
        if (r < 0)
                return r;
        int i = table_lookup(table, n, s);
        if (i < 0) {
                char list[256] = "";
                size_t l = 0;
                for (size_t k = 0; k < n && l < sizeof list; k++)
                        l += (size_t) snprintf(list + l, sizeof list - l, "%s\"%s\"", k > 0 ? ", " : "", table[k]);
                return error_set(e, -EINVAL, "%s.%s: unsupported value \"%s\": supported values: %s", path, key, s,
                                 list);
        }
        *ret = i;
        return 0;
}

/* An element of a list that must be an object. */
static int list_object(json_t *item, const char *path, ErrorBuf *e) {
        if (!json_is_object(item))
                return error_set(e, -EINVAL, "%s: expected an object, got %s", path, json_type_name(item));
        return 0;
}

static bool is_alnum_lower(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
static bool is_alnum(char c) {
        return is_alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool dns_label_valid_n(const char *s, size_t n) {
        if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum_lower(s[i]) && s[i] != '-')
                        return false;
        return true;
}
static bool dns_label_valid(const char *s) {
        return dns_label_valid_n(s, strlen(s));
}

/* RFC 1123 subdomain: labels joined by '.', at most 253 (labels are not limited to 63 here, like the API). */
static bool dns_subdomain_valid_n(const char *s, size_t n) {
        if (n == 0 || n > 253)
                return false;
        for (size_t start = 0, i = 0; i <= n; i++) {
                if (i < n && s[i] != '.')
                        continue;
                size_t l = i - start;
                if (l == 0 || !is_alnum_lower(s[start]) || !is_alnum_lower(s[i - 1]))
                        return false;
                for (size_t k = start; k < i; k++)
                        if (!is_alnum_lower(s[k]) && s[k] != '-')
                                return false;
                start = i + 1;
        }
        return true;
}
static bool dns_subdomain_valid(const char *s) {
        return dns_subdomain_valid_n(s, strlen(s));
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool name_part_valid(const char *s, size_t n) {
        if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
                        return false;
        return true;
}

/* Label and annotation keys: [prefix/]name, prefix a DNS subdomain, name at most 63. */
static bool qualified_name_valid(const char *s) {
        const char *slash = strchr(s, '/');
        const char *name = slash ? slash + 1 : s;
        if (slash && !dns_subdomain_valid_n(s, (size_t) (slash - s)))
                return false;
        return strlen(name) <= 63 && name_part_valid(name, strlen(name));
}

static bool label_value_valid(const char *s) {
        size_t n = strlen(s);
        return n == 0 || (n <= 63 && name_part_valid(s, n));
}

/* IANA_SVC_NAME: at most 15 of [a-z0-9-], at least one letter, no '-' at either end or twice in a row. */
static bool port_name_valid(const char *s) {
        size_t n = strlen(s);
        bool letter = false;
        if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!is_alnum_lower(s[i]) && s[i] != '-')
                        return false;
                letter = letter || (s[i] >= 'a' && s[i] <= 'z');
        }
        return letter;
}

static bool ip_valid(const char *s) {
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Like the API server with RelaxedEnvironmentVariableValidation: any printable ASCII except '='. */
static bool env_name_valid(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (*s < 32 || *s > 126 || *s == '=')
                        return false;
        return true;
}

/* validateLocalDescendingPath: relative, and no ".." component. */
static bool descending_path_valid(const char *s) {
        if (s[0] == '/')
                return false;
        for (const char *c = s;;) {
                const char *slash = strchr(c, '/');
                size_t n = slash ? (size_t) (slash - c) : strlen(c);
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                if (!slash)
                        return true;
                c = slash + 1;
        }
}

typedef struct NameIndex {
        const char *name;
        size_t index;
} NameIndex;

static int name_index_compare(const void *a, const void *b) {
        const NameIndex *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

/* Sorting instead of comparing all pairs, so a manifest with many entries costs n log n. Returns the smallest index
 * that repeats an earlier name, or SIZE_MAX. */
static int find_duplicate(const char *const *names, size_t n, size_t *ret) {
        *ret = SIZE_MAX;
        if (n < 2)
                return 0;
        _cleanup_free_ NameIndex *v = calloc(n, sizeof(NameIndex));
        RET_NULL_ENOMEM(v);
        for (size_t i = 0; i < n; i++)
                v[i] = (NameIndex){names[i], i};
        qsort(v, n, sizeof(NameIndex), name_index_compare);
        for (size_t i = 1; i < n; i++)
                if (streq(v[i - 1].name, v[i].name))
                        *ret = MIN(*ret, v[i].index);
        return 0;
}

/* For messages: a quantity as written. */
static const char *quantity_text(const json_t *v, char *buf, size_t size) {
        if (json_is_string(v))
                return json_string_value(v);
        _cleanup_free_ char *s = jx_dump_compact(v);
        snprintf(buf, size, "%s", strna(s));
        return buf;
}

/* ---- free ---- */

static void handler_done(Handler *h) {
        strv_free(h->exec_command);
        free(h->http_host);
        free(h->http_path);
        for (size_t i = 0; i < h->n_http_headers; i++) {
                free(h->http_headers[i].name);
                free(h->http_headers[i].value);
        }
        free(h->http_headers);
        free(h->port.name);
        free(h->tcp_host);
        free(h->grpc_service);
}

static void probe_free(Probe *p) {
        if (!p)
                return;
        handler_done(&p->handler);
        free(p);
}

static void probe_freep(Probe **p) {
        probe_free(*p);
}

static void handler_free(Handler *h) {
        if (!h)
                return;
        handler_done(h);
        free(h);
}

static void security_context_done(SecurityContext *s) {
        strv_free(s->cap_add);
        strv_free(s->cap_drop);
        free(s->seccomp_localhost_profile);
}

static void container_done(PodContainer *c) {
        free(c->name);
        free(c->image);
        strv_free(c->command);
        strv_free(c->args);
        free(c->working_dir);
        for (size_t i = 0; i < c->n_ports; i++) {
                free(c->ports[i].name);
                free(c->ports[i].protocol);
                free(c->ports[i].host_ip);
        }
        free(c->ports);
        for (size_t i = 0; i < c->n_env; i++) {
                EnvVar *v = c->env + i;
                free(v->name);
                free(v->value);
                free(v->field_path);
                free(v->resource_container);
                free(v->resource);
                free(v->divisor);
                free(v->ref_name);
                free(v->ref_key);
        }
        free(c->env);
        for (size_t i = 0; i < c->n_env_from; i++) {
                free(c->env_from[i].prefix);
                free(c->env_from[i].name);
        }
        free(c->env_from);
        for (size_t i = 0; i < c->n_volume_mounts; i++) {
                free(c->volume_mounts[i].name);
                free(c->volume_mounts[i].mount_path);
                free(c->volume_mounts[i].sub_path);
                free(c->volume_mounts[i].sub_path_expr);
        }
        free(c->volume_mounts);
        probe_free(c->liveness_probe);
        probe_free(c->readiness_probe);
        probe_free(c->startup_probe);
        handler_free(c->post_start);
        handler_free(c->pre_stop);
        free(c->termination_message_path);
        security_context_done(&c->security_context);
}

static void downward_items_free(DownwardApiItem *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].path);
                free(items[i].field_path);
                free(items[i].resource_container);
                free(items[i].resource);
                free(items[i].divisor);
        }
        free(items);
}

static void keys_free(KeyToPath *keys, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(keys[i].key);
                free(keys[i].path);
        }
        free(keys);
}

static void volume_done(Volume *v) {
        free(v->name);
        free(v->host_path);
        downward_items_free(v->items, v->n_items);
        for (size_t i = 0; i < v->n_sources; i++) {
                downward_items_free(v->sources[i].items, v->sources[i].n_items);
                free(v->sources[i].name);
                keys_free(v->sources[i].keys, v->sources[i].n_keys);
                free(v->sources[i].audience);
                free(v->sources[i].token_path);
        }
        free(v->sources);
        free(v->ref_name);
        keys_free(v->keys, v->n_keys);
}

Pod *pod_free(Pod *p) {
        if (!p)
                return NULL;
        json_decref(p->object);
        free(p->uid);
        free(p->name);
        free(p->namespace_);
        free(p->source);
        free(p->source_path);
        free(p->node_name);
        free(p->hostname);
        free(p->subdomain);
        free(p->service_account_name);
        strv_free(p->dns_config.nameservers);
        strv_free(p->dns_config.searches);
        strv_free(p->dns_config.options);
        free(p->priority_class_name);
        for (size_t i = 0; i < p->n_host_aliases; i++) {
                free(p->host_aliases[i].ip);
                strv_free(p->host_aliases[i].hostnames);
        }
        free(p->host_aliases);
        free(p->security_context.supplemental_groups);
        free(p->security_context.seccomp_localhost_profile);
        strv_free(p->security_context.sysctls);
        for (size_t i = 0; i < p->n_init_containers; i++)
                container_done(p->init_containers + i);
        free(p->init_containers);
        for (size_t i = 0; i < p->n_containers; i++)
                container_done(p->containers + i);
        free(p->containers);
        for (size_t i = 0; i < p->n_volumes; i++)
                volume_done(p->volumes + i);
        free(p->volumes);
        free(p);
        return NULL;
}

/* ---- handlers and probes ---- */

typedef enum HandlerUse {
        HANDLER_USE_PROBE,
        HANDLER_USE_LIFECYCLE,
} HandlerUse;

/* IntOrString port: 1..65535, or a port name (IANA_SVC_NAME) the prober resolves against the container's ports. */
static int parse_port_ref(const json_t *o, const char *path, bool number_only, PortRef *ret, ErrorBuf *e) {
        json_t *v = json_object_get(o, "port");
        if (!v || json_is_null(v))
                return error_set(e, -EINVAL, "%s.port: required field is missing", path);
        if (json_is_string(v) && !number_only) {
                const char *s = json_string_value(v);
                if (!port_name_valid(s))
                        return error_set(e, -EINVAL,
                                         "%s.port: invalid port name \"%s\": at most 15 lowercase alphanumerics or "
                                         "'-', with at least one letter",
                                         path, s);
                ret->name = strdup(s);
                RET_NULL_ENOMEM(ret->name);
                ret->number = 0;
                return 0;
        }
        int64_t n;
        int r = jx_get_int(o, "port", path, true, 1, 65535, &n, e);
        if (r < 0)
                return r;
        ret->number = (int32_t) n;
        return 0;
}

static int parse_http_get(json_t *o, const char *path, Handler *h, ErrorBuf *e) {
        json_t *headers = NULL, *item;
        const char *scheme = NULL;
        size_t i;
        int r;

        r = set_default(o, "path", json_string("/"));
        r = r ?: set_default(o, "scheme", json_string("HTTP"));
        if (r < 0)
                return r;
        h->type = HANDLER_HTTP_GET;
        r = get_strdup(o, "path", path, true, &h->http_path, e);
        r = r ?: get_strdup(o, "host", path, false, &h->http_host, e);
        r = r ?: jx_get_string(o, "scheme", path, true, &scheme, e);
        r = r ?: parse_port_ref(o, path, false, &h->port, e);
        r = r ?: jx_get_array(o, "httpHeaders", path, false, &headers, e);
        if (r < 0)
                return r;
        if (!streq(scheme, "HTTP") && !streq(scheme, "HTTPS"))
                return error_set(e, -EINVAL,
                                 "%s.scheme: unsupported value \"%s\": supported values: \"HTTP\", \"HTTPS\"", path,
                                 scheme);
        h->http_https = streq(scheme, "HTTPS");
        if (!headers)
                return 0;
        h->http_headers = calloc(json_array_size(headers) ?: 1, sizeof(HttpHeader));
        RET_NULL_ENOMEM(h->http_headers);
        json_array_foreach (headers, i, item) {
                char p[PATH_SIZE];
                HttpHeader *hh = h->http_headers + h->n_http_headers++;
                pathf(p, sizeof p, "%s.httpHeaders[%zu]", path, i);
                r = list_object(item, p, e);
                r = r ?: get_strdup(item, "name", p, true, &hh->name, e);
                r = r ?: get_strdup(item, "value", p, false, &hh->value, e);
                if (r < 0)
                        return r;
                if (!hh->value) {
                        hh->value = strdup("");
                        RET_NULL_ENOMEM(hh->value);
                }
                if (!name_part_valid(hh->name, strlen(hh->name)) || strchr(hh->name, '.'))
                        return error_set(e, -EINVAL, "%s.name: invalid HTTP header name \"%s\"", p, hh->name);
        }
        return 0;
}

/* Exactly one handler: exec, httpGet, tcpSocket and grpc for probes; exec, httpGet, tcpSocket and sleep for
 * lifecycle hooks (validation.validateHandler). */
static int parse_handler(json_t *o, const char *path, HandlerUse use, Handler *h, ErrorBuf *e) {
        static const char *const probe_keys[] = {"exec", "httpGet", "tcpSocket", "grpc"};
        static const char *const lifecycle_keys[] = {"exec", "httpGet", "tcpSocket", "sleep"};
        const char *const *keys = use == HANDLER_USE_PROBE ? probe_keys : lifecycle_keys;
        const char *which = NULL;
        size_t n = 0;
        json_t *v = NULL;
        char p[PATH_SIZE];
        int r;

        for (size_t i = 0; i < 4; i++)
                if (is_set(o, keys[i])) {
                        which = keys[i];
                        n++;
                }
        if (n == 0)
                return error_set(e, -EINVAL, "%s: must specify a handler type", path);
        if (n > 1)
                return error_set(e, -EINVAL, "%s: may not specify more than 1 handler type", path);
        r = jx_get_object(o, which, path, true, &v, e);
        if (r < 0)
                return r;
        pathf(p, sizeof p, "%s.%s", path, which);

        if (streq(which, "exec")) {
                h->type = HANDLER_EXEC;
                r = jx_get_strv(v, "command", p, false, &h->exec_command, e);
                if (r < 0)
                        return r;
                if (!h->exec_command || !h->exec_command[0])
                        return error_set(e, -EINVAL, "%s.command: required field is missing", p);
                return 0;
        }
        if (streq(which, "httpGet"))
                return parse_http_get(v, p, h, e);
        if (streq(which, "tcpSocket")) {
                h->type = HANDLER_TCP_SOCKET;
                r = parse_port_ref(v, p, false, &h->port, e);
                return r ?: get_strdup(v, "host", p, false, &h->tcp_host, e);
        }
        if (streq(which, "grpc")) {
                h->type = HANDLER_GRPC;
                r = parse_port_ref(v, p, true, &h->port, e);
                return r ?: get_strdup(v, "service", p, false, &h->grpc_service, e);
        }
        h->type = HANDLER_SLEEP;
        return jx_get_int(v, "seconds", p, true, 0, INT64_MAX, &h->sleep_seconds, e);
}

typedef enum ProbeKind {
        PROBE_LIVENESS,
        PROBE_READINESS,
        PROBE_STARTUP,
} ProbeKind;

static int parse_probe(json_t *c, const char *key, const char *cpath, ProbeKind kind, Probe **ret, ErrorBuf *e) {
        _cleanup_(probe_freep) Probe *probe = NULL;
        json_t *o = NULL;
        char p[PATH_SIZE];
        int64_t v;
        int r;

        r = jx_get_object(c, key, cpath, false, &o, e);
        if (r < 0 || !o)
                return r;
        pathf(p, sizeof p, "%s.%s", cpath, key);
        /* SetDefaults_Probe */
        r = set_default(o, "timeoutSeconds", json_integer(1));
        r = r ?: set_default(o, "periodSeconds", json_integer(10));
        r = r ?: set_default(o, "successThreshold", json_integer(1));
        r = r ?: set_default(o, "failureThreshold", json_integer(3));
        if (r < 0)
                return r;
        probe = calloc(1, sizeof(Probe));
        RET_NULL_ENOMEM(probe);
        probe->termination_grace_period_seconds = -1;
        r = parse_handler(o, p, HANDLER_USE_PROBE, &probe->handler, e);
        r = r ?: get_int32(o, "initialDelaySeconds", p, 0, INT32_MAX, &probe->initial_delay_seconds, e);
        r = r ?: get_int32(o, "timeoutSeconds", p, 1, INT32_MAX, &probe->timeout_seconds, e);
        r = r ?: get_int32(o, "periodSeconds", p, 1, INT32_MAX, &probe->period_seconds, e);
        r = r ?: get_int32(o, "successThreshold", p, 1, INT32_MAX, &probe->success_threshold, e);
        r = r ?: get_int32(o, "failureThreshold", p, 1, INT32_MAX, &probe->failure_threshold, e);
        if (r < 0)
                return r;
        if (is_set(o, "terminationGracePeriodSeconds")) {
                r = jx_get_int(o, "terminationGracePeriodSeconds", p, true, 1, INT64_MAX, &v, e);
                if (r < 0)
                        return r;
                probe->termination_grace_period_seconds = v;
        }
        if (kind != PROBE_READINESS && probe->success_threshold != 1)
                return error_set(e, -EINVAL, "%s.successThreshold: must be 1", p);
        *ret = TAKE_PTR(probe);
        return 0;
}

/* ---- security ---- */

static int parse_seccomp(json_t *sc, const char *path, SeccompProfileType *type, char **localhost, ErrorBuf *e) {
        json_t *o = NULL;
        char p[PATH_SIZE];
        int t, r;

        r = jx_get_object(sc, "seccompProfile", path, false, &o, e);
        if (r < 0 || !o)
                return r;
        pathf(p, sizeof p, "%s.seccompProfile", path);
        r = get_enum(o, "type", p, seccomp_type_table, ELEMENTSOF(seccomp_type_table), &t, e);
        r = r ?: get_strdup(o, "localhostProfile", p, false, localhost, e);
        if (r < 0)
                return r;
        *type = t == 0   ? SECCOMP_PROFILE_RUNTIME_DEFAULT
                : t == 1 ? SECCOMP_PROFILE_UNCONFINED
                         : SECCOMP_PROFILE_LOCALHOST;
        if (*type == SECCOMP_PROFILE_LOCALHOST && isempty(*localhost))
                return error_set(e, -EINVAL, "%s.localhostProfile: must be set when seccomp type is Localhost", p);
        if (*type != SECCOMP_PROFILE_LOCALHOST && *localhost)
                return error_set(e, -EINVAL, "%s.localhostProfile: can only be set when seccomp type is Localhost", p);
        if (*localhost && !descending_path_valid(*localhost))
                return error_set(e, -EINVAL, "%s.localhostProfile: must be a relative path without '..'", p);
        return 0;
}

static int parse_container_security(json_t *c, const char *cpath, SecurityContext *s, ErrorBuf *e) {
        json_t *o = NULL, *caps = NULL;
        char p[PATH_SIZE], cp[PATH_SIZE];
        int r;

        s->run_as_user = s->run_as_group = -1;
        s->run_as_non_root = s->read_only_root_filesystem = s->privileged = s->allow_privilege_escalation = -1;
        r = jx_get_object(c, "securityContext", cpath, false, &o, e);
        if (r < 0 || !o)
                return r;
        pathf(p, sizeof p, "%s.securityContext", cpath);
        r = jx_get_int(o, "runAsUser", p, false, 0, INT32_MAX, &s->run_as_user, e);
        r = r ?: jx_get_int(o, "runAsGroup", p, false, 0, INT32_MAX, &s->run_as_group, e);
        r = r ?: get_tristate(o, "runAsNonRoot", p, &s->run_as_non_root, e);
        r = r ?: get_tristate(o, "readOnlyRootFilesystem", p, &s->read_only_root_filesystem, e);
        r = r ?: get_tristate(o, "privileged", p, &s->privileged, e);
        r = r ?: get_tristate(o, "allowPrivilegeEscalation", p, &s->allow_privilege_escalation, e);
        r = r ?: jx_get_object(o, "capabilities", p, false, &caps, e);
        r = r ?: parse_seccomp(o, p, &s->seccomp, &s->seccomp_localhost_profile, e);
        if (r < 0)
                return r;
        if (caps) {
                pathf(cp, sizeof cp, "%s.capabilities", p);
                r = jx_get_strv(caps, "add", cp, false, &s->cap_add, e);
                r = r ?: jx_get_strv(caps, "drop", cp, false, &s->cap_drop, e);
                if (r < 0)
                        return r;
        }
        if (s->allow_privilege_escalation == 0 && s->privileged == 1)
                return error_set(e, -EINVAL,
                                 "%s.allowPrivilegeEscalation: cannot set allowPrivilegeEscalation to false and "
                                 "privileged to true",
                                 p);
        if (s->run_as_non_root == 1 && s->run_as_user == 0)
                return error_set(e, -EINVAL, "%s.runAsNonRoot: runAsUser 0 contradicts runAsNonRoot", p);
        return 0;
}

static int parse_pod_security(json_t *spec, PodSecurityContext *s, ErrorBuf *e) {
        json_t *o = NULL, *groups = NULL, *sysctls = NULL, *item;
        const char *path = "spec.securityContext";
        bool b = false;
        size_t i;
        int r;

        s->run_as_user = s->run_as_group = s->fs_group = -1;
        s->run_as_non_root = -1;
        r = set_default(spec, "securityContext", json_object());
        r = r ?: jx_get_object(spec, "securityContext", "spec", true, &o, e);
        r = r ?: jx_get_int(o, "runAsUser", path, false, 0, INT32_MAX, &s->run_as_user, e);
        r = r ?: jx_get_int(o, "runAsGroup", path, false, 0, INT32_MAX, &s->run_as_group, e);
        r = r ?: jx_get_int(o, "fsGroup", path, false, 0, INT32_MAX, &s->fs_group, e);
        r = r ?: jx_get_bool(o, "runAsNonRoot", path, false, &b, e);
        r = r ?: jx_get_array(o, "supplementalGroups", path, false, &groups, e);
        r = r ?: jx_get_array(o, "sysctls", path, false, &sysctls, e);
        r = r ?: parse_seccomp(o, path, &s->seccomp, &s->seccomp_localhost_profile, e);
        if (r < 0)
                return r;
        if (is_set(o, "runAsNonRoot"))
                s->run_as_non_root = b;
        if (groups) {
                s->supplemental_groups = calloc(json_array_size(groups) ?: 1, sizeof(int64_t));
                RET_NULL_ENOMEM(s->supplemental_groups);
                json_array_foreach (groups, i, item) {
                        if (!json_is_integer(item) || json_integer_value(item) < 0 ||
                            json_integer_value(item) > INT32_MAX)
                                return error_set(e, -EINVAL, "%s.supplementalGroups[%zu]: expected a group id", path,
                                                 i);
                        s->supplemental_groups[s->n_supplemental_groups++] = json_integer_value(item);
                }
        }
        if (sysctls) {
                s->sysctls = calloc(json_array_size(sysctls) + 1, sizeof(char *));
                RET_NULL_ENOMEM(s->sysctls);
                json_array_foreach (sysctls, i, item) {
                        const char *name = NULL, *value = NULL;
                        char p[PATH_SIZE];
                        pathf(p, sizeof p, "%s.sysctls[%zu]", path, i);
                        r = list_object(item, p, e);
                        r = r ?: jx_get_string(item, "name", p, true, &name, e);
                        r = r ?: jx_get_string(item, "value", p, true, &value, e);
                        if (r < 0)
                                return r;
                        if (isempty(name) || strchr(name, '='))
                                return error_set(e, -EINVAL, "%s.name: invalid sysctl name \"%s\"", p, name);
                        if (asprintf(&s->sysctls[i], "%s=%s", name, value) < 0) {
                                s->sysctls[i] = NULL;
                                return -ENOMEM;
                        }
                }
        }
        return 0;
}

/* ---- containers ---- */

typedef struct ParseContext {
        Pod *pod;
        const char **volume_names; /* sorted, for volumeMounts lookups */
} ParseContext;

static int compare_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool volume_exists(const ParseContext *ctx, const char *name) {
        return ctx->pod->n_volumes > 0 &&
               bsearch(&name, ctx->volume_names, ctx->pod->n_volumes, sizeof(char *), compare_str) != NULL;
}

static int parse_ports(json_t *c, const char *cpath, const ParseContext *ctx, PodContainer *out, ErrorBuf *e) {
        json_t *ports = NULL, *item;
        size_t i, dup;
        int r;

        r = jx_get_array(c, "ports", cpath, false, &ports, e);
        if (r < 0 || !ports)
                return r;
        out->ports = calloc(json_array_size(ports) ?: 1, sizeof(ContainerPort));
        RET_NULL_ENOMEM(out->ports);
        json_array_foreach (ports, i, item) {
                ContainerPort *port = out->ports + out->n_ports++;
                char p[PATH_SIZE];
                int64_t n;
                int proto;
                pathf(p, sizeof p, "%s.ports[%zu]", cpath, i);
                r = list_object(item, p, e);
                r = r ?: set_default(item, "protocol", json_string("TCP"));
                if (r >= 0 && ctx->pod->host_network && !is_set(item, "hostPort") && is_set(item, "containerPort"))
                        /* defaultHostNetworkPorts: with the host's network, the container port is the host port. */
                        r = json_object_set(item, "hostPort", json_object_get(item, "containerPort")) < 0 ? -ENOMEM : 0;
                r = r ?: jx_get_int(item, "containerPort", p, true, 1, 65535, &n, e);
                if (r < 0)
                        return r;
                port->container_port = (int32_t) n;
                r = get_int32(item, "hostPort", p, 0, 65535, &port->host_port, e);
                r = r ?: get_enum(item, "protocol", p, protocol_table, ELEMENTSOF(protocol_table), &proto, e);
                r = r ?: get_strdup(item, "protocol", p, true, &port->protocol, e);
                r = r ?: get_strdup(item, "name", p, false, &port->name, e);
                r = r ?: get_strdup(item, "hostIP", p, false, &port->host_ip, e);
                if (r < 0)
                        return r;
                if (port->name && !port_name_valid(port->name))
                        return error_set(e, -EINVAL,
                                         "%s.name: invalid port name \"%s\": at most 15 lowercase alphanumerics or "
                                         "'-', with at least one letter",
                                         p, port->name);
                if (port->host_ip && !ip_valid(port->host_ip))
                        return error_set(e, -EINVAL, "%s.hostIP: invalid IP address \"%s\"", p, port->host_ip);
                if (ctx->pod->host_network && port->host_port != 0 && port->host_port != port->container_port)
                        return error_set(e, -EINVAL, "%s.hostPort: must match containerPort when hostNetwork is true",
                                         p);
        }
        /* Port names are unique within a container (the prober resolves them). */
        _cleanup_free_ const char **names = calloc(out->n_ports ?: 1, sizeof(char *));
        size_t n_names = 0;
        RET_NULL_ENOMEM(names);
        for (i = 0; i < out->n_ports; i++)
                if (out->ports[i].name)
                        names[n_names++] = out->ports[i].name;
        r = find_duplicate(names, n_names, &dup);
        if (r < 0)
                return r;
        if (dup != SIZE_MAX)
                return error_set(e, -EINVAL, "%s.ports: duplicate port name \"%s\"", cpath, names[dup]);
        return 0;
}

static bool field_path_for_env(const char *fp) {
        return pod_field_path_valid(fp, false);
}

static const char *const resource_field_table[] = {
        "limits.cpu",   "limits.memory",   "limits.ephemeral-storage",
        "requests.cpu", "requests.memory", "requests.ephemeral-storage",
};

static bool resource_field_valid(const char *s) {
        if (table_lookup(resource_field_table, ELEMENTSOF(resource_field_table), s) >= 0)
                return true;
        const char *h = startswith(s, "limits.hugepages-") ?: startswith(s, "requests.hugepages-");
        int64_t v;
        return h && quantity_parse_bytes(h, &v) >= 0 && v > 0;
}

/* resourceFieldRef: a known resource and a divisor that is a positive quantity of the right unit (the API allows
 * exactly 1m and 1 for CPU, and 1 and the decimal/binary powers for bytes; a positive quantity is what matters for
 * the division). */
static int parse_resource_field_ref(json_t *o, const char *path, bool container_required, char **container,
                                    char **resource, char **divisor, ErrorBuf *e) {
        int64_t v;
        int r;

        r = get_strdup(o, "containerName", path, container_required, container, e);
        r = r ?: get_strdup(o, "resource", path, true, resource, e);
        if (r < 0)
                return r;
        if (!resource_field_valid(*resource))
                return error_set(e, -EINVAL, "%s.resource: unsupported value \"%s\"", path, *resource);
        json_t *d = json_object_get(o, "divisor");
        if (!d || json_is_null(d))
                return 0;
        bool cpu = endswith(*resource, ".cpu");
        char buf[64];
        if (quantity_from_json(d, cpu, &v) < 0 || v <= 0)
                return error_set(e, -EINVAL, "%s.divisor: invalid divisor \"%s\": must be a positive quantity", path,
                                 quantity_text(d, buf, sizeof buf));
        *divisor = strdup(quantity_text(d, buf, sizeof buf));
        RET_NULL_ENOMEM(*divisor);
        return 0;
}

static int parse_key_ref(json_t *o, const char *path, EnvVar *v, ErrorBuf *e) {
        bool optional = false;
        int r = get_strdup(o, "name", path, false, &v->ref_name, e);
        r = r ?: get_strdup(o, "key", path, true, &v->ref_key, e);
        r = r ?: jx_get_bool(o, "optional", path, false, &optional, e);
        v->optional = optional;
        return r;
}

static int parse_env_var(json_t *item, const char *p, EnvVar *v, ErrorBuf *e) {
        static const char *const sources[] = {"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"};
        json_t *from = NULL, *ref = NULL;
        const char *which = NULL;
        char fp[PATH_SIZE], rp[PATH_SIZE];
        size_t n = 0;
        int r;

        r = list_object(item, p, e);
        r = r ?: get_strdup(item, "name", p, true, &v->name, e);
        r = r ?: get_strdup(item, "value", p, false, &v->value, e);
        r = r ?: jx_get_object(item, "valueFrom", p, false, &from, e);
        if (r < 0)
                return r;
        if (!env_name_valid(v->name))
                return error_set(e, -EINVAL,
                                 "%s.name: invalid environment variable name \"%s\": printable ASCII "
                                 "characters other than '=' only",
                                 p, v->name);
        v->source = ENV_SOURCE_VALUE;
        if (!from) {
                if (!v->value) {
                        v->value = strdup("");
                        RET_NULL_ENOMEM(v->value);
                }
                return 0;
        }
        pathf(fp, sizeof fp, "%s.valueFrom", p);
        if (!isempty(v->value))
                return error_set(e, -EINVAL, "%s: may not be specified when `value` is not empty", fp);
        for (size_t i = 0; i < ELEMENTSOF(sources); i++)
                if (is_set(from, sources[i])) {
                        which = sources[i];
                        n++;
                }
        if (n != 1)
                return error_set(e, -EINVAL,
                                 "%s: must specify exactly one of fieldRef, resourceFieldRef, "
                                 "configMapKeyRef or secretKeyRef",
                                 fp);
        r = jx_get_object(from, which, fp, true, &ref, e);
        if (r < 0)
                return r;
        pathf(rp, sizeof rp, "%s.%s", fp, which);
        if (streq(which, "fieldRef")) {
                v->source = ENV_SOURCE_FIELD_REF;
                r = set_default(ref, "apiVersion", json_string("v1"));
                r = r ?: get_strdup(ref, "fieldPath", rp, true, &v->field_path, e);
                if (r < 0)
                        return r;
                if (!field_path_for_env(v->field_path))
                        return error_set(e, -EINVAL, "%s.fieldPath: unsupported value \"%s\"", rp, v->field_path);
                return 0;
        }
        if (streq(which, "resourceFieldRef")) {
                v->source = ENV_SOURCE_RESOURCE_FIELD_REF;
                return parse_resource_field_ref(ref, rp, false, &v->resource_container, &v->resource, &v->divisor, e);
        }
        v->source = streq(which, "configMapKeyRef") ? ENV_SOURCE_CONFIG_MAP_KEY : ENV_SOURCE_SECRET_KEY;
        return parse_key_ref(ref, rp, v, e);
}

static int parse_env(json_t *c, const char *cpath, PodContainer *out, ErrorBuf *e) {
        json_t *env = NULL, *env_from = NULL, *item;
        size_t i;
        int r;

        r = jx_get_array(c, "env", cpath, false, &env, e);
        r = r ?: jx_get_array(c, "envFrom", cpath, false, &env_from, e);
        if (r < 0)
                return r;
        if (env) {
                out->env = calloc(json_array_size(env) ?: 1, sizeof(EnvVar));
                RET_NULL_ENOMEM(out->env);
                json_array_foreach (env, i, item) {
                        char p[PATH_SIZE];
                        r = parse_env_var(item, pathf(p, sizeof p, "%s.env[%zu]", cpath, i), out->env + out->n_env++,
                                          e);
                        if (r < 0)
                                return r;
                }
        }
        if (!env_from)
                return 0;
        out->env_from = calloc(json_array_size(env_from) ?: 1, sizeof(EnvFromSource));
        RET_NULL_ENOMEM(out->env_from);
        json_array_foreach (env_from, i, item) {
                EnvFromSource *s = out->env_from + out->n_env_from++;
                json_t *ref = NULL;
                bool optional = false;
                char p[PATH_SIZE], rp[PATH_SIZE];
                pathf(p, sizeof p, "%s.envFrom[%zu]", cpath, i);
                r = list_object(item, p, e);
                r = r ?: get_strdup(item, "prefix", p, false, &s->prefix, e);
                if (r < 0)
                        return r;
                if (is_set(item, "configMapRef") == is_set(item, "secretRef"))
                        return error_set(e, -EINVAL, "%s: must specify exactly one of configMapRef or secretRef", p);
                s->secret = is_set(item, "secretRef");
                const char *key = s->secret ? "secretRef" : "configMapRef";
                pathf(rp, sizeof rp, "%s.%s", p, key);
                r = jx_get_object(item, key, p, true, &ref, e);
                r = r ?: get_strdup(ref, "name", rp, true, &s->name, e);
                r = r ?: jx_get_bool(ref, "optional", rp, false, &optional, e);
                if (r < 0)
                        return r;
                s->optional = optional;
        }
        return 0;
}

static void resource_list_init(ResourceList *l) {
        l->cpu_milli = l->memory = l->ephemeral_storage = l->hugepages_2mi = -1;
}

static int parse_resource_list(json_t *list, const char *path, ResourceList *out, ErrorBuf *e) {
        const char *key;
        json_t *v;

        json_object_foreach (list, key, v) {
                bool cpu = streq(key, "cpu");
                char buf[64];
                int64_t x;
                if (json_is_null(v))
                        continue;
                if (quantity_from_json(v, cpu, &x) < 0)
                        return error_set(e, -EINVAL, "%s.%s: invalid quantity \"%s\"", path, key,
                                         quantity_text(v, buf, sizeof buf));
                if (x < 0)
                        return error_set(e, -EINVAL, "%s.%s: must be greater than or equal to 0", path, key);
                if (cpu)
                        out->cpu_milli = x;
                else if (streq(key, "memory"))
                        out->memory = x;
                else if (streq(key, "ephemeral-storage"))
                        out->ephemeral_storage = x;
                else if (streq(key, "hugepages-2Mi"))
                        out->hugepages_2mi = x;
        }
        return 0;
}

static int parse_resources(json_t *c, const char *cpath, Resources *out, ErrorBuf *e) {
        json_t *res = NULL, *limits = NULL, *requests = NULL, *v;
        char p[PATH_SIZE], lp[PATH_SIZE], rp[PATH_SIZE];
        const char *key;
        int r;

        resource_list_init(&out->requests);
        resource_list_init(&out->limits);
        r = jx_get_object(c, "resources", cpath, false, &res, e);
        if (r < 0 || !res)
                return r;
        pathf(p, sizeof p, "%s.resources", cpath);
        r = jx_get_object(res, "limits", p, false, &limits, e);
        if (r < 0)
                return r;
        /* SetDefaults_Pod: a request defaults to the limit of the same resource. */
        if (limits && json_object_size(limits) > 0) {
                r = set_default(res, "requests", json_object());
                if (r < 0)
                        return r;
                requests = json_object_get(res, "requests");
                if (json_is_object(requests))
                        json_object_foreach (limits, key, v)
                                if (!is_set(requests, key) && json_object_set(requests, key, v) < 0)
                                        return -ENOMEM;
        }
        r = jx_get_object(res, "requests", p, false, &requests, e);
        if (r < 0)
                return r;
        pathf(lp, sizeof lp, "%s.limits", p);
        pathf(rp, sizeof rp, "%s.requests", p);
        if (limits) {
                r = parse_resource_list(limits, lp, &out->limits, e);
                if (r < 0)
                        return r;
        }
        if (!requests)
                return 0;
        r = parse_resource_list(requests, rp, &out->requests, e);
        if (r < 0)
                return r;
        if (!limits)
                return 0;
        json_object_foreach (requests, key, v) {
                json_t *l = json_object_get(limits, key);
                bool cpu = streq(key, "cpu");
                int64_t req = 0, lim = 0;
                if (!l || json_is_null(l) || json_is_null(v))
                        continue;
                (void) quantity_from_json(v, cpu, &req); /* both parsed above */
                (void) quantity_from_json(l, cpu, &lim);
                if (req > lim)
                        return error_set(e, -EINVAL, "%s.%s: must be less than or equal to %s limit", rp, key, key);
        }
        return 0;
}

static int parse_volume_mounts(json_t *c, const char *cpath, const ParseContext *ctx, PodContainer *out, ErrorBuf *e) {
        json_t *mounts = NULL, *item;
        size_t i, dup;
        int r;

        r = jx_get_array(c, "volumeMounts", cpath, false, &mounts, e);
        if (r < 0 || !mounts)
                return r;
        out->volume_mounts = calloc(json_array_size(mounts) ?: 1, sizeof(VolumeMount));
        RET_NULL_ENOMEM(out->volume_mounts);
        json_array_foreach (mounts, i, item) {
                VolumeMount *m = out->volume_mounts + out->n_volume_mounts++;
                const char *prop = NULL;
                bool ro = false;
                char p[PATH_SIZE];
                pathf(p, sizeof p, "%s.volumeMounts[%zu]", cpath, i);
                r = list_object(item, p, e);
                r = r ?: get_strdup(item, "name", p, true, &m->name, e);
                r = r ?: get_strdup(item, "mountPath", p, true, &m->mount_path, e);
                r = r ?: get_strdup(item, "subPath", p, false, &m->sub_path, e);
                r = r ?: get_strdup(item, "subPathExpr", p, false, &m->sub_path_expr, e);
                r = r ?: jx_get_bool(item, "readOnly", p, false, &ro, e);
                r = r ?: jx_get_string(item, "mountPropagation", p, false, &prop, e);
                if (r < 0)
                        return r;
                m->read_only = ro;
                if (!volume_exists(ctx, m->name))
                        return error_set(e, -ENOENT, "%s.name: volume \"%s\" not found in spec.volumes", p, m->name);
                if (m->mount_path[0] != '/')
                        return error_set(e, -EINVAL, "%s.mountPath: must be an absolute path", p);
                /* An empty subPath means the whole volume, as in the API. */
                if (isempty(m->sub_path))
                        m->sub_path = mfree(m->sub_path);
                if (isempty(m->sub_path_expr))
                        m->sub_path_expr = mfree(m->sub_path_expr);
                if (m->sub_path && m->sub_path_expr)
                        return error_set(e, -EINVAL, "%s.subPathExpr: subPathExpr and subPath are mutually exclusive",
                                         p);
                if (m->sub_path && !descending_path_valid(m->sub_path))
                        return error_set(e, -EINVAL, "%s.subPath: must be a relative path without '..'", p);
                if (m->sub_path_expr && !descending_path_valid(m->sub_path_expr))
                        return error_set(e, -EINVAL, "%s.subPathExpr: must be a relative path without '..'", p);
                int pr = prop ? table_lookup(mount_propagation_table, ELEMENTSOF(mount_propagation_table), prop) : 0;
                if (pr < 0)
                        return error_set(e, -EINVAL,
                                         "%s.mountPropagation: unsupported value \"%s\": supported values: \"None\", "
                                         "\"HostToContainer\", \"Bidirectional\"",
                                         p, prop);
                m->propagation = pr == 0   ? MOUNT_PROPAGATION_PRIVATE
                                 : pr == 1 ? MOUNT_PROPAGATION_SLAVE
                                           : MOUNT_PROPAGATION_SHARED;
                if (m->propagation == MOUNT_PROPAGATION_SHARED && out->security_context.privileged != 1)
                        return error_set(e, -EINVAL,
                                         "%s.mountPropagation: Bidirectional mount propagation is available only to "
                                         "privileged containers",
                                         p);
        }
        _cleanup_free_ const char **paths = calloc(out->n_volume_mounts ?: 1, sizeof(char *));
        RET_NULL_ENOMEM(paths);
        for (i = 0; i < out->n_volume_mounts; i++)
                paths[i] = out->volume_mounts[i].mount_path;
        r = find_duplicate(paths, out->n_volume_mounts, &dup);
        if (r < 0)
                return r;
        if (dup != SIZE_MAX)
                return error_set(e, -EINVAL, "%s.volumeMounts[%zu].mountPath: must be unique", cpath, dup);
        return 0;
}

static int parse_lifecycle(json_t *c, const char *cpath, PodContainer *out, ErrorBuf *e) {
        static const char *const hooks[] = {"postStart", "preStop"};
        json_t *lc = NULL, *h = NULL;
        char p[PATH_SIZE], hp[PATH_SIZE];
        int r;

        r = jx_get_object(c, "lifecycle", cpath, false, &lc, e);
        if (r < 0 || !lc)
                return r;
        pathf(p, sizeof p, "%s.lifecycle", cpath);
        for (size_t i = 0; i < ELEMENTSOF(hooks); i++) {
                Handler **dest = i == 0 ? &out->post_start : &out->pre_stop;
                h = NULL;
                r = jx_get_object(lc, hooks[i], p, false, &h, e);
                if (r < 0)
                        return r;
                if (!h)
                        continue;
                *dest = calloc(1, sizeof(Handler));
                RET_NULL_ENOMEM(*dest);
                r = parse_handler(h, pathf(hp, sizeof hp, "%s.%s", p, hooks[i]), HANDLER_USE_LIFECYCLE, *dest, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int container_hash(const json_t *c, char hash[static 17]) {
        _cleanup_free_ char *s = jx_dump_compact(c);
        uint64_t h = UINT64_C(14695981039346656037);
        RET_NULL_ENOMEM(s);
        for (const unsigned char *q = (const unsigned char *) s; *q; q++) {
                h ^= *q;
                h *= UINT64_C(1099511628211);
        }
        snprintf(hash, 17, "%016" PRIx64, h);
        return 0;
}

static int parse_container(json_t *c, const char *cpath, ContainerKind kind, size_t index, const ParseContext *ctx,
                           PodContainer *out, ErrorBuf *e) {
        _cleanup_free_ char *normalized = NULL, *tag = NULL, *digest = NULL;
        const char *policy = NULL;
        bool b = false;
        int x, r;

        out->kind = kind;
        out->index = index;
        r = list_object(c, cpath, e);
        r = r ?: get_strdup(c, "name", cpath, true, &out->name, e);
        if (r < 0)
                return r;
        if (!dns_label_valid(out->name))
                return error_set(e, -EINVAL,
                                 "%s.name: invalid value \"%s\": must be a DNS label (at most 63 lowercase "
                                 "alphanumerics or '-', starting and ending with an alphanumeric)",
                                 cpath, out->name);
        r = get_strdup(c, "image", cpath, true, &out->image, e);
        if (r < 0)
                return r;
        if (isempty(out->image) || strspn(out->image, " \t") == strlen(out->image))
                return error_set(e, -EINVAL, "%s.image: must not be empty", cpath);
        r = reference_normalize(out->image, &normalized, e);
        if (r < 0)
                return error_prefix(e, r, "%s.image", cpath);
        r = reference_split(normalized, NULL, &tag, &digest);
        if (r < 0)
                return r;
        /* SetDefaults_Container: Always for :latest (what an untagged, undigested reference means), else
         * IfNotPresent. */
        r = set_default(c, "imagePullPolicy", json_string(streq_ptr(tag, "latest") ? "Always" : "IfNotPresent"));
        r = r ?: get_enum(c, "imagePullPolicy", cpath, pull_policy_table, _PULL_POLICY_MAX, &x, e);
        if (r < 0)
                return r;
        out->image_pull_policy = (PullPolicy) x;

        r = set_default(c, "terminationMessagePath", json_string("/dev/termination-log"));
        r = r ?: set_default(c, "terminationMessagePolicy", json_string("File"));
        r = r ?: get_strdup(c, "terminationMessagePath", cpath, true, &out->termination_message_path, e);
        r = r
                    ?: get_enum(c, "terminationMessagePolicy", cpath, termination_message_policy_table,
                                ELEMENTSOF(termination_message_policy_table), &x, e);
        if (r < 0)
                return r;
        out->termination_message_fallback_to_logs = x == 1;

        r = jx_get_strv(c, "command", cpath, false, &out->command, e);
        r = r ?: jx_get_strv(c, "args", cpath, false, &out->args, e);
        r = r ?: get_strdup(c, "workingDir", cpath, false, &out->working_dir, e);
        r = r ?: jx_get_bool(c, "stdin", cpath, false, &b, e);
        if (r < 0)
                return r;
        out->stdin_ = b;
        b = false;
        r = jx_get_bool(c, "stdinOnce", cpath, false, &b, e);
        if (r < 0)
                return r;
        out->stdin_once = b;
        b = false;
        r = jx_get_bool(c, "tty", cpath, false, &b, e);
        r = r ?: jx_get_string(c, "restartPolicy", cpath, false, &policy, e);
        if (r < 0)
                return r;
        out->tty = b;
        if (policy) {
                if (kind != CONTAINER_KIND_INIT)
                        return error_set(e, -EINVAL, "%s.restartPolicy: may not be set for non-init containers", cpath);
                if (!streq(policy, "Always"))
                        return error_set(e, -EINVAL,
                                         "%s.restartPolicy: unsupported value \"%s\": supported values: "
                                         "\"Always\"",
                                         cpath, policy);
                out->has_restart_policy = true;
                out->restart_policy = RESTART_POLICY_ALWAYS;
        }

        r = parse_ports(c, cpath, ctx, out, e);
        r = r ?: parse_env(c, cpath, out, e);
        r = r ?: parse_resources(c, cpath, &out->resources, e);
        r = r ?: parse_container_security(c, cpath, &out->security_context, e);
        r = r ?: parse_volume_mounts(c, cpath, ctx, out, e);
        r = r ?: parse_probe(c, "livenessProbe", cpath, PROBE_LIVENESS, &out->liveness_probe, e);
        r = r ?: parse_probe(c, "readinessProbe", cpath, PROBE_READINESS, &out->readiness_probe, e);
        r = r ?: parse_probe(c, "startupProbe", cpath, PROBE_STARTUP, &out->startup_probe, e);
        r = r ?: parse_lifecycle(c, cpath, out, e);
        if (r < 0)
                return r;

        /* Regular init containers run to completion one after the other: nothing to probe, no hooks. Sidecars may
         * have all of them (validateInitContainers). */
        if (kind == CONTAINER_KIND_INIT && !pod_container_is_sidecar(out)) {
                static const char *const forbidden[] = {"lifecycle", "livenessProbe", "readinessProbe", "startupProbe"};
                for (size_t i = 0; i < ELEMENTSOF(forbidden); i++)
                        if (is_set(c, forbidden[i]))
                                return error_set(e, -EINVAL,
                                                 "%s.%s: may not be set for init containers without "
                                                 "restartPolicy=Always",
                                                 cpath, forbidden[i]);
        }
        return container_hash(c, out->hash);
}

static int parse_containers(json_t *spec, const char *key, ContainerKind kind, const ParseContext *ctx,
                            PodContainer **ret, size_t *ret_n, ErrorBuf *e) {
        json_t *list = NULL, *item;
        size_t i;
        int r;

        r = jx_get_array(spec, key, "spec", kind == CONTAINER_KIND_APP, &list, e);
        if (r < 0 || !list)
                return r;
        if (kind == CONTAINER_KIND_APP && json_array_size(list) == 0)
                return error_set(e, -EINVAL, "spec.containers: must have at least one container");
        *ret = calloc(json_array_size(list) ?: 1, sizeof(PodContainer));
        RET_NULL_ENOMEM(*ret);
        json_array_foreach (list, i, item) {
                char p[PATH_SIZE];
                (*ret_n)++; /* counted first, so pod_free() cleans up a half-parsed one */
                r = parse_container(item, pathf(p, sizeof p, "spec.%s[%zu]", key, i), kind, i, ctx, *ret + i, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- volumes ---- */

static int parse_mode(const json_t *o, const char *key, const char *path, int32_t *ret, ErrorBuf *e) {
        return get_int32(o, key, path, 0, MODE_MAX, ret, e);
}

static int parse_downward_items(json_t *o, const char *path, DownwardApiItem **ret, size_t *ret_n, ErrorBuf *e) {
        json_t *items = NULL, *item;
        size_t i;
        int r;

        r = jx_get_array(o, "items", path, false, &items, e);
        if (r < 0 || !items)
                return r;
        *ret = calloc(json_array_size(items) ?: 1, sizeof(DownwardApiItem));
        RET_NULL_ENOMEM(*ret);
        json_array_foreach (items, i, item) {
                DownwardApiItem *d = *ret + (*ret_n)++;
                json_t *fr = NULL, *rr = NULL;
                char p[PATH_SIZE], sp[PATH_SIZE];
                d->mode = -1;
                pathf(p, sizeof p, "%s.items[%zu]", path, i);
                r = list_object(item, p, e);
                r = r ?: get_strdup(item, "path", p, true, &d->path, e);
                r = r ?: parse_mode(item, "mode", p, &d->mode, e);
                r = r ?: jx_get_object(item, "fieldRef", p, false, &fr, e);
                r = r ?: jx_get_object(item, "resourceFieldRef", p, false, &rr, e);
                if (r < 0)
                        return r;
                if (isempty(d->path) || !descending_path_valid(d->path) || startswith(d->path, ".."))
                        return error_set(e, -EINVAL, "%s.path: must be a non-empty relative path without '..'", p);
                if (!fr == !rr)
                        return error_set(e, -EINVAL, "%s: must specify exactly one of fieldRef or resourceFieldRef", p);
                if (fr) {
                        pathf(sp, sizeof sp, "%s.fieldRef", p);
                        r = set_default(fr, "apiVersion", json_string("v1"));
                        r = r ?: get_strdup(fr, "fieldPath", sp, true, &d->field_path, e);
                        if (r < 0)
                                return r;
                        if (!pod_field_path_valid(d->field_path, true))
                                return error_set(e, -EINVAL, "%s.fieldPath: unsupported value \"%s\"", sp,
                                                 d->field_path);
                } else {
                        pathf(sp, sizeof sp, "%s.resourceFieldRef", p);
                        r = parse_resource_field_ref(rr, sp, true, &d->resource_container, &d->resource, &d->divisor,
                                                     e);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int parse_key_items(json_t *o, const char *path, KeyToPath **ret, size_t *ret_n, ErrorBuf *e) {
        json_t *items = NULL, *item;
        size_t i;
        int r;

        r = jx_get_array(o, "items", path, false, &items, e);
        if (r < 0 || !items)
                return r;
        *ret = calloc(json_array_size(items) ?: 1, sizeof(KeyToPath));
        RET_NULL_ENOMEM(*ret);
        json_array_foreach (items, i, item) {
                KeyToPath *k = *ret + (*ret_n)++;
                char p[PATH_SIZE];
                k->mode = -1;
                pathf(p, sizeof p, "%s.items[%zu]", path, i);
                r = list_object(item, p, e);
                r = r ?: get_strdup(item, "key", p, true, &k->key, e);
                r = r ?: get_strdup(item, "path", p, true, &k->path, e);
                r = r ?: parse_mode(item, "mode", p, &k->mode, e);
                if (r < 0)
                        return r;
                if (isempty(k->path) || !descending_path_valid(k->path) || startswith(k->path, ".."))
                        return error_set(e, -EINVAL, "%s.path: must be a non-empty relative path without '..'", p);
        }
        return 0;
}

/* configMap (name) and secret (secretName) volumes and projections. */
static int parse_key_source(json_t *o, const char *path, const char *name_key, char **name, KeyToPath **keys,
                            size_t *n_keys, bool *optional, ErrorBuf *e) {
        bool b = false;
        int r = get_strdup(o, name_key, path, false, name, e);
        r = r ?: parse_key_items(o, path, keys, n_keys, e);
        r = r ?: jx_get_bool(o, "optional", path, false, &b, e);
        *optional = b;
        return r;
}

/* serviceAccountToken (SetDefaults_ServiceAccountTokenProjection: expirationSeconds 3600; validation: at least
 * 10 minutes, at most 2^32 seconds, path required and relative). */
static int parse_token_projection(json_t *o, const char *path, ProjectedSource *s, ErrorBuf *e) {
        int64_t exp = 3600;
        int r = set_default(o, "expirationSeconds", json_integer(3600));
        r = r ?: get_strdup(o, "audience", path, false, &s->audience, e);
        r = r ?: get_strdup(o, "path", path, true, &s->token_path, e);
        r = r ?: jx_get_int(o, "expirationSeconds", path, false, INT64_MIN, INT64_MAX, &exp, e);
        if (r < 0)
                return r;
        if (exp < 600)
                return error_set(e, -EINVAL,
                                 "%s.expirationSeconds: Invalid value: %" PRIi64
                                 ": may not specify a duration less than 10 minutes",
                                 path, exp);
        if (exp > INT64_C(1) << 32)
                return error_set(e, -EINVAL,
                                 "%s.expirationSeconds: Invalid value: %" PRIi64
                                 ": may not specify a duration larger than 2^32 seconds",
                                 path, exp);
        if (isempty(s->token_path) || !descending_path_valid(s->token_path) || startswith(s->token_path, ".."))
                return error_set(e, -EINVAL, "%s.path: must be a non-empty relative path without '..'", path);
        s->expiration_seconds = exp;
        return 0;
}

static int parse_projected(json_t *o, const char *path, Volume *v, ErrorBuf *e) {
        static const char *const kinds[] = {"downwardAPI", "configMap", "secret", "serviceAccountToken",
                                            "clusterTrustBundle"};
        json_t *sources = NULL, *item;
        size_t i;
        int r;

        r = jx_get_array(o, "sources", path, false, &sources, e);
        if (r < 0 || !sources)
                return r;
        v->sources = calloc(json_array_size(sources) ?: 1, sizeof(ProjectedSource));
        RET_NULL_ENOMEM(v->sources);
        json_array_foreach (sources, i, item) {
                ProjectedSource *s = v->sources + v->n_sources++;
                const char *which = NULL;
                json_t *src = NULL;
                size_t n = 0;
                char p[PATH_SIZE], sp[PATH_SIZE];
                pathf(p, sizeof p, "%s.sources[%zu]", path, i);
                s->type = _VOLUME_TYPE_INVALID;
                r = list_object(item, p, e);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
                        if (is_set(item, kinds[k])) {
                                which = kinds[k];
                                n++;
                        }
                if (n != 1)
                        return error_set(e, -EINVAL, "%s: must specify exactly one projection source", p);
                r = jx_get_object(item, which, p, true, &src, e);
                if (r < 0)
                        return r;
                pathf(sp, sizeof sp, "%s.%s", p, which);
                if (streq(which, "downwardAPI")) {
                        s->type = VOLUME_DOWNWARD_API;
                        r = parse_downward_items(src, sp, &s->items, &s->n_items, e);
                } else if (streq(which, "configMap")) {
                        s->type = VOLUME_CONFIG_MAP;
                        r = parse_key_source(src, sp, "name", &s->name, &s->keys, &s->n_keys, &s->optional, e);
                } else if (streq(which, "secret")) {
                        s->type = VOLUME_SECRET;
                        r = parse_key_source(src, sp, "name", &s->name, &s->keys, &s->n_keys, &s->optional, e);
                } else if (streq(which, "serviceAccountToken")) {
                        s->type = VOLUME_SERVICE_ACCOUNT_TOKEN;
                        r = parse_token_projection(src, sp, s, e);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Every volume source of v1.VolumeSource, so that "exactly one" counts the ones nodelet does not support too. */
static const char *const volume_source_table[] = {
        "emptyDir",
        "hostPath",
        "downwardAPI",
        "projected",
        "configMap",
        "secret",
        "persistentVolumeClaim",
        "nfs",
        "iscsi",
        "glusterfs",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "fc",
        "azureFile",
        "azureDisk",
        "vsphereVolume",
        "quobyte",
        "photonPersistentDisk",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "image",
};

static int parse_volume(json_t *o, const char *path, Volume *v, ErrorBuf *e) {
        const char *which = NULL;
        json_t *src = NULL;
        size_t n = 0;
        char sp[PATH_SIZE];
        int r;

        v->size_limit = -1;
        v->default_mode = -1;
        r = list_object(o, path, e);
        r = r ?: get_strdup(o, "name", path, true, &v->name, e);
        if (r < 0)
                return r;
        if (!dns_label_valid(v->name))
                return error_set(e, -EINVAL, "%s.name: invalid value \"%s\": must be a DNS label", path, v->name);
        for (size_t i = 0; i < ELEMENTSOF(volume_source_table); i++)
                if (is_set(o, volume_source_table[i])) {
                        which = volume_source_table[i];
                        n++;
                }
        if (n > 1)
                return error_set(e, -EINVAL, "%s: may not specify more than 1 volume type", path);
        if (n == 0) {
                /* SetDefaults_Volume: no source means an emptyDir. */
                r = set_default(o, "emptyDir", json_object());
                if (r < 0)
                        return r;
                which = "emptyDir";
        }
        r = jx_get_object(o, which, path, true, &src, e);
        if (r < 0)
                return r;
        pathf(sp, sizeof sp, "%s.%s", path, which);

        if (streq(which, "emptyDir")) {
                const char *medium = NULL;
                json_t *limit;
                char buf[64];
                v->type = VOLUME_EMPTY_DIR;
                r = jx_get_string(src, "medium", sp, false, &medium, e);
                if (r < 0)
                        return r;
                if (medium && !streq(medium, "") && !streq(medium, "Memory"))
                        return error_set(e, -EOPNOTSUPP,
                                         "%s.medium: unsupported value \"%s\": supported values: \"\", \"Memory\"", sp,
                                         medium);
                v->medium_memory = medium && streq(medium, "Memory");
                limit = json_object_get(src, "sizeLimit");
                if (limit && !json_is_null(limit) &&
                    (quantity_from_json(limit, false, &v->size_limit) < 0 || v->size_limit < 0))
                        return error_set(e, -EINVAL, "%s.sizeLimit: invalid quantity \"%s\"", sp,
                                         quantity_text(limit, buf, sizeof buf));
                return 0;
        }
        if (streq(which, "hostPath")) {
                int t;
                v->type = VOLUME_HOST_PATH;
                r = set_default(src, "type", json_string(""));
                r = r ?: get_strdup(src, "path", sp, true, &v->host_path, e);
                r = r ?: get_enum(src, "type", sp, host_path_type_table, _HOST_PATH_TYPE_MAX, &t, e);
                if (r < 0)
                        return r;
                if (v->host_path[0] != '/')
                        return error_set(e, -EINVAL, "%s.path: must be an absolute path", sp);
                v->host_path_type = (HostPathType) t;
                return 0;
        }
        if (streq(which, "downwardAPI") || streq(which, "projected") || streq(which, "configMap") ||
            streq(which, "secret")) {
                r = set_default(src, "defaultMode", json_integer(DEFAULT_MODE));
                r = r ?: parse_mode(src, "defaultMode", sp, &v->default_mode, e);
                if (r < 0)
                        return r;
        }
        if (streq(which, "downwardAPI")) {
                v->type = VOLUME_DOWNWARD_API;
                return parse_downward_items(src, sp, &v->items, &v->n_items, e);
        }
        if (streq(which, "projected")) {
                v->type = VOLUME_PROJECTED;
                return parse_projected(src, sp, v, e);
        }
        if (streq(which, "configMap")) {
                v->type = VOLUME_CONFIG_MAP;
                return parse_key_source(src, sp, "name", &v->ref_name, &v->keys, &v->n_keys, &v->optional, e);
        }
        if (streq(which, "secret")) {
                v->type = VOLUME_SECRET;
                return parse_key_source(src, sp, "secretName", &v->ref_name, &v->keys, &v->n_keys, &v->optional, e);
        }
        return error_set(e, -EOPNOTSUPP, "%s: volume type %s is not supported", sp, which);
}

static int parse_volumes(json_t *spec, ParseContext *ctx, ErrorBuf *e) {
        Pod *p = ctx->pod;
        json_t *list = NULL, *item;
        size_t i, dup;
        int r;

        r = jx_get_array(spec, "volumes", "spec", false, &list, e);
        if (r < 0 || !list)
                return r;
        p->volumes = calloc(json_array_size(list) ?: 1, sizeof(Volume));
        RET_NULL_ENOMEM(p->volumes);
        json_array_foreach (list, i, item) {
                char vp[PATH_SIZE];
                p->n_volumes++;
                r = parse_volume(item, pathf(vp, sizeof vp, "spec.volumes[%zu]", i), p->volumes + i, e);
                if (r < 0)
                        return r;
        }
        ctx->volume_names = calloc(p->n_volumes ?: 1, sizeof(char *));
        RET_NULL_ENOMEM(ctx->volume_names);
        for (i = 0; i < p->n_volumes; i++)
                ctx->volume_names[i] = p->volumes[i].name;
        r = find_duplicate(ctx->volume_names, p->n_volumes, &dup);
        if (r < 0)
                return r;
        if (dup != SIZE_MAX)
                return error_set(e, -EINVAL, "spec.volumes[%zu].name: duplicate value \"%s\"", dup,
                                 p->volumes[dup].name);
        qsort(ctx->volume_names, p->n_volumes, sizeof(char *), compare_str);
        return 0;
}

/* ---- pod ---- */

static int parse_string_map(json_t *md, const char *key, bool labels, json_t **ret, ErrorBuf *e) {
        json_t *m = NULL, *v;
        const char *k;
        size_t total = 0;
        char path[PATH_SIZE];
        int r;

        /* Absent maps become empty objects, so that Pod.labels/annotations are never NULL. */
        r = set_default(md, key, json_object());
        r = r ?: jx_get_object(md, key, "metadata", true, &m, e);
        if (r < 0)
                return r;
        pathf(path, sizeof path, "metadata.%s", key);
        json_object_foreach (m, k, v) {
                if (!json_is_string(v))
                        return error_set(e, -EINVAL, "%s[%s]: expected a string, got %s", path, k, json_type_name(v));
                total += strlen(k) + json_string_length(v);
        }
        /* ValidateAnnotations: the total size first, before anything looks at a (possibly huge) value. */
        if (!labels && total > ANNOTATIONS_SIZE_MAX)
                return error_set(e, -EINVAL, "%s: too long: must have at most %d bytes", path, ANNOTATIONS_SIZE_MAX);
        json_object_foreach (m, k, v) {
                if (!qualified_name_valid(k))
                        return error_set(e, -EINVAL,
                                         "%s: invalid key \"%s\": must be [prefix/]name, the name at most 63 "
                                         "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
                                         path, k);
                if (labels && !label_value_valid(json_string_value(v)))
                        return error_set(e, -EINVAL,
                                         "%s[%s]: invalid value \"%s\": at most 63 alphanumerics, '-', '_' or '.', "
                                         "starting and ending with an alphanumeric",
                                         path, k, json_string_value(v));
        }
        *ret = m;
        return 0;
}

static int parse_metadata(json_t *o, Pod *p, ErrorBuf *e) {
        json_t *md = NULL;
        int r;

        r = jx_get_object(o, "metadata", "", true, &md, e);
        r = r ?: get_strdup(md, "name", "metadata", true, &p->name, e);
        if (r < 0)
                return r;
        if (!dns_subdomain_valid(p->name))
                return error_set(e, -EINVAL,
                                 "metadata.name: invalid value \"%s\": must be a DNS subdomain (at most 253 "
                                 "lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric)",
                                 p->name);
        r = set_default(md, "namespace", json_string("default"));
        r = r ?: get_strdup(md, "namespace", "metadata", true, &p->namespace_, e);
        if (r < 0)
                return r;
        if (!dns_label_valid(p->namespace_))
                return error_set(e, -EINVAL, "metadata.namespace: invalid value \"%s\": must be a DNS label",
                                 p->namespace_);
        r = get_strdup(md, "uid", "metadata", true, &p->uid, e);
        if (r < 0)
                return r;
        if (isempty(p->uid))
                return error_set(e, -EINVAL, "metadata.uid: must not be empty");
        r = parse_string_map(md, "annotations", false, &p->annotations, e);
        r = r ?: parse_string_map(md, "labels", true, &p->labels, e);
        r = r
                    ?: jx_get_int(md, "deletionGracePeriodSeconds", "metadata", false, 0, INT64_MAX,
                                  &p->deletion_grace_period_seconds, e);
        if (r < 0)
                return r;
        if (is_set(md, "deletionTimestamp")) {
                const char *ts = NULL;
                r = jx_get_string(md, "deletionTimestamp", "metadata", true, &ts, e);
                if (r < 0)
                        return r;
                p->deleting = true;
        }
        return 0;
}

static int parse_dns_config(json_t *spec, Pod *p, ErrorBuf *e) {
        json_t *dc = NULL, *options = NULL, *item;
        const char *path = "spec.dnsConfig";
        size_t i, n = 0, chars = 0;
        int r;

        r = jx_get_object(spec, "dnsConfig", "spec", false, &dc, e);
        if (r < 0)
                return r;
        if (dc) {
                p->has_dns_config = true;
                r = jx_get_strv(dc, "nameservers", path, false, &p->dns_config.nameservers, e);
                r = r ?: jx_get_strv(dc, "searches", path, false, &p->dns_config.searches, e);
                r = r ?: jx_get_array(dc, "options", path, false, &options, e);
                if (r < 0)
                        return r;
                for (char **s = p->dns_config.nameservers; s && *s; s++, n++)
                        if (!ip_valid(*s))
                                return error_set(e, -EINVAL, "%s.nameservers[%zu]: invalid IP address \"%s\"", path, n,
                                                 *s);
                if (n > DNS_NAMESERVERS_MAX)
                        return error_set(e, -EINVAL, "%s.nameservers: must not have more than %d nameservers", path,
                                         DNS_NAMESERVERS_MAX);
                i = 0;
                for (char **s = p->dns_config.searches; s && *s; s++, i++) {
                        char *d = *s;
                        size_t l = strlen(d);
                        /* validateDNSSearches: a trailing dot is allowed, and "." alone. */
                        if (l > 1 && d[l - 1] == '.')
                                l--;
                        if (!(l == 1 && d[0] == '.') && !dns_subdomain_valid_n(d, l))
                                return error_set(e, -EINVAL, "%s.searches[%zu]: invalid search domain \"%s\"", path, i,
                                                 d);
                        chars += strlen(d) + 1;
                }
                if (i > DNS_SEARCHES_MAX)
                        return error_set(e, -EINVAL, "%s.searches: must not have more than %d search paths", path,
                                         DNS_SEARCHES_MAX);
                if (chars > DNS_SEARCH_LIST_CHARS_MAX)
                        return error_set(e, -EINVAL, "%s.searches: must not have more than %d characters", path,
                                         DNS_SEARCH_LIST_CHARS_MAX);
                if (options) {
                        p->dns_config.options = calloc(json_array_size(options) + 1, sizeof(char *));
                        RET_NULL_ENOMEM(p->dns_config.options);
                        json_array_foreach (options, i, item) {
                                const char *name = NULL, *value = NULL;
                                char op[PATH_SIZE];
                                pathf(op, sizeof op, "%s.options[%zu]", path, i);
                                r = list_object(item, op, e);
                                r = r ?: jx_get_string(item, "name", op, true, &name, e);
                                r = r ?: jx_get_string(item, "value", op, false, &value, e);
                                if (r < 0)
                                        return r;
                                if (isempty(name))
                                        return error_set(e, -EINVAL, "%s.name: must not be empty", op);
                                if (asprintf(&p->dns_config.options[i], "%s%s%s", name, value ? ":" : "",
                                             strempty(value)) < 0) {
                                        p->dns_config.options[i] = NULL;
                                        return -ENOMEM;
                                }
                        }
                }
        }
        if (p->dns_policy == DNS_POLICY_NONE && n == 0)
                return error_set(e, -EINVAL,
                                 "spec.dnsConfig: must provide at least one DNS nameserver when dnsPolicy is None");
        return 0;
}

static int parse_host_aliases(json_t *spec, Pod *p, ErrorBuf *e) {
        json_t *list = NULL, *item;
        size_t i;
        int r;

        r = jx_get_array(spec, "hostAliases", "spec", false, &list, e);
        if (r < 0 || !list)
                return r;
        p->host_aliases = calloc(json_array_size(list) ?: 1, sizeof(HostAlias));
        RET_NULL_ENOMEM(p->host_aliases);
        json_array_foreach (list, i, item) {
                HostAlias *a = p->host_aliases + p->n_host_aliases++;
                char hp[PATH_SIZE];
                pathf(hp, sizeof hp, "spec.hostAliases[%zu]", i);
                r = list_object(item, hp, e);
                r = r ?: get_strdup(item, "ip", hp, true, &a->ip, e);
                r = r ?: jx_get_strv(item, "hostnames", hp, false, &a->hostnames, e);
                if (r < 0)
                        return r;
                if (!ip_valid(a->ip))
                        return error_set(e, -EINVAL, "%s.ip: invalid IP address \"%s\"", hp, a->ip);
        }
        return 0;
}

static int parse_spec(json_t *o, ParseContext *ctx, ErrorBuf *e) {
        Pod *p = ctx->pod;
        json_t *spec = NULL;
        const char *sa = NULL;
        int64_t grace;
        bool b = false;
        int x, r;

        r = jx_get_object(o, "spec", "", true, &spec, e);
        if (r < 0)
                return r;

        /* SetDefaults_PodSpec, and the registry's PrepareForCreate for a negative grace period. */
        r = set_default(spec, "restartPolicy", json_string("Always"));
        r = r ?: set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
        r = r ?: set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
        r = r ?: set_default(spec, "schedulerName", json_string("default-scheduler"));
        r = r ?: set_default(spec, "enableServiceLinks", json_true());
        r = r ?: jx_get_string(spec, "serviceAccount", "spec", false, &sa, e);
        r = r ?: set_default(spec, "serviceAccountName", json_string(!isempty(sa) ? sa : "default"));
        if (r < 0)
                return r;

        r = get_enum(spec, "restartPolicy", "spec", restart_policy_table, _RESTART_POLICY_MAX, &x, e);
        if (r < 0)
                return r;
        p->restart_policy = (RestartPolicy) x;
        r = get_enum(spec, "dnsPolicy", "spec", dns_policy_table, _DNS_POLICY_MAX, &x, e);
        if (r < 0)
                return r;
        p->dns_policy = (DnsPolicy) x;
        r = jx_get_int(spec, "terminationGracePeriodSeconds", "spec", true, INT64_MIN, INT64_MAX, &grace, e);
        if (r < 0)
                return r;
        if (grace < 0) {
                grace = 1;
                if (json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(1)) < 0)
                        return -ENOMEM;
        }
        p->termination_grace_period_seconds = grace;
        p->active_deadline_seconds = -1;
        r = jx_get_int(spec, "activeDeadlineSeconds", "spec", false, 1, INT64_MAX, &p->active_deadline_seconds, e);
        r = r ?: get_strdup(spec, "serviceAccountName", "spec", true, &p->service_account_name, e);
        r = r ?: get_strdup(spec, "nodeName", "spec", false, &p->node_name, e);
        r = r ?: get_strdup(spec, "hostname", "spec", false, &p->hostname, e);
        r = r ?: get_strdup(spec, "subdomain", "spec", false, &p->subdomain, e);
        r = r ?: get_strdup(spec, "priorityClassName", "spec", false, &p->priority_class_name, e);
        r = r ?: get_int32(spec, "priority", "spec", INT32_MIN, INT32_MAX, &p->priority, e);
        r = r ?: jx_get_string(spec, "schedulerName", "spec", true, &sa, e);
        r = r ?: jx_get_bool(spec, "enableServiceLinks", "spec", true, &b, e);
        if (r < 0)
                return r;
        if (p->hostname && !dns_label_valid(p->hostname))
                return error_set(e, -EINVAL, "spec.hostname: invalid value \"%s\": must be a DNS label", p->hostname);
        if (p->subdomain && !dns_label_valid(p->subdomain))
                return error_set(e, -EINVAL, "spec.subdomain: invalid value \"%s\": must be a DNS label", p->subdomain);

        static const struct {
                const char *key;
                size_t offset;
        } bools[] = {
                {"hostNetwork", offsetof(Pod, host_network)},
                {"hostPID", offsetof(Pod, host_pid)},
                {"hostIPC", offsetof(Pod, host_ipc)},
                {"shareProcessNamespace", offsetof(Pod, share_process_namespace)},
        };
        for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
                b = false;
                r = jx_get_bool(spec, bools[i].key, "spec", false, &b, e);
                if (r < 0)
                        return r;
                *(bool *) ((uint8_t *) p + bools[i].offset) = b;
        }
        if (p->host_pid && p->share_process_namespace)
                return error_set(e, -EINVAL,
                                 "spec.shareProcessNamespace: ShareProcessNamespace and HostPID cannot both be "
                                 "enabled");
        b = true; /* unset means mount it, like the kubelet */
        r = jx_get_bool(spec, "automountServiceAccountToken", "spec", false, &b, e);
        if (r < 0)
                return r;
        p->automount_service_account_token = b;

        r = parse_dns_config(spec, p, e);
        r = r ?: parse_host_aliases(spec, p, e);
        r = r ?: parse_pod_security(spec, &p->security_context, e);
        r = r ?: parse_volumes(spec, ctx, e);
        r = r
                    ?: parse_containers(spec, "initContainers", CONTAINER_KIND_INIT, ctx, &p->init_containers,
                                        &p->n_init_containers, e);
        r = r ?: parse_containers(spec, "containers", CONTAINER_KIND_APP, ctx, &p->containers, &p->n_containers, e);
        if (r < 0)
                return r;

        /* Container names are unique across init and app containers (they share one namespace in status and
         * logs). */
        size_t n = p->n_init_containers + p->n_containers, dup;
        _cleanup_free_ const char **names = calloc(n ?: 1, sizeof(char *));
        RET_NULL_ENOMEM(names);
        for (size_t i = 0; i < n; i++)
                names[i] = i < p->n_init_containers ? p->init_containers[i].name
                                                    : p->containers[i - p->n_init_containers].name;
        r = find_duplicate(names, n, &dup);
        if (r < 0)
                return r;
        if (dup != SIZE_MAX)
                return error_set(e, -EINVAL, "spec.%s[%zu].name: duplicate value \"%s\"",
                                 dup < p->n_init_containers ? "initContainers" : "containers",
                                 dup < p->n_init_containers ? dup : dup - p->n_init_containers, names[dup]);
        return 0;
}

/* pkg/apis/core/v1/helper/qos GetPodQOS: only cpu and memory count, init containers included; zero is unset. */
static QosClass compute_qos(const Pod *p) {
        int64_t req_cpu = 0, req_mem = 0, lim_cpu = 0, lim_mem = 0;
        bool any_req_cpu = false, any_req_mem = false, any_lim_cpu = false, any_lim_mem = false, guaranteed = true;

        for (size_t i = 0; i < p->n_init_containers + p->n_containers; i++) {
                const PodContainer *c =
                        i < p->n_init_containers ? p->init_containers + i : p->containers + (i - p->n_init_containers);
                const ResourceList *rq = &c->resources.requests, *lm = &c->resources.limits;
                if (rq->cpu_milli > 0) {
                        req_cpu += rq->cpu_milli;
                        any_req_cpu = true;
                }
                if (rq->memory > 0) {
                        req_mem += rq->memory;
                        any_req_mem = true;
                }
                if (lm->cpu_milli > 0) {
                        lim_cpu += lm->cpu_milli;
                        any_lim_cpu = true;
                }
                if (lm->memory > 0) {
                        lim_mem += lm->memory;
                        any_lim_mem = true;
                }
                if (!(lm->cpu_milli > 0 && lm->memory > 0))
                        guaranteed = false;
        }
        if (!any_req_cpu && !any_req_mem && !any_lim_cpu && !any_lim_mem)
                return QOS_BEST_EFFORT;
        if (guaranteed && ((any_req_cpu && (!any_lim_cpu || lim_cpu != req_cpu)) ||
                           (any_req_mem && (!any_lim_mem || lim_mem != req_mem))))
                guaranteed = false;
        if (guaranteed && any_req_cpu + any_req_mem == any_lim_cpu + any_lim_mem)
                return QOS_GUARANTEED;
        return QOS_BURSTABLE;
}

int pod_parse(const json_t *obj, const char *source, Pod **ret, ErrorBuf *e) {
        _cleanup_(pod_freep) Pod *p = NULL;
        _cleanup_free_ const char **volume_names = NULL;
        const char *api_version = NULL, *kind = NULL;
        int r;

        if (!json_is_object(obj))
                return error_set(e, -EINVAL, "expected a Pod object, got %s", obj ? json_type_name(obj) : "nothing");
        r = jx_get_string(obj, "apiVersion", "", true, &api_version, e);
        r = r ?: jx_get_string(obj, "kind", "", true, &kind, e);
        if (r < 0)
                return r;
        if (!streq(api_version, "v1"))
                return error_set(e, -EINVAL, "apiVersion: expected \"v1\", got \"%s\"", api_version);
        if (!streq(kind, "Pod"))
                return error_set(e, -EINVAL, "kind: expected \"Pod\", got \"%s\"", kind);

        p = calloc(1, sizeof(Pod));
        RET_NULL_ENOMEM(p);
        p->deletion_grace_period_seconds = -1;
        p->source = strdup(source ?: "file");
        RET_NULL_ENOMEM(p->source);
        p->object = json_deep_copy(obj);
        RET_NULL_ENOMEM(p->object);

        ParseContext ctx = {.pod = p};
        r = parse_metadata(p->object, p, e);
        r = r ?: parse_spec(p->object, &ctx, e);
        volume_names = ctx.volume_names;
        if (r < 0)
                return r;
        p->qos_class = compute_qos(p);
        *ret = TAKE_PTR(p);
        return 0;
}

const char *pod_full_name(const Pod *p, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", strna(p->namespace_), strna(p->name));
        return buf;
}

const PodContainer *pod_find_container(const Pod *p, const char *name) {
        for (size_t i = 0; i < p->n_containers; i++)
                if (streq(p->containers[i].name, name))
                        return p->containers + i;
        for (size_t i = 0; i < p->n_init_containers; i++)
                if (streq(p->init_containers[i].name, name))
                        return p->init_containers + i;
        return NULL;
}

const Volume *pod_find_volume(const Pod *p, const char *name) {
        for (size_t i = 0; i < p->n_volumes; i++)
                if (streq(p->volumes[i].name, name))
                        return p->volumes + i;
        return NULL;
}
