/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/delegate.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "cni/ipam.h"
#include "common/fileio.h"
#include "common/json-util.h"

extern char **environ;

int cni_find_plugin(const char *type, const char *search_path, char **ret_path) {
        if (isempty(type) || strchr(type, '/') || streq(type, ".") || streq(type, ".."))
                return -EINVAL;
        for (const char *p = search_path; !isempty(p);) {
                const char *colon = strchrnul(p, ':');
                if (colon > p) {
                        char *path = NULL;
                        if (asprintf(&path, "%.*s/%s", (int) (colon - p), p, type) < 0)
                                return -ENOMEM;
                        if (access(path, X_OK) == 0) {
                                *ret_path = path;
                                return 0;
                        }
                        free(path);
                }
                p = *colon ? colon + 1 : NULL;
        }
        return -ENOENT;
}

/* environ with CNI_COMMAND replaced; the strings are borrowed, only the array is allocated. */
static char **make_env(const char *cmd_assignment) {
        size_t n = 0;
        while (environ[n])
                n++;
        char **env = calloc(n + 2, sizeof(char *));
        if (!env)
                return NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (!startswith(environ[i], "CNI_COMMAND="))
                        env[k++] = environ[i];
        env[k++] = (char *) cmd_assignment;
        env[k] = NULL;
        return env;
}

const CniPlugin *cni_builtin_delegate(const char *type) {
        return streq_ptr(type, cni_ipam_plugin.name) ? &cni_ipam_plugin : NULL;
}

static int run_builtin(const CniPlugin *p, const CniArgs *a, json_t **ret_result, CniError *e) {
        switch (a->command) {
        case CNI_CMD_ADD:
                return p->add(a, ret_result, e);
        case CNI_CMD_DEL:
                return p->del(a, e);
        case CNI_CMD_CHECK:
                return p->check(a, e);
        case CNI_CMD_STATUS:
                return p->status(a, e);
        case CNI_CMD_GC:
                return p->gc(a, e);
        default:
                return cni_error(e, CNI_ERR_INTERNAL, "command %s cannot be delegated",
                                 cni_command_to_string(a->command));
        }
}

int cni_delegate_start(const char *type, CniCommand cmd, const CniArgs *a, CniDelegate *ret, CniError *e) {
        _cleanup_free_ char *path = NULL, *cmd_env = NULL;
        _cleanup_free_ char **env = NULL;
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF;
        pid_t pid;
        int r;

        r = cni_find_plugin(type, a->path, &path);
        if (r == -EINVAL)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "invalid plugin name \"%s\" in ipam.type", type);
        if (r < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "failed to find plugin \"%s\" in path [%s]", type,
                                 strempty(a->path));
        const CniPlugin *builtin = cni_builtin_delegate(type);
        if (builtin) {
                /* Run here and now, before the caller's link work: measured on two cores, IPAM in a thread of its
                 * own slowed the veth creation down by more than it overlapped (the kernel's per-device work wants
                 * the other CPU). */
                *ret = (CniDelegate){.pid = 0, .out_fd = -EBADF, .type = type, .args = *a};
                ret->args.command = cmd;
                ret->builtin = true;
                ret->builtin_r = run_builtin(builtin, &ret->args, &ret->builtin_result, &ret->builtin_error);
                return 0;
        }
        if (asprintf(&cmd_env, "CNI_COMMAND=%s", cni_command_to_string(cmd)) < 0 || !(env = make_env(cmd_env)))
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        /* The configuration is small (far below the 64 KiB pipe buffer), so it is written before the delegate
         * runs and the caller is free until finish(); larger ones would block here, which is still correct. */
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cni_error(e, CNI_ERR_IO, "pipe: %s", strerror(errno));
        in_r = p[0], in_w = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cni_error(e, CNI_ERR_IO, "pipe: %s", strerror(errno));
        out_r = p[0], out_w = p[1];

        /* fork, not posix_spawn: vfork would stop us until the delegate's exec finished, while with fork the
         * exec runs on the other CPU as we create the links. The child only calls async-signal-safe functions
         * (we are single-threaded anyway). */
        char *argv[] = {path, NULL};
        pid = fork();
        if (pid < 0)
                return cni_error(e, CNI_ERR_IO, "fork: %s", strerror(errno));
        if (pid == 0) {
                /* We ignore SIGPIPE (a delegate may exit without reading stdin); the delegate gets the default. */
                (void) signal(SIGPIPE, SIG_DFL);
                if (dup2(in_r, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0)
                        _exit(127);
                execve(path, argv, env);
                _exit(127);
        }
        in_r = safe_close(in_r);
        out_w = safe_close(out_w);
        r = write_all(in_w, a->stdin_data, a->stdin_size);
        if (r < 0 && r != -EPIPE) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return cni_error(e, CNI_ERR_IO, "failed to write configuration to %s: %s", type, strerror(-r));
        }
        *ret = (CniDelegate){.pid = pid, .out_fd = TAKE_FD(out_r), .type = type};
        return 0;
}

int cni_delegate_finish(CniDelegate *d, json_t **ret_result, CniError *e) {
        if (d->builtin) {
                _cleanup_json_ json_t *result = TAKE_PTR(d->builtin_result);
                d->builtin = false;
                if (d->builtin_r < 0) {
                        if (e && e->code == 0)
                                *e = d->builtin_error;
                        return cni_error(e, d->builtin_error.code ?: CNI_ERR_INTERNAL, "%s", d->builtin_error.msg);
                }
                if (ret_result) {
                        if (!json_is_object(result))
                                return cni_error(e, CNI_ERR_DECODE, "%s returned no result", d->type);
                        *ret_result = TAKE_PTR(result);
                }
                return 0;
        }
        _cleanup_free_ char *out = NULL;
        _cleanup_close_ int out_fd = TAKE_FD(d->out_fd);
        size_t out_size = 0;
        int status;

        int rr = read_full_fd(out_fd, 16 * 1024 * 1024, &out, &out_size);
        while (waitpid(d->pid, &status, 0) < 0)
                if (errno != EINTR)
                        return cni_error(e, CNI_ERR_IO, "waitpid: %s", strerror(errno));
        d->pid = 0;
        if (rr < 0)
                return cni_error(e, CNI_ERR_IO, "failed to read output of %s: %s", d->type, strerror(-rr));

        _cleanup_json_ json_t *j = out_size > 0 ? json_loadb(out, out_size, 0, NULL) : NULL;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                CniError de = {};
                if (j && cni_error_from_json(j, &de) == 0) {
                        if (e && e->code == 0)
                                *e = de;
                        return cni_error(e, de.code, "%s", de.msg);
                }
                return cni_error(e, CNI_ERR_INTERNAL, "plugin %s failed (%s %d) without an error JSON", d->type,
                                 WIFEXITED(status) ? "exit status" : "signal",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        if (ret_result) {
                if (!json_is_object(j))
                        return cni_error(e, CNI_ERR_DECODE, "failed to decode the result of %s", d->type);
                *ret_result = TAKE_PTR(j);
        }
        return 0;
}

int cni_delegate(const char *type, CniCommand cmd, const CniArgs *a, json_t **ret_result, CniError *e) {
        CniDelegate d;
        int r = cni_delegate_start(type, cmd, a, &d, e);
        if (r < 0)
                return r;
        return cni_delegate_finish(&d, ret_result, e);
}
