/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* TLS helpers on OpenSSL.
 *
 * tls_self_signed_generate(): what the kubelet does when it is started without --tls-cert-file: a self-signed
 * serving certificate for `CN=<host>@<unix time>`, valid from one hour ago (clock skew) for one year, with the host
 * as a DNS SAN (or an IP SAN when it is an IP literal) plus one IP SAN per entry of `ips`. The key is EC P-256
 * (cheaper to generate and to handshake with than RSA 2048; every TLS 1.2+ client supports it). The kubelet signs
 * its serving cert with a throw-away CA and ships both; one self-signed leaf is equivalent for clients that skip
 * verification or pin the certificate, which is all a self-signed kubelet cert is good for. */

#include "common/macro.h"

/* host: a DNS name or an IP literal (required); ips: NULL-terminated list of IP literals, or NULL. On success the
 * caller owns both PEM strings (certificate, PKCS#8 private key). -EINVAL for a bad host or IP, -ENOMEM, -EIO when
 * OpenSSL fails otherwise. */
int tls_self_signed_generate(const char *host, char *const *ips, char **ret_cert_pem, char **ret_key_pem);
