/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl container verbs, in the spirit of crictl/docker:
 *
 *   nodeletctl run [--rm] [-d] [--name N] [-e K=V]... [--user U] [--memory SIZE] [--cpus N] [--pids-limit N]
 *                  [--read-only] [--cap-add C]... [--cap-drop C]... [--seccomp RuntimeDefault|Unconfined|FILE]
 *                  [--privileged] [--hostname H] [-w DIR] (IMAGE | --rootfs DIR) [CMD [ARG...]]
 *   nodeletctl stop [-t SEC] ID... | rm [-f] ID...
 *
 * `ps`, `logs` and `exec` know pods too, so the agent owns them (agent/pods-ctl.c); they are built from the
 * container-level pieces here (runtime_ctl_ps_columns, runtime_ctl_print_log, runtime_ctl_exec_in).
 *
 * Every verb accepts --root-dir DIR (default $NODELET_ROOT_DIR, else /var/lib/nodelet), --state-dir DIR
 * (default $NODELET_STATE_DIR, else /run/nodelet) and --cgroup-parent P (relative: below our own cgroup, default
 * "nodelet"; absolute: that path in every hierarchy). A one-off container's upper dir and log live under
 * <root-dir>/containers/<id>/; `rm` deletes them. Errors name the object and the reason; the exit code is non-zero
 * (run in the foreground and exec exit with the container process's code). */
#include "runtime/runtime-ctl.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fileio.h"
#include "common/log.h"
#include "runtime/container.h"
#include "runtime/image-store.h"
#include "runtime/logs.h"

#ifndef NODELET_LIBEXECDIR
#define NODELET_LIBEXECDIR "/usr/local/libexec/nodelet"
#endif

#define ANNOTATION_IMAGE "io.nodelet.image"
#define ANNOTATION_IMAGE_ID "io.nodelet.image-id"
#define ANNOTATION_ROOT "io.nodelet.ctl-root"

typedef struct Ctl {
        const char *root_dir;
        const char *state_dir;
        const char *cgroup_parent; /* NULL: the runtime's default, "nodelet" below our own cgroup */
        char shim[PATH_MAX];
} Ctl;

/* Pulls --root-dir/--state-dir out of argv (anywhere), leaving the rest for the verb's getopt. */
static int ctl_init(Ctl *ctl, int *argc, char *argv[]) {
        ctl->root_dir = getenv("NODELET_ROOT_DIR") ?: "/var/lib/nodelet";
        ctl->state_dir = getenv("NODELET_STATE_DIR") ?: "/run/nodelet";
        int k = 0;
        for (int i = 0; i < *argc; i++) {
                const char *v;
                if ((streq(argv[i], "--root-dir") || streq(argv[i], "--state-dir") ||
                     streq(argv[i], "--cgroup-parent")) &&
                    i + 1 < *argc) {
                        if (streq(argv[i], "--root-dir"))
                                ctl->root_dir = argv[i + 1];
                        else if (streq(argv[i], "--state-dir"))
                                ctl->state_dir = argv[i + 1];
                        else
                                ctl->cgroup_parent = argv[i + 1];
                        i++;
                        continue;
                }
                if ((v = startswith(argv[i], "--root-dir="))) {
                        ctl->root_dir = v;
                        continue;
                }
                if ((v = startswith(argv[i], "--state-dir="))) {
                        ctl->state_dir = v;
                        continue;
                }
                argv[k++] = argv[i];
        }
        argv[k] = NULL;
        *argc = k;

        /* The shim: $NODELET_SHIM, next to this binary, the build tree's runtime/, then the installed libexec. */
        const char *env = getenv("NODELET_SHIM");
        if (env) {
                snprintf(ctl->shim, sizeof(ctl->shim), "%s", env);
                return 0;
        }
        char exe[PATH_MAX - 64];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                char *slash = strrchr(exe, '/');
                if (slash) {
                        *slash = 0;
                        static const char *const rel[] = {"nodelet-shim", "../runtime/nodelet-shim"};
                        for (size_t i = 0; i < ELEMENTSOF(rel); i++) {
                                snprintf(ctl->shim, sizeof(ctl->shim), "%s/%s", exe, rel[i]);
                                if (access(ctl->shim, X_OK) == 0)
                                        return 0;
                        }
                }
        }
        snprintf(ctl->shim, sizeof(ctl->shim), "%s/nodelet-shim", NODELET_LIBEXECDIR);
        return 0;
}

static int ctl_runtime(Ctl *ctl, Runtime **ret) {
        RuntimeConfig cfg = {.state_dir = ctl->state_dir, .shim_path = ctl->shim, .cgroup_parent = ctl->cgroup_parent};
        int r = runtime_new(&cfg, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the runtime state in %s: %m", ctl->state_dir);
        return 0;
}

void runtime_ctl_options(int *argc, char *argv[], RuntimeCtlOptions *ret) {
        Ctl ctl = {};
        ctl_init(&ctl, argc, argv);
        *ret = (RuntimeCtlOptions){
                .root_dir = ctl.root_dir, .state_dir = ctl.state_dir, .cgroup_parent = ctl.cgroup_parent};
}

int runtime_ctl_open(const RuntimeCtlOptions *o, Runtime **ret) {
        Ctl ctl = {};
        int argc = 0;
        char *argv[1] = {NULL};
        ctl_init(&ctl, &argc, argv); /* the shim's path */
        ctl.root_dir = o->root_dir;
        ctl.state_dir = o->state_dir;
        ctl.cgroup_parent = o->cgroup_parent;
        return ctl_runtime(&ctl, ret);
}

static int ctl_images(Ctl *ctl, ImageStore **ret) {
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/images", ctl->root_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        int r = image_store_open(dir, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to open the image store %s: %m", dir);
        return 0;
}

static int strv_append(char ***l, const char *s) {
        size_t n = 0;
        while (*l && (*l)[n])
                n++;
        char **nl = realloc(*l, (n + 2) * sizeof(char *));
        RET_NULL_ENOMEM(nl);
        *l = nl;
        nl[n] = strdup(s);
        nl[n + 1] = NULL;
        return nl[n] ? 0 : -ENOMEM;
}

/* "64m", "64Mi", "1G", "1048576" → bytes (docker accepts b/k/m/g, Kubernetes Ki/Mi/Gi and K/M/G). */
static int parse_size(const char *s, int64_t *ret) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        static const struct {
                const char *suffix;
                double mult;
        } units[] = {
                {"", 1},         {"b", 1},     {"k", 1024},     {"K", 1000},     {"Ki", 1024},
                {"m", 1 << 20},  {"M", 1e6},   {"Mi", 1 << 20}, {"g", 1 << 30},  {"G", 1e9},
                {"Gi", 1 << 30}, {"kb", 1024}, {"mb", 1 << 20}, {"gb", 1 << 30},
        };
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix)) {
                        *ret = (int64_t) (v * units[i].mult);
                        return 0;
                }
        return -EINVAL;
}

static int parse_signal(const char *s) {
        if (!s)
                return 0;
        const char *n = startswith(s, "SIG") ?: s;
        static const struct {
                const char *name;
                int sig;
        } t[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                 {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}};
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (streq(n, t[i].name))
                        return t[i].sig;
        int v = atoi(s);
        return v > 0 && v < NSIG ? v : 0;
}

static void random_id(char *buf, size_t size) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long x = (unsigned long long) ts.tv_nsec ^ ((unsigned long long) getpid() << 32) ^
                               (unsigned long long) ts.tv_sec;
        x *= 0x9e3779b97f4a7c15ULL;
        snprintf(buf, size, "run-%012llx", x & 0xffffffffffffULL);
}

static void usage_run(FILE *f) {
        fprintf(f, "usage: nodeletctl run [--rm] [-d] [--name NAME] [-e K=V]... [--user USER] [--memory SIZE]\n"
                   "                      [--cpus N] [--pids-limit N] [--read-only] [--cap-add CAP]... [--cap-drop "
                   "CAP]...\n"
                   "                      [--seccomp RuntimeDefault|Unconfined|PROFILE.json] [--privileged]\n"
                   "                      [--hostname NAME] [-w DIR] (IMAGE | --rootfs DIR) [COMMAND [ARG...]]\n");
}

typedef struct RunOpts {
        bool rm, detach;
        const char *name, *image, *rootfs, *seccomp;
        char **env, **cmd;
} RunOpts;

static int parse_run(int argc, char *argv[], RunOpts *o, ContainerSpec *s) {
        enum {
                OPT_RM = 256,
                OPT_NAME,
                OPT_USER,
                OPT_MEMORY,
                OPT_CPUS,
                OPT_PIDS,
                OPT_RO,
                OPT_CAPADD,
                OPT_CAPDROP,
                OPT_SECCOMP,
                OPT_ROOTFS,
                OPT_PRIV,
                OPT_HOSTNAME
        };
        static const struct option opts[] = {
                {"rm", no_argument, NULL, OPT_RM},
                {"detach", no_argument, NULL, 'd'},
                {"name", required_argument, NULL, OPT_NAME},
                {"env", required_argument, NULL, 'e'},
                {"user", required_argument, NULL, OPT_USER},
                {"memory", required_argument, NULL, OPT_MEMORY},
                {"cpus", required_argument, NULL, OPT_CPUS},
                {"pids-limit", required_argument, NULL, OPT_PIDS},
                {"read-only", no_argument, NULL, OPT_RO},
                {"cap-add", required_argument, NULL, OPT_CAPADD},
                {"cap-drop", required_argument, NULL, OPT_CAPDROP},
                {"seccomp", required_argument, NULL, OPT_SECCOMP},
                {"rootfs", required_argument, NULL, OPT_ROOTFS},
                {"privileged", no_argument, NULL, OPT_PRIV},
                {"hostname", required_argument, NULL, OPT_HOSTNAME},
                {"workdir", required_argument, NULL, 'w'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;
        optind = 1;
        /* "+": options end at the image, the command's own options are its own. */
        while ((c = getopt_long(argc, argv, "+de:u:w:m:h", opts, NULL)) >= 0) {
                int64_t v;
                switch (c) {
                case OPT_RM:
                        o->rm = true;
                        break;
                case 'd':
                        o->detach = true;
                        break;
                case OPT_NAME:
                        o->name = optarg;
                        break;
                case 'e':
                        if (!strchr(optarg, '='))
                                return log_error_errno(-EINVAL, "--env %s: expected NAME=VALUE", optarg);
                        if (strv_append(&o->env, optarg) < 0)
                                return -ENOMEM;
                        break;
                case 'u':
                case OPT_USER:
                        free(s->user);
                        s->user = strdup(optarg);
                        break;
                case 'm':
                case OPT_MEMORY:
                        if (parse_size(optarg, &v) < 0)
                                return log_error_errno(-EINVAL, "--memory %s: not a size (e.g. 64m, 1Gi)", optarg);
                        s->resources.memory_limit = v;
                        break;
                case OPT_CPUS: {
                        char *end;
                        double cpus = strtod(optarg, &end);
                        if (*end || cpus <= 0 || cpus > 1024)
                                return log_error_errno(-EINVAL, "--cpus %s: not a positive number of CPUs", optarg);
                        s->resources.cpu_period_us = 100000;
                        s->resources.cpu_quota_us = (int64_t) (cpus * 100000);
                        break;
                }
                case OPT_PIDS:
                        if (parse_size(optarg, &v) < 0 || v <= 0)
                                return log_error_errno(-EINVAL, "--pids-limit %s: not a positive number", optarg);
                        s->resources.pids_limit = v;
                        break;
                case OPT_RO:
                        s->readonly_rootfs = true;
                        break;
                case OPT_CAPADD:
                case OPT_CAPDROP: {
                        _cleanup_free_ char *copy = strdup(optarg);
                        char *save = NULL;
                        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                                if (strv_append(c == OPT_CAPADD ? &s->cap_add : &s->cap_drop, t) < 0)
                                        return -ENOMEM;
                        break;
                }
                case OPT_SECCOMP:
                        o->seccomp = optarg;
                        break;
                case OPT_ROOTFS:
                        o->rootfs = optarg;
                        break;
                case OPT_PRIV:
                        s->privileged = true;
                        break;
                case OPT_HOSTNAME:
                        free(s->hostname);
                        s->hostname = strdup(optarg);
                        break;
                case 'w':
                        free(s->cwd);
                        s->cwd = strdup(optarg);
                        break;
                case 'h':
                        usage_run(stdout);
                        return 1;
                default:
                        usage_run(stderr);
                        return -EINVAL;
                }
        }
        if (!o->rootfs) {
                if (optind >= argc) {
                        usage_run(stderr);
                        return -EINVAL;
                }
                o->image = argv[optind++];
        }
        o->cmd = argv + optind;
        if (o->seccomp) {
                SeccompMode m = seccomp_mode_from_string(o->seccomp);
                if (m == SECCOMP_MODE_LOCALHOST || m < 0) {
                        s->seccomp = SECCOMP_MODE_LOCALHOST;
                        s->seccomp_profile = strdup(startswith(o->seccomp, "localhost/") ?: o->seccomp);
                } else
                        s->seccomp = m;
        }
        return 0;
}

/* Fills the rootfs and process from the image or a plain directory. Like `docker run IMAGE ARGS...`: ARGS replace
 * the image Cmd, the Entrypoint stays, and ARGS are taken verbatim (no Kubernetes $(VAR) expansion; the shell that
 * ran us has expanded what it wanted to). */
static int spec_from_source(Ctl *ctl, RunOpts *o, ContainerSpec *s, char **ret_image_id) {
        if (o->rootfs) {
                if (!o->cmd[0])
                        return log_error_errno(-EINVAL, "run --rootfs %s: a command is required", o->rootfs);
                if (strv_append(&s->lower_dirs, o->rootfs) < 0)
                        return -ENOMEM;
                for (char **a = o->cmd; *a; a++)
                        if (strv_append(&s->argv, *a) < 0)
                                return -ENOMEM;
                s->env = TAKE_PTR(o->env);
                return 0;
        }
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        int r = ctl_images(ctl, &store);
        if (r < 0)
                return r;
        _cleanup_(image_info_freep) ImageInfo *img = NULL;
        ErrorBuf e = {};
        r = image_store_get(store, o->image, &img, &e);
        if (r < 0) {
                log_error("image %s: %s", o->image, error_message(&e, r));
                return r;
        }
        r = image_resolve_process(img, NULL, o->cmd[0] ? o->cmd : NULL, o->env, 0, &s->argv, &s->env, &e);
        if (r < 0) {
                log_error("image %s: %s", o->image, error_message(&e, r));
                return r;
        }
        for (char **l = img->layer_dirs; *l; l++)
                if (strv_append(&s->lower_dirs, *l) < 0)
                        return -ENOMEM;
        if (!s->user && img->user && *img->user)
                s->user = strdup(img->user);
        if (!s->cwd && img->working_dir && *img->working_dir)
                s->cwd = strdup(img->working_dir);
        s->stop_signal = parse_signal(img->stop_signal);
        *ret_image_id = strdup(img->id);
        return *ret_image_id ? 0 : -ENOMEM;
}

static int remove_container(Ctl *ctl, Runtime *rt, Container *c, bool force) {
        _cleanup_free_ char *id = strdup(container_id(c));
        _cleanup_free_ char *image_id = container_annotation(c, ANNOTATION_IMAGE_ID)
                                                ? strdup(container_annotation(c, ANNOTATION_IMAGE_ID))
                                                : NULL;
        _cleanup_free_ char *root =
                container_annotation(c, ANNOTATION_ROOT) ? strdup(container_annotation(c, ANNOTATION_ROOT)) : NULL;
        ErrorBuf e = {};
        int r = container_remove(c, force, &e);
        if (r < 0) {
                container_free(c);
                log_error("%s", error_message(&e, r));
                return r;
        }
        if (image_id) {
                _cleanup_(image_store_freep) ImageStore *store = NULL;
                if (ctl_images(ctl, &store) == 0)
                        (void) image_store_remove_user(store, image_id, id);
        }
        if (root)
                (void) rm_rf(root);
        return 0;
}

/* `run --rm` in the foreground must not leave a running container behind when nodeletctl is killed (a timeout's
 * SIGKILL, a closed terminal) before it could remove it. A watcher in its own session (so signals for our process
 * group or terminal do not reach it) holds the read end of a pipe whose write end only this process has (O_CLOEXEC:
 * not even the shim): when we are gone, however we went, it reads EOF and force-removes the container if it still
 * exists. On a normal exit we removed it already and the watcher finds nothing. */
static int rm_watcher_spawn(Ctl *ctl, const char *id, int *ret_fd) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to create a pipe: %m");
        pid_t pid = fork();
        if (pid < 0) {
                safe_close(p[0]);
                safe_close(p[1]);
                return log_error_errno(-errno, "Failed to fork: %m");
        }
        if (pid == 0) {
                /* The intermediate child: a grandchild does the watching, so we never have to reap it. */
                safe_close(p[1]);
                if (fork() != 0)
                        _exit(0);
                (void) setsid();
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                for (int fd = 0; fd < 3 && null >= 0; fd++)
                        (void) dup2(null, fd);
                (void) signal(SIGINT, SIG_IGN);
                (void) signal(SIGTERM, SIG_IGN);
                (void) signal(SIGHUP, SIG_IGN);
                (void) signal(SIGPIPE, SIG_IGN);
                /* Nothing of ours stays open in the watcher (a lock of the image store would block others). */
                if (dup2(p[0], 3) < 0)
                        _exit(1);
                (void) close_range(4, ~0U, 0);
                for (;;) {
                        char b;
                        ssize_t n = read(3, &b, 1);
                        if (n == 0 || (n < 0 && errno != EINTR))
                                break;
                }
                Runtime *rt = NULL;
                Container *c = NULL;
                if (ctl_runtime(ctl, &rt) >= 0 && container_load(rt, id, &c, NULL) >= 0)
                        (void) remove_container(ctl, rt, c, true);
                runtime_free(rt);
                _exit(0);
        }
        safe_close(p[0]);
        (void) waitpid(pid, NULL, 0);
        *ret_fd = p[1];
        return 0;
}

int runtime_ctl_run(int argc, char *argv[]) {
        Ctl ctl = {};
        ctl_init(&ctl, &argc, argv);
        RunOpts o = {};
        _cleanup_(container_spec_done) ContainerSpec s = {};
        _cleanup_strv_free_ char **env_keep = NULL;
        int r = parse_run(argc, argv, &o, &s);
        env_keep = o.env; /* freed here unless moved into the spec */
        if (r != 0)
                return r > 0 ? 0 : 2;
        char gen[32];
        const char *id = o.name;
        if (!id) {
                random_id(gen, sizeof(gen));
                id = gen;
        }
        _cleanup_free_ char *image_id = NULL, *root = NULL, *ann1 = NULL, *ann2 = NULL, *ann3 = NULL;
        /* Like docker: the hostname is the container's name unless given. */
        if (!s.hostname && !(s.hostname = strndup(id, 63)))
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        r = spec_from_source(&ctl, &o, &s, &image_id);
        if (o.env != env_keep)
                env_keep = NULL;
        if (r < 0)
                return 1;
        if (asprintf(&root, "%s/containers/%s", ctl.root_dir, id) < 0 || asprintf(&s.upper_dir, "%s/upper", root) < 0 ||
            asprintf(&s.work_dir, "%s/work", root) < 0 || asprintf(&s.log_path, "%s/container.log", root) < 0 ||
            asprintf(&ann1, ANNOTATION_IMAGE "=%s", o.image ?: o.rootfs) < 0 ||
            asprintf(&ann2, ANNOTATION_ROOT "=%s", root) < 0 ||
            (image_id && asprintf(&ann3, ANNOTATION_IMAGE_ID "=%s", image_id) < 0))
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        if (strv_append(&s.annotations, ann1) < 0 || strv_append(&s.annotations, ann2) < 0 ||
            (ann3 && strv_append(&s.annotations, ann3) < 0))
                return log_error_errno(-ENOMEM, "Out of memory"), 1;

        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (ctl_runtime(&ctl, &rt) < 0)
                return 1;
        if (access(root, F_OK) == 0)
                return log_error("container %s: already exists (%s)", id, root), 1;
        _cleanup_close_ int watcher_fd = -EBADF; /* held until we exit, however that happens */
        if (o.rm && !o.detach && rm_watcher_spawn(&ctl, id, &watcher_fd) < 0)
                return 1;
        Container *c = NULL;
        ErrorBuf e = {};
        r = container_create(rt, id, &s, &c, &e);
        if (r < 0) {
                (void) rm_rf(root);
                log_error("%s", error_message(&e, r));
                return 1;
        }
        if (image_id) {
                _cleanup_(image_store_freep) ImageStore *store = NULL;
                if (ctl_images(&ctl, &store) == 0)
                        (void) image_store_add_user(store, image_id, id);
        }
        r = container_start(c, o.detach ? -1 : STDOUT_FILENO, o.detach ? -1 : STDERR_FILENO, &e);
        if (r < 0) {
                log_error("%s", error_message(&e, r));
                if (o.rm)
                        (void) remove_container(&ctl, rt, c, true);
                else
                        container_free(c);
                return 1;
        }
        if (o.detach) {
                puts(id);
                container_free(c);
                return 0;
        }
        r = container_wait(c, 0);
        ContainerStatus st = {};
        if (r >= 0)
                r = container_get_status(c, &st);
        if (r < 0) {
                container_free(c);
                return log_error_errno(r, "container %s: waiting: %m", id), 1;
        }
        if (st.oom_killed)
                log_error("container %s: OOMKilled", id);
        if (o.rm) {
                if (remove_container(&ctl, rt, c, false) < 0)
                        return 1;
        } else
                container_free(c);
        return st.exit_code;
}

static int load(Ctl *ctl, Runtime *rt, const char *id, Container **ret) {
        ErrorBuf e = {};
        int r = container_load(rt, id, ret, &e);
        if (r < 0)
                log_error("%s", error_message(&e, r));
        return r;
}

static void format_age(uint64_t ns, char *buf, size_t size) {
        if (!ns) {
                snprintf(buf, size, "-");
                return;
        }
        uint64_t now = (uint64_t) time(NULL) * NSEC_PER_SEC;
        uint64_t s = now > ns ? (now - ns) / NSEC_PER_SEC : 0;
        if (s < 120)
                snprintf(buf, size, "%" PRIu64 "s ago", s);
        else if (s < 7200)
                snprintf(buf, size, "%" PRIu64 "m ago", s / 60);
        else
                snprintf(buf, size, "%" PRIu64 "h ago", s / 3600);
}

static bool is_help(const char *s) {
        return streq(s, "-h") || streq(s, "--help");
}

/* Prints rows of n cells (the first row is the header), each column as wide as its widest cell but the last. */
static void print_table(char **cells, size_t n_rows, size_t n) {
        _cleanup_free_ int *w = calloc(n, sizeof(int));
        for (size_t i = 0; w && i < n_rows * n; i++)
                w[i % n] = MAX(w[i % n], (int) strlen(cells[i]));
        for (size_t row = 0; row < n_rows; row++)
                for (size_t k = 0; k < n; k++) {
                        if (k + 1 < n)
                                printf("%-*s ", w ? w[k] : 0, cells[row * n + k]);
                        else
                                printf("%s\n", cells[row * n + k]);
                }
}

int runtime_ctl_ps_columns(int argc, char *argv[], const RuntimeCtlColumn *columns, size_t n_columns) {
        Ctl ctl = {};
        ctl_init(&ctl, &argc, argv);
        bool all = false;
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "-a") || streq(argv[i], "--all"))
                        all = true;
                else {
                        FILE *f = is_help(argv[i]) ? stdout : stderr;
                        fprintf(f, "usage: nodeletctl ps [-a]\n\nLists running containers (-a: also created and "
                                   "exited ones).\n");
                        return is_help(argv[i]) ? 0 : 2;
                }
        }
        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (ctl_runtime(&ctl, &rt) < 0)
                return 1;
        _cleanup_strv_free_ char **ids = NULL;
        int r = runtime_list(rt, &ids);
        if (r < 0)
                return log_error_errno(r, "Failed to list containers in %s: %m", ctl.state_dir), 1;
        /* The whole table first: columns as wide as their values (32-character pod container ids, image
         * references), so nothing needs to be abbreviated. */
        static const char *const fixed[] = {"CONTAINER", "STATE", "EXIT", "PID", "CREATED", "IMAGE"};
        size_t n = ELEMENTSOF(fixed) + n_columns + 1;
        _cleanup_strv_free_ char **cells = NULL;
        size_t n_rows = 0;
        for (size_t k = 0; k < n; k++) {
                const char *h = k < ELEMENTSOF(fixed) ? fixed[k]
                                : k + 1 < n           ? columns[k - ELEMENTSOF(fixed)].header
                                                      : "COMMAND";
                if (strv_append(&cells, h) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory"), 1;
        }
        n_rows++;
        for (char **id = ids; *id; id++) {
                _cleanup_(container_freep) Container *c = NULL;
                if (container_load(rt, *id, &c, NULL) < 0)
                        continue;
                ContainerStatus st;
                if (container_get_status(c, &st) < 0 || (!all && st.state != CONTAINER_RUNNING))
                        continue;
                char exit_s[16] = "-", pid_s[16] = "-", age[32];
                if (st.state == CONTAINER_EXITED)
                        snprintf(exit_s, sizeof(exit_s), "%d", st.exit_code);
                if (st.pid > 0)
                        snprintf(pid_s, sizeof(pid_s), "%d", (int) st.pid);
                format_age(st.created_at, age, sizeof(age));
                /* One line per container: a script's newlines and tabs become spaces, and long ones are cut
                 * like docker ps does. */
                char cmd[81] = "";
                size_t l = 0;
                for (char *const *a = container_argv(c); a && *a && l < sizeof(cmd) - 1; a++)
                        l += (size_t) snprintf(cmd + l, sizeof(cmd) - l, "%s%s", l ? " " : "", *a);
                for (char *p = cmd; *p; p++)
                        if ((unsigned char) *p < ' ')
                                *p = ' ';
                if (l >= sizeof(cmd) - 1)
                        memcpy(cmd + sizeof(cmd) - 4, "...", 4);
                const char *row[] = {*id,    container_state_to_string(st.state),
                                     exit_s, pid_s,
                                     age,    strna(container_annotation(c, ANNOTATION_IMAGE))};
                for (size_t k = 0; k < n; k++) {
                        const char *v = k < ELEMENTSOF(row) ? row[k]
                                        : k + 1 < n ? container_annotation(c, columns[k - ELEMENTSOF(row)].annotation)
                                                    : cmd;
                        if (strv_append(&cells, v ?: "-") < 0)
                                return log_error_errno(-ENOMEM, "Out of memory"), 1;
                }
                n_rows++;
        }
        print_table(cells, n_rows, n);
        return 0;
}

/* Writes records to stdout/stderr by stream. With timestamps, each line starts with the time of its first record
 * (like `kubectl logs --timestamps`); a line split into partial records gets one. */
typedef struct LogPrinter {
        bool timestamps;
        bool in_line[_LOG_STREAM_MAX];
} LogPrinter;

static void print_record(LogPrinter *p, const CriLogLine *l) {
        FILE *o = l->stream == LOG_STREAM_STDOUT ? stdout : stderr;
        if (p->timestamps && !p->in_line[l->stream])
                fprintf(o, "%s ", l->timestamp);
        (void) fwrite(l->content, 1, l->content_size, o);
        if (!l->partial)
                (void) fputc('\n', o);
        p->in_line[l->stream] = l->partial;
}

/* The whole file, or its last tail lines (0 = all). */
static int print_log_file(LogPrinter *p, const char *path, unsigned tail) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long skip = 0;
        if (tail > 0) {
                /* Count complete lines first, then skip all but the last `tail`. */
                long total = 0;
                while ((n = getline(&line, &cap, f)) > 0) {
                        CriLogLine l;
                        if (cri_log_parse_line(line, (size_t) n, &l) == 0 && !l.partial)
                                total++;
                }
                skip = total > (long) tail ? total - (long) tail : 0;
                rewind(f);
        }
        while ((n = getline(&line, &cap, f)) > 0) {
                CriLogLine l;
                if (cri_log_parse_line(line, (size_t) n, &l) < 0)
                        continue;
                if (skip > 0) {
                        if (!l.partial)
                                skip--;
                        continue;
                }
                print_record(p, &l);
        }
        return 0;
}

/* Prints the complete records readable from f (a partial last line is left for the next round). */
static void print_new_records(LogPrinter *p, FILE *f, char **line, size_t *cap) {
        for (;;) {
                long pos = ftell(f);
                ssize_t n = getline(line, cap, f);
                if (n <= 0)
                        break;
                if ((*line)[n - 1] != '\n') {
                        (void) fseek(f, pos, SEEK_SET); /* still being written */
                        break;
                }
                CriLogLine l;
                if (cri_log_parse_line(*line, (size_t) n, &l) < 0)
                        continue;
                print_record(p, &l);
                (void) fflush(stdout);
                (void) fflush(stderr);
        }
        clearerr(f);
}

/* `logs -f`: what is there, then what is appended, across rotations, until the container's shim is gone. */
static int follow(LogPrinter *p, const char *path, int stop_fd, bool from_end) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (f && from_end)
                (void) fseek(f, 0, SEEK_END); /* a record being written then shows from its next line on */
        for (;;) {
                bool stop = stop_fd < 0;
                if (!stop) {
                        struct pollfd pfd = {.fd = stop_fd, .events = POLLIN};
                        stop = poll(&pfd, 1, 200) > 0;
                }
                if (f)
                        print_new_records(p, f, &line, &cap);
                /* Rotated (renamed, a new file at path): finish the old one, continue with the new. */
                struct stat a, b;
                if (stat(path, &a) == 0 && (!f || (fstat(fileno(f), &b) == 0 && a.st_ino != b.st_ino))) {
                        if (f)
                                fclose(f);
                        f = fopen(path, "re");
                        if (f)
                                print_new_records(p, f, &line, &cap);
                }
                if (stop)
                        return 0;
        }
}

int runtime_ctl_print_log(Container *c, unsigned tail, bool follow_, bool timestamps) {
        LogPrinter p = {.timestamps = timestamps};
        const char *path = container_log_path(c);
        if (!path)
                return log_error_errno(-ENOENT, "container %s: has no log", container_id(c));
        if (follow_ && tail == 0)
                return follow(&p, path, container_exit_fd(c), false);
        int r = print_log_file(&p, path, tail);
        if (r < 0)
                return log_error_errno(r, "container %s: reading %s: %m", container_id(c), path);
        if (follow_) {
                (void) fflush(stdout);
                (void) fflush(stderr);
                return follow(&p, path, container_exit_fd(c), true);
        }
        return 0;
}

int runtime_ctl_exec_in(Container *c, char **argv, char **env, uint64_t timeout_usec) {
        ExecSpec x = {.argv = argv, .env = env, .timeout_usec = timeout_usec, .output_max = 16 * 1024 * 1024};
        ExecResult res = {};
        ErrorBuf e = {};
        int r = container_exec(c, &x, &res, &e);
        if (r < 0)
                return log_error("%s", error_message(&e, r)), 126;
        fwrite(res.out, 1, res.out_size, stdout);
        fwrite(res.err, 1, res.err_size, stderr);
        int code = res.exit_code;
        if (res.timed_out)
                log_error("container %s: exec timed out after %.1fs", container_id(c),
                          (double) timeout_usec / USEC_PER_SEC);
        exec_result_done(&res);
        return code;
}

int runtime_ctl_stop(int argc, char *argv[]) {
        Ctl ctl = {};
        ctl_init(&ctl, &argc, argv);
        double t = 10;
        int i = 1;
        /* -h anywhere: a container ID never starts with '-', so `stop -t 5 --help` cannot mean a container. */
        for (int k = 1; k < argc; k++)
                if (is_help(argv[k])) {
                        printf("usage: nodeletctl stop [-t SECONDS] CONTAINER...\n");
                        return 0;
                }
        if (i + 1 < argc && (streq(argv[i], "-t") || streq(argv[i], "--timeout"))) {
                t = strtod(argv[i + 1], NULL);
                i += 2;
        }
        if (i >= argc) {
                fprintf(stderr, "usage: nodeletctl stop [-t SECONDS] CONTAINER...\n");
                return 2;
        }
        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (ctl_runtime(&ctl, &rt) < 0)
                return 1;
        int ret = 0;
        for (; i < argc; i++) {
                _cleanup_(container_freep) Container *c = NULL;
                if (load(&ctl, rt, argv[i], &c) < 0) {
                        ret = 1;
                        continue;
                }
                int r = container_stop(c, (uint64_t) (t * USEC_PER_SEC));
                if (r < 0) {
                        log_error_errno(r, "container %s: stopping: %m", argv[i]);
                        ret = 1;
                } else
                        puts(argv[i]);
        }
        return ret;
}

int runtime_ctl_rm(int argc, char *argv[]) {
        Ctl ctl = {};
        ctl_init(&ctl, &argc, argv);
        bool force = false;
        int i = 1;
        for (int k = 1; k < argc; k++) /* as in stop: help wins wherever it is */
                if (is_help(argv[k])) {
                        printf("usage: nodeletctl rm [-f] CONTAINER...\n");
                        return 0;
                }
        if (i < argc && (streq(argv[i], "-f") || streq(argv[i], "--force"))) {
                force = true;
                i++;
        }
        if (i >= argc) {
                fprintf(stderr, "usage: nodeletctl rm [-f] CONTAINER...\n");
                return 2;
        }
        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (ctl_runtime(&ctl, &rt) < 0)
                return 1;
        int ret = 0;
        for (; i < argc; i++) {
                Container *c = NULL;
                if (load(&ctl, rt, argv[i], &c) < 0 || remove_container(&ctl, rt, c, force) < 0) {
                        ret = 1;
                        continue;
                }
                puts(argv[i]);
        }
        return ret;
}
