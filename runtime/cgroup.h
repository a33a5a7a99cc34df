/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* cgroups v1 and v2 behind one driver table (cgroup-v1.c, cgroup-v2.c).
 *
 * Every cgroup nodelet creates lives BELOW a base directory, by default "<the caller's own cgroup>/nodelet" in each
 * hierarchy, read from /proc/self/cgroup: nodelet is delegation-friendly and never moves a process out of the cgroup
 * it was started in. A container's cgroup is <base>/<pod parent>/<id>. The shim only attaches pids and reads the OOM
 * counter, so those two helpers take plain paths. */

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "runtime/container.h"

typedef struct CgroupDriver {
        const char *name;
        int version;
        /* The base directory of each hierarchy the driver uses (v1: one per controller, v2: one), and the index of
         * the one holding the memory controller. parent: absolute cgroup path, or relative to the caller's own
         * cgroup in each hierarchy; NULL = "nodelet". */
        int (*bases)(const char *parent, char ***ret_bases, size_t *ret_memory_index);
        /* Called for each directory created below the base's parent, before its children are made (v2: enable the
         * controllers in cgroup.subtree_control). */
        int (*prepare_parent)(const char *dir);
        /* Writes the limits into the container's directory in one hierarchy. */
        int (*apply)(const char *dir, const ContainerResources *res, ErrorBuf *e);
        /* Before apply() on a cgroup that may already have limits (a pod cgroup being updated): lifts those res
         * leaves unset (0) back to the kernel's defaults, and what apply() must raise first (v1: the memory+swap
         * limit, which must never be below the memory limit). Files of other hierarchies are skipped. */
        int (*reset)(const char *dir, const ContainerResources *res, ErrorBuf *e);
        /* Device access: the container's standard devices only, or all when privileged (NULL: not supported). */
        int (*devices)(const char *dir, bool allow_all, ErrorBuf *e);
        /* The memory controller's OOM-kill counter. */
        int (*oom_kills)(const char *memory_dir, uint64_t *ret);
} CgroupDriver;

extern const CgroupDriver cgroup_driver_v1;
extern const CgroupDriver cgroup_driver_v2;

/* v2 when /sys/fs/cgroup is a cgroup2 mount, else v1 (legacy or hybrid). */
const CgroupDriver *cgroup_driver_detect(void);
const CgroupDriver *cgroup_driver_for_version(int version);

/* Rejects values the kernel would refuse or misread, naming the field. */
int cgroup_resources_validate(const ContainerResources *res, ErrorBuf *e);

/* Creates <base>/<rel> in every hierarchy and applies res; on failure removes what it made: the leaf, and up to
 * parent_levels empty parents (see cgroup_destroy()). */
int cgroup_create(const CgroupDriver *d, char **bases, size_t memory_index, const char *rel, unsigned parent_levels,
                  const ContainerResources *res, bool all_devices, char ***ret_dirs, char **ret_memory_dir,
                  ErrorBuf *e);
/* The directories cgroup_create() makes for rel, one per base (ret_dirs, NULL-terminated), before they exist: the
 * container records them before creating them, so that a crash in between leaves nothing it cannot find. */
int cgroup_paths(char **bases, const char *rel, char ***ret_dirs);
/* Creates <base>/<rel> (and missing parents) in every hierarchy, or updates it: the limits of res are written and
 * the ones it leaves unset are lifted. Unlike cgroup_create() nothing is removed on failure (it may be in use). */
int cgroup_ensure(const CgroupDriver *d, char **bases, const char *rel, const ContainerResources *res, ErrorBuf *e);
/* Removes the directories (waiting briefly for exiting tasks), then their empty parents up to (excluding) the
 * base's depth given by keep_levels (levels of rel above the leaf that may be removed when empty). */
int cgroup_destroy(char **dirs, unsigned parent_levels);
/* Moves the calling (single-threaded) process into each directory. Usable between fork and exec. */
int cgroup_attach_self(int version, char *const *dirs);
int cgroup_oom_kills(int version, const char *memory_dir, uint64_t *ret);
/* SIGKILLs every process of the cgroup (the first directory: every hierarchy holds the same processes). */
int cgroup_kill_all(char *const *dirs);

/* Helpers shared by the drivers. */
int cgroup_write(const char *dir, const char *file, const char *value);
int cgroup_self_path(const char *controller, char **ret); /* "memory" → "/process_api/x"; "" → the v2 entry */
