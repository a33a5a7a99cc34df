/* SPDX-License-Identifier: Apache-2.0 */
/* The static-pod source: manifests in a directory become add()/remove() calls with the kubelet's file-pod defaults,
 * through inotify, the periodic rescan and on-demand rescans. Waits on the loop are bounded by a generous deadline
 * and end as soon as the expected callbacks arrived (no timing assertions). */

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/pod.h"
#include "agent/static-pods.h"
#include "common/event-util.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/yaml.h"
#include "tests/lib/testlib.h"

#define NODE "node1"
#define WAIT_USEC (30 * USEC_PER_SEC)
/* So long that only inotify can deliver a change within WAIT_USEC (the periodic rescan has its own test). */
#define NO_POLL (3600 * USEC_PER_SEC)

typedef struct Recorder {
        json_t *added;   /* the pods, in order */
        json_t *removed; /* uids, in order */
        json_t *errors;  /* [path, message] pairs */
        int synced;
} Recorder;

static void on_add(json_t *pod, const char *origin, void *userdata) {
        Recorder *r = userdata;
        ck_assert_int_eq(json_array_append(r->added, pod), 0);
}

static void on_remove(const char *uid, void *userdata) {
        Recorder *r = userdata;
        ck_assert_int_eq(json_array_append_new(r->removed, json_string(uid)), 0);
}

static void on_file_error(const char *path, const char *message, void *userdata) {
        Recorder *r = userdata;
        ck_assert_int_eq(json_array_append_new(r->errors, json_pack("[s,s]", path, message)), 0);
}

static void on_synced(void *userdata) {
        Recorder *r = userdata;
        r->synced++;
}

static const PodSourceCallbacks callbacks = {
        .add = on_add,
        .remove = on_remove,
        .file_error = on_file_error,
        .synced = on_synced,
};

static void recorder_init(Recorder *r) {
        *r = (Recorder){.added = json_array(), .removed = json_array(), .errors = json_array()};
        ck_assert(r->added && r->removed && r->errors);
}

static void recorder_clear(Recorder *r) {
        json_array_clear(r->added);
        json_array_clear(r->removed);
        json_array_clear(r->errors);
        r->synced = 0;
}

static void recorder_done(Recorder *r) {
        json_decref(r->added);
        json_decref(r->removed);
        json_decref(r->errors);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Runs the loop until *counter reaches target (or the deadline: then the test fails). */
static void wait_for(sd_event *e, const json_t *array, size_t target, const char *what) {
        uint64_t deadline = now_usec() + WAIT_USEC;
        while (json_array_size(array) < target && now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert_msg(json_array_size(array) >= target, "timed out waiting for %s (%zu of %zu)", what,
                      json_array_size(array), target);
}

static void wait_synced(sd_event *e, Recorder *r) {
        uint64_t deadline = now_usec() + WAIT_USEC;
        while (r->synced == 0 && now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(r->synced, 1);
}

static const char *pod_str(const json_t *pod, const char *a, const char *b) {
        json_t *o = json_object_get(pod, a);
        return json_string_value(json_object_get(o, b));
}

static const char *pod_uid(const json_t *pod) {
        return pod_str(pod, "metadata", "uid");
}

static const char *added_uid(const Recorder *r, size_t i) {
        return pod_uid(json_array_get(r->added, i));
}

static const char *added_name(const Recorder *r, size_t i) {
        return pod_str(json_array_get(r->added, i), "metadata", "name");
}

static const char *removed_uid(const Recorder *r, size_t i) {
        return json_string_value(json_array_get(r->removed, i));
}

static const char *error_message_at(const Recorder *r, size_t i) {
        return json_string_value(json_array_get(json_array_get(r->errors, i), 1));
}

static const char *error_path_at(const Recorder *r, size_t i) {
        return json_string_value(json_array_get(json_array_get(r->errors, i), 0));
}

static char *file_path(const char *dir, const char *name) {
        char *p = NULL;
        ck_assert_int_eq(path_join(&p, dir, name), 0);
        return p;
}

/* Atomically, like a careful editor or config management: a dot temp file renamed into place. */
static void put_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = file_path(dir, name), *tmp = NULL;
        ck_assert_int_ge(asprintf(&tmp, "%s/.%s.new", dir, name), 0);
        ck_assert_int_eq(write_file_atomic(tmp, content, strlen(content), 0644, false), 0);
        ck_assert_int_eq(rename(tmp, p), 0);
}

/* In place: open, truncate, write, close (IN_CLOSE_WRITE). */
static void overwrite_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *p = file_path(dir, name);
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fputs(content, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name) {
        _cleanup_free_ char *p = file_path(dir, name);
        ck_assert_int_eq(unlink(p), 0);
}

#define POD_YAML(name, image)                                                                                          \
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\nspec:\n  containers:\n  - name: c\n    image: " image \
        "\n"

START_TEST(test_add_edit_remove_inotify) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *old_uid = NULL, *path = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;

        ck_assert_ptr_nonnull(dir);
        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        /* The first scan runs from the loop, not inside _new(). */
        ck_assert_int_eq(r.synced, 0);
        wait_synced(e, &r);
        ck_assert_int_eq(json_array_size(r.added), 0);

        put_file(dir, "web.yaml", POD_YAML("web", "busybox"));
        wait_for(e, r.added, 1, "add");
        json_t *pod = json_array_get(r.added, 0);
        path = file_path(dir, "web.yaml");
        ck_assert_str_eq(added_name(&r, 0), "web-" NODE);
        ck_assert_str_eq(pod_str(pod, "metadata", "namespace"), "default");
        ck_assert_str_eq(pod_str(pod, "spec", "nodeName"), NODE);
        ck_assert_uint_eq(strlen(pod_uid(pod)), 32);
        ck_assert_uint_eq(strspn(pod_uid(pod), "0123456789abcdef"), 32);
        json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
        ck_assert_str_eq(json_string_value(json_object_get(ann, POD_ANNOTATION_CONFIG_HASH)), pod_uid(pod));
        ck_assert_str_eq(json_string_value(json_object_get(ann, POD_ANNOTATION_CONFIG_SOURCE)), "file");
        const char *seen = json_string_value(json_object_get(ann, POD_ANNOTATION_CONFIG_SEEN));
        ck_assert_ptr_nonnull(seen);
        ck_assert_msg(strlen(seen) >= 20 && seen[4] == '-' && seen[10] == 'T' && seen[strlen(seen) - 1] == 'Z',
                      "config.seen is not RFC 3339: %s", seen);
        json_t *tol = json_object_get(json_object_get(pod, "spec"), "tolerations");
        ck_assert_uint_eq(json_array_size(tol), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tol, 0), "operator")), "Exists");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tol, 0), "effect")), "NoExecute");
        ck_assert_ptr_null(json_object_get(pod, "status"));
        old_uid = strdup(pod_uid(pod));

        /* Edited in place: remove(old) + add(new), in that order. */
        overwrite_file(dir, "web.yaml", POD_YAML("web", "busybox:1.36"));
        wait_for(e, r.added, 2, "add after edit");
        ck_assert_uint_eq(json_array_size(r.removed), 1);
        ck_assert_str_eq(removed_uid(&r, 0), old_uid);
        ck_assert_str_ne(added_uid(&r, 1), old_uid);
        ck_assert_str_eq(added_name(&r, 1), "web-" NODE);

        remove_file(dir, "web.yaml");
        wait_for(e, r.removed, 2, "remove");
        ck_assert_str_eq(removed_uid(&r, 1), added_uid(&r, 1));
        ck_assert_uint_eq(json_array_size(r.added), 2);
        ck_assert_uint_eq(json_array_size(r.errors), 0);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_multi_document_and_list) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        put_file(dir, "multi.yaml",
                 "# leading comment\n---\n" POD_YAML("a", "busybox") "---\n" POD_YAML("b", "busybox") "---\n");
        put_file(dir, "list.yaml",
                 "apiVersion: v1\nkind: List\nitems:\n"
                 "- apiVersion: v1\n  kind: Pod\n  metadata: {name: c, namespace: kube-system}\n"
                 "  spec: {containers: [{name: c, image: busybox}]}\n"
                 "- metadata: {name: d}\n  spec: {containers: [{name: c, image: busybox}]}\n");
        put_file(dir, "podlist.json",
                 "{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"e\"},"
                 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}]}");
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.errors), 0);
        ck_assert_uint_eq(json_array_size(r.added), 5);
        /* Files in lexical order, documents and items in file order. */
        ck_assert_str_eq(added_name(&r, 0), "c-" NODE);
        ck_assert_str_eq(pod_str(json_array_get(r.added, 0), "metadata", "namespace"), "kube-system");
        ck_assert_str_eq(added_name(&r, 1), "d-" NODE);
        ck_assert_str_eq(pod_str(json_array_get(r.added, 1), "metadata", "namespace"), "default");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.added, 1), "kind")), "Pod");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.added, 1), "apiVersion")), "v1");
        ck_assert_str_eq(added_name(&r, 2), "a-" NODE);
        ck_assert_str_eq(added_name(&r, 3), "b-" NODE);
        ck_assert_str_eq(added_name(&r, 4), "e-" NODE);
        _cleanup_free_ char *uid_a = strdup(added_uid(&r, 2)), *uid_b = strdup(added_uid(&r, 3));

        /* Only the changed document of a multi-document file is replaced. */
        recorder_clear(&r);
        put_file(dir, "multi.yaml", POD_YAML("a", "busybox") "---\n" POD_YAML("b", "busybox:2"));
        static_pod_source_rescan(s);
        ck_assert_uint_eq(json_array_size(r.removed), 1);
        ck_assert_str_eq(removed_uid(&r, 0), uid_b);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        ck_assert_str_eq(added_name(&r, 0), "b-" NODE);
        ck_assert_str_ne(added_uid(&r, 0), uid_b);
        ck_assert_str_ne(added_uid(&r, 0), uid_a);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_dot_files_ignored) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        put_file(dir, ".hidden.yaml", POD_YAML("hidden", "busybox"));
        put_file(dir, ".swp", "not yaml: [");
        put_file(dir, "shown.yaml", POD_YAML("shown", "busybox"));
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        ck_assert_str_eq(added_name(&r, 0), "shown-" NODE);
        ck_assert_uint_eq(json_array_size(r.errors), 0);

        /* Through inotify too: the dot-file's change is not even a reason to scan, the sentinel's is. */
        put_file(dir, ".other.yaml", POD_YAML("other", "busybox"));
        put_file(dir, "sentinel.yaml", POD_YAML("sentinel", "busybox"));
        wait_for(e, r.added, 2, "sentinel");
        ck_assert_str_eq(added_name(&r, 1), "sentinel-" NODE);
        ck_assert_uint_eq(json_array_size(r.added), 2);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_non_regular_files_refused) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *fifo = NULL, *fifo2 = NULL, *sub = NULL, *link = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        fifo = file_path(dir, "x.yaml");
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        sub = file_path(dir, "sub.yaml");
        ck_assert_int_eq(mkdir(sub, 0755), 0);
        put_file(dir, "target.yaml", POD_YAML("target", "busybox"));
        link = file_path(dir, "link.yaml");
        ck_assert_int_eq(symlink("target.yaml", link), 0);
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        /* Reading the FIFO would block forever: the scan must finish. */
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        ck_assert_str_eq(added_name(&r, 0), "target-" NODE);
        ck_assert_uint_eq(json_array_size(r.errors), 3);
        /* Lexical order: link.yaml, sub.yaml, (target.yaml), x.yaml */
        ck_assert_str_eq(error_path_at(&r, 0), link);
        ck_assert_ptr_nonnull(strstr(error_message_at(&r, 0), "symbolic link"));
        ck_assert_str_eq(error_path_at(&r, 1), sub);
        ck_assert_ptr_nonnull(strstr(error_message_at(&r, 1), "is a directory"));
        ck_assert_str_eq(error_path_at(&r, 2), fifo);
        ck_assert_ptr_nonnull(strstr(error_message_at(&r, 2), "not a regular file"));
        ck_assert_ptr_nonnull(strstr(error_message_at(&r, 2), fifo));

        /* A FIFO that appears later is reported through inotify (no IN_CLOSE_WRITE will come for it). */
        fifo2 = file_path(dir, "y.json");
        ck_assert_int_eq(mkfifo(fifo2, 0644), 0);
        wait_for(e, r.errors, 4, "error for the new FIFO");
        ck_assert_str_eq(error_path_at(&r, 3), fifo2);

        /* A scan for another change does not report the unchanged entries again... */
        recorder_clear(&r);
        put_file(dir, "sentinel.yaml", POD_YAML("sentinel", "busybox"));
        wait_for(e, r.added, 1, "sentinel");
        ck_assert_uint_eq(json_array_size(r.errors), 0);
        /* ...an explicit rescan (SIGHUP) does. */
        recorder_clear(&r);
        static_pod_source_rescan(s);
        ck_assert_uint_eq(json_array_size(r.errors), 4);
        ck_assert_uint_eq(json_array_size(r.added), 0);
        ck_assert_uint_eq(json_array_size(r.removed), 0);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_invalid_files_reported) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *bad = NULL, *expected = NULL, *big = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;
        int fd;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        /* Document 1 is fine, document 2 is not: the whole file contributes nothing. */
        put_file(dir, "bad.yaml",
                 POD_YAML("ok", "busybox") "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n");
        put_file(dir, "good.yaml", POD_YAML("good", "busybox"));
        put_file(dir, "list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {}}\n");
        put_file(dir, "syntax.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [\n");
        put_file(dir, "version.json", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\"}}");
        put_file(dir, "scalar.yaml", "just a string\n");
        big = file_path(dir, "zbig.yaml");
        fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, STATIC_POD_FILE_MAX + 1), 0);
        close(fd);

        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        ck_assert_str_eq(added_name(&r, 0), "good-" NODE);
        ck_assert_uint_eq(json_array_size(r.errors), 6);

        bad = file_path(dir, "bad.yaml");
        ck_assert_int_ge(asprintf(&expected, "%s: document 2: kind: expected \"Pod\", got \"Service\"", bad), 0);
        ck_assert_str_eq(error_path_at(&r, 0), bad);
        ck_assert_str_eq(error_message_at(&r, 0), expected);
        ck_assert_msg(strstr(error_message_at(&r, 1), "list.yaml: document 1: items[0]: metadata.name: required"), "%s",
                      error_message_at(&r, 1));
        ck_assert_msg(strstr(error_message_at(&r, 2), "scalar.yaml: document 1: expected an object, got string"), "%s",
                      error_message_at(&r, 2));
        ck_assert_msg(strstr(error_message_at(&r, 3), "syntax.yaml:"), "%s", error_message_at(&r, 3));
        ck_assert_msg(strstr(error_message_at(&r, 4), "version.json: document 1: apiVersion: expected \"v1\", got "
                                                      "\"apps/v1\""),
                      "%s", error_message_at(&r, 4));
        ck_assert_msg(strstr(error_message_at(&r, 5), "zbig.yaml: larger than"), "%s", error_message_at(&r, 5));

        /* Fixed: its pods arrive; still bad after an edit: reported again. */
        recorder_clear(&r);
        overwrite_file(dir, "bad.yaml", POD_YAML("ok", "busybox"));
        overwrite_file(dir, "list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {kind: Service}\n");
        wait_for(e, r.errors, 1, "error after the edit");
        wait_for(e, r.added, 1, "pod of the fixed file");
        ck_assert_str_eq(added_name(&r, 0), "ok-" NODE);
        ck_assert_msg(strstr(error_message_at(&r, 0), "items[0]: kind: expected \"Pod\", got \"Service\""), "%s",
                      error_message_at(&r, 0));

        /* A good file that turns bad loses its pod. */
        recorder_clear(&r);
        overwrite_file(dir, "good.yaml", "kind: Pod\n");
        wait_for(e, r.removed, 1, "remove of the now bad file's pod");
        ck_assert_uint_ge(json_array_size(r.errors), 1);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

static void expected_uid(const char *node, const char *path, const char *yaml, char ret[33]) {
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_free_ char *canonical = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        char host[256], file[4096];

        ck_assert_int_eq(yaml_parse(yaml, strlen(yaml), "test", &doc, NULL), 0);
        canonical = jx_dump_compact(doc);
        snprintf(host, sizeof host, "host:%s", node);
        snprintf(file, sizeof file, "file:%s", path);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        ck_assert(EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1);
        EVP_DigestUpdate(ctx, host, strlen(host));
        EVP_DigestUpdate(ctx, file, strlen(file));
        EVP_DigestUpdate(ctx, canonical, strlen(canonical));
        ck_assert(EVP_DigestFinal_ex(ctx, md, &len) == 1);
        EVP_MD_CTX_free(ctx);
        for (unsigned i = 0; i < len; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
}

START_TEST(test_uid_stable_and_content_addressed) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *uid = NULL, *seen = NULL, *path = NULL;
        char *dir = test_tmpdir_new("static-pods");
        char want[33];
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        put_file(dir, "web.yaml", POD_YAML("web", "busybox"));
        path = file_path(dir, "web.yaml");
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        uid = strdup(added_uid(&r, 0));
        json_t *ann = json_object_get(json_object_get(json_array_get(r.added, 0), "metadata"), "annotations");
        seen = strdup(json_string_value(json_object_get(ann, POD_ANNOTATION_CONFIG_SEEN)));
        /* The documented formula: MD5("host:<node>" "file:<path>" canonical JSON). */
        expected_uid(NODE, path, POD_YAML("web", "busybox"), want);
        ck_assert_str_eq(uid, want);

        /* Rescans of an unchanged file: nothing. Rewriting the same content: nothing either. */
        recorder_clear(&r);
        static_pod_source_rescan(s);
        overwrite_file(dir, "web.yaml", POD_YAML("web", "busybox"));
        static_pod_source_rescan(s);
        ck_assert_uint_eq(json_array_size(r.added), 0);
        ck_assert_uint_eq(json_array_size(r.removed), 0);

        /* A restart: same UID. */
        s = static_pod_source_free(s);
        recorder_clear(&r);
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        ck_assert_str_eq(added_uid(&r, 0), uid);
        s = static_pod_source_free(s);

        /* Another node: another UID and name suffix (lower-cased like the kubelet's). */
        recorder_clear(&r);
        ck_assert_int_eq(static_pod_source_new(e, dir, "Node-B", NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        ck_assert_str_ne(added_uid(&r, 0), uid);
        ck_assert_str_eq(added_name(&r, 0), "web-node-b");
        ck_assert_str_eq(pod_str(json_array_get(r.added, 0), "spec", "nodeName"), "Node-B");
        s = static_pod_source_free(s);

        /* Another file name, same content: another UID (the kubelet hashes the source too). */
        recorder_clear(&r);
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        recorder_clear(&r);
        _cleanup_free_ char *renamed = file_path(dir, "web2.yaml");
        ck_assert_int_eq(rename(path, renamed), 0);
        wait_for(e, r.added, 1, "add after rename");
        ck_assert_uint_eq(json_array_size(r.removed), 1);
        ck_assert_str_eq(removed_uid(&r, 0), uid);
        ck_assert_str_ne(added_uid(&r, 0), uid);

        /* A uid written in the manifest does not pin the UID: content still decides. */
        recorder_clear(&r);
        put_file(dir, "pinned.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: pinned, uid: fixed}\n");
        wait_for(e, r.added, 1, "pinned");
        ck_assert_str_ne(added_uid(&r, 0), "fixed");

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_duplicate_names) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *uid_a = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        put_file(dir, "a.yaml", POD_YAML("web", "busybox"));
        put_file(dir, "b.yaml", POD_YAML("other", "busybox") "---\n" POD_YAML("web", "busybox:2"));
        a = file_path(dir, "a.yaml");
        b = file_path(dir, "b.yaml");
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        /* The later file's duplicate is reported and ignored; its other pod runs. */
        ck_assert_uint_eq(json_array_size(r.added), 2);
        ck_assert_str_eq(added_name(&r, 0), "web-" NODE);
        ck_assert_str_eq(added_name(&r, 1), "other-" NODE);
        uid_a = strdup(added_uid(&r, 0));
        ck_assert_uint_eq(json_array_size(r.errors), 1);
        ck_assert_str_eq(error_path_at(&r, 0), b);
        ck_assert_ptr_nonnull(strstr(error_message_at(&r, 0),
                                     "document 2: metadata.name: pod \"default/web-" NODE "\" is already defined in"));
        ck_assert_ptr_nonnull(strstr(error_message_at(&r, 0), a));

        /* Not reported again while nothing changes. */
        recorder_clear(&r);
        put_file(dir, "c.yaml", POD_YAML("c", "busybox"));
        wait_for(e, r.added, 1, "sentinel");
        ck_assert_uint_eq(json_array_size(r.errors), 0);

        /* The earlier one goes away: the duplicate takes over. */
        recorder_clear(&r);
        ck_assert_int_eq(unlink(a), 0);
        wait_for(e, r.added, 1, "the duplicate taking over");
        ck_assert_uint_eq(json_array_size(r.removed), 1);
        ck_assert_str_eq(removed_uid(&r, 0), uid_a);
        ck_assert_str_eq(added_name(&r, 0), "web-" NODE);
        ck_assert_str_ne(added_uid(&r, 0), uid_a);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_missing_dir_created_later) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *pods = NULL;
        char *dir = test_tmpdir_new("static-pods");
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        pods = file_path(dir, "manifests");
        /* Missing is "no pods", and synced. */
        ck_assert_int_eq(static_pod_source_new(e, pods, NODE, NO_POLL, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 0);
        ck_assert_uint_eq(json_array_size(r.errors), 0);

        /* Created (with its files, atomically, by renaming a prepared directory into place). */
        _cleanup_free_ char *staging = file_path(dir, ".staging");
        ck_assert_int_eq(mkdir(staging, 0755), 0);
        put_file(staging, "web.yaml", POD_YAML("web", "busybox"));
        ck_assert_int_eq(rename(staging, pods), 0);
        wait_for(e, r.added, 1, "pod of the new directory");
        ck_assert_str_eq(added_name(&r, 0), "web-" NODE);

        /* Then a file added to the now watched directory. */
        put_file(pods, "db.yaml", POD_YAML("db", "busybox"));
        wait_for(e, r.added, 2, "pod of a new file");
        ck_assert_str_eq(added_name(&r, 1), "db-" NODE);

        /* Removed: every pod goes. */
        ck_assert_int_eq(rm_rf(pods), 0);
        wait_for(e, r.removed, 2, "removes for the removed directory");

        /* And created again, plainly. */
        ck_assert_int_eq(mkdir(pods, 0755), 0);
        put_file(pods, "again.yaml", POD_YAML("again", "busybox"));
        wait_for(e, r.added, 3, "pod of the recreated directory");
        ck_assert_str_eq(added_name(&r, 2), "again-" NODE);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_periodic_rescan_catches_missed_change) {
        _cleanup_event_ sd_event *e = NULL;
        _cleanup_(static_pod_source_freep) StaticPodSource *s = NULL;
        _cleanup_free_ char *path = NULL, *uid = NULL;
        char *dir = test_tmpdir_new("static-pods");
        const char *edit = POD_YAML("web", "busybox:edited");
        Recorder r;

        recorder_init(&r);
        ck_assert_int_eq(sd_event_new(&e), 0);
        put_file(dir, "web.yaml", POD_YAML("web", "busybox"));
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, 50 * USEC_PER_MSEC, &callbacks, &r, &s), 0);
        wait_synced(e, &r);
        ck_assert_uint_eq(json_array_size(r.added), 1);
        uid = strdup(added_uid(&r, 0));

        /* Written but not closed: inotify reports nothing we listen to (no IN_CLOSE_WRITE); only the periodic
         * rescan, comparing size and mtime, sees it. */
        path = file_path(dir, "web.yaml");
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, edit, strlen(edit)), (ssize_t) strlen(edit));
        wait_for(e, r.added, 2, "the periodic rescan");
        ck_assert_uint_eq(json_array_size(r.removed), 1);
        ck_assert_str_eq(removed_uid(&r, 0), uid);
        ck_assert_str_eq(
                json_string_value(json_object_get(
                        json_array_get(
                                json_object_get(json_object_get(json_array_get(r.added, 1), "spec"), "containers"), 0),
                        "image")),
                "busybox:edited");
        close(fd);

        s = static_pod_source_free(s);
        recorder_done(&r);
        test_tmpdir_remove(dir);
}
END_TEST

typedef struct Reentrant {
        StaticPodSource *s;
        int adds, synced;
} Reentrant;

static void on_add_rescan(json_t *pod, const char *origin, void *userdata) {
        Reentrant *x = userdata;
        x->adds++;
        /* Re-entrant rescans are deferred until the running pass is done; they find nothing new. */
        static_pod_source_rescan(x->s);
}

static void on_remove_ignore(const char *uid, void *userdata) {
}

static void on_synced_count(void *userdata) {
        Reentrant *x = userdata;
        x->synced++;
}

START_TEST(test_rescan_from_callback) {
        _cleanup_event_ sd_event *e = NULL;
        char *dir = test_tmpdir_new("static-pods");
        const PodSourceCallbacks cb = {.add = on_add_rescan, .remove = on_remove_ignore, .synced = on_synced_count};
        Reentrant x = {};

        ck_assert_int_eq(sd_event_new(&e), 0);
        put_file(dir, "a.yaml", POD_YAML("a", "busybox"));
        put_file(dir, "b.yaml", POD_YAML("b", "busybox"));
        ck_assert_int_eq(static_pod_source_new(e, dir, NODE, NO_POLL, &cb, &x, &x.s), 0);
        uint64_t deadline = now_usec() + WAIT_USEC;
        while (x.synced == 0 && now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert_int_eq(x.synced, 1);
        ck_assert_int_eq(x.adds, 2);
        x.s = static_pod_source_free(x.s);
        test_tmpdir_remove(dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("static-pods");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_add_edit_remove_inotify);
        tcase_add_test(tc, test_multi_document_and_list);
        tcase_add_test(tc, test_dot_files_ignored);
        tcase_add_test(tc, test_non_regular_files_refused);
        tcase_add_test(tc, test_invalid_files_reported);
        tcase_add_test(tc, test_uid_stable_and_content_addressed);
        tcase_add_test(tc, test_duplicate_names);
        tcase_add_test(tc, test_missing_dir_created_later);
        tcase_add_test(tc, test_periodic_rescan_catches_missed_change);
        tcase_add_test(tc, test_rescan_from_callback);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
