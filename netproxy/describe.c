/* SPDX-License-Identifier: Apache-2.0 */
/* The wanted elements and chains as sorted text (netproxy_describe()): `nodeletctl proxy sync --dry-run -v` and
 * the tests read it. */

#include <arpa/inet.h>
#include <stdio.h>

#include "netproxy/netproxy-internal.h"

static const char *ipproto_name(uint8_t p) {
        return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : p == IPPROTO_SCTP ? "sctp" : "?";
}

static void describe_entry(const NetProxy *np, unsigned pid, const Entry *e, FILE *f) {
        int family = pool_family(pid);
        SetId set = pool_set(pid);
        size_t l = in_addr_family_size(family);
        char a[IN_ADDR_STRLEN], b[IN_ADDR_STRLEN];
        InAddr x = {.family = family}, y = {.family = family};
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
                fprintf(f, "%s . %s . %u : ", in_addr_format(&x, a), ipproto_name(k[l]), ntohs(port));
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
                fprintf(f, "%s . %u . %u : %s . %u\n", in_addr_format(&x, a), ntohs(port), bucket,
                        in_addr_format(&y, b), ntohs(p2));
                break;
        }
        case SET_HAIRPIN:
                memcpy(y.bytes, k + l, l);
                fprintf(f, "%s . %s\n", in_addr_format(&x, a), in_addr_format(&y, b));
                break;
        case SET_FW_IPS:
                memcpy(&port, k + l + 4, 2);
                fprintf(f, "%s . %s . %u\n", in_addr_format(&x, a), ipproto_name(k[l]), ntohs(port));
                break;
        case SET_FW_ALLOW:
                memcpy(&port, k + l + 4, 2);
                memcpy(y.bytes, k + l + 8, l);
                fprintf(f, "%s . %s . %u . %s-", in_addr_format(&x, a), ipproto_name(k[l]), ntohs(port),
                        in_addr_format(&y, b));
                memcpy(y.bytes, k + 2 * l + 8 + l + 8, l);
                fprintf(f, "%s\n", in_addr_format(&y, b));
                break;
        default:
                fprintf(f, "%s\n", in_addr_format(&x, a));
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
                                char a[IN_ADDR_STRLEN];
                                fprintf(f, " %s.%u", in_addr_format(&c->want.eps[j].addr, a), c->want.eps[j].port);
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
