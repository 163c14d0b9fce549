/* RFC 4733 event generation on the 20 ms clock; see dtmf_out.h. */
#include "dtmf_out.h"

#include <string.h>

#include "voepy/err.h"

#define TICK_MS      20
#define TICK_SAMPLES 160

static bool valid_digit(char d)
{
    return d == 'w' || d == 'W' || rfc4733_code(d) >= 0;
}

int dtmf_out_queue(struct dtmf_out *t, const char *digits, unsigned duration_ms)
{
    size_t len = strlen(digits);
    if (len == 0 || duration_ms < DTMF_OUT_MIN_MS || duration_ms > DTMF_OUT_MAX_MS)
        return VP_E_INVALID_PARAMETER;
    for (size_t i = 0; i < len; i++)
        if (!valid_digit(digits[i]))
            return VP_E_INVALID_PARAMETER;
    if (t->n - t->pos + len > DTMF_OUT_MAX_DIGITS)
        return VP_E_OVERFLOW;
    /* Compact what is left, then append. */
    memmove(t->digits, t->digits + t->pos, t->n - t->pos);
    t->n -= t->pos;
    t->pos = 0;
    memcpy(t->digits + t->n, digits, len);
    t->n += len;
    t->digits[t->n] = '\0';
    t->dur_ticks = (duration_ms + TICK_MS - 1) / TICK_MS;
    return 0;
}

bool dtmf_out_busy(const struct dtmf_out *t)
{
    return t->in_event || t->pause_left || t->pos < t->n;
}

bool dtmf_out_sending(const struct dtmf_out *t)
{
    return t->in_event || (!t->pause_left && t->pos < t->n);
}

void dtmf_out_clear(struct dtmf_out *t)
{
    memset(t, 0, sizeof(*t));
}

/* Take the next digit: a pause character sets the pause, a DTMF digit starts an event. */
static void next_digit(struct dtmf_out *t, uint32_t now_ts)
{
    char d = t->digits[t->pos++];
    if (d == 'w' || d == 'W') {
        t->pause_left = (d == 'w' ? 500u : 1000u) / TICK_MS - 1; /* this tick is the first */
        return;
    }
    t->in_event = true;
    t->tick = 0;
    t->end_sent = 0;
    t->ev_ts = now_ts;
}

static void fill(const struct dtmf_out *t, uint8_t *payload, bool end)
{
    unsigned dur = (t->tick < t->dur_ticks ? t->tick : t->dur_ticks) * TICK_SAMPLES;
    struct rfc4733_event ev = {.event = (uint8_t)rfc4733_code(t->digits[t->pos - 1]),
                               .end = end,
                               .volume = DTMF_OUT_VOLUME,
                               .duration = (uint16_t)(dur > 0xffff ? 0xffff : dur)};
    rfc4733_write(payload, &ev);
}

enum dtmf_out_action dtmf_out_tick(struct dtmf_out *t, uint32_t now_ts,
                                   uint8_t payload[RFC4733_PAYLOAD_LEN], uint32_t *ts, bool *marker)
{
    if (!t->in_event && t->pause_left) {
        t->pause_left--;
        return DTMF_OUT_NONE;
    }
    if (!t->in_event && t->pos < t->n)
        next_digit(t, now_ts);
    if (!t->in_event)
        return DTMF_OUT_NONE; /* idle, or a pause just began (its first tick is audio) */
    *marker = t->tick == 0;
    *ts = t->ev_ts;
    if (t->tick < t->dur_ticks)
        t->tick++;
    bool end = t->tick >= t->dur_ticks;
    fill(t, payload, end);
    if (end && ++t->end_sent == DTMF_OUT_END_COPIES) {
        t->in_event = false;
        t->pause_left = DTMF_OUT_GAP_MS / TICK_MS;
    }
    return DTMF_OUT_EVENT;
}
