/*
 * inbox_internal.h - the inbox object, shared by inbox.c (the stream, allocate, connect,
 * release, replies) and inbox_media.c (the media verbs). Nothing else includes it.
 */
#ifndef MF_INBOX_INTERNAL_H
#define MF_INBOX_INTERNAL_H

#include <stdbool.h>

#include "command.h"
#include "inbox.h"
#include "leg_event.h"
#include "voepy/metrics.h"
#include "voepy/rstream.h"

struct fetching;

/*
 * Freed once closed, its consumer closed (so every command it handed out came back) and
 * no reply is in flight (replies for reaped legs hold no command but still count) and no
 * load is waited for.
 */
struct inbox {
    struct rstream_consumer *consumer;
    struct redis *redis;
    struct engine *engine;
    struct audio_load *load;   /* NULL: no audio can be played */
    struct fetching *fetching; /* plays and gathers waiting for their audio */
    struct recorder *recorder; /* NULL: this node records nothing */
    struct streamer *streamer; /* NULL: this node streams nothing */
    struct tts *tts;           /* NULL: speak fails */
    struct transcribe *asr;    /* NULL: transcription fails */
    char node[128];
    unsigned replies; /* replies being written */
    struct metric *commands[MF_OP_LAST + 1], *invalid, *reply_errors;
    void (*drained)(void *arg); /* set while draining, until reported */
    void *drained_arg;
    bool consumer_drained, closing, consumer_closed;
    void (*closed)(void *arg);
    void *closed_arg;
};

/* Write body (consumed) to stream; then acknowledge msg (may be NULL). */
void inbox__send_reply(struct inbox *in, const char *stream, char *body, struct rstream_msg *msg);
/* Free a closed inbox once nothing refers to it any more. */
void inbox__maybe_free(struct inbox *in);

/* inbox_media.c */
void inbox__do_media(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg);
void inbox__leg_event_cb(const struct leg_event *ev, void *arg);
/* The leg is being released: plays and gathers still waiting for audio are dropped. */
void inbox__forget_leg(struct inbox *in, const char *leg_id);

/* inbox_record.c: record_start, record_stop; the recorder's outcomes as recording_done. */
struct rec_result;
void inbox__do_record(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg);
void inbox__recording_done_cb(const struct rec_result *r, void *arg);

/* stream_inbox.c: streaming_start, streaming_stop; the streams' outcomes as replies. */
struct stream_event;
void inbox__do_stream(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg);
void inbox__stream_event_cb(const struct stream_event *ev, void *arg);

/* inbox_media.c: transcribe.h's replies go out as the inbox's. */
void inbox__transcribe_reply_cb(void *arg, const char *stream, char *body);

#endif
