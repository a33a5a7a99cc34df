/* SPDX-License-Identifier: Apache-2.0 */
/* The runner: a plugin chain for one attachment, run on the caller's sd-event loop (cni/runner.h). */
#include "cni/runner-internal.h"

#include <fcntl.h>
#include <linux/wait.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cni/delegate.h"
#include "cni/ipam.h"
#include "common/fileio.h"
#include "common/json-util.h"

extern char **environ;

typedef struct CniOp CniOp;

struct CniRunner {
        sd_event *event;
        char **bin_dirs;
        char *search_path;
        char *cache_dir;
        uint64_t timeout_usec;
        CniOp *ops; /* running operations, for cancellation */
};

struct CniOp {
        CniRunner *runner;
        CniOp *next, *prev;
        CniCommand cmd;     /* what the caller asked for */
        CniCommand running; /* what the chain runs now: DEL while rolling back a failed ADD */
        CniNetwork *net;
        char *container_id, *netns, *ifname, *cni_args;
        json_t *capability_args, *valid_attachments;
        json_t *prev_result; /* ADD: result so far; CHECK/DEL: the cached result */
        size_t step;
        uint64_t skipped; /* plugins (by index) not executed for this attachment: see plugin_pass_through() */
        cni_done_t done;
        void *userdata;
        CniError error;
        int result;

        /* the plugin running now */
        pid_t pid;
        int pidfd, out_fd, in_fd;
        char *in_buf;
        size_t in_size, in_off;
        char *out_buf;
        size_t out_size;
        bool exited, out_eof, timed_out;
        int status;
        char *plugin_type;
        sd_event_source *pid_src, *out_src, *in_src, *timer_src, *defer_src;
};

static void op_reset_child(CniOp *op) {
        op->pid_src = sd_event_source_disable_unref(op->pid_src);
        op->out_src = sd_event_source_disable_unref(op->out_src);
        op->in_src = sd_event_source_disable_unref(op->in_src);
        op->timer_src = sd_event_source_disable_unref(op->timer_src);
        if (op->pidfd >= 0 && !op->exited) {
                /* Cancelled while running: kill and reap so no zombie stays behind. */
                (void) pidfd_send_signal(op->pidfd, SIGKILL, NULL, 0);
                siginfo_t si;
                (void) waitid((idtype_t) P_PIDFD, (id_t) op->pidfd, &si, WEXITED);
        }
        op->pidfd = safe_close(op->pidfd);
        op->out_fd = safe_close(op->out_fd);
        op->in_fd = safe_close(op->in_fd);
        op->in_buf = mfree(op->in_buf);
        op->out_buf = mfree(op->out_buf);
        op->plugin_type = mfree(op->plugin_type);
        op->in_size = op->in_off = op->out_size = 0;
        op->exited = op->out_eof = op->timed_out = false;
        op->pid = 0;
}

static CniOp *op_free(CniOp *op) {
        if (!op)
                return NULL;
        op_reset_child(op);
        op->defer_src = sd_event_source_disable_unref(op->defer_src);
        if (op->runner) {
                if (op->prev)
                        op->prev->next = op->next;
                else
                        op->runner->ops = op->next;
                if (op->next)
                        op->next->prev = op->prev;
        }
        cni_network_free(op->net);
        free(op->container_id);
        free(op->netns);
        free(op->ifname);
        free(op->cni_args);
        json_decref(op->capability_args);
        json_decref(op->valid_attachments);
        json_decref(op->prev_result);
        free(op);
        return NULL;
}

int cni_runner_new(sd_event *event, const CniRunnerOptions *o, CniRunner **ret) {
        CniRunner *r = calloc(1, sizeof(CniRunner));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        char *const *dirs = o && o->bin_dirs ? o->bin_dirs : cni_default_bin_dirs();
        size_t n = 0;
        while (dirs[n])
                n++;
        r->bin_dirs = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; r->bin_dirs && i < n; i++)
                if (!(r->bin_dirs[i] = strdup(dirs[i])))
                        break;
        r->search_path = r->bin_dirs ? cni_search_path(r->bin_dirs) : NULL;
        r->cache_dir = strdup(o && o->cache_dir ? o->cache_dir : CNI_DEFAULT_CACHE_DIR);
        r->timeout_usec = o && o->timeout_usec ? o->timeout_usec : CNI_DEFAULT_TIMEOUT_USEC;
        if (!r->search_path || !r->cache_dir) {
                cni_runner_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

CniRunner *cni_runner_free(CniRunner *r) {
        if (!r)
                return NULL;
        while (r->ops)
                op_free(r->ops);
        strv_free(r->bin_dirs);
        free(r->search_path);
        free(r->cache_dir);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

/* The stdin of plugin i: its configuration with the list's name and cniVersion, prevResult and the enabled
 * capabilities in runtimeConfig (SPEC.md "Network Configuration Lists"). */
static json_t *plugin_conf(const CniOp *op, size_t i) {
        json_t *p = json_deep_copy(json_array_get(json_object_get(op->net->list, "plugins"), i));
        json_t *caps, *v;
        const char *key;

        if (!p)
                return NULL;
        (void) json_object_set(p, "name", json_object_get(op->net->list, "name"));
        (void) json_object_set(p, "cniVersion", json_object_get(op->net->list, "cniVersion"));
        if (op->prev_result && op->running != CNI_CMD_GC && op->running != CNI_CMD_STATUS)
                (void) json_object_set(p, "prevResult", op->prev_result);
        caps = json_object_get(p, "capabilities");
        _cleanup_json_ json_t *rc = json_object();
        json_object_foreach (caps, key, v)
                if (json_is_true(v) && json_object_get(op->capability_args, key))
                        (void) json_object_set(rc, key, json_object_get(op->capability_args, key));
        if (rc && json_object_size(rc) > 0)
                (void) json_object_set(p, "runtimeConfig", rc);
        if (op->running == CNI_CMD_GC)
                (void) json_object_set_new(p, "cni.dev/valid-attachments",
                                           op->valid_attachments ? json_incref(op->valid_attachments) : json_array());
        return p;
}

static char **plugin_env(const CniOp *op) {
        const struct {
                const char *name, *value;
        } vars[] = {
                {"CNI_COMMAND", cni_command_to_string(op->running)},
                {"CNI_CONTAINERID", op->container_id},
                {"CNI_NETNS", op->netns},
                {"CNI_IFNAME", op->ifname},
                {"CNI_ARGS", op->cni_args},
                {"CNI_PATH", op->runner->search_path},
        };
        size_t n = 0, k = 0;
        bool ok = true;

        while (environ[n])
                n++;
        char **env = calloc(n + ELEMENTSOF(vars) + 1, sizeof(char *));
        if (!env)
                return NULL;
        /* The runtime's environment (PATH for plugins that exec iptables), minus any CNI_* of our own. */
        for (size_t i = 0; ok && i < n; i++)
                if (!startswith(environ[i], "CNI_"))
                        ok = (env[k++] = strdup(environ[i])) != NULL;
        for (size_t i = 0; ok && i < ELEMENTSOF(vars); i++)
                if (vars[i].value) {
                        ok = asprintf(&env[k], "%s=%s", vars[i].name, vars[i].value) >= 0;
                        if (ok)
                                k++;
                        else
                                env[k] = NULL;
                }
        if (!ok) {
                strv_free(env);
                return NULL;
        }
        return env;
}

static void op_finish(CniOp *op) {
        const json_t *result = op->result >= 0 && op->cmd == CNI_CMD_ADD ? op->prev_result : NULL;
        op->done(op->result, result, op->result < 0 ? &op->error : NULL, op->userdata);
        op_free(op);
}

/* The attachment's key and metadata in the result cache (cni/cache.c). */
static CniAttachment op_attachment(const CniOp *op) {
        return (CniAttachment){
                .cache_dir = op->runner->cache_dir,
                .net = op->net,
                .container_id = op->container_id,
                .ifname = op->ifname,
                .netns = op->netns,
                .cni_args = op->cni_args,
                .capability_args = op->capability_args,
        };
}

static void op_step(CniOp *op);

/* A plugin (or the runner) failed while running op->running. */
static void op_fail(CniOp *op, int r, const CniError *pe) {
        if (op->running == op->cmd) {
                op->error = *pe;
                op->result = r < 0 ? r : -EPROTO;
        }
        op_reset_child(op);
        if (op->cmd == CNI_CMD_ADD) {
                if (op->running == CNI_CMD_ADD) {
                        /* Roll the whole chain back in reverse (SPEC.md "Network Configuration List Error
                         * Handling"), then report the ADD error. */
                        op->running = CNI_CMD_DEL;
                        op->step = cni_network_n_plugins(op->net);
                }
                op_step(op); /* during the rollback errors are ignored: release as much as possible */
                return;
        }
        op_finish(op);
}

/* The current plugin finished (exited and its stdout is at EOF). */
static void op_plugin_done(CniOp *op) {
        _cleanup_json_ json_t *out = NULL;
        bool ok = WIFEXITED(op->status) && WEXITSTATUS(op->status) == 0 && !op->timed_out;
        CniError pe = {};

        if (op->out_size > 0)
                out = json_loadb(op->out_buf, op->out_size, 0, NULL);
        if (!ok) {
                if (op->timed_out)
                        (void) cni_error(&pe, CNI_ERR_INTERNAL, "plugin %s (%s) timed out after %llu ms",
                                         op->plugin_type, cni_command_to_string(op->running),
                                         (unsigned long long) (op->runner->timeout_usec / USEC_PER_MSEC));
                else if (!out || cni_error_from_json(out, &pe) < 0)
                        (void) cni_error(&pe, CNI_ERR_INTERNAL, "plugin %s (%s) failed with %s %d and no error JSON",
                                         op->plugin_type, cni_command_to_string(op->running),
                                         WIFEXITED(op->status) ? "exit status" : "signal",
                                         WIFEXITED(op->status) ? WEXITSTATUS(op->status) : WTERMSIG(op->status));
                op_fail(op, op->timed_out ? -ETIMEDOUT : -EPROTO, &pe);
                return;
        }
        if (op->running == CNI_CMD_ADD) {
                if (!json_is_object(out)) {
                        (void) cni_error(&pe, CNI_ERR_DECODE, "plugin %s printed no result JSON", op->plugin_type);
                        op_fail(op, -EPROTO, &pe);
                        return;
                }
                json_decref(op->prev_result);
                op->prev_result = TAKE_PTR(out);
        }
        op_reset_child(op);
        op_step(op);
}

/* Reads what the plugin printed; true at EOF (or when reading must stop), false when the pipe is just empty. */
static bool drain_stdout(CniOp *op) {
        for (;;) {
                char *n = realloc(op->out_buf, op->out_size + 65536 + 1);
                if (!n)
                        return true;
                op->out_buf = n;
                ssize_t k = read(op->out_fd, op->out_buf + op->out_size, 65536);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return false;
                if (k <= 0)
                        return true;
                op->out_size += (size_t) k;
                op->out_buf[op->out_size] = 0;
                if (op->out_size > 16 * 1024 * 1024)
                        return true; /* a plugin this chatty is broken; stop reading, it gets SIGPIPE */
        }
}

static void close_stdout(CniOp *op) {
        op->out_eof = true;
        op->out_src = sd_event_source_disable_unref(op->out_src);
        op->out_fd = safe_close(op->out_fd);
}

static int on_stdout(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CniOp *op = userdata;
        if (!drain_stdout(op))
                return 0;
        close_stdout(op);
        if (op->exited)
                op_plugin_done(op);
        return 0;
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CniOp *op = userdata;
        siginfo_t si = {};
        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        op->exited = true;
        op->status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
        op->pid_src = sd_event_source_disable_unref(op->pid_src);
        op->timer_src = sd_event_source_disable_unref(op->timer_src);
        if (!op->out_eof) {
                /* The plugin has exited, so all it printed is in the pipe; a descendant still holding the write end
                 * must not keep us waiting (it would, forever: the timer is gone). Take what is there. */
                (void) drain_stdout(op);
                close_stdout(op);
        }
        op_plugin_done(op);
        return 0;
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CniOp *op = userdata;
        while (op->in_off < op->in_size) {
                ssize_t k = write(fd, op->in_buf + op->in_off, op->in_size - op->in_off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return 0;
                if (k < 0)
                        break; /* EPIPE: the plugin exited without reading; its exit status tells */
                op->in_off += (size_t) k;
        }
        op->in_src = sd_event_source_disable_unref(op->in_src);
        op->in_fd = safe_close(op->in_fd);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        CniOp *op = userdata;
        op->timed_out = true;
        (void) pidfd_send_signal(op->pidfd, SIGKILL, NULL, 0);
        return 0;
}

static int op_spawn(CniOp *op, const char *path, size_t i, CniError *e) {
        _cleanup_json_ json_t *conf = plugin_conf(op, i);
        _cleanup_strv_free_ char **env = plugin_env(op);
        _cleanup_close_ int in_r = -EBADF, out_w = -EBADF;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t mask;
        int p[2], r;

        if (!conf || !env || !(op->in_buf = json_dumps(conf, JSON_COMPACT)))
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        op->in_size = strlen(op->in_buf);
        if (pipe2(p, O_CLOEXEC) < 0)
                return cni_error(e, CNI_ERR_IO, "pipe: %s", strerror(errno));
        in_r = p[0], op->in_fd = p[1];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cni_error(e, CNI_ERR_IO, "pipe: %s", strerror(errno));
        op->out_fd = p[0], out_w = p[1];
        (void) fcntl(op->in_fd, F_SETFL, O_NONBLOCK);
        (void) fcntl(op->out_fd, F_SETFL, O_NONBLOCK);

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in_r, STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
        /* The daemon blocks signals for sd-event; a plugin starts with none blocked and default dispositions. */
        posix_spawnattr_init(&attr);
        sigemptyset(&mask);
        posix_spawnattr_setsigmask(&attr, &mask);
        sigfillset(&mask);
        sigdelset(&mask, SIGKILL);
        sigdelset(&mask, SIGSTOP);
        posix_spawnattr_setsigdefault(&attr, &mask);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        char *argv[] = {(char *) path, NULL};
        r = posix_spawn(&op->pid, path, &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return cni_error(e, CNI_ERR_IO, "failed to execute %s: %s", path, strerror(r));
        /* Not reaped by anyone but us, so the pid cannot be reused before pidfd_open(). */
        op->pidfd = pidfd_open(op->pid, 0);
        if (op->pidfd < 0) {
                r = -errno;
                (void) kill(op->pid, SIGKILL);
                (void) waitpid(op->pid, NULL, 0);
                op->exited = true;
                return cni_error(e, CNI_ERR_IO, "pidfd_open: %s", strerror(-r));
        }
        sd_event *ev = op->runner->event;
        r = sd_event_add_io(ev, &op->pid_src, op->pidfd, EPOLLIN, on_pidfd, op);
        if (r >= 0)
                r = sd_event_add_io(ev, &op->out_src, op->out_fd, EPOLLIN, on_stdout, op);
        if (r >= 0)
                r = sd_event_add_io(ev, &op->in_src, op->in_fd, EPOLLOUT, on_stdin, op);
        if (r >= 0)
                r = sd_event_add_time_relative(ev, &op->timer_src, CLOCK_MONOTONIC, op->runner->timeout_usec, 0,
                                               on_timeout, op);
        if (r < 0)
                return cni_error(e, CNI_ERR_INTERNAL, "failed to watch plugin %s: %s", path, strerror(-r));
        return 0;
}

/* portmap and bandwidth only act on their capability arguments (bandwidth also on rates in its own configuration):
 * for an attachment that has none, their ADD hands prevResult back unchanged and their DEL has nothing to undo.
 * Executing them anyway costs two Go start-ups (~20-40 ms each here) on every pod start, so ADD skips them in that
 * case and records it in the cached result; DEL and CHECK then skip the same plugins (an attachment without a cache
 * entry runs the whole chain). A deliberate difference from libcni, which always runs the whole list. */
static bool plugin_pass_through(const CniOp *op, size_t i) {
        const char *type = cni_network_plugin_type(op->net, i);
        const json_t *conf = json_array_get(json_object_get(op->net->list, "plugins"), i);
        if (streq_ptr(type, "portmap")) {
                const json_t *pm = json_object_get(op->capability_args, "portMappings");
                return !json_is_array(pm) || json_array_size(pm) == 0;
        }
        if (streq_ptr(type, "bandwidth")) {
                static const char *const keys[] = {"ingressRate", "ingressBurst", "egressRate", "egressBurst"};
                for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                        if (json_object_get(conf, keys[k]))
                                return false;
                const json_t *bw = json_object_get(op->capability_args, "bandwidth");
                return !json_is_object(bw) || json_object_size(bw) == 0;
        }
        return false;
}

/* Starts the next plugin of the chain, or finishes. */
static void op_step(CniOp *op) {
        size_t n = cni_network_n_plugins(op->net);
        bool reverse = op->running == CNI_CMD_DEL;
        _cleanup_free_ char *path = NULL;
        CniError e = {};
        int r;

        if (reverse ? op->step == 0 : op->step >= n) {
                CniAttachment a = op_attachment(op);
                if (op->cmd == CNI_CMD_ADD && op->result >= 0) {
                        r = cni_cache_write(&a, op->prev_result, op->skipped);
                        if (r < 0) {
                                /* Without the cache DEL would lack prevResult: undo rather than half-succeed. */
                                (void) cni_error(&e, CNI_ERR_IO, "failed to cache the result: %s", strerror(-r));
                                op_fail(op, r, &e);
                                return;
                        }
                } else if (op->cmd == CNI_CMD_DEL && op->result >= 0)
                        cni_cache_remove(&a);
                else if (op->cmd == CNI_CMD_GC && op->result >= 0)
                        cni_cache_gc(op->runner->cache_dir, op->net, op->valid_attachments);
                op_finish(op);
                return;
        }
        size_t i = reverse ? op->step - 1 : op->step;
        const char *type = cni_network_plugin_type(op->net, i);
        op->step = reverse ? op->step - 1 : op->step + 1;
        if (op->cmd == CNI_CMD_ADD && op->running == CNI_CMD_ADD && i < 64 && plugin_pass_through(op, i))
                op->skipped |= UINT64_C(1) << i;
        if (i < 64 && (op->skipped & (UINT64_C(1) << i)) &&
            (op->running == CNI_CMD_ADD || op->running == CNI_CMD_DEL || op->running == CNI_CMD_CHECK)) {
                op_step(op);
                return;
        }
        r = cni_find_plugin(type, op->runner->search_path, &path);
        if (r < 0) {
                (void) cni_error(&e, CNI_ERR_INVALID_CONFIG, "failed to find plugin \"%s\" in path [%s]", type,
                                 op->runner->search_path);
                op_fail(op, r, &e);
                return;
        }
        op->plugin_type = strdup(type);
        r = op_spawn(op, path, i, &e);
        if (r < 0)
                op_fail(op, r, &e);
        /* else: continues in the io/pidfd callbacks */
}

static char *join_args(char **args) {
        size_t len = 1;
        for (char **a = args; a && *a; a++)
                len += strlen(*a) + 1;
        char *s = calloc(1, len), *p = s;
        for (char **a = args; s && a && *a; a++)
                p = stpcpy(stpcpy(p, p == s ? "" : ";"), *a);
        return s;
}

static int on_defer(sd_event_source *s, void *userdata) {
        CniOp *op = userdata;
        op->defer_src = sd_event_source_disable_unref(op->defer_src);
        /* GC and STATUS exist since 1.1.0; libcni skips them for older networks. */
        if ((op->cmd == CNI_CMD_GC || op->cmd == CNI_CMD_STATUS) &&
            cni_version_cmp(cni_network_version(op->net), "1.1.0") < 0) {
                op_finish(op);
                return 0;
        }
        /* "disableCheck": runtimes must not call CHECK for this list (SPEC.md); like libcni, that is success. */
        if (op->cmd == CNI_CMD_CHECK && json_is_true(json_object_get(op->net->list, "disableCheck"))) {
                op_finish(op);
                return 0;
        }
        op_step(op);
        return 0;
}

int cni_runner_start(CniRunner *r, CniCommand cmd, const CniNetwork *n, const CniRuntimeConf *rt, cni_done_t done,
                     void *userdata) {
        CniOp *op;
        int k;

        if (cmd < 0 || cmd >= _CNI_CMD_MAX || cmd == CNI_CMD_VERSION)
                return -EINVAL;
        op = calloc(1, sizeof(CniOp));
        if (!op)
                return -ENOMEM;
        op->pidfd = op->out_fd = op->in_fd = -EBADF;
        op->runner = r;
        op->next = r->ops;
        if (r->ops)
                r->ops->prev = op;
        r->ops = op;
        op->cmd = op->running = cmd;
        op->step = cmd == CNI_CMD_DEL ? cni_network_n_plugins(n) : 0; /* DEL runs the chain in reverse */
        op->done = done;
        op->userdata = userdata;
        if (cni_network_copy(n, &op->net) < 0 || (rt->container_id && !(op->container_id = strdup(rt->container_id))) ||
            (rt->ifname && !(op->ifname = strdup(rt->ifname))) || (rt->netns && !(op->netns = strdup(rt->netns))) ||
            (rt->args && !(op->cni_args = join_args(rt->args)))) {
                op_free(op);
                return -ENOMEM;
        }
        op->capability_args = json_incref(rt->capability_args);
        op->valid_attachments = json_incref(rt->valid_attachments);

        if (cmd == CNI_CMD_ADD || cmd == CNI_CMD_DEL || cmd == CNI_CMD_CHECK) {
                if (!cni_container_id_valid(op->container_id) || !cni_ifname_valid(op->ifname)) {
                        op_free(op);
                        return -EINVAL;
                }
        }
        if (cmd == CNI_CMD_DEL || cmd == CNI_CMD_CHECK) {
                CniAttachment a = op_attachment(op);
                k = cni_cache_read(&a, &op->prev_result, &op->skipped);
                if (k < 0 && cmd == CNI_CMD_CHECK) {
                        op_free(op);
                        return -ENOENT; /* CHECK needs the ADD result (libcni: "no cached result") */
                }
        }
        /* Start from the loop, never from the caller's stack: the callback must not run before we return. */
        k = sd_event_add_defer(r->event, &op->defer_src, on_defer, op);
        if (k < 0) {
                op_free(op);
                return k;
        }
        return 0;
}

typedef struct SyncCtx {
        bool done;
        int r;
        json_t *result;
        CniError err;
        sd_event *event;
} SyncCtx;

static void sync_done(int r, const json_t *result, const CniError *err, void *userdata) {
        SyncCtx *c = userdata;
        c->done = true;
        c->r = r;
        if (result)
                c->result = json_deep_copy(result);
        if (err)
                c->err = *err;
        (void) sd_event_exit(c->event, 0);
}

int cni_run_sync(const CniRunnerOptions *o, CniCommand cmd, const CniNetwork *n, const CniRuntimeConf *rt,
                 json_t **ret_result, CniError *err) {
        _cleanup_(sd_event_unrefp) sd_event *ev = NULL;
        _cleanup_(cni_runner_freep) CniRunner *runner = NULL;
        SyncCtx c = {};
        int r;

        r = sd_event_new(&ev);
        if (r < 0)
                return r;
        c.event = ev;
        r = cni_runner_new(ev, o, &runner);
        if (r < 0)
                return r;
        r = cni_runner_start(runner, cmd, n, rt, sync_done, &c);
        if (r == -ENOENT && cmd == CNI_CMD_CHECK)
                return cni_error(err, CNI_ERR_INVALID_CONFIG, "no cached result for %s/%s: was ADD run?",
                                 strempty(rt->container_id), strempty(rt->ifname));
        if (r < 0)
                return r;
        r = sd_event_loop(ev);
        if (r < 0)
                return r;
        if (c.r < 0) {
                json_decref(c.result);
                if (err)
                        *err = c.err;
                return c.r;
        }
        if (ret_result)
                *ret_result = c.result;
        else
                json_decref(c.result);
        return 0;
}
