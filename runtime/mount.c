/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/mount.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/openat2.h>

#include "runtime/container-process.h"

/* containerd's defaults (pkg/oci/spec.go): kernel interfaces that leak host information or allow changes. */
static const char *const masked_paths[] = {
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

int mount_overlay_options(const ContainerConfig *c, char *buf, size_t size) {
        size_t n = 0, k = 0;
        while (c->lower_dirs[n])
                n++;
        if (n == 0)
                return -EINVAL;
        int l = snprintf(buf, size, "lowerdir=");
        for (size_t i = n; i > 0; i--) {
                l += snprintf(buf + l, size > (size_t) l ? size - l : 0, "%s%s", k++ ? ":" : "", c->lower_dirs[i - 1]);
                if ((size_t) l >= size)
                        return -E2BIG;
        }
        l += snprintf(buf + l, size > (size_t) l ? size - l : 0, ",upperdir=%s,workdir=%s", c->upper_dir, c->work_dir);
        return (size_t) l >= size ? -E2BIG : 0;
}

/* Opens (creating when missing) path below root_fd without ever leaving it: every prefix is resolved with
 * RESOLVE_IN_ROOT, so ".." and absolute symlinks in the image stay inside the rootfs. dir: create directories, else
 * the last component is created as an empty file (a bind target for a file). */
static int open_in_root(int root_fd, const char *path, bool dir) {
        char prefix[PATH_MAX] = "";
        size_t pl = 0;
        const char *p = path + strspn(path, "/");
        struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        if (!*p) {
                int fd = (int) syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));
                return fd < 0 ? -errno : fd;
        }
        while (*p) {
                const char *slash = strchr(p, '/');
                size_t l = slash ? (size_t) (slash - p) : strlen(p);
                if (pl + l + 2 >= sizeof(prefix))
                        return -ENAMETOOLONG;
                size_t parent_len = pl;
                if (pl)
                        prefix[pl++] = '/';
                memcpy(prefix + pl, p, l);
                pl += l;
                prefix[pl] = 0;
                bool last = !slash || !slash[strspn(slash, "/")];
                int fd = (int) syscall(SYS_openat2, root_fd, prefix, &how, sizeof(how));
                if (fd < 0 && errno == ENOENT) {
                        char saved = prefix[parent_len];
                        prefix[parent_len] = 0;
                        int parent = parent_len ? (int) syscall(SYS_openat2, root_fd, prefix, &how, sizeof(how))
                                                : dup(root_fd);
                        prefix[parent_len] = saved;
                        if (parent < 0)
                                return -errno;
                        char name[NAME_MAX + 1];
                        snprintf(name, sizeof(name), "%.*s", (int) l, p);
                        /* O_PATH fds cannot create: reopen the parent as a directory (still confined). */
                        char pp[64];
                        snprintf(pp, sizeof(pp), "/proc/self/fd/%d", parent);
                        int pdir = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        close(parent);
                        if (pdir < 0)
                                return -errno;
                        int r = 0;
                        if (!last || dir)
                                r = mkdirat(pdir, name, 0755) < 0 && errno != EEXIST ? -errno : 0;
                        else {
                                int cfd = openat(pdir, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                                r = cfd < 0 && errno != EEXIST ? -errno : 0;
                                if (cfd >= 0)
                                        close(cfd);
                        }
                        close(pdir);
                        if (r < 0)
                                return r;
                        fd = (int) syscall(SYS_openat2, root_fd, prefix, &how, sizeof(how));
                }
                if (fd < 0)
                        return -errno;
                if (last)
                        return fd;
                close(fd);
                p = slash + strspn(slash, "/");
        }
        return -EINVAL;
}

static void fd_path(int fd, char *buf, size_t size) {
        snprintf(buf, size, "/proc/self/fd/%d", fd);
}

static void mount_or_fail(int err_fd, const char *src, const char *target, const char *what, const char *type,
                          unsigned long flags, const char *data) {
        if (mount(src, target, type, flags, data) < 0)
                process_fail(err_fd, "mounting %s (%s): %s", what, type ?: "bind", strerror(errno));
}

static void mount_at(int err_fd, int root_fd, const char *dest, bool dir, const char *src, const char *type,
                     unsigned long flags, const char *data) {
        int fd = open_in_root(root_fd, dest, dir);
        if (fd < 0)
                process_fail(err_fd, "creating mount point %s: %s", dest, strerror(-fd));
        char p[64];
        fd_path(fd, p, sizeof(p));
        mount_or_fail(err_fd, src, p, dest, type, flags, data);
        close(fd);
}

static void setup_dev(int err_fd, const char *rootfs, int root_fd) {
        const unsigned long nsn = MS_NOSUID | MS_NOEXEC | MS_NODEV;
        mount_at(err_fd, root_fd, "/dev", true, "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
        char p[PATH_MAX + 64];
        static const struct {
                const char *name;
                unsigned maj, min;
        } devs[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
        for (size_t i = 0; i < ELEMENTSOF(devs); i++) {
                snprintf(p, sizeof(p), "%s/dev/%s", rootfs, devs[i].name);
                if (mknod(p, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0)
                        process_fail(err_fd, "mknod /dev/%s: %s", devs[i].name, strerror(errno));
                /* mknod honours the umask; the devices must be world read-writable. */
                (void) chmod(p, 0666);
        }
        static const char *const links[][2] = {{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
                                               {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                                               {"pts/ptmx", "ptmx"},          {"/proc/kcore", "core"}};
        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                snprintf(p, sizeof(p), "%s/dev/%s", rootfs, links[i][1]);
                if (symlink(links[i][0], p) < 0)
                        process_fail(err_fd, "symlink /dev/%s: %s", links[i][1], strerror(errno));
        }
        snprintf(p, sizeof(p), "%s/dev/pts", rootfs);
        (void) mkdir(p, 0755);
        mount_or_fail(err_fd, "devpts", p, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620,gid=5");
        snprintf(p, sizeof(p), "%s/dev/shm", rootfs);
        (void) mkdir(p, 01777);
        mount_or_fail(err_fd, "shm", p, "/dev/shm", "tmpfs", nsn, "mode=1777,size=65536k");
        snprintf(p, sizeof(p), "%s/dev/mqueue", rootfs);
        (void) mkdir(p, 0755);
        mount_or_fail(err_fd, "mqueue", p, "/dev/mqueue", "mqueue", nsn, NULL);
}

static void setup_masks(int err_fd, const char *rootfs) {
        char p[PATH_MAX + 64], devnull[PATH_MAX + 64];
        snprintf(devnull, sizeof(devnull), "%s/dev/null", rootfs);
        for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++) {
                snprintf(p, sizeof(p), "%s%s", rootfs, masked_paths[i]);
                struct stat st;
                if (lstat(p, &st) < 0)
                        continue; /* not on this kernel */
                int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL)
                                            : mount(devnull, p, NULL, MS_BIND, NULL);
                if (r < 0)
                        process_fail(err_fd, "masking %s: %s", masked_paths[i], strerror(errno));
        }
        for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++) {
                snprintf(p, sizeof(p), "%s%s", rootfs, readonly_paths[i]);
                if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
                        if (errno == ENOENT)
                                continue;
                        process_fail(err_fd, "read-only %s: %s", readonly_paths[i], strerror(errno));
                }
                if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        process_fail(err_fd, "read-only %s: %s", readonly_paths[i], strerror(errno));
        }
}

static void setup_bind(int err_fd, int root_fd, const BindMount *m) {
        struct stat st;
        if (stat(m->source, &st) < 0)
                process_fail(err_fd, "bind mount %s: source %s: %s", m->destination, m->source, strerror(errno));
        int fd = open_in_root(root_fd, m->destination, S_ISDIR(st.st_mode));
        if (fd < 0)
                process_fail(err_fd, "bind mount %s: creating the mount point: %s", m->destination, strerror(-fd));
        char p[64];
        fd_path(fd, p, sizeof(p));
        if (mount(m->source, p, NULL, MS_BIND | MS_REC, NULL) < 0)
                process_fail(err_fd, "bind mount %s on %s: %s", m->source, m->destination, strerror(errno));
        close(fd);
        /* Re-open: the mount point now is the new mount's root. */
        fd = open_in_root(root_fd, m->destination, S_ISDIR(st.st_mode));
        if (fd < 0)
                process_fail(err_fd, "bind mount %s: %s", m->destination, strerror(-fd));
        fd_path(fd, p, sizeof(p));
        /* A bind remount sets the per-mount flags to exactly those given: keep the source's nosuid/nodev/noexec. */
        struct statvfs sv;
        unsigned long keep = 0;
        if (statvfs(p, &sv) == 0)
                keep = (sv.f_flag & ST_NOSUID ? MS_NOSUID : 0) | (sv.f_flag & ST_NODEV ? MS_NODEV : 0) |
                       (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0) | (sv.f_flag & ST_NOATIME ? MS_NOATIME : 0) |
                       (sv.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0) | (sv.f_flag & ST_RELATIME ? MS_RELATIME : 0);
        if (m->readonly && mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
                process_fail(err_fd, "bind mount %s read-only: %s", m->destination, strerror(errno));
        unsigned long prop = m->propagation == MOUNT_PROPAGATION_SHARED  ? MS_SHARED
                             : m->propagation == MOUNT_PROPAGATION_SLAVE ? MS_SLAVE
                                                                         : MS_PRIVATE;
        if (mount(NULL, p, NULL, MS_REC | prop, NULL) < 0)
                process_fail(err_fd, "bind mount %s propagation %s: %s", m->destination,
                             mount_propagation_to_string(m->propagation), strerror(errno));
        close(fd);
}

int mount_setup_rootfs(const ContainerConfig *c, int err_fd) {
        char rootfs[PATH_MAX], opts[4096];
        /* The overlay covers the container's own directory, in this mount namespace only: no mount point to create
         * and remove per container. */
        snprintf(rootfs, sizeof(rootfs), "%s", c->dir);

        /* Host mounts and unmounts still reach us (rslave), ours never reach the host. */
        mount_or_fail(err_fd, NULL, "/", "/ (rslave)", NULL, MS_REC | MS_SLAVE, NULL);
        if (mount_overlay_options(c, opts, sizeof(opts)) < 0)
                process_fail(err_fd, "overlay: too many or too long lower directories");
        /* nodev: device nodes belong in /dev (our tmpfs); one that came in an image layer or was made with CAP_MKNOD
         * in the rootfs cannot be opened. Defense in depth next to the device cgroup (which v2 lacks for now). */
        mount_or_fail(err_fd, "overlay", rootfs, "the rootfs", "overlay", c->privileged ? 0 : MS_NODEV, opts);

        int root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                process_fail(err_fd, "opening the rootfs: %s", strerror(errno));
        const unsigned long nsn = MS_NOSUID | MS_NOEXEC | MS_NODEV;
        mount_at(err_fd, root_fd, "/proc", true, "proc", "proc", nsn, NULL);
        setup_dev(err_fd, rootfs, root_fd);
        mount_at(err_fd, root_fd, "/sys", true, "sysfs", "sysfs", nsn | (c->privileged ? 0 : MS_RDONLY), NULL);
        if (c->cgroup_version == 2)
                mount_at(err_fd, root_fd, "/sys/fs/cgroup", true, "cgroup2", "cgroup2",
                         nsn | (c->privileged ? 0 : MS_RDONLY), NULL);
        for (size_t i = 0; i < c->n_mounts; i++)
                setup_bind(err_fd, root_fd, &c->mounts[i]);
        if (!c->privileged)
                setup_masks(err_fd, rootfs);
        close(root_fd);

        /* pivot_root(".", ".") stacks the old root on top of the new one; unmounting it leaves only the rootfs
         * (the trick runc and LXC use, no temporary directory needed). */
        if (chdir(rootfs) < 0)
                process_fail(err_fd, "chdir to the rootfs: %s", strerror(errno));
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                process_fail(err_fd, "pivot_root: %s", strerror(errno));
        if (umount2(".", MNT_DETACH) < 0)
                process_fail(err_fd, "detaching the old root: %s", strerror(errno));
        if (chdir("/") < 0)
                process_fail(err_fd, "chdir /: %s", strerror(errno));
        /* A bind remount sets the per-mount flags to exactly these: keep nodev. */
        if (c->readonly_rootfs &&
            mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | (c->privileged ? 0 : MS_NODEV), NULL) < 0)
                process_fail(err_fd, "remounting the rootfs read-only: %s", strerror(errno));
        return 0;
}
