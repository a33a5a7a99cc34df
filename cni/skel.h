/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The plugin side of the CNI protocol (containernetworking/cni SPEC.md, "Protocol"): the CNI_* environment, the
 * network configuration on stdin, a result or an error JSON on stdout and the exit code. nodelet-bridge and
 * nodelet-ipam are a CniPlugin vtable plus a three-line main() around cni_plugin_main().
 *
 * Versions: we implement 1.1.0 and accept configurations written for 0.3.0, 0.3.1, 0.4.0 and 1.0.0; results are
 * printed in the version of the configuration (before 1.0.0 every ips[] entry carries "version"). */

#include <jansson.h>
#include <stdio.h>

#include "common/macro.h"

/* Well-known error codes (SPEC.md, "Error codes"). 100+ are plugin specific; 999 is what libcni's skel uses for
 * errors without a code, so runtimes already treat it as "other". */
enum {
        CNI_ERR_INCOMPATIBLE_VERSION = 1,
        CNI_ERR_UNSUPPORTED_FIELD = 2,
        CNI_ERR_UNKNOWN_CONTAINER = 3,
        CNI_ERR_INVALID_ENV = 4,
        CNI_ERR_IO = 5,
        CNI_ERR_DECODE = 6,
        CNI_ERR_INVALID_CONFIG = 7,
        CNI_ERR_TRY_AGAIN = 11,
        CNI_ERR_STATUS_UNAVAILABLE = 50,
        CNI_ERR_INTERNAL = 999,
};

#define CNI_VERSION_LATEST "1.1.0"

typedef struct CniError {
        int code; /* 0 = none */
        char msg[512];
        char details[1024];
} CniError;

/* Sets code and message when e is not NULL and no error was set yet (the innermost cause wins); returns a
 * negative errno-style value (-EINVAL unless the code says I/O or try-again) so callers `return cni_error(...)`. */
int cni_error(CniError *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Adds details (e.g. a system error string) to an already set error. */
void cni_error_details(CniError *e, const char *fmt, ...) _printf_(2, 3);
/* {"cniVersion","code","msg","details"} as SPEC.md prints errors. */
json_t *cni_error_to_json(const CniError *e, const char *cni_version);
/* Parses an error JSON a plugin printed; returns 0 and fills e, or -EINVAL when text is no error JSON. */
int cni_error_from_json(const json_t *j, CniError *e);

typedef enum CniCommand {
        CNI_CMD_ADD,
        CNI_CMD_DEL,
        CNI_CMD_CHECK,
        CNI_CMD_VERSION,
        CNI_CMD_STATUS,
        CNI_CMD_GC,
        _CNI_CMD_MAX,
        _CNI_CMD_INVALID = -EINVAL,
} CniCommand;

const char *cni_command_to_string(CniCommand c);
CniCommand cni_command_from_string(const char *s);

/* Version strings: compares "0.3.1" < "0.4.0" < "1.0.0"; unparsable versions sort first. */
int cni_version_cmp(const char *a, const char *b);
bool cni_version_supported(const char *v);
/* The list VERSION prints, as a JSON array of strings (new reference). */
json_t *cni_supported_versions(void);

typedef struct CniArgs {
        CniCommand command;
        const char *container_id;
        const char *netns;
        const char *ifname;
        const char *args; /* CNI_ARGS, "K=V;K2=V2" */
        const char *path; /* CNI_PATH */
        const char *stdin_data;
        size_t stdin_size;
        json_t *conf; /* parsed stdin */
        const char *cni_version;
        const char *name;
} CniArgs;

typedef struct CniPlugin {
        const char *name;
        int (*add)(const CniArgs *a, json_t **ret_result, CniError *e);
        int (*del)(const CniArgs *a, CniError *e);
        int (*check)(const CniArgs *a, CniError *e);
        int (*status)(const CniArgs *a, CniError *e);
        int (*gc)(const CniArgs *a, CniError *e);
} CniPlugin;

/* Runs one plugin invocation from the process environment and stdin, prints to stdout; returns the exit code. */
int cni_plugin_main(const CniPlugin *p);

/* Converts a result (the 1.x shape we build internally, or any accepted version) to the shape of cni_version:
 * adds or drops ips[].version. Returns a new reference. */
json_t *cni_result_convert(const json_t *result, const char *cni_version);

/* Validation from libcni's pkg/utils: container IDs and interface names as runtimes check them. */
bool cni_container_id_valid(const char *id);
bool cni_ifname_valid(const char *name);
