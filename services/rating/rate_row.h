/*
 * rate_row.h - reading a rate out of a PostgreSQL result row, for the parts of rating that
 * load one with a call (rate_job.c: rating_load; authorizer.c: auth_live_calls). The row
 * carries rate_id (NULL when no rate matched) and the rate columns of price.h.
 */
#ifndef VOEPY_RATING_RATE_ROW_H
#define VOEPY_RATING_RATE_ROW_H

#include <stdint.h>

#include "price.h"

struct pg_result;

/* A whole decimal int64 (no sign games, no trailing text); VP_E_PARSE otherwise. */
int rate_row_i64(const char *s, int64_t *out);
/* The rate of row `row`: 0, VP_E_NOT_FOUND when rate_id is NULL, VP_E_PARSE. */
int rate_row_read(const struct pg_result *res, int row, struct rating_rate *r);

#endif
