/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/runtime/containers/rootfs.h"

#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "tests/lib/testlib.h"

int test_rootfs_make(const char *dir) {
        if (access("/bin/busybox", X_OK) < 0)
                return -ENOENT;
        if (test_system("mkdir -p %s/bin %s/etc %s/tmp %s/home/user1 && cp /bin/busybox %s/bin/busybox && "
                        "chmod 1777 %s/tmp && for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || "
                        "ln -s busybox %s/bin/$a; done",
                        dir, dir, dir, dir, dir, dir, dir) != 0)
                return -EIO;
        const char *passwd = "root:x:0:0:root:/root:/bin/sh\n"
                             "user1:x:1000:1000:User One:/home/user1:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
        const char *group = "root:x:0:\nwheel:x:10:user1\nusers:x:100:user1,other\nuser1:x:1000:\nnogroup:x:65534:\n";
        char p[4096];
        snprintf(p, sizeof(p), "%s/etc/passwd", dir);
        int r = write_file_atomic(p, passwd, strlen(passwd), 0644, false);
        if (r < 0)
                return r;
        snprintf(p, sizeof(p), "%s/etc/group", dir);
        return write_file_atomic(p, group, strlen(group), 0644, false);
}

const char *test_shim_path(void) {
        static char p[4096];
        snprintf(p, sizeof(p), "%s/runtime/nodelet-shim", test_build_dir());
        return p;
}
