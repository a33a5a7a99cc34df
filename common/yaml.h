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
/* The same stream one document at a time: cb gets each non-empty document as soon as it is built and the parser
 * drops it when cb returns (cb may keep a reference), so a long stream is never one tree. A negative return from cb
 * stops parsing and is returned. Input that is one strict JSON value is one document, as above. */
typedef int (*yaml_document_fn)(json_t *doc, void *userdata);
int yaml_parse_documents_foreach(const char *text, size_t size, const char *source, yaml_document_fn cb, void *userdata,
                                 ErrorBuf *e);
int yaml_load_file_documents_foreach(const char *path, yaml_document_fn cb, void *userdata, ErrorBuf *e);

/* Source positions, so a consumer that validates the JSON can point the operator at the line
 * ("config.yaml:7: maxPods: expected an integer"). Keys of the position table are JSON paths as the consumer spells
 * them: mapping keys joined with '.', sequence items as "[i]" ("evictionHard.memory.available",
 * "registerWithTaints[0].effect"). A key's position is where the key starts, a sequence item's where the item
 * starts; lines and columns count from 1. Keys are not escaped, so a key containing '.' or '[' shares its spelling
 * with a nested path (both are recorded, the later wins); content reached through an alias or a `<<` merge has no
 * position of its own (look up the parent). JSON input gets the same table. */
typedef struct YamlPositions YamlPositions;

/* Like yaml_parse(), and also returns the positions table (owned by the caller, free with yaml_positions_free()). */
int yaml_parse_with_positions(const char *text, size_t size, const char *source, json_t **ret,
                              YamlPositions **ret_positions, ErrorBuf *e);
int yaml_load_file_with_positions(const char *path, json_t **ret, YamlPositions **ret_positions, ErrorBuf *e);
/* 0 and the position of path, or -ENOENT when the document has no such key (or it came from an alias). */
int yaml_position_lookup(const YamlPositions *p, const char *path, unsigned *ret_line, unsigned *ret_column);
/* The source name given to the parser ("(null)" when none): what error messages put in front of the line. */
const char *yaml_positions_source(const YamlPositions *p);
YamlPositions *yaml_positions_free(YamlPositions *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(YamlPositions *, yaml_positions_free)
