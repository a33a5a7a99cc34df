/* SPDX-License-Identifier: Apache-2.0 */
/* sd_journal_sendv() for the static nodeletctl, which links no libsystemd (there is no libsystemd.a, and loading
 * the shared one is the start-up cost the static link avoids). common/log.c calls it when our stderr is the
 * journal's stream (a unit runs nodeletctl). This speaks the journal's native protocol
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): one datagram to /run/systemd/journal/socket, fields separated by
 * newlines, a value with a newline in it as NAME, '\n', its little-endian 64-bit length, the value, '\n'. A record
 * too large for one datagram is dropped (the real library passes those in a memfd; ours are at most a few KiB). */
#include <endian.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "common/macro.h"

int sd_journal_sendv(const struct iovec *iov, int n);

int sd_journal_sendv(const struct iovec *iov, int n) {
        if (n <= 0 || n > 64)
                return -EINVAL;
        struct iovec out[5 * 64];
        uint64_t lengths[64];
        static const char nl = '\n';
        size_t k = 0;
        for (int i = 0; i < n; i++) {
                const char *f = iov[i].iov_base, *eq = memchr(f, '=', iov[i].iov_len);
                if (!eq)
                        return -EINVAL;
                size_t name = (size_t) (eq - f), value = iov[i].iov_len - name - 1;
                if (!memchr(eq + 1, '\n', value)) {
                        out[k++] = (struct iovec){(void *) f, iov[i].iov_len};
                        out[k++] = (struct iovec){(void *) &nl, 1};
                        continue;
                }
                lengths[i] = htole64((uint64_t) value);
                out[k++] = (struct iovec){(void *) f, name};
                out[k++] = (struct iovec){(void *) &nl, 1};
                out[k++] = (struct iovec){&lengths[i], sizeof(lengths[i])};
                out[k++] = (struct iovec){(void *) (eq + 1), value};
                out[k++] = (struct iovec){(void *) &nl, 1};
        }
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        static const struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket"};
        struct msghdr mh = {.msg_name = (void *) &sa, .msg_namelen = sizeof(sa), .msg_iov = out, .msg_iovlen = k};
        int r = sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
        safe_close(fd);
        return r;
}
