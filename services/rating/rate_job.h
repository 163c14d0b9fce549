/*
 * rate_job.h - rate a batch of ended calls: load them with their rates, price them, apply
 * the prices.
 *
 * Two statements of proto/sql/0030_rating.sql and 0031_rate_decks.sql, each one
 * transaction for the whole batch: rating_load over every call (the call and the rate of
 * its kind that applies: 'outbound' on the destination, 'inbound' on the DID, with its
 * minimum charge), then rating_apply_batch (charge each call once, or mark it 'failed'
 * when it has no rate). Batching is what makes rating faster than one ledger transaction
 * per call (tests/bench/rating). Rating a call twice is harmless: the second run finds it
 * rated and reports RATE_ALREADY.
 */
#ifndef VOEPY_RATING_RATE_JOB_H
#define VOEPY_RATING_RATE_JOB_H

#include <stddef.h>
#include <stdint.h>

struct pg_pool;

#define RATE_BATCH_MAX 256 /* calls in one batch */

enum rate_result {
    RATE_CHARGED,  /* priced and applied (cents may be 0 for a free or unanswered call) */
    RATE_ALREADY,  /* an earlier run rated this call: nothing changed */
    RATE_UNPRICED, /* no rate or an impossible price: marked rating_status 'failed' */
    RATE_SKIPPED,  /* nothing to do: no such call, or it has not ended */
    RATE_RETRY,    /* the database failed us: nothing is known to be durable, try later */
};

struct rate_outcome {
    enum rate_result result;
    const char *call_id;
    int64_t billed_seconds;
    int64_t cost_cents;
    const char *reason; /* for RATE_UNPRICED, RATE_SKIPPED and RATE_RETRY */
};

/* Called once per call of a batch, with that call's arg. */
typedef void(rate_job_cb)(const struct rate_outcome *o, void *arg);

/* Register the job's prepared statements on the pool (once, at start). */
int rate_job_prepare(struct pg_pool *pg);
/*
 * Rate call_ids[0..n) (1 <= n <= RATE_BATCH_MAX; the ids are copied). Returns 0, and cb
 * then runs exactly once per call with args[i] (from pg callbacks; the batch frees itself
 * after the last), or VP_E_UNAVAILABLE / VP_E_INVALID_PARAMETER (an id longer than a call
 * id can be, or a bad n), and cb will not run.
 */
int rate_job_start(struct pg_pool *pg, const char *const *call_ids, void *const *args, size_t n,
                   rate_job_cb *cb);
const char *rate_result_name(enum rate_result r);

#endif
