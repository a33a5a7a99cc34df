/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "netproxy/smap.h"

/* FNV-1a, 64 bit: keys here are object names and short binary keys, not attacker-chosen at scale. */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed) {
        const uint8_t *b = p;
        uint64_t h = 0xcbf29ce484222325ULL ^ seed;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

static size_t slot(const SMap *m, const char *key) {
        return (size_t) hash_bytes(key, strlen(key), 0) & (m->n_buckets - 1);
}

void *smap_get(const SMap *m, const char *key) {
        if (m->n_buckets == 0)
                return NULL;
        for (SMapNode *i = m->buckets[slot(m, key)]; i; i = i->next)
                if (streq(i->key, key))
                        return i->value;
        return NULL;
}

static int grow(SMap *m) {
        size_t nb = m->n_buckets ? m->n_buckets * 2 : 64;
        SMapNode **b = calloc(nb, sizeof(SMapNode *));
        RET_NULL_ENOMEM(b);
        for (size_t i = 0; i < m->n_buckets; i++)
                for (SMapNode *n = m->buckets[i], *next; n; n = next) {
                        next = n->next;
                        size_t s = (size_t) hash_bytes(n->key, strlen(n->key), 0) & (nb - 1);
                        n->next = b[s];
                        b[s] = n;
                }
        free(m->buckets);
        m->buckets = b;
        m->n_buckets = nb;
        return 0;
}

int smap_put(SMap *m, const char *key, void *value) {
        if (m->n_buckets) {
                for (SMapNode *i = m->buckets[slot(m, key)]; i; i = i->next)
                        if (streq(i->key, key)) {
                                i->key = key;
                                i->value = value;
                                return 0;
                        }
        }
        if (m->n >= m->n_buckets) {
                int r = grow(m);
                if (r < 0)
                        return r;
        }
        SMapNode *n = malloc(sizeof(SMapNode));
        RET_NULL_ENOMEM(n);
        size_t s = slot(m, key);
        *n = (SMapNode){.next = m->buckets[s], .key = key, .value = value};
        m->buckets[s] = n;
        m->n++;
        return 1;
}

void *smap_remove(SMap *m, const char *key) {
        if (m->n_buckets == 0)
                return NULL;
        for (SMapNode **i = &m->buckets[slot(m, key)]; *i; i = &(*i)->next)
                if (streq((*i)->key, key)) {
                        SMapNode *n = *i;
                        void *v = n->value;
                        *i = n->next;
                        free(n);
                        m->n--;
                        return v;
                }
        return NULL;
}

void smap_clear(SMap *m) {
        for (size_t i = 0; i < m->n_buckets; i++)
                for (SMapNode *n = m->buckets[i], *next; n; n = next) {
                        next = n->next;
                        free(n);
                }
        free(m->buckets);
        *m = (SMap){};
}

SMapNode *smap_next(const SMap *m, SMapNode *cur, size_t *bucket) {
        if (cur && cur->next)
                return cur->next;
        size_t b = cur ? *bucket + 1 : 0;
        for (; b < m->n_buckets; b++)
                if (m->buckets[b]) {
                        *bucket = b;
                        return m->buckets[b];
                }
        return NULL;
}
