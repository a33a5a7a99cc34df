/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Quantities (k8s.io/apimachinery resource.Quantity), one parser for pod specs and the kubelet's configuration. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* "100m", "0.5", "2" → millicores; "64Mi", "1G", "1e3", "128974848" → bytes (rounded up like Value()). -EINVAL on
 * syntax errors or overflow. */
int quantity_parse_milli(const char *s, int64_t *ret);
/* The same, telling overflow (-ERANGE) from bad syntax (-EINVAL): for messages that say which. */
int quantity_parse(const char *s, bool milli, int64_t *ret);
int quantity_parse_bytes(const char *s, int64_t *ret);
/* A quantity as the API decodes it from YAML/JSON: a string, or a number (`cpu: 1`, `memory: 1048576`). */
int quantity_from_json(const json_t *v, bool milli, int64_t *ret);
