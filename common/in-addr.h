/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* IPv4/IPv6 addresses and prefixes: the one address type of every module (CNI's and netproxy's used to be two).
 * Addresses are kept in network byte order in 16 bytes (IPv4 in the first 4, the rest zero), so comparisons, masks
 * and range arithmetic are the same code for both families, and `in`/`in6` can be handed to the socket API as they
 * are. Formatting uses inet_ntop(), which spells addresses like Go's net.IP.String() does (lease file names and CNI
 * results match the reference plugins'). libc only: part of nodelet-basic. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define IN_ADDR_STRLEN INET6_ADDRSTRLEN
#define IN_PREFIX_STRLEN (INET6_ADDRSTRLEN + 4)

typedef struct InAddr {
        int family; /* AF_INET or AF_INET6 */
        union {
                struct in_addr in;
                struct in6_addr in6;
                uint8_t bytes[16];
        };
} InAddr;

typedef struct InPrefix {
        InAddr addr; /* host bits are kept unless parsed with IN_PARSE_NETWORK ("10.0.0.5/24" names an address) */
        unsigned len;
} InPrefix;

typedef enum InParseFlags {
        /* IPv4-mapped IPv6 ("::ffff:10.0.0.1") becomes IPv4, like Go's net.IP.To4(): CNI configs and results. */
        IN_PARSE_UNMAP_V4 = 1 << 0,
        /* A prefix may be a bare address, meaning /32 or /128 (Service loadBalancerSourceRanges, nodePortAddresses). */
        IN_PARSE_BARE_ADDRESS = 1 << 1,
        /* Host bits are cleared, like the network net.ParseCIDR() returns. */
        IN_PARSE_NETWORK = 1 << 2,
} InParseFlags;

/* 4 or 16; 0 for anything else. */
static inline unsigned in_addr_family_size(int family) {
        return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}
static inline unsigned in_addr_size(const InAddr *a) {
        return in_addr_family_size(a->family);
}

/* -EINVAL for anything inet_pton() does not accept in either family; only IN_PARSE_UNMAP_V4 applies. */
int in_addr_parse(const char *s, InParseFlags flags, InAddr *ret);
/* "ADDR/LEN" (LEN decimal, at most the family's bits). */
int in_prefix_parse(const char *s, InParseFlags flags, InPrefix *ret);
/* Never fails: an address of no known family is spelled "<invalid>". */
const char *in_addr_format(const InAddr *a, char buf[static IN_ADDR_STRLEN]);
const char *in_prefix_format(const InPrefix *p, char buf[static IN_PREFIX_STRLEN]);

/* <0, 0, >0 like memcmp; different families order IPv4 first. */
int in_addr_cmp(const InAddr *a, const InAddr *b);
static inline bool in_addr_equal(const InAddr *a, const InAddr *b) {
        return in_addr_cmp(a, b) == 0;
}
void in_addr_next(InAddr *a); /* +1, wrapping */
void in_addr_prev(InAddr *a); /* -1, wrapping */

/* The network address (host bits cleared) and the last address of the prefix. */
InAddr in_prefix_first(const InPrefix *p);
InAddr in_prefix_last(const InPrefix *p);
bool in_prefix_contains(const InPrefix *p, const InAddr *a);
bool in_prefix_overlaps(const InPrefix *a, const InPrefix *b);
