/*
 * leg_tap.h - listeners on a leg's audio, both ways, on the shared 20 ms clock.
 *
 * Recording, WebSocket streaming, transcription and answering-machine detection all need
 * the same thing: what the far end says and what we send it, as linear audio, a frame
 * of each per period, aligned. A tap gets exactly that. Once per tick of a connected leg
 * each tap's frame() is called with one frame of each direction:
 *
 *   in   what arrived from the far end: the oldest received audio frame not yet handed to
 *        the taps (a small FIFO absorbs arrival jitter), else silence (in_heard false);
 *   out  what this tick sent to the far end (mode audio, playback, a bridged peer's
 *        audio), else silence (out_sent false, e.g. during an RFC 4733 event).
 *
 * Both are decoded from the leg's codec to 16-bit samples at `rate` Hz (8000: a leg keeps
 * every codec's audio at 8 kHz, codec.h).
 * The buffers belong to the leg and are valid only during the call.
 *
 * Lifetime: leg_tap_add() returns a handle; leg_tap_remove() detaches it at once (the
 * callbacks are not called again; closed() is not called). When the leg closes first,
 * each remaining tap's closed() is called once, after which the handle is gone. Both may
 * be called from inside the tap's own frame() callback. No tap work happens on a leg that
 * has none: the receive path does not even copy frames for them.
 */
#ifndef MF_LEG_TAP_H
#define MF_LEG_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct leg;
struct leg_tap;

struct leg_tap_frame {
    const int16_t *in;  /* from the far end */
    const int16_t *out; /* sent to the far end */
    size_t samples;     /* per direction: 160 at 8 kHz */
    unsigned rate;      /* Hz */
    bool in_heard;      /* false: nothing arrived for this period (in is silence) */
    bool out_sent;      /* false: no audio went out this period (out is silence) */
};

struct leg_tap_ops {
    /* One period of audio (see above). Required. */
    void (*frame)(void *arg, const struct leg_tap_frame *f);
    /* A digit from the far end began: once per RFC 4733 event, or a SIP INFO digit
     * (leg_digit_in). May be NULL. */
    void (*digit)(void *arg, char digit);
    /* The leg is closing; the tap is gone after this returns. Free arg here. May be NULL. */
    void (*closed)(void *arg);
};

/* Attach a tap; ops must outlive it (a static table). Never fails. */
struct leg_tap *leg_tap_add(struct leg *l, const struct leg_tap_ops *ops, void *arg);
/* Detach t from l; t is invalid afterwards. */
void leg_tap_remove(struct leg *l, struct leg_tap *t);
/* Number of taps on l (for tests and metrics). */
unsigned leg_tap_count(const struct leg *l);

#endif
