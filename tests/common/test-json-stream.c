/* SPDX-License-Identifier: Apache-2.0 */
/* The incremental JSON reader: the same values come out whatever the chunking (down to one byte per feed), strings
 * with braces and escapes do not confuse the scanner, List items come out one by one with the members before them,
 * and malformed input, too deep nesting and too large values fail with the stream offset. */

#include <fcntl.h>

#include "common/json-stream.h"
#include "common/json-util.h"
#include "tests/lib/testlib.h"

/* What the callbacks saw: "item <index> <head kind> <compact item>" and "value <n_items> <compact value>" lines. */
typedef struct Seen {
        char *log;
        size_t len, size;
        int fail_at_item; /* -1 = never */
} Seen;

static void seen_add(Seen *s, const char *fmt, ...) _printf_(2, 3);
static void seen_add(Seen *s, const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *line = NULL;
        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&line, fmt, ap), 0);
        va_end(ap);
        if (s->len + strlen(line) + 2 > s->size) {
                s->size = MAX(s->size * 2, s->len + strlen(line) + 2);
                s->log = realloc(s->log, s->size);
                ck_assert_ptr_nonnull(s->log);
        }
        memcpy(s->log + s->len, line, strlen(line));
        s->len += strlen(line);
        s->log[s->len++] = '\n';
        s->log[s->len] = 0;
}

static int on_item(json_t *item, const json_t *head, size_t index, void *userdata, ErrorBuf *e) {
        Seen *s = userdata;
        _cleanup_free_ char *text = jx_dump_compact(item);
        if (s->fail_at_item == (int) index)
                return error_set(e, -ECANCELED, "item %zu refused", index);
        seen_add(s, "item %zu %s %s", index, strna(json_string_value(json_object_get(head, "kind"))), text);
        return 0;
}

static int on_value(json_t *value, size_t n_items, void *userdata, ErrorBuf *e) {
        Seen *s = userdata;
        _cleanup_free_ char *text = jx_dump_compact(value);
        (void) e;
        seen_add(s, "value %zu %s", n_items, text);
        return 0;
}

/* Feeds text in chunks of `chunk` bytes (0 = all at once) and returns the stream's result; *ret_log gets the log. */
static int run(const char *text, size_t size, size_t chunk, const JxStreamConfig *extra, char **ret_log, ErrorBuf *e) {
        Seen seen = {.fail_at_item = -1};
        JxStreamConfig cfg = {.source = "test", .split_member = "items"};
        _cleanup_(jx_stream_freep) JxStream *s = NULL;
        int r = 0;

        if (extra)
                cfg = *extra;
        if (cfg.userdata)
                seen.fail_at_item = *(int *) cfg.userdata;
        cfg.on_item = on_item;
        cfg.on_value = on_value;
        cfg.userdata = &seen;
        ck_assert_int_eq(jx_stream_new(&cfg, &s), 0);
        for (size_t i = 0; i < size && r >= 0; i += chunk ?: size)
                r = jx_stream_feed(s, text + i, MIN(chunk ?: size, size - i), e);
        if (r >= 0)
                r = jx_stream_finish(s, e);
        *ret_log = seen.log ?: strdup("");
        return r;
}

/* The same log for every chunk size from 1 to 17 bytes and for the whole text at once. */
static char *run_all_chunkings(const char *text) {
        char *whole = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(run(text, strlen(text), 0, NULL, &whole, &e), 0);
        for (size_t chunk = 1; chunk <= 17; chunk++) {
                _cleanup_free_ char *log = NULL;
                ck_assert_int_eq(run(text, strlen(text), chunk, NULL, &log, &e), 0);
                ck_assert_str_eq(log, whole);
        }
        return whole;
}

START_TEST(test_list_items_one_by_one) {
        _cleanup_free_ char *log = run_all_chunkings(
                "{\"kind\": \"ServiceList\", \"apiVersion\": \"v1\", \"metadata\": {\"resourceVersion\": \"7\"},\n"
                " \"items\": [ {\"metadata\": {\"name\": \"a\"}} , {\"metadata\": {\"name\": \"b\", \"items\": [1]}}\n"
                " ],\n \"tail\": {\"continue\": \"x\"}}");
        ck_assert_str_eq(log, "item 0 ServiceList {\"metadata\":{\"name\":\"a\"}}\n"
                              "item 1 ServiceList {\"metadata\":{\"items\":[1],\"name\":\"b\"}}\n"
                              "value 2 {\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"ServiceList\",\"metadata\":"
                              "{\"resourceVersion\":\"7\"},\"tail\":{\"continue\":\"x\"}}\n");
}
END_TEST

START_TEST(test_strings_with_braces_and_escapes) {
        /* Braces, brackets, commas, colons and quotes inside strings, escaped backslashes before a closing quote,
         * \u escapes, a member named like the split member inside an item and as a string value. */
        _cleanup_free_ char *log = run_all_chunkings(
                "{\"a\": \"}]{[,:\\\"items\\\":[\", \"b\\\\\": \"\\\\\", \"items\": [\"x,]}\", \"\\u00e9\\\"\", "
                "{\"items\": \"[\", \"k\": [\"]\", {\"q\": \"\\\\\\\"}\"}]}, [[], {}], 3, true, null]}");
        ck_assert_str_eq(log, "item 0 n/a \"x,]}\"\n"
                              "item 1 n/a \"\xc3\xa9\\\"\"\n"
                              "item 2 n/a {\"items\":\"[\",\"k\":[\"]\",{\"q\":\"\\\\\\\"}\"}]}\n"
                              "item 3 n/a [[],{}]\n"
                              "item 4 n/a 3\n"
                              "item 5 n/a true\n"
                              "item 6 n/a null\n"
                              "value 7 {\"a\":\"}]{[,:\\\"items\\\":[\",\"b\\\\\":\"\\\\\",\"items\":[]}\n");
}
END_TEST

START_TEST(test_stream_of_values) {
        /* A watch stream: one object per line; an object without the member, an empty list, a top-level array, an
         * `items` that is no array, and a second `items` member (only the first is split). */
        _cleanup_free_ char *log =
                run_all_chunkings("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"items\":[1]}}\n"
                                  "{\"kind\":\"List\",\"items\":[]}{\"items\" : [ ] }\r\n\t[1, {\"items\": [2]}]"
                                  "{\"items\": {\"x\": [1]}, \"y\": 1}{\"items\":[5],\"items\":[6]}");
        ck_assert_str_eq(log, "value 0 {\"object\":{\"items\":[1],\"kind\":\"Service\"},\"type\":\"ADDED\"}\n"
                              "value 0 {\"items\":[],\"kind\":\"List\"}\n"
                              "value 0 {\"items\":[]}\n"
                              "value 0 [1,{\"items\":[2]}]\n"
                              "value 0 {\"items\":{\"x\":[1]},\"y\":1}\n"
                              "item 0 n/a 5\n"
                              "value 1 {\"items\":[6]}\n");
}
END_TEST

START_TEST(test_no_split_member) {
        JxStreamConfig cfg = {.source = "test"};
        _cleanup_free_ char *log = NULL;
        ErrorBuf e = {};
        const char *text = "{\"items\":[1,2]}";
        ck_assert_int_eq(run(text, strlen(text), 1, &cfg, &log, &e), 0);
        ck_assert_str_eq(log, "value 0 {\"items\":[1,2]}\n");
}
END_TEST

START_TEST(test_big_documents) {
        /* 5000 items of ~1 KiB, one with a 1 MiB string, fed in odd-sized chunks: all come out, in order. */
        size_t cap = 16 * 1024 * 1024, len = 0;
        _cleanup_free_ char *text = malloc(cap);
        _cleanup_free_ char *log = NULL;
        ErrorBuf e = {};
        ck_assert_ptr_nonnull(text);
        len += (size_t) sprintf(text + len, "{\"kind\":\"List\",\"items\":[");
        for (int i = 0; i < 5000; i++) {
                size_t pad = i == 2500 ? 1024 * 1024 : 1000;
                len += (size_t) sprintf(text + len, "%s{\"i\":%d,\"pad\":\"", i ? "," : "", i);
                memset(text + len, i == 2500 ? '{' : 'x', pad);
                len += pad;
                len += (size_t) sprintf(text + len, "\"}");
        }
        len += (size_t) sprintf(text + len, "]}");
        ck_assert_int_lt(len, cap);
        ck_assert_int_eq(run(text, len, 4093, NULL, &log, &e), 0);
        size_t lines = 0;
        for (const char *p = log; *p; p++)
                lines += *p == '\n';
        ck_assert_int_eq(lines, 5001);
        ck_assert_ptr_nonnull(strstr(log, "item 4999 List {\"i\":4999,"));
        ck_assert_ptr_nonnull(strstr(log, "value 5000 {\"items\":[],\"kind\":\"List\"}\n"));
}
END_TEST

/* Fails with r and a message containing `want` (which names the byte offset), byte by byte and all at once. */
static void check_error(const char *text, const JxStreamConfig *cfg, int r, const char *want) {
        for (size_t chunk = 0; chunk <= 1; chunk++) {
                _cleanup_free_ char *log = NULL;
                ErrorBuf e = {};
                ck_assert_int_eq(run(text, strlen(text), chunk, cfg, &log, &e), r);
                if (!strstr(e.msg, want))
                        ck_abort_msg("\"%s\": message \"%s\" lacks \"%s\"", text, e.msg, want);
        }
}

START_TEST(test_malformed_input) {
        check_error("{\"a\":1} x", NULL, -EBADMSG, "test: byte 8: expected '{' or '[' at the top level");
        check_error("{\"a\":[1}", NULL, -EBADMSG, "test: byte 7: unexpected '}'");
        check_error("]", NULL, -EBADMSG, "test: byte 0: expected '{' or '['");
        check_error("{\"a\":1,}", NULL, -EBADMSG, "test: byte 7: invalid JSON");
        check_error("{\"a\" 1}", NULL, -EBADMSG, "test: byte 6: invalid JSON");
        check_error("{\"items\":[1,,2]}", NULL, -EBADMSG, "test: byte 12: expected a value");
        check_error("{\"items\":[1,]}", NULL, -EBADMSG, "test: byte 12: expected a value");
        check_error("{\"items\":[,1]}", NULL, -EBADMSG, "test: byte 10: expected a value");
        /* inside an item: jansson's position is mapped back to the stream */
        check_error("{\"items\":[{\"a\":1}, {\"a\":tru}]}", NULL, -EBADMSG, "test: byte 27: invalid JSON");
        check_error("{\"items\":[1 2]}", NULL, -EBADMSG, "test: byte 13: invalid JSON");
        /* in the members before the list, and after it */
        check_error("{\"kind\" \"List\", \"items\":[1]}", NULL, -EBADMSG, "test: byte 14: invalid JSON");
        check_error("{\"items\":[1], \"x\": nul}", NULL, -EBADMSG, "test: byte 22: invalid JSON");
        check_error("{\"a\":\"x", NULL, -EBADMSG,
                    "test: byte 7: unexpected end of input in the value that starts "
                    "at byte 0");
        check_error("\n\n{\"items\":[{}", NULL, -EBADMSG, "test: byte 14: unexpected end of input");
}
END_TEST

START_TEST(test_errors_are_sticky) {
        JxStreamConfig cfg = {.source = "s"};
        _cleanup_(jx_stream_freep) JxStream *s = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(jx_stream_new(&cfg, &s), 0);
        ck_assert_int_eq(jx_stream_feed(s, "{}}", 3, &e), -EBADMSG);
        ck_assert_int_eq(jx_stream_feed(s, "{}", 2, NULL), -EBADMSG);
        ck_assert_int_eq(jx_stream_finish(s, NULL), -EBADMSG);
        ck_assert_str_eq(e.msg, "s: byte 2: expected '{' or '[' at the top level");
}
END_TEST

START_TEST(test_limits) {
        JxStreamConfig depth = {.source = "test", .split_member = "items", .max_depth = 4};
        JxStreamConfig size = {.source = "test", .split_member = "items", .max_value_size = 16};
        const char *ok = "{\"items\":[\"0123456789\",\"0123456789\",\"0123456789\"]}";
        _cleanup_free_ char *log = NULL;
        ErrorBuf e = {};

        /* four levels are fine, the fifth is not (also inside an item) */
        ck_assert_int_eq(run("{\"a\":[[{}]]}", 12, 1, &depth, &log, &e), 0);
        check_error("{\"a\":[[{\"b\":[]}]]}", &depth, -ELNRNG, "test: byte 12: nesting deeper than 4 levels");
        check_error("{\"items\":[[[[1]]]]}", &depth, -ELNRNG, "test: byte 12: nesting deeper than 4 levels");
        /* the limit is per element and per rest of a value, not per list: many small items pass */
        log = mfree(log);
        ck_assert_int_eq(run(ok, strlen(ok), 1, &size, &log, &e), 0);
        check_error("{\"items\":[\"0123456789abcdef\"]}", &size, -E2BIG, "test: byte 26: value larger than 16 bytes");
        check_error("{\"a\":\"0123456789abcdef\"}", &size, -E2BIG, "test: byte 16: value larger than 16 bytes");
}
END_TEST

START_TEST(test_callback_error_stops) {
        int fail_at = 1;
        JxStreamConfig cfg = {.source = "test", .split_member = "items", .userdata = &fail_at};
        _cleanup_free_ char *log = NULL;
        ErrorBuf e = {};
        ck_assert_int_eq(run("{\"items\":[1,2,3]}", 17, 1, &cfg, &log, &e), -ECANCELED);
        ck_assert_str_eq(e.msg, "item 1 refused");
        ck_assert_str_eq(log, "item 0 n/a 1\n");
}
END_TEST

START_TEST(test_feed_fd) {
        JxStreamConfig cfg = {.source = "pipe", .split_member = "items"};
        _cleanup_(jx_stream_freep) JxStream *s = NULL;
        Seen seen = {.fail_at_item = -1};
        const char *text = "{\"items\":[{\"a\":1},{\"a\":2}]}";
        int p[2];
        ErrorBuf e = {};

        cfg.on_item = on_item;
        cfg.on_value = on_value;
        cfg.userdata = &seen;
        ck_assert_int_eq(jx_stream_new(&cfg, &s), 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(write(p[1], text, strlen(text)), (ssize_t) strlen(text));
        close(p[1]);
        ck_assert_int_eq(jx_stream_feed_fd(s, p[0], &e), 0);
        close(p[0]);
        ck_assert_str_eq(seen.log, "item 0 n/a {\"a\":1}\nitem 1 n/a {\"a\":2}\nvalue 2 {\"items\":[]}\n");
        ck_assert_int_eq(jx_stream_offset(s), strlen(text));
        ck_assert_int_eq(jx_stream_n_delivered(s), 3);
        free(seen.log);
}
END_TEST

/* Differential check against jansson: random edits of a List document (structure characters, escapes, quotes) are
 * accepted by the stream exactly when json_loadb() accepts them as one value, and then give the same content: the
 * array elements as items and the rest as the value. */
static int collect_item(json_t *item, const json_t *head, size_t index, void *userdata, ErrorBuf *e) {
        (void) head;
        (void) index;
        (void) e;
        return json_array_append(json_object_get(userdata, "items"), item);
}

static int collect_value(json_t *value, size_t n_items, void *userdata, ErrorBuf *e) {
        (void) n_items;
        (void) e;
        return json_array_append(json_object_get(userdata, "values"), value);
}

START_TEST(test_same_as_jansson) {
        /* the second seed is all fast path (ASCII, short escapes, integers), the first also has reals, \u escapes,
         * UTF-8 and a 19-digit integer, which jansson reads */
        static const char *const seeds[] = {
                "{\"kind\":\"List\",\"m\":{\"a\":[1,2.5,\"x\\\"}\"]},\"items\":[{\"k\":\"v\\u00e9\xc3\xa9\",\"n\":[[],{"
                "}]},"
                "\"s\\\\\",[true,false,null],-0.5e3,1234567890123456789],\"t\":{}}",
                "{\"kind\":\"List\",\"items\":[{\"a\":\"b\\\"\\n\\/"
                "\",\"c\":[0,-12,3]},{\"d\":{\"e\":null,\"f\":true}},false,\"\"],"
                "\"z\":-0}",
        };
        static const char alphabet[] = "{}[]\",:\\ a1-e.\n0u9\t\x01\xc3";
        unsigned seedv = 12345, n_valid = 0, n_invalid = 0;

        for (int round = 0; round < 4000; round++) {
                char text[256];
                const char *seed = seeds[round % ELEMENTSOF(seeds)];
                size_t len = strlen(seed);
                memcpy(text, seed, len);
                for (int k = 0; k < 1 + round % 3; k++) {
                        size_t pos = (size_t) rand_r(&seedv) % len;
                        char c = alphabet[rand_r(&seedv) % (sizeof(alphabet) - 1)];
                        switch (rand_r(&seedv) % 3) {
                        case 0: /* replace */
                                text[pos] = c;
                                break;
                        case 1: /* insert */
                                memmove(text + pos + 1, text + pos, len - pos);
                                text[pos] = c;
                                len++;
                                break;
                        default: /* delete */
                                memmove(text + pos, text + pos + 1, len - pos - 1);
                                len--;
                        }
                }
                json_error_t je;
                _cleanup_json_ json_t *want = json_loadb(text, len, 0, &je);
                if (want)
                        n_valid++;
                else
                        n_invalid++;
                for (size_t chunk = 1; chunk <= 7; chunk += 6) {
                        _cleanup_json_ json_t *got = json_pack("{s:[],s:[]}", "items", "values");
                        JxStreamConfig cfg = {.split_member = "items",
                                              .on_item = collect_item,
                                              .on_value = collect_value,
                                              .userdata = got};
                        _cleanup_(jx_stream_freep) JxStream *s = NULL;
                        int r = 0;
                        ck_assert_int_eq(jx_stream_new(&cfg, &s), 0);
                        for (size_t i = 0; i < len && r >= 0; i += chunk)
                                r = jx_stream_feed(s, text + i, MIN(chunk, len - i), NULL);
                        if (r >= 0)
                                r = jx_stream_finish(s, NULL);
                        json_t *values = json_object_get(got, "values");
                        if (!want) {
                                /* several top-level values are a valid stream but not one jansson value */
                                if (r >= 0 && json_array_size(values) != 1)
                                        continue;
                                ck_assert_msg(r < 0, "accepted \"%.*s\", jansson: %s", (int) len, text, je.text);
                                continue;
                        }
                        ck_assert_msg(r >= 0, "refused \"%.*s\"", (int) len, text);
                        ck_assert_int_eq(json_array_size(values), 1);
                        json_t *v = json_array_get(values, 0), *items = json_object_get(want, "items");
                        if (json_is_object(want) && json_is_array(items) && json_object_size(got) > 0 &&
                            json_array_size(json_object_get(got, "items")) + json_array_size(items) > 0) {
                                /* split: the elements came one by one, the value kept an empty array */
                                ck_assert(json_equal(json_object_get(got, "items"), items));
                                ck_assert_int_eq(json_array_size(json_object_get(v, "items")), 0);
                                ck_assert_int_eq(json_object_set(v, "items", items), 0);
                        }
                        if (!json_equal(v, want)) {
                                _cleanup_free_ char *a = jx_dump_compact(v), *b = jx_dump_compact(want);
                                ck_abort_msg("\"%.*s\": got %s, jansson %s", (int) len, text, a, b);
                        }
                }
        }
        /* both sides of the comparison were exercised */
        ck_assert_uint_gt(n_valid, 100);
        ck_assert_uint_gt(n_invalid, 100);
}
END_TEST

/* Values at the edges of the fast path read exactly as jansson reads them (or are refused like jansson refuses them):
 * integer limits, leading zeros, reals, \u escapes (surrogates, NUL), raw UTF-8 and control characters. */
START_TEST(test_values_like_jansson) {
        static const char *const values[] = {
                "0",
                "-0",
                "7",
                "-12",
                "123456789012345678",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "-9223372036854775809",
                "99999999999999999999",
                "0123",
                "-",
                "--1",
                "1.5",
                "1e2",
                "-0.0",
                "1.",
                ".5",
                "1e",
                "true",
                "tru",
                "nul",
                "falsey",
                "\"\"",
                "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
                "\"\\u0041\\u00e9\\ud83d\\ude00\"",
                "\"\\ud83d\"",
                "\"\\u0000\"",
                "\"\\x\"",
                "\"\xc3\xa9\"",
                "\"\xc3\"",
                "\"a\tb\"",
                "\"a\x01\"",
                "{\"k\":1,\"k\":2}",
                "{\"\\u006b\":1}",
                "{\"a\\nb\":{\"c\\\"\":[1,{}]}}",
                "{\"a\" :1 , \"b\":[ ] }",
                "{,}",
                "{\"a\"}",
                "{\"a\":}",
                "[1,]",
                "[,]",
                "{\"a\":1,}",
                "1 2",
        };
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_json_ json_t *got = json_pack("{s:[],s:[]}", "items", "values");
                JxStreamConfig cfg = {
                        .split_member = "items", .on_item = collect_item, .on_value = collect_value, .userdata = got};
                _cleanup_(jx_stream_freep) JxStream *s = NULL;
                json_error_t je;
                _cleanup_json_ json_t *want = json_loads(values[i], JSON_DECODE_ANY, &je);

                ck_assert_int_ge(asprintf(&text, "{\"items\":[%s]}", values[i]), 0);
                ck_assert_int_eq(jx_stream_new(&cfg, &s), 0);
                int r = jx_stream_feed(s, text, strlen(text), NULL);
                if (r >= 0)
                        r = jx_stream_finish(s, NULL);
                if (!want) {
                        ck_assert_msg(r == -EBADMSG, "%s: accepted, jansson: %s", values[i], je.text);
                        continue;
                }
                ck_assert_msg(r == 0, "%s: refused", values[i]);
                json_t *item = json_array_get(json_object_get(got, "items"), 0);
                ck_assert_msg(item && json_equal(item, want), "%s: read differently", values[i]);
                /* json_equal() takes 1 and 1.0 for different, but check the integer type explicitly */
                ck_assert_int_eq(json_typeof(item), json_typeof(want));
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("json-stream");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_list_items_one_by_one);
        tcase_add_test(tc, test_strings_with_braces_and_escapes);
        tcase_add_test(tc, test_stream_of_values);
        tcase_add_test(tc, test_no_split_member);
        tcase_add_test(tc, test_big_documents);
        tcase_add_test(tc, test_malformed_input);
        tcase_add_test(tc, test_errors_are_sticky);
        tcase_add_test(tc, test_limits);
        tcase_add_test(tc, test_callback_error_stops);
        tcase_add_test(tc, test_feed_fd);
        tcase_add_test(tc, test_same_as_jansson);
        tcase_add_test(tc, test_values_like_jansson);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
