/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Seccomp profiles → BPF with libseccomp, compiled once and cached by content in <state-dir>/seccomp/, so starting
 * a container only reads a few KiB and calls seccomp(2) (the shim never links libseccomp).
 *
 * RuntimeDefault is an allowlist equivalent to containerd's contrib/seccomp/seccomp_default.go: EPERM for anything
 * not listed, capability-dependent extras (CAP_SYS_ADMIN: mount, unshare, setns, …), clone without namespace flags
 * and clone3 answered with ENOSYS (so libc falls back to the filterable clone) unless CAP_SYS_ADMIN. Localhost
 * profiles use the OCI/Docker JSON format: defaultAction, defaultErrnoRet, architectures or archMap, syscalls with
 * names/name, action, errnoRet, args (index, value, valueTwo, op) and Docker's includes/excludes on caps and
 * arches. */

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"

/* The RuntimeDefault profile for a container with capability mask caps, as an OCI JSON document. */
int seccomp_default_profile(uint64_t caps, json_t **ret);
/* Compiles a profile into raw BPF written to fd. */
int seccomp_compile_json(const json_t *profile, uint64_t caps, int fd, ErrorBuf *e);
/* RuntimeDefault (profile_path NULL) or the JSON file at profile_path, compiled and cached under cache_dir; returns
 * the cached BPF file's path. */
int seccomp_prepare(const char *profile_path, uint64_t caps, const char *cache_dir, char **ret_path, ErrorBuf *e);
