/* SPDX-License-Identifier: Apache-2.0 */
/* Services and EndpointSlices from the API server → netproxy: kube-proxy's service and endpointslice config
 * handlers and its sync runner, on the daemon's loop.
 *
 * - Two informers, /api/v1/services and /apis/discovery.k8s.io/v1/endpointslices in all namespaces, with
 *   kube-proxy's label selector (no service-proxy-name, no headless label). Each object goes to netproxy as it
 *   arrives, item by item from each list page, so netproxy's compact model is all that is kept.
 * - Nothing is programmed before both lists are complete (netproxy_set_synced()), then every change asks for a sync
 *   and syncs are spaced by at least min_sync_period (kube-proxy's BoundedFrequencyRunner with minSyncPeriod): the
 *   first change after a quiet period is programmed at once, a burst becomes one transaction.
 * - Every verify period (kube-proxy's syncPeriod, 30 s) netproxy_verify() checks that our tables are intact
 *   (tampering → full resync) and a failed sync is retried; every full sync period (1 h) everything is rewritten.
 *   Failed syncs (e.g. nftables not permitted) back off from 1 s to 30 s; pods are never affected.
 * - A bad object is logged once per resourceVersion with its namespace/name and field and left out (an earlier
 *   good version of it is removed); the others are served.
 * - healthCheckNodePorts are served on the loop by netproxy's HealthServers, updated after each sync. */
#include <ifaddrs.h>
#include <stdio.h>

#include "agent/api-services.h"
#include "agent/informer.h"
#include "common/json-util.h"
#include "common/log.h"
#include "netproxy/healthcheck.h"
#include "netproxy/smap.h"

#define VERIFY_PERIOD_DEFAULT_USEC (30 * USEC_PER_SEC)
#define FULL_SYNC_PERIOD_DEFAULT_USEC (3600 * USEC_PER_SEC)
#define RETRY_MIN_USEC USEC_PER_SEC
#define RETRY_MAX_USEC (30 * USEC_PER_SEC)

#define LABEL_SERVICE_PROXY_NAME "service.kubernetes.io/service-proxy-name"
#define LABEL_HEADLESS "service.kubernetes.io/headless"
/* kube-proxy's informers select with exactly this (cmd/kube-proxy/app/server.go). */
#define PROXY_LABEL_SELECTOR "!" LABEL_SERVICE_PROXY_NAME ",!" LABEL_HEADLESS

/* A bad object and the resourceVersion whose error was logged. */
typedef struct BadObject {
        char *key; /* "Service/ns/name" */
        char *rv;
} BadObject;

struct ApiServices {
        sd_event *event;
        ApiClient *api;     /* the client the informers use: own_api or the node's */
        ApiClient *own_api; /* --proxy-kubeconfig */
        char *identity;     /* for messages: "the node's credentials" or "the --proxy-kubeconfig credentials" */
        NetProxy *np;
        HealthServers *health;
        Informer *services, *slices;
        unsigned synced; /* NETPROXY_SYNCED_* */
        sd_event_source *sync_timer, *verify_timer;
        uint64_t min_sync_usec, verify_usec, full_usec;
        uint64_t started_usec;
        uint64_t last_sync_usec; /* start of the last sync attempt (monotonic) */
        uint64_t last_full_usec;
        uint64_t retry_usec; /* current backoff after failed syncs; 0 = the last sync worked */
        bool committed_once;
        bool forbidden_logged[2]; /* [0] services, [1] endpointslices */
        SMap bad;
};

/* ---- exclusions ---- */

bool api_services_skip_object(const json_t *obj, bool is_service) {
        json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
        if (json_object_get(labels, LABEL_SERVICE_PROXY_NAME) || json_object_get(labels, LABEL_HEADLESS))
                return true;
        if (!is_service)
                return false;
        json_t *spec = json_object_get(obj, "spec");
        const char *type = json_string_value(json_object_get(spec, "type"));
        const char *ip = json_string_value(json_object_get(spec, "clusterIP"));
        /* kube-proxy's ShouldSkipService: no cluster IP (headless "None", or unset) or ExternalName. */
        return streq_ptr(type, "ExternalName") || isempty(ip) || streq(ip, "None");
}

/* ---- bad objects: one message per resourceVersion ---- */

static void bad_forget(ApiServices *s, const char *key) {
        BadObject *b = smap_remove(&s->bad, key);
        if (b) {
                free(b->key);
                free(b->rv);
                free(b);
        }
}

/* Returns true when this resourceVersion of the object was not reported yet (and remembers it). */
static bool bad_remember(ApiServices *s, const char *key, const char *rv) {
        BadObject *b = smap_get(&s->bad, key);
        if (b && streq_ptr(b->rv, rv))
                return false;
        if (!b) {
                b = calloc(1, sizeof(BadObject));
                if (!b || !(b->key = strdup(key)) || smap_put(&s->bad, b->key, b) < 0) {
                        if (b)
                                free(b->key);
                        free(b);
                        return true; /* out of memory: rather log twice than never */
                }
        }
        free(b->rv);
        b->rv = rv ? strdup(rv) : NULL;
        return true;
}

/* ---- syncing ---- */

/* The loop's time (one reading per iteration), not common/time-util.h's clock reading. */
static uint64_t loop_now(ApiServices *s) {
        uint64_t now = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        return now;
}

static bool all_synced(const ApiServices *s) {
        return s->synced == (NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
}

/* Arms the sync timer for `when` unless it already fires earlier. */
static void schedule_at(ApiServices *s, uint64_t when) {
        int enabled = SD_EVENT_OFF;
        uint64_t cur = 0;
        (void) sd_event_source_get_enabled(s->sync_timer, &enabled);
        (void) sd_event_source_get_time(s->sync_timer, &cur);
        if (enabled != SD_EVENT_OFF && cur <= when)
                return;
        (void) sd_event_source_set_time(s->sync_timer, when);
        (void) sd_event_source_set_enabled(s->sync_timer, SD_EVENT_ONESHOT);
}

/* Something changed: sync now, or once min_sync_period has passed since the last sync (kube-proxy's Run() of the
 * BoundedFrequencyRunner), or when the failure backoff ends. */
static void request_sync(ApiServices *s) {
        if (!all_synced(s))
                return;
        uint64_t when = s->last_sync_usec ? s->last_sync_usec + MAX(s->min_sync_usec, s->retry_usec) : 0;
        schedule_at(s, MAX(when, loop_now(s)));
}

static void do_sync(ApiServices *s) {
        uint64_t now = loop_now(s);
        s->last_sync_usec = now;
        int r = netproxy_sync(s->np);
        if (r < 0) {
                s->retry_usec = s->retry_usec ? MIN(s->retry_usec * 2, RETRY_MAX_USEC) : RETRY_MIN_USEC;
                log_warning_errno(r, "Services: programming nftables failed, retrying in %llu s: %m",
                                  (unsigned long long) (s->retry_usec / USEC_PER_SEC));
                schedule_at(s, now + s->retry_usec);
        } else {
                if (s->retry_usec)
                        log_info("Services: nftables programmed again");
                s->retry_usec = 0;
        }
        if (r > 0) {
                const NetProxyMetrics *m = netproxy_metrics(s->np);
                if (m->last_sync_full)
                        s->last_full_usec = now;
                if (!s->committed_once)
                        /* bench/agent/bench-services.py waits for this line. */
                        log_info("Services: ruleset committed (%s sync of %llu Services, %llu EndpointSlices, %llu "
                                 "elements in %.3f s) %.3f s after start",
                                 m->last_sync_full ? "full" : "partial", (unsigned long long) m->services,
                                 (unsigned long long) m->endpoint_slices, (unsigned long long) m->elements,
                                 (double) (m->last_sync_full ? m->last_full_sync_usec : m->last_partial_sync_usec) /
                                         USEC_PER_SEC,
                                 (double) (loop_now(s) - s->started_usec) / USEC_PER_SEC);
                else
                        log_debug("Services: %s sync, +%llu -%llu elements, %llu chains changed",
                                  m->last_sync_full ? "full" : "partial", (unsigned long long) m->last_elements_added,
                                  (unsigned long long) m->last_elements_deleted,
                                  (unsigned long long) m->last_chains_changed);
                s->committed_once = true;
        }
        /* Local endpoint counts may have changed; ports that could not be opened are retried. */
        if (r >= 0 && health_servers_update(s->health, s->np) > 0)
                log_warning("Services: some healthCheckNodePorts could not be opened, retrying later");
}

static int on_sync_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        do_sync(userdata);
        return 0;
}

static int on_verify_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        ApiServices *s = userdata;
        uint64_t now = loop_now(s);
        if (s->committed_once && netproxy_verify(s->np) > 0)
                log_warning("Services: our nftables tables were modified behind our back, resyncing");
        if (s->committed_once && now - s->last_full_usec >= s->full_usec)
                netproxy_request_full_sync(s->np); /* kube-proxy's hourly full resync */
        /* Applies what verification or the full resync asked for, retries a failed sync; a no-op otherwise. */
        if (all_synced(s) && !s->retry_usec)
                schedule_at(s, now);
        (void) sd_event_source_set_time(es, now + s->verify_usec);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
        return 0;
}

/* ---- the informers ---- */

static void on_event(Informer *inf, InformerEventType type, json_t *obj, void *userdata) {
        ApiServices *s = userdata;
        bool is_service = inf == s->services;
        const char *kind = is_service ? "Service" : "EndpointSlice";
        json_t *md = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
        char key[600];
        int r;

        if (isempty(ns) || isempty(name))
                return;
        snprintf(key, sizeof key, "%s/%s/%s", kind, ns, name);
        if (type == INFORMER_DELETED || api_services_skip_object(obj, is_service)) {
                /* Skipped objects are deleted too: a Service may have become headless or another proxy's. */
                bad_forget(s, key);
                r = netproxy_delete_object(s->np, kind, ns, name);
        } else {
                /* List items come without kind; a shallow copy gets it (the page's tree is not ours to change). */
                _cleanup_json_ json_t *o = json_copy(obj);
                ErrorBuf e = {};
                if (!o || json_object_set_new(o, "kind", json_string(kind)) < 0) {
                        log_warning("Services: out of memory handling %s %s/%s; the next relist retries", kind, ns,
                                    name);
                        return;
                }
                r = netproxy_update_object(s->np, o, &e);
                if (r == -EOPNOTSUPP) {
                        /* FQDN EndpointSlices: not for a proxy, as kube-proxy ignores them. */
                        log_debug("Services: %s, ignored", error_message(&e, r));
                        r = netproxy_delete_object(s->np, kind, ns, name);
                } else if (r < 0) {
                        if (r == -ENOMEM)
                                log_warning("Services: out of memory handling %s %s/%s", kind, ns, name);
                        else if (bad_remember(s, key, rv))
                                /* netproxy's message names kind, namespace/name and the field. */
                                log_error("Services: %s (resourceVersion %s): not programmed", error_message(&e, r),
                                          strna(rv));
                        r = netproxy_delete_object(s->np, kind, ns, name);
                } else
                        bad_forget(s, key);
        }
        if (r > 0)
                request_sync(s);
}

static void on_synced(Informer *inf, void *userdata) {
        ApiServices *s = userdata;
        bool is_service = inf == s->services;
        log_info("Services: %zu %s listed", informer_n_objects(inf), is_service ? "Services" : "EndpointSlices");
        s->synced |= is_service ? NETPROXY_SYNCED_SERVICES : NETPROXY_SYNCED_ENDPOINT_SLICES;
        netproxy_set_synced(s->np, s->synced);
        request_sync(s);
}

static void on_error(Informer *inf, int r, const char *message, void *userdata) {
        ApiServices *s = userdata;
        bool slices = inf == s->slices;
        const char *what = slices ? "endpointslices" : "services";
        if (r == -EPERM) {
                /* The Node authorizer lets system:node:<name> list Services but not EndpointSlices. Said once; the
                 * informer keeps retrying with its capped backoff, so granting access later just works. */
                if (!s->forbidden_logged[slices])
                        log_error("Services: %s may not list %s (%s): use --proxy-kubeconfig with the kube-proxy "
                                  "identity (user system:kube-proxy, bound to system:node-proxier); retrying",
                                  s->identity, what, message);
                else
                        log_debug("Services: %s: %s", what, message);
                s->forbidden_logged[slices] = true;
                return;
        }
        log_warning("Services: %s from the API server: %s", what, message);
}

/* ---- configuration ---- */

static bool is_loopback(const InAddr *a) {
        static const uint8_t lo6[16] = {[15] = 1};
        return a->family == AF_INET ? a->bytes[0] == 127 : memcmp(a->bytes, lo6, 16) == 0;
}

static int push_addr(InAddr **l, size_t *n, const InAddr *a) {
        for (size_t i = 0; i < *n; i++)
                if (in_addr_equal(&(*l)[i], a))
                        return 0;
        InAddr *nl = realloc(*l, (*n + 1) * sizeof(InAddr));
        RET_NULL_ENOMEM(nl);
        *l = nl;
        nl[(*n)++] = *a;
        return 0;
}

/* The NodePort addresses: the node's IPs (kube-proxy's "primary", its nftables default), or the interface
 * addresses inside the --nodeport-addresses CIDRs. Loopback addresses never (NodePorts on localhost are not
 * supported by kube-proxy's nftables mode either: they would need route_localnet). */
static int nodeport_addresses(const ApiServicesConfig *cfg, InAddr **ret, size_t *ret_n, ErrorBuf *err) {
        _cleanup_free_ InAddr *l = NULL;
        size_t n = 0;
        int r;
        bool primary =
                !cfg->nodeport_addresses || !cfg->nodeport_addresses[0] || streq(cfg->nodeport_addresses[0], "primary");

        if (primary) {
                for (char **i = cfg->node_ips; i && *i; i++) {
                        InAddr a;
                        if (in_addr_parse(*i, 0, &a) < 0)
                                return error_set(err, -EINVAL, "node IP \"%s\": not an IP address", *i);
                        if (!is_loopback(&a) && (r = push_addr(&l, &n, &a)) < 0)
                                return r;
                }
        } else {
                size_t n_cidrs = 0;
                while (cfg->nodeport_addresses[n_cidrs])
                        n_cidrs++;
                _cleanup_free_ InPrefix *cidrs = calloc(n_cidrs, sizeof(InPrefix));
                RET_NULL_ENOMEM(cidrs);
                for (size_t i = 0; i < n_cidrs; i++)
                        if (in_prefix_parse(cfg->nodeport_addresses[i], IN_PARSE_BARE_ADDRESS | IN_PARSE_NETWORK,
                                            &cidrs[i]) < 0)
                                return error_set(err, -EINVAL, "--nodeport-addresses: \"%s\" is not a CIDR",
                                                 cfg->nodeport_addresses[i]);
                struct ifaddrs *ifa = NULL;
                if (getifaddrs(&ifa) < 0)
                        return error_set(err, -errno, "--nodeport-addresses: cannot list the interfaces' addresses");
                r = 0;
                for (struct ifaddrs *i = ifa; r >= 0 && i; i = i->ifa_next) {
                        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
                                continue;
                        InAddr a = {.family = i->ifa_addr->sa_family};
                        if (a.family == AF_INET)
                                memcpy(a.bytes, &((struct sockaddr_in *) (void *) i->ifa_addr)->sin_addr, 4);
                        else
                                memcpy(a.bytes, &((struct sockaddr_in6 *) (void *) i->ifa_addr)->sin6_addr, 16);
                        for (size_t k = 0; k < n_cidrs; k++)
                                if (!is_loopback(&a) && in_prefix_contains(&cidrs[k], &a)) {
                                        r = push_addr(&l, &n, &a);
                                        break;
                                }
                }
                freeifaddrs(ifa);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* One CIDR per family into out[0] (IPv4) and out[1] (IPv6); the configuration checked the counts. */
static int family_cidrs(char **list, InPrefix out[2], const char *flag, ErrorBuf *err) {
        for (char **i = list; i && *i; i++) {
                InPrefix c;
                if (in_prefix_parse(*i, IN_PARSE_BARE_ADDRESS | IN_PARSE_NETWORK, &c) < 0)
                        return error_set(err, -EINVAL, "%s: \"%s\" is not a CIDR", flag, *i);
                out[c.addr.family == AF_INET6] = c;
        }
        return 0;
}

static int own_client(ApiServices *s, sd_event *e, CurlGlue *glue, const ApiServicesConfig *cfg, ErrorBuf *err) {
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = NULL;
        int r = kubeconfig_load(cfg->proxy_kubeconfig, NULL, &kc, err);
        if (r < 0)
                return error_prefix(err, r, "--proxy-kubeconfig");
        ApiClientOptions o = {.qps = cfg->api_qps, .burst = cfg->api_burst};
        r = api_client_new(e, glue, kc, &o, &s->own_api);
        if (r < 0)
                return error_set(err, r, "--proxy-kubeconfig: cannot create the API client: %s", strerror(-r));
        TAKE_PTR(kc);
        if (asprintf(&s->identity, "the credentials of %s", cfg->proxy_kubeconfig) < 0) {
                s->identity = NULL;
                return -ENOMEM;
        }
        return 0;
}

int api_services_new(sd_event *e, CurlGlue *glue, ApiClient *node_api, const ApiServicesConfig *cfg, ApiServices **ret,
                     ErrorBuf *err) {
        _cleanup_(api_services_freep) ApiServices *s = calloc(1, sizeof(ApiServices));
        _cleanup_free_ InAddr *addrs = NULL;
        NetProxyConfig npc = {.table = cfg->table, .hostname = cfg->node_name, .masquerade_all = cfg->masquerade_all};
        int r;

        RET_NULL_ENOMEM(s);
        s->event = sd_event_ref(e);
        s->started_usec = loop_now(s);
        s->min_sync_usec = cfg->min_sync_period_usec;
        s->verify_usec = cfg->verify_period_usec ?: VERIFY_PERIOD_DEFAULT_USEC;
        s->full_usec = cfg->full_sync_period_usec ?: FULL_SYNC_PERIOD_DEFAULT_USEC;

        if (!isempty(cfg->proxy_kubeconfig)) {
                if ((r = own_client(s, e, glue, cfg, err)) < 0)
                        return r;
                s->api = s->own_api;
        } else {
                s->api = node_api;
                s->identity = strdup("the node's credentials");
                RET_NULL_ENOMEM(s->identity);
        }
        if ((r = family_cidrs(cfg->cluster_cidrs, npc.cluster_cidr, "--cluster-cidr", err)) < 0 ||
            (r = family_cidrs(cfg->service_cidrs, npc.service_cidr, "--service-cluster-ip-range", err)) < 0 ||
            (r = nodeport_addresses(cfg, &addrs, &npc.n_nodeport_addresses, err)) < 0)
                return r;
        npc.nodeport_addresses = addrs;
        if ((r = netproxy_new(&npc, &s->np)) < 0 || (r = health_servers_new(e, &s->health)) < 0)
                return r;

        /* 1 ms accuracy: sd-event's default slack (250 ms) would delay every programming by up to that. */
        r = sd_event_add_time(e, &s->sync_timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_sync_timer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->sync_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(s->sync_timer, "services-sync");
        r = sd_event_add_time(e, &s->verify_timer, CLOCK_MONOTONIC, s->started_usec + s->verify_usec, 0,
                              on_verify_timer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->verify_timer, "services-verify");

        static const InformerCallbacks cb = {.event = on_event, .synced = on_synced, .error = on_error};
        InformerOptions so = {.path = "/api/v1/services", .label_selector = PROXY_LABEL_SELECTOR};
        InformerOptions eo = {.path = "/apis/discovery.k8s.io/v1/endpointslices",
                              .label_selector = PROXY_LABEL_SELECTOR};
        if ((r = informer_new(s->api, &so, &cb, s, &s->services)) < 0 ||
            (r = informer_new(s->api, &eo, &cb, s, &s->slices)) < 0 || (r = informer_start(s->services)) < 0 ||
            (r = informer_start(s->slices)) < 0)
                return r;
        char buf[IN_ADDR_STRLEN];
        log_info("Services: programming nftables (%s mode, table %s) from the API server with %s; NodePorts on %zu "
                 "addresses%s%s, min sync period %.3f s",
                 "nftables", cfg->table ?: "nodelet", s->identity, npc.n_nodeport_addresses,
                 npc.n_nodeport_addresses ? ", first " : "",
                 npc.n_nodeport_addresses ? in_addr_format(&addrs[0], buf) : "",
                 (double) s->min_sync_usec / USEC_PER_SEC);
        *ret = TAKE_PTR(s);
        return 0;
}

ApiServices *api_services_free(ApiServices *s) {
        if (!s)
                return NULL;
        s->services = informer_free(s->services);
        s->slices = informer_free(s->slices);
        s->sync_timer = sd_event_source_disable_unref(s->sync_timer);
        s->verify_timer = sd_event_source_disable_unref(s->verify_timer);
        s->health = health_servers_free(s->health);
        s->np = netproxy_free(s->np);
        s->own_api = api_client_free(s->own_api);
        size_t b = 0;
        for (SMapNode *i = NULL; (i = smap_next(&s->bad, i, &b));) {
                BadObject *o = i->value;
                free(o->key);
                free(o->rv);
                free(o);
        }
        smap_clear(&s->bad);
        free(s->identity);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

const NetProxyMetrics *api_services_metrics(ApiServices *s) {
        return s ? netproxy_metrics(s->np) : NULL;
}
