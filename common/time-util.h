/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Clock readings in microseconds, the unit of sd-event and of every timeout in nodelet. Code on an sd-event loop
 * uses sd_event_now() instead (one reading per iteration, and tests can drive it); this is for everything else. */

#include <stdint.h>
#include <time.h>

#include "common/macro.h"

static inline uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        if (clock_gettime(clock, &ts) < 0)
                return 0; /* only for an invalid clock id: a programming error */
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}
