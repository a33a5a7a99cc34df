/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what a CNI plugin and the runner read from others: network configuration lists, plugin
 * configurations with IPAM sections (ranges, requested IPs, CNI_ARGS), results to convert and error JSON. */

#include <stdint.h>

#include "cni/ipam.h"
#include "cni/runner.h"
#include "cni/skel.h"
#include "common/json-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CniNetwork *n = NULL;
        ErrorBuf eb = {};

        if (cni_network_parse((const char *) data, size, "fuzz", &n, &eb) >= 0)
                cni_network_free(n);

        json_t *conf = json_loadb((const char *) data, size, 0, NULL);
        if (!conf)
                return 0;
        /* The first line of the input doubles as CNI_ARGS, so "IP=" parsing is reached too. */
        char args[128] = {};
        const char *nl = memchr(data, '\n', size);
        if (nl && (size_t) (nl - (const char *) data) < sizeof args)
                memcpy(args, data, (size_t) (nl - (const char *) data));
        CniArgs a = {
                .command = CNI_CMD_ADD,
                .container_id = "fuzz",
                .ifname = "eth0",
                .args = args,
                .conf = conf,
                .cni_version = json_string_value(json_object_get(conf, "cniVersion")),
                .name = json_string_value(json_object_get(conf, "name")) ?: "fuzz",
        };
        CniError e = {};
        (void) cni_ipam_validate(&a, &e);
        json_t *v = cni_result_convert(conf, "0.4.0");
        json_decref(v);
        v = cni_result_convert(conf, "1.1.0");
        json_decref(v);
        e = (CniError){};
        (void) cni_error_from_json(conf, &e);
        json_decref(conf);
        return 0;
}
