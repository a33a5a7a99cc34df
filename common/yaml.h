/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* YAML → JSON, the way Kubernetes reads manifests and config files (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1):
 * - plain scalars resolve as YAML 1.1: y/yes/on/true → true, n/no/off/false → false, ~/null/empty → null,
 *   integers with base prefixes (0x1f, 0o17, 0b101, and a leading 0 is octal: `0644` → 420), underscores,
 *   floats and .inf/.nan; quoted, literal and folded scalars stay strings; explicit !!str/!!int/!!bool/!!float tags
 *   are honoured;
 * - mapping keys become strings (`on:` becomes "true", `1:` becomes "1"), duplicate keys: the last wins;
 * - anchors, aliases and `<<` merge keys (explicit keys win over merged ones);
 * - JSON input is parsed as JSON (like the apimachinery decoder that sniffs for `{`).
 * Errors name the source, line and column. */

#include <jansson.h>

#include "common/error.h"

/* Parses one document. An empty document yields JSON null. More than one document is an error. */
int yaml_parse(const char *text, size_t size, const char *source, json_t **ret, ErrorBuf *e);
/* Parses a stream of `---`-separated documents into a JSON array; empty documents are skipped (as kubectl does). */
int yaml_parse_documents(const char *text, size_t size, const char *source, json_t **ret, ErrorBuf *e);
int yaml_load_file(const char *path, json_t **ret, ErrorBuf *e);
int yaml_load_file_documents(const char *path, json_t **ret, ErrorBuf *e);
