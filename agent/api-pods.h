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
/* The manager: the worker of an API pod is gone (stopped and torn down). */
void api_pods_worker_gone(ApiPods *p, const char *uid);
