/*
 * sweep.c - housekeeping on a timer: forget expired idempotent answers.
 *
 * Idempotency-Key answers are kept 24 hours (idempotency_keys.expires_at). Every
 * SWEEP_INTERVAL_MS the gateway removes up to SWEEP_BATCH expired rows (idem_sweep in
 * 0002_render.sql); when a batch comes back full it goes again at once, so a backlog
 * drains without one long transaction. Several gateways may sweep at the same time: the
 * DELETEs skip nothing and double nothing (a row is deleted once).
 */
#include "api.h"

#include <stdlib.h>

#include "voepy/alloc.h"
#include "voepy/log.h"

#define SWEEP_INTERVAL_MS 60000
#define SWEEP_BATCH       1000

/* Freed when both the timer is closed and no query is in flight (whichever is last). */
struct sweep {
    uv_timer_t timer;
    struct pg_pool *pg;
    bool busy;    /* a query is in flight: its callback still holds s */
    bool stopped; /* sweep_stop ran: no new queries */
    bool closed;  /* the timer's close callback ran */
};

static void sweep_run(struct sweep *s);

static void swept_cb(int status, const struct pg_result *res, void *arg)
{
    struct sweep *s = arg;
    s->busy = false;
    if (s->stopped) {
        if (s->closed)
            free(s);
        return;
    }
    if (status != 0) {
        log_warn("api.idem_sweep_failed", "%s", vp_err_message(status));
        return;
    }
    long n = strtol(pg_get(res, 0, "n"), NULL, 10);
    if (n > 0)
        log_info("api.idem_swept", "forgot %ld expired idempotent answers", n);
    if (n == SWEEP_BATCH)
        sweep_run(s);
}

static void sweep_run(struct sweep *s)
{
    static const char *const params[] = {"1000"};
    if (s->busy)
        return;
    s->busy = pg_exec(s->pg, "SELECT idem_sweep($1::int) AS n", 1, params, swept_cb, s) == 0;
}

static void tick_cb(uv_timer_t *t)
{
    sweep_run(t->data);
}

struct sweep *sweep_start(uv_loop_t *loop, struct pg_pool *pg)
{
    struct sweep *s = NULL;
    s = VP_NEW(s);
    s->pg = pg;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, tick_cb, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
    uv_unref((uv_handle_t *)&s->timer);
    return s;
}

static void closed_cb(uv_handle_t *h)
{
    struct sweep *s = h->data;
    s->closed = true;
    if (!s->busy)
        free(s);
}

void sweep_stop(struct sweep *s)
{
    if (!s)
        return;
    s->stopped = true;
    uv_close((uv_handle_t *)&s->timer, closed_cb);
}
