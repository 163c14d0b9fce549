/*
 * recorder.h - attempt results written to PostgreSQL in batches.
 *
 * An attempt that has its answer hands its result here instead of running a statement of
 * its own: results are gathered during a loop turn and written on the next one by one
 * wh_record() statement (proto/sql/0042_webhook_dispatch.sql) of up to batch_max results,
 * so that the dispatcher's rate is not one PostgreSQL round trip per attempt. One
 * statement runs at a time; results that arrive meanwhile form the next batch. A batch
 * that PostgreSQL aborted as a deadlock victim (it locks deliveries and endpoints, as the
 * API does) is run again, up to three times.
 *
 * A result that is not recorded (the statement failed, the recorder closed) is reported
 * with outcome NULL: its delivery's lease expires and it is sent again.
 */
#ifndef VOEPY_WH_RECORDER_H
#define VOEPY_WH_RECORDER_H

#include <stdint.h>
#include <uv.h>

#include "retry.h"

struct pg_pool;
struct recorder;
struct wh_result;

/*
 * Runs once per result, from the loop (never inside recorder_add), with the outcome
 * wh_record() answered ("succeeded", "retry", "exhausted", "failed", "gone", "disabled",
 * "stale"; valid during the call only) or NULL when nothing was recorded.
 */
typedef void(wh_result_cb)(struct wh_result *r, const char *outcome);

/* One result; embedded in its attempt, which keeps it valid until done has run. */
struct wh_result {
    const char *delivery_id;
    const char *attempt; /* the claim's attempt number, as text */
    long http_status;    /* 0: no answer */
    const char *error;   /* NULL or "": none */
    uint64_t duration_ms;
    const char *response; /* the answer's text (wh_text_sanitize), NULL without answer */
    struct wh_decision decision;
    wh_result_cb *done;
    int64_t queued_ms;      /* set by recorder_add: Unix time it reached the queue */
    struct wh_result *next; /* the recorder's queue */
};

struct recorder_opts {
    unsigned batch_max;         /* results per statement, default 256 */
    int64_t slowdown_ms;        /* VOEPY_WEBHOOK_SLOWDOWN_MS: first pause of a slow-down */
    int64_t disable_after_s;    /* VOEPY_WEBHOOK_DISABLE_AFTER_S */
    void (*emitted)(void *arg); /* a batch wrote events: kick the outbox relay */
    void *emitted_arg;
};

/* Registers the statement on pg. */
int recorder_create(struct recorder **rp, uv_loop_t *loop, struct pg_pool *pg,
                    const struct recorder_opts *opts);
/* Queue r for the next batch (r->done set by the caller). */
void recorder_add(struct recorder *rec, struct wh_result *r);
/*
 * Report every queued result as not recorded (from inside this call), stop; the batch in
 * flight ends when its statement returns (the pool cancels it when closing). closed()
 * runs once rec is freed. Call once; recorder_add must not be called afterwards.
 */
void recorder_close(struct recorder *rec, void (*closed)(void *arg), void *arg);

#endif
