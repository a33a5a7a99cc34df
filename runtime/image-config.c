/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest and image config parsing (image-spec manifest.md, config.md), and the process of a container from its
 * image config with the rules Kubernetes users rely on (containerd CRI's WithProcessArgs and WithEnv, and the
 * kubelet's $(VAR) expansion of command/args from third_party/forked/golang/expansion). */

#include <stdio.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/strv.h"
#include "runtime/image-internal.h"
#include "runtime/layer.h"

/* containerd's default for Linux containers, applied before the image Env (oci.populateDefaultUnixSpec). */
#define DEFAULT_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void manifest_done(Manifest *m) {
        free(m->config.media_type);
        for (size_t i = 0; i < m->n_layers; i++)
                free(m->layers[i].media_type);
        free(m->layers);
        *m = (Manifest){};
}

int descriptor_parse(const json_t *j, const char *path, Descriptor *ret, ErrorBuf *e) {
        const char *mt = NULL, *digest = NULL;
        int64_t size;
        char what[256];
        if (!json_is_object(j))
                return error_set(e, -EINVAL, "%s: expected an object, got %s", path, json_type_name(j));
        int r = jx_get_string(j, "mediaType", path, true, &mt, e);
        if (r < 0)
                return r;
        r = jx_get_string(j, "digest", path, true, &digest, e);
        if (r < 0)
                return r;
        r = jx_get_int(j, "size", path, true, 0, INT64_MAX, &size, e);
        if (r < 0)
                return r;
        snprintf(what, sizeof what, "%s.digest", path);
        r = digest_parse(digest, what, ret->hex, e);
        if (r < 0)
                return r;
        ret->media_type = strdup(mt);
        RET_NULL_ENOMEM(ret->media_type);
        ret->size = (uint64_t) size;
        return 0;
}

static int manifest_parse_layers(const json_t *j, Manifest *m, ErrorBuf *e) {
        json_t *layers = NULL, *l;
        size_t i;
        int r = jx_get_array(j, "layers", NULL, true, &layers, e);
        if (r < 0)
                return r;
        m->layers = calloc(json_array_size(layers) + 1, sizeof(Descriptor));
        RET_NULL_ENOMEM(m->layers);
        json_array_foreach (layers, i, l) {
                char path[64];
                snprintf(path, sizeof path, "layers[%zu]", i);
                r = descriptor_parse(l, path, &m->layers[i], e);
                if (r < 0)
                        return r;
                m->n_layers++;
                if (layer_media_type_supported(m->layers[i].media_type) < 0)
                        return error_set(e, -EOPNOTSUPP, "%s.mediaType: unsupported layer media type '%s'", path,
                                         m->layers[i].media_type);
        }
        return 0;
}

int manifest_parse(const json_t *j, const char *what, Manifest *ret, ErrorBuf *e) {
        _cleanup_(manifest_done) Manifest m = {};
        const char *mt = NULL;
        int64_t version;
        json_t *config = NULL;
        int r;
        if (!json_is_object(j))
                return error_set(e, -EINVAL, "%s: expected a JSON object, got %s", what, json_type_name(j));
        r = jx_get_int(j, "schemaVersion", NULL, true, 2, 2, &version, e);
        if (r >= 0)
                r = jx_get_string(j, "mediaType", NULL, false, &mt, e);
        if (r >= 0 && mt && !streq(mt, MT_OCI_MANIFEST) && !streq(mt, MT_DOCKER_MANIFEST))
                r = error_set(e, -EOPNOTSUPP, "mediaType: unsupported manifest media type '%s'", mt);
        if (r >= 0)
                r = jx_get_object(j, "config", NULL, true, &config, e);
        if (r >= 0)
                r = descriptor_parse(config, "config", &m.config, e);
        if (r >= 0 && !streq(m.config.media_type, MT_OCI_CONFIG) && !streq(m.config.media_type, MT_DOCKER_CONFIG))
                r = error_set(e, -EOPNOTSUPP, "config.mediaType: unsupported config media type '%s'",
                              m.config.media_type);
        if (r >= 0)
                r = manifest_parse_layers(j, &m, e);
        if (r < 0)
                return error_prefix(e, r, "%s", what);
        *ret = m;
        m = (Manifest){};
        return 0;
}

void image_config_done(ImageConfig *c) {
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->env);
        free(c->working_dir);
        free(c->user);
        free(c->stop_signal);
        strv_free(c->diff_ids);
        *c = (ImageConfig){};
}

static int dup_opt(const json_t *o, const char *key, char **ret, ErrorBuf *e) {
        const char *v = NULL;
        int r = jx_get_string(o, key, "config", false, &v, e);
        if (r < 0)
                return r;
        if (!isempty(v)) {
                *ret = strdup(v);
                RET_NULL_ENOMEM(*ret);
        }
        return 0;
}

static int config_parse_rootfs(const json_t *j, ImageConfig *c, ErrorBuf *e) {
        json_t *rootfs = NULL, *ids = NULL, *d;
        const char *type = NULL;
        size_t i;
        int r = jx_get_object(j, "rootfs", NULL, true, &rootfs, e);
        if (r < 0)
                return r;
        r = jx_get_string(rootfs, "type", "rootfs", true, &type, e);
        if (r < 0)
                return r;
        if (!streq(type, "layers"))
                return error_set(e, -EOPNOTSUPP, "rootfs.type: expected \"layers\", got \"%s\"", type);
        r = jx_get_array(rootfs, "diff_ids", "rootfs", true, &ids, e);
        if (r < 0)
                return r;
        c->diff_ids = calloc(json_array_size(ids) + 1, sizeof(char *));
        RET_NULL_ENOMEM(c->diff_ids);
        json_array_foreach (ids, i, d) {
                char what[64], hex[SHA256_HEX_LEN + 1];
                snprintf(what, sizeof what, "rootfs.diff_ids[%zu]", i);
                if (!json_is_string(d))
                        return error_set(e, -EINVAL, "%s: expected a string, got %s", what, json_type_name(d));
                r = digest_parse(json_string_value(d), what, hex, e);
                if (r < 0)
                        return r;
                c->diff_ids[i] = strdup(hex);
                RET_NULL_ENOMEM(c->diff_ids[i]);
                c->n_diff_ids++;
        }
        return 0;
}

int image_config_parse(const json_t *j, const char *what, ImageConfig *ret, ErrorBuf *e) {
        _cleanup_(image_config_done) ImageConfig c = {};
        json_t *cfg = NULL;
        int r;
        if (!json_is_object(j))
                return error_prefix(e, error_set(e, -EINVAL, "expected a JSON object, got %s", json_type_name(j)), "%s",
                                    what);
        r = config_parse_rootfs(j, &c, e);
        /* "config" is optional (config.md); null means unset, as everywhere in these formats. */
        if (r >= 0)
                r = jx_get_object(j, "config", NULL, false, &cfg, e);
        if (r >= 0 && cfg) {
                r = jx_get_strv(cfg, "Entrypoint", "config", false, &c.entrypoint, e);
                if (r >= 0)
                        r = jx_get_strv(cfg, "Cmd", "config", false, &c.cmd, e);
                if (r >= 0)
                        r = jx_get_strv(cfg, "Env", "config", false, &c.env, e);
                if (r >= 0 && strv_length(c.env) > IMAGE_ENV_MAX)
                        r = error_set(e, -EINVAL, "config.Env: %zu entries, more than the %u allowed",
                                      strv_length(c.env), IMAGE_ENV_MAX);
                if (r >= 0)
                        r = dup_opt(cfg, "WorkingDir", &c.working_dir, e);
                if (r >= 0)
                        r = dup_opt(cfg, "User", &c.user, e);
                if (r >= 0)
                        r = dup_opt(cfg, "StopSignal", &c.stop_signal, e);
        }
        if (r < 0)
                return error_prefix(e, r, "%s", what);
        *ret = c;
        c = (ImageConfig){};
        return 0;
}

int image_info_take_config(ImageInfo *info, ImageConfig *c) {
        info->entrypoint = strv_empty_if_null(TAKE_PTR(c->entrypoint));
        info->cmd = strv_empty_if_null(TAKE_PTR(c->cmd));
        info->env = strv_empty_if_null(TAKE_PTR(c->env));
        info->working_dir = TAKE_PTR(c->working_dir);
        info->user = TAKE_PTR(c->user);
        info->stop_signal = TAKE_PTR(c->stop_signal);
        if (!info->entrypoint || !info->cmd || !info->env)
                return -ENOMEM;
        return 0;
}

/* ---- process: argv and env ---- */

static size_t env_name_len(const char *s) {
        const char *eq = strchr(s, '=');
        return eq ? (size_t) (eq - s) : strlen(s);
}

/* The environment being merged: entries in the order their names first appeared, and an index name → position so
 * that each definition costs O(1) however many an image brings (it used to be a scan: 100k entries took 37 s). */
typedef struct EnvMerge {
        char **l;
        size_t n, allocated;
        json_t *index;
} EnvMerge;

static void env_merge_done(EnvMerge *m) {
        strv_free(m->l);
        json_decref(m->index);
        *m = (EnvMerge){};
}

/* containerd's replaceOrAppendEnvValues: a later NAME replaces the earlier value in place. */
static int env_set(EnvMerge *m, const char *kv) {
        size_t k = env_name_len(kv);
        json_t *pos = json_object_getn(m->index, kv, k);
        char *c = strdup(kv);
        RET_NULL_ENOMEM(c);
        if (pos) {
                size_t i = (size_t) json_integer_value(pos);
                free(m->l[i]);
                m->l[i] = c;
                return 0;
        }
        if (m->n + 2 > m->allocated) {
                size_t na = MAX(16u, m->allocated * 2);
                char **nl = reallocarray(m->l, na, sizeof(char *));
                if (!nl) {
                        free(c);
                        return -ENOMEM;
                }
                m->l = nl;
                m->allocated = na;
        }
        if (json_object_setn_new_nocheck(m->index, kv, k, json_integer((json_int_t) m->n)) < 0) {
                free(c);
                return -ENOMEM;
        }
        m->l[m->n++] = c;
        m->l[m->n] = NULL;
        return 0;
}

/* The value of $(name) from the container env (the last definition wins, as in the kubelet's map), or NULL. */
static const char *env_lookup(char **env, const char *name, size_t len) {
        const char *found = NULL;
        for (size_t i = 0; env && env[i]; i++)
                if (env_name_len(env[i]) == len && strncmp(env[i], name, len) == 0 && env[i][len] == '=')
                        found = env[i] + len + 1;
        return found;
}

/* Kubernetes' expansion (third_party/forked/golang/expansion): "$$" → "$", "$(NAME)" → its value when NAME is
 * defined and kept verbatim otherwise, any other "$" (and an unterminated "$(") is left as it is. */
static int expand(const char *in, char **env, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);
        RET_NULL_ENOMEM(f);
        for (const char *p = in; *p; p++) {
                if (p[0] != '$' || !p[1]) {
                        fputc(p[0], f);
                        continue;
                }
                if (p[1] == '$') {
                        fputc('$', f);
                        p++;
                } else if (p[1] == '(' && strchr(p + 2, ')')) {
                        const char *name = p + 2, *close = strchr(name, ')');
                        const char *v = env_lookup(env, name, (size_t) (close - name));
                        if (v)
                                fputs(v, f);
                        else
                                fwrite(p, 1, (size_t) (close - p) + 1, f);
                        p = close;
                } else {
                        fputc('$', f);
                        fputc(p[1], f);
                        p++;
                }
        }
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}

static int append_expanded(char ***argv, char **src, char **env, bool expand_vars) {
        for (size_t i = 0; src && src[i]; i++) {
                _cleanup_free_ char *x = NULL;
                int r = expand_vars ? expand(src[i], env, &x) : ((x = strdup(src[i])) ? 0 : -ENOMEM);
                if (r < 0)
                        return r;
                r = strv_consume(argv, TAKE_PTR(x));
                if (r < 0)
                        return r;
        }
        return 0;
}

int image_resolve_process(const ImageInfo *img, char **command, char **args, char **env, ImageResolveFlags flags,
                          char ***ret_argv, char ***ret_env, ErrorBuf *e) {
        bool x = flags & IMAGE_RESOLVE_EXPAND_VARS;
        _cleanup_strv_free_ char **argv = calloc(1, sizeof(char *));
        _cleanup_(env_merge_done) EnvMerge envm = {.index = json_object()};
        int r;
        RET_NULL_ENOMEM(argv);
        RET_NULL_ENOMEM(envm.index);

        /* Image defaults are used verbatim; only what the pod spec supplies is expanded (the kubelet expands
         * container.Command/Args before handing them to the runtime). */
        if (strv_length(command) > 0) {
                r = append_expanded(&argv, command, env, x);
                if (r >= 0)
                        r = append_expanded(&argv, args, env, x);
        } else {
                /* containerd: an Entrypoint of [""] means "no entrypoint" (docker's --entrypoint ""). */
                bool ep_empty = strv_length(img->entrypoint) == 1 && isempty(img->entrypoint[0]);
                r = 0;
                for (size_t i = 0; r >= 0 && !ep_empty && img->entrypoint && img->entrypoint[i]; i++)
                        r = strv_extend(&argv, img->entrypoint[i]);
                if (r >= 0 && strv_length(args) > 0)
                        r = append_expanded(&argv, args, env, x);
                else
                        for (size_t i = 0; r >= 0 && img->cmd && img->cmd[i]; i++)
                                r = strv_extend(&argv, img->cmd[i]);
        }
        if (r < 0)
                return r;
        if (strv_isempty(argv))
                return error_set(e, -EINVAL, "no command specified: neither the container nor image %s has one",
                                 strna(img->id));

        r = env_set(&envm, DEFAULT_PATH_ENV);
        for (size_t i = 0; r >= 0 && img->env && img->env[i]; i++)
                r = env_set(&envm, img->env[i]);
        for (size_t i = 0; r >= 0 && env && env[i]; i++)
                r = env_set(&envm, env[i]);
        if (r < 0)
                return r;
        *ret_argv = TAKE_PTR(argv);
        *ret_env = TAKE_PTR(envm.l);
        return 0;
}
