/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* netproxy: Services + EndpointSlices → nftables, the kube-proxy half of nodelet.
 *
 * The caller feeds objects (jansson trees, from informers or from files) and calls netproxy_sync(), which brings
 * nodelet's own tables (`table ip nodelet` and `table ip6 nodelet`) to the desired state in ONE netlink transaction.
 * The library keeps a mirror of what it committed, so an incremental sync sends only the elements and chains that
 * changed and never lists the kernel. The first sync, the sync after a failed transaction and a sync after
 * netproxy_verify() found tampering are full: the tables are deleted and rebuilt atomically in one transaction.
 * Other tables are never touched. See docs/netproxy.md for the ruleset. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "netproxy/model.h"

typedef struct NetProxy NetProxy;

typedef struct NetProxyConfig {
        const char *table;          /* default "nodelet" */
        InPrefix cluster_cidr[2];   /* --cluster-cidr, one per family (IPv4, IPv6); addr.family 0 = unset */
        InPrefix service_cidr[2];   /* --service-cidr: unallocated VIPs inside are dropped */
        InAddr *nodeport_addresses; /* --nodeport-addresses (resolved to addresses) */
        size_t n_nodeport_addresses;
        bool masquerade_all;
        const char *hostname; /* endpoints with this nodeName are local */
        bool dry_run;         /* build batches but do not send them (unit tests) */
} NetProxyConfig;

typedef struct NetProxyMetrics {
        /* kube-proxy's sync_full_proxy_rules_duration_seconds / sync_partial_proxy_rules_duration_seconds */
        uint64_t full_syncs, partial_syncs, sync_failures;
        bool last_sync_full;
        uint64_t last_full_sync_usec, last_partial_sync_usec, max_partial_sync_usec;
        uint64_t total_full_sync_usec, total_partial_sync_usec;
        /* network_programming_duration: from the oldest unapplied object change to its commit */
        uint64_t last_programming_latency_usec, max_programming_latency_usec;
        uint64_t verifications, repairs;
        /* what the last sync sent and what is committed now */
        uint64_t last_elements_added, last_elements_deleted, last_chains_changed, last_batch_bytes;
        uint64_t elements, rules, chains, sets;
        uint64_t services, endpoint_slices, conntrack_flushed;
} NetProxyMetrics;

enum {
        NETPROXY_SYNCED_SERVICES = 1 << 0,
        NETPROXY_SYNCED_ENDPOINT_SLICES = 1 << 1,
};

int netproxy_new(const NetProxyConfig *config, NetProxy **ret);
NetProxy *netproxy_free(NetProxy *np);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetProxy *, netproxy_free)

/* Adds or replaces a Service / EndpointSlice (by kind); returns 1 when something changed, 0 when the object is
 * equal to the one already known, or a negative errno (bad object; e names kind/namespace/name and the field). */
int netproxy_update_object(NetProxy *np, const json_t *obj, ErrorBuf *e);
int netproxy_delete_object(NetProxy *np, const char *kind, const char *ns, const char *name);
/* Programming starts only once both kinds were listed (like kube-proxy waiting for its informers). */
void netproxy_set_synced(NetProxy *np, unsigned what);

/* Applies pending changes in one transaction. Returns 1 when a transaction was committed, 0 when nothing was to do
 * (or not synced yet), negative errno on failure (the next sync is then a full one). */
int netproxy_sync(NetProxy *np);
/* Asks for a full resync at the next netproxy_sync(). */
void netproxy_request_full_sync(NetProxy *np);
/* Checks that the kernel still holds what was committed (cheap when the ruleset generation did not move; otherwise
 * compares rule and set counts of our tables). Returns 1 and schedules a full sync when it found tampering. */
int netproxy_verify(NetProxy *np);

/* Deletes nodelet's tables in both families (missing tables are fine). */
int netproxy_cleanup(const char *table);

const NetProxyMetrics *netproxy_metrics(NetProxy *np);
void netproxy_metrics_print(const NetProxyMetrics *m, FILE *f);

/* Number of ready local endpoints of a Service (what the healthCheckNodePort responder reports); -ENOENT if the
 * Service is unknown. */
int netproxy_local_endpoints(NetProxy *np, const char *ns, const char *name);

/* The nodeletctl verbs: `nodeletctl proxy sync|cleanup ...`. */
int proxy_ctl_main(int argc, char *argv[]);

/* Calls cb for every Service with a healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local). */
typedef void (*netproxy_health_fn)(const char *ns, const char *name, uint16_t port, int local_endpoints,
                                   void *userdata);
void netproxy_foreach_health_check(NetProxy *np, netproxy_health_fn cb, void *userdata);

/* The wanted elements and dynamic chains as sorted text lines, e.g.
 *   "ip frontends 10.96.0.10 . tcp . 80 : goto lb-3"
 *   "ip ep-tcp 10.96.0.10 . 80 . 0 : 10.244.1.2 . 8080"
 *   "ip chain lb-3"
 * for `nodeletctl proxy sync --dry-run -v` and for tests. Caller frees. */
int netproxy_describe(NetProxy *np, char **ret);
