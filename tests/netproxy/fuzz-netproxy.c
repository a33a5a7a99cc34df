/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: Service and EndpointSlice objects as the API server or a manifest directory delivers them (untrusted
 * input), through parsing, the desired-state computation and a dry-run batch. Input: one JSON or YAML stream; every
 * document is fed to one NetProxy, which then syncs (dry run), describes itself and is fed the documents again. */

#include <stdint.h>

#include "common/json-util.h"
#include "common/yaml.h"
#include "netproxy/netproxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *docs = NULL;
        NetProxy *np = NULL;
        InAddr node;
        NetProxyConfig cfg = {
                .dry_run = true, .hostname = "node1", .nodeport_addresses = &node, .n_nodeport_addresses = 1};
        if (in_addr_parse("192.168.1.10", 0, &node) < 0 || netproxy_new(&cfg, &np) < 0)
                return 0;
        if (yaml_parse_documents((const char *) data, size, "fuzz", &docs, NULL) >= 0) {
                netproxy_set_synced(np, NETPROXY_SYNCED_SERVICES | NETPROXY_SYNCED_ENDPOINT_SLICES);
                for (int round = 0; round < 2; round++) {
                        size_t i;
                        json_t *d;
                        json_array_foreach (docs, i, d)
                                (void) netproxy_update_object(np, d, NULL);
                        (void) netproxy_sync(np);
                }
                char *text = NULL;
                if (netproxy_describe(np, &text) >= 0)
                        free(text);
                /* deleting everything leaves nothing behind */
                size_t i;
                json_t *d;
                json_array_foreach (docs, i, d) {
                        const char *kind = json_string_value(json_object_get(d, "kind"));
                        json_t *meta = json_object_get(d, "metadata");
                        const char *name = json_string_value(json_object_get(meta, "name"));
                        const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "default";
                        if (kind && name)
                                (void) netproxy_delete_object(np, kind, ns, name);
                }
                if (netproxy_sync(np) >= 0 && netproxy_metrics(np)->elements != 0 &&
                    netproxy_metrics(np)->services == 0)
                        abort();
        }
        json_decref(docs);
        netproxy_free(np);
        return 0;
}
