/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What the parts of netproxy's desired state and mirror share (not for other modules):
 *   netproxy/netproxy.c  objects in (Services, EndpointSlices), the proxy's lifetime, metrics
 *   netproxy/store.c     the element store: pools of elements, their hash and the dirty list
 *   netproxy/build.c     dynamic chains, and what each Service contributes (its elements and chains)
 *   netproxy/sync.c      transactions: full and partial batches, the mirror after a commit, verification
 *   netproxy/describe.c  the wanted state as text
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

#include <stdbool.h>
#include <stdint.h>

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

/* Families are indexed 0 (IPv4) and 1 (IPv6); pool pid holds the elements of one (family, set). */
static inline unsigned eref_pool(EntryRef ref) {
        return ref >> POOL_SHIFT;
}

static inline int fam_of(int family) {
        return family == AF_INET6 ? 1 : 0;
}

static inline int family_of(int fam) {
        return fam ? AF_INET6 : AF_INET;
}

static inline unsigned pool_id(int family, SetId set) {
        return (unsigned) fam_of(family) * _SET_MAX + (unsigned) set;
}

static inline int pool_family(unsigned pid) {
        return family_of(pid >= _SET_MAX);
}

static inline SetId pool_set(unsigned pid) {
        return (SetId) (pid % _SET_MAX);
}

static inline Entry *pool_slot(const Pool *p, uint32_t slot) {
        return (Entry *) (p->blocks[slot >> POOL_BLOCK_SHIFT] + (size_t) (slot & (POOL_BLOCK - 1)) * p->slot_size);
}

static inline Entry *eref_get(const NetProxy *np, EntryRef ref) {
        return pool_slot(&np->pools[eref_pool(ref)], ref & (POOL_MAX_SLOTS - 1));
}

/* Appends to a vector that doubles when full. */
static inline int vec_push(Vec *v, void *p) {
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

/* ---- element store (store.c) ---- */

void element_store_init(NetProxy *np);
/* Frees every element, the hash and the dirty list. */
void element_store_done(NetProxy *np);
/* Takes a reference on (set, key) wanting data (NULL for sets without data). */
int entry_acquire(NetProxy *np, int family, SetId set, const uint8_t *key, const uint8_t *data, EntryRef *ret);
void entry_release(NetProxy *np, EntryRef ref);
/* Removes an element from the hash and returns its slot to the pool (after its deletion was committed). */
void entry_unlink_free(NetProxy *np, EntryRef ref);
/* Drops the dirty list and the committed data it saved. */
void dirty_reset(NetProxy *np);

/* ---- dynamic chains and Services (build.c) ---- */

void chain_spec_done(ChainSpec *s);
int chain_spec_copy(ChainSpec *dst, const ChainSpec *src);
/* Forgets a chain nobody references, once its deletion was committed. */
void chain_free(NetProxy *np, ChainEnt *c);
/* The state of Service key (it may have slices before the Service itself is known); NULL when missing and !create,
 * or out of memory. */
SvcState *svc_state_get(NetProxy *np, const char *key, bool create);
/* The Service or its slices changed: its contribution is recomputed at the next sync. */
void svc_mark_dirty(NetProxy *np, SvcState *st);
/* Recomputes the contributions of the changed Services (their elements and chains become dirty where they change)
 * and forgets Services without object and slices. */
int recompute_dirty(NetProxy *np);
