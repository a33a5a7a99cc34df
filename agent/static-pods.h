/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The static-pod source: pods from a manifest directory (the kubelet's staticPodPath, pkg/kubelet/config/file.go),
 * watched with inotify on the daemon's loop plus a periodic rescan (fileCheckFrequency) for anything inotify missed.
 *
 * Files: every regular file in the directory whose name does not start with "." (like the kubelet), at most
 * STATIC_POD_FILE_MAX bytes, JSON or YAML, one or more `---`-separated documents; each document is a v1 Pod or a
 * List/PodList of them. Symlinks, FIFOs, sockets, devices and subdirectories are refused (reported, never opened in
 * a way that could block). A missing directory means "no pods" and is watched for creation. A file with any bad
 * document contributes no pods (reported through file_error()); other files are unaffected. Two pods with the same
 * namespace/name: the one from the file later in lexical order is reported and ignored (the kubelet drops the later
 * duplicate too), and takes over when the earlier one goes away.
 *
 * Defaults, as the kubelet's applyDefaults() (pkg/kubelet/config/common.go) does for file pods:
 *   metadata.uid          hex MD5 over "host:<node>", "file:<path>" and the document's canonical JSON
 *                         (jx_dump_compact(): key-sorted). The kubelet hashes the decoded Go object instead; ours has
 *                         the same property (same content + node + file → same UID; any change → a new UID) but not
 *                         the same value. A uid written in the manifest is replaced, so that an edit always changes it.
 *   metadata.name         "<name>-<node>" (the kubelet's static pod naming, node name lower-cased)
 *   metadata.namespace    "default" when empty
 *   spec.nodeName         the node
 *   spec.tolerations      + {operator: Exists, effect: NoExecute}
 *   annotations           kubernetes.io/config.hash = uid, kubernetes.io/config.source = "file",
 *                         kubernetes.io/config.seen = RFC 3339 time (ns) the pod was first seen (not hashed; stays
 *                         the same while the pod is unchanged).
 * No status is added; validating the pod itself is pod_parse()'s job (the manager's).
 *
 * Changes: a UID identifies content, so an edited pod is remove(old uid) + add(new uid); pods of a multi-document
 * file that did not change keep their UID and get no callback. */

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

#define STATIC_POD_FILE_MAX (10U * 1024U * 1024U)
/* The kubelet's default fileCheckFrequency. */
#define STATIC_POD_CHECK_FREQUENCY_DEFAULT (20 * USEC_PER_SEC)

typedef struct StaticPodSource StaticPodSource;

/* Callbacks run on the loop. They may call static_pod_source_rescan() (it is deferred then) but must not free the
 * source. */
typedef struct PodSourceCallbacks {
        /* A pod appeared or its content changed (same UID = unchanged content; a changed file yields a new UID, so an
         * edit is remove(old uid) + add(new)). pod is a fresh copy, borrowed for the call: json_incref() it to keep
         * it (the source keeps none of its references to that copy). origin names the file and document
         * ("/etc/nodelet/pods/web.yaml: document 1"), for messages about the pod. */
        void (*add)(json_t *pod, const char *origin, void *userdata);
        void (*remove)(const char *uid, void *userdata);
        /* A file could not be used (or one of its pods is a duplicate, or the directory cannot be read): path, and a
         * message that starts with the path and names the document, pod and field, e.g.
         * "/etc/nodelet/pods/web.yaml: document 2: kind: expected \"Pod\", got \"Service\"". Called once per change
         * of the file (again when it is edited and still bad). May be NULL. */
        void (*file_error)(const char *path, const char *message, void *userdata);
        /* The first full scan is done and its pods were added (the manager then knows which re-adopted pods are
         * orphans). Called exactly once. May be NULL. */
        void (*synced)(void *userdata);
} PodSourceCallbacks;

/* Starts watching dir. The first scan runs from the loop (not inside this call), then synced(). check_frequency_usec
 * 0 means STATIC_POD_CHECK_FREQUENCY_DEFAULT. dir, node_name and cb are copied; e is referenced. */
int static_pod_source_new(sd_event *e, const char *dir, const char *node_name, uint64_t check_frequency_usec,
                          const PodSourceCallbacks *cb, void *userdata, StaticPodSource **ret);
/* Stops watching; no callback runs afterwards and no remove() is sent for the pods (the daemon is going away, its
 * pods keep running). Returns NULL. */
StaticPodSource *static_pod_source_free(StaticPodSource *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(StaticPodSource *, static_pod_source_free)
/* Re-reads every file now (e.g. on SIGHUP), reporting bad files again; callbacks run inside this call. */
void static_pod_source_rescan(StaticPodSource *s);
