/* SPDX-License-Identifier: Apache-2.0 */
/* nodelet-shim: the per-container monitor, in the role conmon plays for CRI-O.
 *
 *   nodelet-shim CONTAINER-DIR [--attach]
 *
 * fd 3 is the caller's sync socket: the shim answers "ok <pid> <shim-pid>" once the entrypoint has been exec'd, or
 * "error <message>". SIGUSR1 makes it reopen the log file (after the caller rotated it). With --attach, fds 4 and 5
 * receive a raw copy of the container's stdout and stderr.
 * Stdin (config "stdin"/"tty"): the entrypoint's stdin is a pipe, or with "tty" a pty slave that is also its stdout and
 * stderr (the master's output goes to the log as stdout). The shim holds the pipe's write end (or a copy of the master)
 * for its whole life and names its fd number in the state file ("stdinFd"): container_attach_stdin() copies it out of
 * this process with pidfd_getfd(), so the shim needs no control socket and the fd survives a restart of the daemon.
 * SIGUSR2 (stdinOnce) makes the shim drop its copy, so the process sees EOF when the attached client's copy closes.
 * The caller spawns it with setsid() and default signal handling, so it outlives the caller: while the caller runs the
 * shim is its child (the library reaps it after its exit), afterwards it is re-parented to init or the subreaper. No
 * double fork: one process creation and one wake-up less on every container start. It creates the container (clone with
 * the namespaces, cgroups, mounts: container-init.c), writes the CRI log, and when the entrypoint exits records exit
 * code, signal, OOM and times in CONTAINER-DIR/exit (atomically) before reaping it and exiting. Memory stays small: no
 * allocations after start besides the two line buffers (docs/runtime.md measures it). */

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "runtime/cgroup.h"
#include "runtime/container-init.h"
#include "runtime/logs.h"
#include "runtime/shim-protocol.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

typedef struct Shim {
        ContainerConfig *cfg;
        int report_fd;
        int attach[_LOG_STREAM_MAX];
        int out[_LOG_STREAM_MAX]; /* read ends of the container's stdout/stderr */
        int pidfd;
        int sigfd;    /* SIGUSR1: reopen the log (after an external rotation, the kubelet's ReopenContainerLog) */
        int stdin_fd; /* write end of the container's stdin pipe, or a copy of the pty master; -1 without stdin */
        pid_t pid;
        uint64_t started_at;
        LogWriter log;
        uint64_t log_retry_at; /* CLOCK_MONOTONIC ms; output is left in the pipes until then (the log's disk is full) */
} Shim;

static void report(Shim *s, const char *fmt, ...) _printf_(2, 3);
static void report(Shim *s, const char *fmt, ...) {
        if (s->report_fd < 0)
                return;
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n > 0)
                (void) !write(s->report_fd, buf, MIN((size_t) n, sizeof(buf) - 1));
        s->report_fd = safe_close(s->report_fd);
}

static int write_file_in_dir(const char *dir, const char *name, const char *text) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return write_file_atomic(p, text, strlen(text), 0644, false);
}

/* Space for the exit record, taken at start while there is some: a state dir that fills up during the container's
 * life must not cost it its exit status (it would show as "unknown" forever). Best effort: without the reserve the
 * record is written the ordinary way. */
#define EXIT_RESERVE_FILE ".exit.reserve"
#define EXIT_RESERVE_SIZE 4096

static void reserve_exit_space(Shim *s) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", s->cfg->dir, EXIT_RESERVE_FILE);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return;
        if (fallocate(fd, 0, 0, EXIT_RESERVE_SIZE) < 0)
                (void) unlink(p);
        close(fd);
}

/* Rewrites the reserve in place (no new blocks needed) and renames it: as atomic as write_file_atomic(). */
static int write_exit_reserved(Shim *s, const char *text) {
        char p[PATH_MAX], to[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", s->cfg->dir, EXIT_RESERVE_FILE);
        snprintf(to, sizeof(to), "%s/%s", s->cfg->dir, CONTAINER_EXIT_FILE);
        int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t n = strlen(text);
        int r = pwrite(fd, text, n, 0) == (ssize_t) n && ftruncate(fd, (off_t) n) == 0 ? 0 : -EIO;
        close(fd);
        if (r == 0 && rename(p, to) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(p);
        return r;
}

static int write_exit(Shim *s, int code, int sig, bool oom, const char *reason, const char *message) {
        char esc[600];
        shim_json_escape(message ?: "", esc, sizeof(esc));
        char text[1024];
        snprintf(text, sizeof(text),
                 "{\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"reason\":\"%s\",\"message\":\"%s\","
                 "\"startedAt\":%" PRIu64 ",\"finishedAt\":%" PRIu64 "}\n",
                 code, sig, oom ? "true" : "false", reason, esc, s->started_at, now_realtime_ns());
        if (write_exit_reserved(s, text) == 0)
                return 0;
        return write_file_in_dir(s->cfg->dir, CONTAINER_EXIT_FILE, text);
}

/* A pty pair on the host's devpts, as conmon makes one for a terminal container: the master stays here. */
static int open_pty(int *ret_master, int *ret_slave) {
        char name[64];
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return -errno;
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
                int r = -errno;
                close(master);
                return r;
        }
        int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0) {
                int r = -errno;
                close(master);
                return r;
        }
        *ret_master = master;
        *ret_slave = slave;
        return 0;
}

/* The entrypoint's stdio: pipes for stdout/stderr and /dev/null, a stdin pipe, or a pty for all three. Fills fds
 * with the child's ends and s with ours. */
static int setup_stdio(Shim *s, InitFds *fds, char *msg, size_t msgsz) {
        const ContainerConfig *c = s->cfg;
        int p[2], r;

        if (c->tty) {
                int master = -1, slave = -1;
                r = open_pty(&master, &slave);
                if (r < 0) {
                        snprintf(msg, msgsz, "allocating a pty: %s", strerror(-r));
                        return r;
                }
                /* Non-blocking: the daemon's copies share this file description, and its loop must never block. */
                (void) fcntl(master, F_SETFL, O_NONBLOCK);
                s->out[LOG_STREAM_STDOUT] = master;
                s->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
                fds->stdin_ = fds->stdout_ = fds->stderr_ = slave;
                fds->tty = true;
                return 0;
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                goto fail;
        s->out[LOG_STREAM_STDOUT] = p[0];
        fds->stdout_ = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                goto fail;
        s->out[LOG_STREAM_STDERR] = p[0];
        fds->stderr_ = p[1];
        if (c->stdin_open) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        goto fail;
                (void) fcntl(p[1], F_SETFL, O_NONBLOCK);
                s->stdin_fd = p[1];
                fds->stdin_ = p[0];
                return 0;
        }
        fds->stdin_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fds->stdin_ < 0)
                goto fail;
        return 0;
fail:
        snprintf(msg, msgsz, "creating the container's stdio: %s", strerror(errno));
        return -errno;
}

/* Closes the child's ends of its stdio in the shim (a pty's slave once, it is all three). */
static void close_child_stdio(InitFds *fds) {
        if (fds->stdout_ != fds->stdin_)
                safe_close(fds->stdout_);
        if (fds->stderr_ != fds->stdin_)
                safe_close(fds->stderr_);
        safe_close(fds->stdin_);
}

/* Clone the entrypoint and wait until it exec'd. Returns 0, or -errno with msg filled. */
static int start_container(Shim *s, const SeccompFilter *filter, char *msg, size_t msgsz) {
        const ContainerConfig *c = s->cfg;
        int sync[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0) {
                snprintf(msg, msgsz, "creating pipes: %s", strerror(errno));
                return -errno;
        }
        InitFds fds = {.sync = sync[1], .stdin_ = -1, .stdout_ = -1, .stderr_ = -1};
        int r = setup_stdio(s, &fds, msg, msgsz);
        if (r < 0)
                return r;

        int pidfd = -1;
        /* A raw clone is fork-like (same stack, copy-on-write) and lets us ask for a pidfd atomically. */
        long pid = syscall(SYS_clone, container_init_clone_flags(c) | CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
        if (pid < 0) {
                snprintf(msg, msgsz, "clone: %s", strerror(errno));
                return -errno;
        }
        if (pid == 0) {
                /* Our ends are O_CLOEXEC: the entrypoint never holds the stdin write end (it would never see EOF). */
                close(sync[0]);
                container_init_run(c, filter, &fds);
        }
        close(sync[1]);
        close_child_stdio(&fds);
        s->pid = (pid_t) pid;
        s->pidfd = pidfd;

        /* EOF: execve() closed the CLOEXEC socket, the entrypoint runs. Anything else is the init's error. */
        ssize_t n = read(sync[0], msg, msgsz - 1);
        close(sync[0]);
        if (n > 0) {
                msg[n] = 0;
                return -ENOEXEC;
        }
        return 0;
}

/* A write to the log failed (a full disk, a quota): how long the output stays unread before the next attempt. */
#define LOG_RETRY_MS 1000

static uint64_t monotonic_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void copy_output(Shim *s, LogStream st, bool *open_) {
        static char buf[32 * 1024];
        ssize_t n = read(s->out[st], buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) {
                (void) log_writer_flush(&s->log, st);
                s->out[st] = safe_close(s->out[st]);
                *open_ = false;
                return;
        }
        if (log_writer_feed(&s->log, st, buf, (size_t) n) < 0)
                s->log_retry_at = monotonic_ms() + LOG_RETRY_MS;
        if (s->attach[st] >= 0 && write(s->attach[st], buf, (size_t) n) < 0)
                s->attach[st] = safe_close(s->attach[st]); /* the attached reader went away */
}

/* stdinOnce: the attached client took its copy, ours goes. The number is not left free: a later open (the log's
 * reopen) could take it and a late container_attach_stdin() would then copy that; a pipe whose reader is gone makes
 * such a copy fail with EPIPE instead. */
static void drop_stdin(Shim *s) {
        int p[2];
        if (s->stdin_fd < 0 || !s->cfg->stdin_once || s->cfg->tty)
                return;
        if (pipe2(p, O_CLOEXEC) < 0) {
                s->stdin_fd = safe_close(s->stdin_fd);
                return;
        }
        (void) close(p[0]);
        if (dup3(p[1], s->stdin_fd, O_CLOEXEC) < 0)
                s->stdin_fd = safe_close(s->stdin_fd);
        (void) close(p[1]);
}

static int monitor(Shim *s) {
        bool open_[_LOG_STREAM_MAX] = {s->out[0] >= 0, s->out[1] >= 0};
        bool exited = false;
        siginfo_t si = {};
        for (;;) {
                /* The log's disk is full: leave the output in the pipes (the container blocks once they are full)
                 * and retry later, instead of reading on and failing on every line at full speed (containerd and
                 * CRI-O drain and drop instead). After the exit everything is drained, written or not. */
                int timeout = exited ? 2000 : -1;
                uint64_t now = s->log_retry_at > 0 && !exited ? monotonic_ms() : 0;
                bool paused = now > 0 && now < s->log_retry_at;
                if (paused)
                        timeout = (int) (s->log_retry_at - now);
                else
                        s->log_retry_at = 0;
                struct pollfd p[4] = {
                        {.fd = open_[0] && !paused ? s->out[0] : -1, .events = POLLIN},
                        {.fd = open_[1] && !paused ? s->out[1] : -1, .events = POLLIN},
                        {.fd = exited ? -1 : s->pidfd, .events = POLLIN},
                        {.fd = s->sigfd, .events = POLLIN},
                };
                if (exited && !open_[0] && !open_[1])
                        break;
                /* After the exit, the pipes close as soon as the pid namespace is gone; do not wait forever on a
                 * writer that escaped it. */
                int k = poll(p, 4, timeout);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0 && paused)
                        continue;
                if (k == 0)
                        break;
                if (p[3].revents) {
                        /* Before the output that is ready now: a caller that moved the file away and signalled
                         * finds everything written from here on in the new file. */
                        struct signalfd_siginfo ssi;
                        if (read(s->sigfd, &ssi, sizeof(ssi)) == (ssize_t) sizeof(ssi)) {
                                if (ssi.ssi_signo == CONTAINER_STDIN_CLOSE_SIGNAL)
                                        drop_stdin(s);
                                else
                                        (void) log_writer_reopen(&s->log);
                        }
                }
                for (int st = 0; st < _LOG_STREAM_MAX; st++)
                        if (p[st].revents)
                                copy_output(s, st, &open_[st]);
                if (p[2].revents) {
                        /* WNOWAIT: the entrypoint stays a zombie (its pid cannot be reused, so callers signalling
                         * it by pid are safe) until the exit record is written. */
                        if (waitid(P_PIDFD, (id_t) s->pidfd, &si, WEXITED | WNOWAIT) < 0)
                                return -errno;
                        exited = true;
                }
        }
        if (!exited && waitid(P_PIDFD, (id_t) s->pidfd, &si, WEXITED | WNOWAIT) < 0)
                return -errno;

        int code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        int sig = si.si_code == CLD_EXITED ? 0 : si.si_status;
        uint64_t ooms = 0;
        bool oom = cgroup_oom_kills(s->cfg->cgroup_version, s->cfg->cgroup_memory, &ooms) == 0 && ooms > 0;
        /* The kubelet's reasons: OOMKilled wins, then Completed for 0, Error otherwise. */
        const char *reason = oom ? "OOMKilled" : code == 0 ? "Completed" : "Error";
        int r = write_exit(s, code, sig, oom, reason, NULL);
        (void) waitid(P_PIDFD, (id_t) s->pidfd, &si, WEXITED);
        return r;
}

int main(int argc, char *argv[]) {
        Shim s = {.report_fd = 3, .attach = {-1, -1}, .out = {-1, -1}, .pidfd = -1, .sigfd = -1, .stdin_fd = -1};
        if (argc < 2) {
                fprintf(stderr, "usage: nodelet-shim CONTAINER-DIR [--attach]\n");
                return 2;
        }
        if (argc > 2 && streq(argv[2], "--attach")) {
                s.attach[0] = 4;
                s.attach[1] = 5;
        }
        (void) fcntl(3, F_SETFD, FD_CLOEXEC);
        for (int i = 0; i < _LOG_STREAM_MAX; i++)
                if (s.attach[i] >= 0)
                        (void) fcntl(s.attach[i], F_SETFD, FD_CLOEXEC);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigaddset(&usr1, CONTAINER_STDIN_CLOSE_SIGNAL);
        (void) sigprocmask(SIG_BLOCK, &usr1, NULL); /* the container's init resets its mask before execve() */
        s.sigfd = signalfd(-1, &usr1, SFD_CLOEXEC | SFD_NONBLOCK);

        ErrorBuf e = {};
        int r = container_config_load(argv[1], &s.cfg, &e);
        if (r < 0) {
                report(&s, "error %s", error_message(&e, r));
                return 1;
        }
        SeccompFilter filter = {};
        r = seccomp_filter_load_file(s.cfg->seccomp_bpf, &filter);
        if (r < 0) {
                report(&s, "error reading the seccomp filter %s: %s", s.cfg->seccomp_bpf, strerror(-r));
                return 1;
        }
        r = log_writer_open(&s.log, s.cfg->log_path, s.cfg->log_max_size, s.cfg->log_max_files, s.cfg->log_line_max);
        if (r < 0) {
                report(&s, "error opening the log %s: %s", s.cfg->log_path, strerror(-r));
                return 1;
        }
        reserve_exit_space(&s);

        char msg[600] = "";
        s.started_at = now_realtime_ns();
        r = start_container(&s, &filter, msg, sizeof(msg));
        seccomp_filter_done(&filter);
        if (r < 0) {
                /* Like a CRI runtime: the container exists, exited, reason StartError, exit code 128. */
                if (s.pidfd >= 0)
                        (void) waitid(P_PIDFD, (id_t) s.pidfd, &(siginfo_t){}, WEXITED);
                (void) write_exit(&s, 128, 0, false, "StartError", msg);
                report(&s, "error %s", msg);
                return 1;
        }
        s.started_at = now_realtime_ns();
        char state[256];
        snprintf(state, sizeof(state), "{\"pid\":%d,\"shimPid\":%d,\"startedAt\":%" PRIu64 ",\"stdinFd\":%d}\n", s.pid,
                 getpid(), s.started_at, s.stdin_fd);
        r = write_file_in_dir(s.cfg->dir, CONTAINER_STATE_FILE, state);
        if (r < 0) {
                (void) kill(s.pid, SIGKILL);
                report(&s, "error writing the state file: %s", strerror(-r));
                return 1;
        }
        report(&s, "ok %d %d\n", s.pid, getpid());

        /* From here on the shim only copies output: give back what parsing the config took. */
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
                (void) dup2(devnull, 0);
                (void) dup2(devnull, 1);
                (void) dup2(devnull, 2);
                close(devnull);
        }
        (void) malloc_trim(0);

        r = monitor(&s);
        log_writer_close(&s.log);
        container_config_free(s.cfg);
        return r < 0 ? 1 : 0;
}
