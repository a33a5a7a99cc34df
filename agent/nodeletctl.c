/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl: local inspection and standalone operation, in the spirit of crictl. Each module owns its verbs and
 * exposes `int <module>_ctl_<verb>(int argc, char *argv[])`; this file parses the global options and dispatches.
 *
 * Two binaries (issue 12 item 1): this one has the container verbs (run, exec, ps, logs, stop, rm, kill, pods) and is
 * linked statically with libc, jansson, libseccomp and libcap alone where Debian ships their archives, so `run --rm`
 * pays no dynamic loader and few page faults before its container starts. The verbs that need curl, libarchive,
 * libnftnl or libyaml (images, cni, proxy, yaml2json) are in nodeletctl-tools (agent/nodeletctl-tools.c, installed
 * in libexec), which this one execs with the verb's argv and the global options in the environment. An exec of a
 * sibling rather than a dlopen()ed plugin: a static binary cannot dlopen, and either way the heavy verbs pay the same
 * loader work for their ~35 libraries (docs/BENCHMARKS.md). */

#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "agent/pods-ctl.h"
#include "common/log.h"
#include "runtime/helper-path.h"
#include "runtime/runtime-ctl.h"

#ifndef NODELET_LIBEXECDIR
#define NODELET_LIBEXECDIR "/usr/local/libexec/nodelet"
#endif

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]); /* NULL: in nodeletctl-tools */
        const char *help;
} Verb;

static int verb_version(int argc, char *argv[]) {
        static const char usage_text[] = "usage: nodeletctl version [-v]\n";
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                RUNTIME_CTL_COMMON_OPTIONS,
                {},
        };
        RuntimeCtlOptions o;
        runtime_ctl_options_init(&o);
        int c;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        if (runtime_ctl_option(&o, c, optarg)) /* accepted like every verb's */
                                break;
                        fputs(usage_text, stderr);
                        return 2;
                }
        if (optind < argc) {
                fputs(usage_text, stderr);
                return 2;
        }
        puts("nodeletctl 0.1.0");
        return 0;
}

static const Verb verbs[] = {
        {"cni", NULL, "run the node's CNI network by hand (nodeletctl cni --help)"},
        {"exec", pods_ctl_exec, "run a command in a pod's container (or a container by ID)"},
        {"images", NULL, "import, pull, list and remove images (nodeletctl images --help)"},
        {"kill", runtime_ctl_kill, "send a signal to containers (-s SIGNAL, default KILL)"},
        {"logs", pods_ctl_logs, "print a pod's container log (-c NAME, -f, --tail N, --previous)"},
        {"pods", pods_ctl_pods, "list the daemon's pods (works while the daemon is down)"},
        {"ps", pods_ctl_ps, "list containers with their pod (-a: also exited ones)"},
        {"proxy", NULL, "program Services into nftables (nodeletctl proxy --help)"},
        {"rm", runtime_ctl_rm, "remove containers (-f: stop them first)"},
        {"run", runtime_ctl_run, "run a one-off container from an image or a rootfs directory"},
        {"stop", runtime_ctl_stop, "stop containers (stop signal, then SIGKILL)"},
        {"version", verb_version, "print the version"},
        {"yaml2json", NULL, "print manifests as the JSON Kubernetes decodes from them"},
};

static void usage(FILE *f) {
        fprintf(f, "usage: nodeletctl [--root-dir DIR] [--state-dir DIR] [-v] COMMAND [ARGS...]\n\n"
                   "  --root-dir DIR   images and pod data (default $NODELET_ROOT_DIR, else /var/lib/nodelet)\n"
                   "  --state-dir DIR  runtime state (default $NODELET_STATE_DIR, else /run/nodelet)\n"
                   "  -v, --verbose    log at debug level\n\n"
                   "The options are also taken after COMMAND, before its operands.\n\n"
                   "commands (nodeletctl COMMAND --help for their options):\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].help);
}

/* Global options before the verb, crictl's habit (`nodeletctl --state-dir /run/x pods`); "+": they end at the verb.
 * They become the environment defaults every module reads (also in nodeletctl-tools), so the verb's own
 * --root-dir/--state-dir still win. Returns the index of the verb, 0 after --help, or -1 after an error. */
static int parse_global_options(int argc, char *argv[]) {
        enum { OPT_ROOT_DIR = 256, OPT_STATE_DIR };
        static const struct option options[] = {
                {"root-dir", required_argument, NULL, OPT_ROOT_DIR},
                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                {"verbose", no_argument, NULL, 'v'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "+hv", options, NULL)) >= 0) {
                const char *env = NULL, *value = optarg;
                switch (c) {
                case OPT_ROOT_DIR:
                        env = "NODELET_ROOT_DIR";
                        break;
                case OPT_STATE_DIR:
                        env = "NODELET_STATE_DIR";
                        break;
                case 'v':
                        env = "NODELET_LOG_LEVEL";
                        value = "debug";
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        return 0;
                default:
                        return -1;
                }
                if (setenv(env, value, 1) < 0)
                        return log_error_errno(-errno, "Failed to set $%s: %m", env), -1;
        }
        return optind;
}

/* nodeletctl-tools: $NODELET_CTL_TOOLS, next to this binary (the build tree, or a prefix where both are in bin/),
 * then the installed libexec directory. Execs it with argv; returns only on failure. */
static int exec_tools(char *argv[]) {
        static const char *const rel[] = {"nodeletctl-tools"};
        char path[PATH_MAX];
        int r = runtime_find_helper("NODELET_CTL_TOOLS", rel, ELEMENTSOF(rel), NODELET_LIBEXECDIR "/nodeletctl-tools",
                                    path, sizeof(path));
        if (r < 0)
                return log_error_errno(r, "Failed to find nodeletctl-tools: %m"), 1;
        log_debug("Running %s for \"%s\"", path, argv[0]);
        argv[-1] = path; /* argv[0] is the verb: nodeletctl-tools VERB ARGS... */
        execv(path, argv - 1);
        log_error_errno(-errno, "Failed to run %s for \"%s\": %m", path, argv[0]);
        return 1;
}

int main(int argc, char *argv[]) {
        log_set_program("nodeletctl");
        LogLevel l = log_level_from_string(getenv("NODELET_LOG_LEVEL"));
        if (l >= 0)
                log_set_max_level(l);
        int v = parse_global_options(argc, argv);
        if (v <= 0 || v >= argc) {
                usage(v == 0 ? stdout : stderr);
                return v == 0 ? 0 : 2;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[v], verbs[i].name))
                        return verbs[i].run ? verbs[i].run(argc - v, argv + v) : exec_tools(argv + v);
        fprintf(stderr, "nodeletctl: unknown command '%s'\n", argv[v]);
        usage(stderr);
        return 2;
}
