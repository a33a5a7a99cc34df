/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "common/http-server.h"
#include "common/log.h"
#include "netproxy/healthcheck.h"

typedef struct HealthServer {
        uint16_t port;
        char ns[254], name[254];
        int count;
        bool seen;
        HttpServer *http;
} HealthServer;

struct HealthServers {
        sd_event *event;
        HealthServer **servers;
        size_t n;
};

int health_servers_new(sd_event *e, HealthServers **ret) {
        HealthServers *h = calloc(1, sizeof(HealthServers));
        RET_NULL_ENOMEM(h);
        h->event = sd_event_ref(e);
        *ret = h;
        return 0;
}

static void server_free(HealthServer *s) {
        http_server_free(s->http);
        free(s);
}

HealthServers *health_servers_free(HealthServers *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                server_free(h->servers[i]);
        free(h->servers);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

/* Like kube-proxy's service health server: every path and method gets the same answer. */
static int handle(HttpRequest *req, void *userdata) {
        HealthServer *s = userdata;
        char *body = NULL;
        int n = asprintf(&body,
                         "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},\"localEndpoints\":%d,"
                         "\"serviceProxyHealthy\":true}\n",
                         s->ns, s->name, s->count);
        if (n < 0)
                return -ENOMEM;
        (void) http_request_add_header(req, "X-Content-Type-Options", "nosniff");
        return http_respond(req, s->count > 0 ? 200 : 503, "application/json", body, (size_t) n);
}

typedef struct UpdateCtx {
        HealthServers *h;
        int failed;
} UpdateCtx;

static void update_one(const char *ns, const char *name, uint16_t port, int count, void *userdata) {
        UpdateCtx *c = userdata;
        HealthServers *h = c->h;
        ErrorBuf err = {};
        int r;

        for (size_t i = 0; i < h->n; i++)
                if (h->servers[i]->port == port) {
                        HealthServer *s = h->servers[i];
                        snprintf(s->ns, sizeof(s->ns), "%s", ns);
                        snprintf(s->name, sizeof(s->name), "%s", name);
                        s->count = count;
                        s->seen = true;
                        return;
                }
        HealthServer *s = calloc(1, sizeof(HealthServer));
        HealthServer **l = realloc(h->servers, (h->n + 1) * sizeof(HealthServer *));
        if (!s || !l) {
                free(s);
                if (l)
                        h->servers = l;
                c->failed++;
                return;
        }
        h->servers = l;
        *s = (HealthServer){.port = port, .count = count, .seen = true};
        snprintf(s->ns, sizeof(s->ns), "%s", ns);
        snprintf(s->name, sizeof(s->name), "%s", name);
        /* Every address, dual-stack where the host has IPv6, like kube-proxy's listener on ":<port>". */
        r = http_server_new(h->event, &(HttpServerConfig){.port = port, .max_connections = 64}, &s->http, &err);
        if (r >= 0)
                r = http_server_add_route(s->http, NULL, "/", handle, s);
        if (r < 0) {
                log_debug_errno(r, "healthCheckNodePort %u of %s/%s: %s", port, ns, name, error_message(&err, r));
                server_free(s);
                c->failed++;
                return;
        }
        h->servers[h->n++] = s;
}

int health_servers_update(HealthServers *h, NetProxy *np) {
        UpdateCtx c = {.h = h};
        for (size_t i = 0; i < h->n; i++)
                h->servers[i]->seen = false;
        netproxy_foreach_health_check(np, update_one, &c);
        /* Stop servers of Services that went away. */
        for (size_t i = 0; i < h->n;) {
                if (h->servers[i]->seen) {
                        i++;
                        continue;
                }
                HealthServer *s = h->servers[i];
                h->servers[i] = h->servers[--h->n];
                server_free(s);
        }
        return c.failed;
}
