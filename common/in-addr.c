/* SPDX-License-Identifier: Apache-2.0 */
#include "common/in-addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

int in_addr_parse(const char *s, InParseFlags flags, InAddr *ret) {
        InAddr a = {};

        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, &a.in) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, &a.in6) == 1) {
                a.family = AF_INET6;
                static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if ((flags & IN_PARSE_UNMAP_V4) && memcmp(a.bytes, mapped, 12) == 0) {
                        memmove(a.bytes, a.bytes + 12, 4);
                        memset(a.bytes + 4, 0, 12);
                        a.family = AF_INET;
                }
        } else
                return -EINVAL;
        *ret = a;
        return 0;
}

/* The mask of byte i for a prefix of len bits. */
static uint8_t prefix_mask(unsigned len, unsigned i) {
        unsigned bits = len > i * 8 ? MIN(len - i * 8, 8u) : 0;
        return (uint8_t) (0xff00 >> bits);
}

static void apply_mask(const InPrefix *p, InAddr *a, bool set_host_bits) {
        *a = p->addr;
        for (unsigned i = 0; i < in_addr_size(a); i++) {
                uint8_t mask = prefix_mask(p->len, i);
                a->bytes[i] = set_host_bits ? (a->bytes[i] | (uint8_t) ~mask) : (a->bytes[i] & mask);
        }
}

int in_prefix_parse(const char *s, InParseFlags flags, InPrefix *ret) {
        char buf[IN_PREFIX_STRLEN];
        InPrefix p = {};
        const char *slash;
        size_t n;
        int r;

        if (!s)
                return -EINVAL;
        slash = strchr(s, '/');
        if (!slash && !(flags & IN_PARSE_BARE_ADDRESS))
                return -EINVAL;
        n = slash ? (size_t) (slash - s) : strlen(s);
        if (n >= sizeof buf)
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = 0;
        r = in_addr_parse(buf, flags, &p.addr);
        if (r < 0)
                return r;
        p.len = in_addr_size(&p.addr) * 8;
        if (slash) {
                char *end;
                /* Digits only: strtoul() would also take " 8", "+8" and "-0". */
                if (slash[1] < '0' || slash[1] > '9')
                        return -EINVAL;
                errno = 0;
                unsigned long l = strtoul(slash + 1, &end, 10);
                if (errno != 0 || *end || l > p.len)
                        return -EINVAL;
                p.len = (unsigned) l;
        }
        if (flags & IN_PARSE_NETWORK)
                apply_mask(&p, &p.addr, false);
        *ret = p;
        return 0;
}

const char *in_addr_format(const InAddr *a, char buf[static IN_ADDR_STRLEN]) {
        if (!inet_ntop(a->family, a->bytes, buf, IN_ADDR_STRLEN))
                snprintf(buf, IN_ADDR_STRLEN, "<invalid>");
        return buf;
}

const char *in_prefix_format(const InPrefix *p, char buf[static IN_PREFIX_STRLEN]) {
        char a[IN_ADDR_STRLEN];
        snprintf(buf, IN_PREFIX_STRLEN, "%s/%u", in_addr_format(&p->addr, a), p->len);
        return buf;
}

int in_addr_cmp(const InAddr *a, const InAddr *b) {
        if (a->family != b->family)
                return a->family == AF_INET ? -1 : 1;
        return memcmp(a->bytes, b->bytes, in_addr_size(a));
}

void in_addr_next(InAddr *a) {
        for (int i = (int) in_addr_size(a) - 1; i >= 0; i--)
                if (++a->bytes[i] != 0)
                        break;
}

void in_addr_prev(InAddr *a) {
        for (int i = (int) in_addr_size(a) - 1; i >= 0; i--)
                if (a->bytes[i]-- != 0)
                        break;
}

InAddr in_prefix_first(const InPrefix *p) {
        InAddr a;
        apply_mask(p, &a, false);
        return a;
}

InAddr in_prefix_last(const InPrefix *p) {
        InAddr a;
        apply_mask(p, &a, true);
        return a;
}

bool in_prefix_contains(const InPrefix *p, const InAddr *a) {
        if (p->addr.family != a->family)
                return false;
        for (unsigned i = 0; i < in_addr_size(a); i++) {
                uint8_t mask = prefix_mask(p->len, i);
                if ((a->bytes[i] & mask) != (p->addr.bytes[i] & mask))
                        return false;
        }
        return true;
}

bool in_prefix_overlaps(const InPrefix *a, const InPrefix *b) {
        InAddr fa = in_prefix_first(a), fb = in_prefix_first(b);
        return in_prefix_contains(a, &fb) || in_prefix_contains(b, &fa);
}
