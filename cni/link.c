/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/link.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <sys/ioctl.h>
#include <stdio.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_route *, rtnl_route_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free)

int nl_to_errno(int nle) {
        switch (nle < 0 ? -nle : nle) {
        case 0:
                return 0;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
                return -ENODEV;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
                return -EPERM;
        case NLE_BUSY:
                return -EBUSY;
        case NLE_INVAL:
                return -EINVAL;
        case NLE_RANGE:
                return -ERANGE;
        case NLE_NOADDR:
                return -EADDRNOTAVAIL;
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        case NLE_AGAIN:
                return -EAGAIN;
        default:
                return -EIO;
        }
}

int nl_open(struct nl_sock **ret) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
        if (!sk)
                return -ENOMEM;
        /* libnl opens its socket with SOCK_CLOEXEC. */
        int r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return nl_to_errno(r);
        *ret = TAKE_PTR(sk);
        return 0;
}

int nl_open_in_netns(int ns_fd, int self_fd, struct nl_sock **ret) {
        _cleanup_close_ int opened = -EBADF;
        int self = self_fd, r;

        if (self < 0) {
                self = opened = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
                if (self < 0)
                        return -errno;
        }
        if (setns(ns_fd, CLONE_NEWNET) < 0)
                return -errno;
        r = nl_open(ret);
        /* A socket stays in the namespace it was created in; going back cannot fail unless the kernel is broken,
         * and we must not continue in the wrong namespace. */
        if (setns(self, CLONE_NEWNET) < 0)
                abort();
        return r;
}

int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret) {
        return nl_to_errno(rtnl_link_get_kernel(sk, 0, name, ret));
}

int bridge_ensure(struct nl_sock *sk, const char *name, uint32_t mtu, struct rtnl_link **ret, bool *ret_created) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        bool created = false;
        int r;

        r = link_get(sk, name, &link);
        if (r == -ENODEV) {
                _cleanup_(rtnl_link_putp) struct rtnl_link *b = rtnl_link_bridge_alloc();
                if (!b)
                        return -ENOMEM;
                rtnl_link_set_name(b, name);
                if (mtu > 0)
                        rtnl_link_set_mtu(b, mtu);
                rtnl_link_set_flags(b, IFF_UP);
                r = nl_to_errno(rtnl_link_add(sk, b, NLM_F_CREATE | NLM_F_EXCL));
                if (r < 0 && r != -EEXIST) /* EEXIST: a concurrent ADD won the race, fine */
                        return r;
                created = r >= 0;
                r = link_get(sk, name, &link);
        }
        if (r < 0)
                return r;
        if (!streq_ptr(rtnl_link_get_type(link), "bridge"))
                return -ENOTTY;
        if (!(rtnl_link_get_flags(link) & IFF_UP)) {
                r = link_set_up(sk, link);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(link);
        *ret_created = created;
        return 0;
}

int bridge_has_ports(struct nl_sock *sk, int bridge_index) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int r = nl_to_errno(rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache));
        if (r < 0)
                return r;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
                if (rtnl_link_get_master((struct rtnl_link *) o) == bridge_index)
                        return 1;
        return 0;
}

int veth_create(struct nl_sock *sk, const char *host_name, const char *pod_name, int pod_ns_fd, int bridge_index,
                uint32_t mtu) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *veth = rtnl_link_veth_alloc();
        struct rtnl_link *peer;

        if (!veth)
                return -ENOMEM;
        peer = rtnl_link_veth_get_peer(veth);
        rtnl_link_set_name(veth, host_name);
        rtnl_link_set_master(veth, bridge_index);
        rtnl_link_set_flags(veth, IFF_UP);
        rtnl_link_set_name(peer, pod_name);
        rtnl_link_set_ns_fd(peer, pod_ns_fd);
        if (mtu > 0) {
                rtnl_link_set_mtu(veth, mtu);
                rtnl_link_set_mtu(peer, mtu);
        }
        int r = nl_to_errno(rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL));
        rtnl_link_put(peer);
        return r;
}

int link_index_mac(struct nl_sock *sk, const char *name, int *ret_index, char *ret_mac) {
        /* Two ioctls on the netlink socket (they act in the socket's namespace) instead of an RTM_GETLINK whose
         * 2 KiB answer libnl would parse into an object. */
        struct ifreq ifr = {};
        int fd = nl_socket_get_fd(sk);

        if (strlen(name) >= sizeof ifr.ifr_name)
                return -EINVAL;
        strncpy(ifr.ifr_name, name, sizeof ifr.ifr_name - 1);
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
                return -errno;
        if (ret_index)
                *ret_index = ifr.ifr_ifindex;
        if (ret_mac) {
                if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
                        return -errno;
                const uint8_t *m = (const uint8_t *) ifr.ifr_hwaddr.sa_data;
                snprintf(ret_mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        }
        return 0;
}

int link_set_up_index(struct nl_sock *sk, int ifindex) {
        /* Bringing a veth peer up in the creating RTM_NEWLINK fails (ENOTCONN: the pair is linked only after the
         * peer is configured), so this is a request of its own. */
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc(), *change = rtnl_link_alloc();
        if (!link || !change)
                return -ENOMEM;
        rtnl_link_set_ifindex(link, ifindex);
        rtnl_link_set_flags(change, IFF_UP);
        return nl_to_errno(rtnl_link_change(sk, link, change, 0));
}

int link_set_up(struct nl_sock *sk, struct rtnl_link *link) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
        if (!change)
                return -ENOMEM;
        rtnl_link_set_flags(change, IFF_UP);
        return nl_to_errno(rtnl_link_change(sk, link, change, 0));
}

int link_delete(struct nl_sock *sk, const char *name) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();
        if (!link)
                return -ENOMEM;
        rtnl_link_set_name(link, name);
        return nl_to_errno(rtnl_link_delete(sk, link));
}

int bridge_port_set_hairpin(struct nl_sock *sk, int ifindex, bool on) {
        /* IFLA_BRPORT_MODE in IFLA_PROTINFO of an AF_BRIDGE RTM_SETLINK: what `ip link set X type bridge_slave
         * hairpin on` sends; sysfs would show the wrong namespace's devices inside a container. */
        _cleanup_(nlmsg_freep) struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
        struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = ifindex};
        struct nlattr *nest;

        if (!msg || nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0)
                return -ENOMEM;
        nest = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
        if (!nest || nla_put_u8(msg, IFLA_BRPORT_MODE, on ? 1 : 0) < 0)
                return -ENOMEM;
        nla_nest_end(msg, nest);
        int r = nl_send_sync(sk, TAKE_PTR(msg)); /* frees msg */
        return nl_to_errno(r);
}

static int make_addr(const InAddr *ip, unsigned len, struct nl_addr **ret) {
        struct nl_addr *a = nl_addr_build(ip->family, ip->bytes, in_addr_size(ip));
        if (!a)
                return -ENOMEM;
        nl_addr_set_prefixlen(a, (int) len);
        *ret = a;
        return 0;
}

int addr_add(struct nl_sock *sk, int ifindex, const InPrefix *p) {
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *addr = rtnl_addr_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *local = NULL;
        int r;

        if (!addr)
                return -ENOMEM;
        r = make_addr(&p->addr, p->len, &local);
        if (r < 0)
                return r;
        rtnl_addr_set_ifindex(addr, ifindex);
        r = nl_to_errno(rtnl_addr_set_local(addr, local));
        if (r < 0)
                return r;
        if (p->addr.family == AF_INET6)
                rtnl_addr_set_flags(addr, IFA_F_NODAD);
        r = nl_to_errno(rtnl_addr_add(sk, addr, 0));
        return r == -EEXIST ? 0 : r;
}

int route_add(struct nl_sock *sk, int ifindex, const InPrefix *dst, const InAddr *gw) {
        _cleanup_(rtnl_route_putp) struct rtnl_route *route = rtnl_route_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *d = NULL, *g = NULL;
        struct rtnl_nexthop *nh;
        int family = dst ? dst->addr.family : gw->family;
        int r;

        if (!route)
                return -ENOMEM;
        if (dst) {
                InAddr net = in_prefix_first(dst);
                r = make_addr(&net, dst->len, &d);
        } else {
                InAddr any = {.family = family};
                r = make_addr(&any, 0, &d);
        }
        if (r < 0)
                return r;
        rtnl_route_set_family(route, (uint8_t) family);
        rtnl_route_set_table(route, RT_TABLE_MAIN);
        rtnl_route_set_protocol(route, RTPROT_BOOT);
        rtnl_route_set_scope(route, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
        r = nl_to_errno(rtnl_route_set_dst(route, d));
        if (r < 0)
                return r;
        nh = rtnl_route_nh_alloc();
        if (!nh)
                return -ENOMEM;
        rtnl_route_nh_set_ifindex(nh, ifindex);
        if (gw) {
                r = make_addr(gw, in_addr_size(gw) * 8, &g);
                if (r < 0) {
                        rtnl_route_nh_free(nh);
                        return r;
                }
                rtnl_route_nh_set_gateway(nh, g);
        }
        rtnl_route_add_nexthop(route, nh); /* route owns nh now */
        r = nl_to_errno(rtnl_route_add(sk, route, NLM_F_EXCL));
        return r == -EEXIST ? 0 : r;
}

int addr_has(struct nl_sock *sk, int ifindex, const InPrefix *p) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int r = nl_to_errno(rtnl_addr_alloc_cache(sk, &cache));
        if (r < 0)
                return r;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;
                struct nl_addr *local = rtnl_addr_get_local(a);
                if (rtnl_addr_get_ifindex(a) != ifindex || !local || nl_addr_get_family(local) != p->addr.family)
                        continue;
                if ((unsigned) nl_addr_get_prefixlen(local) == p->len &&
                    nl_addr_get_len(local) == in_addr_size(&p->addr) &&
                    memcmp(nl_addr_get_binary_addr(local), p->addr.bytes, in_addr_size(&p->addr)) == 0)
                        return 1;
        }
        return 0;
}

int route_has(struct nl_sock *sk, int ifindex, const InPrefix *dst) {
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        InAddr net = in_prefix_first(dst);
        int r = nl_to_errno(rtnl_route_alloc_cache(sk, dst->addr.family, 0, &cache));
        if (r < 0)
                return r;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_route *rt = (struct rtnl_route *) o;
                struct nl_addr *d = rtnl_route_get_dst(rt);
                if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || !d || (unsigned) nl_addr_get_prefixlen(d) != dst->len)
                        continue;
                /* A default route has an empty destination address. */
                if (dst->len > 0 && (nl_addr_get_len(d) != in_addr_size(&net) ||
                                     memcmp(nl_addr_get_binary_addr(d), net.bytes, in_addr_size(&net)) != 0))
                        continue;
                for (int i = 0; i < rtnl_route_get_nnexthops(rt); i++)
                        if (rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(rt, i)) == ifindex)
                                return 1;
        }
        return 0;
}

const char *link_mac(struct rtnl_link *link, char buf[static 18]) {
        struct nl_addr *a = rtnl_link_get_addr(link);
        buf[0] = 0;
        if (a && nl_addr_get_len(a) == 6) {
                const uint8_t *m = nl_addr_get_binary_addr(a);
                snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        }
        return buf;
}

/* Two raw rtnetlink sockets inside the namespace: one that hears link notifications, one for the deleting child. */
static int netns_sockets(int ns_fd, int *ret_watch, int *ret_del) {
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int watch = -EBADF, del = -EBADF;
        int r = 0;

        if (self < 0)
                return -errno;
        if (setns(ns_fd, CLONE_NEWNET) < 0)
                return -errno;
        watch = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        del = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (watch < 0 || del < 0)
                r = -errno;
        if (setns(self, CLONE_NEWNET) < 0)
                abort(); /* see nl_open_in_netns() */
        if (r < 0)
                return r;
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
        if (bind(watch, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        *ret_watch = TAKE_FD(watch);
        *ret_del = TAKE_FD(del);
        return 0;
}

static int ifindex_of(int fd, const char *name) {
        struct ifreq ifr = {};
        if (strlen(name) >= sizeof ifr.ifr_name)
                return -EINVAL;
        strncpy(ifr.ifr_name, name, sizeof ifr.ifr_name - 1);
        return ioctl(fd, SIOCGIFINDEX, &ifr) < 0 ? -errno : ifr.ifr_ifindex;
}

/* The child: one RTM_DELLINK, its answer (which comes only after the kernel's teardown) into the status pipe. */
_noreturn_ static void delete_child(int del_fd, int status_fd, int ifindex) {
        struct {
                struct nlmsghdr h;
                struct ifinfomsg i;
        } req = {
                .h = {.nlmsg_len = sizeof req,
                      .nlmsg_type = RTM_DELLINK,
                      .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
                      .nlmsg_seq = 1},
                .i = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
        };
        union {
                struct nlmsghdr h;
                char buf[4096];
        } ack;
        int err = -EIO;

        /* Nothing of the plugin's may stay open here: the runtime reads our stdout until EOF. The two fds we keep
         * go to 3 and 4 by way of high numbers, so that neither can overwrite the other on the way. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        int d = fcntl(del_fd, F_DUPFD, 10), st = fcntl(status_fd, F_DUPFD, 10);
        if (null < 0 || d < 0 || st < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0 || dup2(d, 3) < 0 || dup2(st, 4) < 0)
                _exit(1);
        (void) close_range(5, ~0U, 0);
        (void) setsid();
        /* The caller may be gone before we report: a closed pipe is no reason to die. */
        (void) signal(SIGPIPE, SIG_IGN);
        if (send(3, &req, sizeof req, 0) == (ssize_t) sizeof req) {
                ssize_t n = recv(3, &ack, sizeof ack, 0);
                if (n >= (ssize_t) NLMSG_LENGTH(sizeof(struct nlmsgerr)) && ack.h.nlmsg_type == NLMSG_ERROR)
                        err = ((struct nlmsgerr *) NLMSG_DATA(&ack.h))->error;
        } else
                err = -errno;
        (void) (write(4, &err, sizeof err) < 0);
        _exit(0);
}

/* 1 when buf holds an RTM_DELLINK of ifindex. */
static int saw_dellink(const char *buf, ssize_t n, int ifindex) {
        for (const struct nlmsghdr *h = (const struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n))
                if (h->nlmsg_type == RTM_DELLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg)) &&
                    ((const struct ifinfomsg *) NLMSG_DATA(h))->ifi_index == ifindex)
                        return 1;
        return 0;
}

int link_delete_detached(int ns_fd, const char *name, int timeout_ms) {
        _cleanup_close_ int watch = -EBADF, del = -EBADF, status_r = -EBADF, status_w = -EBADF;
        int r, p[2];

        r = netns_sockets(ns_fd, &watch, &del);
        if (r < 0)
                return r;
        int ifindex = ifindex_of(watch, name);
        if (ifindex < 0)
                return ifindex;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        status_r = p[0], status_w = p[1];
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                delete_child(del, status_w, ifindex);
        status_w = safe_close(status_w);
        del = safe_close(del);

        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        for (;;) {
                struct pollfd pfd[2] = {{.fd = watch, .events = POLLIN}, {.fd = status_r, .events = POLLIN}};
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                long left = (deadline.tv_sec - now.tv_sec) * 1000L + (deadline.tv_nsec - now.tv_nsec) / 1000000L;
                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(pfd, 2, (int) left) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (pfd[0].revents) {
                        char buf[8192];
                        ssize_t n;
                        while ((n = recv(watch, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                                if (saw_dellink(buf, n, ifindex))
                                        return 0;
                        /* Missed notifications (ENOBUFS): ask the kernel instead. The index is gone from the
                         * namespace once the device is unlisted. */
                        if (n < 0 && errno == ENOBUFS && ifindex_of(watch, name) != ifindex)
                                return 0;
                }
                if (pfd[1].revents) {
                        int err;
                        ssize_t n = read(status_r, &err, sizeof err);
                        if (n == (ssize_t) sizeof err)
                                return err == -ENODEV ? 0 : err;
                        /* The child died without a word: the link tells. */
                        return ifindex_of(watch, name) == ifindex ? -EIO : 0;
                }
        }
}
