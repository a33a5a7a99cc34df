/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/container-config.h"

#include <time.h>

#include "common/fileio.h"
#include "common/json-util.h"

uint64_t now_realtime_ns(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

ContainerConfig *container_config_free(ContainerConfig *c) {
        if (!c)
                return NULL;
        free(c->id);
        free(c->dir);
        strv_free(c->lower_dirs);
        free(c->upper_dir);
        free(c->work_dir);
        strv_free(c->argv);
        strv_free(c->env);
        free(c->cwd);
        free(c->groups);
        free(c->seccomp_bpf);
        free(c->rlimits);
        free(c->hostname);
        for (size_t i = 0; i < c->n_mounts; i++) {
                free(c->mounts[i].source);
                free(c->mounts[i].destination);
        }
        free(c->mounts);
        for (size_t i = 0; i < _NAMESPACE_KIND_MAX; i++)
                free(c->ns_paths[i]);
        strv_free(c->cgroup_dirs);
        free(c->cgroup_memory);
        free(c->log_path);
        strv_free(c->annotations);
        free(c);
        return NULL;
}

static json_t *strv_to_json(char **l) {
        json_t *a = json_array();
        if (!a)
                return NULL;
        for (char **i = l; i && *i; i++)
                if (json_array_append_new(a, json_string(*i)) < 0)
                        return json_decref(a), NULL;
        return a;
}

static int set_str(json_t *o, const char *k, const char *v) {
        if (!v)
                return 0;
        return json_object_set_new(o, k, json_string(v)) < 0 ? -ENOMEM : 0;
}

static int set_int(json_t *o, const char *k, json_int_t v) {
        return json_object_set_new(o, k, json_integer(v)) < 0 ? -ENOMEM : 0;
}

static int set_new(json_t *o, const char *k, json_t *v) {
        if (!v)
                return -ENOMEM;
        return json_object_set_new(o, k, v) < 0 ? -ENOMEM : 0;
}

int container_config_format(const ContainerConfig *c, char **ret) {
        _cleanup_json_ json_t *o = json_object();
        RET_NULL_ENOMEM(o);
        int r = 0;

        r = r ?: set_str(o, "id", c->id);
        r = r ?: set_str(o, "dir", c->dir);
        r = r ?: set_new(o, "lowerDirs", strv_to_json(c->lower_dirs));
        r = r ?: set_str(o, "upperDir", c->upper_dir);
        r = r ?: set_str(o, "workDir", c->work_dir);
        r = r ?: set_new(o, "readonlyRootfs", json_boolean(c->readonly_rootfs));
        r = r ?: set_new(o, "argv", strv_to_json(c->argv));
        r = r ?: set_new(o, "env", strv_to_json(c->env));
        r = r ?: set_str(o, "cwd", c->cwd);
        r = r ?: set_int(o, "uid", c->uid);
        r = r ?: set_int(o, "gid", c->gid);
        json_t *g = json_array();
        r = r ?: set_new(o, "groups", g);
        for (size_t i = 0; r == 0 && i < c->n_groups; i++)
                r = json_array_append_new(g, json_integer(c->groups[i])) < 0 ? -ENOMEM : 0;
        /* The mask as a string: jansson integers are signed 64-bit. */
        char caps[32];
        snprintf(caps, sizeof(caps), "%#llx", (unsigned long long) c->caps);
        r = r ?: set_str(o, "caps", caps);
        r = r ?: set_new(o, "privileged", json_boolean(c->privileged));
        r = r ?: set_new(o, "noNewPrivs", json_boolean(c->no_new_privs));
        r = r ?: set_str(o, "seccompBpf", c->seccomp_bpf);
        json_t *rl = json_array();
        r = r ?: set_new(o, "rlimits", rl);
        for (size_t i = 0; r == 0 && i < c->n_rlimits; i++) {
                json_t *e = json_pack("{s:i,s:I,s:I}", "resource", c->rlimits[i].resource, "soft",
                                      (json_int_t) c->rlimits[i].soft, "hard", (json_int_t) c->rlimits[i].hard);
                r = json_array_append_new(rl, e) < 0 ? -ENOMEM : 0;
        }
        r = r ?: set_str(o, "hostname", c->hostname);
        json_t *m = json_array();
        r = r ?: set_new(o, "mounts", m);
        for (size_t i = 0; r == 0 && i < c->n_mounts; i++) {
                json_t *e = json_pack("{s:s,s:s,s:b,s:s}", "source", c->mounts[i].source, "destination",
                                      c->mounts[i].destination, "readonly", c->mounts[i].readonly, "propagation",
                                      mount_propagation_to_string(c->mounts[i].propagation));
                r = json_array_append_new(m, e) < 0 ? -ENOMEM : 0;
        }
        json_t *ns = json_object();
        r = r ?: set_new(o, "namespaces", ns);
        for (NamespaceKind k = 0; r == 0 && k < _NAMESPACE_KIND_MAX; k++)
                r = set_str(ns, namespace_kind_to_string(k), c->ns_paths[k]);
        r = r ?: set_int(o, "cgroupVersion", c->cgroup_version);
        r = r ?: set_new(o, "cgroupDirs", strv_to_json(c->cgroup_dirs));
        r = r ?: set_str(o, "cgroupMemory", c->cgroup_memory);
        r = r ?: set_int(o, "cgroupParentLevels", c->cgroup_parent_levels);
        r = r ?: set_int(o, "stopSignal", c->stop_signal);
        r = r ?: set_str(o, "logPath", c->log_path);
        r = r ?: set_int(o, "logMaxSize", (json_int_t) c->log_max_size);
        r = r ?: set_int(o, "logMaxFiles", c->log_max_files);
        r = r ?: set_int(o, "logLineMax", (json_int_t) c->log_line_max);
        r = r ?: set_new(o, "stdin", json_boolean(c->stdin_open));
        r = r ?: set_new(o, "stdinOnce", json_boolean(c->stdin_once));
        r = r ?: set_new(o, "tty", json_boolean(c->tty));
        r = r ?: set_int(o, "createdAt", (json_int_t) c->created_at);
        r = r ?: set_new(o, "annotations", strv_to_json(c->annotations));
        if (r < 0)
                return r;
        char *s = json_dumps(o, JSON_COMPACT);
        RET_NULL_ENOMEM(s);
        *ret = s;
        return 0;
}

static int get_strdup(const json_t *o, const char *k, char **ret, ErrorBuf *e) {
        const char *s = NULL;
        int r = jx_get_string(o, k, "config", false, &s, e);
        if (r < 0 || !s)
                return r;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_u64(const json_t *o, const char *k, uint64_t *ret, ErrorBuf *e) {
        int64_t v = 0;
        int r = jx_get_int(o, k, "config", false, 0, INT64_MAX, &v, e);
        if (r < 0)
                return r;
        *ret = (uint64_t) v;
        return 0;
}

static int parse_lists(const json_t *o, ContainerConfig *c, ErrorBuf *e) {
        json_t *a = NULL;
        int r = jx_get_array(o, "groups", "config", false, &a, e);
        if (r < 0)
                return r;
        if (a && json_array_size(a) > 0) {
                c->groups = calloc(json_array_size(a), sizeof(uint32_t));
                RET_NULL_ENOMEM(c->groups);
                size_t i;
                json_t *v;
                json_array_foreach (a, i, v)
                        c->groups[c->n_groups++] = (uint32_t) json_integer_value(v);
        }
        a = NULL;
        r = jx_get_array(o, "rlimits", "config", false, &a, e);
        if (r < 0)
                return r;
        if (a && json_array_size(a) > 0) {
                c->rlimits = calloc(json_array_size(a), sizeof(ConfigRlimit));
                RET_NULL_ENOMEM(c->rlimits);
                size_t i;
                json_t *v;
                json_array_foreach (a, i, v) {
                        ConfigRlimit *l = &c->rlimits[c->n_rlimits++];
                        l->resource = (int) json_integer_value(json_object_get(v, "resource"));
                        l->soft = (uint64_t) json_integer_value(json_object_get(v, "soft"));
                        l->hard = (uint64_t) json_integer_value(json_object_get(v, "hard"));
                }
        }
        a = NULL;
        r = jx_get_array(o, "mounts", "config", false, &a, e);
        if (r < 0)
                return r;
        if (a && json_array_size(a) > 0) {
                c->mounts = calloc(json_array_size(a), sizeof(BindMount));
                RET_NULL_ENOMEM(c->mounts);
                size_t i;
                json_t *v;
                json_array_foreach (a, i, v) {
                        BindMount *m = &c->mounts[c->n_mounts++];
                        const char *src = json_string_value(json_object_get(v, "source"));
                        const char *dst = json_string_value(json_object_get(v, "destination"));
                        if (!src || !dst)
                                return error_set(e, -EINVAL, "config: mounts[%zu]: source/destination missing", i);
                        m->source = strdup(src);
                        m->destination = strdup(dst);
                        RET_NULL_ENOMEM(m->source && m->destination);
                        m->readonly = json_is_true(json_object_get(v, "readonly"));
                        m->propagation =
                                mount_propagation_from_string(json_string_value(json_object_get(v, "propagation")));
                        if (m->propagation < 0)
                                m->propagation = MOUNT_PROPAGATION_PRIVATE;
                }
        }
        json_t *ns = json_object_get(o, "namespaces");
        for (NamespaceKind k = 0; ns && k < _NAMESPACE_KIND_MAX; k++) {
                r = get_strdup(ns, namespace_kind_to_string(k), &c->ns_paths[k], e);
                if (r < 0)
                        return r;
        }
        return 0;
}

int container_config_parse(const char *text, size_t size, ContainerConfig **ret, ErrorBuf *e) {
        _cleanup_json_ json_t *o = NULL;
        int r = jx_parse(text, size, "config.json", &o, e);
        if (r < 0)
                return r;
        _cleanup_(container_config_freep) ContainerConfig *c = calloc(1, sizeof(*c));
        RET_NULL_ENOMEM(c);

        r = get_strdup(o, "id", &c->id, e);
        r = r ?: get_strdup(o, "dir", &c->dir, e);
        r = r ?: jx_get_strv(o, "lowerDirs", "config", true, &c->lower_dirs, e);
        r = r ?: get_strdup(o, "upperDir", &c->upper_dir, e);
        r = r ?: get_strdup(o, "workDir", &c->work_dir, e);
        r = r ?: jx_get_bool(o, "readonlyRootfs", "config", false, &c->readonly_rootfs, e);
        r = r ?: jx_get_strv(o, "argv", "config", true, &c->argv, e);
        r = r ?: jx_get_strv(o, "env", "config", true, &c->env, e);
        r = r ?: get_strdup(o, "cwd", &c->cwd, e);
        uint64_t v = 0;
        r = r ?: get_u64(o, "uid", &v, e);
        c->uid = (uint32_t) v;
        v = 0;
        r = r ?: get_u64(o, "gid", &v, e);
        c->gid = (uint32_t) v;
        const char *caps = NULL;
        r = r ?: jx_get_string(o, "caps", "config", false, &caps, e);
        if (caps)
                c->caps = strtoull(caps, NULL, 0);
        r = r ?: jx_get_bool(o, "privileged", "config", false, &c->privileged, e);
        r = r ?: jx_get_bool(o, "noNewPrivs", "config", false, &c->no_new_privs, e);
        r = r ?: get_strdup(o, "seccompBpf", &c->seccomp_bpf, e);
        r = r ?: get_strdup(o, "hostname", &c->hostname, e);
        r = r ?: parse_lists(o, c, e);
        v = 0;
        r = r ?: get_u64(o, "cgroupVersion", &v, e);
        c->cgroup_version = (int) v;
        r = r ?: jx_get_strv(o, "cgroupDirs", "config", false, &c->cgroup_dirs, e);
        r = r ?: get_strdup(o, "cgroupMemory", &c->cgroup_memory, e);
        v = 0;
        r = r ?: get_u64(o, "cgroupParentLevels", &v, e);
        c->cgroup_parent_levels = (unsigned) v;
        v = 0;
        r = r ?: get_u64(o, "stopSignal", &v, e);
        c->stop_signal = (int) v;
        r = r ?: get_strdup(o, "logPath", &c->log_path, e);
        r = r ?: get_u64(o, "logMaxSize", &c->log_max_size, e);
        v = 0;
        r = r ?: get_u64(o, "logMaxFiles", &v, e);
        c->log_max_files = (unsigned) v;
        v = 0;
        r = r ?: get_u64(o, "logLineMax", &v, e);
        c->log_line_max = (size_t) v;
        r = r ?: jx_get_bool(o, "stdin", "config", false, &c->stdin_open, e);
        r = r ?: jx_get_bool(o, "stdinOnce", "config", false, &c->stdin_once, e);
        r = r ?: jx_get_bool(o, "tty", "config", false, &c->tty, e);
        r = r ?: get_u64(o, "createdAt", &c->created_at, e);
        r = r ?: jx_get_strv(o, "annotations", "config", false, &c->annotations, e);
        if (r < 0)
                return r;
        if (!c->id || !c->dir)
                return error_set(e, -EINVAL, "config.json: id and dir are required");
        *ret = TAKE_PTR(c);
        return 0;
}

int container_config_load(const char *dir, ContainerConfig **ret, ErrorBuf *e) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        size_t size = 0;
        int r = path_join(&p, dir, CONTAINER_CONFIG_FILE);
        if (r < 0)
                return r;
        r = read_full_file(p, 4u * 1024u * 1024u, &text, &size);
        if (r < 0)
                return error_set(e, r, "%s: %s", p, strerror(-r));
        return container_config_parse(text, size, ret, e);
}
