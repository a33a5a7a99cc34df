/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/masq.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <time.h>

#include "common/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct mnl_socket *, mnl_socket_close)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free)

#define CHAIN "postrouting"
#define BUF_SIZE (64 * 1024)
#define RECV_BUF_SIZE 32768 /* MNL_SOCKET_BUFFER_SIZE is a sysconf() call: no VLAs */

static int mnl_open(struct mnl_socket **ret) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!nl)
                return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;
        *ret = TAKE_PTR(nl);
        return 0;
}

/* Sends a batch and waits for the ack of its last message (flagged NLM_F_ACK); errors of any message arrive as
 * NLMSG_ERROR and the kernel aborts the whole transaction. */
static int send_batch(struct mnl_socket *nl, struct mnl_nlmsg_batch *b) {
        char buf[RECV_BUF_SIZE];
        uint32_t portid = mnl_socket_get_portid(nl);

        if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
                if (n < 0)
                        return -errno;
                int r = mnl_cb_run(buf, (size_t) n, 0, portid, NULL, NULL);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

static void comment_for(char *buf, size_t size, const char *network, const char *cid, const char *ifname) {
        snprintf(buf, size, "%s %s %s", network, cid, ifname);
}

static void put_payload(struct nftnl_rule *r, uint32_t offset, uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        nftnl_rule_add_expr(r, e);
}

static void put_bitwise(struct nftnl_rule *r, const uint8_t *mask, uint32_t len) {
        static const uint8_t zero[16] = {};
        struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
        nftnl_rule_add_expr(r, e);
}

static void put_cmp(struct nftnl_rule *r, enum nft_cmp_ops op, const uint8_t *data, uint32_t len) {
        struct nftnl_expr *e = nftnl_expr_alloc("cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
        nftnl_rule_add_expr(r, e);
}

/* daddr outside prefix p: load daddr, mask, compare != network. */
static void put_daddr_not_in(struct nftnl_rule *r, uint32_t daddr_off, const InPrefix *p) {
        uint32_t len = in_addr_size(&p->addr);
        InPrefix m = {.addr = {.family = p->addr.family}, .len = p->len};
        memset(m.addr.bytes, 0xff, sizeof m.addr.bytes);
        InAddr mask = in_prefix_first(&m), net = in_prefix_first(p);
        put_payload(r, daddr_off, len);
        put_bitwise(r, mask.bytes, len);
        put_cmp(r, NFT_CMP_NEQ, net.bytes, len);
}

static struct nftnl_rule *build_rule(int family, const char *comment, const InPrefix *pod) {
        struct nftnl_rule *r = nftnl_rule_alloc();
        struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        bool v4 = pod->addr.family == AF_INET;
        uint32_t saddr_off = v4 ? 12 : 8, daddr_off = v4 ? 16 : 24;

        if (!r || !ud) {
                nftnl_rule_free(r);
                nftnl_udata_buf_free(ud);
                return NULL;
        }
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t) family);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, CNI_NFT_TABLE);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, CHAIN);
        (void) nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment);
        nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
        nftnl_udata_buf_free(ud);

        /* ip saddr <pod> ip daddr != <subnet> ip daddr != 224.0.0.0/4 masquerade (ff00::/8 for IPv6) */
        put_payload(r, saddr_off, in_addr_size(&pod->addr));
        put_cmp(r, NFT_CMP_EQ, pod->addr.bytes, in_addr_size(&pod->addr));
        put_daddr_not_in(r, daddr_off, pod);
        InPrefix mcast = {.addr = {.family = pod->addr.family}, .len = v4 ? 4 : 8};
        mcast.addr.bytes[0] = v4 ? 224 : 0xff;
        put_daddr_not_in(r, daddr_off, &mcast);
        nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
        return r;
}

int masq_add(const char *network, const char *container_id, const char *ifname, const InPrefix *pod) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *rule = NULL;
        _cleanup_free_ char *buf = malloc(BUF_SIZE);
        char comment[256];
        int family = pod->addr.family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
        uint32_t seq = (uint32_t) time(NULL);
        struct nlmsghdr *nlh;
        int r;

        comment_for(comment, sizeof comment, network, container_id, ifname);
        rule = build_rule(family, comment, pod);
        if (!t || !c || !rule || !buf)
                return -ENOMEM;
        r = mnl_open(&nl);
        if (r < 0)
                return r;

        struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf, BUF_SIZE);
        nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
        mnl_nlmsg_batch_next(b);

        /* NLM_F_CREATE without EXCL: "add table"/"add chain" semantics, existing ones are kept. */
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, CNI_NFT_TABLE);
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t) family);
        nlh = nftnl_table_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWTABLE, (uint16_t) family, NLM_F_CREATE,
                                          seq++);
        nftnl_table_nlmsg_build_payload(nlh, t);
        mnl_nlmsg_batch_next(b);

        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, CNI_NFT_TABLE);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, CHAIN);
        nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
        nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
        nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 100); /* srcnat */
        nlh = nftnl_chain_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWCHAIN, (uint16_t) family, NLM_F_CREATE,
                                          seq++);
        nftnl_chain_nlmsg_build_payload(nlh, c);
        mnl_nlmsg_batch_next(b);

        nlh = nftnl_rule_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWRULE, (uint16_t) family,
                                         NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, seq++);
        nftnl_rule_nlmsg_build_payload(nlh, rule);
        mnl_nlmsg_batch_next(b);

        nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
        mnl_nlmsg_batch_next(b);
        r = send_batch(nl, b);
        mnl_nlmsg_batch_stop(b);
        return r;
}

typedef struct Match {
        const char *network;
        const char *comment; /* exact match, or NULL */
        const json_t *valid; /* GC: delete when the attachment is not listed */
        uint64_t handles[256];
        size_t n;
} Match;

static int comment_cb(const struct nftnl_udata *attr, void *data) {
        const char **out = data;
        if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
                *out = nftnl_udata_get(attr);
        return 0;
}

static bool attachment_valid(const json_t *valid, const char *comment, const char *network) {
        size_t i;
        json_t *v;
        json_array_foreach (valid, i, v) {
                char c[256];
                const char *id = json_string_value(json_object_get(v, "containerID"));
                const char *ifname = json_string_value(json_object_get(v, "ifname"));
                if (!id || !ifname)
                        continue;
                comment_for(c, sizeof c, network, id, ifname);
                if (streq(c, comment))
                        return true;
        }
        return false;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data) {
        Match *m = data;
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
        const char *comment = NULL;
        uint32_t len = 0;

        if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0)
                return MNL_CB_OK;
        const void *ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
        if (!ud || nftnl_udata_parse(ud, len, comment_cb, &comment) < 0 || !comment)
                return MNL_CB_OK;
        bool del;
        if (m->comment)
                del = streq(comment, m->comment);
        else {
                /* GC: only rules of this network; "<network> " prefix. */
                const char *rest = startswith(comment, m->network);
                del = rest && rest[0] == ' ' && !attachment_valid(m->valid, comment, m->network);
        }
        if (del && m->n < ELEMENTSOF(m->handles))
                m->handles[m->n++] = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
        return MNL_CB_OK;
}

static int delete_matching(struct mnl_socket *nl, int family, Match *m) {
        char buf[RECV_BUF_SIZE];
        uint32_t portid = mnl_socket_get_portid(nl), seq = (uint32_t) time(NULL);
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *q = nftnl_rule_alloc();
        struct nlmsghdr *nlh;
        int r;

        if (!q)
                return -ENOMEM;
        m->n = 0;
        nftnl_rule_set_str(q, NFTNL_RULE_TABLE, CNI_NFT_TABLE);
        nftnl_rule_set_str(q, NFTNL_RULE_CHAIN, CHAIN);
        nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t) family, NLM_F_DUMP, seq);
        nftnl_rule_nlmsg_build_payload(nlh, q);
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, (size_t) n, seq, portid, rule_cb, m);
                if (r < 0)
                        return errno == ENOENT ? 0 : -errno; /* no table or chain: nothing to delete */
                if (r == MNL_CB_STOP)
                        break;
        }
        if (m->n == 0)
                return 0;

        _cleanup_free_ char *bbuf = malloc(BUF_SIZE);
        if (!bbuf)
                return -ENOMEM;
        struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(bbuf, BUF_SIZE);
        nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
        mnl_nlmsg_batch_next(b);
        for (size_t i = 0; i < m->n; i++) {
                _cleanup_(nftnl_rule_freep) struct nftnl_rule *d = nftnl_rule_alloc();
                if (!d) {
                        mnl_nlmsg_batch_stop(b);
                        return -ENOMEM;
                }
                nftnl_rule_set_str(d, NFTNL_RULE_TABLE, CNI_NFT_TABLE);
                nftnl_rule_set_str(d, NFTNL_RULE_CHAIN, CHAIN);
                nftnl_rule_set_u64(d, NFTNL_RULE_HANDLE, m->handles[i]);
                nlh = nftnl_rule_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_DELRULE, (uint16_t) family,
                                                 i + 1 == m->n ? NLM_F_ACK : 0, seq++);
                nftnl_rule_nlmsg_build_payload(nlh, d);
                mnl_nlmsg_batch_next(b);
        }
        nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
        mnl_nlmsg_batch_next(b);
        r = send_batch(nl, b);
        mnl_nlmsg_batch_stop(b);
        return r == -ENOENT ? 0 : r;
}

/* A dump is interrupted (EINTR, NLM_F_DUMP_INTR) when another transaction changes the ruleset meanwhile, which
 * concurrent DELs of other pods do: start over on a fresh socket (the rest of the interrupted dump is still queued
 * on the old one), the handles we collected may be stale. */
static int delete_retrying(int family, Match *m) {
        int r = 0;
        for (int attempt = 0; attempt < 200; attempt++) {
                _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
                r = mnl_open(&nl);
                if (r < 0)
                        return r;
                r = delete_matching(nl, family, m);
                if (r != -EINTR)
                        break;
        }
        return r;
}

static int delete_both(Match *m) {
        int r = delete_retrying(NFPROTO_IPV4, m);
        int r6 = delete_retrying(NFPROTO_IPV6, m);
        return r < 0 ? r : r6;
}

int masq_del(const char *network, const char *container_id, const char *ifname) {
        char comment[256];
        comment_for(comment, sizeof comment, network, container_id, ifname);
        Match m = {.network = network, .comment = comment};
        return delete_both(&m);
}

int masq_gc(const char *network, const json_t *valid) {
        Match m = {.network = network, .valid = valid};
        return delete_both(&m);
}
