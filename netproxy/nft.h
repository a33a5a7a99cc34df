/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A thin layer over libnftnl/libmnl: one transaction (batch) per sync, sent with a single sendmsg() so the kernel
 * applies it atomically, and the handful of expressions nodelet's ruleset uses, encoded exactly as the nft tool
 * encodes them so `nft list table` prints (and `nft -f` reloads) what we program. */

#include <libnftnl/rule.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

/* Receive buffer for netlink replies (MNL_SOCKET_BUFFER_SIZE is a runtime value, i.e. a VLA). */
#define NP_NL_BUF_SIZE 32768

typedef struct NftBatch NftBatch;

int nft_batch_new(NftBatch **ret);
NftBatch *nft_batch_free(NftBatch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftBatch *, nft_batch_free)

size_t nft_batch_size(NftBatch *b);

int nft_batch_table(NftBatch *b, int family, const char *table, bool del);
typedef struct NftHook {
        const char *type; /* "nat", "filter" */
        uint32_t hooknum;
        int32_t prio;
} NftHook;
int nft_batch_chain(NftBatch *b, int family, const char *table, const char *chain, const NftHook *hook);
int nft_batch_chain_delete(NftBatch *b, int family, const char *table, const char *chain);
int nft_batch_chain_flush(NftBatch *b, int family, const char *table, const char *chain);

typedef struct NftSetDef {
        const char *name;
        uint32_t flags;    /* NFT_SET_* */
        uint32_t key_type; /* nft's datatype ids, concatenations packed 6 bits per component */
        uint32_t key_len;
        uint32_t data_type; /* 0 for plain sets; NFT_DATA_VERDICT for verdict maps */
        uint32_t data_len;
        uint64_t timeout_ms;
        uint32_t size;
        const void *udata;
        uint32_t udata_len;
        const uint8_t *field_len; /* concatenated interval sets: length of each field in bytes */
        uint32_t n_fields;
} NftSetDef;
int nft_batch_set(NftBatch *b, int family, const char *table, const NftSetDef *def);
int nft_batch_set_delete(NftBatch *b, int family, const char *table, const char *set);

/* Element operations are buffered per (set, add/delete) and packed many to a message. data is NULL for plain sets;
 * for verdict maps pass verdict (NFT_GOTO, NF_DROP, ...) and chain (or NULL), otherwise verdict -1. */
int nft_batch_elem(NftBatch *b, int family, const char *table, const char *set, bool del, const void *key,
                   const void *key_end, size_t klen, const void *data, size_t dlen, int verdict, const char *chain);
/* Flushes any buffered element message (call before adding non-element messages that must come after). */
int nft_batch_elem_flush(NftBatch *b);

/* Rules: build with nft_rule_new() and the nft_expr_* helpers, then hand to nft_batch_rule (takes ownership). */
struct nftnl_rule *nft_rule_new(int family, const char *table, const char *chain);
int nft_batch_rule(NftBatch *b, struct nftnl_rule *r);

int nft_expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg);
int nft_expr_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
int nft_expr_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg);
int nft_expr_ct_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
int nft_expr_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, size_t len);
int nft_expr_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, const void * xor, size_t len);
int nft_expr_lookup(struct nftnl_rule *r, uint32_t sreg, const char *set, int dreg, bool invert);
int nft_expr_verdict(struct nftnl_rule *r, int verdict, const char *chain);
int nft_expr_immediate(struct nftnl_rule *r, uint32_t dreg, const void *data, size_t len);
int nft_expr_numgen(struct nftnl_rule *r, uint32_t dreg, uint32_t mod, uint32_t offset);
int nft_expr_fib_saddr_type(struct nftnl_rule *r, uint32_t dreg);
int nft_expr_dnat(struct nftnl_rule *r, int family, uint32_t reg_addr, uint32_t reg_proto, uint32_t flags);
int nft_expr_masq(struct nftnl_rule *r, uint32_t flags);
int nft_expr_reject(struct nftnl_rule *r, uint32_t type, uint8_t code);
int nft_expr_dynset_update(struct nftnl_rule *r, uint32_t sreg, const char *set);
int nft_expr_byteorder_hton(struct nftnl_rule *r, uint32_t reg, uint32_t len, uint32_t size);

/* A netfilter netlink socket kept open across syncs: closing one right after a transaction waits for nf_tables'
 * deferred transaction cleanup (an RCU grace period, milliseconds), which would dominate small incremental syncs. */
typedef struct NftConn NftConn;
int nft_conn_open(NftConn **ret);
NftConn *nft_conn_close(NftConn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftConn *, nft_conn_close)
/* The socket, for other netfilter subsystems (ctnetlink) that then share the open socket. */
struct mnl_socket *nft_conn_socket(NftConn *c);
/* Discards whatever is queued on the socket (replies to earlier requests). */
void nft_socket_drain(struct mnl_socket *nl);

/* Sends the batch as one transaction (BEGIN..END in a single sendmsg) and collects the kernel's verdict. */
int nft_batch_commit(NftBatch *b, NftConn *c);

/* The ruleset generation id (changes with every committed transaction, by anyone). */
int nft_get_genid(NftConn *c, uint32_t *ret);
/* Counts rules, chains and sets of one table; -ENOENT when the table does not exist. */
int nft_table_count(NftConn *c, int family, const char *table, uint64_t *ret_rules, uint64_t *ret_chains,
                    uint64_t *ret_sets);
