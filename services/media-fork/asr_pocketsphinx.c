/*
 * The pocketsphinx engine of asr.h (Debian's 0.8+5prealpha). Its models are trained on
 * 16 kHz audio, so telephone audio (8 kHz) is upsampled with libsamplerate first
 * (LIBRARY-NOTES). Decoders are slow to create (a model and its dictionary load in about
 * a second, and hold tens of MB) and not thread-safe: a decoder serves one recognition at
 * a time, and free ones wait in their model's pool (mutex-guarded lists) for the next, so
 * each worker thread that recognises a language ends up with a decoder of it and keeps
 * reusing it. A model is loaded only when a session of its language has a phrase; at
 * most one decoder per worker thread exists over all models, and a language that needs
 * room frees an idle decoder of the least recently used other language. pocketsphinx.h
 * stays in this file only (its int64 clashes with spandsp.h).
 */
#include <pocketsphinx.h>
#include <pthread.h>
#include <samplerate.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr.h"
#include "voepy/alloc.h"

#define PS_RATE 16000

struct decoder {
    struct decoder *next;
    const struct asr_model *model;
    ps_decoder_t *ps;
    cmd_ln_t *config;
};

/* The idle decoders of one model; pools live until shutdown. */
struct pool {
    struct pool *next;
    const struct asr_model *model;
    struct decoder *idle;
    uint64_t used; /* the tick of its last take: the least recently used gives room */
};

/* All guarded by lock. live counts decoders in existence (idle, busy or being created). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pools;
static unsigned live, max_live;
static uint64_t ticks;

/* At most one decoder per worker thread over all models: memory stays that of
 * UV_THREADPOOL_SIZE (libuv's default 4) decoders however many languages are configured. */
static unsigned decoders_cap(void)
{
    const char *v = getenv("UV_THREADPOOL_SIZE");
    long n = v ? strtol(v, NULL, 10) : 0;
    return n > 0 && n <= 1024 ? (unsigned)n : 4;
}

static void decoder_free(struct decoder *d)
{
    if (!d)
        return;
    ps_free(d->ps);
    cmd_ln_free_r(d->config);
    free(d);
}

static struct decoder *decoder_new(const struct asr_model *m)
{
    cmd_ln_t *config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", m->hmm, "-lm", m->lm, "-dict",
                                   m->dict, "-logfn", "/dev/null", "-samprate", "16000", NULL);
    if (!config)
        return NULL;
    ps_decoder_t *ps = ps_init(config);
    if (!ps) {
        cmd_ln_free_r(config);
        return NULL;
    }
    struct decoder *d = VP_NEW(d);
    d->model = m;
    d->ps = ps;
    d->config = config;
    return d;
}

/* Lock held: m's pool, made on first use. */
static struct pool *pool_of(const struct asr_model *m)
{
    struct pool *p = pools;
    while (p && p->model != m)
        p = p->next;
    if (!p) {
        p = VP_NEW(p);
        p->model = m;
        p->next = pools;
        pools = p;
    }
    return p;
}

/* Lock held: take an idle decoder of the least recently used other pool (NULL: none). */
static struct decoder *evict(const struct pool *keep)
{
    struct pool *lru = NULL;
    for (struct pool *p = pools; p; p = p->next)
        if (p != keep && p->idle && (!lru || p->used < lru->used))
            lru = p;
    struct decoder *d = lru ? lru->idle : NULL;
    if (d) {
        lru->idle = d->next;
        live--;
    }
    return d;
}

/* An idle decoder of model m, else a new one (after freeing another model's idle one
 * when the cap is reached); NULL when m cannot be loaded. */
static struct decoder *decoder_take(const struct asr_model *m)
{
    struct decoder *gone = NULL;
    pthread_mutex_lock(&lock);
    if (!max_live)
        max_live = decoders_cap();
    struct pool *p = pool_of(m);
    p->used = ++ticks;
    struct decoder *d = p->idle;
    if (d) {
        p->idle = d->next;
    } else {
        if (live >= max_live)
            gone = evict(p);
        live++; /* the one created below */
    }
    pthread_mutex_unlock(&lock);
    decoder_free(gone); /* slow (a model's memory): outside the lock */
    if (d)
        return d;
    if (!(d = decoder_new(m))) {
        pthread_mutex_lock(&lock);
        live--;
        pthread_mutex_unlock(&lock);
    }
    return d;
}

static void decoder_give(struct decoder *d)
{
    pthread_mutex_lock(&lock);
    struct pool *p = pool_of(d->model);
    d->next = p->idle;
    p->idle = d;
    pthread_mutex_unlock(&lock);
}

/* pcm (n at rate) -> a new buffer of *out samples at PS_RATE. */
static int16_t *upsample(const int16_t *pcm, size_t n, unsigned rate, size_t *out)
{
    double ratio = (double)PS_RATE / rate;
    size_t cap = (size_t)((double)n * ratio) + 16;
    float *in = vp_malloc(n * sizeof(float)), *res = vp_malloc(cap * sizeof(float));
    src_short_to_float_array(pcm, in, (int)n);
    SRC_DATA d = {.data_in = in,
                  .data_out = res,
                  .input_frames = (long)n,
                  .output_frames = (long)cap,
                  .src_ratio = ratio};
    int16_t *o = NULL;
    *out = 0;
    if (src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1) == 0) {
        *out = (size_t)d.output_frames_gen;
        o = vp_malloc((*out ? *out : 1) * sizeof(int16_t));
        src_float_to_short_array(res, o, (int)*out);
    }
    free(in);
    free(res);
    return o;
}

/* Whether a segment is a real word (not silence, noise or a sentence mark). */
static bool is_word(const char *w)
{
    return w && w[0] && w[0] != '<' && w[0] != '[' && strncmp(w, "++", 2) != 0;
}

static void add_word(struct asr_result *r, const char *w, int sf, int ef, int frate)
{
    struct asr_word *x = &r->words[r->nwords++];
    size_t len = strcspn(w, "("); /* "read(2)": an alternative pronunciation of "read" */
    if (len >= sizeof(x->word))
        len = sizeof(x->word) - 1;
    memcpy(x->word, w, len);
    x->word[len] = '\0';
    x->start_ms = (uint32_t)(sf * 1000 / frate);
    x->end_ms = (uint32_t)((ef + 1) * 1000 / frate);
}

static void collect(ps_decoder_t *ps, int frate, struct asr_result *r)
{
    size_t cap = 16;
    r->words = vp_calloc(cap, sizeof(*r->words));
    for (ps_seg_t *s = ps_seg_iter(ps); s; s = ps_seg_next(s)) {
        const char *w = ps_seg_word(s);
        int sf, ef;
        if (!is_word(w))
            continue;
        if (r->nwords == cap) {
            cap *= 2;
            r->words = vp_realloc(r->words, cap * sizeof(*r->words));
        }
        ps_seg_frames(s, &sf, &ef);
        add_word(r, w, sf, ef, frate);
    }
    int32 score;
    const char *hyp = ps_get_hyp(ps, &score);
    r->text = vp_strdup(hyp ? hyp : "");
    r->confidence = logmath_exp(ps_get_logmath(ps), ps_get_prob(ps));
    if (r->confidence < 0 || r->confidence > 1)
        r->confidence = 0;
}

static int recognize(const struct asr_model *model, const int16_t *pcm, size_t n, unsigned rate,
                     struct asr_result *r, struct vp_error *e)
{
    memset(r, 0, sizeof(*r));
    size_t m;
    int16_t *up = upsample(pcm, n, rate, &m);
    if (!up)
        return vp_error_set(e, VP_E_INTERNAL, "audio", "the audio cannot be resampled");
    struct decoder *d = decoder_take(model);
    if (!d) {
        free(up);
        return vp_error_set(e, VP_E_INTERNAL, "engine", "pocketsphinx cannot load the %s model",
                            model->language);
    }
    int err = 0;
    if (ps_start_utt(d->ps) < 0 || ps_process_raw(d->ps, up, m, FALSE, TRUE) < 0 ||
        ps_end_utt(d->ps) < 0)
        err = vp_error_set(e, VP_E_INTERNAL, "engine", "pocketsphinx could not decode");
    else
        collect(d->ps, cmd_ln_int32_r(d->config, "-frate"), r);
    decoder_give(d);
    free(up);
    return err;
}

static void shutdown_engine(void)
{
    pthread_mutex_lock(&lock);
    while (pools) {
        struct pool *p = pools;
        pools = p->next;
        while (p->idle) {
            struct decoder *d = p->idle;
            p->idle = d->next;
            decoder_free(d);
            live--;
        }
        free(p);
    }
    pthread_mutex_unlock(&lock);
}

const struct asr_engine asr_pocketsphinx_engine = {
    .name = "pocketsphinx",
    .recognize = recognize,
    .shutdown = shutdown_engine,
};

const struct asr_engine *asr_engine_find(const char *name)
{
    if (!name || !name[0] || strcmp(name, asr_pocketsphinx_engine.name) == 0)
        return &asr_pocketsphinx_engine;
    return NULL;
}

void asr_result_free(struct asr_result *r)
{
    free(r->text);
    free(r->words);
    memset(r, 0, sizeof(*r));
}
