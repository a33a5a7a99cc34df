/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Removal of stale UDP conntrack entries over ctnetlink (libmnl). UDP has no connection teardown, so a client that
 * keeps sending from the same port would stick to a conntrack entry DNATed to an endpoint that is gone; kube-proxy
 * deletes those entries (pkg/proxy/conntrack) and so do we. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netproxy/model.h"

typedef struct CtFlush {
        int family;
        uint8_t proto;
        InAddr vip;      /* original destination */
        uint16_t vport;  /* original destination port, network order */
        InAddr endpoint; /* reply source (the DNAT target), when has_endpoint */
        bool has_endpoint;
} CtFlush;

typedef struct CtFlushList {
        CtFlush *items;
        size_t n, cap;
} CtFlushList;

int ct_flush_list_add(CtFlushList *l, const CtFlush *f);
void ct_flush_list_done(CtFlushList *l);
/* Deletes matching entries over the given (netfilter netlink) socket; returns how many were deleted. */
struct mnl_socket;
int ct_flush_apply(CtFlushList *l, struct mnl_socket *nl);
