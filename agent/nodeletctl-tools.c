/* SPDX-License-Identifier: Apache-2.0 */
/* nodeletctl-tools: the nodeletctl verbs that need the heavy libraries (images: libarchive, libcurl, OpenSSL; cni
 * and proxy: libmnl, libnftnl; yaml2json: libyaml), so that the container verbs in nodeletctl (agent/nodeletctl.c)
 * load none of them. nodeletctl execs this with the verb's argv (`nodeletctl-tools VERB ARGS...`) after putting its
 * global options into the environment ($NODELET_ROOT_DIR, $NODELET_STATE_DIR, $NODELET_LOG_LEVEL). Not a command
 * for people: it is installed in libexec. */

#include <getopt.h>
#include <stdio.h>

#include "cni/cni-ctl.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/yaml.h"
#include "netproxy/netproxy.h"
#include "runtime/image-store.h"

/* `nodeletctl yaml2json FILE…`: prints each document as the JSON that Kubernetes would decode from it. */
static int verb_yaml2json(int argc, char *argv[]) {
        static const char usage_text[] = "usage: nodeletctl yaml2json [-v] FILE...\n";
        /* --root-dir/--state-dir are accepted and unused, so that every verb takes them. */
        static const struct option options[] = {
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'},
                {"verbose", no_argument, NULL, 'v'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;
        optind = 0; /* a full reset: an earlier getopt (the global options) may have used "+" */
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case 'R':
                case 'S':
                        break;
                case 'v':
                        log_set_max_level(LOG_LEVEL_DEBUG);
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        fputs(usage_text, stderr);
                        return 2;
                }
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

static const struct {
        const char *name;
        int (*run)(int argc, char *argv[]);
} verbs[] = {
        {"cni", cni_ctl_main},
        {"images", images_ctl_main},
        {"proxy", proxy_ctl_main},
        {"yaml2json", verb_yaml2json},
};

int main(int argc, char *argv[]) {
        log_set_program("nodeletctl");
        LogLevel l = log_level_from_string(getenv("NODELET_LOG_LEVEL"));
        if (l >= 0)
                log_set_max_level(l);
        if (argc >= 2)
                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        if (streq(argv[1], verbs[i].name))
                                return verbs[i].run(argc - 1, argv + 1);
        fprintf(stderr, "usage: nodeletctl-tools {cni|images|proxy|yaml2json} [ARGS...] (run by nodeletctl)\n");
        return 2;
}
