/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodelet's nftables ruleset (docs/netproxy.md): the static skeleton of a table, the shared sets and maps, the
 * element encodings, and the two kinds of dynamic chains (lb-N dispatch chains and per-service affinity chains).
 * Everything is emitted into an NftBatch; nothing here talks to the kernel. */

#include <stdbool.h>
#include <stdint.h>

#include "netproxy/model.h"
#include "netproxy/nft.h"

/* Chains of the static skeleton, per family (4 plain + 7 base chains). */
#define RULESET_STATIC_CHAINS 11

/* Buckets of the cluster-wide endpoints that externalTrafficPolicy Local frontends keep for pods and the node
 * itself (kube-proxy's short-circuit): numgen ... offset SHORT_BUCKET_OFFSET, beside the local endpoints' 0..N-1. */
#define SHORT_BUCKET_OFFSET 65536U

/* The packet mark bit that asks nat-postrouting to masquerade (kube-proxy uses the same bit). */
#define NETPROXY_MASQ_MARK 0x4000U

typedef enum SetId {
        SET_FRONTENDS,    /* addr . proto . port : verdict (goto lb-N / lbm-N / aff-…) */
        SET_NO_ENDPOINTS, /* addr . proto . port : verdict (goto reject-chain / drop) */
        SET_EP_TCP,       /* addr . port . bucket : endpoint addr . port */
        SET_EP_UDP,
        SET_EP_SCTP,
        SET_CLUSTER_IPS, /* addr */
        SET_HAIRPIN,     /* endpoint addr . endpoint addr */
        SET_FW_IPS,      /* load-balancer addr . proto . port with loadBalancerSourceRanges */
        SET_FW_ALLOW,    /* ... . source range (interval): key is start then end */
        SET_SHORT,       /* externalTrafficPolicy Local frontends: pods' way to all endpoints (verdict) */
        SET_SHORT_MASQ,  /* ... the node's own way, masqueraded (verdict) */
        _SET_MAX,
} SetId;

const char *set_name(SetId s);
bool set_is_verdict_map(SetId s);
size_t set_key_len(SetId s, int family);
size_t set_data_len(SetId s, int family); /* verdict maps: VERDICT_DATA_LEN */

/* Verdict data as stored in the mirror: one byte verdict kind, then the NUL-terminated chain name. Our chain names
 * are at most 16 characters ("aff-" and 12 hex digits, "lbxm-N", "reject-chain"); every byte here is paid 10,000
 * times at 10k Services. */
#define VERDICT_DATA_LEN 18
enum {
        VERDICT_GOTO = 'g',
        VERDICT_DROP = 'd',
};

size_t key_frontend(uint8_t *k, const InAddr *a, Proto p, uint16_t port);
size_t key_endpoint(uint8_t *k, const InAddr *a, uint16_t port, uint32_t bucket);
size_t data_endpoint(uint8_t *d, const InAddr *a, uint16_t port);
size_t key_hairpin(uint8_t *k, const InAddr *a);
/* start and end keys of a firewall-allow element, back to back */
size_t key_firewall_allow(uint8_t *k, const InAddr *a, Proto p, uint16_t port, const InPrefix *range);

typedef struct RulesetConfig {
        const char *table;
        const InPrefix *cluster_cidr; /* NULL: no off-cluster masquerade rule */
        const InPrefix *service_cidr; /* NULL: no drop of unallocated VIPs */
} RulesetConfig;

/* Chains, sets and rules that do not depend on Services. Returns the number of rules it added. */
int ruleset_emit_static(NftBatch *b, int family, const RulesetConfig *c);
/* Emits an element add/delete from mirror bytes. */
int ruleset_emit_elem(NftBatch *b, int family, const char *table, SetId s, bool del, const uint8_t *key,
                      const uint8_t *data);

typedef struct EpTarget {
        InAddr addr;
        uint16_t port;
        bool remote; /* on another node: cannot hairpin through this node */
} EpTarget;

typedef enum ChainKind {
        CHAIN_LB, /* lb-N / lbm-N: pick bucket numgen random mod N from the ep-* maps */
        CHAIN_AFFINITY,
} ChainKind;

typedef struct ChainSpec {
        ChainKind kind;
        int family;
        uint32_t n;
        bool masq;
        bool offset; /* lb chains over the SHORT_BUCKET_OFFSET buckets (lbx-N / lbxm-N) */
        /* affinity only */
        Proto proto;
        uint32_t timeout;
        EpTarget *eps;
} ChainSpec;

bool chain_spec_equal(const ChainSpec *a, const ChainSpec *b);
/* Creates the chain (and for affinity its per-endpoint chains and sets) and its rules; returns rules added. */
int ruleset_emit_chain(NftBatch *b, const char *table, const char *name, const ChainSpec *s);
/* Flushes and deletes the chain and its auxiliary objects. */
int ruleset_emit_chain_delete(NftBatch *b, const char *table, const char *name, const ChainSpec *s);
/* Rewrites a chain whose spec changed: flush, drop the old auxiliaries, emit the new ones. Returns rules added. */
int ruleset_emit_chain_replace(NftBatch *b, const char *table, const char *name, const ChainSpec *old,
                               const ChainSpec *new);
unsigned ruleset_chain_rules(const ChainSpec *s);
