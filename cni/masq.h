/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* ipMasq for nodelet-bridge: SNAT (masquerade) of pod traffic leaving the pod subnet, in nodelet's own nftables
 * tables `ip nodelet-cni` / `ip6 nodelet-cni` (chain "postrouting", nat hook at srcnat priority). We never touch
 * tables we did not create: iptables-based plugins, netproxy's `nodelet` tables and the operator's own rules stay
 * as they are. One rule per attachment, like the reference bridge's per-container chain, tagged with the comment
 * "<network> <containerID> <ifname>" so DEL and GC find it; every change is one nftables transaction. */

#include <jansson.h>

#include "common/in-addr.h"

#define CNI_NFT_TABLE "nodelet-cni"

/* pod: the pod's address with the subnet's prefix length. Masquerades pod → anything outside the subnet except
 * multicast. */
int masq_add(const char *network, const char *container_id, const char *ifname, const InPrefix *pod);
/* Removes the attachment's rules in both families; absent table or rule is success. */
int masq_del(const char *network, const char *container_id, const char *ifname);
/* Removes the network's rules whose attachment is not in valid (cni.dev/valid-attachments). */
int masq_gc(const char *network, const json_t *valid);
