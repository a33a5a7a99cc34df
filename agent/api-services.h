/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Services and EndpointSlices from the API server drive netproxy inside the daemon: the kube-proxy half of nodelet
 * in cluster mode (agent/api-services.c, docs/agent.md "Services from the API server").
 *
 * Two informers (all namespaces, paged lists, label selector as kube-proxy's) hand objects to netproxy one by one
 * as pages and watch events arrive; nothing keeps a list. Programming starts once both were listed, and is
 * coalesced like kube-proxy's --min-sync-period: a burst of changes costs one nftables transaction. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/apiclient.h"
#include "common/curl-glue.h"
#include "common/error.h"
#include "common/macro.h"
#include "netproxy/netproxy.h"

typedef struct ApiServices ApiServices;

/* Strings and lists are borrowed for the duration of api_services_new() only. */
typedef struct ApiServicesConfig {
        const char *node_name;          /* endpoints with this nodeName are local (externalTrafficPolicy Local, ...) */
        char **node_ips;                /* the node's IPs: the NodePort addresses when nodeport_addresses is empty */
        char **cluster_cidrs;           /* --cluster-cidr: at most one per family; NULL/empty = none */
        char **service_cidrs;           /* --service-cluster-ip-range */
        char **nodeport_addresses;      /* --nodeport-addresses: CIDRs matched against the interfaces' addresses, or
                                    * "primary" (= the node's IPs, also the default) */
        bool masquerade_all;            /* --masquerade-all */
        uint64_t min_sync_period_usec;  /* --proxy-min-sync-period; 0: every change is programmed at once */
        uint64_t verify_period_usec;    /* 0: 30 s (kube-proxy's syncPeriod): checks the tables, retries */
        uint64_t full_sync_period_usec; /* 0: 1 h (kube-proxy's periodic full resync) */
        const char *table;              /* NULL: "nodelet" */
        const char *proxy_kubeconfig;   /* --proxy-kubeconfig: its own client on glue; NULL/"": node_api */
        double api_qps;                 /* the own client's rate limit (0: the API client's default) */
        unsigned api_burst;
} ApiServicesConfig;

/* Starts both informers. node_api (the node's client) and glue are borrowed and must outlive the result. Fails
 * only on bad configuration (an unreadable --proxy-kubeconfig: -EINVAL etc. with the message in err) or -ENOMEM;
 * what goes wrong later (403, nftables not permitted, bad objects) is logged and retried, never fatal. */
int api_services_new(sd_event *e, CurlGlue *glue, ApiClient *node_api, const ApiServicesConfig *cfg, ApiServices **ret,
                     ErrorBuf *err);
/* Stops the informers and the healthCheckNodePort servers. The rules stay in the kernel (like kube-proxy's on
 * exit), so Services keep working while the daemon restarts. */
ApiServices *api_services_free(ApiServices *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiServices *, api_services_free)

/* netproxy's sync counters, for /metrics. */
const NetProxyMetrics *api_services_metrics(ApiServices *s);

/* Exclusions as kube-proxy's (pkg/proxy: ShouldSkipService and its informers' label selector), shared with the
 * tests: a Service without a cluster IP (headless, "None") or of type ExternalName, and any object labelled
 * service.kubernetes.io/service-proxy-name (another proxy's) or service.kubernetes.io/headless. */
bool api_services_skip_object(const json_t *obj, bool is_service);
