/* SPDX-License-Identifier: Apache-2.0 */
/* `nodeletctl proxy`: netproxy without a control plane. Objects come from files (YAML or JSON, multi-document,
 * *List kinds included); `sync --watch` follows a directory with inotify and applies changes incrementally. */

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "common/event-util.h"
#include "common/json-stream.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/time-util.h"
#include "common/yaml.h"
#include "netproxy/healthcheck.h"
#include "netproxy/netproxy.h"

typedef struct ObjRef {
        char *kind, *ns, *name;
} ObjRef;

/* What one file contributed, so that an object removed from a file is deleted. */
typedef struct FileObjs {
        char *path;
        ObjRef *objs;
        size_t n;
} FileObjs;

typedef struct Ctl {
        NetProxy *np;
        FileObjs *files;
        size_t n_files;
        unsigned bad;
        bool verbose;
        bool track; /* --watch: remember what each file holds (a one-shot sync reads every file once) */
} Ctl;

static void file_objs_clear(FileObjs *f) {
        for (size_t i = 0; i < f->n; i++) {
                free(f->objs[i].kind);
                free(f->objs[i].ns);
                free(f->objs[i].name);
        }
        free(f->objs);
        f->objs = NULL;
        f->n = 0;
}

static FileObjs *ctl_file(Ctl *c, const char *path, bool create) {
        for (size_t i = 0; i < c->n_files; i++)
                if (streq(c->files[i].path, path))
                        return &c->files[i];
        if (!create)
                return NULL;
        FileObjs *l = realloc(c->files, (c->n_files + 1) * sizeof(FileObjs));
        if (!l)
                return NULL;
        c->files = l;
        l[c->n_files] = (FileObjs){.path = strdup(path)};
        if (!l[c->n_files].path)
                return NULL;
        return &l[c->n_files++];
}

static int ref_add(FileObjs *f, const char *kind, const json_t *obj) {
        json_t *meta = json_object_get(obj, "metadata");
        const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "default";
        const char *name = json_string_value(json_object_get(meta, "name"));
        if (!name)
                return 0;
        ObjRef *l = realloc(f->objs, (f->n + 1) * sizeof(ObjRef));
        RET_NULL_ENOMEM(l);
        f->objs = l;
        l[f->n] = (ObjRef){strdup(kind), strdup(ns), strdup(name)};
        if (!l[f->n].kind || !l[f->n].ns || !l[f->n].name)
                return -ENOMEM;
        f->n++;
        return 0;
}

static void apply_one(Ctl *c, FileObjs *f, const char *path, const char *kind, json_t *obj) {
        ErrorBuf e = {};
        if (kind && !json_object_get(obj, "kind"))
                json_object_set_new(obj, "kind", json_string(kind));
        const char *k = json_string_value(json_object_get(obj, "kind"));
        if (!k || (!streq(k, "Service") && !streq(k, "EndpointSlice")))
                return; /* other kinds may share the directory (Pods, ...): not ours */
        int r = netproxy_update_object(c->np, obj, &e);
        if (r == -EOPNOTSUPP) {
                log_debug("%s: %s, ignoring", path, error_message(&e, r));
                return;
        }
        if (r < 0) {
                log_error("%s: %s, skipping", path, error_message(&e, r));
                c->bad++;
                return;
        }
        if (c->track)
                (void) ref_add(f, k, obj);
}

/* An item of a List document: API lists omit kind in their items (ServiceList → Service); plain "List" keeps them.
 * Items of objects that are no list are not objects of their own. */
static void apply_list_item(Ctl *c, FileObjs *f, const char *path, const char *list_kind, json_t *item) {
        char item_kind[64] = "";
        if (!endswith(list_kind, "List"))
                return;
        /* A plain List names the kind of each item; an item that cannot be an object is refused, not skipped. */
        if (!json_is_object(item) || (streq(list_kind, "List") && !json_is_string(json_object_get(item, "kind")))) {
                log_error("%s: %s item: %s%s, skipping", path, list_kind,
                          json_is_object(item) ? "object has no \"kind\"" : "expected an object, got ",
                          json_is_object(item) ? "" : json_type_name(item));
                c->bad++;
                return;
        }
        if (!streq(list_kind, "List") && strlen(list_kind) < sizeof(item_kind))
                snprintf(item_kind, sizeof(item_kind), "%.*s", (int) (strlen(list_kind) - 4), list_kind);
        apply_one(c, f, path, item_kind[0] ? item_kind : NULL, item);
}

static void apply_document(Ctl *c, FileObjs *f, const char *path, json_t *d) {
        /* Like kubectl: a document is an object with a kind (a List included); a bare array of objects, a scalar or
         * an object without kind is refused with the reason instead of being skipped silently. */
        if (!json_is_object(d) || !json_is_string(json_object_get(d, "kind"))) {
                log_error("%s: %s%s, skipping", path,
                          json_is_object(d) ? "object has no \"kind\"" : "expected an object (or a List), got ",
                          json_is_object(d) ? "" : json_type_name(d));
                c->bad++;
                return;
        }
        const char *kind = json_string_value(json_object_get(d, "kind"));
        json_t *items = json_object_get(d, "items");
        if (kind && endswith(kind, "List") && json_is_array(items)) {
                size_t j;
                json_t *it;
                json_array_foreach (items, j, it)
                        apply_list_item(c, f, path, kind, it);
        } else
                apply_one(c, f, path, NULL, d);
}

/* JSON files are read as a stream: each item of a List becomes netproxy's model as soon as it is read and is freed
 * right after, so a 10k-Service List is never one tree (common/json-stream.h). */
typedef struct JsonFile {
        Ctl *c;
        FileObjs *f;
        const char *path;
        json_t *pending; /* items read before their List's kind (kind is not required to come first) */
} JsonFile;

static int json_file_item(json_t *item, const json_t *head, size_t index, void *userdata, ErrorBuf *e) {
        JsonFile *x = userdata;
        const char *kind = json_string_value(json_object_get(head, "kind"));
        (void) index;
        (void) e;
        if (!kind)
                return json_array_append(x->pending, item) < 0 ? -ENOMEM : 0;
        apply_list_item(x->c, x->f, x->path, kind, item);
        return 0;
}

static int json_file_value(json_t *value, size_t n_items, void *userdata, ErrorBuf *e) {
        JsonFile *x = userdata;
        const char *kind = json_string_value(json_object_get(value, "kind"));
        size_t i;
        json_t *it;
        (void) n_items;
        (void) e;
        json_array_foreach (x->pending, i, it)
                apply_list_item(x->c, x->f, x->path, strempty(kind), it);
        json_array_clear(x->pending);
        apply_document(x->c, x->f, x->path, value);
        return 0;
}

/* 1 when the file was read as a JSON stream, 0 when it does not start like JSON or is not strict JSON (YAML flow
 * style, `---` separators: the YAML reader handles those), negative errno when reading failed. */
static int load_json_file(Ctl *c, FileObjs *f, const char *path, ErrorBuf *e) {
        _cleanup_json_ json_t *pending = json_array();
        JsonFile x = {.c = c, .f = f, .path = path, .pending = pending};
        JxStreamConfig cfg = {
                .split_member = "items", .on_item = json_file_item, .on_value = json_file_value, .userdata = &x};
        _cleanup_(jx_stream_freep) JxStream *s = NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        char buf[4096];
        ssize_t n;
        size_t skip = 0;
        int r;

        if (fd < 0)
                return -errno;
        RET_NULL_ENOMEM(pending);
        do
                n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        while (skip < (size_t) n && isspace((unsigned char) buf[skip]))
                skip++;
        if (skip == (size_t) n || buf[skip] != '{')
                return 0;
        if ((r = jx_stream_new(&cfg, &s)) < 0)
                return r;
        r = jx_stream_feed(s, buf, (size_t) n, e);
        if (r >= 0)
                r = jx_stream_feed_fd(s, fd, e);
        /* Objects applied before a syntax error are applied again by the YAML reader: updates equal to the known
         * object are no-ops. */
        if (r == -EBADMSG)
                return 0;
        return r < 0 ? r : 1;
}

static int yaml_file_document(json_t *doc, void *userdata) {
        JsonFile *x = userdata;
        apply_document(x->c, x->f, x->path, doc);
        return 0;
}

/* (Re)reads one file: everything it held before and no longer holds is deleted. */
static int load_file(Ctl *c, const char *path) {
        ErrorBuf e = {};
        FileObjs *f = ctl_file(c, path, true);
        RET_NULL_ENOMEM(f);
        FileObjs old = *f;
        f->objs = NULL;
        f->n = 0;
        struct stat st;

        /* A FIFO named x.yaml would block the reader forever, a device could have side effects: only regular
         * files are read (a missing file is a deletion, below). */
        int r = stat(path, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : error_set(&e, -EBADFD, "not a regular file");
        if (r >= 0)
                r = load_json_file(c, f, path, &e);
        if (r == 0) {
                /* YAML is read one document at a time, like JSON one item at a time. */
                JsonFile x = {.c = c, .f = f, .path = path};
                error_clear(&e);
                r = yaml_load_file_documents_foreach(path, yaml_file_document, &x, &e);
        }
        if (r < 0 && r != -ENOENT) {
                log_error("%s: %s, skipping", path, error_message(&e, r));
                c->bad++;
        }
        /* deletions: in old, not in new */
        for (size_t a = 0; a < old.n; a++) {
                bool kept = false;
                for (size_t b = 0; b < f->n && !kept; b++)
                        kept = streq(old.objs[a].kind, f->objs[b].kind) && streq(old.objs[a].ns, f->objs[b].ns) &&
                               streq(old.objs[a].name, f->objs[b].name);
                if (!kept)
                        (void) netproxy_delete_object(c->np, old.objs[a].kind, old.objs[a].ns, old.objs[a].name);
        }
        file_objs_clear(&old);
        return 0;
}

static bool manifest_name(const char *name) {
        return name[0] != '.' && (endswith(name, ".yaml") || endswith(name, ".yml") || endswith(name, ".json"));
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int load_path(Ctl *c, const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                return log_error_errno(-errno, "Cannot access %s: %m", path);
        if (!S_ISDIR(st.st_mode))
                return load_file(c, path);
        DIR *d = opendir(path);
        if (!d)
                return log_error_errno(-errno, "Cannot open %s: %m", path);
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (!manifest_name(de->d_name))
                        continue;
                char **l = realloc(names, (n + 1) * sizeof(char *));
                if (!l || asprintf(&l[n], "%s/%s", path, de->d_name) < 0) {
                        names = l ?: names;
                        r = -ENOMEM;
                        break;
                }
                names = l;
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = load_file(c, names[i]);
                free(names[i]);
        }
        free(names);
        return r;
}

/* --nodeport-addresses default: the node's primary addresses, i.e. those of the interfaces holding the default
 * routes (kube-proxy uses the Node's addresses; without a Node object this is the closest equivalent). */
static void default_route_ifaces(char ifs[2][IF_NAMESIZE]) {
        char line[512];
        FILE *f = fopen("/proc/net/route", "re");
        while (f && fgets(line, sizeof(line), f)) {
                char dev[64];
                unsigned long dst, mask;
                if (sscanf(line, "%63s %lx %*x %*x %*d %*d %*d %lx", dev, &dst, &mask) == 3 && dst == 0 && mask == 0)
                        snprintf(ifs[0], IF_NAMESIZE, "%.15s", dev);
        }
        if (f)
                fclose(f);
        f = fopen("/proc/net/ipv6_route", "re");
        while (f && fgets(line, sizeof(line), f)) {
                char dst[64], plen[8], dev[64];
                if (sscanf(line, "%63s %7s %*s %*s %*s %*s %*s %*s %*s %63s", dst, plen, dev) == 3 &&
                    strspn(dst, "0") == 32 && streq(plen, "00") && !streq(dev, "lo"))
                        snprintf(ifs[1], IF_NAMESIZE, "%.15s", dev);
        }
        if (f)
                fclose(f);
}

static int node_addresses(const InPrefix *filters, size_t n_filters, InAddr **ret, size_t *ret_n) {
        struct ifaddrs *ifa = NULL;
        char ifs[2][IF_NAMESIZE] = {};
        InAddr *l = NULL;
        size_t n = 0;
        if (getifaddrs(&ifa) < 0)
                return -errno;
        if (n_filters == 0)
                default_route_ifaces(ifs);
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
                        continue;
                InAddr a = {.family = i->ifa_addr->sa_family};
                if (a.family == AF_INET)
                        memcpy(a.bytes, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
                else
                        memcpy(a.bytes, &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, 16);
                bool ok = false;
                if (n_filters > 0)
                        for (size_t k = 0; k < n_filters && !ok; k++)
                                ok = in_prefix_contains(&filters[k], &a);
                else
                        ok = streq(i->ifa_name, ifs[a.family == AF_INET6]) &&
                             !(a.family == AF_INET6 && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80);
                if (!ok)
                        continue;
                InAddr *nl = realloc(l, (n + 1) * sizeof(InAddr));
                if (!nl) {
                        free(l);
                        freeifaddrs(ifa);
                        return -ENOMEM;
                }
                l = nl;
                l[n++] = a;
        }
        freeifaddrs(ifa);
        *ret = l;
        *ret_n = n;
        return 0;
}

static int parse_cidr_list(const char *arg, InPrefix *out, size_t max, size_t *ret_n, const char *opt) {
        _cleanup_free_ char *copy = strdup(arg);
        size_t n = 0;
        RET_NULL_ENOMEM(copy);
        for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n >= max)
                        return log_error_errno(-EINVAL, "%s: too many values", opt);
                if (in_prefix_parse(t, IN_PARSE_BARE_ADDRESS | IN_PARSE_NETWORK, &out[n]) < 0)
                        return log_error_errno(-EINVAL, "%s: invalid CIDR \"%s\"", opt, t);
                n++;
        }
        *ret_n = n;
        return 0;
}

/* One CIDR per family, as kube-proxy's dual-stack --cluster-cidr. */
static int parse_family_cidrs(const char *arg, InPrefix out[2], const char *opt) {
        InPrefix l[2];
        size_t n = 0;
        int r = parse_cidr_list(arg, l, 2, &n, opt);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                int f = l[i].addr.family == AF_INET6;
                if (out[f].addr.family)
                        return log_error_errno(-EINVAL, "%s: one CIDR per address family", opt);
                out[f] = l[i];
        }
        return 0;
}

static void print_metrics(Ctl *c) {
        if (c->verbose)
                netproxy_metrics_print(netproxy_metrics(c->np), stdout);
        fflush(stdout);
}

static int do_sync(Ctl *c, HealthServers *hs) {
        int r = netproxy_sync(c->np);
        if (r < 0)
                return log_error_errno(r, "Failed to program nftables: %m");
        if (hs && health_servers_update(hs, c->np) > 0)
                log_warning("Could not open some healthCheckNodePorts, retrying later");
        if (r > 0 && c->verbose) {
                const NetProxyMetrics *m = netproxy_metrics(c->np);
                bool full = m->last_sync_full;
                log_info("synced (%s): %.6fs, +%llu -%llu elements, %llu chains changed, %llu bytes",
                         full ? "full" : "partial", (full ? m->last_full_sync_usec : m->last_partial_sync_usec) / 1e6,
                         (unsigned long long) m->last_elements_added, (unsigned long long) m->last_elements_deleted,
                         (unsigned long long) m->last_chains_changed, (unsigned long long) m->last_batch_bytes);
        }
        return 0;
}

static int watch_loop(Ctl *c, const char *dir, unsigned verify_sec, unsigned full_sec) {
        _cleanup_close_ int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), sfd = -EBADF;
        _cleanup_event_ sd_event *event = NULL;
        _cleanup_(health_servers_freep) HealthServers *hs = NULL;
        sigset_t mask;
        int r;

        if (ifd < 0)
                return log_error_errno(-errno, "inotify_init1() failed: %m");
        if (inotify_add_watch(ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0)
                return log_error_errno(-errno, "Cannot watch %s: %m", dir);
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error_errno(-errno, "signalfd() failed: %m");
        /* The healthCheckNodePort servers run on an sd-event loop; its epoll fd joins the poll() below. */
        if ((r = sd_event_new(&event)) < 0)
                return log_error_errno(r, "Failed to create an event loop: %m");
        if ((r = health_servers_new(event, &hs)) < 0)
                return log_error_errno(r, "Out of memory");
        (void) do_sync(c, hs);
        print_metrics(c);

        uint64_t last = now_usec(CLOCK_MONOTONIC), last_full = last;
        for (;;) {
                struct pollfd p[3] = {{.fd = ifd, .events = POLLIN},
                                      {.fd = sfd, .events = POLLIN},
                                      {.fd = sd_event_get_fd(event), .events = POLLIN}};
                r = poll(p, 3, (int) (verify_sec * 1000));
                if (r < 0 && errno != EINTR)
                        return log_error_errno(-errno, "poll() failed: %m");
                if (p[1].revents)
                        break;
                if (p[2].revents) {
                        r = sd_event_run(event, 0);
                        if (r < 0)
                                return log_error_errno(r, "Event loop failed: %m");
                }
                if (p[0].revents) {
                        char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
                        ssize_t n;
                        while ((n = read(ifd, buf, sizeof(buf))) > 0)
                                for (char *q = buf; q < buf + n;) {
                                        struct inotify_event *ev = (struct inotify_event *) q;
                                        q += sizeof(struct inotify_event) + ev->len;
                                        if (ev->len == 0 || !manifest_name(ev->name))
                                                continue;
                                        _cleanup_free_ char *path = NULL;
                                        if (asprintf(&path, "%s/%s", dir, ev->name) < 0)
                                                return log_error_errno(-ENOMEM, "Out of memory");
                                        (void) load_file(c, path);
                                }
                        (void) do_sync(c, hs);
                }
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (full_sec > 0 && now - last_full >= (uint64_t) full_sec * USEC_PER_SEC) {
                        /* Like kube-proxy's periodic full resync: also repairs what counting cannot see (an element
                         * changed behind our back). */
                        last_full = now;
                        netproxy_request_full_sync(c->np);
                        (void) do_sync(c, hs);
                }
                if (now - last >= (uint64_t) verify_sec * USEC_PER_SEC) {
                        last = now;
                        /* Periodic verification: repairs a flushed or deleted table with a full sync. */
                        if (netproxy_verify(c->np) > 0)
                                log_warning("nftables table was modified behind our back, resyncing");
                        /* Also retries a sync that failed (the next one is full); a no-op when nothing is pending. */
                        (void) do_sync(c, hs);
                }
        }
        print_metrics(c);
        return 0;
}

static void usage(FILE *f) {
        fputs("usage: nodeletctl proxy sync [OPTIONS] DIR|FILE...\n"
              "       nodeletctl proxy sync --watch [OPTIONS] DIR\n"
              "       nodeletctl proxy cleanup [--table NAME]\n\n"
              "options:\n"
              "  --cluster-cidr CIDR[,CIDR]      pod network; off-cluster traffic to ClusterIPs is masqueraded\n"
              "  --service-cidr CIDR[,CIDR]      traffic to unallocated IPs in this range is dropped\n"
              "  --nodeport-addresses CIDR,...   NodePorts listen on node addresses inside these ranges\n"
              "                                  (default: the node's primary addresses)\n"
              "  --masquerade-all                masquerade all traffic to Services\n"
              "  --hostname-override NAME        node name for Local traffic policies (default: hostname)\n"
              "  --watch                         follow DIR with inotify and sync incrementally\n"
              "  --verify-interval SEC           how often --watch verifies the kernel state (default 30)\n"
              "  --full-sync-interval SEC        how often --watch rewrites everything (default 3600, 0 = never)\n"
              "  --dry-run                       parse and build the transaction, do not send it\n"
              "  -v, --verbose                   print sync metrics\n"
              "      --debug                     debug logging (sync phases)\n"
              "  --table NAME                    the nftables table name (default nodelet)\n"
              "  --root-dir DIR, --state-dir DIR accepted like every nodeletctl verb's; netproxy keeps its state\n"
              "                                  in the kernel and does not use them\n",
              f);
}

static int ctl_sync(int argc, char *argv[]) {
        static const struct option opts[] = {
                {"cluster-cidr", required_argument, NULL, 'c'},
                {"service-cidr", required_argument, NULL, 's'},
                {"nodeport-addresses", required_argument, NULL, 'n'},
                {"masquerade-all", no_argument, NULL, 'm'},
                {"hostname-override", required_argument, NULL, 'H'},
                {"watch", no_argument, NULL, 'w'},
                {"verify-interval", required_argument, NULL, 'i'},
                {"full-sync-interval", required_argument, NULL, 'F'},
                {"table", required_argument, NULL, 't'},
                {"dry-run", no_argument, NULL, 'd'},
                {"verbose", no_argument, NULL, 'v'},
                {"debug", no_argument, NULL, 'D'},
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        NetProxyConfig cfg = {};
        InPrefix np_filters[16];
        size_t n_filters = 0;
        bool watch = false;
        unsigned verify = 30, full = 3600;
        char host[256] = "";
        Ctl c = {};
        int o, r;

        optind = 0; /* 0: GNU getopt re-initializes fully after proxy_ctl_main's own parse */
        while ((o = getopt_long(argc, argv, "vh", opts, NULL)) >= 0)
                switch (o) {
                case 'R':
                case 'S':
                        break;
                case 'c':
                        if (parse_family_cidrs(optarg, cfg.cluster_cidr, "--cluster-cidr") < 0)
                                return 2;
                        break;
                case 's':
                        if (parse_family_cidrs(optarg, cfg.service_cidr, "--service-cidr") < 0)
                                return 2;
                        break;
                case 'n':
                        if (!streq(optarg, "primary") && parse_cidr_list(optarg, np_filters, ELEMENTSOF(np_filters),
                                                                         &n_filters, "--nodeport-addresses") < 0)
                                return 2;
                        break;
                case 'm':
                        cfg.masquerade_all = true;
                        break;
                case 'H':
                        snprintf(host, sizeof(host), "%s", optarg);
                        break;
                case 'w':
                        watch = true;
                        break;
                case 'i':
                        verify = (unsigned) strtoul(optarg, NULL, 10);
                        if (verify == 0)
                                verify = 1;
                        break;
                case 'F':
                        full = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        cfg.table = optarg;
                        break;
                case 'd':
                        cfg.dry_run = true;
                        break;
                case 'v':
                        c.verbose = true;
                        break;
                case 'D':
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind >= argc || (watch && argc - optind != 1)) {
                usage(stderr);
                return 2;
        }
        if (!host[0] && gethostname(host, sizeof(host) - 1) < 0)
                host[0] = 0;
        for (char *p = host; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        cfg.hostname = host[0] ? host : NULL;
        _cleanup_free_ InAddr *addrs = NULL;
        r = node_addresses(np_filters, n_filters, &addrs, &cfg.n_nodeport_addresses);
        if (r < 0)
                return log_error_errno(r, "Failed to enumerate node addresses: %m"), 1;
        cfg.nodeport_addresses = addrs;

        c.track = watch;
        r = netproxy_new(&cfg, &c.np);
        if (r < 0)
                return log_error_errno(r, "Out of memory"), 1;
        for (int i = optind; i < argc; i++)
                (void) load_path(&c, argv[i]);
        /* Files are complete listings: both kinds count as synced once read. */
        netproxy_set_synced(c.np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);

        if (watch)
                r = watch_loop(&c, argv[optind], verify, full);
        else {
                r = do_sync(&c, NULL);
                if (r >= 0 && cfg.dry_run && c.verbose) {
                        _cleanup_free_ char *text = NULL;
                        if (netproxy_describe(c.np, &text) >= 0)
                                fputs(text, stdout);
                }
                print_metrics(&c);
        }
        for (size_t i = 0; i < c.n_files; i++) {
                file_objs_clear(&c.files[i]);
                free(c.files[i].path);
        }
        free(c.files);
        netproxy_free(c.np);
        return r < 0 ? 1 : c.bad > 0 ? 1 : 0;
}

static int ctl_cleanup(int argc, char *argv[]) {
        static const struct option opts[] = {
                {"table", required_argument, NULL, 't'},
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *table = "nodelet";
        int o;
        /* Every option is parsed before anything is deleted: `cleanup --help` must never act. */
        optind = 0;
        while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0)
                switch (o) {
                case 't':
                        table = optarg;
                        break;
                case 'R':
                case 'S':
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }
        int r = netproxy_cleanup(table);
        if (r < 0)
                return log_error_errno(r, "Failed to delete nftables tables: %m"), 1;
        return 0;
}

int proxy_ctl_main(int argc, char *argv[]) {
        static const struct option opts[] = {
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int o;
        /* '+': options up to the command are ours (`proxy --root-dir X sync`), the rest belong to the command. */
        optind = 0;
        while ((o = getopt_long(argc, argv, "+h", opts, NULL)) >= 0)
                switch (o) {
                case 'R':
                case 'S':
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[optind];
        if (streq(cmd, "sync"))
                return ctl_sync(argc - optind, argv + optind);
        if (streq(cmd, "cleanup"))
                return ctl_cleanup(argc - optind, argv + optind);
        fprintf(stderr, "nodeletctl proxy: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
}
