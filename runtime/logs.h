/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* CRI container logs, the format the kubelet reads (pkg/kubelet/kuberuntime/logs/logs.go) and log shippers expect:
 *
 *     2016-10-06T00:17:09.669794202Z stdout F a complete line
 *     2016-10-06T00:17:09.669794202Z stderr P the first 16 KiB of a longer line…
 *
 * One record per line of output; a line longer than line_max is split into "P" (partial) records followed by the
 * "F" record that ends it, as containerd does with max_container_log_line_size. Output that ends without a newline
 * is written as an "F" record when the stream closes (containerd's behaviour too). Size-based rotation keeps
 * <path>.1 … <path>.<max_files-1>, newest first. */

#include <stdint.h>
#include <stdio.h>

#include "common/macro.h"

typedef enum LogStream {
        LOG_STREAM_STDOUT,
        LOG_STREAM_STDERR,
        _LOG_STREAM_MAX,
        _LOG_STREAM_INVALID = -EINVAL,
} LogStream;

typedef struct LogWriter {
        int fd; /* -1: discard */
        char *path;
        uint64_t size, max_size;
        unsigned max_files;
        size_t line_max;
        char *buf[_LOG_STREAM_MAX];
        size_t len[_LOG_STREAM_MAX];
} LogWriter;

#define LOG_LINE_MAX_DEFAULT (16u * 1024u)

/* path NULL: output is discarded. */
int log_writer_open(LogWriter *w, const char *path, uint64_t max_size, unsigned max_files, size_t line_max);
/* Returns the first write error (-ENOSPC on a full disk); the rest of data is then dropped. A record is never left
 * half-written: the file ends with whole records, and writing resumes with the next call once there is room. */
int log_writer_feed(LogWriter *w, LogStream s, const char *data, size_t n);
/* The stream closed: a pending unterminated line becomes an F record. */
int log_writer_flush(LogWriter *w, LogStream s);
void log_writer_close(LogWriter *w);
/* Closes and reopens the path (appending; created when it was moved away). */
int log_writer_reopen(LogWriter *w);

/* Formats the timestamp as RFC 3339 with nanoseconds in UTC ("…T00:17:09.669794202Z"); buf ≥ 32 bytes. */
void log_format_timestamp(uint64_t ns, char *buf, size_t size);

typedef struct CriLogLine {
        char timestamp[40];
        LogStream stream;
        bool partial;
        const char *content; /* points into the parsed line, without the trailing newline */
        size_t content_size;
} CriLogLine;
/* Parses one record (without or with its newline). -EBADMSG when it is not a CRI record. */
int cri_log_parse_line(const char *line, size_t n, CriLogLine *ret);
/* Writes the content of every record of path to out/err (NULL: skip that stream), joining partial records.
 * tail: only the last N lines (0 = all). */
int cri_log_print(const char *path, FILE *out, FILE *err, unsigned tail);
