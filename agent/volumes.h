/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Pod volumes and the per-pod files the runtime bind-mounts into containers, laid out like the kubelet's
 * (<root-dir>/pods/<uid> = pod_dir):
 *
 *   volumes/kubernetes.io~empty-dir/<name>       emptyDir (medium Memory: a tmpfs mounted there)
 *   volumes/kubernetes.io~downward-api/<name>    downwardAPI (tmpfs, atomic writer layout: ..<ts>/, ..data, links)
 *   volumes/kubernetes.io~projected/<name>       projected (same)
 *   volumes/kubernetes.io~configmap|secret/<name> configMap/secret (tmpfs, atomic writer layout)
 *   plugins/kubernetes.io~empty-dir/<name>/ready set up completely (a restart finds it and leaves the content)
 *   volume-subpaths/<volume>/<container>/<index> bind mount of a safely opened subPath
 *   containers/<name>/<restart-key>              termination message files (the caller names them)
 *   etc-hosts, resolv.conf, hostname             pod_files_write()
 *
 * hostPath volumes stay where they are: the host path itself is the bind mount source.
 *
 * Everything here blocks (mounts, directory walks): the daemon runs it on a WorkPool thread. Functions return a
 * negative errno; ErrorBuf (may be NULL) names the volume or volumeMount, and the caller adds the pod/container. */

#include "agent/pod.h"
#include "common/error.h"
#include "runtime/container.h"

/* Creates the pod's volumes below pod_dir (created when missing). Idempotent: called again for a running pod (daemon
 * restart), it finds everything as it was and keeps emptyDir content; a Memory emptyDir whose tmpfs is gone (reboot)
 * is mounted again. Errors name the volume: "volume \"data\": hostPath type check failed: /x is not a directory".
 * configMap/secret volumes, their projections and serviceAccountToken projections take their values from
 * info->api_objects (cluster mode; agent/pod.h describes the tree): items/key/path/mode/defaultMode, binaryData,
 * optional as the kubelet's MakePayload, a missing object is "configmap \"y\" not found" / "secret \"y\" not
 * found", a missing key "configmap references non-existent config key: k"; errors then read like the kubelet's
 * FailedMount ("MountVolume.SetUp failed for volume \"x\" : ..."). Every one of these volumes is a tmpfs (Secrets
 * never touch the disk; nodelet does the same for configMap volumes, where the kubelet uses a plain directory, so
 * that all payload volumes share one code path). Without api_objects (static pods) they need the API server:
 * -ENOTSUP unless optional (then they are empty). */
int pod_volumes_setup(const Pod *p, const char *pod_dir, const PodRuntimeInfo *info, ErrorBuf *e);

/* Rewrites downwardAPI/projected files whose values changed (labels or annotations edited; with info->api_objects
 * also configMap/secret volumes and tokens whose objects changed) with the atomic writer's ..data swap, so a reader
 * sees all old or all new files, and the old timestamp directory is removed. Returns 1 when something changed, 0
 * when not. */
int pod_volumes_refresh(const Pod *p, const char *pod_dir, const PodRuntimeInfo *info, ErrorBuf *e);

/* The host directory of a volume (hostPath: the host path), newly allocated. -ENOENT for an unknown type. */
int pod_volume_path(const Volume *v, const char *pod_dir, char **ret);

/* The container's bind mounts in mount order (parents before children, stable otherwise):
 *  - each volumeMount: readOnly (always for downwardAPI/projected/configMap/secret, like the kubelet), propagation
 *    (Bidirectional only for privileged containers), subPath or subPathExpr ($(VAR) from env, the container's
 *    resolved "K=V" list; an unknown or empty variable is an error like the kubelet's "missing value for X");
 *  - /etc/hosts from <pod_dir>/etc-hosts when it exists (written only when the pod has IPs) and no volumeMount
 *    covers /etc/hosts; /etc/hostname and /etc/resolv.conf likewise (read-only with readOnlyRootFilesystem, like
 *    containerd);
 *  - termination_file (created 0666 when missing, with its parent directories) at c->termination_message_path,
 *    unless either is NULL or empty.
 * A subPath is opened inside its volume with openat2(RESOLVE_BENEATH), so any symlink that leads outside (absolute,
 * or ../ past the volume root) is refused ("volumeMounts[1].subPath \"x\": escapes the volume \"data\""); the open
 * fd is bind-mounted (via /proc/self/fd) onto <pod_dir>/volume-subpaths/<volume>/<container>/<index>, which
 * becomes the source, so a symlink swapped in after the check cannot redirect the mount (CVE-2017-1002101,
 * CVE-2021-25741). A missing subPath is created as a directory with the volume root's mode (kubelet behaviour). A
 * subpath mount left from an earlier start is reused when it is the same file, else replaced.
 * On success the caller owns *ret (bind_mounts_free()). */
int pod_volumes_container_mounts(const Pod *p, const PodContainer *c, const char *pod_dir, char *const *env,
                                 const char *termination_file, BindMount **ret, size_t *ret_n, ErrorBuf *e);
void bind_mounts_free(BindMount *m, size_t n);

/* Unmounts the subpath mounts of one container (it was removed; the kubelet's CleanSubPaths). */
int pod_volumes_container_cleanup(const char *pod_dir, const char *container_name, ErrorBuf *e);

/* Unmounts every mount below pod_dir (tmpfs volumes, subpath binds; deepest first) and removes pod_dir without
 * following symlinks: hostPath content is never reached (a subpath bind of it is unmounted first, and rm_rf()
 * refuses anything still mounted). A missing pod_dir is fine. */
int pod_volumes_teardown(const char *pod_dir, ErrorBuf *e);

/* ---- per-pod files (agent/pod-files.c) ---- */

typedef struct PodDnsSettings {
        char **cluster_dns;           /* --cluster-dns; NULL or empty: ClusterFirst falls back to Default */
        const char *cluster_domain;   /* --cluster-domain, e.g. "cluster.local"; NULL or "" = none */
        const char *host_resolv_conf; /* --resolv-conf; NULL = /etc/resolv.conf; "" = none (kubelet: 127.0.0.1) */
        const char *host_hosts_file;  /* the node's hosts file for hostNetwork pods; NULL = /etc/hosts */
} PodDnsSettings;

/* Writes <pod_dir>/etc-hosts (the kubelet's managed hosts file: localhost and ip6 lines, one line per pod IP with
 * "<ip>\t<hostname>.<subdomain>.<ns>.svc.<domain>\t<hostname>" or "<ip>\t<hostname>", then the hostAliases section;
 * hostNetwork pods get the node's hosts file under a "(host network)" header), removed instead when pod_ips is
 * empty (the kubelet then mounts none); <pod_dir>/resolv.conf from the dnsPolicy and dnsConfig like
 * pkg/kubelet/network/dns and containerd's sandbox file; <pod_dir>/hostname. Files whose content is unchanged are
 * not rewritten (a running container keeps seeing the same inode). */
int pod_files_write(const Pod *p, const char *pod_dir, char *const *pod_ips, const PodDnsSettings *dns, ErrorBuf *e);

/* The pieces, for tests and for the sandbox: the pod's hostname (spec.hostname or the name, cut to 63 characters
 * like the kubelet) and domain ("<subdomain>.<ns>.svc.<cluster-domain>", NULL without subdomain). */
int pod_hostname_and_domain(const Pod *p, const char *cluster_domain, char **ret_hostname, char **ret_domain,
                            ErrorBuf *e);
int pod_hosts_file_content(const Pod *p, char *const *pod_ips, const PodDnsSettings *dns, char **ret, ErrorBuf *e);
int pod_resolv_conf_content(const Pod *p, const PodDnsSettings *dns, char **ret, ErrorBuf *e);

/* The container's termination message: the last 4096 bytes of the file, like the kubelet
 * (MaxContainerTerminationMessageLength). A missing file is an empty message. The 12 KiB per-pod budget is the
 * status code's to apply. */
#define POD_TERMINATION_MESSAGE_MAX 4096
#define POD_TERMINATION_MESSAGES_POD_MAX (12 * 1024)
int pod_termination_message_read(const char *termination_file, char **ret);
