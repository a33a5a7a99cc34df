/* SPDX-License-Identifier: Apache-2.0 */
/* A container's environment as the kubelet builds it (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables), the
 * downward API values (pkg/fieldpath, pkg/api/v1/resource ExtractContainerResourceValue) and $(VAR) expansion
 * (third_party/forked/golang/expansion). No Service variables; configMap/secret references resolve from
 * PodRuntimeInfo.api_objects (cluster mode) and cannot be resolved without it (static pods, standalone). */

#include <inttypes.h>
#include <stdio.h>

#include "agent/pod.h"

/* The resolved environment may not grow beyond this: execve() refuses much less anyway, and $(VAR) chains can
 * double a value with every entry. */
#define ENV_TOTAL_MAX (4U * 1024U * 1024U)

/* ---- $(VAR) expansion ---- */

typedef const char *(*VarLookup)(const char *name, size_t len, void *userdata);

typedef struct Buffer {
        char *data;
        size_t size, allocated, max;
} Buffer;

static int buffer_append(Buffer *b, const char *s, size_t n) {
        if (n > b->max - b->size)
                return -E2BIG;
        if (b->size + n + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, b->size + n + 1);
                char *d = realloc(b->data, MAX(a, (size_t) 64));
                RET_NULL_ENOMEM(d);
                b->data = d;
                b->allocated = MAX(a, (size_t) 64);
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
        return 0;
}

/* Like expansion.Expand: "$$" is "$", "$(NAME)" is the value when NAME is known and stays as written when not, an
 * unclosed "$(" is kept, and "$" before anything else is kept with that character. (Go re-encodes that character
 * as a rune, mangling a following UTF-8 sequence; we keep the bytes.) The search for ")" remembers its last hit, so
 * many unclosed "$(" stay linear. */
static int expand(const char *s, VarLookup lookup, void *userdata, size_t max, char **ret) {
        Buffer b = {.max = max};
        const char *close = NULL, *i = s;
        bool no_close = false;
        int r = 0;

        while (*i && r >= 0) {
                const char *dollar = strchr(i, '$');
                if (!dollar) {
                        r = buffer_append(&b, i, strlen(i));
                        break;
                }
                r = buffer_append(&b, i, (size_t) (dollar - i));
                if (r < 0)
                        break;
                if (dollar[1] == '$') {
                        r = buffer_append(&b, "$", 1);
                        i = dollar + 2;
                } else if (dollar[1] == '(') {
                        const char *name = dollar + 2;
                        if (!no_close && (!close || close < name)) {
                                close = strchr(name, ')');
                                no_close = !close;
                        }
                        if (no_close) {
                                r = buffer_append(&b, "$(", 2);
                                i = name;
                                continue;
                        }
                        const char *v = lookup(name, (size_t) (close - name), userdata);
                        r = v ? buffer_append(&b, v, strlen(v))
                              : buffer_append(&b, dollar, (size_t) (close + 1 - dollar));
                        i = close + 1;
                } else if (dollar[1]) {
                        r = buffer_append(&b, dollar, 2);
                        i = dollar + 2;
                } else {
                        r = buffer_append(&b, "$", 1);
                        i = dollar + 1;
                }
        }
        if (r >= 0 && !b.data)
                r = buffer_append(&b, "", 0);
        if (r < 0) {
                free(b.data);
                return r;
        }
        *ret = b.data;
        return 0;
}

static const char *strv_lookup(const char *name, size_t len, void *userdata) {
        char *const *env = userdata;
        const char *found = NULL;
        /* The last definition wins, as when the list is turned into a map. */
        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
                        found = *e + len + 1;
        return found;
}

char *pod_expand_vars(const char *s, char *const *env) {
        char *out = NULL;
        if (expand(strempty(s), strv_lookup, (void *) env, SIZE_MAX, &out) < 0)
                return NULL;
        return out;
}

/* ---- field paths ---- */

/* fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['k']" → "metadata.labels" and "k". */
static bool split_subscript(const char *fp, size_t *ret_base, const char **ret_key, size_t *ret_key_len) {
        size_t n = strlen(fp);
        const char *open = strstr(fp, "['");
        if (!endswith(fp, "']") || !open || open == fp || open + 2 > fp + n - 2)
                return false;
        *ret_base = (size_t) (open - fp);
        *ret_key = open + 2;
        *ret_key_len = (size_t) (fp + n - 2 - (open + 2));
        return true;
}

static bool base_is(const char *fp, size_t n, const char *base) {
        return strlen(base) == n && strncmp(fp, base, n) == 0;
}

bool pod_field_path_valid(const char *field_path, bool volume) {
        static const char *const common[] = {"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels",
                                             "metadata.annotations"};
        static const char *const env_only[] = {"spec.nodeName", "spec.serviceAccountName",
                                               "status.hostIP", "status.hostIPs",
                                               "status.podIP",  "status.podIPs"};
        const char *key;
        size_t base, key_len;

        if (!field_path)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(common); i++)
                if (streq(field_path, common[i]))
                        return true;
        for (size_t i = 0; !volume && i < ELEMENTSOF(env_only); i++)
                if (streq(field_path, env_only[i]))
                        return true;
        if (!split_subscript(field_path, &base, &key, &key_len) || key_len == 0)
                return false;
        return base_is(field_path, base, "metadata.labels") || base_is(field_path, base, "metadata.annotations");
}

/* Decodes one UTF-8 sequence like Go's utf8.DecodeRuneInString; -1 for an invalid byte. */
static int32_t utf8_decode(const unsigned char *s, size_t *ret_len) {
        unsigned char c = s[0];
        int32_t r, min;
        size_t n;

        if (c < 0x80) {
                *ret_len = 1;
                return c;
        }
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                r = c & 0x1f;
                min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                r = c & 0x0f;
                min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                r = c & 0x07;
                min = 0x10000;
        } else
                return -1;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -1;
                r = (r << 6) | (s[i] & 0x3f);
        }
        if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
                return -1;
        *ret_len = n;
        return r;
}

/* An approximation of Go's unicode.IsPrint for non-ASCII runes: the C1 controls, non-ASCII spaces, line/paragraph
 * separators, the common format characters and private use are not printable; everything else is. */
static bool rune_printable(int32_t r) {
        static const int32_t ranges[][2] = {
                {0x80, 0xa0},     {0xad, 0xad},        {0x600, 0x605},   {0x61c, 0x61c},   {0x6dd, 0x6dd},
                {0x70f, 0x70f},   {0x1680, 0x1680},    {0x180e, 0x180e}, {0x2000, 0x200f}, {0x2028, 0x202f},
                {0x205f, 0x2064}, {0x2066, 0x206f},    {0x3000, 0x3000}, {0xe000, 0xf8ff}, {0xfeff, 0xfeff},
                {0xfff9, 0xfffb}, {0xf0000, 0x10ffff},
        };
        for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
                if (r >= ranges[i][0] && r <= ranges[i][1])
                        return false;
        return true;
}

/* strconv.Quote. */
static void quote_go(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        fputc('"', f);
        while (*p) {
                size_t n = 1;
                int32_t r = utf8_decode(p, &n);
                const char *esc = NULL;
                switch (r) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\a':
                        esc = "\\a";
                        break;
                case '\b':
                        esc = "\\b";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                case '\v':
                        esc = "\\v";
                        break;
                default:
                        break;
                }
                if (esc)
                        fputs(esc, f);
                else if (r < 0 || r < 0x20 || r == 0x7f)
                        fprintf(f, "\\x%02x", *p); /* controls and bytes that are not UTF-8 */
                else if (r < 0x7f || rune_printable(r))
                        fwrite(p, 1, n, f);
                else if (r < 0x10000)
                        fprintf(f, "\\u%04" PRIx32, (uint32_t) r);
                else
                        fprintf(f, "\\U%08" PRIx32, (uint32_t) r);
                p += n;
        }
        fputc('"', f);
}

static int compare_key(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* fmtutil.FormatMap, what the downward API volume writes for metadata.labels/annotations: sorted key="value" lines
 * (Go %q), no trailing newline. */
static int format_map(const json_t *m, char **ret) {
        _cleanup_free_ const char **keys = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size = 0;
        const char *k;
        json_t *v;

        keys = calloc(json_object_size(m) ?: 1, sizeof(char *));
        RET_NULL_ENOMEM(keys);
        json_object_foreach ((json_t *) m, k, v)
                keys[n++] = k;
        qsort(keys, n, sizeof(char *), compare_key);
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        fputc('\n', f);
                fputs(keys[i], f);
                fputc('=', f);
                quote_go(f, strempty(json_string_value(json_object_get(m, keys[i]))));
        }
        bool failed = ferror(f);
        if (fclose(f) != 0 || failed)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int strdup_to(const char *s, char **ret) {
        char *d = strdup(strempty(s));
        RET_NULL_ENOMEM(d);
        *ret = d;
        return 0;
}

static int join_ips(char *const *ips, char **ret) {
        size_t n = 0;
        for (char *const *i = ips; i && *i; i++)
                n += strlen(*i) + 1;
        char *s = calloc(n + 1, 1);
        RET_NULL_ENOMEM(s);
        for (char *const *i = ips; i && *i; i++) {
                if (i != ips)
                        strcat(s, ",");
                strcat(s, *i);
        }
        *ret = s;
        return 0;
}

int pod_field_ref_value(const Pod *p, const char *field_path, const PodRuntimeInfo *info, char **ret, ErrorBuf *e) {
        static const PodRuntimeInfo none = {};
        const char *key;
        size_t base, key_len;

        info = info ?: &none;
        if (!pod_field_path_valid(field_path, false))
                return error_set(e, -EINVAL, "fieldPath: unsupported value \"%s\"", strna(field_path));
        if (split_subscript(field_path, &base, &key, &key_len)) {
                const json_t *m = base_is(field_path, base, "metadata.labels") ? p->labels : p->annotations;
                _cleanup_free_ char *k = strndup(key, key_len);
                RET_NULL_ENOMEM(k);
                /* A missing key is "", like the kubelet. */
                return strdup_to(json_string_value(json_object_get(m, k)), ret);
        }
        if (streq(field_path, "metadata.name"))
                return strdup_to(p->name, ret);
        if (streq(field_path, "metadata.namespace"))
                return strdup_to(p->namespace_, ret);
        if (streq(field_path, "metadata.uid"))
                return strdup_to(p->uid, ret);
        if (streq(field_path, "metadata.labels"))
                return format_map(p->labels, ret);
        if (streq(field_path, "metadata.annotations"))
                return format_map(p->annotations, ret);
        if (streq(field_path, "spec.nodeName"))
                return strdup_to(p->node_name ?: info->node_name, ret);
        if (streq(field_path, "spec.serviceAccountName"))
                return strdup_to(p->service_account_name, ret);
        if (streq(field_path, "status.hostIP") || streq(field_path, "status.hostIPs"))
                return strdup_to(info->host_ip, ret);
        if (streq(field_path, "status.podIP"))
                return strdup_to(info->pod_ips ? info->pod_ips[0] : NULL, ret);
        return join_ips(info->pod_ips, ret); /* status.podIPs */
}

int pod_resource_field_ref_value(const Pod *p, const PodContainer *c, const char *resource, const char *divisor,
                                 const PodRuntimeInfo *info, char **ret, ErrorBuf *e) {
        static const PodRuntimeInfo none = {};
        const ResourceList *l;
        const char *name;
        int64_t v, allocatable = 0, d;
        bool cpu;

        info = info ?: &none;
        if (!resource)
                return error_set(e, -EINVAL, "resource: required field is missing");
        if ((name = startswith(resource, "limits.")))
                l = &c->resources.limits;
        else if ((name = startswith(resource, "requests.")))
                l = &c->resources.requests;
        else
                return error_set(e, -EINVAL, "resource: unsupported value \"%s\"", resource);
        cpu = streq(name, "cpu");
        if (cpu) {
                v = l->cpu_milli;
                allocatable = info->node_allocatable_cpu_milli;
        } else if (streq(name, "memory")) {
                v = l->memory;
                allocatable = info->node_allocatable_memory;
        } else if (streq(name, "ephemeral-storage")) {
                v = l->ephemeral_storage;
                allocatable = info->node_allocatable_ephemeral_storage;
        } else if (streq(name, "hugepages-2Mi"))
                v = l->hugepages_2mi;
        else if (startswith(name, "hugepages-"))
                v = -1; /* not tracked: as if unset */
        else
                return error_set(e, -EINVAL, "resource: unsupported value \"%s\"", resource);
        /* MergeContainerResourceLimits: an unset limit is the node's allocatable; an unset request is 0. */
        if (v < 0)
                v = l == &c->resources.limits ? MAX(allocatable, (int64_t) 0) : 0;

        int r = cpu ? quantity_parse_milli(divisor ?: "1", &d) : quantity_parse_bytes(divisor ?: "1", &d);
        if (r < 0 || d <= 0)
                return error_set(e, -EINVAL, "divisor: invalid value \"%s\"", strna(divisor));
        /* convertResourceCPUToString / convertResourceMemoryToString: rounded up. */
        if (asprintf(ret, "%" PRId64, v / d + (v % d != 0)) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- the container environment ---- */

/* Name → entry, kept in definition order; a later definition replaces an earlier one in place (the kubelet keeps a
 * map). Open addressing, sized once for the container's env. */
typedef struct EnvMap {
        char **entries; /* "NAME=value", NULL-terminated */
        size_t *name_len;
        size_t n;
        size_t *slots; /* entry index + 1, 0 = free */
        size_t mask;
} EnvMap;

static void env_map_done(EnvMap *m) {
        strv_free(m->entries);
        free(m->name_len);
        free(m->slots);
}

static size_t hash_name(const char *s, size_t n) {
        uint64_t h = UINT64_C(14695981039346656037);
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) s[i];
                h *= UINT64_C(1099511628211);
        }
        return (size_t) h;
}

static size_t *env_map_slot(const EnvMap *m, const char *name, size_t len) {
        for (size_t i = hash_name(name, len) & m->mask;; i = (i + 1) & m->mask) {
                size_t *slot = m->slots + i;
                if (*slot == 0)
                        return slot;
                size_t k = *slot - 1;
                if (m->name_len[k] == len && memcmp(m->entries[k], name, len) == 0)
                        return slot;
        }
}

static const char *env_map_lookup(const char *name, size_t len, void *userdata) {
        const EnvMap *m = userdata;
        size_t *slot = env_map_slot(m, name, len);
        return *slot ? m->entries[*slot - 1] + len + 1 : NULL;
}

/* Takes value. */
static int env_map_set(EnvMap *m, const char *name, char *value) {
        _cleanup_free_ char *v = value;
        size_t len = strlen(name), *slot = env_map_slot(m, name, len);
        char *entry;
        if (asprintf(&entry, "%s=%s", name, v) < 0)
                return -ENOMEM;
        if (*slot) {
                free(m->entries[*slot - 1]);
                m->entries[*slot - 1] = entry;
                return 0;
        }
        m->entries[m->n] = entry;
        m->name_len[m->n] = len;
        *slot = ++m->n;
        return 0;
}

static int env_map_init(EnvMap *m, size_t n) {
        size_t cap = 16;
        while (cap < 2 * n + 2)
                cap *= 2;
        *m = (EnvMap){.mask = cap - 1};
        m->entries = calloc(n + 1, sizeof(char *));
        m->name_len = calloc(n + 1, sizeof(size_t));
        m->slots = calloc(cap, sizeof(size_t));
        if (!m->entries || !m->name_len || !m->slots)
                return -ENOMEM;
        return 0;
}

/* ---- ConfigMap and Secret references (cluster mode: the objects come in info->api_objects) ---- */

static const json_t *api_object(const PodRuntimeInfo *info, bool secret, const char *name) {
        return json_object_get(json_object_get(info->api_objects, secret ? "secrets" : "configMaps"), strempty(name));
}

/* validation.IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]* */
static bool env_var_name_valid(const char *s) {
        if (isempty(s) || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                      *c == '.' || *c == '_'))
                        return false;
        return true;
}

/* A copy of a value that may hold NUL bytes: the environment ends it at the first one, like execve() would. */
static int value_dup(const json_t *v, char **ret) {
        char *d = strndup(json_string_value(v), json_string_length(v));
        RET_NULL_ENOMEM(d);
        *ret = d;
        return 0;
}

/* envFrom, first as in the kubelet: every key of the object's data (prefixed); a missing object is skipped when
 * optional, else the kubelet's `configmap "y" not found`; keys that are no valid variable names are left out (the
 * kubelet reports them in an InvalidEnvironmentVariableNames event). */
static int env_from_apply(const PodContainer *c, const PodRuntimeInfo *info, EnvMap *m, size_t *total, ErrorBuf *e) {
        for (size_t i = 0; i < c->n_env_from; i++) {
                const EnvFromSource *s = &c->env_from[i];
                const json_t *obj = api_object(info, s->secret, s->name);
                const char *k;
                json_t *v;
                if (!obj) {
                        if (s->optional)
                                continue;
                        return error_set(e, -ENOENT, "%s \"%s\" not found", s->secret ? "secret" : "configmap",
                                         strempty(s->name));
                }
                json_object_foreach (json_object_get(obj, "data"), k, v) {
                        _cleanup_free_ char *name = NULL;
                        char *value = NULL;
                        if (asprintf(&name, "%s%s", strempty(s->prefix), k) < 0)
                                return -ENOMEM;
                        if (!env_var_name_valid(name))
                                continue;
                        int r = value_dup(v, &value);
                        if (r < 0)
                                return r;
                        *total += strlen(name) + 1 + strlen(value) + 1;
                        if (*total > ENV_TOTAL_MAX) {
                                free(value);
                                return error_set(e, -E2BIG, "envFrom[%zu]: the environment would exceed %u bytes", i,
                                                 ENV_TOTAL_MAX);
                        }
                        r = env_map_set(m, name, value);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* valueFrom.configMapKeyRef / secretKeyRef. Returns 0 with *ret NULL when the variable is left out (optional). */
static int env_key_ref_value(const Pod *p, const EnvVar *v, const PodRuntimeInfo *info, char **ret, ErrorBuf *e) {
        bool secret = v->source == ENV_SOURCE_SECRET_KEY;
        const json_t *obj = api_object(info, secret, v->ref_name);
        *ret = NULL;
        if (!obj) {
                if (v->optional)
                        return 0;
                return error_set(e, -ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap",
                                 strempty(v->ref_name));
        }
        /* Only data: a ConfigMap's binaryData is not for the environment. */
        const json_t *value = json_object_get(json_object_get(obj, "data"), strempty(v->ref_key));
        if (!value) {
                if (v->optional)
                        return 0;
                return error_set(e, -ENOENT, "couldn't find key %s in %s %s/%s", strempty(v->ref_key),
                                 secret ? "Secret" : "ConfigMap", strempty(p->namespace_), strempty(v->ref_name));
        }
        return value_dup(value, ret);
}

static size_t env_from_count(const PodContainer *c, const PodRuntimeInfo *info) {
        size_t n = 0;
        for (size_t i = 0; info && info->api_objects && i < c->n_env_from; i++)
                n += json_object_size(
                        json_object_get(api_object(info, c->env_from[i].secret, c->env_from[i].name), "data"));
        return n;
}

int pod_container_env(const Pod *p, const PodContainer *c, const PodRuntimeInfo *info, char ***ret, ErrorBuf *e) {
        _cleanup_(env_map_done) EnvMap m = {};
        char cpath[64];
        size_t total = 0;
        bool api = info && info->api_objects;
        int r;

        snprintf(cpath, sizeof cpath, "spec.%s[%zu]", c->kind == CONTAINER_KIND_INIT ? "initContainers" : "containers",
                 c->index);
        /* envFrom comes first in the kubelet; every source of it needs the API server. */
        for (size_t i = 0; !api && i < c->n_env_from; i++)
                if (!c->env_from[i].optional)
                        return error_set(e, -ENOTSUP, "%s.envFrom[%zu].%s: not supported without an API server", cpath,
                                         i, c->env_from[i].secret ? "secretRef" : "configMapRef");
        r = env_map_init(&m, c->n_env + env_from_count(c, info));
        if (r < 0)
                return r;
        if (api) {
                r = env_from_apply(c, info, &m, &total, e);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < c->n_env; i++) {
                const EnvVar *v = c->env + i;
                char *value = NULL;
                switch (v->source) {
                case ENV_SOURCE_VALUE:
                        /* Only literal values are expanded, against what is defined so far (not the valueFrom
                         * results of later entries). */
                        r = expand(strempty(v->value), env_map_lookup, &m, ENV_TOTAL_MAX - total, &value);
                        if (r == -E2BIG)
                                return error_set(e, r, "%s.env[%zu].value: the environment would exceed %u bytes",
                                                 cpath, i, ENV_TOTAL_MAX);
                        break;
                case ENV_SOURCE_FIELD_REF:
                        r = pod_field_ref_value(p, v->field_path, info, &value, e);
                        if (r < 0)
                                return error_prefix(e, r, "%s.env[%zu].valueFrom.fieldRef", cpath, i);
                        break;
                case ENV_SOURCE_RESOURCE_FIELD_REF: {
                        const PodContainer *target =
                                v->resource_container ? pod_find_container(p, v->resource_container) : c;
                        if (!target)
                                return error_set(e, -ENOENT,
                                                 "%s.env[%zu].valueFrom.resourceFieldRef.containerName: container "
                                                 "\"%s\" not found",
                                                 cpath, i, v->resource_container);
                        r = pod_resource_field_ref_value(p, target, v->resource, v->divisor, info, &value, e);
                        if (r < 0)
                                return error_prefix(e, r, "%s.env[%zu].valueFrom.resourceFieldRef", cpath, i);
                        break;
                }
                case ENV_SOURCE_CONFIG_MAP_KEY:
                case ENV_SOURCE_SECRET_KEY:
                        if (api) {
                                r = env_key_ref_value(p, v, info, &value, e);
                                if (r < 0)
                                        return r;
                                if (!value)
                                        continue;
                                break;
                        }
                        /* Optional: as if the object were missing, the kubelet leaves the variable out. */
                        if (v->optional)
                                continue;
                        return error_set(e, -ENOTSUP, "%s.env[%zu].valueFrom.%s: not supported without an API server",
                                         cpath, i,
                                         v->source == ENV_SOURCE_SECRET_KEY ? "secretKeyRef" : "configMapKeyRef");
                default:
                        return error_set(e, -EINVAL, "%s.env[%zu]: unknown source", cpath, i);
                }
                if (r < 0)
                        return r;
                total += strlen(v->name) + 1 + strlen(value) + 1;
                if (total > ENV_TOTAL_MAX) {
                        free(value);
                        return error_set(e, -E2BIG, "%s.env[%zu]: the environment would exceed %u bytes", cpath, i,
                                         ENV_TOTAL_MAX);
                }
                r = env_map_set(&m, v->name, value);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(m.entries);
        return 0;
}
