/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl stop [-t SEC] ID... | rm [-f] ID... | kill [-s SIGNAL] ID...: container state changes by ID, like
 * docker's. Their operands are container IDs, never a command line, so options may also follow them
 * (`stop ID --help` prints the usage rather than taking "--help" for a container). */
#include "runtime/runtime-ctl.h"

#include <signal.h>
#include <stdio.h>

#include "common/log.h"
#include "runtime/runtime-ctl-internal.h"
#include "runtime/signals.h"

static const char usage_stop[] = "usage: nodeletctl stop [-t SECONDS] [--root-dir DIR] [--state-dir DIR] [-v] "
                                 "CONTAINER...\n\n"
                                 "Sends each container its stop signal, then SIGKILL after SECONDS (default 10).\n";
static const char usage_rm[] = "usage: nodeletctl rm [-f] [--root-dir DIR] [--state-dir DIR] [-v] CONTAINER...\n\n"
                               "Removes exited containers (-f: stop running ones first) with what `run` made for "
                               "them.\n";
static const char usage_kill[] = "usage: nodeletctl kill [-s SIGNAL] [--root-dir DIR] [--state-dir DIR] [-v] "
                                 "CONTAINER...\n\n"
                                 "Sends a signal (default KILL) to each container's first process.\n";

typedef enum CtlAction {
        CTL_STOP,
        CTL_RM,
        CTL_KILL,
} CtlAction;

/* The three verbs differ in one option and the action per container. */
static int verb_containers(int argc, char *argv[], CtlAction action) {
        static const char *const usage[] = {[CTL_STOP] = usage_stop, [CTL_RM] = usage_rm, [CTL_KILL] = usage_kill};
        static const struct option opts[] = {
                {"timeout", required_argument, NULL, 't'},
                {"time", required_argument, NULL, 't'},
                {"force", no_argument, NULL, 'f'},
                {"signal", required_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        static const char *const shortopts[] = {[CTL_STOP] = "t:hv", [CTL_RM] = "fhv", [CTL_KILL] = "s:hv"};
        RuntimeCtlOptions g;
        runtime_ctl_options_init(&g);
        double timeout = 10;
        bool force = false;
        int sig = SIGKILL, c;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        /* Help wins wherever it is, before any other option is judged (`stop -t x --help` is help). */
        for (int k = 1; k < argc && !streq(argv[k], "--"); k++)
                if (runtime_ctl_is_help(argv[k])) {
                        fputs(usage[action], stdout);
                        return 0;
                }
        bool bad = false;
        while (!bad && (c = getopt_long(argc, argv, shortopts[action], opts, NULL)) >= 0) {
                char *end;
                switch (c) {
                case 't':
                        errno = 0;
                        timeout = strtod(optarg, &end);
                        bad = action != CTL_STOP || errno || *end || timeout < 0;
                        break;
                case 'f':
                        bad = action != CTL_RM;
                        force = true;
                        break;
                case 's':
                        sig = signal_from_string(optarg);
                        if (action != CTL_KILL || sig < 0) {
                                log_error("--signal %s: not a signal name or number", optarg);
                                return 2;
                        }
                        break;
                default:
                        bad = !runtime_ctl_option(&g, c, optarg);
                }
        }
        if (bad) {
                fputs(usage[action], stderr);
                return 2;
        }
        if (!runtime_ctl_check_operands(argc, 1, SIZE_MAX, usage[action]))
                return 2;
        _cleanup_(runtime_freep) Runtime *rt = NULL;
        if (runtime_ctl_open(&g, &rt) < 0)
                return 1;
        int ret = 0;
        for (int i = optind; i < argc; i++) {
                Container *ct = NULL;
                if (runtime_ctl_load(rt, argv[i], &ct) < 0) {
                        ret = 1;
                        continue;
                }
                int r = 0;
                switch (action) {
                case CTL_STOP:
                        r = container_stop(ct, (uint64_t) (timeout * USEC_PER_SEC));
                        if (r < 0)
                                log_error_errno(r, "container %s: stopping: %m", argv[i]);
                        container_free(ct);
                        break;
                case CTL_KILL:
                        r = container_kill(ct, sig);
                        if (r < 0)
                                log_error_errno(r, "container %s: sending signal %d: %m", argv[i], sig);
                        container_free(ct);
                        break;
                case CTL_RM:
                        r = runtime_ctl_remove(&g, ct, force); /* takes ct */
                        break;
                }
                if (r < 0)
                        ret = 1;
                else
                        puts(argv[i]);
        }
        return ret;
}

int runtime_ctl_stop(int argc, char *argv[]) {
        return verb_containers(argc, argv, CTL_STOP);
}

int runtime_ctl_rm(int argc, char *argv[]) {
        return verb_containers(argc, argv, CTL_RM);
}

int runtime_ctl_kill(int argc, char *argv[]) {
        return verb_containers(argc, argv, CTL_KILL);
}
