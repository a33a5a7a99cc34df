/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* nodeletctl's pod-aware verbs, with crictl's and kubectl's habits, dispatched from agent/nodeletctl.c:
 *
 *   nodeletctl pods [-q] [--name RE] [--namespace RE] [-o table|json] [--no-trunc]
 *   nodeletctl ps [-a]
 *   nodeletctl logs [-f] [--tail N] [-p|--previous] [--timestamps] [-n NS] (POD [-c NAME] | CONTAINER)
 *   nodeletctl exec [-e K=V]... [--timeout SEC] [-n NS] (POD [-c NAME] | CONTAINER) [--] COMMAND [ARG...]
 *
 * They read the runtime's state dir alone, so they work whether or not the daemon runs (its HTTP API is not asked:
 * the read-only port is off by default). A pod is what the daemon's containers say about themselves in their
 * annotations (agent/pod.h: POD_ANNOTATION_*), plus its sandbox in <state-dir>/sandboxes/<uid>.
 *
 * POD is a pod name ("web-node1"), the manifest's name when one pod alone is called that on this node ("web": the
 * kubelet names static pods <name>-<node>), or a unique prefix of the pod UID. CONTAINER, a container ID as
 * `nodeletctl run` and `ps` show it, keeps working. Each verb takes the common options (--root-dir, --state-dir)
 * and prints its usage for --help without touching anything. Each returns the process exit code. */

int pods_ctl_pods(int argc, char *argv[]);
int pods_ctl_ps(int argc, char *argv[]);
int pods_ctl_logs(int argc, char *argv[]);
int pods_ctl_exec(int argc, char *argv[]);
