/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: an image layer blob (gzip, zstd or plain tar) unpacked by layer_unpack() into a directory, as the
 * image store does for every layer it imports or pulls, and its media type sniffed as for docker-archive sources.
 *
 * The layers land in a directory of this process's TMPDIR that is removed after each input. Run as root (how the
 * store runs), the unpacking creates devices, sets owners and trusted.* xattrs: that directory is then a tmpfs
 * mounted nodev,nosuid,noexec in a private mount namespace of this process, so no device a layer creates can be
 * opened, nothing of it is visible outside, and its size caps what a decompression bomb can write. */

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "runtime/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[PATH_MAX];
static bool scratch_mounted;

static void scratch_remove(void) {
        if (scratch_mounted)
                (void) umount2(scratch, MNT_DETACH);
        (void) rm_rf(scratch);
}

/* Returns the scratch directory, set up once per process; NULL when it cannot be. */
static const char *scratch_dir(void) {
        static int state; /* 0 not yet, 1 ready, -1 failed */
        const char *tmp = getenv("TMPDIR");

        if (state != 0)
                return state > 0 ? scratch : NULL;
        state = -1;
        if (snprintf(scratch, sizeof scratch, "%s/fuzz-layer.XXXXXX", isempty(tmp) ? "/tmp" : tmp) >=
                    (int) sizeof scratch ||
            !mkdtemp(scratch))
                return NULL;
        if (geteuid() == 0) {
                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("fuzz-layer", scratch, "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC,
                          "size=64m,nr_inodes=65536,mode=0700") < 0) {
                        fprintf(stderr, "fuzz-layer: cannot mount a private tmpfs on %s: %m\n", scratch);
                        (void) rmdir(scratch);
                        return NULL;
                }
                scratch_mounted = true;
        }
        (void) atexit(scratch_remove);
        state = 1;
        return scratch;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *dest = NULL;
        char diff[SHA256_HEX_LEN + 1];
        ErrorBuf e = {};
        const char *dir = scratch_dir();
        int fd, r;

        if (!dir)
                abort(); /* a harness that cannot run must not pass */
        fd = memfd_create("layer", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if ((size > 0 && write(fd, data, size) != (ssize_t) size) || lseek(fd, 0, SEEK_SET) < 0)
                abort();
        (void) layer_sniff_media_type(fd);
        if (lseek(fd, 0, SEEK_SET) < 0 || path_join(&dest, dir, "layer") < 0 || mkdir(dest, 0755) < 0)
                abort();
        r = layer_unpack(fd, dest, diff, &e);
        /* a corrupt or hostile layer is refused with a reason, an accepted one has a diff_id */
        if (((r == -EBADMSG || r == -EPERM) && !e.msg[0]) || (r >= 0 && strlen(diff) != SHA256_HEX_LEN))
                abort();
        safe_close(fd);
        if (rm_rf(dest) < 0)
                abort();
        return 0;
}
