/*
 * asr.h - speech recognition engines for transcription (transcribe.c): one finished
 * phrase of audio in, its text, confidence and word timings out; and the models they
 * load, one per language (asr_models.c).
 *
 * recognize() runs on libuv's worker threads, several at a time: an engine keeps what it
 * loads slowly (pocketsphinx's models) in a pool of decoders per model, created on first
 * use and reused. shutdown() frees them once no recognize() runs.
 *
 * Engines: "pocketsphinx" (asr_pocketsphinx.c, local; the `fast` engine, and `accurate`'s
 * fallback while no other is configured: VOEPY_ASR_ACCURATE_ENGINE). Both take the model
 * of the session's language from the same map.
 */
#ifndef MF_ASR_H
#define MF_ASR_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"
#include "voepy/lang.h"

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

/* One language's model: the files a pocketsphinx decoder loads. Owned by its asr_models. */
struct asr_model {
    char language[LANG_TAG_MAX]; /* as configured: en-US */
    char *hmm;                   /* acoustic model directory (-hmm) */
    char *lm;                    /* language model file (-lm) */
    char *dict;                  /* pronunciation dictionary (-dict) */
};

struct asr_engine {
    const char *name;
    /* Worker thread: pcm is n samples at rate Hz, heard with model m (which outlives the
     * call). 0, or VP_E_INTERNAL with e filled. */
    int (*recognize)(const struct asr_model *m, const int16_t *pcm, size_t n, unsigned rate,
                     struct asr_result *r, struct vp_error *e);
    /* Free pooled decoders (of every model); no recognize() may run. */
    void (*shutdown)(void);
};

extern const struct asr_engine asr_pocketsphinx_engine;

/* The engine called name ("" or NULL: pocketsphinx); NULL when none has that name. */
const struct asr_engine *asr_engine_find(const char *name);
void asr_result_free(struct asr_result *r);

/* ---- asr_models.c: the models a node has, by language ---- */

struct asr_models;

/*
 * The models of spec (VOEPY_ASR_MODELS): comma-separated "TAG=HMM" or "TAG=HMM:LM:DICT"
 * entries. HMM alone means Debian's layout: LM is HMM.lm.bin and DICT is cmudict-NAME.dict
 * beside it (NAME: HMM's last component), as in
 * en-US=/usr/share/pocketsphinx/model/en-us/en-us. en_us_dir (VOEPY_ASR_MODEL_DIR: a
 * directory laid out as Debian's en-us, holding en-us/, en-us.lm.bin and
 * cmudict-en-us.dict) is the en-US model when spec names no en-US; when both are empty
 * en-US is Debian's /usr/share/pocketsphinx/model/en-us. Every file must exist (checked
 * here, loaded later, on first use). 0, or VP_E_INVALID_PARAMETER with why filled.
 */
int asr_models_create(struct asr_models **mp, const char *spec, const char *en_us_dir, char *why,
                      size_t whylen);
/* The model serving language (lang.h: same tag, else same primary subtag); NULL: none. */
const struct asr_model *asr_models_pick(const struct asr_models *m, const char *language);
/* The languages, comma-separated in configuration order ("en-US,es-ES"); lives with m. */
const char *asr_models_languages(const struct asr_models *m);
/* Free m; no recognition may be using its models any more. NULL is fine. */
void asr_models_destroy(struct asr_models *m);

#endif
