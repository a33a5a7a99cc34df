/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl ps [-a]: the containers of the state dir as a table, like `crictl ps`, with the extra columns the
 * caller (agent/pods-ctl.c) names. */
#include "runtime/runtime-ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"
#include "common/strv.h"
#include "runtime/runtime-ctl-internal.h"

static const char usage_ps[] = "usage: nodeletctl ps [-a] [--root-dir DIR] [--state-dir DIR] [-v]\n\n"
                               "Lists running containers (-a: also created and exited ones).\n";

static void format_age(uint64_t ns, char *buf, size_t size) {
        if (!ns) {
                snprintf(buf, size, "-");
                return;
        }
        uint64_t now = (uint64_t) time(NULL) * NSEC_PER_SEC;
        uint64_t s = now > ns ? (now - ns) / NSEC_PER_SEC : 0;
        if (s < 120)
                snprintf(buf, size, "%" PRIu64 "s ago", s);
        else if (s < 7200)
                snprintf(buf, size, "%" PRIu64 "m ago", s / 60);
        else
                snprintf(buf, size, "%" PRIu64 "h ago", s / 3600);
}

/* Prints rows of n cells (the first row is the header), each column as wide as its widest cell but the last. */
static void print_table(char **cells, size_t n_rows, size_t n) {
        _cleanup_free_ int *w = calloc(n, sizeof(int));
        for (size_t i = 0; w && i < n_rows * n; i++)
                w[i % n] = MAX(w[i % n], (int) strlen(cells[i]));
        for (size_t row = 0; row < n_rows; row++)
                for (size_t k = 0; k < n; k++) {
                        if (k + 1 < n)
                                printf("%-*s ", w ? w[k] : 0, cells[row * n + k]);
                        else
                                printf("%s\n", cells[row * n + k]);
                }
}

int runtime_ctl_ps_columns(int argc, char *argv[], const RuntimeCtlColumn *columns, size_t n_columns) {
        static const struct option opts[] = {
                {"all", no_argument, NULL, 'a'},
                {"help", no_argument, NULL, 'h'},
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        RuntimeCtlOptions g;
        runtime_ctl_options_init(&g);
        bool all = false;
        int opt;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        while ((opt = getopt_long(argc, argv, "ahv", opts, NULL)) >= 0)
                switch (opt) {
                case 'a':
                        all = true;
                        break;
                case 'h':
                        fputs(usage_ps, stdout);
                        return 0;
                default:
                        if (!runtime_ctl_option(&g, opt, optarg)) {
                                fputs(usage_ps, stderr);
                                return 2;
                        }
                }
        if (!runtime_ctl_check_operands(argc, 0, 0, usage_ps))
                return 2;
        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (runtime_ctl_open(&g, &rt) < 0)
                return 1;
        _cleanup_strv_free_ char **ids = NULL;
        int r = runtime_list(rt, &ids);
        if (r < 0)
                return log_error_errno(r, "Failed to list containers in %s: %m", g.state_dir), 1;
        /* The whole table first: columns as wide as their values (32-character pod container ids, image
         * references), so nothing needs to be abbreviated. */
        static const char *const fixed[] = {"CONTAINER", "STATE", "EXIT", "PID", "CREATED", "IMAGE"};
        size_t n = ELEMENTSOF(fixed) + n_columns + 1;
        _cleanup_strv_free_ char **cells = NULL;
        size_t n_rows = 0;
        for (size_t k = 0; k < n; k++) {
                const char *h = k < ELEMENTSOF(fixed) ? fixed[k]
                                : k + 1 < n           ? columns[k - ELEMENTSOF(fixed)].header
                                                      : "COMMAND";
                if (strv_extend(&cells, h) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory"), 1;
        }
        n_rows++;
        for (char **id = ids; *id; id++) {
                _cleanup_(container_freep) Container *c = NULL;
                if (container_load(rt, *id, &c, NULL) < 0)
                        continue;
                ContainerStatus st;
                if (container_get_status(c, &st) < 0 || (!all && st.state != CONTAINER_RUNNING))
                        continue;
                char exit_s[16] = "-", pid_s[16] = "-", age[32];
                if (st.state == CONTAINER_EXITED)
                        snprintf(exit_s, sizeof(exit_s), "%d", st.exit_code);
                if (st.pid > 0)
                        snprintf(pid_s, sizeof(pid_s), "%d", (int) st.pid);
                format_age(st.created_at, age, sizeof(age));
                /* One line per container: a script's newlines and tabs become spaces, and long ones are cut
                 * like docker ps does. */
                char cmd[81] = "";
                size_t l = 0;
                for (char *const *a = container_argv(c); a && *a && l < sizeof(cmd) - 1; a++)
                        l += (size_t) snprintf(cmd + l, sizeof(cmd) - l, "%s%s", l ? " " : "", *a);
                for (char *p = cmd; *p; p++)
                        if ((unsigned char) *p < ' ')
                                *p = ' ';
                if (l >= sizeof(cmd) - 1)
                        memcpy(cmd + sizeof(cmd) - 4, "...", 4);
                const char *row[] = {*id,    container_state_to_string(st.state),
                                     exit_s, pid_s,
                                     age,    strna(container_annotation(c, RUNTIME_CTL_ANNOTATION_IMAGE))};
                for (size_t k = 0; k < n; k++) {
                        const char *v = k < ELEMENTSOF(row) ? row[k]
                                        : k + 1 < n ? container_annotation(c, columns[k - ELEMENTSOF(row)].annotation)
                                                    : cmd;
                        if (strv_extend(&cells, v ?: "-") < 0)
                                return log_error_errno(-ENOMEM, "Out of memory"), 1;
                }
                n_rows++;
        }
        print_table(cells, n_rows, n);
        return 0;
}
