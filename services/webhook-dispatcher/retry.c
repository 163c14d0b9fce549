#include "retry.h"

#include "voepy/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One number of the list; *pp moves past it and the spaces around it. */
static int parse_delay(const char **pp, int64_t *out)
{
    const char *p = *pp;
    while (*p == ' ')
        p++;
    if (!isdigit((unsigned char)*p))
        return VP_E_INVALID_PARAMETER;
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (errno || v > WH_SCHEDULE_MAX_DELAY)
        return VP_E_INVALID_PARAMETER;
    while (*end == ' ')
        end++;
    *out = v;
    *pp = end;
    return 0;
}

int wh_schedule_parse(const char *text, struct wh_schedule *out)
{
    struct wh_schedule s = {0};
    const char *p = text;
    if (!p)
        return VP_E_INVALID_PARAMETER;
    for (;;) {
        if (s.n == WH_SCHEDULE_MAX || parse_delay(&p, &s.delay_s[s.n]))
            return VP_E_INVALID_PARAMETER;
        s.n++;
        if (*p == '\0')
            break;
        if (*p++ != ',')
            return VP_E_INVALID_PARAMETER;
    }
    *out = s;
    return 0;
}

int64_t wh_jitter_ms(int64_t delay_s, uint64_t rnd)
{
    int64_t ms = delay_s * 1000;
    int64_t span = ms / 10; /* +-10 % */
    if (span == 0)
        return ms;
    return ms - span + (int64_t)(rnd % (uint64_t)(2 * span + 1));
}

/* An HTTP date in any of the three forms RFC 9110 lets a recipient accept. */
static int parse_http_date(const char *v, int64_t *out)
{
    static const char *const forms[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT */
        "%a %b %e %H:%M:%S %Y",      /* asctime:     Sun Nov  6 08:49:37 1994 */
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(v, forms[i], &tm);
        while (end && *end == ' ')
            end++;
        if (end && *end == '\0') {
            *out = (int64_t)timegm(&tm);
            return 0;
        }
    }
    return VP_E_PARSE;
}

int64_t wh_retry_after_ms(const char *value, int64_t now_s)
{
    int64_t s;
    if (!value)
        return -1;
    while (*value == ' ')
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        while (*end == ' ')
            end++;
        if (*end)
            return -1;
        s = (errno || v > WH_RETRY_AFTER_MAX_S) ? WH_RETRY_AFTER_MAX_S : v;
    } else {
        int64_t at;
        if (parse_http_date(value, &at))
            return -1;
        s = at - now_s;
        s = s < 0 ? 0 : s > WH_RETRY_AFTER_MAX_S ? WH_RETRY_AFTER_MAX_S : s;
    }
    return s * 1000;
}

void wh_decide(long http_status, const char *retry_after, unsigned attempt, bool replay,
               const struct wh_schedule *s, uint64_t rnd, int64_t now_s, struct wh_decision *out)
{
    *out = (struct wh_decision){.outcome = WH_RETRY, .retry_after_ms = -1};
    if (http_status >= 200 && http_status <= 299) {
        out->outcome = WH_SUCCEEDED;
        return;
    }
    if (http_status == 410) {
        out->outcome = WH_GONE;
        return;
    }
    if (http_status)
        out->retry_after_ms = wh_retry_after_ms(retry_after, now_s);
    out->slowdown =
        http_status == 429 || http_status == 502 || http_status == 504 || out->retry_after_ms >= 0;
    if (replay)
        out->outcome = WH_FAILED;
    else if (attempt >= s->n)
        out->outcome = WH_EXHAUSTED;
    else
        out->retry_ms = wh_jitter_ms(s->delay_s[attempt], rnd);
}

const char *wh_outcome_name(enum wh_outcome o)
{
    switch (o) {
    case WH_SUCCEEDED:
        return "succeeded";
    case WH_RETRY:
        return "retry";
    case WH_EXHAUSTED:
        return "exhausted";
    case WH_FAILED:
        return "failed";
    case WH_GONE:
        break;
    }
    return "gone";
}
