/* SPDX-License-Identifier: Apache-2.0 */
/* Results: the pod's addresses from an ADD result, and libcni's result cache (kind cniCacheV1) that CHECK and DEL
 * read their prevResult from. */
#include "cni/runner-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>

#include "common/fileio.h"
#include "common/in-addr.h"
#include "common/json-util.h"

int cni_result_pod_ips(const json_t *result, char ***ret_ips) {
        json_t *ifaces = json_object_get(result, "interfaces"), *ips = json_object_get(result, "ips"), *v;
        size_t n = 0, i;
        char **l = calloc(json_array_size(ips) + 1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1)
                json_array_foreach (ips, i, v) {
                        json_t *idx = json_object_get(v, "interface");
                        InPrefix p;
                        char b[IN_ADDR_STRLEN];
                        if (in_prefix_parse(json_string_value(json_object_get(v, "address")), IN_PARSE_UNMAP_V4, &p) <
                                    0 ||
                            p.addr.family != family)
                                continue;
                        if (json_is_integer(idx)) {
                                json_t *iface = json_array_get(ifaces, (size_t) json_integer_value(idx));
                                if (isempty(json_string_value(json_object_get(iface, "sandbox"))))
                                        continue;
                        }
                        if (!(l[n] = strdup(in_addr_format(&p.addr, b)))) {
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

int cni_cache_write(const CniAttachment *a, const json_t *result, uint64_t skipped) {
        _cleanup_free_ char *path = cni_cache_path(a->cache_dir, cni_network_name(a->net), a->container_id, a->ifname);
        _cleanup_free_ char *config = base64_encode(a->net->bytes, a->net->size), *text = NULL, *dir = NULL;
        _cleanup_json_ json_t *args = json_array(), *j = NULL;

        if (!path || !config || !args)
                return -ENOMEM;
        for (const char *p = a->cni_args; !isempty(p);) {
                const char *semi = strchrnul(p, ';'), *eq = memchr(p, '=', semi - p);
                if (eq)
                        (void) json_array_append_new(
                                args, json_pack("[s%, s%]", p, (size_t) (eq - p), eq + 1, (size_t) (semi - eq - 1)));
                p = *semi ? semi + 1 : NULL;
        }
        j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:O, s:O?, s:O}", "kind", "cniCacheV1", "containerId",
                      a->container_id, "config", config, "ifName", a->ifname, "networkName", cni_network_name(a->net),
                      "netns", a->netns, "cniArgs", args, "capabilityArgs", a->capability_args, "result", result);
        if (j && skipped) {
                /* Our own key (libcni ignores unknown ones): DEL and CHECK skip the same plugins. */
                json_t *sk = json_array();
                for (size_t i = 0; i < 64; i++)
                        if (skipped & (UINT64_C(1) << i))
                                (void) json_array_append_new(sk, json_integer((json_int_t) i));
                (void) json_object_set_new(j, "nodeletSkippedPlugins", sk);
        }
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!text || asprintf(&dir, "%s/results", a->cache_dir) < 0)
                return -ENOMEM;
        int r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, strlen(text), 0600, false);
}

int cni_cache_read(const CniAttachment *a, json_t **ret_result, uint64_t *skipped) {
        _cleanup_free_ char *path = cni_cache_path(a->cache_dir, cni_network_name(a->net), a->container_id, a->ifname);
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
                        *skipped |= UINT64_C(1) << json_integer_value(v);
        *ret_result = json_incref(res);
        return 0;
}

void cni_cache_remove(const CniAttachment *a) {
        _cleanup_free_ char *path = cni_cache_path(a->cache_dir, cni_network_name(a->net), a->container_id, a->ifname);
        if (path)
                (void) unlink(path);
}

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
void cni_cache_gc(const char *cache_dir, const CniNetwork *net, const json_t *valid_attachments) {
        _cleanup_free_ char *dir = NULL;
        const char *name = cni_network_name(net);
        if (asprintf(&dir, "%s/results", cache_dir) < 0)
                return;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d)
                return;
        TAKE_FD(dfd); /* owned by d now */
        for (struct dirent *de; (de = readdir(d));) {
                const char *rest = startswith(de->d_name, name);
                if (!rest || rest[0] != '-')
                        continue;
                _cleanup_free_ char *path = NULL;
                _cleanup_json_ json_t *j = NULL;
                if (path_join(&path, dir, de->d_name) < 0 || jx_load_file(path, &j, NULL) < 0)
                        continue;
                if (!streq_ptr(json_string_value(json_object_get(j, "networkName")), name))
                        continue;
                if (!attachment_listed(valid_attachments, json_string_value(json_object_get(j, "containerId")),
                                       json_string_value(json_object_get(j, "ifName"))))
                        (void) unlink(path);
        }
        closedir(d);
}
