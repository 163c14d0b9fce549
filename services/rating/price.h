/*
 * price.h - what one answered call costs: a pure function, integers only.
 *
 * A rate says how much a minute costs (micros_per_minute; 1 cent = 1,000,000 micros,
 * money.h), a one-off connection fee, and how time is counted: the first
 * initial_increment_s seconds are billed as a block, then blocks of
 * subsequent_increment_s ("60/60" is per minute, "1/1" per second, "30/6" common).
 *
 *   duration_s     = ceil(answered_ms / 1000)
 *   billed_seconds = 0                                    when duration_s == 0
 *                    initial                              when 0 < duration_s <= initial
 *                    initial + ceil((duration_s - initial) / subsequent) * subsequent
 *   cost_micros    = max(minimum_charge,
 *                        connection_fee + ceil(billed_seconds * micros_per_minute / 60))
 *   cost_cents     = ceil(cost_micros / 1,000,000)
 *
 * Rounding goes up and happens only at the end: for positive integers
 * ceil(ceil(a / 60) / 10^6) == ceil(a / (60 * 10^6)), so rounding the per-second part to
 * whole micros first never changes the cents. A call never answered (answered_ms == 0)
 * costs nothing, not even the connection fee or the minimum charge: no money moves.
 */
#ifndef VOEPY_RATING_PRICE_H
#define VOEPY_RATING_PRICE_H

#include <stdint.h>

struct rating_rate {
    int64_t micros_per_minute;      /* >= 0 */
    int64_t connection_fee_micros;  /* >= 0 */
    int64_t initial_increment_s;    /* >= 1 */
    int64_t subsequent_increment_s; /* >= 1 */
    int64_t minimum_charge_micros;  /* >= 0: what an answered call costs at least */
};

struct rating_charge {
    int64_t billed_seconds;
    int64_t cost_micros;
    int64_t cost_cents;
};

/*
 * Price answered_ms of answered time at rate. rate may be NULL only when answered_ms is 0
 * (a call never answered needs no rate). Returns 0 and fills *out, VP_E_INVALID_PARAMETER
 * for a negative duration or a rate outside the bounds above, or VP_E_OVERFLOW when the
 * result does not fit in int64 (*out is then zeroed).
 */
int rating_price(const struct rating_rate *rate, int64_t answered_ms, struct rating_charge *out);

#endif
