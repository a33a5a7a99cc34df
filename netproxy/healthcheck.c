/* SPDX-License-Identifier: Apache-2.0 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>

#include "netproxy/healthcheck.h"

typedef struct HealthServer {
        uint16_t port;
        char ns[254], name[254];
        int count;
        bool seen;
        struct MHD_Daemon *daemon;
        HealthServers *owner;
} HealthServer;

struct HealthServers {
        pthread_mutex_t lock;
        HealthServer **servers;
        size_t n;
};

int health_servers_new(HealthServers **ret) {
        HealthServers *h = calloc(1, sizeof(HealthServers));
        RET_NULL_ENOMEM(h);
        pthread_mutex_init(&h->lock, NULL);
        *ret = h;
        return 0;
}

static void server_free(HealthServer *s) {
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        free(s);
}

HealthServers *health_servers_free(HealthServers *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                server_free(h->servers[i]);
        free(h->servers);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
        HealthServer *s = cls;
        char body[1024];
        pthread_mutex_lock(&s->owner->lock);
        int count = s->count;
        int n = snprintf(body, sizeof(body),
                         "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},\"localEndpoints\":%d,"
                         "\"serviceProxyHealthy\":true}\n",
                         s->ns, s->name, count);
        pthread_mutex_unlock(&s->owner->lock);
        struct MHD_Response *resp = MHD_create_response_from_buffer((size_t) n, body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        enum MHD_Result r = MHD_queue_response(conn, count > 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, resp);
        MHD_destroy_response(resp);
        return r;
}

typedef struct UpdateCtx {
        HealthServers *h;
        int failed;
} UpdateCtx;

static void update_one(const char *ns, const char *name, uint16_t port, int count, void *userdata) {
        UpdateCtx *c = userdata;
        HealthServers *h = c->h;
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
        *s = (HealthServer){.port = port, .count = count, .seen = true, .owner = h};
        snprintf(s->ns, sizeof(s->ns), "%s", ns);
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_DUAL_STACK, port, NULL, NULL, handle, s,
                                     MHD_OPTION_END);
        if (!s->daemon)
                s->daemon =
                        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL, handle, s, MHD_OPTION_END);
        if (!s->daemon) {
                free(s);
                c->failed++;
                return;
        }
        h->servers[h->n++] = s;
}

int health_servers_update(HealthServers *h, NetProxy *np) {
        UpdateCtx c = {.h = h};
        pthread_mutex_lock(&h->lock);
        for (size_t i = 0; i < h->n; i++)
                h->servers[i]->seen = false;
        netproxy_foreach_health_check(np, update_one, &c);
        pthread_mutex_unlock(&h->lock);
        /* Stop servers of Services that went away (outside the lock: stopping joins the server thread). */
        for (size_t i = 0; i < h->n;) {
                if (h->servers[i]->seen) {
                        i++;
                        continue;
                }
                HealthServer *s = h->servers[i];
                pthread_mutex_lock(&h->lock);
                h->servers[i] = h->servers[--h->n];
                pthread_mutex_unlock(&h->lock);
                server_free(s);
        }
        return c.failed;
}
