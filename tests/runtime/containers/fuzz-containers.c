/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the container engine's parsers of untrusted input — seccomp profiles in the OCI/Docker JSON format
 * (Localhost profiles come from users), CRI log lines (log files are written by containers) and config.json. */

#include <fcntl.h>
#include <stdint.h>

#include "common/json-util.h"
#include "runtime/caps.h"
#include "runtime/container-config.h"
#include "runtime/logs.h"
#include "runtime/seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;

        CriLogLine l;
        (void) cri_log_parse_line(text, size, &l);

        ContainerConfig *c = NULL;
        if (container_config_parse(text, size, &c, NULL) >= 0)
                container_config_free(c);

        json_t *j = NULL;
        if (jx_parse(text, size, "fuzz", &j, NULL) >= 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        ErrorBuf e = {};
                        (void) seccomp_compile_json(j, caps_default(), fd, &e);
                        close(fd);
                }
                json_decref(j);
        }
        return 0;
}
