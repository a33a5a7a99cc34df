/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's image pull queue (agent/image-pull.h) with a fake nodeletctl (a shell script that records how it was
 * run): callers of one image coalesced onto one child, serializeImagePulls running one child at a time in request
 * order, different credentials pulling on their own, the child's stderr as the failure message, the credentials
 * file private and removed afterwards, a cancelled pull's child killed; and the merge of imagePullSecrets into one
 * docker config.json. The real registry end to end: tests/agent/test-image-pull.py. */

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "agent/image-pull.h"
#include "common/event-util.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

#define ID_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* $1.. as nodeletctl gets them: images --root-dir R pull -q [--authfile F] -- REF. Records "start REF [auth-mode
 * auth-content]" and "end REF" in $DIR/log, its pid in $DIR/pid. */
static const char fake_ctl[] =
        "#!/bin/sh\n"
        "dir=$(dirname \"$0\")\n"
        "auth=\n"
        "while [ $# -gt 1 ]; do case \"$1\" in --authfile) auth=$2; shift;; esac; shift; done\n"
        "ref=$1\n"
        "if [ -n \"$auth\" ]; then\n"
        "  echo \"start $ref $(stat -c %a \"$auth\") $(stat -c %a \"$(dirname \"$auth\")\") $(cat \"$auth\")\" >> "
        "\"$dir/log\"\n"
        "else echo \"start $ref\" >> \"$dir/log\"; fi\n"
        "echo $$ > \"$dir/pid\"\n"
        "case \"$ref\" in\n"
        "ok/*) sleep 0.2; echo \"end $ref\" >> \"$dir/log\"; echo 'progress line'; echo " ID_A " ;;\n"
        "fail/*) echo 'E1123 08:14:01.123456 first line' >&2; echo \"$ref: boom\" >&2; exit 1 ;;\n"
        "hang/*) exec sleep 100 ;;\n"
        "esac\n";

typedef struct Fixture {
        char dir[64];
        char tmp[80];
        sd_event *e;
        ImagePullQueue *q;
} Fixture;

typedef struct Result {
        bool done;
        int r;
        char id[80];
        char message[1024];
        unsigned order;
} Result;

static unsigned done_count;

static void on_done(int r, const ImagePullResult *res, void *userdata) {
        Result *x = userdata;
        x->done = true;
        x->r = r;
        x->order = ++done_count;
        snprintf(x->id, sizeof x->id, "%s", strempty(res->image_id));
        snprintf(x->message, sizeof x->message, "%s", strempty(res->message));
}

static void setup(Fixture *f, unsigned max_parallel) {
        char path[128];
        snprintf(f->dir, sizeof f->dir, "/tmp/test-image-pull.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(f->dir));
        snprintf(path, sizeof path, "%s/ctl", f->dir);
        ck_assert_int_eq(write_file_atomic(path, fake_ctl, strlen(fake_ctl), 0755, false), 0);
        snprintf(f->tmp, sizeof f->tmp, "%s/tmp", f->dir);
        ck_assert_int_eq(mkdir(f->tmp, 0700), 0);
        ck_assert_int_eq(sd_event_new(&f->e), 0);
        ImagePullQueueOptions o = {
                .ctl_path = path, .root_dir = f->dir, .tmp_dir = f->tmp, .max_parallel = max_parallel};
        ck_assert_int_eq(image_pull_queue_new(f->e, &o, &f->q), 0);
        done_count = 0;
}

static void teardown(Fixture *f) {
        f->q = image_pull_queue_free(f->q);
        f->e = sd_event_unref(f->e);
        ck_assert_int_eq(rm_rf(f->dir), 0);
}

static void run_until(Fixture *f, bool *flag) {
        for (int i = 0; i < 2000 && !*flag; i++)
                ck_assert_int_ge(sd_event_run(f->e, 10 * USEC_PER_MSEC), 0);
        ck_assert(*flag);
}

static char *read_log(Fixture *f) {
        char path[128];
        char *data = NULL;
        snprintf(path, sizeof path, "%s/log", f->dir);
        if (read_full_file(path, 0, &data, NULL) < 0)
                return strdup("");
        return data;
}

static bool tmp_is_empty(Fixture *f) {
        _cleanup_free_ char *cmd = NULL;
        ck_assert_int_ge(asprintf(&cmd, "test -z \"$(ls -A %s)\"", f->tmp), 0);
        return system(cmd) == 0;
}

START_TEST(test_coalesce_and_serialize) {
        Fixture f;
        Result a1 = {}, a2 = {}, b = {};
        setup(&f, 1);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/a:1", NULL, on_done, &a1, NULL), 0);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/b:1", NULL, on_done, &b, NULL), 0);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/a:1", NULL, on_done, &a2, NULL), 0);
        ck_assert_uint_eq(image_pull_queue_pending(f.q), 2);
        run_until(&f, &b.done);
        ck_assert(a1.done && a2.done);
        ck_assert_int_eq(a1.r, 0);
        ck_assert_int_eq(a2.r, 0);
        ck_assert_int_eq(b.r, 0);
        ck_assert_str_eq(a1.id, ID_A);
        ck_assert_str_eq(a2.id, ID_A);
        /* The callers of one pull in request order, the second pull after the first. */
        ck_assert_uint_lt(a1.order, a2.order);
        ck_assert_uint_lt(a2.order, b.order);
        /* One child per image, one after the other. */
        _cleanup_free_ char *log = read_log(&f);
        ck_assert_str_eq(log, "start ok/a:1\nend ok/a:1\nstart ok/b:1\nend ok/b:1\n");
        ck_assert_uint_eq(image_pull_queue_pending(f.q), 0);
        teardown(&f);
}
END_TEST

START_TEST(test_parallel) {
        Fixture f;
        Result a = {}, b = {};
        setup(&f, 0);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/a:1", NULL, on_done, &a, NULL), 0);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/b:1", NULL, on_done, &b, NULL), 0);
        run_until(&f, &a.done);
        run_until(&f, &b.done);
        /* No limit: both started before either ended. */
        _cleanup_free_ char *log = read_log(&f);
        ck_assert_msg(strncmp(log, "start ok/a:1\nstart ok/b:1\n", 26) == 0 ||
                              strncmp(log, "start ok/b:1\nstart ok/a:1\n", 26) == 0,
                      "%s", log);
        teardown(&f);
}
END_TEST

START_TEST(test_failure_message) {
        Fixture f;
        Result x = {};
        setup(&f, 1);
        ck_assert_int_eq(image_pull_queue_request(f.q, "fail/x:1", NULL, on_done, &x, NULL), 0);
        run_until(&f, &x.done);
        ck_assert_int_lt(x.r, 0);
        /* The last line, which names the image. */
        ck_assert_str_eq(x.message, "fail/x:1: boom");
        teardown(&f);
}
END_TEST

START_TEST(test_credentials) {
        Fixture f;
        Result x = {}, y = {};
        setup(&f, 1);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/a:1", "{\"auths\":{}}", on_done, &x, NULL), 0);
        /* Other credentials (none): a pull of its own. */
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/a:1", NULL, on_done, &y, NULL), 0);
        ck_assert_uint_eq(image_pull_queue_pending(f.q), 2);
        run_until(&f, &y.done);
        ck_assert(x.done);
        _cleanup_free_ char *log = read_log(&f);
        /* The file 0600 in a 0700 directory; both gone afterwards. */
        ck_assert_str_eq(log, "start ok/a:1 600 700 {\"auths\":{}}\nend ok/a:1\nstart ok/a:1\nend ok/a:1\n");
        ck_assert(tmp_is_empty(&f));
        teardown(&f);
}
END_TEST

START_TEST(test_cancel_kills) {
        Fixture f;
        Result x = {}, y = {}, z = {};
        ImagePullRequest *h1 = NULL, *h2 = NULL;
        char path[128];
        setup(&f, 1);
        ck_assert_int_eq(image_pull_queue_request(f.q, "hang/x:1", "{}", on_done, &x, &h1), 0);
        ck_assert_int_eq(image_pull_queue_request(f.q, "hang/x:1", "{}", on_done, &y, &h2), 0);
        ck_assert_int_eq(image_pull_queue_request(f.q, "ok/a:1", NULL, on_done, &z, NULL), 0);
        /* Wait until the child runs sleep (the pid file is written just before). */
        snprintf(path, sizeof path, "%s/pid", f.dir);
        for (int i = 0; i < 2000 && access(path, F_OK) < 0; i++)
                ck_assert_int_ge(sd_event_run(f.e, 10 * USEC_PER_MSEC), 0);
        _cleanup_free_ char *pid_text = NULL;
        ck_assert_int_eq(read_full_file(path, 0, &pid_text, NULL), 0);
        pid_t pid = (pid_t) atoi(pid_text);
        ck_assert_int_gt(pid, 1);
        image_pull_request_cancel(h1);
        ck_assert_int_eq(kill(pid, 0), 0); /* one caller left */
        image_pull_request_cancel(h2);
        /* Killed and reaped: the pid is gone; the credentials too; the next pull runs. */
        ck_assert_int_eq(kill(pid, 0), -1);
        ck_assert_int_eq(errno, ESRCH);
        ck_assert(tmp_is_empty(&f));
        run_until(&f, &z.done);
        ck_assert_int_eq(z.r, 0);
        ck_assert(!x.done && !y.done);
        teardown(&f);
}
END_TEST

START_TEST(test_queue_free_kills) {
        Fixture f;
        Result x = {};
        char path[128];
        setup(&f, 1);
        ck_assert_int_eq(image_pull_queue_request(f.q, "hang/x:1", NULL, on_done, &x, NULL), 0);
        snprintf(path, sizeof path, "%s/pid", f.dir);
        for (int i = 0; i < 2000 && access(path, F_OK) < 0; i++)
                ck_assert_int_ge(sd_event_run(f.e, 10 * USEC_PER_MSEC), 0);
        _cleanup_free_ char *pid_text = NULL;
        ck_assert_int_eq(read_full_file(path, 0, &pid_text, NULL), 0);
        pid_t pid = (pid_t) atoi(pid_text);
        f.q = image_pull_queue_free(f.q);
        ck_assert_int_eq(kill(pid, 0), -1);
        ck_assert(!x.done);
        teardown(&f);
}
END_TEST

static json_t *parse(const char *text) {
        json_t *j = NULL;
        ck_assert_int_eq(jx_parse(text, strlen(text), "test", &j, NULL), 0);
        return j;
}

START_TEST(test_auth_from_secrets) {
        _cleanup_json_ json_t *pod =
                parse("{\"spec\": {\"imagePullSecrets\": [{\"name\": \"gone\"}, {\"name\": \"new\"}, "
                      "{\"name\": \"old\"}, {\"name\": \"broken\"}]}}");
        /* Values decoded, as the cache holds them. */
        _cleanup_json_ json_t *secrets = parse(
                "{\"new\": {\"data\": {\".dockerconfigjson\": \"{\\\"auths\\\": {\\\"r1.example\\\": {\\\"auth\\\": "
                "\\\"YTpi\\\"}, \\\"r2.example\\\": {\\\"auth\\\": \\\"YzpkCg==\\\"}}}\"}},"
                " \"old\": {\"data\": {\".dockercfg\": \"{\\\"r2.example\\\": {\\\"auth\\\": \\\"eDp5\\\"}, "
                "\\\"https://r3.example\\\": {\\\"username\\\": \\\"u\\\", \\\"password\\\": \\\"p\\\"}}\"}},"
                " \"broken\": {\"data\": {\".dockerconfigjson\": \"not json\"}}}");
        _cleanup_free_ char *auth = NULL;
        ck_assert_int_eq(image_pull_auth_from_secrets(pod, secrets, &auth), 0);
        ck_assert_ptr_nonnull(auth);
        _cleanup_json_ json_t *j = parse(auth);
        json_t *auths = json_object_get(j, "auths");
        ck_assert_uint_eq(json_object_size(auths), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(auths, "r1.example"), "auth")), "YTpi");
        /* The first secret naming a registry wins. */
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(auths, "r2.example"), "auth")), "YzpkCg==");
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(auths, "https://r3.example"), "username")),
                         "u");

        _cleanup_json_ json_t *none = parse("{\"spec\": {}}");
        _cleanup_free_ char *nothing = NULL;
        ck_assert_int_eq(image_pull_auth_from_secrets(none, secrets, &nothing), 0);
        ck_assert_ptr_null(nothing);
}
END_TEST

int main(void) {
        Suite *s = suite_create("image-pull");
        TCase *tc = tcase_create("queue");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_coalesce_and_serialize);
        tcase_add_test(tc, test_parallel);
        tcase_add_test(tc, test_failure_message);
        tcase_add_test(tc, test_credentials);
        tcase_add_test(tc, test_cancel_kills);
        tcase_add_test(tc, test_queue_free_kills);
        tcase_add_test(tc, test_auth_from_secrets);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
