/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between container.c, exec.c and runtime-ctl.c; not part of the API. */

#include <dirent.h>
#include <jansson.h>

#include "runtime/cgroup.h"
#include "runtime/container-config.h"
#include "runtime/container-process.h"
#include "runtime/container.h"

struct Runtime {
        char *state_dir;
        char *containers_dir;
        char *shim_path;
        const CgroupDriver *cgroup;
        char **cgroup_bases;
        size_t cgroup_memory_index;
};

struct Container {
        Runtime *rt;
        char *id;
        ContainerConfig *cfg;
        unsigned parent_levels; /* levels of the pod parent cgroup (removed when empty) */
        pid_t pid, shim_pid;
        int shim_pidfd;
        int start_fd;       /* the shim's answer, while a start is in progress */
        bool shim_is_child; /* spawned by this process: reaped once it exited */
        /* exec.c, filled by the first exec: a pidfd of the entrypoint (all its namespaces in one setns()) and the
         * compiled seccomp filter, kept for the handle's lifetime (a probed container execs every few seconds). */
        int exec_pidfd;
        SeccompFilter exec_filter;
};

bool container_id_valid(const char *id);
/* Levels of cgroup_parent that a container removes with itself when empty: those below the deepest pod cgroup made
 * by runtime_pod_cgroup_apply() (cgroup-pod.c), all of them when there is none. */
unsigned runtime_cgroup_parent_levels(Runtime *rt, const char *cgroup_parent);
int container_read_json(const Container *c, const char *name, json_t **ret);

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
