/*
 * transcribe.h - live transcription of a leg (transcription_start/transcription_stop).
 *
 * A session taps its leg (leg_tap.h): each tick's frame of the chosen tracks (inbound:
 * what the far end says; outbound: what we send it) goes through a voice activity
 * detector (vad.h) on the loop; each finished phrase is recognised on libuv's thread
 * pool by the session's engine (asr.h) and answered as a transcript_chunk on the
 * session's reply stream. The RTP clock never waits: a track has two phrase buffers, so
 * one phrase can be recognised while the next is heard; a phrase finished while both are
 * busy is dropped (counted in the log). Nothing is allocated on the tick.
 *
 * A session ends on transcription_stop, on a new transcription_start for the leg, or when
 * the leg closes: the phrase in progress is recognised too, and once every recognition has
 * answered, transcription_ended carries the milliseconds of audio transcribed (the
 * session's length: what is billed, whatever the number of tracks).
 *
 * Engines: "fast" is pocketsphinx; "accurate" is the engine named by
 * VOEPY_ASR_ACCURATE_ENGINE, pocketsphinx while none is configured. Loop thread only.
 */
#ifndef MF_TRANSCRIBE_H
#define MF_TRANSCRIBE_H

#include <stdbool.h>
#include <uv.h>

#include "voepy/err.h"

struct leg;
struct transcribe;

struct transcribe_opts {
    const char *node;            /* media_node in replies */
    const char *accurate_engine; /* "" or NULL: pocketsphinx */
    const char *model_dir;       /* pocketsphinx's model; "" or NULL: Debian's en-us */
    int threshold_dbfs;          /* VAD threshold; 0: vad.h's default */
};

/* Send body (consumed: free it) to stream. Called on the loop. */
typedef void(transcribe_reply_cb)(void *arg, const char *stream, char *body);

/* VP_E_INVALID_PARAMETER when accurate_engine names no engine. */
int transcribe_create(struct transcribe **tp, uv_loop_t *loop, const struct transcribe_opts *o);
/* Who sends the replies (the inbox); NULL: they are dropped (the inbox is closing). */
void transcribe_on_reply(struct transcribe *t, transcribe_reply_cb *reply, void *arg);
/*
 * Start transcribing leg l: engine "fast" | "accurate", tracks "inbound" | "outbound" |
 * "both", replies to reply_to ("": the leg's allocate's). A session already running on
 * the leg with the same id is left alone (a redelivered command); another one is ended
 * first. 0, or VP_E_INVALID_PARAMETER (e says which field).
 */
int transcribe_start(struct transcribe *t, struct leg *l, const char *id, const char *engine,
                     const char *tracks, const char *reply_to, struct vp_error *e);
/* End the leg's session (only if its id is id, when id is not ""); false when none. */
bool transcribe_stop(struct transcribe *t, const char *leg_id, const char *id);
/* Sessions running (tests, metrics). */
unsigned transcribe_count(const struct transcribe *t);
/*
 * Stop every session without replying (the inbox is going), wait for recognitions
 * running on workers, free, then closed(arg) (may be NULL).
 */
void transcribe_close(struct transcribe *t, void (*closed)(void *arg), void *arg);

#endif
