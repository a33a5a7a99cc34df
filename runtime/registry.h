/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Pulling images from registries (OCI distribution-spec v2: what docker, containerd and podman speak).
 *
 * A pull runs on an sd-event loop through CurlGlue (common/curl-glue.h): the /v2/ ping, authentication (anonymous,
 * HTTP basic, or the bearer-token flow from WWW-Authenticate: realm, service, scope), the manifest (an OCI index or
 * Docker manifest list first selects one platform), the config, then the layers, a few at a time. Each blob streams
 * into a file under <images>/partial/ while its sha256 is computed; nothing is visible under its digest in blobs/
 * before it is verified. Verified layers are unpacked on a WorkPool thread while the others still download, and the
 * image is committed into the store (blobs, layers, index) at the end under the store lock; a failure stores
 * nothing. An interrupted layer download is kept (partial/<hex>.part) and resumed with a Range request by the next
 * pull; abandoned partial files are removed after PULL_PARTIAL_MAX_AGE_SEC. Layers whose blob and unpacked tree are
 * already in the store are not downloaded.
 *
 * Plain HTTP is used only for registries on loopback (127.0.0.0/8, ::1, localhost) and for the ones named in
 * PullOptions.insecure_registries, and then only when HTTPS fails, like docker's and containerd's fallback; and for
 * the hosts a hosts.toml names with http:// (below).
 *
 * Mirrors: PullOptions.registry_config_dir is containerd's hosts directory (<dir>/<host[:port]>/hosts.toml, else
 * <dir>/_default/hosts.toml). Its [host."…"] entries are tried in file order, then the upstream (`server`, else the
 * registry itself). A host that fails (unreachable, an HTTP error, a bad answer: anything but a local problem such as
 * a full disk) hands the pull to the next one; the progress callback gets a "fallback" event with the reason. A pull
 * by tag uses only hosts with the "resolve" capability, every pull only hosts with "pull". Credentials: the
 * upstream gets username/password, else the auth_json entry for the image's registry, else node_auth_json's; a
 * mirror gets the auth_json, else node_auth_json, entry for the mirror's own host (never the image registry's).
 *
 * Layers shared by pulls of different images (in this process or in others, e.g. one `nodeletctl images pull` per
 * image) are downloaded once: the download holds an flock() on partial/<hex>.lock; another pull needing that blob
 * polls the lock (without blocking the loop) and, once it is free, takes the verified blob the first one left in
 * partial/<hex>.verified (or the store's copy) instead of downloading it again.
 *
 * Every failure is reported in an error message naming the image and what was wrong: the HTTP status with the
 * registry's own `errors[0].message`, a digest or size mismatch, a media type that is not a manifest (schema 1, HTML
 * pages), a body too big. Transfers end when no byte arrived for PullOptions.stall_timeout_sec. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "common/curl-glue.h"
#include "common/error.h"
#include "common/event-util.h"
#include "runtime/image-store.h"

/* Like containerd (remotes/docker: manifests are read whole into memory): manifests and indexes of at most 4 MiB.
 * Image configs share the store's JSON_BLOB_MAX (4 MiB). See docs/limits.md. */
#define PULL_MANIFEST_MAX (4U * 1024 * 1024)
/* A registry's error body is read to show its message; anything longer is cut. */
#define PULL_ERROR_BODY_MAX (64U * 1024)
#define PULL_DEFAULT_CONCURRENCY 3
#define PULL_DEFAULT_STALL_TIMEOUT_SEC 60
/* A partial download no pull has touched for this long is garbage. */
#define PULL_PARTIAL_MAX_AGE_SEC (24 * 3600)

typedef struct PullProgress {
        uint64_t bytes_done;  /* layer bytes downloaded by this pull (resumed prefixes count as done) */
        uint64_t bytes_total; /* sum of the sizes of the layers this pull downloads */
        unsigned layers_total;
        unsigned layers_skipped; /* already in the store */
        unsigned layers_done;    /* downloaded, verified and unpacked */
        const char *event;       /* "manifest", "layer", "skipped", "bytes", "commit", "fallback": what happened */
        const char *layer;       /* "sha256:<hex>" for "layer" and "skipped" */
        const char *message;     /* "fallback": which host failed, why, and which one is next */
} PullProgress;

typedef void (*pull_progress_fn)(const PullProgress *p, void *userdata);
/* r < 0: failure, message names the image and the problem. r >= 0: info is the pulled image (borrowed: copy what
 * is needed). Runs on the loop. */
typedef void (*pull_done_fn)(int r, const ImageInfo *info, const char *message, void *userdata);

typedef struct PullOptions {
        const char *ref;      /* image reference, normalized like image_store_get() does */
        const char *platform; /* "os/arch[/variant]"; NULL: linux and the host's architecture */
        /* Credentials: username/password win; else auth_json, a docker config.json ({"auths": {...}}) or the older
         * .dockercfg map ({"host": {...}}), as kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg Secrets
         * hold them; entries carry "auth" (base64 "user:pass") or "username" and "password". */
        const char *username, *password;
        const char *auth_json;
        /* Node-level credentials (the kubelet's keyring: <root-dir>/config.json, ~/.docker/config.json), same
         * formats as auth_json, used for a registry auth_json has no entry for. */
        const char *node_auth_json;
        const char *registry_config_dir; /* containerd's hosts directory (…/certs.d), or NULL for none */
        char **insecure_registries;      /* "host[:port]" allowed over plain HTTP; NULL-terminated, may be NULL */
        bool tls_verify_off;             /* --tls-verify=false: accept any server certificate */
        const char *ca_file;             /* extra CA bundle for the registry's certificate, or NULL */
        unsigned concurrency;            /* layer downloads at once; 0 = PULL_DEFAULT_CONCURRENCY */
        unsigned stall_timeout_sec;      /* 0 = PULL_DEFAULT_STALL_TIMEOUT_SEC */
        pull_progress_fn progress;       /* optional; only the first caller of a coalesced pull gets progress */
        void *progress_userdata;
} PullOptions;

/* The pulls of one process: coalesces concurrent pulls of the same reference (a second caller attaches to the pull
 * in flight and gets the same result) and owns the WorkPool (two threads) that hashes resumed prefixes, unpacks
 * layers and commits images. All of it runs on e. */
typedef struct ImagePuller ImagePuller;
typedef struct ImagePull ImagePull;

/* s, g and e must outlive the puller. Removes partial downloads and staging left behind by pulls that are gone. */
int image_puller_new(ImageStore *s, CurlGlue *g, sd_event *e, ImagePuller **ret);
/* Cancels every pull still running (waiting for a layer being unpacked); their done() callbacks are not called. */
ImagePuller *image_puller_free(ImagePuller *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImagePuller *, image_puller_free)

/* Starts (or attaches to) the pull of o->ref; o and its strings are copied. done() runs exactly once on the loop,
 * unless the caller cancels first. ret (optional) is a handle for image_pull_cancel(), valid until done() runs.
 * Fails synchronously (-EINVAL with e filled) only for a reference that does not parse. */
int image_pull_async(ImagePuller *p, const PullOptions *o, pull_done_fn done, void *userdata, ImagePull **ret,
                     ErrorBuf *e);
/* Detaches one caller: its done() is not called. The transfers stop when no caller is left. */
void image_pull_cancel(ImagePull *h);

/* Blocking wrapper for nodeletctl: its own loop, CurlGlue and WorkPool. ret (optional) gets the image. */
int image_pull(ImageStore *s, const PullOptions *o, ImageInfo **ret, ErrorBuf *e);

/* Parses "os/arch[/variant]" (e.g. "linux/arm64/v8"); -EINVAL with a message otherwise. Exposed for tests. */
int pull_platform_parse(const char *s, char **ret_os, char **ret_arch, char **ret_variant, ErrorBuf *e);
/* Looks up the credentials for host/path ("registry.example.com:5000", "team/app") in a docker config.json or
 * .dockercfg text. 0 and NULLs when there is no entry; -EINVAL with a message for a malformed file. */
int pull_auth_lookup(const char *auth_json, const char *host, const char *path, char **ret_user, char **ret_pass,
                     ErrorBuf *e);

/* One place to pull from, read from a hosts.toml (see the top of this file). */
typedef struct RegistryHost {
        char *url;          /* "https://mirror.example.com:5000[/path]", no trailing slash */
        char *api;          /* where the /v2 API lives: url + "/v2", or url itself with override_path = true */
        char *host;         /* "mirror.example.com:5000": the credentials of a mirror are looked up by it */
        char *ca_file;      /* `ca`, absolute (relative names are relative to the hosts.toml), or NULL */
        bool plain_http;    /* an http:// URL: no TLS at all */
        bool skip_verify;   /* `skip_verify = true` */
        bool pull, resolve; /* `capabilities` (default: both) */
        bool upstream;      /* the last entry: `server`, or https://<registry> when the file names none */
} RegistryHost;

typedef struct RegistryHosts {
        RegistryHost *hosts; /* mirrors in file order, the upstream last: n >= 1 */
        size_t n;
        char *source; /* the hosts.toml read, or NULL when there was none */
} RegistryHosts;

/* Reads <dir>/<registry>/hosts.toml, else <dir>/_default/hosts.toml; no file (or dir NULL) gives just the upstream
 * https://<default_server>. -EINVAL with "<file>:<line>: …" for a file it cannot read. */
int registry_hosts_load(const char *dir, const char *registry, const char *default_server, RegistryHosts *ret,
                        ErrorBuf *e);
/* The same for hosts.toml text; path names it in messages and anchors relative `ca` names. */
int registry_hosts_parse(const char *text, size_t size, const char *path, const char *default_server,
                         RegistryHosts *ret, ErrorBuf *e);
void registry_hosts_done(RegistryHosts *h);
