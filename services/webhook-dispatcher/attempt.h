/*
 * attempt.h - one attempt at one delivery: check the URL, sign, POST, record.
 *
 *   1. url_guard_check(): the endpoint's URL must resolve to addresses we may reach;
 *      the request then connects to exactly the checked address (connect_ip);
 *   2. POST the stored body with the Standard Webhooks and voepy-signature headers
 *      (wh_request.h) signed with the claim's secrets and Ed25519 key, no redirects,
 *      within timeout_ms;
 *   3. wh_decide() (retry.h) says what the answer means; the recorder (recorder.h) writes
 *      the attempt and the delivery's next state in its next batch.
 *
 * A refused URL or a transport error is a failed attempt like a 5xx: it is recorded and
 * retried on the schedule. An attempt the dispatcher abandons while stopping (the HTTP
 * client closed under it) is not recorded: its lease expires and the delivery is sent
 * again, which receivers deduplicate by webhook-id.
 */
#ifndef VOEPY_WH_ATTEMPT_H
#define VOEPY_WH_ATTEMPT_H

#include <stdbool.h>
#include <uv.h>

#include "retry.h"

struct httpc;
struct metric;
struct pg_pool;
struct pg_result;
struct recorder;
struct url_policy;

/* Shared by every attempt; owned by the deliverer, which outlives its attempts. */
struct attempt_env {
    uv_loop_t *loop;
    struct pg_pool *pg;
    struct httpc *http;
    struct recorder *recorder; /* batches the results */
    struct wh_schedule schedule;
    unsigned timeout_ms;
    struct url_policy *url_policy; /* which URLs may be reached (url_guard.h) */
    bool stopping;                 /* set by the deliverer: attempts not yet sent end here */
    struct metric *m_latency;      /* histogram of HTTP attempt durations (seconds) */
};

/*
 * Called once per attempt, after its result was recorded: outcome is what wh_record
 * answered ("succeeded", "retry", "exhausted", "failed", "gone", "disabled", "stale"), or
 * NULL when nothing was recorded (stopping, or the database failed: the lease will expire
 * and the delivery come back).
 */
typedef void(attempt_done_cb)(const char *outcome, void *arg);

/*
 * Start the attempt described by row `row` of a wh_claim() result (copied: res may go
 * away). done runs exactly once, never inside this call.
 */
void attempt_start(struct attempt_env *env, const struct pg_result *res, int row,
                   attempt_done_cb *done, void *arg);

#endif
