/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* kubectl exec / attach / port-forward: the kubelet API's streaming endpoints on the secure port (docs/agent.md,
 * "kubectl exec/attach/port-forward"):
 *   /exec/{namespace}/{pod}[/{uid}]/{container}?command=…&command=…&input=1&output=1&error=1&tty=1
 *   /attach/{namespace}/{pod}[/{uid}]/{container}?output=1&error=1
 *   /portForward/{namespace}/{pod}[/{uid}][?port=N]
 * (the API server turns kubectl's stdin/stdout/stderr into input/output/error; both spellings are accepted).
 * Each is an upgraded connection, SPDY/3.1 (X-Stream-Protocol-Version v5/v4/v3/v2.channel.k8s.io, channel.k8s.io,
 * portforward.k8s.io) or WebSocket (Sec-WebSocket-Protocol v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io,
 * base64.channel.k8s.io; v4.channel.k8s.io/portforward.k8s.io for port-forward); the tunnelled
 * "SPDY/3.1+portforward.k8s.io" of newer kubectl is refused with 400 so that it falls back to SPDY, as with a
 * kubelet that does not tunnel. Everything runs on the loop: the exec'd process's pipes (or pty), the followed log
 * file and the pod-side sockets are sources next to the client's connection. */

#include "agent/agent.h"
#include "common/http-server.h"

/* Adds the three routes (any method: WebSocket clients GET, SPDY clients POST) to s. */
int streaming_add_routes(Manager *m, HttpServer *s);
