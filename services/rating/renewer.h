/*
 * renewer.h - settles voice subscriptions whose period has ended.
 *
 * Every renew period (VOEPY_RATING_RENEW_MS) the renewer runs voice_sub_renew(NULL)
 * (proto/sql/0036_voice_tiers.sql): each active subscription whose period is over is
 * renewed with the next fee, ended when it was canceled, or lapses when the funds do not
 * cover the fee. All state is in PostgreSQL and the function locks per tenant, so several
 * rating processes may run it at once. Rating also renews a tenant inline before pricing
 * its calls, so this timer matters only for tenants without calls at the period's end.
 *
 * Metrics: voepy_rating_voice_renewals_total (subscriptions settled),
 * voepy_rating_voice_renew_errors_total.
 */
#ifndef VOEPY_RATING_RENEWER_H
#define VOEPY_RATING_RENEWER_H

#include <stdint.h>

struct renewer;
struct service;

/* svc must have been started with SERVICE_PG. The first run is one period from now. */
int renewer_create(struct renewer **rp, struct service *svc, uint64_t period_ms);
/*
 * Stop. A run in flight finishes (its callback runs before the pool closes); r is freed
 * once both it and the timer are gone. Call once; r is invalid afterwards.
 */
void renewer_stop(struct renewer *r);

#endif
