/* Text to speech off the loop, cached; see tts.h. */
#include "tts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_cache.h"
#include "audio_file.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "waiters.h"

/* One render, shared by everyone who asked for it meanwhile; freed by finish(). */
struct job {
    struct job *next;
    struct tts *t;
    char *key; /* the cache key: "tts:<voice>|<language>|<text>" */
    char voice[TTS_VOICE_MAX], language[TTS_LANG_MAX];
    char *text;
    uv_work_t work;
    struct audio *result;   /* set by the worker */
    struct vp_error err;    /* set by the worker */
    struct waiters waiters; /* told by finish() */
};

struct tts {
    uv_loop_t *loop;
    struct audio_cache *cache;
    const struct tts_engine *engine;
    struct job *jobs;
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

const struct tts_engine *tts_engine_find(const char *name)
{
    if (!name || !name[0] || strcmp(name, tts_espeak_engine.name) == 0)
        return &tts_espeak_engine;
    return NULL;
}

int tts_create(struct tts **tp, uv_loop_t *loop, struct audio_cache *cache, const char *engine)
{
    const struct tts_engine *eng = tts_engine_find(engine);
    if (!eng)
        return VP_E_INVALID_PARAMETER;
    struct tts *t = VP_NEW(t);
    t->loop = loop;
    t->cache = cache;
    t->engine = eng;
    *tp = t;
    return 0;
}

bool tts_voice_known(const struct tts *t, const char *voice)
{
    return t->engine->voice_known(voice);
}

static void maybe_free(struct tts *t)
{
    if (!t->closing || t->jobs)
        return;
    void (*closed)(void *) = t->closed;
    void *arg = t->closed_arg;
    free(t);
    if (closed)
        closed(arg);
}

/* Tell every waiter (a: success, a reference each; else e), free the job. */
static void finish(struct job *j, struct audio *a, const struct vp_error *e)
{
    struct tts *t = j->t;
    for (struct job **pp = &t->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    if (e && e->err != VP_E_CANCELED)
        vlog_kv(VLOG_WARN, "media.tts_failed", e->message, "voice", j->voice, NULL);
    waiters_tell(&j->waiters, a, e);
    audio_unref(a);
    free(j->text);
    free(j->key);
    free(j);
    maybe_free(t);
}

/* Worker thread: only the job's own fields. */
static void work_cb(uv_work_t *w)
{
    struct job *j = w->data;
    j->t->engine->render(j->voice, j->language, j->text, &j->result, &j->err);
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct job *j = w->data;
    if (status == UV_ECANCELED) {
        struct vp_error e = {0};
        vp_error_set(&e, VP_E_CANCELED, "text", "closing");
        finish(j, NULL, &e);
        return;
    }
    if (!j->result) {
        finish(j, NULL, &j->err);
        return;
    }
    audio_cache_put_url(j->t->cache, j->key, j->result, uv_now(j->t->loop));
    log_debug("media.tts_rendered", "rendered %zu bytes of text in %s", strlen(j->text), j->voice);
    finish(j, j->result, NULL);
}

static struct job *find_job(struct tts *t, const char *key)
{
    for (struct job *j = t->jobs; j; j = j->next)
        if (strcmp(j->key, key) == 0)
            return j;
    return NULL;
}

static char *make_key(const char *voice, const char *language, const char *text)
{
    size_t n = strlen(voice) + strlen(language) + strlen(text) + 8;
    char *key = vp_malloc(n);
    snprintf(key, n, "tts:%s|%s|%s", voice, language, text);
    return key;
}

static struct job *start_job(struct tts *t, char *key, const char *voice, const char *language,
                             const char *text)
{
    struct job *j = VP_NEW(j);
    j->t = t;
    j->key = key;
    snprintf(j->voice, sizeof(j->voice), "%s", voice);
    snprintf(j->language, sizeof(j->language), "%s", language);
    j->text = vp_strdup(text);
    j->work.data = j;
    j->next = t->jobs;
    t->jobs = j;
    if (uv_queue_work(t->loop, &j->work, work_cb, after_work_cb))
        abort(); /* only refused for a NULL work_cb */
    return j;
}

static int check(const struct tts *t, const char *voice, const char *language, const char *text,
                 struct vp_error *e)
{
    if (t->closing)
        return vp_error_set(e, VP_E_CANCELED, "text", "closing");
    if (!text || !text[0] || strlen(text) >= TTS_TEXT_MAX)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "text", "the text is empty or too long");
    if (!voice || strlen(voice) >= TTS_VOICE_MAX || !t->engine->voice_known(voice))
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "voice", "unknown voice %s",
                            voice ? voice : "(none)");
    if (language && strlen(language) >= TTS_LANG_MAX)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "language", "the language is too long");
    return 0;
}

int tts_get(struct tts *t, const char *voice, const char *language, const char *text,
            struct audio **ap, struct vp_error *e, audio_load_cb *cb, void *arg)
{
    *ap = NULL;
    if (!language)
        language = "";
    int err = check(t, voice, language, text, e);
    if (err)
        return err;
    char *key = make_key(voice, language, text);
    *ap = audio_cache_find_url(t->cache, key, uv_now(t->loop));
    if (*ap) {
        free(key);
        return 0;
    }
    struct job *j = find_job(t, key);
    if (j)
        free(key);
    else
        j = start_job(t, key, voice, language, text);
    waiters_add(&j->waiters, cb, arg);
    return AUDIO_LOAD_PENDING;
}

void tts_shutdown(void)
{
    tts_espeak_engine.shutdown();
}

void tts_close(struct tts *t, void (*closed)(void *arg), void *arg)
{
    t->closing = true;
    t->closed = closed;
    t->closed_arg = arg;
    for (struct job *j = t->jobs; j; j = j->next)
        uv_cancel((uv_req_t *)&j->work); /* fails once the worker has started */
    maybe_free(t);
}
