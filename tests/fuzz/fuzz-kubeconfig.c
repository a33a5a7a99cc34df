/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: kubeconfig files (agent/kubeconfig.h), as the daemon reads --kubeconfig and the bootstrap
 * kubeconfig: the whole input with its current-context, then with the context named on its first line (like
 * --context) when that line is a comment ("#context-b"), and the first line through the base64 decoder of the
 * -data fields. Nothing is read from disk: the
 * files a kubeconfig names are only resolved, and the token file is read by kubeconfig_token(), not called here. */

#include <stdint.h>

#include "agent/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const char *text, size_t size, const char *context) {
        Kubeconfig *k = NULL;
        ErrorBuf e = {};
        int r = kubeconfig_parse(text, size, "/etc/nodelet/kubeconfig", context, &k, &e);
        if (r < 0) {
                if (r == -EINVAL && !e.msg[0])
                        abort(); /* refusals name the file and field */
                return;
        }
        /* a usable kubeconfig has a server and a context; relative paths were made absolute */
        if (isempty(k->server) || isempty(k->context) || (k->ca_file && k->ca_file[0] != '/') ||
            (k->client_cert_file && k->client_cert_file[0] != '/') || (k->token_file && k->token_file[0] != '/'))
                abort();
        kubeconfig_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data, *nl = memchr(data, '\n', size);
        char *line = strndup(text, nl ? (size_t) (nl - text) : size), *decoded = NULL;
        size_t decoded_size;

        if (!line)
                return 0;
        parse(text, size, NULL);
        if (nl && line[0] == '#')
                parse(text, size, line + 1);
        if (kubeconfig_base64_decode(line, &decoded, &decoded_size) >= 0) {
                if (decoded[decoded_size] != 0)
                        abort();
                free(decoded);
        }
        free(line);
        return 0;
}
