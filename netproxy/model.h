/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Service and EndpointSlice objects (core/v1 Service, discovery.k8s.io/v1 EndpointSlice) reduced to what a proxy
 * needs. Parsers take the jansson tree as the API server or `kubectl get -o json|yaml` prints it and fill an
 * ErrorBuf naming the field when the object is unusable. Nothing here knows where the objects come from. */

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/in-addr.h"

typedef enum Proto {
        PROTO_TCP,
        PROTO_UDP,
        PROTO_SCTP,
        _PROTO_MAX,
        _PROTO_INVALID = -EINVAL,
} Proto;

const char *proto_to_string(Proto p); /* "TCP", "UDP", "SCTP" as in the API */
Proto proto_from_string(const char *s);
uint8_t proto_to_ipproto(Proto p); /* IPPROTO_TCP, ... */

typedef enum ServiceType {
        SERVICE_CLUSTER_IP,
        SERVICE_NODE_PORT,
        SERVICE_LOAD_BALANCER,
        SERVICE_EXTERNAL_NAME,
        _SERVICE_TYPE_MAX,
        _SERVICE_TYPE_INVALID = -EINVAL,
} ServiceType;

typedef struct ServicePort {
        char *name; /* "" when the Service has a single unnamed port */
        Proto proto;
        uint16_t port;
        uint16_t node_port; /* 0 = none */
} ServicePort;

/* The default ClientIP affinity timeout (core/v1 DefaultClientIPServiceAffinitySeconds: 3 hours). */
#define SERVICE_AFFINITY_TIMEOUT_DEFAULT 10800U

typedef struct Service {
        char *namespace, *name; /* "namespace/name" is key */
        char *key;              /* one allocation with namespace and name: key owns it */
        ServiceType type;
        InAddr *cluster_ips; /* empty for headless ("None") services */
        size_t n_cluster_ips;
        InAddr *external_ips;
        size_t n_external_ips;
        InAddr *lb_ips; /* status.loadBalancer.ingress[].ip with ipMode VIP or unset */
        size_t n_lb_ips;
        InPrefix *source_ranges; /* spec.loadBalancerSourceRanges */
        size_t n_source_ranges;
        ServicePort *ports;
        size_t n_ports;
        bool affinity;             /* sessionAffinity: ClientIP */
        uint32_t affinity_timeout; /* seconds */
        bool external_local;       /* externalTrafficPolicy: Local */
        bool internal_local;       /* internalTrafficPolicy: Local */
        uint16_t health_check_node_port;
} Service;

typedef struct Endpoint {
        InAddr addr;
        bool ready, serving, terminating;
        char *node_name; /* NULL when unknown; the proxy replaces it by `local` to keep 10k-Service state small */
        bool local;      /* nodeName is this node */
        bool remote;     /* nodeName is another node (unset: neither) */
} Endpoint;

typedef struct SlicePort {
        char *name; /* "" for the unnamed port */
        Proto proto;
        uint16_t port; /* 0 = unknown port (the slice carries no number): skipped */
} SlicePort;

/* Endpoint conditions in a packed slice (endpoint_slice_pack()). */
enum {
        EP_READY = 1 << 0,
        EP_SERVING = 1 << 1,
        EP_TERMINATING = 1 << 2,
        EP_LOCAL = 1 << 3,
        EP_REMOTE = 1 << 4,
};

typedef struct EndpointSlice {
        char *namespace, *name, *key; /* one allocation: key owns it */
        char *service_name;           /* label kubernetes.io/service-name */
        int family;                   /* addressType IPv4/IPv6; FQDN slices are rejected */
        Endpoint *endpoints;          /* NULL once packed */
        uint8_t *packed;              /* n_endpoints × (address, EP_* flags) once packed */
        size_t n_endpoints;
        SlicePort *ports;
        size_t n_ports;
} EndpointSlice;

/* Parse objects; on error the ErrorBuf says "Service default/web: spec.ports[0].port: ...". */
int service_parse(const json_t *obj, Service **ret, ErrorBuf *e);
Service *service_free(Service *s);
int endpoint_slice_parse(const json_t *obj, EndpointSlice **ret, ErrorBuf *e);
EndpointSlice *endpoint_slice_free(EndpointSlice *s);
/* Replaces endpoints[] by the packed form a proxy keeps of 10,000 slices: per endpoint in_addr_family_size(family)
 * address bytes and one byte of EP_* flags (40 bytes an endpoint become 5 for IPv4). nodeName is reduced to EP_LOCAL (equal
 * to hostname) or EP_REMOTE (another node); neither when either is unset. A packed slice is not packed again. */
int endpoint_slice_pack(EndpointSlice *s, const char *hostname);
/* Endpoint i of a slice, packed or not; node_name is NULL for a packed slice. */
void endpoint_slice_get(const EndpointSlice *s, size_t i, Endpoint *ret);
/* Equal objects program the same rules: an update that changes nothing else (resourceVersion, status of other
 * fields, managedFields) is a no-op. */
bool service_equal(const Service *a, const Service *b);
bool endpoint_slice_equal(const EndpointSlice *a, const EndpointSlice *b);

/* "Service", "EndpointSlice", or NULL; the kind of an object (items of *List kinds are handled by callers). */
const char *object_kind(const json_t *obj);

DEFINE_TRIVIAL_CLEANUP_FUNC(Service *, service_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EndpointSlice *, endpoint_slice_free)
