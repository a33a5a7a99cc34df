/* SPDX-License-Identifier: Apache-2.0 */
/* The element store: every element of the wanted state, reference counted, in per-set pools; the dirty list of
 * the elements a partial sync has to send (design in netproxy-internal.h). */

#include "netproxy/netproxy-internal.h"

void element_store_init(NetProxy *np) {
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

void dirty_reset(NetProxy *np) {
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

void entry_unlink_free(NetProxy *np, EntryRef ref) {
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
int entry_acquire(NetProxy *np, int family, SetId set, const uint8_t *key, const uint8_t *data, EntryRef *ret) {
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

void entry_release(NetProxy *np, EntryRef ref) {
        Entry *e = eref_get(np, ref);
        if (e->refs == 1)
                mark_dirty(np, ref, e);
        e->refs--;
}

void element_store_done(NetProxy *np) {
        pools_done(np);
        np->buckets = mfree(np->buckets);
        np->n_buckets = np->n_entries = 0;
        dirty_reset(np);
}
