/* SPDX-License-Identifier: Apache-2.0 */
/* The part of libmnl's API that libnftnl and cni/masq.c use, for the statically linked CNI plugins only.
 *
 * Why: the plugins are executed on every pod ADD and DEL, and a static PIE starts ~0.25 ms faster than a dynamically
 * linked one here and makes ADD about 1/5 faster end to end (docs/BENCHMARKS.md). Everything they need exists in
 * Debian as a static archive (libnl-3, libnftnl, jansson, glibc) except libmnl, which Debian ships only as a shared
 * library, while libnftnl calls it for every attribute. The API is small and fixed (the netlink wire format: aligned
 * headers and type-length-value attributes), so the plugins carry this implementation of it, written against
 * <libmnl/libmnl.h> so every prototype is checked, and tested against Debian's libmnl.so.0 call by call
 * (tests/cni/test-mnl-static.c). Everything else in nodelet links the real libmnl. */

#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- messages ---- */

size_t mnl_nlmsg_size(size_t len) {
        return len + MNL_NLMSG_HDRLEN;
}

size_t mnl_nlmsg_get_payload_len(const struct nlmsghdr *nlh) {
        return nlh->nlmsg_len - MNL_NLMSG_HDRLEN;
}

struct nlmsghdr *mnl_nlmsg_put_header(void *buf) {
        struct nlmsghdr *nlh = buf;
        memset(buf, 0, MNL_NLMSG_HDRLEN);
        nlh->nlmsg_len = MNL_NLMSG_HDRLEN;
        return nlh;
}

void *mnl_nlmsg_put_extra_header(struct nlmsghdr *nlh, size_t size) {
        char *p = (char *) nlh + nlh->nlmsg_len;
        size_t len = MNL_ALIGN(size);
        nlh->nlmsg_len += len;
        memset(p, 0, len);
        return p;
}

void *mnl_nlmsg_get_payload(const struct nlmsghdr *nlh) {
        return (char *) nlh + MNL_NLMSG_HDRLEN;
}

void *mnl_nlmsg_get_payload_offset(const struct nlmsghdr *nlh, size_t offset) {
        return (char *) nlh + MNL_NLMSG_HDRLEN + MNL_ALIGN(offset);
}

void *mnl_nlmsg_get_payload_tail(const struct nlmsghdr *nlh) {
        return (char *) nlh + MNL_ALIGN(nlh->nlmsg_len);
}

bool mnl_nlmsg_ok(const struct nlmsghdr *nlh, int len) {
        return len >= (int) sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
               (int) nlh->nlmsg_len <= len;
}

struct nlmsghdr *mnl_nlmsg_next(const struct nlmsghdr *nlh, int *len) {
        *len -= (int) MNL_ALIGN(nlh->nlmsg_len);
        return (struct nlmsghdr *) ((char *) nlh + MNL_ALIGN(nlh->nlmsg_len));
}

/* A zero on either side means "not tracked". */
bool mnl_nlmsg_seq_ok(const struct nlmsghdr *nlh, unsigned int seq) {
        return !nlh->nlmsg_seq || !seq || nlh->nlmsg_seq == seq;
}

bool mnl_nlmsg_portid_ok(const struct nlmsghdr *nlh, unsigned int portid) {
        return !nlh->nlmsg_pid || !portid || nlh->nlmsg_pid == portid;
}

/* ---- batches: messages appended back to back into one buffer; the message that does not fit any more stays
 * at the cursor (the caller's buffer has room for it) and starts the next batch after a reset. ---- */

struct mnl_nlmsg_batch {
        char *buf;
        size_t limit, len;
        char *cur;
        bool overflow;
};

struct mnl_nlmsg_batch *mnl_nlmsg_batch_start(void *buf, size_t limit) {
        struct mnl_nlmsg_batch *b = malloc(sizeof *b);
        if (!b)
                return NULL;
        *b = (struct mnl_nlmsg_batch){.buf = buf, .limit = limit, .cur = buf};
        return b;
}

void mnl_nlmsg_batch_stop(struct mnl_nlmsg_batch *b) {
        free(b);
}

bool mnl_nlmsg_batch_next(struct mnl_nlmsg_batch *b) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->cur;
        if (b->len + nlh->nlmsg_len > b->limit) {
                b->overflow = true;
                return false;
        }
        b->cur = b->buf + b->len + nlh->nlmsg_len;
        b->len += nlh->nlmsg_len;
        return true;
}

void mnl_nlmsg_batch_reset(struct mnl_nlmsg_batch *b) {
        if (b->overflow) {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->cur;
                memmove(b->buf, b->cur, nlh->nlmsg_len);
                b->len = nlh->nlmsg_len;
                b->cur = b->buf + b->len;
                b->overflow = false;
        } else {
                b->len = 0;
                b->cur = b->buf;
        }
}

size_t mnl_nlmsg_batch_size(struct mnl_nlmsg_batch *b) {
        return b->len;
}

void *mnl_nlmsg_batch_head(struct mnl_nlmsg_batch *b) {
        return b->buf;
}

void *mnl_nlmsg_batch_current(struct mnl_nlmsg_batch *b) {
        return b->cur;
}

bool mnl_nlmsg_batch_is_empty(struct mnl_nlmsg_batch *b) {
        return b->len == 0;
}

/* ---- attributes ---- */

uint16_t mnl_attr_get_type(const struct nlattr *attr) {
        return attr->nla_type & NLA_TYPE_MASK;
}

uint16_t mnl_attr_get_len(const struct nlattr *attr) {
        return attr->nla_len;
}

uint16_t mnl_attr_get_payload_len(const struct nlattr *attr) {
        return (uint16_t) (attr->nla_len - MNL_ATTR_HDRLEN);
}

void *mnl_attr_get_payload(const struct nlattr *attr) {
        return (char *) attr + MNL_ATTR_HDRLEN;
}

bool mnl_attr_ok(const struct nlattr *attr, int len) {
        return len >= (int) sizeof(struct nlattr) && attr->nla_len >= sizeof(struct nlattr) &&
               (int) attr->nla_len <= len;
}

struct nlattr *mnl_attr_next(const struct nlattr *attr) {
        return (struct nlattr *) ((char *) attr + MNL_ALIGN(attr->nla_len));
}

int mnl_attr_type_valid(const struct nlattr *attr, uint16_t maxtype) {
        if (mnl_attr_get_type(attr) > maxtype) {
                errno = EOPNOTSUPP;
                return -1;
        }
        return 1;
}

/* Minimum payload length per type; for fixed-size types also the maximum. */
static const size_t type_len[MNL_TYPE_MAX] = {
        [MNL_TYPE_U8] = sizeof(uint8_t),   [MNL_TYPE_U16] = sizeof(uint16_t),   [MNL_TYPE_U32] = sizeof(uint32_t),
        [MNL_TYPE_U64] = sizeof(uint64_t), [MNL_TYPE_MSECS] = sizeof(uint64_t),
};

static int validate(const struct nlattr *attr, enum mnl_attr_data_type type, size_t want) {
        uint16_t len = mnl_attr_get_payload_len(attr);
        const char *data = mnl_attr_get_payload(attr);

        if (len < want)
                goto range;
        switch (type) {
        case MNL_TYPE_FLAG:
                if (len > 0)
                        goto range;
                break;
        case MNL_TYPE_NUL_STRING:
                if (len == 0)
                        goto range;
                if (data[len - 1] != '\0') {
                        errno = EINVAL;
                        return -1;
                }
                break;
        case MNL_TYPE_STRING:
                if (len == 0)
                        goto range;
                break;
        case MNL_TYPE_NESTED:
                /* Empty is fine; otherwise there must be room for at least one attribute header. */
                if (len > 0 && len < MNL_ATTR_HDRLEN)
                        goto range;
                break;
        default:
                break;
        }
        if (want > 0 && len > want)
                goto range;
        return 0;
range:
        errno = ERANGE;
        return -1;
}

int mnl_attr_validate(const struct nlattr *attr, enum mnl_attr_data_type type) {
        if ((unsigned) type >= MNL_TYPE_MAX) {
                errno = EINVAL;
                return -1;
        }
        return validate(attr, type, type_len[type]);
}

int mnl_attr_validate2(const struct nlattr *attr, enum mnl_attr_data_type type, size_t len) {
        if ((unsigned) type >= MNL_TYPE_MAX) {
                errno = EINVAL;
                return -1;
        }
        return validate(attr, type, len);
}

static int parse_range(const char *p, size_t len, mnl_attr_cb_t cb, void *data) {
        int r = MNL_CB_OK;
        for (const struct nlattr *a = (const struct nlattr *) p; mnl_attr_ok(a, (int) (p + len - (const char *) a));
             a = mnl_attr_next(a)) {
                r = cb(a, data);
                if (r <= MNL_CB_STOP)
                        return r;
        }
        return r;
}

int mnl_attr_parse(const struct nlmsghdr *nlh, unsigned int offset, mnl_attr_cb_t cb, void *data) {
        const char *start = mnl_nlmsg_get_payload_offset(nlh, offset);
        const char *end = mnl_nlmsg_get_payload_tail(nlh);
        return end > start ? parse_range(start, (size_t) (end - start), cb, data) : MNL_CB_OK;
}

int mnl_attr_parse_nested(const struct nlattr *nested, mnl_attr_cb_t cb, void *data) {
        return parse_range(mnl_attr_get_payload(nested), mnl_attr_get_payload_len(nested), cb, data);
}

int mnl_attr_parse_payload(const void *payload, size_t payload_len, mnl_attr_cb_t cb, void *data) {
        return parse_range(payload, payload_len, cb, data);
}

uint8_t mnl_attr_get_u8(const struct nlattr *attr) {
        return *(const uint8_t *) mnl_attr_get_payload(attr);
}

uint16_t mnl_attr_get_u16(const struct nlattr *attr) {
        uint16_t v;
        memcpy(&v, mnl_attr_get_payload(attr), sizeof v);
        return v;
}

uint32_t mnl_attr_get_u32(const struct nlattr *attr) {
        uint32_t v;
        memcpy(&v, mnl_attr_get_payload(attr), sizeof v);
        return v;
}

uint64_t mnl_attr_get_u64(const struct nlattr *attr) {
        uint64_t v; /* payloads are only 4-byte aligned */
        memcpy(&v, mnl_attr_get_payload(attr), sizeof v);
        return v;
}

const char *mnl_attr_get_str(const struct nlattr *attr) {
        return mnl_attr_get_payload(attr);
}

void mnl_attr_put(struct nlmsghdr *nlh, uint16_t type, size_t len, const void *data) {
        struct nlattr *attr = mnl_nlmsg_get_payload_tail(nlh);
        size_t attr_len = MNL_ATTR_HDRLEN + len;

        attr->nla_type = type;
        attr->nla_len = (uint16_t) attr_len;
        if (len > 0)
                memcpy(mnl_attr_get_payload(attr), data, len);
        /* Zero the padding, so messages never carry stale buffer contents. */
        memset((char *) mnl_attr_get_payload(attr) + len, 0, MNL_ALIGN(len) - len);
        nlh->nlmsg_len += MNL_ALIGN(attr_len);
}

void mnl_attr_put_u8(struct nlmsghdr *nlh, uint16_t type, uint8_t data) {
        mnl_attr_put(nlh, type, sizeof data, &data);
}

void mnl_attr_put_u16(struct nlmsghdr *nlh, uint16_t type, uint16_t data) {
        mnl_attr_put(nlh, type, sizeof data, &data);
}

void mnl_attr_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t data) {
        mnl_attr_put(nlh, type, sizeof data, &data);
}

void mnl_attr_put_u64(struct nlmsghdr *nlh, uint16_t type, uint64_t data) {
        mnl_attr_put(nlh, type, sizeof data, &data);
}

void mnl_attr_put_str(struct nlmsghdr *nlh, uint16_t type, const char *data) {
        mnl_attr_put(nlh, type, strlen(data), data);
}

void mnl_attr_put_strz(struct nlmsghdr *nlh, uint16_t type, const char *data) {
        mnl_attr_put(nlh, type, strlen(data) + 1, data);
}

struct nlattr *mnl_attr_nest_start(struct nlmsghdr *nlh, uint16_t type) {
        struct nlattr *start = mnl_nlmsg_get_payload_tail(nlh);
        start->nla_type = NLA_F_NESTED | type;
        nlh->nlmsg_len += MNL_ATTR_HDRLEN;
        return start;
}

void mnl_attr_nest_end(struct nlmsghdr *nlh, struct nlattr *start) {
        start->nla_len = (uint16_t) ((char *) mnl_nlmsg_get_payload_tail(nlh) - (char *) start);
}

void mnl_attr_nest_cancel(struct nlmsghdr *nlh, struct nlattr *start) {
        nlh->nlmsg_len -= (uint32_t) ((char *) mnl_nlmsg_get_payload_tail(nlh) - (char *) start);
}

/* ---- callbacks: walk a buffer of messages, data messages to cb_data, control messages to the defaults ---- */

static int cb_noop(const struct nlmsghdr *nlh, void *data) {
        (void) nlh;
        (void) data;
        return MNL_CB_OK;
}

static int cb_stop(const struct nlmsghdr *nlh, void *data) {
        (void) nlh;
        (void) data;
        return MNL_CB_STOP;
}

static int cb_error(const struct nlmsghdr *nlh, void *data) {
        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
        (void) data;
        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr))) {
                errno = EBADMSG;
                return MNL_CB_ERROR;
        }
        /* Subsystems disagree on the sign. An error of 0 is an acknowledgement. */
        errno = err->error < 0 ? -err->error : err->error;
        return err->error == 0 ? MNL_CB_STOP : MNL_CB_ERROR;
}

static const mnl_cb_t default_ctl[NLMSG_MIN_TYPE] = {
        [NLMSG_NOOP] = cb_noop,
        [NLMSG_ERROR] = cb_error,
        [NLMSG_DONE] = cb_stop,
        [NLMSG_OVERRUN] = cb_noop,
};

int mnl_cb_run2(const void *buf, size_t numbytes, unsigned int seq, unsigned int portid, mnl_cb_t cb_data, void *data,
                mnl_cb_t *cb_ctl_array, unsigned int cb_ctl_array_len) {
        const struct nlmsghdr *nlh = buf;
        int len = (int) numbytes, r = MNL_CB_OK;

        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                if (!mnl_nlmsg_portid_ok(nlh, portid)) {
                        errno = ESRCH;
                        return -1;
                }
                if (!mnl_nlmsg_seq_ok(nlh, seq)) {
                        errno = EPROTO;
                        return -1;
                }
                if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
                        errno = EINTR;
                        return -1;
                }
                mnl_cb_t cb = NULL;
                if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
                        cb = cb_data;
                else if (nlh->nlmsg_type < cb_ctl_array_len)
                        cb = cb_ctl_array ? cb_ctl_array[nlh->nlmsg_type] : NULL;
                else
                        cb = default_ctl[nlh->nlmsg_type];
                if (cb) {
                        r = cb(nlh, data);
                        if (r <= MNL_CB_STOP)
                                return r;
                }
        }
        return r;
}

int mnl_cb_run(const void *buf, size_t numbytes, unsigned int seq, unsigned int portid, mnl_cb_t cb_data, void *data) {
        return mnl_cb_run2(buf, numbytes, seq, portid, cb_data, data, NULL, 0);
}

/* ---- sockets ---- */

struct mnl_socket {
        int fd;
        struct sockaddr_nl addr;
};

struct mnl_socket *mnl_socket_open2(int bus, int flags) {
        struct mnl_socket *nl = calloc(1, sizeof *nl);
        if (!nl)
                return NULL;
        nl->fd = socket(AF_NETLINK, SOCK_RAW | flags, bus);
        if (nl->fd < 0) {
                free(nl);
                return NULL;
        }
        return nl;
}

struct mnl_socket *mnl_socket_open(int bus) {
        return mnl_socket_open2(bus, 0);
}

int mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid) {
        socklen_t len = sizeof nl->addr;

        nl->addr = (struct sockaddr_nl){.nl_family = AF_NETLINK, .nl_groups = groups, .nl_pid = (uint32_t) pid};
        if (bind(nl->fd, (struct sockaddr *) &nl->addr, sizeof nl->addr) < 0)
                return -1;
        /* The kernel picked the port id (pid 0): learn it. */
        if (getsockname(nl->fd, (struct sockaddr *) &nl->addr, &len) < 0)
                return -1;
        if (len != sizeof nl->addr || nl->addr.nl_family != AF_NETLINK) {
                errno = EINVAL;
                return -1;
        }
        return 0;
}

int mnl_socket_close(struct mnl_socket *nl) {
        int r = close(nl->fd);
        free(nl);
        return r;
}

int mnl_socket_get_fd(const struct mnl_socket *nl) {
        return nl->fd;
}

unsigned int mnl_socket_get_portid(const struct mnl_socket *nl) {
        return nl->addr.nl_pid;
}

ssize_t mnl_socket_sendto(const struct mnl_socket *nl, const void *req, size_t siz) {
        static const struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
        return sendto(nl->fd, req, siz, 0, (const struct sockaddr *) &kernel, sizeof kernel);
}

ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t siz) {
        struct sockaddr_nl from;
        struct iovec iov = {.iov_base = buf, .iov_len = siz};
        struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = recvmsg(nl->fd, &msg, 0);
        if (n < 0)
                return n;
        if (msg.msg_flags & MSG_TRUNC) {
                errno = ENOSPC;
                return -1;
        }
        if (msg.msg_namelen != sizeof from) {
                errno = EINVAL;
                return -1;
        }
        return n;
}

int mnl_socket_setsockopt(const struct mnl_socket *nl, int type, void *buf, socklen_t len) {
        return setsockopt(nl->fd, SOL_NETLINK, type, buf, len);
}

int mnl_socket_getsockopt(const struct mnl_socket *nl, int type, void *buf, socklen_t *len) {
        return getsockopt(nl->fd, SOL_NETLINK, type, buf, len);
}
