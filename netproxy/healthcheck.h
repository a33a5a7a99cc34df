/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* healthCheckNodePort responders (kube-proxy pkg/proxy/healthcheck): for each LoadBalancer Service with
 * externalTrafficPolicy Local, an HTTP server on its healthCheckNodePort answers 200 while this node has local
 * endpoints and 503 otherwise, so the load balancer sends traffic only to nodes that can serve it locally. The
 * body reports the count. Every server runs on the caller's sd-event loop (common/http-server.h): no threads, so the
 * counts need no lock. */

#include <systemd/sd-event.h>

#include "netproxy/netproxy.h"

typedef struct HealthServers HealthServers;

int health_servers_new(sd_event *e, HealthServers **ret);
HealthServers *health_servers_free(HealthServers *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HealthServers *, health_servers_free)
/* Starts/stops servers so that exactly the Services' healthCheckNodePorts are served, with current counts.
 * Returns the number of ports that could not be opened (already in use, ...), which are retried next time. */
int health_servers_update(HealthServers *h, NetProxy *np);
