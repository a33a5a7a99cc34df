/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The rtnetlink operations the bridge plugin needs, over libnl-3 route. One socket per network namespace: the
 * host socket is opened where the plugin runs, the pod socket is opened after entering CNI_NETNS, so every later
 * call on it acts inside the pod without switching namespaces again. Functions return negative errno (libnl's codes
 * are mapped), never log. */

#include <netlink/route/link.h>
#include <stdint.h>

#include "common/in-addr.h"
#include "common/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put)

/* libnl error (NLE_*) → negative errno. */
int nl_to_errno(int nle);

int nl_open(struct nl_sock **ret);
/* Opens a socket inside the network namespace at ns_fd; the calling thread is back in its own namespace after.
 * self_fd is an fd of the thread's own namespace when the caller has one at hand, else -1. */
int nl_open_in_netns(int ns_fd, int self_fd, struct nl_sock **ret);

/* -ENODEV when absent. */
int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret);
/* Creates the bridge unless it exists (EEXIST from a concurrent creator is success), sets it up; -EEXIST-like
 * -ENOTTY when a link of that name exists but is not a bridge. Returns the bridge. */
int bridge_ensure(struct nl_sock *sk, const char *name, uint32_t mtu, struct rtnl_link **ret, bool *ret_created);
/* 1 when any link has the bridge as master. */
int bridge_has_ports(struct nl_sock *sk, int bridge_index);
/* Index and MAC ("aa:bb:..", may be NULL) of a link in the socket's namespace; -ENODEV when absent. */
int link_index_mac(struct nl_sock *sk, const char *name, int *ret_index, char *ret_mac);
/* One RTM_NEWLINK: veth host_name (master bridge_index, up) with its peer pod_name created in pod_ns_fd. */
int veth_create(struct nl_sock *sk, const char *host_name, const char *pod_name, int pod_ns_fd, int bridge_index,
                uint32_t mtu);
int link_set_up(struct nl_sock *sk, struct rtnl_link *link);
int link_set_up_index(struct nl_sock *sk, int ifindex);
int link_delete(struct nl_sock *sk, const char *name);
/* Deletes the link `name` inside the namespace ns_fd and returns as soon as the kernel has unlisted it (name,
 * index and addresses are free again; a veth's peer is unlisted with it), without waiting for the teardown that
 * follows: unregistering a net device ends in rcu_barrier(), ~15 ms that the RTM_DELLINK request sits in. A forked
 * child sends the request and sits there instead; it closes every inherited fd first and exits after the kernel's
 * answer. The caller must be about to exit (a plugin) or reap the child. -ENODEV when there is no such link,
 * -ETIMEDOUT when the link was not unlisted within timeout_ms. */
int link_delete_detached(int ns_fd, const char *name, int timeout_ms);
int bridge_port_set_hairpin(struct nl_sock *sk, int ifindex, bool on);
/* EEXIST is success. IPv6 addresses are added without DAD (the plugin owns the subnet; DAD would delay traffic). */
int addr_add(struct nl_sock *sk, int ifindex, const InPrefix *p);
/* dst NULL = default route of gw's family; gw NULL = on-link. EEXIST is success. */
int route_add(struct nl_sock *sk, int ifindex, const InPrefix *dst, const InAddr *gw);
/* 1 when the interface has address p (exact prefix), 0 when not. */
int addr_has(struct nl_sock *sk, int ifindex, const InPrefix *p);

/* 1 when the main table has a route to dst (exact prefix) through ifindex, 0 when not. */
int route_has(struct nl_sock *sk, int ifindex, const InPrefix *dst);

const char *link_mac(struct rtnl_link *link, char buf[static 18]);
