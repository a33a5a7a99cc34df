/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* IPAM delegation (SPEC.md "Delegated plugin protocol"): the calling plugin executes the plugin named in ipam.type,
 * found in CNI_PATH, with its own environment (CNI_COMMAND possibly replaced, e.g. DEL to roll back a failed ADD)
 * and the very same configuration on stdin, and takes its result or error as its own. */

#include "cni/skel.h"

/* Finds `type` in the colon-separated search path; -ENOENT when absent, -EINVAL for names with a '/'. */
int cni_find_plugin(const char *type, const char *search_path, char **ret_path);

/* ret_result may be NULL (DEL, CHECK, GC, STATUS print nothing on success). Errors printed by the delegate are
 * copied into e with their code. */
int cni_delegate(const char *type, CniCommand cmd, const CniArgs *a, json_t **ret_result, CniError *e);

/* The same in two halves, so the caller can do its own work while the delegate runs (nodelet-bridge creates the
 * veth pair while IPAM allocates). start() spawns and hands over stdin; finish() collects and reaps. A started
 * delegate must be finished, also on the caller's error paths. */
typedef struct CniDelegate {
        pid_t pid;
        int out_fd;
        const char *type;
        /* A built-in delegate ran in-process in start(); finish() hands its outcome over. */
        bool builtin;
        CniArgs args;
        int builtin_r;
        json_t *builtin_result;
        CniError builtin_error;
} CniDelegate;

/* nodelet's own IPAM plugin is also linked into nodelet-bridge: when ipam.type is "nodelet-ipam" and that plugin is
 * installed in CNI_PATH, the delegate runs in-process (same code, same lease files and locks as the executable),
 * which saves a fork and an exec on every ADD and DEL. Any other type is executed per spec. */
const CniPlugin *cni_builtin_delegate(const char *type);

int cni_delegate_start(const char *type, CniCommand cmd, const CniArgs *a, CniDelegate *ret, CniError *e);
int cni_delegate_finish(CniDelegate *d, json_t **ret_result, CniError *e);
