/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* IPv4/IPv6 addresses and prefixes as the CNI config and results spell them ("10.22.0.5/24", "fd00::1").
 * Addresses are kept in network byte order in 16 bytes (IPv4 in the first 4), so range arithmetic is the same
 * for both families. Formatting uses inet_ntop(), which spells addresses like Go's net.IP.String() does, so lease
 * file names match the ones host-local writes. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define CNI_IP_STRLEN INET6_ADDRSTRLEN
#define CNI_PREFIX_STRLEN (INET6_ADDRSTRLEN + 4)

typedef struct CniIp {
        int family; /* AF_INET or AF_INET6 */
        uint8_t a[16];
} CniIp;

typedef struct CniPrefix {
        CniIp ip; /* as written: host bits are kept ("10.0.0.5/24" is an address with its subnet) */
        unsigned len;
} CniPrefix;

static inline unsigned cni_ip_size(const CniIp *ip) {
        return ip->family == AF_INET ? 4 : 16;
}

int cni_ip_parse(const char *s, CniIp *ret);
int cni_prefix_parse(const char *s, CniPrefix *ret);
const char *cni_ip_format(const CniIp *ip, char buf[static CNI_IP_STRLEN]);
const char *cni_prefix_format(const CniPrefix *p, char buf[static CNI_PREFIX_STRLEN]);

/* <0, 0, >0 like memcmp; different families order IPv4 first. */
int cni_ip_cmp(const CniIp *a, const CniIp *b);
static inline bool cni_ip_equal(const CniIp *a, const CniIp *b) {
        return cni_ip_cmp(a, b) == 0;
}
void cni_ip_next(CniIp *ip); /* +1, wrapping */
void cni_ip_prev(CniIp *ip); /* -1, wrapping */

/* The network address (host bits cleared) and the last address of the prefix. */
CniIp cni_prefix_first(const CniPrefix *p);
CniIp cni_prefix_last(const CniPrefix *p);
bool cni_prefix_contains(const CniPrefix *p, const CniIp *ip);
bool cni_prefix_overlaps(const CniPrefix *a, const CniPrefix *b);
