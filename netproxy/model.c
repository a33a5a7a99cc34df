/* SPDX-License-Identifier: Apache-2.0 */
/* Service / EndpointSlice parsing. Defaults follow the API server's defaulting (pkg/apis/core/v1/defaults.go) so
 * that objects written by hand read like objects read back from the API server. */

#include <stdio.h>

#include "common/json-util.h"
#include "netproxy/model.h"

static const char *const proto_names[_PROTO_MAX] = {
        [PROTO_TCP] = "TCP",
        [PROTO_UDP] = "UDP",
        [PROTO_SCTP] = "SCTP",
};

const char *proto_to_string(Proto p) {
        return p >= 0 && p < _PROTO_MAX ? proto_names[p] : NULL;
}

Proto proto_from_string(const char *s) {
        for (Proto p = 0; p < _PROTO_MAX; p++)
                if (streq(s, proto_names[p]))
                        return p;
        return _PROTO_INVALID;
}

uint8_t proto_to_ipproto(Proto p) {
        switch (p) {
        case PROTO_UDP:
                return IPPROTO_UDP;
        case PROTO_SCTP:
                return IPPROTO_SCTP;
        default:
                return IPPROTO_TCP;
        }
}

const char *object_kind(const json_t *obj) {
        const char *k = json_string_value(json_object_get(obj, "kind"));
        if (k && (streq(k, "Service") || streq(k, "EndpointSlice")))
                return k;
        return NULL;
}

static int parse_meta(const json_t *obj, const char *kind, char **ret_ns, char **ret_name, char **ret_key,
                      ErrorBuf *e) {
        json_t *meta;
        const char *name = NULL, *ns = "default";
        int r = jx_get_object(obj, "metadata", "", true, &meta, e);
        if (r < 0)
                return error_prefix(e, r, "%s", kind);
        r = jx_get_string(meta, "name", "metadata", true, &name, e);
        if (r < 0)
                return error_prefix(e, r, "%s", kind);
        r = jx_get_string(meta, "namespace", "metadata", false, &ns, e);
        if (r < 0)
                return error_prefix(e, r, "%s %s", kind, name);
        if (isempty(name))
                return error_set(e, -EINVAL, "%s: metadata.name: must not be empty", kind);
        /* "ns/name\0ns\0name\0": one allocation instead of three, for each of 20,000 objects. */
        size_t ln = strlen(ns), lm = strlen(name);
        char *buf = malloc(2 * (ln + lm) + 4);
        RET_NULL_ENOMEM(buf);
        memcpy(buf, ns, ln);
        buf[ln] = '/';
        memcpy(buf + ln + 1, name, lm + 1);
        *ret_ns = memcpy(buf + ln + lm + 2, ns, ln + 1);
        *ret_name = memcpy(buf + 2 * ln + lm + 3, name, lm + 1);
        *ret_key = buf;
        return 0;
}

static int parse_ip_list(const json_t *arr, const char *path, InAddr **ret, size_t *ret_n, ErrorBuf *e) {
        size_t n = json_array_size(arr), k = 0;
        InAddr *l = calloc(n ?: 1, sizeof(InAddr));
        RET_NULL_ENOMEM(l);
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(arr, i));
                if (!s) {
                        free(l);
                        return error_set(e, -EINVAL, "%s[%zu]: expected a string", path, i);
                }
                if (streq(s, "None") || isempty(s))
                        continue;
                if (in_addr_parse(s, 0, &l[k]) < 0) {
                        free(l);
                        return error_set(e, -EINVAL, "%s[%zu]: invalid IP address \"%s\"", path, i, s);
                }
                k++;
        }
        *ret = l;
        *ret_n = k;
        return 0;
}

static int parse_service_ports(const json_t *spec, Service *s, ErrorBuf *e) {
        json_t *ports = NULL;
        int r = jx_get_array(spec, "ports", "spec", false, &ports, e);
        if (r < 0)
                return r;
        s->ports = calloc(json_array_size(ports) ?: 1, sizeof(ServicePort));
        RET_NULL_ENOMEM(s->ports);
        size_t i;
        json_t *p;
        json_array_foreach (ports, i, p) {
                ServicePort *sp = &s->ports[i];
                char path[64];
                const char *name = "", *proto = "TCP";
                int64_t port = 0, node_port = 0;
                snprintf(path, sizeof(path), "spec.ports[%zu]", i);
                if (!json_is_object(p))
                        return error_set(e, -EINVAL, "%s: expected an object, got %s", path, json_type_name(p));
                if ((r = jx_get_string(p, "name", path, false, &name, e)) < 0 ||
                    (r = jx_get_string(p, "protocol", path, false, &proto, e)) < 0 ||
                    (r = jx_get_int(p, "port", path, true, 1, 65535, &port, e)) < 0 ||
                    (r = jx_get_int(p, "nodePort", path, false, 0, 65535, &node_port, e)) < 0)
                        return r;
                sp->proto = proto_from_string(proto);
                if (sp->proto < 0)
                        return error_set(e, -EINVAL, "%s.protocol: unsupported protocol \"%s\"", path, proto);
                sp->name = strdup(name);
                RET_NULL_ENOMEM(sp->name);
                sp->port = (uint16_t) port;
                sp->node_port = (uint16_t) node_port;
                s->n_ports++;
        }
        return 0;
}

static int parse_service_addresses(const json_t *obj, const json_t *spec, Service *s, ErrorBuf *e) {
        json_t *ips = NULL, *ext = NULL, *ranges = NULL, *status = NULL, *lb = NULL, *ingress = NULL;
        const char *cip = NULL;
        int r;

        /* clusterIPs (dual-stack) supersedes clusterIP; "None" marks a headless Service, which has no VIP. */
        if ((r = jx_get_array(spec, "clusterIPs", "spec", false, &ips, e)) < 0)
                return r;
        if (ips && json_array_size(ips) > 0)
                r = parse_ip_list(ips, "spec.clusterIPs", &s->cluster_ips, &s->n_cluster_ips, e);
        else {
                _cleanup_json_ json_t *one = NULL;
                if ((r = jx_get_string(spec, "clusterIP", "spec", false, &cip, e)) < 0)
                        return r;
                one = cip ? json_pack("[s]", cip) : json_array();
                RET_NULL_ENOMEM(one);
                r = parse_ip_list(one, "spec.clusterIP", &s->cluster_ips, &s->n_cluster_ips, e);
        }
        if (r < 0)
                return r;

        if ((r = jx_get_array(spec, "externalIPs", "spec", false, &ext, e)) < 0 ||
            (r = parse_ip_list(ext, "spec.externalIPs", &s->external_ips, &s->n_external_ips, e)) < 0)
                return r;

        if ((r = jx_get_array(spec, "loadBalancerSourceRanges", "spec", false, &ranges, e)) < 0)
                return r;
        s->source_ranges = calloc(json_array_size(ranges) ?: 1, sizeof(InPrefix));
        RET_NULL_ENOMEM(s->source_ranges);
        for (size_t i = 0; i < json_array_size(ranges); i++) {
                json_t *cj = json_array_get(ranges, i);
                const char *c = json_string_value(cj);
                if (!c)
                        return error_set(e, -EINVAL, "spec.loadBalancerSourceRanges[%zu]: expected a string, got %s", i,
                                         json_type_name(cj));
                /* Matched as networks (host bits cleared, like net.ParseCIDR); a bare address is one host. */
                if (in_prefix_parse(c, IN_PARSE_BARE_ADDRESS | IN_PARSE_NETWORK,
                                    &s->source_ranges[s->n_source_ranges]) < 0)
                        return error_set(e, -EINVAL, "spec.loadBalancerSourceRanges[%zu]: invalid CIDR \"%.64s\"", i,
                                         c);
                s->n_source_ranges++;
        }

        /* Only ingress points with ipMode VIP (or unset, the pre-1.29 behaviour) are captured on the node; "Proxy"
         * means the load balancer delivers to the node address itself. */
        if ((r = jx_get_object(obj, "status", "", false, &status, e)) < 0 ||
            (status && (r = jx_get_object(status, "loadBalancer", "status", false, &lb, e)) < 0) ||
            (lb && (r = jx_get_array(lb, "ingress", "status.loadBalancer", false, &ingress, e)) < 0))
                return r;
        s->lb_ips = calloc(json_array_size(ingress) ?: 1, sizeof(InAddr));
        RET_NULL_ENOMEM(s->lb_ips);
        for (size_t i = 0; i < json_array_size(ingress); i++) {
                json_t *in = json_array_get(ingress, i);
                const char *ip = json_string_value(json_object_get(in, "ip"));
                const char *mode = json_string_value(json_object_get(in, "ipMode"));
                if (!ip || (mode && !streq(mode, "VIP")))
                        continue;
                if (in_addr_parse(ip, 0, &s->lb_ips[s->n_lb_ips]) < 0)
                        return error_set(e, -EINVAL,
                                         "status.loadBalancer.ingress[%zu].ip: invalid IP address \"%.64s\"", i, ip);
                s->n_lb_ips++;
        }
        return 0;
}

static int parse_service_policies(const json_t *spec, Service *s, ErrorBuf *e) {
        const char *type = "ClusterIP", *aff = "None", *etp = "Cluster", *itp = "Cluster";
        int64_t timeout = SERVICE_AFFINITY_TIMEOUT_DEFAULT, hc = 0;
        json_t *affcfg = NULL, *client = NULL;
        int r;

        if ((r = jx_get_string(spec, "type", "spec", false, &type, e)) < 0 ||
            (r = jx_get_string(spec, "sessionAffinity", "spec", false, &aff, e)) < 0 ||
            (r = jx_get_string(spec, "externalTrafficPolicy", "spec", false, &etp, e)) < 0 ||
            (r = jx_get_string(spec, "internalTrafficPolicy", "spec", false, &itp, e)) < 0 ||
            (r = jx_get_int(spec, "healthCheckNodePort", "spec", false, 0, 65535, &hc, e)) < 0 ||
            (r = jx_get_object(spec, "sessionAffinityConfig", "spec", false, &affcfg, e)) < 0 ||
            (affcfg && (r = jx_get_object(affcfg, "clientIP", "spec.sessionAffinityConfig", false, &client, e)) < 0) ||
            (client && (r = jx_get_int(client, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP", false, 1, 86400,
                                       &timeout, e)) < 0))
                return r;

        if (streq(type, "ClusterIP"))
                s->type = SERVICE_CLUSTER_IP;
        else if (streq(type, "NodePort"))
                s->type = SERVICE_NODE_PORT;
        else if (streq(type, "LoadBalancer"))
                s->type = SERVICE_LOAD_BALANCER;
        else if (streq(type, "ExternalName"))
                s->type = SERVICE_EXTERNAL_NAME;
        else
                return error_set(e, -EINVAL, "spec.type: unknown Service type \"%s\"", type);

        if (!streq(aff, "None") && !streq(aff, "ClientIP"))
                return error_set(e, -EINVAL, "spec.sessionAffinity: unknown value \"%s\"", aff);
        if (!streq(etp, "Cluster") && !streq(etp, "Local"))
                return error_set(e, -EINVAL, "spec.externalTrafficPolicy: unknown value \"%s\"", etp);
        if (!streq(itp, "Cluster") && !streq(itp, "Local"))
                return error_set(e, -EINVAL, "spec.internalTrafficPolicy: unknown value \"%s\"", itp);
        s->affinity = streq(aff, "ClientIP");
        s->affinity_timeout = (uint32_t) timeout;
        s->external_local = streq(etp, "Local");
        s->internal_local = streq(itp, "Local");
        s->health_check_node_port = (uint16_t) hc;
        return 0;
}

static void *drop_empty(void *p, size_t n) {
        return n == 0 ? mfree(p) : p;
}

int service_parse(const json_t *obj, Service **ret, ErrorBuf *e) {
        _cleanup_(service_freep) Service *s = calloc(1, sizeof(Service));
        json_t *spec;
        int r;

        RET_NULL_ENOMEM(s);
        r = parse_meta(obj, "Service", &s->namespace, &s->name, &s->key, e);
        if (r < 0)
                return r;
        r = jx_get_object(obj, "spec", "", true, &spec, e);
        if (r >= 0)
                r = parse_service_policies(spec, s, e);
        if (r >= 0)
                r = parse_service_ports(spec, s, e);
        if (r >= 0)
                r = parse_service_addresses(obj, spec, s, e);
        if (r < 0)
                return error_prefix(e, r, "Service %s", s->key);
        /* Most Services have no external or load-balancer IPs: no allocation for them in a 10k-Service model. */
        s->cluster_ips = drop_empty(s->cluster_ips, s->n_cluster_ips);
        s->external_ips = drop_empty(s->external_ips, s->n_external_ips);
        s->lb_ips = drop_empty(s->lb_ips, s->n_lb_ips);
        s->source_ranges = drop_empty(s->source_ranges, s->n_source_ranges);

        *ret = TAKE_PTR(s);
        return 0;
}

Service *service_free(Service *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_ports; i++)
                free(s->ports[i].name);
        free(s->ports);
        free(s->cluster_ips);
        free(s->external_ips);
        free(s->lb_ips);
        free(s->source_ranges);
        free(s->key); /* and namespace and name */
        free(s);
        return NULL;
}

static int parse_conditions(const json_t *ep, const char *path, Endpoint *out, ErrorBuf *e) {
        json_t *cond = NULL;
        int r = jx_get_object(ep, "conditions", path, false, &cond, e);
        if (r < 0)
                return r;
        /* discovery/v1: a nil ready means ready; nil serving follows ready; nil terminating is false. */
        bool ready = true, serving, terminating = false;
        char cpath[96];
        snprintf(cpath, sizeof(cpath), "%s.conditions", path);
        if (cond && (r = jx_get_bool(cond, "ready", cpath, false, &ready, e)) < 0)
                return r;
        serving = ready;
        if (cond && ((r = jx_get_bool(cond, "serving", cpath, false, &serving, e)) < 0 ||
                     (r = jx_get_bool(cond, "terminating", cpath, false, &terminating, e)) < 0))
                return r;
        out->ready = ready;
        out->serving = serving;
        out->terminating = terminating;
        return 0;
}

static int parse_slice_endpoints(const json_t *obj, EndpointSlice *s, ErrorBuf *e) {
        json_t *eps = NULL;
        int r = jx_get_array(obj, "endpoints", "", false, &eps, e);
        if (r < 0)
                return r;
        s->endpoints = calloc(json_array_size(eps) ?: 1, sizeof(Endpoint));
        RET_NULL_ENOMEM(s->endpoints);
        size_t i;
        json_t *ep;
        json_array_foreach (eps, i, ep) {
                char path[64];
                json_t *addrs = NULL;
                const char *node = NULL;
                Endpoint *out = &s->endpoints[s->n_endpoints];
                snprintf(path, sizeof(path), "endpoints[%zu]", i);
                if (!json_is_object(ep))
                        return error_set(e, -EINVAL, "%s: expected an object, got %s", path, json_type_name(ep));
                if ((r = jx_get_array(ep, "addresses", path, true, &addrs, e)) < 0 ||
                    (r = jx_get_string(ep, "nodeName", path, false, &node, e)) < 0 ||
                    (r = parse_conditions(ep, path, out, e)) < 0)
                        return r;
                /* Like kube-proxy, only the first address is used (the API says consumers may assume they are
                 * fungible). */
                json_t *aj = json_array_get(addrs, 0);
                const char *a = json_string_value(aj);
                if (!aj)
                        return error_set(e, -EINVAL, "%s.addresses: at least one address is required", path);
                if (!a)
                        return error_set(e, -EINVAL, "%s.addresses[0]: expected a string, got %s", path,
                                         json_type_name(aj));
                if (in_addr_parse(a, 0, &out->addr) < 0)
                        return error_set(e, -EINVAL, "%s.addresses[0]: invalid IP address \"%.64s\"", path, a);
                if (out->addr.family != s->family)
                        return error_set(e, -EINVAL,
                                         "%s.addresses[0]: address family of \"%s\" does not match addressType %s",
                                         path, a, s->family == AF_INET6 ? "IPv6" : "IPv4");
                if (node) {
                        out->node_name = strdup(node);
                        RET_NULL_ENOMEM(out->node_name);
                }
                s->n_endpoints++;
        }
        return 0;
}

static int parse_slice_ports(const json_t *obj, EndpointSlice *s, ErrorBuf *e) {
        json_t *ports = NULL;
        int r = jx_get_array(obj, "ports", "", false, &ports, e);
        if (r < 0)
                return r;
        s->ports = calloc(json_array_size(ports) ?: 1, sizeof(SlicePort));
        RET_NULL_ENOMEM(s->ports);
        size_t i;
        json_t *p;
        json_array_foreach (ports, i, p) {
                char path[32];
                const char *name = "", *proto = "TCP";
                int64_t port = 0;
                SlicePort *sp = &s->ports[s->n_ports];
                snprintf(path, sizeof(path), "ports[%zu]", i);
                if (!json_is_object(p))
                        return error_set(e, -EINVAL, "%s: expected an object, got %s", path, json_type_name(p));
                if ((r = jx_get_string(p, "name", path, false, &name, e)) < 0 ||
                    (r = jx_get_string(p, "protocol", path, false, &proto, e)) < 0 ||
                    (r = jx_get_int(p, "port", path, false, 1, 65535, &port, e)) < 0)
                        return r;
                sp->proto = proto_from_string(proto);
                if (sp->proto < 0)
                        return error_set(e, -EINVAL, "%s.protocol: unsupported protocol \"%s\"", path, proto);
                sp->name = strdup(name);
                RET_NULL_ENOMEM(sp->name);
                sp->port = (uint16_t) port;
                s->n_ports++;
        }
        return 0;
}

int endpoint_slice_parse(const json_t *obj, EndpointSlice **ret, ErrorBuf *e) {
        _cleanup_(endpoint_slice_freep) EndpointSlice *s = calloc(1, sizeof(EndpointSlice));
        const char *at = NULL, *svc = NULL;
        json_t *labels = NULL, *meta;
        int r;

        RET_NULL_ENOMEM(s);
        r = parse_meta(obj, "EndpointSlice", &s->namespace, &s->name, &s->key, e);
        if (r < 0)
                return r;
        meta = json_object_get(obj, "metadata");
        if ((r = jx_get_object(meta, "labels", "metadata", false, &labels, e)) < 0 ||
            (labels &&
             (r = jx_get_string(labels, "kubernetes.io/service-name", "metadata.labels", false, &svc, e)) < 0) ||
            (r = jx_get_string(obj, "addressType", "", true, &at, e)) < 0)
                return error_prefix(e, r, "EndpointSlice %s", s->key);
        /* The Service a slice belongs to is named by this label (the EndpointSlice controller sets it). */
        if (isempty(svc))
                return error_set(e, -EINVAL, "EndpointSlice %s: metadata.labels: missing kubernetes.io/service-name",
                                 s->key);
        if (streq(at, "IPv4"))
                s->family = AF_INET;
        else if (streq(at, "IPv6"))
                s->family = AF_INET6;
        else
                return error_set(e, -EOPNOTSUPP, "EndpointSlice %s: addressType: unsupported \"%s\"", s->key, at);
        s->service_name = strdup(svc);
        RET_NULL_ENOMEM(s->service_name);
        if ((r = parse_slice_endpoints(obj, s, e)) < 0 || (r = parse_slice_ports(obj, s, e)) < 0)
                return error_prefix(e, r, "EndpointSlice %s", s->key);

        *ret = TAKE_PTR(s);
        return 0;
}

EndpointSlice *endpoint_slice_free(EndpointSlice *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; s->endpoints && i < s->n_endpoints; i++)
                free(s->endpoints[i].node_name);
        for (size_t i = 0; i < s->n_ports; i++)
                free(s->ports[i].name);
        free(s->endpoints);
        free(s->packed);
        free(s->ports);
        free(s->key); /* and namespace and name */
        free(s->service_name);
        free(s);
        return NULL;
}

int endpoint_slice_pack(EndpointSlice *s, const char *hostname) {
        size_t l = in_addr_family_size(s->family);
        if (!s->endpoints)
                return 0;
        uint8_t *p = malloc(s->n_endpoints * (l + 1) ?: 1);
        RET_NULL_ENOMEM(p);
        for (size_t i = 0; i < s->n_endpoints; i++) {
                Endpoint *ep = &s->endpoints[i];
                bool local = hostname && ep->node_name && streq(ep->node_name, hostname);
                bool remote = hostname && ep->node_name && !local;
                memcpy(p + i * (l + 1), ep->addr.bytes, l);
                p[i * (l + 1) + l] = (uint8_t) ((ep->ready ? EP_READY : 0) | (ep->serving ? EP_SERVING : 0) |
                                                (ep->terminating ? EP_TERMINATING : 0) | (local ? EP_LOCAL : 0) |
                                                (remote ? EP_REMOTE : 0));
                free(ep->node_name);
        }
        s->endpoints = mfree(s->endpoints);
        s->packed = p;
        return 0;
}

void endpoint_slice_get(const EndpointSlice *s, size_t i, Endpoint *ret) {
        if (s->endpoints) {
                *ret = s->endpoints[i];
                return;
        }
        size_t l = in_addr_family_size(s->family);
        const uint8_t *p = s->packed + i * (l + 1);
        uint8_t f = p[l];
        *ret = (Endpoint){.addr.family = s->family,
                          .ready = f & EP_READY,
                          .serving = f & EP_SERVING,
                          .terminating = f & EP_TERMINATING,
                          .local = f & EP_LOCAL,
                          .remote = f & EP_REMOTE};
        memcpy(ret->addr.bytes, p, l);
}

static bool ports_equal(const ServicePort *a, const ServicePort *b) {
        return streq(a->name, b->name) && a->proto == b->proto && a->port == b->port && a->node_port == b->node_port;
}

/* memcmp() with empty lists, which are NULL. */
static bool mem_equal(const void *a, const void *b, size_t n) {
        return n == 0 || memcmp(a, b, n) == 0;
}

bool service_equal(const Service *a, const Service *b) {
        if (a->type != b->type || a->affinity != b->affinity || a->affinity_timeout != b->affinity_timeout ||
            a->external_local != b->external_local || a->internal_local != b->internal_local ||
            a->health_check_node_port != b->health_check_node_port || a->n_cluster_ips != b->n_cluster_ips ||
            a->n_external_ips != b->n_external_ips || a->n_lb_ips != b->n_lb_ips ||
            a->n_source_ranges != b->n_source_ranges || a->n_ports != b->n_ports)
                return false;
        /* InAddr and InPrefix come from calloc()ed arrays and have no padding: memcmp is exact. */
        if (!mem_equal(a->cluster_ips, b->cluster_ips, a->n_cluster_ips * sizeof(InAddr)) ||
            !mem_equal(a->external_ips, b->external_ips, a->n_external_ips * sizeof(InAddr)) ||
            !mem_equal(a->lb_ips, b->lb_ips, a->n_lb_ips * sizeof(InAddr)) ||
            !mem_equal(a->source_ranges, b->source_ranges, a->n_source_ranges * sizeof(InPrefix)))
                return false;
        for (size_t i = 0; i < a->n_ports; i++)
                if (!ports_equal(&a->ports[i], &b->ports[i]))
                        return false;
        return true;
}

bool endpoint_slice_equal(const EndpointSlice *a, const EndpointSlice *b) {
        if (a->family != b->family || !streq(a->service_name, b->service_name) || a->n_endpoints != b->n_endpoints ||
            a->n_ports != b->n_ports)
                return false;
        if (a->packed && b->packed) {
                if (memcmp(a->packed, b->packed, a->n_endpoints * (in_addr_family_size(a->family) + 1)) != 0)
                        return false;
        } else
                for (size_t i = 0; i < a->n_endpoints; i++) {
                        Endpoint x, y;
                        endpoint_slice_get(a, i, &x);
                        endpoint_slice_get(b, i, &y);
                        if (!in_addr_equal(&x.addr, &y.addr) || x.ready != y.ready || x.serving != y.serving ||
                            x.terminating != y.terminating || x.local != y.local || x.remote != y.remote ||
                            !streq_ptr(x.node_name, y.node_name))
                                return false;
                }
        for (size_t i = 0; i < a->n_ports; i++)
                if (!streq(a->ports[i].name, b->ports[i].name) || a->ports[i].proto != b->ports[i].proto ||
                    a->ports[i].port != b->ports[i].port)
                        return false;
        return true;
}
