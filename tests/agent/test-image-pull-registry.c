/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's registry settings for its pull children (agent/image-pull.h): --registry-config-dir handed on, and
 * the node-level credentials like the kubelet's keyring, the first existing of <root-dir>/config.json and the
 * fallback file, as --node-authfile (looked up per pull: a file that appears later is used without a restart); a
 * warning the child prints on a successful pull (a mirror that failed) does not hide the image id. The pull itself
 * with node credentials: tests/runtime/registry/test-registry-mirrors.py. */

#include <stdio.h>
#include <sys/stat.h>

#include "agent/image-pull.h"
#include "common/fileio.h"
#include "tests/lib/testlib.h"

#define ID_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Records its arguments (one line per run) in $DIR/args and succeeds, after a warning on stderr like nodeletctl's
 * fallback message. */
static const char fake_ctl[] = "#!/bin/sh\n"
                               "echo \"$*\" >> \"$(dirname \"$0\")/args\"\n"
                               "echo 'W1123 08:14:01.123456 Registry host failed: mirror down' >&2\n"
                               "echo " ID_A "\n";

typedef struct Result {
        bool done;
        int r;
        char id[80];
} Result;

static void on_done(int r, const ImagePullResult *res, void *userdata) {
        Result *x = userdata;
        x->done = true;
        x->r = r;
        snprintf(x->id, sizeof x->id, "%s", strempty(res->image_id));
}

static char *pull_args(sd_event *e, ImagePullQueue *q, const char *dir, const char *ref) {
        Result res = {};
        char path[256];
        char *data = NULL;
        ck_assert_int_eq(image_pull_queue_request(q, ref, NULL, on_done, &res, NULL), 0);
        for (int i = 0; i < 2000 && !res.done; i++)
                ck_assert_int_ge(sd_event_run(e, 10 * USEC_PER_MSEC), 0);
        ck_assert(res.done);
        ck_assert_int_eq(res.r, 0);
        ck_assert_str_eq(res.id, ID_A);
        snprintf(path, sizeof path, "%s/args", dir);
        ck_assert_int_eq(read_full_file(path, 0, &data, NULL), 0);
        ck_assert_int_eq(unlink(path), 0);
        return data;
}

START_TEST(test_node_credentials_and_hosts_dir) {
        char dir[] = "/tmp/test-image-pull-registry.XXXXXX", ctl[128], home_cfg[128], root_cfg[128], tmpd[128];
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(ctl, sizeof ctl, "%s/ctl", dir);
        snprintf(home_cfg, sizeof home_cfg, "%s/home-config.json", dir);
        snprintf(root_cfg, sizeof root_cfg, "%s/config.json", dir);
        snprintf(tmpd, sizeof tmpd, "%s/tmp", dir);
        ck_assert_int_eq(mkdir(tmpd, 0700), 0);
        ck_assert_int_eq(write_file_atomic(ctl, fake_ctl, strlen(fake_ctl), 0755, false), 0);
        char *files[] = {root_cfg, home_cfg, NULL};
        sd_event *e = NULL;
        ImagePullQueue *q = NULL;
        ck_assert_int_eq(sd_event_new(&e), 0);
        ImagePullQueueOptions o = {.ctl_path = ctl,
                                   .root_dir = dir,
                                   .tmp_dir = tmpd,
                                   .registry_config_dir = "/etc/test-certs.d",
                                   .node_auth_files = files};
        ck_assert_int_eq(image_pull_queue_new(e, &o, &q), 0);

        /* No node credentials yet. */
        _cleanup_free_ char *a1 = pull_args(e, q, dir, "r.example/app:1");
        ck_assert_msg(strstr(a1, "--registry-config-dir /etc/test-certs.d") && !strstr(a1, "--node-authfile"), "%s",
                      a1);
        /* The fallback file, then <root-dir>/config.json wins once it exists. */
        ck_assert_int_eq(write_file_atomic(home_cfg, "{}", 2, 0600, false), 0);
        _cleanup_free_ char *a2 = pull_args(e, q, dir, "r.example/app:2");
        ck_assert_msg(strstr(a2, "--node-authfile ") && strstr(a2, home_cfg), "%s", a2);
        ck_assert_int_eq(write_file_atomic(root_cfg, "{}", 2, 0600, false), 0);
        _cleanup_free_ char *a3 = pull_args(e, q, dir, "r.example/app:3");
        ck_assert_msg(strstr(a3, root_cfg) && !strstr(a3, home_cfg), "%s", a3);
        /* The reference stays last, after "--". */
        ck_assert_msg(strstr(a3, "-- r.example/app:3\n"), "%s", a3);

        q = image_pull_queue_free(q);
        e = sd_event_unref(e);
        ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

START_TEST(test_default_node_credentials) {
        char dir[] = "/tmp/test-image-pull-registry.XXXXXX", ctl[128], root_cfg[128];
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(ctl, sizeof ctl, "%s/ctl", dir);
        snprintf(root_cfg, sizeof root_cfg, "%s/config.json", dir);
        ck_assert_int_eq(write_file_atomic(ctl, fake_ctl, strlen(fake_ctl), 0755, false), 0);
        ck_assert_int_eq(write_file_atomic(root_cfg, "{}", 2, 0600, false), 0);
        sd_event *e = NULL;
        ImagePullQueue *q = NULL;
        ck_assert_int_eq(sd_event_new(&e), 0);
        /* Defaults: <root-dir>/config.json first (the kubelet's /var/lib/kubelet/config.json), no hosts dir flag. */
        ImagePullQueueOptions o = {.ctl_path = ctl, .root_dir = dir, .tmp_dir = dir};
        ck_assert_int_eq(image_pull_queue_new(e, &o, &q), 0);
        _cleanup_free_ char *a = pull_args(e, q, dir, "r.example/app:1");
        ck_assert_msg(strstr(a, "--node-authfile ") && strstr(a, root_cfg), "%s", a);
        ck_assert_msg(!strstr(a, "--registry-config-dir"), "%s", a);
        q = image_pull_queue_free(q);
        e = sd_event_unref(e);
        ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("image-pull-registry");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_node_credentials_and_hosts_dir);
        tcase_add_test(tc, test_default_node_credentials);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
