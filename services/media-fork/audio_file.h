/*
 * audio_file.h - decoded audio for playback: a file read with libsndfile (WAV, MP3 and
 * whatever else it reads), mixed down to mono, resampled to 8 kHz, 16-bit linear.
 *
 * Resampling uses libsamplerate's SRC_SINC_MEDIUM_QUALITY converter: a band-limited
 * (windowed sinc) interpolator, so 44.1/48 kHz audio is low-passed below 4 kHz before
 * decimation instead of aliasing, as a linear interpolator would (a 6 kHz tone would come
 * out at 2 kHz). MEDIUM keeps 90 % of the band (3.6 kHz at 8 kHz), so the whole telephone
 * band (300-3400 Hz) passes; FASTEST keeps 80 % and audibly dulls 3 kHz and up (measured
 * -0.5 dB at 3 kHz). It is a maintained library (LIBRARY-NOTES recommends it or speexdsp)
 * rather than DSP of our own, and runs once per file (the result is cached).
 *
 * A struct audio is immutable once loaded and reference counted: the cache holds one
 * reference, each playback another, so evicting from the cache never pulls audio from
 * under a leg that is playing it. Single-threaded: references are plain counters.
 */
#ifndef MF_AUDIO_FILE_H
#define MF_AUDIO_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"

#define AUDIO_RATE 8000 /* every struct audio is at this rate, mono */

struct audio;

/*
 * Decode the file at path. Refuses (VP_E_INVALID_PARAMETER, e says why) a file that
 * libsndfile cannot read, that is empty, or that decodes to more than max_secs seconds;
 * VP_E_NOT_FOUND when it cannot be opened. *ap has one reference (the caller's).
 * Blocking file I/O and CPU: call it where that is acceptable (see audio_cache.h).
 */
int audio_file_load(const char *path, unsigned max_secs, struct audio **ap, struct vp_error *e);
/*
 * Mono float samples in [-1, 1] at rate -> a new struct audio at AUDIO_RATE (one
 * reference). Exposed for tests; VP_E_INVALID_PARAMETER when n is 0 or rate is 0.
 */
int audio_from_float(const float *in, size_t n, unsigned rate, struct audio **ap);

const int16_t *audio_samples(const struct audio *a, size_t *n);
/* Bytes held (for the cache's bound). */
size_t audio_bytes(const struct audio *a);
void audio_ref(struct audio *a);
/* Drop a reference; the last one frees. NULL is ignored. */
void audio_unref(struct audio *a);

#endif
