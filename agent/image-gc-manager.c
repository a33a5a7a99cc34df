/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's side of image garbage collection (agent/image-gc.h): the policy from the configuration, which images
 * the pods use, and the node events. */
#include "agent/agent.h"
#include "agent/config.h"
#include "agent/image-gc.h"
#include "agent/pod-events.h"
#include "common/log.h"

typedef struct NameList {
        char **l;
        size_t n, allocated;
} NameList;

static int name_list_add(NameList *nl, const char *s) {
        if (!s)
                return 0;
        if (nl->n + 1 >= nl->allocated) {
                size_t a = MAX(nl->allocated * 2, (size_t) 16);
                char **l = realloc(nl->l, a * sizeof(char *));
                RET_NULL_ENOMEM(l);
                nl->l = l;
                nl->allocated = a;
        }
        nl->l[nl->n] = strdup(s);
        RET_NULL_ENOMEM(nl->l[nl->n]);
        nl->l[++nl->n] = NULL;
        return 0;
}

/* The image as a pod names it, normalized like the store's references ("busybox" → docker.io/library/busybox:latest).
 * A name that does not parse names no image. */
static int name_list_add_ref(NameList *nl, const char *ref) {
        _cleanup_free_ char *norm = NULL;
        if (isempty(ref) || reference_normalize(ref, &norm, NULL) < 0)
                return 0;
        return name_list_add(nl, norm);
}

/* Every container of every pod the daemon manages, whatever its state (created, running, exited, not created yet:
 * a pod waiting for its image's pull or its turn must find the image still there), and the containers re-adopted
 * after a restart that no pod took yet. */
static int manager_images_in_use(ImageGc *gc, char ***ret, void *userdata) {
        Manager *m = userdata;
        NameList nl = {};
        int r = 0;

        for (PodWorker *w = m->workers; w && r >= 0; w = w->next)
                for (size_t i = 0; i < w->n_init + w->n_app && r >= 0; i++) {
                        const CState *cs = i < w->n_init ? &w->init[i] : &w->app[i - w->n_init];
                        r = name_list_add(&nl, cs->image_id);
                        if (r >= 0)
                                r = name_list_add_ref(&nl, cs->spec->image);
                }
        for (AdoptedContainer *a = m->adopted; a && r >= 0; a = a->next) {
                r = name_list_add(&nl, container_annotation(a->c, POD_ANNOTATION_IMAGE_ID));
                if (r >= 0)
                        r = name_list_add_ref(&nl, container_annotation(a->c, POD_ANNOTATION_IMAGE));
        }
        if (r >= 0 && !nl.l)
                r = (nl.l = calloc(1, sizeof(char *))) ? 0 : -ENOMEM;
        if (r < 0) {
                strv_free(nl.l);
                return r;
        }
        *ret = nl.l;
        return 0;
}

static void manager_image_gc_event(ImageGc *gc, const char *reason, const char *message, void *userdata) {
        manager_node_event(userdata, EVENT_TYPE_WARNING, reason, "%s", message);
}

int manager_image_gc_new(Manager *m) {
        const NodeletConfig *c = m->cfg.nodelet_config;
        /* Without a configuration (tests that build a Manager of their own) nothing is collected. */
        ImageGcPolicy p = {
                .high_threshold_percent = c ? c->image_gc_high_threshold_percent : 100,
                .low_threshold_percent = c ? c->image_gc_low_threshold_percent : 80,
                .min_age_usec = c ? c->image_minimum_gc_age_usec : 2 * 60 * USEC_PER_SEC,
                .max_age_usec = c ? c->image_maximum_gc_age_usec : 0,
        };
        static const ImageGcCallbacks cb = {.in_use = manager_images_in_use, .event = manager_image_gc_event};
        int r = image_gc_new(m->event, m->pool, m->images, &p, 0, &cb, m, &m->image_gc);
        if (r < 0)
                return log_error_errno(r, "Failed to set up image garbage collection: %m");
        return 0;
}

void manager_image_gc_maybe_start(Manager *m) {
        if (m->preload_done && m->source_synced)
                image_gc_start(m->image_gc);
}
