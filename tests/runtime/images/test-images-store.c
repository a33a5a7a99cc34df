/* SPDX-License-Identifier: Apache-2.0 */
/* The image store against real images from tests/fixtures/make-busybox-image.py, as root (ownership, 0:0 whiteout
 * devices and trusted.* xattrs need it): every import format and compression, layer sharing and reference counting,
 * in-use protection, overlayfs whiteouts, hard links/xattrs, and bad inputs leaving the store unchanged. */

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "common/event-util.h"
#include "common/fileio.h"
#include "runtime/image-store.h"
#include "tests/lib/testlib.h"

#define FIXTURE_MTIME 1700000000

/* One directory per run, made and removed by the parent (unchecked fixture), so a failing test (whose forked child
 * exits at the failed assertion) leaves nothing behind; each test works in its own subdirectory. */
static char *run_dir;
static char *tmpdir;

static void setup_run(void) {
        test_require_root();
        run_dir = test_tmpdir_new("images");
        ck_assert_ptr_nonnull(run_dir);
}

static void teardown_run(void) {
        test_tmpdir_remove(run_dir); /* frees it */
        run_dir = NULL;
}

static void setup(void) {
        ck_assert_int_ge(asprintf(&tmpdir, "%s/test.XXXXXX", run_dir), 0);
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
        if (tmpdir)
                (void) rm_rf(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
}

/* Builds a fixture into tmpdir/name with the given builder options; returns its path. */
static char *fixture(const char *name, const char *opts) {
        char *path;
        ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir, name), 0);
        int r = test_system("python3 %s/tests/fixtures/make-busybox-image.py %s %s", test_source_dir(), path, opts);
        ck_assert_msg(r == 0, "fixture builder failed for %s (%s)", name, opts);
        return path;
}

static ImageStore *store_new(const char *name) {
        _cleanup_free_ char *dir = NULL;
        ImageStore *s = NULL;
        ck_assert_int_ge(asprintf(&dir, "%s/%s", tmpdir, name), 0);
        ck_assert_int_eq(image_store_open(dir, &s), 0);
        return s;
}

static void import_ok(ImageStore *s, const char *path, const char *ref, ImageInfo **ret) {
        ErrorBuf e = {};
        int r = image_store_import(s, path, ref, ret, &e);
        ck_assert_msg(r == 0, "import of %s failed: %s", path, error_message(&e, r));
}

static char *layer_file(const ImageInfo *i, size_t layer, const char *rel) {
        char *p;
        ck_assert_int_ge(asprintf(&p, "%s/%s", i->layer_dirs[layer], rel), 0);
        return p;
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        size_t n = 0;
        ck_assert_ptr_nonnull(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* What a busybox fixture must look like once unpacked. */
static void check_busybox(ImageStore *s, const char *what) {
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        ErrorBuf e = {};
        int r = image_store_get(s, "busybox", &i, &e);
        ck_assert_msg(r == 0, "%s: %s", what, error_message(&e, r));
        ck_assert_str_eq(i->refs[0], "docker.io/library/busybox:latest");
        ck_assert_ptr_null(i->refs[1]);
        ck_assert_str_eq(i->cmd[0], "sh");
        ck_assert_ptr_null(i->entrypoint[0]);
        ck_assert_str_eq(i->env[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        ck_assert_str_eq(i->working_dir, "/");
        ck_assert_ptr_nonnull(i->layer_dirs[0]);
        ck_assert_ptr_null(i->layer_dirs[1]);
        ck_assert_uint_gt(i->size, 500000);
        ck_assert(startswith(i->id, "sha256:"));

        struct stat bb, sh, tmp, ln, home;
        _cleanup_free_ char *pbb = layer_file(i, 0, "bin/busybox"), *psh = layer_file(i, 0, "bin/sh"),
                            *ptmp = layer_file(i, 0, "tmp"), *pls = layer_file(i, 0, "bin/ls"),
                            *phome = layer_file(i, 0, "home/app"), *plab = layer_file(i, 0, "etc/labelled");
        ck_assert_int_eq(stat(pbb, &bb), 0);
        ck_assert_int_eq(stat(psh, &sh), 0);
        /* hard link kept */
        ck_assert_msg(bb.st_ino == sh.st_ino && bb.st_nlink == 2, "%s: bin/sh is not a hard link of busybox", what);
        ck_assert_int_eq(bb.st_mode & 07777, 0755);
        ck_assert_int_eq(bb.st_mtime, FIXTURE_MTIME);
        ck_assert_int_eq(stat(ptmp, &tmp), 0);
        ck_assert_int_eq(tmp.st_mode & 07777, 01777);
        ck_assert_int_eq(lstat(pls, &ln), 0);
        ck_assert(S_ISLNK(ln.st_mode));
        ck_assert_int_eq(stat(phome, &home), 0);
        ck_assert_int_eq(home.st_uid, 1000);
        ck_assert_int_eq(home.st_gid, 1000);
        char val[64] = {};
        ck_assert_int_eq(getxattr(plab, "user.nodelet.test", val, sizeof val - 1), 7);
        ck_assert_str_eq(val, "fixture");
}

static const char *const formats[] = {"oci-archive", "docker-archive", "oci-layout"};
static const char *const compressions[] = {"--gzip", "--zstd", "--plain"};

START_TEST(test_import_formats) {
        const char *format = formats[_i / 3], *comp = compressions[_i % 3];
        _cleanup_free_ char *opts = NULL, *name = NULL;
        ck_assert_int_ge(asprintf(&opts, "--format %s %s --ref busybox:latest", format, comp), 0);
        ck_assert_int_ge(asprintf(&name, "img-%s%s", format, comp), 0);
        _cleanup_free_ char *path = fixture(name, opts);
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        import_ok(s, path, NULL, &i);
        check_busybox(s, name);
        /* importing again is a no-op that keeps one image */
        import_ok(s, path, NULL, NULL);
        ImageInfo **l = NULL;
        size_t n = 0;
        ck_assert_int_eq(image_store_list(s, &l, &n), 0);
        ck_assert_int_eq(n, 1);
        image_info_list_free(l, n);
        /* lookups: id, short id, repo digest */
        _cleanup_(image_info_freep) ImageInfo *byid = NULL, *byshort = NULL, *bydigest = NULL;
        char shortid[13] = {};
        memcpy(shortid, i->id + 7, 12);
        _cleanup_free_ char *digest_ref = NULL;
        ck_assert_int_ge(asprintf(&digest_ref, "busybox@%s", i->manifest_digest), 0);
        ck_assert_int_eq(image_store_get(s, i->id, &byid, NULL), 0);
        ck_assert_int_eq(image_store_get(s, shortid, &byshort, NULL), 0);
        ck_assert_int_eq(image_store_get(s, digest_ref, &bydigest, NULL), 0);
        ck_assert_str_eq(byshort->id, i->id);
        ck_assert_str_eq(bydigest->id, i->id);
}
END_TEST

START_TEST(test_config_fields_and_ref_override) {
        _cleanup_free_ char *path =
                fixture("cfg.tar", "--entrypoint '[\"/bin/sh\",\"-c\"]' --cmd '[\"echo $(X)\"]' --env A=1 --env "
                                   "PATH=/bin --workdir /tmp --user app --stop-signal SIGQUIT");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        import_ok(s, path, "localhost:5000/tools/sh:v1", &i);
        ck_assert_str_eq(i->refs[0], "localhost:5000/tools/sh:v1");
        ck_assert_str_eq(i->entrypoint[0], "/bin/sh");
        ck_assert_str_eq(i->entrypoint[1], "-c");
        ck_assert_str_eq(i->cmd[0], "echo $(X)");
        ck_assert_str_eq(i->env[0], "A=1");
        ck_assert_str_eq(i->working_dir, "/tmp");
        ck_assert_str_eq(i->user, "app");
        ck_assert_str_eq(i->stop_signal, "SIGQUIT");
        /* the busybox name from the archive was not recorded */
        ck_assert_int_eq(image_store_get(s, "busybox", &(ImageInfo *){NULL}, NULL), -ENOENT);

        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        char *args[] = {(char *) "true", NULL}, *cenv[] = {(char *) "A=2", NULL};
        ck_assert_int_eq(image_resolve_process(i, NULL, args, cenv, IMAGE_RESOLVE_EXPAND_VARS, &argv, &env, NULL), 0);
        ck_assert_str_eq(argv[0], "/bin/sh");
        ck_assert_str_eq(argv[2], "true");
        ck_assert_str_eq(env[0], "PATH=/bin");
        ck_assert_str_eq(env[1], "A=2");

        /* an invalid --ref is refused before anything happens */
        ErrorBuf e = {};
        ck_assert_int_eq(image_store_import(s, path, "Bad:Ref", NULL, &e), -EINVAL);
        ck_assert_ptr_nonnull(strstr(e.msg, "invalid reference"));
}
END_TEST

/* A multi-platform index: the host's manifest is chosen and the other platform's (absent) never read. A ref.name
 * that is only a tag (skopeo's "latest") names no repository: the image is imported untagged. */
START_TEST(test_multiarch_and_tag_only) {
        _cleanup_free_ char *ma = fixture("ma.tar", "--multiarch --ref registry.example.com/team/app:2"),
                            *tag = fixture("tag.tar", "--variant t --ref latest");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *a = NULL, *t = NULL, *byid = NULL;
        import_ok(s, ma, NULL, &a);
        ck_assert_str_eq(a->refs[0], "registry.example.com/team/app:2");
        ck_assert_int_eq(access(a->layer_dirs[0], F_OK), 0);
        import_ok(s, tag, NULL, &t);
        ck_assert_ptr_null(t->refs[0]);
        ck_assert_int_eq(image_store_get(s, "latest", &(ImageInfo *){NULL}, NULL), -ENOENT);
        ck_assert_int_eq(image_store_get(s, t->id, &byid, NULL), 0);
        ImageInfo **l = NULL;
        size_t n = 0;
        ck_assert_int_eq(image_store_list(s, &l, &n), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_ptr_null(l[1]->refs[0]); /* untagged images sort last */
        image_info_list_free(l, n);
        ck_assert_int_eq(image_store_remove(s, t->id, NULL), 0);
}
END_TEST

START_TEST(test_shared_layers_refcount) {
        _cleanup_free_ char *bb = fixture("bb.tar", ""), *wh = fixture("wh.tar", "--whiteout --ref wh:1 --zstd");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *a = NULL, *b = NULL;
        _cleanup_free_ char *layers = NULL, *blobs = NULL;
        ck_assert_int_ge(asprintf(&layers, "%s/layers", image_store_path(s)), 0);
        ck_assert_int_ge(asprintf(&blobs, "%s/blobs/sha256", image_store_path(s)), 0);
        import_ok(s, bb, NULL, &a);
        struct stat before, after;
        ck_assert_int_eq(stat(a->layer_dirs[0], &before), 0);
        import_ok(s, wh, NULL, &b);
        /* the base layer is the same (same diff_id) and was not unpacked again */
        ck_assert_str_eq(a->layer_dirs[0], b->layer_dirs[0]);
        ck_assert_int_eq(stat(b->layer_dirs[0], &after), 0);
        ck_assert_int_eq(before.st_ino, after.st_ino);
        ck_assert_int_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
        ck_assert_int_eq(count_entries(layers), 2);
        /* busybox: manifest, config, gzip layer; wh: manifest, config, two zstd layers */
        ck_assert_int_eq(count_entries(blobs), 7);

        ErrorBuf e = {};
        ck_assert_int_eq(image_store_remove(s, "busybox", &e), 0);
        ck_assert_int_eq(access(a->layer_dirs[0], F_OK), 0); /* still used by wh:1 */
        ck_assert_int_eq(count_entries(layers), 2);
        ck_assert_int_eq(count_entries(blobs), 4);
        ck_assert_int_eq(image_store_get(s, "busybox", &(ImageInfo *){NULL}, NULL), -ENOENT);
        ck_assert_int_eq(image_store_remove(s, "busybox", &e), -ENOENT);
        ck_assert_ptr_nonnull(strstr(e.msg, "not found"));
        ck_assert_int_eq(image_store_remove(s, b->id, NULL), 0);
        ck_assert_int_eq(count_entries(layers), 0);
        ck_assert_int_eq(count_entries(blobs), 0);
}
END_TEST

START_TEST(test_tags_and_in_use) {
        _cleanup_free_ char *bb = fixture("bb.tar", "");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        import_ok(s, bb, NULL, &i);
        import_ok(s, bb, "busybox:other", NULL);
        _cleanup_(image_info_freep) ImageInfo *both = NULL;
        ck_assert_int_eq(image_store_get(s, i->id, &both, NULL), 0);
        ck_assert_str_eq(both->refs[0], "docker.io/library/busybox:latest");
        ck_assert_str_eq(both->refs[1], "docker.io/library/busybox:other");

        ck_assert_int_eq(image_store_add_user(s, i->id, "c1"), 0);
        ck_assert_int_eq(image_store_add_user(s, i->id, "c1"), 0);
        ck_assert_int_eq(image_store_add_user(s, i->id, "c2"), 0);
        ck_assert_int_eq(image_store_in_use(s, i->id), 1);
        ck_assert_int_eq(image_store_add_user(s, i->id, "../x"), -EINVAL);
        ck_assert_int_eq(image_store_add_user(
                                 s, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "c3"),
                         -ENOENT);
        ErrorBuf e = {};
        /* dropping one of two tags is fine while in use; the image itself is not */
        ck_assert_int_eq(image_store_remove(s, "busybox:other", &e), 0);
        ck_assert_int_eq(image_store_remove(s, "busybox", &e), -EBUSY);
        ck_assert_ptr_nonnull(strstr(e.msg, "in use"));
        error_clear(&e);
        ck_assert_int_eq(image_store_remove(s, i->id, &e), -EBUSY);
        _cleanup_(image_info_freep) ImageInfo *still = NULL;
        ck_assert_int_eq(image_store_get(s, "busybox", &still, NULL), 0);
        ck_assert_int_eq(access(still->layer_dirs[0], F_OK), 0);

        ck_assert_int_eq(image_store_remove_user(s, i->id, "c1"), 0);
        ck_assert_int_eq(image_store_remove(s, i->id, NULL), -EBUSY);
        ck_assert_int_eq(image_store_remove_user(s, i->id, "c2"), 0);
        ck_assert_int_eq(image_store_remove_user(s, i->id, "c2"), 0);
        ck_assert_int_eq(image_store_in_use(s, i->id), 0);
        ck_assert_int_eq(image_store_remove(s, "busybox", NULL), 0);
        ck_assert_int_eq(access(still->layer_dirs[0], F_OK), -1);
}
END_TEST

/* In a private mount namespace (this test runs in a forked child), so the mount can never leak. */
START_TEST(test_whiteouts_with_overlayfs) {
        _cleanup_free_ char *wh = fixture("wh.tar", "--whiteout --ref wh:1");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        import_ok(s, wh, NULL, &i);
        ck_assert_ptr_nonnull(i->layer_dirs[1]);
        /* the unpacked upper layer holds overlayfs whiteouts */
        struct stat st;
        _cleanup_free_ char *wmotd = layer_file(i, 1, "etc/motd"), *data = layer_file(i, 1, "data");
        ck_assert_int_eq(lstat(wmotd, &st), 0);
        ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == 0);
        char v[4] = {};
        ck_assert_int_eq(getxattr(data, "trusted.overlay.opaque", v, sizeof v), 1);
        ck_assert_int_eq(v[0], 'y');
        /* device nodes and fifos keep type, numbers and mode */
        _cleanup_free_ char *null = layer_file(i, 1, "devices/null"), *fifo = layer_file(i, 1, "devices/fifo");
        ck_assert_int_eq(lstat(null, &st), 0);
        ck_assert(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3);
        ck_assert_int_eq(st.st_mode & 07777, 0666);
        ck_assert_int_eq(lstat(fifo, &st), 0);
        ck_assert(S_ISFIFO(st.st_mode));

        _cleanup_free_ char *mnt = NULL, *opts = NULL;
        ck_assert_int_ge(asprintf(&mnt, "%s/mnt", tmpdir), 0);
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        /* overlayfs lists lowerdirs top-most first */
        ck_assert_int_ge(asprintf(&opts, "lowerdir=%s:%s", i->layer_dirs[1], i->layer_dirs[0]), 0);
        ck_assert_msg(mount("overlay", mnt, "overlay", MS_RDONLY, opts) == 0, "mount overlay: %m");
        _cleanup_free_ char *motd = NULL, *keep = NULL, *old = NULL, *newf = NULL, *hello = NULL, *bb = NULL,
                            *passwd = NULL;
        ck_assert_int_ge(asprintf(&motd, "%s/etc/motd", mnt), 0);
        ck_assert_int_ge(asprintf(&passwd, "%s/etc/passwd", mnt), 0);
        ck_assert_int_ge(asprintf(&keep, "%s/data/keep", mnt), 0);
        ck_assert_int_ge(asprintf(&old, "%s/data/old", mnt), 0);
        ck_assert_int_ge(asprintf(&newf, "%s/data/new", mnt), 0);
        ck_assert_int_ge(asprintf(&hello, "%s/hello.txt", mnt), 0);
        ck_assert_int_ge(asprintf(&bb, "%s/bin/busybox", mnt), 0);
        int motd_gone = access(motd, F_OK) < 0 && errno == ENOENT;
        int keep_gone = access(keep, F_OK) < 0 && errno == ENOENT;
        int old_gone = access(old, F_OK) < 0 && errno == ENOENT;
        int visible = access(newf, F_OK) == 0 && access(hello, F_OK) == 0 && access(bb, X_OK) == 0 &&
                      access(passwd, F_OK) == 0;
        (void) umount2(mnt, MNT_DETACH);
        ck_assert_msg(motd_gone, "/etc/motd not hidden by its whiteout");
        ck_assert_msg(keep_gone && old_gone, "/data/* not hidden by the opaque directory");
        ck_assert_msg(visible, "files of both layers must be visible");
}
END_TEST

/* image-spec layer.md: an opaque whiteout at a layer's root hides every lower layer. overlayfs ignores the opaque
 * xattr on a lower layer's root, so the store leaves the hidden layers out of the image's layer dirs. */
START_TEST(test_opaque_whiteout_at_root) {
        _cleanup_free_ char *img = fixture("opq.tar", "--opaque-root --ref opq:1");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *i = NULL;
        import_ok(s, img, NULL, &i);
        ck_assert_ptr_nonnull(i->layer_dirs[0]);
        ck_assert_ptr_null(i->layer_dirs[1]);
        _cleanup_free_ char *hello = layer_file(i, 0, "hello.txt");
        ck_assert_int_eq(access(hello, F_OK), 0);
        /* and image_store_get() says the same */
        _cleanup_(image_info_freep) ImageInfo *again = NULL;
        ck_assert_int_eq(image_store_get(s, "opq:1", &again, NULL), 0);
        ck_assert_str_eq(again->layer_dirs[0], i->layer_dirs[0]);
        ck_assert_ptr_null(again->layer_dirs[1]);
        /* nodeletctl run would mount exactly that: nothing of the base layer (/etc/passwd, /bin) shows */
        _cleanup_free_ char *mnt = NULL, *opts = NULL, *passwd = NULL, *bin = NULL, *h = NULL;
        ck_assert_int_ge(asprintf(&mnt, "%s/mnt", tmpdir), 0);
        ck_assert_int_eq(mkdir(mnt, 0755), 0);
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_ge(asprintf(&opts, "lowerdir=%s", i->layer_dirs[0]), 0);
        /* a single lower dir needs a second one for a read-only overlay: use an empty one */
        _cleanup_free_ char *empty = NULL, *opts2 = NULL;
        ck_assert_int_ge(asprintf(&empty, "%s/empty", tmpdir), 0);
        ck_assert_int_eq(mkdir(empty, 0755), 0);
        ck_assert_int_ge(asprintf(&opts2, "%s:%s", opts, empty), 0);
        ck_assert_msg(mount("overlay", mnt, "overlay", MS_RDONLY, opts2) == 0, "mount overlay: %m");
        ck_assert_int_ge(asprintf(&passwd, "%s/etc/passwd", mnt), 0);
        ck_assert_int_ge(asprintf(&bin, "%s/bin/busybox", mnt), 0);
        ck_assert_int_ge(asprintf(&h, "%s/hello.txt", mnt), 0);
        int hidden = access(passwd, F_OK) < 0 && access(bin, F_OK) < 0, shown = access(h, F_OK) == 0;
        (void) umount2(mnt, MNT_DETACH);
        ck_assert_msg(hidden, "the base layer shows through the opaque root");
        ck_assert(shown);
}
END_TEST

/* A listing of every path with type, size and mode: what "the store is unchanged" compares. */
static char *store_listing(ImageStore *s) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        _cleanup_free_ char *cmd = NULL;
        ck_assert_int_ge(asprintf(&cmd, "cd %s && find . ! -name .lock -printf '%%p %%y %%s %%m\\n' | sort",
                                  image_store_path(s)),
                         0);
        FILE *p = popen(cmd, "re");
        ck_assert_ptr_nonnull(p);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0)
                fwrite(buf, 1, n, f);
        ck_assert_int_eq(pclose(p), 0);
        fclose(f);
        return out;
}

static const struct {
        const char *opts, *msg;
} bad_inputs[] = {
        {"--break truncate", "corrupt archive"},
        {"--break truncate --format docker-archive", "corrupt archive"},
        {"--break digest", "digest mismatch"},
        {"--break digest --format oci-layout", "digest mismatch"},
        {"--break missing-blob", "blob missing from the image source"},
        {"--break missing-blob --format docker-archive", "blob missing from the image source"},
        {"--break bad-json", "invalid JSON"},
        {"--break bad-json --format docker-archive", "manifest.json"},
        {"--break media-type", "unsupported layer media type"},
        {"--break diffid", "diff_id mismatch"},
        {"--break diffid --format docker-archive", "diff_id mismatch"},
        {"--break layer-truncated", "corrupt layer"},
        {"--break layer-truncated --zstd", "corrupt layer"},
        {"--break layer-truncated --plain", "corrupt layer"},
        {"--break escape", "escapes the layer root"},
        {"--break abs-path", "absolute path refused"},
        {"--break symlink-escape", "symlink"},
        {"--break hardlink-escape", "hard link target '../../../etc/shadow' escapes the layer"},
        {"--whiteout --break digest", "digest mismatch"},
};

START_TEST(test_bad_inputs) {
        _cleanup_free_ char *bb = fixture("bb.tar", "");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        import_ok(s, bb, NULL, NULL);
        _cleanup_free_ char *before = store_listing(s);
        /* --variant: the bad image's base layer is one the store does not have yet, so it really is read */
        for (size_t k = 0; k < ELEMENTSOF(bad_inputs); k++) {
                _cleanup_free_ char *name = NULL, *opts = NULL, *path = NULL, *after = NULL;
                ck_assert_int_ge(asprintf(&name, "bad-%zu", k), 0);
                ck_assert_int_ge(asprintf(&opts, "--variant %zu --ref bad:%zu %s", k, k, bad_inputs[k].opts), 0);
                if (strstr(opts, "oci-layout"))
                        path = fixture(name, opts);
                else {
                        _cleanup_free_ char *tar = NULL;
                        ck_assert_int_ge(asprintf(&tar, "%s.tar", name), 0);
                        path = fixture(tar, opts);
                }
                ErrorBuf e = {};
                int r = image_store_import(s, path, NULL, NULL, &e);
                ck_assert_msg(r < 0, "%s: bad input accepted", bad_inputs[k].opts);
                ck_assert_msg(strstr(e.msg, bad_inputs[k].msg), "%s: message '%s' lacks '%s'", bad_inputs[k].opts,
                              e.msg, bad_inputs[k].msg);
                ck_assert_msg(strstr(e.msg, path), "%s: message '%s' does not name the source", bad_inputs[k].opts,
                              e.msg);
                after = store_listing(s);
                ck_assert_msg(streq(before, after), "%s: store changed:\n--- before\n%s--- after\n%s",
                              bad_inputs[k].opts, before, after);
        }
        ck_assert_int_eq(access("/nodelet-symlink-escape", F_OK), -1);

        /* not an image at all */
        _cleanup_free_ char *junk = NULL;
        ck_assert_int_ge(asprintf(&junk, "%s/junk.tar", tmpdir), 0);
        ck_assert_int_eq(test_system("cd %s && echo hi > hi.txt && tar -cf junk.tar hi.txt", tmpdir), 0);
        ErrorBuf e = {};
        ck_assert_int_lt(image_store_import(s, junk, NULL, NULL, &e), 0);
        ck_assert_ptr_nonnull(strstr(e.msg, "neither index.json nor manifest.json"));
        _cleanup_free_ char *after = store_listing(s);
        ck_assert_str_eq(before, after);
        /* and the good image is still fine */
        check_busybox(s, "after bad inputs");
}
END_TEST

/* A FIFO where an image (or a file of an image layout) is expected used to block the import forever: refused
 * without being read. alarm() turns a hang into a failure instead of the suite's timeout. */
START_TEST(test_fifo_refused) {
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_free_ char *fifo = NULL, *layout = fixture("layout", "--format oci-layout"), *index = NULL;
        ck_assert_int_ge(asprintf(&fifo, "%s/image.tar", tmpdir), 0);
        ck_assert_int_eq(mkfifo(fifo, 0644), 0);
        alarm(60);
        ErrorBuf e = {};
        ck_assert_int_eq(image_store_import(s, fifo, NULL, NULL, &e), -EBADFD);
        ck_assert_msg(strstr(e.msg, "image.tar: not a regular file or directory"), "%s", e.msg);
        ck_assert_int_ge(asprintf(&index, "%s/index.json", layout), 0);
        ck_assert_int_eq(unlink(index), 0);
        ck_assert_int_eq(mkfifo(index, 0644), 0);
        error_clear(&e);
        ck_assert_int_eq(image_store_import(s, layout, NULL, NULL, &e), -EBADFD);
        ck_assert_msg(strstr(e.msg, "index.json: not a regular file"), "%s", e.msg);
        alarm(0);
}
END_TEST

START_TEST(test_nodeletctl_images) {
        _cleanup_free_ char *bb = fixture("bb.tar", ""), *out = NULL, *ctl = NULL;
        ck_assert_int_ge(asprintf(&ctl, "%s/agent/nodeletctl images --root-dir %s/root", test_build_dir(), tmpdir), 0);
        ck_assert_int_ge(asprintf(&out, "%s/out", tmpdir), 0);
        ck_assert_int_eq(test_system("%s import %s --ref my/busybox:1 >/dev/null", ctl, bb), 0);
        ck_assert_int_eq(test_system("%s ls > %s", ctl, out), 0);
        ck_assert_int_eq(test_system("grep -Eq '^docker.io/my/busybox +1 +[0-9a-f]{13} +1\\.[0-9]+MB$' %s", out), 0);
        ck_assert_int_eq(test_system("grep -Eq '^IMAGE +TAG +IMAGE ID +SIZE$' %s", out), 0);
        ck_assert_int_eq(test_system("%s inspect my/busybox:1 > %s", ctl, out), 0);
        ck_assert_int_eq(test_system("jq -e '.repoTags == [\"docker.io/my/busybox:1\"] and .config.Cmd == [\"sh\"] "
                                     "and (.repoDigests[0] | startswith(\"docker.io/my/busybox@sha256:\")) and "
                                     "(.layerDirs | length) == 1 and (.id | startswith(\"sha256:\"))' %s >/dev/null",
                                     out),
                         0);
        /* errors: stderr names the object and the reason, non-zero exit */
        ck_assert_int_eq(test_system("%s rm nosuch 2> %s", ctl, out), 1);
        ck_assert_int_eq(test_system("grep -q \"image 'nosuch' not found\" %s", out), 0);
        ck_assert_int_eq(test_system("%s import %s/nosuch.tar 2> %s", ctl, tmpdir, out), 1);
        ck_assert_int_eq(test_system("grep -q 'nosuch.tar' %s", out), 0);
        ck_assert_int_eq(test_system("%s frobnicate 2>/dev/null", ctl), 2);
        /* 2 is for usage errors only: an image the store refuses as invalid (-EINVAL inside) exits 1 */
        ck_assert_int_eq(test_system("%s import 2>/dev/null", ctl), 2);
        ck_assert_int_eq(test_system("%s inspect a b 2>/dev/null", ctl), 2);
        _cleanup_free_ char *bad = fixture("bad-ref.tar", "--ref example.com/Bad/name:1");
        ck_assert_int_eq(test_system("%s import %s 2> %s", ctl, bad, out), 1);
        ck_assert_int_eq(test_system("grep -q 'must be lowercase' %s", out), 0);
        ck_assert_int_eq(test_system("%s rm my/busybox:1 >/dev/null", ctl), 0);
        ck_assert_int_eq(test_system("%s ls > %s && test $(wc -l < %s) -eq 1", ctl, out, out), 0);
}
END_TEST

typedef struct ImportJob {
        ImageStore *s;
        const char *path;
        int r;
        ErrorBuf e;
} ImportJob;

static void *import_thread(void *userdata) {
        ImportJob *j = userdata;
        j->r = image_store_import(j->s, j->path, NULL, NULL, &j->e);
        return NULL;
}

/* The daemon imports on WorkPool threads while nodeletctl may run: the flock serializes writers, each with its own
 * open file description, and every import must land. */
START_TEST(test_concurrent_imports) {
        _cleanup_free_ char *a = fixture("a.tar", "--variant a --ref a:1"),
                            *b = fixture("b.tar", "--variant b --ref b:1"),
                            *c = fixture("c.tar", "--whiteout --ref c:1 --format docker-archive");
        _cleanup_(image_store_freep) ImageStore *s = store_new("root/images");
        ImportJob jobs[] = {{.s = s, .path = a}, {.s = s, .path = b}, {.s = s, .path = c}};
        pthread_t t[ELEMENTSOF(jobs)];
        for (size_t k = 0; k < ELEMENTSOF(jobs); k++)
                ck_assert_int_eq(pthread_create(&t[k], NULL, import_thread, &jobs[k]), 0);
        /* and one more from another process at the same time */
        ck_assert_int_eq(test_system("%s/agent/nodeletctl images --root-dir %s/root import %s >/dev/null",
                                     test_build_dir(), tmpdir, a),
                         0);
        for (size_t k = 0; k < ELEMENTSOF(jobs); k++) {
                pthread_join(t[k], NULL);
                ck_assert_msg(jobs[k].r == 0, "%s: %s", jobs[k].path, error_message(&jobs[k].e, jobs[k].r));
        }
        ImageInfo **l = NULL;
        size_t n = 0;
        ck_assert_int_eq(image_store_list(s, &l, &n), 0);
        ck_assert_int_eq(n, 3);
        ck_assert_str_eq(l[0]->refs[0], "docker.io/library/a:1");
        ck_assert_str_eq(l[1]->refs[0], "docker.io/library/b:1");
        ck_assert_str_eq(l[2]->refs[0], "docker.io/library/c:1");
        for (size_t k = 0; k < n; k++)
                for (char **d = l[k]->layer_dirs; *d; d++)
                        ck_assert_int_eq(access(*d, F_OK), 0);
        image_info_list_free(l, n);
}
END_TEST

/* A blob deleted behind the store's back: the image is still listed (and removable), the error names the blob, and
 * no other image's layers are swept while the damaged image's references are unknown. */
START_TEST(test_damaged_image) {
        _cleanup_free_ char *bb = fixture("bb.tar", ""), *dmg = fixture("dmg.tar", "--variant dmg --ref dmg:1");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_(image_info_freep) ImageInfo *a = NULL, *b = NULL;
        import_ok(s, bb, NULL, &a);
        import_ok(s, dmg, NULL, &b);
        ck_assert_int_eq(test_system("rm %s/blobs/sha256/%s", image_store_path(s), b->id + STRLEN("sha256:")), 0);
        ErrorBuf e = {};
        ck_assert_int_lt(image_store_get(s, "dmg:1", &(ImageInfo *){NULL}, &e), 0);
        ck_assert_msg(strstr(e.msg, b->id + STRLEN("sha256:")), "'%s' does not name the config blob", e.msg);
        ImageInfo **l = NULL;
        size_t n = 0;
        ck_assert_int_eq(image_store_list(s, &l, &n), 0);
        ck_assert_int_eq(n, 2);
        ck_assert_str_eq(l[1]->refs[0], "docker.io/library/dmg:1");
        ck_assert_int_eq(l[1]->size, 0);
        ck_assert_ptr_null(l[1]->layer_dirs[0]);
        image_info_list_free(l, n);
        /* a failed import with the damaged image present still leaves nothing of its own behind, even with its first
         * layer already unpacked and in place when the second one fails */
        _cleanup_free_ char *before = store_listing(s),
                            *bad = fixture("bad.tar", "--variant d --whiteout --break layer-truncated");
        ErrorBuf be = {};
        ck_assert_int_lt(image_store_import(s, bad, NULL, NULL, &be), 0);
        ck_assert_ptr_nonnull(strstr(be.msg, "corrupt layer"));
        _cleanup_free_ char *after = store_listing(s);
        ck_assert_str_eq(before, after);
        ck_assert_int_eq(access(b->layer_dirs[0], F_OK), 0);
        ck_assert_int_eq(image_store_remove(s, "dmg:1", NULL), 0);
        /* now everything only dmg:1 used is gone, busybox intact */
        ck_assert_int_eq(access(b->layer_dirs[0], F_OK), -1);
        check_busybox(s, "after removing the damaged image");
        _cleanup_free_ char *blobs = NULL;
        ck_assert_int_ge(asprintf(&blobs, "%s/blobs/sha256", image_store_path(s)), 0);
        ck_assert_int_eq(count_entries(blobs), 3);
}
END_TEST

typedef struct PoolImport {
        ImportJob job;
        sd_event *loop;
        int done_result;
        bool done;
        pthread_t loop_thread, work_thread;
} PoolImport;

static int pool_work(void *userdata) {
        PoolImport *p = userdata;
        p->work_thread = pthread_self();
        return image_store_import(p->job.s, p->job.path, NULL, NULL, &p->job.e);
}

static void pool_done(int result, void *userdata) {
        PoolImport *p = userdata;
        p->done = true;
        p->done_result = result;
        ck_assert(pthread_equal(pthread_self(), p->loop_thread));
        (void) sd_event_exit(p->loop, 0);
}

/* How the daemon uses the store: the blocking import runs on a WorkPool thread, its result comes back on the loop. */
START_TEST(test_import_on_workpool) {
        _cleanup_free_ char *bb = fixture("bb.tar", "--zstd");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        _cleanup_event_ sd_event *loop = NULL;
        _cleanup_(work_pool_freep) WorkPool *pool = NULL;
        PoolImport p = {.job = {.s = s, .path = bb}, .loop_thread = pthread_self()};
        ck_assert_int_eq(sd_event_new(&loop), 0);
        p.loop = loop;
        ck_assert_int_eq(work_pool_new(loop, 2, &pool), 0);
        ck_assert_int_eq(work_pool_submit(pool, pool_work, pool_done, &p), 0);
        ck_assert_int_ge(sd_event_loop(loop), 0);
        ck_assert(p.done);
        ck_assert_msg(p.done_result == 0, "%s", error_message(&p.job.e, p.done_result));
        ck_assert(!pthread_equal(p.work_thread, p.loop_thread));
        check_busybox(s, "workpool import");
}
END_TEST

/* Leftovers of a crash (an import killed while staging, a layer renamed in before the index was written) are swept
 * by the next writer. */
START_TEST(test_crash_leftovers_swept) {
        _cleanup_free_ char *bb = fixture("bb.tar", "");
        _cleanup_(image_store_freep) ImageStore *s = store_new("store");
        import_ok(s, bb, NULL, NULL);
        _cleanup_free_ char *before = store_listing(s);
        ck_assert_int_eq(test_system("cd %s && mkdir -p tmp/import-dead/src layers/"
                                     "0000000000000000000000000000000000000000000000000000000000000000/bin && "
                                     "echo x > tmp/import-dead/blob-0 && echo y > blobs/sha256/"
                                     "1111111111111111111111111111111111111111111111111111111111111111",
                                     image_store_path(s)),
                         0);
        ck_assert_int_eq(image_store_gc(s), 0);
        _cleanup_free_ char *after = store_listing(s);
        ck_assert_str_eq(before, after);
        check_busybox(s, "after gc");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("images-store");
        TCase *tc = tcase_create("store");
        tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 240);
        tcase_add_loop_test(tc, test_import_formats, 0, 9);
        tcase_add_test(tc, test_config_fields_and_ref_override);
        tcase_add_test(tc, test_multiarch_and_tag_only);
        tcase_add_test(tc, test_shared_layers_refcount);
        tcase_add_test(tc, test_tags_and_in_use);
        tcase_add_test(tc, test_whiteouts_with_overlayfs);
        tcase_add_test(tc, test_opaque_whiteout_at_root);
        tcase_add_test(tc, test_fifo_refused);
        tcase_add_test(tc, test_bad_inputs);
        tcase_add_test(tc, test_nodeletctl_images);
        tcase_add_test(tc, test_concurrent_imports);
        tcase_add_test(tc, test_crash_leftovers_swept);
        tcase_add_test(tc, test_import_on_workpool);
        tcase_add_test(tc, test_damaged_image);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        test_require_root();
        return test_run_suite(suite());
}
