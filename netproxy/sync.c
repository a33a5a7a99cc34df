/* SPDX-License-Identifier: Apache-2.0 */
/* Transactions: a full sync rewrites nodelet's tables, a partial one sends what the dirty lists name; after a
 * commit the mirror becomes the wanted state. Verification compares the kernel's counts with the mirror. */

#include "common/log.h"
#include "common/time-util.h"
#include "netproxy/netproxy-internal.h"

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
        size_t l = in_addr_family_size(family);
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
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        r = recompute_dirty(np);
        if (r < 0)
                return r;
        uint64_t t_recompute = now_usec(CLOCK_MONOTONIC);
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
        uint64_t t_emit = now_usec(CLOCK_MONOTONIC);
        if (r >= 0 && !np->cfg.dry_run && !np->conn)
                r = nft_conn_open(&np->conn);
        if (r >= 0 && !np->cfg.dry_run)
                r = nft_batch_commit(b, np->conn);
        uint64_t t_commit = now_usec(CLOCK_MONOTONIC);
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
        uint64_t end = now_usec(CLOCK_MONOTONIC), d = end - start;
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
