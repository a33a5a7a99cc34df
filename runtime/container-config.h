/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The resolved form of a ContainerSpec, as container_create() writes it to <dir>/config.json and nodelet-shim and
 * exec read it back: numbers instead of names (uid/gid, capability mask, rlimit resources), the compiled seccomp
 * filter's path, the absolute cgroup directories. Keeping the shim's input fully resolved keeps the shim small: it
 * needs no libcap, no libseccomp and no passwd parsing. */

#include <stdint.h>

#include "common/error.h"
#include "runtime/container.h"

typedef struct ConfigRlimit {
        int resource;
        uint64_t soft, hard;
} ConfigRlimit;

typedef struct ContainerConfig {
        char *id;
        char *dir; /* <state-dir>/containers/<id>: config.json, state, exit; the rootfs mount point inside the
                    * container's mount namespace */

        char **lower_dirs;
        char *upper_dir, *work_dir;
        bool readonly_rootfs;

        char **argv, **env;
        char *cwd;
        uint32_t uid, gid;
        uint32_t *groups;
        size_t n_groups;
        uint64_t caps; /* bounding = permitted = effective for uid 0 */
        bool privileged, no_new_privs;
        char *seccomp_bpf; /* compiled filter, NULL = unconfined */
        ConfigRlimit *rlimits;
        size_t n_rlimits;

        char *hostname;
        BindMount *mounts;
        size_t n_mounts;
        char *ns_paths[_NAMESPACE_KIND_MAX];

        int cgroup_version;            /* 1 or 2 */
        char **cgroup_dirs;            /* absolute; the shim writes the pid into each cgroup.procs */
        char *cgroup_memory;           /* the memory controller's directory (OOM counter) */
        unsigned cgroup_parent_levels; /* levels of the pod parent above the leaf (removed when empty) */

        int stop_signal;
        char *log_path;
        uint64_t log_max_size;
        unsigned log_max_files;
        size_t log_line_max;
        bool stdin_open, stdin_once, tty; /* ContainerSpec's; the shim keeps the stdin fd (see its state file) */
        uint64_t created_at;
        char **annotations;
} ContainerConfig;

ContainerConfig *container_config_free(ContainerConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ContainerConfig *, container_config_free)
int container_config_format(const ContainerConfig *c, char **ret);
int container_config_parse(const char *text, size_t size, ContainerConfig **ret, ErrorBuf *e);
int container_config_load(const char *dir, ContainerConfig **ret, ErrorBuf *e);

/* Files in the container's directory. */
#define CONTAINER_CONFIG_FILE "config.json"
#define CONTAINER_STATE_FILE "state" /* written by the shim once the entrypoint runs */
#define CONTAINER_EXIT_FILE "exit"   /* written by the shim before it exits */
/* The shim's signal to drop its copy of a stdin_once container's stdin (container_attach_stdin() sends it after it
 * took its own copy). */
#define CONTAINER_STDIN_CLOSE_SIGNAL SIGUSR2

uint64_t now_realtime_ns(void);
