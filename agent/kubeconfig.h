/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* kubeconfig files (clientcmd's v1 Config), read the way client-go reads them for one context:
 * - clusters / users / contexts are lists of {name, cluster|user|context}; current-context picks the context (or
 *   the caller's override, like --context), which names a cluster and optionally a user (no user = anonymous);
 * - cluster: server (required), certificate-authority (file) or certificate-authority-data (base64 PEM; wins over
 *   the file, as in client-go), insecure-skip-tls-verify, tls-server-name;
 * - user: client-certificate / client-key (files) or -data (base64 PEM, wins over the file), token, tokenFile;
 *   exec and auth-provider plugins are refused with a clear message (nodelet runs no credential plugins);
 * - relative file paths are relative to the kubeconfig's directory (clientcmd's ResolvePaths);
 * - unknown fields are ignored (client-go decodes kubeconfigs leniently; preferences, extensions, ...).
 * Errors name the file, the line (when the field has one) and the field:
 *     /etc/nodelet/kubeconfig:12: users[0].user.client-certificate-data: invalid base64
 *
 * The bearer token: when tokenFile is set its content wins over token (client-go's refreshing token source), and
 * the file is re-read whenever it changes (inode, size or mtime), so a rotated projected token is picked up by the
 * next request without a restart. */

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/macro.h"

typedef struct Kubeconfig {
        char *path;       /* the file read, as given; "" when parsed from memory without a name */
        char *context;    /* the context used */
        char *cluster;    /* its cluster's name */
        char *user;       /* its user's name; "" when the context has none */
        char *namespace_; /* the context's namespace; "" when none */

        char *server;  /* "https://host:port" without a trailing slash */
        char *ca_file; /* absolute; NULL when none (or when ca_data came inline) */
        char *ca_data; /* PEM, decoded from certificate-authority-data; NULL when none */
        size_t ca_data_size;
        bool insecure_skip_tls_verify;
        char *tls_server_name; /* NULL when none */

        char *client_cert_file, *client_key_file; /* absolute; NULL when none */
        char *client_cert_data, *client_key_data; /* PEM from the -data fields; NULL when none */
        size_t client_cert_data_size, client_key_data_size;
        char *token;      /* the static token; NULL when none */
        char *token_file; /* absolute; NULL when none */

        /* The token file's last content and identity (kubeconfig_token()). */
        char *file_token;
        dev_t token_dev;
        ino_t token_ino;
        off_t token_size;
        int64_t token_mtime_nsec;
} Kubeconfig;

/* Parses a kubeconfig in memory. path names the file for messages and is the base of relative paths (its
 * directory; the current directory when path has none). context: use this context instead of current-context
 * (NULL = current-context). Returns 0 and a new Kubeconfig, or -EINVAL with the message in e (-ENOMEM,
 * -EOPNOTSUPP for exec/auth-provider users). */
int kubeconfig_parse(const char *text, size_t size, const char *path, const char *context, Kubeconfig **ret,
                     ErrorBuf *e);
/* Reads and parses the file; read errors are returned as such, with the path in e. */
int kubeconfig_load(const char *path, const char *context, Kubeconfig **ret, ErrorBuf *e);
Kubeconfig *kubeconfig_free(Kubeconfig *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(Kubeconfig *, kubeconfig_free)

/* The bearer token for the next request: the token file's content (re-read when the file changed; whitespace
 * around it dropped), else the static token. *ret is NULL when the user has no token; it points into k and stays
 * valid until the next call. When the token file cannot be read the last content read is used (client-go keeps
 * its cached token too) and, if there never was one, the error is returned with the path in e. */
int kubeconfig_token(Kubeconfig *k, const char **ret, ErrorBuf *e);

/* Writes a kubeconfig with one cluster ("default-cluster": server, and ca_data as certificate-authority-data when
 * not NULL), one user ("default-auth": client-certificate and client-key naming cert_path and key_path, as the
 * kubelet's TLS bootstrap writes them) and one context ("default-context") that is current. Written atomically,
 * mode 0600. */
int kubeconfig_write(const char *path, const char *server, const char *ca_data, const char *cert_path,
                     const char *key_path);

/* Base64 (standard alphabet, padding optional, whitespace ignored) as the -data fields use it; the result is
 * NUL-terminated (not counted in *ret_size). -EINVAL on bad input. Shared with the tests. */
int kubeconfig_base64_decode(const char *s, char **ret, size_t *ret_size);
