/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <time.h>

#include "netproxy/conntrack.h"
#include "netproxy/nft.h"

int ct_flush_list_add(CtFlushList *l, const CtFlush *f) {
        if (l->n == l->cap) {
                size_t nc = l->cap ? l->cap * 2 : 8;
                CtFlush *n = realloc(l->items, nc * sizeof(CtFlush));
                RET_NULL_ENOMEM(n);
                l->items = n;
                l->cap = nc;
        }
        l->items[l->n] = *f;
        l->items[l->n].vip.family = f->family;
        l->items[l->n].endpoint.family = f->family;
        l->n++;
        return 0;
}

void ct_flush_list_done(CtFlushList *l) {
        free(l->items);
        *l = (CtFlushList){};
}

typedef struct Tuple {
        InAddr src, dst;
        uint8_t proto;
        uint16_t dport;
} Tuple;

static void parse_ip(const struct nlattr *nest, int family, Tuple *t) {
        const struct nlattr *a;
        size_t l = in_addr_family_size(family);
        mnl_attr_for_each_nested(a, nest) {
                uint16_t type = mnl_attr_get_type(a);
                if (mnl_attr_get_payload_len(a) < l)
                        continue;
                if (type == CTA_IP_V4_SRC || type == CTA_IP_V6_SRC)
                        memcpy(t->src.bytes, mnl_attr_get_payload(a), l);
                else if (type == CTA_IP_V4_DST || type == CTA_IP_V6_DST)
                        memcpy(t->dst.bytes, mnl_attr_get_payload(a), l);
        }
}

static void parse_tuple(const struct nlattr *nest, int family, Tuple *t) {
        const struct nlattr *a, *p;
        mnl_attr_for_each_nested(a, nest) {
                if (mnl_attr_get_type(a) == CTA_TUPLE_IP)
                        parse_ip(a, family, t);
                else if (mnl_attr_get_type(a) == CTA_TUPLE_PROTO)
                        mnl_attr_for_each_nested(p, a) {
                                if (mnl_attr_get_type(p) == CTA_PROTO_NUM)
                                        t->proto = mnl_attr_get_u8(p);
                                else if (mnl_attr_get_type(p) == CTA_PROTO_DST_PORT)
                                        t->dport = mnl_attr_get_u16(p);
                        }
        }
}

typedef struct DumpCtx {
        CtFlushList *l;
        int family;
        /* raw CTA_TUPLE_ORIG attributes of entries to delete */
        struct nlattr **victims;
        size_t n, cap;
} DumpCtx;

static int dump_cb(const struct nlmsghdr *nlh, void *data) {
        DumpCtx *c = data;
        const struct nlattr *a, *orig_attr = NULL;
        Tuple orig = {}, reply = {};
        size_t l = in_addr_family_size(c->family);
        mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG) {
                        orig_attr = a;
                        parse_tuple(a, c->family, &orig);
                } else if (mnl_attr_get_type(a) == CTA_TUPLE_REPLY)
                        parse_tuple(a, c->family, &reply);
        }
        if (!orig_attr)
                return MNL_CB_OK;
        for (size_t i = 0; i < c->l->n; i++) {
                const CtFlush *f = &c->l->items[i];
                if (f->family != c->family || f->proto != orig.proto || f->vport != orig.dport ||
                    memcmp(f->vip.bytes, orig.dst.bytes, l) != 0 ||
                    (f->has_endpoint && memcmp(f->endpoint.bytes, reply.src.bytes, l) != 0))
                        continue;
                if (c->n == c->cap) {
                        size_t nc = c->cap ? c->cap * 2 : 8;
                        struct nlattr **v = realloc(c->victims, nc * sizeof(struct nlattr *));
                        if (!v)
                                return MNL_CB_ERROR;
                        c->victims = v;
                        c->cap = nc;
                }
                struct nlattr *copy = malloc(orig_attr->nla_len);
                if (!copy)
                        return MNL_CB_ERROR;
                memcpy(copy, orig_attr, orig_attr->nla_len);
                c->victims[c->n++] = copy;
                break;
        }
        return MNL_CB_OK;
}

static int ct_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data) {
        char buf[NP_NL_BUF_SIZE];
        uint32_t portid = mnl_socket_get_portid(nl);
        nft_socket_drain(nl);
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                int r = mnl_cb_run(buf, (size_t) n, nlh->nlmsg_seq, portid, cb, data);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

static struct nlmsghdr *ct_msg(char *buf, uint16_t type, int family, uint16_t flags, uint32_t seq) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
        g->nfgen_family = (uint8_t) family;
        g->version = NFNETLINK_V0;
        g->res_id = 0;
        return nlh;
}

int ct_flush_apply(CtFlushList *l, struct mnl_socket *nl) {
        int deleted = 0, r = 0;
        if (l->n == 0)
                return 0;
        uint32_t seq = (uint32_t) time(NULL);
        for (int fi = 0; fi < 2 && r >= 0; fi++) {
                int family = fi ? AF_INET6 : AF_INET;
                DumpCtx c = {.l = l, .family = family};
                char buf[NP_NL_BUF_SIZE];
                bool any = false;
                for (size_t i = 0; i < l->n; i++)
                        any = any || l->items[i].family == family;
                if (!any)
                        continue;
                r = ct_talk(nl, ct_msg(buf, IPCTNL_MSG_CT_GET, family, NLM_F_DUMP, ++seq), dump_cb, &c);
                for (size_t i = 0; i < c.n; i++) {
                        if (r >= 0) {
                                struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, family, NLM_F_ACK, ++seq);
                                mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, c.victims[i]->nla_len - NLA_HDRLEN,
                                             mnl_attr_get_payload(c.victims[i]));
                                /* ENOENT: the entry timed out meanwhile, which is fine. */
                                int k = ct_talk(nl, nlh, NULL, NULL);
                                if (k >= 0)
                                        deleted++;
                        }
                        free(c.victims[i]);
                }
                free(c.victims);
        }
        return r < 0 ? r : deleted;
}
