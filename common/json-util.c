/* SPDX-License-Identifier: Apache-2.0 */
#include "common/json-util.h"

#include <inttypes.h>

#include "common/fileio.h"

const char *json_type_name(const json_t *j) {
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

static const char *sep(const char *path) {
        return isempty(path) ? "" : ".";
}

/* Common lookup: 0 = absent/null (optional), 1 = found with the right type, <0 = error. */
static int lookup(const json_t *obj, const char *key, const char *path, bool required, json_type want,
                  const char *want_name, json_t **ret, ErrorBuf *e) {
        json_t *v = NULL;

        if (!obj || !json_is_object(obj))
                return error_set(e, -EINVAL, "%s: expected an object", isempty(path) ? "(root)" : path);
        v = json_object_get(obj, key);
        if (!v || json_is_null(v)) {
                if (required)
                        return error_set(e, -EINVAL, "%s%s%s: required field is missing", strempty(path), sep(path),
                                         key);
                return 0;
        }
        bool ok = json_typeof(v) == want || (want == JSON_TRUE && json_is_boolean(v)) ||
                  (want == JSON_INTEGER && json_is_real(v));
        if (!ok)
                return error_set(e, -EINVAL, "%s%s%s: expected %s, got %s", strempty(path), sep(path), key, want_name,
                                 json_type_name(v));
        *ret = v;
        return 1;
}

int jx_get_string(const json_t *obj, const char *key, const char *path, bool required, const char **ret, ErrorBuf *e) {
        json_t *v = NULL;
        int r = lookup(obj, key, path, required, JSON_STRING, "a string", &v, e);
        if (r > 0)
                *ret = json_string_value(v);
        return r < 0 ? r : 0;
}

int jx_get_int(const json_t *obj, const char *key, const char *path, bool required, int64_t min, int64_t max,
               int64_t *ret, ErrorBuf *e) {
        json_t *v = NULL;
        int64_t x;
        int r = lookup(obj, key, path, required, JSON_INTEGER, "an integer", &v, e);
        if (r <= 0)
                return r;
        if (json_is_real(v)) {
                double d = json_real_value(v);
                /* Range first: converting an out-of-range double to int64_t is undefined behaviour. */
                if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double) (int64_t) d)
                        return error_set(e, -EINVAL, "%s%s%s: expected an integer, got %g", strempty(path), sep(path),
                                         key, d);
                x = (int64_t) d;
        } else
                x = json_integer_value(v);
        if (x < min || x > max)
                return error_set(e, -ERANGE, "%s%s%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]",
                                 strempty(path), sep(path), key, x, min, max);
        *ret = x;
        return 0;
}

int jx_get_bool(const json_t *obj, const char *key, const char *path, bool required, bool *ret, ErrorBuf *e) {
        json_t *v = NULL;
        int r = lookup(obj, key, path, required, JSON_TRUE, "a boolean", &v, e);
        if (r > 0)
                *ret = json_is_true(v);
        return r < 0 ? r : 0;
}

int jx_get_object(const json_t *obj, const char *key, const char *path, bool required, json_t **ret, ErrorBuf *e) {
        json_t *v = NULL;
        int r = lookup(obj, key, path, required, JSON_OBJECT, "an object", &v, e);
        if (r > 0)
                *ret = v;
        return r < 0 ? r : 0;
}

int jx_get_array(const json_t *obj, const char *key, const char *path, bool required, json_t **ret, ErrorBuf *e) {
        json_t *v = NULL;
        int r = lookup(obj, key, path, required, JSON_ARRAY, "a list", &v, e);
        if (r > 0)
                *ret = v;
        return r < 0 ? r : 0;
}

int jx_get_strv(const json_t *obj, const char *key, const char *path, bool required, char ***ret, ErrorBuf *e) {
        json_t *a = NULL, *v;
        size_t i;
        int r = jx_get_array(obj, key, path, required, &a, e);
        if (r < 0 || !a)
                return r;
        _cleanup_strv_free_ char **l = calloc(json_array_size(a) + 1, sizeof(char *));
        RET_NULL_ENOMEM(l);
        json_array_foreach (a, i, v) {
                if (!json_is_string(v))
                        return error_set(e, -EINVAL, "%s%s%s[%zu]: expected a string, got %s", strempty(path),
                                         sep(path), key, i, json_type_name(v));
                l[i] = strdup(json_string_value(v));
                RET_NULL_ENOMEM(l[i]);
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int jx_parse(const char *text, size_t size, const char *source, json_t **ret, ErrorBuf *e) {
        json_error_t je;
        json_t *j = json_loadb(text, size, 0, &je);
        if (!j)
                return error_set(e, -EBADMSG, "%s:%d:%d: invalid JSON: %s", strna(source), je.line, je.column, je.text);
        *ret = j;
        return 0;
}

int jx_load_file(const char *path, json_t **ret, ErrorBuf *e) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r = read_full_file(path, 0, &data, &size);
        if (r < 0)
                return error_set(e, r, "%s: %s", path, strerror(-r));
        return jx_parse(data, size, path, ret, e);
}

char *jx_dump_compact(const json_t *j) {
        return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
