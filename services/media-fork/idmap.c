/* Fixed-capacity id -> pointer map; see idmap.h. */
#include "idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/err.h"

#define EMPTY UINT32_MAX

struct entry {
    const char *key;
    void *val;
};

struct idmap {
    struct entry *entries; /* dense, count used */
    size_t count, capacity;
    uint32_t *slots; /* index into entries, or EMPTY */
    size_t mask;     /* nslots - 1; nslots is a power of two >= 2 * capacity */
};

/* FNV-1a, 64-bit. */
static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

void idmap_create(struct idmap **mp, size_t capacity)
{
    struct idmap *m = VP_NEW(m);
    size_t nslots = 16;
    while (nslots < 2 * capacity)
        nslots *= 2;
    m->capacity = capacity;
    m->entries = vp_calloc(capacity ? capacity : 1, sizeof(*m->entries));
    m->slots = vp_malloc(nslots * sizeof(*m->slots));
    for (size_t i = 0; i < nslots; i++)
        m->slots[i] = EMPTY;
    m->mask = nslots - 1;
    *mp = m;
}

void idmap_destroy(struct idmap *m)
{
    if (!m)
        return;
    free(m->entries);
    free(m->slots);
    free(m);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const struct idmap *m, const char *key)
{
    size_t i = hash(key) & m->mask;
    while (m->slots[i] != EMPTY && strcmp(m->entries[m->slots[i]].key, key) != 0)
        i = (i + 1) & m->mask;
    return i;
}

int idmap_put(struct idmap *m, const char *key, void *val)
{
    size_t i = find_slot(m, key);
    if (m->slots[i] != EMPTY)
        return VP_E_CONFLICT;
    if (m->count == m->capacity)
        return VP_E_OVERFLOW;
    m->entries[m->count] = (struct entry){key, val};
    m->slots[i] = (uint32_t)m->count++;
    return 0;
}

void *idmap_get(const struct idmap *m, const char *key)
{
    size_t i = find_slot(m, key);
    return m->slots[i] == EMPTY ? NULL : m->entries[m->slots[i]].val;
}

/* Empty slot i and shift later members of its probe run back (no tombstones needed). */
static void slot_delete(struct idmap *m, size_t i)
{
    size_t j = i;
    m->slots[i] = EMPTY;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->slots[j] == EMPTY)
            return;
        size_t home = hash(m->entries[m->slots[j]].key) & m->mask;
        /* Move j into the hole unless its home lies cyclically in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        m->slots[i] = m->slots[j];
        m->slots[j] = EMPTY;
        i = j;
    }
}

void *idmap_remove(struct idmap *m, const char *key)
{
    size_t i = find_slot(m, key);
    if (m->slots[i] == EMPTY)
        return NULL;
    uint32_t idx = m->slots[i];
    void *val = m->entries[idx].val;
    slot_delete(m, i);
    uint32_t last = (uint32_t)(m->count - 1);
    if (idx != last) {
        /* The last entry moves into the hole: repoint its slot. */
        m->entries[idx] = m->entries[last];
        m->slots[find_slot(m, m->entries[idx].key)] = idx;
    }
    m->count--;
    return val;
}

size_t idmap_count(const struct idmap *m)
{
    return m->count;
}

void *idmap_value_at(const struct idmap *m, size_t i)
{
    return i < m->count ? m->entries[i].val : NULL;
}
