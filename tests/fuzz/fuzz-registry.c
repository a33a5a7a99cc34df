/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what a registry (or whoever answers in its place) and a pull secret hand to a pull: the
 * WWW-Authenticate challenge, the manifest or image index (each descriptor of an index, as the platform selection
 * reads it), the platform string, and docker config.json / .dockercfg credentials looked up for a host and path.
 * Input: the first line is the challenge, the platform and the "host/path" looked up; the rest is the JSON
 * document (manifest, index or credentials file). */

#include <stdint.h>
#include <stdio.h>

#include "common/json-util.h"
#include "runtime/image-internal.h"
#include "runtime/registry-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_challenge(const char *line) {
        AuthChallenge c = {};
        if (auth_challenge_parse(line, &c) < 0)
                return;
        /* a parsed challenge always has a scheme without spaces */
        if (isempty(c.scheme) || strchr(c.scheme, ' '))
                abort();
        auth_challenge_done(&c);
}

static void fuzz_platform(const char *line) {
        char *os = NULL, *arch = NULL, *variant = NULL;
        ErrorBuf e = {};
        if (pull_platform_parse(line, &os, &arch, &variant, &e) < 0) {
                if (!e.msg[0])
                        abort(); /* refusals say why */
                return;
        }
        free(os);
        free(arch);
        free(variant);
}

static void fuzz_credentials(const char *line, const char *json) {
        char host[256] = {}, *user = NULL, *pass = NULL;
        const char *path = "";
        ErrorBuf e = {};

        (void) snprintf(host, sizeof host, "%s", line);
        char *slash = strchr(host, '/');
        if (slash) {
                *slash = 0;
                path = slash + 1;
        }
        if (pull_auth_lookup(json, host, path, &user, &pass, &e) >= 0) {
                free(user);
                free(pass);
        }
        char *b = NULL;
        if (pull_base64_encode(line, &b) >= 0)
                free(b);
}

/* The manifest or index as manifest_handle() and index_select() in runtime/registry.c read it. */
static void fuzz_manifest(const char *text, size_t size) {
        json_t *j = NULL, *manifests, *d;
        size_t i;

        if (jx_parse(text, size, "manifest", &j, NULL) < 0)
                return;
        manifests = json_object_get(j, "manifests");
        if (json_is_array(manifests))
                json_array_foreach (manifests, i, d) {
                        Descriptor desc = {};
                        char path[64];
                        (void) snprintf(path, sizeof path, "manifest: manifests[%zu]", i);
                        if (descriptor_parse(d, path, &desc, NULL) >= 0) {
                                if (!sha256_hex_valid(desc.hex))
                                        abort();
                                free(desc.media_type);
                        }
                }
        Manifest m = {};
        if (manifest_parse(j, "manifest", &m, NULL) >= 0)
                manifest_done(&m);
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data, *nl = memchr(data, '\n', size);
        size_t line_size = nl ? (size_t) (nl - text) : size;
        char *line = strndup(text, line_size), *rest = NULL;

        if (!line)
                return 0;
        fuzz_challenge(line);
        fuzz_platform(line);
        if (nl) {
                rest = strndup(nl + 1, size - line_size - 1);
                if (rest)
                        fuzz_credentials(line, rest);
                fuzz_manifest(nl + 1, size - line_size - 1);
        } else
                fuzz_manifest(text, size);
        free(rest);
        free(line);
        return 0;
}
