/*
 * The espeak-ng engine of tts.h. espeak-ng keeps global state and is not thread-safe
 * (LIBRARY-NOTES): every call into it holds one mutex, so renders from libuv's worker
 * threads run one at a time. It is initialised on the first render (loading its data
 * takes a while and needs no loop) in AUDIO_OUTPUT_SYNCHRONOUS mode: espeak_Synth()
 * returns when the whole text is rendered, handing the samples (22,050 Hz) to
 * synth_cb, which appends them to the render in progress; audio_from_float() then
 * resamples to 8 kHz with libsamplerate.
 *
 * Voices: the API's names map to espeak voice + variant through `voices` below. Keep it
 * equal to tts_voices in proto/sql/0027_speech.sql (the gateway's 422 for unknown ones).
 */
#include <ctype.h>
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_file.h"
#include "tts.h"
#include "voepy/alloc.h"

#define RATE_WPM 150 /* a little slower than espeak's 175: clearer on a phone line */

/*
 * "man" uses espeak's Klatt synthesiser (+klatt2): on 8 kHz audio pocketsphinx's en-us
 * model recognises it far better than espeak's default formant voice (measured: "i need
 * help with my order to be" vs "you really are" for the same sentences).
 */

struct voice_map {
    const char *api;     /* the API's name */
    const char *espeak;  /* espeak voice name */
    const char *variant; /* "+f3" etc., "" none */
    bool by_language;    /* a generic voice: the request's language picks the espeak voice */
};

static const struct voice_map voices[] = {
    {"Polly.Joanna", "en-us", "+f3", false},
    {"Polly.Salli", "en-us", "+f2", false},
    {"Polly.Kendra", "en-us", "+f4", false},
    {"Polly.Kimberly", "en-us", "+f1", false},
    {"Polly.Ivy", "en-us", "+f5", false},
    {"Polly.Matthew", "en-us", "", false},
    {"Polly.Joey", "en-us", "+m3", false},
    {"Polly.Justin", "en-us", "+m2", false},
    {"Polly.Amy", "en", "+f3", false},
    {"Polly.Emma", "en", "+f2", false},
    {"Polly.Brian", "en", "+m3", false},
    {"alice", "en-us", "+f2", true},
    {"woman", "en-us", "+f3", true},
    {"man", "en-us", "+klatt2", true},
    {"en", "en", "", false},
    {"en-us", "en-us", "", false},
    {"en-gb", "en", "", false},
    {"de", "de", "", false},
    {"fr", "fr", "", false},
    {"es", "es", "", false},
    {"it", "it", "", false},
    {"nl", "nl", "", false},
    {"pt", "pt", "", false},
    {"sv", "sv", "", false},
    {NULL, NULL, NULL, false},
};

/* Languages a generic voice may take (lowercased API language -> espeak voice). */
static const char *const languages[][2] = {
    {"en-us", "en-us"}, {"en-gb", "en"}, {"en-au", "en"}, {"en", "en-us"},
    {"de", "de"},       {"fr", "fr"},    {"es", "es"},    {"it", "it"},
    {"nl", "nl"},       {"pt", "pt"},    {"sv", "sv"},    {NULL, NULL},
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sample_rate; /* > 0 once initialised; guarded by lock */

/* The render in progress (guarded by lock: one at a time). */
static struct {
    float *samples;
    size_t n, cap;
} cur;

static const struct voice_map *voice_find(const char *voice)
{
    for (const struct voice_map *v = voices; voice && v->api; v++)
        if (strcmp(v->api, voice) == 0)
            return v;
    return NULL;
}

static bool voice_known(const char *voice)
{
    return voice_find(voice) != NULL;
}

/* The espeak voice for a generic voice in language ("en-US", "de-DE", ...); NULL: its own. */
static const char *language_voice(const char *language)
{
    char low[TTS_LANG_MAX] = "";
    for (size_t i = 0; language[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)language[i]);
    for (int i = 0; languages[i][0]; i++)
        if (strcmp(low, languages[i][0]) == 0)
            return languages[i][1];
    for (int i = 0; languages[i][0]; i++) /* "de-de" -> "de" */
        if (strlen(languages[i][0]) == 2 && strncmp(low, languages[i][0], 2) == 0)
            return languages[i][1];
    return NULL;
}

static int synth_cb(short *wav, int n, espeak_EVENT *events)
{
    (void)events;
    if (!wav || n <= 0)
        return 0;
    if (cur.n + (size_t)n > cur.cap) {
        cur.cap = (cur.n + (size_t)n) * 2;
        cur.samples = vp_realloc(cur.samples, cur.cap * sizeof(float));
    }
    for (int i = 0; i < n; i++)
        cur.samples[cur.n++] = (float)wav[i] / 32768.0f;
    return 0; /* continue */
}

/* With lock held. */
static int init_locked(struct vp_error *e)
{
    if (sample_rate > 0)
        return 0;
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
    if (rate <= 0)
        return vp_error_set(e, VP_E_INTERNAL, "voice", "espeak-ng cannot start (its data?)");
    espeak_SetSynthCallback(synth_cb);
    sample_rate = rate;
    return 0;
}

/* With lock held: render text with the espeak voice name into cur. */
static int synth_locked(const char *name, const char *text, struct vp_error *e)
{
    if (espeak_SetVoiceByName(name) != EE_OK)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "voice", "espeak-ng has no voice %s", name);
    espeak_SetParameter(espeakRATE, RATE_WPM, 0);
    cur.n = 0;
    if (espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL) !=
        EE_OK)
        return vp_error_set(e, VP_E_INTERNAL, "text", "espeak-ng could not render the text");
    return cur.n ? 0 : vp_error_set(e, VP_E_INVALID_PARAMETER, "text", "nothing to say");
}

static int render(const char *voice, const char *language, const char *text, struct audio **ap,
                  struct vp_error *e)
{
    const struct voice_map *v = voice_find(voice);
    if (!v)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "voice", "unknown voice %s", voice);
    const char *base = v->by_language && language ? language_voice(language) : NULL;
    char name[64];
    snprintf(name, sizeof(name), "%s%s", base ? base : v->espeak, v->variant);
    pthread_mutex_lock(&lock);
    int err = init_locked(e);
    if (!err)
        err = synth_locked(name, text, e);
    if (!err && audio_from_float(cur.samples, cur.n, (unsigned)sample_rate, ap))
        err = vp_error_set(e, VP_E_INTERNAL, "text", "the speech cannot be resampled");
    free(cur.samples);
    cur.samples = NULL;
    cur.n = cur.cap = 0;
    pthread_mutex_unlock(&lock);
    return err;
}

static void shutdown_engine(void)
{
    pthread_mutex_lock(&lock);
    if (sample_rate > 0)
        espeak_Terminate();
    sample_rate = 0;
    pthread_mutex_unlock(&lock);
}

const struct tts_engine tts_espeak_engine = {
    .name = "espeak",
    .voice_known = voice_known,
    .render = render,
    .shutdown = shutdown_engine,
};
