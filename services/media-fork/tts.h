/*
 * tts.h - text to speech for `speak` and spoken gather prompts: text rendered by an
 * engine into a struct audio (8 kHz mono, audio_file.h), off the loop, cached.
 *
 * The engine is chosen by name at creation (VOEPY_TTS_ENGINE): "espeak" (tts_espeak.c,
 * the default and the only one today). A cloud engine is added by implementing
 * struct tts_engine and listing it in tts.c; nothing else changes.
 *
 * Voices: the API's voice names (Polly.Joanna, alice, man, en-us, ...) are mapped to the
 * engine's own voices by the engine (tts_voice_known). The gateway refuses unknown voices
 * with 422 from the same list kept in proto/sql/0027_speech.sql (tts_voices): the two are
 * kept equal by hand (test_tts checks the C side).
 *
 * Renders run on libuv's thread pool; an engine that is not thread-safe (espeak-ng)
 * serializes its own renders. Finished renders are kept in the audio cache under
 * "tts:<voice>|<language>|<text>" for AUDIO_URL_TTL_MS, so the same prompt twice is
 * rendered once. Concurrent requests for the same render share one job.
 */
#ifndef MF_TTS_H
#define MF_TTS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "audio_load.h" /* audio_load_cb, AUDIO_LOAD_PENDING */
#include "voepy/err.h"

struct audio;
struct audio_cache;
struct tts;

#define TTS_TEXT_MAX  12288 /* bytes of UTF-8 text (the API allows 3000 characters) */
#define TTS_VOICE_MAX 64
#define TTS_LANG_MAX  40 /* the API allows 35 characters */

/* An engine: render() runs on a worker thread; the others anywhere. */
struct tts_engine {
    const char *name;
    /* Whether voice (an API voice name) is one this engine speaks. */
    bool (*voice_known)(const char *voice);
    /*
     * Render text in voice/language (language may be "": the voice's own) into *ap (one
     * reference, AUDIO_RATE). 0, or VP_E_INVALID_PARAMETER (unknown voice, nothing to
     * say) / VP_E_INTERNAL with e filled.
     */
    int (*render)(const char *voice, const char *language, const char *text, struct audio **ap,
                  struct vp_error *e);
    /* Free what the engine holds (tts_shutdown). May be NULL. */
    void (*shutdown)(void);
};

extern const struct tts_engine tts_espeak_engine; /* tts_espeak.c */

/* The engine called name ("" or NULL: espeak), or NULL when there is none by that name. */
const struct tts_engine *tts_engine_find(const char *name);

/* cache must outlive t. VP_E_INVALID_PARAMETER when engine names no engine. */
int tts_create(struct tts **tp, uv_loop_t *loop, struct audio_cache *cache, const char *engine);

/*
 * The audio of text spoken in voice/language: 0 with *ap (a reference) when cached;
 * AUDIO_LOAD_PENDING when cb(arg) will run once with it (on the loop, never inside this
 * call); or a negative VP_E_* with e filled (unknown voice, empty text, closing) and cb
 * never runs. Loop thread only.
 */
int tts_get(struct tts *t, const char *voice, const char *language, const char *text,
            struct audio **ap, struct vp_error *e, audio_load_cb *cb, void *arg);
/* Whether the engine of t speaks voice. */
bool tts_voice_known(const struct tts *t, const char *voice);

/*
 * Renders still queued are cancelled (callbacks get VP_E_CANCELED), one running finishes
 * first; then t is freed and closed(arg) runs (may be NULL).
 */
void tts_close(struct tts *t, void (*closed)(void *arg), void *arg);

/*
 * Free what the engines hold, once, at the end of the process (after the loop: no
 * render running). espeak-ng cannot be started again after it (its Terminate deadlocks
 * on a second Initialize/Terminate cycle), so tts_close() does not do this.
 */
void tts_shutdown(void);

#endif
