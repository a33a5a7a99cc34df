/* SPDX-License-Identifier: Apache-2.0 */
/* The per-pod files: /etc/hosts (the kubelet's managed hosts file, pkg/kubelet/kubelet_pods.go), /etc/resolv.conf
 * (pkg/kubelet/network/dns/dns.go GetPodDNS, written the way containerd writes the sandbox's file), /etc/hostname,
 * and the termination message. See agent/volumes.h. */
#include "agent/volumes.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/strv.h"

/* Kubernetes' validation limits (pkg/apis/core/validation): resolv.conf search list and nameservers. */
#define MAX_DNS_NAMESERVERS 3
#define MAX_DNS_SEARCH_PATHS 32
#define MAX_DNS_SEARCH_LIST_CHARS 2048
#define DNS1123_SUBDOMAIN_MAX 253
#define HOSTNAME_MAX 63
#define RESOLV_CONF_MAX (10u << 20) /* the kubelet's maxResolvConfLength */

#define MANAGED_HOSTS_HEADER "# Kubernetes-managed hosts file.\n"
#define MANAGED_HOSTS_HEADER_HOST_NETWORK "# Kubernetes-managed hosts file (host network).\n"

int pod_hostname_and_domain(const Pod *p, const char *cluster_domain, char **ret_hostname, char **ret_domain,
                            ErrorBuf *e) {
        const char *h = !isempty(p->hostname) ? p->hostname : p->name;
        if (isempty(h))
                return error_set(e, -EINVAL, "the pod has no name to derive a hostname from");
        /* truncatePodHostnameIfNeeded: 63 characters, then no trailing '-' or '.'. */
        size_t l = MIN(strlen(h), (size_t) HOSTNAME_MAX);
        while (l > 0 && (h[l - 1] == '-' || h[l - 1] == '.'))
                l--;
        if (l == 0)
                return error_set(e, -EINVAL, "hostname \"%s\" is empty once truncated", h);
        _cleanup_free_ char *hostname = strndup(h, l), *domain = NULL;
        RET_NULL_ENOMEM(hostname);
        if (!isempty(p->subdomain) &&
            asprintf(&domain, "%s.%s.svc.%s", p->subdomain, strempty(p->namespace_), strempty(cluster_domain)) < 0)
                return -ENOMEM;
        *ret_hostname = TAKE_PTR(hostname);
        *ret_domain = TAKE_PTR(domain);
        return 0;
}

static void hosts_aliases(FILE *f, const Pod *p) {
        if (p->n_host_aliases == 0)
                return;
        fputs("\n# Entries added by HostAliases.\n", f);
        for (size_t i = 0; i < p->n_host_aliases; i++) {
                fputs(strempty(p->host_aliases[i].ip), f);
                fputc('\t', f);
                for (char **h = p->host_aliases[i].hostnames; h && *h; h++)
                        fprintf(f, "%s%s", h == p->host_aliases[i].hostnames ? "" : "\t", *h);
                fputc('\n', f);
        }
}

static int memstream_finish(FILE *f, char **buf, char **ret) {
        bool failed = ferror(f);
        if (fclose(f) != 0 || failed) {
                free(*buf);
                *buf = NULL;
                return -ENOMEM;
        }
        *ret = TAKE_PTR(*buf);
        return 0;
}

int pod_hosts_file_content(const Pod *p, char *const *pod_ips, const PodDnsSettings *dns, char **ret, ErrorBuf *e) {
        _cleanup_free_ char *node_hosts = NULL, *hostname = NULL, *domain = NULL;
        int r;

        if (p->host_network) {
                /* The node's own hosts file, under its header (nodeHostsFileContent). */
                const char *path = dns && dns->host_hosts_file ? dns->host_hosts_file : "/etc/hosts";
                r = read_full_file(path, 1u << 20, &node_hosts, NULL);
                if (r < 0)
                        return error_set(e, r, "reading %s: %s", path, strerror(-r));
        } else {
                r = pod_hostname_and_domain(p, dns ? dns->cluster_domain : NULL, &hostname, &domain, e);
                if (r < 0)
                        return r;
        }

        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        RET_NULL_ENOMEM(f);
        if (node_hosts) {
                fputs(MANAGED_HOSTS_HEADER_HOST_NETWORK, f);
                fputs(node_hosts, f);
        } else {
                fputs(MANAGED_HOSTS_HEADER, f);
                fputs("127.0.0.1\tlocalhost\n"
                      "::1\tlocalhost ip6-localhost ip6-loopback\n"
                      "fe00::0\tip6-localnet\n"
                      "fe00::0\tip6-mcastprefix\n"
                      "fe00::1\tip6-allnodes\n"
                      "fe00::2\tip6-allrouters\n",
                      f);
                for (char *const *ip = pod_ips; ip && *ip; ip++)
                        if (domain)
                                fprintf(f, "%s\t%s.%s\t%s\n", *ip, hostname, domain, hostname);
                        else
                                fprintf(f, "%s\t%s\n", *ip, hostname);
        }
        hosts_aliases(f, p);
        return memstream_finish(f, &buf, ret);
}

/* ---- resolv.conf ---- */

typedef struct DnsConf {
        char **servers, **searches, **options;
} DnsConf;

static void dns_conf_done(DnsConf *c) {
        strv_free(c->servers);
        strv_free(c->searches);
        strv_free(c->options);
        *c = (DnsConf){};
}

/* The kubelet's parseResolvConf: nameservers accumulate, the last search line and options lines win per name;
 * search domains lose a trailing dot and "." itself. */
static int resolv_conf_parse(const char *text, DnsConf *c) {
        _cleanup_free_ char *copy = strdup(text);
        RET_NULL_ENOMEM(copy);
        char *save = NULL;
        int r;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *fsave = NULL;
                char *word = strtok_r(line, " \t\r\f\v", &fsave);
                if (!word || word[0] == '#')
                        continue;
                if (streq(word, "nameserver")) {
                        char *ns = strtok_r(NULL, " \t\r\f\v", &fsave);
                        if (ns && (r = strv_extend(&c->servers, ns)) < 0)
                                return r;
                } else if (streq(word, "search")) {
                        strv_free(c->searches);
                        c->searches = NULL;
                        for (char *s; (s = strtok_r(NULL, " \t\r\f\v", &fsave));) {
                                if (streq(s, "."))
                                        continue;
                                size_t l = strlen(s);
                                if (l > 1 && s[l - 1] == '.')
                                        s[l - 1] = 0;
                                if ((r = strv_extend(&c->searches, s)) < 0)
                                        return r;
                        }
                } else if (streq(word, "options")) {
                        for (char *o; (o = strtok_r(NULL, " \t\r\f\v", &fsave));) {
                                /* appendOptions: a later option replaces one with the same name. */
                                size_t nl = strcspn(o, ":");
                                bool replaced = false;
                                for (char **x = c->options; x && *x && !replaced; x++)
                                        if (strncmp(*x, o, nl) == 0 && ((*x)[nl] == 0 || (*x)[nl] == ':')) {
                                                char *n = strdup(o);
                                                RET_NULL_ENOMEM(n);
                                                free(*x);
                                                *x = n;
                                                replaced = true;
                                        }
                                if (!replaced && (r = strv_extend(&c->options, o)) < 0)
                                        return r;
                        }
                }
        }
        return 0;
}

/* mergeDNSOptions: a dnsConfig option replaces the one with the same name (in place, so the order is stable; the
 * kubelet's map gives no order at all), else it is appended. */
static int dns_options_merge(char ***options, char *const *add) {
        for (char *const *o = add; o && *o; o++) {
                size_t nl = strcspn(*o, ":");
                bool replaced = false;
                for (char **x = *options; x && *x && !replaced; x++)
                        if (strncmp(*x, *o, nl) == 0 && ((*x)[nl] == 0 || (*x)[nl] == ':')) {
                                char *n = strdup(*o);
                                RET_NULL_ENOMEM(n);
                                free(*x);
                                *x = n;
                                replaced = true;
                        }
                if (!replaced) {
                        int r = strv_extend(options, *o);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* formDNSSearchFitsLimits: at most 32 domains, none longer than 253, the line at most 2048 characters (cut from
 * the end). */
static void dns_searches_fit(char **l) {
        if (!l)
                return;
        /* The count first, then the long ones (so a long one still takes a place among the 32). */
        size_t n = 0;
        for (size_t i = 0; l[i]; i++) {
                if (i >= MAX_DNS_SEARCH_PATHS || strlen(l[i]) > DNS1123_SUBDOMAIN_MAX) {
                        free(l[i]);
                        continue;
                }
                l[n++] = l[i];
        }
        l[n] = NULL;
        size_t line = 0;
        for (size_t i = 0; i < n; i++)
                line += strlen(l[i]) + (i > 0);
        while (n > 0 && line > MAX_DNS_SEARCH_LIST_CHARS) {
                line -= strlen(l[n - 1]) + (n > 1);
                free(l[--n]);
                l[n] = NULL;
        }
}

static int host_dns_conf(const PodDnsSettings *dns, DnsConf *c, ErrorBuf *e) {
        const char *path = dns && dns->host_resolv_conf ? dns->host_resolv_conf : "/etc/resolv.conf";
        if (!*path)
                return 0;
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(path, RESOLV_CONF_MAX, &text, NULL);
        if (r < 0)
                return error_set(e, r, "reading the host's %s: %s", path, strerror(-r));
        return resolv_conf_parse(text, c);
}

int pod_resolv_conf_content(const Pod *p, const PodDnsSettings *dns, char **ret, ErrorBuf *e) {
        _cleanup_(dns_conf_done) DnsConf c = {};
        int r;

        DnsPolicy policy = p->dns_policy;
        /* ClusterFirst on the host network is Default (getPodDNSType); ClusterFirstWithHostNet is ClusterFirst. */
        if (policy == DNS_POLICY_CLUSTER_FIRST && p->host_network)
                policy = DNS_POLICY_DEFAULT;
        if (policy == DNS_POLICY_CLUSTER_FIRST_WITH_HOST_NET)
                policy = DNS_POLICY_CLUSTER_FIRST;
        /* Without a cluster DNS server ClusterFirst falls back to Default (the kubelet warns with an event). */
        if (policy == DNS_POLICY_CLUSTER_FIRST && (!dns || strv_isempty(dns->cluster_dns)))
                policy = DNS_POLICY_DEFAULT;

        if (policy != DNS_POLICY_NONE) {
                r = host_dns_conf(dns, &c, e);
                if (r < 0)
                        return r;
        }
        if (policy == DNS_POLICY_CLUSTER_FIRST) {
                /* The cluster DNS is the only nameserver: it forwards what it cannot resolve itself. */
                strv_free(c.servers);
                c.servers = NULL;
                for (char *const *s = dns->cluster_dns; *s; s++)
                        if ((r = strv_extend(&c.servers, *s)) < 0)
                                return r;
                if (!isempty(dns->cluster_domain)) {
                        _cleanup_strv_free_ char **searches = NULL;
                        _cleanup_free_ char *ns_svc = NULL, *svc = NULL;
                        if (asprintf(&ns_svc, "%s.svc.%s", strempty(p->namespace_), dns->cluster_domain) < 0 ||
                            asprintf(&svc, "svc.%s", dns->cluster_domain) < 0)
                                return -ENOMEM;
                        if ((r = strv_extend_unique(&searches, ns_svc)) < 0 ||
                            (r = strv_extend_unique(&searches, svc)) < 0 ||
                            (r = strv_extend_unique(&searches, dns->cluster_domain)) < 0)
                                return r;
                        for (char **s = c.searches; s && *s; s++)
                                if ((r = strv_extend_unique(&searches, *s)) < 0)
                                        return r;
                        strv_free(c.searches);
                        c.searches = TAKE_PTR(searches);
                }
                strv_free(c.options);
                c.options = NULL;
                if ((r = strv_extend(&c.options, "ndots:5")) < 0)
                        return r;
        } else if (policy == DNS_POLICY_DEFAULT && dns && dns->host_resolv_conf && !*dns->host_resolv_conf) {
                /* --resolv-conf="": the local resolver, and no search (the kubelet's documented behaviour; node IPs
                 * of both families would add ::1, nodelet does not know them here). */
                if ((r = strv_extend(&c.servers, "127.0.0.1")) < 0 || (r = strv_extend(&c.searches, ".")) < 0)
                        return r;
        }

        if (p->has_dns_config) {
                _cleanup_strv_free_ char **servers = NULL, **searches = NULL;
                for (char **s = c.servers; s && *s; s++)
                        if ((r = strv_extend_unique(&servers, *s)) < 0)
                                return r;
                for (char **s = p->dns_config.nameservers; s && *s; s++)
                        if ((r = strv_extend_unique(&servers, *s)) < 0)
                                return r;
                for (char **s = c.searches; s && *s; s++)
                        if ((r = strv_extend_unique(&searches, *s)) < 0)
                                return r;
                for (char **s = p->dns_config.searches; s && *s; s++)
                        if ((r = strv_extend_unique(&searches, *s)) < 0)
                                return r;
                strv_free(c.servers);
                c.servers = TAKE_PTR(servers);
                strv_free(c.searches);
                c.searches = TAKE_PTR(searches);
                if ((r = dns_options_merge(&c.options, p->dns_config.options)) < 0)
                        return r;
        }

        /* formDNSConfigFitsLimits */
        if (strv_length(c.servers) > MAX_DNS_NAMESERVERS) {
                for (size_t i = MAX_DNS_NAMESERVERS; c.servers[i]; i++)
                        free(c.servers[i]);
                c.servers[MAX_DNS_NAMESERVERS] = NULL;
        }
        dns_searches_fit(c.searches);

        /* containerd's parseDNSOptions: search, nameservers, options. */
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        RET_NULL_ENOMEM(f);
        if (!strv_isempty(c.searches)) {
                fputs("search", f);
                for (char **s = c.searches; *s; s++)
                        fprintf(f, " %s", *s);
                fputc('\n', f);
        }
        for (char **s = c.servers; s && *s; s++)
                fprintf(f, "nameserver %s\n", *s);
        if (!strv_isempty(c.options)) {
                fputs("options", f);
                for (char **s = c.options; *s; s++)
                        fprintf(f, " %s", *s);
                fputc('\n', f);
        }
        return memstream_finish(f, &buf, ret);
}

/* ---- writing ---- */

/* Rewrites path (0644) only when the content differs: an unchanged file keeps its inode, which running
 * containers have bind-mounted. */
static int write_if_changed(const char *path, const char *content) {
        _cleanup_free_ char *old = NULL;
        size_t l = strlen(content);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 &&
            read_full_file(path, l + 1, &old, NULL) == 0 && streq(old, content))
                return 0;
        int r = write_file_atomic(path, content, l, 0644, false);
        if (r < 0)
                return r;
        return chmod(path, 0644) < 0 ? -errno : 1;
}

int pod_files_write(const Pod *p, const char *pod_dir, char *const *pod_ips, const PodDnsSettings *dns, ErrorBuf *e) {
        _cleanup_free_ char *hosts = NULL, *resolv = NULL, *hostname = NULL, *domain = NULL, *path = NULL;
        int r = mkdir_p(pod_dir, 0750);
        if (r < 0)
                return error_set(e, r, "creating %s: %s", pod_dir, strerror(-r));

        /* /etc/hosts: only once the pod has IPs (the kubelet mounts none before). */
        if (asprintf(&path, "%s/etc-hosts", pod_dir) < 0)
                return -ENOMEM;
        if (strv_isempty(pod_ips)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return error_set(e, -errno, "removing %s: %m", path);
        } else {
                r = pod_hosts_file_content(p, pod_ips, dns, &hosts, e);
                if (r < 0)
                        return error_prefix(e, r, "/etc/hosts");
                r = write_if_changed(path, hosts);
                if (r < 0)
                        return error_set(e, r, "writing %s: %s", path, strerror(-r));
        }

        r = pod_resolv_conf_content(p, dns, &resolv, e);
        if (r < 0)
                return error_prefix(e, r, "/etc/resolv.conf");
        if (!*resolv) {
                /* Nothing at all: containerd copies the host's file instead of writing an empty one. */
                const char *host = dns && !isempty(dns->host_resolv_conf) ? dns->host_resolv_conf : "/etc/resolv.conf";
                free(resolv);
                resolv = NULL;
                if (read_full_file(host, RESOLV_CONF_MAX, &resolv, NULL) < 0) {
                        resolv = strdup("");
                        RET_NULL_ENOMEM(resolv);
                }
        }
        free(path);
        if (asprintf(&path, "%s/resolv.conf", pod_dir) < 0)
                return -ENOMEM;
        r = write_if_changed(path, resolv);
        if (r < 0)
                return error_set(e, r, "writing %s: %s", path, strerror(-r));

        /* /etc/hostname: the pod's hostname, or the node's on the host network (containerd's sandbox file). */
        _cleanup_free_ char *content = NULL;
        if (p->host_network) {
                char h[HOST_NAME_MAX + 1] = "";
                if (gethostname(h, sizeof(h) - 1) < 0)
                        return error_set(e, -errno, "gethostname: %m");
                r = asprintf(&content, "%s\n", h);
        } else {
                r = pod_hostname_and_domain(p, dns ? dns->cluster_domain : NULL, &hostname, &domain, e);
                if (r < 0)
                        return error_prefix(e, r, "/etc/hostname");
                r = asprintf(&content, "%s\n", hostname);
        }
        if (r < 0)
                return -ENOMEM;
        free(path);
        if (asprintf(&path, "%s/hostname", pod_dir) < 0)
                return -ENOMEM;
        r = write_if_changed(path, content);
        if (r < 0)
                return error_set(e, r, "writing %s: %s", path, strerror(-r));
        return 0;
}

int pod_termination_message_read(const char *termination_file, char **ret) {
        _cleanup_close_ int fd = open(termination_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        char *s;
        if (fd < 0) {
                if (errno != ENOENT)
                        return -errno;
                s = strdup("");
                RET_NULL_ENOMEM(s);
                *ret = s;
                return 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* The tail, like the kubelet's tail.ReadAtMost. */
        if (st.st_size > POD_TERMINATION_MESSAGE_MAX &&
            lseek(fd, st.st_size - POD_TERMINATION_MESSAGE_MAX, SEEK_SET) < 0)
                return -errno;
        s = malloc(POD_TERMINATION_MESSAGE_MAX + 1);
        RET_NULL_ENOMEM(s);
        size_t n = 0;
        while (n < POD_TERMINATION_MESSAGE_MAX) {
                ssize_t k = read(fd, s + n, POD_TERMINATION_MESSAGE_MAX - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        free(s);
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        s[n] = 0;
        *ret = s;
        return 0;
}
