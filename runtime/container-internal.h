/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared between container.c, exec.c and runtime-ctl.c; not part of the API. */

#include <dirent.h>
#include <jansson.h>

#include "runtime/cgroup.h"
#include "runtime/container-config.h"
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
};

bool container_id_valid(const char *id);
int container_read_json(const Container *c, const char *name, json_t **ret);

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
