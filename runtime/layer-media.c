/* SPDX-License-Identifier: Apache-2.0 */
/* Layer media types: what the store accepts and what a blob is. Apart from layer.c (libarchive) so that readers of
 * the store (the daemon: image-config.c checks media types) link no unpacker: the daemon leaves imports to a
 * nodeletctl child (agent/preload.h) and must not load libarchive and the libraries it drags in. */

#include <unistd.h>

#include "runtime/layer.h"

int layer_media_type_supported(const char *media_type) {
        static const char *const types[] = {
                "application/vnd.oci.image.layer.v1.tar",
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.v1.tar+zstd",
                "application/vnd.oci.image.layer.nondistributable.v1.tar",
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                "application/vnd.docker.image.rootfs.diff.tar",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        };
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (streq(media_type, types[i]))
                        return 0;
        return -EOPNOTSUPP;
}

const char *layer_sniff_media_type(int fd) {
        unsigned char m[4] = {};
        ssize_t n = pread(fd, m, sizeof m, 0);
        if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
                return "application/vnd.oci.image.layer.v1.tar+gzip";
        if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
                return "application/vnd.oci.image.layer.v1.tar+zstd";
        return "application/vnd.oci.image.layer.v1.tar";
}
