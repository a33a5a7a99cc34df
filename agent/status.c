/* SPDX-License-Identifier: Apache-2.0 */
/* v1.PodStatus from a pod worker, shaped like the kubelet's generateAPIPodStatus / convertToAPIContainerStatuses:
 * phase, conditions (PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled) with the kubelet's
 * reasons and messages, container statuses (state, lastState, ready, started, restartCount, image, imageID,
 * containerID), pod and host IPs, startTime and qosClass. Timestamps are RFC 3339 in UTC with second precision, as
 * metav1.Time serialises them. */
#include <stdio.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/volumes.h"
#include "common/json-util.h"

static json_t *timestamp(uint64_t ns) {
        if (!ns)
                return json_null();
        time_t t = (time_t) (ns / NSEC_PER_SEC);
        struct tm tm;
        char buf[32];
        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return json_null();
        return json_string(buf);
}

static json_t *container_id_json(const char *id) {
        char buf[160];
        snprintf(buf, sizeof(buf), "nodelet://%s", id);
        return json_string(buf);
}

static const char *terminated_reason(const ContainerStatus *s) {
        if (s->oom_killed)
                return "OOMKilled";
        if (s->reason[0] && !streq(s->reason, "Unknown"))
                return s->reason;
        return s->exit_code == 0 ? "Completed" : "Error";
}

static json_t *terminated_json(const ContainerStatus *s, const char *id, const char *message) {
        json_t *t = json_pack("{s:i, s:s, s:o, s:o}", "exitCode", s->exit_code, "reason", terminated_reason(s),
                              "startedAt", timestamp(s->started_at), "finishedAt", timestamp(s->finished_at));
        if (!t)
                return NULL;
        if (s->signal > 0)
                (void) json_object_set_new(t, "signal", json_integer(s->signal));
        const char *msg = message && *message ? message : s->message[0] ? s->message : NULL;
        if (msg)
                (void) json_object_set_new(t, "message", json_string(msg));
        if (id)
                (void) json_object_set_new(t, "containerID", container_id_json(id));
        return json_pack("{s:o}", "terminated", t);
}

static json_t *waiting_json(const CState *cs) {
        json_t *wj = json_object();
        if (!wj)
                return NULL;
        if (cs->reason[0])
                (void) json_object_set_new(wj, "reason", json_string(cs->reason));
        if (cs->message[0])
                (void) json_object_set_new(wj, "message", json_string(cs->message));
        return json_pack("{s:o}", "waiting", wj);
}

/* Waiting for a (re)start: after an exit that will be restarted, or before the first start. */
static bool cs_waiting(const PodWorker *w, const CState *cs) {
        switch (cs->phase) {
        case CS_RUNNING:
                return false;
        case CS_EXITED:
                /* A container that will not be restarted stays terminated. */
                return cs->create_failed ||
                       (w->terminal_phase == POD_PHASE_UNKNOWN && w->state == W_RUNNING && (cs->reason[0] != 0));
        default:
                return true;
        }
}

static json_t *container_status_json(const PodWorker *w, const CState *cs) {
        const char *id = cs->current ? container_id(cs->current) : NULL;
        json_t *state, *last;
        bool running = cs->phase == CS_RUNNING;

        if (running) {
                state = json_pack("{s:{s:o}}", "running", "startedAt", timestamp(cs->status.started_at));
                last = cs->has_last ? terminated_json(&cs->last_status, cs->last_id, NULL) : json_object();
        } else if (cs->phase == CS_EXITED && !cs_waiting(w, cs)) {
                state = terminated_json(&cs->status, id, cs->termination_message);
                last = cs->has_last ? terminated_json(&cs->last_status, cs->last_id, NULL) : json_object();
        } else {
                state = waiting_json(cs);
                /* Waiting to restart: the instance that exited is the last state. */
                if (cs->current && cs->status.state == CONTAINER_EXITED && cs->phase == CS_EXITED)
                        last = terminated_json(&cs->status, id, cs->termination_message);
                else
                        last = cs->has_last ? terminated_json(&cs->last_status, cs->last_id, NULL) : json_object();
        }
        json_t *j = json_pack("{s:s, s:o, s:o, s:b, s:i, s:s, s:s, s:b}", "name", cs->spec->name, "state", state,
                              "lastState", last, "ready", running && cs->ready, "restartCount", (int) cs->restart_count,
                              "image", cs->image_ref ?: cs->spec->image, "imageID",
                              cs->image_digest_ref ?: cs->image_id ?: "", "started", running && cs->started);
        if (j && id)
                (void) json_object_set_new(j, "containerID", container_id_json(id));
        return j;
}

static int cmp_status_name(const void *a, const void *b) {
        const json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
        return strcmp(json_string_value(json_object_get(x, "name")), json_string_value(json_object_get(y, "name")));
}

static json_t *condition(const char *type, bool status, uint64_t since_ns, const char *reason, const char *message) {
        json_t *c = json_pack("{s:s, s:s, s:n, s:o}", "type", type, "status", status ? "True" : "False",
                              "lastProbeTime", "lastTransitionTime", timestamp(since_ns));
        if (c && reason)
                (void) json_object_set_new(c, "reason", json_string(reason));
        if (c && message)
                (void) json_object_set_new(c, "message", json_string(message));
        return c;
}

/* "containers with unready status: [a b]" */
static void names_message(char *buf, size_t size, const char *what, const CState *l, size_t n, bool init_only_regular,
                          bool (*bad)(const CState *)) {
        size_t k = (size_t) snprintf(buf, size, "containers with %s status: [", what);
        bool first = true;
        for (size_t i = 0; i < n && k < size; i++) {
                if (!bad(&l[i]))
                        continue;
                k += (size_t) snprintf(buf + k, size - k, "%s%s", first ? "" : " ", l[i].spec->name);
                first = false;
        }
        if (k < size)
                snprintf(buf + k, size - k, "]");
}

static bool cs_unready(const CState *cs) {
        return !(cs->phase == CS_RUNNING && cs->ready);
}

static bool cs_init_incomplete(const CState *cs) {
        if (pod_container_is_sidecar(cs->spec))
                return !(cs->phase == CS_RUNNING && cs->started);
        return !(cs->phase == CS_EXITED && cs->status.state == CONTAINER_EXITED && cs->status.exit_code == 0 &&
                 !cs->create_failed);
}

static bool sidecar_unready(const CState *cs) {
        return pod_container_is_sidecar(cs->spec) && cs_unready(cs);
}

json_t *pod_worker_status_json(const PodWorker *w) {
        PodPhase phase = pod_worker_phase(w);
        bool terminal = phase == POD_PHASE_SUCCEEDED || phase == POD_PHASE_FAILED;
        _cleanup_json_ json_t *st = json_object(), *conds = json_array(), *init = json_array(), *app = json_array();
        if (!st || !conds || !init || !app)
                return NULL;

        (void) json_object_set_new(st, "phase", json_string(pod_phase_to_string(phase)));

        /* Conditions. */
        bool net = w->sandbox_ready && w->network_ready && !terminal;
        (void) json_array_append_new(conds, condition("PodReadyToStartContainers", net,
                                                      w->net_ready_since_ns ?: w->start_time_ns, NULL, NULL));
        char msg[1024];
        bool initialized = w->initialized;
        if (initialized)
                (void) json_array_append_new(
                        conds,
                        condition("Initialized", true, w->initialized_since_ns ?: w->start_time_ns,
                                  terminal && phase == POD_PHASE_SUCCEEDED && w->n_init > 0 ? "PodCompleted" : NULL,
                                  NULL));
        else {
                names_message(msg, sizeof(msg), "incomplete", w->init, w->n_init, true, cs_init_incomplete);
                (void) json_array_append_new(
                        conds, condition("Initialized", false, w->start_time_ns, "ContainersNotInitialized", msg));
        }
        bool ready = !terminal && initialized && w->n_app > 0;
        for (size_t i = 0; i < w->n_app && ready; i++)
                ready = !cs_unready(&w->app[i]);
        for (size_t i = 0; i < w->n_init && ready; i++)
                ready = !sidecar_unready(&w->init[i]);
        uint64_t ready_since = w->ready_since_ns ?: w->start_time_ns;
        if (ready) {
                (void) json_array_append_new(conds, condition("Ready", true, ready_since, NULL, NULL));
                (void) json_array_append_new(conds, condition("ContainersReady", true, ready_since, NULL, NULL));
        } else if (terminal) {
                (void) json_array_append_new(conds, condition("Ready", false, ready_since, "PodCompleted", NULL));
                (void) json_array_append_new(conds,
                                             condition("ContainersReady", false, ready_since, "PodCompleted", NULL));
        } else {
                size_t k = 0;
                names_message(msg, sizeof(msg), "unready", w->app, w->n_app, false, cs_unready);
                /* Sidecars count too (Kubernetes 1.29+): append their names. */
                for (size_t i = 0; i < w->n_init; i++)
                        if (sidecar_unready(&w->init[i]) && (k = strlen(msg)) > 0 && k + 2 < sizeof(msg)) {
                                msg[k - 1] = 0;
                                snprintf(msg + k - 1, sizeof(msg) - k + 1, "%s%s]", msg[k - 2] == '[' ? "" : " ",
                                         w->init[i].spec->name);
                        }
                (void) json_array_append_new(conds, condition("Ready", false, ready_since, "ContainersNotReady", msg));
                (void) json_array_append_new(
                        conds, condition("ContainersReady", false, ready_since, "ContainersNotReady", msg));
        }
        (void) json_array_append_new(conds, condition("PodScheduled", true, w->start_time_ns, NULL, NULL));
        (void) json_object_set(st, "conditions", conds);

        if (w->terminal_reason[0]) {
                (void) json_object_set_new(st, "reason", json_string(w->terminal_reason));
                if (w->terminal_message[0])
                        (void) json_object_set_new(st, "message", json_string(w->terminal_message));
        } else if (w->failure_reason[0] && !w->network_ready) {
                (void) json_object_set_new(st, "reason", json_string(w->failure_reason));
                (void) json_object_set_new(st, "message", json_string(w->failure_message));
        }
        if (w->m->host_ip) {
                (void) json_object_set_new(st, "hostIP", json_string(w->m->host_ip));
                json_t *hips = json_array();
                for (char **i = w->m->node_ips; i && *i; i++)
                        (void) json_array_append_new(hips, json_pack("{s:s}", "ip", *i));
                (void) json_object_set_new(st, "hostIPs", hips);
        }
        if (w->pod_ips && w->pod_ips[0]) {
                (void) json_object_set_new(st, "podIP", json_string(w->pod_ips[0]));
                json_t *ips = json_array();
                for (char **i = w->pod_ips; *i; i++)
                        (void) json_array_append_new(ips, json_pack("{s:s}", "ip", *i));
                (void) json_object_set_new(st, "podIPs", ips);
        }
        (void) json_object_set_new(st, "startTime", timestamp(w->start_time_ns));

        for (size_t i = 0; i < w->n_init; i++)
                (void) json_array_append_new(init, container_status_json(w, &w->init[i]));
        if (w->n_init > 0)
                (void) json_object_set(st, "initContainerStatuses", init);
        json_t **sorted = calloc(MAX(w->n_app, 1), sizeof(json_t *));
        if (!sorted)
                return NULL;
        for (size_t i = 0; i < w->n_app; i++)
                sorted[i] = container_status_json(w, &w->app[i]);
        qsort(sorted, w->n_app, sizeof(json_t *), cmp_status_name);
        for (size_t i = 0; i < w->n_app; i++)
                (void) json_array_append_new(app, sorted[i]);
        free(sorted);
        (void) json_object_set(st, "containerStatuses", app);
        (void) json_object_set_new(st, "qosClass", json_string(qos_class_to_string(w->pod->qos_class)));
        return TAKE_PTR(st);
}

json_t *pod_worker_pod_json(const PodWorker *w) {
        json_t *p = json_deep_copy(w->pod->object);
        json_t *st = pod_worker_status_json(w);
        if (!p || !st) {
                json_decref(p);
                json_decref(st);
                return NULL;
        }
        (void) json_object_set_new(p, "status", st);
        return p;
}
