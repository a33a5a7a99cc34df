/* SPDX-License-Identifier: Apache-2.0 */
/* libnftnl/libmnl transport: batches in chunked buffers sent with one sendmsg(), element lists packed many to a
 * message (like `nft -f` does), and rule expressions encoded as the nft tool encodes them. */

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "common/log.h"
#include "netproxy/nft.h"

/* Buffers are chunks of CHUNK_SIZE; a message never spans chunks, and no message is larger than MSG_MAX (element
 * messages are closed once their element list nears the 64 KiB limit of a netlink attribute length). */
#define CHUNK_SIZE (1024 * 1024)
#define MSG_MAX (96 * 1024)
#define ELEM_LIST_MAX 60000

typedef struct Chunk {
        char *buf;
        size_t len;
} Chunk;

struct NftBatch {
        Chunk *chunks;
        size_t n_chunks;
        uint32_t seq;
        /* the element message being filled */
        struct nlmsghdr *elem_nlh;
        struct nlattr *elem_nest;
        int elem_family;
        bool elem_delete;
        char elem_table[64], elem_set[64];
};

int nft_batch_new(NftBatch **ret) {
        NftBatch *b = calloc(1, sizeof(NftBatch));
        RET_NULL_ENOMEM(b);
        b->seq = (uint32_t) time(NULL);
        *ret = b;
        return 0;
}

NftBatch *nft_batch_free(NftBatch *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_chunks; i++)
                free(b->chunks[i].buf);
        free(b->chunks);
        free(b);
        return NULL;
}

size_t nft_batch_size(NftBatch *b) {
        size_t n = 0;
        for (size_t i = 0; i < b->n_chunks; i++)
                n += b->chunks[i].len;
        return n;
}

/* Room for one message of up to MSG_MAX bytes at the tail. */
static char *batch_tail(NftBatch *b) {
        if (b->n_chunks == 0 || b->chunks[b->n_chunks - 1].len + MSG_MAX > CHUNK_SIZE) {
                Chunk *c = realloc(b->chunks, (b->n_chunks + 1) * sizeof(Chunk));
                if (!c)
                        return NULL;
                b->chunks = c;
                c[b->n_chunks].buf = malloc(CHUNK_SIZE);
                if (!c[b->n_chunks].buf)
                        return NULL;
                c[b->n_chunks].len = 0;
                b->n_chunks++;
        }
        Chunk *c = &b->chunks[b->n_chunks - 1];
        return c->buf + c->len;
}

static void batch_commit_msg(NftBatch *b, struct nlmsghdr *nlh) {
        b->chunks[b->n_chunks - 1].len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static struct nlmsghdr *batch_msg(NftBatch *b, uint16_t cmd, int family, uint16_t flags) {
        char *buf = batch_tail(b);
        if (!buf)
                return NULL;
        return nftnl_nlmsg_build_hdr(buf, cmd, (uint16_t) family, flags, b->seq++);
}

int nft_batch_elem_flush(NftBatch *b) {
        if (!b->elem_nlh)
                return 0;
        mnl_attr_nest_end(b->elem_nlh, b->elem_nest);
        batch_commit_msg(b, b->elem_nlh);
        b->elem_nlh = NULL;
        b->elem_nest = NULL;
        return 0;
}

int nft_batch_table(NftBatch *b, int family, const char *table, bool del) {
        nft_batch_elem_flush(b);
        struct nlmsghdr *nlh = batch_msg(b, del ? NFT_MSG_DELTABLE : NFT_MSG_NEWTABLE, family, del ? 0 : NLM_F_CREATE);
        RET_NULL_ENOMEM(nlh);
        mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
        batch_commit_msg(b, nlh);
        return 0;
}

int nft_batch_chain(NftBatch *b, int family, const char *table, const char *chain, const NftHook *hook) {
        nft_batch_elem_flush(b);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE);
        RET_NULL_ENOMEM(nlh);
        mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
        mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
        if (hook) {
                struct nlattr *nest = mnl_attr_nest_start(nlh, NFTA_CHAIN_HOOK);
                mnl_attr_put_u32(nlh, NFTA_HOOK_HOOKNUM, htonl(hook->hooknum));
                mnl_attr_put_u32(nlh, NFTA_HOOK_PRIORITY, htonl((uint32_t) hook->prio));
                mnl_attr_nest_end(nlh, nest);
                mnl_attr_put_strz(nlh, NFTA_CHAIN_TYPE, hook->type);
                mnl_attr_put_u32(nlh, NFTA_CHAIN_POLICY, htonl(NF_ACCEPT));
        }
        batch_commit_msg(b, nlh);
        return 0;
}

int nft_batch_chain_delete(NftBatch *b, int family, const char *table, const char *chain) {
        nft_batch_elem_flush(b);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_DELCHAIN, family, 0);
        RET_NULL_ENOMEM(nlh);
        mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
        mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
        batch_commit_msg(b, nlh);
        return 0;
}

int nft_batch_chain_flush(NftBatch *b, int family, const char *table, const char *chain) {
        nft_batch_elem_flush(b);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_DELRULE, family, 0);
        RET_NULL_ENOMEM(nlh);
        mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
        mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
        batch_commit_msg(b, nlh);
        return 0;
}

int nft_batch_set(NftBatch *b, int family, const char *table, const NftSetDef *def) {
        nft_batch_elem_flush(b);
        struct nftnl_set *s = nftnl_set_alloc();
        RET_NULL_ENOMEM(s);
        nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
        nftnl_set_set_str(s, NFTNL_SET_NAME, def->name);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t) family);
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, def->flags);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, def->key_type);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, def->key_len);
        nftnl_set_set_u32(s, NFTNL_SET_ID, b->seq);
        if (def->flags & NFT_SET_MAP) {
                nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, def->data_type);
                nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, def->data_len);
        }
        if (def->timeout_ms > 0)
                nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, def->timeout_ms);
        if (def->size > 0)
                nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, def->size);
        if (def->udata_len > 0)
                nftnl_set_set_data(s, NFTNL_SET_USERDATA, def->udata, def->udata_len);
        if (def->n_fields > 0)
                nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, def->field_len, def->n_fields);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWSET, family, NLM_F_CREATE);
        if (!nlh) {
                nftnl_set_free(s);
                return -ENOMEM;
        }
        nftnl_set_nlmsg_build_payload(nlh, s);
        nftnl_set_free(s);
        batch_commit_msg(b, nlh);
        return 0;
}

int nft_batch_set_delete(NftBatch *b, int family, const char *table, const char *set) {
        nft_batch_elem_flush(b);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_DELSET, family, 0);
        RET_NULL_ENOMEM(nlh);
        mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table);
        mnl_attr_put_strz(nlh, NFTA_SET_NAME, set);
        batch_commit_msg(b, nlh);
        return 0;
}

int nft_batch_elem(NftBatch *b, int family, const char *table, const char *set, bool del, const void *key,
                   const void *key_end, size_t klen, const void *data, size_t dlen, int verdict, const char *chain) {
        if (b->elem_nlh &&
            (b->elem_family != family || b->elem_delete != del || !streq(b->elem_set, set) ||
             !streq(b->elem_table, table) ||
             (size_t) ((char *) mnl_nlmsg_get_payload_tail(b->elem_nlh) - (char *) b->elem_nest) > ELEM_LIST_MAX))
                nft_batch_elem_flush(b);
        if (!b->elem_nlh) {
                if (strlen(table) >= sizeof(b->elem_table) || strlen(set) >= sizeof(b->elem_set))
                        return -ENAMETOOLONG;
                struct nlmsghdr *nlh =
                        batch_msg(b, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, family, del ? 0 : NLM_F_CREATE);
                RET_NULL_ENOMEM(nlh);
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
                mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
                log_debug("nf_tables message %u: %s elements of %s", nlh->nlmsg_seq, del ? "delete" : "add", set);
                b->elem_nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
                b->elem_nlh = nlh;
                b->elem_family = family;
                b->elem_delete = del;
                strcpy(b->elem_table, table);
                strcpy(b->elem_set, set);
        }
        struct nlmsghdr *nlh = b->elem_nlh;
        struct nlattr *e = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
        struct nlattr *k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
        mnl_attr_put(nlh, NFTA_DATA_VALUE, klen, key);
        mnl_attr_nest_end(nlh, k);
        if (key_end) {
                struct nlattr *ke = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY_END);
                mnl_attr_put(nlh, NFTA_DATA_VALUE, klen, key_end);
                mnl_attr_nest_end(nlh, ke);
        }
        if (!del && data) {
                struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
                mnl_attr_put(nlh, NFTA_DATA_VALUE, dlen, data);
                mnl_attr_nest_end(nlh, d);
        } else if (!del && chain) {
                struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
                struct nlattr *v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
                mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t) verdict));
                mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, chain);
                mnl_attr_nest_end(nlh, v);
                mnl_attr_nest_end(nlh, d);
        } else if (!del && verdict >= 0) {
                struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
                struct nlattr *v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
                mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t) verdict));
                mnl_attr_nest_end(nlh, v);
                mnl_attr_nest_end(nlh, d);
        }
        mnl_attr_nest_end(nlh, e);
        return 0;
}

struct nftnl_rule *nft_rule_new(int family, const char *table, const char *chain) {
        struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                return NULL;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t) family);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
        return r;
}

int nft_batch_rule(NftBatch *b, struct nftnl_rule *r) {
        nft_batch_elem_flush(b);
        struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWRULE, (int) nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
                                         NLM_F_CREATE | NLM_F_APPEND);
        if (!nlh) {
                nftnl_rule_free(r);
                return -ENOMEM;
        }
        nftnl_rule_nlmsg_build_payload(nlh, r);
        nftnl_rule_free(r);
        batch_commit_msg(b, nlh);
        return 0;
}

static struct nftnl_expr *expr_add(struct nftnl_rule *r, const char *name) {
        struct nftnl_expr *e = nftnl_expr_alloc(name);
        if (e)
                nftnl_rule_add_expr(r, e);
        return e;
}

int nft_expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
        struct nftnl_expr *e = expr_add(r, "payload");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
        return 0;
}

int nft_expr_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg) {
        struct nftnl_expr *e = expr_add(r, "meta");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
        return 0;
}

int nft_expr_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg) {
        struct nftnl_expr *e = expr_add(r, "meta");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
        return 0;
}

int nft_expr_ct_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg) {
        struct nftnl_expr *e = expr_add(r, "ct");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
        return 0;
}

int nft_expr_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, size_t len) {
        struct nftnl_expr *e = expr_add(r, "cmp");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, (uint32_t) len);
        return 0;
}

int nft_expr_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, const void * xor, size_t len) {
        struct nftnl_expr *e = expr_add(r, "bitwise");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, (uint32_t) len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, (uint32_t) len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, (uint32_t) len);
        return 0;
}

int nft_expr_lookup(struct nftnl_rule *r, uint32_t sreg, const char *set, int dreg, bool invert) {
        struct nftnl_expr *e = expr_add(r, "lookup");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
        if (dreg >= 0)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t) dreg);
        if (invert)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        return 0;
}

int nft_expr_verdict(struct nftnl_rule *r, int verdict, const char *chain) {
        struct nftnl_expr *e = expr_add(r, "immediate");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t) verdict);
        if (chain)
                nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
        return 0;
}

int nft_expr_immediate(struct nftnl_rule *r, uint32_t dreg, const void *data, size_t len) {
        struct nftnl_expr *e = expr_add(r, "immediate");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
        nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, (uint32_t) len);
        return 0;
}

int nft_expr_numgen(struct nftnl_rule *r, uint32_t dreg, uint32_t mod, uint32_t offset) {
        struct nftnl_expr *e = expr_add(r, "numgen");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, mod);
        if (offset)
                nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, offset);
        return 0;
}

int nft_expr_fib_saddr_type(struct nftnl_rule *r, uint32_t dreg) {
        struct nftnl_expr *e = expr_add(r, "fib");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
        return 0;
}

int nft_expr_dnat(struct nftnl_rule *r, int family, uint32_t reg_addr, uint32_t reg_proto, uint32_t flags) {
        struct nftnl_expr *e = expr_add(r, "nat");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
        nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
        if (flags)
                nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
        return 0;
}

int nft_expr_masq(struct nftnl_rule *r, uint32_t flags) {
        struct nftnl_expr *e = expr_add(r, "masq");
        RET_NULL_ENOMEM(e);
        if (flags)
                nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, flags);
        return 0;
}

int nft_expr_reject(struct nftnl_rule *r, uint32_t type, uint8_t code) {
        struct nftnl_expr *e = expr_add(r, "reject");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
        nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
        return 0;
}

int nft_expr_byteorder_hton(struct nftnl_rule *r, uint32_t reg, uint32_t len, uint32_t size) {
        struct nftnl_expr *e = expr_add(r, "byteorder");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, len);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, size);
        return 0;
}

int nft_expr_dynset_update(struct nftnl_rule *r, uint32_t sreg, const char *set) {
        struct nftnl_expr *e = expr_add(r, "dynset");
        RET_NULL_ENOMEM(e);
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
        nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg);
        nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
        return 0;
}

static struct mnl_socket *nl_open(void) {
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!nl)
                return NULL;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int saved = errno;
                mnl_socket_close(nl);
                errno = saved;
                return NULL;
        }
        return nl;
}

struct NftConn {
        struct mnl_socket *nl;
};

int nft_conn_open(NftConn **ret) {
        NftConn *c = calloc(1, sizeof(NftConn));
        RET_NULL_ENOMEM(c);
        c->nl = nl_open();
        if (!c->nl) {
                int r = -errno;
                free(c);
                return r;
        }
        int rsz = 4 * 1024 * 1024;
        (void) setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rsz, sizeof(rsz));
        *ret = c;
        return 0;
}

struct mnl_socket *nft_conn_socket(NftConn *c) {
        return c->nl;
}

NftConn *nft_conn_close(NftConn *c) {
        if (!c)
                return NULL;
        mnl_socket_close(c->nl);
        free(c);
        return NULL;
}

/* Reads whatever the kernel queued for us; the first error message wins. */
static int drain_errors(struct mnl_socket *nl) {
        char buf[NP_NL_BUF_SIZE];
        int first = 0;
        for (;;) {
                ssize_t n = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (errno == EINTR)
                                continue;
                        return first ?: -errno;
                }
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; mnl_nlmsg_ok(h, (int) n);
                     h = mnl_nlmsg_next(h, (int *) &n)) {
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *err = mnl_nlmsg_get_payload(h);
                                if (err->error < 0 && first == 0) {
                                        first = err->error;
                                        log_debug("nf_tables rejected message %u (type 0x%x): %s", err->msg.nlmsg_seq,
                                                  err->msg.nlmsg_type, strerror(-err->error));
                                }
                        }
                }
        }
        return first;
}

int nft_batch_commit(NftBatch *b, NftConn *c) {
        char begin[64], end[64];
        nft_batch_elem_flush(b);

        struct nlmsghdr *h1 = nftnl_batch_begin(begin, b->seq++);
        struct nlmsghdr *h2 = nftnl_batch_end(end, b->seq++);
        size_t n_iov = b->n_chunks + 2, total = h1->nlmsg_len + h2->nlmsg_len;
        _cleanup_free_ struct iovec *iov = calloc(n_iov, sizeof(struct iovec));
        RET_NULL_ENOMEM(iov);
        iov[0] = (struct iovec){begin, h1->nlmsg_len};
        for (size_t i = 0; i < b->n_chunks; i++) {
                iov[i + 1] = (struct iovec){b->chunks[i].buf, b->chunks[i].len};
                total += b->chunks[i].len;
        }
        iov[n_iov - 1] = (struct iovec){end, h2->nlmsg_len};

        struct mnl_socket *nl = c->nl;
        /* Stale replies (e.g. of an interrupted query) must not be taken for this transaction's errors. */
        (void) drain_errors(nl);
        /* The whole transaction must fit in one skb: raise the send buffer (as nft does for big rulesets). */
        int sz = (int) MIN(total + 65536, (size_t) INT32_MAX / 2);
        (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));

        struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
        struct msghdr msg = {
                .msg_name = &snl,
                .msg_namelen = sizeof(snl),
                .msg_iov = iov,
                .msg_iovlen = n_iov,
        };
        ssize_t n = sendmsg(mnl_socket_get_fd(nl), &msg, 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != total)
                return -EMSGSIZE;
        return drain_errors(nl);
}

/* One request/response exchange (dump or not); cb is called for every message. */
void nft_socket_drain(struct mnl_socket *nl) {
        (void) drain_errors(nl);
}

static int nl_talk(NftConn *c, struct nlmsghdr *req, mnl_cb_t cb, void *data) {
        struct mnl_socket *nl = c->nl;
        char buf[NP_NL_BUF_SIZE];
        /* The socket is shared across requests: leftovers (the ACK after a reply we stopped at) must go first. */
        nft_socket_drain(nl);
        uint32_t portid = mnl_socket_get_portid(nl), seq = req->nlmsg_seq;
        if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                int r = mnl_cb_run(buf, (size_t) n, seq, portid, cb, data);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

static int gen_cb(const struct nlmsghdr *nlh, void *data) {
        struct nftnl_gen *g = nftnl_gen_alloc();
        if (!g)
                return MNL_CB_ERROR;
        if (nftnl_gen_nlmsg_parse(nlh, g) >= 0)
                *(uint32_t *) data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
        nftnl_gen_free(g);
        return MNL_CB_STOP;
}

int nft_get_genid(NftConn *c, uint32_t *ret) {
        char buf[256];
        struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, (uint32_t) time(NULL));
        uint32_t id = 0;
        int r = nl_talk(c, nlh, gen_cb, &id);
        if (r < 0)
                return r;
        *ret = id;
        return 0;
}

typedef struct CountCtx {
        const char *table;
        uint64_t n;
        int kind; /* 0 rules, 1 chains, 2 sets: only for the reader; the callback is the same */
} CountCtx;

/* Counts the objects of one table in a dump. The table name is attribute 1 of rules, chains and sets alike
 * (NFTA_RULE_TABLE, NFTA_CHAIN_TABLE, NFTA_SET_TABLE); parsing by hand keeps libnftnl's ABI-mismatch abort() out of
 * a path that reads whatever a newer kernel sends. */
static int count_cb(const struct nlmsghdr *nlh, void *data) {
        CountCtx *c = data;
        const struct nlattr *a;
        mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(a) != 1)
                        continue;
                if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0 && streq(mnl_attr_get_str(a), c->table))
                        c->n++;
                break;
        }
        return MNL_CB_OK;
}

int nft_table_count(NftConn *conn, int family, const char *table, uint64_t *ret_rules, uint64_t *ret_chains,
                    uint64_t *ret_sets) {
        static const uint16_t cmds[3] = {NFT_MSG_GETRULE, NFT_MSG_GETCHAIN, NFT_MSG_GETSET};
        uint64_t out[3];
        char buf[512];
        int r;

        /* Does the table exist at all? (-ENOENT otherwise; a table is counted like the others) */
        struct nlmsghdr *nlh =
                nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t) family, NLM_F_ACK, (uint32_t) time(NULL));
        mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
        CountCtx t = {.table = table};
        r = nl_talk(conn, nlh, count_cb, &t);
        if (r < 0)
                return r;
        for (int k = 0; k < 3; k++) {
                CountCtx c = {.table = table, .kind = k};
                nlh = nftnl_nlmsg_build_hdr(buf, cmds[k], (uint16_t) family, NLM_F_DUMP, (uint32_t) time(NULL) + 1 + k);
                if (k == 0)
                        mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
                else if (k == 2)
                        mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table);
                r = nl_talk(conn, nlh, count_cb, &c);
                if (r < 0)
                        return r;
                out[k] = c.n;
        }
        *ret_rules = out[0];
        *ret_chains = out[1];
        *ret_sets = out[2];
        return 0;
}
