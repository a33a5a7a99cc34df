/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/cni-ctl.h"

#include <getopt.h>
#include <stdio.h>

#include "cni/runner.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/strv.h"

static void usage(FILE *f) {
        fprintf(f, "usage: nodeletctl cni add|check|del NETNS CONTAINERID [options]\n"
                   "       nodeletctl cni status|gc [options] [CONTAINERID:IFNAME...]\n"
                   "       nodeletctl cni write-default [--conf-dir DIR] [--bin-dir DIR] POD_CIDR...\n"
                   "options: --ifname NAME  --conf-dir DIR  --bin-dir DIR  --cache-dir DIR  --timeout SECONDS\n"
                   "         --arg K=V  --port-mapping HOSTPORT:CONTAINERPORT[/PROTO]\n"
                   "         --root-dir DIR  --state-dir DIR (accepted like every verb's, unused)\n");
}

static int parse_port_mapping(const char *s, json_t *list) {
        unsigned host, ctr;
        char proto[8] = "tcp";
        int n = sscanf(s, "%u:%u/%7s", &host, &ctr, proto);
        if (n < 2 || host == 0 || host > 65535 || ctr == 0 || ctr > 65535)
                return -EINVAL;
        return json_array_append_new(list, json_pack("{s:i, s:i, s:s}", "hostPort", host, "containerPort", ctr,
                                                     "protocol", proto)) < 0
                       ? -ENOMEM
                       : 0;
}

int cni_ctl_main(int argc, char *argv[]) {
        static const struct option options[] = {
                {"ifname", required_argument, NULL, 'i'},
                {"conf-dir", required_argument, NULL, 'c'},
                {"bin-dir", required_argument, NULL, 'b'},
                {"cache-dir", required_argument, NULL, 'C'},
                {"timeout", required_argument, NULL, 't'},
                {"arg", required_argument, NULL, 'a'},
                {"port-mapping", required_argument, NULL, 'p'},
                {"root-dir", required_argument, NULL, 'R'},
                {"state-dir", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        _cleanup_strv_free_ char **bin_dirs = NULL, **args = NULL;
        _cleanup_json_ json_t *ports = json_array();
        const char *ifname = "eth0", *conf_dir = NULL, *cache_dir = NULL;
        uint64_t timeout = 0;
        int c;

        if (!ports)
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        optind = 0; /* GNU getopt: 0 re-initializes fully, callers (tests) may run us repeatedly */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'i':
                        ifname = optarg;
                        break;
                case 'c':
                        conf_dir = optarg;
                        break;
                case 'C':
                        cache_dir = optarg;
                        break;
                case 'b':
                        if (strv_extend(&bin_dirs, optarg) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory"), 1;
                        break;
                case 'a':
                        if (!strchr(optarg, '=') || strv_extend(&args, optarg) < 0)
                                return log_error("--arg wants K=V, got \"%s\"", optarg), 2;
                        break;
                case 'p':
                        if (parse_port_mapping(optarg, ports) < 0)
                                return log_error("--port-mapping wants HOSTPORT:CONTAINERPORT[/PROTO], got \"%s\"",
                                                 optarg),
                                       2;
                        break;
                case 't':
                        timeout = (uint64_t) strtoull(optarg, NULL, 10) * USEC_PER_SEC;
                        break;
                case 'R':
                case 'S':
                        /* Every nodeletctl verb takes them (README); CNI keeps its state in the CNI cache dir. */
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        const char *verb = argv[optind++];
        ErrorBuf eb = {};
        int r;

        if (streq(verb, "write-default")) {
                r = cni_write_default_conflist(conf_dir, argv + optind, bin_dirs, &eb);
                if (r < 0)
                        return log_error("%s", error_message(&eb, r)), 1;
                puts(r == 0 ? "written" : "a network configuration exists already, left alone");
                return 0;
        }

        CniCommand cmd = streq(verb, "add")      ? CNI_CMD_ADD
                         : streq(verb, "check")  ? CNI_CMD_CHECK
                         : streq(verb, "del")    ? CNI_CMD_DEL
                         : streq(verb, "status") ? CNI_CMD_STATUS
                         : streq(verb, "gc")     ? CNI_CMD_GC
                                                 : _CNI_CMD_INVALID;
        if (cmd < 0) {
                usage(stderr);
                return 2;
        }
        CniRuntimeConf rt = {.ifname = ifname, .args = args};
        _cleanup_json_ json_t *caps = json_object(), *valid = json_array();
        if (!caps || !valid)
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        if (json_array_size(ports) > 0)
                (void) json_object_set(caps, "portMappings", ports);
        rt.capability_args = caps;
        if (cmd == CNI_CMD_ADD || cmd == CNI_CMD_CHECK || cmd == CNI_CMD_DEL) {
                if (argc - optind != 2) {
                        usage(stderr);
                        return 2;
                }
                rt.netns = argv[optind];
                rt.container_id = argv[optind + 1];
        } else {
                for (int i = optind; i < argc; i++) {
                        const char *colon = strchr(argv[i], ':');
                        if (!colon)
                                return log_error("attachment \"%s\": want CONTAINERID:IFNAME", argv[i]), 2;
                        (void) json_array_append_new(valid, json_pack("{s:s%, s:s}", "containerID", argv[i],
                                                                      (size_t) (colon - argv[i]), "ifname", colon + 1));
                }
                rt.valid_attachments = valid;
        }

        _cleanup_(cni_network_freep) CniNetwork *n = NULL;
        r = cni_network_load(conf_dir, &n, &eb);
        if (r < 0)
                return log_error("%s", error_message(&eb, r)), 1;
        CniRunnerOptions o = {.bin_dirs = bin_dirs, .cache_dir = cache_dir, .timeout_usec = timeout};
        _cleanup_json_ json_t *result = NULL;
        CniError err = {};
        r = cni_run_sync(&o, cmd, n, &rt, &result, &err);
        if (r < 0) {
                log_error("CNI %s on network %s (%s) failed: %s (code %d)%s%s", verb, cni_network_name(n),
                          cni_network_source(n), err.msg[0] ? err.msg : strerror(-r), err.code,
                          err.details[0] ? ": " : "", err.details);
                return 1;
        }
        if (result) {
                _cleanup_free_ char *s = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (s)
                        puts(s);
        }
        return 0;
}
