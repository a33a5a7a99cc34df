/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl: local inspection and standalone operation, in the spirit of crictl. Each module owns its verbs and
 * exposes `int <module>_ctl_main(int argc, char *argv[])`; this file only dispatches. */

#include <getopt.h>
#include <stdio.h>

#include "agent/pods-ctl.h"
#include "cni/cni-ctl.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/yaml.h"
#include "netproxy/netproxy.h"
#include "runtime/image-store.h"
#include "runtime/runtime-ctl.h"

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *help;
} Verb;

/* Parses a verb that has no options but -h/--help (and the global --root-dir/--state-dir, accepted and unused so
 * that every verb takes them). Returns 0 to go on with argv[optind…] as operands, else the exit status: 0 after
 * printing the usage for --help, 2 after a usage error. */
static int parse_no_options(int argc, char *argv[], const char *usage_text) {
        static const struct option options[] = {
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'R':
                case 'S':
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        fputs(usage_text, stderr);
                        return 2;
                }
        return -1;
}

/* `nodeletctl yaml2json FILE…`: prints each document as the JSON that Kubernetes would decode from it. */
static int verb_yaml2json(int argc, char *argv[]) {
        static const char usage_text[] = "usage: nodeletctl yaml2json FILE...\n";
        int status = parse_no_options(argc, argv, usage_text);
        if (status >= 0)
                return status;
        if (optind >= argc) {
                fputs(usage_text, stderr);
                return 2;
        }
        for (int i = optind; i < argc; i++) {
                _cleanup_json_ json_t *docs = NULL;
                ErrorBuf e = {};
                int r = yaml_load_file_documents(argv[i], &docs, &e);
                if (r < 0) {
                        log_error("%s", error_message(&e, r));
                        return 1;
                }
                size_t k;
                json_t *d;
                json_array_foreach (docs, k, d) {
                        _cleanup_free_ char *s = json_dumps(d, JSON_INDENT(2) | JSON_ENCODE_ANY);
                        if (!s)
                                return log_error_errno(-ENOMEM, "Out of memory"), 1;
                        puts(s);
                }
        }
        return 0;
}

static int verb_version(int argc, char *argv[]) {
        static const char usage_text[] = "usage: nodeletctl version\n";
        int status = parse_no_options(argc, argv, usage_text);
        if (status >= 0)
                return status;
        if (optind < argc) {
                fputs(usage_text, stderr);
                return 2;
        }
        puts("nodeletctl 0.1.0");
        return 0;
}

static const Verb verbs[] = {
        {"cni", cni_ctl_main, "run the node's CNI network by hand (nodeletctl cni --help)"},
        {"exec", pods_ctl_exec, "run a command in a pod's container (or a container by ID)"},
        {"images", images_ctl_main, "import, list and remove images (nodeletctl images --help)"},
        {"logs", pods_ctl_logs, "print a pod's container log (-c NAME, -f, --tail N, --previous)"},
        {"pods", pods_ctl_pods, "list the daemon's pods (works while the daemon is down)"},
        {"ps", pods_ctl_ps, "list containers with their pod (-a: also exited ones)"},
        {"proxy", proxy_ctl_main, "program Services into nftables (nodeletctl proxy --help)"},
        {"rm", runtime_ctl_rm, "remove containers (-f: stop them first)"},
        {"run", runtime_ctl_run, "run a one-off container from an image or a rootfs directory"},
        {"stop", runtime_ctl_stop, "stop containers (stop signal, then SIGKILL)"},
        {"version", verb_version, "print the version"},
        {"yaml2json", verb_yaml2json, "print manifests as the JSON Kubernetes decodes from them"},
};

static void usage(FILE *f) {
        fprintf(f, "usage: nodeletctl [--root-dir DIR] [--state-dir DIR] COMMAND [ARGS...]\n\n"
                   "  --root-dir DIR   images and pod data (default $NODELET_ROOT_DIR, else /var/lib/nodelet)\n"
                   "  --state-dir DIR  runtime state (default $NODELET_STATE_DIR, else /run/nodelet)\n\n"
                   "commands (nodeletctl COMMAND --help for their options):\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].help);
}

/* Global options before the verb, crictl's habit (`nodeletctl --state-dir /run/x pods`). They become the
 * environment defaults every module reads, so the verb's own --root-dir/--state-dir still win. Returns the index of
 * the verb, or -1 after an error. */
static int parse_global_options(int argc, char *argv[]) {
        static const struct {
                const char *option, *env;
        } globals[] = {{"--root-dir", "NODELET_ROOT_DIR"}, {"--state-dir", "NODELET_STATE_DIR"}};
        int i = 1;
        while (i < argc && argv[i][0] == '-' && !streq(argv[i], "-h") && !streq(argv[i], "--help")) {
                const char *value = NULL;
                size_t k;
                for (k = 0; k < ELEMENTSOF(globals); k++) {
                        const char *v = startswith(argv[i], globals[k].option);
                        if (v && *v == '=')
                                value = v + 1;
                        else if (v && !*v && i + 1 < argc)
                                value = argv[++i];
                        if (value)
                                break;
                }
                if (!value) {
                        fprintf(stderr, "nodeletctl: unknown or incomplete option '%s'\n", argv[i]);
                        return -1;
                }
                if (setenv(globals[k].env, value, 1) < 0) {
                        log_error_errno(-errno, "Failed to set %s: %m", globals[k].env);
                        return -1;
                }
                i++;
        }
        return i;
}

int main(int argc, char *argv[]) {
        log_set_program("nodeletctl");
        int v = parse_global_options(argc, argv);
        if (v < 0) {
                usage(stderr);
                return 2;
        }
        if (v >= argc || streq(argv[v], "-h") || streq(argv[v], "--help")) {
                usage(v >= argc ? stderr : stdout);
                return v >= argc ? 2 : 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[v], verbs[i].name))
                        return verbs[i].run(argc - v, argv + v);
        fprintf(stderr, "nodeletctl: unknown command '%s'\n", argv[v]);
        usage(stderr);
        return 2;
}
