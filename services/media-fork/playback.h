/*
 * playback.h - a cursor over decoded audio that yields one 20 ms frame per tick, looping
 * a given number of times. The last frame of a pass is padded with silence; the next
 * pass starts on the next frame (so loops are frame-aligned, 20 ms apart at most).
 */
#ifndef MF_PLAYBACK_H
#define MF_PLAYBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAYBACK_FRAME 160 /* samples per 20 ms at 8 kHz */

struct audio;

struct playback {
    struct audio *audio; /* a reference, or NULL when idle */
    size_t pos;
    unsigned loops_left; /* passes still to play after this one */
};

/* Start playing a (takes the caller's reference) loops times (>= 1). Stops any current. */
void playback_start(struct playback *p, struct audio *a, unsigned loops);
/* Fill pcm with the next frame; returns false (pcm untouched) when nothing is left. */
bool playback_next(struct playback *p, int16_t pcm[PLAYBACK_FRAME]);
bool playback_active(const struct playback *p);
/* Stop and drop the reference. */
void playback_stop(struct playback *p);

#endif
