/*
 * Recordings (recorder.h). Each recording is a tap on its leg plus a file being written
 * on the thread pool. Life of one:
 *
 *   RUNNING    the tap appends frames to the current chunk; full chunks queue for the
 *              worker, which writes one at a time (libsndfile handles are not shared);
 *   STOPPING   no more frames (stop, max_secs, the leg's release, close): the last partial
 *              chunk is queued; the queue is written out;
 *   FINISHING  one last work item closes the file and puts it into storage;
 *   then done() is called and the recording is freed (in the after-work callback of its
 *   last work: the uv_work_t is embedded).
 *
 * Only one work item per recording is ever queued, so the worker and the loop never touch
 * the same chunk: the loop hands a chunk over when it queues it and takes it back in the
 * after-work callback.
 */
#include "recorder.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_file.h"
#include "leg.h"
#include "leg_tap.h"
#include "voepy/alloc.h"
#include "voepy/log.h"

#define FRAME_SAMPLES 160 /* 20 ms at 8 kHz */
#define FRAMES_PER_S  50
#define CHUNK_FRAMES  FRAMES_PER_S

struct chunk {
    struct chunk *next;
    size_t frames;
    int16_t pcm[CHUNK_FRAMES * FRAME_SAMPLES * 2]; /* interleaved when dual */
};

enum rec_state { REC_RUNNING, REC_STOPPING, REC_FINISHING };

struct recording {
    struct recording *next;
    struct recorder *rec;
    enum rec_state state;
    struct leg *leg;     /* while the tap is attached */
    struct leg_tap *tap; /* NULL once detached (stopped, or the leg closed) */
    struct rec_params p;
    char leg_id[LEG_ID_MAX], call_id[LEG_ID_MAX], reply_to[STREAM_MAX];
    char key[STORAGE_KEY_MAX + 1];
    uint64_t frames, max_frames, dropped;
    struct chunk *cur;                /* being filled */
    struct chunk *queue, **queue_end; /* full, waiting for the worker */
    unsigned queued;
    struct chunk *spare; /* written, for reuse */
    /* The worker's side: set only by work callbacks while work is queued. */
    uv_work_t work;
    bool working;
    struct chunk *writing; /* the chunk handed to the worker */
    SNDFILE *sf;
    char tmp[STORAGE_PATH_MAX];
    bool opened;
    uint64_t size;
    struct vp_error err; /* err.err != 0: failed */
};

struct recorder {
    uv_loop_t *loop;
    struct storage *storage;
    struct recording *head;
    unsigned count;
    recorder_done_cb *done;
    void *done_arg;
    void (*drained)(void *arg);
    void *drained_arg;
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

static void pump(struct recording *g);

/* ---- formats ---- */

static int sf_format_of(enum rec_format f)
{
    return f == REC_MP3 ? SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III
                        : SF_FORMAT_WAV | SF_FORMAT_PCM_16;
}

bool recorder_format_supported(enum rec_format f, bool dual)
{
    SF_INFO info = {.samplerate = AUDIO_RATE, .channels = dual ? 2 : 1, .format = sf_format_of(f)};
    return sf_format_check(&info) != 0;
}

const char *recorder_format_ext(enum rec_format f)
{
    return f == REC_MP3 ? "mp3" : "wav";
}

/* ---- the worker side (no loop calls, no logging) ---- */

static void open_file(struct recording *g)
{
    struct storage *s = g->rec->storage;
    g->opened = true;
    if (storage_begin(s, g->key, g->tmp, sizeof(g->tmp), &g->err))
        return;
    SF_INFO info = {.samplerate = AUDIO_RATE,
                    .channels = g->p.dual ? 2 : 1,
                    .format = sf_format_of(g->p.format)};
    g->sf = sf_open(g->tmp, SFM_WRITE, &info);
    if (!g->sf) {
        vp_error_set(&g->err, VP_E_IO, "file", "cannot write %s: %s", g->tmp, sf_strerror(NULL));
        storage_abort(s, g->tmp);
        return;
    }
    if (g->p.format == REC_MP3) { /* after sf_open (LIBRARY-NOTES): constant bit rate */
        int mode = SF_BITRATE_MODE_CONSTANT;
        sf_command(g->sf, SFC_SET_BITRATE_MODE, &mode, sizeof(mode));
    }
}

static void write_work_cb(uv_work_t *w)
{
    struct recording *g = w->data;
    if (!g->opened)
        open_file(g);
    struct chunk *c = g->writing;
    if (!c || !g->sf || g->err.err)
        return;
    sf_count_t n = (sf_count_t)(c->frames * FRAME_SAMPLES);
    if (sf_writef_short(g->sf, c->pcm, n) != n)
        vp_error_set(&g->err, VP_E_IO, "file", "cannot write %s: %s", g->tmp, sf_strerror(g->sf));
}

static void finish_work_cb(uv_work_t *w)
{
    struct recording *g = w->data;
    struct storage *s = g->rec->storage;
    if (!g->opened)
        open_file(g); /* nothing recorded: still a valid, empty file */
    if (g->sf && sf_close(g->sf) != 0 && !g->err.err)
        vp_error_set(&g->err, VP_E_IO, "file", "cannot finish %s", g->tmp);
    g->sf = NULL;
    if (g->tmp[0] && !g->err.err)
        storage_put(s, g->key, g->tmp, &g->size, &g->err);
    if (g->tmp[0] && g->err.err)
        storage_abort(s, g->tmp);
}

/* ---- the loop side ---- */

static void unlink_recording(struct recorder *r, struct recording *g)
{
    for (struct recording **pp = &r->head; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    r->count--;
}

static void free_chunks(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* After the recorder lost its last recording: report drained / free when closing. */
static void recorder_check(struct recorder *r)
{
    if (r->count)
        return;
    if (r->drained) {
        void (*done)(void *) = r->drained;
        r->drained = NULL;
        done(r->drained_arg);
    }
    if (r->closing) {
        void (*closed)(void *) = r->closed;
        void *arg = r->closed_arg;
        free(r);
        if (closed)
            closed(arg);
    }
}

static void report(struct recording *g)
{
    struct recorder *r = g->rec;
    bool ok = g->err.err == 0;
    struct rec_result res = {
        .leg_id = g->leg_id,
        .call_id = g->call_id,
        .recording_id = g->p.recording_id,
        .reply_to = g->reply_to,
        .completed = ok,
        .error = ok ? NULL : "storage_error",
        .detail = ok ? NULL : g->err.message,
        .duration_ms = g->frames * 20,
        .size_bytes = ok ? g->size : 0,
        .storage_key = ok ? g->key : "",
    };
    vlog_kv(ok ? VLOG_INFO : VLOG_WARN, "media.recording_done", ok ? "completed" : g->err.message,
            "leg_id", g->leg_id, "recording_id", g->p.recording_id, "key", g->key, NULL);
    if (g->dropped)
        log_warn("media.recording_dropped", "recording %s lost %llu frames: the disk was slow",
                 g->p.recording_id, (unsigned long long)g->dropped);
    if (r->done)
        r->done(&res, r->done_arg);
}

static void finish_after_cb(uv_work_t *w, int status)
{
    struct recording *g = w->data;
    struct recorder *r = g->rec;
    if (status && !g->err.err)
        vp_error_set(&g->err, VP_E_CANCELED, "file", "the file work was canceled");
    report(g);
    unlink_recording(r, g);
    free_chunks(g->cur);
    free_chunks(g->queue);
    free_chunks(g->spare);
    free(g);
    recorder_check(r);
}

static void write_after_cb(uv_work_t *w, int status)
{
    struct recording *g = w->data;
    if (status && !g->err.err)
        vp_error_set(&g->err, VP_E_CANCELED, "file", "the file work was canceled");
    g->working = false;
    g->writing->next = g->spare; /* back for reuse */
    g->spare = g->writing;
    g->writing = NULL;
    pump(g);
}

/* Queue the next piece of file work, if any and none is queued. */
static void pump(struct recording *g)
{
    if (g->working || g->state == REC_FINISHING)
        return;
    g->work.data = g;
    if (g->queue) {
        g->writing = g->queue;
        g->queue = g->queue->next;
        if (!g->queue)
            g->queue_end = &g->queue;
        g->queued--;
        g->writing->next = NULL;
        g->working = true;
        if (uv_queue_work(g->rec->loop, &g->work, write_work_cb, write_after_cb) != 0)
            write_after_cb(&g->work, UV_ECANCELED); /* cannot happen with a live loop */
        return;
    }
    if (g->state == REC_STOPPING) {
        g->state = REC_FINISHING;
        if (uv_queue_work(g->rec->loop, &g->work, finish_work_cb, finish_after_cb) != 0)
            finish_after_cb(&g->work, UV_ECANCELED);
    }
}

static void enqueue(struct recording *g, struct chunk *c)
{
    c->next = NULL;
    *g->queue_end = c;
    g->queue_end = &c->next;
    g->queued++;
}

static struct chunk *chunk_take(struct recording *g)
{
    struct chunk *c = g->spare;
    if (c)
        g->spare = c->next;
    else
        c = vp_malloc(sizeof(*c)); /* the first seconds only (see recorder.h) */
    c->frames = 0;
    c->next = NULL;
    return c;
}

/* No more frames: detach from the leg, queue what is left, finish the file. */
static void stop(struct recording *g)
{
    if (g->state != REC_RUNNING)
        return;
    g->state = REC_STOPPING;
    if (g->tap)
        leg_tap_remove(g->leg, g->tap);
    g->tap = NULL;
    g->leg = NULL;
    if (g->cur && g->cur->frames)
        enqueue(g, g->cur);
    else
        free(g->cur);
    g->cur = NULL;
    pump(g);
}

static int16_t mix(int16_t a, int16_t b)
{
    int s = (int)a + (int)b;
    return (int16_t)(s > INT16_MAX ? INT16_MAX : s < INT16_MIN ? INT16_MIN : s);
}

static void append(struct recording *g, const struct leg_tap_frame *f)
{
    size_t n = f->samples < FRAME_SAMPLES ? f->samples : FRAME_SAMPLES;
    int16_t *dst = g->cur->pcm + g->cur->frames * FRAME_SAMPLES * (g->p.dual ? 2 : 1);
    for (size_t i = 0; i < FRAME_SAMPLES; i++) {
        int16_t in = i < n ? f->in[i] : 0, out = i < n ? f->out[i] : 0;
        if (g->p.dual) {
            dst[2 * i] = in;
            dst[2 * i + 1] = out;
        } else {
            dst[i] = mix(in, out);
        }
    }
    g->cur->frames++;
}

static void frame_cb(void *arg, const struct leg_tap_frame *f)
{
    struct recording *g = arg;
    if (!g->cur)
        g->cur = chunk_take(g);
    append(g, f);
    g->frames++;
    if (g->cur->frames == CHUNK_FRAMES) {
        if (g->queued < RECORDER_MAX_QUEUED) {
            enqueue(g, g->cur);
            g->cur = NULL;
            pump(g);
        } else { /* the disk is behind: drop this second rather than grow */
            g->dropped += g->cur->frames;
            g->frames -= g->cur->frames;
            g->cur->frames = 0;
        }
    }
    if (g->frames >= g->max_frames)
        stop(g); /* max_length: removing our own tap from frame() is allowed */
}

/* The leg is closing: the tap is gone after this returns. */
static void closed_cb(void *arg)
{
    struct recording *g = arg;
    g->tap = NULL;
    g->leg = NULL;
    stop(g);
}

static const struct leg_tap_ops TAP_OPS = {frame_cb, NULL, closed_cb};

/* ---- the API ---- */

int recorder_create(struct recorder **rp, uv_loop_t *loop, struct storage *s)
{
    struct recorder *r = VP_NEW(r);
    r->loop = loop;
    r->storage = s;
    *rp = r;
    return 0;
}

void recorder_on_done(struct recorder *r, recorder_done_cb *cb, void *arg)
{
    r->done = cb;
    r->done_arg = arg;
}

static struct recording *find(struct recorder *r, const char *leg_id, const char *id)
{
    for (struct recording *g = r->head; g; g = g->next)
        if (g->state == REC_RUNNING && strcmp(g->leg_id, leg_id) == 0 &&
            (!id || !id[0] || strcmp(g->p.recording_id, id) == 0))
            return g;
    return NULL;
}

static void play_beep(struct leg *l)
{
    struct audio *a = beep_audio();
    if (a)
        leg_play(l, a, 1, "", "");
}

int recorder_start(struct recorder *r, struct leg *l, const char *tenant_id,
                   const struct rec_params *p, const char *reply_to)
{
    if (r->closing)
        return VP_E_CANCELED;
    if (find(r, leg_id(l), p->recording_id) && p->recording_id[0])
        return 0; /* already running: a redelivered command */
    if (!recorder_format_supported(p->format, p->dual))
        return VP_E_NOT_IMPLEMENTED;
    struct recording *g = VP_NEW(g);
    int n = snprintf(g->key, sizeof(g->key), "%s/%s/%s.%s", tenant_id, leg_call_id(l),
                     p->recording_id, recorder_format_ext(p->format));
    if (n < 0 || (size_t)n >= sizeof(g->key) || storage_key_check(g->key)) {
        free(g);
        return VP_E_INVALID_PARAMETER;
    }
    g->rec = r;
    g->p = *p;
    g->leg = l;
    g->queue_end = &g->queue;
    unsigned secs =
        p->max_secs && p->max_secs < RECORDER_MAX_SECS ? p->max_secs : RECORDER_MAX_SECS;
    g->max_frames = (uint64_t)secs * FRAMES_PER_S;
    snprintf(g->leg_id, sizeof(g->leg_id), "%s", leg_id(l));
    snprintf(g->call_id, sizeof(g->call_id), "%s", leg_call_id(l));
    snprintf(g->reply_to, sizeof(g->reply_to), "%s",
             reply_to && reply_to[0] ? reply_to : leg_reply_to(l));
    g->next = r->head;
    r->head = g;
    r->count++;
    g->tap = leg_tap_add(l, &TAP_OPS, g);
    vlog_kv(VLOG_INFO, "media.recording_started", g->key, "leg_id", g->leg_id, "recording_id",
            p->recording_id, NULL);
    if (p->play_beep)
        play_beep(l);
    return 0;
}

unsigned recorder_stop(struct recorder *r, const char *leg_id, const char *recording_id)
{
    unsigned n = 0;
    struct recording *g;
    while ((g = find(r, leg_id, recording_id)) != NULL) {
        stop(g);
        n++;
    }
    return n;
}

unsigned recorder_count(const struct recorder *r)
{
    return r->count;
}

void recorder_drain(struct recorder *r, void (*done)(void *arg), void *arg)
{
    r->drained = done;
    r->drained_arg = arg;
    recorder_check(r);
}

void recorder_close(struct recorder *r, void (*closed)(void *arg), void *arg)
{
    r->closed = closed;
    r->closed_arg = arg;
    for (struct recording *g = r->head, *next; g; g = next) {
        next = g->next; /* stop() may free g if the work cannot be queued */
        stop(g);
    }
    r->closing = true;
    recorder_check(r);
}
