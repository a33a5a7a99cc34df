/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's pod and node events (agent/pod-events.h): reasons from pkg/kubelet/events, messages as kuberuntime,
 * the image manager and the prober word them. */
#include <stdarg.h>
#include <stdio.h>

#include "agent/pod-events.h"

static void pod_worker_eventv(PodWorker *w, const CState *cs, EventType type, const char *reason, const char *fmt,
                              va_list ap) _printf_(5, 0);
static void pod_worker_eventv(PodWorker *w, const CState *cs, EventType type, const char *reason, const char *fmt,
                              va_list ap) {
        if (!w->m->events)
                return;
        char field_path[320] = "";
        if (cs)
                snprintf(field_path, sizeof(field_path), "spec.%s{%s}",
                         cs->spec->kind == CONTAINER_KIND_INIT ? "initContainers" : "containers", cs->spec->name);
        const EventObjectRef ref = {
                .kind = "Pod",
                .api_version = "v1",
                .namespace_ = w->pod->namespace_,
                .name = w->pod->name,
                .uid = w->pod->uid,
                /* the version the node acted on, as the kubelet's reference to its pod object */
                .resource_version = json_string_value(
                        json_object_get(json_object_get(w->pod->object, "metadata"), "resourceVersion")),
                .field_path = cs ? field_path : NULL,
        };
        event_recordv(w->m->events, &ref, type, reason, fmt, ap);
}

void pod_worker_event(PodWorker *w, const CState *cs, EventType type, const char *reason, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        pod_worker_eventv(w, cs, type, reason, fmt, ap);
        va_end(ap);
}

void manager_node_event(Manager *m, EventType type, const char *reason, const char *fmt, ...) {
        if (!m->events)
                return;
        const EventObjectRef ref = {.kind = "Node", .name = m->node_name, .uid = m->node_name};
        va_list ap;
        va_start(ap, fmt);
        event_recordv(m->events, &ref, type, reason, fmt, ap);
        va_end(ap);
}

static void image_present(CState *cs) {
        if (cs->pulled_now)
                return; /* "Successfully pulled image" said it */
        pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Pulled", "Container image \"%s\" already present on machine",
                         cs->spec->image);
}

void pod_events_container_created(CState *cs) {
        image_present(cs);
        pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Created", "Created container %s", cs->spec->name);
}

void pod_events_image_pulling(CState *cs) {
        pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Pulling", "Pulling image \"%s\"", cs->spec->image);
}

void pod_events_image_pulled(CState *cs, const char *took, const char *with_waiting) {
        pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Pulled",
                         "Successfully pulled image \"%s\" in %s (%s including waiting)", cs->spec->image, took,
                         with_waiting);
}

void pod_events_container_started(CState *cs) {
        pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Started", "Started container %s", cs->spec->name);
}

void pod_events_container_failed(CState *cs, const char *reason, const char *message) {
        const char *detail = message;
        if (streq(reason, "InvalidImageName"))
                pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "InspectFailed", "%s", message);
        else if (streq(reason, "ErrImageNeverPull"))
                pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "ErrImageNeverPull", "%s", message);
        else if (streq(reason, "ErrImagePull"))
                pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "Failed", "Failed to pull image \"%s\": %s",
                                 cs->spec->image, message);
        else if (streq(reason, "CreateContainerConfigError") || streq(reason, "CreateContainerError"))
                image_present(cs); /* the image was there: the kubelet says so before creating */
        /* Image failures end with the reason itself ("Error: ErrImagePull"), the others with the error. */
        if (streq(reason, "InvalidImageName") || streq(reason, "ErrImageNeverPull") || streq(reason, "ErrImagePull"))
                detail = reason;
        pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "Failed", "Error: %s", detail);
}

void pod_events_killing(CState *cs, const char *message) {
        if (!isempty(message))
                pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Killing", "%s", message);
        else
                pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "Killing", "Stopping container %s", cs->spec->name);
}

void pod_events_backoff(CState *cs, bool image) {
        if (image) {
                pod_worker_event(cs->w, cs, EVENT_TYPE_NORMAL, "BackOff", "Back-off pulling image \"%s\"",
                                 cs->spec->image);
                pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "Failed", "Error: ImagePullBackOff");
                return;
        }
        const Pod *p = cs->w->pod;
        pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "BackOff",
                         "Back-off restarting failed container %s in pod %s_%s(%s)", cs->spec->name, p->name,
                         p->namespace_, p->uid);
}

void pod_events_probe(CState *cs, ProbeKind kind, bool warning, const char *output) {
        if (warning)
                pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "ProbeWarning", "%s probe warning: %s",
                                 probe_kind_to_string(kind), strempty(output));
        else
                pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, "Unhealthy", "%s probe failed: %s",
                                 probe_kind_to_string(kind), strempty(output));
}

void pod_events_hook_failed(CState *cs, bool post_start, const char *message) {
        pod_worker_event(cs->w, cs, EVENT_TYPE_WARNING, post_start ? "FailedPostStartHook" : "FailedPreStopHook", "%s",
                         isempty(message) ? (post_start ? "PostStartHook failed" : "PreStopHook failed") : message);
}

void pod_events_pod_failed(PodWorker *w, const char *reason, const char *message) {
        if (streq(reason, "FailedCreatePodSandBox"))
                pod_worker_event(w, NULL, EVENT_TYPE_WARNING, reason, "Failed to create pod sandbox: %s", message);
        else
                pod_worker_event(w, NULL, EVENT_TYPE_WARNING, reason, "%s", message);
}
