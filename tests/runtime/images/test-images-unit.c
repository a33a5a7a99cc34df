/* SPDX-License-Identifier: Apache-2.0 */
/* Image store pieces that need no privileges: reference normalization (distribution/reference behaviour), the
 * Kubernetes command/args/env rules, $(VAR) expansion, digests, manifest/config validation. */

#include <fcntl.h>
#include <stdio.h>

#include "common/json-util.h"
#include "runtime/digest.h"
#include "runtime/image-internal.h"
#include "runtime/image-store.h"
#include "runtime/layer.h"
#include "runtime/reference.h"
#include "tests/lib/testlib.h"

static const struct {
        const char *in, *out;
} good_refs[] = {
        {"busybox", "docker.io/library/busybox:latest"},
        {"busybox:1.36", "docker.io/library/busybox:1.36"},
        {"library/busybox", "docker.io/library/busybox:latest"},
        {"docker.io/busybox", "docker.io/library/busybox:latest"},
        {"index.docker.io/library/busybox:1", "docker.io/library/busybox:1"},
        {"foo/bar:1", "docker.io/foo/bar:1"},
        {"foo/bar/baz", "docker.io/foo/bar/baz:latest"},
        {"localhost:5000/x", "localhost:5000/x:latest"},
        {"localhost/x:2", "localhost/x:2"},
        {"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"},
        {"quay.io/a.b/c_d__e-f--g:v1.0-rc_1", "quay.io/a.b/c_d__e-f--g:v1.0-rc_1"},
        {"[::1]:5000/img:tag", "[::1]:5000/img:tag"},
        {"foo:5000", "docker.io/library/foo:5000"},
        {"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"busybox:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "docker.io/library/busybox:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"my-registry.example.com:443/team/app:2024.01", "my-registry.example.com:443/team/app:2024.01"},
};

static const struct {
        const char *in, *msg;
} bad_refs[] = {
        {"", "empty"},
        {"Busybox", "must be lowercase"},
        {"docker.io/Library/busybox", "must be lowercase"},
        {"busybox:", "invalid tag"},
        {"busybox:-x", "invalid tag"},
        {"busy box", "invalid repository path component"},
        {"foo//bar", "invalid repository path component"},
        {"foo/bar/", "invalid repository path component"},
        {"-foo", "invalid repository path component"},
        {"foo..bar", "invalid repository path component"},
        {"foo___bar", "invalid repository path component"},
        {"busybox@sha256:1234", "invalid digest"},
        {"busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "invalid digest"},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "64-byte hexadecimal"},
        {"-bad.example.com/x", "invalid registry"},
        {"example.com:port/x", "invalid registry"},
};

START_TEST(test_reference_normalize_good) {
        for (size_t i = 0; i < ELEMENTSOF(good_refs); i++) {
                _cleanup_free_ char *out = NULL;
                ErrorBuf e = {};
                int r = reference_normalize(good_refs[i].in, &out, &e);
                ck_assert_msg(r == 0, "%s: %s", good_refs[i].in, error_message(&e, r));
                ck_assert_str_eq(out, good_refs[i].out);
                /* idempotent */
                _cleanup_free_ char *again = NULL;
                ck_assert_int_eq(reference_normalize(out, &again, NULL), 0);
                ck_assert_str_eq(again, out);
        }
}
END_TEST

START_TEST(test_reference_normalize_bad) {
        for (size_t i = 0; i < ELEMENTSOF(bad_refs); i++) {
                _cleanup_free_ char *out = NULL;
                ErrorBuf e = {};
                int r = reference_normalize(bad_refs[i].in, &out, &e);
                ck_assert_msg(r == -EINVAL, "'%s' accepted as %s", bad_refs[i].in, strna(out));
                ck_assert_msg(strstr(e.msg, bad_refs[i].msg), "'%s': message '%s' lacks '%s'", bad_refs[i].in, e.msg,
                              bad_refs[i].msg);
                ck_assert_ptr_null(out);
        }
        /* the name limit is 255 characters */
        char longname[300];
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        _cleanup_free_ char *out = NULL;
        ck_assert_int_eq(reference_normalize(longname, &out, NULL), -EINVAL);
}
END_TEST

START_TEST(test_reference_split) {
        _cleanup_free_ char *repo = NULL, *tag = NULL, *digest = NULL;
        ck_assert_int_eq(reference_split("localhost:5000/a/b:1.0@sha256:abc", &repo, &tag, &digest), 0);
        ck_assert_str_eq(repo, "localhost:5000/a/b");
        ck_assert_str_eq(tag, "1.0");
        ck_assert_str_eq(digest, "sha256:abc");
        free(repo), free(tag), free(digest);
        repo = tag = digest = NULL;
        ck_assert_int_eq(reference_split("localhost:5000/a", &repo, &tag, &digest), 0);
        ck_assert_str_eq(repo, "localhost:5000/a");
        ck_assert_ptr_null(tag);
        ck_assert_ptr_null(digest);
}
END_TEST

static char **strv(const char *first, ...) {
        char **l = calloc(16, sizeof(char *));
        va_list ap;
        size_t n = 0;
        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                l[n++] = strdup(s);
        va_end(ap);
        return l;
}

static char *joined(char **l) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        for (size_t i = 0; l[i]; i++)
                fprintf(f, "%s%s", i ? "|" : "", l[i]);
        fclose(f);
        return buf;
}

static ImageInfo *image(char **ep, char **cmd, char **env) {
        ImageInfo *i = calloc(1, sizeof *i);
        i->id = strdup("sha256:test");
        i->entrypoint = ep ?: calloc(1, sizeof(char *));
        i->cmd = cmd ?: calloc(1, sizeof(char *));
        i->env = env ?: calloc(1, sizeof(char *));
        return i;
}

static void check_process(ImageInfo *img, char **command, char **args, char **env, const char *want_argv,
                          const char *want_env) {
        _cleanup_strv_free_ char **argv = NULL, **envv = NULL;
        ErrorBuf e = {};
        int r = image_resolve_process(img, command, args, env, IMAGE_RESOLVE_EXPAND_VARS, &argv, &envv, &e);
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
        _cleanup_free_ char *a = joined(argv), *v = joined(envv);
        ck_assert_str_eq(a, want_argv);
        if (want_env)
                ck_assert_str_eq(v, want_env);
}

START_TEST(test_kubernetes_command_args) {
        _cleanup_(image_info_freep) ImageInfo *img =
                image(strv("/entry", "-v", NULL), strv("serve", "--port=80", NULL), NULL);
        _cleanup_strv_free_ char **command = strv("/bin/sh", "-c", NULL), **args = strv("echo hi", NULL),
                                 **empty = calloc(1, sizeof(char *));
        /* neither: image Entrypoint + Cmd */
        check_process(img, NULL, NULL, NULL, "/entry|-v|serve|--port=80", NULL);
        /* empty lists count as unset (the API drops them) */
        check_process(img, empty, empty, NULL, "/entry|-v|serve|--port=80", NULL);
        /* command only: Entrypoint replaced and Cmd ignored */
        check_process(img, command, NULL, NULL, "/bin/sh|-c", NULL);
        /* args only: Entrypoint kept, Cmd replaced */
        check_process(img, NULL, args, NULL, "/entry|-v|echo hi", NULL);
        /* both */
        check_process(img, command, args, NULL, "/bin/sh|-c|echo hi", NULL);

        /* containerd: Entrypoint [""] means none */
        _cleanup_(image_info_freep) ImageInfo *noep = image(strv("", NULL), strv("sh", NULL), NULL);
        check_process(noep, NULL, NULL, NULL, "sh", NULL);

        /* nothing at all */
        _cleanup_(image_info_freep) ImageInfo *none = image(NULL, NULL, NULL);
        _cleanup_strv_free_ char **argv = NULL, **envv = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(image_resolve_process(none, NULL, NULL, NULL, IMAGE_RESOLVE_EXPAND_VARS, &argv, &envv, &e),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "no command specified"));
        ck_assert_ptr_null(argv);
}
END_TEST

START_TEST(test_kubernetes_env_merge) {
        _cleanup_(image_info_freep) ImageInfo *img =
                image(NULL, strv("sh", NULL), strv("PATH=/img/bin", "A=image", "B=image", NULL));
        _cleanup_strv_free_ char **env = strv("B=pod", "C=pod", "A=pod2", NULL);
        /* default PATH replaced in place by the image's, container values replace in place, new ones appended */
        check_process(img, NULL, NULL, env, "sh", "PATH=/img/bin|A=pod2|B=pod|C=pod");
        _cleanup_(image_info_freep) ImageInfo *nopath = image(NULL, strv("sh", NULL), NULL);
        check_process(nopath, NULL, NULL, NULL, "sh",
                      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}
END_TEST

/* The merge at image-sized scale: 30,000 image entries (each name twice, the second replacing the first in place)
 * and pod entries overriding every tenth; order is that of first appearance. */
START_TEST(test_env_merge_many) {
        const size_t n = 15000;
        char **ienv = calloc(2 * n + 1, sizeof(char *)), **penv = calloc(n / 10 + 1, sizeof(char *));
        ck_assert_ptr_nonnull(ienv);
        ck_assert_ptr_nonnull(penv);
        for (size_t i = 0; i < n; i++) {
                ck_assert_int_ge(asprintf(&ienv[i], "V%zu=first", i), 0);
                ck_assert_int_ge(asprintf(&ienv[n + i], "V%zu=image", i), 0);
        }
        for (size_t i = 0; i < n / 10; i++)
                ck_assert_int_ge(asprintf(&penv[i], "V%zu=pod", i * 10), 0);
        _cleanup_(image_info_freep) ImageInfo *img = image(NULL, strv("sh", NULL), ienv);
        _cleanup_strv_free_ char **pod = penv, **argv = NULL, **envv = NULL;
        ck_assert_int_eq(image_resolve_process(img, NULL, NULL, pod, 0, &argv, &envv, NULL), 0);
        ck_assert(startswith(envv[0], "PATH="));
        for (size_t i = 0; i < n; i++) {
                char want[64];
                snprintf(want, sizeof want, "V%zu=%s", i, i % 10 == 0 ? "pod" : "image");
                ck_assert_str_eq(envv[i + 1], want);
        }
        ck_assert_ptr_null(envv[n + 1]);
}
END_TEST

START_TEST(test_config_env_cap) {
        /* More Env entries than IMAGE_ENV_MAX: refused at parse time, with the field and the count. */
        _cleanup_json_ json_t *env = json_array(), *j = NULL;
        for (unsigned i = 0; i <= IMAGE_ENV_MAX; i++) {
                char kv[32];
                snprintf(kv, sizeof kv, "E%u=1", i);
                ck_assert_int_eq(json_array_append_new(env, json_string(kv)), 0);
        }
        j = json_pack("{s:{s:s,s:[]},s:{s:O}}", "rootfs", "type", "layers", "diff_ids", "config", "Env", env);
        ck_assert_ptr_nonnull(j);
        _cleanup_(image_config_done) ImageConfig c = {};
        ErrorBuf e = {};
        ck_assert_int_eq(image_config_parse(j, "config sha256:x", &c, &e), -EINVAL);
        ck_assert_msg(strstr(e.msg, "config.Env: 32769 entries"), "%s", e.msg);
        /* exactly the cap is fine */
        ck_assert_int_eq(json_array_remove(env, 0), 0);
        _cleanup_(image_config_done) ImageConfig ok = {};
        ck_assert_int_eq(image_config_parse(j, "config sha256:x", &ok, NULL), 0);
}
END_TEST

START_TEST(test_kubernetes_expansion) {
        _cleanup_(image_info_freep) ImageInfo *img = image(strv("/e", "$(A)", NULL), strv("$(A)", NULL), NULL);
        _cleanup_strv_free_ char **env = strv("A=one", "B=two", "A=uno", NULL);
        _cleanup_strv_free_ char **command = strv("echo", "$(A)", "$$(A)", "$(B)-$(A)", "$(MISSING)", "$A", "a$",
                                                  "$(unterminated", "$$$(B)", "$()", NULL);
        /* last definition wins; $$ escapes; unknown and malformed references stay as written */
        check_process(img, command, NULL, env, "echo|uno|$(A)|two-uno|$(MISSING)|$A|a$|$(unterminated|$two|$()", NULL);
        /* image Entrypoint/Cmd are never expanded */
        check_process(img, NULL, NULL, env, "/e|$(A)|$(A)", NULL);
        _cleanup_strv_free_ char **args = strv("$(B)", NULL);
        check_process(img, NULL, args, env, "/e|$(A)|two", NULL);

        /* Without IMAGE_RESOLVE_EXPAND_VARS (docker-like `nodeletctl run`) everything is taken verbatim. */
        _cleanup_strv_free_ char **argv = NULL, **envv = NULL;
        ck_assert_int_eq(image_resolve_process(img, NULL, command, env, 0, &argv, &envv, NULL), 0);
        _cleanup_free_ char *a = joined(argv);
        ck_assert_str_eq(a, "/e|$(A)|echo|$(A)|$$(A)|$(B)-$(A)|$(MISSING)|$A|a$|$(unterminated|$$$(B)|$()");
}
END_TEST

START_TEST(test_digest) {
        char hex[SHA256_HEX_LEN + 1];
        ck_assert_int_eq(sha256_hex("abc", 3, hex), 0);
        ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        ck_assert_int_eq(sha256_hex("", 0, hex), 0);
        ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

        ErrorBuf e = {};
        ck_assert_int_eq(
                digest_parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "x", hex, &e),
                0);
        ck_assert_int_eq(digest_parse("sha512:abcd", "layers[0].digest", hex, &e), -EOPNOTSUPP);
        ck_assert_ptr_nonnull(strstr(e.msg, "layers[0].digest"));
        error_clear(&e);
        ck_assert_int_eq(
                digest_parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "x", hex, &e),
                -EINVAL);
        ck_assert_int_eq(digest_parse("sha256:abc", "x", hex, NULL), -EINVAL);
        ck_assert_int_eq(digest_parse("nocolon", "x", hex, NULL), -EINVAL);
        ck_assert_int_eq(digest_parse(NULL, "x", hex, NULL), -EINVAL);

        /* streaming copy hashes what it copies */
        char *dir = test_tmpdir_new("digest");
        _cleanup_free_ char *in = NULL, *out = NULL;
        ck_assert_int_ge(asprintf(&in, "%s/in", dir), 0);
        ck_assert_int_ge(asprintf(&out, "%s/out", dir), 0);
        FILE *f = fopen(in, "we");
        for (int i = 0; i < 100000; i++)
                fputs("abc", f);
        fclose(f);
        int ifd = open(in, O_RDONLY | O_CLOEXEC), ofd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        uint64_t size = 0;
        ck_assert_int_eq(sha256_copy_fd(ifd, ofd, 0, hex, &size), 0);
        ck_assert_int_eq(size, 300000);
        close(ifd);
        close(ofd);
        char hex2[SHA256_HEX_LEN + 1];
        ifd = open(out, O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(sha256_copy_fd(ifd, -1, 0, hex2, NULL), 0);
        ck_assert_str_eq(hex, hex2);
        close(ifd);
        ifd = open(out, O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(sha256_copy_fd(ifd, -1, 1000, hex2, NULL), -EFBIG);
        close(ifd);
        test_tmpdir_remove(dir);
}
END_TEST

static int parse_manifest_text(const char *text, ErrorBuf *e) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(manifest_done) Manifest m = {};
        int r = jx_parse(text, strlen(text), "test", &j, e);
        if (r < 0)
                return r;
        return manifest_parse(j, "manifest sha256:x", &m, e);
}

#define D64 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

START_TEST(test_manifest_validation) {
        static const struct {
                const char *json, *msg;
        } cases[] = {
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                 "\"digest\":\"" D64 "\",\"size\":1},\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"" D64
                 "\",\"size\":1}]}",
                 "manifest sha256:x: layers[0].mediaType: unsupported layer media type 'text/plain'"},
                {"{\"schemaVersion\":1}", "schemaVersion"},
                {"{\"schemaVersion\":2,\"layers\":[]}", "config: required field is missing"},
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                 "\"digest\":\"sha256:zz\",\"size\":1},\"layers\":[]}",
                 "config.digest"},
                {"{\"schemaVersion\":2,\"mediaType\":\"application/x\",\"config\":{},\"layers\":[]}",
                 "unsupported manifest media type"},
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                 "\"digest\":\"" D64 "\",\"size\":-1},\"layers\":[]}",
                 "config.size"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ErrorBuf e = {};
                int r = parse_manifest_text(cases[i].json, &e);
                ck_assert_msg(r < 0, "case %zu accepted", i);
                ck_assert_msg(strstr(e.msg, cases[i].msg), "case %zu: '%s' lacks '%s'", i, e.msg, cases[i].msg);
        }
        ErrorBuf e = {};
        int r = parse_manifest_text(
                "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
                "\"digest\":\"" D64 "\",\"size\":1},\"layers\":[{\"mediaType\":"
                "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D64 "\",\"size\":1}]}",
                &e);
        ck_assert_msg(r == 0, "%s", error_message(&e, r));
}
END_TEST

START_TEST(test_config_validation) {
        static const struct {
                const char *json, *msg;
        } cases[] = {
                {"{}", "rootfs: required field is missing"},
                {"{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}", "rootfs.type"},
                {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1\"]}}", "rootfs.diff_ids[0]"},
                {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Cmd\":\"sh\"}}", "config.Cmd"},
                {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Env\":[1]}}", "config.Env[0]"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ json_t *j = NULL;
                _cleanup_(image_config_done) ImageConfig c = {};
                ErrorBuf e = {};
                ck_assert_int_eq(jx_parse(cases[i].json, strlen(cases[i].json), "t", &j, NULL), 0);
                ck_assert_int_lt(image_config_parse(j, "config sha256:x", &c, &e), 0);
                ck_assert_msg(strstr(e.msg, cases[i].msg), "case %zu: '%s' lacks '%s'", i, e.msg, cases[i].msg);
                ck_assert_ptr_nonnull(strstr(e.msg, "config sha256:x"));
        }
        const char *ok = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D64 "\"]},\"config\":{\"Cmd\":null,"
                         "\"Entrypoint\":[\"/bin/app\"],\"User\":\"1000:1000\",\"StopSignal\":\"SIGQUIT\","
                         "\"WorkingDir\":\"/srv\"}}";
        _cleanup_json_ json_t *j = NULL;
        _cleanup_(image_config_done) ImageConfig c = {};
        ck_assert_int_eq(jx_parse(ok, strlen(ok), "t", &j, NULL), 0);
        ck_assert_int_eq(image_config_parse(j, "config", &c, NULL), 0);
        ck_assert_int_eq(c.n_diff_ids, 1);
        ck_assert_ptr_null(c.cmd);
        ck_assert_str_eq(c.entrypoint[0], "/bin/app");
        ck_assert_str_eq(c.user, "1000:1000");
        ck_assert_str_eq(c.stop_signal, "SIGQUIT");
        ck_assert_str_eq(c.working_dir, "/srv");
}
END_TEST

START_TEST(test_layer_names) {
        static const struct {
                const char *in, *out;
        } ok[] = {{"./bin/sh", "bin/sh"}, {"bin//sh/", "bin/sh"}, {".", ""}, {"./", ""}, {"a/./b", "a/b"}};
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_free_ char *n = NULL;
                ck_assert_int_eq(layer_normalize_name(ok[i].in, &n), 0);
                ck_assert_str_eq(n, ok[i].out);
        }
        static const char *const bad[] = {"/etc/passwd", "../x", "a/../../x", "a/..", ".."};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *n = NULL;
                ck_assert_int_eq(layer_normalize_name(bad[i], &n), -EPERM);
        }
        ck_assert_int_eq(layer_media_type_supported("application/vnd.oci.image.layer.v1.tar+zstd"), 0);
        ck_assert_int_eq(layer_media_type_supported("application/vnd.oci.image.layer.v1.tar+bzip2"), -EOPNOTSUPP);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("images-unit");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_reference_normalize_good);
        tcase_add_test(tc, test_reference_normalize_bad);
        tcase_add_test(tc, test_reference_split);
        tcase_add_test(tc, test_kubernetes_command_args);
        tcase_add_test(tc, test_kubernetes_env_merge);
        tcase_add_test(tc, test_env_merge_many);
        tcase_add_test(tc, test_config_env_cap);
        tcase_add_test(tc, test_kubernetes_expansion);
        tcase_add_test(tc, test_digest);
        tcase_add_test(tc, test_manifest_validation);
        tcase_add_test(tc, test_config_validation);
        tcase_add_test(tc, test_layer_names);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
