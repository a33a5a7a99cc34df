/* SPDX-License-Identifier: Apache-2.0 */
/* netproxy's public API: Service and EndpointSlice objects in, the proxy's lifetime, metrics. The desired state
 * and the mirror of what is committed are built, kept and synced by the other parts (netproxy-internal.h). */

#include <stdio.h>

#include "netproxy/netproxy-internal.h"

int netproxy_new(const NetProxyConfig *config, NetProxy **ret) {
        NetProxy *np = calloc(1, sizeof(NetProxy));
        RET_NULL_ENOMEM(np);
        np->cfg = *config;
        np->table = strdup(config->table ?: "nodelet");
        np->hostname = config->hostname ? strdup(config->hostname) : NULL;
        np->cfg.nodeport_addresses = calloc(config->n_nodeport_addresses ?: 1, sizeof(InAddr));
        if (!np->table || (config->hostname && !np->hostname) || !np->cfg.nodeport_addresses) {
                netproxy_free(np);
                return -ENOMEM;
        }
        if (config->n_nodeport_addresses)
                memcpy(np->cfg.nodeport_addresses, config->nodeport_addresses,
                       config->n_nodeport_addresses * sizeof(InAddr));
        np->cfg.table = np->table;
        np->cfg.hostname = np->hostname;
        np->need_full = true;
        element_store_init(np);
        *ret = np;
        return 0;
}

NetProxy *netproxy_free(NetProxy *np) {
        if (!np)
                return NULL;
        size_t b = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->slices, i, &b));)
                endpoint_slice_free(i->value);
        smap_clear(&np->slices);
        /* Free the values in one walk and drop the maps afterwards: removing entries one by one while restarting
         * the walk would be quadratic in the number of Services. */
        b = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->services, i, &b));) {
                SvcState *st = i->value;
                service_free(st->svc);
                free(st->slices);
                free(st->elems);
                free(st->chains);
                free(st->key);
                free(st);
        }
        smap_clear(&np->services);
        b = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->chains, i, &b));) {
                ChainEnt *c = i->value;
                chain_spec_done(&c->want);
                chain_spec_done(&c->committed);
                free(c->name);
                free(c->key);
                free(c);
        }
        smap_clear(&np->chains);
        element_store_done(np);
        free(np->scratch_elems.v);
        free(np->scratch_chains.v);
        ct_flush_list_done(&np->ct);
        nft_conn_close(np->conn);
        free(np->cfg.nodeport_addresses);
        free(np->table);
        free(np->hostname);
        free(np);
        return NULL;
}

static int update_service(NetProxy *np, const json_t *obj, ErrorBuf *e) {
        _cleanup_(service_freep) Service *s = NULL;
        int r = service_parse(obj, &s, e);
        if (r < 0)
                return r;
        SvcState *st = svc_state_get(np, s->key, true);
        RET_NULL_ENOMEM(st);
        if (st->svc && service_equal(st->svc, s))
                return 0;
        service_free(st->svc);
        st->svc = TAKE_PTR(s);
        svc_mark_dirty(np, st);
        return 1;
}

static int slice_detach(NetProxy *np, EndpointSlice *s) {
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", s->namespace, s->service_name);
        SvcState *st = svc_state_get(np, key, false);
        if (!st)
                return 0;
        for (size_t i = 0; i < st->n_slices; i++)
                if (st->slices[i] == s) {
                        st->slices[i] = st->slices[--st->n_slices];
                        break;
                }
        svc_mark_dirty(np, st);
        return 0;
}

static int update_slice(NetProxy *np, const json_t *obj, ErrorBuf *e) {
        _cleanup_(endpoint_slice_freep) EndpointSlice *s = NULL;
        char key[512];
        int r = endpoint_slice_parse(obj, &s, e);
        if (r < 0)
                return r;
        /* Only "is it on this node" matters about nodeName, and 100k endpoints are kept: the packed form. */
        if ((r = endpoint_slice_pack(s, np->hostname)) < 0)
                return r;
        EndpointSlice *old = smap_get(&np->slices, s->key);
        if (old && endpoint_slice_equal(old, s))
                return 0;
        snprintf(key, sizeof(key), "%s/%s", s->namespace, s->service_name);
        SvcState *st = svc_state_get(np, key, true);
        RET_NULL_ENOMEM(st);
        EndpointSlice **l = realloc(st->slices, (st->n_slices + 1) * sizeof(EndpointSlice *));
        RET_NULL_ENOMEM(l);
        st->slices = l;
        if (old) {
                slice_detach(np, old);
                smap_remove(&np->slices, old->key);
                endpoint_slice_free(old);
        }
        if ((r = smap_put(&np->slices, s->key, s)) < 0)
                return r;
        st->slices[st->n_slices++] = TAKE_PTR(s);
        svc_mark_dirty(np, st);
        return 1;
}

int netproxy_update_object(NetProxy *np, const json_t *obj, ErrorBuf *e) {
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        if (!kind)
                return error_set(e, -EINVAL, "kind: required field is missing");
        if (streq(kind, "Service"))
                return update_service(np, obj, e);
        if (streq(kind, "EndpointSlice"))
                return update_slice(np, obj, e);
        return error_set(e, -EOPNOTSUPP, "kind: unsupported kind \"%s\"", kind);
}

int netproxy_delete_object(NetProxy *np, const char *kind, const char *ns, const char *name) {
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", ns, name);
        if (streq(kind, "Service")) {
                SvcState *st = svc_state_get(np, key, false);
                if (!st || !st->svc)
                        return 0;
                st->svc = service_free(st->svc);
                svc_mark_dirty(np, st);
                return 1;
        }
        if (streq(kind, "EndpointSlice")) {
                EndpointSlice *s = smap_remove(&np->slices, key);
                if (!s)
                        return 0;
                slice_detach(np, s);
                endpoint_slice_free(s);
                return 1;
        }
        return -EOPNOTSUPP;
}

void netproxy_set_synced(NetProxy *np, unsigned what) {
        np->synced |= what;
}

void netproxy_request_full_sync(NetProxy *np) {
        np->need_full = true;
}

const NetProxyMetrics *netproxy_metrics(NetProxy *np) {
        return &np->m;
}

int netproxy_local_endpoints(NetProxy *np, const char *ns, const char *name) {
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", ns, name);
        SvcState *st = svc_state_get(np, key, false);
        if (!st || !st->svc)
                return -ENOENT;
        return st->local_ready;
}

void netproxy_metrics_print(const NetProxyMetrics *m, FILE *f) {
        fprintf(f,
                "netproxy_sync_full_total %llu\n"
                "netproxy_sync_partial_total %llu\n"
                "netproxy_sync_failures_total %llu\n"
                "netproxy_sync_full_last_seconds %.6f\n"
                "netproxy_sync_partial_last_seconds %.6f\n"
                "netproxy_sync_partial_max_seconds %.6f\n"
                "netproxy_network_programming_last_seconds %.6f\n"
                "netproxy_network_programming_max_seconds %.6f\n"
                "netproxy_last_sync_elements_added %llu\n"
                "netproxy_last_sync_elements_deleted %llu\n"
                "netproxy_last_sync_chains_changed %llu\n"
                "netproxy_last_sync_batch_bytes %llu\n"
                "netproxy_elements %llu\n"
                "netproxy_rules %llu\n"
                "netproxy_chains %llu\n"
                "netproxy_sets %llu\n"
                "netproxy_services %llu\n"
                "netproxy_endpoint_slices %llu\n"
                "netproxy_verifications_total %llu\n"
                "netproxy_repairs_total %llu\n"
                "netproxy_conntrack_entries_flushed_total %llu\n",
                (unsigned long long) m->full_syncs, (unsigned long long) m->partial_syncs,
                (unsigned long long) m->sync_failures, m->last_full_sync_usec / 1e6, m->last_partial_sync_usec / 1e6,
                m->max_partial_sync_usec / 1e6, m->last_programming_latency_usec / 1e6,
                m->max_programming_latency_usec / 1e6, (unsigned long long) m->last_elements_added,
                (unsigned long long) m->last_elements_deleted, (unsigned long long) m->last_chains_changed,
                (unsigned long long) m->last_batch_bytes, (unsigned long long) m->elements,
                (unsigned long long) m->rules, (unsigned long long) m->chains, (unsigned long long) m->sets,
                (unsigned long long) m->services, (unsigned long long) m->endpoint_slices,
                (unsigned long long) m->verifications, (unsigned long long) m->repairs,
                (unsigned long long) m->conntrack_flushed);
}

void netproxy_foreach_health_check(NetProxy *np, netproxy_health_fn cb, void *userdata) {
        size_t bk = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->services, i, &bk));) {
                SvcState *st = i->value;
                if (st->svc && st->svc->health_check_node_port && st->svc->external_local)
                        cb(st->svc->namespace, st->svc->name, st->svc->health_check_node_port, st->local_ready,
                           userdata);
        }
}
