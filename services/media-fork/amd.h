/*
 * amd.h - answering-machine detection on the far end's audio of an answered leg.
 *
 * Fed one 20 ms frame at a time (8 kHz linear, from a leg tap), it tells a person from a
 * machine by how they start talking, the way telephony detectors have long done:
 *
 *   - a person answers with a short greeting ("Hello?") and then waits: speech shorter
 *     than greeting_ms followed by after_greeting_silence_ms of silence -> human;
 *   - a machine talks on: speech running past greeting_ms, or max_words words before
 *     such a pause -> machine;
 *   - no word (a voiced run of min_word_ms) in the first initial_silence_ms -> unknown;
 *     still undecided at total_analysis_ms -> machine (it is talking, or pausing between
 *     words, after that long).
 *
 * After a machine decision the detector listens for the beep that invites a message: a
 * steady tone between 350 and 2100 Hz (a bank of spandsp Goertzel filters; a frame is
 * tonal when one filter holds most of its energy) lasting beep_min_ms. The detection
 * completes at the beep, after beep_silence_ms of silence with no beep (a greeting that
 * ended without one), or at beep_wait_ms from the start. Human and unknown complete at
 * once. Tonal frames never count as speech.
 *
 * Pure computation: no I/O, no clock but the frames; the tests drive it with synthetic
 * audio. Not thread-safe; one detector per leg.
 */
#ifndef MF_AMD_H
#define MF_AMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct amd_params {
    unsigned initial_silence_ms;        /* 2500 */
    unsigned greeting_ms;               /* 1500 */
    unsigned after_greeting_silence_ms; /* 800 */
    unsigned total_analysis_ms;         /* 5000 */
    unsigned min_word_ms;               /* 100: shorter voiced runs are noise */
    unsigned between_words_ms;          /* 50: a pause this long ends a word */
    unsigned max_words;                 /* 4 */
    unsigned beep_min_ms;               /* 120 */
    unsigned beep_silence_ms;           /* 4000 */
    unsigned beep_wait_ms;              /* 20000 */
    int speech_dbfs;                    /* -40: frames louder than this are voiced */
};

enum amd_result { AMD_PENDING, AMD_HUMAN, AMD_MACHINE, AMD_UNKNOWN };

struct amd;

/* The defaults above. */
void amd_params_default(struct amd_params *p);
/* A detector with p (NULL: the defaults). Never fails (allocation aborts). */
struct amd *amd_create(const struct amd_params *p);
void amd_destroy(struct amd *a);
/*
 * One frame of n samples (n <= 480; 160 is 20 ms at 8 kHz). Returns true once the
 * detection is complete; later frames change nothing.
 */
bool amd_feed(struct amd *a, const int16_t *pcm, size_t n);
/* Whether it is complete, the result (AMD_PENDING before), whether a beep was heard. */
bool amd_done(const struct amd *a);
enum amd_result amd_result(const struct amd *a);
bool amd_beep(const struct amd *a);
/* What it would say if the audio stopped now: machine once decided so, else unknown. */
enum amd_result amd_provisional(const struct amd *a);
/* Milliseconds of audio fed so far. */
unsigned amd_elapsed_ms(const struct amd *a);
/* "human" | "machine" | "unknown" | "pending" */
const char *amd_result_name(enum amd_result r);

#endif
