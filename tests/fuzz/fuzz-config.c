/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the daemon's KubeletConfiguration file (agent/config.h) through nodelet_config_load() as
 * `nodelet --config FILE` reads it (the input is the file, a memfd), then dumped back; the first line, a comment
 * ("#10m"), also goes through the duration and quantity parsers that flags and fields share. */

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

#include "agent/config.h"
#include "common/json-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load(const uint8_t *data, size_t size) {
        NodeletConfig *c = NULL;
        ErrorBuf e = {};
        char path[64];
        int fd, r;

        fd = memfd_create("config.yaml", MFD_CLOEXEC);
        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size))
                abort();
        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        char *argv[] = {(char *) "nodelet", (char *) "--config", path, NULL};
        r = nodelet_config_load(3, argv, &c, &e);
        safe_close(fd);
        if (r == -EINVAL && !e.msg[0])
                abort(); /* refusals say which field */
        if (r < 0)
                return;
        json_t *j = NULL;
        if (nodelet_config_dump(c, &j) >= 0)
                json_decref(j);
        nodelet_config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nl = memchr(data, '\n', size);
        char *line = strndup((const char *) data, nl ? (size_t) (nl - (const char *) data) : size);
        uint64_t usec;
        int64_t v;

        if (!line)
                return 0;
        const char *value = line[0] == '#' ? line + 1 : line;
        (void) config_parse_duration(value, &usec);
        (void) config_parse_quantity(value, false, &v);
        (void) config_parse_quantity(value, true, &v);
        free(line);
        load(data, size);
        return 0;
}
