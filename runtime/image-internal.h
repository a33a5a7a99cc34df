/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals shared by the image store's files (image-store.c: index, lookups, removal, gc; image-import.c: sources;
 * image-config.c: manifest/config parsing and the Kubernetes process rules). Not for use outside runtime/image-*. */

#include <jansson.h>
#include <stdint.h>

#include "runtime/digest.h"
#include "runtime/image-store.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define JSON_BLOB_MAX (4U * 1024 * 1024) /* manifests, indexes and configs are small; refuse absurd ones */
/* Entries in an image config's Env. Neither the image spec nor containerd sets a limit (JSON_BLOB_MAX bounds it at
 * ~800k); real images carry tens. Far above them, and what execve() can still take as strings of a few bytes. */
#define IMAGE_ENV_MAX 32768U

struct ImageStore {
        char *dir; /* realpath()ed: layer extraction relies on it having no symlinks */
        char *blobs;
        char *layers;
        char *tmp;
        char *users;
        char *used; /* used/<id hex>: mtime = the image's last recorded use (image_store_touch()) */
        char *index_path;
        char *lock_path;
};

typedef struct Descriptor {
        char *media_type;
        char hex[SHA256_HEX_LEN + 1];
        uint64_t size;
} Descriptor;

typedef struct Manifest {
        Descriptor config;
        Descriptor *layers;
        size_t n_layers;
} Manifest;

typedef struct ImageConfig {
        char **entrypoint, **cmd, **env;
        char *working_dir, *user, *stop_signal;
        char **diff_ids; /* hex only */
        size_t n_diff_ids;
} ImageConfig;

void manifest_done(Manifest *m);
/* Validates an image manifest (image-spec manifest.md; Docker schema 2 is accepted too). what names the blob. */
int manifest_parse(const json_t *j, const char *what, Manifest *ret, ErrorBuf *e);
int descriptor_parse(const json_t *j, const char *path, Descriptor *ret, ErrorBuf *e);
void image_config_done(ImageConfig *c);
int image_config_parse(const json_t *j, const char *what, ImageConfig *ret, ErrorBuf *e);
/* Fills the process fields of info from the config (taking ownership of its strings). */
int image_info_take_config(ImageInfo *info, ImageConfig *c);

/* Store internals used by the importer. */
int store_lock(ImageStore *s, int *ret_fd);
int store_blob_path(const ImageStore *s, const char *hex, char **ret);
int store_layer_path(const ImageStore *s, const char *hex, char **ret);
int store_index_load(ImageStore *s, json_t **ret, ErrorBuf *e);
int store_index_save(ImageStore *s, json_t *index);
int store_gc_locked(ImageStore *s);
int store_image_info(ImageStore *s, const char *id, const json_t *entry, ImageInfo **ret, ErrorBuf *e);
/* Reads a JSON blob (manifest/config) from path and parses it; errors name `what`. */
int read_json_blob(const char *path, const char *what, json_t **ret, ErrorBuf *e);
