/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The kubelet's pod and node events, recorded by the daemon core at the kubelet's places with its reasons and
 * messages (pkg/kubelet/events, kuberuntime, prober, images). One call per place; the recorder (agent/events.h,
 * Manager.events) does the rest, and does nothing when there is none. */

#include "agent/agent.h"
#include "agent/events.h"

/* An event about the pod (cs NULL) or one of its containers (fieldPath spec.containers{name},
 * spec.initContainers{name}). Static pods are their own object (no mirror pod reference yet). */
void pod_worker_event(PodWorker *w, const CState *cs, EventType type, const char *reason, const char *fmt, ...)
        _printf_(5, 6);
/* An event about this node (kind Node, uid = the node name, like the kubelet's node reference). */
void manager_node_event(Manager *m, EventType type, const char *reason, const char *fmt, ...) _printf_(4, 5);

/* The container was created: Pulled ("Container image \"x\" already present on machine"), Created. */
void pod_events_container_created(CState *cs);
/* A registry pull of the container's image starts: Pulling "Pulling image \"x\"". */
void pod_events_image_pulling(CState *cs);
/* It succeeded: Pulled "Successfully pulled image \"x\" in 1.2s (1.5s including waiting)" (Go durations). */
void pod_events_image_pulled(CState *cs, const char *took, const char *with_waiting);
/* Started. */
void pod_events_container_started(CState *cs);
/* An attempt failed before the container ran: the image events (InspectFailed, ErrImageNeverPull, Failed to pull)
 * and Failed "Error: ..." for reason (the waiting reason: ErrImagePull, CreateContainerConfigError, ...). */
void pod_events_container_failed(CState *cs, const char *reason, const char *message);
/* Killing: message, or "Stopping container x". */
void pod_events_killing(CState *cs, const char *message);
/* The restart waits for its back-off: BackOff restarting the failed container, or pulling the image. */
void pod_events_backoff(CState *cs, bool image);
/* A probe failed (Unhealthy "<Kind> probe failed: ...") or warned (ProbeWarning). */
void pod_events_probe(CState *cs, ProbeKind kind, bool warning, const char *output);
/* A lifecycle hook failed: FailedPostStartHook / FailedPreStopHook. */
void pod_events_hook_failed(CState *cs, bool post_start, const char *message);
/* A pod-level step failed: FailedMount, FailedCreatePodSandBox ("Failed to create pod sandbox: ..."), ... */
void pod_events_pod_failed(PodWorker *w, const char *reason, const char *message);
