/* SPDX-License-Identifier: Apache-2.0 */
#include "common/tls-util.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <time.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free)
static inline void general_names_freep(GENERAL_NAMES **p) {
        if (*p)
                GENERAL_NAMES_free(*p);
}

static bool is_ip_literal(const char *s) {
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int add_ip_name(GENERAL_NAMES *names, const char *ip) {
        GENERAL_NAME *n;
        ASN1_OCTET_STRING *o;

        if (!is_ip_literal(ip))
                return -EINVAL;
        o = a2i_IPADDRESS(ip);
        if (!o)
                return -ENOMEM;
        n = GENERAL_NAME_new();
        if (!n) {
                ASN1_OCTET_STRING_free(o);
                return -ENOMEM;
        }
        GENERAL_NAME_set0_value(n, GEN_IPADD, o);
        if (!sk_GENERAL_NAME_push(names, n)) {
                GENERAL_NAME_free(n);
                return -ENOMEM;
        }
        return 0;
}

static int add_dns_name(GENERAL_NAMES *names, const char *dns) {
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        GENERAL_NAME *n;

        if (!s)
                return -ENOMEM;
        if (!ASN1_STRING_set(s, dns, (int) strlen(dns)) || !(n = GENERAL_NAME_new())) {
                ASN1_IA5STRING_free(s);
                return -ENOMEM;
        }
        GENERAL_NAME_set0_value(n, GEN_DNS, s);
        if (!sk_GENERAL_NAME_push(names, n)) {
                GENERAL_NAME_free(n);
                return -ENOMEM;
        }
        return 0;
}

static int add_ext(X509 *x, int nid, const char *value) {
        X509V3_CTX ctx;
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext || !X509_add_ext(x, ext, -1))
                return -EIO;
        return 0;
}

/* Copies a memory BIO's contents into a NUL-terminated string. */
static int bio_to_string(BIO *b, char **ret) {
        char *data = NULL, *s;
        long n = BIO_get_mem_data(b, &data);

        if (n <= 0 || !data)
                return -EIO;
        s = strndup(data, (size_t) n);
        RET_NULL_ENOMEM(s);
        *ret = s;
        return 0;
}

int tls_self_signed_generate(const char *host, char *const *ips, char **ret_cert_pem, char **ret_key_pem) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(general_names_freep) GENERAL_NAMES *names = NULL;
        _cleanup_(BN_freep) BIGNUM *serial = NULL;
        _cleanup_(BIO_freep) BIO *cert_bio = NULL, *key_bio = NULL;
        _cleanup_free_ char *cert_pem = NULL, *key_pem = NULL;
        char cn[256];
        X509_NAME *name;
        int r;

        if (isempty(host) || strlen(host) > 200)
                return -EINVAL;

        names = sk_GENERAL_NAME_new_null();
        RET_NULL_ENOMEM(names);
        /* Like the kubelet: the host goes in as an IP SAN when it is an address, else as a DNS SAN. */
        r = is_ip_literal(host) ? add_ip_name(names, host) : add_dns_name(names, host);
        if (r < 0)
                return r;
        for (char *const *i = ips; i && *i; i++) {
                r = add_ip_name(names, *i);
                if (r < 0)
                        return r;
        }

        key = EVP_EC_gen("P-256");
        if (!key)
                return -EIO;

        x = X509_new();
        RET_NULL_ENOMEM(x);
        serial = BN_new();
        RET_NULL_ENOMEM(serial);
        /* A random positive 127-bit serial, as RFC 5280 recommends (unique without keeping state). */
        if (!X509_set_version(x, X509_VERSION_3) || !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
                return -EIO;
        if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600))
                return -EIO;

        (void) snprintf(cn, sizeof cn, "%s@%lld", host, (long long) time(NULL));
        name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ||
            !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
                return -EIO;

        if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
            !X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT))
                return -EIO;
        if (X509_sign(x, key, EVP_sha256()) <= 0)
                return -EIO;

        cert_bio = BIO_new(BIO_s_mem());
        key_bio = BIO_new(BIO_s_mem());
        if (!cert_bio || !key_bio)
                return -ENOMEM;
        if (!PEM_write_bio_X509(cert_bio, x) || !PEM_write_bio_PrivateKey(key_bio, key, NULL, NULL, 0, NULL, NULL))
                return -EIO;
        r = bio_to_string(cert_bio, &cert_pem);
        if (r < 0)
                return r;
        r = bio_to_string(key_bio, &key_pem);
        if (r < 0)
                return r;

        *ret_cert_pem = TAKE_PTR(cert_pem);
        *ret_key_pem = TAKE_PTR(key_pem);
        return 0;
}

/* ---- keys, requests, certificates ---- */

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free)

/* The first PEM private key in pem (PKCS#8, SEC1 or PKCS#1; a combined cert+key file works too). */
static int parse_key(const char *pem, EVP_PKEY **ret) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        EVP_PKEY *k;

        if (isempty(pem))
                return -EINVAL;
        b = BIO_new_mem_buf(pem, -1);
        RET_NULL_ENOMEM(b);
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        if (!k) {
                ERR_clear_error(); /* nothing of it is for the next OpenSSL user on this thread */
                return -EINVAL;
        }
        *ret = k;
        return 0;
}

static int parse_cert(const char *pem, X509 **ret) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        X509 *x;

        if (isempty(pem))
                return -EINVAL;
        b = BIO_new_mem_buf(pem, -1);
        RET_NULL_ENOMEM(b);
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!x) {
                ERR_clear_error();
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

int tls_key_generate(char **ret_key_pem) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(BIO_freep) BIO *b = NULL;

        /* P-256 like the kubelet's bootstrap keys (ecdsa.GenerateKey(elliptic.P256())). */
        key = EVP_EC_gen("P-256");
        if (!key)
                return -EIO;
        b = BIO_new(BIO_s_mem());
        RET_NULL_ENOMEM(b);
        if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
                return -EIO;
        return bio_to_string(b, ret_key_pem);
}

int tls_csr_generate(const char *key_pem, const char *cn, char *const *orgs, char *const *dns_names, char *const *ips,
                     char **ret_csr_pem) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(general_names_freep) GENERAL_NAMES *names = NULL;
        _cleanup_(BIO_freep) BIO *b = NULL;
        X509_NAME *name;
        int r;

        if (isempty(cn))
                return -EINVAL;
        r = parse_key(key_pem, &key);
        if (r < 0)
                return r;
        req = X509_REQ_new();
        RET_NULL_ENOMEM(req);
        if (!X509_REQ_set_version(req, X509_REQ_VERSION_1))
                return -EIO;
        name = X509_REQ_get_subject_name(req);
        /* Go's pkix.Name order: O before CN, which is also what the API server's CSR approvers read back. */
        for (char *const *o = orgs; o && *o; o++)
                if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) *o, -1, -1, 0))
                        return -EINVAL;
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0))
                return -EINVAL;

        names = sk_GENERAL_NAME_new_null();
        RET_NULL_ENOMEM(names);
        for (char *const *d = dns_names; d && *d; d++) {
                r = add_dns_name(names, *d);
                if (r < 0)
                        return r;
        }
        for (char *const *i = ips; i && *i; i++) {
                r = add_ip_name(names, *i);
                if (r < 0)
                        return r;
        }
        if (sk_GENERAL_NAME_num(names) > 0) {
                STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
                X509_EXTENSION *ext;

                RET_NULL_ENOMEM(exts);
                ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
                if (!ext || !sk_X509_EXTENSION_push(exts, ext)) {
                        X509_EXTENSION_free(ext);
                        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
                        return -ENOMEM;
                }
                r = X509_REQ_add_extensions(req, exts);
                sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
                if (!r)
                        return -EIO;
        }
        if (!X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
                return -EIO;
        b = BIO_new(BIO_s_mem());
        RET_NULL_ENOMEM(b);
        if (!PEM_write_bio_X509_REQ(b, req))
                return -EIO;
        return bio_to_string(b, ret_csr_pem);
}

int tls_cert_validity(const char *cert_pem, int64_t *ret_not_before, int64_t *ret_not_after) {
        _cleanup_(X509_freep) X509 *x = NULL;
        struct tm nb, na;
        int r = parse_cert(cert_pem, &x);

        if (r < 0)
                return r;
        if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) || !ASN1_TIME_to_tm(X509_get0_notAfter(x), &na))
                return -EINVAL;
        *ret_not_before = (int64_t) timegm(&nb);
        *ret_not_after = (int64_t) timegm(&na);
        return 0;
}

int tls_cert_check_key(const char *cert_pem, const char *key_pem) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r = parse_cert(cert_pem, &x);

        if (r < 0)
                return r;
        r = parse_key(key_pem, &key);
        if (r < 0)
                return r;
        if (X509_check_private_key(x, key) != 1) {
                ERR_clear_error();
                return -EKEYREJECTED;
        }
        return 0;
}
