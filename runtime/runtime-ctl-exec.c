/* SPDX-License-Identifier: Apache-2.0 */
/* A command in a running container as `nodeletctl exec` runs it (the verb, which also takes pods, is
 * agent/pods-ctl.c). The command writes to our stdout and stderr itself, as `docker exec` does: its output shows as
 * it is written and is not held in memory. This uses container_exec_spawn(), not the sd-event based
 * container_exec(), so that the lean nodeletctl needs no libsystemd. */
#include "runtime/runtime-ctl.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "common/log.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static uint64_t monotonic_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Blocks until the process behind pidfd exited or timeout_usec (0: none) passed; SIGINT, SIGTERM and SIGHUP sent
 * to us go on to its process group (it has its own, so a terminal's ^C would not reach it). Returns 0 when it
 * exited, -ETIME on the timeout. */
static int wait_forwarding(pid_t pid, int pidfd, uint64_t timeout_usec) {
        sigset_t mask, old;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &mask, &old);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        uint64_t deadline = timeout_usec ? monotonic_usec() + timeout_usec : 0;
        int r = 0;
        for (;;) {
                struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
                int ms = -1;
                if (deadline) {
                        uint64_t now = monotonic_usec();
                        if (now >= deadline) {
                                r = -ETIME;
                                break;
                        }
                        ms = (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
                }
                int n = poll(p, sfd >= 0 ? 2 : 1, ms);
                if (n < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (n > 0 && p[0].revents)
                        break;
                struct signalfd_siginfo si;
                if (n > 0 && sfd >= 0 && p[1].revents && read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                        (void) kill(-pid, (int) si.ssi_signo);
        }
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}

int runtime_ctl_exec_in(Container *c, char **argv, char **env, uint64_t timeout_usec) {
        ExecSpec x = {.argv = argv, .env = env};
        ErrorBuf e = {};
        pid_t pid;
        int pidfd;
        /* stdin: /dev/null, as before (there is no TTY and no attach here). */
        int r = container_exec_spawn(c, &x, -1, STDOUT_FILENO, STDERR_FILENO, false, &pid, &pidfd, &e);
        if (r < 0)
                return log_error("%s", error_message(&e, r)), 126;
        _cleanup_close_ int fd = pidfd;
        r = wait_forwarding(pid, fd, timeout_usec);
        if (r < 0) {
                /* Like the kubelet's exec probes and container_exec(): the whole group, then 137. */
                (void) kill(-pid, SIGKILL);
                (void) syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
                if (r == -ETIME)
                        log_error("container %s: exec timed out after %.1fs", container_id(c),
                                  (double) timeout_usec / USEC_PER_SEC);
                else
                        log_error_errno(r, "container %s: waiting for exec: %m", container_id(c));
        }
        siginfo_t si = {};
        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | __WALL) < 0)
                return log_error_errno(-errno, "container %s: reaping exec: %m", container_id(c)), 126;
        return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}
