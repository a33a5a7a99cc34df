/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Error messages for bad input. Functions still return a negative errno; when the caller wants to tell an operator
 * *what* was wrong (which object, which field), it passes an ErrorBuf that the failing function fills. ErrorBuf may
 * be NULL everywhere. The first message set wins: outer layers add context with error_prefix(). */

#include "common/macro.h"

typedef struct ErrorBuf {
        char msg[1024];
} ErrorBuf;

/* Formats into e (when e is not NULL and still empty) and returns r, which must be negative. */
int error_set(ErrorBuf *e, int r, const char *fmt, ...) _printf_(3, 4);
/* Prepends "prefix: " to the existing message (e.g. the object name), keeping r. */
int error_prefix(ErrorBuf *e, int r, const char *fmt, ...) _printf_(3, 4);
/* The message, or strerror(-r) when nothing more specific was set. */
const char *error_message(const ErrorBuf *e, int r);
static inline void error_clear(ErrorBuf *e) {
        if (e)
                e->msg[0] = 0;
}
