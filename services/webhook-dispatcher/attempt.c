#include "attempt.h"
#include "wh_request.h"

#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/http_client.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/url_guard.h"
#include "voepy/vtime.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_RECORD "wh_record"

struct attempt {
    struct attempt_env *env;
    char *delivery_id, *endpoint_id, *url, *secret, *event_id, *payload;
    char attempt_no[16];
    uint64_t started_ns;
    /* the result, as recorded */
    long http_status;
    char error[256];
    char response[WH_RESPONSE_KEEP + 1];
    enum wh_outcome outcome;
    int64_t retry_ms;
    uv_timer_t defer; /* reports a failure before any I/O from the loop, not the caller */
    attempt_done_cb *done;
    void *arg;
};

int attempt_prepare(struct pg_pool *pg)
{
    return pg_prepare(pg, SQL_RECORD,
                      "SELECT wh_record($1, $2::int, $3::int, $4, $5::int, $6, $7, $8::bigint)");
}

static void attempt_free_cb(uv_handle_t *h)
{
    struct attempt *a = h->data;
    free(a->delivery_id);
    free(a->endpoint_id);
    free(a->url);
    free(a->secret);
    free(a->event_id);
    free(a->payload);
    free(a);
}

/* The last thing an attempt does: report, then free (via the timer's close). */
static void finish(struct attempt *a, const char *outcome)
{
    a->done(outcome, a->arg);
    uv_close((uv_handle_t *)&a->defer, attempt_free_cb);
}

static void log_outcome(const struct attempt *a, const char *outcome)
{
    enum vlog_level lvl =
        strcmp(outcome, "exhausted") == 0 || strcmp(outcome, "gone") == 0 ? VLOG_WARN : VLOG_DEBUG;
    char status[16];
    snprintf(status, sizeof(status), "%ld", a->http_status);
    vlog_kv(lvl, strcmp(outcome, "exhausted") == 0 ? "webhook.exhausted" : "webhook.attempt",
            a->error[0] ? a->error : outcome, "delivery_id", a->delivery_id, "endpoint_id",
            a->endpoint_id, "event_id", a->event_id, "attempt", a->attempt_no, "outcome", outcome,
            "http_status", status, NULL);
}

static void recorded_cb(int status, const struct pg_result *res, void *arg)
{
    struct attempt *a = arg;
    const char *outcome = status ? NULL : pg_value(res, 0, 0);
    if (status)
        vlog_kv(VLOG_WARN, "webhook.record_failed",
                res ? pg_result_message(res) : vp_err_code(status), "delivery_id", a->delivery_id,
                NULL);
    else if (outcome)
        log_outcome(a, outcome);
    finish(a, outcome);
}

static void record(struct attempt *a)
{
    char code[16], dur[24], retry[24];
    uint64_t ms = (uv_hrtime() - a->started_ns) / 1000000;
    snprintf(code, sizeof(code), "%ld", a->http_status);
    snprintf(dur, sizeof(dur), "%" PRIu64, ms > INT32_MAX ? (uint64_t)INT32_MAX : ms);
    snprintf(retry, sizeof(retry), "%" PRId64, a->retry_ms);
    const char *params[] = {a->delivery_id,
                            a->attempt_no,
                            a->http_status ? code : NULL,
                            a->error[0] ? a->error : NULL,
                            dur,
                            a->http_status ? a->response : NULL,
                            wh_outcome_name(a->outcome),
                            retry};
    if (pg_exec(a->env->pg, SQL_RECORD, 8, params, recorded_cb, a))
        finish(a, NULL);
}

/* Decide what this answer (or its absence) means, then record it. */
static void conclude(struct attempt *a)
{
    uint64_t rnd;
    crypto_random(&rnd, sizeof(rnd));
    unsigned n = (unsigned)strtoul(a->attempt_no, NULL, 10);
    a->outcome = wh_decide(a->http_status, n, &a->env->schedule, rnd, &a->retry_ms);
    if (a->outcome != WH_SUCCEEDED && !a->error[0])
        snprintf(a->error, sizeof(a->error), "HTTP %ld", a->http_status);
    record(a);
}

static void response_cb(const struct httpc_response *res, void *arg)
{
    struct attempt *a = arg;
    if (res->status == VP_E_CANCELED) {
        finish(a, NULL); /* the client is closing: leave it to the lease */
        return;
    }
    metric_observe(a->env->m_latency, res->total_ms / 1000.0);
    a->http_status = res->status ? 0 : res->http_status;
    if (res->status)
        snprintf(a->error, sizeof(a->error), "%s: %s", vp_err_code(res->status),
                 res->error ? res->error : vp_err_message(res->status));
    else
        wh_text_sanitize(res->body ? res->body : "", res->body ? res->body_len : 0, a->response,
                         WH_RESPONSE_KEEP);
    conclude(a);
}

static void send_request(struct attempt *a, const char *ip)
{
    struct wh_headers h;
    size_t len = strlen(a->payload);
    int err = wh_headers_build(&h, a->event_id, a->secret, a->payload, len, vtime_now_ms() / 1000);
    if (err) {
        snprintf(a->error, sizeof(a->error), "cannot sign: malformed secret or event id");
        conclude(a);
        return;
    }
    struct httpc_request req = {.method = "POST",
                                .url = a->url,
                                .headers = h.list,
                                .body = a->payload,
                                .body_len = len,
                                .timeout_ms = a->env->timeout_ms,
                                .max_response_bytes = WH_RESPONSE_KEEP,
                                .connect_ip = ip};
    err = httpc_send(a->env->http, &req, response_cb, a);
    if (err) {
        snprintf(a->error, sizeof(a->error), "not sent: %s", vp_err_message(err));
        conclude(a);
    }
}

static void guarded_cb(const struct url_check_result *r, void *arg)
{
    struct attempt *a = arg;
    if (a->env->stopping || r->status == VP_E_CANCELED) {
        finish(a, NULL);
        return;
    }
    if (r->status) {
        snprintf(a->error, sizeof(a->error), "url refused: %s", r->reason);
        conclude(a);
        return;
    }
    send_request(a, r->ip);
}

/* The URL does not even parse: a failed attempt, reported from the loop. */
static void bad_url_cb(uv_timer_t *t)
{
    conclude(t->data);
}

static void copy_row(struct attempt *a, const struct pg_result *res, int row)
{
    const char *v;
    a->delivery_id = vp_strdup((v = pg_get(res, row, "delivery_id")) ? v : "");
    a->endpoint_id = vp_strdup((v = pg_get(res, row, "endpoint_id")) ? v : "");
    a->url = vp_strdup((v = pg_get(res, row, "url")) ? v : "");
    a->secret = vp_strdup((v = pg_get(res, row, "secret")) ? v : "");
    a->event_id = vp_strdup((v = pg_get(res, row, "event_id")) ? v : "");
    a->payload = vp_strdup((v = pg_get(res, row, "payload")) ? v : "");
    snprintf(a->attempt_no, sizeof(a->attempt_no), "%s",
             (v = pg_get(res, row, "attempt")) ? v : "1");
}

void attempt_start(struct attempt_env *env, const struct pg_result *res, int row,
                   attempt_done_cb *done, void *arg)
{
    struct attempt *a = VP_NEW(a);
    a->env = env;
    a->done = done;
    a->arg = arg;
    a->started_ns = uv_hrtime();
    copy_row(a, res, row);
    uv_timer_init(env->loop, &a->defer);
    a->defer.data = a;
    const struct url_guard_opts go = {.policy = env->url_policy};
    int err = url_guard_check(env->loop, a->url, &go, guarded_cb, a, NULL);
    if (err) {
        snprintf(a->error, sizeof(a->error), "url refused: %s", vp_err_message(err));
        uv_timer_start(&a->defer, bad_url_cb, 0, 0);
    }
}
