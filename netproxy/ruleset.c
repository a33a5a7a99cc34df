/* SPDX-License-Identifier: Apache-2.0 */
/* The ruleset, encoded the way the nft tool encodes the equivalent text (docs/netproxy.md shows the text), so that
 * `nft list table ip nodelet` prints it and `nft -f` loads the printout again. Design goals, against kube-proxy's
 * nftables mode: no per-Service chains or anonymous sets (only affinity Services get chains), every per-Service
 * datum is an element of a shared map, so a change is a few element operations and a packet does O(1) hash
 * lookups whatever the number of Services. */

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/udata.h>
#include <stdio.h>

#include "netproxy/ruleset.h"
#include "netproxy/smap.h"

/* nft datatype ids (src/datatype.h of nftables) used in set key/data types; a concatenation packs one id per
 * 6 bits, first component in the highest bits. */
#define TYPE_INTEGER 4
#define TYPE_IPADDR 7
#define TYPE_IP6ADDR 8
#define TYPE_INET_PROTOCOL 12
#define TYPE_INET_SERVICE 13
#define TYPE_BITS 6
/* nft's userdata for `typeof` sets: expression kinds and payload protocol descriptors (nftables src/proto.c). */
#define UD_EXPR_PAYLOAD 7
#define UD_EXPR_CONCAT 13
#define UD_EXPR_NUMGEN 23
#define UD_PROTO_UDP 6
#define UD_PROTO_TCP 8
#define UD_PROTO_SCTP 10
#define UD_PROTO_IP 12
#define UD_PROTO_IP6 13
#define UD_FIELD_IP_DADDR 12
#define UD_FIELD_IP6_DADDR 9
#define UD_FIELD_TH_DPORT 2
#define UD_BYTEORDER_BIG 2

static const char *const set_names[_SET_MAX] = {
        [SET_FRONTENDS] = "frontends",
        [SET_NO_ENDPOINTS] = "no-endpoints",
        [SET_EP_TCP] = "ep-tcp",
        [SET_EP_UDP] = "ep-udp",
        [SET_EP_SCTP] = "ep-sctp",
        [SET_CLUSTER_IPS] = "cluster-ips",
        [SET_HAIRPIN] = "hairpin",
        [SET_FW_IPS] = "firewall-ips",
        [SET_FW_ALLOW] = "firewall-allow",
        [SET_SHORT] = "short-circuit",
        [SET_SHORT_MASQ] = "short-circuit-masq",
};

const char *set_name(SetId s) {
        return set_names[s];
}

bool set_is_verdict_map(SetId s) {
        return s == SET_FRONTENDS || s == SET_NO_ENDPOINTS || s == SET_SHORT || s == SET_SHORT_MASQ;
}

size_t set_key_len(SetId s, int family) {
        switch (s) {
        case SET_FRONTENDS:
        case SET_NO_ENDPOINTS:
        case SET_SHORT:
        case SET_SHORT_MASQ:
        case SET_EP_TCP:
        case SET_EP_UDP:
        case SET_EP_SCTP:
                return in_addr_family_size(family) + 8;
        case SET_CLUSTER_IPS:
                return in_addr_family_size(family);
        case SET_HAIRPIN:
                return 2 * in_addr_family_size(family);
        case SET_FW_IPS:
                return in_addr_family_size(family) + 8;
        case SET_FW_ALLOW:
                return 2 * (2 * in_addr_family_size(family) + 8); /* start and end */
        default:
                return 0;
        }
}

size_t set_data_len(SetId s, int family) {
        if (set_is_verdict_map(s))
                return VERDICT_DATA_LEN;
        if (s == SET_EP_TCP || s == SET_EP_UDP || s == SET_EP_SCTP)
                return in_addr_family_size(family) + 4;
        return 0;
}

/* Concatenation components are padded to 32-bit registers; ports are big endian, the numgen bucket host order. */
size_t key_frontend(uint8_t *k, const InAddr *a, Proto p, uint16_t port) {
        size_t l = in_addr_family_size(a->family);
        uint16_t be = htons(port);
        memcpy(k, a->bytes, l);
        memset(k + l, 0, 8);
        k[l] = proto_to_ipproto(p);
        memcpy(k + l + 4, &be, 2);
        return l + 8;
}

size_t key_endpoint(uint8_t *k, const InAddr *a, uint16_t port, uint32_t bucket) {
        size_t l = in_addr_family_size(a->family);
        uint16_t be = htons(port);
        memcpy(k, a->bytes, l);
        memset(k + l, 0, 4);
        memcpy(k + l, &be, 2);
        memcpy(k + l + 4, &bucket, 4);
        return l + 8;
}

size_t data_endpoint(uint8_t *d, const InAddr *a, uint16_t port) {
        size_t l = in_addr_family_size(a->family);
        uint16_t be = htons(port);
        memcpy(d, a->bytes, l);
        memset(d + l, 0, 4);
        memcpy(d + l, &be, 2);
        return l + 4;
}

size_t key_firewall_allow(uint8_t *k, const InAddr *a, Proto p, uint16_t port, const InPrefix *range) {
        size_t l = in_addr_family_size(a->family), half = 2 * l + 8;
        key_frontend(k, a, p, port);
        InAddr first = in_prefix_first(range), last = in_prefix_last(range);
        memcpy(k + l + 8, first.bytes, l);
        memcpy(k + half, k, l + 8);
        memcpy(k + half + l + 8, last.bytes, l);
        return 2 * half;
}

size_t key_hairpin(uint8_t *k, const InAddr *a) {
        size_t l = in_addr_family_size(a->family);
        memcpy(k, a->bytes, l);
        memcpy(k + l, a->bytes, l);
        return 2 * l;
}

static uint32_t concat_type(const uint32_t *ids, size_t n) {
        uint32_t t = 0;
        for (size_t i = 0; i < n; i++)
                t = (t << TYPE_BITS) | ids[i];
        return t;
}

static void ud_payload(struct nftnl_udata_buf *u, uint8_t idx, uint32_t desc, uint32_t field) {
        struct nftnl_udata *sub = nftnl_udata_nest_start(u, idx);
        nftnl_udata_put_u32(u, 0, UD_EXPR_PAYLOAD);
        struct nftnl_udata *d = nftnl_udata_nest_start(u, 1);
        nftnl_udata_put_u32(u, 0, desc);
        nftnl_udata_put_u32(u, 1, field);
        nftnl_udata_nest_end(u, d);
        nftnl_udata_nest_end(u, sub);
}

/* `typeof ADDR daddr . P dport . numgen random mod 1 : ADDR daddr . P dport` — the endpoint maps are declared by
 * typeof because nft has no type name for the numgen integer; the per-protocol maps work around nft 1.0.6 refusing
 * `th dport` in the data of IPv6 nat maps. */
static struct nftnl_udata_buf *ud_endpoint_map(int family, SetId s) {
        struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(512);
        if (!u)
                return NULL;
        uint32_t ip = family == AF_INET6 ? UD_PROTO_IP6 : UD_PROTO_IP;
        uint32_t daddr = family == AF_INET6 ? UD_FIELD_IP6_DADDR : UD_FIELD_IP_DADDR;
        uint32_t th = s == SET_EP_UDP ? UD_PROTO_UDP : s == SET_EP_SCTP ? UD_PROTO_SCTP : UD_PROTO_TCP;
        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, 0);
        nftnl_udata_put_u32(u, NFTNL_UDATA_SET_DATABYTEORDER, 0);
        for (int part = 0; part < 2; part++) {
                struct nftnl_udata *top =
                        nftnl_udata_nest_start(u, part == 0 ? NFTNL_UDATA_SET_KEY_TYPEOF : NFTNL_UDATA_SET_DATA_TYPEOF);
                nftnl_udata_put_u32(u, NFTNL_UDATA_SET_TYPEOF_EXPR, UD_EXPR_CONCAT);
                struct nftnl_udata *data = nftnl_udata_nest_start(u, NFTNL_UDATA_SET_TYPEOF_DATA);
                ud_payload(u, 0, ip, daddr);
                ud_payload(u, 1, th, UD_FIELD_TH_DPORT);
                if (part == 0) {
                        struct nftnl_udata *sub = nftnl_udata_nest_start(u, 2);
                        nftnl_udata_put_u32(u, 0, UD_EXPR_NUMGEN);
                        struct nftnl_udata *d = nftnl_udata_nest_start(u, 1);
                        nftnl_udata_put_u32(u, 0, NFT_NG_RANDOM);
                        nftnl_udata_put_u32(u, 1, 1);
                        nftnl_udata_put_u32(u, 2, 0);
                        nftnl_udata_nest_end(u, d);
                        nftnl_udata_nest_end(u, sub);
                }
                nftnl_udata_nest_end(u, data);
                nftnl_udata_nest_end(u, top);
        }
        return u;
}

/* What nft stores for `type a . b . c` sets and maps and for single-type sets. */
static const uint8_t ud_concat_map[] = {0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00,
                                        0x00, 0x00, 0x03, 0x08, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00,
                                        0x01, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00};
static const uint8_t ud_concat_set[] = {0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08,
                                        0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00};
static const uint8_t ud_addr_set[] = {0x00, 0x04, UD_BYTEORDER_BIG, 0x00, 0x00, 0x00};

static const uint8_t fields4[] = {4, 1, 2, 4}, fields6[] = {16, 1, 2, 16};

static int emit_set(NftBatch *b, int family, const char *table, SetId s) {
        uint32_t at = family == AF_INET6 ? TYPE_IP6ADDR : TYPE_IPADDR;
        NftSetDef d = {.name = set_names[s], .key_len = (uint32_t) set_key_len(s, family)};
        struct nftnl_udata_buf *u = NULL;
        int r;

        switch (s) {
        case SET_FRONTENDS:
        case SET_NO_ENDPOINTS:
        case SET_SHORT:
        case SET_SHORT_MASQ: {
                uint32_t ids[] = {at, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE};
                d.flags = NFT_SET_MAP;
                d.key_type = concat_type(ids, 3);
                d.data_type = NFT_DATA_VERDICT;
                d.data_len = 16;
                d.udata = ud_concat_map;
                d.udata_len = sizeof(ud_concat_map);
                break;
        }
        case SET_EP_TCP:
        case SET_EP_UDP:
        case SET_EP_SCTP: {
                uint32_t kids[] = {at, TYPE_INET_SERVICE, TYPE_INTEGER}, dids[] = {at, TYPE_INET_SERVICE};
                d.flags = NFT_SET_MAP;
                d.key_type = concat_type(kids, 3);
                d.data_type = concat_type(dids, 2);
                d.data_len = (uint32_t) set_data_len(s, family);
                u = ud_endpoint_map(family, s);
                RET_NULL_ENOMEM(u);
                d.udata = nftnl_udata_buf_data(u);
                d.udata_len = nftnl_udata_buf_len(u);
                break;
        }
        case SET_CLUSTER_IPS:
                d.key_type = at;
                d.udata = ud_addr_set;
                d.udata_len = sizeof(ud_addr_set);
                break;
        case SET_HAIRPIN: {
                uint32_t ids[] = {at, at};
                d.key_type = concat_type(ids, 2);
                d.udata = ud_concat_set;
                d.udata_len = sizeof(ud_concat_set);
                break;
        }
        case SET_FW_IPS: {
                uint32_t ids[] = {at, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE};
                d.key_type = concat_type(ids, 3);
                d.udata = ud_concat_set;
                d.udata_len = sizeof(ud_concat_set);
                break;
        }
        case SET_FW_ALLOW: {
                /* `flags interval` on a concatenation: the kernel's pipapo set, which matches source ranges */
                uint32_t ids[] = {at, TYPE_INET_PROTOCOL, TYPE_INET_SERVICE, at};
                d.key_type = concat_type(ids, 4);
                d.key_len = (uint32_t) set_key_len(s, family) / 2;
                d.flags = NFT_SET_INTERVAL | NFT_SET_CONCAT;
                d.field_len = family == AF_INET6 ? fields6 : fields4;
                d.n_fields = 4;
                d.udata = ud_concat_set;
                d.udata_len = sizeof(ud_concat_set);
                break;
        }
        default:
                return -EINVAL;
        }
        r = nft_batch_set(b, family, table, &d);
        if (u)
                nftnl_udata_buf_free(u);
        return r;
}

int ruleset_emit_elem(NftBatch *b, int family, const char *table, SetId s, bool del, const uint8_t *key,
                      const uint8_t *data) {
        size_t kl = set_key_len(s, family);
        if (set_is_verdict_map(s)) {
                int v = 0;
                const char *chain = NULL;
                if (data && data[0] == VERDICT_GOTO) {
                        v = NFT_GOTO;
                        chain = (const char *) data + 1;
                } else if (data && data[0] == VERDICT_DROP)
                        v = NF_DROP;
                return nft_batch_elem(b, family, table, set_names[s], del, key, NULL, kl, NULL, 0, v, chain);
        }
        if (s == SET_FW_ALLOW)
                return nft_batch_elem(b, family, table, set_names[s], del, key, key + kl / 2, kl / 2, NULL, 0, -1,
                                      NULL);
        return nft_batch_elem(b, family, table, set_names[s], del, key, NULL, kl, data,
                              data ? set_data_len(s, family) : 0, -1, NULL);
}

/* ---- rule building blocks ---- */

/* The register holding the concatenation component at byte offset off (nft: first in reg 1, then 32-bit regs). */
static uint32_t creg(size_t off) {
        return off == 0 ? NFT_REG_1 : NFT_REG32_00 + (uint32_t) (off / 4);
}

static uint32_t off_saddr(int family) {
        return family == AF_INET6 ? 8 : 12;
}

static uint32_t off_daddr(int family) {
        return family == AF_INET6 ? 24 : 16;
}

static int x_addr(struct nftnl_rule *r, int family, bool src, uint32_t reg) {
        return nft_expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER, src ? off_saddr(family) : off_daddr(family),
                                (uint32_t) in_addr_family_size(family), reg);
}

static int x_dport(struct nftnl_rule *r, uint32_t reg) {
        return nft_expr_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg);
}

static int x_l4proto_eq(struct nftnl_rule *r, uint8_t proto) {
        int k = nft_expr_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);
        return k < 0 ? k : nft_expr_cmp(r, NFT_REG_1, NFT_CMP_EQ, &proto, 1);
}

/* meta mark set meta mark | 0x4000 */
static int x_mark_masq(struct nftnl_rule *r) {
        uint32_t mask = ~NETPROXY_MASQ_MARK, xor = NETPROXY_MASQ_MARK;
        int k = nft_expr_meta_load(r, NFT_META_MARK, NFT_REG_1);
        if (k >= 0)
                k = nft_expr_bitwise(r, NFT_REG_1, &mask, &xor, 4);
        if (k >= 0)
                k = nft_expr_meta_set(r, NFT_META_MARK, NFT_REG_1);
        return k;
}

/* ADDR daddr . meta l4proto . th dport, the frontend key */
static int x_frontend_key(struct nftnl_rule *r, int family) {
        size_t l = in_addr_family_size(family);
        int k = x_addr(r, family, false, NFT_REG_1);
        if (k >= 0)
                k = nft_expr_meta_load(r, NFT_META_L4PROTO, creg(l));
        if (k >= 0)
                k = x_dport(r, creg(l + 4));
        return k;
}

static int x_ct_bit(struct nftnl_rule *r, uint32_t key, uint32_t bit) {
        uint32_t mask = bit, xor = 0, zero = 0;
        int k = nft_expr_ct_load(r, key, NFT_REG_1);
        if (k >= 0)
                k = nft_expr_bitwise(r, NFT_REG_1, &mask, &xor, 4);
        if (k >= 0)
                k = nft_expr_cmp(r, NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
        return k;
}

/* ADDR saddr|daddr [!=] cidr, as payload & mask == net */
static int x_cidr(struct nftnl_rule *r, const InPrefix *c, bool src, bool invert) {
        uint8_t mask[16] = {}, xor[16] = {
                               };
        size_t l = in_addr_family_size(c->addr.family);
        for (unsigned i = 0; i < l; i++) {
                unsigned bits = c->len > i * 8 ? MIN(8U, c->len - i * 8) : 0;
                mask[i] = (uint8_t) (0xff00 >> bits);
        }
        InAddr net = in_prefix_first(c); /* the kernel compares the masked address with the network */
        int k = x_addr(r, c->addr.family, src, NFT_REG_1);
        if (k >= 0)
                k = nft_expr_bitwise(r, NFT_REG_1, mask, xor, l);
        if (k >= 0)
                k = nft_expr_cmp(r, NFT_REG_1, invert ? NFT_CMP_NEQ : NFT_CMP_EQ, net.bytes, l);
        return k;
}

typedef struct RuleCtx {
        NftBatch *b;
        int family;
        const char *table;
        int n;
} RuleCtx;

static struct nftnl_rule *rule(RuleCtx *c, const char *chain) {
        return nft_rule_new(c->family, c->table, chain);
}

static int commit_rule(RuleCtx *c, struct nftnl_rule *r, int k) {
        if (k < 0) {
                nftnl_rule_free(r);
                return k;
        }
        c->n++;
        return nft_batch_rule(c->b, r);
}

#define RULE(c, chain, ...)                                                                                            \
        ({                                                                                                             \
                struct nftnl_rule *_r = rule(c, chain);                                                                \
                int _k = _r ? 0 : -ENOMEM;                                                                             \
                if (_k >= 0) {                                                                                         \
                        struct nftnl_rule *r = _r;                                                                     \
                        __VA_ARGS__;                                                                                   \
                        _k = commit_rule(c, _r, _k);                                                                   \
                }                                                                                                      \
                _k;                                                                                                    \
        })
#define X(e)                                                                                                           \
        do {                                                                                                           \
                if (_k >= 0)                                                                                           \
                        _k = (e);                                                                                      \
        } while (0)

static const struct {
        const char *name;
        NftHook hook;
} base_chains[] = {
        {"nat-prerouting", {"nat", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST}},
        {"nat-output", {"nat", NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST}},
        {"nat-postrouting", {"nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC}},
        {"filter-prerouting", {"filter", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST - 10}},
        {"filter-input", {"filter", NF_INET_LOCAL_IN, NF_IP_PRI_FILTER - 10}},
        {"filter-forward", {"filter", NF_INET_FORWARD, NF_IP_PRI_FILTER - 10}},
        {"filter-output", {"filter", NF_INET_LOCAL_OUT, NF_IP_PRI_FILTER - 10}},
};

int ruleset_emit_static(NftBatch *b, int family, const RulesetConfig *cfg) {
        RuleCtx c = {.b = b, .family = family, .table = cfg->table};
        const char *t = cfg->table;
        size_t l = in_addr_family_size(family);
        int k;

        for (SetId s = 0; s < _SET_MAX; s++)
                if ((k = emit_set(b, family, t, s)) < 0)
                        return k;
        static const char *const plain[] = {"reject-chain", "services", "masquerading", "endpoints-check"};
        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                if ((k = nft_batch_chain(b, family, t, plain[i], NULL)) < 0)
                        return k;
        for (size_t i = 0; i < ELEMENTSOF(base_chains); i++)
                if ((k = nft_batch_chain(b, family, t, base_chains[i].name, &base_chains[i].hook)) < 0)
                        return k;

        /* reject-chain: TCP gets a reset, everything else ICMP port unreachable (kube-proxy: REJECT), so a client
         * of a Service without endpoints fails at once instead of timing out. */
        k = RULE(&c, "reject-chain", {
                X(x_l4proto_eq(r, IPPROTO_TCP));
                X(nft_expr_reject(r, NFT_REJECT_TCP_RST, 0));
        });
        if (k >= 0)
                k = RULE(&c, "reject-chain",
                         X(nft_expr_reject(r, NFT_REJECT_ICMP_UNREACH, family == AF_INET6 ? 4 /* port unreach */ : 3)));

        /* services: off-cluster traffic to a ClusterIP is masqueraded (kube-proxy with --cluster-cidr), then the
         * frontend map dispatches. */
        if (k >= 0 && cfg->cluster_cidr)
                k = RULE(&c, "services", {
                        X(x_cidr(r, cfg->cluster_cidr, true, true));
                        X(x_addr(r, family, false, NFT_REG_1));
                        X(nft_expr_lookup(r, NFT_REG_1, "cluster-ips", -1, false));
                        X(x_mark_masq(r));
                });
        /* externalTrafficPolicy Local only restricts traffic from outside: pods and the node itself reach an external
         * address of such a Service through all endpoints, as if they went out to the load balancer and came back
         * (kube-proxy's short-circuit); the node's own connections are masqueraded (its source is the VIP's). */
        if (k >= 0 && cfg->cluster_cidr)
                k = RULE(&c, "services", {
                        X(x_cidr(r, cfg->cluster_cidr, true, false));
                        X(x_frontend_key(r, family));
                        X(nft_expr_lookup(r, NFT_REG_1, "short-circuit", NFT_REG_VERDICT, false));
                });
        if (k >= 0)
                k = RULE(&c, "services", {
                        uint32_t local = 2; /* RTN_LOCAL */
                        X(nft_expr_fib_saddr_type(r, NFT_REG_1));
                        X(nft_expr_cmp(r, NFT_REG_1, NFT_CMP_EQ, &local, 4));
                        X(x_frontend_key(r, family));
                        X(nft_expr_lookup(r, NFT_REG_1, "short-circuit-masq", NFT_REG_VERDICT, false));
                });
        if (k >= 0)
                k = RULE(&c, "services", {
                        X(x_frontend_key(r, family));
                        X(nft_expr_lookup(r, NFT_REG_1, "frontends", NFT_REG_VERDICT, false));
                });

        /* masquerading: hairpin (an endpoint reaching itself through a VIP) always, else marked packets. */
        if (k >= 0)
                k = RULE(&c, "masquerading", {
                        X(x_ct_bit(r, NFT_CT_STATUS, IPS_DST_NAT));
                        X(x_addr(r, family, true, NFT_REG_1));
                        X(x_addr(r, family, false, creg(l)));
                        X(nft_expr_lookup(r, NFT_REG_1, "hairpin", -1, false));
                        X(nft_expr_masq(r, 0));
                });
        if (k >= 0)
                k = RULE(&c, "masquerading", {
                        uint32_t m = NETPROXY_MASQ_MARK, z = 0;
                        X(nft_expr_meta_load(r, NFT_META_MARK, NFT_REG_1));
                        X(nft_expr_bitwise(r, NFT_REG_1, &m, &z, 4));
                        X(nft_expr_cmp(r, NFT_REG_1, NFT_CMP_EQ, &z, 4));
                        X(nft_expr_verdict(r, NFT_RETURN, NULL));
                });
        if (k >= 0)
                k = RULE(&c, "masquerading", {
                        uint32_t all = 0xffffffffU, m = NETPROXY_MASQ_MARK;
                        X(nft_expr_meta_load(r, NFT_META_MARK, NFT_REG_1));
                        X(nft_expr_bitwise(r, NFT_REG_1, &all, &m, 4));
                        X(nft_expr_meta_set(r, NFT_META_MARK, NFT_REG_1));
                });
        if (k >= 0)
                k = RULE(&c, "masquerading", X(nft_expr_masq(r, NF_NAT_RANGE_PROTO_RANDOM_FULLY)));

        /* endpoints-check (filter hooks, new connections): Services without usable endpoints are rejected or
         * dropped, undefined ports of a ClusterIP rejected, unallocated service IPs dropped. */
        if (k >= 0)
                k = RULE(&c, "endpoints-check", {
                        X(x_frontend_key(r, family));
                        X(nft_expr_lookup(r, NFT_REG_1, "no-endpoints", NFT_REG_VERDICT, false));
                });
        if (k >= 0)
                k = RULE(&c, "endpoints-check", {
                        X(x_addr(r, family, false, NFT_REG_1));
                        X(nft_expr_lookup(r, NFT_REG_1, "cluster-ips", -1, false));
                        X(nft_expr_verdict(r, NFT_GOTO, "reject-chain"));
                });
        if (k >= 0 && cfg->service_cidr)
                k = RULE(&c, "endpoints-check", {
                        X(x_cidr(r, cfg->service_cidr, false, false));
                        X(nft_expr_verdict(r, NF_DROP, NULL));
                });

        /* filter-prerouting: loadBalancerSourceRanges, before DNAT (kube-proxy's firewall-check) */
        if (k >= 0)
                k = RULE(&c, "filter-prerouting", {
                        X(x_frontend_key(r, family));
                        X(nft_expr_lookup(r, NFT_REG_1, "firewall-ips", -1, false));
                        X(x_frontend_key(r, family));
                        X(nft_expr_byteorder_hton(r, creg(l), 1, 2));
                        X(x_addr(r, family, true, creg(l + 8)));
                        X(nft_expr_lookup(r, NFT_REG_1, "firewall-allow", -1, true));
                        X(nft_expr_verdict(r, NF_DROP, NULL));
                });

        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(base_chains); i++) {
                const char *name = base_chains[i].name;
                if (streq(name, "filter-prerouting"))
                        continue;
                bool nat = startswith(name, "nat-");
                const char *target = !nat                             ? "endpoints-check"
                                     : streq(name, "nat-postrouting") ? "masquerading"
                                                                      : "services";
                k = RULE(&c, name, {
                        if (!nat)
                                X(x_ct_bit(r, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW)));
                        X(nft_expr_verdict(r, NFT_JUMP, target));
                });
        }
        return k < 0 ? k : c.n;
}

/* ---- dynamic chains ---- */

bool chain_spec_equal(const ChainSpec *a, const ChainSpec *b) {
        if (a->kind != b->kind || a->family != b->family || a->n != b->n || a->masq != b->masq ||
            a->offset != b->offset)
                return false;
        if (a->kind == CHAIN_LB)
                return true;
        if (a->proto != b->proto || a->timeout != b->timeout)
                return false;
        for (uint32_t i = 0; i < a->n; i++)
                if (!in_addr_equal(&a->eps[i].addr, &b->eps[i].addr) || a->eps[i].port != b->eps[i].port)
                        return false;
        return true;
}

unsigned ruleset_chain_rules(const ChainSpec *s) {
        if (s->kind == CHAIN_LB)
                return (s->masq ? 1 : 0) + _PROTO_MAX;
        /* main chain: n affinity checks + n picks; each endpoint chain: [mark], update, dnat */
        return 2 * s->n + s->n * (2 + (s->masq ? 1 : 0));
}

/* The per-endpoint chain and set of an affinity chain are named after what they do (endpoint, protocol, timeout,
 * masquerade), so an endpoint change keeps the objects (and the pinned clients) of the endpoints that stay, as
 * kube-proxy does, and objects whose content would change get new names (a set's timeout cannot be changed). */
static void aux_name(char *buf, size_t sz, const char *name, const ChainSpec *s, uint32_t i) {
        struct {
                uint8_t addr[16];
                uint16_t port;
                uint8_t proto, masq;
                uint32_t timeout;
        } id = {.port = s->eps[i].port, .proto = (uint8_t) s->proto, .masq = s->masq, .timeout = s->timeout};
        memcpy(id.addr, s->eps[i].addr.bytes, 16);
        snprintf(buf, sz, "%s-%08x", name, (unsigned) (hash_bytes(&id, sizeof(id), 0) & 0xffffffffU));
}

/* Whether endpoint i of s has its objects in other too. */
static bool aux_shared(const char *name, const ChainSpec *s, uint32_t i, const ChainSpec *other) {
        char a[128], b[128];
        if (!other || other->kind != CHAIN_AFFINITY)
                return false;
        aux_name(a, sizeof(a), name, s, i);
        for (uint32_t j = 0; j < other->n; j++) {
                aux_name(b, sizeof(b), name, other, j);
                if (streq(a, b))
                        return true;
        }
        return false;
}

static const SetId ep_sets[_PROTO_MAX] = {
        [PROTO_TCP] = SET_EP_TCP, [PROTO_UDP] = SET_EP_UDP, [PROTO_SCTP] = SET_EP_SCTP};

static int emit_lb_rules(RuleCtx *c, const char *name, const ChainSpec *s) {
        size_t l = in_addr_family_size(s->family);
        int k = 0;
        if (s->masq)
                k = RULE(c, name, X(x_mark_masq(r)));
        /* meta l4proto P dnat ADDR to ADDR daddr . P dport . numgen random mod N map @ep-P */
        for (Proto p = 0; k >= 0 && p < _PROTO_MAX; p++)
                k = RULE(c, name, {
                        X(x_l4proto_eq(r, proto_to_ipproto(p)));
                        X(x_addr(r, s->family, false, NFT_REG_1));
                        X(x_dport(r, creg(l)));
                        X(nft_expr_numgen(r, creg(l + 4), s->n, s->offset ? SHORT_BUCKET_OFFSET : 0));
                        X(nft_expr_lookup(r, NFT_REG_1, set_names[ep_sets[p]], NFT_REG_1, false));
                        X(nft_expr_dnat(r, s->family, NFT_REG_1, creg(l), 0));
                });
        return k;
}

/* Creates the per-endpoint sets and chains of s that old does not have already. */
static int emit_affinity_aux(RuleCtx *c, const char *name, const ChainSpec *s, const ChainSpec *old) {
        static const uint8_t ud[] = {0x00, 0x04, UD_BYTEORDER_BIG, 0x00, 0x00, 0x00};
        char aux[128];
        int k = 0;
        for (uint32_t i = 0; k >= 0 && i < s->n; i++) {
                if (aux_shared(name, s, i, old))
                        continue;
                aux_name(aux, sizeof(aux), name, s, i);
                NftSetDef d = {
                        .name = aux,
                        .flags = NFT_SET_TIMEOUT | NFT_SET_EVAL,
                        .key_type = s->family == AF_INET6 ? TYPE_IP6ADDR : TYPE_IPADDR,
                        .key_len = (uint32_t) in_addr_family_size(s->family),
                        .timeout_ms = (uint64_t) s->timeout * 1000,
                        .size = 65535,
                        .udata = ud,
                        .udata_len = sizeof(ud),
                };
                k = nft_batch_set(c->b, s->family, c->table, &d);
                if (k >= 0)
                        k = nft_batch_chain(c->b, s->family, c->table, aux, NULL);
        }
        for (uint32_t i = 0; k >= 0 && i < s->n; i++) {
                if (aux_shared(name, s, i, old))
                        continue;
                aux_name(aux, sizeof(aux), name, s, i);
                const EpTarget *ep = &s->eps[i];
                if (s->masq)
                        k = RULE(c, aux, X(x_mark_masq(r)));
                /* update @set { ADDR saddr }: remember the client for timeout seconds (kube-proxy's affinity sets) */
                if (k >= 0)
                        k = RULE(c, aux, {
                                X(x_addr(r, s->family, true, NFT_REG_1));
                                X(nft_expr_dynset_update(r, NFT_REG_1, aux));
                        });
                if (k >= 0)
                        k = RULE(c, aux, {
                                uint16_t port = htons(ep->port);
                                X(x_l4proto_eq(r, proto_to_ipproto(s->proto)));
                                X(nft_expr_immediate(r, NFT_REG_1, ep->addr.bytes, in_addr_family_size(s->family)));
                                X(nft_expr_immediate(r, NFT_REG_2, &port, 2));
                                X(nft_expr_dnat(r, s->family, NFT_REG_1, NFT_REG_2, NF_NAT_RANGE_PROTO_SPECIFIED));
                        });
        }
        return k;
}

static int emit_affinity_main(RuleCtx *c, const char *name, const ChainSpec *s) {
        char aux[128];
        int k = 0;
        for (uint32_t i = 0; k >= 0 && i < s->n; i++) {
                aux_name(aux, sizeof(aux), name, s, i);
                k = RULE(c, name, {
                        X(x_addr(r, s->family, true, NFT_REG_1));
                        X(nft_expr_lookup(r, NFT_REG_1, aux, -1, false));
                        X(nft_expr_verdict(r, NFT_GOTO, aux));
                });
        }
        /* New clients: endpoint i is taken with probability 1/(n-i) among the remaining ones, which is uniform
         * overall and needs no anonymous map. */
        for (uint32_t i = 0; k >= 0 && i < s->n; i++) {
                aux_name(aux, sizeof(aux), name, s, i);
                k = RULE(c, name, {
                        uint32_t zero = 0;
                        if (i + 1 < s->n) {
                                X(nft_expr_numgen(r, NFT_REG_1, s->n - i, 0));
                                X(nft_expr_cmp(r, NFT_REG_1, NFT_CMP_EQ, &zero, 4));
                        }
                        X(nft_expr_verdict(r, NFT_GOTO, aux));
                });
        }
        return k;
}

int ruleset_emit_chain(NftBatch *b, const char *table, const char *name, const ChainSpec *s) {
        RuleCtx c = {.b = b, .family = s->family, .table = table};
        int k = nft_batch_chain(b, s->family, table, name, NULL);
        if (k < 0)
                return k;
        if (s->kind == CHAIN_LB)
                k = emit_lb_rules(&c, name, s);
        else {
                k = emit_affinity_aux(&c, name, s, NULL);
                if (k >= 0)
                        k = emit_affinity_main(&c, name, s);
        }
        return k < 0 ? k : c.n;
}

/* Deletes the per-endpoint sets and chains of s that keep is not going to use. */
static int emit_aux_delete(NftBatch *b, const char *table, const char *name, const ChainSpec *s,
                           const ChainSpec *keep) {
        char aux[128];
        int k = 0;
        if (s->kind != CHAIN_AFFINITY)
                return 0;
        for (uint32_t i = 0; k >= 0 && i < s->n; i++) {
                if (aux_shared(name, s, i, keep))
                        continue;
                aux_name(aux, sizeof(aux), name, s, i);
                k = nft_batch_chain_flush(b, s->family, table, aux);
        }
        for (uint32_t i = 0; k >= 0 && i < s->n; i++) {
                if (aux_shared(name, s, i, keep))
                        continue;
                aux_name(aux, sizeof(aux), name, s, i);
                k = nft_batch_chain_delete(b, s->family, table, aux);
                if (k >= 0)
                        k = nft_batch_set_delete(b, s->family, table, aux);
        }
        return k;
}

int ruleset_emit_chain_delete(NftBatch *b, const char *table, const char *name, const ChainSpec *s) {
        int k = nft_batch_chain_flush(b, s->family, table, name);
        if (k >= 0)
                k = emit_aux_delete(b, table, name, s, NULL);
        if (k >= 0)
                k = nft_batch_chain_delete(b, s->family, table, name);
        return k;
}

int ruleset_emit_chain_replace(NftBatch *b, const char *table, const char *name, const ChainSpec *old,
                               const ChainSpec *new) {
        RuleCtx c = {.b = b, .family = new->family, .table = table};
        int k = nft_batch_chain_flush(b, new->family, table, name);
        if (k >= 0)
                k = emit_aux_delete(b, table, name, old, new);
        if (k < 0)
                return k;
        if (new->kind == CHAIN_LB)
                k = emit_lb_rules(&c, name, new);
        else {
                k = emit_affinity_aux(&c, name, new, old);
                if (k >= 0)
                        k = emit_affinity_main(&c, name, new);
        }
        return k < 0 ? k : c.n;
}
