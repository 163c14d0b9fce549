/*
 * retry.h - what an attempt's answer means for its delivery, and when to try again.
 *
 * The schedule is a list of delays in seconds ("0,5,300,1800,7200,18000,36000,36000"):
 * entry 0 is the wait before the first attempt, entry n the wait after attempt n has
 * failed, so the list's length is the number of attempts. Each wait gets +-10 % jitter so
 * that deliveries failed together do not come back together.
 *
 *   2xx                       succeeded
 *   410 Gone                  gone: the delivery fails and the endpoint is disabled
 *   anything else (3xx: redirects are never followed), no answer, a refused URL:
 *                             retry after the schedule's next wait, or exhausted after
 *                             the last attempt; a replay (sent again on the tenant's
 *                             request) gets one attempt: failed
 *
 * Slowing down: a 429, 502 or 504, or any failed answer carrying Retry-After, also asks
 * us to slow down: the endpoint is paused (nothing of it is claimed) and the delivery is
 * retried no earlier than the pause ends. The pause is Retry-After when the answer has a
 * usable one (seconds or an HTTP date, at most WH_RETRY_AFTER_MAX_S), else
 * VOEPY_WEBHOOK_SLOWDOWN_MS doubled for each consecutive slow-down, at most
 * WH_SLOWDOWN_MAX_MS. The doubling needs the endpoint's count of consecutive slow-downs,
 * which only the database knows: wh_record() (proto/sql/0042_webhook_dispatch.sql)
 * computes that pause; this file says whether there is one and what Retry-After asked.
 *
 * Pure functions: the caller passes the randomness and the time.
 */
#ifndef VOEPY_WH_RETRY_H
#define VOEPY_WH_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define WH_SCHEDULE_MAX          32
#define WH_SCHEDULE_DEFAULT      "0,5,300,1800,7200,18000,36000,36000"
#define WH_SCHEDULE_MAX_DELAY    (7 * 24 * 3600) /* seconds; one wait never exceeds a week */
#define WH_RETRY_AFTER_MAX_S     3600            /* a Retry-After is honoured up to an hour */
#define WH_SLOWDOWN_DEFAULT      "5000"          /* VOEPY_WEBHOOK_SLOWDOWN_MS */
#define WH_SLOWDOWN_MAX_MS       300000          /* the doubled pause stops growing at 5 min */
#define WH_DISABLE_AFTER_DEFAULT "432000"        /* VOEPY_WEBHOOK_DISABLE_AFTER_S: 5 days */

struct wh_schedule {
    unsigned n;                       /* attempts, >= 1 */
    int64_t delay_s[WH_SCHEDULE_MAX]; /* delay_s[0] before the first attempt */
};

enum wh_outcome { WH_SUCCEEDED, WH_RETRY, WH_EXHAUSTED, WH_GONE, WH_FAILED };

/* What to do with a delivery after one attempt. */
struct wh_decision {
    enum wh_outcome outcome;
    int64_t retry_ms;       /* WH_RETRY: the schedule's wait (+-10 %); 0 otherwise */
    bool slowdown;          /* the endpoint asked us to slow down: pause it */
    int64_t retry_after_ms; /* the answer's Retry-After (capped), -1 when it had none */
};

/*
 * Parse "0,5,300": 1..WH_SCHEDULE_MAX comma-separated whole seconds in
 * 0..WH_SCHEDULE_MAX_DELAY (spaces around numbers allowed). Returns 0 or
 * VP_E_INVALID_PARAMETER (out untouched).
 */
int wh_schedule_parse(const char *text, struct wh_schedule *out);
/* delay_s seconds in milliseconds with +-10 % jitter drawn from rnd (uniform 64 bits). */
int64_t wh_jitter_ms(int64_t delay_s, uint64_t rnd);
/*
 * Retry-After as milliseconds from now_s: delay-seconds ("120") or an HTTP date (IMF
 * fixdate, RFC 850 or asctime form), capped at WH_RETRY_AFTER_MAX_S; a date in the past
 * is 0. -1 when value is NULL or not one of these.
 */
int64_t wh_retry_after_ms(const char *value, int64_t now_s);
/*
 * Decide for attempt number `attempt` (1 = first) of a delivery that got http_status (0
 * when no answer arrived) with Retry-After header value retry_after (NULL when absent).
 * replay: the delivery is a replay (one attempt). now_s: for Retry-After dates.
 */
void wh_decide(long http_status, const char *retry_after, unsigned attempt, bool replay,
               const struct wh_schedule *s, uint64_t rnd, int64_t now_s, struct wh_decision *out);
/* "succeeded", "retry", "exhausted", "gone", "failed": the names wh_record() takes. */
const char *wh_outcome_name(enum wh_outcome o);

#endif
