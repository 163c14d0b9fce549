/*
 * The media verbs on one leg: playback (play / stop_playback), digit collection (gather /
 * stop_gather: RFC 4733 events and in-band tones) and DTMF sending (send_dtmf). See
 * leg.h for the calls and leg_event.h for what they report.
 *
 * Per tick the send path asks leg__media_frame() first: a DTMF event packet wins, then
 * the playback's frame (encoded with the leg's codec); otherwise the leg's mode (echo or
 * silence) fills the tick. The receive path hands every valid packet to leg__media_rx():
 * telephone-events always (they are cheap), in-band detection only while a gather runs
 * and the far end has not sent RFC 4733 events (an endpoint that sends events usually
 * also leaves the tones in the audio; hearing both would double every digit). Digits the
 * far end sent by SIP INFO arrive as leg_digit_in() and take the RFC 4733 path from there.
 *
 * The state is allocated at the first verb and freed with the leg; nothing here
 * allocates per packet.
 */
#include <stdlib.h>
#include <string.h>

#include "audio_file.h"
#include "bridge.h"
#include "codec.h"
#include "dtmf_detect.h"
#include "dtmf_out.h"
#include "gather.h"
#include "leg_internal.h"
#include "play_queue.h"
#include "playback.h"
#include "rfc4733.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

struct leg_media {
    struct playback play;
    bool play_is_prompt; /* the playback is the running gather's prompt */
    char play_id[LEG_ID_MAX], play_reply_to[STREAM_MAX];
    struct play_queue queue; /* plays waiting behind the one playing (play_queue.h) */
    struct gather gather;
    char gather_id[LEG_ID_MAX], gather_reply_to[STREAM_MAX];
    struct dtmf_out tx;
    struct rfc4733_rx rx;
    bool events_seen;             /* RFC 4733 or SIP INFO digits: no in-band detection */
    struct dtmf_detect *inband;   /* while a gather runs */
    struct leg *leg;              /* for the detector's callback */
    int16_t pcm[FRAME_MAX_BYTES]; /* decode/encode scratch: up to 60 ms at 8 kHz */
    uint8_t enc[CODEC_PAYLOAD_MAX];
    uint8_t ev[RFC4733_PAYLOAD_LEN];
};

static struct leg_media *media(struct leg *l)
{
    if (!l->media) {
        l->media = VP_NEW(l->media);
        l->media->leg = l;
    }
    return l->media;
}

static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1; /* ids are checked by the command parser; never truncates there */
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static void emit(struct leg *l, struct leg_event *ev, const char *reply_to)
{
    ev->leg_id = l->id;
    ev->call_id = l->call_id;
    ev->reply_to = reply_to[0] ? reply_to : l->reply_to;
    if (l->ctx->leg_event)
        l->ctx->leg_event(l->ctx, ev);
}

/* ---- playback ------------------------------------------------------------------------ */

static void play_ended(struct leg *l, const char *reason)
{
    struct leg_media *m = l->media;
    bool prompt = m->play_is_prompt;
    m->play_is_prompt = false;
    if (prompt) {
        gather_prompt_done(&m->gather, uv_now(l->ctx->loop));
        return; /* a prompt ends silently: the gather reports */
    }
    metric_inc(strcmp(reason, "finished") == 0 ? l->ctx->metrics.play_finished
                                               : l->ctx->metrics.play_stopped);
    struct leg_event ev = {.type = LEG_EV_PLAYBACK_ENDED, .id = m->play_id, .reason = reason};
    emit(l, &ev, m->play_reply_to);
}

bool leg_stop_playback(struct leg *l)
{
    struct leg_media *m = l->media;
    if (!m || !playback_active(&m->play))
        return false;
    playback_stop(&m->play);
    play_ended(l, "stopped");
    return true;
}

void leg_play(struct leg *l, struct audio *a, unsigned loops, const char *play_id,
              const char *reply_to)
{
    struct leg_media *m = media(l);
    leg_stop_playback(l);
    playback_start(&m->play, a, loops);
    copy(m->play_id, sizeof(m->play_id), play_id);
    copy(m->play_reply_to, sizeof(m->play_reply_to), reply_to);
    leg_touch(l);
}

/* ---- the queue of plays (play_queue.h) ------------------------------------------------ */

/* A waiting play that ends without having started: "stopped" to its reply_to. */
static void dropped(struct leg *l, struct play_item *it)
{
    audio_unref(it->audio);
    metric_inc(l->ctx->metrics.play_stopped);
    struct leg_event ev = {.type = LEG_EV_PLAYBACK_ENDED, .id = it->id, .reason = "stopped"};
    emit(l, &ev, it->reply_to);
}

/* Start the first waiting play when nothing plays and its audio is there. */
static void start_next(struct leg *l)
{
    struct leg_media *m = l->media;
    const struct play_item *head = play_queue_head(&m->queue);
    struct play_item it;
    if (!head || !head->audio || playback_active(&m->play) || !play_queue_pop(&m->queue, &it))
        return;
    playback_start(&m->play, it.audio, it.loops);
    copy(m->play_id, sizeof(m->play_id), it.id);
    copy(m->play_reply_to, sizeof(m->play_reply_to), it.reply_to);
}

uint32_t leg_play_queue(struct leg *l, struct audio *a, unsigned loops, const char *play_id,
                        const char *reply_to)
{
    struct leg_media *m = media(l);
    leg_touch(l);
    uint32_t token = play_queue_push(&m->queue, a, loops, play_id, reply_to);
    if (token && m->play_is_prompt)
        leg_stop_playback(l); /* a gather's prompt ends (as before queues): the play goes */
    if (token)
        start_next(l);
    return token;
}

bool leg_play_ready(struct leg *l, uint32_t token, struct audio *a)
{
    struct leg_media *m = l->media;
    if (!m || !play_queue_ready(&m->queue, token, a))
        return false;
    if (!m->play_is_prompt)
        start_next(l);
    return true;
}

void leg_play_forget(struct leg *l, uint32_t token)
{
    struct play_item it;
    if (l->media && play_queue_take(&l->media->queue, token, &it))
        audio_unref(it.audio);
    if (l->media && !l->media->play_is_prompt)
        start_next(l); /* the next one may have been waiting behind it */
}

void leg_drop_plays(struct leg *l)
{
    struct play_item it;
    while (l->media && play_queue_pop(&l->media->queue, &it))
        dropped(l, &it);
}

bool leg_stop_playback_current(struct leg *l)
{
    struct play_item it;
    if (leg_stop_playback(l)) {
        if (!l->media->play_is_prompt)
            start_next(l);
        return true;
    }
    if (!l->media || !play_queue_pop(&l->media->queue, &it))
        return false;
    dropped(l, &it); /* the first one was still loading: it is the current one */
    start_next(l);
    return true;
}

bool leg_stop_playback_id(struct leg *l, const char *play_id)
{
    struct leg_media *m = l->media;
    if (!m || !play_id || !play_id[0])
        return false;
    if (playback_active(&m->play) && !m->play_is_prompt && strcmp(m->play_id, play_id) == 0)
        return leg_stop_playback(l); /* the next one starts at the next tick */
    for (unsigned i = 0; i < m->queue.count; i++) {
        const struct play_item *it = &m->queue.items[(m->queue.head + i) % PLAY_QUEUE_MAX];
        struct play_item taken;
        if (strcmp(it->id, play_id) == 0 && play_queue_take(&m->queue, it->token, &taken)) {
            dropped(l, &taken);
            return true;
        }
    }
    return false;
}

/* ---- gather -------------------------------------------------------------------------- */

static void gather_ended(struct leg *l)
{
    struct leg_media *m = l->media;
    /* The in-band detector may be the caller (a tone ended the gather): it is freed on
     * the next tick, never from inside its own callback. */
    if (m->play_is_prompt) { /* ended during its prompt (cancel, a terminator) */
        playback_stop(&m->play);
        m->play_is_prompt = false;
    }
    struct leg_event ev = {.type = LEG_EV_GATHER_COMPLETE,
                           .id = m->gather_id,
                           .status = gather_status_name(m->gather.status),
                           .digits = m->gather.digits};
    vlog_kv(VLOG_INFO, "media.gather_complete", ev.status, "leg_id", l->id, "gather_id",
            m->gather_id, NULL);
    metric_inc(l->ctx->metrics.gathers[m->gather.status]);
    emit(l, &ev, m->gather_reply_to);
}

static void on_digit(struct leg *l, char digit)
{
    struct leg_media *m = l->media;
    if (!gather_running(&m->gather))
        return;
    log_debug("media.digit", "leg %s heard %c", l->id, digit);
    if (m->play_is_prompt) { /* barge-in: a key press stops the prompt */
        m->play_is_prompt = false;
        playback_stop(&m->play);
    }
    if (gather_digit(&m->gather, digit, uv_now(l->ctx->loop)))
        gather_ended(l);
}

static void inband_digit_cb(void *arg, char digit)
{
    struct leg_media *m = arg;
    if (m->events_seen)
        return;
    metric_inc(m->leg->ctx->metrics.digits_inband);
    on_digit(m->leg, digit);
}

bool leg_stop_gather(struct leg *l, const char *gather_id)
{
    struct leg_media *m = l->media;
    if (!m || (gather_id && gather_id[0] && strcmp(gather_id, m->gather_id) != 0))
        return false;
    if (!gather_cancel(&m->gather))
        return false;
    gather_ended(l);
    return true;
}

void leg_gather(struct leg *l, const struct gather_params *p, const char *gather_id,
                struct audio *prompt, const char *reply_to)
{
    struct leg_media *m = media(l);
    leg_touch(l);
    bool same = gather_id && gather_id[0] && strcmp(gather_id, m->gather_id) == 0;
    if (same && (gather_running(&m->gather) || m->gather.state == GATHER_DONE)) {
        audio_unref(prompt);
        if (m->gather.state == GATHER_DONE)
            gather_ended(l); /* a redelivered command: the same answer again */
        return;
    }
    leg_stop_gather(l, NULL);
    if (prompt) {
        leg_stop_playback(l);
        leg_drop_plays(l); /* a prompt preempts the plays: all end stopped */
        playback_start(&m->play, prompt, 1);
        m->play_is_prompt = true;
    }
    copy(m->gather_id, sizeof(m->gather_id), gather_id);
    copy(m->gather_reply_to, sizeof(m->gather_reply_to), reply_to);
    gather_start(&m->gather, p, prompt != NULL, uv_now(l->ctx->loop));
    if (m->inband)
        dtmf_detect_reset(m->inband); /* no half-heard tone from before this gather */
    else if (!m->events_seen)
        dtmf_detect_create(&m->inband, inband_digit_cb, m);
}

/* ---- DTMF out ------------------------------------------------------------------------ */

int leg_send_dtmf(struct leg *l, const char *digits, unsigned duration_ms)
{
    leg_touch(l);
    return dtmf_out_queue(&media(l)->tx, digits, duration_ms);
}

/* The far end signals digits out of band: from now on its tones (which such endpoints
 * often leave in the audio too) are not listened for, or every digit would count twice.
 * Never called from inside the detector's own callback. */
static void out_of_band(struct leg_media *m)
{
    if (m->events_seen)
        return;
    m->events_seen = true;
    dtmf_detect_destroy(m->inband);
    m->inband = NULL;
}

void leg_digit_in(struct leg *l, char digit, unsigned duration_ms)
{
    if (l->state != LEG_CONNECTED || rfc4733_code(digit) < 0)
        return;
    leg_touch(l);
    if (l->media) {
        out_of_band(l->media);
        on_digit(l, digit);
    }
    if (l->taps)
        leg__tap_digit(l, digit);
    struct leg *peer = bridge_peer(l);
    if (peer && peer->state == LEG_CONNECTED) {
        unsigned ms = duration_ms ? duration_ms : DIGIT_IN_DEFAULT_MS;
        ms = ms < DTMF_OUT_MIN_MS ? DTMF_OUT_MIN_MS : ms > DTMF_OUT_MAX_MS ? DTMF_OUT_MAX_MS : ms;
        if (leg_send_dtmf(peer, (const char[]){digit, '\0'}, ms))
            log_warn("media.digit_relay_full", "leg %s: digit from leg %s not relayed", peer->id,
                     l->id);
    }
}

/* ---- the packet paths ---------------------------------------------------------------- */

static void rx_event(struct leg *l, const struct rtp_hdr *h)
{
    struct leg_media *m = l->media;
    struct rfc4733_event ev;
    if (rfc4733_parse(h->payload, h->payload_len, &ev))
        return;
    out_of_band(m);
    char digit = rfc4733_rx_packet(&m->rx, h->ssrc, h->ts, &ev);
    if (!digit)
        return;
    metric_inc(l->ctx->metrics.digits_rfc4733);
    on_digit(l, digit);
}

void leg__media_rx(struct leg *l, const struct rtp_hdr *h)
{
    struct leg_media *m = l->media;
    if (l->state != LEG_CONNECTED)
        return;
    if (h->pt == l->remote.te_pt) {
        rx_event(l, h);
    } else if (m->inband && gather_running(&m->gather) && h->pt == l->remote.pt) {
        int n = l->codec ? codec_state_decode(l->codec, CODEC_DEC_DTMF, h->payload, h->payload_len,
                                              m->pcm, FRAME_MAX_BYTES)
                         : 0;
        if (n > 0)
            dtmf_detect_samples(m->inband, m->pcm, (size_t)n);
    }
}

bool leg__media_sending(const struct leg *l)
{
    const struct leg_media *m = l->media;
    if (!m)
        return false;
    const struct play_item *head = play_queue_head(&m->queue);
    return dtmf_out_sending(&m->tx) || playback_active(&m->play) || (head && head->audio);
}

bool leg__media_frame(struct leg *l, struct leg_frame *f)
{
    struct leg_media *m = l->media;
    if (dtmf_out_tick(&m->tx, l->ts, m->ev, &f->ts, &f->marker) == DTMF_OUT_EVENT) {
        f->payload = m->ev;
        f->len = sizeof(m->ev);
        f->pt = l->remote.te_pt;
        f->event = true;
        if (f->marker)
            metric_inc(l->ctx->metrics.dtmf_sent);
        return true;
    }
    if (!playback_active(&m->play) && !m->play_is_prompt)
        start_next(l);
    if (!playback_active(&m->play))
        return false;
    if (!playback_next(&m->play, m->pcm)) {
        play_ended(l, "finished");
        return false;
    }
    int n = l->codec ? codec_state_encode(l->codec, m->pcm, m->enc, sizeof(m->enc)) : -1;
    if (n <= 0)
        return false; /* the mode fills the tick */
    f->payload = m->enc;
    f->len = (size_t)n;
    return true;
}

void leg__media_tick(struct leg *l)
{
    struct leg_media *m = l->media;
    if (!m)
        return;
    if (gather_poll(&m->gather, uv_now(l->ctx->loop)))
        gather_ended(l);
    if (m->inband && !gather_running(&m->gather)) {
        dtmf_detect_destroy(m->inband);
        m->inband = NULL;
    }
}

void leg__media_close(struct leg *l)
{
    if (!l->media)
        return;
    leg_stop_gather(l, NULL);
    leg_stop_playback(l);
    leg_drop_plays(l);
    dtmf_detect_destroy(l->media->inband);
    free(l->media);
    l->media = NULL;
}
