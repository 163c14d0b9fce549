#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/err.h"

struct entry {
    struct entry *next;
    uint32_t hash;
    void *value;
    char key[];
};

struct strmap {
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h;
}

struct strmap *strmap_create(void)
{
    struct strmap *m = VP_NEW(m);
    m->nbuckets = 64;
    m->buckets = vp_calloc(m->nbuckets, sizeof(*m->buckets));
    return m;
}

void strmap_free(struct strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static struct entry **slot(const struct strmap *m, const char *key, uint32_t h)
{
    struct entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    if (!key)
        return NULL;
    struct entry *e = *slot(m, key, fnv1a(key));
    return e ? e->value : NULL;
}

static void grow(struct strmap *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = vp_calloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e) {
            struct entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
    uint32_t h = fnv1a(key);
    struct entry **pp = slot(m, key, h);
    if (*pp)
        return VP_E_CONFLICT;
    size_t klen = strlen(key);
    struct entry *e = vp_malloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = NULL;
    *pp = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct entry **pp = slot(m, key, fnv1a(key));
    struct entry *e = *pp;
    if (!e)
        return NULL;
    *pp = e->next;
    void *v = e->value;
    free(e);
    m->count--;
    return v;
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}

size_t strmap_values(const struct strmap *m, void **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nbuckets && n < max; i++)
        for (struct entry *e = m->buckets[i]; e && n < max; e = e->next)
            out[n++] = e->value;
    return n;
}
