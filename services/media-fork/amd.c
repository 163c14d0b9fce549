/* Answering-machine detection: see amd.h for the rules. */
#include "amd.h"

#include <math.h>
#include <spandsp.h>
#include <stdlib.h>

#include "voepy/alloc.h"

#define RATE         8000
#define MAX_FRAME    480
#define TONE_LOW_HZ  350
#define TONE_HIGH_HZ 2100
#define TONE_STEP_HZ 25 /* half a 50 Hz bin of a 160-sample block: no tone falls between */
#define TONE_BINS    ((TONE_HIGH_HZ - TONE_LOW_HZ) / TONE_STEP_HZ + 1)
#define TONE_SHARE   0.6 /* of the frame's energy in one filter: a tone, not speech */
#define TONE_DBFS    -35 /* a beep is loud */

enum phase {
    WAIT_SPEECH, /* nothing said yet */
    IN_WORD,     /* talking */
    IN_GAP,      /* a pause after a word: more words, or the end of a short greeting */
    WAIT_BEEP,   /* machine decided: listening for the beep */
    DONE,
};

struct amd {
    struct amd_params p;
    enum phase phase;
    enum amd_result result;
    bool beep;
    unsigned t;           /* ms fed */
    unsigned voiced_run;  /* ms of consecutive voiced frames */
    unsigned silent_run;  /* ms of consecutive unvoiced frames */
    unsigned greeting_at; /* ms at which the first word began */
    unsigned words;
    unsigned tone_run; /* ms of consecutive tonal frames at one frequency */
    int tone_bin;      /* the frequency of that run, -1 none */
    goertzel_descriptor_t bins[TONE_BINS];
    size_t bins_n; /* block length the descriptors were made for */
};

void amd_params_default(struct amd_params *p)
{
    *p = (struct amd_params){.initial_silence_ms = 2500,
                             .greeting_ms = 1500,
                             .after_greeting_silence_ms = 800,
                             .total_analysis_ms = 5000,
                             .min_word_ms = 100,
                             .between_words_ms = 50,
                             .max_words = 4,
                             .beep_min_ms = 120,
                             .beep_silence_ms = 4000,
                             .beep_wait_ms = 20000,
                             .speech_dbfs = -40};
}

struct amd *amd_create(const struct amd_params *p)
{
    struct amd *a = VP_NEW(a);
    if (p)
        a->p = *p;
    else
        amd_params_default(&a->p);
    a->tone_bin = -1;
    return a;
}

void amd_destroy(struct amd *a)
{
    free(a);
}

static double energy(const int16_t *pcm, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += (double)pcm[i] * pcm[i];
    return e;
}

/* Mean power relative to a full-scale sine, in dB (digital silence: -200). */
static double dbfs(double e, size_t n)
{
    double mean = e / (double)n;
    return mean > 0 ? 10.0 * log10(mean / (32768.0 * 32768.0 / 2.0)) : -200.0;
}

/* The filter holding most of the frame's energy, when it holds TONE_SHARE of it; else -1. */
static int tone_bin(struct amd *a, const int16_t *pcm, size_t n, double e)
{
    if (a->bins_n != n) {
        for (int i = 0; i < TONE_BINS; i++)
            make_goertzel_descriptor(&a->bins[i], (float)(TONE_LOW_HZ + i * TONE_STEP_HZ), (int)n);
        a->bins_n = n;
    }
    int best = -1;
    double best_power = 0;
    for (int i = 0; i < TONE_BINS; i++) {
        goertzel_state_t s;
        goertzel_init(&s, &a->bins[i]);
        goertzel_update(&s, pcm, (int)n);
        double power = goertzel_result(&s);
        if (power > best_power) {
            best_power = power;
            best = i;
        }
    }
    /* A pure tone at a filter's centre gives n * energy (amd.h). */
    return best >= 0 && best_power >= TONE_SHARE * (double)n * e ? best : -1;
}

static void finish(struct amd *a, enum amd_result r)
{
    a->result = r;
    a->phase = DONE;
}

static void decide_machine(struct amd *a)
{
    a->result = AMD_MACHINE;
    a->phase = WAIT_BEEP;
    a->silent_run = 0;
}

/* Track tonal frames; true once a steady tone has lasted beep_min_ms. */
static bool beep_heard(struct amd *a, int bin, unsigned ms)
{
    if (bin < 0) {
        a->tone_run = 0;
        a->tone_bin = -1;
        return false;
    }
    if (a->tone_bin >= 0 && abs(bin - a->tone_bin) <= 1)
        a->tone_run += ms;
    else
        a->tone_run = ms;
    a->tone_bin = bin;
    return a->tone_run >= a->p.beep_min_ms;
}

static void on_voiced(struct amd *a, unsigned ms)
{
    a->voiced_run += ms;
    a->silent_run = 0;
    if (a->voiced_run < a->p.min_word_ms)
        return;
    if (a->phase == WAIT_SPEECH) {
        a->phase = IN_WORD;
        a->greeting_at = a->t - a->voiced_run;
        a->words = 1;
    } else if (a->phase == IN_GAP) {
        a->phase = IN_WORD;
        if (++a->words >= a->p.max_words)
            decide_machine(a);
    }
}

static void on_silent(struct amd *a, unsigned ms)
{
    a->voiced_run = 0;
    a->silent_run += ms;
    if (a->phase == IN_WORD && a->silent_run >= a->p.between_words_ms)
        a->phase = IN_GAP;
    else if (a->phase == IN_GAP && a->silent_run >= a->p.after_greeting_silence_ms)
        finish(a, AMD_HUMAN);
}

/* The speech phases: one frame, voiced or not. */
static void analyse(struct amd *a, bool voiced, unsigned ms)
{
    if (voiced)
        on_voiced(a, ms);
    else
        on_silent(a, ms);
    if (a->phase != IN_WORD && a->phase != IN_GAP)
        return;
    if (a->t - a->greeting_at >= a->p.greeting_ms && a->phase == IN_WORD)
        decide_machine(a); /* talking on past a person's greeting */
    else if (a->t >= a->p.total_analysis_ms)
        decide_machine(a);
}

bool amd_feed(struct amd *a, const int16_t *pcm, size_t n)
{
    if (a->phase == DONE || n == 0 || n > MAX_FRAME)
        return a->phase == DONE;
    unsigned ms = (unsigned)(n * 1000 / RATE);
    a->t += ms;
    double e = energy(pcm, n);
    double level = dbfs(e, n);
    int bin = level > TONE_DBFS ? tone_bin(a, pcm, n, e) : -1;
    bool tone = bin >= 0;
    bool beep = beep_heard(a, bin, ms);
    bool voiced = level > a->p.speech_dbfs && !tone;
    if (a->phase == WAIT_BEEP) {
        a->silent_run = voiced || tone ? 0 : a->silent_run + ms;
        if (beep) {
            a->beep = true;
            finish(a, AMD_MACHINE);
        } else if (a->silent_run >= a->p.beep_silence_ms || a->t >= a->p.beep_wait_ms) {
            finish(a, AMD_MACHINE);
        }
        return a->phase == DONE;
    }
    if (!tone)
        analyse(a, voiced, ms);
    if (a->phase == WAIT_SPEECH && a->t >= a->p.initial_silence_ms)
        finish(a, AMD_UNKNOWN); /* clicks and tones do not hold it open */
    return a->phase == DONE;
}

bool amd_done(const struct amd *a)
{
    return a->phase == DONE;
}

enum amd_result amd_result(const struct amd *a)
{
    return a->phase == DONE ? a->result : AMD_PENDING;
}

enum amd_result amd_provisional(const struct amd *a)
{
    return a->result == AMD_PENDING ? AMD_UNKNOWN : a->result;
}

bool amd_beep(const struct amd *a)
{
    return a->beep;
}

unsigned amd_elapsed_ms(const struct amd *a)
{
    return a->t;
}

const char *amd_result_name(enum amd_result r)
{
    switch (r) {
    case AMD_HUMAN:
        return "human";
    case AMD_MACHINE:
        return "machine";
    case AMD_UNKNOWN:
        return "unknown";
    case AMD_PENDING:
        break;
    }
    return "pending";
}
