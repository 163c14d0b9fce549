/*
 * inbox.h - this node's command stream: voepy:mf:{node}, group "mf", consumer = node id.
 *
 * Each command is applied to the engine at once (in stream order), then answered on the
 * reply_to stream (media.allocated / media.failed / media.released), and acknowledged
 * only when the reply is stored in Redis: a command whose reply could not be written
 * stays pending, comes back, and, every op being idempotent, is answered again with the
 * same result. Commands that cannot be parsed are logged and acknowledged (a poison
 * message must not come back forever); when op and leg_id could be read, the asker still
 * gets a media.failed with error "invalid_request". Legs the engine reaps for idleness
 * are reported with media.released (reason "idle") to the stream their allocate named.
 *
 * The media verbs (play, stop_playback, gather, stop_gather, send_dtmf) are applied to
 * the leg and acknowledged at once; what they end with (playback_ended, gather_complete)
 * is written later, when it happens, to the command's reply_to (else the allocate's),
 * without a command to acknowledge. A verb that cannot be carried out is answered at once:
 * play with playback_ended "failed", the others with media.failed. A play or gather whose
 * audio is not in the cache (decoded on the thread pool, or fetched first) is acknowledged
 * at once and applied when the audio is ready, unless a later play/stop_playback
 * (gather/stop_gather) or a release for the leg came first: then it ends as if it had started and
 * been stopped ("stopped", "cancelled"). inbox_close() waits for outstanding loads to be answered
 * (closing the loader answers them). */
#ifndef MF_INBOX_H
#define MF_INBOX_H

#include <uv.h>

struct inbox;
struct engine;
struct redis;
struct redis_opts;
struct audio_load;
struct recorder;
struct streamer;
struct tts;
struct transcribe;

struct inbox_opts {
    const char *node_id;            /* stream voepy:mf:{node_id}; consumer name */
    const struct redis_opts *ropts; /* for the consumer's own (blocking) connections */
    struct redis *redis;            /* shared connection for replies (XADD) */
    struct engine *engine;
    struct audio_load *load; /* audio for play and prompts; NULL: play always fails */
    /* record_start/record_stop (recorder.h); NULL: recordings fail */
    struct recorder *recorder;
    struct streamer *streamer; /* streaming_start/streaming_stop; NULL: streams fail */
    struct tts *tts;           /* speak, spoken prompts; NULL: they fail */
    struct transcribe *asr;    /* transcription_start/stop; NULL: they fail */
    unsigned claim_idle_ms;    /* re-deliver unacknowledged commands after; default 5000 */
};

int inbox_create(struct inbox **ip, uv_loop_t *loop, const struct inbox_opts *o);
/*
 * Stop reading commands (call once the engine has no legs left, when nothing more can
 * be asked of this node); done(arg) runs once every reply in flight is stored and every
 * command acknowledged. inbox_close() is still needed afterwards.
 */
void inbox_drain(struct inbox *in, void (*done)(void *arg), void *arg);
/*
 * Stop consuming. Replies in flight still finish; a command whose reply ends after this
 * is not acknowledged (it stays pending and is answered again). in is freed, then
 * closed(arg) runs (closed may be NULL), once the consumer has closed and the last reply
 * has ended (or been canceled by the shared connection's close).
 */
void inbox_close(struct inbox *in, void (*closed)(void *arg), void *arg);

#endif
