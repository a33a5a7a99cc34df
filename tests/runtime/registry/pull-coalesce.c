/* SPDX-License-Identifier: Apache-2.0 */
/* Helper of test-registry.py: three callers ask one ImagePuller for the same image on one loop; the second cancels
 * before anything arrives. The script checks on its proxy that the registry saw one pull, and here that the two
 * remaining callers got the same image and the cancelled one nothing.
 *
 *     pull-coalesce ROOT-DIR REF      prints "<id> <id>" and exits 0 */

#include <stdio.h>

#include "common/event-util.h"
#include "runtime/registry.h"

typedef struct Caller {
        sd_event *event;
        unsigned *left;
        int r;
        char *id;
        bool called;
} Caller;

static void on_done(int r, const ImageInfo *info, const char *message, void *userdata) {
        Caller *c = userdata;
        c->called = true;
        c->r = r;
        if (r >= 0)
                c->id = strdup(info->id);
        else
                fprintf(stderr, "pull failed: %s\n", message);
        if (--*c->left == 0)
                (void) sd_event_exit(c->event, 0);
}

int main(int argc, char *argv[]) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *g = NULL;
        _cleanup_(image_store_freep) ImageStore *s = NULL;
        _cleanup_(image_puller_freep) ImagePuller *pl = NULL;
        _cleanup_free_ char *dir = NULL;
        unsigned left = 2;
        Caller c[3] = {};
        ImagePull *h[3] = {};
        if (argc != 3 || asprintf(&dir, "%s/images", argv[1]) < 0)
                return 2;
        if (sd_event_new(&e) < 0 || curl_glue_new(e, &g) < 0 || image_store_open(dir, &s) < 0 ||
            image_puller_new(s, g, e, &pl) < 0)
                return 1;
        PullOptions o = {.ref = argv[2]};
        for (size_t i = 0; i < 3; i++) {
                c[i] = (Caller){.event = e, .left = &left};
                ErrorBuf err = {};
                if (image_pull_async(pl, &o, on_done, &c[i], &h[i], &err) < 0) {
                        fprintf(stderr, "%s\n", err.msg);
                        return 1;
                }
        }
        image_pull_cancel(h[1]);
        if (sd_event_loop(e) < 0)
                return 1;
        if (c[1].called || c[0].r < 0 || c[2].r < 0 || !streq_ptr(c[0].id, c[2].id)) {
                fprintf(stderr, "cancelled caller called: %d; results %d %d; ids %s %s\n", c[1].called, c[0].r, c[2].r,
                        strna(c[0].id), strna(c[2].id));
                return 1;
        }
        printf("%s %s\n", c[0].id, c[2].id);
        free(c[0].id);
        free(c[2].id);
        return 0;
}
