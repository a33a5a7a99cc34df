/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Pods from the API server and their status (agent/api-pods.c). */

#include "agent/apiclient.h"
#include "common/macro.h"

typedef struct Manager Manager;
typedef struct PodWorker PodWorker;
typedef struct ApiPods ApiPods;

/* Starts the pods informer (this node's pods only) feeding the manager. */
int api_pods_new(Manager *m, ApiClient *api, ApiPods **ret);
ApiPods *api_pods_free(ApiPods *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiPods *, api_pods_free)
/* The manager: a worker of an API pod synced (its status may have changed). */
void api_pods_status_changed(ApiPods *p, PodWorker *w);
/* The manager: the Node was registered (mirror pods name it as their owner). */
void api_pods_node_registered(ApiPods *p);
/* The manager: every pod source synced (mirror pods without a static pod may go now). */
void api_pods_sources_synced(ApiPods *p);
/* The manager: the worker of an API pod (or of a static pod, whose mirror pod then goes) is gone. */
void api_pods_worker_gone(ApiPods *p, const char *uid);
