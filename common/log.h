/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Logging for the top layers (daemon, nodeletctl, plugins, shim). Library code logs at debug at most.
 *
 * Lines on stderr read `I1123 08:14:01.123456 message key=value key=value` (klog-like severity letter, so operators
 * moving from the kubelet read them the same way). Under systemd (JOURNAL_STREAM names our stderr) records go to the
 * journal with PRIORITY, CODE_* and one upper-cased field per context key.
 *
 * Context: LOG_CONTEXT("pod", "default/web") attaches key=value to every record logged until the end of the scope.
 * The `*_errno` variants take a negative errno, make %m print it and return it, so callers write
 * `return log_error_errno(r, "Failed to mount %s: %m", path);`. */

#include <stdarg.h>

#include "common/macro.h"

typedef enum LogLevel {
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_NOTICE,
        LOG_LEVEL_INFO,
        LOG_LEVEL_DEBUG,
        _LOG_LEVEL_MAX,
        _LOG_LEVEL_INVALID = -EINVAL,
} LogLevel;

typedef enum LogTarget {
        LOG_TARGET_AUTO, /* journal when JOURNAL_STREAM names stderr, else stderr */
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

const char *log_level_to_string(LogLevel l);
LogLevel log_level_from_string(const char *s); /* also accepts klog's -v numbers: "0".."2" info, >=3 debug */

void log_set_max_level(LogLevel l);
LogLevel log_get_max_level(void);
void log_set_target(LogTarget t);
LogTarget log_get_target(void);
void log_set_program(const char *name); /* SYSLOG_IDENTIFIER for the journal */
/* Redirect stderr-format output into a memory buffer (tests); NULL restores stderr. */
void log_set_capture(char **buf, size_t *size);

int log_internal(LogLevel level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);
int log_internalv(LogLevel level, int error, const char *file, int line, const char *func, const char *format,
                  va_list ap) _printf_(6, 0);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_LEVEL_ERROR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_LEVEL_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_LEVEL_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_LEVEL_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_LEVEL_ERROR, e, __VA_ARGS__)

/* Context stack (per thread). Keys are lower-case identifiers; values are copied by pointer, so they must outlive
 * the scope. At most LOG_CONTEXT_MAX entries; deeper pushes are ignored. */
#define LOG_CONTEXT_MAX 8
typedef struct LogContextEntry {
        const char *key;
        const char *value;
} LogContextEntry;
int log_context_push(const char *key, const char *value);
void log_context_pop(int *depth);
size_t log_context_get(const LogContextEntry **ret);

#define _LOG_CONCAT(a, b) a##b
#define _LOG_UNIQ(a, b) _LOG_CONCAT(a, b)
#define LOG_CONTEXT(key, value)                                                                                        \
        _cleanup_(log_context_pop) _unused_ int _LOG_UNIQ(_log_ctx_, __COUNTER__) = log_context_push((key), (value))
