/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig parsing (agent/kubeconfig.h): every field nodelet reads, context selection, paths relative to the
 * file, errors naming file:line and field, the token file re-read on change, and kubeconfig_write() round trips. */

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agent/kubeconfig.h"
#include "common/fileio.h"
#include "tests/lib/testlib.h"

/* base64 of "-----BEGIN CERTIFICATE-----\nCA\n" etc. are not needed: any bytes do, the parser does not read PEM. */
#define CA_B64 "Q0EgREFUQQo=" /* "CA DATA\n" */
#define CERT_B64 "Y2VydA=="   /* "cert" */
#define KEY_B64 "a2V5"        /* "key" */

static const char full[] = "apiVersion: v1\n"
                           "kind: Config\n"
                           "preferences: {}\n"
                           "clusters:\n"
                           "- name: other\n"
                           "  cluster:\n"
                           "    server: https://10.0.0.9:6443\n"
                           "- name: prod\n"
                           "  cluster:\n"
                           "    server: https://api.example.test:6443/\n"
                           "    certificate-authority: pki/ca.crt\n"
                           "    tls-server-name: kubernetes.default\n"
                           "- name: inline\n"
                           "  cluster:\n"
                           "    server: https://127.0.0.1:6443\n"
                           "    certificate-authority-data: " CA_B64 "\n"
                           "    certificate-authority: ignored.crt\n"
                           "    insecure-skip-tls-verify: true\n"
                           "users:\n"
                           "- name: node\n"
                           "  user:\n"
                           "    client-certificate: /var/lib/nodelet/pki/client.crt\n"
                           "    client-key: client.key\n"
                           "    token: static-token\n"
                           "    tokenFile: token\n"
                           "- name: inline-user\n"
                           "  user:\n"
                           "    client-certificate-data: " CERT_B64 "\n"
                           "    client-key-data: " KEY_B64 "\n"
                           "contexts:\n"
                           "- name: main\n"
                           "  context:\n"
                           "    cluster: prod\n"
                           "    user: node\n"
                           "    namespace: kube-system\n"
                           "- name: second\n"
                           "  context:\n"
                           "    cluster: inline\n"
                           "    user: inline-user\n"
                           "- name: anonymous\n"
                           "  context:\n"
                           "    cluster: other\n"
                           "current-context: main\n";

START_TEST(test_full) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        ErrorBuf e = {};

        ck_assert_int_eq(kubeconfig_parse(full, strlen(full), "/etc/nodelet/kubeconfig", NULL, &k, &e), 0);
        ck_assert_str_eq(k->path, "/etc/nodelet/kubeconfig");
        ck_assert_str_eq(k->context, "main");
        ck_assert_str_eq(k->cluster, "prod");
        ck_assert_str_eq(k->user, "node");
        ck_assert_str_eq(k->namespace_, "kube-system");
        ck_assert_str_eq(k->server, "https://api.example.test:6443"); /* trailing slash dropped */
        ck_assert_str_eq(k->ca_file, "/etc/nodelet/pki/ca.crt");      /* relative to the file's directory */
        ck_assert_ptr_null(k->ca_data);
        ck_assert_str_eq(k->tls_server_name, "kubernetes.default");
        ck_assert(!k->insecure_skip_tls_verify);
        ck_assert_str_eq(k->client_cert_file, "/var/lib/nodelet/pki/client.crt");
        ck_assert_str_eq(k->client_key_file, "/etc/nodelet/client.key");
        ck_assert_ptr_null(k->client_cert_data);
        ck_assert_str_eq(k->token, "static-token");
        ck_assert_str_eq(k->token_file, "/etc/nodelet/token");
}
END_TEST

START_TEST(test_context_override) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL, *a = NULL;
        ErrorBuf e = {};

        ck_assert_int_eq(kubeconfig_parse(full, strlen(full), "kubeconfig", "second", &k, &e), 0);
        ck_assert_str_eq(k->context, "second");
        ck_assert_str_eq(k->server, "https://127.0.0.1:6443");
        ck_assert_uint_eq(k->ca_data_size, 8);
        ck_assert_mem_eq(k->ca_data, "CA DATA\n", 8);
        ck_assert_ptr_null(k->ca_file); /* the inline data wins, as in client-go */
        ck_assert(k->insecure_skip_tls_verify);
        ck_assert_ptr_null(k->tls_server_name);
        ck_assert_str_eq(k->client_cert_data, "cert");
        ck_assert_uint_eq(k->client_cert_data_size, 4);
        ck_assert_str_eq(k->client_key_data, "key");
        ck_assert_ptr_null(k->client_cert_file);
        ck_assert_ptr_null(k->token);
        ck_assert_ptr_null(k->token_file);
        ck_assert_str_eq(k->namespace_, "");

        /* a context without a user: anonymous */
        ck_assert_int_eq(kubeconfig_parse(full, strlen(full), "kubeconfig", "anonymous", &a, &e), 0);
        ck_assert_str_eq(a->user, "");
        ck_assert_ptr_null(a->client_cert_file);
        ck_assert_ptr_null(a->token);

        /* relative to the current directory when the name has no directory */
        kubeconfig_free(k);
        k = NULL;
        ck_assert_int_eq(kubeconfig_parse(full, strlen(full), "kubeconfig", NULL, &k, &e), 0);
        ck_assert_str_eq(k->ca_file, "./pki/ca.crt");
}
END_TEST

static void expect_error(const char *text, const char *context, int want, const char *message) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        ErrorBuf e = {};
        int r = kubeconfig_parse(text, strlen(text), "/etc/kc.yaml", context, &k, &e);
        ck_assert_int_eq(r, want);
        ck_assert_ptr_null(k);
        ck_assert_str_eq(error_message(&e, r), message);
}

#define HEAD                                                                                                           \
        "clusters:\n"                                                                                                  \
        "- name: c\n"                                                                                                  \
        "  cluster:\n"                                                                                                 \
        "    server: https://127.0.0.1:6443\n"

START_TEST(test_errors) {
        expect_error(HEAD "contexts:\n- name: x\n  context: {cluster: c}\n", NULL, -EINVAL,
                     "/etc/kc.yaml: current-context: required field is missing");
        expect_error(HEAD "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: z\n", NULL, -EINVAL,
                     "/etc/kc.yaml:8: current-context: context \"z\" is not defined in contexts");
        expect_error(HEAD "contexts:\n- name: x\n  context: {cluster: c}\n", "nope", -EINVAL,
                     "/etc/kc.yaml: context \"nope\" is not defined in contexts");
        expect_error(HEAD "contexts:\n- name: x\n  context:\n    cluster: d\ncurrent-context: x\n", NULL, -EINVAL,
                     "/etc/kc.yaml:8: contexts[0].context.cluster: cluster \"d\" is not defined in clusters");
        expect_error(HEAD "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n", NULL,
                     -EINVAL, "/etc/kc.yaml:9: contexts[0].context.user: user \"u\" is not defined in users");
        expect_error("clusters:\n- name: c\n  cluster:\n    certificate-authority-data: abc\n"
                     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n",
                     NULL, -EINVAL, "/etc/kc.yaml:3: clusters[0].cluster.server: required field is missing");
        expect_error("clusters:\n- name: c\n  cluster:\n    server: 127.0.0.1:6443\n"
                     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n",
                     NULL, -EINVAL,
                     "/etc/kc.yaml:4: clusters[0].cluster.server: expected an http:// or https:// URL, got "
                     "\"127.0.0.1:6443\"");
        expect_error(HEAD "    certificate-authority-data: \"not base64!\"\n"
                          "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n",
                     NULL, -EINVAL, "/etc/kc.yaml:5: clusters[0].cluster.certificate-authority-data: invalid base64");
        expect_error(HEAD "    insecure-skip-tls-verify: maybe\n"
                          "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n",
                     NULL, -EINVAL,
                     "/etc/kc.yaml:5: clusters[0].cluster.insecure-skip-tls-verify: expected a boolean, got string");
        expect_error(HEAD "users:\n- name: u\n  user:\n    token: 12\n"
                          "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
                     NULL, -EINVAL, "/etc/kc.yaml:8: users[0].user.token: expected a string, got number");
        expect_error(HEAD "users:\n- name: u\n  user:\n    client-certificate: a.crt\n"
                          "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
                     NULL, -EINVAL,
                     "/etc/kc.yaml:7: users[0].user.client-key: required field is missing (client-certificate is "
                     "set)");
        expect_error(HEAD "users:\n- name: u\n  user:\n    exec:\n      command: aws\n"
                          "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
                     NULL, -EOPNOTSUPP,
                     "/etc/kc.yaml:8: users[0].user.exec: credential plugins are not supported by "
                     "nodelet");
        expect_error(HEAD "contexts:\n- context: {cluster: c}\ncurrent-context: x\n", NULL, -EINVAL,
                     "/etc/kc.yaml:6: contexts[0].name: required field is missing");
        expect_error("- just\n- a list\n", NULL, -EINVAL, "/etc/kc.yaml: expected a kubeconfig (a mapping), got array");
}
END_TEST

START_TEST(test_base64) {
        char *out = NULL;
        size_t n = 0;

        ck_assert_int_eq(kubeconfig_base64_decode("aGVsbG8=", &out, &n), 0);
        ck_assert_uint_eq(n, 5);
        ck_assert_str_eq(out, "hello");
        free(out);
        ck_assert_int_eq(kubeconfig_base64_decode("aGVs\nbG8", &out, &n), 0); /* no padding, a line break */
        ck_assert_str_eq(out, "hello");
        free(out);
        ck_assert_int_eq(kubeconfig_base64_decode("", &out, &n), 0);
        ck_assert_uint_eq(n, 0);
        free(out);
        ck_assert_int_eq(kubeconfig_base64_decode("aGVsbG8=x", &out, &n), -EINVAL);
        ck_assert_int_eq(kubeconfig_base64_decode("a", &out, &n), -EINVAL);
        ck_assert_int_eq(kubeconfig_base64_decode("aG!s", &out, &n), -EINVAL);
}
END_TEST

START_TEST(test_token_file) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        char *dir = test_tmpdir_new("kubeconfig");
        char path[512], token_path[512], text[1024];
        const char *token = NULL;
        struct timespec ts[2] = {};
        ErrorBuf e = {};

        ck_assert_ptr_nonnull(dir);
        (void) snprintf(path, sizeof path, "%s/kubeconfig", dir);
        (void) snprintf(token_path, sizeof token_path, "%s/token", dir);
        (void) snprintf(text, sizeof text,
                        HEAD "users:\n- name: u\n  user:\n    token: static\n    tokenFile: token\n"
                             "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n");
        ck_assert_int_eq(write_file_atomic(path, text, strlen(text), 0600, false), 0);
        ck_assert_int_eq(kubeconfig_load(path, NULL, &k, &e), 0);
        ck_assert_str_eq(k->token_file, token_path);

        /* no file yet: an error naming it */
        ck_assert_int_eq(kubeconfig_token(k, &token, &e), -ENOENT);
        ck_assert_ptr_nonnull(strstr(error_message(&e, -ENOENT), token_path));

        /* the file wins over the static token; surrounding whitespace is dropped */
        ck_assert_int_eq(write_file_atomic(token_path, "  first\n", 8, 0600, false), 0);
        ck_assert_int_eq(kubeconfig_token(k, &token, NULL), 0);
        ck_assert_str_eq(token, "first");
        /* rotated (a new file renamed over it, as the kubelet's projected tokens are): picked up */
        ck_assert_int_eq(write_file_atomic(token_path, "second\n", 7, 0600, false), 0);
        ck_assert_int_eq(kubeconfig_token(k, &token, NULL), 0);
        ck_assert_str_eq(token, "second");
        /* rewritten in place with the same size: the mtime tells */
        ck_assert_int_eq(write_string_file(token_path, "third!\n"), 0);
        ts[0].tv_sec = ts[1].tv_sec = 1000000;
        ck_assert_int_eq(utimensat(AT_FDCWD, token_path, ts, 0), 0);
        ck_assert_int_eq(kubeconfig_token(k, &token, NULL), 0);
        ck_assert_str_eq(token, "third!");
        /* gone: the last token read is kept */
        ck_assert_int_eq(unlink(token_path), 0);
        ck_assert_int_eq(kubeconfig_token(k, &token, NULL), 0);
        ck_assert_str_eq(token, "third!");
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_static_token) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        const char *t = HEAD "users:\n- name: u\n  user:\n    token: abc.def\n"
                             "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
        const char *token = NULL;

        ck_assert_int_eq(kubeconfig_parse(t, strlen(t), "kc", NULL, &k, NULL), 0);
        ck_assert_int_eq(kubeconfig_token(k, &token, NULL), 0);
        ck_assert_str_eq(token, "abc.def");
}
END_TEST

START_TEST(test_write) {
        _cleanup_(kubeconfig_freep) Kubeconfig *k = NULL;
        char *dir = test_tmpdir_new("kubeconfig");
        char path[512];
        const char *ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        struct stat st;
        ErrorBuf e = {};

        ck_assert_ptr_nonnull(dir);
        (void) snprintf(path, sizeof path, "%s/kubelet.conf", dir);
        ck_assert_int_eq(kubeconfig_write(path, "https://10.0.0.1:6443", ca, "/var/lib/nodelet/pki/kubelet-client.pem",
                                          "/var/lib/nodelet/pki/kubelet-client.pem"),
                         0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(kubeconfig_load(path, NULL, &k, &e), 0);
        ck_assert_str_eq(k->server, "https://10.0.0.1:6443");
        ck_assert_str_eq(k->ca_data, ca);
        ck_assert_uint_eq(k->ca_data_size, strlen(ca));
        ck_assert_str_eq(k->client_cert_file, "/var/lib/nodelet/pki/kubelet-client.pem");
        ck_assert_str_eq(k->client_key_file, "/var/lib/nodelet/pki/kubelet-client.pem");
        ck_assert_str_eq(k->context, "default-context");
        kubeconfig_free(k);
        k = NULL;

        /* no CA: the field is left out; odd characters in paths survive the quoting */
        ck_assert_int_eq(kubeconfig_write(path, "https://h:1", NULL, "/p/a \"b\": c.crt", "/p/#k.key"), 0);
        ck_assert_int_eq(kubeconfig_load(path, NULL, &k, &e), 0);
        ck_assert_ptr_null(k->ca_data);
        ck_assert_ptr_null(k->ca_file);
        ck_assert_str_eq(k->client_cert_file, "/p/a \"b\": c.crt");
        ck_assert_str_eq(k->client_key_file, "/p/#k.key");
        ck_assert_int_eq(kubeconfig_write(path, "", NULL, "a", "b"), -EINVAL);
        test_tmpdir_remove(dir);
}
END_TEST

int main(void) {
        /* Every test's files live below one directory that is removed here, also when a test failed (a failing
         * Check test ends its process before it can clean up). */
        char *top = test_tmpdir_new("test-kubeconfig");
        int r;

        if (!top || setenv("TMPDIR", top, 1) < 0)
                return EXIT_FAILURE;
        Suite *s = suite_create("kubeconfig");
        TCase *tc = tcase_create("kubeconfig");
        tcase_add_test(tc, test_full);
        tcase_add_test(tc, test_context_override);
        tcase_add_test(tc, test_errors);
        tcase_add_test(tc, test_base64);
        tcase_add_test(tc, test_token_file);
        tcase_add_test(tc, test_static_token);
        tcase_add_test(tc, test_write);
        suite_add_tcase(s, tc);
        r = test_run_suite(s);
        test_tmpdir_remove(top);
        return r;
}
