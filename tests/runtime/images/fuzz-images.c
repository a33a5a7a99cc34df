/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the image store's parsers of untrusted input — manifests, image indexes (each entry of
 * "manifests" as a descriptor, as the oci-layout import walks it), image configs, descriptors, image references —
 * and the $(VAR) expansion of command/args. */

#include <stdint.h>

#include "common/json-util.h"
#include "runtime/image-internal.h"
#include "runtime/image-store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json(const char *text, size_t size) {
        json_t *j = NULL;
        if (jx_parse(text, size, "fuzz", &j, NULL) < 0)
                return;
        Manifest m = {};
        ImageConfig c = {};
        Descriptor d = {};
        ErrorBuf e = {};
        if (manifest_parse(j, "manifest", &m, &e) >= 0)
                manifest_done(&m);
        if (image_config_parse(j, "config", &c, &e) >= 0)
                image_config_done(&c);
        if (descriptor_parse(j, "descriptor", &d, &e) >= 0)
                free(d.media_type);
        json_t *manifests = json_object_get(j, "manifests"), *entry;
        size_t i;
        json_array_foreach (manifests, i, entry) {
                d = (Descriptor){};
                if (descriptor_parse(entry, "manifests[]", &d, NULL) >= 0)
                        free(d.media_type);
        }
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = strndup((const char *) data, size);
        if (!s)
                return 0;
        fuzz_json((const char *) data, size);
        char *norm = NULL;
        if (reference_normalize(s, &norm, NULL) >= 0) {
                /* normalization is idempotent */
                char *again = NULL;
                if (reference_normalize(norm, &again, NULL) < 0 || strcmp(again, norm) != 0)
                        abort();
                free(again);
                free(norm);
        }
        char *cmd[] = {s, NULL}, *env[] = {(char *) "A=1", (char *) "B=$(A)", NULL}, *empty[] = {NULL};
        ImageInfo img = {.entrypoint = empty, .cmd = empty, .env = empty};
        char **argv = NULL, **envv = NULL;
        if (image_resolve_process(&img, cmd, cmd, env, IMAGE_RESOLVE_EXPAND_VARS, &argv, &envv, NULL) >= 0) {
                strv_free(argv);
                strv_free(envv);
        }
        free(s);
        return 0;
}
