/* SPDX-License-Identifier: Apache-2.0 */
/* CPU per probe: runs RATE probes per second for SECONDS against a local server and reports the prober's own CPU
 * time (user + system, getrusage) per probe and as a share of one core. The server (an HttpServer on its own loop)
 * runs in a child process, so its CPU is not counted. The target: 30 HTTP probes/s within 2 % of one core.
 *
 *   bench-prober [http|https|tcp] [RATE] [SECONDS]     (defaults: http 30 10) */

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/prober.h"
#include "common/event-util.h"
#include "common/http-server.h"
#include "common/tls-util.h"

typedef struct Bench {
        Prober *prober;
        const char *kind;
        uint16_t port;
        unsigned rate, total, started, finished, failed;
        sd_event_source *timer;
        uint64_t next;
} Bench;

static int on_healthz(HttpRequest *r, void *userdata) {
        return http_respond_text(r, 200, "ok");
}

/* The child: serves /healthz until killed; reports its port through the pipe. */
static _noreturn_ void serve(int fd, bool tls) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        sd_event *e = NULL;
        HttpServer *s = NULL;
        ErrorBuf err = {};
        HttpServerConfig c = {.bind_address = "127.0.0.1", .max_connections = 1024};
        uint16_t port;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (tls && tls_self_signed_generate("127.0.0.1", NULL, &cert, &key) < 0)
                _exit(1);
        c.tls_cert_pem = cert;
        c.tls_key_pem = key;
        if (sd_event_new(&e) < 0 || http_server_new(e, &c, &s, &err) < 0 ||
            http_server_add_route(s, "GET", "/healthz", on_healthz, NULL) < 0) {
                fprintf(stderr, "server: %s\n", err.msg);
                _exit(1);
        }
        port = http_server_port(s);
        if (write(fd, &port, sizeof port) != sizeof port)
                _exit(1);
        (void) sd_event_loop(e);
        _exit(0);
}

static void on_done(ProbeResult r, const char *message, void *userdata) {
        Bench *b = userdata;
        b->finished++;
        if (r != PROBE_RESULT_SUCCESS) {
                if (b->failed++ == 0)
                        fprintf(stderr, "probe failed: %s\n", message);
        }
        if (b->finished == b->total)
                (void) sd_event_exit(sd_event_source_get_event(b->timer), 0);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Bench *b = userdata;
        int r;

        if (streq(b->kind, "tcp"))
                r = prober_tcp(b->prober, "127.0.0.1", b->port, USEC_PER_SEC, on_done, b, NULL);
        else
                r = prober_http(b->prober, "127.0.0.1", b->port, "/healthz", streq(b->kind, "https"), NULL, 0,
                                USEC_PER_SEC, on_done, b, NULL);
        if (r < 0) {
                fprintf(stderr, "cannot start a probe: %s\n", strerror(-r));
                return sd_event_exit(sd_event_source_get_event(s), r);
        }
        if (++b->started < b->total) {
                b->next += USEC_PER_SEC / b->rate;
                (void) sd_event_source_set_time(s, b->next);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static double cpu_seconds(void) {
        struct rusage ru;
        (void) getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_stime.tv_sec +
               ((double) ru.ru_utime.tv_usec + (double) ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char *argv[]) {
        Bench b = {.kind = argc > 1 ? argv[1] : "http"};
        unsigned seconds = argc > 3 ? (unsigned) atoi(argv[3]) : 10;
        sd_event *e = NULL;
        int pipefd[2], r;
        pid_t pid;
        double cpu0, cpu1;
        struct timespec t0, t1;

        b.rate = argc > 2 ? (unsigned) atoi(argv[2]) : 30;
        if (!streq(b.kind, "http") && !streq(b.kind, "https") && !streq(b.kind, "tcp")) {
                fprintf(stderr, "usage: bench-prober [http|https|tcp] [RATE] [SECONDS]\n");
                return 2;
        }
        if (b.rate == 0 || seconds == 0)
                return 2;
        b.total = b.rate * seconds;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return 1;
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0)
                serve(pipefd[1], streq(b.kind, "https"));
        if (read(pipefd[0], &b.port, sizeof b.port) != sizeof b.port) {
                fprintf(stderr, "server did not start\n");
                return 1;
        }
        if (sd_event_new(&e) < 0 || prober_new(e, "kube-probe/1.26", &b.prober) < 0)
                return 1;
        (void) sd_event_now(e, CLOCK_MONOTONIC, &b.next);
        if (sd_event_add_time(e, &b.timer, CLOCK_MONOTONIC, b.next, 0, on_tick, &b) < 0)
                return 1;

        cpu0 = cpu_seconds();
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = sd_event_loop(e);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cpu1 = cpu_seconds();

        double wall = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        double per_probe_us = (cpu1 - cpu0) / b.total * 1e6;
        printf("| probe | rate/s | probes | failed | CPU per probe | share of one core |\n");
        printf("|---|---|---|---|---|---|\n");
        printf("| %s | %u | %u | %u | %.0f µs | %.2f %% |\n", b.kind, b.rate, b.total, b.failed, per_probe_us,
               (cpu1 - cpu0) / wall * 100);

        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        b.prober = prober_free(b.prober);
        sd_event_source_disable_unref(b.timer);
        sd_event_unref(e);
        return r < 0 || b.failed > 0 ? 1 : 0;
}
