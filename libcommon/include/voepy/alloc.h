/*
 * alloc.h - the one allocation wrapper.
 *
 * Out-of-memory is not a condition voepy recovers from: these wrappers abort with a
 * message, so callers never carry untested NULL branches. Memory from here is released
 * with plain free().
 */
#ifndef VOEPY_ALLOC_H
#define VOEPY_ALLOC_H

#include <stddef.h>

void *vp_malloc(size_t n);
void *vp_calloc(size_t count, size_t size);
void *vp_realloc(void *p, size_t n);
char *vp_strdup(const char *s);
char *vp_strndup(const char *s, size_t n);
/* printf into a fresh allocation. */
char *vp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocate one zeroed object of the pointed-to type: struct x *x = VP_NEW(x); */
#define VP_NEW(ptr) ((__typeof__(ptr))vp_calloc(1, sizeof(*(ptr))))

#endif
