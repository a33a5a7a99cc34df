/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodelet-bridge: the reference bridge plugin's configuration and behaviour (containernetworking/plugins
 * plugins/main/bridge) for what Kubernetes pods use: bridge (default "cni0"), isGateway, isDefaultGateway, ipMasq,
 * mtu, hairpinMode, ipam, dns. ADD creates the bridge when missing (serialized by an flock on the host network
 * namespace file, and EEXIST from a racing creator is success, so concurrent ADDs are safe), a veth pair whose pod end is created directly in CNI_NETNS under
 * CNI_IFNAME, addresses and routes from the IPAM result, and the masquerade rule. DEL is idempotent. */

#include "cni/skel.h"

#define CNI_BRIDGE_DEFAULT_NAME "cni0"

int cni_bridge_add(const CniArgs *a, json_t **ret_result, CniError *e);
int cni_bridge_del(const CniArgs *a, CniError *e);
int cni_bridge_check(const CniArgs *a, CniError *e);
int cni_bridge_status(const CniArgs *a, CniError *e);
int cni_bridge_gc(const CniArgs *a, CniError *e);

extern const CniPlugin cni_bridge_plugin;
