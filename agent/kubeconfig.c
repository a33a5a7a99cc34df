/* SPDX-License-Identifier: Apache-2.0 */
#include "agent/kubeconfig.h"

#include <ctype.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/yaml.h"

/* A kubeconfig holds credentials: refuse absurd sizes instead of reading them into memory. */
#define KUBECONFIG_MAX_SIZE (16U * 1024U * 1024U)
#define TOKEN_FILE_MAX_SIZE (1024U * 1024U)

typedef struct Parser {
        const char *source; /* for messages */
        const char *dir;    /* base of relative paths */
        const YamlPositions *positions;
        ErrorBuf *error;
} Parser;

/* The line of path, falling back to its closest parent (a missing field has none of its own). */

/* Field paths for messages, truncated when absurdly long (a function, so gcc does not warn about the truncation it
 * cannot rule out). */
static void field_fmt(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void field_fmt(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

static unsigned parser_line(const Parser *p, const char *path) {
        _cleanup_free_ char *s = strdup(path);
        unsigned line = 0;

        while (s && *s) {
                if (yaml_position_lookup(p->positions, s, &line, NULL) >= 0)
                        return line;
                char *cut = strrchr(s, '.'), *bracket = strrchr(s, '[');
                if (bracket && (!cut || bracket > cut))
                        cut = bracket;
                if (!cut)
                        break;
                *cut = 0;
        }
        return 0;
}

/* "file:line: path: msg" (or "file: path: msg" when nothing on the path has a line). */
static int parser_fail(const Parser *p, int r, const char *path, const char *fmt, ...) _printf_(4, 5);
static int parser_fail(const Parser *p, int r, const char *path, const char *fmt, ...) {
        char msg[768];
        va_list ap;
        unsigned line;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        line = parser_line(p, path);
        if (line == 0)
                return error_set(p->error, r, "%s: %s: %s", p->source, path, msg);
        return error_set(p->error, r, "%s:%u: %s: %s", p->source, line, path, msg);
}

/* jx_get_* messages already start with the field's path; this puts file:line in front. */
static int parser_fail_jx(const Parser *p, int r, const char *path, const ErrorBuf *jx) {
        unsigned line = parser_line(p, path);
        if (r == -ENOMEM)
                return r;
        if (line == 0)
                return error_set(p->error, r, "%s: %s", p->source, error_message(jx, r));
        return error_set(p->error, r, "%s:%u: %s", p->source, line, error_message(jx, r));
}

/* "path.key", or "key" at the top level (the spelling of YamlPositions and jx_get_*). */
static const char *field_path(char *buf, size_t size, const char *path, const char *key) {
        (void) snprintf(buf, size, "%s%s%s", strempty(path), isempty(path) ? "" : ".", key);
        return buf;
}

static int get_string(const Parser *p, const json_t *obj, const char *key, const char *path, bool required,
                      const char **ret) {
        ErrorBuf jx = {};
        char field[512];
        int r = jx_get_string(obj, key, path, required, ret, &jx);
        if (r < 0) {
                field_path(field, sizeof field, path, key);
                return parser_fail_jx(p, r, field, &jx);
        }
        return 0;
}

static int get_bool(const Parser *p, const json_t *obj, const char *key, const char *path, bool *ret) {
        ErrorBuf jx = {};
        char field[512];
        int r = jx_get_bool(obj, key, path, false, ret, &jx);
        if (r < 0) {
                field_path(field, sizeof field, path, key);
                return parser_fail_jx(p, r, field, &jx);
        }
        return 0;
}

int kubeconfig_base64_decode(const char *s, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0, len = strlen(s);
        unsigned acc = 0, bits = 0, pad = 0;

        out = malloc(len / 4 * 3 + 4);
        RET_NULL_ENOMEM(out);
        for (const char *c = s; *c; c++) {
                int v;
                if (isspace((unsigned char) *c))
                        continue;
                if (*c == '=') {
                        pad++;
                        continue;
                }
                if (pad > 0) /* data after padding */
                        return -EINVAL;
                if (*c >= 'A' && *c <= 'Z')
                        v = *c - 'A';
                else if (*c >= 'a' && *c <= 'z')
                        v = *c - 'a' + 26;
                else if (*c >= '0' && *c <= '9')
                        v = *c - '0' + 52;
                else if (*c == '+')
                        v = 62;
                else if (*c == '/')
                        v = 63;
                else
                        return -EINVAL;
                acc = (acc << 6) | (unsigned) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (char) ((acc >> bits) & 0xff);
                }
        }
        /* 6 leftover bits can never come from whole bytes; more than two '=' is not base64 either */
        if (bits >= 6 || pad > 2)
                return -EINVAL;
        out[n] = 0;
        *ret = TAKE_PTR(out);
        *ret_size = n;
        return 0;
}

/* An optional file path, made absolute against the kubeconfig's directory. */
static int get_path(const Parser *p, const json_t *obj, const char *key, const char *path, char **ret) {
        const char *v = NULL;
        int r = get_string(p, obj, key, path, false, &v);
        if (r < 0)
                return r;
        if (isempty(v))
                return 0;
        if (v[0] == '/')
                *ret = strdup(v);
        else if (path_join(ret, p->dir, v) < 0)
                return -ENOMEM;
        RET_NULL_ENOMEM(*ret);
        return 0;
}

/* An optional base64 field, decoded. */
static int get_data(const Parser *p, const json_t *obj, const char *key, const char *path, char **ret,
                    size_t *ret_size) {
        const char *v = NULL;
        char field[512];
        int r = get_string(p, obj, key, path, false, &v);
        if (r < 0)
                return r;
        if (isempty(v))
                return 0;
        r = kubeconfig_base64_decode(v, ret, ret_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                field_path(field, sizeof field, path, key);
                return parser_fail(p, -EINVAL, field, "invalid base64");
        }
        return 0;
}

/* Finds {name: <name>, <member>: {...}} in the list under key; ret_path gets "key[i].member". -ENOENT when absent
 * (the caller words the message: it knows who referenced the name). */
static int find_named(const Parser *p, const json_t *root, const char *key, const char *member, const char *name,
                      json_t **ret, char *ret_path, size_t path_size) {
        json_t *list = NULL, *item;
        ErrorBuf jx = {};
        size_t i;
        int r;

        r = jx_get_array(root, key, "", false, &list, &jx);
        if (r < 0)
                return parser_fail_jx(p, r, key, &jx);
        if (!list)
                return -ENOENT;
        json_array_foreach (list, i, item) {
                char path[256];
                const char *n = NULL;
                json_t *m = NULL;

                (void) snprintf(path, sizeof path, "%s[%zu]", key, i);
                if (!json_is_object(item))
                        return parser_fail(p, -EINVAL, path, "expected an object, got %s", json_type_name(item));
                r = get_string(p, item, "name", path, true, &n);
                if (r < 0)
                        return r;
                if (!streq(n, name))
                        continue;
                r = jx_get_object(item, member, path, false, &m, &jx);
                if (r < 0) {
                        char field[300];
                        field_fmt(field, sizeof field, "%s.%s", path, member);
                        return parser_fail_jx(p, r, field, &jx);
                }
                /* `user: {}` and a missing member both mean "nothing set" */
                if (!m)
                        m = json_object();
                else
                        json_incref(m);
                RET_NULL_ENOMEM(m);
                *ret = m;
                (void) snprintf(ret_path, path_size, "%s.%s", path, member);
                return 0;
        }
        return -ENOENT;
}

static int parse_cluster(const Parser *p, Kubeconfig *k, const json_t *c, const char *path) {
        const char *server = NULL, *sni = NULL;
        int r;

        r = get_string(p, c, "server", path, true, &server);
        if (r < 0)
                return r;
        if (!startswith(server, "https://") && !startswith(server, "http://")) {
                char field[300];
                field_fmt(field, sizeof field, "%s.server", path);
                return parser_fail(p, -EINVAL, field, "expected an http:// or https:// URL, got \"%s\"", server);
        }
        k->server = strdup(server);
        RET_NULL_ENOMEM(k->server);
        while (endswith(k->server, "/") && strlen(k->server) > STRLEN("https://"))
                k->server[strlen(k->server) - 1] = 0;

        r = get_data(p, c, "certificate-authority-data", path, &k->ca_data, &k->ca_data_size);
        if (r < 0)
                return r;
        if (!k->ca_data) {
                r = get_path(p, c, "certificate-authority", path, &k->ca_file);
                if (r < 0)
                        return r;
        }
        r = get_bool(p, c, "insecure-skip-tls-verify", path, &k->insecure_skip_tls_verify);
        if (r < 0)
                return r;
        r = get_string(p, c, "tls-server-name", path, false, &sni);
        if (r < 0)
                return r;
        if (!isempty(sni)) {
                k->tls_server_name = strdup(sni);
                RET_NULL_ENOMEM(k->tls_server_name);
        }
        return 0;
}

static int parse_user(const Parser *p, Kubeconfig *k, const json_t *u, const char *path) {
        const char *token = NULL;
        char field[300];
        int r;

        /* Credential plugins run programs; the node agent authenticates with certificates or tokens only. */
        if (json_object_get(u, "exec") && !json_is_null(json_object_get(u, "exec"))) {
                field_fmt(field, sizeof field, "%s.exec", path);
                return parser_fail(p, -EOPNOTSUPP, field, "credential plugins are not supported by nodelet");
        }
        if (json_object_get(u, "auth-provider") && !json_is_null(json_object_get(u, "auth-provider"))) {
                field_fmt(field, sizeof field, "%s.auth-provider", path);
                return parser_fail(p, -EOPNOTSUPP, field, "auth providers are not supported by nodelet");
        }

        r = get_data(p, u, "client-certificate-data", path, &k->client_cert_data, &k->client_cert_data_size);
        if (r < 0)
                return r;
        if (!k->client_cert_data) {
                r = get_path(p, u, "client-certificate", path, &k->client_cert_file);
                if (r < 0)
                        return r;
        }
        r = get_data(p, u, "client-key-data", path, &k->client_key_data, &k->client_key_data_size);
        if (r < 0)
                return r;
        if (!k->client_key_data) {
                r = get_path(p, u, "client-key", path, &k->client_key_file);
                if (r < 0)
                        return r;
        }
        /* A certificate without its key (or the reverse) cannot authenticate: say so now, not at the handshake. */
        if (!!(k->client_cert_data || k->client_cert_file) != !!(k->client_key_data || k->client_key_file)) {
                bool has_cert = k->client_cert_data || k->client_cert_file;
                field_fmt(field, sizeof field, "%s.%s", path, has_cert ? "client-key" : "client-certificate");
                return parser_fail(p, -EINVAL, field, "required field is missing (%s is set)",
                                   has_cert ? "client-certificate" : "client-key");
        }

        r = get_string(p, u, "token", path, false, &token);
        if (r < 0)
                return r;
        if (!isempty(token)) {
                k->token = strdup(token);
                RET_NULL_ENOMEM(k->token);
        }
        return get_path(p, u, "tokenFile", path, &k->token_file);
}

int kubeconfig_parse(const char *text, size_t size, const char *path, const char *context, Kubeconfig **ret,
                     ErrorBuf *e) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        _cleanup_(yaml_positions_freep) YamlPositions *positions = NULL;
        _cleanup_json_ json_t *root = NULL, *ctx = NULL, *cluster = NULL, *user = NULL;
        _cleanup_free_ char *copy = NULL;
        const char *current = NULL, *cluster_name = NULL, *user_name = NULL, *ns = NULL;
        char ctx_path[300], cluster_path[300], user_path[300];
        Parser p = {.source = isempty(path) ? "kubeconfig" : path, .error = e};
        int r;

        k = calloc(1, sizeof *k);
        RET_NULL_ENOMEM(k);
        k->path = strdup(strempty(path));
        RET_NULL_ENOMEM(k->path);
        copy = strdup(strempty(path));
        RET_NULL_ENOMEM(copy);
        p.dir = strchr(copy, '/') ? dirname(copy) : ".";

        r = yaml_parse_with_positions(text, size, p.source, &root, &positions, e);
        if (r < 0)
                return r;
        p.positions = positions;
        if (!json_is_object(root))
                return error_set(e, -EINVAL, "%s: expected a kubeconfig (a mapping), got %s", p.source,
                                 json_type_name(root));

        if (isempty(context)) {
                r = get_string(&p, root, "current-context", "", false, &current);
                if (r < 0)
                        return r;
                if (isempty(current))
                        return error_set(e, -EINVAL, "%s: current-context: required field is missing", p.source);
                context = current;
        }
        r = find_named(&p, root, "contexts", "context", context, &ctx, ctx_path, sizeof ctx_path);
        if (r == -ENOENT) {
                if (current)
                        return parser_fail(&p, -EINVAL, "current-context", "context \"%s\" is not defined in contexts",
                                           context);
                return error_set(e, -EINVAL, "%s: context \"%s\" is not defined in contexts", p.source, context);
        }
        if (r < 0)
                return r;
        r = get_string(&p, ctx, "cluster", ctx_path, true, &cluster_name);
        if (r < 0)
                return r;
        r = get_string(&p, ctx, "user", ctx_path, false, &user_name);
        if (r < 0)
                return r;
        r = get_string(&p, ctx, "namespace", ctx_path, false, &ns);
        if (r < 0)
                return r;

        r = find_named(&p, root, "clusters", "cluster", cluster_name, &cluster, cluster_path, sizeof cluster_path);
        if (r == -ENOENT) {
                char field[320];
                field_fmt(field, sizeof field, "%s.cluster", ctx_path);
                return parser_fail(&p, -EINVAL, field, "cluster \"%s\" is not defined in clusters", cluster_name);
        }
        if (r < 0)
                return r;
        r = parse_cluster(&p, k, cluster, cluster_path);
        if (r < 0)
                return r;

        if (!isempty(user_name)) {
                r = find_named(&p, root, "users", "user", user_name, &user, user_path, sizeof user_path);
                if (r == -ENOENT) {
                        char field[320];
                        field_fmt(field, sizeof field, "%s.user", ctx_path);
                        return parser_fail(&p, -EINVAL, field, "user \"%s\" is not defined in users", user_name);
                }
                if (r < 0)
                        return r;
                r = parse_user(&p, k, user, user_path);
                if (r < 0)
                        return r;
        }

        k->context = strdup(context);
        k->cluster = strdup(cluster_name);
        k->user = strdup(strempty(user_name));
        k->namespace_ = strdup(strempty(ns));
        if (!k->context || !k->cluster || !k->user || !k->namespace_)
                return -ENOMEM;
        *ret = TAKE_PTR(k);
        return 0;
}

int kubeconfig_load(const char *path, const char *context, Kubeconfig **ret, ErrorBuf *e) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r;

        r = read_full_file(path, KUBECONFIG_MAX_SIZE, &text, &size);
        if (r < 0)
                return error_set(e, r, "%s: cannot read the kubeconfig: %s", path, strerror(-r));
        return kubeconfig_parse(text, size, path, context, ret, e);
}

Kubeconfig *kubeconfig_free(Kubeconfig *k) {
        if (!k)
                return NULL;
        free(k->path);
        free(k->context);
        free(k->cluster);
        free(k->user);
        free(k->namespace_);
        free(k->server);
        free(k->ca_file);
        free(k->ca_data);
        free(k->tls_server_name);
        free(k->client_cert_file);
        free(k->client_key_file);
        free(k->client_cert_data);
        free(k->client_key_data);
        free(k->token);
        free(k->token_file);
        free(k->file_token);
        free(k);
        return NULL;
}

int kubeconfig_token(Kubeconfig *k, const char **ret, ErrorBuf *e) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t size = 0;
        int64_t mtime;
        char *b, *end;
        int r;

        if (!k->token_file) {
                *ret = k->token;
                return 0;
        }
        /* Open first, then fstat the open file: the identity checked is that of the content read. */
        fd = open(k->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        mtime = (int64_t) st.st_mtim.tv_sec * (int64_t) NSEC_PER_SEC + st.st_mtim.tv_nsec;
        if (k->file_token && st.st_dev == k->token_dev && st.st_ino == k->token_ino && st.st_size == k->token_size &&
            mtime == k->token_mtime_nsec) {
                *ret = k->file_token;
                return 0;
        }
        r = read_full_fd(fd, TOKEN_FILE_MAX_SIZE, &data, &size);
        if (r < 0)
                goto fail;
        /* client-go trims surrounding whitespace (a trailing newline from `echo` is common) */
        for (b = data; isspace((unsigned char) *b); b++)
                ;
        for (end = b + strlen(b); end > b && isspace((unsigned char) end[-1]); end--)
                ;
        *end = 0;
        if (*b == 0) {
                r = -ENODATA;
                goto fail;
        }
        free(k->file_token);
        k->file_token = strdup(b);
        RET_NULL_ENOMEM(k->file_token);
        k->token_dev = st.st_dev;
        k->token_ino = st.st_ino;
        k->token_size = st.st_size;
        k->token_mtime_nsec = mtime;
        *ret = k->file_token;
        return 0;

fail:
        if (k->file_token) {
                *ret = k->file_token;
                return 0;
        }
        if (r == -ENODATA)
                return error_set(e, -EINVAL, "%s: tokenFile %s is empty", k->path, k->token_file);
        return error_set(e, r, "%s: cannot read tokenFile %s: %s", k->path, k->token_file, strerror(-r));
}

static int base64_encode(const char *data, char **ret) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(data), o = 0;
        const unsigned char *s = (const unsigned char *) data;
        char *out = malloc((n + 2) / 3 * 4 + 1);

        RET_NULL_ENOMEM(out);
        for (size_t i = 0; i < n; i += 3) {
                unsigned v =
                        (unsigned) s[i] << 16 | (i + 1 < n ? (unsigned) s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
                out[o++] = alphabet[(v >> 18) & 63];
                out[o++] = alphabet[(v >> 12) & 63];
                out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
        }
        out[o] = 0;
        *ret = out;
        return 0;
}

/* A YAML scalar for any string: JSON's double-quoted form is also YAML's. */
static char *quote(const char *s) {
        _cleanup_json_ json_t *j = json_string(s);
        return j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
}

int kubeconfig_write(const char *path, const char *server, const char *ca_data, const char *cert_path,
                     const char *key_path) {
        _cleanup_free_ char *qserver = NULL, *qcert = NULL, *qkey = NULL, *ca64 = NULL, *text = NULL;
        int r, n;

        if (isempty(path) || isempty(server) || isempty(cert_path) || isempty(key_path))
                return -EINVAL;
        qserver = quote(server);
        qcert = quote(cert_path);
        qkey = quote(key_path);
        if (!qserver || !qcert || !qkey)
                return -ENOMEM;
        if (ca_data) {
                r = base64_encode(ca_data, &ca64);
                if (r < 0)
                        return r;
        }
        n = asprintf(&text,
                     "apiVersion: v1\n"
                     "kind: Config\n"
                     "clusters:\n"
                     "- name: default-cluster\n"
                     "  cluster:\n"
                     "%s%s%s"
                     "    server: %s\n"
                     "users:\n"
                     "- name: default-auth\n"
                     "  user:\n"
                     "    client-certificate: %s\n"
                     "    client-key: %s\n"
                     "contexts:\n"
                     "- name: default-context\n"
                     "  context:\n"
                     "    cluster: default-cluster\n"
                     "    user: default-auth\n"
                     "    namespace: default\n"
                     "current-context: default-context\n",
                     ca64 ? "    certificate-authority-data: " : "", strempty(ca64), ca64 ? "\n" : "", qserver, qcert,
                     qkey);
        if (n < 0)
                return -ENOMEM;
        return write_file_atomic(path, text, (size_t) n, 0600, true);
}
