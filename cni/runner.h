/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The runtime side of CNI, for the agent (what libcni does for containerd and CRI-O):
 *
 *  - cni_network_load(): the lexically first *.conf / *.conflist / *.json in the conf dir (default /etc/cni/net.d),
 *    a single-plugin .conf wrapped into a list as libcni's ConfListFromConf() does;
 *  - cni_write_default_conflist(): when the conf dir has no network, writes 10-nodelet.conflist for the node's pod
 *    CIDRs: nodelet-bridge + nodelet-ipam, then portmap and bandwidth when those plugins are installed;
 *  - CniRunner: runs a plugin chain for ADD / CHECK / DEL / GC / STATUS without ever blocking the daemon's sd-event
 *    loop: each plugin is spawned with pipes, its stdout is read by an io source, its exit is seen through a pidfd
 *    source, a timer enforces the timeout (SIGKILL), and the callback runs on the loop when the chain is done.
 *    Plugins are searched in the bin dirs (default /opt/cni/bin, then /usr/lib/cni where Debian installs the
 *    reference plugins). ADD passes prevResult along the chain and caches the final result like libcni
 *    (<cacheDir>/results/<network>-<containerID>-<ifname>, kind cniCacheV1); CHECK and DEL pass the cached result
 *    as prevResult; DEL runs the chain in reverse and removes the cache. A failed ADD is rolled back with a DEL of
 *    the whole chain (SPEC.md "Network Configuration List Error Handling"), so nothing is left behind.
 *    Capabilities (portMappings, bandwidth, ips, ...) reach a plugin in runtimeConfig only when its configuration
 *    enables them in "capabilities".
 *  - cni_run_sync(): a private loop around the async API, for nodeletctl and tests. */

#include <jansson.h>
#include <systemd/sd-event.h>

#include "cni/skel.h"
#include "common/error.h"

#define CNI_DEFAULT_CONF_DIR "/etc/cni/net.d"
#define CNI_DEFAULT_CACHE_DIR "/var/lib/cni"
#define CNI_DEFAULT_TIMEOUT_USEC (60 * USEC_PER_SEC)

typedef struct CniNetwork CniNetwork;

int cni_network_parse(const char *text, size_t size, const char *source, CniNetwork **ret, ErrorBuf *e);
/* -ENOENT when the directory holds no network configuration. */
int cni_network_load(const char *conf_dir, CniNetwork **ret, ErrorBuf *e);
CniNetwork *cni_network_free(CniNetwork *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(CniNetwork *, cni_network_free)
const char *cni_network_name(const CniNetwork *n);
const char *cni_network_version(const CniNetwork *n);
const char *cni_network_source(const CniNetwork *n);
size_t cni_network_n_plugins(const CniNetwork *n);
const char *cni_network_plugin_type(const CniNetwork *n, size_t i);

/* Writes <conf_dir>/10-nodelet.conflist unless the directory already holds a network; 0 = written,
 * 1 = left alone. pod_cidrs: one IPv4 and/or one IPv6 CIDR. bin_dirs NULL = defaults. */
int cni_write_default_conflist(const char *conf_dir, char *const *pod_cidrs, char *const *bin_dirs, ErrorBuf *e);
/* The same with the IPAM lease directory (nodelet-ipam's dataDir; NULL = its default /var/lib/cni/networks). */
int cni_write_default_conflist_full(const char *conf_dir, char *const *pod_cidrs, char *const *bin_dirs,
                                    const char *ipam_data_dir, ErrorBuf *e);

typedef struct CniRunnerOptions {
        char **bin_dirs;       /* NULL = /opt/cni/bin, /usr/lib/cni */
        const char *cache_dir; /* NULL = /var/lib/cni */
        uint64_t timeout_usec; /* per plugin execution; 0 = 60 s */
} CniRunnerOptions;

typedef struct CniRuntimeConf {
        const char *container_id;
        const char *netns; /* may be NULL for DEL and GC */
        const char *ifname;
        char **args;               /* CNI_ARGS as "K=V" strings, may be NULL */
        json_t *capability_args;   /* {"portMappings": [...], "bandwidth": {...}}, may be NULL */
        json_t *valid_attachments; /* GC only: [{"containerID": ..., "ifname": ...}] */
} CniRuntimeConf;

typedef struct CniRunner CniRunner;

/* r: 0 or negative errno; result: the ADD result (borrowed for the callback's duration), NULL otherwise;
 * err: the plugin's (or runner's) error when r < 0. */
typedef void (*cni_done_t)(int r, const json_t *result, const CniError *err, void *userdata);

int cni_runner_new(sd_event *event, const CniRunnerOptions *o, CniRunner **ret);
/* Kills running plugins (their callbacks are not called) and frees. */
CniRunner *cni_runner_free(CniRunner *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(CniRunner *, cni_runner_free)

/* Starts cmd (ADD, CHECK, DEL, GC or STATUS) for the network; the network is copied, rt is copied. */
int cni_runner_start(CniRunner *r, CniCommand cmd, const CniNetwork *n, const CniRuntimeConf *rt, cni_done_t done,
                     void *userdata);

/* Runs cmd on a private event loop; ret_result (ADD) may be NULL. */
int cni_run_sync(const CniRunnerOptions *o, CniCommand cmd, const CniNetwork *n, const CniRuntimeConf *rt,
                 json_t **ret_result, CniError *err);

/* The pod's addresses from an ADD result, for the pod status: the ips[] whose "interface" is a sandbox interface
 * (all ips when the result names no interfaces), without prefix length, IPv4 first as containerd orders them so
 * the primary pod IP is IPv4 on dual-stack nodes. Returns the number of addresses. */
int cni_result_pod_ips(const json_t *result, char ***ret_ips);

/* The cache file of an attachment, as libcni names it; NULL on OOM. */
char *cni_cache_path(const char *cache_dir, const char *network, const char *container_id, const char *ifname);
