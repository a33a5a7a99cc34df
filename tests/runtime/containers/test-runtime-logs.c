/* SPDX-License-Identifier: Apache-2.0 */
/* CRI log writing and reading without a container: framing, partial lines, rotation, timestamps, parsing. */

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "runtime/logs.h"
#include "tests/lib/testlib.h"

static char *tmp;

static void setup(void) {
        tmp = test_tmpdir_new("nodelet-logs");
        ck_assert_ptr_nonnull(tmp);
}

static void teardown(void) {
        test_tmpdir_remove(tmp);
}

static char *slurp(const char *p) {
        char *s = NULL;
        ck_assert_int_eq(read_full_file(p, 0, &s, NULL), 0);
        return s;
}

/* The records of a file without their timestamps: "stdout F x\n…". */
static char *strip_ts(const char *raw) {
        char *out = calloc(1, strlen(raw) + 1);
        char *o = out;
        for (const char *l = raw; *l;) {
                const char *nl = strchr(l, '\n');
                const char *sp = strchr(l, ' ');
                ck_assert(nl && sp && sp < nl);
                memcpy(o, sp + 1, (size_t) (nl - sp));
                o += nl - sp;
                l = nl + 1;
        }
        return out;
}

START_TEST(test_framing) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/sub/0.log", tmp);
        LogWriter w;
        ck_assert_int_eq(log_writer_open(&w, p, 0, 0, 8), 0);
        const char *in = "hello\nworld\n01234567890123456789\nabc";
        /* Fed in awkward pieces: framing must not depend on how the pipe delivered the bytes. */
        for (const char *s = in; *s; s += 3)
                ck_assert_int_eq(log_writer_feed(&w, LOG_STREAM_STDOUT, s, MIN(strlen(s), (size_t) 3)), 0);
        ck_assert_int_eq(log_writer_feed(&w, LOG_STREAM_STDERR, "e1\n12345678\n", 12), 0);
        ck_assert_int_eq(log_writer_flush(&w, LOG_STREAM_STDOUT), 0);
        log_writer_close(&w);
        _cleanup_free_ char *raw = slurp(p);
        _cleanup_free_ char *recs = strip_ts(raw);
        ck_assert_str_eq(recs, "stdout F hello\n"
                               "stdout F world\n"
                               "stdout P 01234567\n"
                               "stdout P 89012345\n"
                               "stdout F 6789\n"
                               "stderr F e1\n"
                               "stderr F 12345678\n"
                               "stdout F abc\n");

        /* Reading joins partial records back into lines, per stream. */
        char *out = NULL, *err = NULL;
        size_t os = 0, es = 0;
        FILE *fo = open_memstream(&out, &os), *fe = open_memstream(&err, &es);
        ck_assert_int_eq(cri_log_print(p, fo, fe, 0), 0);
        fclose(fo);
        fclose(fe);
        ck_assert_str_eq(out, "hello\nworld\n01234567890123456789\nabc\n");
        ck_assert_str_eq(err, "e1\n12345678\n");
        free(out);
        free(err);

        /* --tail counts whole lines. */
        fo = open_memstream(&out, &os);
        ck_assert_int_eq(cri_log_print(p, fo, NULL, 2), 0);
        fclose(fo);
        ck_assert_str_eq(out, "abc\n");
        free(out);
}
END_TEST

START_TEST(test_rotation) {
        char p[4096], q[4200];
        snprintf(p, sizeof(p), "%s/r.log", tmp);
        LogWriter w;
        ck_assert_int_eq(log_writer_open(&w, p, 200, 3, 0), 0);
        for (int i = 0; i < 40; i++) {
                char line[32];
                int n = snprintf(line, sizeof(line), "line-%02d\n", i);
                ck_assert_int_eq(log_writer_feed(&w, LOG_STREAM_STDOUT, line, (size_t) n), 0);
        }
        log_writer_close(&w);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_lt(st.st_size, 200);
        snprintf(q, sizeof(q), "%s.1", p);
        ck_assert_int_eq(access(q, F_OK), 0);
        snprintf(q, sizeof(q), "%s.2", p);
        ck_assert_int_eq(access(q, F_OK), 0);
        snprintf(q, sizeof(q), "%s.3", p);
        ck_assert_int_ne(access(q, F_OK), 0);
        _cleanup_free_ char *cur = slurp(p);
        /* The newest lines are in the live file, every record whole. */
        ck_assert(strstr(cur, "stdout F line-39\n"));
        snprintf(q, sizeof(q), "%s.1", p);
        _cleanup_free_ char *prev = slurp(q);
        ck_assert(strstr(prev, "F line-"));
}
END_TEST

/* A file system that fills up in the middle of a record (here: RLIMIT_FSIZE, which cuts writes the same way without
 * needing a mount): the record is dropped whole, the file keeps ending at a record boundary, the error is reported,
 * and once there is room again the next record starts on its own line instead of continuing a torn one. */
START_TEST(test_full_disk_keeps_whole_records) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/full.log", tmp);
        LogWriter w;
        ck_assert_int_eq(log_writer_open(&w, p, 0, 0, 0), 0);
        ck_assert_int_eq(log_writer_feed(&w, LOG_STREAM_STDOUT, "first\n", 6), 0);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        off_t whole = st.st_size;

        ck_assert_ptr_ne(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
        struct rlimit old, lim;
        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t) whole + 40; /* room for the timestamp and stream of the next record, not for it all */
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
        const char *lost = "a line that does not fit\nnor does this one\n";
        ck_assert_int_eq(log_writer_feed(&w, LOG_STREAM_STDOUT, lost, strlen(lost)), -EFBIG);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_size, whole);

        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
        ck_assert_int_eq(log_writer_feed(&w, LOG_STREAM_STDERR, "resumed\n", 8), 0);
        log_writer_close(&w);
        _cleanup_free_ char *raw = slurp(p);
        _cleanup_free_ char *recs = strip_ts(raw);
        ck_assert_str_eq(recs, "stdout F first\n"
                               "stderr F resumed\n");
}
END_TEST

START_TEST(test_timestamp_and_parse) {
        char ts[40];
        log_format_timestamp(1475713029669794202ULL, ts, sizeof(ts));
        ck_assert_str_eq(ts, "2016-10-06T00:17:09.669794202Z");
        log_format_timestamp(1475713029000000000ULL, ts, sizeof(ts));
        ck_assert_str_eq(ts, "2016-10-06T00:17:09.000000000Z");

        CriLogLine l;
        const char *line = "2016-10-06T00:17:09.669794202Z stderr P partial content\n";
        ck_assert_int_eq(cri_log_parse_line(line, strlen(line), &l), 0);
        ck_assert_str_eq(l.timestamp, "2016-10-06T00:17:09.669794202Z");
        ck_assert_int_eq(l.stream, LOG_STREAM_STDERR);
        ck_assert(l.partial);
        ck_assert_int_eq(l.content_size, strlen("partial content"));
        ck_assert(strncmp(l.content, "partial content", l.content_size) == 0);
        line = "2016-10-06T00:17:09Z stdout F \n";
        ck_assert_int_eq(cri_log_parse_line(line, strlen(line), &l), 0);
        ck_assert_int_eq(l.content_size, 0);
        const char *bad[] = {"garbage", "2016 stdin F x", "2016 stdout X x", ""};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_int_eq(cri_log_parse_line(bad[i], strlen(bad[i]), &l), -EBADMSG);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("runtime-logs");
        TCase *tc = tcase_create("logs");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_framing);
        tcase_add_test(tc, test_rotation);
        tcase_add_test(tc, test_full_disk_keeps_whole_records);
        tcase_add_test(tc, test_timestamp_and_parse);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
