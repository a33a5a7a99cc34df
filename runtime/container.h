/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The container engine: takes a ContainerSpec (no Kubernetes and no image-store knowledge) and runs it under a
 * per-container monitor, `nodelet-shim`. See docs/runtime.md for the design.
 *
 * Lifecycle: container_create() validates and resolves the spec (user names, capabilities, seccomp, cgroup limits)
 * and writes <state-dir>/containers/<id>/config.json; container_start() spawns the shim, which creates the
 * namespaces/mounts/cgroups and returns once the entrypoint has been exec'd (a few ms; the daemon may call it from
 * the loop). container_exit_fd() is a pidfd of the shim: it becomes readable when the container has exited and its
 * exit record is on disk, so the daemon adds it to sd-event. container_load() re-adopts a container from the state
 * dir after a restart of the caller. Every function returns a negative errno; ErrorBuf (may be NULL) names the
 * object and the reason. */

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "common/error.h"
#include "common/macro.h"

typedef enum SeccompMode {
        SECCOMP_MODE_RUNTIME_DEFAULT, /* containerd's default allowlist, EPERM otherwise */
        SECCOMP_MODE_UNCONFINED,
        SECCOMP_MODE_LOCALHOST, /* OCI/Docker JSON profile at seccomp_profile */
        _SECCOMP_MODE_MAX,
        _SECCOMP_MODE_INVALID = -EINVAL,
} SeccompMode;
const char *seccomp_mode_to_string(SeccompMode m);
SeccompMode seccomp_mode_from_string(const char *s);

typedef enum MountPropagation {
        MOUNT_PROPAGATION_PRIVATE, /* rprivate: Kubernetes' MountPropagationNone */
        MOUNT_PROPAGATION_SLAVE,   /* rslave: HostToContainer */
        MOUNT_PROPAGATION_SHARED,  /* rshared: Bidirectional */
        _MOUNT_PROPAGATION_MAX,
        _MOUNT_PROPAGATION_INVALID = -EINVAL,
} MountPropagation;
const char *mount_propagation_to_string(MountPropagation p);
MountPropagation mount_propagation_from_string(const char *s);

/* The namespaces a container may join instead of creating its own (the pod sandbox's). */
typedef enum NamespaceKind {
        NAMESPACE_NET,
        NAMESPACE_IPC,
        NAMESPACE_UTS,
        _NAMESPACE_KIND_MAX,
        _NAMESPACE_KIND_INVALID = -EINVAL,
} NamespaceKind;
const char *namespace_kind_to_string(NamespaceKind k);

typedef struct BindMount {
        char *source;
        char *destination; /* absolute path inside the container */
        bool readonly;
        MountPropagation propagation;
} BindMount;

typedef struct ContainerRlimit {
        char *name; /* "RLIMIT_NOFILE" or "nofile" */
        uint64_t soft, hard;
} ContainerRlimit;

typedef struct ContainerResources {
        uint64_t cpu_shares;    /* 0 = unset; 2..262144 (v2: converted to cpu.weight) */
        int64_t cpu_quota_us;   /* 0 = unset; ≥ 1000 */
        uint64_t cpu_period_us; /* 0 = 100000 */
        int64_t memory_limit;   /* bytes, 0 = unlimited */
        int64_t pids_limit;     /* 0 = unlimited */
} ContainerResources;

typedef struct ContainerSpec {
        /* rootfs: overlayfs of lower_dirs (bottom-most first) + upper_dir/work_dir, which create() makes and
         * remove() deletes: they are per container. */
        char **lower_dirs;
        char *upper_dir;
        char *work_dir;
        bool readonly_rootfs;

        char **argv; /* argv[0] is looked up in the container's PATH when it has no '/' */
        char **env;  /* "K=V"; PATH and HOME get defaults when absent, like containerd */
        char *cwd;   /* NULL = "/" */

        /* User: `user` is "name", "uid", "name:group" or "uid:gid", resolved against the rootfs's /etc/passwd and
         * /etc/group (supplementary groups from /etc/group too); NULL with uid_set = numeric uid/gid. */
        char *user;
        bool uid_set;
        uid_t uid;
        gid_t gid;
        gid_t *additional_gids;
        size_t n_additional_gids;

        char **cap_add; /* "CAP_NET_ADMIN" or "NET_ADMIN"; "ALL" */
        char **cap_drop;
        bool privileged; /* all capabilities, no seccomp, no masked paths, /sys read-write */
        bool no_new_privs;
        SeccompMode seccomp;
        char *seccomp_profile; /* SECCOMP_MODE_LOCALHOST: path of the JSON profile */

        ContainerRlimit *rlimits;
        size_t n_rlimits;

        char *hostname; /* only applied when the container has its own UTS namespace */
        BindMount *mounts;
        size_t n_mounts;
        char *ns_paths[_NAMESPACE_KIND_MAX]; /* join these (sandbox); NULL = a new private namespace */

        ContainerResources resources;
        char *cgroup_parent; /* below the runtime's cgroup base, e.g. "pod<uid>" or a runtime_pod_cgroup_apply() one */

        int stop_signal;    /* 0 = SIGTERM */
        char **annotations; /* "key=value", kept with the container for its owner (image id, pod, name…) */

        char *log_path;         /* CRI-format log; NULL = discard output */
        uint64_t log_max_size;  /* rotate above this many bytes; 0 = never */
        unsigned log_max_files; /* rotated files kept including the live one; 0 = 5 */
        size_t log_line_max;    /* longer lines are split into "P" records; 0 = 16 KiB */

        /* Stdio like the CRI's ContainerConfig: stdin_open gives the entrypoint a stdin pipe whose write end the shim
         * keeps open for container_attach_stdin() (without it stdin is /dev/null); stdin_once closes it once the
         * first attach is done with it; tty runs the entrypoint on a pseudo-terminal (stdout and stderr merged). */
        bool stdin_open;
        bool stdin_once;
        bool tty;
} ContainerSpec;

void container_spec_done(ContainerSpec *s);

typedef struct RuntimeConfig {
        const char *state_dir; /* NULL = /run/nodelet */
        const char *shim_path; /* NULL = the NODELET_SHIM env var, then the installed libexec dir */
        /* Relative: below the caller's own cgroup in every hierarchy (the default, "nodelet"); absolute: the same
         * path in every hierarchy (a delegated cgroup prepared by the administrator). */
        const char *cgroup_parent;
} RuntimeConfig;

typedef struct Runtime Runtime;
int runtime_new(const RuntimeConfig *cfg, Runtime **ret);
Runtime *runtime_free(Runtime *rt);
DEFINE_TRIVIAL_CLEANUP_FUNC(Runtime *, runtime_free)
const char *runtime_state_dir(const Runtime *rt);
/* The ids of every container in the state dir, sorted. */
int runtime_list(Runtime *rt, char ***ret_ids);

/* Pod-level cgroups, as the kubelet makes them: kubepods/burstable/pod<uid>, kubepods/besteffort/pod<uid>, and
 * Guaranteed pods directly below kubepods. rel is relative to the runtime's cgroup base (RuntimeConfig.cgroup_parent)
 * and made of letters, digits, '.', '_', '-' and '/'. A pod cgroup made here is recorded in the state dir
 * (<state-dir>/pod-cgroups/): a container created with it (or a cgroup below it) as ContainerSpec.cgroup_parent
 * removes only its own levels below it, never the pod cgroup or its parents; only runtime_pod_cgroup_remove() does.
 * Parents that were not made here (e.g. a plain "pod1") still go with their last container. */
/* Creates or updates <base>/<rel> in every hierarchy with the limits (cpu shares/quota, memory, pids); limits
 * left 0 are lifted (an update can remove a limit). Idempotent; parents are created as needed. */
int runtime_pod_cgroup_apply(Runtime *rt, const char *rel, const ContainerResources *res, ErrorBuf *e);
/* Removes it (waiting ~2 s at most for exiting tasks). -EBUSY while containers (child cgroups) are still in it, or
 * tasks remain. Removing a missing pod cgroup succeeds. */
int runtime_pod_cgroup_remove(Runtime *rt, const char *rel, ErrorBuf *e);
/* The pod cgroup's OOM-kill counter (v1: memory.oom_control's oom_kill, kills in the pod's memory cgroup itself,
 * i.e. the pod limit was hit; v2: memory.events, which includes the kills in its containers). */
int runtime_pod_cgroup_oom_kills(Runtime *rt, const char *rel, uint64_t *ret);

typedef enum ContainerState {
        CONTAINER_CREATED,
        CONTAINER_RUNNING,
        CONTAINER_EXITED,
        CONTAINER_UNKNOWN, /* the shim vanished without an exit record */
        _CONTAINER_STATE_MAX,
        _CONTAINER_STATE_INVALID = -EINVAL,
} ContainerState;
const char *container_state_to_string(ContainerState s);

typedef struct ContainerStatus {
        ContainerState state;
        pid_t pid;      /* the entrypoint, in the caller's pid namespace; 0 unless running */
        pid_t shim_pid; /* 0 before start */
        int exit_code;  /* 128+signal when killed by a signal, like the kubelet shows it */
        int signal;
        bool oom_killed;                              /* reason "OOMKilled" */
        uint64_t created_at, started_at, finished_at; /* ns since the epoch, 0 = not yet */
        char reason[64];
        char message[256]; /* start error, e.g. exec: "foo": executable file not found in $PATH */
} ContainerStatus;

typedef struct Container Container;
/* Validates and resolves spec; on failure nothing is left behind. */
int container_create(Runtime *rt, const char *id, const ContainerSpec *spec, Container **ret, ErrorBuf *e);
/* Re-adopts an existing container (created, running or exited) from the state dir. */
int container_load(Runtime *rt, const char *id, Container **ret, ErrorBuf *e);
/* The in-memory handle only; the container keeps running. The shim is this process's child while this process
 * lives: the handle reaps it once it exited (get_status/wait/remove/free), so keep the handle of a running container
 * (or exit) to leave no zombie behind. */
Container *container_free(Container *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Container *, container_free)
const char *container_id(const Container *c);

/* Spawns the shim and returns once the entrypoint runs (or fails to start: -errno + the message, and the container
 * is then EXITED with reason StartError). attach_out/attach_err (or -1): the shim copies the raw output there too,
 * for `nodeletctl run` in the foreground. */
int container_start(Container *c, int attach_out, int attach_err, ErrorBuf *e);
/* The same, split for an event loop: begin spawns the shim and returns an fd (owned by c) that becomes readable
 * when the shim answered; then finish() collects the answer without waiting (it gives up after 60 s). */
int container_start_begin(Container *c, int attach_out, int attach_err, int *ret_fd, ErrorBuf *e);
int container_start_finish(Container *c, ErrorBuf *e);
/* A pidfd of the shim, owned by c: readable once the exit record exists. -ESRCH: the shim is already gone. */
int container_exit_fd(Container *c);
int container_get_status(Container *c, ContainerStatus *ret);
/* Blocks until the container has exited (timeout_usec 0 = forever); -ETIMEDOUT. */
int container_wait(Container *c, uint64_t timeout_usec);
/* Sends sig to the entrypoint (pid 1 of its namespace). -ESRCH when it is not running. */
int container_kill(Container *c, int sig);
/* The spec's stop signal, then SIGKILL (which takes the whole pid namespace) after timeout_usec. */
int container_stop(Container *c, uint64_t timeout_usec);
/* Removes a non-running container (force: stops it first): cgroups, upper/work dirs, state. Frees c. */
int container_remove(Container *c, bool force, ErrorBuf *e);
/* The entrypoint's pid, or -ESRCH. */
int container_pid(Container *c, pid_t *ret);
const char *container_log_path(const Container *c);
/* The container's cgroup directories (absolute, one per hierarchy: v1 one per controller, v2 one; NULL-terminated,
 * owned by c) and the cgroup version (1 or 2), for reading its usage (/stats/summary). */
char *const *container_cgroup_dirs(const Container *c, int *ret_version);
/* Makes the shim reopen the log path, for a caller that rotated (renamed) the file itself, as the kubelet's
 * container log manager does (CRI ReopenContainerLog). Asynchronous: the new file appears once the shim did it. */
int container_reopen_log(Container *c);
/* A new fd (O_CLOEXEC, non-blocking) for writing to the running container's stdin: the write end of its stdin pipe,
 * or the pty master with ContainerSpec.tty (then also for exec_pty_resize()). The caller owns it; closing it ends
 * nothing unless the spec had stdin_once: then the shim drops its own copy now, and the process sees EOF once the
 * caller (every caller that got one) closed theirs. Works on re-adopted containers too (the shim holds the fd; it is
 * copied from the shim with pidfd_getfd(), nothing blocks). -ENXIO: created without stdin_open or tty; -EPIPE:
 * stdin_once and its stdin was already closed; -ESRCH: not running. */
int container_attach_stdin(Container *c, int *ret_fd);
/* Whether the container runs on a pty (ContainerSpec.tty). */
bool container_tty(const Container *c);
/* The value of annotation key, NULL when absent. */
const char *container_annotation(const Container *c, const char *key);
/* The entrypoint's argv. */
char *const *container_argv(const Container *c);

/* Exec into a running container: its namespaces, cgroups, user, capabilities, seccomp, env (docs/runtime.md#exec).
 * The process is started without copying the caller's address space (two CLONE_VM|CLONE_VFORK steps: the caller is
 * suspended until the command's execve(), typically well under a millisecond) and becomes a direct child of the
 * caller, in its own process group; it is never visible to waitid(P_ALL) without __WALL and sends no SIGCHLD.
 * Setup failures (container not running, command not found in the container's PATH) are returned at once, before
 * any callback. */
typedef struct ExecSpec {
        char **argv;
        char **env;            /* appended to (and overriding) the container's env */
        uint64_t timeout_usec; /* 0 = none; on timeout the process group is killed and timed_out is set */
        size_t output_max;     /* per stream; 0 = 64 KiB; more is read and discarded */
        bool combine_output;   /* stderr into the stdout buffer, in write order (the kubelet's CombinedOutput) */
} ExecSpec;
typedef struct ExecResult {
        int exit_code; /* 128+signal when killed (137 after a timeout) */
        bool timed_out;
        char *out, *err; /* NUL-terminated; err is empty with combine_output */
        size_t out_size, err_size;
} ExecResult;
void exec_result_done(ExecResult *r);
/* Blocks until the command exited (or timed out). Runs the same code as container_exec_async() on a private loop. */
int container_exec(Container *c, const ExecSpec *spec, ExecResult *ret, ErrorBuf *e);

typedef struct ExecJob ExecJob;
/* r < 0: collecting the result failed (res is then NULL). res is only valid during the call. */
typedef void (*exec_done_t)(int r, const ExecResult *res, void *userdata);
/* Starts spec in c and returns at once; the output pipes, the process's exit (a pidfd) and the timeout are sources
 * on event. Once the process exited, the output it wrote is collected (what a background child writes later is
 * not waited for) and done() runs on the loop, exactly once, unless the job is cancelled first; the job is freed
 * after done() returns. *ret (may be NULL) is a handle for exec_job_cancel(), valid until done() runs. spec and c
 * are not referenced after the call (c may be freed while the job runs). On failure done() is never called. */
int container_exec_async(Container *c, sd_event *event, const ExecSpec *spec, exec_done_t done, void *userdata,
                         ExecJob **ret, ErrorBuf *e);
/* SIGKILLs the process (and its process group) and frees the job without calling done(); the process is reaped
 * on the loop once it is gone. NULL-safe; returns NULL. Not for use from or after done(). */
ExecJob *exec_job_cancel(ExecJob *j);

/* Interactive exec (kubectl exec): spec->argv with the given stdio, which the caller keeps (the process gets
 * copies); stdin_fd < 0 means /dev/null. tty: stdin_fd is a terminal (the slave of exec_pty_open(), usually also
 * stdout_fd and stderr_fd) that becomes the process's controlling terminal in a new session. spec's timeout and
 * output fields are not used. On success the process is the caller's child (exit signal 0, see above): *ret_pidfd
 * turns readable when it exited; exec_process_exit_code() reaps it, exec_process_abandon() kills and reaps it. */
int container_exec_spawn(Container *c, const ExecSpec *spec, int stdin_fd, int stdout_fd, int stderr_fd, bool tty,
                         pid_t *ret_pid, int *ret_pidfd, ErrorBuf *e);
/* Reaps an exited process: its exit code (128+signal when killed); -EAGAIN while it runs. */
int exec_process_exit_code(int pidfd, int *ret);
/* SIGKILLs the process and its group and reaps it on event once it is gone; takes pidfd over. */
void exec_process_abandon(sd_event *event, pid_t pid, int pidfd);
/* A pseudo-terminal allocated on the host: the master (non-blocking) for the caller, the slave for the process. */
int exec_pty_open(int *ret_master, int *ret_slave);
/* TIOCSWINSZ on the master (the resize channel of kubectl exec -t). */
int exec_pty_resize(int master, unsigned width, unsigned height);
