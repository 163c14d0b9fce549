#include "price.h"

#include "voepy/err.h"
#include "voepy/money.h"

#include <string.h>

static int rate_valid(const struct rating_rate *r)
{
    return r && r->micros_per_minute >= 0 && r->connection_fee_micros >= 0 &&
           r->initial_increment_s >= 1 && r->subsequent_increment_s >= 1 &&
           r->minimum_charge_micros >= 0;
}

/* Seconds billed for duration_s > 0 whole seconds, or VP_E_OVERFLOW. */
static int billed_seconds(const struct rating_rate *r, int64_t duration_s, int64_t *out)
{
    if (duration_s <= r->initial_increment_s) {
        *out = r->initial_increment_s;
        return 0;
    }
    int64_t rest = duration_s - r->initial_increment_s;
    int64_t blocks = rest / r->subsequent_increment_s + (rest % r->subsequent_increment_s != 0);
    int64_t tail;
    if (__builtin_mul_overflow(blocks, r->subsequent_increment_s, &tail) ||
        __builtin_add_overflow(r->initial_increment_s, tail, out))
        return VP_E_OVERFLOW;
    return 0;
}

static int price_answered(const struct rating_rate *r, int64_t answered_ms,
                          struct rating_charge *out)
{
    int64_t duration_s = answered_ms / 1000 + (answered_ms % 1000 != 0);
    int64_t per_time;
    int err = billed_seconds(r, duration_s, &out->billed_seconds);
    if (err)
        return err;
    err = money_muldiv_ceil(out->billed_seconds, r->micros_per_minute, 60, &per_time);
    if (err)
        return VP_E_OVERFLOW;
    if (__builtin_add_overflow(per_time, r->connection_fee_micros, &out->cost_micros))
        return VP_E_OVERFLOW;
    if (out->cost_micros < r->minimum_charge_micros)
        out->cost_micros = r->minimum_charge_micros;
    out->cost_cents = money_micros_to_cents_ceil(out->cost_micros);
    return 0;
}

int rating_price(const struct rating_rate *rate, int64_t answered_ms, struct rating_charge *out)
{
    memset(out, 0, sizeof(*out));
    if (answered_ms < 0)
        return VP_E_INVALID_PARAMETER;
    if (answered_ms == 0)
        return 0;
    if (!rate_valid(rate))
        return VP_E_INVALID_PARAMETER;
    int err = price_answered(rate, answered_ms, out);
    if (err)
        memset(out, 0, sizeof(*out));
    return err;
}
