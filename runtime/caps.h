/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Capability sets as 64-bit masks (bit n = capability n). Names are parsed with libcap; the container side applies
 * masks with capset(2) directly (process.c), so the shim does not need libcap. */

#include <stdint.h>

#include "common/error.h"

/* containerd's default set for containers (pkg/oci/spec.go), the one Kubernetes users expect. */
uint64_t caps_default(void);
uint64_t caps_all(void);
/* "CAP_CHOWN", "chown", "CHOWN" → 0. */
int caps_from_name(const char *name, int *ret);
/* Kubernetes/containerd semantics: start from the default (all when privileged); "ALL" in add gives all, "ALL" in
 * drop clears; then the named adds, then the named drops. Unknown names are errors naming the field. */
int caps_compute(bool privileged, char *const *add, char *const *drop, uint64_t *ret, ErrorBuf *e);
