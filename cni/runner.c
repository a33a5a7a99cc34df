/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/wait.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cni/delegate.h"
#include "cni/ip.h"
#include "cni/ipam.h"
#include "common/fileio.h"
#include "common/json-util.h"

extern char **environ;

static void *memdup(const void *p, size_t n) {
        void *q = malloc(n);
        return q ? memcpy(q, p, n) : NULL;
}

struct CniNetwork {
        json_t *list; /* {"cniVersion", "name", "plugins": [...], ...} */
        char *bytes;  /* the file as read: libcni caches these bytes */
        size_t size;
        char *source;
};

CniNetwork *cni_network_free(CniNetwork *n) {
        if (!n)
                return NULL;
        json_decref(n->list);
        free(n->bytes);
        free(n->source);
        free(n);
        return NULL;
}

const char *cni_network_name(const CniNetwork *n) {
        return json_string_value(json_object_get(n->list, "name"));
}

const char *cni_network_version(const CniNetwork *n) {
        return json_string_value(json_object_get(n->list, "cniVersion"));
}

const char *cni_network_source(const CniNetwork *n) {
        return n->source;
}

size_t cni_network_n_plugins(const CniNetwork *n) {
        return json_array_size(json_object_get(n->list, "plugins"));
}

const char *cni_network_plugin_type(const CniNetwork *n, size_t i) {
        return json_string_value(json_object_get(json_array_get(json_object_get(n->list, "plugins"), i), "type"));
}

static int network_validate(json_t *list, const char *source, ErrorBuf *e) {
        const char *name = NULL, *version = NULL;
        json_t *plugins = NULL, *p;
        size_t i;

        if (jx_get_string(list, "name", source, true, &name, e) < 0 ||
            jx_get_string(list, "cniVersion", source, true, &version, e) < 0 ||
            jx_get_array(list, "plugins", source, true, &plugins, e) < 0)
                return -EINVAL;
        if (!cni_network_name_valid(name))
                return error_set(e, -EINVAL, "%s.name: invalid network name \"%s\"", source, name);
        if (json_array_size(plugins) == 0)
                return error_set(e, -EINVAL, "%s.plugins: no plugins in network %s", source, name);
        json_array_foreach (plugins, i, p) {
                char path[512];
                const char *type = NULL;
                snprintf(path, sizeof path, "%.400s.plugins[%zu]", source, i);
                if (jx_get_string(p, "type", path, true, &type, e) < 0)
                        return -EINVAL;
        }
        return 0;
}

int cni_network_parse(const char *text, size_t size, const char *source, CniNetwork **ret, ErrorBuf *e) {
        _cleanup_(cni_network_freep) CniNetwork *n = calloc(1, sizeof(CniNetwork));
        _cleanup_json_ json_t *j = NULL;
        int r;

        if (!n)
                return -ENOMEM;
        r = jx_parse(text, size, source, &j, e);
        if (r < 0)
                return r;
        if (!json_is_object(j))
                return error_set(e, -EINVAL, "%s: expected a JSON object", source);
        if (!json_object_get(j, "plugins")) {
                /* A single-plugin .conf: the list gets its name and cniVersion (libcni ConfListFromConf). */
                json_t *l = json_pack("{s:O?, s:O?, s:[O]}", "cniVersion", json_object_get(j, "cniVersion"), "name",
                                      json_object_get(j, "name"), "plugins", j);
                if (!l)
                        return -ENOMEM;
                json_decref(j);
                j = l;
        }
        r = network_validate(j, source, e);
        if (r < 0)
                return r;
        n->bytes = malloc(size + 1); /* text need not be NUL-terminated */
        n->source = strdup(source);
        if (!n->bytes || !n->source)
                return -ENOMEM;
        memcpy(n->bytes, text, size);
        n->bytes[size] = 0;
        n->size = size;
        n->list = TAKE_PTR(j);
        *ret = TAKE_PTR(n);
        return 0;
}

/* Network configurations are small; libcni reads any size, this is far above real ones. */
#define CNI_CONF_FILE_MAX (1024 * 1024)

static int conf_file_filter(const struct dirent *de) {
        return de->d_name[0] != '.' &&
               (endswith(de->d_name, ".conf") || endswith(de->d_name, ".conflist") || endswith(de->d_name, ".json"));
}

static int conf_file_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name); /* lexical, as the kubelet/containerd pick the network */
}

int cni_network_load(const char *conf_dir, CniNetwork **ret, ErrorBuf *e) {
        struct dirent **list = NULL;
        _cleanup_free_ char *path = NULL, *data = NULL;
        size_t size = 0;
        int n, r;

        conf_dir = conf_dir ?: CNI_DEFAULT_CONF_DIR;
        n = scandir(conf_dir, &list, conf_file_filter, conf_file_compare);
        if (n < 0)
                return errno == ENOENT ? error_set(e, -ENOENT, "%s: no network configuration", conf_dir)
                                       : error_set(e, -errno, "%s: %s", conf_dir, strerror(errno));
        /* The first entry that is not a directory (libcni's ConfFiles skips those) is the network. */
        r = -ENOENT;
        for (int i = 0; i < n && r == -ENOENT; i++) {
                struct stat st;
                path = mfree(path);
                r = path_join(&path, conf_dir, list[i]->d_name);
                if (r >= 0 && stat(path, &st) >= 0 && S_ISDIR(st.st_mode))
                        r = -ENOENT;
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        if (r == -ENOENT)
                return error_set(e, -ENOENT, "%s: no network configuration", conf_dir);
        if (r < 0)
                return r;
        /* Never blocks: a FIFO (or device) named like a configuration is refused, not opened for reading. */
        r = read_regular_file(path, CNI_CONF_FILE_MAX, &data, &size);
        if (r < 0)
                return error_set(e, r, "%s: %s", path, r == -EBADFD ? "not a regular file" : strerror(-r));
        return cni_network_parse(data, size, path, ret, e);
}

static char **default_bin_dirs(void) {
        static char *dirs[] = {(char *) "/opt/cni/bin", (char *) "/usr/lib/cni", NULL};
        return dirs;
}

static char *search_path(char *const *bin_dirs) {
        size_t len = 1;
        for (char *const *d = bin_dirs; *d; d++)
                len += strlen(*d) + 1;
        char *s = calloc(1, len), *p = s;
        if (!s)
                return NULL;
        for (char *const *d = bin_dirs; *d; d++)
                p = stpcpy(stpcpy(p, p == s ? "" : ":"), *d);
        return s;
}

static bool plugin_available(char *const *bin_dirs, const char *type) {
        _cleanup_free_ char *sp = search_path(bin_dirs), *path = NULL;
        return sp && cni_find_plugin(type, sp, &path) == 0;
}

int cni_write_default_conflist(const char *conf_dir, char *const *pod_cidrs, char *const *bin_dirs, ErrorBuf *e) {
        return cni_write_default_conflist_full(conf_dir, pod_cidrs, bin_dirs, NULL, e);
}

int cni_write_default_conflist_full(const char *conf_dir, char *const *pod_cidrs, char *const *bin_dirs,
                                    const char *ipam_data_dir, ErrorBuf *e) {
        _cleanup_(cni_network_freep) CniNetwork *existing = NULL;
        _cleanup_json_ json_t *ranges = json_array(), *routes = json_array(), *plugins = NULL, *list = NULL;
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        conf_dir = conf_dir ?: CNI_DEFAULT_CONF_DIR;
        bin_dirs = bin_dirs ?: default_bin_dirs();
        r = cni_network_load(conf_dir, &existing, NULL);
        if (r >= 0 || r != -ENOENT)
                return 1; /* the operator's configuration, valid or not, is theirs: never overwrite it */
        if (!ranges || !routes)
                return -ENOMEM;
        for (char *const *c = pod_cidrs; c && *c; c++) {
                CniPrefix p;
                if (cni_prefix_parse(*c, &p) < 0)
                        return error_set(e, -EINVAL, "invalid pod CIDR \"%s\"", *c);
                p.ip = cni_prefix_first(&p);
                char b[CNI_PREFIX_STRLEN];
                (void) json_array_append_new(ranges, json_pack("[{s:s}]", "subnet", cni_prefix_format(&p, b)));
                (void) json_array_append_new(routes,
                                             json_pack("{s:s}", "dst", p.ip.family == AF_INET ? "0.0.0.0/0" : "::/0"));
        }
        if (json_array_size(ranges) == 0)
                return error_set(e, -EINVAL, "no pod CIDR for the default CNI network");

        plugins = json_pack("[{s:s, s:s, s:b, s:b, s:b, s:{s:s, s:O, s:O}}]", "type", "nodelet-bridge", "bridge",
                            "nodelet0", "isGateway", 1, "ipMasq", 1, "hairpinMode", 1, "ipam", "type", "nodelet-ipam",
                            "ranges", ranges, "routes", routes);
        if (!plugins)
                return -ENOMEM;
        if (ipam_data_dir && json_object_set_new(json_object_get(json_array_get(plugins, 0), "ipam"), "dataDir",
                                                 json_string(ipam_data_dir)) < 0)
                return -ENOMEM;
        /* hostPort needs portmap; kubernetes.io/ingress-bandwidth needs bandwidth: add them when installed. */
        if (plugin_available(bin_dirs, "portmap"))
                (void) json_array_append_new(plugins, json_pack("{s:s, s:{s:b}, s:b}", "type", "portmap",
                                                                "capabilities", "portMappings", 1, "snat", 1));
        if (plugin_available(bin_dirs, "bandwidth"))
                (void) json_array_append_new(
                        plugins, json_pack("{s:s, s:{s:b}}", "type", "bandwidth", "capabilities", "bandwidth", 1));
        /* 1.0.0: the newest version the Debian/upstream reference plugins (v1.1) understand. */
        list = json_pack("{s:s, s:s, s:O}", "cniVersion", "1.0.0", "name", "nodelet", "plugins", plugins);
        text = list ? json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (!text)
                return -ENOMEM;
        r = mkdir_p(conf_dir, 0755);
        if (r >= 0)
                r = path_join(&path, conf_dir, "10-nodelet.conflist");
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), 0644, true);
        if (r < 0)
                return error_set(e, r, "failed to write %s/10-nodelet.conflist: %s", conf_dir, strerror(-r));
        return 0;
}

int cni_result_pod_ips(const json_t *result, char ***ret_ips) {
        json_t *ifaces = json_object_get(result, "interfaces"), *ips = json_object_get(result, "ips"), *v;
        size_t n = 0, i;
        char **l = calloc(json_array_size(ips) + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1)
                json_array_foreach (ips, i, v) {
                        json_t *idx = json_object_get(v, "interface");
                        CniPrefix p;
                        char b[CNI_IP_STRLEN];
                        if (cni_prefix_parse(json_string_value(json_object_get(v, "address")), &p) < 0 ||
                            p.ip.family != family)
                                continue;
                        if (json_is_integer(idx)) {
                                json_t *iface = json_array_get(ifaces, (size_t) json_integer_value(idx));
                                if (isempty(json_string_value(json_object_get(iface, "sandbox"))))
                                        continue;
                        }
                        if (!(l[n] = strdup(cni_ip_format(&p.ip, b)))) {
                                strv_free(l);
                                return -ENOMEM;
                        }
                        n++;
                }
        *ret_ips = l;
        return (int) n;
}

char *cni_cache_path(const char *cache_dir, const char *network, const char *container_id, const char *ifname) {
        char *p = NULL;
        if (asprintf(&p, "%s/results/%s-%s-%s", cache_dir ?: CNI_DEFAULT_CACHE_DIR, network, container_id, ifname) < 0)
                return NULL;
        return p;
}

static char *base64_encode(const char *data, size_t size) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((size + 2) / 3 * 4 + 1), *o = out;
        const unsigned char *d = (const unsigned char *) data;
        if (!out)
                return NULL;
        for (size_t i = 0; i < size; i += 3) {
                unsigned v = (unsigned) d[i] << 16 | (i + 1 < size ? (unsigned) d[i + 1] << 8 : 0) |
                             (i + 2 < size ? d[i + 2] : 0);
                *o++ = t[v >> 18 & 63];
                *o++ = t[v >> 12 & 63];
                *o++ = i + 1 < size ? t[v >> 6 & 63] : '=';
                *o++ = i + 2 < size ? t[v & 63] : '=';
        }
        *o = 0;
        return out;
}

/* ---- the runner ---- */

typedef struct CniOp CniOp;

struct CniRunner {
        sd_event *event;
        char **bin_dirs;
        char *search_path;
        char *cache_dir;
        uint64_t timeout_usec;
        CniOp *ops; /* running operations, for cancellation */
};

struct CniOp {
        CniRunner *runner;
        CniOp *next, *prev;
        CniCommand cmd;     /* what the caller asked for */
        CniCommand running; /* what the chain runs now: DEL while rolling back a failed ADD */
        CniNetwork *net;
        char *container_id, *netns, *ifname, *cni_args;
        json_t *capability_args, *valid_attachments;
        json_t *prev_result; /* ADD: result so far; CHECK/DEL: the cached result */
        size_t step;
        uint64_t skipped; /* plugins (by index) not executed for this attachment: see plugin_pass_through() */
        cni_done_t done;
        void *userdata;
        CniError error;
        int result;

        /* the plugin running now */
        pid_t pid;
        int pidfd, out_fd, in_fd;
        char *in_buf;
        size_t in_size, in_off;
        char *out_buf;
        size_t out_size;
        bool exited, out_eof, timed_out;
        int status;
        char *plugin_type;
        sd_event_source *pid_src, *out_src, *in_src, *timer_src, *defer_src;
};

static void op_reset_child(CniOp *op) {
        op->pid_src = sd_event_source_disable_unref(op->pid_src);
        op->out_src = sd_event_source_disable_unref(op->out_src);
        op->in_src = sd_event_source_disable_unref(op->in_src);
        op->timer_src = sd_event_source_disable_unref(op->timer_src);
        if (op->pidfd >= 0 && !op->exited) {
                /* Cancelled while running: kill and reap so no zombie stays behind. */
                (void) pidfd_send_signal(op->pidfd, SIGKILL, NULL, 0);
                siginfo_t si;
                (void) waitid((idtype_t) P_PIDFD, (id_t) op->pidfd, &si, WEXITED);
        }
        op->pidfd = safe_close(op->pidfd);
        op->out_fd = safe_close(op->out_fd);
        op->in_fd = safe_close(op->in_fd);
        op->in_buf = mfree(op->in_buf);
        op->out_buf = mfree(op->out_buf);
        op->plugin_type = mfree(op->plugin_type);
        op->in_size = op->in_off = op->out_size = 0;
        op->exited = op->out_eof = op->timed_out = false;
        op->pid = 0;
}

static CniOp *op_free(CniOp *op) {
        if (!op)
                return NULL;
        op_reset_child(op);
        op->defer_src = sd_event_source_disable_unref(op->defer_src);
        if (op->runner) {
                if (op->prev)
                        op->prev->next = op->next;
                else
                        op->runner->ops = op->next;
                if (op->next)
                        op->next->prev = op->prev;
        }
        cni_network_free(op->net);
        free(op->container_id);
        free(op->netns);
        free(op->ifname);
        free(op->cni_args);
        json_decref(op->capability_args);
        json_decref(op->valid_attachments);
        json_decref(op->prev_result);
        free(op);
        return NULL;
}

int cni_runner_new(sd_event *event, const CniRunnerOptions *o, CniRunner **ret) {
        CniRunner *r = calloc(1, sizeof(CniRunner));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        char *const *dirs = o && o->bin_dirs ? o->bin_dirs : default_bin_dirs();
        size_t n = 0;
        while (dirs[n])
                n++;
        r->bin_dirs = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; r->bin_dirs && i < n; i++)
                if (!(r->bin_dirs[i] = strdup(dirs[i])))
                        break;
        r->search_path = r->bin_dirs ? search_path(r->bin_dirs) : NULL;
        r->cache_dir = strdup(o && o->cache_dir ? o->cache_dir : CNI_DEFAULT_CACHE_DIR);
        r->timeout_usec = o && o->timeout_usec ? o->timeout_usec : CNI_DEFAULT_TIMEOUT_USEC;
        if (!r->search_path || !r->cache_dir) {
                cni_runner_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

CniRunner *cni_runner_free(CniRunner *r) {
        if (!r)
                return NULL;
        while (r->ops)
                op_free(r->ops);
        strv_free(r->bin_dirs);
        free(r->search_path);
        free(r->cache_dir);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

/* The stdin of plugin i: its configuration with the list's name and cniVersion, prevResult and the enabled
 * capabilities in runtimeConfig (SPEC.md "Network Configuration Lists"). */
static json_t *plugin_conf(const CniOp *op, size_t i) {
        json_t *p = json_deep_copy(json_array_get(json_object_get(op->net->list, "plugins"), i));
        json_t *caps, *v;
        const char *key;

        if (!p)
                return NULL;
        (void) json_object_set(p, "name", json_object_get(op->net->list, "name"));
        (void) json_object_set(p, "cniVersion", json_object_get(op->net->list, "cniVersion"));
        if (op->prev_result && op->running != CNI_CMD_GC && op->running != CNI_CMD_STATUS)
                (void) json_object_set(p, "prevResult", op->prev_result);
        caps = json_object_get(p, "capabilities");
        _cleanup_json_ json_t *rc = json_object();
        json_object_foreach (caps, key, v)
                if (json_is_true(v) && json_object_get(op->capability_args, key))
                        (void) json_object_set(rc, key, json_object_get(op->capability_args, key));
        if (rc && json_object_size(rc) > 0)
                (void) json_object_set(p, "runtimeConfig", rc);
        if (op->running == CNI_CMD_GC)
                (void) json_object_set_new(p, "cni.dev/valid-attachments",
                                           op->valid_attachments ? json_incref(op->valid_attachments) : json_array());
        return p;
}

static char **plugin_env(const CniOp *op) {
        const struct {
                const char *name, *value;
        } vars[] = {
                {"CNI_COMMAND", cni_command_to_string(op->running)},
                {"CNI_CONTAINERID", op->container_id},
                {"CNI_NETNS", op->netns},
                {"CNI_IFNAME", op->ifname},
                {"CNI_ARGS", op->cni_args},
                {"CNI_PATH", op->runner->search_path},
        };
        size_t n = 0, k = 0;
        bool ok = true;

        while (environ[n])
                n++;
        char **env = calloc(n + ELEMENTSOF(vars) + 1, sizeof(char *));
        if (!env)
                return NULL;
        /* The runtime's environment (PATH for plugins that exec iptables), minus any CNI_* of our own. */
        for (size_t i = 0; ok && i < n; i++)
                if (!startswith(environ[i], "CNI_"))
                        ok = (env[k++] = strdup(environ[i])) != NULL;
        for (size_t i = 0; ok && i < ELEMENTSOF(vars); i++)
                if (vars[i].value) {
                        ok = asprintf(&env[k], "%s=%s", vars[i].name, vars[i].value) >= 0;
                        if (ok)
                                k++;
                        else
                                env[k] = NULL;
                }
        if (!ok) {
                strv_free(env);
                return NULL;
        }
        return env;
}

static void op_finish(CniOp *op) {
        const json_t *result = op->result >= 0 && op->cmd == CNI_CMD_ADD ? op->prev_result : NULL;
        op->done(op->result, result, op->result < 0 ? &op->error : NULL, op->userdata);
        op_free(op);
}

static int cache_write(CniOp *op) {
        _cleanup_free_ char *path =
                cni_cache_path(op->runner->cache_dir, cni_network_name(op->net), op->container_id, op->ifname);
        _cleanup_free_ char *config = base64_encode(op->net->bytes, op->net->size), *text = NULL, *dir = NULL;
        _cleanup_json_ json_t *args = json_array(), *j = NULL;

        if (!path || !config || !args)
                return -ENOMEM;
        for (const char *p = op->cni_args; !isempty(p);) {
                const char *semi = strchrnul(p, ';'), *eq = memchr(p, '=', semi - p);
                if (eq)
                        (void) json_array_append_new(
                                args, json_pack("[s%, s%]", p, (size_t) (eq - p), eq + 1, (size_t) (semi - eq - 1)));
                p = *semi ? semi + 1 : NULL;
        }
        j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:O, s:O?, s:O}", "kind", "cniCacheV1", "containerId",
                      op->container_id, "config", config, "ifName", op->ifname, "networkName",
                      cni_network_name(op->net), "netns", op->netns, "cniArgs", args, "capabilityArgs",
                      op->capability_args, "result", op->prev_result);
        if (j && op->skipped) {
                /* Our own key (libcni ignores unknown ones): DEL and CHECK skip the same plugins. */
                json_t *sk = json_array();
                for (size_t i = 0; i < 64; i++)
                        if (op->skipped & (UINT64_C(1) << i))
                                (void) json_array_append_new(sk, json_integer((json_int_t) i));
                (void) json_object_set_new(j, "nodeletSkippedPlugins", sk);
        }
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!text || asprintf(&dir, "%s/results", op->runner->cache_dir) < 0)
                return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, strlen(text), 0600, false);
}

static int cache_read(CniOp *op, json_t **ret) {
        _cleanup_free_ char *path =
                cni_cache_path(op->runner->cache_dir, cni_network_name(op->net), op->container_id, op->ifname);
        _cleanup_json_ json_t *j = NULL;
        if (!path)
                return -ENOMEM;
        int r = jx_load_file(path, &j, NULL);
        if (r < 0)
                return r;
        json_t *res = json_object_get(j, "result"), *v;
        if (!json_is_object(res))
                return -ENOENT;
        size_t i;
        json_array_foreach (json_object_get(j, "nodeletSkippedPlugins"), i, v)
                if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 64)
                        op->skipped |= UINT64_C(1) << json_integer_value(v);
        *ret = json_incref(res);
        return 0;
}

static void cache_remove(CniOp *op) {
        _cleanup_free_ char *path =
                cni_cache_path(op->runner->cache_dir, cni_network_name(op->net), op->container_id, op->ifname);
        if (path)
                (void) unlink(path);
}

static void op_step(CniOp *op);

static bool attachment_listed(const json_t *valid, const char *id, const char *ifname) {
        size_t i;
        json_t *v;
        json_array_foreach (valid, i, v)
                if (streq_ptr(json_string_value(json_object_get(v, "containerID")), id) &&
                    streq_ptr(json_string_value(json_object_get(v, "ifname")), ifname))
                        return true;
        return false;
}

/* After a successful GC, cached results of this network's attachments that are not valid any more go too, as
 * libcni's GCNetworkList does: they would otherwise feed a stale prevResult to a later DEL. */
static void cache_gc(CniOp *op) {
        _cleanup_free_ char *dir = NULL;
        const char *net = cni_network_name(op->net);
        if (asprintf(&dir, "%s/results", op->runner->cache_dir) < 0)
                return;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d)
                return;
        TAKE_FD(dfd); /* owned by d now */
        for (struct dirent *de; (de = readdir(d));) {
                const char *rest = startswith(de->d_name, net);
                if (!rest || rest[0] != '-')
                        continue;
                _cleanup_free_ char *path = NULL;
                _cleanup_json_ json_t *j = NULL;
                if (path_join(&path, dir, de->d_name) < 0 || jx_load_file(path, &j, NULL) < 0)
                        continue;
                if (!streq_ptr(json_string_value(json_object_get(j, "networkName")), net))
                        continue;
                if (!attachment_listed(op->valid_attachments, json_string_value(json_object_get(j, "containerId")),
                                       json_string_value(json_object_get(j, "ifName"))))
                        (void) unlink(path);
        }
        closedir(d);
}

/* A plugin (or the runner) failed while running op->running. */
static void op_fail(CniOp *op, int r, const CniError *pe) {
        if (op->running == op->cmd) {
                op->error = *pe;
                op->result = r < 0 ? r : -EPROTO;
        }
        op_reset_child(op);
        if (op->cmd == CNI_CMD_ADD) {
                if (op->running == CNI_CMD_ADD) {
                        /* Roll the whole chain back in reverse (SPEC.md "Network Configuration List Error
                         * Handling"), then report the ADD error. */
                        op->running = CNI_CMD_DEL;
                        op->step = cni_network_n_plugins(op->net);
                }
                op_step(op); /* during the rollback errors are ignored: release as much as possible */
                return;
        }
        op_finish(op);
}

/* The current plugin finished (exited and its stdout is at EOF). */
static void op_plugin_done(CniOp *op) {
        _cleanup_json_ json_t *out = NULL;
        bool ok = WIFEXITED(op->status) && WEXITSTATUS(op->status) == 0 && !op->timed_out;
        CniError pe = {};

        if (op->out_size > 0)
                out = json_loadb(op->out_buf, op->out_size, 0, NULL);
        if (!ok) {
                if (op->timed_out)
                        (void) cni_error(&pe, CNI_ERR_INTERNAL, "plugin %s (%s) timed out after %llu ms",
                                         op->plugin_type, cni_command_to_string(op->running),
                                         (unsigned long long) (op->runner->timeout_usec / USEC_PER_MSEC));
                else if (!out || cni_error_from_json(out, &pe) < 0)
                        (void) cni_error(&pe, CNI_ERR_INTERNAL, "plugin %s (%s) failed with %s %d and no error JSON",
                                         op->plugin_type, cni_command_to_string(op->running),
                                         WIFEXITED(op->status) ? "exit status" : "signal",
                                         WIFEXITED(op->status) ? WEXITSTATUS(op->status) : WTERMSIG(op->status));
                op_fail(op, op->timed_out ? -ETIMEDOUT : -EPROTO, &pe);
                return;
        }
        if (op->running == CNI_CMD_ADD) {
                if (!json_is_object(out)) {
                        (void) cni_error(&pe, CNI_ERR_DECODE, "plugin %s printed no result JSON", op->plugin_type);
                        op_fail(op, -EPROTO, &pe);
                        return;
                }
                json_decref(op->prev_result);
                op->prev_result = TAKE_PTR(out);
        }
        op_reset_child(op);
        op_step(op);
}

/* Reads what the plugin printed; true at EOF (or when reading must stop), false when the pipe is just empty. */
static bool drain_stdout(CniOp *op) {
        for (;;) {
                char *n = realloc(op->out_buf, op->out_size + 65536 + 1);
                if (!n)
                        return true;
                op->out_buf = n;
                ssize_t k = read(op->out_fd, op->out_buf + op->out_size, 65536);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return false;
                if (k <= 0)
                        return true;
                op->out_size += (size_t) k;
                op->out_buf[op->out_size] = 0;
                if (op->out_size > 16 * 1024 * 1024)
                        return true; /* a plugin this chatty is broken; stop reading, it gets SIGPIPE */
        }
}

static void close_stdout(CniOp *op) {
        op->out_eof = true;
        op->out_src = sd_event_source_disable_unref(op->out_src);
        op->out_fd = safe_close(op->out_fd);
}

static int on_stdout(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CniOp *op = userdata;
        if (!drain_stdout(op))
                return 0;
        close_stdout(op);
        if (op->exited)
                op_plugin_done(op);
        return 0;
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CniOp *op = userdata;
        siginfo_t si = {};
        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        op->exited = true;
        op->status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
        op->pid_src = sd_event_source_disable_unref(op->pid_src);
        op->timer_src = sd_event_source_disable_unref(op->timer_src);
        if (!op->out_eof) {
                /* The plugin has exited, so all it printed is in the pipe; a descendant still holding the write end
                 * must not keep us waiting (it would, forever: the timer is gone). Take what is there. */
                (void) drain_stdout(op);
                close_stdout(op);
        }
        op_plugin_done(op);
        return 0;
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CniOp *op = userdata;
        while (op->in_off < op->in_size) {
                ssize_t k = write(fd, op->in_buf + op->in_off, op->in_size - op->in_off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return 0;
                if (k < 0)
                        break; /* EPIPE: the plugin exited without reading; its exit status tells */
                op->in_off += (size_t) k;
        }
        op->in_src = sd_event_source_disable_unref(op->in_src);
        op->in_fd = safe_close(op->in_fd);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        CniOp *op = userdata;
        op->timed_out = true;
        (void) pidfd_send_signal(op->pidfd, SIGKILL, NULL, 0);
        return 0;
}

static int op_spawn(CniOp *op, const char *path, size_t i, CniError *e) {
        _cleanup_json_ json_t *conf = plugin_conf(op, i);
        _cleanup_strv_free_ char **env = plugin_env(op);
        _cleanup_close_ int in_r = -EBADF, out_w = -EBADF;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t mask;
        int p[2], r;

        if (!conf || !env || !(op->in_buf = json_dumps(conf, JSON_COMPACT)))
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        op->in_size = strlen(op->in_buf);
        if (pipe2(p, O_CLOEXEC) < 0)
                return cni_error(e, CNI_ERR_IO, "pipe: %s", strerror(errno));
        in_r = p[0], op->in_fd = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cni_error(e, CNI_ERR_IO, "pipe: %s", strerror(errno));
        op->out_fd = p[0], out_w = p[1];
        (void) fcntl(op->in_fd, F_SETFL, O_NONBLOCK);
        (void) fcntl(op->out_fd, F_SETFL, O_NONBLOCK);

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in_r, STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
        /* The daemon blocks signals for sd-event; a plugin starts with none blocked and default dispositions. */
        posix_spawnattr_init(&attr);
        sigemptyset(&mask);
        posix_spawnattr_setsigmask(&attr, &mask);
        sigfillset(&mask);
        sigdelset(&mask, SIGKILL);
        sigdelset(&mask, SIGSTOP);
        posix_spawnattr_setsigdefault(&attr, &mask);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        char *argv[] = {(char *) path, NULL};
        r = posix_spawn(&op->pid, path, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return cni_error(e, CNI_ERR_IO, "failed to execute %s: %s", path, strerror(r));
        /* Not reaped by anyone but us, so the pid cannot be reused before pidfd_open(). */
        op->pidfd = pidfd_open(op->pid, 0);
        if (op->pidfd < 0) {
                r = -errno;
                (void) kill(op->pid, SIGKILL);
                (void) waitpid(op->pid, NULL, 0);
                op->exited = true;
                return cni_error(e, CNI_ERR_IO, "pidfd_open: %s", strerror(-r));
        }
        sd_event *ev = op->runner->event;
        r = sd_event_add_io(ev, &op->pid_src, op->pidfd, EPOLLIN, on_pidfd, op);
        if (r >= 0)
                r = sd_event_add_io(ev, &op->out_src, op->out_fd, EPOLLIN, on_stdout, op);
        if (r >= 0)
                r = sd_event_add_io(ev, &op->in_src, op->in_fd, EPOLLOUT, on_stdin, op);
        if (r >= 0)
                r = sd_event_add_time_relative(ev, &op->timer_src, CLOCK_MONOTONIC, op->runner->timeout_usec, 0,
                                               on_timeout, op);
        if (r < 0)
                return cni_error(e, CNI_ERR_INTERNAL, "failed to watch plugin %s: %s", path, strerror(-r));
        return 0;
}

/* portmap and bandwidth only act on their capability arguments (bandwidth also on rates in its own configuration):
 * for an attachment that has none, their ADD hands prevResult back unchanged and their DEL has nothing to undo.
 * Executing them anyway costs two Go start-ups (~20-40 ms each here) on every pod start, so ADD skips them in that
 * case and records it in the cached result; DEL and CHECK then skip the same plugins (an attachment without a cache
 * entry runs the whole chain). A deliberate difference from libcni, which always runs the whole list. */
static bool plugin_pass_through(const CniOp *op, size_t i) {
        const char *type = cni_network_plugin_type(op->net, i);
        const json_t *conf = json_array_get(json_object_get(op->net->list, "plugins"), i);
        if (streq_ptr(type, "portmap")) {
                const json_t *pm = json_object_get(op->capability_args, "portMappings");
                return !json_is_array(pm) || json_array_size(pm) == 0;
        }
        if (streq_ptr(type, "bandwidth")) {
                static const char *const keys[] = {"ingressRate", "ingressBurst", "egressRate", "egressBurst"};
                for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                        if (json_object_get(conf, keys[k]))
                                return false;
                const json_t *bw = json_object_get(op->capability_args, "bandwidth");
                return !json_is_object(bw) || json_object_size(bw) == 0;
        }
        return false;
}

/* Starts the next plugin of the chain, or finishes. */
static void op_step(CniOp *op) {
        size_t n = cni_network_n_plugins(op->net);
        bool reverse = op->running == CNI_CMD_DEL;
        _cleanup_free_ char *path = NULL;
        CniError e = {};
        int r;

        if (reverse ? op->step == 0 : op->step >= n) {
                if (op->cmd == CNI_CMD_ADD && op->result >= 0) {
                        r = cache_write(op);
                        if (r < 0) {
                                /* Without the cache DEL would lack prevResult: undo rather than half-succeed. */
                                (void) cni_error(&e, CNI_ERR_IO, "failed to cache the result: %s", strerror(-r));
                                op_fail(op, r, &e);
                                return;
                        }
                } else if (op->cmd == CNI_CMD_DEL && op->result >= 0)
                        cache_remove(op);
                else if (op->cmd == CNI_CMD_GC && op->result >= 0)
                        cache_gc(op);
                op_finish(op);
                return;
        }
        size_t i = reverse ? op->step - 1 : op->step;
        const char *type = cni_network_plugin_type(op->net, i);
        op->step = reverse ? op->step - 1 : op->step + 1;
        if (op->cmd == CNI_CMD_ADD && op->running == CNI_CMD_ADD && i < 64 && plugin_pass_through(op, i))
                op->skipped |= UINT64_C(1) << i;
        if (i < 64 && (op->skipped & (UINT64_C(1) << i)) &&
            (op->running == CNI_CMD_ADD || op->running == CNI_CMD_DEL || op->running == CNI_CMD_CHECK)) {
                op_step(op);
                return;
        }
        r = cni_find_plugin(type, op->runner->search_path, &path);
        if (r < 0) {
                (void) cni_error(&e, CNI_ERR_INVALID_CONFIG, "failed to find plugin \"%s\" in path [%s]", type,
                                 op->runner->search_path);
                op_fail(op, r, &e);
                return;
        }
        op->plugin_type = strdup(type);
        r = op_spawn(op, path, i, &e);
        if (r < 0)
                op_fail(op, r, &e);
        /* else: continues in the io/pidfd callbacks */
}

static char *join_args(char **args) {
        size_t len = 1;
        for (char **a = args; a && *a; a++)
                len += strlen(*a) + 1;
        char *s = calloc(1, len), *p = s;
        for (char **a = args; s && a && *a; a++)
                p = stpcpy(stpcpy(p, p == s ? "" : ";"), *a);
        return s;
}

static int on_defer(sd_event_source *s, void *userdata) {
        CniOp *op = userdata;
        op->defer_src = sd_event_source_disable_unref(op->defer_src);
        /* GC and STATUS exist since 1.1.0; libcni skips them for older networks. */
        if ((op->cmd == CNI_CMD_GC || op->cmd == CNI_CMD_STATUS) &&
            cni_version_cmp(cni_network_version(op->net), "1.1.0") < 0) {
                op_finish(op);
                return 0;
        }
        /* "disableCheck": runtimes must not call CHECK for this list (SPEC.md); like libcni, that is success. */
        if (op->cmd == CNI_CMD_CHECK && json_is_true(json_object_get(op->net->list, "disableCheck"))) {
                op_finish(op);
                return 0;
        }
        op_step(op);
        return 0;
}

int cni_runner_start(CniRunner *r, CniCommand cmd, const CniNetwork *n, const CniRuntimeConf *rt, cni_done_t done,
                     void *userdata) {
        CniOp *op;
        int k;

        if (cmd < 0 || cmd >= _CNI_CMD_MAX || cmd == CNI_CMD_VERSION)
                return -EINVAL;
        op = calloc(1, sizeof(CniOp));
        if (!op)
                return -ENOMEM;
        op->pidfd = op->out_fd = op->in_fd = -EBADF;
        op->runner = r;
        op->next = r->ops;
        if (r->ops)
                r->ops->prev = op;
        r->ops = op;
        op->cmd = op->running = cmd;
        op->step = cmd == CNI_CMD_DEL ? cni_network_n_plugins(n) : 0; /* DEL runs the chain in reverse */
        op->done = done;
        op->userdata = userdata;
        op->net = calloc(1, sizeof(CniNetwork));
        if (!op->net || !(op->net->bytes = memdup(n->bytes, n->size + 1)) || !(op->net->source = strdup(n->source)) ||
            (rt->container_id && !(op->container_id = strdup(rt->container_id))) ||
            (rt->ifname && !(op->ifname = strdup(rt->ifname))) || (rt->netns && !(op->netns = strdup(rt->netns))) ||
            (rt->args && !(op->cni_args = join_args(rt->args)))) {
                op_free(op);
                return -ENOMEM;
        }
        op->net->size = n->size;
        op->net->list = json_incref(n->list); /* never modified: plugin_conf() works on copies */
        op->capability_args = json_incref(rt->capability_args);
        op->valid_attachments = json_incref(rt->valid_attachments);

        if (cmd == CNI_CMD_ADD || cmd == CNI_CMD_DEL || cmd == CNI_CMD_CHECK) {
                if (!cni_container_id_valid(op->container_id) || !cni_ifname_valid(op->ifname)) {
                        op_free(op);
                        return -EINVAL;
                }
        }
        if (cmd == CNI_CMD_DEL || cmd == CNI_CMD_CHECK) {
                k = cache_read(op, &op->prev_result);
                if (k < 0 && cmd == CNI_CMD_CHECK) {
                        op_free(op);
                        return -ENOENT; /* CHECK needs the ADD result (libcni: "no cached result") */
                }
        }
        /* Start from the loop, never from the caller's stack: the callback must not run before we return. */
        k = sd_event_add_defer(r->event, &op->defer_src, on_defer, op);
        if (k < 0) {
                op_free(op);
                return k;
        }
        return 0;
}

typedef struct SyncCtx {
        bool done;
        int r;
        json_t *result;
        CniError err;
        sd_event *event;
} SyncCtx;

static void sync_done(int r, const json_t *result, const CniError *err, void *userdata) {
        SyncCtx *c = userdata;
        c->done = true;
        c->r = r;
        if (result)
                c->result = json_deep_copy(result);
        if (err)
                c->err = *err;
        (void) sd_event_exit(c->event, 0);
}

int cni_run_sync(const CniRunnerOptions *o, CniCommand cmd, const CniNetwork *n, const CniRuntimeConf *rt,
                 json_t **ret_result, CniError *err) {
        _cleanup_(sd_event_unrefp) sd_event *ev = NULL;
        _cleanup_(cni_runner_freep) CniRunner *runner = NULL;
        SyncCtx c = {};
        int r;

        r = sd_event_new(&ev);
        if (r < 0)
                return r;
        c.event = ev;
        r = cni_runner_new(ev, o, &runner);
        if (r < 0)
                return r;
        r = cni_runner_start(runner, cmd, n, rt, sync_done, &c);
        if (r == -ENOENT && cmd == CNI_CMD_CHECK)
                return cni_error(err, CNI_ERR_INVALID_CONFIG, "no cached result for %s/%s: was ADD run?",
                                 strempty(rt->container_id), strempty(rt->ifname));
        if (r < 0)
                return r;
        r = sd_event_loop(ev);
        if (r < 0)
                return r;
        if (c.r < 0) {
                json_decref(c.result);
                if (err)
                        *err = c.err;
                return c.r;
        }
        if (ret_result)
                *ret_result = c.result;
        else
                json_decref(c.result);
        return 0;
}
