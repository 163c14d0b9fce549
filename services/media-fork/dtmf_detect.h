/*
 * dtmf_detect.h - in-band DTMF: spandsp's DTMF receiver over decoded 8 kHz audio.
 *
 * spandsp's dtmf_rx runs Goertzel filters on the eight DTMF frequencies and applies the
 * ITU Q.24 checks (level, twist, duration, pause); it reports each key press once, after
 * it has lasted long enough, through a digits callback (the realtime callback is not
 * used: setting it silences the digits callback, LIBRARY-NOTES). Wrapped here so that
 * spandsp.h is included by as few files as possible.
 */
#ifndef MF_DTMF_DETECT_H
#define MF_DTMF_DETECT_H

#include <stddef.h>
#include <stdint.h>

struct dtmf_detect;

/* Called once per detected key press with its character ('0'-'9', '*', '#', 'A'-'D'). */
typedef void(dtmf_digit_cb)(void *arg, char digit);

void dtmf_detect_create(struct dtmf_detect **dp, dtmf_digit_cb *cb, void *arg);
/* Feed samples (any count); cb may run from inside this call. */
void dtmf_detect_samples(struct dtmf_detect *d, const int16_t *pcm, size_t n);
/* Forget a half-heard tone (e.g. after a gap in the stream). */
void dtmf_detect_reset(struct dtmf_detect *d);
void dtmf_detect_destroy(struct dtmf_detect *d);

#endif
