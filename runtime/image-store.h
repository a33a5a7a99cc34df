/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The image store: the contract between the image side of runtime/ and its users (container engine, nodeletctl,
 * the agent). docs/runtime-images.md describes the on-disk layout.
 *
 * Layout under images_dir (default <root-dir>/images):
 *   blobs/sha256/<hex>     content-addressed blobs (manifests, configs, layer tarballs), sha256-verified on write
 *   layers/<diffid-hex>/   each layer unpacked once (overlayfs whiteouts), shared by every image and container
 *   index.json             images by id (config digest) with their manifest digest and normalized references
 *   users/<id-hex>/<cid>   one empty file per container using the image: such an image cannot be removed
 *   used/<id-hex>          empty; its mtime is the image's last use (ImageInfo.last_used_usec)
 *   .lock                  flock() taken by every writer (import, remove, user records, gc)
 *   tmp/                   staging; anything here is garbage after a crash, swept by the next import or removal
 *
 * Thread safety: an ImageStore holds only immutable paths; all state is on disk behind the lock file, so the same
 * store may be used concurrently from several threads (e.g. WorkPool jobs) and processes (nodeletctl). Every
 * function is synchronous and may block (image_store_import unpacks layers): the daemon calls it on a WorkPool
 * thread (common/event-util.h).
 *
 * Errors: negative errno; when an ErrorBuf is passed it names the object and field (e.g. "manifest sha256:ab…:
 * layers[1].mediaType: unsupported media type 'x'"). A failed import leaves the store as it was. */

#include <stdint.h>

#include "common/error.h"
#include "common/macro.h"

typedef struct ImageStore ImageStore;

/* Opens (creating the layout if missing) the store at images_dir. */
int image_store_open(const char *images_dir, ImageStore **ret);
ImageStore *image_store_free(ImageStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageStore *, image_store_free)
const char *image_store_path(const ImageStore *s);

/* One image as the engine needs it. Strings are owned by the struct; strv fields are NULL-terminated and never NULL
 * (possibly empty); working_dir, user and stop_signal are NULL when the image config does not set them. */
typedef struct ImageInfo {
        char *id;              /* "sha256:<config digest hex>" (like containerd/CRI image ids) */
        char *manifest_digest; /* "sha256:<hex>" of the manifest as stored */
        char **refs;           /* normalized references pointing at this image, e.g. docker.io/library/busybox:latest */
        char **entrypoint;
        char **cmd;
        char **env; /* "NAME=value" */
        char *working_dir;
        char *user;
        char *stop_signal; /* e.g. "SIGTERM", as in the image config */
        /* Absolute paths of unpacked layers, bottom-most first (overlayfs lowerdir is reversed); layers below one
         * with an opaque whiteout at its root (`/.wh..wh..opq`) are hidden by it, and left out. */
        char **layer_dirs;
        uint64_t size; /* config + layer blobs as stored (compressed), like crictl's SIZE column */
        /* CLOCK_REALTIME µs: when the image came into this store (its manifest blob was written), and its last
         * recorded use (image_store_touch(), a container added or removed as a user; never before created_usec).
         * The image garbage collector's firstDetected and lastUsed, kept across restarts. 0 = unknown (an image
         * whose blobs cannot be read). */
        uint64_t created_usec;
        uint64_t last_used_usec;
} ImageInfo;

ImageInfo *image_info_free(ImageInfo *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageInfo *, image_info_free)
void image_info_list_free(ImageInfo **l, size_t n);

/* Imports an OCI image layout directory, an oci-archive tar or a `docker save` tar (either format, plain or
 * compressed). Every image in the source is imported; ret (optional) gets the first. ref_override (optional)
 * replaces the references found in the source; it needs a source with exactly one image. Blobs are verified,
 * layers unpacked and diff_ids checked before the index is updated; on failure nothing is left behind. */
int image_store_import(ImageStore *s, const char *path, const char *ref_override, ImageInfo **ret, ErrorBuf *e);

/* Looks an image up by reference (normalized first: "busybox" finds docker.io/library/busybox:latest; a
 * "name@sha256:<manifest digest>" reference matches the image with that manifest digest), by id ("sha256:<hex>") or
 * by a unique id prefix of at least 4 hex digits (what `nodeletctl images` prints). -ENOENT when not found. */
int image_store_get(ImageStore *s, const char *ref_or_id, ImageInfo **ret, ErrorBuf *e);

/* All images, sorted by first reference (untagged images last). Free with image_info_list_free(). An image whose
 * blobs cannot be read (deleted or corrupted behind the store's back) is listed with id and refs only, size 0 and no
 * layers, so it can be seen and removed; image_store_get() on it fails naming the blob. */
int image_store_list(ImageStore *s, ImageInfo ***ret, size_t *ret_n);

/* Removes an image. A reference removes only that reference, and the image once it has no reference left (like
 * `docker rmi name`); an id removes the image with all its references. -EBUSY when a container uses the image.
 * Blobs and unpacked layers no other image uses are deleted (layers are shared, so this is a reference count). */
int image_store_remove(ImageStore *s, const char *ref_or_id, ErrorBuf *e);

/* Records / clears that container_id uses image_id (the full "sha256:<hex>" id). add is idempotent; remove of a
 * missing record returns 0. While a record exists image_store_remove() returns -EBUSY. Both record a use of the
 * image at the current time (ImageInfo.last_used_usec). */
int image_store_add_user(ImageStore *s, const char *image_id, const char *container_id);
int image_store_remove_user(ImageStore *s, const char *image_id, const char *container_id);
/* 1 when any container uses the image, 0 when none, negative errno on failure. */
int image_store_in_use(ImageStore *s, const char *image_id);

/* Deletes blobs and layers no image references, and leftovers of interrupted imports. */
int image_store_gc(ImageStore *s);

/* Records a use of image_id (full id) at realtime_usec (CLOCK_REALTIME µs; 0 = now): a pull of it, for instance.
 * -ENOENT when the store has no such image. */
int image_store_touch(ImageStore *s, const char *image_id, uint64_t realtime_usec);

/* Like `podman image prune`: removes every image without a reference (untagged, "<none>"), or with all every image,
 * that no container uses (no users/ record), then their blobs and layers no other image needs. ret_removed
 * (optional) gets the removed ids (NULL-terminated, caller frees). Returns how many were removed. */
int image_store_prune(ImageStore *s, bool all, char ***ret_removed, ErrorBuf *e);

/* The process of a container from its image with the Kubernetes rules (containerd CRI's WithProcessArgs, as the
 * kubelet relies on; see "Define a Command and Arguments for a Container"):
 *   - command (non-empty) replaces the image Entrypoint, and then the image Cmd is ignored;
 *   - args (non-empty) replaces the image Cmd; with no command the image Entrypoint is kept;
 *   - $(VAR) in command and args expands from the container env (env); $$ is a literal $; unknown $(VAR) is kept;
 *   - env: a default PATH, then the image Env, then the container env, a later NAME replacing an earlier one in
 *     place (order kept).
 * command, args and env may be NULL. -EINVAL ("no command specified") when the result is empty.
 * Without IMAGE_RESOLVE_EXPAND_VARS, command and args are taken verbatim (docker's `run IMAGE ARGS...`). */
typedef enum ImageResolveFlags {
        IMAGE_RESOLVE_EXPAND_VARS = 1 << 0, /* the kubelet's $(VAR) expansion */
} ImageResolveFlags;
int image_resolve_process(const ImageInfo *img, char **command, char **args, char **env, ImageResolveFlags flags,
                          char ***ret_argv, char ***ret_env, ErrorBuf *e);

/* Normalizes an image reference like the docker/containerd "normalized named" form: docker.io default registry,
 * library/ for single-component Docker Hub names, :latest when neither tag nor digest is given. -EINVAL with a
 * message naming the reference and the problem when it is invalid. */
int reference_normalize(const char *ref, char **ret, ErrorBuf *e);

/* `nodeletctl images import PATH [--ref REF] | pull REF [...] | ls | inspect REF|ID | rm REF|ID... | prune [--all]`
 * (runtime/images-ctl.c); argv[0] is "images". --root-dir DIR (default $NODELET_ROOT_DIR, else /var/lib/nodelet)
 * is accepted anywhere in argv. */
int images_ctl_main(int argc, char *argv[]);
