/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodelet-ipam: host-local compatible address management.
 *
 * Same configuration (ipam.ranges as a list of range sets, or the legacy ipam.subnet/rangeStart/rangeEnd/gateway,
 * routes, dataDir, resolvConf, requested IPs from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips), same
 * allocation order (round robin from last_reserved_ip.<rangeset index>, gateway skipped) and the same files under
 * <dataDir>/<network>/: one file per address named by the address, holding "<containerID>\r\n<ifname>", and a
 * "lock" file taken with flock(LOCK_EX) around every change. host-local and nodelet-ipam can therefore take over
 * each other's networks and even run concurrently (containernetworking/plugins plugins/ipam/host-local). */

#include "cni/skel.h"

#define CNI_IPAM_DEFAULT_DATA_DIR "/var/lib/cni/networks"

int cni_ipam_add(const CniArgs *a, json_t **ret_result, CniError *e);
int cni_ipam_del(const CniArgs *a, CniError *e);
int cni_ipam_check(const CniArgs *a, CniError *e);
int cni_ipam_status(const CniArgs *a, CniError *e);
int cni_ipam_gc(const CniArgs *a, CniError *e);
/* Parses and checks the configuration (ranges, overlaps, requested addresses) without touching the data dir. */
int cni_ipam_validate(const CniArgs *a, CniError *e);

extern const CniPlugin cni_ipam_plugin;

/* Network names become directory names: SPEC.md's rule, ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
bool cni_network_name_valid(const char *name);
