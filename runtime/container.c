/* SPDX-License-Identifier: Apache-2.0 */
/* The caller's side of the container engine: resolve and persist the spec, spawn and talk to nodelet-shim, read
 * the state the shim writes, signal, remove. See runtime/container.h and docs/runtime.md. */
#include "runtime/container.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/strv.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/container-config.h"
#include "runtime/container-internal.h"
#include "runtime/seccomp.h"
#include "runtime/user.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#ifndef NODELET_LIBEXECDIR
#define NODELET_LIBEXECDIR "/usr/local/libexec/nodelet"
#endif

#define CONTAINER_START_TIMEOUT_MS 60000

Runtime *runtime_free(Runtime *rt) {
        if (!rt)
                return NULL;
        free(rt->state_dir);
        free(rt->containers_dir);
        free(rt->shim_path);
        strv_free(rt->cgroup_bases);
        free(rt);
        return NULL;
}

/* Staging directories of container_create() (".<id>.XXXXXX") whose creator is gone: it holds a flock() on its
 * staging directory until the rename, and a kill releases it. */
static void sweep_staging(const char *containers_dir) {
        _cleanup_(closedirp) DIR *d = opendir(containers_dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] != '.' || streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_close_ int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                _cleanup_free_ char *p = NULL;
                if (path_join(&p, containers_dir, de->d_name) >= 0)
                        (void) rm_rf(p);
        }
}

int runtime_new(const RuntimeConfig *cfg, Runtime **ret) {
        _cleanup_(runtime_freep) Runtime *rt = calloc(1, sizeof(*rt));
        RET_NULL_ENOMEM(rt);
        const char *sd = cfg && cfg->state_dir ? cfg->state_dir : "/run/nodelet";
        const char *shim = cfg && cfg->shim_path ? cfg->shim_path : getenv("NODELET_SHIM");
        rt->state_dir = strdup(sd);
        rt->shim_path = strdup(shim ?: NODELET_LIBEXECDIR "/nodelet-shim");
        if (!rt->state_dir || !rt->shim_path || asprintf(&rt->containers_dir, "%s/containers", sd) < 0)
                return -ENOMEM;
        int r = mkdir_p(rt->containers_dir, 0711);
        if (r < 0)
                return r;
        sweep_staging(rt->containers_dir);
        rt->cgroup = cgroup_driver_detect();
        r = rt->cgroup->bases(cfg ? cfg->cgroup_parent : NULL, &rt->cgroup_bases, &rt->cgroup_memory_index);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(rt);
        return 0;
}

const char *runtime_state_dir(const Runtime *rt) {
        return rt->state_dir;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int runtime_list(Runtime *rt, char ***ret_ids) {
        _cleanup_(closedirp) DIR *d = opendir(rt->containers_dir);
        if (!d)
                return -errno;
        _cleanup_strv_free_ char **ids = calloc(1, sizeof(char *));
        RET_NULL_ENOMEM(ids);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                struct stat st;
                if (de->d_type != DT_DIR &&
                    (de->d_type != DT_UNKNOWN || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                     !S_ISDIR(st.st_mode)))
                        continue;
                char **ni = realloc(ids, (n + 2) * sizeof(char *));
                RET_NULL_ENOMEM(ni);
                ids = ni;
                ids[n] = strdup(de->d_name);
                RET_NULL_ENOMEM(ids[n]);
                ids[++n] = NULL;
        }
        qsort(ids, n, sizeof(char *), cmp_str);
        *ret_ids = TAKE_PTR(ids);
        return (int) n;
}

bool container_id_valid(const char *id) {
        if (isempty(id) || strlen(id) > 128 || id[0] == '.' || id[0] == '-')
                return false;
        for (const char *p = id; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') || *p == '_' ||
                      *p == '-' || *p == '.'))
                        return false;
        return true;
}

static int rlimit_from_name(const char *name, int *ret) {
        static const struct {
                const char *name;
                int resource;
        } t[] = {
                {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
                {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
                {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
                {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
                {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
                {"stack", RLIMIT_STACK},
        };
        const char *n = name;
        if (strncasecmp(n, "RLIMIT_", 7) == 0)
                n += 7;
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if (strcasecmp(n, t[i].name) == 0) {
                        *ret = t[i].resource;
                        return 0;
                }
        return -EINVAL;
}

static bool env_has(char *const *env, const char *key) {
        size_t l = strlen(key);
        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, key, l) == 0 && (*e)[l] == '=')
                        return true;
        return false;
}

static char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

/* Everything that can be checked without creating anything. */
static int validate_spec(const ContainerSpec *s, ErrorBuf *e) {
        if (!s->argv || !s->argv[0] || !*s->argv[0])
                return error_set(e, -EINVAL, "process.args: no entrypoint (command and args are both empty)");
        if (!s->lower_dirs || !s->lower_dirs[0])
                return error_set(e, -EINVAL, "rootfs: no lower directories");
        for (char **l = s->lower_dirs; *l; l++) {
                struct stat st;
                if (stat(*l, &st) < 0 || !S_ISDIR(st.st_mode))
                        return error_set(e, -ENOENT, "rootfs: lower directory %s does not exist", *l);
                if (strchr(*l, ':') || strchr(*l, ','))
                        return error_set(e, -EINVAL, "rootfs: lower directory %s contains ':' or ','", *l);
        }
        if (s->cwd && s->cwd[0] != '/')
                return error_set(e, -EINVAL, "process.cwd: \"%s\" is not an absolute path", s->cwd);
        for (size_t i = 0; i < s->n_mounts; i++) {
                const BindMount *m = &s->mounts[i];
                if (!m->destination || m->destination[0] != '/')
                        return error_set(e, -EINVAL, "mounts[%zu].destination: must be an absolute path", i);
                if (!m->source || access(m->source, F_OK) < 0)
                        return error_set(e, -ENOENT, "mounts[%zu].source: %s does not exist", i, strna(m->source));
                if (m->propagation < 0 || m->propagation >= _MOUNT_PROPAGATION_MAX)
                        return error_set(e, -EINVAL, "mounts[%zu].propagation: invalid", i);
        }
        for (size_t i = 0; i < s->n_rlimits; i++) {
                int res;
                if (rlimit_from_name(s->rlimits[i].name ?: "", &res) < 0)
                        return error_set(e, -EINVAL, "rlimits[%zu]: unknown resource \"%s\"", i,
                                         strna(s->rlimits[i].name));
                if (s->rlimits[i].soft > s->rlimits[i].hard)
                        return error_set(e, -EINVAL, "rlimits[%zu]: soft limit above the hard limit", i);
        }
        if (s->stop_signal < 0 || s->stop_signal >= NSIG)
                return error_set(e, -EINVAL, "stopSignal: %d is not a signal", s->stop_signal);
        if (s->seccomp < 0 || s->seccomp >= _SECCOMP_MODE_MAX)
                return error_set(e, -EINVAL, "seccomp: invalid mode");
        if (s->seccomp == SECCOMP_MODE_LOCALHOST && isempty(s->seccomp_profile))
                return error_set(e, -EINVAL, "seccomp: Localhost needs a profile path");
        if (s->hostname && strlen(s->hostname) > 64)
                return error_set(e, -EINVAL, "hostname: longer than 64 characters");
        if (s->cgroup_parent && (s->cgroup_parent[0] == '/' || strstr(s->cgroup_parent, "..")))
                return error_set(e, -EINVAL, "cgroupParent: \"%s\" must be relative without \"..\"", s->cgroup_parent);
        return cgroup_resources_validate(&s->resources, e);
}

/* Builds the resolved config (no side effects besides the seccomp cache). */
static int resolve_spec(Runtime *rt, const char *id, const char *dir, const ContainerSpec *s, ContainerConfig **ret,
                        ErrorBuf *e) {
        _cleanup_(container_config_freep) ContainerConfig *c = calloc(1, sizeof(*c));
        RET_NULL_ENOMEM(c);
        c->id = strdup(id);
        c->dir = strdup(dir);
        c->lower_dirs = strv_copy(s->lower_dirs);
        c->argv = strv_copy(s->argv);
        c->env = strv_copy(s->env) ?: calloc(1, sizeof(char *));
        c->cwd = strdup_or_null(s->cwd);
        c->hostname = strdup_or_null(s->hostname);
        c->log_path = strdup_or_null(s->log_path);
        if (!c->id || !c->dir || !c->lower_dirs || !c->argv || !c->env)
                return -ENOMEM;
        if (s->upper_dir) {
                c->upper_dir = strdup(s->upper_dir);
                c->work_dir = s->work_dir ? strdup(s->work_dir) : NULL;
                if (!c->work_dir && asprintf(&c->work_dir, "%s.work", s->upper_dir) < 0)
                        return -ENOMEM;
        } else if (asprintf(&c->upper_dir, "%s/upper", dir) < 0 || asprintf(&c->work_dir, "%s/work", dir) < 0)
                return -ENOMEM;
        RET_NULL_ENOMEM(c->upper_dir && c->work_dir);

        _cleanup_(resolved_user_done) ResolvedUser u = {};
        if (s->user) {
                int r = user_resolve(s->lower_dirs, s->user, &u, e);
                if (r < 0)
                        return r;
        } else if (s->uid_set) {
                /* Numeric identity (runAsUser): the passwd entry, if any, still gives home and groups. */
                char buf[32];
                snprintf(buf, sizeof(buf), "%u", (unsigned) s->uid);
                int r = user_resolve(s->lower_dirs, buf, &u, e);
                if (r < 0)
                        return r;
                u.gid = s->gid;
        } else {
                int r = user_resolve(s->lower_dirs, "0", &u, e);
                if (r < 0)
                        return r;
        }
        c->uid = u.uid;
        c->gid = u.gid;
        c->n_groups = u.n_groups + s->n_additional_gids;
        if (c->n_groups > 0) {
                c->groups = calloc(c->n_groups, sizeof(uint32_t));
                RET_NULL_ENOMEM(c->groups);
                for (size_t i = 0; i < u.n_groups; i++)
                        c->groups[i] = u.groups[i];
                for (size_t i = 0; i < s->n_additional_gids; i++)
                        c->groups[u.n_groups + i] = s->additional_gids[i];
        }
        /* Like containerd: PATH and HOME always exist; HOSTNAME names the UTS hostname. */
        if (!env_has(c->env, "PATH") &&
            strv_extendf(&c->env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") < 0)
                return -ENOMEM;
        if (!env_has(c->env, "HOME") && strv_extendf(&c->env, "HOME=%s", u.home ?: "/") < 0)
                return -ENOMEM;
        if (s->hostname && !env_has(c->env, "HOSTNAME") && strv_extendf(&c->env, "HOSTNAME=%s", s->hostname) < 0)
                return -ENOMEM;

        int r = caps_compute(s->privileged, s->cap_add, s->cap_drop, &c->caps, e);
        if (r < 0)
                return r;
        c->privileged = s->privileged;
        c->no_new_privs = s->no_new_privs;
        if (!s->privileged && s->seccomp != SECCOMP_MODE_UNCONFINED) {
                _cleanup_free_ char *cache = NULL;
                if (asprintf(&cache, "%s/seccomp", rt->state_dir) < 0)
                        return -ENOMEM;
                r = seccomp_prepare(s->seccomp == SECCOMP_MODE_LOCALHOST ? s->seccomp_profile : NULL, c->caps, cache,
                                    &c->seccomp_bpf, e);
                if (r < 0)
                        return r;
        }
        if (s->n_rlimits > 0) {
                c->rlimits = calloc(s->n_rlimits, sizeof(ConfigRlimit));
                RET_NULL_ENOMEM(c->rlimits);
                for (size_t i = 0; i < s->n_rlimits; i++) {
                        (void) rlimit_from_name(s->rlimits[i].name, &c->rlimits[i].resource);
                        c->rlimits[i].soft = s->rlimits[i].soft;
                        c->rlimits[i].hard = s->rlimits[i].hard;
                }
                c->n_rlimits = s->n_rlimits;
        }
        if (s->n_mounts > 0) {
                c->mounts = calloc(s->n_mounts, sizeof(BindMount));
                RET_NULL_ENOMEM(c->mounts);
                for (size_t i = 0; i < s->n_mounts; i++) {
                        c->mounts[i] = s->mounts[i];
                        c->mounts[i].source = strdup(s->mounts[i].source);
                        c->mounts[i].destination = strdup(s->mounts[i].destination);
                        c->n_mounts++;
                        RET_NULL_ENOMEM(c->mounts[i].source && c->mounts[i].destination);
                }
        }
        for (NamespaceKind k = 0; k < _NAMESPACE_KIND_MAX; k++)
                if (s->ns_paths[k] && !(c->ns_paths[k] = strdup(s->ns_paths[k])))
                        return -ENOMEM;
        c->cgroup_version = rt->cgroup->version;
        c->readonly_rootfs = s->readonly_rootfs;
        c->stop_signal = s->stop_signal ?: SIGTERM;
        c->stdin_open = s->stdin_open;
        c->stdin_once = s->stdin_open && s->stdin_once;
        c->tty = s->tty;
        c->log_max_size = s->log_max_size;
        c->log_max_files = s->log_max_files;
        c->log_line_max = s->log_line_max;
        c->created_at = now_realtime_ns();
        if (s->annotations && !(c->annotations = strv_copy(s->annotations)))
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* mkdir, and the whole path only when the parent is missing (the common case needs one syscall). */
static int mkdir_fast(const char *p, mode_t mode) {
        if (mkdir(p, mode) == 0 || errno == EEXIST)
                return 0;
        return errno == ENOENT ? mkdir_p(p, mode) : -errno;
}

static Container *container_new(Runtime *rt, const char *id, ContainerConfig *cfg) {
        Container *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->rt = rt;
        c->id = strdup(id);
        c->shim_pidfd = -1;
        c->start_fd = -1;
        c->exec_pidfd = -1;
        c->cfg = cfg;
        if (!c->id) {
                free(c);
                return NULL;
        }
        return c;
}

int container_create(Runtime *rt, const char *id, const ContainerSpec *spec, Container **ret, ErrorBuf *e) {
        if (!container_id_valid(id))
                return error_set(e, -EINVAL, "container \"%s\": invalid id (letters, digits, '_', '-', '.')",
                                 strna(id));
        int r = validate_spec(spec, e);
        if (r < 0)
                return error_prefix(e, r, "container %s", id);
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", rt->containers_dir, id) < 0)
                return -ENOMEM;
        if (access(dir, F_OK) == 0)
                return error_set(e, -EEXIST, "container %s: already exists", id);

        _cleanup_(container_config_freep) ContainerConfig *cfg = NULL;
        r = resolve_spec(rt, id, dir, spec, &cfg, e);
        if (r < 0)
                return error_prefix(e, r, "container %s", id);

        /* config.json is the container's record of everything below: it becomes visible first, together with the
         * directory (staged under a dot name runtime_list() skips, then renamed), so that a caller killed at any
         * later point leaves a container `rm -f` can load and remove, never a directory or a cgroup nobody knows
         * of (found by the crash harness, tests/crash). From here on every step is undone on failure. */
        _cleanup_free_ char *rel = NULL, *staging = NULL;
        char *text = NULL;
        Container *c = NULL;
        if (asprintf(&rel, "%s%s%s", spec->cgroup_parent ?: "", spec->cgroup_parent ? "/" : "", id) < 0 ||
            asprintf(&staging, "%s/.%s.XXXXXX", rt->containers_dir, id) < 0)
                return -ENOMEM;
        /* Levels of the pod parent this container may remove when empty (not a pod cgroup the caller made with
         * runtime_pod_cgroup_apply()). */
        cfg->cgroup_parent_levels = runtime_cgroup_parent_levels(rt, spec->cgroup_parent);
        r = cgroup_paths(rt->cgroup_bases, rel, &cfg->cgroup_dirs);
        if (r < 0)
                return r;
        if (rt->cgroup_memory_index < strv_length(cfg->cgroup_dirs) &&
            !(cfg->cgroup_memory = strdup(cfg->cgroup_dirs[rt->cgroup_memory_index])))
                return -ENOMEM;
        r = container_config_format(cfg, &text);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **made = NULL;
        _cleanup_free_ char *made_memory = NULL, *p = NULL;
        if (!mkdtemp(staging)) {
                free(text);
                return error_set(e, -errno, "container %s: creating %s: %s", id, staging, strerror(errno));
        }
        /* Held until the rename: sweep_staging() leaves a staging directory alone while its creator lives. */
        _cleanup_close_ int staging_fd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (staging_fd >= 0)
                (void) flock(staging_fd, LOCK_EX);
        r = path_join(&p, staging, CONTAINER_CONFIG_FILE);
        if (r >= 0)
                r = write_file_atomic(p, text, strlen(text), 0600, false);
        free(text);
        if (r >= 0 && chmod(staging, 0700) < 0)
                r = -errno;
        if (r >= 0 && rename(staging, dir) < 0)
                r = errno == EEXIST || errno == ENOTEMPTY ? -EEXIST : -errno;
        if (r < 0) {
                (void) rm_rf(staging);
                if (r == -EEXIST)
                        return error_set(e, r, "container %s: already exists", id);
                return error_set(e, r, "container %s: writing %s/" CONTAINER_CONFIG_FILE ": %s", id, dir, strerror(-r));
        }
        if (mkdir_fast(cfg->upper_dir, 0755) < 0 || mkdir_fast(cfg->work_dir, 0700) < 0) {
                r = error_set(e, -errno, "container %s: creating the rootfs directories: %s", id, strerror(errno));
                goto fail;
        }
        r = cgroup_create(rt->cgroup, rt->cgroup_bases, rt->cgroup_memory_index, rel, cfg->cgroup_parent_levels,
                          &spec->resources, spec->privileged, &made, &made_memory, e);
        if (r < 0) {
                error_prefix(e, r, "container %s", id);
                goto fail;
        }
        c = container_new(rt, id, cfg);
        if (!c) {
                r = -ENOMEM;
                goto fail;
        }
        c->parent_levels = cfg->cgroup_parent_levels;
        TAKE_PTR(cfg);
        *ret = c;
        return 0;

fail:
        if (cfg->cgroup_dirs)
                (void) cgroup_destroy(cfg->cgroup_dirs, cfg->cgroup_parent_levels);
        (void) rm_rf(cfg->upper_dir);
        (void) rm_rf(cfg->work_dir);
        (void) rm_rf(dir);
        return r;
}

const char *container_id(const Container *c) {
        return c->id;
}

const char *container_log_path(const Container *c) {
        return c->cfg->log_path;
}

char *const *container_cgroup_dirs(const Container *c, int *ret_version) {
        if (ret_version)
                *ret_version = c->cfg->cgroup_version;
        return c->cfg->cgroup_dirs;
}

/* Reaps the shim when this process spawned it and it has exited (no zombie is left behind). */
static void reap_shim(Container *c) {
        if (!c->shim_is_child || c->shim_pidfd < 0)
                return;
        siginfo_t si = {};
        if (waitid(P_PIDFD, (id_t) c->shim_pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid != 0)
                c->shim_is_child = false; /* reaped, or not ours to reap (ECHILD: SIGCHLD ignored) */
}

const char *container_annotation(const Container *c, const char *key) {
        size_t l = strlen(key);
        for (char **a = c->cfg->annotations; a && *a; a++)
                if (strncmp(*a, key, l) == 0 && (*a)[l] == '=')
                        return *a + l + 1;
        return NULL;
}

char *const *container_argv(const Container *c) {
        return c->cfg->argv;
}

Container *container_free(Container *c) {
        if (!c)
                return NULL;
        reap_shim(c);
        free(c->id);
        container_config_free(c->cfg);
        (void) safe_close(c->shim_pidfd);
        (void) safe_close(c->start_fd);
        (void) safe_close(c->exec_pidfd);
        seccomp_filter_done(&c->exec_filter);
        free(c);
        return NULL;
}

/* Reads <dir>/<name> as JSON; -ENOENT when absent. */
int container_read_json(const Container *c, const char *name, json_t **ret) {
        _cleanup_free_ char *p = NULL, *text = NULL;
        size_t size = 0;
        int r = path_join(&p, c->cfg->dir, name);
        if (r < 0)
                return r;
        r = read_full_file(p, 64 * 1024, &text, &size);
        if (r < 0)
                return r;
        return jx_parse(text, size, name, ret, NULL);
}

static int open_shim_pidfd(Container *c) {
        if (c->shim_pidfd >= 0 || c->shim_pid <= 0)
                return 0;
        int fd = (int) syscall(SYS_pidfd_open, c->shim_pid, 0);
        if (fd < 0)
                return -errno;
        /* After a restart of the caller the pid may have been reused: it must still be our shim. */
        char p[64], comm[32] = "";
        snprintf(p, sizeof(p), "/proc/%d/comm", (int) c->shim_pid);
        _cleanup_close_ int cfd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t n = cfd >= 0 ? read(cfd, comm, sizeof(comm) - 1) : -1;
        if (n <= 0 || strncmp(comm, "nodelet-shim", 12) != 0) {
                close(fd);
                return -ESRCH;
        }
        c->shim_pidfd = fd;
        return 0;
}

int container_load(Runtime *rt, const char *id, Container **ret, ErrorBuf *e) {
        if (!container_id_valid(id))
                return error_set(e, -EINVAL, "container \"%s\": invalid id", strna(id));
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", rt->containers_dir, id) < 0)
                return -ENOMEM;
        if (access(dir, F_OK) < 0)
                return error_set(e, -ENOENT, "container %s: not found", id);
        _cleanup_(container_config_freep) ContainerConfig *cfg = NULL;
        int r = container_config_load(dir, &cfg, e);
        if (r < 0)
                return error_prefix(e, r, "container %s", id);
        _cleanup_(container_freep) Container *c = container_new(rt, id, cfg);
        RET_NULL_ENOMEM(c);
        TAKE_PTR(cfg);
        c->parent_levels = c->cfg->cgroup_parent_levels;
        _cleanup_json_ json_t *state = NULL;
        if (container_read_json(c, CONTAINER_STATE_FILE, &state) == 0) {
                c->shim_pid = (pid_t) json_integer_value(json_object_get(state, "shimPid"));
                c->pid = (pid_t) json_integer_value(json_object_get(state, "pid"));
                (void) open_shim_pidfd(c);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static bool has_file(const Container *c, const char *name) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", c->cfg->dir, name);
        return access(p, F_OK) == 0;
}

int container_start_begin(Container *c, int attach_out, int attach_err, int *ret_fd, ErrorBuf *e) {
        if (c->start_fd >= 0 || has_file(c, CONTAINER_STATE_FILE) || has_file(c, CONTAINER_EXIT_FILE))
                return error_set(e, -EALREADY, "container %s: already started", c->id);
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return error_set(e, -errno, "container %s: socketpair: %s", c->id, strerror(errno));
        _cleanup_close_ int mine = sp[0];
        /* Keep the child's end away from fds 3-5, so the dup2s below really clear FD_CLOEXEC. */
        _cleanup_close_ int theirs = fcntl(sp[1], F_DUPFD_CLOEXEC, 10);
        close(sp[1]);
        _cleanup_close_ int out_dup = attach_out >= 0 ? fcntl(attach_out, F_DUPFD_CLOEXEC, 10) : -1;
        _cleanup_close_ int err_dup = attach_err >= 0 ? fcntl(attach_err, F_DUPFD_CLOEXEC, 10) : -1;
        if (theirs < 0)
                return error_set(e, -errno, "container %s: %s", c->id, strerror(errno));

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
        posix_spawn_file_actions_adddup2(&fa, 0, 1);
        posix_spawn_file_actions_adddup2(&fa, 0, 2);
        posix_spawn_file_actions_adddup2(&fa, theirs, 3);
        bool attach = out_dup >= 0 && err_dup >= 0;
        if (attach) {
                posix_spawn_file_actions_adddup2(&fa, out_dup, 4);
                posix_spawn_file_actions_adddup2(&fa, err_dup, 5);
        }
        /* A new session and a clean signal state: the daemon blocks signals for sd-event, the container must not
         * inherit that. */
        sigset_t empty, all;
        sigemptyset(&empty);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &empty);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        char *argv[] = {(char *) "nodelet-shim", c->cfg->dir, attach ? (char *) "--attach" : NULL, NULL};
        static char *const empty_env[] = {NULL};
        pid_t pid;
        int r = -posix_spawn(&pid, c->rt->shim_path, &fa, &attr, argv, empty_env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        theirs = safe_close(theirs);
        if (r < 0)
                return error_set(e, r, "container %s: spawning %s: %s", c->id, c->rt->shim_path, strerror(-r));
        /* Our child: nobody else can reap it, so the pidfd cannot refer to a reused pid. */
        c->shim_pid = pid;
        c->shim_is_child = true;
        c->shim_pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        c->start_fd = TAKE_FD(mine);
        if (ret_fd)
                *ret_fd = c->start_fd;
        return 0;
}

/* Gives up on a start that does not answer: the shim dies, and the container's setup with it (PR_SET_PDEATHSIG). */
static int start_abort(Container *c, ErrorBuf *e) {
        if (c->shim_pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, c->shim_pidfd, SIGKILL, NULL, 0);
        while (waitpid(c->shim_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        c->shim_is_child = false;
        c->start_fd = safe_close(c->start_fd);
        return error_set(e, -ETIMEDOUT, "container %s: start timed out", c->id);
}

int container_start_finish(Container *c, ErrorBuf *e) {
        if (c->start_fd < 0)
                return error_set(e, -EINVAL, "container %s: no start in progress", c->id);
        /* The shim answers once and closes: after the first byte, EOF follows at once. */
        char buf[1024];
        size_t n = 0;
        for (;;) {
                struct pollfd pfd = {.fd = c->start_fd, .events = POLLIN};
                int pr = poll(&pfd, 1, CONTAINER_START_TIMEOUT_MS);
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr == 0)
                        return start_abort(c, e);
                ssize_t k = read(c->start_fd, buf + n, sizeof(buf) - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (n >= sizeof(buf) - 1)
                        break;
        }
        c->start_fd = safe_close(c->start_fd);
        buf[n] = 0;
        int pid1, spid;
        if (sscanf(buf, "ok %d %d", &pid1, &spid) == 2) {
                c->pid = pid1;
                return 0;
        }
        /* A failed shim exits right after answering. */
        while (waitpid(c->shim_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        c->shim_is_child = false;
        const char *msg = startswith(buf, "error ");
        buf[strcspn(buf, "\n")] = 0;
        return error_set(e, -ENOEXEC, "container %s: start failed: %s", c->id,
                         msg ?: (n ? buf : "the shim exited without an answer"));
}

int container_start(Container *c, int attach_out, int attach_err, ErrorBuf *e) {
        int r = container_start_begin(c, attach_out, attach_err, NULL, e);
        if (r < 0)
                return r;
        /* A start that hangs (a stuck mount, a stuck NFS lower dir) must not hang the caller forever. */
        return container_start_finish(c, e);
}

int container_exit_fd(Container *c) {
        if (c->shim_pidfd < 0) {
                int r = open_shim_pidfd(c);
                if (r < 0)
                        return r;
                if (c->shim_pidfd < 0)
                        return -ESRCH;
        }
        return c->shim_pidfd;
}

static bool shim_gone(Container *c) {
        if (c->shim_pidfd < 0)
                return true;
        struct pollfd p = {.fd = c->shim_pidfd, .events = POLLIN};
        return poll(&p, 1, 0) > 0;
}

int container_get_status(Container *c, ContainerStatus *ret) {
        reap_shim(c);
        ContainerStatus s = {.state = CONTAINER_CREATED, .created_at = c->cfg->created_at};
        _cleanup_json_ json_t *ex = NULL, *st = NULL;
        if (container_read_json(c, CONTAINER_STATE_FILE, &st) == 0) {
                s.pid = (pid_t) json_integer_value(json_object_get(st, "pid"));
                s.shim_pid = (pid_t) json_integer_value(json_object_get(st, "shimPid"));
                s.started_at = (uint64_t) json_integer_value(json_object_get(st, "startedAt"));
                s.state = CONTAINER_RUNNING;
        }
        if (container_read_json(c, CONTAINER_EXIT_FILE, &ex) == 0) {
                s.state = CONTAINER_EXITED;
                s.pid = 0;
                s.exit_code = (int) json_integer_value(json_object_get(ex, "exitCode"));
                s.signal = (int) json_integer_value(json_object_get(ex, "signal"));
                s.oom_killed = json_is_true(json_object_get(ex, "oomKilled"));
                if (!s.started_at)
                        s.started_at = (uint64_t) json_integer_value(json_object_get(ex, "startedAt"));
                s.finished_at = (uint64_t) json_integer_value(json_object_get(ex, "finishedAt"));
                snprintf(s.reason, sizeof(s.reason), "%s", strempty(json_string_value(json_object_get(ex, "reason"))));
                snprintf(s.message, sizeof(s.message), "%s",
                         strempty(json_string_value(json_object_get(ex, "message"))));
        } else if (s.state == CONTAINER_RUNNING && shim_gone(c) && !has_file(c, CONTAINER_EXIT_FILE)) {
                s.state = CONTAINER_UNKNOWN;
                snprintf(s.reason, sizeof(s.reason), "Unknown");
                snprintf(s.message, sizeof(s.message), "the monitor exited without recording an exit status");
        }
        *ret = s;
        return 0;
}

int container_wait(Container *c, uint64_t timeout_usec) {
        /* The shim's exit, not just the exit record: afterwards nothing writes into the container's files. */
        int fd = container_exit_fd(c);
        if (fd < 0)
                return has_file(c, CONTAINER_EXIT_FILE) ? 0 : fd;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = timeout_usec ? (int) MIN(timeout_usec / USEC_PER_MSEC + 1, (uint64_t) INT32_MAX) : -1;
        for (;;) {
                int k = poll(&p, 1, ms);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ETIMEDOUT;
                reap_shim(c);
                return 0;
        }
}

int container_reopen_log(Container *c) {
        int fd = container_exit_fd(c);
        if (fd < 0)
                return fd;
        if (shim_gone(c))
                return -ESRCH;
        if (syscall(SYS_pidfd_send_signal, fd, SIGUSR1, NULL, 0) < 0)
                return -errno;
        return 0;
}

int container_pid(Container *c, pid_t *ret) {
        ContainerStatus s;
        int r = container_get_status(c, &s);
        if (r < 0)
                return r;
        if (s.state != CONTAINER_RUNNING || s.pid <= 0)
                return -ESRCH;
        *ret = s.pid;
        return 0;
}

int container_kill(Container *c, int sig) {
        pid_t pid;
        int r = container_pid(c, &pid);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return -errno;
        /* The shim records the exit before it reaps the entrypoint: no exit record after pidfd_open means the pidfd
         * refers to our entrypoint and not to a process that reused its pid. */
        if (has_file(c, CONTAINER_EXIT_FILE))
                return -ESRCH;
        if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
                return -errno;
        return 0;
}

int container_stop(Container *c, uint64_t timeout_usec) {
        int r = container_kill(c, timeout_usec > 0 ? c->cfg->stop_signal : SIGKILL);
        if (r == -ESRCH)
                return 0;
        if (r < 0)
                return r;
        if (timeout_usec > 0) {
                r = container_wait(c, timeout_usec);
                if (r != -ETIMEDOUT)
                        return r;
                /* SIGKILL to pid 1 takes the whole pid namespace with it. */
                r = container_kill(c, SIGKILL);
                if (r < 0 && r != -ESRCH)
                        return r;
        }
        return container_wait(c, 30 * USEC_PER_SEC);
}

int container_remove(Container *c, bool force, ErrorBuf *e) {
        ContainerStatus s;
        int r = container_get_status(c, &s);
        if (r < 0)
                return r;
        if (s.state == CONTAINER_RUNNING) {
                if (!force) {
                        error_set(e, -EBUSY, "container %s: is running (stop it first)", c->id);
                        return -EBUSY;
                }
                r = container_stop(c, 0);
                if (r < 0)
                        return error_set(e, r, "container %s: stopping: %s", c->id, strerror(-r));
        }
        if (s.state == CONTAINER_UNKNOWN) {
                if (!force) {
                        error_set(e, -EBUSY, "container %s: its monitor is gone and processes may remain (use force)",
                                  c->id);
                        return -EBUSY;
                }
                /* No monitor, maybe a live workload: whatever is in its cgroup goes. */
                (void) cgroup_kill_all(c->cfg->cgroup_dirs);
        }
        /* A shim killed between the entrypoint's execve() and writing the state file leaves a "created" container
         * whose workload runs unmonitored (found by the crash harness, tests/crash): forcing kills it too. */
        if (s.state == CONTAINER_CREATED && force)
                (void) cgroup_kill_all(c->cfg->cgroup_dirs);
        /* Wait for the shim to finish writing and exit, so nothing writes into the directory we remove. */
        if (c->shim_pidfd >= 0) {
                struct pollfd p = {.fd = c->shim_pidfd, .events = POLLIN};
                (void) poll(&p, 1, 10000);
                reap_shim(c);
        }
        r = cgroup_destroy(c->cfg->cgroup_dirs, c->parent_levels);
        if (r < 0)
                return error_set(e, r, "container %s: removing its cgroups: %s", c->id, strerror(-r));
        int r1 = rm_rf(c->cfg->upper_dir);
        int r2 = rm_rf(c->cfg->work_dir);
        int r3 = rm_rf(c->cfg->dir);
        r = r3 < 0 ? r3 : r1 < 0 && r1 != -ENOENT ? r1 : r2 < 0 && r2 != -ENOENT ? r2 : 0;
        if (r < 0 && r != -ENOENT)
                return error_set(e, r, "container %s: removing its files: %s", c->id, strerror(-r));
        container_free(c);
        return 0;
}
