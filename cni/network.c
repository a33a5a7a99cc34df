/* SPDX-License-Identifier: Apache-2.0 */
/* Network configuration: loading the conf dir as libcni does, and the default conflist (cni/runner.h). */
#include "cni/runner-internal.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cni/delegate.h"
#include "cni/ipam.h"
#include "common/fileio.h"
#include "common/in-addr.h"
#include "common/json-util.h"
#include "nodelet-paths.h"

static void *memdup(const void *p, size_t n) {
        void *q = malloc(n);
        return q ? memcpy(q, p, n) : NULL;
}

CniNetwork *cni_network_free(CniNetwork *n) {
        if (!n)
                return NULL;
        json_decref(n->list);
        free(n->bytes);
        free(n->source);
        free(n);
        return NULL;
}

int cni_network_copy(const CniNetwork *n, CniNetwork **ret) {
        _cleanup_(cni_network_freep) CniNetwork *c = calloc(1, sizeof(CniNetwork));
        if (!c || !(c->bytes = memdup(n->bytes, n->size + 1)) || !(c->source = strdup(n->source)))
                return -ENOMEM;
        c->size = n->size;
        c->list = json_incref(n->list);
        *ret = TAKE_PTR(c);
        return 0;
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

char *const *cni_default_bin_dirs(void) {
        static char *const dirs[] = {(char *) NODELET_CNI_BINDIR, (char *) "/usr/lib/cni", NULL};
        return dirs;
}

char *cni_search_path(char *const *bin_dirs) {
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
        _cleanup_free_ char *sp = cni_search_path(bin_dirs), *path = NULL;
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
        bin_dirs = bin_dirs ?: cni_default_bin_dirs();
        r = cni_network_load(conf_dir, &existing, NULL);
        if (r >= 0 || r != -ENOENT)
                return 1; /* the operator's configuration, valid or not, is theirs: never overwrite it */
        if (!ranges || !routes)
                return -ENOMEM;
        for (char *const *c = pod_cidrs; c && *c; c++) {
                InPrefix p;
                if (in_prefix_parse(*c, IN_PARSE_UNMAP_V4, &p) < 0)
                        return error_set(e, -EINVAL, "invalid pod CIDR \"%s\"", *c);
                p.addr = in_prefix_first(&p);
                char b[IN_PREFIX_STRLEN];
                (void) json_array_append_new(ranges, json_pack("[{s:s}]", "subnet", in_prefix_format(&p, b)));
                (void) json_array_append_new(
                        routes, json_pack("{s:s}", "dst", p.addr.family == AF_INET ? "0.0.0.0/0" : "::/0"));
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
