/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the container engine's parsers of untrusted input — seccomp profiles in the OCI/Docker JSON format
 * (Localhost profiles come from users), CRI log lines and whole log files as `logs` reads them (log files are
 * written by containers) and config.json. */

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

#include "common/json-util.h"
#include "runtime/caps.h"
#include "runtime/container-config.h"
#include "runtime/logs.h"
#include "runtime/seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a container's log file, printed in full and its last lines (the reader joins partial records). */
static void fuzz_log_file(const uint8_t *data, size_t size) {
        char path[64];
        int fd = memfd_create("log", MFD_CLOEXEC);
        FILE *null = fopen("/dev/null", "we");

        if (fd < 0 || !null || (size > 0 && write(fd, data, size) != (ssize_t) size))
                abort();
        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        (void) cri_log_print(path, null, null, 0);
        (void) cri_log_print(path, null, NULL, size > 0 ? 1 + data[0] % 8 : 1);
        fclose(null);
        safe_close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;

        CriLogLine l;
        (void) cri_log_parse_line(text, size, &l);
        fuzz_log_file(data, size);

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
