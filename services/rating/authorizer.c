/*
 * authorizer.c - reservations ahead of live calls, re-authorisation and cutoff.
 *
 * Design (docs/billing.md, "Balance, reservations and cutoff"):
 * - It polls PostgreSQL once per check period (VOEPY_RATING_CHECK_MS) rather than
 *   consuming call.answered: the calls table is the truth about which calls are live and
 *   since when, a poll needs no acknowledgement bookkeeping, and a rating process that is
 *   restarted or SIGKILLed loses nothing (holds live in call_reservations). Several rating
 *   processes may run rounds at once: auth_apply serialises each tenant with an advisory
 *   lock and re-checks the funds, so money is never granted twice.
 * - A ringing call holds the least an answered call costs (rating_price at 1 ms: minimum
 *   charge, or connection fee plus first increment). An answered call that has run e ms
 *   holds rating_price(e + check + margin): the price, rounded up to its billing increment,
 *   of the time it will have run by the next round plus a margin for a late round or a
 *   slow hangup. Holds only grow while the call lives.
 * - auth_apply grants holds per tenant, answered calls oldest first, so concurrent calls
 *   share the tenant's available funds (balance + credit limit - other holds). A call
 *   whose hold cannot grow is cut off: the hangup (reason balance_exhausted, initiator
 *   system) goes to its node's inbox now and again every 3 s while the call is live.
 * - A hold ends when rating charges the call (a trigger in 0033 releases it in rating's
 *   transaction), so held and charged money are never both, nor neither, counted.
 *
 * Bound: the call is cut while its hold still covers the time until the next round plus
 * the margin, so as long as rounds run on time and the hangup lands within the margin
 * the charge never exceeds the hold and no balance goes below -credit_limit. The cases
 * that can overspend, each by at most one increment per live call: a call answered
 * before the round that would have held its minimum (at most one check period after it
 * was placed) while other calls used the funds meanwhile, and a round or hangup late by
 * more than the margin. A call-control node that is dead when the hangup is sent cannot
 * end its calls: a surviving node does (takeover, 0023) with ended_at at the dead node's
 * last heartbeat, so the time after it is not charged (see the docs).
 */
#include "authorizer.h"
#include "price.h"
#include "rate_row.h"

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/rstream.h"
#include "voepy/service.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SQL_LIVE     "auth_live"
#define SQL_APPLY    "auth_apply"
#define INBOX_MAXLEN 100000
#define ARRAY_LIMIT  (64u << 20)

/* Lives until both the timer is closed and no round is in flight (see maybe_free). */
struct authorizer {
    struct service *svc;
    uv_timer_t timer;
    uint64_t check_ms, margin_ms;
    bool busy;         /* a round's query is in flight */
    bool stopping;     /* authorizer_stop was called */
    bool timer_closed; /* the timer's close callback ran */
    struct metric *m_rounds, *m_errors, *m_cutoffs, *m_live;
};

/* The three parallel arrays auth_apply takes, as PostgreSQL array literals. */
struct holds {
    struct buf calls, want, covers;
    unsigned n;
};

static void maybe_free(struct authorizer *a)
{
    if (a->stopping && a->timer_closed && !a->busy)
        free(a);
}

/*
 * The hold row i needs now: *want cents covering *covers_ms of answered time. A call
 * without a rate holds nothing (rating cannot price it either) and gives VP_E_NOT_FOUND.
 */
static int row_hold(const struct authorizer *a, const struct pg_result *res, int i, int64_t *want,
                    int64_t *covers_ms)
{
    struct rating_rate rate;
    int64_t elapsed = 0;
    int err = rate_row_read(res, i, &rate);
    if (!err)
        err = rate_row_i64(pg_get(res, i, "elapsed_ms"), &elapsed);
    if (err)
        return err;
    const char *answered = pg_get(res, i, "answered");
    bool live = answered && strcmp(answered, "t") == 0;
    /* ringing: what the shortest answered call costs; answered: through the next round */
    int64_t ms = live ? elapsed + (int64_t)(a->check_ms + a->margin_ms) : 1;
    struct rating_charge ch;
    err = rating_price(&rate, ms, &ch);
    if (err)
        return err;
    *want = ch.cost_cents;
    *covers_ms = live ? ch.billed_seconds * 1000 : 0;
    return 0;
}

static void holds_init(struct holds *h)
{
    buf_init(&h->calls, ARRAY_LIMIT);
    buf_init(&h->want, ARRAY_LIMIT);
    buf_init(&h->covers, ARRAY_LIMIT);
    h->n = 0;
}

static void holds_free(struct holds *h)
{
    buf_free(&h->calls);
    buf_free(&h->want);
    buf_free(&h->covers);
}

/* Call ids are voepy ids ([a-z0-9_A-Z]): no quoting needed inside an array literal. */
static int holds_add(struct holds *h, const char *call_id, int64_t want, int64_t covers)
{
    const char *sep = h->n ? "," : "";
    int err = buf_printf(&h->calls, "%s%s", sep, call_id);
    if (!err)
        err = buf_printf(&h->want, "%s%" PRId64, sep, want);
    if (!err)
        err = buf_printf(&h->covers, "%s%" PRId64, sep, covers);
    h->n++;
    return err;
}

/* Put c (the literal's brace) on all three arrays. */
static int holds_brace(struct holds *h, char c)
{
    int err = buf_putc(&h->calls, c);
    if (!err)
        err = buf_putc(&h->want, c);
    if (!err)
        err = buf_putc(&h->covers, c);
    return err;
}

/* Tell the owning node to end the call; a lost XADD is repeated by auth_apply in 3 s. */
static void send_hangup(struct authorizer *a, const char *call_id, const char *tenant_id,
                        const char *node)
{
    json_t *msg =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "hangup", "call_id", call_id, "tenant_id",
                  tenant_id, "initiator", "system", "reason", "balance_exhausted");
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!text)
        return;
    struct buf stream;
    buf_init(&stream, 512);
    int err = buf_printf(&stream, "voepy:cc:%s", node);
    if (!err)
        err = rstream_add(a->svc->redis, stream.data, text, strlen(text), INBOX_MAXLEN, NULL, NULL);
    vlog_kv(err ? VLOG_WARN : VLOG_INFO, "rating.cutoff",
            err ? "hangup not sent (retried in 3 s)" : "funds exhausted: hangup sent", "call_id",
            call_id, "node", node, NULL);
    if (!err)
        metric_inc(a->m_cutoffs);
    buf_free(&stream);
    free(text);
}

static void round_end(struct authorizer *a)
{
    a->busy = false;
    maybe_free(a);
}

static void applied_cb(int status, const struct pg_result *res, void *arg)
{
    struct authorizer *a = arg;
    if (status) {
        metric_inc(a->m_errors);
        log_warn("rating.auth_failed", "auth_apply: %s%s%s", vp_err_message(status),
                 res ? ": " : "", res ? pg_result_message(res) : "");
    } else {
        metric_inc(a->m_rounds);
        for (int i = 0; i < pg_ntuples(res) && !a->stopping; i++)
            send_hangup(a, pg_get(res, i, "call_id"), pg_get(res, i, "tenant_id"),
                        pg_get(res, i, "node_id"));
    }
    round_end(a);
}

/* Price every live call's hold and hand them to auth_apply; false when nothing is sent. */
static bool apply_holds(struct authorizer *a, const struct pg_result *res)
{
    struct holds h;
    holds_init(&h);
    int err = holds_brace(&h, '{');
    for (int i = 0; i < pg_ntuples(res) && !err; i++) {
        int64_t want, covers;
        const char *call_id = pg_get(res, i, "call_id");
        if (row_hold(a, res, i, &want, &covers) == 0)
            err = holds_add(&h, call_id, want, covers);
    }
    if (!err)
        err = holds_brace(&h, '}');
    bool sent = false;
    if (!err && h.n > 0) {
        const char *params[] = {h.calls.data, h.want.data, h.covers.data};
        sent = pg_exec(a->svc->pg, SQL_APPLY, 3, params, applied_cb, a) == 0;
    }
    if (err || (h.n > 0 && !sent))
        metric_inc(a->m_errors);
    holds_free(&h);
    return sent;
}

static void live_cb(int status, const struct pg_result *res, void *arg)
{
    struct authorizer *a = arg;
    if (status) {
        metric_inc(a->m_errors);
        log_warn("rating.auth_failed", "auth_live_calls: %s%s%s", vp_err_message(status),
                 res ? ": " : "", res ? pg_result_message(res) : "");
        round_end(a);
        return;
    }
    metric_set(a->m_live, pg_ntuples(res));
    if (a->stopping || !apply_holds(a, res))
        round_end(a);
}

/* One round at a time: a round still in flight when the timer fires again is not doubled. */
static void tick_cb(uv_timer_t *t)
{
    struct authorizer *a = t->data;
    if (a->busy || a->stopping)
        return;
    a->busy = true;
    if (pg_exec(a->svc->pg, SQL_LIVE, 0, NULL, live_cb, a)) {
        metric_inc(a->m_errors);
        a->busy = false;
    }
}

static void make_metrics(struct authorizer *a)
{
    a->m_rounds = metrics_counter("voepy_rating_auth_rounds_total",
                                  "Authorisation rounds that granted holds.", NULL);
    a->m_errors = metrics_counter("voepy_rating_auth_errors_total",
                                  "Authorisation rounds that failed (database, queue).", NULL);
    a->m_cutoffs = metrics_counter("voepy_rating_cutoffs_total",
                                   "Hangup commands sent for calls whose funds ran out.", NULL);
    a->m_live = metrics_gauge("voepy_rating_live_calls",
                              "Calls not yet over at the last authorisation round.", NULL);
}

int authorizer_create(struct authorizer **ap, struct service *svc,
                      const struct authorizer_opts *opts)
{
    if (!opts || opts->check_ms == 0)
        return VP_E_INVALID_PARAMETER;
    int err = pg_prepare(svc->pg, SQL_LIVE, "SELECT * FROM auth_live_calls()");
    if (!err)
        err = pg_prepare(svc->pg, SQL_APPLY,
                         "SELECT * FROM auth_apply($1::text[], $2::bigint[], $3::bigint[])");
    if (err)
        return err;
    struct authorizer *a = VP_NEW(a);
    a->svc = svc;
    a->check_ms = opts->check_ms;
    a->margin_ms = opts->margin_ms;
    make_metrics(a);
    uv_timer_init(svc->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, tick_cb, opts->check_ms, opts->check_ms);
    *ap = a;
    return 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct authorizer *a = h->data;
    a->timer_closed = true;
    maybe_free(a);
}

void authorizer_stop(struct authorizer *a)
{
    a->stopping = true;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, timer_closed_cb);
}
