/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/container-process.h"

#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>

#include "common/fileio.h"

int seccomp_filter_load_file(const char *path, SeccompFilter *ret) {
        *ret = (SeccompFilter){};
        if (!path)
                return 0;
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r = read_full_file(path, 1024 * 1024, &data, &size);
        if (r < 0)
                return r;
        if (size == 0 || size % sizeof(struct sock_filter) != 0)
                return -EBADMSG;
        ret->insns = (struct sock_filter *) TAKE_PTR(data);
        ret->n_insns = size / sizeof(struct sock_filter);
        return 0;
}

void seccomp_filter_done(SeccompFilter *f) {
        free(f->insns);
        *f = (SeccompFilter){};
}

void process_fail(int err_fd, const char *fmt, ...) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n > 0)
                (void) !write(err_fd, buf, MIN((size_t) n, sizeof(buf) - 1));
        _exit(127);
}

static int capset_masks(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2] = {
                {(uint32_t) effective, (uint32_t) permitted, (uint32_t) inheritable},
                {(uint32_t) (effective >> 32), (uint32_t) (permitted >> 32), (uint32_t) (inheritable >> 32)},
        };
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int capget_permitted(uint64_t *ret) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2] = {};
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        *ret = (uint64_t) d[0].permitted | ((uint64_t) d[1].permitted << 32);
        return 0;
}

static int drop_bounding(uint64_t keep) {
        for (int cap = 0; cap < 64; cap++) {
                if (keep & (UINT64_C(1) << cap))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                        if (errno == EINVAL) /* past CAP_LAST_CAP */
                                break;
                        return -errno;
                }
        }
        return 0;
}

/* The container's PATH (or the default one) searched for name, like runc and Go's exec.LookPath. */
static void lookup_path(const char *name, char *const *env, char *out, size_t outsz, int err_fd) {
        const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        if (strchr(name, '/')) {
                struct stat st;
                if (stat(name, &st) < 0)
                        process_fail(err_fd, "exec: \"%s\": stat %s: %s", name, name, strerror(errno));
                if (S_ISDIR(st.st_mode))
                        process_fail(err_fd, "exec: \"%s\": is a directory", name);
                snprintf(out, outsz, "%s", name);
                return;
        }
        for (const char *p = path; p;) {
                const char *colon = strchr(p, ':');
                size_t l = colon ? (size_t) (colon - p) : strlen(p);
                struct stat st;
                if ((size_t) snprintf(out, outsz, "%.*s/%s", (int) l, l ? p : ".", name) < outsz &&
                    stat(out, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
                        return;
                p = colon ? colon + 1 : NULL;
        }
        process_fail(err_fd, "exec: \"%s\": executable file not found in $PATH", name);
}

/* Signal dispositions set to SIG_IGN and the blocked mask survive execve(): the shim ignores SIGPIPE and SIGHUP, a
 * daemon blocks the signals its event loop handles. A container process starts with neither. */
static void reset_signals(void) {
        /* The raw syscall: glibc's sigaction() refuses its internal real-time signals (32, 33), which a parent may
         * have set to SIG_IGN all the same. */
        struct {
                void (*handler)(int);
                unsigned long flags;
                void (*restorer)(void);
                uint64_t mask;
        } old, dfl = {.handler = SIG_DFL};
        for (int sig = 1; sig <= 64; sig++)
                if (sig != SIGKILL && sig != SIGSTOP && syscall(SYS_rt_sigaction, sig, NULL, &old, 8) == 0 &&
                    old.handler == SIG_IGN)
                        (void) syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
        uint64_t none = 0;
        (void) syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
}

void process_exec(const ContainerConfig *c, const SeccompFilter *filter, char *const *argv, char *const *env,
                  int err_fd) {
        reset_signals();
        for (size_t i = 0; i < c->n_rlimits; i++) {
                struct rlimit rl = {.rlim_cur = c->rlimits[i].soft, .rlim_max = c->rlimits[i].hard};
                if (setrlimit(c->rlimits[i].resource, &rl) < 0)
                        process_fail(err_fd, "setrlimit %d: %s", c->rlimits[i].resource, strerror(errno));
        }

        /* The bounding set first (it needs CAP_SETPCAP), then the identity with KEEPCAPS so the permitted set
         * survives the uid change; the final sets come after seccomp, which without no_new_privs needs
         * CAP_SYS_ADMIN to load, as in runc. */
        /* What we hold ourselves: a container cannot get more than its runtime has (the runtime may itself run
         * with a reduced set, e.g. inside another container). */
        uint64_t all = 0;
        int r = capget_permitted(&all);
        if (r < 0)
                process_fail(err_fd, "capget: %s", strerror(-r));
        r = drop_bounding(c->caps);
        if (r < 0)
                process_fail(err_fd, "dropping capabilities from the bounding set: %s", strerror(-r));
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                process_fail(err_fd, "PR_SET_KEEPCAPS: %s", strerror(errno));
        if (syscall(SYS_setgroups, c->n_groups, c->groups) < 0)
                process_fail(err_fd, "setgroups: %s", strerror(errno));
        if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0)
                process_fail(err_fd, "setgid %u: %s", c->gid, strerror(errno));
        if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
                process_fail(err_fd, "setuid %u: %s", c->uid, strerror(errno));
        r = capset_masks(all, all, 0);
        if (r < 0)
                process_fail(err_fd, "capset: %s", strerror(-r));
        if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                process_fail(err_fd, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));

        const char *cwd = c->cwd ?: "/";
        if (chdir(cwd) < 0)
                process_fail(err_fd, "chdir to cwd (\"%s\") set in config.json failed: %s", cwd, strerror(errno));
        char exe[PATH_MAX];
        lookup_path(argv[0], env, exe, sizeof(exe), err_fd);

        if (filter && filter->n_insns > 0) {
                struct sock_fprog prog = {.len = (unsigned short) filter->n_insns, .filter = filter->insns};
                if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                        process_fail(err_fd, "loading the seccomp filter: %s", strerror(errno));
        }
        /* Root keeps its capability set across execve; other users start with none, as with Docker and containerd
         * (no ambient capabilities unless asked for). */
        r = capset_masks(c->caps & all, c->caps & all, 0);
        if (r < 0)
                process_fail(err_fd, "capset: %s", strerror(-r));

        /* Nothing of the runtime's (or the daemon's) leaks into the container: fds ≥ 3 close on exec. */
        (void) syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        execve(exe, argv, env);
        process_fail(err_fd, "exec: \"%s\": %s", argv[0], strerror(errno));
}
