/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>
#include <stdio.h>

#include "runtime/digest.h"
#include "common/fileio.h"

struct Sha256 {
        EVP_MD_CTX *ctx;
};

int sha256_new(Sha256 **ret) {
        _cleanup_(sha256_freep) Sha256 *h = calloc(1, sizeof *h);
        RET_NULL_ENOMEM(h);
        h->ctx = EVP_MD_CTX_new();
        RET_NULL_ENOMEM(h->ctx);
        if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                return -EIO;
        *ret = TAKE_PTR(h);
        return 0;
}

Sha256 *sha256_free(Sha256 *h) {
        if (!h)
                return NULL;
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
}

int sha256_update(Sha256 *h, const void *p, size_t n) {
        return EVP_DigestUpdate(h->ctx, p, n) == 1 ? 0 : -EIO;
}

static void to_hex(const unsigned char *md, size_t n, char *out) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
        out[2 * n] = 0;
}

int sha256_final_hex(Sha256 *h, char ret_hex[SHA256_HEX_LEN + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != SHA256_HEX_LEN / 2)
                return -EIO;
        to_hex(md, len, ret_hex);
        return 0;
}

int sha256_hex(const void *p, size_t n, char ret_hex[SHA256_HEX_LEN + 1]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        int r = sha256_new(&h);
        if (r < 0)
                return r;
        r = sha256_update(h, p, n);
        if (r < 0)
                return r;
        return sha256_final_hex(h, ret_hex);
}

bool sha256_hex_valid(const char *hex) {
        if (strlen(hex) != SHA256_HEX_LEN)
                return false;
        /* Lowercase only: the image spec's encoded portion for sha256 is [a-f0-9]{64}. */
        return strspn(hex, "0123456789abcdef") == SHA256_HEX_LEN;
}

int digest_parse(const char *digest, const char *what, char ret_hex[SHA256_HEX_LEN + 1], ErrorBuf *e) {
        if (!digest)
                return error_set(e, -EINVAL, "%s: missing digest", what);
        const char *colon = strchr(digest, ':');
        if (!colon || colon == digest)
                return error_set(e, -EINVAL, "%s: invalid digest '%s': expected algorithm:hex", what, digest);
        const char *hex = startswith(digest, "sha256:");
        if (!hex)
                return error_set(e, -EOPNOTSUPP, "%s: unsupported digest algorithm in '%s' (only sha256)", what,
                                 digest);
        if (!sha256_hex_valid(hex))
                return error_set(e, -EINVAL, "%s: invalid sha256 digest '%s': expected 64 lowercase hex digits", what,
                                 digest);
        memcpy(ret_hex, hex, SHA256_HEX_LEN + 1);
        return 0;
}

int sha256_copy_fd(int in_fd, int out_fd, uint64_t max_size, char ret_hex[SHA256_HEX_LEN + 1], uint64_t *ret_size) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ char *buf = malloc(128 * 1024);
        uint64_t total = 0;
        RET_NULL_ENOMEM(buf);
        int r = sha256_new(&h);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(in_fd, buf, 128 * 1024);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                total += (uint64_t) n;
                if (max_size > 0 && total > max_size)
                        return -EFBIG;
                r = sha256_update(h, buf, (size_t) n);
                if (r < 0)
                        return r;
                if (out_fd >= 0) {
                        r = write_all(out_fd, buf, (size_t) n);
                        if (r < 0)
                                return r;
                }
        }
        r = sha256_final_hex(h, ret_hex);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = total;
        return 0;
}
