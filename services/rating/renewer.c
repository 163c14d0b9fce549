/*
 * renewer.c - the voice subscription timer (renewer.h). One run at a time; the work and
 * its locking are in SQL (voice_sub_renew).
 */
#include "renewer.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/service.h"

#include <stdbool.h>
#include <stdlib.h>

#define SQL_RENEW "voice_sub_renew"

/* Lives until both the timer is closed and no run is in flight (see maybe_free). */
struct renewer {
    struct service *svc;
    uv_timer_t timer;
    bool busy, stopping, timer_closed;
    struct metric *m_renewals, *m_errors;
};

static void maybe_free(struct renewer *r)
{
    if (r->stopping && r->timer_closed && !r->busy)
        free(r);
}

static void renewed_cb(int status, const struct pg_result *res, void *arg)
{
    struct renewer *r = arg;
    r->busy = false;
    if (status) {
        metric_inc(r->m_errors);
        log_warn("rating.voice_renew_failed", "voice_sub_renew: %s%s%s", vp_err_message(status),
                 res ? ": " : "", res ? pg_result_message(res) : "");
    } else {
        const char *n = pg_ntuples(res) > 0 ? pg_get(res, 0, "n") : NULL;
        long settled = n ? strtol(n, NULL, 10) : 0;
        if (settled > 0) {
            metric_add(r->m_renewals, settled);
            log_info("rating.voice_renewed", "%ld voice subscription(s) renewed, ended or lapsed",
                     settled);
        }
    }
    maybe_free(r);
}

static void tick_cb(uv_timer_t *t)
{
    struct renewer *r = t->data;
    if (r->busy || r->stopping)
        return;
    r->busy = pg_exec(r->svc->pg, SQL_RENEW, 0, NULL, renewed_cb, r) == 0;
    if (!r->busy)
        metric_inc(r->m_errors);
}

int renewer_create(struct renewer **rp, struct service *svc, uint64_t period_ms)
{
    if (period_ms == 0)
        return VP_E_INVALID_PARAMETER;
    int err = pg_prepare(svc->pg, SQL_RENEW, "SELECT voice_sub_renew(NULL) AS n");
    if (err)
        return err;
    struct renewer *r = VP_NEW(r);
    r->svc = svc;
    r->m_renewals = metrics_counter("voepy_rating_voice_renewals_total",
                                    "Voice subscriptions renewed, ended or lapsed.", NULL);
    r->m_errors = metrics_counter("voepy_rating_voice_renew_errors_total",
                                  "Voice subscription renewal runs that failed.", NULL);
    uv_timer_init(svc->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, tick_cb, period_ms, period_ms);
    *rp = r;
    return 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct renewer *r = h->data;
    r->timer_closed = true;
    maybe_free(r);
}

void renewer_stop(struct renewer *r)
{
    r->stopping = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, timer_closed_cb);
}
