/* SPDX-License-Identifier: Apache-2.0 */
#include "common/yaml.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <yaml.h>

#include "common/fileio.h"
#include "common/json-util.h"

/* Nesting deeper than this is refused: it protects the recursive builder from stack exhaustion on hostile input. */
#define YAML_MAX_DEPTH 256
/* Aliases are expanded by reference (json_incref), so a "billion laughs" document costs the parser nothing, but
 * whoever walks the result (serializing, validating, copying) pays for the expansion. Like go-yaml (under
 * sigs.k8s.io/yaml), which refuses "excessive aliasing": count every node a document decodes to, aliases counted as
 * the nodes they stand for, and refuse a document in which aliases contribute more than a share of them. The share
 * shrinks from 99% (up to 400,000 decoded nodes) to 10% (from 4,000,000 on), so alias-driven work stays within about
 * 400,000 nodes however the document is built; small documents (up to 1,000 nodes or 100 aliased ones) are never
 * refused. Bounds on the number of aliases and anchor lookups keep the parser itself linear. */
#define YAML_MAX_ALIASES 10000
#define YAML_ALIAS_MIN_NODES 1000
#define YAML_ALIAS_MIN_ALIASED 100
#define YAML_ALIAS_RATIO_LOW_NODES 400000.0
#define YAML_ALIAS_RATIO_HIGH_NODES 4000000.0

typedef struct Anchor {
        json_t *value;
        uint64_t weight; /* the nodes the anchored value decodes to, its own aliases expanded */
} Anchor;

struct YamlPositions {
        char *source;
        json_t *table; /* JSON path → (line << 32) | column, both 1-based */
};

typedef struct Builder {
        yaml_parser_t parser;
        const char *source;
        const char *text; /* the input, to place reader errors, for which libyaml gives only an offset */
        size_t size;
        ErrorBuf *error;
        Anchor *anchors;
        size_t n_anchors;
        json_t *anchor_index; /* name → index into anchors of its newest definition */
        size_t n_aliases;
        uint64_t n_nodes, n_aliased_nodes; /* of the current document, aliases expanded */
        /* Only when the caller asked for positions: the table and the JSON path of the node being built. */
        YamlPositions *positions;
        char *path;
        size_t path_len, path_size;
        /* yaml_parse_documents_foreach(): each document goes here instead of into the array. */
        yaml_document_fn on_document;
        void *userdata;
} Builder;

static int builder_error(Builder *b, const yaml_mark_t *m, const char *what) {
        return error_set(b->error, -EBADMSG, "%s:%zu:%zu: %s", strna(b->source), m->line + 1, m->column + 1, what);
}

/* libyaml reports reader errors (invalid UTF-8, control characters) by byte offset only, leaving the mark at 1:1:
 * count lines and characters up to the offset. */
static void reader_error_position(const Builder *b, size_t offset, size_t *ret_line, size_t *ret_column) {
        size_t line = 1, column = 1;
        for (size_t i = 0; b->text && i < offset && i < b->size; i++) {
                unsigned char c = (unsigned char) b->text[i];
                if (c == '\n')
                        line++, column = 1;
                else if ((c & 0xc0) != 0x80) /* count characters, not UTF-8 continuation bytes */
                        column++;
        }
        *ret_line = line;
        *ret_column = column;
}

static int parse_event(Builder *b, yaml_event_t *ev) {
        if (!yaml_parser_parse(&b->parser, ev)) {
                const char *problem = b->parser.problem ?: "invalid YAML";
                if (b->parser.error == YAML_READER_ERROR) {
                        size_t line, column;
                        reader_error_position(b, b->parser.problem_offset, &line, &column);
                        if (b->parser.problem_value >= 0)
                                return error_set(b->error, -EBADMSG, "%s:%zu:%zu: %s (byte 0x%02x)", strna(b->source),
                                                 line, column, problem, (unsigned) b->parser.problem_value & 0xffu);
                        return error_set(b->error, -EBADMSG, "%s:%zu:%zu: %s", strna(b->source), line, column, problem);
                }
                return error_set(b->error, -EBADMSG, "%s:%zu:%zu: %s%s%s", strna(b->source),
                                 b->parser.problem_mark.line + 1, b->parser.problem_mark.column + 1, problem,
                                 b->parser.context ? " " : "", strempty(b->parser.context));
        }
        return 0;
}

static int anchor_add(Builder *b, const yaml_char_t *name, json_t *value, uint64_t weight) {
        if (!name)
                return 0;
        if (!b->anchor_index && !(b->anchor_index = json_object()))
                return -ENOMEM;
        /* Re-defining an anchor shadows the earlier one: the index points at the newest. */
        Anchor *n = realloc(b->anchors, (b->n_anchors + 1) * sizeof(Anchor));
        RET_NULL_ENOMEM(n);
        b->anchors = n;
        if (json_object_set_new(b->anchor_index, (const char *) name, json_integer((json_int_t) b->n_anchors)) < 0)
                return -ENOMEM;
        n[b->n_anchors++] = (Anchor){.value = json_incref(value), .weight = weight};
        return 0;
}

static const Anchor *anchor_find(Builder *b, const yaml_char_t *name) {
        json_t *i = json_object_get(b->anchor_index, (const char *) name);
        return i ? &b->anchors[json_integer_value(i)] : NULL;
}

static void anchors_clear(Builder *b) {
        for (size_t i = 0; i < b->n_anchors; i++)
                json_decref(b->anchors[i].value);
        free(b->anchors);
        b->anchors = NULL;
        b->n_anchors = 0;
        json_decref(b->anchor_index);
        b->anchor_index = NULL;
        b->n_aliases = 0;
        b->n_nodes = b->n_aliased_nodes = 0;
}

/* The share of a document's decoded nodes that may come from aliases, as a function of its size (see above). */
static double alias_ratio_allowed(uint64_t n_nodes) {
        if ((double) n_nodes <= YAML_ALIAS_RATIO_LOW_NODES)
                return 0.99;
        if ((double) n_nodes >= YAML_ALIAS_RATIO_HIGH_NODES)
                return 0.10;
        double f = ((double) n_nodes - YAML_ALIAS_RATIO_LOW_NODES) /
                   (YAML_ALIAS_RATIO_HIGH_NODES - YAML_ALIAS_RATIO_LOW_NODES);
        return 0.99 - 0.89 * f;
}

static bool aliasing_excessive(const Builder *b) {
        return b->n_aliased_nodes > YAML_ALIAS_MIN_ALIASED && b->n_nodes > YAML_ALIAS_MIN_NODES &&
               (double) b->n_aliased_nodes / (double) b->n_nodes > alias_ratio_allowed(b->n_nodes);
}

/* Appends ".key" (just "key" at the top) or "[i]" to the current path and records mark for it. Returns the old
 * length for path_pop(). */
static int path_push(Builder *b, const char *key, size_t index, const yaml_mark_t *mark, size_t *ret_old_len) {
        char idx[32];
        const char *seg = key;
        size_t extra;

        if (!key) {
                snprintf(idx, sizeof idx, "[%zu]", index);
                seg = idx;
        }
        extra = strlen(seg) + (key && b->path_len > 0 ? 1 : 0);
        if (b->path_len + extra + 1 > b->path_size) {
                size_t n = MAX(b->path_size * 2, b->path_len + extra + 64);
                char *p = realloc(b->path, n);
                RET_NULL_ENOMEM(p);
                b->path = p;
                b->path_size = n;
        }
        *ret_old_len = b->path_len;
        if (key && b->path_len > 0)
                b->path[b->path_len++] = '.';
        memcpy(b->path + b->path_len, seg, strlen(seg) + 1);
        b->path_len += strlen(seg);

        _cleanup_json_ json_t *v =
                json_integer((json_int_t) ((((uint64_t) mark->line + 1) << 32) | (mark->column + 1)));
        RET_NULL_ENOMEM(v);
        if (json_object_set(b->positions->table, b->path, v) < 0)
                return -ENOMEM;
        return 0;
}

static void path_pop(Builder *b, size_t old_len) {
        b->path_len = old_len;
        if (b->path)
                b->path[old_len] = 0;
}

static bool str_in(const char *s, const char *const *list) {
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

/* Integer per go-yaml v2: strconv.ParseInt(s without '_', 0, 64), so 0x, 0o, 0b and a leading 0 (octal) work. */
static bool parse_yaml_int(const char *s, json_t **ret) {
        char buf[128];
        size_t k = 0;
        const char *p = s;
        bool neg = false;
        int base = 10;

        for (; *p && k < sizeof buf - 1; p++)
                if (*p != '_')
                        buf[k++] = *p;
        if (*p)
                return false;
        buf[k] = 0;
        p = buf;
        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        if (!*p)
                return false;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                base = 16, p += 2;
        else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
                base = 8, p += 2;
        else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
                base = 2, p += 2;
        else if (p[0] == '0' && p[1])
                base = 8, p += 1;
        if (!*p)
                return false;
        for (const char *q = p; *q; q++) {
                int d = isdigit((unsigned char) *q)    ? *q - '0'
                        : isxdigit((unsigned char) *q) ? tolower((unsigned char) *q) - 'a' + 10
                                                       : 99;
                if (d >= base)
                        return false;
        }
        errno = 0;
        unsigned long long u = strtoull(p, NULL, base);
        if (errno == ERANGE)
                return false;
        if (neg) {
                if (u > (unsigned long long) INT64_MAX + 1)
                        return false;
                *ret = json_integer(u == (unsigned long long) INT64_MAX + 1 ? INT64_MIN : -(json_int_t) u);
        } else if (u > INT64_MAX)
                *ret = json_real((double) u); /* go-yaml yields uint64; JSON has one number type */
        else
                *ret = json_integer((json_int_t) u);
        return true;
}

/* Float per go-yaml v2's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool parse_yaml_float(const char *s, json_t **ret) {
        const char *p = s;
        bool digits = false;

        if (*p == '+' || *p == '-')
                p++;
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char) *p))
                        return false;
                while (isdigit((unsigned char) *p))
                        p++;
                digits = true;
        } else {
                while (isdigit((unsigned char) *p))
                        p++, digits = true;
                if (!digits)
                        return false;
                if (*p == '.')
                        for (p++; isdigit((unsigned char) *p); p++)
                                ;
        }
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '+' || *p == '-')
                        p++;
                if (!isdigit((unsigned char) *p))
                        return false;
                while (isdigit((unsigned char) *p))
                        p++;
        }
        if (*p)
                return false;
        errno = 0;
        double d = strtod(s, NULL);
        if (errno == ERANGE && isinf(d))
                return false;
        *ret = json_real(d);
        return true;
}

static const char *const yaml_true[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL};
static const char *const yaml_false[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                         "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const yaml_null[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const yaml_special_float[] = {".inf",  ".Inf",  ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
                                                 "-.Inf", "-.INF", ".nan", ".NaN",  ".NAN",  NULL};

static int resolve_scalar(Builder *b, const yaml_event_t *ev, json_t **ret) {
        const char *v = (const char *) ev->data.scalar.value;
        const char *tag = (const char *) ev->data.scalar.tag;
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        json_t *j = NULL;

        if (tag && !streq(tag, "!")) {
                if (streq(tag, YAML_STR_TAG) || streq(tag, "tag:yaml.org,2002:binary") ||
                    streq(tag, YAML_TIMESTAMP_TAG))
                        j = json_stringn(v, ev->data.scalar.length);
                else if (streq(tag, YAML_NULL_TAG))
                        j = json_null();
                else if (streq(tag, YAML_BOOL_TAG)) {
                        if (str_in(v, yaml_true))
                                j = json_true();
                        else if (str_in(v, yaml_false))
                                j = json_false();
                } else if (streq(tag, YAML_INT_TAG)) {
                        if (!parse_yaml_int(v, &j))
                                j = NULL;
                } else if (streq(tag, YAML_FLOAT_TAG)) {
                        if (!parse_yaml_int(v, &j) && !parse_yaml_float(v, &j))
                                j = NULL;
                } else
                        j = json_stringn(v, ev->data.scalar.length); /* unknown local tags: keep the text */
                if (!j) {
                        char what[256];
                        snprintf(what, sizeof what, "cannot decode \"%.64s\" as %s", v, tag);
                        return builder_error(b, &ev->start_mark, what);
                }
                *ret = j;
                return 0;
        }
        if (!plain) {
                *ret = json_stringn(v, ev->data.scalar.length);
                return *ret ? 0 : -ENOMEM;
        }
        if (str_in(v, yaml_true))
                j = json_true();
        else if (str_in(v, yaml_false))
                j = json_false();
        else if (str_in(v, yaml_null))
                j = json_null();
        else if (str_in(v, yaml_special_float)) {
                /* JSON cannot carry them; sigs.k8s.io/yaml fails the same way. */
                char what[128];
                snprintf(what, sizeof what, "value %s cannot be represented in JSON", v);
                return builder_error(b, &ev->start_mark, what);
        } else if ((isdigit((unsigned char) v[0]) || v[0] == '-' || v[0] == '+' || v[0] == '.') &&
                   (parse_yaml_int(v, &j) || parse_yaml_float(v, &j)))
                ;
        else
                j = json_stringn(v, ev->data.scalar.length);
        *ret = j;
        return j ? 0 : -ENOMEM;
}

/* JSON object keys are strings: render a resolved scalar key the way Go's fmt/strconv does. */
static int key_to_string(Builder *b, json_t *k, const yaml_mark_t *mark, char **ret) {
        char buf[64];
        switch (json_typeof(k)) {
        case JSON_STRING:
                *ret = strdup(json_string_value(k));
                break;
        case JSON_INTEGER:
                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
                *ret = strdup(buf);
                break;
        case JSON_REAL:
                snprintf(buf, sizeof buf, "%.17g", json_real_value(k));
                *ret = strdup(buf);
                break;
        case JSON_TRUE:
                *ret = strdup("true");
                break;
        case JSON_FALSE:
                *ret = strdup("false");
                break;
        case JSON_NULL:
                *ret = strdup("null");
                break;
        default:
                return builder_error(b, mark, "mapping keys must be scalars");
        }
        return *ret ? 0 : -ENOMEM;
}

static int build_node(Builder *b, yaml_event_t *ev, unsigned depth, json_t **ret);

/* Merge key per the YAML merge spec: keys already present (explicitly, earlier or later) win. */
static int merge_into(Builder *b, json_t *obj, json_t *merged, json_t *explicit_keys, const yaml_mark_t *mark) {
        const char *k;
        json_t *v;

        if (json_is_array(merged)) {
                size_t i;
                json_array_foreach (merged, i, v) {
                        int r = merge_into(b, obj, v, explicit_keys, mark);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_is_object(merged))
                return builder_error(b, mark, "map merge requires a mapping or a list of mappings");
        json_object_foreach (merged, k, v) {
                if (json_object_get(explicit_keys, k))
                        continue;
                if (!json_object_get(obj, k) && json_object_set(obj, k, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int build_mapping(Builder *b, yaml_event_t *start, unsigned depth, json_t **ret) {
        _cleanup_json_ json_t *obj = json_object(), *explicit_keys = json_object(), *merges = json_array();
        int r;

        RET_NULL_ENOMEM(obj && explicit_keys && merges);
        for (;;) {
                yaml_event_t kev, vev;
                _cleanup_json_ json_t *k = NULL, *v = NULL;
                _cleanup_free_ char *key = NULL;
                bool is_merge;

                if ((r = parse_event(b, &kev)) < 0)
                        return r;
                if (kev.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&kev);
                        break;
                }
                is_merge = kev.type == YAML_SCALAR_EVENT && kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                           streq((const char *) kev.data.scalar.value, "<<") && !kev.data.scalar.tag;
                yaml_mark_t kmark = kev.start_mark;
                size_t old_len = 0;
                r = build_node(b, &kev, depth + 1, &k);
                yaml_event_delete(&kev);
                if (r < 0)
                        return r;
                if (b->positions) {
                        /* The key's name is needed before the value is built (its keys nest below it). Merged
                         * content is recorded below "<<", where no consumer looks. */
                        if (!is_merge && (r = key_to_string(b, k, &kmark, &key)) < 0)
                                return r;
                        if ((r = path_push(b, is_merge ? "<<" : key, 0, &kmark, &old_len)) < 0)
                                return r;
                }
                if ((r = parse_event(b, &vev)) < 0)
                        return r;
                r = build_node(b, &vev, depth + 1, &v);
                yaml_event_delete(&vev);
                if (b->positions)
                        path_pop(b, old_len);
                if (r < 0)
                        return r;
                if (is_merge) {
                        if (json_array_append(merges, v) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!key && (r = key_to_string(b, k, &kmark, &key)) < 0)
                        return r;
                if (json_object_set(obj, key, v) < 0 || json_object_set(explicit_keys, key, json_true()) < 0)
                        return -ENOMEM;
        }
        size_t i;
        json_t *m;
        json_array_foreach (merges, i, m)
                if ((r = merge_into(b, obj, m, explicit_keys, &start->start_mark)) < 0)
                        return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

static int build_sequence(Builder *b, unsigned depth, json_t **ret) {
        _cleanup_json_ json_t *arr = json_array();
        int r;

        RET_NULL_ENOMEM(arr);
        for (;;) {
                yaml_event_t ev;
                json_t *v = NULL;
                size_t old_len = 0;

                if ((r = parse_event(b, &ev)) < 0)
                        return r;
                if (ev.type == YAML_SEQUENCE_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                if (b->positions && (r = path_push(b, NULL, json_array_size(arr), &ev.start_mark, &old_len)) < 0) {
                        yaml_event_delete(&ev);
                        return r;
                }
                r = build_node(b, &ev, depth + 1, &v);
                yaml_event_delete(&ev);
                if (b->positions)
                        path_pop(b, old_len);
                if (r < 0)
                        return r;
                if (json_array_append_new(arr, v) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(arr);
        return 0;
}

static int build_node(Builder *b, yaml_event_t *ev, unsigned depth, json_t **ret) {
        uint64_t first = b->n_nodes;
        const yaml_char_t *anchor;
        json_t *v = NULL;
        int r;

        if (depth > YAML_MAX_DEPTH)
                return builder_error(b, &ev->start_mark, "document is nested too deeply");
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                b->n_nodes++;
                r = resolve_scalar(b, ev, &v);
                anchor = ev->data.scalar.anchor;
                break;
        case YAML_SEQUENCE_START_EVENT:
                b->n_nodes++;
                r = build_sequence(b, depth, &v);
                anchor = ev->data.sequence_start.anchor;
                break;
        case YAML_MAPPING_START_EVENT:
                b->n_nodes++;
                r = build_mapping(b, ev, depth, &v);
                anchor = ev->data.mapping_start.anchor;
                break;
        case YAML_ALIAS_EVENT: {
                const Anchor *a = anchor_find(b, ev->data.alias.anchor);
                if (!a)
                        return builder_error(b, &ev->start_mark, "unknown anchor referenced");
                if (++b->n_aliases > YAML_MAX_ALIASES)
                        return builder_error(b, &ev->start_mark, "document has too many aliases");
                /* Weights are bounded by the nodes counted so far, which the check below keeps bounded. */
                b->n_nodes += a->weight;
                b->n_aliased_nodes += a->weight;
                if (aliasing_excessive(b))
                        return builder_error(b, &ev->start_mark, "document contains excessive aliasing");
                *ret = json_incref(a->value);
                return 0;
        }
        default:
                return builder_error(b, &ev->start_mark, "unexpected YAML event");
        }
        if (r < 0)
                return r;
        /* Registered only now: an alias inside its own anchor ("value contains itself") stays unknown. */
        r = anchor_add(b, anchor, v, b->n_nodes - first);
        if (r < 0) {
                json_decref(v);
                return r;
        }
        *ret = v;
        return 0;
}

/* Reads one document after DOCUMENT_START; returns NULL json for an empty document. */
static int build_document(Builder *b, json_t **ret) {
        yaml_event_t ev;
        json_t *root = NULL;
        int r;

        if ((r = parse_event(b, &ev)) < 0)
                return r;
        if (ev.type == YAML_DOCUMENT_END_EVENT) {
                yaml_event_delete(&ev);
                *ret = json_null();
                return 0;
        }
        r = build_node(b, &ev, 0, &root);
        yaml_event_delete(&ev);
        if (r < 0)
                return r;
        if ((r = parse_event(b, &ev)) < 0) {
                json_decref(root);
                return r;
        }
        yaml_event_delete(&ev); /* DOCUMENT_END */
        anchors_clear(b);       /* anchors do not cross documents */
        *ret = root;
        return 0;
}

static bool looks_like_json(const char *text, size_t size) {
        for (size_t i = 0; i < size; i++) {
                if (isspace((unsigned char) text[i]))
                        continue;
                return text[i] == '{';
        }
        return false;
}

/* Runs libyaml over text, building each document into docs (a JSON array). */
static int parse_yaml_stream(Builder *b, const char *text, size_t size, bool multi, json_t *docs) {
        int r = 0;

        if (!yaml_parser_initialize(&b->parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&b->parser, (const unsigned char *) text, size);
        for (bool done = false; !done && r >= 0;) {
                yaml_event_t ev;
                if ((r = parse_event(b, &ev)) < 0)
                        break;
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT: {
                        json_t *doc = NULL;
                        if (!multi && json_array_size(docs) > 0) {
                                r = builder_error(b, &ev.start_mark, "expected a single document, found another one");
                                break;
                        }
                        if ((r = build_document(b, &doc)) < 0)
                                break;
                        if (json_is_null(doc) && multi)
                                json_decref(doc);
                        else if (b->on_document) {
                                r = b->on_document(doc, b->userdata);
                                json_decref(doc);
                        } else if (json_array_append_new(docs, doc) < 0)
                                r = -ENOMEM;
                        break;
                }
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }
        anchors_clear(b);
        yaml_parser_delete(&b->parser);
        free(b->path);
        b->path = NULL;
        b->path_len = b->path_size = 0;
        return r;
}

static int parse_stream(const char *text, size_t size, const char *source, bool multi, YamlPositions *positions,
                        json_t **ret, ErrorBuf *e) {
        _cleanup_json_ json_t *docs = json_array();
        Builder b = {.source = source, .text = text, .size = size, .error = e, .positions = positions};
        int r;

        RET_NULL_ENOMEM(docs);
        if (looks_like_json(text, size)) {
                json_t *j;
                if (jx_parse(text, size, source, &j, NULL) >= 0) {
                        if (json_array_append_new(docs, j) < 0)
                                return -ENOMEM;
                        if (positions) {
                                /* The value stays jansson's; the YAML reader (JSON is flow-style YAML) only
                                 * contributes positions, so a document it cannot read just has fewer of them. */
                                _cleanup_json_ json_t *ignored = json_array();
                                RET_NULL_ENOMEM(ignored);
                                b.error = NULL;
                                if (parse_yaml_stream(&b, text, size, multi, ignored) == -ENOMEM)
                                        return -ENOMEM;
                        }
                        *ret = TAKE_PTR(docs);
                        return 0;
                }
                /* Not strict JSON: YAML flow style is a superset, fall through. */
        }
        r = parse_yaml_stream(&b, text, size, multi, docs);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(docs);
        return 0;
}

int yaml_parse_documents(const char *text, size_t size, const char *source, json_t **ret, ErrorBuf *e) {
        return parse_stream(text, size, source, true, NULL, ret, e);
}

int yaml_parse_documents_foreach(const char *text, size_t size, const char *source, yaml_document_fn cb, void *userdata,
                                 ErrorBuf *e) {
        Builder b = {.source = source, .text = text, .size = size, .error = e, .on_document = cb, .userdata = userdata};
        json_t *j;

        if (looks_like_json(text, size) && jx_parse(text, size, source, &j, NULL) >= 0) {
                int r = cb(j, userdata);
                json_decref(j);
                return r;
        }
        return parse_yaml_stream(&b, text, size, true, NULL);
}

static int parse_one(const char *text, size_t size, const char *source, YamlPositions *positions, json_t **ret,
                     ErrorBuf *e) {
        _cleanup_json_ json_t *docs = NULL;
        int r = parse_stream(text, size, source, false, positions, &docs, e);
        if (r < 0)
                return r;
        *ret = json_array_size(docs) > 0 ? json_incref(json_array_get(docs, 0)) : json_null();
        return 0;
}

int yaml_parse(const char *text, size_t size, const char *source, json_t **ret, ErrorBuf *e) {
        return parse_one(text, size, source, NULL, ret, e);
}

YamlPositions *yaml_positions_free(YamlPositions *p) {
        if (!p)
                return NULL;
        free(p->source);
        json_decref(p->table);
        free(p);
        return NULL;
}

int yaml_parse_with_positions(const char *text, size_t size, const char *source, json_t **ret,
                              YamlPositions **ret_positions, ErrorBuf *e) {
        _cleanup_(yaml_positions_freep) YamlPositions *p = calloc(1, sizeof(YamlPositions));
        json_t *j = NULL;
        int r;

        RET_NULL_ENOMEM(p);
        p->table = json_object();
        p->source = strdup(strna(source));
        RET_NULL_ENOMEM(p->table && p->source);
        if ((r = parse_one(text, size, source, p, &j, e)) < 0)
                return r;
        *ret = j;
        *ret_positions = TAKE_PTR(p);
        return 0;
}

int yaml_position_lookup(const YamlPositions *p, const char *path, unsigned *ret_line, unsigned *ret_column) {
        json_t *v;

        if (!p || !path)
                return -ENOENT;
        v = json_object_get(p->table, path);
        if (!v)
                return -ENOENT;
        uint64_t packed = (uint64_t) json_integer_value(v);
        if (ret_line)
                *ret_line = (unsigned) (packed >> 32);
        if (ret_column)
                *ret_column = (unsigned) (packed & 0xffffffffu);
        return 0;
}

const char *yaml_positions_source(const YamlPositions *p) {
        return p ? p->source : "(null)";
}

static int load(const char *path, bool multi, YamlPositions **ret_positions, json_t **ret, ErrorBuf *e) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r = read_full_file(path, 0, &data, &size);
        if (r < 0)
                return error_set(e, r, "%s: %s", path, strerror(-r));
        if (ret_positions)
                return yaml_parse_with_positions(data, size, path, ret, ret_positions, e);
        return multi ? yaml_parse_documents(data, size, path, ret, e) : yaml_parse(data, size, path, ret, e);
}

int yaml_load_file(const char *path, json_t **ret, ErrorBuf *e) {
        return load(path, false, NULL, ret, e);
}

int yaml_load_file_documents(const char *path, json_t **ret, ErrorBuf *e) {
        return load(path, true, NULL, ret, e);
}

int yaml_load_file_documents_foreach(const char *path, yaml_document_fn cb, void *userdata, ErrorBuf *e) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r = read_full_file(path, 0, &data, &size);
        if (r < 0)
                return error_set(e, r, "%s: %s", path, strerror(-r));
        return yaml_parse_documents_foreach(data, size, path, cb, userdata, e);
}

int yaml_load_file_with_positions(const char *path, json_t **ret, YamlPositions **ret_positions, ErrorBuf *e) {
        return load(path, false, ret_positions, ret, e);
}
