/* SPDX-License-Identifier: Apache-2.0 */
/* What each Service contributes to the wanted state: elements of the shared maps and sets, and dynamic chains
 * (load-balancing chains per endpoint count, affinity chains), recomputed when the Service or its EndpointSlices
 * change. */

#include <stdio.h>

#include "common/time-util.h"
#include "netproxy/netproxy-internal.h"

/* ---- dynamic chains ---- */

void chain_spec_done(ChainSpec *s) {
        free(s->eps);
        s->eps = NULL;
}

int chain_spec_copy(ChainSpec *dst, const ChainSpec *src) {
        *dst = *src;
        dst->eps = NULL;
        if (src->kind == CHAIN_AFFINITY && src->n > 0) {
                dst->eps = malloc(src->n * sizeof(EpTarget));
                RET_NULL_ENOMEM(dst->eps);
                memcpy(dst->eps, src->eps, src->n * sizeof(EpTarget));
        }
        return 0;
}

static void chain_mark_dirty(NetProxy *np, ChainEnt *c) {
        if (c->dirty)
                return;
        c->dirty = true;
        c->dnext = np->dirty_chains;
        np->dirty_chains = c;
}

static ChainEnt *chain_acquire(NetProxy *np, const char *name, const ChainSpec *spec) {
        char key[96];
        snprintf(key, sizeof(key), "%s/%s", spec->family == AF_INET6 ? "ip6" : "ip", name);
        ChainEnt *c = smap_get(&np->chains, key);
        if (!c) {
                c = calloc(1, sizeof(ChainEnt));
                if (!c)
                        return NULL;
                c->name = strdup(name);
                c->key = strdup(key);
                if (!c->name || !c->key || smap_put(&np->chains, c->key, c) < 0) {
                        free(c->name);
                        free(c->key);
                        free(c);
                        return NULL;
                }
        }
        if (c->refs == 0 && chain_spec_equal(&c->want, spec))
                chain_mark_dirty(np, c); /* revived before its deletion was committed: keep what is there */
        else if (c->refs == 0 || !chain_spec_equal(&c->want, spec)) {
                ChainSpec n;
                if (chain_spec_copy(&n, spec) < 0)
                        return NULL;
                chain_spec_done(&c->want);
                c->want = n;
                chain_mark_dirty(np, c);
        }
        c->refs++;
        return c;
}

static void chain_release(NetProxy *np, ChainEnt *c) {
        if (--c->refs == 0)
                chain_mark_dirty(np, c);
}

void chain_free(NetProxy *np, ChainEnt *c) {
        smap_remove(&np->chains, c->key);
        chain_spec_done(&c->want);
        chain_spec_done(&c->committed);
        free(c->name);
        free(c->key);
        free(c);
}

/* ---- services ---- */

SvcState *svc_state_get(NetProxy *np, const char *key, bool create) {
        SvcState *st = smap_get(&np->services, key);
        if (st || !create)
                return st;
        st = calloc(1, sizeof(SvcState));
        if (!st)
                return NULL;
        st->key = strdup(key);
        if (!st->key || smap_put(&np->services, st->key, st) < 0) {
                free(st->key);
                free(st);
                return NULL;
        }
        return st;
}

void svc_mark_dirty(NetProxy *np, SvcState *st) {
        if (!np->pending_since)
                np->pending_since = now_usec(CLOCK_MONOTONIC);
        if (st->dirty)
                return;
        st->dirty = true;
        st->dnext = np->dirty_svcs;
        np->dirty_svcs = st;
}

typedef struct Cand {
        EpTarget t;
        bool ready, serving, terminating, local;
} Cand;

static int ref_vec_push(RefVec *v, EntryRef ref) {
        if (v->n == v->cap) {
                size_t nc = v->cap ? v->cap * 2 : 16;
                EntryRef *n = reallocarray(v->v, nc, sizeof(EntryRef));
                RET_NULL_ENOMEM(n);
                v->v = n;
                v->cap = nc;
        }
        v->v[v->n++] = ref;
        return 0;
}

/* An exact-size copy (kept for as long as the Service lives); NULL when empty. */
static int copy_array(const void *v, size_t n, size_t size, void **ret) {
        void *c = NULL;
        if (n > 0) {
                c = reallocarray(NULL, n, size);
                RET_NULL_ENOMEM(c);
                memcpy(c, v, n * size);
        }
        *ret = c;
        return 0;
}

static int cmp_target(const void *a, const void *b) {
        const EpTarget *x = a, *y = b;
        int c = memcmp(x->addr.bytes, y->addr.bytes, 16);
        return c ?: (int) x->port - (int) y->port;
}

/* The endpoints of one service port in one family (EndpointSlice ports are matched by name and protocol; the
 * EndpointSlice controller already resolved named targetPorts into numbers). */
static int gather(NetProxy *np, SvcState *st, const ServicePort *sp, int family, Cand **ret, size_t *ret_n) {
        size_t cap = 0, n = 0;
        for (size_t i = 0; i < st->n_slices; i++)
                cap += st->slices[i]->n_endpoints;
        Cand *c = calloc(cap ?: 1, sizeof(Cand));
        RET_NULL_ENOMEM(c);
        for (size_t i = 0; i < st->n_slices; i++) {
                const EndpointSlice *s = st->slices[i];
                uint16_t port = 0;
                if (s->family != family)
                        continue;
                for (size_t j = 0; j < s->n_ports; j++)
                        if (s->ports[j].proto == sp->proto && streq(s->ports[j].name, sp->name))
                                port = s->ports[j].port;
                if (port == 0)
                        continue;
                for (size_t j = 0; j < s->n_endpoints; j++) {
                        Endpoint ep;
                        endpoint_slice_get(s, j, &ep);
                        Cand x = {.t = {.addr = ep.addr, .port = port, .remote = ep.remote},
                                  .ready = ep.ready,
                                  .serving = ep.serving,
                                  .terminating = ep.terminating,
                                  .local = ep.local};
                        bool dup = false;
                        for (size_t k = 0; k < n && !dup; k++)
                                dup = in_addr_equal(&c[k].t.addr, &x.t.addr) && c[k].t.port == x.t.port;
                        if (!dup)
                                c[n++] = x;
                }
        }
        *ret = c;
        *ret_n = n;
        return 0;
}

/* Like kube-proxy's CategorizeEndpoints (pkg/proxy/topology.go): ready endpoints, or when there is none, the ones
 * still serving while terminating; restricted to this node's endpoints for a Local traffic policy. */
static size_t select_eps(const Cand *c, size_t n, bool local_only, EpTarget *out) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if ((!local_only || c[i].local) && c[i].ready)
                        out[k++] = c[i].t;
        if (k == 0)
                for (size_t i = 0; i < n; i++)
                        if ((!local_only || c[i].local) && c[i].serving && c[i].terminating)
                                out[k++] = c[i].t;
        qsort(out, k, sizeof(EpTarget), cmp_target);
        return k;
}

typedef struct Build {
        NetProxy *np;
        SvcState *st;
        RefVec *elems; /* NetProxy's scratch vectors: a Service keeps exact-size copies */
        Vec *chains;
} Build;

static int add_elem(Build *b, int family, SetId set, const uint8_t *key, const uint8_t *data) {
        EntryRef ref;
        int r = entry_acquire(b->np, family, set, key, data, &ref);
        if (r < 0)
                return r;
        if ((r = ref_vec_push(b->elems, ref)) < 0)
                entry_release(b->np, ref);
        return r;
}

static int add_verdict(Build *b, int family, SetId set, const uint8_t *key, int kind, const char *chain) {
        uint8_t d[VERDICT_DATA_LEN] = {};
        d[0] = (uint8_t) kind;
        if (chain) {
                size_t l = strlen(chain);
                if (l >= sizeof(d) - 1) /* chain names are ours and short; never truncate one silently */
                        return -ENAMETOOLONG;
                memcpy(d + 1, chain, l);
        }
        return add_elem(b, family, set, key, d);
}

/* Where a frontend's connections go: an lb chain over buckets of the ep-* maps, or an affinity chain. */
static int add_dispatch(Build *b, const ServicePort *sp, const InAddr *addr, uint16_t port, const EpTarget *eps,
                        size_t n, bool masq, bool offset, const char *scope, char name[static 64]) {
        const Service *svc = b->st->svc;
        int family = addr->family, r;
        uint8_t k2[64], d[64];
        ChainSpec spec = {.family = family, .n = (uint32_t) n, .masq = masq};
        if (svc->affinity) {
                char id[256];
                snprintf(id, sizeof(id), "%s|%s|%s|%d|%s|%s", svc->key, sp->name, proto_to_string(sp->proto), family,
                         scope, masq ? "m" : "");
                snprintf(name, 64, "aff-%012llx",
                         (unsigned long long) (hash_bytes(id, strlen(id), 0) & 0xffffffffffffULL));
                spec.kind = CHAIN_AFFINITY;
                spec.proto = sp->proto;
                spec.timeout = svc->affinity_timeout;
                spec.eps = (EpTarget *) eps;
        } else {
                static const SetId ep_set[_PROTO_MAX] = {SET_EP_TCP, SET_EP_UDP, SET_EP_SCTP};
                snprintf(name, 64, "%s%s-%zu", offset ? "lbx" : "lb", masq ? "m" : "", n);
                spec.kind = CHAIN_LB;
                spec.offset = offset;
                for (size_t i = 0; i < n; i++) {
                        key_endpoint(k2, addr, port, (uint32_t) i + (offset ? SHORT_BUCKET_OFFSET : 0));
                        data_endpoint(d, &eps[i].addr, eps[i].port);
                        if ((r = add_elem(b, family, ep_set[sp->proto], k2, d)) < 0)
                                return r;
                }
        }
        ChainEnt *c = chain_acquire(b->np, name, &spec);
        RET_NULL_ENOMEM(c);
        if ((r = vec_push(b->chains, c)) < 0)
                chain_release(b->np, c);
        return r;
}

/* externalTrafficPolicy Local: pods and the node itself still use all endpoints (ruleset.c, chain services). */
static int add_short_circuit(Build *b, const ServicePort *sp, const InAddr *addr, uint16_t port, const EpTarget *eps,
                             size_t n) {
        uint8_t key[64];
        char name[64];
        int r;
        if (n == 0)
                return 0;
        key_frontend(key, addr, sp->proto, port);
        for (int masq = 0; masq < 2; masq++) {
                if ((r = add_dispatch(b, sp, addr, port, eps, n, masq, true, masq ? "shortm" : "short", name)) < 0 ||
                    (r = add_verdict(b, addr->family, masq ? SET_SHORT_MASQ : SET_SHORT, key, VERDICT_GOTO, name)) < 0)
                        return r;
        }
        return 0;
}

static int add_frontend(Build *b, const ServicePort *sp, const InAddr *addr, uint16_t port, const EpTarget *eps,
                        size_t n, bool masq, bool any_usable, const char *scope) {
        int family = addr->family, r;
        uint8_t key[64], k2[64];
        char name[64];
        key_frontend(key, addr, sp->proto, port);

        if (n == 0)
                /* No usable endpoint: REJECT when the Service has none at all, DROP when the Local policy leaves
                 * none on this node while others exist elsewhere (kube-proxy's behaviour). */
                return add_verdict(b, family, SET_NO_ENDPOINTS, key, any_usable ? VERDICT_DROP : VERDICT_GOTO,
                                   any_usable ? NULL : "reject-chain");

        /* Hairpin (a pod reaching itself through a VIP) needs the client to be the endpoint, and clients of this
         * node's rules are on this node: pairs for endpoints known to live elsewhere would never match. This keeps
         * the set at the size of the local pod count instead of the cluster's endpoint count. */
        for (size_t i = 0; i < n; i++) {
                if (eps[i].remote)
                        continue;
                key_hairpin(k2, &eps[i].addr);
                if ((r = add_elem(b, family, SET_HAIRPIN, k2, NULL)) < 0)
                        return r;
        }
        if ((r = add_dispatch(b, sp, addr, port, eps, n, masq, false, scope, name)) < 0)
                return r;
        return add_verdict(b, family, SET_FRONTENDS, key, VERDICT_GOTO, name);
}

static int build_port_family(Build *b, const ServicePort *sp, int family) {
        NetProxy *np = b->np;
        const Service *svc = b->st->svc;
        _cleanup_free_ Cand *c = NULL;
        _cleanup_free_ EpTarget *internal = NULL, *external = NULL, *all = NULL;
        size_t n = 0;
        uint8_t key[64];
        int r = gather(np, b->st, sp, family, &c, &n);
        if (r < 0)
                return r;
        internal = calloc(n ?: 1, sizeof(EpTarget));
        external = calloc(n ?: 1, sizeof(EpTarget));
        all = calloc(n ?: 1, sizeof(EpTarget));
        if (!internal || !external || !all)
                return -ENOMEM;
        size_t n_int = select_eps(c, n, svc->internal_local, internal);
        size_t n_ext = select_eps(c, n, svc->external_local, external);
        size_t n_all = select_eps(c, n, false, all);
        bool usable = n_all > 0;

        for (size_t i = 0; i < svc->n_cluster_ips; i++) {
                const InAddr *a = &svc->cluster_ips[i];
                if (a->family != family)
                        continue;
                if ((r = add_frontend(b, sp, a, sp->port, internal, n_int, np->cfg.masquerade_all, usable, "int")) < 0)
                        return r;
                memcpy(key, a->bytes, in_addr_family_size(family));
                if ((r = add_elem(b, family, SET_CLUSTER_IPS, key, NULL)) < 0)
                        return r;
        }
        /* External traffic (externalIPs, load-balancer ingress IPs, NodePorts) is masqueraded for policy Cluster,
         * so replies return through this node; policy Local keeps the client address. */
        bool masq = !svc->external_local || np->cfg.masquerade_all;
        for (size_t i = 0; i < svc->n_external_ips + svc->n_lb_ips; i++) {
                const InAddr *a =
                        i < svc->n_external_ips ? &svc->external_ips[i] : &svc->lb_ips[i - svc->n_external_ips];
                if (a->family != family)
                        continue;
                if ((r = add_frontend(b, sp, a, sp->port, external, n_ext, masq, usable, "ext")) < 0 ||
                    (svc->external_local && (r = add_short_circuit(b, sp, a, sp->port, all, n_all)) < 0))
                        return r;
        }
        /* loadBalancerSourceRanges guard the load-balancer IPs (not NodePorts or externalIPs, as in kube-proxy):
         * other sources are dropped before DNAT. */
        for (size_t i = 0; svc->n_source_ranges > 0 && i < svc->n_lb_ips; i++) {
                const InAddr *a = &svc->lb_ips[i];
                uint8_t fk[128];
                if (a->family != family)
                        continue;
                key_frontend(fk, a, sp->proto, sp->port);
                if ((r = add_elem(b, family, SET_FW_IPS, fk, NULL)) < 0)
                        return r;
                for (size_t j = 0; j < svc->n_source_ranges; j++) {
                        if (svc->source_ranges[j].addr.family != family)
                                continue;
                        key_firewall_allow(fk, a, sp->proto, sp->port, &svc->source_ranges[j]);
                        if ((r = add_elem(b, family, SET_FW_ALLOW, fk, NULL)) < 0)
                                return r;
                }
        }
        if (sp->node_port && svc->type != SERVICE_CLUSTER_IP)
                for (size_t i = 0; i < np->cfg.n_nodeport_addresses; i++) {
                        const InAddr *a = &np->cfg.nodeport_addresses[i];
                        if (a->family != family)
                                continue;
                        if ((r = add_frontend(b, sp, a, sp->node_port, external, n_ext, masq, usable, "ext")) < 0 ||
                            (svc->external_local && (r = add_short_circuit(b, sp, a, sp->node_port, all, n_all)) < 0))
                                return r;
                }
        return 0;
}

static int count_local_ready(NetProxy *np, SvcState *st) {
        int n = 0;
        for (size_t i = 0; i < st->n_slices; i++)
                for (size_t j = 0; j < st->slices[i]->n_endpoints; j++) {
                        Endpoint ep;
                        endpoint_slice_get(st->slices[i], j, &ep);
                        n += ep.ready && ep.local;
                }
        return n;
}

static int svc_recompute(NetProxy *np, SvcState *st) {
        Build b = {.np = np, .st = st, .elems = &np->scratch_elems, .chains = &np->scratch_chains};
        EntryRef *elems = NULL;
        ChainEnt **chains = NULL;
        int r = 0;
        b.elems->n = b.chains->n = 0;
        if (st->svc && st->svc->type != SERVICE_EXTERNAL_NAME)
                for (size_t i = 0; r >= 0 && i < st->svc->n_ports; i++)
                        for (int f = 0; r >= 0 && f < 2; f++)
                                r = build_port_family(&b, &st->svc->ports[i], family_of(f));
        if (r >= 0 && b.elems->n > UINT32_MAX)
                r = -E2BIG;
        if (r >= 0 && (r = copy_array(b.elems->v, b.elems->n, sizeof(EntryRef), (void **) &elems)) >= 0 &&
            (r = copy_array(b.chains->v, b.chains->n, sizeof(ChainEnt *), (void **) &chains)) < 0)
                elems = mfree(elems);
        if (r < 0) {
                /* Undo the references taken so far; the old contribution stays. */
                for (size_t i = 0; i < b.elems->n; i++)
                        entry_release(np, b.elems->v[i]);
                for (size_t i = 0; i < b.chains->n; i++)
                        chain_release(np, b.chains->v[i]);
                return r;
        }
        for (size_t i = 0; i < st->n_elems; i++)
                entry_release(np, st->elems[i]);
        for (size_t i = 0; i < st->n_chains; i++)
                chain_release(np, st->chains[i]);
        free(st->elems);
        free(st->chains);
        st->elems = elems;
        st->n_elems = (uint32_t) b.elems->n;
        st->chains = chains;
        st->n_chains = (uint32_t) b.chains->n;
        st->local_ready = count_local_ready(np, st);
        return 0;
}

static void svc_state_free(NetProxy *np, SvcState *st) {
        smap_remove(&np->services, st->key);
        service_free(st->svc);
        free(st->slices);
        free(st->elems);
        free(st->chains);
        free(st->key);
        free(st);
}

int recompute_dirty(NetProxy *np) {
        int r = 0;
        while (np->dirty_svcs) {
                SvcState *st = np->dirty_svcs;
                r = svc_recompute(np, st);
                if (r < 0)
                        break;
                np->dirty_svcs = st->dnext;
                st->dirty = false;
                if (!st->svc && st->n_slices == 0)
                        svc_state_free(np, st);
        }
        /* A Service with many ports and endpoints may have grown them: nothing else needs them until next time. */
        np->scratch_elems = (RefVec){.v = mfree(np->scratch_elems.v)};
        np->scratch_chains = (Vec){.v = mfree(np->scratch_chains.v)};
        return r;
}
