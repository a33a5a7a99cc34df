/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What nodelet-shim and the library exchange besides config.json: the sync-socket answer ("ok <pid> <shim-pid>" or
 * "error <message>") and the JSON the shim writes without jansson. */

#include <stddef.h>

/* Escapes s as a JSON string body into buf (truncating). */
void shim_json_escape(const char *s, char *buf, size_t size);
