/* SPDX-License-Identifier: Apache-2.0 */
/* Exec into a running container, for exec probes and `nodeletctl exec`: the new process joins the container's
 * cgroups and its ipc, uts, net, cgroup, pid and mount namespaces (from /proc/<pid>/ns of the entrypoint), and gets
 * the container's user, groups, capabilities, no_new_privs, seccomp filter and env (plus the exec's own env), as
 * `runc exec` does. setns(CLONE_NEWPID) only applies to children, and setns into a mount namespace needs a
 * single-threaded process, so a forked helper joins everything and forks the real process; the helper relays the
 * exit status. The caller's side collects stdout/stderr and enforces the timeout (SIGKILL to the helper, whose death
 * kills the process through PR_SET_PDEATHSIG). */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fileio.h"
#include "runtime/container-internal.h"
#include "runtime/container-process.h"

void exec_result_done(ExecResult *r) {
        free(r->out);
        free(r->err);
        *r = (ExecResult){};
}

static const struct {
        const char *name;
        int type;
} exec_ns[] = {
        {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
        {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
};

/* The container's env with the exec's entries added or replacing same-named ones. */
static char **merge_env(char *const *base, char *const *extra) {
        size_t n = 0, m = 0;
        while (base && base[n])
                n++;
        while (extra && extra[m])
                m++;
        char **l = calloc(n + m + 1, sizeof(char *));
        if (!l)
                return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                size_t kl = strcspn(base[i], "=");
                bool overridden = false;
                for (size_t j = 0; j < m; j++)
                        overridden = overridden || (strncmp(extra[j], base[i], kl) == 0 && extra[j][kl] == '=');
                if (!overridden && !(l[k++] = strdup(base[i])))
                        return strv_free(l), NULL;
        }
        for (size_t j = 0; j < m; j++)
                if (!(l[k++] = strdup(extra[j])))
                        return strv_free(l), NULL;
        return l;
}

_noreturn_ static void exec_helper(Container *c, const SeccompFilter *filter, const int *nsfd, char *const *argv,
                                   char *const *env, int out, int err, int errfd) {
        if (cgroup_attach_self(c->cfg->cgroup_version, c->cfg->cgroup_dirs) < 0)
                process_fail(errfd, "joining the container's cgroups: %s", strerror(errno));
        for (size_t i = 0; i < ELEMENTSOF(exec_ns); i++)
                if (setns(nsfd[i], exec_ns[i].type) < 0)
                        process_fail(errfd, "joining the container's %s namespace: %s", exec_ns[i].name,
                                     strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
                process_fail(errfd, "fork: %s", strerror(errno));
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                        process_fail(errfd, "setting up stdio: %s", strerror(errno));
                process_exec(c->cfg, filter, argv, env, errfd);
        }
        close(errfd);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        _exit(126);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static int append(char **buf, size_t *size, size_t max, const char *data, size_t n) {
        size_t take = *size < max ? MIN(n, max - *size) : 0;
        char *nb = realloc(*buf, *size + take + 1);
        RET_NULL_ENOMEM(nb);
        memcpy(nb + *size, data, take);
        *size += take;
        nb[*size] = 0;
        *buf = nb;
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

int container_exec(Container *c, const ExecSpec *spec, ExecResult *ret, ErrorBuf *e) {
        if (!spec->argv || !spec->argv[0])
                return error_set(e, -EINVAL, "exec in %s: no command", c->id);
        pid_t pid;
        int r = container_pid(c, &pid);
        if (r < 0)
                return error_set(e, r, "exec in %s: container is not running", c->id);
        int nsfd[ELEMENTSOF(exec_ns)];
        for (size_t i = 0; i < ELEMENTSOF(exec_ns); i++)
                nsfd[i] = -1;
        int fds[6] = {-1, -1, -1, -1, -1, -1};
        _cleanup_strv_free_ char **env = merge_env(c->cfg->env, spec->env);
        SeccompFilter filter = {};
        ExecResult res = {};
        pid_t helper = -1;
        size_t max = spec->output_max ?: 64 * 1024;
        char *errmsg = NULL;
        size_t errmsg_size = 0;
        uint64_t deadline = 0;
        bool open_[3] = {true, true, true};
        int status = 0;
        if (!env) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < ELEMENTSOF(exec_ns); i++) {
                char p[64];
                snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int) pid, exec_ns[i].name);
                nsfd[i] = open(p, O_RDONLY | O_CLOEXEC);
                if (nsfd[i] < 0) {
                        r = error_set(e, -errno, "exec in %s: opening %s: %s", c->id, p, strerror(errno));
                        goto finish;
                }
        }
        /* The namespaces are pinned now; make sure they were the entrypoint's and not a reused pid's. */
        if (container_pid(c, &pid) < 0) {
                r = error_set(e, -ESRCH, "exec in %s: container exited", c->id);
                goto finish;
        }
        r = seccomp_filter_load_file(c->cfg->seccomp_bpf, &filter);
        if (r < 0) {
                error_set(e, r, "exec in %s: reading the seccomp filter: %s", c->id, strerror(-r));
                goto finish;
        }
        if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 || pipe2(fds + 4, O_CLOEXEC) < 0) {
                r = error_set(e, -errno, "exec in %s: pipe: %s", c->id, strerror(errno));
                goto finish;
        }
        helper = fork();
        if (helper < 0) {
                r = error_set(e, -errno, "exec in %s: fork: %s", c->id, strerror(errno));
                goto finish;
        }
        if (helper == 0)
                exec_helper(c, &filter, nsfd, spec->argv, env, fds[1], fds[3], fds[5]);
        for (int i = 1; i < 6; i += 2)
                fds[i] = safe_close(fds[i]);

        deadline = spec->timeout_usec ? now_usec() + spec->timeout_usec : 0;
        while (open_[0] || open_[1] || open_[2]) {
                struct pollfd p[3];
                for (int i = 0; i < 3; i++)
                        p[i] = (struct pollfd){.fd = open_[i] ? fds[2 * i] : -1, .events = POLLIN};
                int ms = -1;
                if (deadline) {
                        uint64_t now = now_usec();
                        ms = now >= deadline ? 0 : (int) MIN((deadline - now) / USEC_PER_MSEC + 1, 1000000u);
                }
                int k = poll(p, 3, ms);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k == 0) {
                        res.timed_out = true;
                        (void) kill(helper, SIGKILL);
                        break;
                }
                for (int i = 0; i < 3; i++) {
                        if (!p[i].revents)
                                continue;
                        char buf[4096];
                        ssize_t n = read(fds[2 * i], buf, sizeof(buf));
                        if (n <= 0) {
                                open_[i] = false;
                                continue;
                        }
                        char **b = i == 0 ? &res.out : i == 1 ? &res.err : &errmsg;
                        size_t *s = i == 0 ? &res.out_size : i == 1 ? &res.err_size : &errmsg_size;
                        if (append(b, s, i == 2 ? 1024 : max, buf, (size_t) n) < 0) {
                                r = -ENOMEM;
                                (void) kill(helper, SIGKILL);
                                open_[0] = open_[1] = open_[2] = false;
                        }
                }
        }
        while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
                ;
        helper = -1;
        if (r < 0)
                goto finish;
        if (errmsg_size > 0) {
                r = error_set(e, -ENOEXEC, "exec in %s: %s", c->id, errmsg);
                goto finish;
        }
        res.exit_code = res.timed_out ? 137 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        /* Always NUL-terminated, also when nothing was written. */
        if ((!res.out && append(&res.out, &res.out_size, 1, "", 0) < 0) ||
            (!res.err && append(&res.err, &res.err_size, 1, "", 0) < 0)) {
                r = -ENOMEM;
                goto finish;
        }
        *ret = res;
        res = (ExecResult){};
        r = 0;
finish:
        free(errmsg);
        if (helper > 0) {
                (void) kill(helper, SIGKILL);
                (void) waitpid(helper, NULL, 0);
        }
        exec_result_done(&res);
        seccomp_filter_done(&filter);
        for (size_t i = 0; i < ELEMENTSOF(exec_ns); i++)
                (void) safe_close(nsfd[i]);
        for (int i = 0; i < 6; i++)
                (void) safe_close(fds[i]);
        return r;
}
