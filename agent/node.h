/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The node controller: this node's Node object and its Lease in the API server, kept fresh from the daemon's loop,
 * independent of the pod workers (the kubelet's registerWithAPIServer, updateNodeStatus and node lease controller).
 *
 * - Registration: POST /api/v1/nodes with the labels the kubelet sets (kubernetes.io/hostname, kubernetes.io/os,
 *   kubernetes.io/arch, beta.kubernetes.io/os, beta.kubernetes.io/arch) plus --node-labels, --register-with-taints,
 *   the annotation volumes.kubernetes.io/controller-managed-attach-detach "true" and the full status. On 409
 *   AlreadyExists the node is read back and reconciled the kubelet's way (tryRegisterWithAPIServer): the default
 *   labels and the attach-detach annotation are made to match, nothing else (--node-labels and taints apply at
 *   the first registration only). Failures are retried after 100 ms doubling up to 7 s, like the kubelet.
 * - Status: every nodeStatusUpdateFrequency (10 s) the status is rebuilt from the NodeInfoSource and diffed against
 *   the server's view of the node (the informer's latest object, or the last write's response); when something
 *   other than heartbeat times changed, or nodeStatusReportFrequency (5 min) passed since the last report, it is
 *   sent as a strategic merge patch to nodes/<name>/status (the kubelet's two-way merge patch, with
 *   $setElementOrder/conditions). A condition's lastTransitionTime moves only when its status flips.
 * - Lease: kube-node-lease/<node> with holderIdentity <node>, leaseDurationSeconds and an ownerReference to the
 *   Node, renewed with PUT every 0.25 × duration (10 s); a conflict or a missing lease → GET (create when absent)
 *   and renew at once; other failures back off (100 ms doubling up to 7 s) so that no server state makes it spin.
 * - The own Node is watched (informer, fieldSelector metadata.name=<node>, like the kubelet's node informer):
 *   spec.podCIDRs go to the caller's pod_cidrs callback, and a deleted Node is registered again.
 *
 * Everything runs on the loop through the ApiClient; nothing blocks except reading a few small host files while
 * the status is built. */

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/apiclient.h"
#include "agent/config.h"
#include "common/macro.h"
#include "runtime/image-store.h"

/* What nodeInfo reports (nodelet's own versions; see docs/agent.md "Node and Lease"). The kubelet version carries
 * nodelet as semver build metadata, like k3s ("v1.26.1+k3s1"): it compares equal to v1.26.1, where a pre-release
 * suffix ("v1.26.1-nodelet") would sort below it and fail version checks of cluster tools. */
#define NODE_KUBELET_VERSION "v1.26.1+nodelet"
/* How many images status.images lists (the kubelet's nodeStatusMaxImages default), names per image (its
 * MaxNamesPerImageInNodeStatus). */
#define NODE_MAX_IMAGES 50U
#define NODE_MAX_IMAGE_NAMES 5U
/* The kubelet's Ready message while the pod network is not ready (for node_controller_set_ready()). */
#define NODE_NOT_READY_NETWORK_MESSAGE                                                                                 \
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network "        \
        "plugin returns error: cni plugin not initialized"

typedef struct NodeController NodeController;

/* What the controller reads each time it builds the status. Everything is borrowed and must outlive the
 * controller; the pointed-to values may change between builds (the manager's node IPs, for instance). */
typedef struct NodeInfoSource {
        const char *node_name; /* metadata.name, the kubernetes.io/hostname label, the Hostname address */
        char **node_ips;       /* InternalIP addresses in this order (one per family); NULL/empty = none */
        int64_t cpu_milli;     /* capacity cpu in millicores; 0 = the online CPUs */
        int64_t memory_bytes;  /* capacity memory; 0 = MemTotal of /proc/meminfo */
        ImageStore *images;    /* status.images (NODE_MAX_IMAGES largest); NULL = none */
        /* When set, status.images comes from this list (agent/image-gc.h), rebuilt only when its generation moved,
         * instead of listing images at every build; images is then not read. */
        const struct ImageListCache *image_cache;
        /* Prefix of the host files read (/etc/machine-id, /etc/os-release, /proc/meminfo, /proc/loadavg,
         * /proc/sys/kernel/{pid_max,threads-max,random/boot_id}, /sys/class/dmi/id/product_uuid,
         * /sys/kernel/mm/hugepages): NULL or "" = the real ones; tests point it at a tree of their own. */
        const char *host_root;
} NodeInfoSource;

typedef struct NodeControllerCallbacks {
        /* spec.podCIDRs of the Node (spec.podCIDR when podCIDRs is absent) were seen for the first time or changed:
         * a NULL-terminated list, borrowed for the call. Not called while the Node has none. May be NULL. */
        void (*pod_cidrs)(NodeController *c, char **cidrs, void *userdata);
        /* The Node was registered (created, or found and reconciled) with this uid. May be NULL. */
        void (*registered)(NodeController *c, const char *uid, void *userdata);
        /* A failure the controller retries on its own, for the caller to log: a negative errno and a message
         * naming what failed ("register node node1: nodes \"node1\" is forbidden: ..."). May be NULL. */
        void (*error)(NodeController *c, int r, const char *message, void *userdata);
        /* A node condition changed in a way the kubelet records as an Event; reason is the kubelet's event reason
         * (NodeHasSufficientMemory / NodeHasInsufficientMemory, NodeHasNoDiskPressure / NodeHasDiskPressure,
         * NodeHasSufficientPID / NodeHasInsufficientPID, NodeReady / NodeNotReady). Pressure conditions are reported
         * at their first status and on every flip, Ready only on flips (like the kubelet's setters). May be NULL. */
        void (*condition_event)(NodeController *c, const char *reason, void *userdata);
} NodeControllerCallbacks;

typedef struct NodeControllerStats {
        unsigned registrations;   /* POSTs of the Node */
        unsigned reconciles;      /* GETs after AlreadyExists */
        unsigned status_builds;   /* statuses built (every update period) */
        unsigned status_patches;  /* status PATCHes sent */
        unsigned lease_creates;   /* Lease POSTs */
        unsigned lease_gets;      /* Lease GETs (conflict, not found, after failures) */
        unsigned lease_renewals;  /* Lease PUTs */
        unsigned failures;        /* requests that failed (each one waited for a backoff or a period) */
        unsigned reregistrations; /* the Node vanished and was registered again */
} NodeControllerStats;

/* Creates the controller. api, cfg (register_node, node_labels, register_with_taints, pod_cidr, max_pods, port,
 * root_dir for ephemeral-storage, kube_reserved, system_reserved, eviction_hard, node_status_update_frequency,
 * node_status_report_frequency, node_lease_duration_seconds) and src are borrowed; cb is copied. Does nothing
 * until node_controller_start(). */
int node_controller_new(sd_event *e, ApiClient *api, const NodeletConfig *cfg, const NodeInfoSource *src,
                        const NodeControllerCallbacks *cb, void *userdata, NodeController **ret);
/* Registers the Node (or, with registerNode false, waits for it to exist), then keeps status and Lease fresh. */
int node_controller_start(NodeController *c);
/* Cancels every request in flight without callbacks. Not to be called from the controller's callbacks. */
NodeController *node_controller_free(NodeController *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(NodeController *, node_controller_free)

/* The Ready condition's input, set by the manager: runtime ok, network ok, pod sources synced. Not ready →
 * Ready False with reason KubeletNotReady and message (NULL = a generic one). A change is reported at once (like
 * the kubelet's fast status update), not at the next period. The controller starts not ready. */
void node_controller_set_ready(NodeController *c, bool ready, const char *message);

bool node_controller_registered(const NodeController *c);
/* The Node's uid once registered, else NULL. */
const char *node_controller_node_uid(const NodeController *c);
const NodeControllerStats *node_controller_stats(const NodeController *c);

/* ---- pieces with no I/O, shared with the tests ---- */

/* The strategic merge patch (a two-way merge patch like the kubelet's) that turns the server's status `from` (may be
 * NULL) into `to` for the fields nodelet owns: capacity, allocatable, conditions (merged by type, with
 * $setElementOrder/conditions listing every condition, foreign ones included), addresses (replaced as a whole when
 * they changed, the kubelet's fix-up for their wrong merge key), daemonEndpoints, nodeInfo and images (atomic).
 * Conditions of types nodelet does not set, and status fields it does not own, are left alone. With
 * ignore_heartbeat, lastHeartbeatTime differences do not count. *ret is {"status": {...}}, or NULL when nothing
 * differs. */
int node_status_patch(const json_t *from, const json_t *to, bool ignore_heartbeat, json_t **ret);

/* A resource.Quantity in canonical form: decimal (milli-units → "250m", "4", "1k") or binary ("8140216Ki",
 * "56403987978", "0"), as the API server prints them. buf of at least 32 bytes. */
const char *node_format_quantity_milli(int64_t milli, char *buf, size_t size);
const char *node_format_quantity_binary(int64_t value, char *buf, size_t size);

/* Allocatable the kubelet's way: capacity − kubeReserved − systemReserved − the hard eviction threshold of the
 * resource (memory.available for memory, nodefs.available for ephemeral-storage; a percentage is of the capacity),
 * never below 0. resource is "cpu" (millicores), "memory" or "ephemeral-storage" (bytes); others are returned as
 * they are. */
int64_t node_allocatable(const NodeletConfig *cfg, const char *resource, int64_t capacity);
