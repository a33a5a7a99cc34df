/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Unpacking one image layer (image-spec layer.md) into a directory that overlayfs can use as a lower layer. */

#include "common/error.h"
#include "common/macro.h"
#include "runtime/digest.h"

/* Media types of layer blobs the store accepts (OCI and Docker schema 2, including non-distributable variants).
 * Returns 0 when supported, -EOPNOTSUPP otherwise. Compression itself is detected from the data. */
int layer_media_type_supported(const char *media_type);

/* The OCI layer media type for a blob, from its first bytes (gzip, zstd or plain tar): for docker-archive sources,
 * which carry no media types. Returns a static string. */
const char *layer_sniff_media_type(int fd);

/* Normalizes a tar member name: drops "." and empty components; refuses (-EPERM) absolute names and "..". Returns
 * "" for the root itself. */
int layer_normalize_name(const char *name, char **ret);

/* Unpacks the layer tarball in blob_fd (gzip, zstd or plain) into dest_dir, which must exist, be empty and have no
 * symlinks in its path (the store passes a realpath()ed staging directory), and returns the diff_id: the sha256 of
 * the uncompressed tar. Whiteouts become overlayfs whiteouts (.wh.NAME → 0:0 character device NAME,
 * .wh..wh..opq → trusted.overlay.opaque=y on the directory); ownership (when root), modes, mtimes, hard links,
 * devices and xattrs are kept. Entries with absolute names, ".." components, hard links leaving the layer, or a path
 * that would be resolved through a symlink are refused with -EPERM. Synchronous and free of global state: run it on
 * a WorkPool thread. dest_dir holds partial results on failure; the caller removes it. */
int layer_unpack(int blob_fd, const char *dest_dir, char ret_diff_hex[SHA256_HEX_LEN + 1], ErrorBuf *e);
