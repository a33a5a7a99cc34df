/* SPDX-License-Identifier: Apache-2.0 */
/* Probe workers and lifecycle hooks, the kubelet's prober manager (pkg/kubelet/prober) on the loop: one timer per
 * probe, no thread. Semantics matched:
 *  - readiness starts as failure, liveness as success, startup as not-yet; liveness and readiness begin only once
 *    the startup probe succeeded (or there is none);
 *  - the first probe runs initialDelaySeconds after the container started, then every periodSeconds; after a daemon
 *    restart the first probe of a re-adopted container is jittered over one period (so a restart does not fire every
 *    probe of the node at once);
 *  - successThreshold / failureThreshold count consecutive results; a failed liveness or startup probe kills the
 *    container (probe-level terminationGracePeriodSeconds when set) and the worker holds until a new instance runs;
 *  - exec probes run through the runtime's asynchronous exec (an error or timeout is a failure), httpGet / tcpSocket /
 *    grpc through the Prober on the pod IP unless the probe names a host. */
#include <stdio.h>
#include <sys/random.h>

#include "agent/agent.h"
#include "agent/pod-events.h"
#include "agent/prober.h"
#include "common/log.h"

const char *probe_kind_to_string(ProbeKind k) {
        static const char *const t[] = {"Startup", "Liveness", "Readiness"};
        return k >= 0 && k < _PROBE_KIND_MAX ? t[k] : "?";
}

static void probe_arm(ProbeWorker *pw, uint64_t delay_usec);

static void probe_cancel_job(ProbeWorker *pw) {
        if (pw->net_job)
                pw->net_job = probe_job_cancel(pw->net_job);
        if (pw->exec_job)
                pw->exec_job = exec_job_cancel(pw->exec_job);
}

static void probe_record(ProbeWorker *pw, bool ok, const char *message) {
        CState *cs = pw->cs;
        Manager *m = cs->w->m;
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        pw->last_duration_usec = now - pw->started_usec;
        pw->runs++;
        m->metrics.probes[pw->kind][ok ? 0 : 1]++;
        m->metrics.probe_duration_usec[pw->kind] += pw->last_duration_usec;

        bool changed = false;
        if (ok) {
                pw->failures = 0;
                pw->successes++;
                if (!pw->result && pw->successes >= pw->probe->success_threshold) {
                        pw->result = true;
                        changed = true;
                }
        } else {
                pw->successes = 0;
                pw->failures++;
                /* Readiness starts as failure, so its first failures change nothing; liveness starts as success. */
                if (pw->failures >= pw->probe->failure_threshold &&
                    (pw->result || pw->kind == PROBE_KIND_STARTUP || pw->kind == PROBE_KIND_LIVENESS)) {
                        pw->result = false;
                        changed = true;
                }
        }
        if (!ok)
                log_debug("%s probe of %s failed: %s", probe_kind_to_string(pw->kind), cs->spec->name,
                          strempty(message));
        if (!ok)
                pod_events_probe(cs, pw->kind, false, message);
        if (pw->kind == PROBE_KIND_STARTUP && ok && changed) {
                /* Done: the startup probe does not run again for this instance. */
                pod_worker_probe_changed(cs, pw->kind, true, message);
                return;
        }
        if (!ok && changed && pw->kind != PROBE_KIND_READINESS) {
                pw->on_hold = true;
                pod_worker_probe_changed(cs, pw->kind, false, message);
                return;
        }
        if (changed)
                pod_worker_probe_changed(cs, pw->kind, pw->result, message);
        if (cs->phase == CS_RUNNING && !pw->on_hold)
                probe_arm(pw, (uint64_t) pw->probe->period_seconds * USEC_PER_SEC);
}

static void probe_net_done(ProbeResult r, const char *message, void *userdata) {
        ProbeWorker *pw = userdata;
        pw->net_job = NULL;
        if (r == PROBE_RESULT_WARNING)
                pod_events_probe(pw->cs, pw->kind, true, message);
        probe_record(pw, r == PROBE_RESULT_SUCCESS || r == PROBE_RESULT_WARNING, message);
}

static void probe_exec_done(int r, const ExecResult *res, void *userdata) {
        ProbeWorker *pw = userdata;
        pw->exec_job = NULL;
        char msg[256] = "";
        bool ok = false;
        if (r < 0)
                snprintf(msg, sizeof(msg), "exec failed: %s", strerror(-r));
        else if (res->timed_out)
                snprintf(msg, sizeof(msg), "command timed out");
        else {
                ok = res->exit_code == 0;
                if (!ok)
                        snprintf(msg, sizeof(msg), "command failed with exit code %d: %.200s", res->exit_code,
                                 res->out ? res->out : "");
        }
        probe_record(pw, ok, msg);
}

/* The port of a handler: a number, or the name of one of the container's ports. */
static int handler_port(const CState *cs, const PortRef *p) {
        if (!p->name)
                return p->number;
        for (size_t i = 0; i < cs->spec->n_ports; i++)
                if (streq_ptr(cs->spec->ports[i].name, p->name))
                        return cs->spec->ports[i].container_port;
        return -ENOENT;
}

static const char *pod_ip(const CState *cs) {
        const PodWorker *w = cs->w;
        if (w->pod_ips && w->pod_ips[0])
                return w->pod_ips[0];
        return NULL;
}

/* Starts one run of a handler; done through probe_net_done/probe_exec_done style callbacks. */
static int handler_start(CState *cs, const Handler *h, uint64_t timeout_usec, probe_done_t net_done,
                         exec_done_t exec_done, void *userdata, ProbeJob **ret_net, ExecJob **ret_exec, char *err,
                         size_t err_size) {
        Manager *m = cs->w->m;
        int r;
        switch (h->type) {
        case HANDLER_EXEC: {
                ErrorBuf e = {};
                ExecSpec spec = {
                        .argv = h->exec_command,
                        .timeout_usec = timeout_usec,
                        .output_max = 10 * 1024,
                        .combine_output = true,
                };
                r = container_exec_async(cs->current, m->event, &spec, exec_done, userdata, ret_exec, &e);
                if (r < 0)
                        snprintf(err, err_size, "%s", error_message(&e, r));
                return r;
        }
        case HANDLER_HTTP_GET:
        case HANDLER_TCP_SOCKET:
        case HANDLER_GRPC: {
                int port = handler_port(cs, &h->port);
                if (port <= 0 || port > 65535) {
                        snprintf(err, err_size, "unknown port %s", strna(h->port.name));
                        return -EINVAL;
                }
                const char *host = h->type == HANDLER_HTTP_GET     ? h->http_host
                                   : h->type == HANDLER_TCP_SOCKET ? h->tcp_host
                                                                   : NULL;
                if (!host)
                        host = pod_ip(cs);
                if (!host) {
                        snprintf(err, err_size, "the pod has no IP address");
                        return -EADDRNOTAVAIL;
                }
                if (h->type == HANDLER_HTTP_GET)
                        r = prober_http(m->prober, host, (uint16_t) port, h->http_path ?: "/", h->http_https,
                                        h->http_headers, h->n_http_headers, timeout_usec, net_done, userdata, ret_net);
                else if (h->type == HANDLER_TCP_SOCKET)
                        r = prober_tcp(m->prober, host, (uint16_t) port, timeout_usec, net_done, userdata, ret_net);
                else
                        r = prober_grpc(m->prober, host, (uint16_t) port, h->grpc_service ?: "", timeout_usec, net_done,
                                        userdata, ret_net);
                if (r < 0)
                        snprintf(err, err_size, "%s", strerror(-r));
                return r;
        }
        default:
                snprintf(err, err_size, "unsupported handler");
                return -EOPNOTSUPP;
        }
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ProbeWorker *pw = userdata;
        CState *cs = pw->cs;
        pw->timer = sd_event_source_disable_unref(pw->timer);
        if (cs->phase != CS_RUNNING || pw->on_hold || pw->net_job || pw->exec_job)
                return 0;
        (void) sd_event_now(cs->w->m->event, CLOCK_MONOTONIC, &pw->started_usec);
        char err[256] = "";
        ExecJob *ej = NULL;
        int r = handler_start(cs, &pw->probe->handler, (uint64_t) pw->probe->timeout_seconds * USEC_PER_SEC,
                              probe_net_done, probe_exec_done, pw, &pw->net_job, &ej, err, sizeof(err));
        pw->exec_job = ej;
        if (r < 0)
                probe_record(pw, false, err);
        return 0;
}

static void probe_arm(ProbeWorker *pw, uint64_t delay_usec) {
        pw->timer = sd_event_source_disable_unref(pw->timer);
        (void) sd_event_add_time_relative(pw->cs->w->m->event, &pw->timer, CLOCK_MONOTONIC, delay_usec, 0,
                                          on_probe_timer, pw);
}

static uint64_t jitter_usec(uint64_t max) {
        uint32_t v = 0;
        if (max == 0 || getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                return 0;
        return v % max;
}

static void probe_worker_begin(ProbeWorker *pw) {
        CState *cs = pw->cs;
        if (!pw->probe || pw->timer || pw->net_job || pw->exec_job)
                return;
        pw->successes = pw->failures = 0;
        pw->on_hold = false;
        pw->result = pw->kind == PROBE_KIND_LIVENESS;
        /* initialDelaySeconds counts from the container's start (which may lie in the past for a re-adopted one). */
        uint64_t started_ns = cs->status.started_at, now_ns = 0;
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        now_ns = (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
        uint64_t delay = 0, initial = (uint64_t) pw->probe->initial_delay_seconds * NSEC_PER_SEC;
        if (started_ns && started_ns + initial > now_ns)
                delay = (started_ns + initial - now_ns) / NSEC_PER_USEC;
        else if (!started_ns)
                delay = initial / NSEC_PER_USEC;
        uint64_t since_daemon_start = 0, now_mono = 0;
        (void) sd_event_now(cs->w->m->event, CLOCK_MONOTONIC, &now_mono);
        since_daemon_start = now_mono - cs->w->m->started_usec;
        if (cs->w->adopted && delay == 0 && since_daemon_start < (uint64_t) pw->probe->period_seconds * USEC_PER_SEC)
                delay = jitter_usec((uint64_t) pw->probe->period_seconds * USEC_PER_SEC);
        probe_arm(pw, delay);
}

void probes_start(CState *cs) {
        if (cs->phase != CS_RUNNING)
                return;
        if (!cs->spec->startup_probe)
                cs->started = true;
        if (!cs->started) {
                probe_worker_begin(&cs->probes[PROBE_KIND_STARTUP]);
                return;
        }
        if (!cs->spec->readiness_probe)
                cs->ready = true;
        probe_worker_begin(&cs->probes[PROBE_KIND_LIVENESS]);
        probe_worker_begin(&cs->probes[PROBE_KIND_READINESS]);
}

void probes_stop(CState *cs) {
        for (ProbeKind k = 0; k < _PROBE_KIND_MAX; k++) {
                ProbeWorker *pw = &cs->probes[k];
                pw->timer = sd_event_source_disable_unref(pw->timer);
                probe_cancel_job(pw);
                pw->on_hold = false;
                pw->successes = pw->failures = 0;
                pw->result = false;
        }
        cs->started = false;
        cs->ready = false;
}

void probes_free(CState *cs) {
        probes_stop(cs);
}

/* ---- lifecycle hooks ---- */

typedef struct HookRun {
        CState *cs;
        hook_done_t done;
        sd_event_source *sleep_timer;
        ProbeJob *net;
        ExecJob *exec;
} HookRun;

static void hook_finish(HookRun *h, bool ok, const char *message) {
        CState *cs = h->cs;
        hook_done_t done = h->done;
        cs->hook_job = NULL;
        h->sleep_timer = sd_event_source_disable_unref(h->sleep_timer);
        free(h);
        done(cs, ok, message);
}

static void hook_net_done(ProbeResult r, const char *message, void *userdata) {
        HookRun *h = userdata;
        h->net = NULL;
        hook_finish(h, r == PROBE_RESULT_SUCCESS || r == PROBE_RESULT_WARNING, message);
}

static void hook_exec_done(int r, const ExecResult *res, void *userdata) {
        HookRun *h = userdata;
        h->exec = NULL;
        char msg[300] = "";
        if (r < 0)
                snprintf(msg, sizeof(msg), "%s", strerror(-r));
        else if (res->timed_out)
                snprintf(msg, sizeof(msg), "command timed out");
        else if (res->exit_code != 0)
                snprintf(msg, sizeof(msg), "command '%s' exited with %d: %.200s",
                         h->cs->spec->post_start && h->cs->in_post_start && h->cs->spec->post_start->exec_command
                                 ? h->cs->spec->post_start->exec_command[0]
                                 : "hook",
                         res->exit_code, res->out ? res->out : "");
        hook_finish(h, r >= 0 && !res->timed_out && res->exit_code == 0, msg);
}

static int on_hook_sleep(sd_event_source *s, uint64_t usec, void *userdata) {
        hook_finish(userdata, true, NULL);
        return 0;
}

int hook_run(CState *cs, const Handler *handler, uint64_t timeout_usec, hook_done_t done) {
        HookRun *h = calloc(1, sizeof(HookRun));
        RET_NULL_ENOMEM(h);
        h->cs = cs;
        h->done = done;
        int r;
        if (handler->type == HANDLER_SLEEP) {
                r = sd_event_add_time_relative(cs->w->m->event, &h->sleep_timer, CLOCK_MONOTONIC,
                                               (uint64_t) handler->sleep_seconds * USEC_PER_SEC, 0, on_hook_sleep, h);
        } else if (handler->type == HANDLER_TCP_SOCKET) {
                /* Deprecated for hooks and never run by the kubelet: succeeds at once. */
                r = sd_event_add_time_relative(cs->w->m->event, &h->sleep_timer, CLOCK_MONOTONIC, 0, 0, on_hook_sleep,
                                               h);
        } else {
                char err[256] = "";
                r = handler_start(cs, handler, timeout_usec, hook_net_done, hook_exec_done, h, &h->net, &h->exec, err,
                                  sizeof(err));
                if (r < 0)
                        log_debug("hook of %s failed to start: %s", cs->spec->name, err);
        }
        if (r < 0) {
                free(h);
                return r;
        }
        cs->hook_job = h;
        return 0;
}

void hook_cancel(CState *cs) {
        HookRun *h = cs->hook_job;
        if (!h)
                return;
        if (h->net)
                probe_job_cancel(h->net);
        if (h->exec)
                exec_job_cancel(h->exec);
        h->sleep_timer = sd_event_source_disable_unref(h->sleep_timer);
        free(h);
        cs->hook_job = NULL;
}
