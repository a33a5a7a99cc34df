/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* TLS bootstrap and certificate rotation: the kubelet's pkg/kubelet/certificate (bootstrap.LoadClientCert and the
 * client-go certificate manager), on the daemon's loop.
 *
 * A CertManager keeps one certificate current, either
 * - the client certificate (CERT_KIND_CLIENT): the node's identity towards the API server, `system:node:<node>` in
 *   `system:nodes`, requested with signerName kubernetes.io/kube-apiserver-client-kubelet and usages
 *   "digital signature" + "client auth" (no "key encipherment": the key is ECDSA P-256), or
 * - the serving certificate (CERT_KIND_SERVING, serverTLSBootstrap) of the kubelet API on :10250, requested with
 *   signerName kubernetes.io/kubelet-serving, usages "digital signature" + "server auth", SANs = the node's host
 *   name and addresses.
 *
 * Where the client certificate comes from at start (cert_manager_start()):
 * 1. with rotation on: the store, <cert-dir>/kubelet-client-current.pem (cert + key), when it is valid;
 * 2. the --kubeconfig's credentials, when the file loads and its client certificate has not expired (a kubeconfig
 *    with a token and no certificate is used as it is: there is nothing to rotate);
 * 3. otherwise, with --bootstrap-kubeconfig: the bootstrap. A key is generated (and kept in
 *    <cert-dir>/kubelet-client.key.tmp while waiting, so a restart asks again with the same key), a
 *    CertificateSigningRequest (certificates.k8s.io/v1, generateName "csr-") is created with the bootstrap
 *    kubeconfig's credentials and watched by name until it is Approved and has status.certificate (Denied or Failed
 *    is an error). The result goes to <cert-dir>/kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem (mode 0600) with the
 *    symlink kubelet-client-current.pem pointing at it, and --kubeconfig is written with the bootstrap kubeconfig's
 *    server and CA and client-certificate/client-key naming kubelet-client-current.pem;
 * 4. with neither: an error ("client certificate ... expired ... and no --bootstrap-kubeconfig") and a retry.
 * Every failure (TLS, 401 from the server, a denied CSR, an unreachable server, a file that cannot be written) is
 * logged once per attempt with what failed and retried with client-go's backoff (2 s doubling to 128 s, jittered);
 * nothing is fatal.
 *
 * Rotation (rotateCertificates for the client certificate; always for the serving certificate): client-go's
 * deadline, notBefore + a random 70–90 % of the certificate's lifetime, then a new key and a new CSR through the
 * ApiClient given with cert_manager_set_api() (the node's own credentials; the bootstrap ones when the current
 * certificate has expired already). The serving certificate is stored as kubelet-server-<ts>.pem and
 * kubelet-server-current.pem.
 *
 * Every new certificate is announced through the ready callback (on the loop); the daemon swaps its ApiClient's
 * credentials (api_client_set_kubeconfig()) or the HTTPS server's certificate. Files are written on the WorkPool:
 * write + fsync + rename, keys 0600. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "agent/apiclient.h"
#include "agent/kubeconfig.h"
#include "common/curl-glue.h"
#include "common/error.h"
#include "common/event-util.h"
#include "common/macro.h"

typedef struct CertManager CertManager;

typedef enum CertKind {
        CERT_KIND_CLIENT,
        CERT_KIND_SERVING,
        _CERT_KIND_MAX,
        _CERT_KIND_INVALID = -EINVAL,
} CertKind;
const char *cert_kind_to_string(CertKind k); /* "client", "server" (the file name part, as the kubelet's) */

#define CERT_SIGNER_CLIENT_KUBELET "kubernetes.io/kube-apiserver-client-kubelet"
#define CERT_SIGNER_KUBELET_SERVING "kubernetes.io/kubelet-serving"

typedef struct CertManagerConfig {
        CertKind kind;
        const char *cert_dir;  /* required */
        const char *node_name; /* required */
        bool rotate;           /* rotate before expiry (the serving certificate always rotates) */
        /* client: */
        const char *kubeconfig;           /* --kubeconfig: read at start, written after a bootstrap */
        const char *bootstrap_kubeconfig; /* NULL or "": none */
        /* serving: SANs besides node_name (which goes in as a DNS name, or an IP when it is one) */
        char **hostnames;
        char **ips;
        /* Back-off of failed attempts; 0: client-go's 2 s doubling up to 128 s (tests use shorter ones). */
        uint64_t retry_initial_usec, retry_max_usec;
} CertManagerConfig;

typedef struct CertManagerCallbacks {
        /* A certificate is current (at start or after a bootstrap or rotation). cert_pem/key_pem: PEM, borrowed
         * for the call (both NULL for a client kubeconfig with a token: nothing to rotate). For the client:
         * kubeconfig (borrowed) carries the credentials to use from now on, --kubeconfig with the certificate as
         * -data (copy it with kubeconfig_with_cert()); NULL when there is no certificate. */
        void (*ready)(CertManager *cm, const char *cert_pem, const char *key_pem, const Kubeconfig *kubeconfig,
                      void *userdata);
} CertManagerCallbacks;

/* Strings in cfg are copied. glue and pool are borrowed (pool may be NULL: files are then written on the loop). */
int cert_manager_new(sd_event *e, CurlGlue *glue, WorkPool *pool, const CertManagerConfig *cfg,
                     const CertManagerCallbacks *cb, void *userdata, CertManager **ret);
CertManager *cert_manager_free(CertManager *cm);
DEFINE_TRIVIAL_CLEANUP_FUNC(CertManager *, cert_manager_free)
/* Looks for a current certificate (see above). Returns 1 when there is one: ready has been called before this
 * returns. 0 when one is being requested (ready follows on the loop). < 0 only for -ENOMEM and bad arguments. */
int cert_manager_start(CertManager *cm);
/* The client to send CSRs with once the node has credentials (borrowed; NULL to forget it). Without one, the
 * client certificate's CSRs go with the bootstrap kubeconfig, and the serving certificate waits. */
void cert_manager_set_api(CertManager *cm, ApiClient *api);
/* Whether a certificate is current; its validity (seconds since the epoch) and the rotation deadline (usec,
 * CLOCK_REALTIME; 0 when it does not rotate). */
bool cert_manager_current(const CertManager *cm, int64_t *ret_not_before, int64_t *ret_not_after,
                          uint64_t *ret_deadline_usec);
/* CSRs created so far (for logs and tests). */
unsigned cert_manager_n_requests(const CertManager *cm);

/* ---- pieces with no I/O, shared with the tests ---- */

/* client-go's rotation deadline: notBefore + (0.7 + 0.2 * random) * (notAfter - notBefore), random in [0, 1); in
 * usec since the epoch. */
uint64_t cert_rotation_deadline_usec(int64_t not_before, int64_t not_after, double random);

/* The CertificateSigningRequest object to create: generateName "csr-", spec.request (base64 of csr_pem), signerName
 * and usages of kind. */
int cert_csr_object(CertKind kind, const char *csr_pem, json_t **ret);

/* What a watched CSR says: 1 with *ret_cert_pem (decoded status.certificate) when it is Approved and issued; 0 while
 * pending (approved but not issued yet included); -EPERM with the condition's reason and message in e when it was
 * Denied or Failed; -EINVAL (e) when status.certificate is not base64 PEM. */
int cert_csr_result(const json_t *csr, char **ret_cert_pem, ErrorBuf *e);

/* Writes the kubeconfig the bootstrap leaves behind: the bootstrap kubeconfig's server and CA (its CA file's content
 * inlined as certificate-authority-data when it names a file), client-certificate/client-key = cert_path. */
int cert_write_kubeconfig(const char *path, const Kubeconfig *bootstrap, const char *cert_path, ErrorBuf *e);

/* A copy of k with the client certificate and key replaced by cert_pem/key_pem as -data (files dropped). */
int kubeconfig_with_cert(const Kubeconfig *k, const char *cert_pem, const char *key_pem, Kubeconfig **ret);
