/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Image pulls for the daemon: the kubelet's image puller (pkg/kubelet/images/puller.go) in front of the registry
 * client (runtime/registry.h), which runs in a child process per pull, `nodeletctl images --root-dir R pull -q
 * [--authfile F] REF`, like the preload's imports (agent/preload.h): the pull unpacks layers with libarchive, which
 * the daemon does not link, and a registry that wedges or crashes the unpacker costs one child, not the daemon.
 *
 * - Callers asking for the same reference with the same credentials while a pull of it is queued or running attach
 *   to it and get its result (the kubelet's parallel pulls of one image, coalesced). Different credentials pull on
 *   their own: a pod must not get an image through another pod's pull secret.
 * - serializeImagePulls (the default) runs one pull at a time, maxParallelImagePulls that many; the others wait in
 *   request order (puller.go's serial and parallel pullers).
 * - Credentials (the pod's imagePullSecrets, image_pull_auth_from_secrets()) go to the child in a docker config.json
 *   written 0600 into a private directory (mkdtemp, 0700) that is removed when the child has exited.
 * - The child's stdout (the image id) and stderr (the failure, which names the image) are read up to
 *   IMAGE_PULL_OUTPUT_MAX each; more is read and dropped so the child never blocks on a full pipe.
 * - A pull whose last caller cancels is dropped from the queue, or its child killed and reaped; so are all of them
 *   when the queue is freed (daemon exit). A killed pull leaves its partial downloads for the next one to resume.
 *
 * Everything runs on the loop; nothing blocks it longer than writing the small auth file and reaping a SIGKILLed
 * child. */

#include <jansson.h>
#include <systemd/sd-event.h>

#include "common/macro.h"

#define IMAGE_PULL_OUTPUT_MAX 4096

typedef struct ImagePullQueue ImagePullQueue;
typedef struct ImagePullRequest ImagePullRequest;

typedef struct ImagePullQueueOptions {
        const char *ctl_path;  /* nodeletctl; NULL: $NODELET_CTL, else the installed one (<bindir>/nodeletctl) */
        const char *root_dir;  /* nodeletctl's --root-dir: the store is <root_dir>/images; required */
        const char *tmp_dir;   /* where the private credential directories go; NULL: /tmp */
        unsigned max_parallel; /* pulls running at once: 1 = serializeImagePulls, 0 = no limit */
        /* --registry-config-dir (containerd's hosts directory, runtime/registry.h) handed to every child; NULL:
         * nodeletctl's default. */
        const char *registry_config_dir;
        /* Node-level credentials, the kubelet's keyring: the first of these files that exists is handed to the
         * child as --node-authfile, used for registries the pod's imagePullSecrets have no entry for (looked up
         * when each pull starts, so a new file needs no restart). NULL: <root_dir>/config.json, then
         * /root/.docker/config.json. NULL-terminated; copied. */
        char **node_auth_files;
} ImagePullQueueOptions;

typedef struct ImagePullResult {
        const char *image_id;       /* r >= 0: "sha256:<hex>" */
        const char *message;        /* r < 0: what went wrong, naming the image (nodeletctl's message) */
        uint64_t pull_usec;         /* how long the pull itself ran (0 when it never started) */
        uint64_t pull_waiting_usec; /* since this caller asked: the pull plus waiting for its turn */
} ImagePullResult;

/* Runs on the loop, exactly once per request unless cancelled first. res and its strings are borrowed. done() may
 * start new requests and cancel its own handle's siblings; the request is gone when it runs. */
typedef void (*image_pull_done_fn)(int r, const ImagePullResult *res, void *userdata);

/* e must outlive the queue; o and its strings are copied. */
int image_pull_queue_new(sd_event *e, const ImagePullQueueOptions *o, ImagePullQueue **ret);
/* Drops queued pulls and kills running children, without callbacks. Returns NULL. */
ImagePullQueue *image_pull_queue_free(ImagePullQueue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImagePullQueue *, image_pull_queue_free)

/* Asks for ref (a reference nodeletctl accepts; the caller normalized it) to be pulled with auth_json (a docker
 * config.json text, or NULL for anonymous pulls). ret (optional) is a handle for image_pull_request_cancel(), valid
 * until done() runs. The pull starts from the loop, never within this call. */
int image_pull_queue_request(ImagePullQueue *q, const char *ref, const char *auth_json, image_pull_done_fn done,
                             void *userdata, ImagePullRequest **ret);
/* Detaches a caller; its done() is not called. The pull stops when no caller is left. NULL is a no-op. */
void image_pull_request_cancel(ImagePullRequest *r);

/* Pulls queued or running, for tests and metrics. */
unsigned image_pull_queue_pending(const ImagePullQueue *q);

/* The docker config.json ({"auths": {...}}) of a pod's imagePullSecrets: pod is the v1.Pod (spec.imagePullSecrets
 * [].name), secrets the cached Secrets by name ({"<name>": {"data": {...}}}, decoded values, as in
 * api_objects_pod_snapshot()). `.dockerconfigjson` (kubernetes.io/dockerconfigjson: its "auths") and `.dockercfg`
 * (kubernetes.io/dockercfg: the registries at the top level) are merged in the order the pod names them, the first
 * entry for a registry winning. Secrets that are missing or unreadable are skipped, like the kubelet does (it logs
 * and pulls without them). *ret is NULL when no credentials were found. */
int image_pull_auth_from_secrets(const json_t *pod, const json_t *secrets, char **ret);
