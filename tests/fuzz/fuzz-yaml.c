/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: YAML/JSON manifests → jansson, single and multi-document. */

#include <stdint.h>

#include "common/json-util.h"
#include "common/log.h"
#include "common/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *j = NULL;
        ErrorBuf e = {};

        if (yaml_parse_documents((const char *) data, size, "fuzz", &j, &e) >= 0) {
                char *s = jx_dump_compact(j);
                free(s);
                json_decref(j);
        }
        j = NULL;
        if (yaml_parse((const char *) data, size, "fuzz", &j, &e) >= 0)
                json_decref(j);
        return 0;
}
