/* SPDX-License-Identifier: Apache-2.0 */
/* Per-registry hosts: containerd's hosts directory (<dir>/<host[:port]>/hosts.toml, else <dir>/_default/hosts.toml),
 * the format operators already write for containerd (docs/hosts.md in containerd). Debian 12 has no C TOML library
 * (only C++ and Rust ones), so this is a reader for the subset those files use: comments, [tables] and dotted keys
 * with bare or quoted parts, basic and literal one-line strings, booleans, and arrays (over several lines) of them.
 * Anything else (multi-line strings, inline tables, arrays of tables) is refused with the file and line. */

#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "runtime/registry.h"

/* Bigger than any hosts.toml written by hand; it is read whole. */
#define HOSTS_TOML_MAX (64U * 1024)

typedef struct Toml {
        const char *p, *end;
        unsigned line;
        const char *path;
        ErrorBuf *e;
} Toml;

typedef enum TomlType {
        TOML_STRING,
        TOML_BOOL,
        TOML_ARRAY, /* of strings; other elements are kept as NULL-free gaps: only strings are collected */
        TOML_OTHER, /* numbers, dates: accepted and ignored */
} TomlType;

typedef struct TomlValue {
        TomlType type;
        char *s;
        bool b;
        char **strv; /* TOML_ARRAY */
        size_t n;
        bool all_strings;
} TomlValue;

static void toml_value_done(TomlValue *v) {
        free(v->s);
        strv_free(v->strv);
        *v = (TomlValue){};
}

static int toml_error(Toml *t, const char *what) {
        return error_set(t->e, -EINVAL, "%s:%u: %s", t->path, t->line, what);
}

static bool toml_eof(Toml *t) {
        return t->p >= t->end;
}

static void toml_skip_space(Toml *t) {
        while (!toml_eof(t) && (*t->p == ' ' || *t->p == '\t'))
                t->p++;
}

static void toml_skip_comment(Toml *t) {
        if (!toml_eof(t) && *t->p == '#')
                while (!toml_eof(t) && *t->p != '\n')
                        t->p++;
}

/* Spaces, comments and newlines: between statements and inside arrays. */
static void toml_skip_blank(Toml *t) {
        for (;;) {
                toml_skip_space(t);
                toml_skip_comment(t);
                if (toml_eof(t))
                        return;
                if (*t->p == '\r' && t->p + 1 < t->end && t->p[1] == '\n')
                        t->p++;
                if (*t->p != '\n')
                        return;
                t->p++;
                t->line++;
        }
}

static int toml_end_of_line(Toml *t) {
        toml_skip_space(t);
        toml_skip_comment(t);
        if (!toml_eof(t) && *t->p == '\r')
                t->p++;
        if (toml_eof(t))
                return 0;
        if (*t->p != '\n')
                return toml_error(t, "expected the end of the line");
        return 0;
}

static int toml_string(Toml *t, char **ret) {
        char quote = *t->p++;
        size_t cap = 64, n = 0;
        _cleanup_free_ char *s = malloc(cap);
        RET_NULL_ENOMEM(s);
        if (t->end - t->p >= 2 && t->p[0] == quote && t->p[1] == quote)
                return toml_error(t, "multi-line strings are not supported");
        for (;;) {
                if (toml_eof(t) || *t->p == '\n')
                        return toml_error(t, "unterminated string");
                char c = *t->p++;
                if (c == quote)
                        break;
                if (c == '\\' && quote == '"') {
                        if (toml_eof(t))
                                return toml_error(t, "unterminated string");
                        char x = *t->p++;
                        static const char from[] = "\"\\btnfr", to[] = "\"\\\b\t\n\f\r";
                        const char *k = strchr(from, x);
                        if (!k || !x)
                                return toml_error(t, "unsupported escape sequence in a string");
                        c = to[k - from];
                }
                if (n + 2 > cap) {
                        char *b = realloc(s, cap *= 2);
                        RET_NULL_ENOMEM(b);
                        s = b;
                }
                s[n++] = c;
        }
        s[n] = 0;
        if (strlen(s) != n)
                return toml_error(t, "NUL in a string");
        *ret = TAKE_PTR(s);
        return 0;
}

static bool toml_bare_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int toml_key_part(Toml *t, char **ret) {
        if (toml_eof(t))
                return toml_error(t, "expected a key");
        if (*t->p == '"' || *t->p == '\'')
                return toml_string(t, ret);
        const char *start = t->p;
        while (!toml_eof(t) && toml_bare_char(*t->p))
                t->p++;
        if (t->p == start)
                return toml_error(t, "expected a key");
        *ret = strndup(start, (size_t) (t->p - start));
        RET_NULL_ENOMEM(*ret);
        return 0;
}

/* a.b."c.d" → {"a", "b", "c.d"} */
static int toml_key(Toml *t, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **parts = NULL;
        size_t n = 0;
        for (;;) {
                char *part = NULL;
                toml_skip_space(t);
                int r = toml_key_part(t, &part);
                if (r < 0)
                        return r;
                char **l = realloc(parts, (n + 2) * sizeof(char *));
                if (!l) {
                        free(part);
                        return -ENOMEM;
                }
                parts = l;
                parts[n++] = part;
                parts[n] = NULL;
                toml_skip_space(t);
                if (toml_eof(t) || *t->p != '.')
                        break;
                t->p++;
        }
        *ret = TAKE_PTR(parts);
        *ret_n = n;
        return 0;
}

static int toml_value(Toml *t, TomlValue *v, unsigned depth) {
        *v = (TomlValue){};
        if (toml_eof(t))
                return toml_error(t, "expected a value");
        char c = *t->p;
        if (c == '"' || c == '\'') {
                v->type = TOML_STRING;
                return toml_string(t, &v->s);
        }
        if (c == '{')
                return toml_error(t, "inline tables are not supported");
        if (c == '[') {
                if (depth > 8)
                        return toml_error(t, "arrays nested too deeply");
                t->p++;
                v->type = TOML_ARRAY;
                v->all_strings = true;
                v->strv = calloc(1, sizeof(char *));
                RET_NULL_ENOMEM(v->strv);
                for (;;) {
                        toml_skip_blank(t);
                        if (toml_eof(t))
                                return toml_error(t, "unterminated array");
                        if (*t->p == ']') {
                                t->p++;
                                return 0;
                        }
                        _cleanup_(toml_value_done) TomlValue el = {};
                        int r = toml_value(t, &el, depth + 1);
                        if (r < 0)
                                return r;
                        if (el.type == TOML_STRING) {
                                char **l = realloc(v->strv, (v->n + 2) * sizeof(char *));
                                RET_NULL_ENOMEM(l);
                                v->strv = l;
                                v->strv[v->n++] = TAKE_PTR(el.s);
                                v->strv[v->n] = NULL;
                        } else
                                v->all_strings = false;
                        toml_skip_blank(t);
                        if (!toml_eof(t) && *t->p == ',')
                                t->p++;
                        else if (toml_eof(t) || *t->p != ']')
                                return toml_error(t, "expected ',' or ']' in an array");
                }
        }
        const char *start = t->p;
        while (!toml_eof(t) && (toml_bare_char(*t->p) || *t->p == '+' || *t->p == '.' || *t->p == ':'))
                t->p++;
        size_t n = (size_t) (t->p - start);
        if (n == 4 && memcmp(start, "true", 4) == 0)
                *v = (TomlValue){.type = TOML_BOOL, .b = true};
        else if (n == 5 && memcmp(start, "false", 5) == 0)
                *v = (TomlValue){.type = TOML_BOOL, .b = false};
        else if (n > 0 && ((*start >= '0' && *start <= '9') || *start == '+' || *start == '-'))
                v->type = TOML_OTHER;
        else
                return toml_error(t, "expected a value (a string, true, false, a number or an array)");
        return 0;
}

/* ---- hosts ---- */

static void registry_host_done(RegistryHost *h) {
        free(h->url);
        free(h->api);
        free(h->host);
        free(h->ca_file);
        *h = (RegistryHost){};
}

void registry_hosts_done(RegistryHosts *h) {
        for (size_t i = 0; h && i < h->n; i++)
                registry_host_done(&h->hosts[i]);
        if (h) {
                free(h->hosts);
                free(h->source);
                *h = (RegistryHosts){};
        }
}

/* "https://mirror:5000/some/path/" → url "https://mirror:5000/some/path", host "mirror:5000". A bare host means
 * https, like containerd. */
static int host_set_url(RegistryHost *h, const char *value, const char *what, ErrorBuf *e) {
        const char *rest = startswith(value, "https://");
        bool plain = false;
        if (!rest && (rest = startswith(value, "http://")))
                plain = true;
        if (!rest) {
                if (strstr(value, "://"))
                        return error_set(e, -EINVAL, "%s: '%s': only http:// and https:// are supported", what, value);
                rest = value;
        }
        size_t hl = strcspn(rest, "/?#");
        if (hl == 0 || strchr(rest, '?') || strchr(rest, '#') || strpbrk(rest, " \t\"\\"))
                return error_set(e, -EINVAL, "%s: '%s' is not a registry URL", what, value);
        _cleanup_free_ char *host = strndup(rest, hl), *path = strdup(rest + hl), *url = NULL;
        if (!host || !path)
                return -ENOMEM;
        size_t pl = strlen(path);
        while (pl > 0 && path[pl - 1] == '/')
                path[--pl] = 0;
        if (asprintf(&url, "%s://%s%s", plain ? "http" : "https", host, path) < 0)
                return -ENOMEM;
        free(h->url);
        free(h->host);
        h->url = TAKE_PTR(url);
        h->host = TAKE_PTR(host);
        h->plain_http = plain;
        return 0;
}

typedef struct HostsParse {
        RegistryHosts *out;
        RegistryHost upstream;
        bool upstream_override_path;
        bool *override_path; /* per entry of out->hosts */
        char *dir;           /* relative ca paths are relative to the file's directory */
} HostsParse;

static int host_apply(HostsParse *hp, Toml *t, RegistryHost *h, bool *override_path, const char *key, TomlValue *v) {
        if (streq(key, "capabilities")) {
                if (v->type != TOML_ARRAY || !v->all_strings)
                        return toml_error(t, "capabilities: expected an array of strings");
                h->pull = h->resolve = false;
                for (size_t i = 0; i < v->n; i++)
                        if (streq(v->strv[i], "pull"))
                                h->pull = true;
                        else if (streq(v->strv[i], "resolve"))
                                h->resolve = true;
                        else if (!streq(v->strv[i], "push"))
                                return toml_error(t, "capabilities: expected \"pull\", \"resolve\" or \"push\"");
                return 0;
        }
        if (streq(key, "skip_verify") || streq(key, "override_path")) {
                if (v->type != TOML_BOOL)
                        return toml_error(t, streq(key, "skip_verify") ? "skip_verify: expected true or false"
                                                                       : "override_path: expected true or false");
                if (streq(key, "skip_verify"))
                        h->skip_verify = v->b;
                else
                        *override_path = v->b;
                return 0;
        }
        if (streq(key, "ca")) {
                const char *ca = v->type == TOML_STRING                                 ? v->s
                                 : v->type == TOML_ARRAY && v->all_strings && v->n == 1 ? v->strv[0]
                                                                                        : NULL;
                if (!ca || isempty(ca))
                        return toml_error(t, "ca: expected a file name (one CA bundle per host)");
                free(h->ca_file);
                h->ca_file = NULL;
                if (ca[0] == '/')
                        h->ca_file = strdup(ca);
                else if (path_join(&h->ca_file, hp->dir, ca) < 0)
                        h->ca_file = NULL;
                RET_NULL_ENOMEM(h->ca_file);
                return 0;
        }
        /* client (TLS client certificates), header, dial_timeout...: not supported; ignored like unknown keys. */
        return 0;
}

static int hosts_find_or_add(HostsParse *hp, Toml *t, const char *url, size_t *ret) {
        RegistryHosts *o = hp->out;
        RegistryHost nh = {.pull = true, .resolve = true};
        int r = host_set_url(&nh, url, "host", t->e);
        if (r < 0) {
                registry_host_done(&nh);
                return error_prefix(t->e, r, "%s:%u", t->path, t->line);
        }
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->hosts[i].url, nh.url)) {
                        registry_host_done(&nh);
                        *ret = i;
                        return 0;
                }
        RegistryHost *l = realloc(o->hosts, (o->n + 2) * sizeof(RegistryHost));
        bool *op = l ? realloc(hp->override_path, (o->n + 2) * sizeof(bool)) : NULL;
        if (l)
                o->hosts = l;
        if (op)
                hp->override_path = op;
        if (!l || !op) {
                registry_host_done(&nh);
                return -ENOMEM;
        }
        o->hosts[o->n] = nh;
        hp->override_path[o->n] = false;
        *ret = o->n++;
        return 0;
}

/* key (relative to table) = v */
static int hosts_set(HostsParse *hp, Toml *t, char **table, size_t n_table, char **key, size_t n_key, TomlValue *v) {
        /* The full key path: table parts, then key parts. */
        const char *path[8];
        size_t n = 0;
        for (size_t i = 0; i < n_table && n < ELEMENTSOF(path); i++)
                path[n++] = table[i];
        for (size_t i = 0; i < n_key && n < ELEMENTSOF(path); i++)
                path[n++] = key[i];
        if (n_table + n_key > ELEMENTSOF(path))
                return 0; /* deeper than anything we read */
        if (n == 1) {
                if (streq(path[0], "server")) {
                        if (v->type != TOML_STRING)
                                return toml_error(t, "server: expected a string");
                        int r = host_set_url(&hp->upstream, v->s, "server", t->e);
                        return r < 0 ? error_prefix(t->e, r, "%s:%u", t->path, t->line) : 0;
                }
                return host_apply(hp, t, &hp->upstream, &hp->upstream_override_path, path[0], v);
        }
        if (n == 3 && streq(path[0], "host")) {
                size_t i;
                int r = hosts_find_or_add(hp, t, path[1], &i);
                if (r < 0)
                        return r;
                return host_apply(hp, t, &hp->out->hosts[i], &hp->override_path[i], path[2], v);
        }
        return 0; /* [host."…".header] and the like */
}

static int host_finish(RegistryHost *h, bool override_path) {
        if (override_path)
                h->api = strdup(h->url);
        else if (asprintf(&h->api, "%s/v2", h->url) < 0)
                h->api = NULL;
        RET_NULL_ENOMEM(h->api);
        return 0;
}

static void hosts_parse_done(HostsParse *hp) {
        registry_host_done(&hp->upstream);
        free(hp->override_path);
        free(hp->dir);
}

static int hosts_parse_statements(HostsParse *hp, Toml *t) {
        _cleanup_strv_free_ char **table = NULL;
        size_t n_table = 0;
        int r;
        for (;;) {
                toml_skip_blank(t);
                if (toml_eof(t))
                        return 0;
                if (*t->p == '[') {
                        t->p++;
                        if (!toml_eof(t) && *t->p == '[')
                                return toml_error(t, "arrays of tables are not supported");
                        strv_free(table);
                        table = NULL;
                        r = toml_key(t, &table, &n_table);
                        if (r < 0)
                                return r;
                        if (toml_eof(t) || *t->p != ']')
                                return toml_error(t, "expected ']' after a table name");
                        t->p++;
                        if (n_table == 2 && streq(table[0], "host")) {
                                size_t i;
                                r = hosts_find_or_add(hp, t, table[1], &i);
                                if (r < 0)
                                        return r;
                        }
                } else {
                        _cleanup_strv_free_ char **key = NULL;
                        _cleanup_(toml_value_done) TomlValue v = {};
                        size_t n_key;
                        r = toml_key(t, &key, &n_key);
                        if (r < 0)
                                return r;
                        if (toml_eof(t) || *t->p != '=')
                                return toml_error(t, "expected '=' after a key");
                        t->p++;
                        toml_skip_space(t);
                        r = toml_value(t, &v, 0);
                        if (r < 0)
                                return r;
                        r = hosts_set(hp, t, table, n_table, key, n_key, &v);
                        if (r < 0)
                                return r;
                }
                r = toml_end_of_line(t);
                if (r < 0)
                        return r;
        }
}

int registry_hosts_parse(const char *text, size_t size, const char *path, const char *default_server,
                         RegistryHosts *ret, ErrorBuf *e) {
        _cleanup_(registry_hosts_done) RegistryHosts out = {};
        _cleanup_(hosts_parse_done)
                HostsParse hp = {.out = &out, .upstream = {.pull = true, .resolve = true, .upstream = true}};
        Toml t = {.p = text, .end = text + size, .line = 1, .path = path, .e = e};
        int r;

        const char *slash = strrchr(path, '/');
        hp.dir = slash ? strndup(path, (size_t) (slash - path)) : strdup(".");
        if (!hp.dir)
                return -ENOMEM;
        if (memchr(text, 0, size))
                return error_set(e, -EINVAL, "%s: not a text file", path);
        r = hosts_parse_statements(&hp, &t);
        if (r < 0)
                return r;
        /* The upstream last, always: `server`, else the registry itself over HTTPS (containerd's default). */
        if (!hp.upstream.url) {
                _cleanup_free_ char *u = NULL;
                if (asprintf(&u, "https://%s", default_server) < 0)
                        return -ENOMEM;
                r = host_set_url(&hp.upstream, u, "server", e);
                if (r < 0)
                        return r;
        }
        RegistryHost *l = realloc(out.hosts, (out.n + 1) * sizeof(RegistryHost));
        if (l)
                out.hosts = l;
        bool *op = l ? realloc(hp.override_path, (out.n + 1) * sizeof(bool)) : NULL;
        if (op)
                hp.override_path = op;
        if (!l || !op)
                return -ENOMEM;
        hp.upstream.pull = hp.upstream.resolve = true; /* the registry itself serves everything */
        out.hosts[out.n] = hp.upstream;
        hp.override_path[out.n] = hp.upstream_override_path;
        hp.upstream = (RegistryHost){};
        out.n++;
        for (size_t i = 0; i < out.n; i++) {
                r = host_finish(&out.hosts[i], hp.override_path[i]);
                if (r < 0)
                        return r;
        }
        *ret = out;
        out = (RegistryHosts){};
        return 0;
}

int registry_hosts_load(const char *dir, const char *registry, const char *default_server, RegistryHosts *ret,
                        ErrorBuf *e) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        int r = -ENOENT;
        if (!isempty(dir))
                /* Like containerd: the registry's own directory, else _default. */
                for (size_t i = 0; i < 2 && r == -ENOENT; i++) {
                        _cleanup_free_ char *path = NULL;
                        if (asprintf(&path, "%s/%s/hosts.toml", dir, i == 0 ? registry : "_default") < 0)
                                return -ENOMEM;
                        r = read_regular_file(path, HOSTS_TOML_MAX, &text, &size);
                        if (r == -ENOENT || r == -ENOTDIR)
                                r = -ENOENT;
                        else if (r < 0)
                                return error_set(e, r, "%s: %s", path, strerror(-r));
                        else {
                                r = registry_hosts_parse(text, size, path, default_server, ret, e);
                                if (r < 0)
                                        return r;
                                ret->source = TAKE_PTR(path);
                                return 0;
                        }
                }
        return registry_hosts_parse("", 0, "(none)", default_server, ret, e);
}
