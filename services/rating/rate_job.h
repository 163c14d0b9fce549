/*
 * rate_job.h - rate one ended call: load it with its rate, price it, apply the price.
 *
 * Two statements of proto/sql/0030_rating.sql and 0031_rate_decks.sql, each one
 * transaction: rating_load (the call and the rate of its kind that applies: 'outbound' on
 * the destination, 'inbound' on the DID, with its minimum charge), then rating_apply
 * (charge once per call) or rating_fail (no rate: rating_status 'failed'). Running a job
 * twice for one call is harmless: the second finds the call rated and reports
 * RATE_ALREADY.
 */
#ifndef VOEPY_RATING_RATE_JOB_H
#define VOEPY_RATING_RATE_JOB_H

#include <stdint.h>

struct pg_pool;

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

typedef void(rate_job_cb)(const struct rate_outcome *o, void *arg);

/* Register the job's prepared statements on the pool (once, at start). */
int rate_job_prepare(struct pg_pool *pg);
/*
 * Rate call_id. Returns 0 and cb runs exactly once (from a pg callback; the job frees
 * itself after cb returns), or VP_E_UNAVAILABLE / VP_E_INVALID_PARAMETER (cb will not run).
 */
int rate_job_start(struct pg_pool *pg, const char *call_id, rate_job_cb *cb, void *arg);
const char *rate_result_name(enum rate_result r);

#endif
