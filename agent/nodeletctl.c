/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl: local inspection and standalone operation, in the spirit of crictl. Each module owns its verbs and
 * exposes `int <module>_ctl_main(int argc, char *argv[])`; this file only dispatches. */

#include <stdio.h>

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

/* `nodeletctl yaml2json FILE…`: prints each document as the JSON that Kubernetes would decode from it. */
static int verb_yaml2json(int argc, char *argv[]) {
        if (argc < 2) {
                fprintf(stderr, "usage: nodeletctl yaml2json FILE...\n");
                return 2;
        }
        for (int i = 1; i < argc; i++) {
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
        puts("nodeletctl 0.1.0");
        return 0;
}

static const Verb verbs[] = {
        {"cni", cni_ctl_main, "run the node's CNI network by hand (nodeletctl cni --help)"},
        {"exec", runtime_ctl_exec, "run a command in a running container"},
        {"images", images_ctl_main, "import, list and remove images (nodeletctl images --help)"},
        {"logs", runtime_ctl_logs, "print a container's log (CRI format decoded)"},
        {"ps", runtime_ctl_ps, "list containers (-a: also exited ones)"},
        {"proxy", proxy_ctl_main, "program Services into nftables (nodeletctl proxy --help)"},
        {"rm", runtime_ctl_rm, "remove containers (-f: stop them first)"},
        {"run", runtime_ctl_run, "run a one-off container from an image or a rootfs directory"},
        {"stop", runtime_ctl_stop, "stop containers (stop signal, then SIGKILL)"},
        {"version", verb_version, "print the version"},
        {"yaml2json", verb_yaml2json, "print manifests as the JSON Kubernetes decodes from them"},
};

static void usage(FILE *f) {
        fprintf(f, "usage: nodeletctl COMMAND [ARGS...]\n\ncommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].help);
}

int main(int argc, char *argv[]) {
        log_set_program("nodeletctl");
        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);
        fprintf(stderr, "nodeletctl: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
}
