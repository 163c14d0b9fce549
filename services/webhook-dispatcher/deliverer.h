/*
 * deliverer.h - the delivery loop: claim due deliveries, run their attempts.
 *
 * Every poll_ms, and at once when kicked (new deliveries, a finished attempt), it
 * claims due deliveries with wh_claim(): as many as there is room for under
 * max_inflight, never more than per_endpoint in flight per endpoint across every
 * dispatcher, each leased for lease_ms so that two dispatchers never send the same
 * delivery at once and a crashed one's deliveries come back when the lease ends. Each
 * claimed delivery runs one attempt (attempt.h) on a shared keep-alive HTTP client;
 * results are written in batches (recorder.h). Every few seconds wh_housekeep() fails
 * deliveries a fan-out left pending for an endpoint disabled meanwhile and refreshes the
 * pending gauge.
 *
 * Metrics: voepy_webhook_deliveries_total{result} (succeeded, exhausted, failed, gone,
 * disabled), voepy_webhook_attempts_total{result} (also retry, stale, abandoned),
 * voepy_webhook_attempt_duration_seconds,
 * voepy_webhook_pending (deliveries waiting, refreshed every few seconds),
 * voepy_webhook_inflight.
 */
#ifndef VOEPY_WH_DELIVERER_H
#define VOEPY_WH_DELIVERER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "retry.h"

struct deliverer;
struct pg_pool;
struct url_policy;

struct deliverer_opts {
    unsigned max_inflight; /* attempts at once in this process */
    unsigned per_endpoint; /* attempts at once per endpoint, all dispatchers together */
    unsigned timeout_ms;   /* one HTTP attempt */
    unsigned lease_ms;     /* > timeout_ms; 0 = timeout_ms + 30 s */
    unsigned poll_ms;      /* claim at least this often */
    struct wh_schedule schedule;
    int64_t slowdown_ms;        /* VOEPY_WEBHOOK_SLOWDOWN_MS */
    int64_t disable_after_s;    /* VOEPY_WEBHOOK_DISABLE_AFTER_S */
    unsigned record_batch;      /* results per recording statement, 0 = default */
    void (*emitted)(void *arg); /* recording wrote events (kick the outbox relay) */
    void *emitted_arg;
    struct url_policy *url_policy; /* VOEPY_URL_* (url_guard.h); outlives the deliverer */
};

int deliverer_create(struct deliverer **dp, uv_loop_t *loop, struct pg_pool *pg,
                     const struct deliverer_opts *opts);
/* Claim now (new deliveries were created). */
void deliverer_kick(struct deliverer *d);
/* Stop claiming; done() runs once every attempt in flight has been recorded. */
void deliverer_drain(struct deliverer *d, void (*done)(void *arg), void *arg);
/*
 * Stop now: cancel requests in flight (not recorded: their leases expire), close the
 * HTTP client and timers; d frees itself once its last attempt and query have returned.
 * Call once; d is invalid afterwards.
 */
void deliverer_stop(struct deliverer *d);

#endif
