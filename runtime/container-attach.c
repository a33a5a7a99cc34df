/* SPDX-License-Identifier: Apache-2.0 */
/* container_attach_stdin(): the CRI's Attach with stdin. nodelet-shim holds the container's stdin (the pipe's write
 * end, or the pty master) for the container's whole life and names the fd number in its state file; we copy that fd
 * out of the shim with pidfd_getfd(2). No control socket, no round trip through the shim's loop (it may be busy
 * copying output): the copy is one syscall and never blocks, and it works the same for a shim this process did not
 * start (re-adoption after a restart). The caller needs ptrace rights over the shim, which the daemon (root, the
 * shim's owner) has. */
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/json-util.h"
#include "runtime/container-internal.h"

bool container_tty(const Container *c) {
        return c->cfg->tty;
}

int container_attach_stdin(Container *c, int *ret_fd) {
        _cleanup_json_ json_t *state = NULL, *ex = NULL;
        struct stat st;

        if (!c->cfg->stdin_open && !c->cfg->tty)
                return -ENXIO;
        if (container_read_json(c, CONTAINER_STATE_FILE, &state) < 0 ||
            container_read_json(c, CONTAINER_EXIT_FILE, &ex) == 0)
                return -ESRCH;
        json_t *v = json_object_get(state, "stdinFd");
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX)
                return -ENXIO; /* a shim from before stdin support, or one that could not keep it */
        int pidfd = container_exit_fd(c);
        if (pidfd < 0)
                return pidfd;
        _cleanup_close_ int fd = (int) syscall(SYS_pidfd_getfd, pidfd, (int) json_integer_value(v), 0);
        if (fd < 0)
                return errno == EBADF ? -EPIPE : -errno;
        /* The number came from a file: take only what the shim can have there (a pipe, the pty master). */
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!(c->cfg->tty ? S_ISCHR(st.st_mode) : S_ISFIFO(st.st_mode)))
                return -EPIPE;
        if (c->cfg->stdin_once && !c->cfg->tty &&
            syscall(SYS_pidfd_send_signal, pidfd, CONTAINER_STDIN_CLOSE_SIGNAL, NULL, 0) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
