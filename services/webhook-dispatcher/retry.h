/*
 * retry.h - what an attempt's answer means for its delivery, and when to try again.
 *
 * The schedule is a list of delays in seconds ("0,5,300,1800,7200,18000,36000,36000"):
 * entry 0 is the wait before the first attempt, entry n the wait after attempt n has
 * failed, so the list's length is the number of attempts. Each wait gets +-10 % jitter so
 * that deliveries failed together do not come back together.
 *
 *   2xx                       succeeded
 *   410 Gone                  gone: the delivery fails and the endpoint is deactivated
 *   anything else (3xx: redirects are never followed), no answer, a refused URL:
 *                             retry after the schedule's next wait, or exhausted after
 *                             the last attempt
 *
 * Pure functions: the caller passes the randomness.
 */
#ifndef VOEPY_WH_RETRY_H
#define VOEPY_WH_RETRY_H

#include <stdint.h>

#define WH_SCHEDULE_MAX       32
#define WH_SCHEDULE_DEFAULT   "0,5,300,1800,7200,18000,36000,36000"
#define WH_SCHEDULE_MAX_DELAY (7 * 24 * 3600) /* seconds; one wait never exceeds a week */

struct wh_schedule {
    unsigned n;                       /* attempts, >= 1 */
    int64_t delay_s[WH_SCHEDULE_MAX]; /* delay_s[0] before the first attempt */
};

enum wh_outcome { WH_SUCCEEDED, WH_RETRY, WH_EXHAUSTED, WH_GONE };

/*
 * Parse "0,5,300": 1..WH_SCHEDULE_MAX comma-separated whole seconds in
 * 0..WH_SCHEDULE_MAX_DELAY (spaces around numbers allowed). Returns 0 or
 * VP_E_INVALID_PARAMETER (out untouched).
 */
int wh_schedule_parse(const char *text, struct wh_schedule *out);
/* delay_s seconds in milliseconds with +-10 % jitter drawn from rnd (uniform 64 bits). */
int64_t wh_jitter_ms(int64_t delay_s, uint64_t rnd);
/*
 * The outcome of attempt number `attempt` (1 = first) that got http_status (0 when no
 * answer arrived); for WH_RETRY *retry_ms is the wait before the next attempt.
 */
enum wh_outcome wh_decide(long http_status, unsigned attempt, const struct wh_schedule *s,
                          uint64_t rnd, int64_t *retry_ms);
/* "succeeded", "retry", "exhausted", "gone": the names wh_record() takes. */
const char *wh_outcome_name(enum wh_outcome o);

#endif
