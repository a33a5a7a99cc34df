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
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "runtime/layer.h"

#define BUF_SIZE (128 * 1024)
/* Entry names in error messages are shortened to this many bytes (head…tail), so that the reason always fits in the
 * 1024-byte ErrorBuf, whatever the image's paths. */
#define NAME_SHOWN_MAX 160
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

typedef struct Unpack {
        struct archive *outer; /* decompressor */
        struct archive *inner; /* tar reader */
        struct archive *disk;
        Sha256 *diff;
        int root_fd;
        const char *dest;
        size_t dest_len;
        bool outer_failed;
        /* The last directory walked to (normalized, relative) and an fd of it: tars list a directory's entries
         * together, and a deep chain lists each level below the previous one, so starting the walk there keeps
         * path handling linear in the name instead of quadratic in the depth. */
        char *cached_dir;
        int cached_fd;
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
        safe_close(u->cached_fd);
        free(u->cached_dir);
}

/* name, or its first and last bytes around "...", for error messages (buf has NAME_SHOWN_MAX + 1 bytes). */
static const char *shown(const char *name, char *buf) {
        size_t l = strlen(name), half = (NAME_SHOWN_MAX - 3) / 2;
        if (l <= NAME_SHOWN_MAX)
                return name;
        /* Cut at byte boundaries that do not split a UTF-8 sequence. */
        size_t head = half, tail = l - half;
        while (head > 0 && ((unsigned char) name[head] & 0xc0) == 0x80)
                head--;
        while (tail < l && ((unsigned char) name[tail] & 0xc0) == 0x80)
                tail++;
        snprintf(buf, NAME_SHOWN_MAX + 1, "%.*s...%s", (int) head, name, name + tail);
        return buf;
}

/* Sets "layer entry 'NAME': reason" with NAME shortened. */
_printf_(4, 5) static int entry_error(ErrorBuf *e, int r, const char *name, const char *fmt, ...) {
        char nb[NAME_SHOWN_MAX + 1], reason[512];
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        return error_set(e, r, "layer entry '%s': %s", shown(name, nb), reason);
}

static void dir_cache_drop(Unpack *u) {
        u->cached_fd = safe_close(u->cached_fd);
        u->cached_dir = mfree(u->cached_dir);
}

/* An entry (or whiteout) at norm may replace a directory the cache walked through: forget it then. */
static void dir_cache_invalidate(Unpack *u, const char *norm) {
        if (!u->cached_dir)
                return;
        const char *rest = isempty(norm) ? u->cached_dir : startswith(u->cached_dir, norm);
        if (rest && (*rest == 0 || *rest == '/' || isempty(norm)))
                dir_cache_drop(u);
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

/* Opens the directory `dir` (normalized, relative) below the layer root one component at a time, never following a
 * symlink, starting from the cached directory when dir is it or lies below it. With create, missing components are
 * made (0755, like the implicit parents container engines create). Without create, returns -ENOENT at the first
 * missing component: what does not exist cannot redirect the write. */
static int open_dir_beneath(Unpack *u, const char *dir, bool create, int *ret_fd) {
        const char *rest = dir;
        int start = u->root_fd;
        if (u->cached_dir) {
                const char *r = isempty(u->cached_dir) ? dir : startswith(dir, u->cached_dir);
                if (r && (*r == 0 || *r == '/' || isempty(u->cached_dir))) {
                        start = u->cached_fd;
                        rest = r;
                }
        }
        _cleanup_close_ int fd = fcntl(start, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *copy = strdup(rest);
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
        if (!streq_ptr(u->cached_dir, dir)) {
                _cleanup_free_ char *d = strdup(dir);
                RET_NULL_ENOMEM(d);
                int cfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (cfd < 0)
                        return -errno;
                dir_cache_drop(u);
                u->cached_dir = TAKE_PTR(d);
                u->cached_fd = cfd;
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
        int r = open_dir_beneath(u, dir, true, &dfd);
        if (r < 0)
                return entry_error(e, r, norm, "cannot open parent directory: %s", strerror(-r));
        if (streq(base, WHITEOUT_OPAQUE)) {
                if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return entry_error(e, -errno, norm, "cannot mark directory opaque: %m");
                return 0;
        }
        if (startswith(base, WHITEOUT_META_PREFIX))
                return 0; /* other .wh..wh.* names are AUFS bookkeeping; the spec says to ignore them */
        const char *name = base + STRLEN(WHITEOUT_PREFIX);
        if (isempty(name) || streq(name, ".") || streq(name, ".."))
                return entry_error(e, -EPERM, norm, "invalid whiteout name");
        /* The whited-out path may be (or lead to) the cached directory. */
        _cleanup_free_ char *target = isempty(dir) ? strdup(name) : NULL;
        if (!target && asprintf(&target, "%s/%s", dir, name) < 0)
                target = NULL;
        RET_NULL_ENOMEM(target);
        dir_cache_invalidate(u, target);
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return entry_error(e, -errno, norm, "cannot replace '%s' by a whiteout: %m", name);
        if (mknodat(dfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
                return entry_error(e, -errno, norm, "cannot create whiteout: %m");
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
        int r = open_dir_beneath(u, dir, false, &dfd);
        if (r == -EPERM)
                return entry_error(e, r, norm, "refusing to write through a symlink or non-directory");
        if (r < 0 && r != -ENOENT)
                return entry_error(e, r, norm, "%s", strerror(-r));
        return 0;
}

/* Like containerd's applier: an xattr the file system cannot store (ENOTSUP, e.g. security.selinux without SELinux)
 * is skipped; every other problem restoring an entry fails the layer, so what runs is what the image says. */
static bool warning_ignorable(struct archive *a, int r) {
        int err = archive_errno(a);
        return r == ARCHIVE_WARN && err == EOPNOTSUPP; /* ENOTSUP is the same value on Linux */
}

/* libarchive's disk writer says only "Write failed" and keeps the reason in archive_errno(): a full disk (or quota)
 * must be named as such, with its errno, so that the caller can tell it from a bad layer. */
static int disk_error(Unpack *u, ErrorBuf *e, int r, const char *norm, const char *fallback) {
        int err = archive_errno(u->disk);
        const char *msg = archive_error_string(u->disk) ?: fallback;
        if (err == ENOSPC || err == EDQUOT)
                return entry_error(e, -err, norm, "%s: %s", msg, strerror(err));
        return entry_error(e, r, norm, "%s", msg);
}

static int write_entry(Unpack *u, struct archive_entry *entry, const char *norm, ErrorBuf *e) {
        _cleanup_free_ char *full = NULL, *hl_full = NULL, *hl_norm = NULL;
        const char *hl = archive_entry_hardlink(entry);
        int r;

        if (hl) {
                /* A hard link must name an earlier entry of this layer (layer.md), reached without symlinks. */
                char hb[NAME_SHOWN_MAX + 1];
                if (layer_normalize_name(hl, &hl_norm) < 0 || isempty(hl_norm))
                        return entry_error(e, -EPERM, norm, "hard link target '%s' escapes the layer", shown(hl, hb));
                r = check_parent(u, hl_norm, e);
                if (r < 0)
                        return r;
                if (asprintf(&hl_full, "%s/%s", u->dest, hl_norm) < 0)
                        return -ENOMEM;
                archive_entry_set_hardlink(entry, hl_full);
        }
        if (isempty(norm)) {
                if (archive_entry_filetype(entry) != AE_IFDIR)
                        return entry_error(e, -EPERM, archive_entry_pathname(entry),
                                           "the layer root must be a directory");
                full = strdup(u->dest);
                RET_NULL_ENOMEM(full);
        } else if (asprintf(&full, "%s/%s", u->dest, norm) < 0)
                return -ENOMEM;
        r = filter_xattrs(entry);
        if (r < 0)
                return r;
        archive_entry_set_pathname(entry, full);
        /* Replacing an entry may replace a directory the cache walked through (a directory by a symlink). */
        dir_cache_invalidate(u, norm);

        r = archive_write_header(u->disk, entry);
        if (r != ARCHIVE_OK && !warning_ignorable(u->disk, r))
                return disk_error(u, e, r == ARCHIVE_WARN ? -EIO : -EPERM, norm, "cannot extract");
        if (archive_entry_size(entry) > 0) {
                const void *block;
                size_t size;
                la_int64_t offset;
                for (;;) {
                        r = archive_read_data_block(u->inner, &block, &size, &offset);
                        if (r == ARCHIVE_EOF)
                                break;
                        if (r != ARCHIVE_OK) {
                                char nb[NAME_SHOWN_MAX + 1];
                                return error_set(e, -EBADMSG, "corrupt layer: entry '%s': %s", shown(norm, nb),
                                                 archive_error_string(u->inner) ?: "corrupt data");
                        }
                        if (archive_write_data_block(u->disk, block, size, offset) != ARCHIVE_OK)
                                return disk_error(u, e, -EIO, norm, "write failed");
                }
        }
        r = archive_write_finish_entry(u->disk);
        if (r != ARCHIVE_OK && !warning_ignorable(u->disk, r))
                return disk_error(u, e, -EIO, norm, "cannot finish entry");
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
                        return entry_error(e, r, name, "%s",
                                           name[0] == '/' ? "absolute path refused" : "'..' escapes the layer root");
                if (r < 0)
                        return r;
                /* Like the kernel's PATH_MAX, which bounds what containerd's applier (path-based syscalls) and
                 * overlayfs can reach: longer paths are refused before any work is done for them. */
                if (u->dest_len + 1 + strlen(norm) >= PATH_MAX)
                        return entry_error(e, -ENAMETOOLONG, norm, "path longer than %d bytes once unpacked",
                                           PATH_MAX - 1);
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
        u->dest_len = strlen(dest_dir);
        u->cached_fd = -EBADF;
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
