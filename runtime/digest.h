/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* sha256 content digests as OCI writes them ("sha256:<64 lowercase hex>", image-spec descriptor.md), computed with
 * OpenSSL EVP. */

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/macro.h"

#define SHA256_HEX_LEN 64
#define DIGEST_STR_MAX (STRLEN("sha256:") + SHA256_HEX_LEN + 1)

typedef struct Sha256 Sha256;
int sha256_new(Sha256 **ret);
Sha256 *sha256_free(Sha256 *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sha256 *, sha256_free)
int sha256_update(Sha256 *h, const void *p, size_t n);
/* Writes 64 hex digits and a NUL into ret_hex. The context can not be updated afterwards. */
int sha256_final_hex(Sha256 *h, char ret_hex[SHA256_HEX_LEN + 1]);

/* One-shot digest of a buffer. */
int sha256_hex(const void *p, size_t n, char ret_hex[SHA256_HEX_LEN + 1]);

/* Validates "sha256:<hex>" (the only algorithm the store accepts; others fail with -EOPNOTSUPP) and returns the hex
 * part. what names the field in the error message. */
int digest_parse(const char *digest, const char *what, char ret_hex[SHA256_HEX_LEN + 1], ErrorBuf *e);
bool sha256_hex_valid(const char *hex);

/* Copies everything from in_fd to out_fd (out_fd < 0: only reads) while hashing; returns the byte count in
 * ret_size. Stops with -EFBIG after max_size bytes (0 = no limit). */
int sha256_copy_fd(int in_fd, int out_fd, uint64_t max_size, char ret_hex[SHA256_HEX_LEN + 1], uint64_t *ret_size);
