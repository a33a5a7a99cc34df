/* SPDX-License-Identifier: Apache-2.0 */
/* New TCP connections per second, for the netproxy benchmark (bench/netproxy/run.sh): the per-packet cost of the
 * ruleset shows in the first packet of each connection, which walks the nat chains.
 *   bench-netproxy-connrate server PORT              accept and close, forever
 *   bench-netproxy-connrate client ADDR PORT SECONDS connect/close in a loop, print connections per second */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int server(int port) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
                perror("server");
                return 1;
        }
        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                if (c >= 0)
                        close(c);
        }
}

static int client(const char *addr, int port, double seconds) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        unsigned long n = 0, failed = 0;
        if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
                fprintf(stderr, "bad address %s\n", addr);
                return 2;
        }
        double start = now(), end = start + seconds, t;
        while ((t = now()) < end) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        perror("socket");
                        return 1;
                }
                /* RST on close: no TIME_WAIT, so the client never runs out of ports */
                (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
                        n++;
                else
                        failed++;
                close(fd);
        }
        printf("%.0f\n", (double) n / (t - start));
        if (failed > 0)
                fprintf(stderr, "%lu connections failed\n", failed);
        return n > 0 ? 0 : 1;
}

int main(int argc, char *argv[]) {
        if (argc == 3 && strcmp(argv[1], "server") == 0)
                return server(atoi(argv[2]));
        if (argc == 5 && strcmp(argv[1], "client") == 0)
                return client(argv[2], atoi(argv[3]), atof(argv[4]));
        fprintf(stderr, "usage: %s server PORT | client ADDR PORT SECONDS\n", argv[0]);
        return 2;
}
