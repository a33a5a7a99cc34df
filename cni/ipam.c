/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/ipam.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "common/in-addr.h"
#include "common/fileio.h"
#include "common/json-util.h"

#define LEASE_SEP "\r\n" /* host-local's LineBreak between container ID and interface name */
#define LAST_RESERVED_PREFIX "last_reserved_ip."

typedef struct Range {
        InPrefix subnet; /* network address, host bits cleared */
        InAddr start, end, gateway;
} Range;

typedef struct RangeSet {
        Range *ranges;
        size_t n;
} RangeSet;

typedef struct IpamConfig {
        RangeSet *sets;
        size_t n_sets;
        InAddr *requested;
        size_t n_requested;
        json_t *routes; /* borrowed from the configuration */
        const char *data_dir;
        const char *resolv_conf;
        const char *network;
} IpamConfig;

static void ipam_config_done(IpamConfig *c) {
        for (size_t i = 0; i < c->n_sets; i++)
                free(c->sets[i].ranges);
        free(c->sets);
        free(c->requested);
}

bool cni_network_name_valid(const char *name) {
        return cni_container_id_valid(name);
}

/* host-local's Range.Canonicalize(): fills rangeStart/rangeEnd/gateway and checks they lie in the subnet. */
static int range_parse(const json_t *j, const char *path, Range *ret, CniError *e) {
        const char *subnet = NULL, *start = NULL, *end = NULL, *gw = NULL;
        ErrorBuf eb = {};
        Range r = {};
        char buf[IN_PREFIX_STRLEN];

        if (jx_get_string(j, "subnet", path, true, &subnet, &eb) < 0 ||
            jx_get_string(j, "rangeStart", path, false, &start, &eb) < 0 ||
            jx_get_string(j, "rangeEnd", path, false, &end, &eb) < 0 ||
            jx_get_string(j, "gateway", path, false, &gw, &eb) < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s", eb.msg);
        if (in_prefix_parse(subnet, IN_PARSE_UNMAP_V4, &r.subnet) < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s.subnet: invalid CIDR \"%s\"", path, subnet);
        r.subnet.addr = in_prefix_first(&r.subnet);
        /* Like host-local: a /31 or /32 (/127, /128) leaves nothing to allocate. */
        if (r.subnet.len + 2 > in_addr_size(&r.subnet.addr) * 8)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s.subnet: network %s too small to allocate from", path,
                                 in_prefix_format(&r.subnet, buf));

        struct {
                const char *field, *value;
                InAddr *out;
        } ips[] = {{"gateway", gw, &r.gateway}, {"rangeStart", start, &r.start}, {"rangeEnd", end, &r.end}};
        for (size_t i = 0; i < ELEMENTSOF(ips); i++) {
                if (!ips[i].value)
                        continue;
                if (in_addr_parse(ips[i].value, IN_PARSE_UNMAP_V4, ips[i].out) < 0)
                        return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s.%s: invalid IP address \"%s\"", path,
                                         ips[i].field, ips[i].value);
                if (!in_prefix_contains(&r.subnet, ips[i].out))
                        return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s.%s: %s is not in network %s", path,
                                         ips[i].field, ips[i].value, in_prefix_format(&r.subnet, buf));
        }
        if (!gw) {
                r.gateway = r.subnet.addr; /* claim .1 */
                in_addr_next(&r.gateway);
        }
        if (!start) {
                r.start = r.subnet.addr;
                in_addr_next(&r.start);
        }
        if (!end) {
                /* The last address; for IPv4 the one before the broadcast address. */
                r.end = in_prefix_last(&r.subnet);
                if (r.end.family == AF_INET)
                        in_addr_prev(&r.end);
        }
        if (in_addr_cmp(&r.start, &r.end) > 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s: rangeStart %s is after rangeEnd %s", path, start ?: "",
                                 end ?: "");
        *ret = r;
        return 0;
}

static bool range_contains(const Range *r, const InAddr *ip) {
        return r->start.family == ip->family && in_addr_cmp(ip, &r->start) >= 0 && in_addr_cmp(ip, &r->end) <= 0;
}

static bool range_overlaps(const Range *a, const Range *b) {
        return range_contains(a, &b->start) || range_contains(a, &b->end) || range_contains(b, &a->start) ||
               range_contains(b, &a->end);
}

static const Range *rangeset_find(const RangeSet *s, const InAddr *ip) {
        for (size_t i = 0; i < s->n; i++)
                if (range_contains(&s->ranges[i], ip))
                        return &s->ranges[i];
        return NULL;
}

static int rangeset_parse(const json_t *j, const char *path, RangeSet *ret, CniError *e) {
        size_t i;
        json_t *v;

        if (!json_is_array(j) || json_array_size(j) == 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s: expected a non-empty list of ranges", path);
        _cleanup_free_ Range *ranges = calloc(json_array_size(j), sizeof(Range));
        if (!ranges)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        json_array_foreach (j, i, v) {
                char p[128];
                snprintf(p, sizeof p, "%.64s[%zu]", path, i);
                int r = range_parse(v, p, &ranges[i], e);
                if (r < 0)
                        return r;
                if (ranges[i].start.family != ranges[0].start.family)
                        return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s: mixes IPv4 and IPv6 ranges", path);
                for (size_t k = 0; k < i; k++)
                        if (range_overlaps(&ranges[k], &ranges[i]))
                                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s: range %zu overlaps with range %zu",
                                                 path, k, i);
        }
        ret->ranges = TAKE_PTR(ranges);
        ret->n = i;
        return 0;
}

static int add_rangesets(IpamConfig *c, const json_t *list, const char *path, CniError *e) {
        size_t i;
        json_t *v;

        if (!json_is_array(list))
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s: expected a list of range sets", path);
        RangeSet *n = reallocarray(c->sets, c->n_sets + json_array_size(list), sizeof(RangeSet));
        if (!n)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        c->sets = n;
        json_array_foreach (list, i, v) {
                char p[128];
                snprintf(p, sizeof p, "%.64s[%zu]", path, i);
                int r = rangeset_parse(v, p, &c->sets[c->n_sets], e);
                if (r < 0)
                        return r;
                c->n_sets++;
        }
        return 0;
}

static int add_requested(IpamConfig *c, const char *s, const char *what, CniError *e) {
        InAddr ip;
        InPrefix p;

        if (in_addr_parse(s, IN_PARSE_UNMAP_V4, &ip) < 0) {
                if (in_prefix_parse(s, IN_PARSE_UNMAP_V4, &p) < 0)
                        return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s: cannot understand IP \"%s\"", what, s);
                ip = p.addr;
        }
        InAddr *n = reallocarray(c->requested, c->n_requested + 1, sizeof(InAddr));
        if (!n)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        c->requested = n;
        c->requested[c->n_requested++] = ip;
        return 0;
}

/* Requested addresses, as host-local's LoadIPAMConfig() collects them: CNI_ARGS IP=, args.cni.ips and the "ips"
 * capability in runtimeConfig. */
static int parse_requested(IpamConfig *c, const CniArgs *a, CniError *e) {
        json_t *l, *v;
        size_t i;
        int r;

        for (const char *p = a->args; !isempty(p);) {
                const char *semi = strchrnul(p, ';');
                if (startswith(p, "IP=")) {
                        _cleanup_free_ char *ip = strndup(p + 3, semi - p - 3);
                        if (!ip)
                                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
                        r = add_requested(c, ip, "CNI_ARGS IP", e);
                        if (r < 0)
                                return r;
                }
                p = *semi ? semi + 1 : NULL;
        }
        l = json_object_get(json_object_get(json_object_get(a->conf, "args"), "cni"), "ips");
        json_array_foreach (l, i, v) {
                r = add_requested(c, json_string_value(v), "args.cni.ips", e);
                if (r < 0)
                        return r;
        }
        l = json_object_get(json_object_get(a->conf, "runtimeConfig"), "ips");
        json_array_foreach (l, i, v) {
                r = add_requested(c, json_string_value(v), "runtimeConfig.ips", e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int ipam_config_parse(const CniArgs *a, IpamConfig *c, CniError *e) {
        ErrorBuf eb = {};
        json_t *ipam = NULL, *ranges = NULL, *ip_ranges;
        int r;

        if (jx_get_object(a->conf, "ipam", "", true, &ipam, &eb) < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "IPAM config missing 'ipam' key");
        if (jx_get_array(ipam, "routes", "ipam", false, &c->routes, &eb) < 0 ||
            jx_get_string(ipam, "dataDir", "ipam", false, &c->data_dir, &eb) < 0 ||
            jx_get_string(ipam, "resolvConf", "ipam", false, &c->resolv_conf, &eb) < 0 ||
            jx_get_array(ipam, "ranges", "ipam", false, &ranges, &eb) < 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "%s", eb.msg);
        c->network = a->name;
        if (!cni_network_name_valid(c->network))
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "invalid network name \"%s\"", c->network);
        if (!c->data_dir)
                c->data_dir = CNI_IPAM_DEFAULT_DATA_DIR;

        /* Order as host-local: runtimeConfig.ipRanges, then the legacy single range, then ipam.ranges. */
        ip_ranges = json_object_get(json_object_get(a->conf, "runtimeConfig"), "ipRanges");
        if (ip_ranges && json_array_size(ip_ranges) > 0) {
                r = add_rangesets(c, ip_ranges, "runtimeConfig.ipRanges", e);
                if (r < 0)
                        return r;
        }
        if (json_object_get(ipam, "subnet")) {
                /* The legacy single range is ipam itself: its errors name "ipam.subnet", "ipam.gateway". */
                RangeSet *n = reallocarray(c->sets, c->n_sets + 1, sizeof(RangeSet));
                if (!n)
                        return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
                c->sets = n;
                _cleanup_free_ Range *range = calloc(1, sizeof(Range));
                if (!range)
                        return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
                r = range_parse(ipam, "ipam", range, e);
                if (r < 0)
                        return r;
                c->sets[c->n_sets++] = (RangeSet){.ranges = TAKE_PTR(range), .n = 1};
        }
        if (ranges) {
                r = add_rangesets(c, ranges, "ipam.ranges", e);
                if (r < 0)
                        return r;
        }
        if (c->n_sets == 0)
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "ipam: no IP ranges specified");
        for (size_t i = 0; i < c->n_sets; i++)
                for (size_t k = i + 1; k < c->n_sets; k++)
                        for (size_t x = 0; x < c->sets[i].n; x++)
                                for (size_t y = 0; y < c->sets[k].n; y++)
                                        if (range_overlaps(&c->sets[i].ranges[x], &c->sets[k].ranges[y]))
                                                return cni_error(e, CNI_ERR_INVALID_CONFIG,
                                                                 "ipam: range set %zu overlaps with range set %zu", i,
                                                                 k);
        return parse_requested(c, a, e);
}

/* The network's lease directory, locked. */
typedef struct Store {
        int dir_fd;
        int lock_fd;
} Store;

static void store_close(Store *s) {
        /* Closing the lock fd releases the flock. */
        s->lock_fd = safe_close(s->lock_fd);
        s->dir_fd = safe_close(s->dir_fd);
}

static int store_open(const IpamConfig *c, bool create, Store *ret, CniError *e) {
        _cleanup_free_ char *dir = NULL;
        Store s = {-EBADF, -EBADF};
        int r;

        r = path_join(&dir, c->data_dir, c->network);
        if (r < 0)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        /* O_NOATIME: every ADD lists the directory right after the previous one added a file, so with relatime
         * each listing would also write the directory inode back (a journal transaction); we are root or its
         * owner, otherwise the kernel refuses the flag and we open without. */
        s.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
        if (s.dir_fd < 0 && errno == EPERM)
                s.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s.dir_fd < 0 && errno == ENOENT && create) {
                r = mkdir_p(dir, 0755);
                if (r < 0)
                        return cni_error(e, CNI_ERR_IO, "failed to create %s: %s", dir, strerror(-r));
                s.dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (s.dir_fd < 0) {
                if (errno == ENOENT && !create) {
                        *ret = s;
                        return 0; /* nothing was ever allocated here */
                }
                return cni_error(e, CNI_ERR_IO, "failed to open %s: %s", dir, strerror(errno));
        }
        /* The same lock file host-local takes (disk.NewFileLock on the directory → "<dir>/lock"). */
        s.lock_fd = openat(s.dir_fd, "lock", O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s.lock_fd < 0 || flock(s.lock_fd, LOCK_EX) < 0) {
                r = -errno;
                store_close(&s);
                return cni_error(e, CNI_ERR_IO, "failed to lock %s: %s", dir, strerror(-r));
        }
        *ret = s;
        return 0;
}

/* A lease as read from disk. */
typedef struct Lease {
        InAddr ip;
        char name[IN_ADDR_STRLEN];
        bool legacy; /* written before host-local recorded the interface: container ID only */
        char id[256];
        char ifname[32];
} Lease;

static bool is_lease_name(const char *name, InAddr *ret) {
        if (name[0] == '.' || streq(name, "lock") || startswith(name, LAST_RESERVED_PREFIX))
                return false;
        return in_addr_parse(name, IN_PARSE_UNMAP_V4, ret) == 0;
}

static int lease_read(int dir_fd, const char *name, Lease *l) {
        char buf[sizeof l->id + sizeof l->ifname + 4];
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        /* host-local compares strings.TrimSpace(content). */
        char *s = buf, *end = buf + n;
        while (*s && isspace((unsigned char) *s))
                s++;
        while (end > s && isspace((unsigned char) end[-1]))
                *--end = 0;
        char *sep = strstr(s, LEASE_SEP);
        if (sep) {
                *sep = 0;
                snprintf(l->ifname, sizeof l->ifname, "%.*s", (int) sizeof l->ifname - 1, sep + 2);
        }
        l->legacy = !sep;
        snprintf(l->id, sizeof l->id, "%.*s", (int) sizeof l->id - 1, s);
        snprintf(l->name, sizeof l->name, "%.*s", (int) sizeof l->name - 1, name);
        return 0;
}

static bool lease_matches(const Lease *l, const char *id, const char *ifname) {
        return streq(l->id, id) && (l->legacy || streq(l->ifname, ifname));
}

/* Calls cb for every lease file in the directory; stops when cb returns non-zero. */
static int store_foreach(const Store *s, int (*cb)(const Store *s, const Lease *l, void *userdata), void *userdata) {
        int fd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        rewinddir(d);
        int r = 0;
        for (struct dirent *de; (de = readdir(d));) {
                Lease l = {};
                if ((de->d_type != DT_REG && de->d_type != DT_UNKNOWN) || !is_lease_name(de->d_name, &l.ip))
                        continue;
                if (lease_read(s->dir_fd, de->d_name, &l) < 0)
                        continue; /* like host-local's walk: unreadable files are skipped */
                r = cb(s, &l, userdata);
                if (r != 0)
                        break;
        }
        closedir(d);
        return r < 0 ? r : 0;
}

typedef struct MatchCtx {
        const char *id, *ifname;
        const IpamConfig *config;
        bool remove;
        unsigned found;
        InAddr first;
} MatchCtx;

static int match_cb(const Store *s, const Lease *l, void *userdata) {
        MatchCtx *m = userdata;
        if (!lease_matches(l, m->id, m->ifname))
                return 0;
        if (m->remove && unlinkat(s->dir_fd, l->name, 0) < 0 && errno != ENOENT)
                return 0; /* host-local's ReleaseByID is tolerant: release as much as possible */
        if (m->found++ == 0)
                m->first = l->ip;
        return 0;
}

/* O_EXCL create: the file is the reservation (host-local's Store.Reserve). 1 = reserved, 0 = taken. */
static int store_reserve(const Store *s, const InAddr *ip, size_t set_index, const char *id, const char *ifname) {
        char name[IN_ADDR_STRLEN], content[512], last[64];
        int n;

        in_addr_format(ip, name);
        _cleanup_close_ int fd = openat(s->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return errno == EEXIST ? 0 : -errno;
        n = snprintf(content, sizeof content, "%s" LEASE_SEP "%s", id, ifname);
        if (write(fd, content, n) != n) {
                int r = errno ? -errno : -EIO;
                (void) unlinkat(s->dir_fd, name, 0);
                return r;
        }
        /* Overwrite in place and cut to length instead of O_TRUNC: truncating a file to zero makes ext4 flush it
         * on close (auto_da_alloc), which cost more than the rest of the allocation together. Readers hold the
         * lock, so they never see the intermediate state. */
        snprintf(last, sizeof last, LAST_RESERVED_PREFIX "%zu", set_index);
        _cleanup_close_ int lfd = openat(s->dir_fd, last, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        n = (int) strlen(name);
        if (lfd < 0 || pwrite(lfd, name, n, 0) != n || ftruncate(lfd, n) < 0) {
                int r = errno ? -errno : -EIO;
                (void) unlinkat(s->dir_fd, name, 0);
                return r;
        }
        return 1;
}

static bool read_last_reserved(const Store *s, size_t set_index, InAddr *ret) {
        char name[64], buf[IN_ADDR_STRLEN + 1];
        snprintf(name, sizeof name, LAST_RESERVED_PREFIX "%zu", set_index);
        _cleanup_close_ int fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        buf[strcspn(buf, " \r\n")] = 0;
        return in_addr_parse(buf, IN_PARSE_UNMAP_V4, ret) == 0;
}

/* host-local's RangeIter: start after the last reserved address (round robin, so a crash-looping pod does not get
 * the same address back until the range wrapped), skip the gateway, give up after one full turn. */
static int allocate_from_set(const Store *s, const RangeSet *set, size_t set_index, const char *id, const char *ifname,
                             InAddr *ret, const Range **ret_range) {
        size_t idx = 0;
        InAddr cur, start, last;
        bool have_cur = false;
        int r;

        if (read_last_reserved(s, set_index, &last))
                for (size_t i = 0; i < set->n; i++)
                        if (range_contains(&set->ranges[i], &last)) {
                                idx = i;
                                cur = last;
                                have_cur = true;
                                break;
                        }
        if (!have_cur) {
                cur = set->ranges[0].start;
                start = cur;
        } else
                start = (InAddr){};
        bool have_start = !have_cur, first = !have_cur;

        for (;;) {
                const Range *rg = &set->ranges[idx];
                if (first)
                        first = false;
                else {
                        if (in_addr_equal(&cur, &rg->end)) {
                                idx = (idx + 1) % set->n;
                                rg = &set->ranges[idx];
                                cur = rg->start;
                        } else
                                in_addr_next(&cur);
                        if (!have_start) {
                                start = cur;
                                have_start = true;
                        } else if (in_addr_equal(&cur, &start))
                                return -ENOSPC;
                }
                if (in_addr_equal(&cur, &rg->gateway))
                        continue;
                r = store_reserve(s, &cur, set_index, id, ifname);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret = cur;
                        *ret_range = rg;
                        return 0;
                }
        }
}

static json_t *ip_config_json(const InAddr *ip, const Range *rg) {
        char p[IN_PREFIX_STRLEN], g[IN_ADDR_STRLEN];
        InPrefix pfx = {.addr = *ip, .len = rg->subnet.len};
        return json_pack("{s:s, s:s}", "address", in_prefix_format(&pfx, p), "gateway",
                         in_addr_format(&rg->gateway, g));
}

/* resolvConf → result.dns, like host-local's parseResolvConf (nameserver, domain, search, options). */
static int parse_resolv_conf(const char *path, json_t **ret, CniError *e) {
        _cleanup_free_ char *data = NULL;
        int r = read_full_file(path, 1024 * 1024, &data, NULL);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to read resolvConf %s: %s", path, strerror(-r));
        _cleanup_json_ json_t *dns = json_object(), *ns = json_array(), *search = json_array(), *opts = json_array();
        if (!dns || !ns || !search || !opts)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *save2 = NULL, *key = strtok_r(line, " \t\r", &save2);
                if (!key || key[0] == '#' || key[0] == ';')
                        continue;
                for (char *v = strtok_r(NULL, " \t\r", &save2); v; v = strtok_r(NULL, " \t\r", &save2)) {
                        if (streq(key, "nameserver"))
                                (void) json_array_append_new(ns, json_string(v));
                        else if (streq(key, "domain"))
                                (void) json_object_set_new(dns, "domain", json_string(v));
                        else if (streq(key, "search"))
                                (void) json_array_append_new(search, json_string(v));
                        else if (streq(key, "options"))
                                (void) json_array_append_new(opts, json_string(v));
                }
        }
        if (json_array_size(ns))
                (void) json_object_set(dns, "nameservers", ns);
        if (json_array_size(search))
                (void) json_object_set(dns, "search", search);
        if (json_array_size(opts))
                (void) json_object_set(dns, "options", opts);
        *ret = TAKE_PTR(dns);
        return 0;
}

static void release_all(const Store *s, const char *id, const char *ifname) {
        MatchCtx m = {.id = id, .ifname = ifname, .remove = true};
        (void) store_foreach(s, match_cb, &m);
}

int cni_ipam_add(const CniArgs *a, json_t **ret_result, CniError *e) {
        _cleanup_(ipam_config_done) IpamConfig c = {};
        _cleanup_(store_close) Store s = {-EBADF, -EBADF};
        _cleanup_json_ json_t *result = NULL, *ips = NULL, *dns = NULL;
        _cleanup_free_ bool *used_req = NULL;
        int r;

        r = ipam_config_parse(a, &c, e);
        if (r < 0)
                return r;
        if (c.resolv_conf) {
                r = parse_resolv_conf(c.resolv_conf, &dns, e);
                if (r < 0)
                        return r;
        }
        r = store_open(&c, true, &s, e);
        if (r < 0)
                return r;

        /* "Duplicate allocation is not allowed" (host-local): one walk for all range sets. */
        MatchCtx m = {.id = a->container_id, .ifname = a->ifname};
        r = store_foreach(&s, match_cb, &m);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to read leases: %s", strerror(-r));
        if (m.found > 0)
                for (size_t i = 0; i < c.n_sets; i++)
                        if (rangeset_find(&c.sets[i], &m.first)) {
                                char b[IN_ADDR_STRLEN];
                                return cni_error(e, CNI_ERR_INVALID_CONFIG,
                                                 "%s has been allocated to %s, duplicate allocation is not allowed",
                                                 in_addr_format(&m.first, b), a->container_id);
                        }

        ips = json_array();
        used_req = calloc(c.n_requested + 1, sizeof(bool));
        if (!ips || !used_req)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        for (size_t i = 0; i < c.n_sets; i++) {
                const Range *rg = NULL;
                InAddr ip;
                char b[IN_ADDR_STRLEN];
                ssize_t req = -1;

                for (size_t k = 0; k < c.n_requested; k++)
                        if (!used_req[k] && rangeset_find(&c.sets[i], &c.requested[k])) {
                                req = (ssize_t) k;
                                break;
                        }
                if (req >= 0) {
                        used_req[req] = true;
                        ip = c.requested[req];
                        rg = rangeset_find(&c.sets[i], &ip);
                        if (in_addr_equal(&ip, &rg->gateway))
                                r = cni_error(e, CNI_ERR_INVALID_CONFIG, "requested ip %s is subnet's gateway",
                                              in_addr_format(&ip, b));
                        else {
                                r = store_reserve(&s, &ip, i, a->container_id, a->ifname);
                                if (r == 0)
                                        r = cni_error(e, CNI_ERR_INVALID_CONFIG,
                                                      "requested IP address %s is not available in range set %zu",
                                                      in_addr_format(&ip, b), i);
                        }
                } else {
                        r = allocate_from_set(&s, &c.sets[i], i, a->container_id, a->ifname, &ip, &rg);
                        if (r == -ENOSPC)
                                /* Exhaustion is transient from the runtime's view: pods going away free addresses,
                                 * so we say "try again later" (11) rather than blame the configuration. */
                                r = cni_error(e, CNI_ERR_TRY_AGAIN,
                                              "failed to allocate for range %zu: no IP addresses available in range "
                                              "set %zu of network %s",
                                              i, i, c.network);
                }
                if (r < 0) {
                        if (e && e->code == 0)
                                cni_error(e, CNI_ERR_IO, "failed to allocate for range %zu: %s", i, strerror(-r));
                        release_all(&s, a->container_id, a->ifname);
                        return r;
                }
                (void) json_array_append_new(ips, ip_config_json(&ip, rg));
        }
        for (size_t k = 0; k < c.n_requested; k++)
                if (!used_req[k]) {
                        char b[IN_ADDR_STRLEN];
                        release_all(&s, a->container_id, a->ifname);
                        return cni_error(e, CNI_ERR_INVALID_CONFIG, "failed to allocate all requested IPs: %s",
                                         in_addr_format(&c.requested[k], b));
                }

        result = json_pack("{s:s, s:O}", "cniVersion", a->cni_version, "ips", ips);
        if (!result)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        if (c.routes)
                (void) json_object_set(result, "routes", c.routes);
        if (dns)
                (void) json_object_set(result, "dns", dns);
        *ret_result = TAKE_PTR(result);
        return 0;
}

int cni_ipam_del(const CniArgs *a, CniError *e) {
        _cleanup_(ipam_config_done) IpamConfig c = {};
        _cleanup_(store_close) Store s = {-EBADF, -EBADF};
        int r;

        r = ipam_config_parse(a, &c, e);
        if (r < 0)
                return r;
        r = store_open(&c, false, &s, e);
        if (r < 0)
                return r;
        if (s.dir_fd < 0)
                return 0; /* DEL of something never added succeeds (SPEC.md: DEL must be idempotent) */
        MatchCtx m = {.id = a->container_id, .ifname = a->ifname, .remove = true};
        r = store_foreach(&s, match_cb, &m);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to release leases: %s", strerror(-r));
        return 0;
}

int cni_ipam_check(const CniArgs *a, CniError *e) {
        _cleanup_(ipam_config_done) IpamConfig c = {};
        _cleanup_(store_close) Store s = {-EBADF, -EBADF};
        int r;

        r = ipam_config_parse(a, &c, e);
        if (r < 0)
                return r;
        r = store_open(&c, false, &s, e);
        if (r < 0)
                return r;
        MatchCtx m = {.id = a->container_id, .ifname = a->ifname};
        if (s.dir_fd >= 0)
                (void) store_foreach(&s, match_cb, &m);
        if (m.found == 0)
                return cni_error(e, CNI_ERR_UNKNOWN_CONTAINER,
                                 "nodelet-ipam: failed to find address added by container %s", a->container_id);
        return 0;
}

int cni_ipam_status(const CniArgs *a, CniError *e) {
        _cleanup_(ipam_config_done) IpamConfig c = {};
        int r = ipam_config_parse(a, &c, e);
        if (r < 0)
                return r;
        /* Ready when the data directory can be created and written; addresses may still run out. */
        _cleanup_free_ char *dir = NULL;
        if (path_join(&dir, c.data_dir, c.network) < 0)
                return cni_error(e, CNI_ERR_INTERNAL, "out of memory");
        r = mkdir_p(dir, 0755);
        if (r < 0 || access(dir, W_OK) < 0)
                return cni_error(e, CNI_ERR_STATUS_UNAVAILABLE, "data directory %s is not writable", dir);
        return 0;
}

typedef struct GcCtx {
        json_t *valid;
        unsigned removed;
} GcCtx;

static int gc_cb(const Store *s, const Lease *l, void *userdata) {
        GcCtx *g = userdata;
        size_t i;
        json_t *v;

        json_array_foreach (g->valid, i, v) {
                const char *id = json_string_value(json_object_get(v, "containerID"));
                const char *ifname = json_string_value(json_object_get(v, "ifname"));
                if (id && ifname && lease_matches(l, id, ifname))
                        return 0;
        }
        if (unlinkat(s->dir_fd, l->name, 0) == 0)
                g->removed++;
        return 0;
}

int cni_ipam_gc(const CniArgs *a, CniError *e) {
        _cleanup_(ipam_config_done) IpamConfig c = {};
        _cleanup_(store_close) Store s = {-EBADF, -EBADF};
        int r;

        r = ipam_config_parse(a, &c, e);
        if (r < 0)
                return r;
        GcCtx g = {.valid = json_object_get(a->conf, "cni.dev/valid-attachments")};
        if (g.valid && !json_is_array(g.valid))
                return cni_error(e, CNI_ERR_INVALID_CONFIG, "cni.dev/valid-attachments: expected a list");
        r = store_open(&c, false, &s, e);
        if (r < 0 || s.dir_fd < 0)
                return r;
        r = store_foreach(&s, gc_cb, &g);
        if (r < 0)
                return cni_error(e, CNI_ERR_IO, "failed to collect leases: %s", strerror(-r));
        return 0;
}

int cni_ipam_validate(const CniArgs *a, CniError *e) {
        _cleanup_(ipam_config_done) IpamConfig c = {};
        return ipam_config_parse(a, &c, e);
}

const CniPlugin cni_ipam_plugin = {
        .name = "nodelet-ipam",
        .add = cni_ipam_add,
        .del = cni_ipam_del,
        .check = cni_ipam_check,
        .status = cni_ipam_status,
        .gc = cni_ipam_gc,
};
