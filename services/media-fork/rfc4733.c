/* RFC 4733 telephone-event payloads and digit extraction; see rfc4733.h. */
#include "rfc4733.h"

#include <string.h>

#include "voepy/err.h"

static const char DIGITS[] = "0123456789*#ABCD";

#define CONTINUE_SLACK 800 /* 100 ms at 8 kHz: a segment may start this late */

int rfc4733_parse(const uint8_t *p, size_t len, struct rfc4733_event *ev)
{
    if (len < RFC4733_PAYLOAD_LEN)
        return VP_E_PARSE;
    ev->event = p[0];
    ev->end = p[1] & 0x80u;
    ev->volume = p[1] & 0x3fu;
    ev->duration = (uint16_t)((unsigned)p[2] << 8 | p[3]);
    return 0;
}

void rfc4733_write(uint8_t out[RFC4733_PAYLOAD_LEN], const struct rfc4733_event *ev)
{
    out[0] = ev->event;
    out[1] = (uint8_t)((ev->end ? 0x80u : 0u) | (ev->volume & 0x3fu));
    out[2] = (uint8_t)(ev->duration >> 8);
    out[3] = (uint8_t)ev->duration;
}

char rfc4733_digit(uint8_t event)
{
    return event < 16 ? DIGITS[event] : 0;
}

int rfc4733_code(char digit)
{
    if (digit >= 'a' && digit <= 'd')
        digit = (char)(digit - 'a' + 'A');
    const char *p = digit ? strchr(DIGITS, digit) : NULL;
    return p ? (int)(p - DIGITS) : -1;
}

/* A new segment of the event in progress (RFC 4733 2.5.1.3), not a new key press. */
static bool continues(const struct rfc4733_rx *rx, uint32_t ssrc, uint32_t ts, uint8_t event)
{
    uint32_t gap = ts - rx->ts; /* wraps: a timestamp before ours is a huge gap */
    return rx->active && !rx->ended && rx->ssrc == ssrc && rx->event == event && gap > 0 &&
           gap <= (uint32_t)rx->duration + CONTINUE_SLACK;
}

char rfc4733_rx_packet(struct rfc4733_rx *rx, uint32_t ssrc, uint32_t ts,
                       const struct rfc4733_event *ev)
{
    char digit = rfc4733_digit(ev->event);
    if (rx->active && rx->ssrc == ssrc && rx->ts == ts) {
        /* The same event again: a repeat, a longer duration, or (re)sent end packets. */
        if (ev->duration > rx->duration)
            rx->duration = ev->duration;
        rx->ended |= ev->end;
        return 0;
    }
    bool cont = continues(rx, ssrc, ts, ev->event);
    *rx = (struct rfc4733_rx){.active = true,
                              .ended = ev->end,
                              .ssrc = ssrc,
                              .ts = ts,
                              .event = ev->event,
                              .duration = ev->duration};
    return cont ? 0 : digit;
}
