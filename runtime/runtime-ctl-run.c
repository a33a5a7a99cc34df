/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl run: a one-off container from an image or a rootfs directory, like `docker run`:
 *
 *   nodeletctl run [--rm] [-d] [--name N] [-e K=V]... [--user U] [--memory SIZE] [--cpus N] [--pids-limit N]
 *                  [--read-only] [--cap-add C]... [--cap-drop C]... [--seccomp RuntimeDefault|Unconfined|FILE]
 *                  [--privileged] [--hostname H] [-w DIR] (IMAGE | --rootfs DIR) [CMD [ARG...]]
 *
 * Options end at IMAGE (getopt's "+"): the words after it are the command's own, --root-dir included. */
#include "runtime/runtime-ctl.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/strv.h"
#include "runtime/runtime-ctl-internal.h"
#include "runtime/signals.h"

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
                   "                      [--hostname NAME] [-w DIR] [--root-dir DIR] [--state-dir DIR]\n"
                   "                      [--cgroup-parent PARENT] [-v] (IMAGE | --rootfs DIR) [COMMAND [ARG...]]\n\n"
                   "Options come before IMAGE: what follows it is the command line, passed on as it is.\n");
}

typedef struct RunOpts {
        bool rm, detach;
        const char *name, *image, *rootfs, *seccomp;
        char **env, **cmd;
} RunOpts;

static int parse_run(int argc, char *argv[], RuntimeCtlOptions *g, RunOpts *o, ContainerSpec *s) {
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
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        int c;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        /* "+": options end at the image, the command's own options are its own. */
        while ((c = getopt_long(argc, argv, "+de:u:w:m:hv", opts, NULL)) >= 0) {
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
                        if (strv_extend(&o->env, optarg) < 0)
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
                                if (strv_extend(c == OPT_CAPADD ? &s->cap_add : &s->cap_drop, t) < 0)
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
                        if (runtime_ctl_option(g, c, optarg))
                                break;
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
static int spec_from_source(const RuntimeCtlOptions *g, RunOpts *o, ContainerSpec *s, ImageStore **ret_store,
                            char **ret_image_id) {
        if (o->rootfs) {
                if (!o->cmd[0])
                        return log_error_errno(-EINVAL, "run --rootfs %s: a command is required", o->rootfs);
                if (strv_extend(&s->lower_dirs, o->rootfs) < 0)
                        return -ENOMEM;
                for (char **a = o->cmd; *a; a++)
                        if (strv_extend(&s->argv, *a) < 0)
                                return -ENOMEM;
                s->env = TAKE_PTR(o->env);
                return 0;
        }
        /* Opened once for the lookup, the in-use record and its removal (each open creates and checks its dirs). */
        int r = runtime_ctl_images_open(g, ret_store);
        if (r < 0)
                return r;
        ImageStore *store = *ret_store;
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
                if (strv_extend(&s->lower_dirs, *l) < 0)
                        return -ENOMEM;
        if (!s->user && img->user && *img->user)
                s->user = strdup(img->user);
        if (!s->cwd && img->working_dir && *img->working_dir)
                s->cwd = strdup(img->working_dir);
        int sig = img->stop_signal ? signal_from_string(img->stop_signal) : 0;
        s->stop_signal = sig > 0 ? sig : 0; /* unknown: the runtime's default, SIGTERM */
        *ret_image_id = strdup(img->id);
        return *ret_image_id ? 0 : -ENOMEM;
}

/* `run --rm` in the foreground must not leave a container behind when nodeletctl is killed (a timeout's SIGKILL, a
 * closed terminal) before it could remove it. A watcher in its own session (so signals for our process group or
 * terminal do not reach it) holds the read end of a pipe whose write end only this process has (O_CLOEXEC: not even
 * the shim): when we are gone, however we went, it reads EOF and, if the container's state dir still exists, execs
 * `nodeletctl rm -f ID` with our options. On a normal exit we removed the container already and it just exits.
 *
 * The watcher is a clone(CLONE_VM) child running on a stack of its own: like a thread, it costs no copy of our page
 * tables and no copy-on-write faults in either process (a fork() was ~1/3 of a `run --rm`'s CPU time under load), and
 * unlike a thread it survives our exit, keeping our address space mapped until it exits itself. Everything it uses
 * is prepared before the clone in WatcherArgs (static storage nothing else writes), and it calls nothing that
 * allocates, locks or touches our state: raw syscalls only (no sanitizer instrumentation either). Our TLS is its TLS,
 * so a failing syscall would set our errno: while we run it only sits in read(), which does not fail (no handler
 * runs in it: it is in its own session and nobody signals it); access() and execve() come after EOF, when we have
 * closed the pipe and are exiting or gone. The exec'd `rm` gets our environment ($NODELET_SHIM and the like) as it
 * is then: `run` sets no variable after the watcher started. */
typedef struct WatcherArgs {
        char dir[PATH_MAX]; /* <state-dir>/containers/<id>: runtime_new()'s layout */
        char *argv[12];
        char words[3 * PATH_MAX + 128]; /* the strings argv points into */
        int pipe_fd, null_fd;
        char stack[16 * 1024] __attribute__((aligned(16)));
} WatcherArgs;

__attribute__((no_sanitize("address", "undefined"))) static int rm_watcher_main(void *userdata) {
        WatcherArgs *w = userdata;
        /* Our own fd table (no CLONE_FILES): drop every fd but the read end, which becomes 3, and stdio on /dev/null,
         * so the watcher keeps no pipe of our caller's open (a `$(nodeletctl run --rm ...)` would wait for it). */
        (void) syscall(SYS_setsid);
        for (int fd = 0; fd < 3; fd++)
                (void) syscall(SYS_dup2, w->null_fd, fd);
        (void) syscall(SYS_dup2, w->pipe_fd, 3);
        (void) syscall(SYS_close_range, 4, ~0U, 0);
        char b;
        while (syscall(SYS_read, 3, &b, 1) < 0 && errno == EINTR)
                ;
        if (syscall(SYS_access, w->dir, F_OK) == 0)
                (void) syscall(SYS_execve, "/proc/self/exe", w->argv, environ);
        (void) syscall(SYS_exit, 0);
        return 0;
}

static WatcherArgs rm_watcher_args;

static int rm_watcher_spawn(const RuntimeCtlOptions *g, const char *id, int *ret_fd) {
        WatcherArgs *w = &rm_watcher_args;
        if ((size_t) snprintf(w->dir, sizeof(w->dir), "%s/containers/%s", g->state_dir, id) >= sizeof(w->dir))
                return log_error_errno(-ENAMETOOLONG, "container %s: state dir path too long", id);
        const char *words[] = {"nodeletctl",
                               "rm",
                               "-f",
                               "--root-dir",
                               g->root_dir,
                               "--state-dir",
                               g->state_dir,
                               g->cgroup_parent ? "--cgroup-parent" : NULL,
                               g->cgroup_parent,
                               id};
        size_t used = 0, n = 0;
        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                if (!words[i]) {
                        i++; /* no --cgroup-parent: skip its value too */
                        continue;
                }
                size_t len = strlen(words[i]) + 1;
                if (used + len > sizeof(w->words))
                        return log_error_errno(-ENAMETOOLONG, "container %s: paths too long", id);
                w->argv[n++] = memcpy(w->words + used, words[i], len);
                used += len;
        }
        w->argv[n] = NULL;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "Failed to create a pipe: %m");
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0) {
                int r = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return log_error_errno(r, "Failed to open /dev/null: %m");
        }
        w->pipe_fd = p[0];
        w->null_fd = null;
        /* No wait for it, ever: it only ends after we did, and our parent's subreaper or init reaps it. From here on
         * we leave *w alone: the watcher reads it concurrently (an fd reset to -1 under it made its dup2() fail and
         * set our errno). */
        pid_t pid = clone(rm_watcher_main, w->stack + sizeof(w->stack), CLONE_VM | SIGCHLD, w);
        int r = pid < 0 ? -errno : 0;
        safe_close(p[0]);
        safe_close(null);
        if (r < 0) {
                safe_close(p[1]);
                return log_error_errno(r, "Failed to start the --rm watcher: %m");
        }
        *ret_fd = p[1];
        return 0;
}

int runtime_ctl_run(int argc, char *argv[]) {
        RuntimeCtlOptions g;
        runtime_ctl_options_init(&g);
        RunOpts o = {};
        _cleanup_(container_spec_done) ContainerSpec s = {};
        _cleanup_strv_free_ char **env_keep = NULL;
        int r = parse_run(argc, argv, &g, &o, &s);
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
        _cleanup_(image_store_freep) ImageStore *store = NULL;
        r = spec_from_source(&g, &o, &s, &store, &image_id);
        if (o.env != env_keep)
                env_keep = NULL;
        if (r < 0)
                return 1;
        if (asprintf(&root, "%s/containers/%s", g.root_dir, id) < 0 || asprintf(&s.upper_dir, "%s/upper", root) < 0 ||
            asprintf(&s.work_dir, "%s/work", root) < 0 || asprintf(&s.log_path, "%s/container.log", root) < 0 ||
            asprintf(&ann1, RUNTIME_CTL_ANNOTATION_IMAGE "=%s", o.image ?: o.rootfs) < 0 ||
            asprintf(&ann2, RUNTIME_CTL_ANNOTATION_ROOT "=%s", root) < 0 ||
            (image_id && asprintf(&ann3, RUNTIME_CTL_ANNOTATION_IMAGE_ID "=%s", image_id) < 0))
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        if (strv_extend(&s.annotations, ann1) < 0 || strv_extend(&s.annotations, ann2) < 0 ||
            (ann3 && strv_extend(&s.annotations, ann3) < 0))
                return log_error_errno(-ENOMEM, "Out of memory"), 1;

        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (runtime_ctl_open(&g, &rt) < 0)
                return 1;
        if (access(root, F_OK) == 0)
                return log_error("container %s: already exists (%s)", id, root), 1;
        _cleanup_close_ int watcher_fd = -EBADF; /* held until we exit, however that happens */
        if (o.rm && !o.detach && rm_watcher_spawn(&g, id, &watcher_fd) < 0)
                return 1;
        Container *c = NULL;
        ErrorBuf e = {};
        r = container_create(rt, id, &s, &c, &e);
        if (r < 0) {
                (void) rm_rf(root);
                log_error("%s", error_message(&e, r));
                return 1;
        }
        if (image_id)
                (void) image_store_add_user(store, image_id, id);
        r = container_start(c, o.detach ? -1 : STDOUT_FILENO, o.detach ? -1 : STDERR_FILENO, &e);
        if (r < 0) {
                log_error("%s", error_message(&e, r));
                if (o.rm)
                        (void) runtime_ctl_remove_in(&g, store, c, true);
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
                /* Force: a shim that was killed leaves the container "unknown" (its workload may live on in the
                 * cgroup); `--rm` removes it all the same, like an exited one. */
                if (runtime_ctl_remove_in(&g, store, c, true) < 0)
                        return 1;
        } else
                container_free(c);
        return st.exit_code;
}
