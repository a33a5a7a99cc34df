/* SPDX-License-Identifier: Apache-2.0 */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

int error_set(ErrorBuf *e, int r, const char *fmt, ...) {
        if (e && !e->msg[0]) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(e->msg, sizeof e->msg, fmt, ap);
                va_end(ap);
        }
        return r < 0 ? r : -EINVAL;
}

int error_prefix(ErrorBuf *e, int r, const char *fmt, ...) {
        if (e) {
                char prefix[256], old[sizeof e->msg];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(prefix, sizeof prefix, fmt, ap);
                va_end(ap);
                memcpy(old, e->msg, sizeof old);
                const char *rest = old[0] ? old : strerror(r < 0 ? -r : EINVAL);
                size_t lp = strlen(prefix), lr = strlen(rest);
                /* Truncate the tail, never the object name in front. */
                if (lp + 2 + lr >= sizeof e->msg)
                        lr = sizeof e->msg - lp - 3;
                memcpy(e->msg, prefix, lp);
                memcpy(e->msg + lp, ": ", 2);
                memcpy(e->msg + lp + 2, rest, lr);
                e->msg[lp + 2 + lr] = 0;
        }
        return r < 0 ? r : -EINVAL;
}

const char *error_message(const ErrorBuf *e, int r) {
        if (e && e->msg[0])
                return e->msg;
        return strerror(r < 0 ? -r : r);
}
