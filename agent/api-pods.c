/* SPDX-License-Identifier: Apache-2.0 */
/* Pods from the API server: the second pod source and the status manager (the kubelet's config/apiserver.go and
 * status/status_manager.go), on the same pipeline as static pods.
 *
 * Source: an informer on /api/v1/pods with fieldSelector=spec.nodeName=<node> (never other nodes' pods). ADDED and
 * MODIFIED pods that this node does not run yet get a worker (manager_pod_add(), the same path as a manifest file);
 * a pod already terminal in the API is not started again. A deletionTimestamp starts the graceful stop with the
 * pod's deletionGracePeriodSeconds; a DELETED event (force delete, or our own final DELETE) removes the pod.
 *
 * Status: after every sync of a worker whose pod came from the API, the manager marks the pod dirty; a short timer
 * (coalescing bursts) computes its v1.PodStatus and, when it differs from what was last written, sends a strategic
 * merge PATCH of pods/<name>/status carrying metadata.uid (so a recreated pod of the same name is never written).
 * One request per pod in flight; a change meanwhile is sent when it completes; failures retry with back-off.
 * Once a pod being deleted has stopped and been torn down, its final status is written and the pod is deleted
 * with gracePeriodSeconds 0 and a uid precondition, which ends its life in the API.
 *
 * Mirror pods (the kubelet's pod/mirror_client.go and its use in syncPod): each static pod gets a read-only copy in
 * the API so that kubectl and the scheduler see it: the static pod's object without uid/resourceVersion/status, with
 * the annotation kubernetes.io/config.mirror = its kubernetes.io/config.hash, spec.nodeName = this node and one
 * controller ownerReference to the Node (so that deleting the Node removes them). Its status is the static pod's,
 * written to the mirror's uid. Mirror pods are recognised by that annotation and never run. The mirror is deleted
 * (grace 0, uid precondition) and created again when its hash is not the static pod's (the manifest changed) or
 * when someone deletes it (deletionTimestamp); it is deleted when its static pod is gone, and a mirror pod with no
 * static pod behind it (left from an earlier run) is deleted once every pod source synced. */
#include <stdio.h>

#include "agent/agent.h"
#include "agent/api-pods.h"
#include "agent/informer.h"
#include "agent/node.h"
#include "common/json-util.h"
#include "common/log.h"

#define STATUS_COALESCE_USEC (10 * USEC_PER_MSEC)
#define STATUS_RETRY_MAX_USEC (30 * USEC_PER_SEC)

typedef struct ApiPod {
        struct ApiPod *next;
        ApiPods *owner;
        char *uid, *ns, *name;
        json_t *last_status; /* what the API has from us */
        bool dirty;
        bool deleting;      /* deletionTimestamp seen */
        bool gone;          /* the worker finished: send the final status and DELETE */
        bool final_deleted; /* DELETE sent */
        ApiRequest *req;
        uint64_t retry_usec;
        uint64_t not_before_usec;
        bool is_static;   /* a static pod: uid is the static pod's, status goes to its mirror pod */
        char *status_uid; /* the mirror pod's uid that last_status was written to */
} ApiPod;

/* A mirror pod as the informer last showed it (namespace/name is the key). */
typedef struct MirrorPod {
        struct MirrorPod *next;
        char *ns, *name, *uid, *hash;
        bool deleting;    /* deletionTimestamp set: delete it for good and create it again */
        bool delete_sent; /* our DELETE for this uid went out */
} MirrorPod;

struct ApiPods {
        Manager *m;
        ApiClient *api;
        Informer *informer;
        ApiPod *pods;
        MirrorPod *mirrors;
        ApiRequest *mirror_req; /* one mirror create/delete at a time */
        sd_event_source *timer;
        uint64_t patches, deletes, failures, mirror_creates, mirror_deletes;
};

static int free_and_strdup(char **p, const char *s) {
        char *c = NULL;
        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

static MirrorPod *mirror_find(ApiPods *p, const char *ns, const char *name) {
        for (MirrorPod *mp = p->mirrors; mp; mp = mp->next)
                if (streq(mp->ns, ns) && streq(mp->name, name))
                        return mp;
        return NULL;
}

static void mirror_remove(ApiPods *p, MirrorPod *mp) {
        for (MirrorPod **i = &p->mirrors; *i; i = &(*i)->next)
                if (*i == mp) {
                        *i = mp->next;
                        break;
                }
        free(mp->ns);
        free(mp->name);
        free(mp->uid);
        free(mp->hash);
        free(mp);
}

/* Records what the API has (from an informer event or a create response). */
static int mirror_set(ApiPods *p, const char *ns, const char *name, const char *uid, const char *hash, bool deleting) {
        MirrorPod *mp = mirror_find(p, ns, name);
        if (!mp) {
                mp = calloc(1, sizeof(MirrorPod));
                if (!mp || !(mp->ns = strdup(ns)) || !(mp->name = strdup(name))) {
                        if (mp)
                                free(mp->ns);
                        free(mp);
                        return -ENOMEM;
                }
                mp->next = p->mirrors;
                p->mirrors = mp;
        }
        if (!streq_ptr(mp->uid, uid)) {
                mp->delete_sent = false;
                if (free_and_strdup(&mp->uid, uid) < 0)
                        return -ENOMEM;
        }
        if (free_and_strdup(&mp->hash, hash) < 0)
                return -ENOMEM;
        mp->deleting = deleting;
        return 0;
}

static const char *pod_config_hash(const Pod *pod) {
        return json_string_value(json_object_get(pod->annotations, POD_ANNOTATION_CONFIG_HASH));
}

static ApiPod *api_pod_find(ApiPods *p, const char *uid) {
        for (ApiPod *a = p->pods; a; a = a->next)
                if (streq(a->uid, uid))
                        return a;
        return NULL;
}

static void api_pod_free(ApiPods *p, ApiPod *a) {
        for (ApiPod **i = &p->pods; *i; i = &(*i)->next)
                if (*i == a) {
                        *i = a->next;
                        break;
                }
        if (a->req)
                api_request_cancel(a->req);
        json_decref(a->last_status);
        free(a->status_uid);
        free(a->uid);
        free(a->ns);
        free(a->name);
        free(a);
}

static ApiPod *api_pod_get(ApiPods *p, const char *uid, const char *ns, const char *name) {
        ApiPod *a = api_pod_find(p, uid);
        if (a)
                return a;
        a = calloc(1, sizeof(ApiPod));
        if (!a || !(a->uid = strdup(uid)) || !(a->ns = strdup(ns)) || !(a->name = strdup(name))) {
                if (a) {
                        free(a->uid);
                        free(a->ns);
                        free(a->name);
                }
                free(a);
                return NULL;
        }
        a->owner = p;
        a->next = p->pods;
        p->pods = a;
        return a;
}

static void schedule(ApiPods *p, uint64_t delay_usec) {
        uint64_t now = 0, when;
        (void) sd_event_now(p->m->event, CLOCK_MONOTONIC, &now);
        when = now + delay_usec;
        if (p->timer) {
                uint64_t cur = 0;
                int enabled = SD_EVENT_OFF;
                (void) sd_event_source_get_enabled(p->timer, &enabled);
                (void) sd_event_source_get_time(p->timer, &cur);
                if (enabled != SD_EVENT_OFF && cur <= when)
                        return;
                (void) sd_event_source_set_time(p->timer, when);
                (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
        }
}

static void flush(ApiPods *p);

static void status_done(ApiClient *c, const ApiResponse *r, void *userdata) {
        ApiPod *a = userdata;
        ApiPods *p = a->owner;
        a->req = NULL;
        uint64_t now = 0;
        (void) sd_event_now(p->m->event, CLOCK_MONOTONIC, &now);
        if (r->error < 0) {
                p->failures++;
                if (r->error == -ENOENT || r->status == 404 || r->status == 409 || r->status == 422) {
                        /* The pod is gone from the API, or it is another pod now (uid precondition): stop writing;
                         * the informer's DELETED event removes the worker. */
                        log_info("Pod %s/%s: status not written: %s", a->ns, a->name, r->message);
                        json_decref(a->last_status);
                        a->last_status = NULL;
                        a->dirty = false;
                        if (a->gone) {
                                api_pod_free(p, a);
                                return;
                        }
                } else {
                        a->retry_usec = a->retry_usec ? MIN(a->retry_usec * 2, STATUS_RETRY_MAX_USEC) : USEC_PER_SEC;
                        a->not_before_usec = now + a->retry_usec;
                        a->dirty = true;
                        json_decref(a->last_status);
                        a->last_status = NULL; /* unknown what the server has: send the whole status again */
                        log_warning("Pod %s/%s: writing the status failed (%s), retrying in %llu ms", a->ns, a->name,
                                    r->message, (unsigned long long) (a->retry_usec / USEC_PER_MSEC));
                }
        } else
                a->retry_usec = 0;
        if (a->final_deleted && r->error >= 0) {
                api_pod_free(p, a);
                return;
        }
        schedule(p, a->not_before_usec > now ? a->not_before_usec - now : 0);
}

static int send_status(ApiPods *p, ApiPod *a, PodWorker *w, const char *uid) {
        _cleanup_json_ json_t *st = pod_worker_status_json(w);
        if (!st)
                return -ENOMEM;
        if (a->last_status && json_equal(a->last_status, st) && streq_ptr(a->status_uid, uid))
                return 0;
        if (free_and_strdup(&a->status_uid, uid) < 0)
                return -ENOMEM;
        _cleanup_json_ json_t *body = json_pack("{s:{s:s}, s:O}", "metadata", "uid", uid, "status", st);
        _cleanup_free_ char *path = NULL, *ns = NULL, *name = NULL;
        if (!body || api_escape(a->ns, &ns) < 0 || api_escape(a->name, &name) < 0 ||
            asprintf(&path, "/api/v1/namespaces/%s/pods/%s/status", ns, name) < 0)
                return -ENOMEM;
        int r = api_client_patch(p->api, path, API_PATCH_STRATEGIC, body, status_done, a, &a->req);
        if (r < 0)
                return r;
        json_decref(a->last_status);
        a->last_status = json_incref(st);
        p->patches++;
        return 1;
}

static int send_delete(ApiPods *p, ApiPod *a) {
        _cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:i, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                                "gracePeriodSeconds", 0, "preconditions", "uid", a->uid);
        _cleanup_free_ char *path = NULL, *ns = NULL, *name = NULL;
        if (!body || api_escape(a->ns, &ns) < 0 || api_escape(a->name, &name) < 0 ||
            asprintf(&path, "/api/v1/namespaces/%s/pods/%s", ns, name) < 0)
                return -ENOMEM;
        int r = api_client_delete(p->api, path, body, status_done, a, &a->req);
        if (r >= 0) {
                a->final_deleted = true;
                p->deletes++;
        }
        return r;
}

/* ---- mirror pods ---- */

static void mirror_done(ApiClient *c, const ApiResponse *r, void *userdata) {
        ApiPods *p = userdata;
        p->mirror_req = NULL;
        if (r->error < 0 && r->error != -EEXIST && r->error != -ENOENT && r->error != -ESTALE) {
                p->failures++;
                log_warning("Mirror pod: %s", r->message);
                schedule(p, USEC_PER_SEC);
                return;
        }
        json_t *md = json_object_get(r->body, "metadata");
        const char *kind = json_string_value(json_object_get(r->body, "kind"));
        if (r->error >= 0 && streq_ptr(kind, "Pod") && !json_object_get(md, "deletionTimestamp")) {
                /* Created: known at once, without waiting for the watch to show it. */
                const char *ns = json_string_value(json_object_get(md, "namespace"));
                const char *name = json_string_value(json_object_get(md, "name"));
                const char *uid = json_string_value(json_object_get(md, "uid"));
                const char *hash = json_string_value(
                        json_object_get(json_object_get(md, "annotations"), POD_ANNOTATION_CONFIG_MIRROR));
                if (ns && name && uid && hash)
                        (void) mirror_set(p, ns, name, uid, hash, false);
                for (ApiPod *a = p->pods; a; a = a->next)
                        if (a->is_static && streq_ptr(a->ns, ns) && streq_ptr(a->name, name))
                                a->dirty = true;
        }
        schedule(p, 0);
}

static int mirror_delete(ApiPods *p, MirrorPod *mp) {
        _cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:i, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                                                "gracePeriodSeconds", 0, "preconditions", "uid", mp->uid);
        _cleanup_free_ char *path = NULL, *ns = NULL, *name = NULL;
        if (!body || api_escape(mp->ns, &ns) < 0 || api_escape(mp->name, &name) < 0 ||
            asprintf(&path, "/api/v1/namespaces/%s/pods/%s", ns, name) < 0)
                return -ENOMEM;
        log_info("Deleting mirror pod %s/%s (uid %s)", mp->ns, mp->name, mp->uid);
        int r = api_client_delete(p->api, path, body, mirror_done, p, &p->mirror_req);
        if (r >= 0) {
                mp->delete_sent = true;
                p->mirror_deletes++;
        }
        return r;
}

/* The mirror pod object of a static pod. */
static json_t *mirror_object(ApiPods *p, const Pod *pod, const char *node_uid) {
        _cleanup_json_ json_t *o = json_deep_copy(pod->object);
        if (!o || !json_is_object(json_object_get(o, "metadata")))
                return NULL;
        json_t *md = json_object_get(o, "metadata");
        static const char *const drop[] = {
                "uid",        "resourceVersion", "creationTimestamp", "selfLink",
                "generation", "managedFields",   "deletionTimestamp", "deletionGracePeriodSeconds"};
        for (size_t i = 0; i < ELEMENTSOF(drop); i++)
                (void) json_object_del(md, drop[i]);
        (void) json_object_del(o, "status");
        json_t *ann = json_object_get(md, "annotations");
        if (!json_is_object(ann)) {
                ann = json_object();
                if (!ann || json_object_set_new(md, "annotations", ann) < 0)
                        return NULL;
        }
        if (json_object_set_new(ann, POD_ANNOTATION_CONFIG_MIRROR, json_string(pod_config_hash(pod))) < 0)
                return NULL;
        if (node_uid) {
                json_t *refs = json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "v1", "kind", "Node", "name",
                                         p->m->node_name, "uid", node_uid, "controller", true);
                if (!refs || json_object_set_new(md, "ownerReferences", refs) < 0)
                        return NULL;
        }
        json_t *spec = json_object_get(o, "spec");
        if (!json_is_object(spec) || json_object_set_new(spec, "nodeName", json_string(p->m->node_name)) < 0)
                return NULL;
        (void) json_object_set_new(o, "apiVersion", json_string("v1"));
        (void) json_object_set_new(o, "kind", json_string("Pod"));
        return TAKE_PTR(o);
}

static int mirror_create(ApiPods *p, const Pod *pod, const char *node_uid) {
        _cleanup_json_ json_t *body = mirror_object(p, pod, node_uid);
        _cleanup_free_ char *path = NULL, *ns = NULL;
        if (!body || api_escape(pod->namespace_, &ns) < 0 || asprintf(&path, "/api/v1/namespaces/%s/pods", ns) < 0)
                return -ENOMEM;
        log_info("Creating mirror pod %s/%s", pod->namespace_, pod->name);
        int r = api_client_create(p->api, path, body, mirror_done, p, &p->mirror_req);
        if (r >= 0)
                p->mirror_creates++;
        return r;
}

/* The static pod of that name; while an edited manifest replaces its pod, the new one (not stopping) wins. */
static PodWorker *static_worker(ApiPods *p, const char *ns, const char *name) {
        PodWorker *found = NULL;
        for (PodWorker *w = p->m->workers; w; w = w->next)
                if (streq_ptr(w->pod->source, "file") && streq(w->pod->namespace_, ns) && streq(w->pod->name, name) &&
                    pod_config_hash(w->pod) && (!found || w->state < W_STOPPING))
                        found = w;
        return found;
}

/* One step towards "every static pod has exactly its mirror pod": at most one request in flight. */
static void mirrors_sync(ApiPods *p) {
        if (p->mirror_req)
                return;
        /* Mirror pods that must go: replaced, deleted by someone, or without a static pod (once sources synced). */
        for (MirrorPod *mp = p->mirrors; mp; mp = mp->next) {
                if (mp->delete_sent)
                        continue;
                PodWorker *w = static_worker(p, mp->ns, mp->name);
                bool stale = w ? (mp->deleting || !streq_ptr(mp->hash, pod_config_hash(w->pod)) || w->pod->deleting)
                               : p->m->source_synced;
                if (stale) {
                        if (mirror_delete(p, mp) < 0)
                                schedule(p, USEC_PER_SEC);
                        return;
                }
        }
        /* Static pods without a mirror pod. The Node must exist first (the owner reference names its uid). */
        const char *node_uid = NULL;
        if (p->m->node) {
                node_uid = node_controller_node_uid(p->m->node);
                if (!node_uid)
                        return; /* node_registered() schedules us again */
        }
        for (PodWorker *w = p->m->workers; w; w = w->next) {
                if (!streq_ptr(w->pod->source, "file") || !pod_config_hash(w->pod) || w->pod->deleting ||
                    w->state >= W_STOPPING)
                        continue;
                if (mirror_find(p, w->pod->namespace_, w->pod->name))
                        continue;
                if (mirror_create(p, w->pod, node_uid) < 0)
                        schedule(p, USEC_PER_SEC);
                return;
        }
}

static void flush(ApiPods *p) {
        uint64_t now = 0, next = UINT64_MAX;
        mirrors_sync(p);
        (void) sd_event_now(p->m->event, CLOCK_MONOTONIC, &now);
        for (ApiPod *a = p->pods, *n; a; a = n) {
                n = a->next;
                if (a->req)
                        continue;
                if (a->not_before_usec > now) {
                        next = MIN(next, a->not_before_usec);
                        continue;
                }
                PodWorker *w = manager_find_worker(p->m, a->uid);
                if (a->is_static) {
                        if (!w && a->gone) {
                                api_pod_free(p, a); /* its mirror pod is deleted by mirrors_sync() */
                                continue;
                        }
                        MirrorPod *mp = mirror_find(p, a->ns, a->name);
                        if (w && a->dirty && mp && !mp->deleting && streq_ptr(mp->hash, pod_config_hash(w->pod))) {
                                a->dirty = false;
                                if (send_status(p, a, w, mp->uid) < 0)
                                        a->dirty = true;
                        }
                        continue;
                }
                if (w && a->dirty) {
                        a->dirty = false;
                        if (send_status(p, a, w, a->uid) < 0)
                                a->dirty = true;
                        continue;
                }
                if (!w && a->gone && a->deleting && !a->final_deleted) {
                        /* Stopped and torn down: the kubelet deletes the pod object now (grace 0, uid precondition). */
                        (void) send_delete(p, a);
                        continue;
                }
                if (!w && a->gone && !a->deleting)
                        api_pod_free(p, a);
        }
        if (next != UINT64_MAX)
                schedule(p, next - now);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        flush(userdata);
        return 0;
}

void api_pods_status_changed(ApiPods *p, PodWorker *w) {
        if (!p)
                return;
        bool is_static = streq_ptr(w->pod->source, "file");
        if (!is_static && !streq_ptr(w->pod->source, "api"))
                return;
        if (is_static && !pod_config_hash(w->pod))
                return;
        ApiPod *a = api_pod_get(p, w->pod->uid, w->pod->namespace_, w->pod->name);
        if (!a)
                return;
        a->is_static = is_static;
        a->dirty = true;
        schedule(p, STATUS_COALESCE_USEC);
}

void api_pods_node_registered(ApiPods *p) {
        if (p)
                schedule(p, 0);
}

void api_pods_sources_synced(ApiPods *p) {
        if (p)
                schedule(p, 0);
}

void api_pods_worker_gone(ApiPods *p, const char *uid) {
        if (p)
                schedule(p, 0); /* a static pod's mirror pod may have to go */
        ApiPod *a = p ? api_pod_find(p, uid) : NULL;
        if (!a)
                return;
        a->gone = true;
        schedule(p, 0);
}

/* ---- the source ---- */

static bool pod_terminal(const json_t *obj) {
        const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
        return phase && (streq(phase, "Succeeded") || streq(phase, "Failed"));
}

static void on_event(Informer *inf, InformerEventType type, json_t *obj, void *userdata) {
        ApiPods *p = userdata;
        json_t *md = json_object_get(obj, "metadata");
        const char *uid = json_string_value(json_object_get(md, "uid"));
        const char *ns = json_string_value(json_object_get(md, "namespace"));
        const char *name = json_string_value(json_object_get(md, "name"));
        if (!uid || !ns || !name)
                return;
        const char *mirror_hash =
                json_string_value(json_object_get(json_object_get(md, "annotations"), POD_ANNOTATION_CONFIG_MIRROR));
        if (mirror_hash) {
                /* A mirror pod: the API's copy of a static pod, never run. */
                MirrorPod *mp = mirror_find(p, ns, name);
                if (type == INFORMER_DELETED) {
                        if (mp && streq_ptr(mp->uid, uid))
                                mirror_remove(p, mp);
                } else
                        (void) mirror_set(p, ns, name, uid, mirror_hash,
                                          json_object_get(md, "deletionTimestamp") != NULL);
                for (ApiPod *a = p->pods; a; a = a->next)
                        if (a->is_static && streq(a->ns, ns) && streq(a->name, name))
                                a->dirty = true;
                schedule(p, 0);
                return;
        }
        PodWorker *w = manager_find_worker(p->m, uid);
        if (type == INFORMER_DELETED) {
                if (w) {
                        log_info("Pod %s/%s deleted from the API", ns, name);
                        manager_pod_remove(p->m, uid);
                }
                ApiPod *a = api_pod_find(p, uid);
                if (a) {
                        a->deleting = false; /* nothing left to delete */
                        if (!w && !a->req)
                                api_pod_free(p, a);
                }
                return;
        }
        bool deleting = json_object_get(md, "deletionTimestamp") != NULL;
        if (!w) {
                if (deleting || pod_terminal(obj))
                        return; /* not ours to start: already finishing in the API */
                char origin[600];
                snprintf(origin, sizeof(origin), "API pod %s/%s", ns, name);
                manager_pod_add(p->m, obj, "api", origin);
                w = manager_find_worker(p->m, uid);
                if (w)
                        api_pods_status_changed(p, w);
                return;
        }
        if (deleting) {
                ApiPod *a = api_pod_get(p, uid, ns, name);
                if (a && !a->deleting) {
                        a->deleting = true;
                        json_t *g = json_object_get(md, "deletionGracePeriodSeconds");
                        if (json_is_integer(g))
                                w->pod->deletion_grace_period_seconds = json_integer_value(g);
                        w->pod->deleting = true;
                        log_info("Pod %s/%s: deletion requested (grace %llds)", ns, name,
                                 (long long) w->pod->deletion_grace_period_seconds);
                        pod_worker_request_removal(w);
                }
        }
}

static void on_synced(Informer *inf, void *userdata) {
        ApiPods *p = userdata;
        manager_source_synced(p->m, "api");
}

static void on_error(Informer *inf, int r, const char *message, void *userdata) {
        log_warning("Pods from the API server: %s", message);
}

int api_pods_new(Manager *m, ApiClient *api, ApiPods **ret) {
        _cleanup_(api_pods_freep) ApiPods *p = calloc(1, sizeof(ApiPods));
        RET_NULL_ENOMEM(p);
        p->m = m;
        p->api = api;
        /* 1 ms accuracy: with sd-event's default (250 ms) the 10 ms status coalescing would delay a status by up
         * to a quarter second whenever nothing else wakes the loop (API pod start p99 265 ms → see BENCHMARKS). */
        int r = sd_event_add_time(m->event, &p->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_timer, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
        _cleanup_free_ char *sel = NULL;
        if (asprintf(&sel, "spec.nodeName=%s", m->node_name) < 0)
                return -ENOMEM;
        InformerOptions o = {.path = "/api/v1/pods", .field_selector = sel};
        static const InformerCallbacks cb = {.event = on_event, .synced = on_synced, .error = on_error};
        r = informer_new(api, &o, &cb, p, &p->informer);
        if (r < 0)
                return r;
        r = informer_start(p->informer);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

ApiPods *api_pods_free(ApiPods *p) {
        if (!p)
                return NULL;
        p->informer = informer_free(p->informer);
        while (p->pods)
                api_pod_free(p, p->pods);
        if (p->mirror_req)
                api_request_cancel(p->mirror_req);
        while (p->mirrors)
                mirror_remove(p, p->mirrors);
        p->timer = sd_event_source_disable_unref(p->timer);
        free(p);
        return NULL;
}
