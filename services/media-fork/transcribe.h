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
 * VOEPY_ASR_ACCURATE_ENGINE, pocketsphinx while none is configured. Either hears with the
 * model of the session's language (asr.h's map: VOEPY_ASR_MODELS, VOEPY_ASR_MODEL_DIR);
 * a language no model serves is refused. Loop thread only.
 */
#ifndef MF_TRANSCRIBE_H
#define MF_TRANSCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "voepy/err.h"

struct leg;
struct transcribe;

struct transcribe_opts {
    const char *node;            /* media_node in replies */
    const char *accurate_engine; /* "" or NULL: pocketsphinx */
    const char *models;          /* VOEPY_ASR_MODELS: "en-US=HMM,es-ES=HMM:LM:DICT" (asr.h) */
    const char *model_dir;       /* the en-US model's directory; "" or NULL: Debian's en-us */
    int threshold_dbfs;          /* VAD threshold; 0: vad.h's default */
};

/* Send body (consumed: free it) to stream. Called on the loop. */
typedef void(transcribe_reply_cb)(void *arg, const char *stream, char *body);

/*
 * VP_E_INVALID_PARAMETER when accurate_engine names no engine or a model is misconfigured
 * (a bad tag or entry, a file that is not there): why says which.
 */
int transcribe_create(struct transcribe **tp, uv_loop_t *loop, const struct transcribe_opts *o,
                      char *why, size_t whylen);
/* The languages it has models for, comma-separated ("en-US,es-ES"); lives with t. */
const char *transcribe_languages(const struct transcribe *t);
/* Who sends the replies (the inbox); NULL: they are dropped (the inbox is closing). */
void transcribe_on_reply(struct transcribe *t, transcribe_reply_cb *reply, void *arg);
/*
 * Start transcribing leg l: engine "fast" | "accurate", language a BCP-47 tag ("" or
 * NULL: en-US, the API's default), tracks "inbound" | "outbound" | "both", replies to
 * reply_to ("": the leg's allocate's). Started, it answers transcription_started with the
 * model's language. A session already running on the leg with the same id is left alone
 * (a redelivered command: only transcription_started again); another one is ended first.
 * 0, or VP_E_INVALID_PARAMETER (e says which field: "language" when no model serves it,
 * the message naming the languages there are); a refused start leaves the running one.
 */
int transcribe_start(struct transcribe *t, struct leg *l, const char *id, const char *engine,
                     const char *language, const char *tracks, const char *reply_to,
                     struct vp_error *e);
/*
 * The media.failed a refused transcription_start answers (proto/streams.md): as every
 * verb's, with its transcription_id so that call-control fails that action. Caller frees.
 */
char *transcribe_failed_reply(const char *leg_id, const char *call_id, const char *node,
                              const char *transcription_id, const char *error, const char *detail);
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
