/*
 * outbox.h - publishing domain events written to PostgreSQL onto Redis streams.
 *
 * Services never XADD an event directly: they insert it into the `events` table in the
 * same transaction as the state change it describes (proto/sql), so that neither can be
 * lost without the other. The relay here moves unpublished events to the stream
 * voepy:events:{p} (p = partition of the event's call or tenant) and marks them
 * published. It claims a batch with a short lease (FOR UPDATE SKIP LOCKED, so several
 * relays can run), XADDs, then marks the batch published; a relay that dies mid-way
 * leaves the lease to expire and another publishes again: delivery is at least once and
 * consumers deduplicate on the event id.
 *
 * The relay polls every poll_ms; outbox_kick() makes it run at once (call it after a
 * statement that wrote events).
 */
#ifndef VOEPY_OUTBOX_H
#define VOEPY_OUTBOX_H

#include <stddef.h>
#include <uv.h>

struct outbox;
struct pg_pool;
struct redis;

struct outbox_opts {
    unsigned partitions; /* number of voepy:events:{p} streams, default 4 */
    unsigned poll_ms;    /* default 250 */
    unsigned batch;      /* events per round, default 100 */
    long stream_maxlen;  /* approximate MAXLEN per stream, default 1000000 */
};

int outbox_create(struct outbox **op, uv_loop_t *loop, struct pg_pool *pg, struct redis *redis,
                  const struct outbox_opts *opts);
void outbox_kick(struct outbox *o);
/* Partition of a key (call id, else tenant id): FNV-1a modulo partitions. */
unsigned outbox_partition(const char *key, unsigned partitions);

/* Room for any partition's stream name, "voepy:events:4294967295" and its NUL. */
#define OUTBOX_STREAM_MAX 24
/*
 * The stream of partition p, "voepy:events:{p}", into out[n]. Returns 0, or
 * VP_E_INVALID_PARAMETER when it does not fit (out then holds "" if n > 0); an out of
 * OUTBOX_STREAM_MAX bytes always fits.
 */
int outbox_stream_name(unsigned p, char *out, size_t n);
/*
 * Every partition's stream, "voepy:events:0" .. "voepy:events:{partitions-1}", ready for
 * rstream_consumer_opts.streams / .nstreams = partitions: one allocation (the pointers,
 * then the names) that the caller frees with free(). NULL when partitions is 0. The
 * consumer copies the names, so the array may be freed right after
 * rstream_consumer_create().
 */
const char **outbox_stream_names(unsigned partitions);
/* Finish the round in progress, free, then closed() runs. */
void outbox_close(struct outbox *o, void (*closed)(void *arg), void *arg);

#endif
