/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a YAML/JSON manifest → pod_parse() → the container environments and downward API values; the raw
 * input also goes through the quantity parser and $(VAR) expansion. */

#include <stdint.h>

#include "agent/pod.h"
#include "common/json-util.h"
#include "common/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise_pod(const Pod *p) {
        static char *const ips[] = {(char *) "10.0.0.5", (char *) "fd00::5", NULL};
        static const PodRuntimeInfo info = {
                .pod_ips = ips,
                .host_ip = "192.168.1.2",
                .node_name = "node",
                .node_allocatable_cpu_milli = 2000,
                .node_allocatable_memory = 1LL << 30,
                .node_allocatable_ephemeral_storage = 10LL << 30,
        };
        static const char *const fields[] = {"metadata.labels", "metadata.annotations", "status.podIPs"};

        for (size_t i = 0; i < p->n_init_containers + p->n_containers; i++) {
                const PodContainer *c =
                        i < p->n_init_containers ? p->init_containers + i : p->containers + (i - p->n_init_containers);
                char **env = NULL;
                ErrorBuf e = {};
                if (pod_container_env(p, c, &info, &env, &e) >= 0) {
                        for (size_t k = 0; k < c->n_volume_mounts; k++)
                                if (c->volume_mounts[k].sub_path_expr)
                                        free(pod_expand_vars(c->volume_mounts[k].sub_path_expr, env));
                        strv_free(env);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                char *v = NULL;
                if (pod_field_ref_value(p, fields[i], &info, &v, NULL) >= 0)
                        free(v);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *j = NULL;
        Pod *p = NULL;
        ErrorBuf e = {};
        int64_t v;

        if (yaml_parse((const char *) data, size, "fuzz", &j, &e) >= 0) {
                /* Sources set the uid; give the fuzzer's pods one so that they get past metadata. */
                if (json_is_object(json_object_get(j, "metadata")) &&
                    !json_object_get(json_object_get(j, "metadata"), "uid"))
                        (void) json_object_set_new(json_object_get(j, "metadata"), "uid", json_string("fuzz-uid"));
                if (pod_parse(j, "file", &p, &e) >= 0) {
                        exercise_pod(p);
                        p = pod_free(p);
                }
                json_decref(j);
        }

        char *s = strndup((const char *) data, size);
        if (s) {
                (void) quantity_parse_milli(s, &v);
                (void) quantity_parse_bytes(s, &v);
                char *x = pod_expand_vars(s, NULL);
                free(x);
                free(s);
        }
        return 0;
}
