/* SPDX-License-Identifier: Apache-2.0 */
/* Replays a fuzz corpus through a fuzz target without libFuzzer, so that every build (gcc with ASan+UBSan too)
 * runs the targets over their seeds and past crashers as a regular test. With clang and -DNODELET_FUZZ=ON the same
 * targets link against libFuzzer instead, for real fuzzing. */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

#include "common/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r = read_full_file(path, 0, &data, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) data, size);
        return 0;
}

int main(int argc, char *argv[]) {
        size_t n = 0;
        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                if (!d) {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        n++;
                        continue;
                }
                for (struct dirent *de; (de = readdir(d));) {
                        _cleanup_free_ char *p = NULL;
                        if (de->d_name[0] == '.')
                                continue;
                        if (path_join(&p, argv[i], de->d_name) < 0 || run_file(p) < 0) {
                                closedir(d);
                                return 1;
                        }
                        n++;
                }
                closedir(d);
        }
        printf("replayed %zu inputs\n", n);
        return n > 0 ? 0 : 1;
}
