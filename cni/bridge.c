/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/bridge.h"

#include <fcntl.h>
#include <linux/if.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>

#include "cni/delegate.h"
#include "common/in-addr.h"
#include "cni/link.h"
#include "cni/masq.h"
#include "common/fileio.h"
#include "common/json-util.h"

/* Plugin-specific error code (SPEC.md allows 100+): CHECK found the interfaces differ from the ADD result. */
#define CNI_ERR_CHECK_MISMATCH 100

typedef struct BridgeConfig {
        const char *bridge;
        bool is_gateway, is_default_gateway, ip_masq, hairpin;
        uint32_t mtu;
        json_t *ipam; /* borrowed */
        const char *ipam_type;
        json_t *dns; /* borrowed */
} BridgeConfig;

static int config_parse(const CniArgs *a, BridgeConfig *c, CniError *e) {
        ErrorBuf eb = {};
        int64_t mtu = 0;
        bool force = false, promisc = false;

        c->bridge = CNI_BRIDGE_DEFAULT_NAME;
        if (jx_get_string(a->conf, "bridge", "", false, &c->bridge, &eb) < 0 ||
            jx_get_bool(a->conf, "isGateway", "", false, &c->is_gateway, &eb) < 0 ||
            jx_get_bool(a->conf, "isDefaultGateway", "", false, &c->is_default_gateway, &eb) < 0 ||
            jx_get_bool(a->conf, "ipMasq", "", false, &c->ip_masq, &eb) < 0 ||
            jx_get_bool(a->conf, "hairpinMode", "", false, &c->hairpin, &eb) < 0 ||
            jx_get_bool(a->conf, "forceAddress", "", false, &force, &eb) < 0 ||
            jx_get_bool(a->conf, "promiscMode", "", false, &promisc, &eb) < 0 ||
            jx_get_int(a->conf, "mtu", "", false, 0, 65535, &mtu, &eb) < 0 ||
            jx_get_object(a->conf, "ipam", "", false, &c->ipam, &eb) < 0 ||
            jx_get_object(a->conf, "dns", "", false, &c->dns, &eb) < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s", eb.msg);
        if (c->ipam && jx_get_string(c->ipam, "type", "ipam", true, &c->ipam_type, &eb) < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s", eb.msg);
        if (!cni_ifname_valid(c->bridge))
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "bridge: invalid interface name \"%s\"", c->bridge);
        if (promisc)
                return cni_error(e, CNI_ERR_UNSUPPORTED_FIELD, "promiscMode is not supported by nodelet-bridge");
        /* Like the reference: a default gateway needs the gateway address on the bridge. */
        if (c->is_default_gateway)
                c->is_gateway = true;
        c->mtu = (uint32_t) mtu;
        return 0;
}

/* One address of the IPAM result. */
typedef struct IpConf {
        InPrefix addr;
        InAddr gateway;
        bool has_gateway;
} IpConf;

static int parse_ips(const json_t *result, IpConf **ret, size_t *ret_n, CniError *e) {
        json_t *ips = json_object_get(result, "ips"), *v;
        size_t i;

        _cleanup_free_ IpConf *l = calloc(json_array_size(ips) + 1, sizeof(IpConf));
        if (!l)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        json_array_foreach (ips, i, v) {
                const char *addr = json_string_value(json_object_get(v, "address"));
                const char *gw = json_string_value(json_object_get(v, "gateway"));
                if (in_prefix_parse(addr, IN_PARSE_UNMAP_V4, &l[i].addr) < 0)
                        return cni_error(e, CNI_ERR_DECODE, "IPAM result: invalid ips[%zu].address \"%s\"", i,
                                         strempty(addr));
                if (gw) {
                        if (in_addr_parse(gw, IN_PARSE_UNMAP_V4, &l[i].gateway) < 0)
                                return cni_error(e, CNI_ERR_DECODE, "IPAM result: invalid ips[%zu].gateway \"%s\"", i,
                                                 gw);
                        l[i].has_gateway = true;
                }
        }
        *ret = TAKE_PTR(l);
        *ret_n = i;
        return 0;
}

static int open_netns(const char *path, int *ret, CniError *e) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cni_error(e, errno == ENOENT ? CNI_ERR_UNKNOWN_CONTAINER : CNI_ERR_IO,
                                 "failed to open netns \"%s\": %s", path, strerror(errno));
        *ret = fd;
        return 0;
}

/* Serializes bridge creation and gateway addresses between concurrent invocations. The lock is taken on the
 * network namespace file (nsfs) the bridge lives in: exactly the right scope (two hosts' namespaces never contend),
 * and unlike a file under /run nothing is left behind and no directory has to exist first. */
static int lock_bridge(int *ret) {
        int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        *ret = fd;
        return 0;
}

/* The reference enables forwarding when the bridge is a gateway; write only when it is off. */
static void enable_forwarding(int family) {
        const char *path =
                family == AF_INET ? "/proc/sys/net/ipv4/ip_forward" : "/proc/sys/net/ipv6/conf/all/forwarding";
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        char c = 0;
        if (fd >= 0 && read(fd, &c, 1) == 1 && c == '0')
                (void) (pwrite(fd, "1", 1, 0) < 0);
}

static json_t *iface_json(const char *name, const char *mac, const char *sandbox) {
        json_t *j = json_pack("{s:s, s:s}", "name", name, "mac", mac);
        if (j && sandbox)
                (void) json_object_set_new(j, "sandbox", json_string(sandbox));
        return j;
}

typedef struct AddState {
        const CniArgs *a;
        BridgeConfig c;
        json_t *ipam_result;
        IpConf *ips;
        size_t n_ips;
        int ns_fd, lock_fd;
        struct nl_sock *host, *pod;
        struct rtnl_link *br;
        char veth_name[IFNAMSIZ];
        int veth_index, peer_index;
        char veth_mac[18], peer_mac[18];
        bool bridge_created, veth_created, masq_added, ipam_allocated;
} AddState;

static void add_state_done(AddState *s) {
        json_decref(s->ipam_result);
        free(s->ips);
        safe_close(s->ns_fd);
        safe_close(s->lock_fd);
        if (s->host)
                nl_socket_free(s->host);
        if (s->pod)
                nl_socket_free(s->pod);
        if (s->br)
                rtnl_link_put(s->br);
}

/* The bridge, created when missing. Called with the lock held. */
static int setup_bridge(AddState *s, CniError *e) {
        int r = bridge_ensure(s->host, s->c.bridge, s->c.mtu, &s->br, &s->bridge_created);
        if (r == -ENOTTY)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s already exists but is not a bridge", s->c.bridge);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to create bridge %s: %s", s->c.bridge, strerror(-r));
        return 0;
}

/* isGateway: the gateway addresses on the bridge (EEXIST from earlier pods is success), forwarding on. */
static int setup_gateway(AddState *s, CniError *e) {
        for (size_t i = 0; s->c.is_gateway && i < s->n_ips; i++) {
                if (!s->ips[i].has_gateway)
                        continue;
                InPrefix gw = {.addr = s->ips[i].gateway, .len = s->ips[i].addr.len};
                int r = addr_add(s->host, rtnl_link_get_ifindex(s->br), &gw);
                if (r < 0) {
                        char b[IN_PREFIX_STRLEN];
                        return cni_error(e, CNI_ERR_IO, "failed to add gateway address %s to %s: %s",
                                         in_prefix_format(&gw, b), s->c.bridge, strerror(-r));
                }
                enable_forwarding(gw.addr.family);
        }
        return 0;
}

static int setup_veth(AddState *s, CniError *e) {
        int r;

        r = nl_open_in_netns(s->ns_fd, s->lock_fd, &s->pod); /* the lock fd is our own namespace */
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to open netlink socket in %s: %s", s->a->netns, strerror(-r));
        if (link_index_mac(s->pod, s->a->ifname, NULL, NULL) == 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "container interface %s already exists in %s", s->a->ifname,
                                 s->a->netns);
        for (int attempt = 0;; attempt++) {
                uint32_t rnd;
                if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
                        return cni_error(e, CNI_ERR_IO, "getrandom: %s", strerror(errno));
                snprintf(s->veth_name, sizeof s->veth_name, "veth%08x", rnd);
                r = veth_create(s->host, s->veth_name, s->a->ifname, s->ns_fd, rtnl_link_get_ifindex(s->br), s->c.mtu);
                if (r != -EEXIST || attempt >= 3)
                        break;
        }
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to create veth pair for %s: %s", s->a->ifname, strerror(-r));
        s->veth_created = true;
        r = link_index_mac(s->host, s->veth_name, &s->veth_index, s->veth_mac);
        if (r >= 0)
                r = link_index_mac(s->pod, s->a->ifname, &s->peer_index, s->peer_mac);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to look up veth pair %s: %s", s->veth_name, strerror(-r));
        if (s->c.hairpin) {
                r = bridge_port_set_hairpin(s->host, s->veth_index, true);
                if (r < 0)
                        return cni_error(e, CNI_ERR_IO, "failed to set hairpin mode on %s: %s", s->veth_name,
                                         strerror(-r));
        }
        /* Up already now; addresses follow. */
        r = link_set_up_index(s->pod, s->peer_index);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to set %s up: %s", s->a->ifname, strerror(-r));
        return 0;
}

/* Bridge and veth pair, serialized with other invocations by the namespace lock, so a bridge this invocation
 * created cannot be removed by its rollback while another ADD attaches to it. */
static int setup_links(AddState *s, CniError *e) {
        int r = nl_open(&s->host);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to open netlink socket: %s", strerror(-r));
        r = lock_bridge(&s->lock_fd);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to lock the network namespace: %s", strerror(-r));
        r = setup_bridge(s, e);
        if (r >= 0)
                r = setup_veth(s, e);
        s->lock_fd = safe_close(s->lock_fd);
        return r;
}

static const IpConf *ip_of_family(const AddState *s, int family) {
        for (size_t i = 0; i < s->n_ips; i++)
                if (s->ips[i].addr.addr.family == family)
                        return &s->ips[i];
        return NULL;
}

/* Addresses and routes inside the pod (the interface is up already). */
static int setup_pod(AddState *s, json_t *routes, CniError *e) {
        int ifindex = s->peer_index;
        char b[IN_PREFIX_STRLEN];
        size_t i;
        json_t *v;
        int r;

        for (size_t k = 0; k < s->n_ips; k++) {
                r = addr_add(s->pod, ifindex, &s->ips[k].addr);
                if (r < 0)
                        return cni_error(e, CNI_ERR_IO, "failed to add address %s to %s: %s",
                                         in_prefix_format(&s->ips[k].addr, b), s->a->ifname, strerror(-r));
        }

        /* IPAM routes; a route without gw goes via the gateway of its family (plugins' ipam.ConfigureIface). */
        json_array_foreach (routes, i, v) {
                const char *dst = json_string_value(json_object_get(v, "dst"));
                const char *gw = json_string_value(json_object_get(v, "gw"));
                InPrefix d;
                InAddr g;
                const InAddr *gp = NULL;
                if (in_prefix_parse(dst, IN_PARSE_UNMAP_V4, &d) < 0)
                        return cni_error(e, CNI_ERR_INVALID_CONFIG, "routes[%zu].dst: invalid CIDR \"%s\"", i,
                                         strempty(dst));
                if (gw) {
                        if (in_addr_parse(gw, IN_PARSE_UNMAP_V4, &g) < 0)
                                return cni_error(e, CNI_ERR_INVALID_CONFIG, "routes[%zu].gw: invalid IP \"%s\"", i, gw);
                        gp = &g;
                } else {
                        const IpConf *ic = ip_of_family(s, d.addr.family);
                        if (ic && ic->has_gateway)
                                gp = &ic->gateway;
                }
                r = route_add(s->pod, ifindex, &d, gp);
                if (r < 0)
                        return cni_error(e, CNI_ERR_IO, "failed to add route %s in %s: %s", dst, s->a->netns,
                                         strerror(-r));
        }
        return 0;
}

static bool routes_have_default(const json_t *routes, int family) {
        size_t i;
        json_t *v;
        json_array_foreach (routes, i, v) {
                InPrefix d;
                if (in_prefix_parse(json_string_value(json_object_get(v, "dst")), IN_PARSE_UNMAP_V4, &d) == 0 &&
                    d.addr.family == family && d.len == 0)
                        return true;
        }
        return false;
}

static json_t *build_result(AddState *s, json_t *routes) {
        _cleanup_json_ json_t *ifaces = json_array(), *ips = json_array();
        char b[IN_ADDR_STRLEN], p[IN_PREFIX_STRLEN];

        if (!ifaces || !ips)
                return NULL;
        char br_mac[18];
        (void) json_array_append_new(ifaces, iface_json(s->c.bridge, link_mac(s->br, br_mac), NULL));
        (void) json_array_append_new(ifaces, iface_json(s->veth_name, s->veth_mac, NULL));
        (void) json_array_append_new(ifaces, iface_json(s->a->ifname, s->peer_mac, s->a->netns));
        for (size_t i = 0; i < s->n_ips; i++) {
                json_t *ip = json_pack("{s:s, s:i}", "address", in_prefix_format(&s->ips[i].addr, p), "interface", 2);
                if (ip && s->ips[i].has_gateway)
                        (void) json_object_set_new(ip, "gateway", json_string(in_addr_format(&s->ips[i].gateway, b)));
                (void) json_array_append_new(ips, ip);
        }
        json_t *result = json_pack("{s:s, s:O, s:O, s:O}", "cniVersion", s->a->cni_version, "interfaces", ifaces, "ips",
                                   ips, "routes", routes);
        /* The configuration's dns wins, as in the reference (result.DNS = n.DNS); else what IPAM returned. */
        json_t *dns = s->c.dns ?: json_object_get(s->ipam_result, "dns");
        if (result && dns)
                (void) json_object_set(result, "dns", dns);
        return result;
}

static void rollback(AddState *s) {
        if (s->masq_added)
                (void) masq_del(s->a->name, s->a->container_id, s->a->ifname);
        if (s->veth_created && s->host)
                (void) link_delete(s->host, s->veth_name); /* takes the pod end with it */
        /* A bridge this ADD created goes too, unless another pod attached meanwhile: a failed first ADD (bad
         * IPAM configuration, exhausted range) leaves nothing behind. */
        if (s->bridge_created && s->host && lock_bridge(&s->lock_fd) >= 0) {
                if (bridge_has_ports(s->host, rtnl_link_get_ifindex(s->br)) == 0)
                        (void) link_delete(s->host, s->c.bridge);
                s->lock_fd = safe_close(s->lock_fd);
        }
        if (s->ipam_allocated)
                (void) cni_delegate(s->c.ipam_type, CNI_CMD_DEL, s->a, NULL, NULL);
}

int cni_bridge_add(const CniArgs *a, json_t **ret_result, CniError *e) {
        _cleanup_(add_state_done) AddState s = {.a = a, .ns_fd = -EBADF, .lock_fd = -EBADF};
        _cleanup_json_ json_t *routes = NULL, *result = NULL;
        CniDelegate ipam = {.out_fd = -EBADF};
        int r;

        r = config_parse(a, &s.c, e);
        if (r < 0)
                return r;
        r = open_netns(a->netns, &s.ns_fd, e);
        if (r < 0)
                return r;
        /* An executed IPAM plugin allocates while we create the bridge and the veth pair, so the two halves of
         * the ADD overlap; nodelet-ipam has already run in-process when start() returns (cni_builtin_delegate()).
         * If IPAM fails (bad range, unknown plugin, exhausted pool), the links are rolled back, so nothing is left
         * either way. */
        if (s.c.ipam_type) {
                r = cni_delegate_start(s.c.ipam_type, CNI_CMD_ADD, a, &ipam, e);
                if (r < 0)
                        return r;
        }
        r = setup_links(&s, e);
        if (s.c.ipam_type) {
                CniError ie = {};
                int k = cni_delegate_finish(&ipam, &s.ipam_result, &ie);
                s.ipam_allocated = k >= 0;
                if (k < 0) {
                        /* The IPAM error names the configuration problem: it wins over a link error. */
                        if (e)
                                *e = ie;
                        r = k;
                }
        }
        if (r >= 0 && s.ipam_result)
                r = parse_ips(s.ipam_result, &s.ips, &s.n_ips, e);
        if (r < 0)
                goto fail;
        routes = json_is_array(json_object_get(s.ipam_result, "routes"))
                         ? json_deep_copy(json_object_get(s.ipam_result, "routes"))
                         : json_array();
        if (!routes) {
                r = cni_error(e, CNI_ERR_INTERNAL, "out of memory");
                goto fail;
        }
        if (s.c.is_default_gateway)
                for (size_t i = 0; i < s.n_ips; i++)
                        if (s.ips[i].has_gateway && !routes_have_default(routes, s.ips[i].addr.addr.family))
                                (void) json_array_append_new(
                                        routes, json_pack("{s:s}", "dst",
                                                          s.ips[i].addr.addr.family == AF_INET ? "0.0.0.0/0" : "::/0"));

        r = setup_gateway(&s, e);
        if (r >= 0)
                r = setup_pod(&s, routes, e);
        if (r >= 0 && s.c.ip_masq)
                for (size_t i = 0; i < s.n_ips && r >= 0; i++) {
                        s.masq_added = true;
                        r = masq_add(a->name, a->container_id, a->ifname, &s.ips[i].addr);
                        if (r < 0)
                                r = cni_error(e, CNI_ERR_IO, "failed to set up IP masquerade in table %s: %s",
                                              CNI_NFT_TABLE, strerror(-r));
                }
        if (r < 0)
                goto fail;
        result = build_result(&s, routes);
        if (!result) {
                r = cni_error(e, CNI_ERR_INTERNAL, "out of memory");
                goto fail;
        }
        *ret_result = TAKE_PTR(result);
        return 0;
fail:
        rollback(&s);
        return r;
}

/* How long DEL waits for the kernel to unlist the pod interface (it takes well under a millisecond). */
#define DEL_UNLIST_TIMEOUT_MS 10000

static int del_links(const CniArgs *a, const BridgeConfig *c, CniError *e) {
        int r;

        if (!isempty(a->netns)) {
                _cleanup_close_ int ns_fd = open(a->netns, O_RDONLY | O_CLOEXEC);
                if (ns_fd >= 0) {
                        /* Deleting the pod end takes the host end with it. We return once both are unlisted and
                         * leave the kernel's slow teardown to a detached child (link_delete_detached()). */
                        r = link_delete_detached(ns_fd, a->ifname, DEL_UNLIST_TIMEOUT_MS);
                        if (r < 0 && r != -ENODEV)
                                return cni_error(e, CNI_ERR_IO, "failed to delete %s in %s: %s", a->ifname, a->netns,
                                                 strerror(-r));
                } else if (errno != ENOENT && errno != EINVAL)
                        return cni_error(e, CNI_ERR_IO, "failed to open netns \"%s\": %s", a->netns, strerror(errno));
        }
        if (c->ip_masq) {
                r = masq_del(a->name, a->container_id, a->ifname);
                if (r < 0)
                        return cni_error(e, CNI_ERR_IO, "failed to remove IP masquerade rules: %s", strerror(-r));
        }
        return 0;
}

int cni_bridge_del(const CniArgs *a, CniError *e) {
        BridgeConfig c = {};
        int r;

        r = config_parse(a, &c, e);
        if (r < 0)
                return r;
        /* Addresses are released whether or not the netns still exists (like the reference); an executed IPAM
         * plugin runs while we delete the interface, and its error is reported first. */
        CniDelegate ipam = {.out_fd = -EBADF};
        if (c.ipam_type) {
                r = cni_delegate_start(c.ipam_type, CNI_CMD_DEL, a, &ipam, e);
                if (r < 0)
                        return r;
        }
        CniError le = {};
        r = del_links(a, &c, &le);
        if (c.ipam_type) {
                int k = cni_delegate_finish(&ipam, NULL, e);
                if (k < 0)
                        return k;
        }
        if (r < 0) {
                if (e)
                        *e = le;
                return r;
        }
        return 0;
}

int cni_bridge_check(const CniArgs *a, CniError *e) {
        BridgeConfig c = {};
        json_t *prev, *ifaces, *v;
        const char *veth_name = NULL, *pod_mac = NULL;
        size_t i;
        int r;

        r = config_parse(a, &c, e);
        if (r < 0)
                return r;
        prev = json_object_get(a->conf, "prevResult");
        if (!json_is_object(prev))
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "required prevResult missing");
        if (c.ipam_type) {
                r = cni_delegate(c.ipam_type, CNI_CMD_CHECK, a, NULL, e);
                if (r < 0)
                        return r;
        }
        ifaces = json_object_get(prev, "interfaces");
        json_array_foreach (ifaces, i, v) {
                const char *name = json_string_value(json_object_get(v, "name"));
                const char *sandbox = json_string_value(json_object_get(v, "sandbox"));
                if (!name)
                        continue;
                if (sandbox && streq(name, a->ifname))
                        pod_mac = json_string_value(json_object_get(v, "mac"));
                else if (!sandbox && !streq(name, c.bridge))
                        veth_name = name;
        }
        if (!veth_name)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "prevResult has no host veth interface");

        _cleanup_(nl_socket_freep) struct nl_sock *host = NULL, *pod = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *br = NULL, *veth = NULL, *peer = NULL;
        _cleanup_close_ int ns_fd = -EBADF;
        char mac[18];

        r = nl_open(&host);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to open netlink socket: %s", strerror(-r));
        if (link_get(host, c.bridge, &br) < 0)
                return cni_error(e, CNI_ERR_CHECK_MISMATCH, "bridge %s not found", c.bridge);
        if (link_get(host, veth_name, &veth) < 0)
                return cni_error(e, CNI_ERR_CHECK_MISMATCH, "host veth %s of %s not found", veth_name, a->ifname);
        if (rtnl_link_get_master(veth) != rtnl_link_get_ifindex(br))
                return cni_error(e, CNI_ERR_CHECK_MISMATCH, "host veth %s is not attached to bridge %s", veth_name,
                                 c.bridge);
        r = open_netns(a->netns, &ns_fd, e);
        if (r < 0)
                return r;
        r = nl_open_in_netns(ns_fd, -EBADF, &pod);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to open netlink socket in %s: %s", a->netns, strerror(-r));
        if (link_get(pod, a->ifname, &peer) < 0)
                return cni_error(e, CNI_ERR_CHECK_MISMATCH, "interface %s not found in %s", a->ifname, a->netns);
        if (pod_mac && strcasecmp(pod_mac, link_mac(peer, mac)) != 0)
                return cni_error(e, CNI_ERR_CHECK_MISMATCH, "interface %s has MAC %s, not the one in prevResult",
                                 a->ifname, mac);
        /* The veth pair must still be a pair: the pod end's peer index is the host veth. */
        if (rtnl_link_get_link(peer) != rtnl_link_get_ifindex(veth))
                return cni_error(e, CNI_ERR_CHECK_MISMATCH, "interface %s is not the peer of %s", a->ifname, veth_name);
        json_array_foreach (json_object_get(prev, "ips"), i, v) {
                InPrefix p;
                const char *addr = json_string_value(json_object_get(v, "address"));
                if (in_prefix_parse(addr, IN_PARSE_UNMAP_V4, &p) < 0)
                        return cni_error(e, CNI_ERR_DECODE, "prevResult: invalid address \"%s\"", strempty(addr));
                if (addr_has(pod, rtnl_link_get_ifindex(peer), &p) <= 0)
                        return cni_error(e, CNI_ERR_CHECK_MISMATCH, "address %s missing on %s", addr, a->ifname);
        }
        /* Like the reference's CHECK: every route of the result is still there, through the pod interface. */
        json_array_foreach (json_object_get(prev, "routes"), i, v) {
                InPrefix d;
                const char *dst = json_string_value(json_object_get(v, "dst"));
                if (in_prefix_parse(dst, IN_PARSE_UNMAP_V4, &d) < 0)
                        return cni_error(e, CNI_ERR_DECODE, "prevResult: invalid route \"%s\"", strempty(dst));
                if (route_has(pod, rtnl_link_get_ifindex(peer), &d) <= 0)
                        return cni_error(e, CNI_ERR_CHECK_MISMATCH, "route to %s missing in %s", dst, a->netns);
        }
        return 0;
}

int cni_bridge_status(const CniArgs *a, CniError *e) {
        BridgeConfig c = {};
        int r = config_parse(a, &c, e);
        if (r < 0)
                return r;
        return c.ipam_type ? cni_delegate(c.ipam_type, CNI_CMD_STATUS, a, NULL, e) : 0;
}

int cni_bridge_gc(const CniArgs *a, CniError *e) {
        BridgeConfig c = {};
        int r = config_parse(a, &c, e);
        if (r < 0)
                return r;
        if (c.ipam_type) {
                r = cni_delegate(c.ipam_type, CNI_CMD_GC, a, NULL, e);
                if (r < 0)
                        return r;
        }
        if (c.ip_masq) {
                r = masq_gc(a->name, json_object_get(a->conf, "cni.dev/valid-attachments"));
                if (r < 0)
                        return cni_error(e, CNI_ERR_IO, "failed to collect IP masquerade rules: %s", strerror(-r));
        }
        return 0;
}

const CniPlugin cni_bridge_plugin = {
        .name = "nodelet-bridge",
        .add = cni_bridge_add,
        .del = cni_bridge_del,
        .check = cni_bridge_check,
        .status = cni_bridge_status,
        .gc = cni_bridge_gc,
};
