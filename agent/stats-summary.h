/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* GET /stats/summary: the kubelet's stats API (k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary) for `kubectl top`
 * style consumers (metrics-server): the node (cpu, memory, network, fs, runtime.imageFs, rlimit) from /proc and
 * statvfs, and every pod with its containers from the cgroups the runtime made for them (v1 or v2: whichever files
 * the container's cgroup directories hold).
 *
 * usageNanoCores is a rate: like cAdvisor, which the kubelet reads it from, it is computed from the last two samples
 * of the cumulative CPU counter. A StatsSampler keeps the previous sample per container (and the node); a new one
 * replaces it when at least a second has passed. The first summary of a container therefore has no
 * usageNanoCores yet (the field is omitted, as the kubelet does while cAdvisor has only one sample).
 *
 * Reading the files (a few per container) runs on the WorkPool; the request is suspended meanwhile. */

#include "agent/agent.h"
#include "common/http-server.h"

typedef struct StatsSampler StatsSampler;

int stats_sampler_new(StatsSampler **ret);
/* Summaries in flight keep what they need: freeing is safe at any time. */
StatsSampler *stats_sampler_free(StatsSampler *s);

/* The route handler for GET /stats/summary; userdata is the Manager, whose `stats` sampler it uses. */
int stats_summary_handle(HttpRequest *r, void *userdata);
