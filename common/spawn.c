/* SPDX-License-Identifier: Apache-2.0 */
#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"

extern char **environ;

int spawn_piped(const char *path, char *const argv[], pid_t *ret_pid, int *ret_pidfd, int *ret_out, int *ret_err) {
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t mask;
        pid_t pid;
        int fds[2], r;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0], out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        err_r = fds[0], err_w = fds[1];
        /* Our ends only: the child's stdout and stderr stay blocking. */
        if (fcntl(out_r, F_SETFL, O_NONBLOCK) < 0 || fcntl(err_r, F_SETFL, O_NONBLOCK) < 0)
                return -errno;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
        posix_spawnattr_init(&attr);
        sigemptyset(&mask);
        posix_spawnattr_setsigmask(&attr, &mask);
        sigfillset(&mask);
        sigdelset(&mask, SIGKILL);
        sigdelset(&mask, SIGSTOP);
        posix_spawnattr_setsigdefault(&attr, &mask);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        r = -posix_spawn(&pid, path, &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r < 0)
                return r;
        /* Our child, reaped by nobody else: the pid cannot be reused before pidfd_open(). */
        int pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        *ret_out = TAKE_FD(out_r);
        *ret_err = TAKE_FD(err_r);
        return 0;
}
