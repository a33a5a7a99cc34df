/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What the three parts of the CNI runtime side share (not for other modules): cni/network.c (network
 * configuration, the default conflist), cni/cache.c (libcni's result cache) and cni/runner.c (running a chain). */

#include <stdint.h>

#include "cni/runner.h"

struct CniNetwork {
        json_t *list; /* {"cniVersion", "name", "plugins": [...], ...} */
        char *bytes;  /* the file as read: libcni caches these bytes */
        size_t size;
        char *source;
};

/* A copy that shares the list (never modified: plugin configurations are built on copies). */
int cni_network_copy(const CniNetwork *n, CniNetwork **ret);

/* NODELET_CNI_BINDIR (the build's plugin directory, /opt/cni/bin by default), then /usr/lib/cni where Debian
 * installs the reference plugins. */
char *const *cni_default_bin_dirs(void);
/* The dirs joined with ':', as CNI_PATH spells them; NULL on OOM. */
char *cni_search_path(char *const *bin_dirs);

/* One attachment's entry in the result cache (<cacheDir>/results/<network>-<containerID>-<ifname>). */
typedef struct CniAttachment {
        const char *cache_dir;
        const CniNetwork *net;
        const char *container_id, *ifname, *netns;
        const char *cni_args; /* "K=V;K=V" as CNI_ARGS spells them, may be NULL */
        const json_t *capability_args;
} CniAttachment;

/* Writes the cniCacheV1 entry with the chain's result; skipped: the plugins (by index) that did not run. */
int cni_cache_write(const CniAttachment *a, const json_t *result, uint64_t skipped);
/* The cached result (-ENOENT when there is none); the skipped plugins are added to *skipped. */
int cni_cache_read(const CniAttachment *a, json_t **ret_result, uint64_t *skipped);
void cni_cache_remove(const CniAttachment *a);
/* Removes the cached results of the network's attachments that are not in valid_attachments (libcni's GC). */
void cni_cache_gc(const char *cache_dir, const CniNetwork *net, const json_t *valid_attachments);
