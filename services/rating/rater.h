/*
 * rater.h - the rating consumer: call.ended events in, rated calls out.
 *
 * Reads voepy:events:{0..partitions-1} in the consumer group "rating". Every event type
 * but call.ended is acknowledged at once; call.ended events are rated in batches of up to
 * min(max_inflight, RATE_BATCH_MAX) calls (rate_job.h) and each entry is acknowledged
 * only once its batch's SQL has committed. When the database
 * fails, the entry is released unacknowledged and comes back later (claimed after the
 * consumer's idle time), so no call stays unrated because of an outage.
 *
 * Metrics: voepy_rating_calls_rated_total, voepy_rating_calls_failed_total (no rate),
 * voepy_rating_cents_charged_total, voepy_rating_retries_total (database failures),
 * voepy_rating_duplicates_total (events for calls already rated).
 */
#ifndef VOEPY_RATING_RATER_H
#define VOEPY_RATING_RATER_H

#include <stdbool.h>

struct rater;
struct service;
struct redis_opts;

struct rater_opts {
    unsigned partitions;   /* number of voepy:events:{p} streams */
    const char *consumer;  /* consumer name in the group: the node id */
    unsigned max_inflight; /* calls rated at once, default 64 */
};

/* svc must have been started with SERVICE_PG | SERVICE_REDIS. */
int rater_create(struct rater **rp, struct service *svc, const struct rater_opts *opts);
/* Stop reading; done() runs once every event in hand is acknowledged or released. */
void rater_drain(struct rater *r, void (*done)(void *arg), void *arg);
/*
 * Close the consumer now. Jobs still running finish on their own (the pool cancels them
 * when it closes) and their entries stay pending for the next consumer; the rater frees
 * itself when the last one is gone. Call once; r is invalid afterwards.
 */
void rater_stop(struct rater *r);

#endif
