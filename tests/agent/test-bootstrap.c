/* SPDX-License-Identifier: Apache-2.0 */
/* TLS bootstrap pieces (agent/bootstrap.h, common/tls-util.h): the key and the CSR parsed back with OpenSSL (subject,
 * SANs, signature, key type), the CertificateSigningRequest object (signer, usages), the result of a watched CSR
 * (pending, issued, denied), client-go's rotation deadline for a range of lifetimes, the kubeconfig the bootstrap
 * writes loading back with kubeconfig_load(), and a CertManager starting from the certificates already on disk. */

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/bootstrap.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/tls-util.h"
#include "tests/lib/testlib.h"

static char *tmpdir;

static void setup(void) {
        tmpdir = test_tmpdir_new("test-bootstrap");
        ck_assert_ptr_nonnull(tmpdir);
}

static void teardown(void) {
        test_tmpdir_remove(tmpdir);
        tmpdir = NULL;
}

static X509_REQ *parse_req(const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        ck_assert_ptr_nonnull(b);
        X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        BIO_free(b);
        ck_assert_ptr_nonnull(req);
        return req;
}

/* The n-th value of a subject attribute, "" when absent. */
static const char *name_entry(X509_NAME *name, int nid, int n, char *buf, size_t size) {
        int idx = -1;
        for (int i = 0; i <= n; i++) {
                idx = X509_NAME_get_index_by_NID(name, nid, idx);
                if (idx < 0)
                        return "";
        }
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
        snprintf(buf, size, "%.*s", ASN1_STRING_length(s), (const char *) ASN1_STRING_get0_data(s));
        return buf;
}

START_TEST(test_key_and_client_csr) {
        _cleanup_free_ char *key = NULL, *csr = NULL;
        char buf[256];
        char *orgs[] = {(char *) "system:nodes", NULL};

        ck_assert_int_eq(tls_key_generate(&key), 0);
        ck_assert_ptr_nonnull(strstr(key, "-----BEGIN PRIVATE KEY-----"));
        ck_assert_int_eq(tls_csr_generate(key, "system:node:worker-1", orgs, NULL, NULL, &csr), 0);

        X509_REQ *req = parse_req(csr);
        X509_NAME *subject = X509_REQ_get_subject_name(req);
        ck_assert_str_eq(name_entry(subject, NID_commonName, 0, buf, sizeof buf), "system:node:worker-1");
        ck_assert_str_eq(name_entry(subject, NID_organizationName, 0, buf, sizeof buf), "system:nodes");
        ck_assert_str_eq(name_entry(subject, NID_organizationName, 1, buf, sizeof buf), "");
        /* Signed with the key it carries, and that key is ECDSA P-256. */
        EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
        ck_assert_int_eq(X509_REQ_verify(req, pub), 1);
        ck_assert_int_eq(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
        char curve[64] = "";
        size_t len = 0;
        ck_assert_int_eq(EVP_PKEY_get_utf8_string_param(pub, "group", curve, sizeof curve, &len), 1);
        ck_assert_str_eq(curve, "prime256v1");
        /* A client CSR has no SANs: nothing but the subject identifies the node. */
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        ck_assert_int_eq(exts ? sk_X509_EXTENSION_num(exts) : 0, 0);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        X509_REQ_free(req);

        /* Each key is new. */
        _cleanup_free_ char *key2 = NULL;
        ck_assert_int_eq(tls_key_generate(&key2), 0);
        ck_assert_str_ne(key, key2);
}
END_TEST

START_TEST(test_serving_csr_sans) {
        _cleanup_free_ char *key = NULL, *csr = NULL;
        char *orgs[] = {(char *) "system:nodes", NULL};
        char *dns[] = {(char *) "worker-1", (char *) "worker-1.example.test", NULL};
        char *ips[] = {(char *) "192.0.2.10", (char *) "2001:db8::10", NULL};
        char *bad_ips[] = {(char *) "not-an-ip", NULL};

        ck_assert_int_eq(tls_key_generate(&key), 0);
        ck_assert_int_eq(tls_csr_generate(key, "system:node:worker-1", orgs, dns, ips, &csr), 0);
        X509_REQ *req = parse_req(csr);
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        ck_assert_ptr_nonnull(exts);
        GENERAL_NAMES *names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
        ck_assert_ptr_nonnull(names);
        ck_assert_int_eq(sk_GENERAL_NAME_num(names), 4);
        int n_dns = 0, n_ip = 0;
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
                GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
                if (g->type == GEN_DNS) {
                        const char *s = (const char *) ASN1_STRING_get0_data(g->d.dNSName);
                        ck_assert(streq(s, "worker-1") || streq(s, "worker-1.example.test"));
                        n_dns++;
                } else if (g->type == GEN_IPADD) {
                        int l = ASN1_STRING_length(g->d.iPAddress);
                        ck_assert(l == 4 || l == 16);
                        if (l == 4)
                                ck_assert_mem_eq(ASN1_STRING_get0_data(g->d.iPAddress), "\xc0\x00\x02\x0a", 4);
                        n_ip++;
                }
        }
        ck_assert_int_eq(n_dns, 2);
        ck_assert_int_eq(n_ip, 2);
        GENERAL_NAMES_free(names);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        X509_REQ_free(req);

        _cleanup_free_ char *c2 = NULL;
        ck_assert_int_eq(tls_csr_generate(key, "x", NULL, NULL, bad_ips, &c2), -EINVAL);
        ck_assert_int_eq(tls_csr_generate("not a key", "x", NULL, NULL, NULL, &c2), -EINVAL);
        ck_assert_int_eq(tls_csr_generate(key, "", NULL, NULL, NULL, &c2), -EINVAL);
}
END_TEST

START_TEST(test_csr_object) {
        _cleanup_free_ char *key = NULL, *csr = NULL, *decoded = NULL;
        _cleanup_json_ json_t *client = NULL, *serving = NULL;
        size_t size;

        ck_assert_int_eq(tls_key_generate(&key), 0);
        ck_assert_int_eq(tls_csr_generate(key, "system:node:n", NULL, NULL, NULL, &csr), 0);
        ck_assert_int_eq(cert_csr_object(CERT_KIND_CLIENT, csr, &client), 0);
        ck_assert_str_eq(json_string_value(json_object_get(client, "apiVersion")), "certificates.k8s.io/v1");
        ck_assert_str_eq(json_string_value(json_object_get(client, "kind")), "CertificateSigningRequest");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(client, "metadata"), "generateName")),
                         "csr-");
        json_t *spec = json_object_get(client, "spec");
        ck_assert_str_eq(json_string_value(json_object_get(spec, "signerName")),
                         "kubernetes.io/kube-apiserver-client-kubelet");
        json_t *usages = json_object_get(spec, "usages");
        ck_assert_int_eq(json_array_size(usages), 2);
        ck_assert_str_eq(json_string_value(json_array_get(usages, 0)), "digital signature");
        ck_assert_str_eq(json_string_value(json_array_get(usages, 1)), "client auth");
        ck_assert_int_eq(kubeconfig_base64_decode(json_string_value(json_object_get(spec, "request")), &decoded, &size),
                         0);
        ck_assert_str_eq(decoded, csr);

        ck_assert_int_eq(cert_csr_object(CERT_KIND_SERVING, csr, &serving), 0);
        spec = json_object_get(serving, "spec");
        ck_assert_str_eq(json_string_value(json_object_get(spec, "signerName")), "kubernetes.io/kubelet-serving");
        ck_assert_str_eq(json_string_value(json_array_get(json_object_get(spec, "usages"), 1)), "server auth");
        ck_assert_str_eq(cert_kind_to_string(CERT_KIND_SERVING), "server");
}
END_TEST

START_TEST(test_csr_result) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *b64 = NULL, *got = NULL;
        ErrorBuf e = {};

        ck_assert_int_eq(tls_self_signed_generate("n", NULL, &cert, &key), 0);
        json_t *pending = json_pack("{s:{}}", "status");
        ck_assert_int_eq(cert_csr_result(pending, &got, &e), 0);
        json_decref(pending);

        /* Approved but not issued yet: still pending. */
        json_t *approved =
                json_pack("{s:{s:[{s:s, s:s}]}}", "status", "conditions", "type", "Approved", "status", "True");
        ck_assert_int_eq(cert_csr_result(approved, &got, &e), 0);
        /* Issued. */
        BIO *b64bio = BIO_new(BIO_f_base64()), *mem = BIO_new(BIO_s_mem());
        BIO_set_flags(b64bio, BIO_FLAGS_BASE64_NO_NL);
        BIO_push(b64bio, mem);
        ck_assert_int_gt(BIO_write(b64bio, cert, (int) strlen(cert)), 0);
        ck_assert_int_eq(BIO_flush(b64bio), 1);
        char *data = NULL;
        long n = BIO_get_mem_data(mem, &data);
        b64 = strndup(data, (size_t) n);
        BIO_free_all(b64bio);
        json_object_set_new(json_object_get(approved, "status"), "certificate", json_string(b64));
        ck_assert_int_eq(cert_csr_result(approved, &got, &e), 1);
        ck_assert_str_eq(got, cert);
        /* Garbage in status.certificate. */
        json_object_set_new(json_object_get(approved, "status"), "certificate", json_string("!!!"));
        _cleanup_free_ char *got2 = NULL;
        ck_assert_int_eq(cert_csr_result(approved, &got2, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "status.certificate"));
        json_decref(approved);

        /* Denied, with the approver's reason and message. */
        error_clear(&e);
        json_t *denied = json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type", "Denied", "status",
                                   "True", "reason", "NotMyNode", "message", "go away");
        ck_assert_int_eq(cert_csr_result(denied, &got2, &e), -EPERM);
        ck_assert_str_eq(e.msg, "denied: NotMyNode: go away");
        json_decref(denied);
        error_clear(&e);
        json_t *failed = json_pack("{s:{s:[{s:s, s:s}]}}", "status", "conditions", "type", "Failed", "reason", "X");
        ck_assert_int_eq(cert_csr_result(failed, &got2, &e), -EPERM);
        ck_assert_ptr_nonnull(strstr(e.msg, "failed"));
        json_decref(failed);
}
END_TEST

static const int64_t lifetimes[] = {20, 320, 3600, 86400, 365 * 86400, 10 * 365 * 86400LL};

START_TEST(test_rotation_deadline) {
        int64_t nb = 1700000000, life = lifetimes[_i];
        static const double randoms[] = {0.0, 0.25, 0.5, 0.75, 0.999999};
        uint64_t lo = (uint64_t) ((double) nb * 1e6 + 0.7 * (double) life * 1e6) - 1;
        uint64_t hi = (uint64_t) ((double) nb * 1e6 + 0.9 * (double) life * 1e6) + 1;
        uint64_t prev = 0;

        for (size_t i = 0; i < ELEMENTSOF(randoms); i++) {
                uint64_t d = cert_rotation_deadline_usec(nb, nb + life, randoms[i]);
                ck_assert_msg(d >= lo && d <= hi, "lifetime %lld random %f: %llu not in [%llu, %llu]", (long long) life,
                              randoms[i], (unsigned long long) d, (unsigned long long) lo, (unsigned long long) hi);
                ck_assert_uint_ge(d, prev); /* more random, later */
                prev = d;
        }
        /* The ends of the window. */
        ck_assert_uint_le(cert_rotation_deadline_usec(nb, nb + life, 0.0), lo + 2);
        ck_assert_uint_ge(cert_rotation_deadline_usec(nb, nb + life, 0.999999),
                          (uint64_t) ((double) nb * 1e6 + 0.89 * (double) life * 1e6));
}
END_TEST

START_TEST(test_validity_and_key_check) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *other = NULL;
        int64_t nb = 0, na = 0, now = (int64_t) time(NULL);

        ck_assert_int_eq(tls_self_signed_generate("n", NULL, &cert, &key), 0);
        ck_assert_int_eq(tls_cert_validity(cert, &nb, &na), 0);
        /* tls_self_signed_generate(): from an hour ago for a year */
        ck_assert_int_le(llabs(nb - (now - 3600)), 5);
        ck_assert_int_le(llabs(na - (now + 365 * 86400)), 5);
        ck_assert_int_eq(tls_cert_check_key(cert, key), 0);
        ck_assert_int_eq(tls_key_generate(&other), 0);
        ck_assert_int_eq(tls_cert_check_key(cert, other), -EKEYREJECTED);
        ck_assert_int_eq(tls_cert_check_key("junk", key), -EINVAL);
        ck_assert_int_eq(tls_cert_validity("junk", &nb, &na), -EINVAL);
        /* The combined file (cert then key), as kubelet-client-current.pem holds them. */
        _cleanup_free_ char *both = NULL;
        ck_assert_int_ge(asprintf(&both, "%s%s", cert, key), 0);
        ck_assert_int_eq(tls_cert_check_key(both, both), 0);
}
END_TEST

static char *write_tmp(const char *name, const char *text) {
        char *path = NULL;
        ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir, name), 0);
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0600, false), 0);
        return path;
}

START_TEST(test_kubeconfig_written) {
        _cleanup_free_ char *ca = NULL, *ca_key = NULL, *ca_path = NULL, *bs_path = NULL, *bs_text = NULL, *out = NULL,
                            *cert_path = NULL;
        _cleanup_(kubeconfig_freep) Kubeconfig *bs = NULL, *k = NULL;
        ErrorBuf e = {};

        ck_assert_int_eq(tls_self_signed_generate("ca", NULL, &ca, &ca_key), 0);
        ca_path = write_tmp("ca.crt", ca);
        ck_assert_int_ge(asprintf(&bs_text,
                                  "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                                  "    server: https://192.0.2.1:6443\n    certificate-authority: %s\n"
                                  "users:\n- name: u\n  user:\n    token: abcdef.0123456789abcdef\n"
                                  "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                                  "current-context: x\n",
                                  ca_path),
                         0);
        bs_path = write_tmp("bootstrap.conf", bs_text);
        ck_assert_int_eq(kubeconfig_load(bs_path, NULL, &bs, &e), 0);
        ck_assert_int_ge(asprintf(&out, "%s/sub/kubelet.conf", tmpdir), 0);
        ck_assert_int_ge(asprintf(&cert_path, "%s/pki/kubelet-client-current.pem", tmpdir), 0);
        ck_assert_int_eq(cert_write_kubeconfig(out, bs, cert_path, &e), 0);

        /* It loads back: the bootstrap kubeconfig's server, its CA inlined, the certificate and key in one file,
         * no token. */
        ck_assert_msg(kubeconfig_load(out, NULL, &k, &e) == 0, "%s", e.msg);
        ck_assert_str_eq(k->server, "https://192.0.2.1:6443");
        ck_assert_ptr_nonnull(k->ca_data);
        ck_assert_str_eq(k->ca_data, ca);
        ck_assert_str_eq(k->client_cert_file, cert_path);
        ck_assert_str_eq(k->client_key_file, cert_path);
        ck_assert_ptr_null(k->token);
        struct stat st;
        ck_assert_int_eq(stat(out, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);

        /* The in-memory variant the ApiClient gets after a rotation. */
        _cleanup_(kubeconfig_freep) Kubeconfig *m = NULL;
        ck_assert_int_eq(kubeconfig_with_cert(k, "CERT", "KEY", &m), 0);
        ck_assert_str_eq(m->server, k->server);
        ck_assert_str_eq(m->client_cert_data, "CERT");
        ck_assert_uint_eq(m->client_cert_data_size, 4);
        ck_assert_str_eq(m->client_key_data, "KEY");
        ck_assert_ptr_null(m->client_cert_file);
        ck_assert_mem_eq(m->ca_data, k->ca_data, k->ca_data_size);

        /* A CA file that is gone: the error names it. */
        ck_assert_int_eq(unlink(ca_path), 0);
        error_clear(&e);
        ck_assert_int_eq(cert_write_kubeconfig(out, bs, cert_path, &e), -ENOENT);
        ck_assert_ptr_nonnull(strstr(e.msg, ca_path));
}
END_TEST

typedef struct Seen {
        int calls;
        char *cert;
        bool had_kubeconfig;
        char *cert_data;
} Seen;

static void on_ready(CertManager *cm, const char *cert_pem, const char *key_pem, const Kubeconfig *kc, void *ud) {
        Seen *s = ud;
        s->calls++;
        free(s->cert);
        s->cert = cert_pem ? strdup(cert_pem) : NULL;
        s->had_kubeconfig = kc != NULL;
        free(s->cert_data);
        s->cert_data = kc && kc->client_cert_data ? strdup(kc->client_cert_data) : NULL;
}

START_TEST(test_manager_uses_existing) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(curl_glue_freep) CurlGlue *glue = NULL;
        _cleanup_free_ char *cert = NULL, *key = NULL, *cert_path = NULL, *key_path = NULL, *kc_text = NULL,
                            *kc_path = NULL, *pki = NULL, *store = NULL, *both = NULL, *cert2 = NULL, *key2 = NULL;
        Seen seen = {};
        static const CertManagerCallbacks cb = {.ready = on_ready};

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(curl_glue_new(e, &glue), 0);
        ck_assert_int_eq(tls_self_signed_generate("n", NULL, &cert, &key), 0);
        cert_path = write_tmp("client.crt", cert);
        key_path = write_tmp("client.key", key);
        ck_assert_int_ge(asprintf(&kc_text,
                                  "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                                  "    server: https://127.0.0.1:1\n"
                                  "users:\n- name: u\n  user:\n    client-certificate: %s\n    client-key: %s\n"
                                  "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                                  "current-context: x\n",
                                  cert_path, key_path),
                         0);
        kc_path = write_tmp("kubelet.conf", kc_text);
        ck_assert_int_ge(asprintf(&pki, "%s/pki", tmpdir), 0);

        /* A valid certificate in --kubeconfig: current at once, no CSR, handed over as -data. */
        CertManagerConfig cfg = {
                .kind = CERT_KIND_CLIENT, .cert_dir = pki, .node_name = "n", .kubeconfig = kc_path, .rotate = true};
        CertManager *cm = NULL;
        ck_assert_int_eq(cert_manager_new(e, glue, NULL, &cfg, &cb, &seen, &cm), 0);
        ck_assert_int_eq(cert_manager_start(cm), 1);
        ck_assert_int_eq(seen.calls, 1);
        ck_assert_str_eq(seen.cert, cert);
        ck_assert(seen.had_kubeconfig);
        ck_assert_str_eq(seen.cert_data, cert);
        ck_assert_uint_eq(cert_manager_n_requests(cm), 0);
        int64_t nb, na;
        uint64_t deadline;
        ck_assert(cert_manager_current(cm, &nb, &na, &deadline));
        /* With rotation on, the deadline is 70–90 % into the lifetime. */
        ck_assert_uint_ge(deadline, (uint64_t) (nb + (na - nb) * 7 / 10) * USEC_PER_SEC - USEC_PER_SEC);
        ck_assert_uint_le(deadline, (uint64_t) (nb + (na - nb) * 9 / 10) * USEC_PER_SEC + USEC_PER_SEC);
        cm = cert_manager_free(cm);

        /* The store (a rotated certificate) wins over --kubeconfig when rotation is on. */
        ck_assert_int_eq(tls_self_signed_generate("n2", NULL, &cert2, &key2), 0);
        ck_assert_int_ge(asprintf(&both, "%s%s", cert2, key2), 0);
        ck_assert_int_eq(mkdir_p(pki, 0700), 0);
        ck_assert_int_ge(asprintf(&store, "%s/kubelet-client-current.pem", pki), 0);
        ck_assert_int_eq(write_file_atomic(store, both, strlen(both), 0600, false), 0);
        ck_assert_int_eq(cert_manager_new(e, glue, NULL, &cfg, &cb, &seen, &cm), 0);
        ck_assert_int_eq(cert_manager_start(cm), 1);
        ck_assert_int_eq(seen.calls, 2);
        ck_assert_str_eq(seen.cert, both);
        cm = cert_manager_free(cm);

        /* Rotation off: the store is not looked at. */
        cfg.rotate = false;
        ck_assert_int_eq(cert_manager_new(e, glue, NULL, &cfg, &cb, &seen, &cm), 0);
        ck_assert_int_eq(cert_manager_start(cm), 1);
        ck_assert_str_eq(seen.cert, cert);
        ck_assert(cert_manager_current(cm, NULL, NULL, &deadline));
        ck_assert_uint_eq(deadline, 0);
        cm = cert_manager_free(cm);

        /* The key does not match and there is no bootstrap kubeconfig: no credentials, an error and a retry. */
        _cleanup_free_ char *other = NULL;
        ck_assert_int_eq(tls_key_generate(&other), 0);
        ck_assert_int_eq(write_file_atomic(key_path, other, strlen(other), 0600, false), 0);
        ck_assert_int_eq(cert_manager_new(e, glue, NULL, &cfg, &cb, &seen, &cm), 0);
        ck_assert_int_eq(cert_manager_start(cm), 0);
        ck_assert_int_eq(seen.calls, 3);
        ck_assert(!cert_manager_current(cm, NULL, NULL, NULL));
        cm = cert_manager_free(cm);

        free(seen.cert);
        free(seen.cert_data);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bootstrap");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_key_and_client_csr);
        tcase_add_test(tc, test_serving_csr_sans);
        tcase_add_test(tc, test_csr_object);
        tcase_add_test(tc, test_csr_result);
        tcase_add_loop_test(tc, test_rotation_deadline, 0, (int) ELEMENTSOF(lifetimes));
        tcase_add_test(tc, test_validity_and_key_check);
        tcase_add_test(tc, test_kubeconfig_written);
        tcase_add_test(tc, test_manager_uses_existing);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
