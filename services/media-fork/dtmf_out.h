/*
 * dtmf_out.h - sending DTMF as RFC 4733 events on a leg's RTP, one packet per 20 ms tick.
 *
 * For each digit: a packet every tick with the event's start timestamp, the marker bit on
 * the first, the duration growing by one tick (160 samples) each time, until the
 * requested duration (rounded up to whole ticks); the last packet carries the end bit and
 * is sent three times in all (RFC 4733 2.5.1.4), each with its own sequence number. Then
 * a pause of DTMF_OUT_GAP_MS before the next digit, during which the leg's normal audio
 * flows. 'w' and 'W' in the digit string are pauses of 500 ms and 1 s. The leg sends no
 * audio while an event is on the wire (the event replaces it), and its RTP clock keeps
 * running, so audio after the event carries the right timestamp.
 */
#ifndef MF_DTMF_OUT_H
#define MF_DTMF_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rfc4733.h"

#define DTMF_OUT_MAX_DIGITS 64
#define DTMF_OUT_MIN_MS     40 /* a digit's duration, per digit */
#define DTMF_OUT_MAX_MS     5000
#define DTMF_OUT_GAP_MS     100
#define DTMF_OUT_VOLUME     10 /* -10 dBm0 */
#define DTMF_OUT_END_COPIES 3

struct dtmf_out {
    char digits[DTMF_OUT_MAX_DIGITS + 1];
    size_t pos, n;
    unsigned dur_ticks;  /* ticks per event */
    unsigned tick;       /* ticks into the current event or pause */
    unsigned end_sent;   /* end packets sent for the current event */
    unsigned pause_left; /* ticks of pause before the next digit */
    bool in_event;
    uint32_t ev_ts;
};

/* What the leg does this tick. */
enum dtmf_out_action {
    DTMF_OUT_NONE,  /* no DTMF: send audio as usual */
    DTMF_OUT_EVENT, /* send the event packet filled in */
};

/*
 * Queue digits (0-9 * # A-D a-d w W) with duration_ms per digit (40..5000). Appends to
 * digits still queued. Returns 0, or VP_E_INVALID_PARAMETER (a bad digit or duration) /
 * VP_E_OVERFLOW (more than DTMF_OUT_MAX_DIGITS queued); then nothing is queued.
 */
int dtmf_out_queue(struct dtmf_out *t, const char *digits, unsigned duration_ms);
bool dtmf_out_busy(const struct dtmf_out *t);
/* Whether the next tick sends an event packet (one is on the wire, or a digit is due):
 * false during the pauses, when the leg's audio flows. */
bool dtmf_out_sending(const struct dtmf_out *t);
/*
 * One 20 ms tick at RTP timestamp now_ts (the leg's clock for this tick). On
 * DTMF_OUT_EVENT, payload holds the event, *ts its timestamp and *marker the marker bit.
 */
enum dtmf_out_action dtmf_out_tick(struct dtmf_out *t, uint32_t now_ts,
                                   uint8_t payload[RFC4733_PAYLOAD_LEN], uint32_t *ts,
                                   bool *marker);
void dtmf_out_clear(struct dtmf_out *t);

#endif
