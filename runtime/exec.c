/* SPDX-License-Identifier: Apache-2.0 */
/* Exec into a running container, for exec probes, lifecycle hooks and `nodeletctl exec`: the new process joins the
 * container's cgroups and its ipc, uts, net, cgroup, pid and mount namespaces, and gets the container's user,
 * groups, capabilities, no_new_privs, seccomp filter and env (plus the exec's own env), as `runc exec` does.
 *
 * Exec probes run many times a second on a node (kubernetes#82440), so the path is built to be cheap from a daemon
 * of several MiB (docs/runtime.md#exec, bench/runtime/bench-exec.c):
 * - no fork: a fork copies the caller's page tables and makes every page it writes afterwards fault (measured here:
 *   ~5 ms of CPU per fork of a 10 MiB caller). A helper is cloned with CLONE_VM|CLONE_VFORK on a stack inside our
 *   frame (the caller sleeps until the helper exits); it joins the cgroups (v1: through `tasks`, see
 *   cgroup_attach_self()) and, in one setns() on a pidfd of the entrypoint, all namespaces. setns(CLONE_NEWPID) only
 *   applies to children, so the helper clones the process the same way, with CLONE_PARENT: the process is the
 *   caller's child, the helper exits as soon as the process called execve(), and nothing stays in between.
 * - per container, once: the entrypoint's pidfd (instead of opening six /proc/PID/ns files) and the compiled
 *   seccomp filter (instead of reading the file per exec).
 * - both children have exit signal 0: no SIGCHLD, invisible to waitid(P_ALL) without __WALL (so a reaper of unknown
 *   children cannot take our exit status), and not auto-reaped when the caller ignores SIGCHLD.
 * The caller's side watches the output pipes and a pidfd of the process on sd-event, with a timer for the timeout;
 * container_exec() runs the same code on a private loop. */
#include <fcntl.h>
#include <sched.h>
#include <termios.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "common/event-util.h"
#include "common/fileio.h"
#include "runtime/container-internal.h"
#include "runtime/container-process.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define EXEC_OUTPUT_MAX_DEFAULT (64 * 1024)
#define EXEC_ERRMSG_MAX 1024
/* Per child. process_exec() needs a few KiB (PATH_MAX buffers, vsnprintf); sanitizer builds need more. */
#define EXEC_STACK_SIZE (64 * 1024)
#define EXEC_NAMESPACES (CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNS)

void exec_result_done(ExecResult *r) {
        free(r->out);
        free(r->err);
        *r = (ExecResult){};
}

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

/* Shared by the caller, the helper and the process (CLONE_VM): the children write their results here. */
typedef struct ExecLaunch {
        const ContainerConfig *cfg;
        const SeccompFilter *filter;
        int target_pidfd;
        char *const *argv, *const *env;
        int in, out, err, errfd; /* in < 0: /dev/null */
        bool tty;                /* interactive exec: a new session with in as its controlling terminal */
        char *process_stack;     /* top */
        pid_t pid;               /* the process, set by the helper */
        int error;               /* errno of the helper's failed step */
        const char *step;
} ExecLaunch;

/* Runs in the process (CLONE_VM until execve): allocates nothing, touches nothing of the caller's but l. */
static int exec_process(void *userdata) {
        ExecLaunch *l = userdata;
        /* Dies with the caller (its parent, through CLONE_PARENT). The caller is outside this pid namespace, so
         * getppid() is 0 unless it died before PDEATHSIG was armed and we were re-parented inside. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != 0)
                _exit(137);
        /* Its own process group: a timeout or cancel kills what the command started too. With a terminal, its own
         * session (also a new group), so that the terminal can become its controlling one, as with `runc exec -t`. */
        if (l->tty)
                (void) setsid();
        else
                (void) setpgid(0, 0);
        int in = l->in >= 0 ? l->in : open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0 || dup2(in, 0) < 0 || dup2(l->out, 1) < 0 || dup2(l->err, 2) < 0)
                process_fail(l->errfd, "setting up stdio: %s", strerror(errno));
        if (l->tty && ioctl(0, TIOCSCTTY, 0) < 0)
                process_fail(l->errfd, "setting the controlling terminal: %s", strerror(errno));
        process_exec(l->cfg, l->filter, l->argv, l->env, l->errfd);
}

/* Runs in the helper (CLONE_VM, single-threaded, its own fs_struct as setns(CLONE_NEWNS) requires). */
static int exec_helper(void *userdata) {
        ExecLaunch *l = userdata;
        l->step = "joining the container's cgroups";
        int r = cgroup_attach_self(l->cfg->cgroup_version, l->cfg->cgroup_dirs);
        if (r < 0) {
                l->error = -r;
                _exit(1);
        }
        l->step = "joining the container's namespaces";
        if (setns(l->target_pidfd, EXEC_NAMESPACES) < 0) {
                l->error = errno;
                _exit(1);
        }
        l->step = "clone";
        pid_t pid = clone(exec_process, l->process_stack, CLONE_VM | CLONE_VFORK | CLONE_PARENT, l);
        if (pid < 0) {
                l->error = errno;
                _exit(1);
        }
        l->pid = pid;
        _exit(0);
}

/* A pidfd of the entrypoint, opened on the first exec and kept while the container runs. */
static int exec_target(Container *c) {
        if (c->exec_pidfd >= 0)
                return c->exec_pidfd;
        pid_t pid;
        int r = container_pid(c, &pid);
        if (r < 0)
                return r;
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return -errno;
        /* The shim writes the exit record before it reaps the entrypoint: without one after pidfd_open(), the pidfd
         * is the entrypoint and not a process that reused its pid. */
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/" CONTAINER_EXIT_FILE, c->cfg->dir);
        if (access(p, F_OK) == 0) {
                safe_close(fd);
                return -ESRCH;
        }
        c->exec_pidfd = fd;
        return fd;
}

static void reap(pid_t pid) {
        siginfo_t si;
        while (waitid(P_PID, (id_t) pid, &si, WEXITED | __WALL) < 0 && errno == EINTR)
                ;
}

/* Starts the process with stdout/stderr on out/err. On success the process (*ret_pid) is our child and has called
 * execve(); every setup failure is an error here. */
static int exec_launch_full(Container *c, const ExecSpec *spec, int in, int out, int err, bool tty, pid_t *ret_pid,
                            ErrorBuf *e) {
        if (!spec->argv || !spec->argv[0])
                return error_set(e, -EINVAL, "exec in %s: no command", c->id);
        int target = exec_target(c);
        if (target < 0)
                return error_set(e, target, "exec in %s: container is not running", c->id);
        if (c->cfg->seccomp_bpf && !c->exec_filter.insns) {
                int r = seccomp_filter_load_file(c->cfg->seccomp_bpf, &c->exec_filter);
                if (r < 0)
                        return error_set(e, r, "exec in %s: reading the seccomp filter: %s", c->id, strerror(-r));
        }
        _cleanup_strv_free_ char **merged = NULL;
        if (spec->env && spec->env[0]) {
                merged = merge_env(c->cfg->env, spec->env);
                RET_NULL_ENOMEM(merged);
        }
        int errpipe[2];
        if (pipe2(errpipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return error_set(e, -errno, "exec in %s: pipe: %s", c->id, strerror(errno));
        _cleanup_close_ int errfd = errpipe[0];
        ExecLaunch l = {
                .cfg = c->cfg,
                .filter = &c->exec_filter,
                .target_pidfd = target,
                .argv = spec->argv,
                .env = merged ?: c->cfg->env,
                .in = in,
                .tty = tty,
                .out = out,
                .err = err,
                .errfd = errpipe[1],
                .pid = -1,
        };
        /* Both children run on these stacks while we sleep (CLONE_VFORK), so our frame outlives them. */
        _Alignas(16) char stacks[2][EXEC_STACK_SIZE];
        l.process_stack = stacks[0] + EXEC_STACK_SIZE;
#if defined(__SANITIZE_ADDRESS__)
        /* The children's frames poison redzones in here and never return to clear them: the previous exec's would
         * otherwise be seen as overflows. */
        __asan_unpoison_memory_region(stacks, sizeof(stacks));
#endif
        /* Like posix_spawn: no signal handler of ours may run on shared memory in a child; process_exec() gives the
         * process an empty mask. */
        sigset_t all, saved;
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid_t helper = clone(exec_helper, stacks[1] + EXEC_STACK_SIZE, CLONE_VM | CLONE_VFORK, &l);
        int clone_errno = errno;
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        (void) safe_close(errpipe[1]);
        if (helper < 0)
                return error_set(e, -clone_errno, "exec in %s: clone: %s", c->id, strerror(clone_errno));
        reap(helper);
        if (l.error == ESRCH) {
                /* The entrypoint exited: forget its pidfd. */
                c->exec_pidfd = safe_close(c->exec_pidfd);
                return error_set(e, -ESRCH, "exec in %s: container is not running", c->id);
        }
        if (l.error != 0)
                return error_set(e, -l.error, "exec in %s: %s: %s", c->id, l.step, strerror(l.error));
        /* The process has called execve() or exited by now: a message means its setup failed. */
        char msg[EXEC_ERRMSG_MAX];
        ssize_t n = read(errfd, msg, sizeof(msg) - 1);
        if (n > 0) {
                reap(l.pid);
                msg[n] = 0;
                return error_set(e, -ENOEXEC, "exec in %s: %s", c->id, msg);
        }
        *ret_pid = l.pid;
        return 0;
}

static int exec_launch(Container *c, const ExecSpec *spec, int out, int err, pid_t *ret_pid, ErrorBuf *e) {
        return exec_launch_full(c, spec, -EBADF, out, err, false, ret_pid, e);
}

struct ExecJob {
        sd_event_source *out_source, *err_source, *exit_source, *timer_source;
        int out_fd, err_fd, pidfd;
        pid_t pid;
        size_t max;
        int error;
        bool dispatching;
        ExecResult res;
        exec_done_t done;
        void *userdata;
};

static ExecJob *exec_job_free(ExecJob *j) {
        if (!j)
                return NULL;
        sd_event_source_disable_unref(j->out_source);
        sd_event_source_disable_unref(j->err_source);
        sd_event_source_disable_unref(j->exit_source);
        sd_event_source_disable_unref(j->timer_source);
        (void) safe_close(j->out_fd);
        (void) safe_close(j->err_fd);
        (void) safe_close(j->pidfd);
        exec_result_done(&j->res);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ExecJob *, exec_job_free)

static int append(char **buf, size_t *size, size_t max, const char *data, size_t n) {
        size_t take = *size < max ? MIN(n, max - *size) : 0;
        if (*buf && take == 0)
                return 0;
        char *nb = realloc(*buf, *size + take + 1);
        RET_NULL_ENOMEM(nb);
        memcpy(nb + *size, data, take);
        *size += take;
        nb[*size] = 0;
        *buf = nb;
        return 0;
}

/* Reads what is there, a few chunks per wake-up, or (drain) up to 1 MiB, more than a pipe holds unless the command
 * enlarged it, and bounded because a background child may still be writing. Returns false at EOF or on an error. */
static bool job_read(ExecJob *j, int fd, bool drain) {
        char buf[16384];
        bool is_out = fd == j->out_fd;
        for (unsigned i = 0; i < (drain ? 64u : 4u); i++) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                /* Beyond output_max the data is read and dropped, so the command never blocks on a full pipe. */
                int r = append(is_out ? &j->res.out : &j->res.err, is_out ? &j->res.out_size : &j->res.err_size, j->max,
                               buf, (size_t) n);
                if (r < 0)
                        j->error = r;
        }
        return true;
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecJob *j = userdata;
        if (!job_read(j, fd, false))
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

static void job_kill(ExecJob *j) {
        /* The group first (our child leads it and is not reaped yet, so the id cannot be reused), then the process
         * itself in case it left its group. */
        (void) kill(-j->pid, SIGKILL);
        (void) syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ExecJob *j = userdata;
        j->res.timed_out = true;
        job_kill(j);
        return 0;
}

static int on_process_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecJob *j = userdata;
        siginfo_t si = {};
        int r = waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG | __WALL) < 0 ? -errno : 0;
        if (r == 0 && si.si_pid == 0)
                return 0; /* not yet */
        /* Whatever the process wrote is in the pipes now; later writes of a background child are not waited for. */
        if (j->out_fd >= 0)
                (void) job_read(j, j->out_fd, true);
        if (j->err_fd >= 0)
                (void) job_read(j, j->err_fd, true);
        if (r == 0 && j->error < 0)
                r = j->error;
        if (r == 0) {
                j->res.exit_code = j->res.timed_out           ? 128 + SIGKILL
                                   : si.si_code == CLD_EXITED ? si.si_status
                                                              : 128 + si.si_status;
                /* Always NUL-terminated, also when nothing was written. */
                if ((!j->res.out && append(&j->res.out, &j->res.out_size, 0, "", 0) < 0) ||
                    (!j->res.err && append(&j->res.err, &j->res.err_size, 0, "", 0) < 0))
                        r = -ENOMEM;
        }
        exec_done_t done = TAKE_PTR(j->done);
        j->dispatching = true;
        done(r, r < 0 ? NULL : &j->res, j->userdata);
        exec_job_free(j);
        return 0;
}

int container_exec_async(Container *c, sd_event *event, const ExecSpec *spec, exec_done_t done, void *userdata,
                         ExecJob **ret, ErrorBuf *e) {
        _cleanup_(exec_job_freep) ExecJob *j = calloc(1, sizeof(*j));
        RET_NULL_ENOMEM(j);
        *j = (ExecJob){
                .out_fd = -EBADF,
                .err_fd = -EBADF,
                .pidfd = -EBADF,
                .max = spec->output_max ?: EXEC_OUTPUT_MAX_DEFAULT,
                .done = done,
                .userdata = userdata,
        };
        /* The read ends are non-blocking for the final drain; the command's ends stay blocking. */
        int p[2], q[2] = {-EBADF, -EBADF};
        if (pipe2(p, O_CLOEXEC) < 0)
                return error_set(e, -errno, "exec in %s: pipe: %s", c->id, strerror(errno));
        j->out_fd = p[0];
        _cleanup_close_ int out_w = p[1], err_w = -EBADF;
        if (!spec->combine_output) {
                if (pipe2(q, O_CLOEXEC) < 0)
                        return error_set(e, -errno, "exec in %s: pipe: %s", c->id, strerror(errno));
                j->err_fd = q[0];
                err_w = q[1];
        }
        if (fcntl(j->out_fd, F_SETFL, O_NONBLOCK) < 0 || (j->err_fd >= 0 && fcntl(j->err_fd, F_SETFL, O_NONBLOCK) < 0))
                return error_set(e, -errno, "exec in %s: %s", c->id, strerror(errno));

        pid_t pid;
        int r = exec_launch(c, spec, out_w, err_w >= 0 ? err_w : out_w, &pid, e);
        if (r < 0)
                return r;
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);
        j->pid = pid;
        j->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (j->pidfd < 0) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                reap(pid);
                return error_set(e, r, "exec in %s: pidfd_open: %s", c->id, strerror(-r));
        }
        /* From here on the job owns the process: freeing it on failure kills it (exec_job_cancel). */
        if ((r = sd_event_add_io(event, &j->exit_source, j->pidfd, EPOLLIN, on_process_exit, j)) < 0 ||
            (r = sd_event_add_io(event, &j->out_source, j->out_fd, EPOLLIN, on_output, j)) < 0 ||
            (j->err_fd >= 0 && (r = sd_event_add_io(event, &j->err_source, j->err_fd, EPOLLIN, on_output, j)) < 0) ||
            (spec->timeout_usec > 0 &&
             (r = sd_event_add_time_relative(event, &j->timer_source, CLOCK_MONOTONIC, spec->timeout_usec,
                                             USEC_PER_MSEC, on_timeout, j)) < 0)) {
                error_set(e, r, "exec in %s: adding event sources: %s", c->id, strerror(-r));
                exec_job_cancel(TAKE_PTR(j));
                return r;
        }
        /* Output is collected before the exit is handled in the same iteration. */
        (void) sd_event_source_set_priority(j->exit_source, SD_EVENT_PRIORITY_NORMAL + 1);
        if (ret)
                *ret = j;
        TAKE_PTR(j);
        return 0;
}

/* A cancelled job's process, SIGKILLed but not gone yet. It must be reaped: until then the container's pid
 * namespace cannot finish dying (its init waits for every task of the namespace), so a container stop would hang. */
typedef struct ExecOrphan {
        int pidfd;
        bool reaped;
} ExecOrphan;

static int on_orphan_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecOrphan *o = userdata;
        siginfo_t si = {};
        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG | __WALL) < 0 || si.si_pid != 0) {
                o->reaped = true;
                /* The loop's reference goes: the source is freed after this dispatch (orphan_destroy). */
                (void) sd_event_source_set_floating(s, false);
        }
        return 0;
}

static void orphan_destroy(void *userdata) {
        ExecOrphan *o = userdata;
        /* The loop went away first: reap here, a short wait since the process has been SIGKILLed. */
        siginfo_t si;
        while (!o->reaped && waitid(P_PIDFD, (id_t) o->pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
                ;
        (void) safe_close(o->pidfd);
        free(o);
}

ExecJob *exec_job_cancel(ExecJob *j) {
        if (!j || j->dispatching)
                return NULL;
        job_kill(j);
        siginfo_t si = {};
        if (!j->exit_source || waitid(P_PIDFD, (id_t) j->pidfd, &si, WEXITED | WNOHANG | __WALL) < 0 ||
            si.si_pid != 0) {
                /* Reaped now; or only while container_exec_async() fails, when it dies at once. */
                if (si.si_pid == 0)
                        reap(j->pid);
                return exec_job_free(j);
        }
        /* Not gone yet (SIGKILL is asynchronous): a floating source on the loop reaps it, or its destroy callback
         * when the loop is freed first. */
        sd_event *event = sd_event_source_get_event(j->exit_source);
        j->exit_source = sd_event_source_disable_unref(j->exit_source);
        ExecOrphan *o = calloc(1, sizeof(*o));
        if (!o) {
                reap(j->pid);
                return exec_job_free(j);
        }
        o->pidfd = TAKE_FD(j->pidfd);
        sd_event_source *s = NULL;
        if (sd_event_add_io(event, &s, o->pidfd, EPOLLIN, on_orphan_exit, o) < 0) {
                orphan_destroy(o);
                return exec_job_free(j);
        }
        (void) sd_event_source_set_destroy_callback(s, orphan_destroy);
        (void) sd_event_source_set_floating(s, true);
        sd_event_source_unref(s);
        return exec_job_free(j);
}

typedef struct SyncExec {
        int r;
        ExecResult res;
} SyncExec;

static char *memdup_nul(const char *p, size_t n) {
        char *d = malloc(n + 1);
        if (d) {
                memcpy(d, p, n);
                d[n] = 0;
        }
        return d;
}

static void on_sync_done(int r, const ExecResult *res, void *userdata) {
        SyncExec *s = userdata;
        s->r = r;
        if (r >= 0) {
                s->res = *res;
                s->res.out = memdup_nul(res->out, res->out_size);
                s->res.err = memdup_nul(res->err, res->err_size);
                if (!s->res.out || !s->res.err)
                        s->r = -ENOMEM;
        }
}

int container_exec(Container *c, const ExecSpec *spec, ExecResult *ret, ErrorBuf *e) {
        _cleanup_event_ sd_event *event = NULL;
        int r = sd_event_new(&event);
        if (r < 0)
                return error_set(e, r, "exec in %s: %s", c->id, strerror(-r));
        SyncExec s = {.r = 1}; /* > 0: done() has not run yet */
        ExecJob *j = NULL;
        r = container_exec_async(c, event, spec, on_sync_done, &s, &j, e);
        if (r < 0)
                return r;
        while (s.r > 0) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0) {
                        exec_job_cancel(j);
                        s.r = r;
                }
        }
        if (s.r < 0) {
                exec_result_done(&s.res);
                return error_set(e, s.r, "exec in %s: %s", c->id, strerror(-s.r));
        }
        *ret = s.res;
        return 0;
}

/* ---- interactive exec (kubectl exec/attach, agent/streaming.c) ---- */

int container_exec_spawn(Container *c, const ExecSpec *spec, int stdin_fd, int stdout_fd, int stderr_fd, bool tty,
                         pid_t *ret_pid, int *ret_pidfd, ErrorBuf *e) {
        pid_t pid;
        int r;

        if (stdout_fd < 0 || stderr_fd < 0)
                return error_set(e, -EINVAL, "exec in %s: no stdout or stderr", c->id);
        r = exec_launch_full(c, spec, stdin_fd, stdout_fd, stderr_fd, tty, &pid, e);
        if (r < 0)
                return r;
        int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                reap(pid);
                return error_set(e, r, "exec in %s: pidfd_open: %s", c->id, strerror(-r));
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

int exec_process_exit_code(int pidfd, int *ret) {
        siginfo_t si = {};
        if (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED | WNOHANG | __WALL) < 0)
                return -errno;
        if (si.si_pid == 0)
                return -EAGAIN;
        *ret = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        return 0;
}

void exec_process_abandon(sd_event *event, pid_t pid, int pidfd) {
        if (pidfd < 0)
                return;
        (void) kill(-pid, SIGKILL);
        (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        siginfo_t si = {};
        if (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED | WNOHANG | __WALL) < 0 || si.si_pid != 0) {
                (void) safe_close(pidfd);
                return;
        }
        /* Reaped on the loop once SIGKILL took it (see exec_job_cancel()). */
        ExecOrphan *o = calloc(1, sizeof(*o));
        if (!o) {
                reap(pid);
                (void) safe_close(pidfd);
                return;
        }
        o->pidfd = pidfd;
        sd_event_source *s = NULL;
        if (sd_event_add_io(event, &s, o->pidfd, EPOLLIN, on_orphan_exit, o) < 0) {
                orphan_destroy(o);
                return;
        }
        (void) sd_event_source_set_destroy_callback(s, orphan_destroy);
        (void) sd_event_source_set_floating(s, true);
        sd_event_source_unref(s);
}

int exec_pty_open(int *ret_master, int *ret_slave) {
        _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        char name[64];

        if (master < 0)
                return -errno;
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
                return -errno;
        int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return -errno;
        *ret_master = TAKE_FD(master);
        *ret_slave = slave;
        return 0;
}

int exec_pty_resize(int master, unsigned width, unsigned height) {
        struct winsize ws = {.ws_col = (unsigned short) MIN(width, 65535U),
                             .ws_row = (unsigned short) MIN(height, 65535U)};
        return ioctl(master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}
