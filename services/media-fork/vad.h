/*
 * vad.h - voice activity detection: one track of linear audio cut into phrases.
 *
 * A simple energy detector, good enough for telephone audio and cheap enough to run on
 * the 20 ms tick: each frame's mean power in dBFS is compared with a threshold. Speech
 * starts after start_ms of consecutive loud frames and ends after hangover_ms of quiet
 * ones (pauses between words and short sentence breaks stay inside the phrase); a phrase
 * reaching max_phrase_ms is cut there and the next one starts at once. Phrases shorter
 * than min_speech_ms of loud audio (clicks) are dropped. Each phrase keeps preroll_ms of
 * audio before the speech started (word onsets are quiet) and the hangover after it.
 *
 * All memory is allocated by vad_create(): feeding never allocates. Single-threaded.
 */
#ifndef MF_VAD_H
#define MF_VAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vad;

struct vad_opts {
    unsigned rate;          /* Hz; 0: 8000 */
    int threshold_dbfs;     /* a frame louder than this is speech; 0: -40 */
    unsigned start_ms;      /* 0: 40 */
    unsigned hangover_ms;   /* 0: 600 */
    unsigned max_phrase_ms; /* 0: 15000 */
    unsigned min_speech_ms; /* 0: 100 */
    unsigned preroll_ms;    /* 0: 200 */
};

/* A finished phrase: samples valid until the next vad_feed()/vad_flush(). */
struct vad_phrase {
    const int16_t *samples;
    size_t n;
    uint64_t start_ms, end_ms; /* of the speech, from the first sample fed (preroll/hangover
                                  not counted) */
    uint64_t buf_start_ms;     /* of samples[0] (the preroll's start) */
};

int vad_create(struct vad **vp, const struct vad_opts *o);
void vad_destroy(struct vad *v);
/* Feed one frame of n samples; true when a phrase ended with it (then *p is filled). */
bool vad_feed(struct vad *v, const int16_t *s, size_t n, struct vad_phrase *p);
/* End the phrase in progress now (the track stops); true when there was one (in *p). */
bool vad_flush(struct vad *v, struct vad_phrase *p);
/* Whether a phrase is in progress. */
bool vad_in_speech(const struct vad *v);
/* Milliseconds of audio fed so far. */
uint64_t vad_fed_ms(const struct vad *v);

#endif
