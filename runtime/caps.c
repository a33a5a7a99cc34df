/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/caps.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <sys/capability.h>

#include "common/macro.h"

uint64_t caps_default(void) {
        static const int def[] = {
                CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
                CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
                CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                CAP_KILL,    CAP_AUDIT_WRITE,
        };
        uint64_t m = 0;
        for (size_t i = 0; i < ELEMENTSOF(def); i++)
                m |= UINT64_C(1) << def[i];
        return m;
}

uint64_t caps_all(void) {
        uint64_t m = 0;
        for (int c = 0; c <= CAP_LAST_CAP; c++)
                m |= UINT64_C(1) << c;
        return m;
}

int caps_from_name(const char *name, int *ret) {
        char buf[64];
        const char *n = name;
        if (strncasecmp(n, "CAP_", 4) == 0)
                n += 4;
        int l = snprintf(buf, sizeof(buf), "cap_%s", n);
        if (l < 0 || (size_t) l >= sizeof(buf) || !*n)
                return -EINVAL;
        for (char *p = buf; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        cap_value_t v;
        if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool has_all(char *const *l) {
        for (char *const *i = l; i && *i; i++)
                if (strcasecmp(*i, "ALL") == 0 || strcasecmp(*i, "CAP_ALL") == 0)
                        return true;
        return false;
}

static int apply(char *const *l, const char *field, uint64_t *m, bool add, ErrorBuf *e) {
        for (char *const *i = l; i && *i; i++) {
                if (strcasecmp(*i, "ALL") == 0 || strcasecmp(*i, "CAP_ALL") == 0)
                        continue;
                int c;
                if (caps_from_name(*i, &c) < 0)
                        return error_set(e, -EINVAL, "%s: unknown capability \"%s\"", field, *i);
                if (add)
                        *m |= UINT64_C(1) << c;
                else
                        *m &= ~(UINT64_C(1) << c);
        }
        return 0;
}

int caps_compute(bool privileged, char *const *add, char *const *drop, uint64_t *ret, ErrorBuf *e) {
        uint64_t m = privileged ? caps_all() : caps_default();
        if (has_all(add))
                m = caps_all();
        if (has_all(drop))
                m = 0;
        int r = apply(add, "capabilities.add", &m, true, e);
        if (r < 0)
                return r;
        r = apply(drop, "capabilities.drop", &m, false, e);
        if (r < 0)
                return r;
        /* Like containerd: a privileged container gets every capability whatever add/drop say. */
        *ret = privileged ? caps_all() : m;
        return 0;
}
