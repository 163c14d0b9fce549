/*
 * strmap.h - a string-keyed hash map of borrowed pointers (Call-ID -> session,
 * call id -> call). Keys are copied; values are the caller's. Grows as it fills.
 */
#ifndef CC_STRMAP_H
#define CC_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_create(void);
/* Frees the map and its keys, never the values. */
void strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Returns 0, or VP_E_CONFLICT when key is already there (the map is unchanged). */
int strmap_put(struct strmap *m, const char *key, void *value);
/* Returns the value removed, or NULL. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);
/* Copy up to max values into out (any order); returns how many. */
size_t strmap_values(const struct strmap *m, void **out, size_t max);

#endif
