/*
 * tombstones.h - what is remembered about released legs.
 *
 * Every op is idempotent per leg_id (proto/streams.md), and a command may arrive twice:
 * a second `release` must answer the same counters, and an `allocate` redelivered after
 * the release must not bring the leg back. The leg itself is gone by then (its memory
 * and ports are reused), so a small record stays here. The store is a ring of fixed
 * capacity: the oldest record is forgotten first, which bounds memory whatever the call
 * rate; duplicates arrive within seconds, long before a record is evicted.
 */
#ifndef MF_TOMBSTONES_H
#define MF_TOMBSTONES_H

#include <stddef.h>
#include <stdint.h>

#include "leg_ids.h"

struct tombstones;

struct tombstone {
    char leg_id[LEG_ID_MAX];
    char call_id[LEG_ID_MAX];
    char reply_to[STREAM_MAX];
    uint16_t port;
    struct leg_counters counters;
    const char *reason; /* static string: "release", "idle" */
};

void tombstones_create(struct tombstones **tp, size_t capacity);
void tombstones_destroy(struct tombstones *t);
/* Remember t (copied), replacing an older record of the same leg_id. */
void tombstones_add(struct tombstones *t, const struct tombstone *rec);
/* The record of leg_id, or NULL. Valid until the next tombstones_add(). */
const struct tombstone *tombstones_find(const struct tombstones *t, const char *leg_id);

#endif
