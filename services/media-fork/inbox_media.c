/*
 * The media verbs of the inbox (play, stop_playback, gather, stop_gather, send_dtmf):
 * applied to the leg at once, or, when their audio is not in the cache, once audio_load.c
 * has decoded (or fetched and decoded) it. See inbox.h for the rules and proto/streams.md
 * for the messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_load.h"
#include "audio_file.h"
#include "bridge.h"
#include "engine.h"
#include "inbox_internal.h"
#include "reply.h"
#include "transcribe.h"
#include "tts.h"
#include "voepy/alloc.h"
#include "voepy/log.h"

/* A play or gather waiting for its audio; owned by the inbox's list until its fetch ends. */
struct fetching {
    struct fetching *next;
    struct inbox *in;
    struct mf_command c;
    bool canceled;  /* superseded or released: the fetched audio is dropped */
    uint32_t token; /* a play's place in the leg's queue (leg_play_queue), 0 for a gather */
};

static bool is_play(const struct mf_command *c)
{
    return c->op == MF_OP_PLAY || c->op == MF_OP_SPEAK;
}

static const char *audio_error(int err)
{
    switch (err) {
    case VP_E_NOT_FOUND:
        return "audio_not_found";
    case VP_E_NOT_IMPLEMENTED:
        return "audio_url_not_supported";
    case VP_E_FORBIDDEN:
        return "audio_url_forbidden";
    case VP_E_UPSTREAM:
    case VP_E_IO:
        return "audio_fetch_failed";
    }
    return "audio_invalid";
}

static const char *speech_error(const struct vp_error *e);

/* The stream a verb's replies go to: its reply_to, else the leg's allocate's ("" if none). */
static void reply_stream(const struct mf_command *c, const struct leg *l, char *out, size_t cap)
{
    snprintf(out, cap, "%s", c->reply_to[0] ? c->reply_to : l ? leg_reply_to(l) : "");
}

/* A verb that failed: tell its reply_to (else the leg's allocate's); acknowledge msg. */
static void verb_failed(struct inbox *in, const struct mf_command *c, const struct leg *l,
                        const char *error, const char *detail, struct rstream_msg *msg)
{
    char stream[STREAM_MAX], call_id[LEG_ID_MAX];
    reply_stream(c, l, stream, sizeof(stream));
    snprintf(call_id, sizeof(call_id), "%s", l ? leg_call_id(l) : "");
    vlog_kv(VLOG_WARN, "media.verb_failed", error, "op", command_op_name(c->op), "leg_id",
            c->leg_id, NULL);
    if (!stream[0]) {
        if (msg)
            rstream_ack(in->consumer, msg);
        return;
    }
    if (c->op == MF_OP_TRANSCRIPTION_START) { /* names its transcription_id */
        char *body =
            transcribe_failed_reply(c->leg_id, call_id, in->node, c->media_id, error, detail);
        inbox__send_reply(in, stream, body, msg);
        return;
    }
    char *body = c->op == MF_OP_PLAY || c->op == MF_OP_SPEAK
                     ? reply_play_failed(c->leg_id, call_id, in->node, c->media_id, error, detail)
                     : reply_verb_failed(c->leg_id, call_id, in->node, command_op_name(c->op),
                                         c->op == MF_OP_GATHER ? c->media_id : NULL, error, detail);
    inbox__send_reply(in, stream, body, msg);
}

/* ---- waiting for audio being loaded -------------------------------------------------------- */

/* A waiting play/gather that will not start: it ends as if started and stopped. */
static void cancel(struct inbox *in, struct fetching *f)
{
    f->canceled = true;
    if (f->token)
        return; /* a queued play: the leg's queue reports it when it drops it */
    struct leg *l = engine_find(in->engine, f->c.leg_id);
    char stream[STREAM_MAX];
    reply_stream(&f->c, l, stream, sizeof(stream));
    if (!stream[0])
        return;
    bool play = f->c.op == MF_OP_PLAY || f->c.op == MF_OP_SPEAK;
    struct leg_event ev = {.type = play ? LEG_EV_PLAYBACK_ENDED : LEG_EV_GATHER_COMPLETE,
                           .leg_id = f->c.leg_id,
                           .call_id = l ? leg_call_id(l) : "",
                           .reply_to = stream,
                           .id = f->c.media_id,
                           .reason = "stopped",
                           .status = "cancelled",
                           .digits = ""};
    inbox__send_reply(in, stream, reply_leg_event(&ev, in->node), NULL);
}

/* Same family: play and stop_playback supersede a waiting play; gather and stop_gather a
 * waiting gather (stop_gather only its own gather_id when it names one). */
static bool supersedes(const struct mf_command *c, const struct fetching *f)
{
    if (f->canceled || strcmp(c->leg_id, f->c.leg_id) != 0)
        return false;
    if (f->c.op == MF_OP_PLAY || f->c.op == MF_OP_SPEAK)
        return false; /* queued in the leg: stop_playback drops it there (leg_media.c) */
    if (c->op == MF_OP_STOP_GATHER)
        return !c->media_id[0] || strcmp(c->media_id, f->c.media_id) == 0;
    return c->op == MF_OP_GATHER;
}

/* Whether c repeats a gather that is still waiting for its prompt (a redelivery). */
static bool waiting_duplicate(struct inbox *in, const struct mf_command *c)
{
    for (struct fetching *f = in->fetching; f; f = f->next)
        if (!f->canceled && f->c.op == MF_OP_GATHER && c->op == MF_OP_GATHER &&
            strcmp(f->c.leg_id, c->leg_id) == 0 && strcmp(f->c.media_id, c->media_id) == 0)
            return true;
    return false;
}

static void supersede(struct inbox *in, const struct mf_command *c)
{
    for (struct fetching *f = in->fetching; f; f = f->next)
        if (supersedes(c, f))
            cancel(in, f);
}

void inbox__forget_leg(struct inbox *in, const char *leg_id)
{
    for (struct fetching *f = in->fetching; f; f = f->next)
        if (!f->canceled && strcmp(f->c.leg_id, leg_id) == 0)
            cancel(in, f);
}

static void start_with(struct leg *l, const struct mf_command *c, struct audio *a)
{
    if (c->op == MF_OP_PLAY || c->op == MF_OP_SPEAK)
        leg_play(l, a, c->op == MF_OP_SPEAK ? 1 : c->loops, c->media_id, c->reply_to);
    else
        leg_gather(l, &c->gather, c->media_id, a, c->reply_to);
}

/*
 * A queued play's audio arrived (a) or failed (a NULL): attach it to its place in the
 * queue (dropped when the play was stopped meanwhile: reported then), or take the place
 * back. Returns the leg when the failure must still be reported, else NULL.
 */
static struct leg *play_loaded(struct leg *l, struct fetching *f, struct audio *a)
{
    if (!is_play(&f->c)) { /* cannot happen: only plays have a token */
        audio_unref(a);
        return NULL;
    }
    if (!a) {
        leg_play_forget(l, f->token);
        return l;
    }
    if (!leg_play_ready(l, f->token, a))
        audio_unref(a);
    return NULL;
}

static void fetched_cb(struct audio *a, const struct vp_error *e, void *arg)
{
    struct fetching *f = arg;
    struct inbox *in = f->in;
    for (struct fetching **pp = &in->fetching; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    struct leg *l = f->canceled || in->closing ? NULL : engine_find(in->engine, f->c.leg_id);
    /* a queued play: a is consumed here; l stays only when its failure is to be reported */
    if (f->token && l) {
        l = play_loaded(l, f, a);
        a = NULL;
    }
    if (l && a)
        start_with(l, &f->c, a);
    else if (l)
        verb_failed(in, &f->c, l, f->c.text[0] ? speech_error(e) : audio_error(e->err), e->message,
                    NULL);
    else
        audio_unref(a);
    free(f);
    inbox__maybe_free(in);
}

/* The PENDING answer of load_audio: the verb starts later (compared by address). */
static const char PENDING[] = "pending";

/* Why a render failed: unknown_voice, tts_invalid (no text) or tts_failed. */
static const char *speech_error(const struct vp_error *e)
{
    if (e->err == VP_E_INVALID_PARAMETER)
        return strcmp(e->field, "voice") == 0 ? "unknown_voice" : "tts_invalid";
    return "tts_failed";
}

/* audio_load_get, or tts_get for a speak or a spoken prompt (c->text set). */
static int get_audio(struct inbox *in, const struct mf_command *c, struct audio **ap,
                     struct vp_error *e, struct fetching *f)
{
    if (!c->text[0])
        return audio_load_get(in->load, c->audio, ap, e, fetched_cb, f);
    if (!in->tts)
        return vp_error_set(e, VP_E_NOT_IMPLEMENTED, "text", "this node speaks no text");
    return tts_get(in->tts, c->voice, c->language, c->text, ap, e, fetched_cb, f);
}

/*
 * The audio of c: NULL with *ap set (ready now), PENDING (c waits in the inbox's list and
 * starts from fetched_cb), or an error code (e says more).
 */
static const char *load_audio(struct inbox *in, const struct mf_command *c, struct audio **ap,
                              struct vp_error *e)
{
    if (!in->load && !c->text[0]) {
        vp_error_set(e, VP_E_NOT_IMPLEMENTED, "audio", "this node plays no audio");
        return "audio_url_not_supported";
    }
    struct fetching *f = VP_NEW(f);
    f->in = in;
    f->c = *c;
    int rc = get_audio(in, c, ap, e, f);
    if (rc != AUDIO_LOAD_PENDING) {
        free(f);
        return rc ? c->text[0] ? speech_error(e) : audio_error(rc) : NULL;
    }
    f->next = in->fetching;
    in->fetching = f;
    return PENDING;
}

/*
 * A play or speak takes its place in the leg's queue first (queue_full when 16 wait), so
 * that plays start in the order they came even when their audio loads at different
 * speeds; the audio is attached now or when loaded (fetched_cb).
 */
static const char *queue_play(struct inbox *in, const struct mf_command *c, struct leg *l,
                              struct vp_error *e)
{
    unsigned loops = c->op == MF_OP_SPEAK ? 1 : c->loops;
    uint32_t token = leg_play_queue(l, NULL, loops, c->media_id, c->reply_to);
    if (!token) {
        vp_error_set(e, VP_E_CONFLICT, "playback_id", "16 plays already wait on this leg");
        return "queue_full";
    }
    struct audio *a = NULL;
    const char *error = load_audio(in, c, &a, e);
    if (error == PENDING) {
        in->fetching->token = token; /* load_audio put it first */
        return NULL;
    }
    if (error)
        leg_play_forget(l, token);
    else if (!leg_play_ready(l, token, a))
        audio_unref(a); /* cannot happen: nothing ran in between */
    return error;
}

/* Carry out a verb on live leg l; NULL (done or waiting for audio) or the error code. */
static const char *apply_media(struct inbox *in, const struct mf_command *c, struct leg *l,
                               struct vp_error *e)
{
    struct audio *a = NULL;
    const char *error = NULL;
    switch (c->op) {
    case MF_OP_PLAY:
    case MF_OP_SPEAK:
        return queue_play(in, c, l, e);
    case MF_OP_GATHER:
        if ((c->audio[0] || c->text[0]) && (error = load_audio(in, c, &a, e)))
            return error == PENDING ? NULL : error;
        start_with(l, c, a);
        return NULL;
    case MF_OP_TRANSCRIPTION_START:
        if (!in->asr)
            return "transcription_unavailable";
        return transcribe_start(in->asr, l, c->media_id, c->engine, c->language, c->tracks,
                                c->reply_to, e)
                   ? "invalid_request"
                   : NULL;
    case MF_OP_TRANSCRIPTION_STOP:
        if (in->asr) /* nothing running is not an error: stop is idempotent */
            transcribe_stop(in->asr, c->leg_id, c->media_id);
        return NULL;
    case MF_OP_SEND_DTMF:
        return leg_send_dtmf(l, c->digits, c->duration_ms) ? "dtmf_queue_full" : NULL;
    case MF_OP_DIGIT_IN: /* a SIP INFO digit: heard as if it came by RFC 4733 */
        leg_digit_in(l, c->digits[0], c->duration_ms);
        return NULL;
    case MF_OP_STOP_PLAYBACK: /* nothing playing is not an error: stop is idempotent */
        if (c->media_id[0]) {
            leg_stop_playback_id(l, c->media_id); /* a ringback (call_play.c) */
        } else if (c->stop_current) {
            leg_stop_playback_current(l);
        } else {
            leg_stop_playback(l);
            leg_drop_plays(l);
        }
        return NULL;
    case MF_OP_STOP_GATHER:
        leg_stop_gather(l, c->media_id);
        return NULL;
    case MF_OP_AMD_START:
        leg_amd_start(l, c->reply_to);
        return NULL;
    case MF_OP_AMD_STOP:
        leg_amd_stop(l); /* nothing running is not an error: stop is idempotent */
        return NULL;
    default:
        return "invalid_request";
    }
}

/*
 * bridge / unbridge (bridge.h): both legs must be live here. Answered with bridged /
 * unbridged on reply_to (else the leg's allocate's), or media.failed (request bridge).
 */
static void do_bridge(struct inbox *in, const struct mf_command *c, struct leg *l,
                      struct rstream_msg *msg)
{
    struct leg *peer = c->op == MF_OP_BRIDGE ? engine_find(in->engine, c->peer_leg_id) : NULL;
    if (!l || (c->op == MF_OP_BRIDGE && !peer)) {
        verb_failed(in, c, l, "unknown_leg", l ? "the peer leg is not live on this node" : NULL,
                    msg);
        return;
    }
    if (c->op == MF_OP_BRIDGE && bridge_join(l, peer)) {
        verb_failed(in, c, l, "invalid_request", "a leg cannot be bridged to itself", msg);
        return;
    }
    if (c->op == MF_OP_UNBRIDGE) {
        peer = bridge_peer(l);
        bridge_leave(l);
    }
    char stream[STREAM_MAX];
    reply_stream(c, l, stream, sizeof(stream));
    char *body =
        reply_bridged(c->op == MF_OP_BRIDGE ? "bridged" : "unbridged", c->leg_id, leg_call_id(l),
                      in->node, peer ? leg_id(peer) : "", peer ? leg_call_id(peer) : "");
    if (stream[0])
        inbox__send_reply(in, stream, body, msg);
    else {
        free(body);
        rstream_ack(in->consumer, msg);
    }
}

void inbox__do_media(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    struct leg *l = engine_find(in->engine, c->leg_id);
    if (c->op == MF_OP_BRIDGE || c->op == MF_OP_UNBRIDGE) {
        do_bridge(in, c, l, msg);
        return;
    }
    if (c->op == MF_OP_RECORD_START || c->op == MF_OP_RECORD_STOP) {
        inbox__do_record(in, c, msg); /* inbox_record.c */
        return;
    }
    if (c->op == MF_OP_STREAMING_START || c->op == MF_OP_STREAMING_STOP) {
        inbox__do_stream(in, c, msg); /* stream_inbox.c */
        return;
    }
    if (l && waiting_duplicate(in, c)) {
        rstream_ack(in->consumer, msg);
        return;
    }
    if (l)
        supersede(in, c);
    struct vp_error e = {0};
    const char *error = l ? apply_media(in, c, l, &e) : "unknown_leg";
    if (error)
        verb_failed(in, c, l, error, e.message, msg);
    else
        rstream_ack(in->consumer, msg);
}

void inbox__leg_event_cb(const struct leg_event *ev, void *arg)
{
    struct inbox *in = arg;
    if (!ev->reply_to[0])
        return;
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", ev->reply_to);
    inbox__send_reply(in, stream, reply_leg_event(ev, in->node), NULL);
}

void inbox__transcribe_reply_cb(void *arg, const char *stream, char *body)
{
    inbox__send_reply(arg, stream, body, NULL);
}
