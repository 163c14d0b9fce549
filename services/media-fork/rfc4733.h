/*
 * rfc4733.h - DTMF as RTP telephone-events (RFC 4733, formerly RFC 2833): the 4-byte
 * event payload, and the receiver's rule for turning a stream of event packets into
 * digits.
 *
 * A sender repeats an event's packet every packetization interval with a growing
 * duration, all with the same RTP timestamp (the event's start), and sends the final
 * packet (end bit set) three times. So a receiver sees many packets per key press: the
 * event is identified by (SSRC, timestamp), and reported once, when its first packet
 * arrives (whichever that is: a lost start still reports at the end packets). A long
 * event is split into segments with new timestamps (RFC 4733 2.5.1.3); a segment that
 * continues an event not yet ended (same code, timestamp within its duration + 100 ms)
 * is not a new digit. Pure functions: what the fuzzer and the unit tests drive.
 */
#ifndef MF_RFC4733_H
#define MF_RFC4733_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RFC4733_PAYLOAD_LEN 4
#define RFC4733_DEFAULT_PT  101 /* the customary dynamic payload type */

struct rfc4733_event {
    uint8_t event; /* 0-9, 10 '*', 11 '#', 12-15 'A'-'D'; others are not DTMF */
    bool end;
    uint8_t volume;    /* -dBm0, 0..63 */
    uint16_t duration; /* in RTP clock units since the event's timestamp */
};

/* Parse the first event of a payload; VP_E_PARSE when shorter than 4 bytes. */
int rfc4733_parse(const uint8_t *p, size_t len, struct rfc4733_event *ev);
void rfc4733_write(uint8_t out[RFC4733_PAYLOAD_LEN], const struct rfc4733_event *ev);
/* The DTMF character of an event code ('0'.. 'D'), or 0 when it is not DTMF. */
char rfc4733_digit(uint8_t event);
/* The event code of a DTMF character (case-insensitive A-D), or -1. */
int rfc4733_code(char digit);

/* Receiver state for one leg. Zero-initialise. */
struct rfc4733_rx {
    bool active; /* an event has been seen */
    bool ended;  /* ... and its end packet */
    uint32_t ssrc, ts;
    uint8_t event;
    uint16_t duration;
};

/* One telephone-event packet: the digit it starts, or 0 (a repeat, a continuation, no DTMF). */
char rfc4733_rx_packet(struct rfc4733_rx *rx, uint32_t ssrc, uint32_t ts,
                       const struct rfc4733_event *ev);

#endif
