/* SPDX-License-Identifier: Apache-2.0 */
/* Layer unpacking. The compressed blob is read through two libarchive readers: an outer one that only decompresses
 * (format "raw") and an inner tar reader fed from it, so the uncompressed stream passes through one place where it
 * is hashed for the diff_id (image-spec config.md: rootfs.diff_ids are digests of the uncompressed tars). Entries
 * are written with archive_write_disk under SECURE_SYMLINKS|SECURE_NODOTDOT, after our own checks: names are
 * normalized, and every existing parent directory is walked one component at a time with O_NOFOLLOW, so no entry is
 * ever placed through a symlink, whatever libarchive's version does. */

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "runtime/layer.h"

#define BUF_SIZE (128 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

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

typedef struct Unpack {
        struct archive *outer; /* decompressor */
        struct archive *inner; /* tar reader */
        struct archive *disk;
        Sha256 *diff;
        int root_fd;
        const char *dest;
        bool outer_failed;
        char buf[BUF_SIZE];
} Unpack;

static void unpack_done(Unpack *u) {
        if (u->inner)
                archive_read_free(u->inner);
        if (u->outer)
                archive_read_free(u->outer);
        if (u->disk)
                archive_write_free(u->disk);
        sha256_free(u->diff);
        safe_close(u->root_fd);
}

static la_ssize_t inner_read(struct archive *a, void *userdata, const void **ret_buf) {
        Unpack *u = userdata;
        la_ssize_t n = archive_read_data(u->outer, u->buf, sizeof u->buf);
        if (n < 0) {
                u->outer_failed = true;
                archive_set_error(a, EIO, "%s", archive_error_string(u->outer) ?: "decompression failed");
                return -1;
        }
        if (n > 0 && sha256_update(u->diff, u->buf, (size_t) n) < 0) {
                archive_set_error(a, ENOMEM, "hashing failed");
                return -1;
        }
        *ret_buf = u->buf;
        return n;
}

int layer_normalize_name(const char *name, char **ret) {
        if (name[0] == '/')
                return -EPERM;
        _cleanup_free_ char *out = malloc(strlen(name) + 1);
        RET_NULL_ENOMEM(out);
        size_t o = 0;
        for (const char *p = name; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return -EPERM;
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                }
                p += n;
                while (*p == '/')
                        p++;
        }
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Opens the directory `dir` (normalized, relative) below root_fd one component at a time, never following a symlink.
 * With create, missing components are made (0755, like the implicit parents container engines create). Without
 * create, returns -ENOENT at the first missing component: what does not exist cannot redirect the write. */
static int open_dir_beneath(int root_fd, const char *dir, bool create, int *ret_fd) {
        _cleanup_close_ int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *copy = strdup(dir);
        RET_NULL_ENOMEM(copy);
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nfd < 0 && errno == ENOENT && create) {
                        if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (nfd < 0)
                        return errno == ELOOP || errno == ENOTDIR ? -EPERM : -errno;
                safe_close(fd);
                fd = nfd;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static void split_path(char *path, const char **ret_dir, const char **ret_base) {
        char *slash = strrchr(path, '/');
        if (slash) {
                *slash = 0;
                *ret_dir = path;
                *ret_base = slash + 1;
        } else {
                *ret_dir = "";
                *ret_base = path;
        }
}

/* image-spec layer.md "Whiteouts" → overlayfs (Documentation/filesystems/overlayfs.rst): a whiteout is a 0/0 char
 * device, an opaque directory carries trusted.overlay.opaque=y. */
static int apply_whiteout(Unpack *u, const char *norm, ErrorBuf *e) {
        _cleanup_free_ char *copy = strdup(norm);
        RET_NULL_ENOMEM(copy);
        const char *dir, *base;
        split_path(copy, &dir, &base);
        _cleanup_close_ int dfd = -EBADF;
        int r = open_dir_beneath(u->root_fd, dir, true, &dfd);
        if (r < 0)
                return error_set(e, r, "layer entry '%s': cannot open parent directory: %s", norm, strerror(-r));
        if (streq(base, WHITEOUT_OPAQUE)) {
                if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return error_set(e, -errno, "layer entry '%s': cannot mark directory opaque: %m", norm);
                return 0;
        }
        if (startswith(base, WHITEOUT_META_PREFIX))
                return 0; /* other .wh..wh.* names are AUFS bookkeeping; the spec says to ignore them */
        const char *name = base + STRLEN(WHITEOUT_PREFIX);
        if (isempty(name) || streq(name, ".") || streq(name, ".."))
                return error_set(e, -EPERM, "layer entry '%s': invalid whiteout name", norm);
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return error_set(e, -errno, "layer entry '%s': cannot replace '%s' by a whiteout: %m", norm, name);
        if (mknodat(dfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
                return error_set(e, -errno, "layer entry '%s': cannot create whiteout: %m", norm);
        return 0;
}

/* overlayfs interprets trusted.overlay.* (opaque, redirect, metacopy): a layer must not smuggle them in. */
static int filter_xattrs(struct archive_entry *entry) {
        if (archive_entry_xattr_reset(entry) == 0)
                return 0;
        const char *name;
        const void *value;
        size_t size;
        bool drop = false;
        while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
                if (startswith(name, "trusted.overlay."))
                        drop = true;
        if (!drop)
                return 0;
        struct archive_entry *copy = archive_entry_clone(entry);
        RET_NULL_ENOMEM(copy);
        archive_entry_xattr_clear(entry);
        archive_entry_xattr_reset(copy);
        while (archive_entry_xattr_next(copy, &name, &value, &size) == ARCHIVE_OK)
                if (!startswith(name, "trusted.overlay."))
                        archive_entry_xattr_add_entry(entry, name, value, size);
        archive_entry_free(copy);
        return 0;
}

static int check_parent(Unpack *u, const char *norm, ErrorBuf *e) {
        _cleanup_free_ char *copy = strdup(norm);
        RET_NULL_ENOMEM(copy);
        const char *dir, *base;
        split_path(copy, &dir, &base);
        _cleanup_close_ int dfd = -EBADF;
        int r = open_dir_beneath(u->root_fd, dir, false, &dfd);
        if (r == -EPERM)
                return error_set(e, r, "layer entry '%s': refusing to write through a symlink or non-directory", norm);
        if (r < 0 && r != -ENOENT)
                return error_set(e, r, "layer entry '%s': %s", norm, strerror(-r));
        return 0;
}

/* Like containerd's applier: an xattr the file system cannot store (ENOTSUP, e.g. security.selinux without SELinux)
 * is skipped; every other problem restoring an entry fails the layer, so what runs is what the image says. */
static bool warning_ignorable(struct archive *a, int r) {
        int err = archive_errno(a);
        return r == ARCHIVE_WARN && err == EOPNOTSUPP; /* ENOTSUP is the same value on Linux */
}

static int write_entry(Unpack *u, struct archive_entry *entry, const char *norm, ErrorBuf *e) {
        _cleanup_free_ char *full = NULL, *hl_full = NULL, *hl_norm = NULL;
        const char *hl = archive_entry_hardlink(entry);
        int r;

        if (hl) {
                /* A hard link must name an earlier entry of this layer (layer.md), reached without symlinks. */
                if (layer_normalize_name(hl, &hl_norm) < 0 || isempty(hl_norm))
                        return error_set(e, -EPERM, "layer entry '%s': hard link target '%s' escapes the layer", norm,
                                         hl);
                r = check_parent(u, hl_norm, e);
                if (r < 0)
                        return r;
                if (asprintf(&hl_full, "%s/%s", u->dest, hl_norm) < 0)
                        return -ENOMEM;
                archive_entry_set_hardlink(entry, hl_full);
        }
        if (isempty(norm)) {
                if (archive_entry_filetype(entry) != AE_IFDIR)
                        return error_set(e, -EPERM, "layer entry '%s': the layer root must be a directory",
                                         archive_entry_pathname(entry));
                full = strdup(u->dest);
                RET_NULL_ENOMEM(full);
        } else if (asprintf(&full, "%s/%s", u->dest, norm) < 0)
                return -ENOMEM;
        r = filter_xattrs(entry);
        if (r < 0)
                return r;
        archive_entry_set_pathname(entry, full);

        r = archive_write_header(u->disk, entry);
        if (r != ARCHIVE_OK && !warning_ignorable(u->disk, r))
                return error_set(e, r == ARCHIVE_WARN ? -EIO : -EPERM, "layer entry '%s': %s", norm,
                                 archive_error_string(u->disk) ?: "cannot extract");
        if (archive_entry_size(entry) > 0) {
                const void *block;
                size_t size;
                la_int64_t offset;
                for (;;) {
                        r = archive_read_data_block(u->inner, &block, &size, &offset);
                        if (r == ARCHIVE_EOF)
                                break;
                        if (r != ARCHIVE_OK)
                                return error_set(e, -EBADMSG, "corrupt layer: entry '%s': %s", norm,
                                                 archive_error_string(u->inner) ?: "corrupt data");
                        if (archive_write_data_block(u->disk, block, size, offset) != ARCHIVE_OK)
                                return error_set(e, -EIO, "layer entry '%s': %s", norm,
                                                 archive_error_string(u->disk) ?: "write failed");
                }
        }
        r = archive_write_finish_entry(u->disk);
        if (r != ARCHIVE_OK && !warning_ignorable(u->disk, r))
                return error_set(e, -EIO, "layer entry '%s': %s", norm,
                                 archive_error_string(u->disk) ?: "cannot finish entry");
        return 0;
}

static int open_readers(Unpack *u, int blob_fd, ErrorBuf *e) {
        u->outer = archive_read_new();
        u->inner = archive_read_new();
        u->disk = archive_write_disk_new();
        if (!u->outer || !u->inner || !u->disk)
                return -ENOMEM;
        /* Only the compressions OCI defines: support_filter_all would also run external programs (lzop, lrzip). */
        archive_read_support_filter_gzip(u->outer);
        archive_read_support_filter_zstd(u->outer);
        archive_read_support_format_raw(u->outer);
        if (archive_read_open_fd(u->outer, blob_fd, BUF_SIZE) != ARCHIVE_OK)
                return error_set(e, -EBADMSG, "corrupt layer: %s", archive_error_string(u->outer) ?: "unknown");
        struct archive_entry *raw;
        if (archive_read_next_header(u->outer, &raw) != ARCHIVE_OK)
                return error_set(e, -EBADMSG, "corrupt layer: %s", archive_error_string(u->outer) ?: "empty");
        archive_read_support_format_tar(u->inner);
        if (archive_read_open(u->inner, u, NULL, inner_read, NULL) != ARCHIVE_OK)
                return error_set(e, -EBADMSG, "layer is not a tar archive: %s",
                                 archive_error_string(u->inner) ?: "unknown");
        int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                    ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK;
        /* Numeric ids from the tar, never names looked up on the host (no archive_write_disk_set_standard_lookup):
         * the image's /etc/passwd is what gives them meaning. */
        if (geteuid() == 0)
                flags |= ARCHIVE_EXTRACT_OWNER;
        archive_write_disk_set_options(u->disk, flags);
        return 0;
}

static int drain_outer(Unpack *u, ErrorBuf *e) {
        for (;;) {
                la_ssize_t n = archive_read_data(u->outer, u->buf, sizeof u->buf);
                if (n < 0)
                        return error_set(e, -EBADMSG, "corrupt layer: %s",
                                         archive_error_string(u->outer) ?: "decompression failed");
                if (n == 0)
                        return 0;
                if (sha256_update(u->diff, u->buf, (size_t) n) < 0)
                        return -ENOMEM;
        }
}

static int unpack_entries(Unpack *u, ErrorBuf *e) {
        for (;;) {
                struct archive_entry *entry;
                int r = archive_read_next_header(u->inner, &entry);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return error_set(e, -EBADMSG, "corrupt layer: %s",
                                         archive_error_string(u->inner) ?: "invalid tar header");
                const char *name = archive_entry_pathname(entry);
                if (!name)
                        return error_set(e, -EBADMSG, "corrupt layer: entry without a name");
                _cleanup_free_ char *norm = NULL;
                r = layer_normalize_name(name, &norm);
                if (r == -EPERM)
                        return error_set(e, r, "layer entry '%s': %s", name,
                                         name[0] == '/' ? "absolute path refused" : "'..' escapes the layer root");
                if (r < 0)
                        return r;
                const char *slash = strrchr(norm, '/'), *base = slash ? slash + 1 : norm;
                if (startswith(base, WHITEOUT_PREFIX))
                        r = apply_whiteout(u, norm, e);
                else {
                        r = check_parent(u, norm, e);
                        if (r >= 0)
                                r = write_entry(u, entry, norm, e);
                }
                if (r < 0)
                        return r;
        }
}

int layer_unpack(int blob_fd, const char *dest_dir, char ret_diff_hex[SHA256_HEX_LEN + 1], ErrorBuf *e) {
        _cleanup_free_ Unpack *u = calloc(1, sizeof *u);
        RET_NULL_ENOMEM(u);
        u->root_fd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (u->root_fd < 0)
                return error_set(e, -errno, "%s: %m", dest_dir);
        u->dest = dest_dir;
        int r = sha256_new(&u->diff);
        if (r >= 0)
                r = open_readers(u, blob_fd, e);
        if (r >= 0)
                r = unpack_entries(u, e);
        if (r >= 0 && archive_write_close(u->disk) != ARCHIVE_OK)
                r = error_set(e, -EIO, "cannot finish layer: %s", archive_error_string(u->disk) ?: "unknown");
        if (r >= 0)
                r = drain_outer(u, e);
        if (r >= 0)
                r = sha256_final_hex(u->diff, ret_diff_hex);
        if (r < 0 && u->outer_failed)
                error_clear(e), r = error_set(e, -EBADMSG, "corrupt layer: %s",
                                              archive_error_string(u->outer) ?: "decompression failed");
        unpack_done(u);
        return r;
}
