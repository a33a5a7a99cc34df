/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/sandbox.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#include "runtime/container-internal.h"

static int sandbox_dir(Runtime *rt, const char *id, char **ret) {
        return asprintf(ret, "%s/sandboxes/%s", rt->state_dir, id) < 0 ? -ENOMEM : 0;
}

int sandbox_ns_path(Runtime *rt, const char *id, NamespaceKind k, char **ret) {
        if (k < 0 || k >= _NAMESPACE_KIND_MAX)
                return -EINVAL;
        return asprintf(ret, "%s/sandboxes/%s/%s", rt->state_dir, id, namespace_kind_to_string(k)) < 0 ? -ENOMEM : 0;
}

static void unmount_all(char paths[_NAMESPACE_KIND_MAX][PATH_MAX]) {
        for (int k = 0; k < _NAMESPACE_KIND_MAX; k++)
                (void) umount2(paths[k], MNT_DETACH);
}

/* In the forked child: new namespaces, hostname, lo up, bind the namespace files. Returns an errno for _exit. */
static int child_setup(const char *hostname, char paths[_NAMESPACE_KIND_MAX][PATH_MAX]) {
        if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
                return errno;
        if (hostname && sethostname(hostname, strlen(hostname)) < 0)
                return errno;
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s >= 0) {
                struct ifreq ifr = {};
                strcpy(ifr.ifr_name, "lo");
                if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
                        ifr.ifr_flags |= IFF_UP;
                        (void) ioctl(s, SIOCSIFFLAGS, &ifr);
                }
                close(s);
        }
        static const char *const self[_NAMESPACE_KIND_MAX] = {"/proc/self/ns/net", "/proc/self/ns/ipc",
                                                              "/proc/self/ns/uts"};
        for (int k = 0; k < _NAMESPACE_KIND_MAX; k++)
                if (mount(self[k], paths[k], NULL, MS_BIND, NULL) < 0)
                        return errno;
        return 0;
}

#define SANDBOX_STACK_SIZE (64 * 1024)

typedef struct SandboxChild {
        const char *hostname;
        char (*paths)[PATH_MAX];
} SandboxChild;

static int sandbox_child(void *userdata) {
        SandboxChild *sc = userdata;
        _exit(child_setup(sc->hostname, sc->paths));
}

int sandbox_create(Runtime *rt, const char *id, const char *hostname, ErrorBuf *e) {
        if (!container_id_valid(id))
                return error_set(e, -EINVAL, "sandbox \"%s\": invalid id", strna(id));
        if (hostname && strlen(hostname) > 64)
                return error_set(e, -EINVAL, "sandbox %s: hostname longer than 64 characters", id);
        _cleanup_free_ char *dir = NULL;
        int r = sandbox_dir(rt, id, &dir);
        if (r < 0)
                return r;
        _cleanup_free_ char *parent = NULL;
        if (asprintf(&parent, "%s/sandboxes", rt->state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(parent, 0711);
        if (r < 0)
                return error_set(e, r, "sandbox %s: %s: %s", id, parent, strerror(-r));
        if (mkdir(dir, 0700) < 0)
                return error_set(e, -errno, "sandbox %s: %s", id, errno == EEXIST ? "already exists" : strerror(errno));
        char paths[_NAMESPACE_KIND_MAX][PATH_MAX];
        pid_t pid;
        int status, clone_errno;
        SandboxChild sc;
        sigset_t all, saved;
        _Alignas(16) char stack[SANDBOX_STACK_SIZE];
        for (int k = 0; k < _NAMESPACE_KIND_MAX; k++) {
                snprintf(paths[k], sizeof(paths[k]), "%s/%s", dir, namespace_kind_to_string(k));
                _cleanup_close_ int fd = open(paths[k], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
                if (fd < 0) {
                        r = error_set(e, -errno, "sandbox %s: %s: %s", id, paths[k], strerror(errno));
                        goto fail;
                }
        }
        /* A child sharing our memory (CLONE_VM|CLONE_VFORK, like posix_spawn) instead of fork(): the daemon calls this
         * from a WorkPool thread, and copying its page tables cost 2-7 ms per pod and stalled the loop's page faults
         * behind the fork during bursts. The child only unshares its own namespaces, mounts and exits; we sleep until
         * it has, so its stack here outlives it. Signals are blocked around the clone so that no handler of ours
         * runs on shared memory in the child. */
        sc = (SandboxChild){.hostname = hostname, .paths = paths};
#if defined(__SANITIZE_ADDRESS__)
        __asan_unpoison_memory_region(stack, sizeof(stack));
#endif
        sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        pid = clone(sandbox_child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &sc);
        clone_errno = errno;
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (pid < 0) {
                r = error_set(e, -clone_errno, "sandbox %s: clone: %s", id, strerror(clone_errno));
                goto fail;
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                r = WIFEXITED(status) ? -WEXITSTATUS(status) : -EPROTO;
                error_set(e, r, "sandbox %s: creating the namespaces: %s", id, strerror(-r));
                goto fail;
        }
        return 0;
fail:
        unmount_all(paths);
        (void) rm_rf(dir);
        return r;
}

int sandbox_remove(Runtime *rt, const char *id, ErrorBuf *e) {
        if (!container_id_valid(id))
                return error_set(e, -EINVAL, "sandbox \"%s\": invalid id", strna(id));
        _cleanup_free_ char *dir = NULL;
        int r = sandbox_dir(rt, id, &dir);
        if (r < 0)
                return r;
        if (access(dir, F_OK) < 0)
                return error_set(e, -ENOENT, "sandbox %s: not found", id);
        char paths[_NAMESPACE_KIND_MAX][PATH_MAX];
        for (int k = 0; k < _NAMESPACE_KIND_MAX; k++)
                snprintf(paths[k], sizeof(paths[k]), "%s/%s", dir, namespace_kind_to_string(k));
        unmount_all(paths);
        r = rm_rf(dir);
        if (r < 0)
                return error_set(e, r, "sandbox %s: removing %s: %s", id, dir, strerror(-r));
        return 0;
}
