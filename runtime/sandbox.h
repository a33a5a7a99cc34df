/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Pod sandboxes: the network, IPC and UTS namespaces a pod's containers share, persisted as bind-mounted namespace
 * files <state-dir>/sandboxes/<id>/{net,ipc,uts} (the `ip netns` technique) rather than a pause process: no process
 * per pod, nothing to re-adopt after a restart, and a container joins with one setns(2) each. The hostname is set
 * once in the sandbox's UTS namespace and loopback is brought up (what the CNI loopback plugin would do).
 * docs/runtime.md explains the choice. */

#include "runtime/container.h"

int sandbox_create(Runtime *rt, const char *id, const char *hostname, ErrorBuf *e);
/* The namespace file to put into ContainerSpec.ns_paths[k]. */
int sandbox_ns_path(Runtime *rt, const char *id, NamespaceKind k, char **ret);
/* Unmounts the namespace files and removes the directory; a namespace lives on while containers use it. */
int sandbox_remove(Runtime *rt, const char *id, ErrorBuf *e);
