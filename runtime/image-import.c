/* SPDX-License-Identifier: Apache-2.0 */
/* Import of OCI image layouts (image-spec image-layout.md), oci-archive tars (a layout in a tar) and `docker save`
 * tars (manifest.json with Config/RepoTags/Layers). Archives are first extracted into the store's tmp/ (safely: no
 * absolute names, no "..", nothing through symlinks), so both kinds are read as a directory; blobs are then copied
 * into tmp/ while their sha256 is computed, verified against their descriptors, layers unpacked and their diff_ids
 * checked, and only then are blobs renamed into blobs/ and the index rewritten (atomically, last). A failure removes
 * tmp/ and sweeps whatever this import had already put in place, so the store is left as it was. */

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "runtime/image-internal.h"
#include "runtime/layer.h"

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#elif defined(__i386__)
#define HOST_ARCH "386"
#elif defined(__powerpc64__)
#define HOST_ARCH "ppc64le"
#elif defined(__s390x__)
#define HOST_ARCH "s390x"
#else
#define HOST_ARCH "unknown"
#endif

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"

typedef struct Pending {
        char hex[SHA256_HEX_LEN + 1];
        char *path;
} Pending;

typedef struct Candidate {
        char hex[SHA256_HEX_LEN + 1]; /* manifest */
        uint64_t size;
        char **refs; /* normalized */
        char *id;    /* set once imported */
} Candidate;

typedef struct Import {
        ImageStore *s;
        char *tmp;
        int src_fd;
        const char *source; /* for messages */
        Pending *pending;
        size_t n_pending;
        Candidate *cands;
        size_t n_cands;
        unsigned counter;
        char **created; /* layer dirs and blobs this import put in place: no committed image can reference them */
        size_t n_created;
} Import;

/* Records a path this import created in the store, so a failure can take it back without relying on gc (which
 * sweeps nothing while some image in the index is unreadable). */
static int created_add(Import *im, const char *path) {
        char **n = realloc(im->created, (im->n_created + 1) * sizeof(char *));
        RET_NULL_ENOMEM(n);
        im->created = n;
        n[im->n_created] = strdup(path);
        RET_NULL_ENOMEM(n[im->n_created]);
        im->n_created++;
        return 0;
}

static void import_done(Import *im) {
        for (size_t i = 0; i < im->n_pending; i++)
                free(im->pending[i].path);
        free(im->pending);
        for (size_t i = 0; i < im->n_cands; i++) {
                strv_free(im->cands[i].refs);
                free(im->cands[i].id);
        }
        free(im->cands);
        for (size_t i = 0; i < im->n_created; i++)
                free(im->created[i]);
        free(im->created);
        safe_close(im->src_fd);
        if (im->tmp)
                (void) rm_rf(im->tmp);
        free(im->tmp);
}

/* Opens a file of the image source. Non-blocking, so that a FIFO in an image layout cannot hang the import, and
 * -EBADFD for anything that is not a regular file. */
static int open_beneath(int dir_fd, const char *rel, int *ret_fd) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        struct stat st;
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, dir_fd, rel, &how, sizeof how);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static const char *open_error(int r) {
        return r == -EBADFD ? "not a regular file" : strerror(-r);
}

/* ---- archive → directory ---- */

static int extract_entry(struct archive *in, struct archive *out, struct archive_entry *entry, const char *dest,
                         ErrorBuf *e) {
        _cleanup_free_ char *norm = NULL, *full = NULL, *hl_norm = NULL, *hl_full = NULL;
        const char *name = archive_entry_pathname(entry);
        if (!name || layer_normalize_name(name, &norm) < 0)
                return error_set(e, -EPERM, "archive entry '%s' escapes the archive root", strna(name));
        mode_t type = archive_entry_filetype(entry);
        if (isempty(norm) || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK))
                return 0; /* an image archive holds only files, directories and (docker) symlinks */
        const char *hl = archive_entry_hardlink(entry);
        if (hl) {
                if (layer_normalize_name(hl, &hl_norm) < 0 || isempty(hl_norm) ||
                    asprintf(&hl_full, "%s/%s", dest, hl_norm) < 0)
                        return error_set(e, -EPERM, "archive entry '%s': bad hard link target '%s'", name, hl);
                archive_entry_set_hardlink(entry, hl_full);
        }
        if (asprintf(&full, "%s/%s", dest, norm) < 0)
                return -ENOMEM;
        archive_entry_set_pathname(entry, full);
        if (archive_write_header(out, entry) != ARCHIVE_OK)
                return error_set(e, -EPERM, "archive entry '%s': %s", norm,
                                 archive_error_string(out) ?: "cannot extract");
        for (;;) {
                const void *block;
                size_t size;
                la_int64_t offset;
                int r = archive_read_data_block(in, &block, &size, &offset);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return error_set(e, -EBADMSG, "corrupt archive at entry '%s': %s", norm,
                                         archive_error_string(in) ?: "read error");
                if (archive_write_data_block(out, block, size, offset) != ARCHIVE_OK)
                        return error_set(e, -EIO, "archive entry '%s': %s", norm,
                                         archive_error_string(out) ?: "write error");
        }
        if (archive_write_finish_entry(out) != ARCHIVE_OK)
                return error_set(e, -EIO, "archive entry '%s': %s", norm, archive_error_string(out) ?: "write error");
        return 0;
}

static int extract_archive(int fd, const char *dest, ErrorBuf *e) {
        struct archive *in = archive_read_new(), *out = archive_write_disk_new();
        int r = 0;
        if (!in || !out) {
                r = -ENOMEM;
                goto finish;
        }
        archive_read_support_filter_gzip(in);
        archive_read_support_filter_zstd(in);
        archive_read_support_format_tar(in);
        archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
        if (archive_read_open_fd(in, fd, 128 * 1024) != ARCHIVE_OK) {
                r = error_set(e, -EBADMSG, "not a tar archive: %s", archive_error_string(in) ?: "unknown");
                goto finish;
        }
        for (;;) {
                struct archive_entry *entry;
                int k = archive_read_next_header(in, &entry);
                if (k == ARCHIVE_EOF)
                        break;
                if (k < ARCHIVE_WARN) {
                        r = error_set(e, -EBADMSG, "corrupt archive: %s", archive_error_string(in) ?: "invalid header");
                        goto finish;
                }
                r = extract_entry(in, out, entry, dest, e);
                if (r < 0)
                        goto finish;
        }
        if (archive_write_close(out) != ARCHIVE_OK)
                r = error_set(e, -EIO, "%s", archive_error_string(out) ?: "extraction failed");
finish:
        if (in)
                archive_read_free(in);
        if (out)
                archive_write_free(out);
        return r;
}

/* ---- blobs ---- */

static Pending *pending_find(Import *im, const char *hex) {
        for (size_t i = 0; i < im->n_pending; i++)
                if (streq(im->pending[i].hex, hex))
                        return &im->pending[i];
        return NULL;
}

static int pending_add(Import *im, const char *hex, char *path) {
        Pending *n = realloc(im->pending, (im->n_pending + 1) * sizeof(Pending));
        RET_NULL_ENOMEM(n);
        im->pending = n;
        memcpy(n[im->n_pending].hex, hex, SHA256_HEX_LEN + 1);
        n[im->n_pending++].path = path;
        return 0;
}

static int tmp_name(Import *im, const char *prefix, char **ret) {
        if (asprintf(ret, "%s/%s-%u", im->tmp, prefix, im->counter++) < 0)
                return -ENOMEM;
        return 0;
}

/* Copies the file `rel` of the source into tmp/ while hashing it; verifies it against expect_hex/expect_size when
 * given. Returns the path to read the (verified) blob from: already in the store, already staged, or new. */
static int ingest(Import *im, const char *rel, const char *expect_hex, int64_t expect_size, const char *what,
                  char ret_hex[SHA256_HEX_LEN + 1], const char **ret_path, ErrorBuf *e) {
        _cleanup_free_ char *path = NULL;
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size;
        int r;
        if (expect_hex) {
                Pending *p = pending_find(im, expect_hex);
                if (p) {
                        memcpy(ret_hex, p->hex, sizeof hex);
                        *ret_path = p->path;
                        return 0;
                }
        }
        _cleanup_close_ int fd = -EBADF;
        r = open_beneath(im->src_fd, rel, &fd);
        if (r < 0)
                return error_set(e, r, "%s: %s: %s", what, rel,
                                 r == -ENOENT ? "blob missing from the image source" : open_error(r));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return error_set(e, -EBADMSG, "%s: %s: not a regular file", what, rel);
        r = tmp_name(im, "blob", &path);
        if (r < 0)
                return r;
        _cleanup_close_ int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (out < 0)
                return -errno;
        r = sha256_copy_fd(fd, out, 0, hex, &size);
        if (r >= 0 && fdatasync(out) < 0)
                r = -errno;
        if (r < 0)
                return error_set(e, r, "%s: %s: %s", what, rel, strerror(-r));
        if (expect_hex && !streq(hex, expect_hex))
                return error_set(e, -EBADMSG, "%s: digest mismatch: expected sha256:%s, content of %s is sha256:%s",
                                 what, expect_hex, rel, hex);
        if (expect_size >= 0 && size != (uint64_t) expect_size)
                return error_set(e, -EBADMSG, "%s: size mismatch: descriptor says %" PRIi64 " bytes, %s has %" PRIu64,
                                 what, expect_size, rel, size);
        Pending *p = pending_find(im, hex);
        if (p) {
                (void) unlink(path);
                *ret_path = p->path;
        } else {
                r = pending_add(im, hex, path);
                if (r < 0)
                        return r;
                *ret_path = TAKE_PTR(path);
        }
        memcpy(ret_hex, hex, sizeof hex);
        return 0;
}

/* A blob named by digest (OCI: blobs/<alg>/<hex>): from the store when present, else from the source. */
static int ingest_digest(Import *im, const Descriptor *d, const char *what, const char **ret_path, ErrorBuf *e) {
        char rel[STRLEN("blobs/sha256/") + SHA256_HEX_LEN + 1], hex[SHA256_HEX_LEN + 1];
        _cleanup_free_ char *store_path = NULL;
        int r = store_blob_path(im->s, d->hex, &store_path);
        if (r < 0)
                return r;
        struct stat st;
        if (!pending_find(im, d->hex) && stat(store_path, &st) == 0) {
                /* Verified when it was written; content addressing makes it the same bytes, so only the size the
                 * descriptor claims is left to check. Listed as pending with its store path, so lookups find it. */
                if ((uint64_t) st.st_size != d->size)
                        return error_set(e, -EBADMSG,
                                         "%s: size mismatch: descriptor says %" PRIu64
                                         " bytes, the stored blob has %" PRIu64,
                                         what, d->size, (uint64_t) st.st_size);
                r = pending_add(im, d->hex, TAKE_PTR(store_path));
                if (r < 0)
                        return r;
                *ret_path = im->pending[im->n_pending - 1].path;
                return 0;
        }
        snprintf(rel, sizeof rel, "blobs/sha256/%s", d->hex);
        return ingest(im, rel, d->hex, (int64_t) d->size, what, hex, ret_path, e);
}

/* ---- candidates ---- */

static int candidate_add(Import *im, const char *hex, uint64_t size, char **refs) {
        Candidate *n = realloc(im->cands, (im->n_cands + 1) * sizeof(Candidate));
        RET_NULL_ENOMEM(n);
        im->cands = n;
        n[im->n_cands] = (Candidate){.size = size, .refs = refs};
        memcpy(n[im->n_cands].hex, hex, SHA256_HEX_LEN + 1);
        im->n_cands++;
        return 0;
}

static int refs_one(const char *ref, const char *what, char ***ret, ErrorBuf *e) {
        _cleanup_strv_free_ char **l = calloc(2, sizeof(char *));
        RET_NULL_ENOMEM(l);
        if (ref) {
                int r = reference_normalize(ref, &l[0], e);
                if (r < 0)
                        return error_prefix(e, r, "%s", what);
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static bool platform_matches(const json_t *desc) {
        json_t *p = json_object_get(desc, "platform");
        if (!json_is_object(p))
                return true;
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        return streq_ptr(os, "linux") && streq_ptr(arch, HOST_ARCH);
}

/* The reference an index entry names. A ref.name holding only a tag (skopeo writes "latest") has no repository to
 * attach it to; such an image is imported untagged unless --ref names it. */
static const char *descriptor_ref(const json_t *desc, const char *inherited) {
        json_t *ann = json_object_get(desc, "annotations");
        const char *full = json_string_value(json_object_get(ann, ANNOTATION_CONTAINERD_NAME));
        if (full)
                return full;
        const char *name = json_string_value(json_object_get(ann, ANNOTATION_REF_NAME));
        if (name && strpbrk(name, "/:@"))
                return name;
        return inherited;
}

static int oci_walk_index(Import *im, const json_t *index, const char *what, const char *inherited, int depth,
                          ErrorBuf *e) {
        json_t *manifests = NULL, *d;
        size_t i;
        int r = jx_get_array(index, "manifests", NULL, true, &manifests, e);
        if (r < 0)
                return error_prefix(e, r, "%s", what);
        json_array_foreach (manifests, i, d) {
                char path[64];
                Descriptor desc = {};
                snprintf(path, sizeof path, "manifests[%zu]", i);
                r = descriptor_parse(d, path, &desc, e);
                _cleanup_free_ char *mt = desc.media_type;
                if (r < 0)
                        return error_prefix(e, r, "%s", what);
                if (!platform_matches(d))
                        continue;
                const char *ref = descriptor_ref(d, inherited);
                if (streq(mt, MT_OCI_MANIFEST) || streq(mt, MT_DOCKER_MANIFEST)) {
                        char **refs = NULL;
                        r = refs_one(ref, what, &refs, e);
                        if (r >= 0)
                                r = candidate_add(im, desc.hex, desc.size, refs);
                        if (r < 0) {
                                strv_free(refs);
                                return r;
                        }
                } else if ((streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST)) && depth < 2) {
                        _cleanup_json_ json_t *sub = NULL;
                        const char *bpath;
                        char swhat[128];
                        snprintf(swhat, sizeof swhat, "index sha256:%s", desc.hex);
                        r = ingest_digest(im, &desc, swhat, &bpath, e);
                        if (r >= 0)
                                r = read_json_blob(bpath, swhat, &sub, e);
                        if (r >= 0)
                                r = oci_walk_index(im, sub, swhat, ref, depth + 1, e);
                        if (r < 0)
                                return r;
                } else
                        return error_set(e, -EOPNOTSUPP, "%s: %s.mediaType: unsupported media type '%s'", what, path,
                                         mt);
        }
        return 0;
}

static int oci_collect(Import *im, ErrorBuf *e) {
        _cleanup_json_ json_t *layout = NULL, *index = NULL;
        _cleanup_close_ int lfd = -EBADF, ifd = -EBADF;
        _cleanup_free_ char *ltext = NULL, *itext = NULL;
        size_t lsize, isize;
        const char *version = NULL;
        int r = open_beneath(im->src_fd, "oci-layout", &lfd);
        if (r < 0)
                return error_set(e, r, "%s: oci-layout: %s", im->source, open_error(r));
        r = read_full_fd(lfd, JSON_BLOB_MAX, &ltext, &lsize);
        if (r >= 0)
                r = jx_parse(ltext, lsize, "oci-layout", &layout, e);
        if (r >= 0)
                r = jx_get_string(layout, "imageLayoutVersion", "oci-layout", true, &version, e);
        if (r < 0)
                return r;
        r = open_beneath(im->src_fd, "index.json", &ifd);
        if (r >= 0)
                r = read_full_fd(ifd, JSON_BLOB_MAX, &itext, &isize);
        if (r < 0)
                return error_set(e, r, "index.json: %s", open_error(r));
        r = jx_parse(itext, isize, "index.json", &index, e);
        if (r < 0)
                return r;
        return oci_walk_index(im, index, "index.json", NULL, 0, e);
}

/* `docker save` (manifest.json): no manifests or media types, so we write an OCI manifest for each image. */
static int docker_one(Import *im, const json_t *m, size_t idx, ErrorBuf *e) {
        char path[64], what[128], hex[SHA256_HEX_LEN + 1];
        const char *cfg = NULL, *bpath;
        json_t *layers = NULL, *tags = NULL, *l;
        size_t i;
        snprintf(path, sizeof path, "manifest.json[%zu]", idx);
        int r = jx_get_string(m, "Config", path, true, &cfg, e);
        if (r >= 0)
                r = jx_get_array(m, "Layers", path, true, &layers, e);
        if (r >= 0)
                r = jx_get_array(m, "RepoTags", path, false, &tags, e);
        if (r < 0)
                return r;
        snprintf(what, sizeof what, "%s.Config", path);
        r = ingest(im, cfg, NULL, -1, what, hex, &bpath, e);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(bpath, &st) < 0)
                return -errno;
        _cleanup_json_ json_t *jl = json_array(), *man = NULL;
        RET_NULL_ENOMEM(jl);
        man = json_pack("{s:i,s:s,s:{s:s,s:s+,s:I},s:O}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config",
                        "mediaType", MT_OCI_CONFIG, "digest", "sha256:", hex, "size", (json_int_t) st.st_size, "layers",
                        jl);
        RET_NULL_ENOMEM(man);
        json_array_foreach (layers, i, l) {
                snprintf(what, sizeof what, "%s.Layers[%zu]", path, i);
                if (!json_is_string(l))
                        return error_set(e, -EINVAL, "%s: expected a string, got %s", what, json_type_name(l));
                r = ingest(im, json_string_value(l), NULL, -1, what, hex, &bpath, e);
                if (r < 0)
                        return r;
                _cleanup_close_ int fd = open(bpath, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return -errno;
                json_t *d = json_pack("{s:s,s:s+,s:I}", "mediaType", layer_sniff_media_type(fd), "digest",
                                      "sha256:", hex, "size", (json_int_t) st.st_size);
                if (!d || json_array_append_new(json_object_get(man, "layers"), d) < 0)
                        return -ENOMEM;
        }
        _cleanup_free_ char *text = jx_dump_compact(man), *mpath = NULL;
        RET_NULL_ENOMEM(text);
        r = sha256_hex(text, strlen(text), hex);
        if (r >= 0)
                r = tmp_name(im, "manifest", &mpath);
        if (r >= 0)
                r = write_file_atomic(mpath, text, strlen(text), 0644, true);
        if (r < 0)
                return r;
        if (!pending_find(im, hex)) {
                r = pending_add(im, hex, mpath);
                if (r < 0)
                        return r;
                mpath = NULL;
        }
        _cleanup_strv_free_ char **refs = calloc(json_array_size(tags) + 1, sizeof(char *));
        RET_NULL_ENOMEM(refs);
        json_array_foreach (tags, i, l) {
                snprintf(what, sizeof what, "%s.RepoTags[%zu]", path, i);
                if (!json_is_string(l))
                        return error_set(e, -EINVAL, "%s: expected a string, got %s", what, json_type_name(l));
                r = reference_normalize(json_string_value(l), &refs[i], e);
                if (r < 0)
                        return error_prefix(e, r, "%s", what);
        }
        r = candidate_add(im, hex, strlen(text), refs);
        if (r < 0)
                return r;
        refs = NULL;
        return 0;
}

static int docker_collect(Import *im, ErrorBuf *e) {
        _cleanup_json_ json_t *list = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        size_t size, i;
        json_t *m;
        int r = open_beneath(im->src_fd, "manifest.json", &fd);
        if (r >= 0)
                r = read_full_fd(fd, JSON_BLOB_MAX, &text, &size);
        if (r < 0)
                return error_set(e, r, "manifest.json: %s", open_error(r));
        r = jx_parse(text, size, "manifest.json", &list, e);
        if (r < 0)
                return r;
        if (!json_is_array(list))
                return error_set(e, -EINVAL, "manifest.json: expected an array, got %s", json_type_name(list));
        json_array_foreach (list, i, m) {
                r = docker_one(im, m, i, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- one image: manifest → config → layers ---- */

static int unpack_layer(Import *im, const Descriptor *d, const char *bpath, const char *diff_hex, size_t idx,
                        ErrorBuf *e) {
        _cleanup_free_ char *final = NULL, *tmp = NULL;
        char got[SHA256_HEX_LEN + 1];
        int r = store_layer_path(im->s, diff_hex, &final);
        if (r < 0)
                return r;
        if (access(final, F_OK) == 0)
                return 0; /* unpacked once, shared by every image that has it */
        r = tmp_name(im, "layer", &tmp);
        if (r < 0)
                return r;
        if (mkdir(tmp, 0755) < 0 || chmod(tmp, 0755) < 0)
                return -errno;
        _cleanup_close_ int fd = open(bpath, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = layer_unpack(fd, tmp, got, e);
        if (r < 0)
                return error_prefix(e, r, "layer sha256:%s", d->hex);
        if (!streq(got, diff_hex))
                return error_set(e, -EBADMSG,
                                 "layer sha256:%s: diff_id mismatch: config rootfs.diff_ids[%zu] is sha256:%s, the "
                                 "uncompressed layer is sha256:%s",
                                 d->hex, idx, diff_hex, got);
        if (rename(tmp, final) < 0) {
                if (errno != EEXIST && errno != ENOTEMPTY)
                        return -errno;
                return 0;
        }
        return created_add(im, final);
}

static int import_candidate(Import *im, Candidate *c, ErrorBuf *e) {
        _cleanup_(manifest_done) Manifest m = {};
        _cleanup_(image_config_done) ImageConfig cfg = {};
        _cleanup_json_ json_t *mj = NULL, *cj = NULL;
        Descriptor md = {.size = c->size};
        const char *path;
        char what[128];
        memcpy(md.hex, c->hex, sizeof md.hex);
        snprintf(what, sizeof what, "manifest sha256:%s", c->hex);
        int r = ingest_digest(im, &md, what, &path, e);
        if (r >= 0)
                r = read_json_blob(path, what, &mj, e);
        if (r >= 0)
                r = manifest_parse(mj, what, &m, e);
        if (r < 0)
                return r;
        snprintf(what, sizeof what, "config sha256:%s", m.config.hex);
        r = ingest_digest(im, &m.config, what, &path, e);
        if (r >= 0)
                r = read_json_blob(path, what, &cj, e);
        if (r >= 0)
                r = image_config_parse(cj, what, &cfg, e);
        if (r < 0)
                return r;
        if (cfg.n_diff_ids != m.n_layers)
                return error_set(e, -EBADMSG,
                                 "manifest sha256:%s has %zu layers but config sha256:%s lists %zu "
                                 "rootfs.diff_ids",
                                 c->hex, m.n_layers, m.config.hex, cfg.n_diff_ids);
        for (size_t i = 0; i < m.n_layers; i++) {
                snprintf(what, sizeof what, "layer sha256:%s", m.layers[i].hex);
                r = ingest_digest(im, &m.layers[i], what, &path, e);
                if (r >= 0)
                        r = unpack_layer(im, &m.layers[i], path, cfg.diff_ids[i], i, e);
                if (r < 0)
                        return r;
        }
        if (asprintf(&c->id, "sha256:%s", m.config.hex) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- commit ---- */

static int commit_blobs(Import *im) {
        for (size_t i = 0; i < im->n_pending; i++) {
                _cleanup_free_ char *dst = NULL;
                int r = store_blob_path(im->s, im->pending[i].hex, &dst);
                if (r < 0)
                        return r;
                if (streq(dst, im->pending[i].path) || access(dst, F_OK) == 0)
                        continue;
                if (rename(im->pending[i].path, dst) < 0)
                        return -errno;
                r = created_add(im, dst);
                if (r < 0)
                        return r;
        }
        _cleanup_close_ int dfd = open(im->s->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

static int commit_index(Import *im, ErrorBuf *e) {
        _cleanup_json_ json_t *index = NULL;
        int r = store_index_load(im->s, &index, e);
        if (r < 0)
                return r;
        json_t *images = json_object_get(index, "images");
        for (size_t i = 0; i < im->n_cands; i++) {
                Candidate *c = &im->cands[i];
                json_t *entry = json_object_get(images, c->id);
                if (!entry) {
                        entry = json_pack("{s:[]}", "refs");
                        if (!entry || json_object_set_new(images, c->id, entry) < 0)
                                return -ENOMEM;
                }
                /* The same config under another manifest (recompressed layers) keeps one image: the newest wins. */
                char digest[DIGEST_STR_MAX];
                snprintf(digest, sizeof digest, "sha256:%s", c->hex);
                json_object_set_new(entry, "manifest", json_string(digest));
                for (char **ref = c->refs; ref && *ref; ref++) {
                        /* A reference names one image: it moves; an image left without one stays, untagged. */
                        const char *id;
                        json_t *img, *v;
                        size_t k;
                        json_object_foreach (images, id, img)
                                json_array_foreach (json_object_get(img, "refs"), k, v)
                                        if (streq(json_string_value(v), *ref)) {
                                                json_array_remove(json_object_get(img, "refs"), k);
                                                break;
                                        }
                        json_array_append_new(json_object_get(entry, "refs"), json_string(*ref));
                }
        }
        r = store_index_save(im->s, index);
        if (r < 0)
                return error_set(e, r, "%s: cannot write: %s", im->s->index_path, strerror(-r));
        return 0;
}

static int open_source(Import *im, const char *path, ErrorBuf *e) {
        struct stat st;
        /* Look before opening (a FIFO without a writer would block, a device could have side effects), then judge
         * what was opened, non-blocking, in case it was replaced in between. */
        if (stat(path, &st) < 0)
                return error_set(e, -errno, "%s: %m", path);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return error_set(e, -EBADFD, "%s: not a regular file or directory", path);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return error_set(e, -errno, "%s: %m", path);
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return error_set(e, -EBADFD, "%s: not a regular file or directory", path);
        _cleanup_free_ char *dir = NULL;
        if (S_ISDIR(st.st_mode)) {
                dir = realpath(path, NULL);
                if (!dir)
                        return error_set(e, -errno, "%s: %m", path);
        } else {
                int r = path_join(&dir, im->tmp, "src");
                if (r < 0)
                        return r;
                if (mkdir(dir, 0700) < 0)
                        return -errno;
                r = extract_archive(fd, dir, e);
                if (r < 0)
                        return r;
        }
        im->src_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (im->src_fd < 0)
                return error_set(e, -errno, "%s: %m", dir);
        return 0;
}

static int import_locked(Import *im, const char *path, const char *ref, ErrorBuf *e) {
        int r = open_source(im, path, e);
        if (r < 0)
                return r;
        if (faccessat(im->src_fd, "index.json", F_OK, 0) == 0)
                r = oci_collect(im, e);
        else if (faccessat(im->src_fd, "manifest.json", F_OK, 0) == 0)
                r = docker_collect(im, e);
        else
                r = error_set(e, -EBADMSG,
                              "not an OCI image layout or docker-archive: neither index.json nor "
                              "manifest.json found");
        if (r < 0)
                return r;
        if (im->n_cands == 0)
                return error_set(e, -ENOENT, "no image for linux/%s found", HOST_ARCH);
        if (ref) {
                if (im->n_cands != 1)
                        return error_set(e, -EINVAL, "--ref needs a source with exactly one image, found %zu",
                                         im->n_cands);
                strv_free(im->cands[0].refs);
                r = refs_one(ref, "--ref", &im->cands[0].refs, e);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < im->n_cands; i++) {
                r = import_candidate(im, &im->cands[i], e);
                if (r < 0)
                        return r;
        }
        r = commit_blobs(im);
        if (r < 0)
                return error_set(e, r, "cannot store blobs: %s", strerror(-r));
        return commit_index(im, e);
}

int image_store_import(ImageStore *s, const char *path, const char *ref_override, ImageInfo **ret, ErrorBuf *e) {
        _cleanup_(import_done) Import im = {.s = s, .src_fd = -EBADF, .source = path};
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ char *norm = NULL;
        int r;
        if (ref_override) {
                r = reference_normalize(ref_override, &norm, e);
                if (r < 0)
                        return r;
        }
        r = store_lock(s, &lock);
        if (r < 0)
                return r;
        /* Leftovers of an interrupted import (tmp/, unreferenced layers) go first. */
        (void) store_gc_locked(s);
        if (asprintf(&im.tmp, "%s/import-XXXXXX", s->tmp) < 0)
                return -ENOMEM;
        if (!mkdtemp(im.tmp)) {
                r = -errno;
                free(TAKE_PTR(im.tmp));
                return r;
        }
        r = import_locked(&im, path, norm, e);
        if (r < 0) {
                for (size_t i = 0; i < im.n_created; i++)
                        (void) rm_rf(im.created[i]);
                (void) rm_rf(im.tmp);
                free(TAKE_PTR(im.tmp));
                (void) store_gc_locked(s);
                return error_prefix(e, r, "%s", path);
        }
        (void) rm_rf(im.tmp);
        free(TAKE_PTR(im.tmp));
        (void) store_gc_locked(s);
        if (!ret)
                return 0;
        _cleanup_json_ json_t *index = NULL;
        r = store_index_load(s, &index, e);
        if (r < 0)
                return r;
        const char *id = im.cands[0].id;
        return store_image_info(s, id, json_object_get(json_object_get(index, "images"), id), ret, e);
}
