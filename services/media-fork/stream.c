/*
 * WebSocket media streams (stream.h): their life, the tap that feeds them, the bounded
 * queue of frames. The libwebsockets side is stream_ws.c.
 *
 * Freeing: a stream is never freed inside a callback that may still use it (its tap's,
 * the URL check's, libwebsockets'): once ended it is detached from everything and the
 * reaper timer frees it on the next loop iteration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leg.h"
#include "leg_tap.h"
#include "stream_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#define CLOSE_GRACE_SECS 3

static void reaper_cb(uv_timer_t *t);

/* Run the reaper soon (not once the streamer is closing: streamer_destroy reaps). */
static void kick_reaper(struct streamer *st)
{
    if (!st->closing)
        uv_timer_start(&st->reaper, reaper_cb, 0, 0);
}

static void set_detail(struct stream *s, const char *detail)
{
    snprintf(s->detail, sizeof(s->detail), "%s", detail ? detail : "");
}

static void report(struct stream *s, bool ended)
{
    struct streamer *st = s->st;
    struct stream_event ev = {.ended = ended,
                              .leg_id = s->leg_id,
                              .call_id = s->call_id,
                              .stream_id = s->p.stream_id,
                              .reason = ended ? s->reason : NULL,
                              .error = ended ? s->error : NULL,
                              .detail = ended && s->detail[0] ? s->detail : NULL,
                              .frames_sent = s->frames_sent,
                              .frames_dropped = s->frames_dropped,
                              .reply_to = s->reply_to};
    vlog_kv(ended && s->error ? VLOG_WARN : VLOG_INFO, ended ? "stream.ended" : "stream.started",
            ended ? s->reason : "streaming", "leg_id", s->leg_id, "stream_id", s->p.stream_id,
            "error", ev.error, "detail", ev.detail, NULL);
    if (st->cb)
        st->cb(&ev, st->cb_arg);
}

static void untap(struct stream *s)
{
    if (s->tap && s->leg)
        leg_tap_remove(s->leg, s->tap);
    s->tap = NULL;
    s->leg = NULL;
}

/* Report the end once; the memory goes with the reaper. */
static void end(struct stream *s)
{
    if (s->state == STREAM_ENDED)
        return;
    s->state = STREAM_ENDED;
    untap(s);
    if (s->check) {
        url_guard_cancel(s->check); /* its callback finds the stream ended */
    }
    stream__ws_detach(s);
    if (s->error)
        metric_inc(s->st->failed);
    report(s, true);
    kick_reaper(s->st);
}

void stream__closed(struct stream *s, const char *reason, const char *error, const char *detail)
{
    if (s->state == STREAM_ENDED)
        return;
    if (s->state != STREAM_CLOSING) { /* not asked for: the far side or the network */
        s->reason = reason;
        s->error = error;
        set_detail(s, detail);
    }
    s->wsi = NULL;
    end(s);
}

static void fail(struct stream *s, const char *error, const char *detail)
{
    if (s->state == STREAM_ENDED)
        return;
    s->reason = "failed";
    s->error = error;
    if (detail != s->detail)
        set_detail(s, detail);
    end(s);
}

/* ---- the queue ---- */

static struct stream_slot *slot(struct stream *s, unsigned i)
{
    return &s->q[(s->qhead + i) % STREAM_QUEUE_FRAMES];
}

/* Make room by dropping the oldest media frame (control frames ahead of it move up). */
static void drop_oldest(struct stream *s)
{
    unsigned j = 0;
    while (j < s->qlen && !slot(s, j)->media)
        j++;
    if (j == s->qlen)
        j = 0; /* only control frames: the oldest goes */
    for (unsigned k = j; k > 0; k--)
        *slot(s, k) = *slot(s, k - 1);
    s->qhead = (s->qhead + 1) % STREAM_QUEUE_FRAMES;
    s->qlen--;
    s->frames_dropped++;
    metric_inc(s->st->dropped);
}

/* The slot a new frame is written into (committed by push()). */
static struct stream_slot *tail(struct stream *s)
{
    if (s->qlen == STREAM_QUEUE_FRAMES)
        drop_oldest(s);
    return slot(s, s->qlen);
}

static void push(struct stream *s, struct stream_slot *q, int len, bool media)
{
    if (len < 0)
        return; /* cannot happen with STREAM_TEXT_MAX; nothing is queued */
    q->len = (size_t)len;
    q->media = media;
    s->qlen++;
    s->seq++;
    stream__ws_want_write(s);
}

struct stream_slot *stream__next(struct stream *s)
{
    return s->qlen ? slot(s, 0) : NULL;
}

void stream__sent(struct stream *s)
{
    if (!s->qlen)
        return;
    if (slot(s, 0)->media) {
        s->frames_sent++;
        metric_inc(s->st->sent);
    }
    s->qhead = (s->qhead + 1) % STREAM_QUEUE_FRAMES;
    s->qlen--;
}

static char *text(struct stream_slot *q)
{
    return (char *)q->buf + LWS_PRE;
}

/* ---- audio in (the tap) ---- */

static void send_track(struct stream *s, unsigned track, const int16_t *pcm)
{
    int i = track == STREAM_TRACK_OUTBOUND;
    int n = stream_enc_frame(s->enc[i], pcm, s->payload, sizeof(s->payload));
    if (n <= 0)
        return; /* the Opus resampler's first frame, or an encoder error */
    struct stream_slot *q = tail(s);
    uint64_t ts = s->ticks * 20;
    push(s, q,
         stream_frame_media(text(q), STREAM_TEXT_MAX, s->seq + 1, s->p.stream_id, track,
                            ++s->chunk[i], ts, s->payload, (size_t)n),
         true);
}

static void frame_cb(void *arg, const struct leg_tap_frame *f)
{
    struct stream *s = arg;
    if (s->state != STREAM_OPEN || f->rate != 8000 || f->samples != STREAM_FRAME_SAMPLES)
        return;
    if (s->p.tracks & STREAM_TRACK_INBOUND)
        send_track(s, STREAM_TRACK_INBOUND, f->in);
    if (s->p.tracks & STREAM_TRACK_OUTBOUND)
        send_track(s, STREAM_TRACK_OUTBOUND, f->out);
    s->ticks++;
}

static void digit_cb(void *arg, char digit)
{
    struct stream *s = arg;
    if (s->state != STREAM_OPEN || !(s->p.tracks & STREAM_TRACK_INBOUND))
        return;
    struct stream_slot *q = tail(s);
    push(s, q, stream_frame_dtmf(text(q), STREAM_TEXT_MAX, s->seq + 1, s->p.stream_id, digit),
         false);
}

static void stop(struct stream *s, const char *reason);

/* The leg is closing: the tap is gone after this returns. */
static void tap_closed_cb(void *arg)
{
    struct stream *s = arg;
    s->tap = NULL;
    s->leg = NULL;
    stop(s, "released");
}

static const struct leg_tap_ops tap_ops = {
    .frame = frame_cb, .digit = digit_cb, .closed = tap_closed_cb};

/* ---- audio back (bidirectional) ---- */

void stream__received(struct stream *s, const char *msg, size_t len)
{
    size_t n = 0;
    int kind = stream_frame_parse_in(msg, len, s->payload, sizeof(s->payload), &n);
    metric_inc(s->st->received);
    if (!s->p.bidirectional || !s->leg || s->state != STREAM_OPEN)
        return;
    if (kind == STREAM_IN_CLEAR) {
        leg_inject_clear(s->leg);
        return;
    }
    if (kind != STREAM_IN_MEDIA) {
        if (kind < 0)
            log_debug("stream.bad_frame", "stream %s: a client frame that is not ours",
                      s->p.stream_id);
        return;
    }
    int16_t pcm[STREAM_DECODE_MAX];
    int samples = stream_dec_payload(s->dec, s->payload, n, pcm, STREAM_DECODE_MAX);
    if (samples > 0)
        leg_inject_audio(s->leg, pcm, (size_t)samples);
}

/* ---- life ---- */

void stream__opened(struct stream *s)
{
    if (s->state != STREAM_CONNECTING)
        return;
    s->state = STREAM_OPEN;
    metric_inc(s->st->started);
    struct stream_slot *q = tail(s);
    q->len = (size_t)stream_frame_connected(text(q), STREAM_TEXT_MAX);
    q->media = false;
    s->qlen++; /* connected has no sequence number */
    q = tail(s);
    push(s, q,
         stream_frame_start(text(q), STREAM_TEXT_MAX, s->seq + 1, s->p.stream_id, s->call_id,
                            s->p.tracks, s->p.codec),
         false);
    report(s, false);
}

static void stop(struct stream *s, const char *reason)
{
    if (s->state == STREAM_ENDED || s->state == STREAM_CLOSING)
        return;
    s->reason = reason;
    untap(s);
    if (s->state != STREAM_OPEN) { /* nothing was streamed: no stop frame */
        end(s);
        return;
    }
    s->state = STREAM_CLOSING;
    struct stream_slot *q = tail(s);
    push(s, q, stream_frame_stop(text(q), STREAM_TEXT_MAX, s->seq + 1, s->p.stream_id), false);
    stream__ws_close_soon(s, CLOSE_GRACE_SECS);
}

static void checked_cb(const struct url_check_result *res, void *arg)
{
    struct stream *s = arg;
    s->check = NULL;
    if (s->state != STREAM_CHECKING) { /* stopped meanwhile: now it may be freed */
        kick_reaper(s->st);
        return;
    }
    if (res->status) {
        fail(s, res->status == VP_E_IO ? "connect_failed" : "stream_url_forbidden", res->reason);
        return;
    }
    s->state = STREAM_CONNECTING;
    if (stream__ws_connect(s, res->ip, res->target))
        fail(s, "connect_failed", s->detail[0] ? s->detail : "the connection could not start");
}

static int check_scheme(struct streamer *st, struct stream *s)
{
    struct url_guard_opts go = {.policy = st->opts.policy, .allow_ws = true};
    struct url_target t;
    if (url_guard_parse(s->p.url, &go, &t) || t.scheme[0] != 'w') { /* http(s) */
        set_detail(s, "stream_url is not a ws:// or wss:// URL");
        return VP_E_FORBIDDEN;
    }
    if (strcmp(t.scheme, "wss") != 0 && !(strcmp(t.scheme, "ws") == 0 && st->opts.allow_insecure)) {
        set_detail(s, "ws:// stream URLs are not allowed on this node (only wss://)");
        s->error = "stream_url_insecure";
        return VP_E_FORBIDDEN;
    }
    return 0;
}

static struct stream *find(struct streamer *st, const char *leg_id, const char *stream_id)
{
    for (struct stream *s = st->streams; s; s = s->next)
        if (s->state != STREAM_ENDED && strcmp(s->leg_id, leg_id) == 0 &&
            (!stream_id || !stream_id[0] || strcmp(s->p.stream_id, stream_id) == 0))
            return s;
    return NULL;
}

static struct stream *stream_new(struct streamer *st, struct leg *l, const struct stream_params *p,
                                 const char *reply_to)
{
    struct stream *s = VP_NEW(s);
    s->st = st;
    s->p = *p;
    snprintf(s->leg_id, sizeof(s->leg_id), "%s", leg_id(l));
    snprintf(s->call_id, sizeof(s->call_id), "%s", leg_call_id(l));
    snprintf(s->reply_to, sizeof(s->reply_to), "%s",
             reply_to && reply_to[0] ? reply_to : leg_reply_to(l));
    s->next = st->streams;
    st->streams = s;
    return s;
}

/* Encoders for the tracks, decoder for audio back; 0 or an error name. */
static const char *make_codecs(struct stream *s)
{
    for (int i = 0; i < 2; i++)
        if ((s->p.tracks & (i ? STREAM_TRACK_OUTBOUND : STREAM_TRACK_INBOUND)) &&
            stream_enc_create(&s->enc[i], s->p.codec))
            return "codec_unavailable";
    if (s->p.bidirectional && stream_dec_create(&s->dec, s->p.codec))
        return "codec_unavailable";
    return NULL;
}

void streamer_start(struct streamer *st, struct leg *l, const struct stream_params *p,
                    const char *reply_to)
{
    if (find(st, leg_id(l), p->stream_id))
        return; /* running already: a redelivered command */
    struct stream *s = stream_new(st, l, p, reply_to);
    s->state = STREAM_CHECKING;
    const char *err = st->closing ? "draining" : !st->lws ? "streaming_not_supported" : NULL;
    if (!err && check_scheme(st, s))
        err = s->error ? s->error : "stream_url_forbidden";
    if (!err)
        err = make_codecs(s);
    struct url_guard_opts go = {.policy = st->opts.policy, .allow_ws = true};
    if (!err && url_guard_check(st->loop, s->p.url, &go, checked_cb, s, &s->check))
        err = "connect_failed";
    if (err) { /* reported from the loop, as promised: the reaper fails it */
        s->error = err;
        s->fail_pending = true;
        kick_reaper(st);
        return;
    }
    s->leg = l;
    s->tap = leg_tap_add(l, &tap_ops, s);
}

unsigned streamer_stop(struct streamer *st, const char *leg_id, const char *stream_id)
{
    unsigned n = 0;
    for (struct stream *s = st->streams; s; s = s->next) {
        if (s->state == STREAM_ENDED || s->state == STREAM_CLOSING || strcmp(s->leg_id, leg_id))
            continue;
        if (stream_id && stream_id[0] && strcmp(s->p.stream_id, stream_id) != 0)
            continue;
        stop(s, "stopped");
        n++;
    }
    return n;
}

unsigned streamer_count(const struct streamer *st)
{
    unsigned n = 0;
    for (const struct stream *s = st->streams; s; s = s->next)
        n += s->state != STREAM_ENDED;
    return n;
}

/* ---- the streamer ---- */

/* Fail the streams that could not start; free the ended ones nothing refers to. */
static void reaper_cb(uv_timer_t *t)
{
    struct streamer *st = t->data;
    for (struct stream *s = st->streams; s; s = s->next) {
        if (s->fail_pending) {
            s->fail_pending = false;
            fail(s, s->error, s->detail[0] ? s->detail : NULL);
        }
    }
    for (struct stream **pp = &st->streams; *pp;) {
        struct stream *s = *pp;
        if (s->state != STREAM_ENDED || s->check) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        stream_enc_free(s->enc[0]);
        stream_enc_free(s->enc[1]);
        stream_dec_free(s->dec);
        free(s->rx);
        free(s);
    }
}

static void init_metrics(struct streamer *st)
{
    st->started = metrics_counter("voepy_mf_streams_started_total",
                                  "WebSocket media streams connected", NULL);
    st->failed =
        metrics_counter("voepy_mf_streams_failed_total",
                        "WebSocket media streams that failed (refused URL, connection)", NULL);
    st->sent = metrics_counter("voepy_mf_stream_frames_sent_total",
                               "media frames written to WebSocket streams", NULL);
    st->dropped = metrics_counter("voepy_mf_stream_frames_dropped_total",
                                  "media frames dropped because a stream's queue was full", NULL);
    st->received = metrics_counter("voepy_mf_stream_frames_received_total",
                                   "text frames received from WebSocket stream clients", NULL);
}

int streamer_create(struct streamer **sp, uv_loop_t *loop, const struct streamer_opts *o)
{
    struct streamer *st = VP_NEW(st);
    st->loop = loop;
    st->opts = *o;
    init_metrics(st);
    uv_timer_init(loop, &st->reaper);
    st->reaper.data = st;
    if (stream__ws_init(st))
        log_warn("stream.unsupported",
                 "libwebsockets cannot run on the loop (is libwebsockets-evlib-uv installed?): "
                 "streaming_start will fail");
    *sp = st;
    return 0;
}

void streamer_on_event(struct streamer *st, stream_event_cb *cb, void *arg)
{
    st->cb = cb;
    st->cb_arg = arg;
}

void streamer_close(struct streamer *st)
{
    st->closing = true;
    for (struct stream *s = st->streams; s; s = s->next) {
        if (s->state == STREAM_ENDED)
            continue;
        s->fail_pending = false;
        if (!s->reason)
            s->reason = "released";
        end(s); /* no stop frame: the node is going away */
    }
    uv_timer_stop(&st->reaper);
    stream__ws_close(st);
    uv_close((uv_handle_t *)&st->reaper, NULL);
}

void streamer_destroy(struct streamer *st)
{
    if (!st)
        return;
    st->cb = NULL;          /* nobody listens any more */
    reaper_cb(&st->reaper); /* the streams ended by streamer_close */
    stream__ws_destroy(st);
    free(st);
}
