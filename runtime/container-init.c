/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/container-init.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "runtime/cgroup.h"
#include "runtime/mount.h"

static const int ns_clone_flag[_NAMESPACE_KIND_MAX] = {
        [NAMESPACE_NET] = CLONE_NEWNET,
        [NAMESPACE_IPC] = CLONE_NEWIPC,
        [NAMESPACE_UTS] = CLONE_NEWUTS,
};

unsigned long container_init_clone_flags(const ContainerConfig *c) {
        unsigned long flags = CLONE_NEWPID | CLONE_NEWNS;
        for (NamespaceKind k = 0; k < _NAMESPACE_KIND_MAX; k++)
                if (!c->ns_paths[k])
                        flags |= (unsigned long) ns_clone_flag[k];
        return flags;
}

void container_init_run(const ContainerConfig *c, const SeccompFilter *filter, const InitFds *fds) {
        int err = fds->sync;

        /* Until the entrypoint runs, the setup dies with the shim (e.g. when the caller gives up on a start that
         * hangs in a mount); the workload itself then keeps running without its monitor, like under conmon. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);

        for (NamespaceKind k = 0; k < _NAMESPACE_KIND_MAX; k++) {
                if (!c->ns_paths[k])
                        continue;
                int fd = open(c->ns_paths[k], O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        process_fail(err, "opening the sandbox's %s namespace %s: %s", namespace_kind_to_string(k),
                                     c->ns_paths[k], strerror(errno));
                if (setns(fd, ns_clone_flag[k]) < 0)
                        process_fail(err, "joining the sandbox's %s namespace %s: %s", namespace_kind_to_string(k),
                                     c->ns_paths[k], strerror(errno));
                close(fd);
        }

        /* Into the container's cgroups before anything of the workload runs: "0" is the writing process, so the
         * child moves itself and the shim need not hand over (one wake-up less on every start). */
        int r = cgroup_attach_self(c->cgroup_version, c->cgroup_dirs);
        if (r < 0)
                process_fail(err, "moving into the container's cgroups: %s", strerror(-r));
        if (unshare(CLONE_NEWCGROUP) < 0)
                process_fail(err, "unsharing the cgroup namespace: %s", strerror(errno));

        if (dup2(fds->stdin_, 0) < 0 || dup2(fds->stdout_, 1) < 0 || dup2(fds->stderr_, 2) < 0)
                process_fail(err, "setting up stdio: %s", strerror(errno));
        /* Job control and ^C need the pty as the controlling terminal, which takes a session of our own. */
        if (fds->tty && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0))
                process_fail(err, "making the pty the controlling terminal: %s", strerror(errno));

        (void) mount_setup_rootfs(c, err);

        if (c->hostname && !c->ns_paths[NAMESPACE_UTS] && sethostname(c->hostname, strlen(c->hostname)) < 0)
                process_fail(err, "sethostname %s: %s", c->hostname, strerror(errno));

        (void) prctl(PR_SET_PDEATHSIG, 0);
        process_exec(c, filter, c->argv, c->env, err);
}
