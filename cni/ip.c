/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/ip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

int cni_ip_parse(const char *s, CniIp *ret) {
        CniIp ip = {};

        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, ip.a) == 1)
                ip.family = AF_INET;
        else if (inet_pton(AF_INET6, s, ip.a) == 1) {
                ip.family = AF_INET6;
                /* Go canonicalizes IPv4-mapped IPv6 to IPv4 (To4() != nil); so do we, so files and results agree. */
                static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if (memcmp(ip.a, mapped, 12) == 0) {
                        memmove(ip.a, ip.a + 12, 4);
                        memset(ip.a + 4, 0, 12);
                        ip.family = AF_INET;
                }
        } else
                return -EINVAL;
        *ret = ip;
        return 0;
}

int cni_prefix_parse(const char *s, CniPrefix *ret) {
        char buf[CNI_PREFIX_STRLEN];
        CniPrefix p = {};
        const char *slash;
        char *end;
        int r;

        if (!s)
                return -EINVAL;
        slash = strchr(s, '/');
        if (!slash || (size_t) (slash - s) >= sizeof buf || !slash[1])
                return -EINVAL;
        memcpy(buf, s, slash - s);
        buf[slash - s] = 0;
        r = cni_ip_parse(buf, &p.ip);
        if (r < 0)
                return r;
        errno = 0;
        unsigned long l = strtoul(slash + 1, &end, 10);
        if (errno != 0 || *end || slash[1] < '0' || slash[1] > '9' || l > cni_ip_size(&p.ip) * 8)
                return -EINVAL;
        p.len = (unsigned) l;
        *ret = p;
        return 0;
}

const char *cni_ip_format(const CniIp *ip, char buf[static CNI_IP_STRLEN]) {
        if (!inet_ntop(ip->family, ip->a, buf, CNI_IP_STRLEN))
                snprintf(buf, CNI_IP_STRLEN, "<invalid>");
        return buf;
}

const char *cni_prefix_format(const CniPrefix *p, char buf[static CNI_PREFIX_STRLEN]) {
        char a[CNI_IP_STRLEN];
        snprintf(buf, CNI_PREFIX_STRLEN, "%s/%u", cni_ip_format(&p->ip, a), p->len);
        return buf;
}

int cni_ip_cmp(const CniIp *a, const CniIp *b) {
        if (a->family != b->family)
                return a->family == AF_INET ? -1 : 1;
        return memcmp(a->a, b->a, cni_ip_size(a));
}

void cni_ip_next(CniIp *ip) {
        for (int i = (int) cni_ip_size(ip) - 1; i >= 0; i--)
                if (++ip->a[i] != 0)
                        break;
}

void cni_ip_prev(CniIp *ip) {
        for (int i = (int) cni_ip_size(ip) - 1; i >= 0; i--)
                if (ip->a[i]-- != 0)
                        break;
}

static void apply_mask(const CniPrefix *p, CniIp *ip, bool set_host_bits) {
        unsigned n = cni_ip_size(&p->ip);

        *ip = p->ip;
        for (unsigned i = 0; i < n; i++) {
                unsigned bits = p->len > i * 8 ? MIN(p->len - i * 8, 8u) : 0;
                uint8_t mask = bits == 0 ? 0 : (uint8_t) (0xff << (8 - bits));
                ip->a[i] = set_host_bits ? (ip->a[i] | (uint8_t) ~mask) : (ip->a[i] & mask);
        }
}

CniIp cni_prefix_first(const CniPrefix *p) {
        CniIp ip;
        apply_mask(p, &ip, false);
        return ip;
}

CniIp cni_prefix_last(const CniPrefix *p) {
        CniIp ip;
        apply_mask(p, &ip, true);
        return ip;
}

bool cni_prefix_contains(const CniPrefix *p, const CniIp *ip) {
        if (p->ip.family != ip->family)
                return false;
        CniIp first = cni_prefix_first(p), last = cni_prefix_last(p);
        return cni_ip_cmp(ip, &first) >= 0 && cni_ip_cmp(ip, &last) <= 0;
}

bool cni_prefix_overlaps(const CniPrefix *a, const CniPrefix *b) {
        CniIp fa = cni_prefix_first(a), fb = cni_prefix_first(b);
        return cni_prefix_contains(a, &fb) || cni_prefix_contains(b, &fa);
}
