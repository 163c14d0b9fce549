/* Live transcription of legs; see transcribe.h. */
#include "transcribe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asr.h"
#include "leg.h"
#include "leg_ids.h"
#include "leg_tap.h"
#include "vad.h"
#include "voepy/alloc.h"
#include "voepy/log.h"

#define RATE         8000
#define PHRASE_MS    15000                              /* longest phrase: vad's max_phrase_ms */
#define PHRASE_CAP   (RATE * (PHRASE_MS + 1500) / 1000) /* + preroll and hangover */
#define BUFS         2                                  /* per track */
#define TRACK_IN     0
#define TRACK_OUT    1
#define ID_MAX_BYTES LEG_ID_MAX

struct session;

/* One phrase buffer: heard into by the VAD's copy, recognised on a worker. */
struct phrase {
    struct session *s;
    int track;
    bool busy; /* queued or recognising */
    int16_t *pcm;
    size_t n;
    uint64_t start_ms, end_ms, buf_start_ms;
    uv_work_t work;
    struct asr_result res; /* set by the worker */
    int err;
    struct vp_error e;
};

struct track {
    bool on;
    struct vad *vad;
    struct phrase buf[BUFS];
    unsigned dropped;
};

struct session {
    struct session *next;
    struct transcribe *t;
    struct leg *leg; /* NULL once the leg has closed */
    struct leg_tap *tap;
    const struct asr_engine *engine;
    const struct asr_model *model; /* of the session's language; t->models owns it */
    char leg_id[LEG_ID_MAX], call_id[LEG_ID_MAX], id[ID_MAX_BYTES], reply_to[STREAM_MAX];
    const char *reason; /* why it ended; NULL while running */
    struct track tracks[2];
    uint64_t frames;     /* 20 ms periods heard */
    uint64_t started_ms; /* wall clock (Unix ms) at the start */
    unsigned pending;    /* phrases on workers */
};

struct transcribe {
    uv_loop_t *loop;
    char node[128];
    const struct asr_engine *fast, *accurate;
    struct asr_models *models; /* freed last: recognitions on workers read them */
    int threshold;
    transcribe_reply_cb *reply;
    void *reply_arg;
    struct session *sessions; /* running */
    struct session *ending;   /* ended, waiting for their recognitions */
    bool closing, close_done; /* close_done: transcribe_close has done its part */
    void (*closed)(void *arg);
    void *closed_arg;
};

static const char *const track_names[2] = {"inbound", "outbound"};

int transcribe_create(struct transcribe **tp, uv_loop_t *loop, const struct transcribe_opts *o,
                      char *why, size_t whylen)
{
    const struct asr_engine *acc = asr_engine_find(o->accurate_engine);
    struct asr_models *models = NULL;
    if (!acc) {
        snprintf(why, whylen, "VOEPY_ASR_ACCURATE_ENGINE must be empty or pocketsphinx");
        return VP_E_INVALID_PARAMETER;
    }
    int err = asr_models_create(&models, o->models, o->model_dir, why, whylen);
    if (err)
        return err;
    struct transcribe *t = VP_NEW(t);
    t->loop = loop;
    snprintf(t->node, sizeof(t->node), "%s", o->node ? o->node : "");
    t->fast = &asr_pocketsphinx_engine;
    t->accurate = acc;
    t->models = models;
    t->threshold = o->threshold_dbfs;
    *tp = t;
    return 0;
}

const char *transcribe_languages(const struct transcribe *t)
{
    return asr_models_languages(t->models);
}

void transcribe_on_reply(struct transcribe *t, transcribe_reply_cb *reply, void *arg)
{
    t->reply = reply;
    t->reply_arg = arg;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- replies ------------------------------------------------------------------------------ */

static json_t *reply_base(const struct session *s, const char *op)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", op, "leg_id", s->leg_id, "call_id",
                     s->call_id, "media_node", s->t->node, "transcription_id", s->id);
}

static void send_json(struct session *s, json_t *o)
{
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s->t->closing || !s->t->reply || !s->reply_to[0]) {
        free(body);
        return;
    }
    s->t->reply(s->t->reply_arg, s->reply_to, body);
}

/* started: the session runs, with the model of this language (call-control's cue that
 * the action is done). */
static void send_started(struct session *s)
{
    json_t *o = reply_base(s, "transcription_started");
    json_object_set_new(o, "language", json_string(s->model->language));
    json_object_set_new(o, "engine", json_string(s->engine->name));
    send_json(s, o);
}

char *transcribe_failed_reply(const char *leg_id, const char *call_id, const char *node,
                              const char *transcription_id, const char *error, const char *detail)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "op", "media.failed", "leg_id", leg_id,
                  "call_id", call_id, "media_node", node, "request", "transcription_start",
                  "transcription_id", transcription_id, "error", error);
    if (detail && detail[0])
        json_object_set_new(o, "detail", json_string(detail));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return body;
}

static json_t *words_json(const struct asr_result *r, uint64_t offset)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nwords; i++)
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "word", r->words[i].word, "start_ms",
                                           (json_int_t)(offset + r->words[i].start_ms), "end_ms",
                                           (json_int_t)(offset + r->words[i].end_ms)));
    return a;
}

/* Times are from the session's start; the engine's word times from the buffer's. */
static void send_chunk(struct session *s, const struct phrase *p)
{
    uint64_t offset = p->buf_start_ms;
    json_t *o = reply_base(s, "transcript_chunk");
    json_object_set_new(o, "track", json_string(track_names[p->track]));
    json_object_set_new(o, "text", json_string(p->res.text));
    json_object_set_new(o, "is_final", json_true());
    json_object_set_new(o, "confidence", json_real(p->res.confidence));
    json_object_set_new(o, "start_ms", json_integer((json_int_t)p->start_ms));
    json_object_set_new(o, "end_ms", json_integer((json_int_t)p->end_ms));
    json_object_set_new(o, "session_started_ms", json_integer((json_int_t)s->started_ms));
    json_object_set_new(o, "words", words_json(&p->res, offset));
    send_json(s, o);
}

/* ---- ending ------------------------------------------------------------------------------- */

static void session_free(struct session *s)
{
    for (int k = 0; k < 2; k++) {
        vad_destroy(s->tracks[k].vad);
        for (int b = 0; b < BUFS; b++)
            free(s->tracks[k].buf[b].pcm);
    }
    free(s);
}

static void unlink_from(struct session **list, struct session *s)
{
    for (struct session **pp = list; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

static void maybe_free_all(struct transcribe *t)
{
    if (!t->close_done || t->sessions || t->ending)
        return;
    void (*closed)(void *) = t->closed;
    void *arg = t->closed_arg;
    asr_pocketsphinx_engine.shutdown();
    if (t->accurate != &asr_pocketsphinx_engine)
        t->accurate->shutdown();
    asr_models_destroy(t->models); /* no decoder refers to them any more */
    free(t);
    if (closed)
        closed(arg);
}

/* An ended session whose recognitions have all answered: tell, free. */
static void maybe_finish(struct session *s)
{
    if (!s->reason || s->pending)
        return;
    struct transcribe *t = s->t;
    json_t *o = reply_base(s, "transcription_ended");
    json_object_set_new(o, "audio_ms", json_integer((json_int_t)(s->frames * 20)));
    json_object_set_new(o, "reason", json_string(s->reason));
    send_json(s, o);
    log_info("media.transcription_ended", "leg %s: %llu ms transcribed (%s)", s->leg_id,
             (unsigned long long)(s->frames * 20), s->reason);
    unlink_from(&t->ending, s);
    session_free(s);
    maybe_free_all(t);
}

/* ---- recognising -------------------------------------------------------------------------- */

static void work_cb(uv_work_t *w)
{
    struct phrase *p = w->data;
    p->err = p->s->engine->recognize(p->s->model, p->pcm, p->n, RATE, &p->res, &p->e);
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct phrase *p = w->data;
    struct session *s = p->s;
    if (status == 0 && p->err)
        vlog_kv(VLOG_WARN, "media.asr_failed", p->e.message, "leg_id", s->leg_id, NULL);
    else if (status == 0 && p->res.text && p->res.text[0])
        send_chunk(s, p);
    asr_result_free(&p->res);
    p->busy = false;
    s->pending--;
    maybe_finish(s);
}

/* Copy a finished phrase into a free buffer and queue it (dropped when none is free). */
static void submit(struct session *s, int k, const struct vad_phrase *vp)
{
    struct track *tr = &s->tracks[k];
    struct phrase *p = !tr->buf[0].busy ? &tr->buf[0] : !tr->buf[1].busy ? &tr->buf[1] : NULL;
    if (!p || s->t->closing) {
        if (!p && ++tr->dropped % 10 == 1)
            log_warn("media.phrase_dropped", "leg %s: recognition is behind, a phrase is dropped",
                     s->leg_id);
        return;
    }
    p->n = vp->n < PHRASE_CAP ? vp->n : PHRASE_CAP;
    memcpy(p->pcm, vp->samples, p->n * sizeof(int16_t));
    p->start_ms = vp->start_ms;
    p->end_ms = vp->end_ms;
    p->buf_start_ms = vp->buf_start_ms;
    p->busy = true;
    p->err = 0;
    p->work.data = p;
    s->pending++;
    if (uv_queue_work(s->t->loop, &p->work, work_cb, after_work_cb))
        abort(); /* only refused for a NULL work_cb */
}

/* ---- the tap ------------------------------------------------------------------------------ */

static void frame_cb(void *arg, const struct leg_tap_frame *f)
{
    struct session *s = arg;
    const int16_t *pcm[2] = {f->in, f->out};
    s->frames++;
    for (int k = 0; k < 2; k++) {
        struct vad_phrase vp;
        if (s->tracks[k].on && vad_feed(s->tracks[k].vad, pcm[k], f->samples, &vp))
            submit(s, k, &vp);
    }
}

/* Stop hearing: the phrases in progress are recognised, then transcription_ended. */
static void session_end(struct session *s, const char *reason)
{
    struct transcribe *t = s->t;
    if (s->tap && s->leg)
        leg_tap_remove(s->leg, s->tap);
    s->tap = NULL;
    s->leg = NULL;
    s->reason = reason;
    for (int k = 0; k < 2; k++) {
        struct vad_phrase vp;
        if (s->tracks[k].on && vad_flush(s->tracks[k].vad, &vp))
            submit(s, k, &vp);
    }
    unlink_from(&t->sessions, s);
    s->next = t->ending;
    t->ending = s;
    maybe_finish(s);
}

static void closed_cb(void *arg)
{
    struct session *s = arg;
    s->tap = NULL; /* gone with the leg */
    session_end(s, "released");
}

static const struct leg_tap_ops tap_ops = {.frame = frame_cb, .closed = closed_cb};

/* ---- starting and stopping ---------------------------------------------------------------- */

static struct session *find(struct transcribe *t, const char *leg_id)
{
    for (struct session *s = t->sessions; s; s = s->next)
        if (strcmp(s->leg_id, leg_id) == 0)
            return s;
    return NULL;
}

static int parse_tracks(const char *tracks, bool on[2], struct vp_error *e)
{
    const char *v = tracks && tracks[0] ? tracks : "inbound";
    on[TRACK_IN] = strcmp(v, "inbound") == 0 || strcmp(v, "both") == 0;
    on[TRACK_OUT] = strcmp(v, "outbound") == 0 || strcmp(v, "both") == 0;
    if (!on[TRACK_IN] && !on[TRACK_OUT])
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "tracks",
                            "tracks must be inbound, outbound or both");
    return 0;
}

static const struct asr_engine *pick_engine(const struct transcribe *t, const char *engine)
{
    if (!engine || !engine[0] || strcmp(engine, "fast") == 0)
        return t->fast;
    return strcmp(engine, "accurate") == 0 ? t->accurate : NULL;
}

static struct session *session_new(struct transcribe *t, struct leg *l, const char *id,
                                   const bool on[2])
{
    struct session *s = VP_NEW(s);
    s->t = t;
    s->leg = l;
    snprintf(s->leg_id, sizeof(s->leg_id), "%s", leg_id(l));
    snprintf(s->call_id, sizeof(s->call_id), "%s", leg_call_id(l));
    snprintf(s->id, sizeof(s->id), "%s", id ? id : "");
    struct vad_opts vo = {.rate = RATE, .threshold_dbfs = t->threshold, .max_phrase_ms = PHRASE_MS};
    for (int k = 0; k < 2; k++) {
        s->tracks[k].on = on[k];
        if (!on[k])
            continue;
        vad_create(&s->tracks[k].vad, &vo);
        for (int b = 0; b < BUFS; b++) {
            s->tracks[k].buf[b].s = s;
            s->tracks[k].buf[b].track = k;
            s->tracks[k].buf[b].pcm = vp_malloc(PHRASE_CAP * sizeof(int16_t));
        }
    }
    s->started_ms = wall_ms();
    return s;
}

/* The model serving language ("" or NULL: the API's default, en-US); NULL with e set. */
static const struct asr_model *pick_model(const struct transcribe *t, const char *language,
                                          struct vp_error *e)
{
    const char *want = language && language[0] ? language : "en-US";
    const struct asr_model *m = asr_models_pick(t->models, want);
    if (!m)
        vp_error_set(e, VP_E_INVALID_PARAMETER, "language",
                     "no transcription model for language %.40s on this node (it has %.150s)", want,
                     asr_models_languages(t->models));
    return m;
}

int transcribe_start(struct transcribe *t, struct leg *l, const char *id, const char *engine,
                     const char *language, const char *tracks, const char *reply_to,
                     struct vp_error *e)
{
    bool on[2];
    const struct asr_engine *eng = pick_engine(t, engine);
    if (!eng)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "engine", "engine must be fast or accurate");
    const struct asr_model *model = pick_model(t, language, e);
    if (!model)
        return VP_E_INVALID_PARAMETER;
    int err = parse_tracks(tracks, on, e);
    if (err)
        return err;
    struct session *old = find(t, leg_id(l));
    if (old && id && id[0] && strcmp(old->id, id) == 0) {
        send_started(old); /* redelivered: its first answer may be what was lost */
        return 0;
    }
    if (old)
        session_end(old, "replaced");
    struct session *s = session_new(t, l, id, on);
    s->engine = eng;
    s->model = model;
    snprintf(s->reply_to, sizeof(s->reply_to), "%s",
             reply_to && reply_to[0] ? reply_to : leg_reply_to(l));
    s->tap = leg_tap_add(l, &tap_ops, s);
    s->next = t->sessions;
    t->sessions = s;
    log_info("media.transcription_started", "leg %s: %s, %s, %s", s->leg_id, eng->name,
             model->language, tracks && tracks[0] ? tracks : "inbound");
    send_started(s);
    return 0;
}

bool transcribe_stop(struct transcribe *t, const char *leg_id, const char *id)
{
    struct session *s = find(t, leg_id);
    if (!s || (id && id[0] && strcmp(s->id, id) != 0))
        return false;
    session_end(s, "stopped");
    return true;
}

unsigned transcribe_count(const struct transcribe *t)
{
    unsigned n = 0;
    for (const struct session *s = t->sessions; s; s = s->next)
        n++;
    return n;
}

void transcribe_close(struct transcribe *t, void (*closed)(void *arg), void *arg)
{
    t->closing = true; /* nothing is sent or queued from now on */
    t->closed = closed;
    t->closed_arg = arg;
    while (t->sessions)
        session_end(t->sessions, "closing");
    for (struct session *s = t->ending; s; s = s->next)
        for (int k = 0; k < 2; k++)
            for (int b = 0; b < BUFS; b++)
                if (s->tracks[k].buf[b].busy)
                    uv_cancel((uv_req_t *)&s->tracks[k].buf[b].work);
    t->close_done = true;
    maybe_free_all(t);
}
