/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* jansson helpers shared by every parser (manifests, API objects, CNI config, image manifests).
 *
 * Getters take the object, the key and the *path* of the object for error messages (e.g. "spec.containers[0]"), so
 * a bad field is reported as "spec.containers[0].image: expected a string, got number". Optional getters return 0
 * and leave *ret untouched when the key is absent or null (Kubernetes treats null as unset); required ones fail with
 * -EINVAL and "…: required field is missing". */

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "common/macro.h"

/* jansson.h provides json_decrefp() (its json_auto_t cleanup). */
#define _cleanup_json_ _cleanup_(json_decrefp)

const char *json_type_name(const json_t *j);

int jx_get_string(const json_t *obj, const char *key, const char *path, bool required, const char **ret, ErrorBuf *e);
int jx_get_int(const json_t *obj, const char *key, const char *path, bool required, int64_t min, int64_t max,
               int64_t *ret, ErrorBuf *e);
int jx_get_bool(const json_t *obj, const char *key, const char *path, bool required, bool *ret, ErrorBuf *e);
int jx_get_object(const json_t *obj, const char *key, const char *path, bool required, json_t **ret, ErrorBuf *e);
int jx_get_array(const json_t *obj, const char *key, const char *path, bool required, json_t **ret, ErrorBuf *e);
/* A list of strings → NULL-terminated strv (empty list → strv with no entries). */
int jx_get_strv(const json_t *obj, const char *key, const char *path, bool required, char ***ret, ErrorBuf *e);

/* Parses text into a jansson tree; errors name the source and line:column. */
int jx_parse(const char *text, size_t size, const char *source, json_t **ret, ErrorBuf *e);
int jx_load_file(const char *path, json_t **ret, ErrorBuf *e);
/* Compact, key-sorted serialization (stable for hashing and caching); caller frees. */
char *jx_dump_compact(const json_t *j);
