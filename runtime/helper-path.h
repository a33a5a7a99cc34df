/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Where a nodelet binary finds its helper programs (nodelet-shim, nodeletctl): the same answer for the daemon and
 * the CLI, whether they run installed or from the build tree. */

#include <stddef.h>

/* $env when set and not empty; else the first of rel (paths relative to the directory of the running binary, e.g.
 * "nodelet-shim", "../runtime/nodelet-shim") that is executable; else installed. Writes the path to buf; returns 0,
 * or -ENAMETOOLONG when it does not fit (buf then holds a truncated path, never to be exec'ed). */
int runtime_find_helper(const char *env, const char *const *rel, size_t n_rel, const char *installed, char *buf,
                        size_t size);
