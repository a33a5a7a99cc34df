/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a NodeController (agent/node.h) on a loop for tests/agent/test-node.py: the arguments are kubelet flags
 * (--kubeconfig, --config, --node-labels, ...), NODE_DRIVER_HOST_ROOT names the host file tree, NODE_DRIVER_IMAGE_TAR
 * an image imported into an image store below --root-dir for status.images. Commands on stdin,
 * one per line: "ready", "notready <message>", "stats", "quit". Events on stdout, one JSON object per line:
 * {"event": "registered", "uid"}, {"event": "pod_cidrs", "cidrs"}, {"event": "error", "errno", "message"},
 * {"event": "stats", ...NodeControllerStats}. */

#include <stdio.h>

#include "agent/apiclient.h"
#include "agent/config.h"
#include "agent/kubeconfig.h"
#include "agent/node.h"
#include "common/event-util.h"
#include "common/json-util.h"

static void emit(json_t *o) {
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) {
                printf("%s\n", s);
                (void) fflush(stdout);
        }
        free(s);
        json_decref(o);
}

static void on_registered(NodeController *c, const char *uid, void *userdata) {
        emit(json_pack("{s:s,s:s}", "event", "registered", "uid", uid));
}

static void on_pod_cidrs(NodeController *c, char **cidrs, void *userdata) {
        json_t *a = json_array();
        for (char **i = cidrs; a && *i; i++)
                (void) json_array_append_new(a, json_string(*i));
        emit(json_pack("{s:s,s:o}", "event", "pod_cidrs", "cidrs", a));
}

static void on_error(NodeController *c, int r, const char *message, void *userdata) {
        emit(json_pack("{s:s,s:i,s:s}", "event", "error", "errno", -r, "message", message));
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NodeController *c = userdata;
        static char buf[4096];
        static size_t have;
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);

        if (n <= 0)
                return sd_event_exit(sd_event_source_get_event(s), 0);
        have += (size_t) n;
        buf[have] = 0;
        for (char *nl; (nl = strchr(buf, '\n'));) {
                *nl = 0;
                if (streq(buf, "ready"))
                        node_controller_set_ready(c, true, NULL);
                else if (startswith(buf, "notready"))
                        node_controller_set_ready(c, false, buf[8] ? buf + 9 : NULL);
                else if (streq(buf, "quit"))
                        (void) sd_event_exit(sd_event_source_get_event(s), 0);
                else if (streq(buf, "stats")) {
                        const NodeControllerStats *st = node_controller_stats(c);
                        emit(json_pack(
                                "{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:b}", "event", "stats", "registrations",
                                st->registrations, "reconciles", st->reconciles, "status_builds", st->status_builds,
                                "status_patches", st->status_patches, "lease_creates", st->lease_creates, "lease_gets",
                                st->lease_gets, "lease_renewals", st->lease_renewals, "failures", st->failures,
                                "reregistrations", st->reregistrations, "registered", node_controller_registered(c)));
                }
                size_t used = (size_t) (nl + 1 - buf);
                memmove(buf, nl + 1, have - used + 1);
                have -= used;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(nodelet_config_freep) NodeletConfig *cfg = NULL;
        _cleanup_(kubeconfig_freep) Kubeconfig *kc = NULL;
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *glue = NULL;
        _cleanup_(api_client_freep) ApiClient *api = NULL;
        _cleanup_(node_controller_freep) NodeController *c = NULL;
        _cleanup_event_source_ sd_event_source *in = NULL;
        _cleanup_(image_store_freep) ImageStore *images = NULL;
        _cleanup_free_ char *images_dir = NULL;
        const char *tar = getenv("NODE_DRIVER_IMAGE_TAR");
        char *loopback[] = {(char *) "127.0.0.1", NULL};
        NodeInfoSource src = {};
        ErrorBuf err = {};
        int r;

        r = nodelet_config_load(argc, argv, &cfg, &err);
        if (r != 0) {
                fprintf(stderr, "config: %s\n", error_message(&err, r));
                return 2;
        }
        r = kubeconfig_load(cfg->kubeconfig, NULL, &kc, &err);
        if (r < 0) {
                fprintf(stderr, "kubeconfig: %s\n", error_message(&err, r));
                return 2;
        }
        if (sd_event_new(&e) < 0 || curl_glue_new(e, &glue) < 0)
                return 1;
        /* quick retries: the test takes the server away for seconds, not minutes */
        r = api_client_new(e, glue, kc,
                           &(ApiClientOptions){.qps = -1,
                                               .max_retries = 2,
                                               .retry_initial_usec = 200 * USEC_PER_MSEC,
                                               .retry_max_usec = USEC_PER_SEC,
                                               .timeout_usec = 5 * USEC_PER_SEC},
                           &api);
        if (r < 0)
                return 1;
        TAKE_PTR(kc);

        src.node_name = cfg->hostname;
        src.node_ips = cfg->node_ips[0] ? cfg->node_ips : loopback;
        src.host_root = getenv("NODE_DRIVER_HOST_ROOT");
        if (tar) {
                if (asprintf(&images_dir, "%s/images", cfg->root_dir) < 0 ||
                    image_store_open(images_dir, &images) < 0 ||
                    image_store_import(images, tar, NULL, NULL, &err) < 0) {
                        fprintf(stderr, "images: %s\n", err.msg);
                        return 2;
                }
                src.images = images;
        }
        r = node_controller_new(
                e, api, cfg, &src,
                &(NodeControllerCallbacks){.pod_cidrs = on_pod_cidrs, .registered = on_registered, .error = on_error},
                NULL, &c);
        if (r < 0)
                return 1;
        if (getenv("NODE_DRIVER_READY"))
                node_controller_set_ready(c, true, NULL);
        if (sd_event_add_io(e, &in, STDIN_FILENO, EPOLLIN, on_stdin, c) < 0)
                return 1;
        if (node_controller_start(c) < 0)
                return 1;
        r = sd_event_loop(e);
        /* the controller goes before the client it borrows */
        c = node_controller_free(c);
        api = api_client_free(api);
        return r < 0 ? 1 : 0;
}
