#include "rate_row.h"

#include "voepy/err.h"
#include "voepy/pg.h"

#include <errno.h>
#include <stdlib.h>

int rate_row_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return VP_E_PARSE;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return VP_E_PARSE;
    *out = v;
    return 0;
}

int rate_row_read(const struct pg_result *res, int row, struct rating_rate *r)
{
    if (!pg_get(res, row, "rate_id"))
        return VP_E_NOT_FOUND;
    if (rate_row_i64(pg_get(res, row, "micros_per_minute"), &r->micros_per_minute) ||
        rate_row_i64(pg_get(res, row, "connection_fee_micros"), &r->connection_fee_micros) ||
        rate_row_i64(pg_get(res, row, "initial_increment_s"), &r->initial_increment_s) ||
        rate_row_i64(pg_get(res, row, "subsequent_increment_s"), &r->subsequent_increment_s) ||
        rate_row_i64(pg_get(res, row, "minimum_charge_micros"), &r->minimum_charge_micros))
        return VP_E_PARSE;
    return 0;
}
