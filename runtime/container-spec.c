/* SPDX-License-Identifier: Apache-2.0 */
/* String tables and destructors for the public container types (runtime/container.h). */
#include "runtime/container.h"

#include <strings.h>

static const char *const seccomp_mode_table[_SECCOMP_MODE_MAX] = {
        [SECCOMP_MODE_RUNTIME_DEFAULT] = "RuntimeDefault",
        [SECCOMP_MODE_UNCONFINED] = "Unconfined",
        [SECCOMP_MODE_LOCALHOST] = "Localhost",
};

static const char *const mount_propagation_table[_MOUNT_PROPAGATION_MAX] = {
        [MOUNT_PROPAGATION_PRIVATE] = "rprivate",
        [MOUNT_PROPAGATION_SLAVE] = "rslave",
        [MOUNT_PROPAGATION_SHARED] = "rshared",
};

static const char *const namespace_kind_table[_NAMESPACE_KIND_MAX] = {
        [NAMESPACE_NET] = "net",
        [NAMESPACE_IPC] = "ipc",
        [NAMESPACE_UTS] = "uts",
};

static const char *const container_state_table[_CONTAINER_STATE_MAX] = {
        [CONTAINER_CREATED] = "created",
        [CONTAINER_RUNNING] = "running",
        [CONTAINER_EXITED] = "exited",
        [CONTAINER_UNKNOWN] = "unknown",
};

static int lookup(const char *const *table, int n, const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                if (table[i] && strcasecmp(table[i], s) == 0)
                        return i;
        return -EINVAL;
}

const char *seccomp_mode_to_string(SeccompMode m) {
        return m >= 0 && m < _SECCOMP_MODE_MAX ? seccomp_mode_table[m] : NULL;
}
SeccompMode seccomp_mode_from_string(const char *s) {
        return (SeccompMode) lookup(seccomp_mode_table, _SECCOMP_MODE_MAX, s);
}
const char *mount_propagation_to_string(MountPropagation p) {
        return p >= 0 && p < _MOUNT_PROPAGATION_MAX ? mount_propagation_table[p] : NULL;
}
MountPropagation mount_propagation_from_string(const char *s) {
        return (MountPropagation) lookup(mount_propagation_table, _MOUNT_PROPAGATION_MAX, s);
}
const char *namespace_kind_to_string(NamespaceKind k) {
        return k >= 0 && k < _NAMESPACE_KIND_MAX ? namespace_kind_table[k] : NULL;
}
const char *container_state_to_string(ContainerState s) {
        return s >= 0 && s < _CONTAINER_STATE_MAX ? container_state_table[s] : NULL;
}

void container_spec_done(ContainerSpec *s) {
        if (!s)
                return;
        strv_free(s->lower_dirs);
        free(s->upper_dir);
        free(s->work_dir);
        strv_free(s->argv);
        strv_free(s->env);
        free(s->cwd);
        free(s->user);
        free(s->additional_gids);
        strv_free(s->cap_add);
        strv_free(s->cap_drop);
        free(s->seccomp_profile);
        for (size_t i = 0; i < s->n_rlimits; i++)
                free(s->rlimits[i].name);
        free(s->rlimits);
        free(s->hostname);
        for (size_t i = 0; i < s->n_mounts; i++) {
                free(s->mounts[i].source);
                free(s->mounts[i].destination);
        }
        free(s->mounts);
        for (size_t i = 0; i < _NAMESPACE_KIND_MAX; i++)
                free(s->ns_paths[i]);
        free(s->cgroup_parent);
        free(s->log_path);
        strv_free(s->annotations);
        *s = (ContainerSpec){};
}
