/*
 * idmap.h - a fixed-capacity map from string ids (leg ids) to pointers.
 *
 * Entries live in a dense array (cheap iteration: the 20 ms tick walks every leg) with an
 * open-addressing index over it (linear probing, backward-shift deletion: no tombstones,
 * so lookups stay short however long the process runs). The capacity is fixed at
 * creation; callers bound it (legs by the port pool), so nothing grows on the hot path.
 *
 * Keys are borrowed: the caller keeps a key's memory valid and unchanged while its entry
 * is in the map (a leg's id lives in the leg). Removing swaps the last entry into the
 * hole, so iterate from the end when removing while iterating.
 */
#ifndef MF_IDMAP_H
#define MF_IDMAP_H

#include <stddef.h>

struct idmap;

void idmap_create(struct idmap **mp, size_t capacity);
void idmap_destroy(struct idmap *m);

/* Add key -> val. VP_E_CONFLICT when key is present, VP_E_OVERFLOW when full. */
int idmap_put(struct idmap *m, const char *key, void *val);
/* The value for key, or NULL. */
void *idmap_get(const struct idmap *m, const char *key);
/* Remove key; returns its value or NULL when absent. */
void *idmap_remove(struct idmap *m, const char *key);

size_t idmap_count(const struct idmap *m);
/* The i-th value, 0 <= i < idmap_count(m), in no particular order. */
void *idmap_value_at(const struct idmap *m, size_t i);

#endif
