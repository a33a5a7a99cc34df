/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/helper-path.h"

#include <limits.h>
#include <stdio.h>

#include "common/macro.h"

static int put(char *buf, size_t size, const char *a, const char *b) {
        int n = snprintf(buf, size, "%s%s%s", a, b ? "/" : "", strempty(b));
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

int runtime_find_helper(const char *env, const char *const *rel, size_t n_rel, const char *installed, char *buf,
                        size_t size) {
        const char *path = env ? getenv(env) : NULL;
        char exe[PATH_MAX];

        if (!isempty(path))
                return put(buf, size, path, NULL);
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                char *slash = strrchr(exe, '/');
                if (slash) {
                        *slash = 0;
                        for (size_t i = 0; i < n_rel; i++)
                                if (put(buf, size, exe, rel[i]) == 0 && access(buf, X_OK) == 0)
                                        return 0;
                }
        }
        return put(buf, size, installed, NULL);
}
