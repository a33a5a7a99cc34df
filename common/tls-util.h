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

#include <stdint.h>

#include "common/macro.h"

/* host: a DNS name or an IP literal (required); ips: NULL-terminated list of IP literals, or NULL. On success the
 * caller owns both PEM strings (certificate, PKCS#8 private key). -EINVAL for a bad host or IP, -ENOMEM, -EIO when
 * OpenSSL fails otherwise. */
int tls_self_signed_generate(const char *host, char *const *ips, char **ret_cert_pem, char **ret_key_pem);

/* ---- keys, certificate signing requests and certificates (the kubelet's TLS bootstrap, agent/bootstrap.h) ---- */

/* A new EC P-256 private key, PKCS#8 PEM; the caller owns it. -EIO when OpenSSL fails, -ENOMEM. */
int tls_key_generate(char **ret_key_pem);

/* A PKCS#10 request (PEM "CERTIFICATE REQUEST") signed with key_pem (any PEM private key): subject O=<each of orgs>,
 * CN=cn; a subjectAltName extension when dns_names or ips (NULL-terminated lists, may be NULL) name any. Like Go's
 * x509.CreateCertificateRequest as client-go's csr.GenerateCSR uses it: no other extension (key usages are asked
 * for in the CertificateSigningRequest object, not in the request). -EINVAL for a bad key, an empty cn or an IP that
 * is not a literal. */
int tls_csr_generate(const char *key_pem, const char *cn, char *const *orgs, char *const *dns_names, char *const *ips,
                     char **ret_csr_pem);

/* The validity of the first certificate in cert_pem, in seconds since the epoch. -EINVAL when there is none. */
int tls_cert_validity(const char *cert_pem, int64_t *ret_not_before, int64_t *ret_not_after);

/* 0 when key_pem is the private key of the first certificate in cert_pem; -EKEYREJECTED when it is another key,
 * -EINVAL when either does not parse. */
int tls_cert_check_key(const char *cert_pem, const char *key_pem);
