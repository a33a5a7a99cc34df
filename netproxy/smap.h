/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* A small string-keyed hash map (chained, power-of-two buckets). Keys are borrowed: they must live as long as the
 * entry (callers use a string inside the value). */

#include <stddef.h>
#include <stdint.h>

typedef struct SMapNode {
        struct SMapNode *next;
        const char *key;
        void *value;
} SMapNode;

typedef struct SMap {
        SMapNode **buckets;
        size_t n_buckets, n;
} SMap;

void *smap_get(const SMap *m, const char *key);
int smap_put(SMap *m, const char *key, void *value); /* replaces; key is borrowed */
void *smap_remove(SMap *m, const char *key);
void smap_clear(SMap *m);
/* Iteration: for (SMapNode *i = NULL; (i = smap_next(m, i, &b));) */
SMapNode *smap_next(const SMap *m, SMapNode *cur, size_t *bucket);
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
