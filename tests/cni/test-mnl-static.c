/* SPDX-License-Identifier: Apache-2.0 */
/* cni/mnl-static.c against Debian's libmnl.so.0, call by call: the same inputs through both, the same bytes, return
 * values and errno out. Messages are built with every attribute kind, nested and batched; parsing and validation
 * run over valid and malformed buffers; the callback runner over acknowledgements, errors, dumps and mismatched
 * sequence numbers and port ids; the socket calls against the kernel's rtnetlink (a link dump needs no privilege).
 *
 * The test links cni/mnl-static.c (the functions under their libmnl names) and dlopen()s the real library: dlsym()
 * on its handle finds the library's own definitions, and since this executable exports nothing, the library's
 * internal calls stay inside the library. */

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

static void *lib;

#define REAL(name) ((__typeof__(&name)) real_sym(#name))

static void *real_sym(const char *name) {
        void *p = dlsym(lib, name);
        ck_assert_msg(p, "libmnl.so.0 has no %s", name);
        return p;
}

static void setup(void) {
        lib = dlopen("libmnl.so.0", RTLD_NOW | RTLD_LOCAL);
        ck_assert_msg(lib, "dlopen libmnl.so.0: %s", dlerror());
        /* Two implementations, not one seen twice. */
        ck_assert_ptr_ne(dlsym(lib, "mnl_attr_put"), (void *) mnl_attr_put);
        ck_assert_ptr_ne(dlsym(lib, "mnl_cb_run"), (void *) mnl_cb_run);
}

static void teardown(void) {
        dlclose(lib);
}

/* One message built by a "builder" given the implementation's functions. */
typedef struct Impl {
        __typeof__(&mnl_nlmsg_put_header) put_header;
        __typeof__(&mnl_nlmsg_put_extra_header) put_extra_header;
        __typeof__(&mnl_attr_put) put;
        __typeof__(&mnl_attr_put_u8) put_u8;
        __typeof__(&mnl_attr_put_u16) put_u16;
        __typeof__(&mnl_attr_put_u32) put_u32;
        __typeof__(&mnl_attr_put_u64) put_u64;
        __typeof__(&mnl_attr_put_str) put_str;
        __typeof__(&mnl_attr_put_strz) put_strz;
        __typeof__(&mnl_attr_nest_start) nest_start;
        __typeof__(&mnl_attr_nest_end) nest_end;
        __typeof__(&mnl_attr_nest_cancel) nest_cancel;
} Impl;

static Impl ours(void) {
        return (Impl){mnl_nlmsg_put_header, mnl_nlmsg_put_extra_header, mnl_attr_put,      mnl_attr_put_u8,
                      mnl_attr_put_u16,     mnl_attr_put_u32,           mnl_attr_put_u64,  mnl_attr_put_str,
                      mnl_attr_put_strz,    mnl_attr_nest_start,        mnl_attr_nest_end, mnl_attr_nest_cancel};
}

static Impl theirs(void) {
        return (Impl){REAL(mnl_nlmsg_put_header), REAL(mnl_nlmsg_put_extra_header), REAL(mnl_attr_put),
                      REAL(mnl_attr_put_u8),      REAL(mnl_attr_put_u16),           REAL(mnl_attr_put_u32),
                      REAL(mnl_attr_put_u64),     REAL(mnl_attr_put_str),           REAL(mnl_attr_put_strz),
                      REAL(mnl_attr_nest_start),  REAL(mnl_attr_nest_end),          REAL(mnl_attr_nest_cancel)};
}

static size_t build(const Impl *m, char *buf, size_t size, int fill) {
        memset(buf, fill, size);
        struct nlmsghdr *nlh = m->put_header(buf);
        nlh->nlmsg_type = 0x0a01;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = 7;
        struct rtgenmsg *g = m->put_extra_header(nlh, sizeof *g + 1); /* odd size: aligned up */
        g->rtgen_family = AF_INET;
        m->put_u8(nlh, 1, 0x11);
        m->put_u16(nlh, 2, 0x2222);
        m->put_u32(nlh, 3, 0x33333333);
        m->put_u64(nlh, 4, 0x4444444455555555ull);
        m->put_str(nlh, 5, "abc"); /* not terminated, padded */
        m->put_strz(nlh, 6, "hello");
        m->put(nlh, 7, 0, NULL);
        static const uint8_t bin[] = {1, 2, 3, 4, 5, 6, 7};
        m->put(nlh, 8, sizeof bin, bin);
        struct nlattr *outer = m->nest_start(nlh, 9);
        m->put_u32(nlh, 1, 1);
        struct nlattr *inner = m->nest_start(nlh, 2);
        m->put_strz(nlh, 1, "x");
        m->nest_end(nlh, inner);
        struct nlattr *dropped = m->nest_start(nlh, 3);
        m->put_u64(nlh, 1, 1);
        m->nest_cancel(nlh, dropped);
        m->nest_end(nlh, outer);
        ck_assert_uint_le(nlh->nlmsg_len, size);
        return nlh->nlmsg_len;
}

START_TEST(test_build_same_bytes) {
        char a[1024], b[1024];
        Impl o = ours(), t = theirs();
        size_t na = build(&o, a, sizeof a, 0), nb = build(&t, b, sizeof b, 0);
        ck_assert_uint_eq(na, nb);
        ck_assert_int_eq(memcmp(a, b, na), 0);
        /* Over stale buffer contents ours zeroes the padding (libmnl 1.0.4 leaves it): only padding differs. */
        na = build(&o, a, sizeof a, 0xa5);
        nb = build(&t, b, sizeof b, 0xa5);
        ck_assert_uint_eq(na, nb);
        for (size_t i = 0; i < na; i++) {
                ck_assert_msg((unsigned char) a[i] != 0xa5, "stale byte at %zu", i);
                ck_assert_msg(a[i] == b[i] || (unsigned char) b[i] == 0xa5, "byte %zu differs", i);
        }
}
END_TEST

/* The walk both parsers make over an attribute stream, recorded. */
typedef struct Trace {
        char log[2048];
        size_t len;
        int stop_at; /* callback returns MNL_CB_STOP at this attribute type, MNL_CB_ERROR at -type */
        __typeof__(&mnl_attr_get_type) get_type;
        __typeof__(&mnl_attr_get_payload_len) get_payload_len;
        __typeof__(&mnl_attr_validate) validate;
        __typeof__(&mnl_attr_type_valid) type_valid;
} Trace;

static int trace_cb(const struct nlattr *a, void *data) {
        Trace *t = data;
        uint16_t type = t->get_type(a);
        errno = 0;
        int v[MNL_TYPE_MAX + 1], e[MNL_TYPE_MAX + 1];
        for (int k = 0; k <= MNL_TYPE_MAX; k++) { /* MNL_TYPE_MAX itself is invalid */
                errno = 0;
                v[k] = t->validate(a, (enum mnl_attr_data_type) k);
                e[k] = errno;
        }
        errno = 0;
        int tv = t->type_valid(a, 6), tve = errno;
        int n = snprintf(t->log + t->len, sizeof t->log - t->len, "[%u %u tv=%d/%d", type, t->get_payload_len(a), tv,
                         tve);
        t->len += (size_t) n;
        for (int k = 0; k <= MNL_TYPE_MAX; k++) {
                n = snprintf(t->log + t->len, sizeof t->log - t->len, " %d/%d", v[k], e[k]);
                t->len += (size_t) n;
        }
        t->len += (size_t) snprintf(t->log + t->len, sizeof t->log - t->len, "]");
        if (t->stop_at && type == t->stop_at)
                return MNL_CB_STOP;
        if (t->stop_at && type == -t->stop_at)
                return MNL_CB_ERROR;
        return MNL_CB_OK;
}

static Trace trace_ours(int stop_at) {
        return (Trace){.stop_at = stop_at,
                       .get_type = mnl_attr_get_type,
                       .get_payload_len = mnl_attr_get_payload_len,
                       .validate = mnl_attr_validate,
                       .type_valid = mnl_attr_type_valid};
}

static Trace trace_theirs(int stop_at) {
        return (Trace){.stop_at = stop_at,
                       .get_type = REAL(mnl_attr_get_type),
                       .get_payload_len = REAL(mnl_attr_get_payload_len),
                       .validate = REAL(mnl_attr_validate),
                       .type_valid = REAL(mnl_attr_type_valid)};
}

static void trace_both(const struct nlmsghdr *nlh, unsigned offset, int stop_at) {
        Trace o = trace_ours(stop_at);
        Trace t = trace_theirs(stop_at);
        int ro = mnl_attr_parse(nlh, offset, trace_cb, &o);
        int rt = REAL(mnl_attr_parse)(nlh, offset, trace_cb, &t);
        ck_assert_int_eq(ro, rt);
        ck_assert_str_eq(o.log, t.log);
}

START_TEST(test_parse_and_validate) {
        char buf[1024];
        Impl o = ours();
        size_t n = build(&o, buf, sizeof buf, 0);
        struct nlmsghdr *nlh = (struct nlmsghdr *) buf;
        Trace all = trace_ours(0);
        ck_assert_int_eq(mnl_attr_parse(nlh, sizeof(struct rtgenmsg) + 1, trace_cb, &all), MNL_CB_OK);
        ck_assert_msg(strstr(all.log, "[9 "), "%s", all.log); /* the walk reached the last attribute */

        /* Whole message, stopping early, failing early. */
        trace_both(nlh, sizeof(struct rtgenmsg) + 1, 0);
        trace_both(nlh, sizeof(struct rtgenmsg) + 1, 4);
        trace_both(nlh, sizeof(struct rtgenmsg) + 1, -5);
        /* An offset past the end: no attributes. */
        Trace none = {.get_type = mnl_attr_get_type};
        ck_assert_int_eq(mnl_attr_parse(nlh, 4096, trace_cb, &none), MNL_CB_OK);
        ck_assert_int_eq(REAL(mnl_attr_parse)(nlh, 4096, trace_cb, &none), MNL_CB_OK);
        ck_assert_uint_eq(none.len, 0);

        /* Nested attributes: the walk of the outer nest, by both. */
        struct nlattr *outer = NULL;
        mnl_attr_for_each(outer, nlh, sizeof(struct rtgenmsg) + 1) if (mnl_attr_get_type(outer) == 9) break;
        ck_assert_ptr_nonnull(outer);
        Trace a = trace_ours(0);
        Trace b = trace_theirs(0);
        ck_assert_int_eq(mnl_attr_parse_nested(outer, trace_cb, &a), REAL(mnl_attr_parse_nested)(outer, trace_cb, &b));
        ck_assert_str_eq(a.log, b.log);

        /* Getters. */
        struct nlattr *at;
        mnl_attr_for_each(at, nlh, sizeof(struct rtgenmsg) + 1) {
                ck_assert_uint_eq(mnl_attr_get_len(at), REAL(mnl_attr_get_len)(at));
                ck_assert_ptr_eq(mnl_attr_get_payload(at), REAL(mnl_attr_get_payload)(at));
                ck_assert_ptr_eq(mnl_attr_next(at), REAL(mnl_attr_next)(at));
                if (mnl_attr_get_payload_len(at) >= 1)
                        ck_assert_uint_eq(mnl_attr_get_u8(at), REAL(mnl_attr_get_u8)(at));
                if (mnl_attr_get_payload_len(at) >= 2)
                        ck_assert_uint_eq(mnl_attr_get_u16(at), REAL(mnl_attr_get_u16)(at));
                if (mnl_attr_get_payload_len(at) >= 4)
                        ck_assert_uint_eq(mnl_attr_get_u32(at), REAL(mnl_attr_get_u32)(at));
                if (mnl_attr_get_payload_len(at) >= 8)
                        ck_assert_uint_eq(mnl_attr_get_u64(at), REAL(mnl_attr_get_u64)(at));
                ck_assert_ptr_eq(mnl_attr_get_str(at), REAL(mnl_attr_get_str)(at));
        }

        /* Malformed streams: every truncation of the message, and attribute lengths that lie. */
        for (size_t cut = MNL_NLMSG_HDRLEN; cut <= n; cut++) {
                nlh->nlmsg_len = (uint32_t) cut;
                Trace x = trace_ours(0);
                Trace y = trace_theirs(0);
                ck_assert_int_eq(mnl_attr_parse(nlh, 0, trace_cb, &x), REAL(mnl_attr_parse)(nlh, 0, trace_cb, &y));
                ck_assert_str_eq(x.log, y.log);
        }
        nlh->nlmsg_len = (uint32_t) n;
        struct nlattr *first = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct rtgenmsg) + 1);
        for (uint16_t lie = 0; lie < 24; lie++) {
                uint16_t saved = first->nla_len;
                first->nla_len = lie;
                for (int len = -1; len < 32; len++)
                        ck_assert_int_eq(mnl_attr_ok(first, len), REAL(mnl_attr_ok)(first, len));
                trace_both(nlh, sizeof(struct rtgenmsg) + 1, 0);
                first->nla_len = saved;
        }
}
END_TEST

START_TEST(test_nlmsg_helpers) {
        char buf[256] = {};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        mnl_nlmsg_put_extra_header(nlh, 5);
        ck_assert_uint_eq(mnl_nlmsg_size(7), REAL(mnl_nlmsg_size)(7));
        ck_assert_uint_eq(mnl_nlmsg_get_payload_len(nlh), REAL(mnl_nlmsg_get_payload_len)(nlh));
        ck_assert_ptr_eq(mnl_nlmsg_get_payload(nlh), REAL(mnl_nlmsg_get_payload)(nlh));
        ck_assert_ptr_eq(mnl_nlmsg_get_payload_offset(nlh, 3), REAL(mnl_nlmsg_get_payload_offset)(nlh, 3));
        ck_assert_ptr_eq(mnl_nlmsg_get_payload_tail(nlh), REAL(mnl_nlmsg_get_payload_tail)(nlh));
        for (uint32_t l = 0; l < 40; l++) {
                nlh->nlmsg_len = l;
                for (int len = -1; len < 48; len++)
                        ck_assert_int_eq(mnl_nlmsg_ok(nlh, len), REAL(mnl_nlmsg_ok)(nlh, len));
                int la = 64, lb = 64;
                ck_assert_ptr_eq(mnl_nlmsg_next(nlh, &la), REAL(mnl_nlmsg_next)(nlh, &lb));
                ck_assert_int_eq(la, lb);
        }
        for (unsigned a = 0; a < 3; a++)
                for (unsigned b = 0; b < 3; b++) {
                        nlh->nlmsg_seq = a;
                        nlh->nlmsg_pid = a;
                        ck_assert_int_eq(mnl_nlmsg_seq_ok(nlh, b), REAL(mnl_nlmsg_seq_ok)(nlh, b));
                        ck_assert_int_eq(mnl_nlmsg_portid_ok(nlh, b), REAL(mnl_nlmsg_portid_ok)(nlh, b));
                }
}
END_TEST

/* A batch filled past its limit, then reset: the same sizes, heads, cursors and bytes from both. */
START_TEST(test_batch) {
        typedef struct {
                __typeof__(&mnl_nlmsg_batch_start) start;
                __typeof__(&mnl_nlmsg_batch_next) next;
                __typeof__(&mnl_nlmsg_batch_stop) stop;
                __typeof__(&mnl_nlmsg_batch_size) size;
                __typeof__(&mnl_nlmsg_batch_reset) reset;
                __typeof__(&mnl_nlmsg_batch_head) head;
                __typeof__(&mnl_nlmsg_batch_current) current;
                __typeof__(&mnl_nlmsg_batch_is_empty) is_empty;
        } B;
        B impls[2] = {
                {mnl_nlmsg_batch_start, mnl_nlmsg_batch_next, mnl_nlmsg_batch_stop, mnl_nlmsg_batch_size,
                 mnl_nlmsg_batch_reset, mnl_nlmsg_batch_head, mnl_nlmsg_batch_current, mnl_nlmsg_batch_is_empty},
                {REAL(mnl_nlmsg_batch_start), REAL(mnl_nlmsg_batch_next), REAL(mnl_nlmsg_batch_stop),
                 REAL(mnl_nlmsg_batch_size), REAL(mnl_nlmsg_batch_reset), REAL(mnl_nlmsg_batch_head),
                 REAL(mnl_nlmsg_batch_current), REAL(mnl_nlmsg_batch_is_empty)},
        };
        char bufs[2][512];
        char log[2][1024];
        for (int k = 0; k < 2; k++) {
                B *b = &impls[k];
                size_t len = 0;
                memset(bufs[k], 0, sizeof bufs[k]);
                struct mnl_nlmsg_batch *batch = b->start(bufs[k], 200);
                ck_assert_ptr_nonnull(batch);
                for (int i = 0; i < 12; i++) {
                        struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->current(batch));
                        nlh->nlmsg_type = (uint16_t) (100 + i);
                        mnl_attr_put(nlh, 1, (size_t) (i * 3), "0123456789012345678901234567890123456789");
                        bool ok = b->next(batch);
                        len += (size_t) snprintf(log[k] + len, sizeof log[k] - len, "%d:%d,%zu,%td,%d ", i, ok,
                                                 b->size(batch), (char *) b->current(batch) - bufs[k],
                                                 b->is_empty(batch));
                        if (!ok) {
                                b->reset(batch);
                                len += (size_t) snprintf(log[k] + len, sizeof log[k] - len, "reset:%zu,%td ",
                                                         b->size(batch), (char *) b->current(batch) - bufs[k]);
                        }
                }
                ck_assert_ptr_eq(b->head(batch), bufs[k]);
                b->reset(batch);
                ck_assert(b->is_empty(batch));
                b->stop(batch);
        }
        ck_assert_str_eq(log[0], log[1]);
        ck_assert_int_eq(memcmp(bufs[0], bufs[1], sizeof bufs[0]), 0);
}
END_TEST

static int count_cb(const struct nlmsghdr *nlh, void *data) {
        int *n = data;
        (*n)++;
        return nlh->nlmsg_type == 0x7777 ? MNL_CB_STOP : nlh->nlmsg_type == 0x6666 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int ctl_cb(const struct nlmsghdr *nlh, void *data) {
        int *n = data;
        *n += 100;
        return nlh->nlmsg_type == NLMSG_DONE ? MNL_CB_STOP : MNL_CB_OK;
}

/* Appends a message; error < 1 makes it an NLMSG_ERROR carrying that error. */
static size_t put_msg(char *buf, size_t off, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid, int error,
                      bool short_error) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + off);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = flags;
        nlh->nlmsg_seq = seq;
        nlh->nlmsg_pid = pid;
        if (type == NLMSG_ERROR) {
                struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, short_error ? 2 : sizeof *e);
                e->error = error;
        } else
                mnl_attr_put_u32(nlh, 1, 42);
        return off + nlh->nlmsg_len;
}

START_TEST(test_cb_run) {
        static const struct {
                uint16_t type, flags;
                uint32_t seq, pid;
                int error;
                bool short_error;
        } kinds[] = {
                {0x100, 0, 5, 9, 0, false},
                {0x7777, 0, 5, 9, 0, false},
                {0x6666, 0, 5, 9, 0, false},
                {NLMSG_NOOP, 0, 5, 9, 0, false},
                {NLMSG_DONE, 0, 5, 9, 0, false},
                {NLMSG_OVERRUN, 0, 5, 9, 0, false},
                {NLMSG_ERROR, 0, 5, 9, 0, false},
                {NLMSG_ERROR, 0, 5, 9, -ENOENT, false},
                {NLMSG_ERROR, 0, 5, 9, EPERM, false},
                {NLMSG_ERROR, 0, 5, 9, -1, true},
                {0x100, 0, 6, 9, 0, false},
                {0x100, 0, 5, 8, 0, false},
                {0x100, NLM_F_DUMP_INTR, 5, 9, 0, false},
                {0x100, 0, 0, 0, 0, false},
                {12, 0, 5, 9, 0, false},
        };
        enum { K = sizeof kinds / sizeof kinds[0] };
        /* Every pair of message kinds, run with tracking on and off, with and without control callbacks. */
        for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) {
                        char buf[512];
                        size_t n = put_msg(buf, 0, kinds[i].type, kinds[i].flags, kinds[i].seq, kinds[i].pid,
                                           kinds[i].error, kinds[i].short_error);
                        n = put_msg(buf, n, kinds[j].type, kinds[j].flags, kinds[j].seq, kinds[j].pid, kinds[j].error,
                                    kinds[j].short_error);
                        for (int track = 0; track < 2; track++)
                                for (int ctl = 0; ctl < 3; ctl++) {
                                        mnl_cb_t ctls[NLMSG_MIN_TYPE] = {[NLMSG_NOOP] = ctl_cb, [NLMSG_DONE] = ctl_cb};
                                        unsigned seq = track ? 5 : 0, pid = track ? 9 : 0;
                                        int ca = 0, cb = 0, ea, eb, ra, rb;
                                        /* The runner may stop before the second message: a cut buffer too. */
                                        size_t len = ctl == 2 ? n - 3 : n;
                                        errno = 0;
                                        ra = ctl == 1 ? mnl_cb_run2(buf, len, seq, pid, count_cb, &ca, ctls,
                                                                    NLMSG_MIN_TYPE)
                                                      : mnl_cb_run(buf, len, seq, pid, count_cb, &ca);
                                        ea = errno;
                                        errno = 0;
                                        rb = ctl == 1 ? REAL(mnl_cb_run2)(buf, len, seq, pid, count_cb, &cb, ctls,
                                                                          NLMSG_MIN_TYPE)
                                                      : REAL(mnl_cb_run)(buf, len, seq, pid, count_cb, &cb);
                                        eb = errno;
                                        ck_assert_msg(ra == rb && ca == cb && (ra >= 0 || ea == eb),
                                                      "kinds %d,%d track %d ctl %d: ours %d/%d/%d, libmnl %d/%d/%d", i,
                                                      j, track, ctl, ra, ca, ea, rb, cb, eb);
                                }
                }
}
END_TEST

static int link_names(const struct nlmsghdr *nlh, void *data) {
        char *names = data;
        struct nlattr *a;
        mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) if (mnl_attr_get_type(a) == IFLA_IFNAME &&
                                                                mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
                strcat(names, mnl_attr_get_str(a));
                strcat(names, " ");
        }
        return MNL_CB_OK;
}

/* The socket calls end to end against the kernel: the same link dump through ours as through ip(8)'s view. */
START_TEST(test_socket_dump) {
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        ck_assert_ptr_nonnull(nl);
        ck_assert_int_ge(mnl_socket_get_fd(nl), 0);
        ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
        ck_assert_uint_ne(mnl_socket_get_portid(nl), 0);
        int one = 1;
        ck_assert_int_eq(mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one), 0);
        socklen_t olen = sizeof one;
        ck_assert_int_eq(mnl_socket_getsockopt(nl, NETLINK_EXT_ACK, &one, &olen), 0);

        char buf[32768];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = 1234;
        struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
        g->rtgen_family = AF_UNSPEC;
        ck_assert_int_eq(mnl_socket_sendto(nl, buf, nlh->nlmsg_len), (ssize_t) nlh->nlmsg_len);
        char names[4096] = "";
        int r;
        do {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
                ck_assert_int_gt(n, 0);
                r = mnl_cb_run(buf, (size_t) n, 1234, mnl_socket_get_portid(nl), link_names, names);
        } while (r > MNL_CB_STOP);
        ck_assert_int_eq(r, MNL_CB_STOP);
        ck_assert_msg(strstr(names, "lo "), "%s", names);

        /* A too small buffer is ENOSPC, not a silently cut message. */
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        g = mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
        g->rtgen_family = AF_UNSPEC;
        ck_assert_int_eq(mnl_socket_sendto(nl, buf, nlh->nlmsg_len), (ssize_t) nlh->nlmsg_len);
        ck_assert_int_eq(mnl_socket_recvfrom(nl, buf, 16), -1);
        ck_assert_int_eq(errno, ENOSPC);
        ck_assert_int_eq(mnl_socket_close(nl), 0);

        struct mnl_socket *bad = mnl_socket_open(-1);
        ck_assert_ptr_null(bad);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("mnl-static");
        TCase *tc = tcase_create("differential");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_build_same_bytes);
        tcase_add_test(tc, test_parse_and_validate);
        tcase_add_test(tc, test_nlmsg_helpers);
        tcase_add_test(tc, test_batch);
        tcase_add_test(tc, test_cb_run);
        tcase_add_test(tc, test_socket_dump);
        suite_add_tcase(s, tc);
        return s;
}

/* Its own runner rather than tests/lib's: that one links nodelet-common and with it the real libmnl, which must only
 * be reached through dlsym() here. */
int main(void) {
        SRunner *sr = srunner_create(suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
