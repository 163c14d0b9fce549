/*
 * asr.h - speech recognition engines for transcription (transcribe.c): one finished
 * phrase of audio in, its text, confidence and word timings out.
 *
 * recognize() runs on libuv's worker threads, several at a time: an engine keeps what it
 * loads slowly (pocketsphinx's models) in a pool of decoders, one per thread using it,
 * created on first use and reused. shutdown() frees them once no recognize() runs.
 *
 * Engines: "pocketsphinx" (asr_pocketsphinx.c, local; the `fast` engine, and `accurate`'s
 * fallback while no other is configured: VOEPY_ASR_ACCURATE_ENGINE).
 */
#ifndef MF_ASR_H
#define MF_ASR_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"

#define ASR_WORD_MAX 48

struct asr_word {
    char word[ASR_WORD_MAX];
    uint32_t start_ms, end_ms; /* from the phrase's first sample */
};

/* What recognize() found; free with asr_result_free(). text "" when nothing was heard. */
struct asr_result {
    char *text;
    double confidence; /* 0..1 */
    struct asr_word *words;
    size_t nwords;
};

struct asr_engine {
    const char *name;
    /* Worker thread: pcm is n samples at rate Hz. 0, or VP_E_INTERNAL with e filled. */
    int (*recognize)(const int16_t *pcm, size_t n, unsigned rate, struct asr_result *r,
                     struct vp_error *e);
    /* Free pooled decoders; no recognize() may run. */
    void (*shutdown)(void);
};

extern const struct asr_engine asr_pocketsphinx_engine;

/* The engine called name ("" or NULL: pocketsphinx); NULL when none has that name. */
const struct asr_engine *asr_engine_find(const char *name);
/* Where pocketsphinx finds its model ("" or NULL: /usr/share/pocketsphinx/model/en-us). Call
 * before the first recognition. */
void asr_pocketsphinx_set_model(const char *dir);
void asr_result_free(struct asr_result *r);

#endif
