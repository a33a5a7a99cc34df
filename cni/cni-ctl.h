/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* `nodeletctl cni ...`: run the node's CNI network by hand, the way the agent does (see cni/runner.h):
 *   nodeletctl cni add|check|del NETNS CONTAINERID [options]
 *   nodeletctl cni status|gc [options] [CONTAINERID:IFNAME...]   (gc keeps the listed attachments)
 *   nodeletctl cni write-default POD_CIDR...
 * options: --ifname NAME (eth0), --conf-dir DIR, --bin-dir DIR (repeatable), --cache-dir DIR, --timeout SECONDS,
 *          --arg K=V (repeatable), --port-mapping HOSTPORT:CONTAINERPORT[/PROTO] (repeatable) */

int cni_ctl_main(int argc, char *argv[]);
