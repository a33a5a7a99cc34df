/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Image references with the grammar of distribution/reference (what docker, containerd and the kubelet accept):
 *   [domain[:port]/]path-component[/path-component...][:tag][@algorithm:hex]
 * reference_normalize() (declared in image-store.h) produces the fully qualified form; the helpers here split one. */

#include "common/error.h"
#include "common/macro.h"

/* Splits a normalized reference into repository ("docker.io/library/busybox"), tag and digest (either may be NULL
 * when absent). ref must come from reference_normalize(). */
int reference_split(const char *ref, char **ret_repo, char **ret_tag, char **ret_digest);
