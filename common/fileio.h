/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* File helpers used by every module: whole-file reads, atomic writes, directory trees. All return negative errno. */

#include <stdio.h>
#include <sys/types.h>

#include "common/macro.h"

/* Reads the whole file (at most max_size bytes, 0 = 64 MiB) and NUL-terminates it. */
int read_full_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size);
int read_full_fd(int fd, size_t max_size, char **ret_data, size_t *ret_size);
/* Like read_full_file() for inputs read from a directory of them (manifests, CNI configs, Service files): anything
 * that is not a regular file after following symlinks (a FIFO would block the reader forever, a device could have
 * side effects) is refused with -EBADFD without being opened, or after a non-blocking open when it was replaced in
 * between. */
int read_regular_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size);
/* Writes via a temporary file in the same directory, fsync optional, then rename(): readers see old or new. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode, bool sync);
/* write() until all n bytes are written, retrying on EINTR and short writes (pipes, sockets). */
int write_all(int fd, const void *p, size_t n);
int write_string_file(const char *path, const char *s); /* plain open(O_WRONLY|O_TRUNC) write, for sysfs/cgroupfs */
int read_one_line_file(const char *path, char **ret);
int mkdir_p(const char *path, mode_t mode);
/* Removes a tree without following symlinks or crossing into other file systems (mounts are refused with -EBUSY). */
int rm_rf(const char *path);
int path_join(char **ret, const char *a, const char *b);

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)
