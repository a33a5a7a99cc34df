/* SPDX-License-Identifier: Apache-2.0 */
/* Desired state and the mirror of what is committed.
 *
 * Every Service contributes elements (frontend verdicts, endpoint buckets, cluster IPs, hairpin pairs) and
 * references dynamic chains. Elements live in one reference-counted store; an element whose wanted state differs
 * from what was committed goes on a dirty list, and an incremental sync walks only that list. A change to one
 * Service therefore costs O(its elements), whatever the number of Services.
 *
 * 10k Services are 120,000 elements, so the store is most of netproxy's memory and an element is kept small
 * (docs/netproxy.md, "Memory"): elements of one (family, set) have one key and data length and live in that set's
 * Pool, fixed-size slots in blocks, addressed by a 32-bit EntryRef; hash chains and the Services' element lists hold
 * EntryRefs, and no element pays malloc's header and rounding. An element holds only its wanted data: the committed
 * data equals it unless the element is on the dirty list, and the dirty list saved the committed data when the
 * element was first changed (the only moment they can start to differ). A full sync needs no dirty list at all (it
 * rewrites everything), so none is kept while one is pending: the 120,000 elements of the first sync cost no list. */

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"
#include "netproxy/conntrack.h"
#include "netproxy/netproxy.h"
#include "netproxy/ruleset.h"
#include "netproxy/smap.h"

typedef uint32_t EntryRef; /* pool << POOL_SHIFT | slot */
#define EREF_NULL UINT32_MAX
#define POOL_SHIFT 26
#define POOL_MAX_SLOTS (1U << POOL_SHIFT)
#define POOL_BLOCK_SHIFT 10 /* 1024 slots a block: 32..100 KiB */
#define POOL_BLOCK (1U << POOL_BLOCK_SHIFT)
#define N_POOLS (2 * _SET_MAX)

enum {
        E_USED = 1 << 0,  /* the slot holds an element (else it is on its pool's free list) */
        E_HAVE = 1 << 1,  /* committed */
        E_DIRTY = 1 << 2, /* on the dirty list */
};

typedef struct Entry {
        EntryRef next; /* hash chain; the free list while unused */
        uint32_t refs;
        uint8_t flags;
        uint8_t bytes[]; /* key[klen] want[dlen] */
} Entry;

typedef struct Pool {
        uint8_t **blocks;
        uint32_t n_blocks;
        uint32_t used; /* slots [0, used) were handed out */
        EntryRef free; /* first free slot */
        uint16_t slot_size;
        uint8_t klen, dlen;
} Pool;

/* An element on the dirty list, and where its committed data was saved (EREF_NULL: not committed, or no data). */
typedef struct Dirty {
        EntryRef ref;
        uint32_t old;
} Dirty;

#define E_KEY(e) ((e)->bytes)

static unsigned eref_pool(EntryRef ref) {
        return ref >> POOL_SHIFT;
}

typedef struct Vec {
        void **v;
        size_t n, cap;
} Vec;

typedef struct RefVec {
        EntryRef *v;
        size_t n, cap;
} RefVec;

typedef struct ChainEnt {
        char *key; /* "ip/lb-3": chains are per family, names are not */
        char *name;
        uint32_t refs;
        bool have, dirty;
        ChainSpec want, committed;
        struct ChainEnt *dnext;
} ChainEnt;

typedef struct SvcState {
        char *key;
        Service *svc;
        EndpointSlice **slices;
        size_t n_slices;
        EntryRef *elems; /* exactly n_elems: 10k Services keep no spare capacity */
        uint32_t n_elems;
        uint32_t n_chains;
        ChainEnt **chains;
        bool dirty;
        struct SvcState *dnext;
        int local_ready;
} SvcState;

struct NetProxy {
        NetProxyConfig cfg;
        char *table;
        char *hostname;
        SMap services; /* key → SvcState */
        SMap slices;   /* key → EndpointSlice */
        SMap chains;   /* name → ChainEnt */
        Pool pools[N_POOLS];
        EntryRef *buckets;
        size_t n_buckets, n_entries;
        Dirty *dirty; /* only while no full sync is pending */
        size_t n_dirty, cap_dirty;
        uint8_t *old_data; /* the committed data of dirty elements */
        size_t n_old_data, cap_old_data;
        ChainEnt *dirty_chains;
        SvcState *dirty_svcs;
        RefVec scratch_elems; /* svc_recompute()'s, freed after each recompute_dirty() */
        Vec scratch_chains;
        unsigned synced;
        bool need_full, committed_once;
        uint32_t genid;
        uint64_t pending_since;
        uint64_t static_rules[2];
        uint64_t n_committed; /* elements in the kernel */
        CtFlushList ct;
        NftConn *conn;
        NetProxyMetrics m;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static int fam_of(int family) {
        return family == AF_INET6 ? 1 : 0;
}

static int family_of(int fam) {
        return fam ? AF_INET6 : AF_INET;
}

static unsigned pool_id(int family, SetId set) {
        return (unsigned) fam_of(family) * _SET_MAX + (unsigned) set;
}

static int pool_family(unsigned pid) {
        return family_of(pid >= _SET_MAX);
}

static SetId pool_set(unsigned pid) {
        return (SetId) (pid % _SET_MAX);
}

/* ---- element store ---- */

static void pools_init(NetProxy *np) {
        for (unsigned pid = 0; pid < N_POOLS; pid++) {
                Pool *p = &np->pools[pid];
                p->klen = (uint8_t) set_key_len(pool_set(pid), pool_family(pid));
                p->dlen = (uint8_t) set_data_len(pool_set(pid), pool_family(pid));
                size_t size = offsetof(Entry, bytes) + p->klen + p->dlen;
                p->slot_size = (uint16_t) ((size + _Alignof(Entry) - 1) / _Alignof(Entry) * _Alignof(Entry));
                p->free = EREF_NULL;
        }
}

static void pools_done(NetProxy *np) {
        for (unsigned pid = 0; pid < N_POOLS; pid++) {
                Pool *p = &np->pools[pid];
                for (uint32_t i = 0; i < p->n_blocks; i++)
                        free(p->blocks[i]);
                free(p->blocks);
                *p = (Pool){};
        }
}

static Entry *pool_slot(const Pool *p, uint32_t slot) {
        return (Entry *) (p->blocks[slot >> POOL_BLOCK_SHIFT] + (size_t) (slot & (POOL_BLOCK - 1)) * p->slot_size);
}

static Entry *eref_get(const NetProxy *np, EntryRef ref) {
        return pool_slot(&np->pools[eref_pool(ref)], ref & (POOL_MAX_SLOTS - 1));
}

/* A zeroed slot of pool pid. */
static int pool_alloc(NetProxy *np, unsigned pid, EntryRef *ret) {
        Pool *p = &np->pools[pid];
        EntryRef ref;
        if (p->free != EREF_NULL) {
                ref = p->free;
                p->free = eref_get(np, ref)->next;
        } else {
                uint32_t slot = p->used;
                if (slot >= POOL_MAX_SLOTS)
                        return -E2BIG;
                if ((slot >> POOL_BLOCK_SHIFT) == p->n_blocks) {
                        uint8_t **b = reallocarray(p->blocks, p->n_blocks + 1, sizeof(uint8_t *));
                        RET_NULL_ENOMEM(b);
                        p->blocks = b;
                        b[p->n_blocks] = malloc((size_t) POOL_BLOCK * p->slot_size);
                        RET_NULL_ENOMEM(b[p->n_blocks]);
                        p->n_blocks++;
                }
                p->used++;
                ref = (EntryRef) pid << POOL_SHIFT | slot;
        }
        memset(eref_get(np, ref), 0, np->pools[pid].slot_size);
        *ret = ref;
        return 0;
}

static void pool_release(NetProxy *np, EntryRef ref) {
        Pool *p = &np->pools[eref_pool(ref)];
        Entry *e = eref_get(np, ref);
        e->flags = 0;
        e->next = p->free;
        p->free = ref;
}

static size_t entry_bucket(const NetProxy *np, unsigned pid, const uint8_t *key) {
        uint64_t h = hash_bytes(key, np->pools[pid].klen, pid);
        return (size_t) h & (np->n_buckets - 1);
}

static int store_grow(NetProxy *np) {
        size_t nb = np->n_buckets ? np->n_buckets * 2 : 1024;
        EntryRef *b = malloc(nb * sizeof(EntryRef));
        RET_NULL_ENOMEM(b);
        memset(b, 0xff, nb * sizeof(EntryRef)); /* EREF_NULL */
        size_t old = np->n_buckets;
        EntryRef *ob = np->buckets;
        np->buckets = b;
        np->n_buckets = nb;
        for (size_t i = 0; i < old; i++)
                for (EntryRef ref = ob[i], next; ref != EREF_NULL; ref = next) {
                        Entry *e = eref_get(np, ref);
                        size_t s = entry_bucket(np, eref_pool(ref), E_KEY(e));
                        next = e->next;
                        e->next = b[s];
                        b[s] = ref;
                }
        free(ob);
        return 0;
}

static void dirty_reset(NetProxy *np) {
        np->dirty = mfree(np->dirty);
        np->n_dirty = np->cap_dirty = 0;
        np->old_data = mfree(np->old_data);
        np->n_old_data = np->cap_old_data = 0;
}

static int dirty_push(NetProxy *np, EntryRef ref, const Entry *e) {
        const Pool *p = &np->pools[eref_pool(ref)];
        Dirty d = {.ref = ref, .old = EREF_NULL};
        if (np->n_dirty == np->cap_dirty) {
                size_t nc = MAX(np->cap_dirty * 2, (size_t) 64);
                Dirty *n = reallocarray(np->dirty, nc, sizeof(Dirty));
                RET_NULL_ENOMEM(n);
                np->dirty = n;
                np->cap_dirty = nc;
        }
        if ((e->flags & E_HAVE) && p->dlen > 0) {
                if (np->n_old_data + p->dlen > UINT32_MAX - 1)
                        return -E2BIG;
                if (np->n_old_data + p->dlen > np->cap_old_data) {
                        size_t nc = MAX(np->cap_old_data * 2, (size_t) 1024);
                        uint8_t *n = realloc(np->old_data, nc);
                        RET_NULL_ENOMEM(n);
                        np->old_data = n;
                        np->cap_old_data = nc;
                }
                d.old = (uint32_t) np->n_old_data;
                memcpy(np->old_data + np->n_old_data, e->bytes + p->klen, p->dlen);
                np->n_old_data += p->dlen;
        }
        np->dirty[np->n_dirty++] = d;
        return 0;
}

/* Called before the element's wanted data or references change, while its data still is the committed data. While
 * a full sync is pending nothing is tracked; when tracking fails (out of memory) the next sync becomes a full one,
 * which needs no list, so a change is never lost. */
static void mark_dirty(NetProxy *np, EntryRef ref, Entry *e) {
        if ((e->flags & E_DIRTY) || np->need_full)
                return;
        if (dirty_push(np, ref, e) < 0) {
                np->need_full = true;
                return;
        }
        e->flags |= E_DIRTY;
}

static void entry_unlink_free(NetProxy *np, EntryRef ref) {
        Entry *e = eref_get(np, ref);
        size_t s = entry_bucket(np, eref_pool(ref), E_KEY(e));
        for (EntryRef *i = &np->buckets[s]; *i != EREF_NULL; i = &eref_get(np, *i)->next)
                if (*i == ref) {
                        *i = e->next;
                        break;
                }
        np->n_entries--;
        pool_release(np, ref);
}

/* Takes a reference on (set, key) wanting data. */
static int entry_acquire(NetProxy *np, int family, SetId set, const uint8_t *key, const uint8_t *data, EntryRef *ret) {
        unsigned pid = pool_id(family, set);
        const Pool *p = &np->pools[pid];
        EntryRef ref;
        Entry *e = NULL;
        int r;
        if (np->n_entries >= np->n_buckets && (r = store_grow(np)) < 0)
                return r;
        size_t s = entry_bucket(np, pid, key);
        for (ref = np->buckets[s]; ref != EREF_NULL; ref = e->next) {
                e = eref_get(np, ref);
                if (eref_pool(ref) == pid && memcmp(E_KEY(e), key, p->klen) == 0)
                        break;
        }
        if (ref == EREF_NULL) {
                if ((r = pool_alloc(np, pid, &ref)) < 0)
                        return r;
                e = eref_get(np, ref);
                e->flags = E_USED;
                memcpy(E_KEY(e), key, p->klen);
                e->next = np->buckets[s];
                np->buckets[s] = ref;
                np->n_entries++;
        }
        uint8_t *want = e->bytes + p->klen;
        if (e->refs == 0 || (p->dlen > 0 && memcmp(want, data, p->dlen) != 0)) {
                mark_dirty(np, ref, e);
                if (p->dlen > 0)
                        memcpy(want, data, p->dlen);
        }
        e->refs++;
        *ret = ref;
        return 0;
}

static void entry_release(NetProxy *np, EntryRef ref) {
        Entry *e = eref_get(np, ref);
        if (e->refs == 1)
                mark_dirty(np, ref, e);
        e->refs--;
}

/* ---- dynamic chains ---- */

static void chain_spec_done(ChainSpec *s) {
        free(s->eps);
        s->eps = NULL;
}

static int chain_spec_copy(ChainSpec *dst, const ChainSpec *src) {
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

static void chain_free(NetProxy *np, ChainEnt *c) {
        smap_remove(&np->chains, c->key);
        chain_spec_done(&c->want);
        chain_spec_done(&c->committed);
        free(c->name);
        free(c->key);
        free(c);
}

/* ---- services ---- */

static SvcState *svc_state_get(NetProxy *np, const char *key, bool create) {
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

static void svc_mark_dirty(NetProxy *np, SvcState *st) {
        if (!np->pending_since)
                np->pending_since = now_usec();
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

static int vec_push(Vec *v, void *p) {
        if (v->n == v->cap) {
                size_t nc = v->cap ? v->cap * 2 : 16;
                void **n = realloc(v->v, nc * sizeof(void *));
                RET_NULL_ENOMEM(n);
                v->v = n;
                v->cap = nc;
        }
        v->v[v->n++] = p;
        return 0;
}

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
                                dup = ipaddr_equal(&c[k].t.addr, &x.t.addr) && c[k].t.port == x.t.port;
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
static int add_dispatch(Build *b, const ServicePort *sp, const IPAddr *addr, uint16_t port, const EpTarget *eps,
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
static int add_short_circuit(Build *b, const ServicePort *sp, const IPAddr *addr, uint16_t port, const EpTarget *eps,
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

static int add_frontend(Build *b, const ServicePort *sp, const IPAddr *addr, uint16_t port, const EpTarget *eps,
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
                const IPAddr *a = &svc->cluster_ips[i];
                if (a->family != family)
                        continue;
                if ((r = add_frontend(b, sp, a, sp->port, internal, n_int, np->cfg.masquerade_all, usable, "int")) < 0)
                        return r;
                memcpy(key, a->bytes, ipaddr_len(family));
                if ((r = add_elem(b, family, SET_CLUSTER_IPS, key, NULL)) < 0)
                        return r;
        }
        /* External traffic (externalIPs, load-balancer ingress IPs, NodePorts) is masqueraded for policy Cluster,
         * so replies return through this node; policy Local keeps the client address. */
        bool masq = !svc->external_local || np->cfg.masquerade_all;
        for (size_t i = 0; i < svc->n_external_ips + svc->n_lb_ips; i++) {
                const IPAddr *a =
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
                const IPAddr *a = &svc->lb_ips[i];
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
                        const IPAddr *a = &np->cfg.nodeport_addresses[i];
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

/* ---- public API ---- */

int netproxy_new(const NetProxyConfig *config, NetProxy **ret) {
        NetProxy *np = calloc(1, sizeof(NetProxy));
        RET_NULL_ENOMEM(np);
        np->cfg = *config;
        np->table = strdup(config->table ?: "nodelet");
        np->hostname = config->hostname ? strdup(config->hostname) : NULL;
        np->cfg.nodeport_addresses = calloc(config->n_nodeport_addresses ?: 1, sizeof(IPAddr));
        if (!np->table || (config->hostname && !np->hostname) || !np->cfg.nodeport_addresses) {
                netproxy_free(np);
                return -ENOMEM;
        }
        if (config->n_nodeport_addresses)
                memcpy(np->cfg.nodeport_addresses, config->nodeport_addresses,
                       config->n_nodeport_addresses * sizeof(IPAddr));
        np->cfg.table = np->table;
        np->cfg.hostname = np->hostname;
        np->need_full = true;
        pools_init(np);
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
        pools_done(np);
        free(np->buckets);
        dirty_reset(np);
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

static int recompute_dirty(NetProxy *np) {
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

static int emit_full(NetProxy *np, NftBatch *b) {
        int r;
        for (int f = 0; f < 2; f++) {
                int family = family_of(f);
                RulesetConfig rc = {
                        .table = np->table,
                        .cluster_cidr = np->cfg.cluster_cidr[f].addr.family ? &np->cfg.cluster_cidr[f] : NULL,
                        .service_cidr = np->cfg.service_cidr[f].addr.family ? &np->cfg.service_cidr[f] : NULL,
                };
                /* add + delete + add: replaces the table atomically whether or not it existed. */
                if ((r = nft_batch_table(b, family, np->table, false)) < 0 ||
                    (r = nft_batch_table(b, family, np->table, true)) < 0 ||
                    (r = nft_batch_table(b, family, np->table, false)) < 0)
                        return r;
                r = ruleset_emit_static(b, family, &rc);
                if (r < 0)
                        return r;
                np->static_rules[f] = (uint64_t) r;
        }
        size_t bk = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->chains, i, &bk));) {
                ChainEnt *c = i->value;
                if (c->refs > 0 && (r = ruleset_emit_chain(b, np->table, c->name, &c->want)) < 0)
                        return r;
        }
        /* A pool holds one set's elements: walking the pools set by set packs them into few large messages. */
        for (unsigned pid = 0; pid < N_POOLS; pid++) {
                const Pool *p = &np->pools[pid];
                for (uint32_t slot = 0; slot < p->used; slot++) {
                        const Entry *e = pool_slot(p, slot);
                        if (!(e->flags & E_USED) || e->refs == 0)
                                continue;
                        r = ruleset_emit_elem(b, pool_family(pid), np->table, pool_set(pid), false, E_KEY(e),
                                              p->dlen ? e->bytes + p->klen : NULL);
                        if (r < 0)
                                return r;
                        np->m.last_elements_added++;
                }
        }
        return 0;
}

static const uint8_t *dirty_old(const NetProxy *np, const Dirty *d) {
        return d->old == EREF_NULL ? NULL : np->old_data + d->old;
}

/* The wanted data differs from the committed data (which dirty_push() saved). */
static bool entry_changed(const NetProxy *np, const Dirty *d, const Entry *e) {
        const Pool *p = &np->pools[eref_pool(d->ref)];
        const uint8_t *old = dirty_old(np, d);
        return p->dlen > 0 && old && memcmp(e->bytes + p->klen, old, p->dlen) != 0;
}

/* UDP flows whose conntrack entries must go (kube-proxy pkg/proxy/conntrack): a removed UDP endpoint, and a UDP
 * frontend that gets endpoints (flows created while it had none were not DNATed). */
static void note_conntrack(NetProxy *np, const Dirty *d, const Entry *e, bool deleting) {
        unsigned pid = eref_pool(d->ref);
        int family = pool_family(pid);
        SetId set = pool_set(pid);
        size_t l = ipaddr_len(family);
        const uint8_t *old = dirty_old(np, d);
        if (deleting && set == SET_EP_UDP && old) {
                CtFlush f = {.family = family, .proto = IPPROTO_UDP};
                memcpy(f.vip.bytes, E_KEY(e), l);
                memcpy(&f.vport, E_KEY(e) + l, 2);
                memcpy(f.endpoint.bytes, old, l);
                f.has_endpoint = true;
                (void) ct_flush_list_add(&np->ct, &f);
        } else if (!deleting && set == SET_FRONTENDS && E_KEY(e)[l] == IPPROTO_UDP && !(e->flags & E_HAVE)) {
                CtFlush f = {.family = family, .proto = IPPROTO_UDP};
                memcpy(f.vip.bytes, E_KEY(e), l);
                memcpy(&f.vport, E_KEY(e) + l + 4, 2);
                (void) ct_flush_list_add(&np->ct, &f);
        }
}

static int emit_partial(NetProxy *np, NftBatch *b) {
        int r;
        /* 1. new and rewritten chains, before elements that jump to them */
        for (ChainEnt *c = np->dirty_chains; c; c = c->dnext) {
                if (c->refs == 0)
                        continue;
                if (!c->have)
                        r = ruleset_emit_chain(b, np->table, c->name, &c->want);
                else if (!chain_spec_equal(&c->want, &c->committed))
                        r = ruleset_emit_chain_replace(b, np->table, c->name, &c->committed, &c->want);
                else
                        continue;
                if (r < 0)
                        return r;
                np->m.last_chains_changed++;
        }
        /* 2. element deletions (also of elements whose data changes), 3. additions */
        for (size_t i = 0; i < np->n_dirty; i++) {
                const Dirty *d = &np->dirty[i];
                const Entry *e = eref_get(np, d->ref);
                if ((e->flags & E_HAVE) && (e->refs == 0 || entry_changed(np, d, e))) {
                        unsigned pid = eref_pool(d->ref);
                        r = ruleset_emit_elem(b, pool_family(pid), np->table, pool_set(pid), true, E_KEY(e), NULL);
                        if (r < 0)
                                return r;
                        note_conntrack(np, d, e, true);
                        np->m.last_elements_deleted++;
                }
        }
        for (size_t i = 0; i < np->n_dirty; i++) {
                const Dirty *d = &np->dirty[i];
                const Entry *e = eref_get(np, d->ref);
                if (e->refs > 0 && (!(e->flags & E_HAVE) || entry_changed(np, d, e))) {
                        unsigned pid = eref_pool(d->ref);
                        const Pool *p = &np->pools[pid];
                        r = ruleset_emit_elem(b, pool_family(pid), np->table, pool_set(pid), false, E_KEY(e),
                                              p->dlen ? e->bytes + p->klen : NULL);
                        if (r < 0)
                                return r;
                        note_conntrack(np, d, e, false);
                        np->m.last_elements_added++;
                }
        }
        /* 4. chains nobody references any more */
        for (ChainEnt *c = np->dirty_chains; c; c = c->dnext)
                if (c->refs == 0 && c->have) {
                        if ((r = ruleset_emit_chain_delete(b, np->table, c->name, &c->committed)) < 0)
                                return r;
                        np->m.last_chains_changed++;
                }
        return 0;
}

/* After a successful commit the mirror becomes the wanted state. */
static void apply_committed(NetProxy *np, bool full) {
        if (full) {
                /* Every element: the dirty list (if any was kept before the full sync was asked for) is moot. */
                np->n_committed = 0;
                for (unsigned pid = 0; pid < N_POOLS; pid++) {
                        const Pool *p = &np->pools[pid];
                        for (uint32_t slot = 0; slot < p->used; slot++) {
                                Entry *e = pool_slot(p, slot);
                                if (!(e->flags & E_USED))
                                        continue;
                                if (e->refs > 0) {
                                        e->flags = E_USED | E_HAVE;
                                        np->n_committed++;
                                } else
                                        entry_unlink_free(np, (EntryRef) pid << POOL_SHIFT | slot);
                        }
                }
        } else
                for (size_t i = 0; i < np->n_dirty; i++) {
                        EntryRef ref = np->dirty[i].ref;
                        Entry *e = eref_get(np, ref);
                        np->n_committed += (uint64_t) (e->refs > 0) - (uint64_t) !!(e->flags & E_HAVE);
                        e->flags = E_USED | (e->refs > 0 ? E_HAVE : 0);
                        if (e->refs == 0)
                                entry_unlink_free(np, ref);
                }
        dirty_reset(np);

        size_t bk = 0;
        Vec dead = {};
        for (SMapNode *i = NULL; (i = smap_next(&np->chains, i, &bk));) {
                ChainEnt *c = i->value;
                if (!full && !c->dirty)
                        continue;
                c->dirty = false;
                c->have = c->refs > 0;
                chain_spec_done(&c->committed);
                if (c->have)
                        (void) chain_spec_copy(&c->committed, &c->want);
                else
                        (void) vec_push(&dead, c);
        }
        np->dirty_chains = NULL;
        for (size_t i = 0; i < dead.n; i++)
                chain_free(np, dead.v[i]);
        free(dead.v);
}

static void update_counts(NetProxy *np) {
        uint64_t elems = np->n_committed, rules = np->static_rules[0] + np->static_rules[1], chains = 0,
                 sets = 2 * _SET_MAX;
        size_t bk = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->chains, i, &bk));) {
                ChainEnt *c = i->value;
                if (!c->have)
                        continue;
                rules += ruleset_chain_rules(&c->committed);
                chains += 1 + (c->committed.kind == CHAIN_AFFINITY ? c->committed.n : 0);
                sets += c->committed.kind == CHAIN_AFFINITY ? c->committed.n : 0;
        }
        np->m.elements = elems;
        np->m.rules = rules;
        np->m.chains = chains + 2 * RULESET_STATIC_CHAINS;
        np->m.sets = sets;
        np->m.services = np->services.n;
        np->m.endpoint_slices = np->slices.n;
}

int netproxy_sync(NetProxy *np) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        int r;

        if ((np->synced & (NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES)) !=
            (NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES))
                return 0;
        uint64_t start = now_usec();
        r = recompute_dirty(np);
        if (r < 0)
                return r;
        uint64_t t_recompute = now_usec();
        bool full = np->need_full;
        if (!full && np->n_dirty == 0 && !np->dirty_chains) {
                np->pending_since = 0;
                return 0;
        }
        if ((r = nft_batch_new(&b)) < 0)
                return r;
        np->m.last_elements_added = np->m.last_elements_deleted = np->m.last_chains_changed = 0;
        ct_flush_list_done(&np->ct);
        r = full ? emit_full(np, b) : emit_partial(np, b);
        uint64_t t_emit = now_usec();
        if (r >= 0 && !np->cfg.dry_run && !np->conn)
                r = nft_conn_open(&np->conn);
        if (r >= 0 && !np->cfg.dry_run)
                r = nft_batch_commit(b, np->conn);
        uint64_t t_commit = now_usec();
        np->m.last_batch_bytes = nft_batch_size(b);
        if (r < 0) {
                /* The kernel state is unknown now: rebuild everything next time. */
                np->m.sync_failures++;
                np->need_full = true;
                return r;
        }
        apply_committed(np, full);
        np->need_full = false;
        np->committed_once = true;
        if (!np->cfg.dry_run) {
                (void) nft_get_genid(np->conn, &np->genid);
                np->m.conntrack_flushed += (uint64_t) MAX(ct_flush_apply(&np->ct, nft_conn_socket(np->conn)), 0);
        }
        uint64_t end = now_usec(), d = end - start;
        log_debug("netproxy %s sync: recompute %.3fms, build %.3fms, commit %.3fms, mirror %.3fms",
                  full ? "full" : "partial", (t_recompute - start) / 1e3, (t_emit - t_recompute) / 1e3,
                  (t_commit - t_emit) / 1e3, (end - t_commit) / 1e3);
        np->m.last_sync_full = full;
        if (full) {
                np->m.full_syncs++;
                np->m.last_full_sync_usec = d;
                np->m.total_full_sync_usec += d;
        } else {
                np->m.partial_syncs++;
                np->m.last_partial_sync_usec = d;
                np->m.total_partial_sync_usec += d;
                np->m.max_partial_sync_usec = MAX(np->m.max_partial_sync_usec, d);
        }
        if (np->pending_since) {
                np->m.last_programming_latency_usec = end - np->pending_since;
                np->m.max_programming_latency_usec =
                        MAX(np->m.max_programming_latency_usec, np->m.last_programming_latency_usec);
                np->pending_since = 0;
        }
        update_counts(np);
        return 1;
}

int netproxy_verify(NetProxy *np) {
        uint32_t gen;
        int r;
        if (!np->committed_once || np->need_full || np->cfg.dry_run)
                return 0;
        np->m.verifications++;
        r = nft_get_genid(np->conn, &gen);
        if (r < 0)
                return r;
        if (gen == np->genid)
                return 0; /* nobody committed anything since our last transaction */

        uint64_t want_rules[2] = {np->static_rules[0], np->static_rules[1]},
                 want_chains[2] = {RULESET_STATIC_CHAINS, RULESET_STATIC_CHAINS}, want_sets[2] = {_SET_MAX, _SET_MAX};
        size_t bk = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->chains, i, &bk));) {
                ChainEnt *c = i->value;
                if (!c->have)
                        continue;
                int f = fam_of(c->committed.family);
                bool aff = c->committed.kind == CHAIN_AFFINITY;
                want_rules[f] += ruleset_chain_rules(&c->committed);
                want_chains[f] += 1 + (aff ? c->committed.n : 0);
                want_sets[f] += aff ? c->committed.n : 0;
        }
        for (int f = 0; f < 2; f++) {
                uint64_t rules = 0, chains = 0, sets = 0;
                r = nft_table_count(np->conn, family_of(f), np->table, &rules, &chains, &sets);
                if (r < 0 || rules != want_rules[f] || chains != want_chains[f] || sets != want_sets[f]) {
                        np->need_full = true;
                        np->m.repairs++;
                        return 1;
                }
        }
        np->genid = gen;
        return 0;
}

int netproxy_cleanup(const char *table) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        _cleanup_(nft_conn_closep) NftConn *c = NULL;
        int r = nft_conn_open(&c);
        if (r < 0)
                return r;
        r = nft_batch_new(&b);
        if (r < 0)
                return r;
        for (int f = 0; f < 2; f++)
                if ((r = nft_batch_table(b, family_of(f), table ?: "nodelet", false)) < 0 ||
                    (r = nft_batch_table(b, family_of(f), table ?: "nodelet", true)) < 0)
                        return r;
        return nft_batch_commit(b, c);
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

static const char *ipproto_name(uint8_t p) {
        return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : p == IPPROTO_SCTP ? "sctp" : "?";
}

static void describe_entry(const NetProxy *np, unsigned pid, const Entry *e, FILE *f) {
        int family = pool_family(pid);
        SetId set = pool_set(pid);
        size_t l = ipaddr_len(family);
        char a[46], b[46];
        IPAddr x = {.family = family}, y = {.family = family};
        uint16_t port;
        uint32_t bucket;
        const uint8_t *k = E_KEY(e), *d = e->bytes + np->pools[pid].klen;

        fprintf(f, "%s %s ", family == AF_INET6 ? "ip6" : "ip", set_name(set));
        memcpy(x.bytes, k, l);
        switch (set) {
        case SET_FRONTENDS:
        case SET_NO_ENDPOINTS:
        case SET_SHORT:
        case SET_SHORT_MASQ:
                memcpy(&port, k + l + 4, 2);
                fprintf(f, "%s . %s . %u : ", ipaddr_to_string(&x, a), ipproto_name(k[l]), ntohs(port));
                if (d[0] == VERDICT_GOTO)
                        fprintf(f, "goto %s\n", (const char *) d + 1);
                else
                        fprintf(f, "drop\n");
                break;
        case SET_EP_TCP:
        case SET_EP_UDP:
        case SET_EP_SCTP: {
                uint16_t p2;
                memcpy(&port, k + l, 2);
                memcpy(&bucket, k + l + 4, 4);
                memcpy(y.bytes, d, l);
                memcpy(&p2, d + l, 2);
                fprintf(f, "%s . %u . %u : %s . %u\n", ipaddr_to_string(&x, a), ntohs(port), bucket,
                        ipaddr_to_string(&y, b), ntohs(p2));
                break;
        }
        case SET_HAIRPIN:
                memcpy(y.bytes, k + l, l);
                fprintf(f, "%s . %s\n", ipaddr_to_string(&x, a), ipaddr_to_string(&y, b));
                break;
        case SET_FW_IPS:
                memcpy(&port, k + l + 4, 2);
                fprintf(f, "%s . %s . %u\n", ipaddr_to_string(&x, a), ipproto_name(k[l]), ntohs(port));
                break;
        case SET_FW_ALLOW:
                memcpy(&port, k + l + 4, 2);
                memcpy(y.bytes, k + l + 8, l);
                fprintf(f, "%s . %s . %u . %s-", ipaddr_to_string(&x, a), ipproto_name(k[l]), ntohs(port),
                        ipaddr_to_string(&y, b));
                memcpy(y.bytes, k + 2 * l + 8 + l + 8, l);
                fprintf(f, "%s\n", ipaddr_to_string(&y, b));
                break;
        default:
                fprintf(f, "%s\n", ipaddr_to_string(&x, a));
        }
}

static int cmp_line(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int netproxy_describe(NetProxy *np, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        int r = recompute_dirty(np);
        if (r < 0)
                return r;
        FILE *f = open_memstream(&buf, &size);
        RET_NULL_ENOMEM(f);
        for (unsigned pid = 0; pid < N_POOLS; pid++)
                for (uint32_t slot = 0; slot < np->pools[pid].used; slot++) {
                        const Entry *e = pool_slot(&np->pools[pid], slot);
                        if ((e->flags & E_USED) && e->refs > 0)
                                describe_entry(np, pid, e, f);
                }
        size_t bk = 0;
        for (SMapNode *i = NULL; (i = smap_next(&np->chains, i, &bk));) {
                ChainEnt *c = i->value;
                if (c->refs == 0)
                        continue;
                fprintf(f, "%s chain %s", c->want.family == AF_INET6 ? "ip6" : "ip", c->name);
                if (c->want.kind == CHAIN_AFFINITY) {
                        fprintf(f, " affinity timeout %u%s", c->want.timeout, c->want.masq ? " masq" : "");
                        for (uint32_t j = 0; j < c->want.n; j++) {
                                char a[46];
                                fprintf(f, " %s.%u", ipaddr_to_string(&c->want.eps[j].addr, a), c->want.eps[j].port);
                        }
                }
                fputc('\n', f);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        /* sort the lines */
        size_t n = 0;
        for (char *p = buf; p && *p; p++)
                n += *p == '\n';
        _cleanup_free_ char **lines = calloc(n + 1, sizeof(char *));
        RET_NULL_ENOMEM(lines);
        size_t k = 0;
        for (char *save = NULL, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
                lines[k++] = t;
        qsort(lines, k, sizeof(char *), cmp_line);
        char *out = malloc(size + 2);
        RET_NULL_ENOMEM(out);
        out[0] = 0;
        char *w = out;
        for (size_t i = 0; i < k; i++)
                w = stpcpy(stpcpy(w, lines[i]), "\n");
        *ret = out;
        return 0;
}
