/* SPDX-License-Identifier: Apache-2.0 */
/* configMap, secret and projected (serviceAccountToken + configMap + downwardAPI) volumes from API object data
 * (agent/volumes.h with PodRuntimeInfo.api_objects), as root with real tmpfs mounts: the kubelet's payload rules
 * (items, key, path, mode, defaultMode, binaryData, optional), its error messages, and the atomic writer's ..data
 * swap when an object changes. Every test runs in its own mount namespace, below one temporary directory. */

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "agent/volumes.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

static char *base;

static void suite_setup(void) {
        test_require_root();
        base = test_tmpdir_new("nodelet-objects");
        ck_assert_ptr_nonnull(base);
}

static void suite_teardown(void) {
        (void) test_system("awk '$5 ~ \"^%s/\" {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l",
                           base);
        test_tmpdir_remove(base);
        base = NULL;
}

static char *test_dir(const char *name) {
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        char *d = NULL;
        ck_assert_int_ge(asprintf(&d, "%s/%s", base, name), 0);
        ck_assert_int_eq(mkdir_p(d, 0755), 0);
        return d;
}

static char *path_of(const char *a, const char *b) {
        char *p = NULL;
        ck_assert_int_eq(path_join(&p, a, b), 0);
        return p;
}

/* JSON written with single quotes (turned into double quotes). */
static json_t *json_sq(const char *s) {
        _cleanup_free_ char *j = strdup(s);
        ck_assert_ptr_nonnull(j);
        for (char *c = j; *c; c++)
                if (*c == '\'')
                        *c = '"';
        json_error_t je;
        json_t *o = json_loads(j, 0, &je);
        ck_assert_msg(o, "bad test JSON: %s: %s", je.text, j);
        return o;
}

static Pod *pod_from(const char *s) {
        _cleanup_json_ json_t *o = json_sq(s);
        Pod *p = NULL;
        ErrorBuf e = {};
        int r = pod_parse(o, "api", &p, &e);
        ck_assert_msg(r == 0, "pod_parse: %s", error_message(&e, r));
        return p;
}

#define POD_HEAD                                                                                                       \
        "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'ns1','uid':'uid-1'},"                   \
        "'spec':{'containers':[{'name':'c1','image':'busybox'}],'volumes':["

/* The tree api-objects.c hands over; the secret value holds a NUL byte (json_stringn). */
static json_t *api_data(const char *settings_mode) {
        json_t *d = json_sq("{'configMaps':{'settings':{'data':{'a.conf':'alpha','b.conf':'beta'},"
                            "'binaryData':{'blob':'bin'}},"
                            "'kube-root-ca.crt':{'data':{'ca.crt':'CA PEM'},'binaryData':{}}},"
                            "'secrets':{'creds':{'data':{'password':'x'},'binaryData':{}}},"
                            "'tokens':{'kube-api-access-x/0':'eyJhbGciOi.payload.sig'}}");
        json_t *creds = json_object_get(json_object_get(json_object_get(d, "secrets"), "creds"), "data");
        ck_assert_int_eq(json_object_set_new(creds, "password", json_stringn_nocheck("s3\0cret", 7)), 0);
        if (settings_mode) {
                json_t *s = json_object_get(json_object_get(json_object_get(d, "configMaps"), "settings"), "data");
                ck_assert_int_eq(json_object_set_new(s, "a.conf", json_string(settings_mode)), 0);
        }
        return d;
}

static char *read_file(const char *path, size_t *size) {
        char *s = NULL;
        int r = read_full_file(path, 0, &s, size);
        ck_assert_msg(r == 0, "reading %s: %s", path, strerror(-r));
        return s;
}

static void check_file(const char *dir, const char *name, const char *content, mode_t mode) {
        _cleanup_free_ char *p = path_of(dir, name), *s = read_file(p, NULL);
        struct stat st;
        ck_assert_str_eq(s, content);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o, expected %o", p, st.st_mode & 07777, mode);
        /* Reached through the per-key link into ..data, as the kubelet lays it out. */
        char target[4096] = "";
        _cleanup_free_ char *top = strndup(name, strcspn(name, "/")), *link = path_of(dir, top);
        ck_assert_int_gt(readlink(link, target, sizeof(target) - 1), 0);
        ck_assert_msg(startswith(target, "..data/"), "%s -> %s", link, target);
}

static char *link_target(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_of(dir, name);
        char buf[4096] = "";
        ck_assert_int_gt(readlink(p, buf, sizeof(buf) - 1), 0);
        return strdup(buf);
}

static bool is_tmpfs(const char *path) {
        struct statfs sf;
        ck_assert_int_eq(statfs(path, &sf), 0);
        return (unsigned long) sf.f_type == (unsigned long) TMPFS_MAGIC;
}

static void setup_fails(const Pod *p, const char *d, const PodRuntimeInfo *info, const char *message) {
        ErrorBuf e = {};
        int r = pod_volumes_setup(p, d, info, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(streq(e.msg, message), "got \"%s\", expected \"%s\"", e.msg, message);
}

START_TEST(test_config_map_and_secret) {
        _cleanup_free_ char *d = test_dir("cm-secret");
        _cleanup_json_ json_t *data = api_data(NULL);
        PodRuntimeInfo info = {.api_objects = data};
        Pod *p = pod_from(POD_HEAD "{'name':'all','configMap':{'name':'settings'}},"
                                   "{'name':'some','configMap':{'name':'settings','defaultMode':256,'items':["
                                   "{'key':'b.conf','path':'conf/b'},{'key':'blob','path':'blob.bin','mode':384}]}},"
                                   "{'name':'creds','secret':{'secretName':'creds','defaultMode':288}},"
                                   "{'name':'opt','secret':{'secretName':'absent','optional':true}}]}}");
        ErrorBuf e = {};
        int r = pod_volumes_setup(p, d, &info, &e);
        ck_assert_msg(r == 0, "pod_volumes_setup: %s", error_message(&e, r));

        /* No items: every key of data and binaryData, defaultMode 0644. */
        _cleanup_free_ char *all = path_of(d, "volumes/kubernetes.io~configmap/all");
        check_file(all, "a.conf", "alpha", 0644);
        check_file(all, "b.conf", "beta", 0644);
        check_file(all, "blob", "bin", 0644);
        /* items: only those, at their paths, item mode over defaultMode (0400). */
        _cleanup_free_ char *some = path_of(d, "volumes/kubernetes.io~configmap/some");
        check_file(some, "conf/b", "beta", 0400);
        check_file(some, "blob.bin", "bin", 0600);
        _cleanup_free_ char *a = path_of(some, "a.conf");
        ck_assert_int_eq(access(a, F_OK), -1);

        /* The secret: binary content written with its length, mode 0440, on a tmpfs. */
        _cleanup_free_ char *creds = path_of(d, "volumes/kubernetes.io~secret/creds");
        _cleanup_free_ char *pw = path_of(creds, "password");
        size_t size = 0;
        _cleanup_free_ char *content = read_file(pw, &size);
        ck_assert_uint_eq(size, 7);
        ck_assert_mem_eq(content, "s3\0cret", 7);
        struct stat st;
        ck_assert_int_eq(stat(pw, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0440);
        ck_assert(is_tmpfs(creds));
        ck_assert(is_tmpfs(all));

        /* A missing optional secret: an empty volume. */
        _cleanup_free_ char *opt = path_of(d, "volumes/kubernetes.io~secret/opt/..data");
        ck_assert_int_eq(stat(opt, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        pod_free(p);
}
END_TEST

START_TEST(test_missing_objects) {
        _cleanup_free_ char *d = test_dir("missing");
        _cleanup_json_ json_t *data = api_data(NULL);
        PodRuntimeInfo info = {.api_objects = data};
        Pod *p = pod_from(POD_HEAD "{'name':'x','configMap':{'name':'y'}}]}}");
        setup_fails(p, d, &info, "MountVolume.SetUp failed for volume \"x\" : configmap \"y\" not found");
        pod_free(p);
        p = pod_from(POD_HEAD "{'name':'x','secret':{'secretName':'y'}}]}}");
        setup_fails(p, d, &info, "MountVolume.SetUp failed for volume \"x\" : secret \"y\" not found");
        pod_free(p);
        p = pod_from(POD_HEAD "{'name':'x','configMap':{'name':'settings','items':[{'key':'nope','path':'n'}]}}]}}");
        setup_fails(p, d, &info,
                    "MountVolume.SetUp failed for volume \"x\" : configmap references non-existent config key: nope");
        pod_free(p);
        p = pod_from(POD_HEAD "{'name':'x','secret':{'secretName':'creds','items':[{'key':'nope','path':'n'}]}}]}}");
        setup_fails(p, d, &info,
                    "MountVolume.SetUp failed for volume \"x\" : references non-existent secret key: nope");
        pod_free(p);
        /* Optional: a missing key is left out. */
        p = pod_from(POD_HEAD "{'name':'x','configMap':{'name':'settings','optional':true,'items':["
                              "{'key':'nope','path':'n'},{'key':'a.conf','path':'a'}]}}]}}");
        ErrorBuf e = {};
        ck_assert_int_eq(pod_volumes_setup(p, d, &info, &e), 0);
        _cleanup_free_ char *x = path_of(d, "volumes/kubernetes.io~configmap/x");
        check_file(x, "a", "alpha", 0644);
        pod_free(p);
}
END_TEST

/* The ServiceAccount admission plugin's kube-api-access volume, as the API server adds it to every pod. */
#define KUBE_API_ACCESS                                                                                                \
        "{'name':'kube-api-access-x','projected':{'defaultMode':420,'sources':["                                       \
        "{'serviceAccountToken':{'expirationSeconds':3607,'path':'token'}},"                                           \
        "{'configMap':{'name':'kube-root-ca.crt','items':[{'key':'ca.crt','path':'ca.crt'}]}},"                        \
        "{'downwardAPI':{'items':[{'path':'namespace','fieldRef':{'apiVersion':'v1',"                                  \
        "'fieldPath':'metadata.namespace'}}]}}]}}"

START_TEST(test_projected_service_account) {
        _cleanup_free_ char *d = test_dir("projected");
        _cleanup_json_ json_t *data = api_data(NULL);
        PodRuntimeInfo info = {.api_objects = data};
        Pod *p = pod_from(POD_HEAD KUBE_API_ACCESS "]}}");
        ck_assert_int_eq(p->volumes[0].sources[0].type, VOLUME_SERVICE_ACCOUNT_TOKEN);
        ck_assert_int_eq(p->volumes[0].sources[0].expiration_seconds, 3607);
        ErrorBuf e = {};
        int r = pod_volumes_setup(p, d, &info, &e);
        ck_assert_msg(r == 0, "pod_volumes_setup: %s", error_message(&e, r));
        _cleanup_free_ char *v = path_of(d, "volumes/kubernetes.io~projected/kube-api-access-x");
        check_file(v, "token", "eyJhbGciOi.payload.sig", 0644);
        check_file(v, "ca.crt", "CA PEM", 0644);
        check_file(v, "namespace", "ns1", 0644);
        ck_assert(is_tmpfs(v));

        /* No token yet: the setup fails (the worker waits for one before it gets here). */
        ck_assert_int_eq(json_object_clear(json_object_get(data, "tokens")), 0);
        setup_fails(p, d, &info,
                    "MountVolume.SetUp failed for volume \"kube-api-access-x\" : failed to fetch token: no token was "
                    "issued yet");
        pod_free(p);

        /* Without API data (a static pod) nothing changed: the configMap source needs the API server. */
        p = pod_from(POD_HEAD KUBE_API_ACCESS "]}}");
        setup_fails(p, d, NULL,
                    "volume \"kube-api-access-x\": projected.sources[1].configMap \"kube-root-ca.crt\": needs the API "
                    "server (not supported yet)");
        pod_free(p);
}
END_TEST

START_TEST(test_refresh_on_change) {
        _cleanup_free_ char *d = test_dir("refresh");
        _cleanup_json_ json_t *data = api_data(NULL);
        PodRuntimeInfo info = {.api_objects = data};
        Pod *p = pod_from(POD_HEAD "{'name':'cfg','configMap':{'name':'settings'}}," KUBE_API_ACCESS "]}}");
        ErrorBuf e = {};
        int r = pod_volumes_setup(p, d, &info, &e);
        ck_assert_msg(r == 0, "pod_volumes_setup: %s", error_message(&e, r));
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~configmap/cfg");
        _cleanup_free_ char *old_data = link_target(vol, "..data"), *old_ts = path_of(vol, old_data);
        _cleanup_free_ char *a = path_of(vol, "a.conf");

        /* Unchanged objects: nothing is written. */
        ck_assert_int_eq(pod_volumes_refresh(p, d, &info, &e), 0);
        _cleanup_free_ char *same = link_target(vol, "..data");
        ck_assert_str_eq(same, old_data);

        /* A reader of the old file keeps the old content; the new set appears with one ..data swap. */
        int fd = open(a, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        _cleanup_json_ json_t *changed = api_data("alpha v2");
        json_t *tokens = json_object_get(changed, "tokens");
        ck_assert_int_eq(json_object_set_new(tokens, "kube-api-access-x/0", json_string("eyJ.new.sig")), 0);
        info.api_objects = changed;
        ck_assert_int_eq(pod_volumes_refresh(p, d, &info, &e), 1);
        _cleanup_free_ char *new_data = link_target(vol, "..data");
        ck_assert_str_ne(new_data, old_data);
        ck_assert_int_eq(access(old_ts, F_OK), -1); /* the old timestamp dir is gone */
        check_file(vol, "a.conf", "alpha v2", 0644);
        check_file(vol, "b.conf", "beta", 0644);
        char buf[64] = "";
        ck_assert_int_gt(read(fd, buf, sizeof(buf) - 1), 0);
        ck_assert_str_eq(buf, "alpha");
        close(fd);
        _cleanup_free_ char *pv = path_of(d, "volumes/kubernetes.io~projected/kube-api-access-x");
        check_file(pv, "token", "eyJ.new.sig", 0644);

        /* A key removed from the object: its link goes too. */
        json_t *settings = json_object_get(json_object_get(json_object_get(changed, "configMaps"), "settings"), "data");
        ck_assert_int_eq(json_object_del(settings, "b.conf"), 0);
        ck_assert_int_eq(pod_volumes_refresh(p, d, &info, &e), 1);
        _cleanup_free_ char *b = path_of(vol, "b.conf");
        struct stat st;
        ck_assert_int_eq(lstat(b, &st), -1);
        ck_assert_int_eq(pod_volumes_refresh(p, d, &info, &e), 0);
        pod_free(p);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("agent-objects-volumes");
        TCase *tc = tcase_create("volumes");
        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_config_map_and_secret);
        tcase_add_test(tc, test_missing_objects);
        tcase_add_test(tc, test_projected_service_account);
        tcase_add_test(tc, test_refresh_on_change);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        test_require_root();
        return test_run_suite(suite());
}
