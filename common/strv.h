/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* NULL-terminated string vectors (char **), the one implementation every module uses (it used to be nine private
 * copies). strv_free() and _cleanup_strv_free_ live in common/macro.h because nearly every file needs them.
 *
 * A NULL strv is an empty list everywhere here. Appending functions keep *l NULL-terminated and leave it unchanged
 * on -ENOMEM. They are O(n) per call (the length is recounted), fine for the short lists they serve (argv, env,
 * DNS options); a caller appending thousands of entries keeps its own length and capacity. libc only: this is part of
 * nodelet-basic, which the static CNI plugins link. */

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

size_t strv_length(char *const *l);
static inline bool strv_isempty(char *const *l) {
        return !l || !*l;
}
bool strv_contains(char *const *l, const char *s);

/* An empty, allocated list (for fields where NULL and empty differ, e.g. a JSON [] vs absent). */
char **strv_new_empty(void);
/* Frees *l and makes it an empty list (an option given again replaces the earlier list). */
int strv_set_empty(char ***l);
/* l itself when not NULL, else a new empty list (NULL only on ENOMEM). Takes ownership of l. */
char **strv_empty_if_null(char **l);
/* A deep copy; a NULL list gives an empty one, so NULL always means ENOMEM. */
char **strv_copy(char *const *l);

/* Appends s and takes ownership of it, also on failure (s is then freed); s == NULL is -ENOMEM, so the result of a
 * strdup() can be passed on directly (like systemd's strv_consume()). */
int strv_consume(char ***l, char *s);
/* Appends a copy of s. */
int strv_extend(char ***l, const char *s);
/* Appends a copy of s unless it is already there (the kubelet's omitDuplicates over an append). */
int strv_extend_unique(char ***l, const char *s);
/* Appends a formatted string. */
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);
