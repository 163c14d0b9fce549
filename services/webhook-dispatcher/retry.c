#include "retry.h"

#include "voepy/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

enum wh_outcome wh_decide(long http_status, unsigned attempt, const struct wh_schedule *s,
                          uint64_t rnd, int64_t *retry_ms)
{
    *retry_ms = 0;
    if (http_status >= 200 && http_status <= 299)
        return WH_SUCCEEDED;
    if (http_status == 410)
        return WH_GONE;
    if (attempt >= s->n)
        return WH_EXHAUSTED;
    *retry_ms = wh_jitter_ms(s->delay_s[attempt], rnd);
    return WH_RETRY;
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
    case WH_GONE:
        break;
    }
    return "gone";
}
