/*
 * authorizer.h - holds funds for live calls and cuts them off when the funds run out.
 *
 * Every check period the authorizer reads the live calls from PostgreSQL
 * (auth_live_calls, proto/sql/0033_authorization.sql), prices the hold each one needs with
 * rating_price() (price.h), and writes the holds back in one transaction (auth_apply),
 * which grants them within each tenant's available funds and names the calls whose hold
 * cannot grow; those get a hangup command with reason balance_exhausted on their owning
 * node's inbox (voepy:cc:{node}, proto/streams.md). All state is in PostgreSQL, so a
 * restarted (or second) rating process carries on where the last one stopped.
 *
 * Metrics: voepy_rating_auth_rounds_total, voepy_rating_auth_errors_total,
 * voepy_rating_cutoffs_total (hangup commands sent), voepy_rating_live_calls (gauge).
 */
#ifndef VOEPY_RATING_AUTHORIZER_H
#define VOEPY_RATING_AUTHORIZER_H

#include <stdint.h>

struct authorizer;
struct service;

struct authorizer_opts {
    uint64_t check_ms; /* period of a round (VOEPY_RATING_CHECK_MS), >= 1 */
    uint64_t
        margin_ms; /* answered time held beyond the next round (VOEPY_RATING_RESERVE_MARGIN_MS) */
};

/* svc must have been started with SERVICE_PG | SERVICE_REDIS. Rounds start at once. */
int authorizer_create(struct authorizer **ap, struct service *svc,
                      const struct authorizer_opts *opts);
/*
 * Stop the rounds. A round in flight finishes (its query callbacks still run, before the
 * pool closes) and a is freed after both it and the timer are gone. Call once; a is
 * invalid afterwards.
 */
void authorizer_stop(struct authorizer *a);

#endif
