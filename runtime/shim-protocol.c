/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/shim-protocol.h"

#include <stdio.h>

void shim_json_escape(const char *s, char *buf, size_t size) {
        size_t o = 0;
        for (; *s && o + 7 < size; s++) {
                unsigned char ch = (unsigned char) *s;
                if (ch == '"' || ch == '\\') {
                        buf[o++] = '\\';
                        buf[o++] = (char) ch;
                } else if (ch < 0x20)
                        o += (size_t) snprintf(buf + o, size - o, "\\u%04x", ch);
                else
                        buf[o++] = (char) ch;
        }
        if (size > 0)
                buf[o] = 0;
}
