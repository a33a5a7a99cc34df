/* SPDX-License-Identifier: Apache-2.0 */
/* Pod volumes, subPath mounts and per-pod files (agent/volumes.h), as root with real mounts. Every test runs in its
 * own mount namespace (private propagation), so whatever it mounts vanishes with its process even when it fails;
 * the per-test directories live below one temporary directory that the suite removes. */

#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent/volumes.h"
#include "common/fileio.h"
#include "tests/lib/testlib.h"

static char *base;

static void suite_setup(void) {
        test_require_root();
        base = test_tmpdir_new("nodelet-volumes");
        ck_assert_ptr_nonnull(base);
}

static void suite_teardown(void) {
        /* The tests' mounts died with their namespaces; unmount anything that still shows up, to be sure. */
        (void) test_system("awk '$5 ~ \"^%s/\" {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l",
                           base);
        test_tmpdir_remove(base);
        base = NULL;
}

/* A private mount namespace for this test process and a fresh directory <base>/<name>. */
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

/* Pods come from JSON manifests written with single quotes (turned into double quotes here; a backtick becomes a
 * single quote), through pod_parse(), so defaults are applied as for real pods. */
static Pod *pod_from(const char *json_sq) {
        _cleanup_free_ char *json = strdup(json_sq);
        ck_assert_ptr_nonnull(json);
        for (char *c = json; *c; c++)
                if (*c == '\'')
                        *c = '"';
                else if (*c == '`')
                        *c = '\'';
        json_error_t je;
        json_t *o = json_loads(json, 0, &je);
        ck_assert_msg(o, "bad test JSON: %s: %s", je.text, json);
        Pod *p = NULL;
        ErrorBuf e = {};
        int r = pod_parse(o, "file", &p, &e);
        json_decref(o);
        ck_assert_msg(r == 0, "pod_parse: %s", error_message(&e, r));
        return p;
}

#define POD_HEAD "{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web','namespace':'ns1','uid':'uid-1',"
#define POD_META_DEFAULT "'labels':{'app':'web','tier':'front'},'annotations':{'note':'a `b`'}},"

static char *read_file(const char *path) {
        char *s = NULL;
        int r = read_full_file(path, 0, &s, NULL);
        ck_assert_msg(r == 0, "reading %s: %s", path, strerror(-r));
        return s;
}

static void write_file(const char *path, const char *s) {
        ck_assert_int_eq(write_file_atomic(path, s, strlen(s), 0644, false), 0);
}

/* The mountinfo line of the mount at path, NULL when nothing is mounted there. */
static char *mountinfo_line(const char *path) {
        _cleanup_free_ char *mi = read_file("/proc/self/mountinfo");
        char *found = NULL, *save = NULL;
        for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mp[4096];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && streq(mp, path)) {
                        free(found);
                        found = strdup(line);
                }
        }
        return found;
}

static int mounts_below(const char *dir) {
        _cleanup_free_ char *mi = read_file("/proc/self/mountinfo");
        int n = 0;
        char *save = NULL;
        for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mp[4096];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && startswith(mp, dir))
                        n++;
        }
        return n;
}

static void setup_ok(const Pod *p, const char *pod_dir, const PodRuntimeInfo *info) {
        ErrorBuf e = {};
        int r = pod_volumes_setup(p, pod_dir, info, &e);
        ck_assert_msg(r == 0, "pod_volumes_setup: %s", error_message(&e, r));
}

static void setup_fails(const Pod *p, const char *pod_dir, const char *message) {
        ErrorBuf e = {};
        int r = pod_volumes_setup(p, pod_dir, NULL, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(streq(e.msg, message), "got \"%s\", expected \"%s\"", e.msg, message);
}

/* ---- emptyDir ---- */

START_TEST(test_empty_dir_disk) {
        _cleanup_free_ char *d = test_dir("empty-disk");
        Pod *p = pod_from(POD_HEAD POD_META_DEFAULT
                          "'spec':{'securityContext':{'fsGroup':1234},'containers':[{'name':'c1','image':'busybox'}],"
                          "'volumes':[{'name':'data','emptyDir':{}}]}}");
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~empty-dir/data");
        struct stat st;
        ck_assert_int_eq(stat(vol, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        /* 0777 like the kubelet, plus setgid from fsGroup, owned by the group. */
        ck_assert_int_eq(st.st_mode & 07777, 02777);
        ck_assert_int_eq(st.st_gid, 1234);
        ck_assert_ptr_null(mountinfo_line(vol));

        /* A restart sets it up again: the content stays, and so do owners a container changed. */
        _cleanup_free_ char *f = path_of(vol, "file");
        write_file(f, "kept");
        ck_assert_int_eq(chown(vol, 0, 0), 0);
        setup_ok(p, d, NULL);
        _cleanup_free_ char *s = read_file(f);
        ck_assert_str_eq(s, "kept");
        ck_assert_int_eq(stat(vol, &st), 0);
        ck_assert_int_eq(st.st_gid, 0);
        pod_free(p);
}
END_TEST

START_TEST(test_empty_dir_memory) {
        _cleanup_free_ char *d = test_dir("empty-memory");
        Pod *p = pod_from(
                POD_HEAD POD_META_DEFAULT
                "'spec':{'containers':[{'name':'c1','image':'busybox','resources':{'limits':{'memory':'32Mi'}}}],"
                "'volumes':[{'name':'small','emptyDir':{'medium':'Memory','sizeLimit':'8Mi'}},"
                "{'name':'pod','emptyDir':{'medium':'Memory'}},"
                "{'name':'huge','emptyDir':{'medium':'Memory','sizeLimit':'1Gi'}}]}}");
        PodRuntimeInfo info = {.node_allocatable_memory = 512ll << 20};
        setup_ok(p, d, &info);

        /* sizeLimit when smaller than the pod's limit; the pod's limit otherwise (SizeMemoryBackedVolumes). */
        static const struct {
                const char *name, *size;
        } want[] = {{"small", "size=8192k"}, {"pod", "size=32768k"}, {"huge", "size=32768k"}};
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                _cleanup_free_ char *rel = NULL, *vol = NULL, *line = NULL;
                ck_assert_int_ge(asprintf(&rel, "volumes/kubernetes.io~empty-dir/%s", want[i].name), 0);
                vol = path_of(d, rel);
                line = mountinfo_line(vol);
                ck_assert_msg(line, "%s is not mounted", vol);
                ck_assert_msg(strstr(line, " - tmpfs ") && strstr(line, want[i].size), "%s: %s", want[i].size, line);
                ck_assert_ptr_nonnull(strstr(line, "nodev"));
                struct stat st;
                ck_assert_int_eq(stat(vol, &st), 0);
                ck_assert_int_eq(st.st_mode & 07777, 0777);
        }

        /* Set up again: the same tmpfs (not a second one on top), content kept. */
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~empty-dir/small");
        _cleanup_free_ char *f = path_of(vol, "file");
        write_file(f, "in memory");
        int before = mounts_below(d);
        setup_ok(p, d, &info);
        ck_assert_int_eq(mounts_below(d), before);
        _cleanup_free_ char *s = read_file(f);
        ck_assert_str_eq(s, "in memory");

        /* After a reboot (the tmpfs is gone, the ready marker is not) it is mounted again. */
        ck_assert_int_eq(umount2(vol, 0), 0);
        setup_ok(p, d, &info);
        _cleanup_free_ char *line = mountinfo_line(vol);
        ck_assert_ptr_nonnull(line);
        ck_assert_int_eq(access(f, F_OK), -1);
        pod_free(p);
}
END_TEST

/* ---- hostPath ---- */

START_TEST(test_host_path_types) {
        _cleanup_free_ char *d = test_dir("host-path");
        _cleanup_free_ char *pod_dir = path_of(d, "pod"), *file = path_of(d, "file"), *dir = path_of(d, "dir"),
                            *sock = path_of(d, "sock"), *mk_dir = path_of(d, "made/a/b"),
                            *mk_file = path_of(d, "made-file");
        write_file(file, "x");
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);

        static const struct {
                const char *type;
                int which;         /* 0 file, 1 dir, 2 socket, 3 /dev/null, 4 mk_dir, 5 mk_file, 6 missing */
                const char *error; /* NULL = fine, else the message after the path */
        } cases[] = {
                {"", 6, NULL},
                {"DirectoryOrCreate", 4, NULL},
                {"DirectoryOrCreate", 1, NULL},
                {"DirectoryOrCreate", 0, "is not a directory"},
                {"Directory", 1, NULL},
                {"Directory", 0, "is not a directory"},
                {"Directory", 6, "is not a directory"},
                {"FileOrCreate", 5, NULL},
                {"FileOrCreate", 0, NULL},
                {"FileOrCreate", 1, "is not a file"},
                {"File", 0, NULL},
                {"File", 1, "is not a file"},
                {"Socket", 2, NULL},
                {"Socket", 0, "is not a socket file"},
                {"CharDevice", 3, NULL},
                {"CharDevice", 0, "is not a character device"},
                {"BlockDevice", 3, "is not a block device"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *paths[] = {file, dir, sock, "/dev/null", mk_dir, mk_file, "/nonexistent-nodelet-test"};
                const char *path = paths[cases[i].which];
                char json[2048], msg[1024];
                snprintf(json, sizeof(json),
                         POD_HEAD POD_META_DEFAULT "'spec':{'containers':[{'name':'c1','image':'busybox'}],"
                                                   "'volumes':[{'name':'data','hostPath':{'path':'%s','type':'%s'}}]}}",
                         path, cases[i].type);
                Pod *p = pod_from(json);
                if (!cases[i].error)
                        setup_ok(p, pod_dir, NULL);
                else {
                        snprintf(msg, sizeof(msg), "volume \"data\": hostPath type check failed: %s %s", path,
                                 cases[i].error);
                        setup_fails(p, pod_dir, msg);
                }
                pod_free(p);
        }
        /* What the *OrCreate types made. */
        struct stat st;
        ck_assert_int_eq(stat(mk_dir, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0755);
        ck_assert_int_eq(stat(mk_file, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0644);
        /* FileOrCreate does not make the parent directory (like the kubelet). */
        Pod *p =
                pod_from(POD_HEAD POD_META_DEFAULT "'spec':{'containers':[{'name':'c1','image':'busybox'}],"
                                                   "'volumes':[{'name':'data','hostPath':{'path':'/nonexistent-nodelet-"
                                                   "test/f','type':'FileOrCreate'}}]}}");
        ErrorBuf e = {};
        ck_assert_int_eq(pod_volumes_setup(p, pod_dir, NULL, &e), -ENOENT);
        ck_assert_ptr_nonnull(strstr(e.msg, "volume \"data\": hostPath type check failed: creating file"));
        pod_free(p);
        close(fd);
}
END_TEST

/* ---- downwardAPI / projected ---- */

#define DOWNWARD_POD                                                                                                   \
        POD_HEAD POD_META_DEFAULT                                                                                      \
                "'spec':{'securityContext':{'fsGroup':2345},"                                                          \
                "'containers':[{'name':'c1','image':'busybox','resources':{'limits':{'memory':'64Mi'}}}],"             \
                "'volumes':[{'name':'info','downwardAPI':{'items':["                                                   \
                "{'path':'name','fieldRef':{'fieldPath':'metadata.name'}},"                                            \
                "{'path':'labels','fieldRef':{'fieldPath':'metadata.labels'}},"                                        \
                "{'path':'annotations','fieldRef':{'fieldPath':'metadata.annotations'}},"                              \
                "{'path':'sub/dir/ns','mode':256,'fieldRef':{'fieldPath':'metadata.namespace'}},"                      \
                "{'path':'mem','resourceFieldRef':{'containerName':'c1','resource':'limits.memory','divisor':'1Mi'}}]" \
                "}},"                                                                                                  \
                "{'name':'proj','projected':{'defaultMode':288,'sources':["                                            \
                "{'downwardAPI':{'items':[{'path':'app','fieldRef':{'fieldPath':'metadata.labels[`app`]'}}]}},"        \
                "{'configMap':{'name':'cm','optional':true}}]}}]}}"

static void check_file(const char *dir, const char *rel, const char *content, mode_t mode, gid_t gid) {
        _cleanup_free_ char *p = path_of(dir, rel);
        _cleanup_free_ char *s = read_file(p);
        ck_assert_msg(streq(s, content), "%s: \"%s\", expected \"%s\"", rel, s, content);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o, expected %o", rel, st.st_mode & 07777, mode);
        ck_assert_int_eq(st.st_gid, gid);
}

static char *link_target(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_of(dir, name);
        char buf[4096];
        ssize_t l = readlink(p, buf, sizeof(buf) - 1);
        ck_assert_msg(l > 0, "%s is not a symlink", p);
        buf[l] = 0;
        return strdup(buf);
}

START_TEST(test_downward_api) {
        _cleanup_free_ char *d = test_dir("downward");
        Pod *p = pod_from(DOWNWARD_POD);
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~downward-api/info");
        _cleanup_free_ char *line = mountinfo_line(vol);
        ck_assert_msg(line && strstr(line, " - tmpfs "), "not a tmpfs: %s", strna(line));

        /* Values; default mode 0644 (fsGroup adds group read), item mode 0400 → 0440; the group is fsGroup. */
        check_file(vol, "name", "web", 0644, 2345);
        check_file(vol, "labels", "app=\"web\"\ntier=\"front\"", 0644, 2345);
        check_file(vol, "annotations", "note=\"a 'b'\"", 0644, 2345);
        check_file(vol, "sub/dir/ns", "ns1", 0440, 2345);
        check_file(vol, "mem", "64", 0644, 2345);

        /* The atomic writer's layout: ..data → ..<timestamp>, top-level names → ..data/<name>. */
        _cleanup_free_ char *data = link_target(vol, "..data");
        regex_t re;
        ck_assert_int_eq(regcomp(&re, "^\\.\\.[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}\\.[A-Za-z0-9]+$",
                                 REG_EXTENDED | REG_NOSUB),
                         0);
        ck_assert_msg(regexec(&re, data, 0, NULL, 0) == 0, "..data → %s", data);
        regfree(&re);
        static const char *const tops[] = {"name", "labels", "annotations", "sub", "mem"};
        for (size_t i = 0; i < ELEMENTSOF(tops); i++) {
                _cleanup_free_ char *t = link_target(vol, tops[i]), *want = NULL;
                ck_assert_int_ge(asprintf(&want, "..data/%s", tops[i]), 0);
                ck_assert_str_eq(t, want);
        }
        _cleanup_free_ char *ts = path_of(vol, data), *real_file = path_of(ts, "sub/dir/ns");
        struct stat st;
        ck_assert_int_eq(lstat(real_file, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        /* Directories: the kubelet's fsGroup ownership adds setgid and group rx. */
        _cleanup_free_ char *sub = path_of(ts, "sub");
        ck_assert_int_eq(lstat(sub, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 02755);

        /* Projected: defaultMode 0440 (288), the label's value; the optional configMap is left out. */
        _cleanup_free_ char *proj = path_of(d, "volumes/kubernetes.io~projected/proj");
        check_file(proj, "app", "web", 0440, 2345);

        /* Set up again with nothing changed: the same timestamp dir. */
        setup_ok(p, d, NULL);
        _cleanup_free_ char *data2 = link_target(vol, "..data");
        ck_assert_str_eq(data, data2);
        pod_free(p);
}
END_TEST

START_TEST(test_config_map_needs_api) {
        _cleanup_free_ char *d = test_dir("configmap");
        Pod *p = pod_from(POD_HEAD POD_META_DEFAULT "'spec':{'containers':[{'name':'c1','image':'busybox'}],"
                                                    "'volumes':[{'name':'cfg','configMap':{'name':'settings'}}]}}");
        ErrorBuf e = {};
        ck_assert_int_eq(pod_volumes_setup(p, d, NULL, &e), -ENOTSUP);
        ck_assert_str_eq(e.msg, "volume \"cfg\": configMap \"settings\": needs the API server (not supported yet)");
        pod_free(p);

        p = pod_from(POD_HEAD POD_META_DEFAULT
                     "'spec':{'containers':[{'name':'c1','image':'busybox'}],"
                     "'volumes':[{'name':'p','projected':{'sources':[{'secret':{'name':'s'}}]}}]}}");
        e = (ErrorBuf){};
        ck_assert_int_eq(pod_volumes_setup(p, d, NULL, &e), -ENOTSUP);
        ck_assert_str_eq(e.msg, "volume \"p\": projected.sources[0].secret \"s\": needs the API server (not "
                                "supported yet)");
        pod_free(p);

        /* Optional: an empty volume, like a missing optional configMap. */
        p = pod_from(POD_HEAD POD_META_DEFAULT
                     "'spec':{'containers':[{'name':'c1','image':'busybox'}],"
                     "'volumes':[{'name':'cfg','configMap':{'name':'settings','optional':true}}]}}");
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~configmap/cfg/..data");
        struct stat st;
        ck_assert_int_eq(stat(vol, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        pod_free(p);
}
END_TEST

START_TEST(test_refresh_atomic) {
        _cleanup_free_ char *d = test_dir("refresh");
        Pod *p = pod_from(DOWNWARD_POD);
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~downward-api/info");
        _cleanup_free_ char *labels = path_of(vol, "labels"), *old_data = link_target(vol, "..data");
        _cleanup_free_ char *old_ts = path_of(vol, old_data);

        /* Nothing changed: 0, same files. */
        ErrorBuf e = {};
        ck_assert_int_eq(pod_volumes_refresh(p, d, NULL, &e), 0);
        _cleanup_free_ char *same = link_target(vol, "..data");
        ck_assert_str_eq(same, old_data);

        /* A reader holding the old file keeps reading the old content: files are never rewritten in place. */
        int fd = open(labels, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(json_object_set_new(p->labels, "tier", json_string("back")), 0);
        ck_assert_int_eq(json_object_set_new(p->labels, "new", json_string("x\"y")), 0);
        ck_assert_int_eq(pod_volumes_refresh(p, d, NULL, &e), 1);

        _cleanup_free_ char *new_data = link_target(vol, "..data");
        ck_assert_str_ne(new_data, old_data);
        ck_assert_int_eq(access(old_ts, F_OK), -1); /* the old timestamp dir is gone */
        check_file(vol, "labels", "app=\"web\"\nnew=\"x\\\"y\"\ntier=\"back\"", 0644, 2345);
        check_file(vol, "name", "web", 0644, 2345);
        char buf[64] = "";
        ck_assert_int_gt(read(fd, buf, sizeof(buf) - 1), 0);
        ck_assert_str_eq(buf, "app=\"web\"\ntier=\"front\"");
        close(fd);

        /* Done: the next refresh finds nothing to write. */
        ck_assert_int_eq(pod_volumes_refresh(p, d, NULL, &e), 0);
        pod_free(p);
}
END_TEST

/* ---- container mounts ---- */

#define SUBPATH_POD(mounts, extra_volumes)                                                                             \
        POD_HEAD POD_META_DEFAULT "'spec':{'containers':[{'name':'c1','image':'busybox','volumeMounts':[" mounts       \
                                  "]}],"                                                                               \
                                  "'volumes':[{'name':'data','emptyDir':{}}" extra_volumes "]}}"

static int mounts_of(const Pod *p, const char *pod_dir, char *const *env, const char *term, BindMount **ret,
                     size_t *ret_n, ErrorBuf *e) {
        return pod_volumes_container_mounts(p, &p->containers[0], pod_dir, env, term, ret, ret_n, e);
}

static const BindMount *find_mount(const BindMount *m, size_t n, const char *destination) {
        for (size_t i = 0; i < n; i++)
                if (streq(m[i].destination, destination))
                        return &m[i];
        return NULL;
}

/* The same, for a mount that must be there (the test fails otherwise). */
static const BindMount *get_mount(const BindMount *m, size_t n, const char *destination) {
        const BindMount *b = find_mount(m, n, destination);
        if (!b)
                ck_abort_msg("no mount at %s", destination);
        return b;
}

static void assert_same_file(const char *a, const char *b) {
        struct stat sa, sb;
        ck_assert_msg(stat(a, &sa) == 0 && stat(b, &sb) == 0, "stat %s / %s: %m", a, b);
        ck_assert_msg(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino, "%s and %s are different files", a, b);
}

START_TEST(test_subpath) {
        _cleanup_free_ char *d = test_dir("subpath");
        _cleanup_free_ char *host = path_of(d, "host");
        ck_assert_int_eq(mkdir_p(host, 0755), 0);
        char json[4096];
        snprintf(json, sizeof(json),
                 SUBPATH_POD("{'name':'data','mountPath':'/data'},"
                             "{'name':'data','mountPath':'/data/a','subPath':'a','readOnly':true},"
                             "{'name':'data','mountPath':'/nested','subPath':'x/y/z'},"
                             "{'name':'data','mountPath':'/logs','subPathExpr':'$(POD_NAME)/logs'},"
                             "{'name':'data','mountPath':'/file','subPath':'a/f'},"
                             "{'name':'data','mountPath':'/via-link','subPath':'inner-link'},"
                             "{'name':'host','mountPath':'/host','subPath':'h','mountPropagation':'HostToContainer'}",
                             ",{'name':'host','hostPath':{'path':'%s'}}"),
                 host);
        Pod *p = pod_from(json);
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~empty-dir/data");
        _cleanup_free_ char *a = path_of(vol, "a"), *af = path_of(vol, "a/f"), *hh = path_of(host, "h"),
                            *link = path_of(vol, "inner-link");
        ck_assert_int_eq(mkdir(a, 0700), 0);
        write_file(af, "file in a");
        ck_assert_int_eq(mkdir(hh, 0755), 0);
        ck_assert_int_eq(symlink("a", link), 0); /* a relative symlink that stays inside is fine */

        char *env[] = {(char *) "OTHER=1", (char *) "POD_NAME=web", NULL};
        BindMount *m = NULL;
        size_t n = 0;
        ErrorBuf e = {};
        int r = mounts_of(p, d, env, NULL, &m, &n, &e);
        ck_assert_msg(r == 0, "mounts: %s", error_message(&e, r));
        ck_assert_int_eq(n, 7);

        /* Order: the parents first (/data before /data/a), else as given. */
        static const char *const order[] = {"/data", "/nested", "/logs", "/file", "/via-link", "/host", "/data/a"};
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(m[i].destination, order[i]);

        ck_assert_str_eq(m[0].source, vol);
        ck_assert(!m[0].readonly);
        /* subPath sources are bind mounts below volume-subpaths/<volume>/<container>/<index> of the very files. */
        static const struct {
                const char *destination, *target, *in_volume;
        } subs[] = {
                {"/data/a", "volume-subpaths/data/c1/1", "a"},      {"/nested", "volume-subpaths/data/c1/2", "x/y/z"},
                {"/logs", "volume-subpaths/data/c1/3", "web/logs"}, {"/file", "volume-subpaths/data/c1/4", "a/f"},
                {"/via-link", "volume-subpaths/data/c1/5", "a"},
        };
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                const BindMount *b = get_mount(m, n, subs[i].destination);
                ck_assert_ptr_nonnull(b);
                _cleanup_free_ char *target = path_of(d, subs[i].target), *in = path_of(vol, subs[i].in_volume);
                _cleanup_free_ char *line = mountinfo_line(target);
                ck_assert_str_eq(b->source, target);
                ck_assert_msg(line, "%s is not mounted", target);
                assert_same_file(target, in);
        }
        const BindMount *b = get_mount(m, n, "/data/a");
        ck_assert(b->readonly);
        ck_assert(!get_mount(m, n, "/nested")->readonly);
        _cleanup_free_ char *ht = path_of(d, "volume-subpaths/host/c1/6");
        b = get_mount(m, n, "/host");
        ck_assert_str_eq(b->source, ht);
        ck_assert_int_eq(b->propagation, MOUNT_PROPAGATION_SLAVE);
        assert_same_file(ht, hh);
        _cleanup_free_ char *s = read_file(get_mount(m, n, "/file")->source);
        ck_assert_str_eq(s, "file in a");

        /* Missing subPaths were made as directories with the volume root's mode. */
        _cleanup_free_ char *made = path_of(vol, "x/y"), *logs = path_of(vol, "web/logs");
        struct stat st;
        ck_assert_int_eq(stat(made, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0777);
        ck_assert_int_eq(stat(logs, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));

        /* A second start of the container reuses the mounts instead of stacking new ones. */
        int before = mounts_below(d);
        BindMount *m2 = NULL;
        size_t n2 = 0;
        r = mounts_of(p, d, env, NULL, &m2, &n2, &e);
        ck_assert_msg(r == 0, "mounts: %s", error_message(&e, r));
        ck_assert_int_eq(mounts_below(d), before);
        bind_mounts_free(m2, n2);

        /* The container went: its subpath mounts go. */
        ck_assert_int_eq(pod_volumes_container_cleanup(d, "c1", &e), 0);
        ck_assert_int_eq(mounts_below(d), 0);
        _cleanup_free_ char *gone = path_of(d, "volume-subpaths/data/c1");
        ck_assert_int_eq(access(gone, F_OK), -1);
        ck_assert_int_eq(access(af, F_OK), 0);
        bind_mounts_free(m, n);
        pod_free(p);
}
END_TEST

START_TEST(test_subpath_escapes) {
        _cleanup_free_ char *d = test_dir("subpath-escape");
        Pod *p = pod_from(SUBPATH_POD("{'name':'data','mountPath':'/x','subPath':'PLACEHOLDER'}", ""));
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~empty-dir/data");
        _cleanup_free_ char *abs = path_of(vol, "abs"), *rel = path_of(vol, "rel"), *dir = path_of(vol, "dir"),
                            *deep = path_of(vol, "dir/up");
        ck_assert_int_eq(symlink("/", abs), 0);
        ck_assert_int_eq(symlink("../../../../../../..", rel), 0);
        ck_assert_int_eq(mkdir(dir, 0755), 0);
        ck_assert_int_eq(symlink("../../../etc", deep), 0);

        static const struct {
                const char *sub;
                const char *error;
        } cases[] = {
                {"abs", "volumeMounts[0].subPath \"abs\": escapes the volume \"data\""},
                {"abs/etc", "volumeMounts[0].subPath \"abs/etc\": escapes the volume \"data\""},
                {"rel", "volumeMounts[0].subPath \"rel\": escapes the volume \"data\""},
                {"dir/up/passwd", "volumeMounts[0].subPath \"dir/up/passwd\": escapes the volume \"data\""},
                /* Escaping links are refused also when the rest would have to be created. */
                {"abs/new-dir", "volumeMounts[0].subPath \"abs/new-dir\": escapes the volume \"data\""},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                free(p->containers[0].volume_mounts[0].sub_path);
                p->containers[0].volume_mounts[0].sub_path = strdup(cases[i].sub);
                BindMount *m = NULL;
                size_t n = 0;
                ErrorBuf e = {};
                ck_assert_int_eq(mounts_of(p, d, NULL, NULL, &m, &n, &e), -EXDEV);
                ck_assert_msg(streq(e.msg, cases[i].error), "%s: got \"%s\"", cases[i].sub, e.msg);
        }
        /* Nothing was mounted, nothing made outside. */
        ck_assert_int_eq(mounts_below(d), 0);
        ck_assert_int_eq(access("/new-dir", F_OK), -1);

        /* Lexical "..", and subPathExpr with a missing variable. */
        free(p->containers[0].volume_mounts[0].sub_path);
        p->containers[0].volume_mounts[0].sub_path = strdup("dir/../../x");
        BindMount *m = NULL;
        size_t n = 0;
        ErrorBuf e = {};
        ck_assert_int_eq(mounts_of(p, d, NULL, NULL, &m, &n, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "volumeMounts[0].subPath \"dir/../../x\": must be a relative path without '..'");
        free(p->containers[0].volume_mounts[0].sub_path);
        p->containers[0].volume_mounts[0].sub_path = NULL;
        p->containers[0].volume_mounts[0].sub_path_expr = strdup("$(NOPE)/x");
        char *env[] = {(char *) "EMPTY=", NULL};
        e = (ErrorBuf){};
        ck_assert_int_eq(mounts_of(p, d, env, NULL, &m, &n, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "volumeMounts[0].subPathExpr \"$(NOPE)/x\": missing value for NOPE");
        /* An empty value counts as missing; $$ is a literal $. */
        free(p->containers[0].volume_mounts[0].sub_path_expr);
        p->containers[0].volume_mounts[0].sub_path_expr = strdup("$$(EMPTY)/$(EMPTY)");
        e = (ErrorBuf){};
        ck_assert_int_eq(mounts_of(p, d, env, NULL, &m, &n, &e), -EINVAL);
        ck_assert_str_eq(e.msg, "volumeMounts[0].subPathExpr \"$$(EMPTY)/$(EMPTY)\": missing value for EMPTY");
        pod_free(p);
}
END_TEST

START_TEST(test_subpath_swapped_symlink) {
        _cleanup_free_ char *d = test_dir("subpath-swap");
        Pod *p = pod_from(SUBPATH_POD("{'name':'data','mountPath':'/x','subPath':'a'}", ""));
        setup_ok(p, d, NULL);
        _cleanup_free_ char *vol = path_of(d, "volumes/kubernetes.io~empty-dir/data");
        _cleanup_free_ char *a = path_of(vol, "a"), *moved = path_of(vol, "a-moved"), *marker = path_of(vol, "a/m");
        ck_assert_int_eq(mkdir(a, 0755), 0);
        write_file(marker, "inside");

        BindMount *m = NULL;
        size_t n = 0;
        ErrorBuf e = {};
        ck_assert_int_eq(mounts_of(p, d, NULL, NULL, &m, &n, &e), 0);
        ck_assert_int_eq(n, 1);
        /* The container's owner swaps the checked directory for a link to the host's root before the runtime
         * mounts: the source is the bind mount of what was checked, not a path to resolve again. */
        ck_assert_int_eq(rename(a, moved), 0);
        ck_assert_int_eq(symlink("/", a), 0);
        assert_same_file(m[0].source, moved);
        _cleanup_free_ char *via = path_of(m[0].source, "m");
        _cleanup_free_ char *s = read_file(via);
        ck_assert_str_eq(s, "inside");
        struct stat st, root;
        ck_assert_int_eq(stat(m[0].source, &st), 0);
        ck_assert_int_eq(stat("/", &root), 0);
        ck_assert(st.st_ino != root.st_ino || st.st_dev != root.st_dev);
        bind_mounts_free(m, n);

        /* The next start of the container sees the link and refuses it. */
        ck_assert_int_eq(mounts_of(p, d, NULL, NULL, &m, &n, &e), -EXDEV);
        pod_free(p);
}
END_TEST

START_TEST(test_container_files_mounts) {
        _cleanup_free_ char *d = test_dir("files-mounts");
        Pod *p = pod_from(POD_HEAD POD_META_DEFAULT
                          "'spec':{'containers':[{'name':'c1','image':'busybox','securityContext':{"
                          "'readOnlyRootFilesystem':true},'volumeMounts':[{'name':'data','mountPath':'/var/x'}]},"
                          "{'name':'c2','image':'busybox','terminationMessagePath':'/tmp/msg',"
                          "'securityContext':{'privileged':true},'volumeMounts':["
                          "{'name':'data','mountPath':'/etc/hosts','subPath':'hosts'},"
                          "{'name':'data','mountPath':'/b','mountPropagation':'Bidirectional'}]}],"
                          "'volumes':[{'name':'data','emptyDir':{}}]}}");
        setup_ok(p, d, NULL);
        _cleanup_free_ char *hosts = path_of(d, "etc-hosts"), *resolv = path_of(d, "resolv.conf"),
                            *hostname = path_of(d, "hostname"), *term = path_of(d, "containers/c1/abcd"),
                            *host_resolv = path_of(d, "host-resolv.conf");
        write_file(host_resolv, "nameserver 192.0.2.1\n");
        char *ips[] = {(char *) "10.0.0.5", NULL};
        PodDnsSettings dns = {.host_resolv_conf = host_resolv};
        ErrorBuf e = {};
        int r = pod_files_write(p, d, ips, &dns, &e);
        ck_assert_msg(r == 0, "pod_files_write: %s", error_message(&e, r));

        BindMount *m = NULL;
        size_t n = 0;
        r = mounts_of(p, d, NULL, term, &m, &n, &e);
        ck_assert_msg(r == 0, "mounts: %s", error_message(&e, r));
        ck_assert_int_eq(n, 5);
        const struct {
                const char *destination;
                const char *source;
                bool ro;
        } want[] = {
                {"/var/x", NULL, false},
                {"/etc/hosts", hosts, false},
                {"/etc/hostname", hostname, true},
                {"/etc/resolv.conf", resolv, true},
                {"/dev/termination-log", term, false},
        };
        for (size_t i = 0; i < n; i++) {
                ck_assert_str_eq(m[i].destination, want[i].destination);
                if (want[i].source)
                        ck_assert_str_eq(m[i].source, want[i].source);
                ck_assert_int_eq(m[i].readonly, want[i].ro);
        }
        struct stat st;
        ck_assert_int_eq(stat(term, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0666);
        bind_mounts_free(m, n);

        /* c2: a volume at /etc/hosts replaces the managed file; Bidirectional needs a privileged container (the
         * API refuses it too; this does not rely on that). */
        p->containers[1].security_context.privileged = 0;
        r = pod_volumes_container_mounts(p, &p->containers[1], d, NULL, term, &m, &n, &e);
        ck_assert_int_eq(r, -EPERM);
        ck_assert_str_eq(e.msg, "volumeMounts[1].mountPropagation: Bidirectional mount propagation is available "
                                "only to privileged containers");
        p->containers[1].security_context.privileged = 1;
        e = (ErrorBuf){};
        r = pod_volumes_container_mounts(p, &p->containers[1], d, NULL, term, &m, &n, &e);
        ck_assert_msg(r == 0, "mounts: %s", error_message(&e, r));
        ck_assert_int_eq(n, 5);
        _cleanup_free_ char *sub = path_of(d, "volume-subpaths/data/c2/0");
        const BindMount *h = get_mount(m, n, "/etc/hosts");
        ck_assert_str_eq(h->source, sub);
        ck_assert_int_eq(get_mount(m, n, "/b")->propagation, MOUNT_PROPAGATION_SHARED);
        ck_assert(!get_mount(m, n, "/etc/hostname")->readonly);
        ck_assert_ptr_nonnull(find_mount(m, n, "/tmp/msg"));
        bind_mounts_free(m, n);

        /* Without pod IPs there is no managed hosts file, and no mount of it. */
        r = pod_files_write(p, d, NULL, &dns, &e);
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(access(hosts, F_OK), -1);
        r = mounts_of(p, d, NULL, NULL, &m, &n, &e);
        ck_assert_int_eq(r, 0);
        ck_assert_ptr_null(find_mount(m, n, "/etc/hosts"));
        ck_assert_ptr_null(find_mount(m, n, "/dev/termination-log"));
        bind_mounts_free(m, n);

        /* A volumeMount naming no volume. */
        free(p->containers[0].volume_mounts[0].name);
        p->containers[0].volume_mounts[0].name = strdup("nope");
        e = (ErrorBuf){};
        ck_assert_int_eq(mounts_of(p, d, NULL, NULL, &m, &n, &e), -ENOENT);
        ck_assert_str_eq(e.msg, "volumeMounts[0]: cannot find volume \"nope\"");
        pod_free(p);
}
END_TEST

/* ---- /etc/hosts, resolv.conf, hostname ---- */

#define LOCALHOST_LINES                                                                                                \
        "127.0.0.1\tlocalhost\n"                                                                                       \
        "::1\tlocalhost ip6-localhost ip6-loopback\n"                                                                  \
        "fe00::0\tip6-localnet\n"                                                                                      \
        "fe00::0\tip6-mcastprefix\n"                                                                                   \
        "fe00::1\tip6-allnodes\n"                                                                                      \
        "fe00::2\tip6-allrouters\n"

START_TEST(test_hosts_file) {
        _cleanup_free_ char *d = test_dir("hosts");
        _cleanup_free_ char *node_hosts = path_of(d, "node-hosts");
        write_file(node_hosts, "127.0.0.1 localhost\n192.0.2.10 node1\n");
        PodDnsSettings dns = {.cluster_domain = "cluster.local", .host_hosts_file = node_hosts};
        char *ips[] = {(char *) "10.0.0.5", (char *) "fd00::5", NULL};

        static const struct {
                const char *spec;
                const char *want;
        } cases[] = {
                {"'spec':{'containers':[{'name':'c1','image':'busybox'}]}}",
                 "# Kubernetes-managed hosts file.\n" LOCALHOST_LINES "10.0.0.5\tweb\nfd00::5\tweb\n"},
                {"'spec':{'hostname':'h1','subdomain':'sub','containers':[{'name':'c1','image':'busybox'}]}}",
                 "# Kubernetes-managed hosts file.\n" LOCALHOST_LINES
                 "10.0.0.5\th1.sub.ns1.svc.cluster.local\th1\nfd00::5\th1.sub.ns1.svc.cluster.local\th1\n"},
                {"'spec':{'hostAliases':[{'ip':'192.0.2.1','hostnames':['foo','foo.local']},{'ip':'192.0.2.2',"
                 "'hostnames':['bar']}],'containers':[{'name':'c1','image':'busybox'}]}}",
                 "# Kubernetes-managed hosts file.\n" LOCALHOST_LINES "10.0.0.5\tweb\nfd00::5\tweb\n"
                 "\n# Entries added by HostAliases.\n192.0.2.1\tfoo\tfoo.local\n192.0.2.2\tbar\n"},
                {"'spec':{'hostNetwork':true,'hostAliases':[{'ip':'192.0.2.1','hostnames':['foo']}],"
                 "'containers':[{'name':'c1','image':'busybox'}]}}",
                 "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.10 node1\n"
                 "\n# Entries added by HostAliases.\n192.0.2.1\tfoo\n"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char json[2048];
                snprintf(json, sizeof(json), POD_HEAD POD_META_DEFAULT "%s", cases[i].spec);
                Pod *p = pod_from(json);
                ErrorBuf e = {};
                int r = pod_files_write(p, d, ips, &dns, &e);
                ck_assert_msg(r == 0, "case %zu: %s", i, error_message(&e, r));
                _cleanup_free_ char *path = path_of(d, "etc-hosts");
                _cleanup_free_ char *got = read_file(path);
                ck_assert_msg(streq(got, cases[i].want), "case %zu:\n%s\nexpected:\n%s", i, got, cases[i].want);
                struct stat st;
                ck_assert_int_eq(stat(path, &st), 0);
                ck_assert_int_eq(st.st_mode & 07777, 0644);
                pod_free(p);
        }

        /* hostname: the pod's, cut to 63 characters without a trailing '-'. */
        Pod *p = pod_from(POD_HEAD POD_META_DEFAULT
                          "'spec':{'hostname':'h1','containers':[{'name':'c1','image':'busybox'}]}}");
        ErrorBuf e = {};
        ck_assert_int_eq(pod_files_write(p, d, ips, &dns, &e), 0);
        _cleanup_free_ char *hn = path_of(d, "hostname");
        _cleanup_free_ char *s = read_file(hn);
        ck_assert_str_eq(s, "h1\n");
        /* Unchanged content is not rewritten: a running container keeps its inode. */
        struct stat before, after;
        ck_assert_int_eq(stat(hn, &before), 0);
        ck_assert_int_eq(pod_files_write(p, d, ips, &dns, &e), 0);
        ck_assert_int_eq(stat(hn, &after), 0);
        ck_assert_int_eq(before.st_ino, after.st_ino);
        free(p->hostname);
        p->hostname = NULL;
        free(p->name);
        p->name = strdup("a-very-long-pod-name-that-goes-on-and-on-well-past-the-limit-of-6-characters");
        _cleanup_free_ char *h = NULL, *dom = NULL;
        ck_assert_int_eq(pod_hostname_and_domain(p, "cluster.local", &h, &dom, &e), 0);
        ck_assert_str_eq(h, "a-very-long-pod-name-that-goes-on-and-on-well-past-the-limit-of");
        ck_assert_ptr_null(dom);
        pod_free(p);
}
END_TEST

#define HOST_RESOLV                                                                                                    \
        "# the node's\n"                                                                                               \
        "nameserver 192.168.1.1\n"                                                                                     \
        "nameserver 192.168.1.2\n"                                                                                     \
        "search old.example\n"                                                                                         \
        "search example.com. corp.example.com\n"                                                                       \
        "options ndots:1 timeout:2\n"                                                                                  \
        "options timeout:3\n"

#define DEFAULT_RESOLV                                                                                                 \
        "search example.com corp.example.com\n"                                                                        \
        "nameserver 192.168.1.1\n"                                                                                     \
        "nameserver 192.168.1.2\n"                                                                                     \
        "options ndots:1 timeout:3\n"

#define CLUSTER_RESOLV                                                                                                 \
        "search ns1.svc.cluster.local svc.cluster.local cluster.local example.com corp.example.com\n"                  \
        "nameserver 10.96.0.10\n"                                                                                      \
        "options ndots:5\n"

START_TEST(test_resolv_conf) {
        _cleanup_free_ char *d = test_dir("resolv");
        _cleanup_free_ char *host = path_of(d, "host-resolv.conf");
        write_file(host, HOST_RESOLV);
        char *cluster_dns[] = {(char *) "10.96.0.10", NULL};
        PodDnsSettings cluster = {
                .cluster_dns = cluster_dns, .cluster_domain = "cluster.local", .host_resolv_conf = host};
        PodDnsSettings no_cluster = {.cluster_domain = "cluster.local", .host_resolv_conf = host};
        PodDnsSettings no_host = {.cluster_domain = "cluster.local", .host_resolv_conf = ""};

        static const struct {
                const char *spec;
                int settings; /* 0 cluster, 1 no cluster DNS, 2 --resolv-conf="" */
                const char *want;
        } cases[] = {
                {"'spec':{'containers':[{'name':'c1','image':'busybox'}]}}", 0, CLUSTER_RESOLV},
                /* ClusterFirst without a cluster DNS server: Default. */
                {"'spec':{'containers':[{'name':'c1','image':'busybox'}]}}", 1, DEFAULT_RESOLV},
                {"'spec':{'dnsPolicy':'Default','containers':[{'name':'c1','image':'busybox'}]}}", 0, DEFAULT_RESOLV},
                /* ClusterFirst on the host network is Default; ClusterFirstWithHostNet is the cluster's. */
                {"'spec':{'hostNetwork':true,'containers':[{'name':'c1','image':'busybox'}]}}", 0, DEFAULT_RESOLV},
                {"'spec':{'hostNetwork':true,'dnsPolicy':'ClusterFirstWithHostNet','containers':[{'name':'c1',"
                 "'image':'busybox'}]}}",
                 0, CLUSTER_RESOLV},
                {"'spec':{'dnsPolicy':'None','dnsConfig':{'nameservers':['1.1.1.1'],'searches':['a.example'],"
                 "'options':[{'name':'ndots','value':'2'},{'name':'edns0'}]},"
                 "'containers':[{'name':'c1','image':'busybox'}]}}",
                 0, "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"},
                /* dnsConfig merged: nameservers appended without duplicates and cut to 3, searches appended without
                 * duplicates, options replaced by name or appended. */
                {"'spec':{'dnsConfig':{'nameservers':['10.96.0.10','8.8.8.8','8.8.4.4'],"
                 "'searches':['svc.cluster.local','x.example'],"
                 "'options':[{'name':'ndots','value':'2'},{'name':'edns0'}]},"
                 "'containers':[{'name':'c1','image':'busybox'}]}}",
                 0,
                 "search ns1.svc.cluster.local svc.cluster.local cluster.local example.com corp.example.com "
                 "x.example\nnameserver 10.96.0.10\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions ndots:2 edns0\n"},
                {"'spec':{'dnsPolicy':'Default','dnsConfig':{'nameservers':['8.8.8.8','8.8.4.4']},"
                 "'containers':[{'name':'c1','image':'busybox'}]}}",
                 0,
                 "search example.com corp.example.com\nnameserver 192.168.1.1\nnameserver 192.168.1.2\n"
                 "nameserver 8.8.8.8\noptions ndots:1 timeout:3\n"},
                /* --resolv-conf="": the local resolver and no search domains, like the kubelet. */
                {"'spec':{'dnsPolicy':'Default','containers':[{'name':'c1','image':'busybox'}]}}", 2,
                 "search .\nnameserver 127.0.0.1\n"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const PodDnsSettings *s[] = {&cluster, &no_cluster, &no_host};
                char json[2048];
                snprintf(json, sizeof(json), POD_HEAD POD_META_DEFAULT "%s", cases[i].spec);
                Pod *p = pod_from(json);
                ErrorBuf e = {};
                int r = pod_files_write(p, d, NULL, s[cases[i].settings], &e);
                ck_assert_msg(r == 0, "case %zu: %s", i, error_message(&e, r));
                _cleanup_free_ char *path = path_of(d, "resolv.conf");
                _cleanup_free_ char *got = read_file(path);
                ck_assert_msg(streq(got, cases[i].want), "case %zu:\n%s\nexpected:\n%s", i, got, cases[i].want);
                pod_free(p);
        }
}
END_TEST

START_TEST(test_resolv_conf_limits) {
        _cleanup_free_ char *d = test_dir("resolv-limits");
        _cleanup_free_ char *host = path_of(d, "host-resolv.conf");
        /* The host brings 40 search domains and one longer than 253 characters: 32 stay, the long one goes. */
        FILE *f = fopen(host, "we");
        ck_assert_ptr_nonnull(f);
        fputs("nameserver 192.0.2.1\nsearch", f);
        for (int i = 0; i < 40; i++) {
                if (i == 1) {
                        fputc(' ', f);
                        for (int k = 0; k < 26; k++)
                                fputs("abcdefghi.", f);
                        fputs("x", f);
                }
                fprintf(f, " d%02d.example", i);
        }
        fputc('\n', f);
        fclose(f);
        PodDnsSettings dns = {.host_resolv_conf = host};
        Pod *p = pod_from(POD_HEAD POD_META_DEFAULT
                          "'spec':{'dnsPolicy':'Default','containers':[{'name':'c1','image':'busybox'}]}}");
        _cleanup_free_ char *got = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(pod_resolv_conf_content(p, &dns, &got, &e), 0);
        char want[1024];
        int l = snprintf(want, sizeof(want), "search");
        for (int i = 0; i < 31; i++)
                l += snprintf(want + l, sizeof(want) - (size_t) l, " d%02d.example", i);
        snprintf(want + l, sizeof(want) - (size_t) l, "\nnameserver 192.0.2.1\n");
        ck_assert_str_eq(got, want);
        pod_free(p);
}
END_TEST

START_TEST(test_termination_message) {
        _cleanup_free_ char *d = test_dir("termination");
        _cleanup_free_ char *f = path_of(d, "msg"), *missing = path_of(d, "missing");
        char big[5000];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char) ('a' + i % 26);
        ck_assert_int_eq(write_file_atomic(f, big, sizeof(big), 0644, false), 0);
        _cleanup_free_ char *s = NULL, *empty = NULL, *small = NULL;
        ck_assert_int_eq(pod_termination_message_read(f, &s), 0);
        /* The last 4096 bytes, like the kubelet. */
        ck_assert_uint_eq(strlen(s), 4096);
        ck_assert_int_eq(memcmp(s, big + sizeof(big) - 4096, 4096), 0);
        ck_assert_int_eq(pod_termination_message_read(missing, &empty), 0);
        ck_assert_str_eq(empty, "");
        write_file(f, "bye\n");
        ck_assert_int_eq(pod_termination_message_read(f, &small), 0);
        ck_assert_str_eq(small, "bye\n");
}
END_TEST

START_TEST(test_teardown) {
        _cleanup_free_ char *d = test_dir("teardown");
        _cleanup_free_ char *pod_dir = path_of(d, "pod"), *host = path_of(d, "host"), *keep = path_of(d, "host/keep"),
                            *keep_file = path_of(d, "host/keep/precious");
        ck_assert_int_eq(mkdir_p(keep, 0755), 0);
        write_file(keep_file, "do not delete");
        char json[4096];
        snprintf(
                json, sizeof(json),
                POD_HEAD POD_META_DEFAULT
                "'spec':{'containers':[{'name':'c1','image':'busybox','volumeMounts':["
                "{'name':'host','mountPath':'/h','subPath':'keep'},{'name':'mem','mountPath':'/m','subPath':'s'},"
                "{'name':'host','mountPath':'/whole'},{'name':'info','mountPath':'/info'}]}],"
                "'volumes':[{'name':'host','hostPath':{'path':'%s'}},{'name':'mem','emptyDir':{'medium':'Memory'}},"
                "{'name':'disk','emptyDir':{}},"
                "{'name':'info','downwardAPI':{'items':[{'path':'name','fieldRef':{'fieldPath':'metadata.name'}}]}}]}}",
                host);
        Pod *p = pod_from(json);
        setup_ok(p, pod_dir, NULL);
        BindMount *m = NULL;
        size_t n = 0;
        ErrorBuf e = {};
        int r = mounts_of(p, pod_dir, NULL, NULL, &m, &n, &e);
        ck_assert_msg(r == 0, "mounts: %s", error_message(&e, r));
        bind_mounts_free(m, n);
        ck_assert_int_eq(mounts_below(pod_dir), 4); /* tmpfs × 2, subpath × 2 */

        r = pod_volumes_teardown(pod_dir, &e);
        ck_assert_msg(r == 0, "teardown: %s", error_message(&e, r));
        ck_assert_int_eq(mounts_below(pod_dir), 0);
        ck_assert_int_eq(access(pod_dir, F_OK), -1);
        /* The hostPath content was bind-mounted into the pod dir, and stays. */
        _cleanup_free_ char *s = read_file(keep_file);
        ck_assert_str_eq(s, "do not delete");
        /* Again, with nothing left: fine. */
        ck_assert_int_eq(pod_volumes_teardown(pod_dir, &e), 0);
        pod_free(p);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("agent-volumes");
        TCase *tc = tcase_create("volumes");
        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_empty_dir_disk);
        tcase_add_test(tc, test_empty_dir_memory);
        tcase_add_test(tc, test_host_path_types);
        tcase_add_test(tc, test_downward_api);
        tcase_add_test(tc, test_config_map_needs_api);
        tcase_add_test(tc, test_refresh_atomic);
        tcase_add_test(tc, test_subpath);
        tcase_add_test(tc, test_subpath_escapes);
        tcase_add_test(tc, test_subpath_swapped_symlink);
        tcase_add_test(tc, test_container_files_mounts);
        tcase_add_test(tc, test_hosts_file);
        tcase_add_test(tc, test_resolv_conf);
        tcase_add_test(tc, test_resolv_conf_limits);
        tcase_add_test(tc, test_termination_message);
        tcase_add_test(tc, test_teardown);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        test_require_root();
        return test_run_suite(suite());
}
