/* Released-leg records: a ring indexed by an idmap; see tombstones.h. */
#include "tombstones.h"

#include <stdlib.h>

#include "idmap.h"
#include "voepy/alloc.h"

struct tombstones {
    struct tombstone *ring;
    size_t capacity, next, count; /* next = slot to write (the oldest when full) */
    struct idmap *index;          /* leg_id -> record; keys point into ring */
};

void tombstones_create(struct tombstones **tp, size_t capacity)
{
    struct tombstones *t = VP_NEW(t);
    t->capacity = capacity ? capacity : 1;
    t->ring = vp_calloc(t->capacity, sizeof(*t->ring));
    idmap_create(&t->index, t->capacity);
    *tp = t;
}

void tombstones_destroy(struct tombstones *t)
{
    if (!t)
        return;
    idmap_destroy(t->index);
    free(t->ring);
    free(t);
}

void tombstones_add(struct tombstones *t, const struct tombstone *rec)
{
    struct tombstone *old = idmap_remove(t->index, rec->leg_id);
    if (old) {
        /* Same leg again: update in place, keeping its age. */
        *old = *rec;
        idmap_put(t->index, old->leg_id, old);
        return;
    }
    struct tombstone *slot = &t->ring[t->next];
    if (t->count == t->capacity)
        idmap_remove(t->index, slot->leg_id); /* forget the oldest */
    else
        t->count++;
    *slot = *rec;
    idmap_put(t->index, slot->leg_id, slot);
    t->next = (t->next + 1) % t->capacity;
}

const struct tombstone *tombstones_find(const struct tombstones *t, const char *leg_id)
{
    return idmap_get(t->index, leg_id);
}
