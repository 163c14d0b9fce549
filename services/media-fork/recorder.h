/*
 * recorder.h - recordings of legs: a tap (leg_tap.h) collects both directions of a leg,
 * 20 ms at a time, and the audio is written to a file on worker threads with libsndfile,
 * then put into the recordings storage (storage.h).
 *
 *   single  one channel: what the far end said and what we sent, mixed (saturating add);
 *   dual    two channels: 1 = the far end (the tap's `in`), 2 = what we sent (`out`).
 *
 * WAV (16-bit PCM) or MP3 (libsndfile's MPEG layer III encoder), 8 kHz (the G.711 rate of
 * the taps: a frame of more than 160 samples, from a wider codec, would be cut). A recording ends
 * with recorder_stop(), its max_secs, or the leg's release; the file is finished in every
 * case and done() reports it once (completed, or failed with a reason).
 *
 * Memory: frames go into 1 s chunks; a full chunk is handed to a worker, which writes
 * it and gives it back for reuse. The tick path allocates only when no spare chunk is
 * left (the first seconds, or a slow disk); at most RECORDER_MAX_QUEUED chunks wait for
 * the disk, beyond that audio is dropped (counted in the log) rather than memory grown.
 *
 * Single-threaded on the loop, except the file work, which touches only its recording's
 * file and chunks.
 */
#ifndef MF_RECORDER_H
#define MF_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "leg_ids.h"
#include "storage.h"

#define RECORDER_MAX_SECS   14400 /* 4 h: the longest recording (max_length's cap) */
#define RECORDER_MAX_QUEUED 30    /* chunks (seconds) waiting to be written */

struct recorder;
struct leg;
struct audio;

enum rec_format { REC_WAV, REC_MP3 };

/* What record_start asks (proto/streams.md); strings are copied. */
struct rec_params {
    char recording_id[LEG_ID_MAX];
    bool dual;
    enum rec_format format;
    unsigned max_secs; /* 0: no limit but RECORDER_MAX_SECS */
    bool play_beep;    /* play a 400 ms 1 kHz tone on the leg when recording starts */
};

/* The outcome of one recording. Strings are valid during the callback only. */
struct rec_result {
    const char *leg_id, *call_id, *recording_id;
    const char *reply_to;    /* the record_start's, else the leg's allocate's */
    bool completed;          /* else failed */
    const char *error;       /* failed: a stable code (storage_error, ...); NULL otherwise */
    const char *detail;      /* failed: a sentence for logs, or NULL */
    uint64_t duration_ms;    /* audio recorded */
    uint64_t size_bytes;     /* of the stored file */
    const char *storage_key; /* "<tenant>/<call>/<recording_id>.<ext>" ("" when failed) */
};
typedef void(recorder_done_cb)(const struct rec_result *r, void *arg);

/* s is borrowed and must outlive the recorder. */
int recorder_create(struct recorder **rp, uv_loop_t *loop, struct storage *s);
/* Who hears outcomes (the inbox); NULL drops them. */
void recorder_on_done(struct recorder *r, recorder_done_cb *cb, void *arg);

/* Whether libsndfile here can write format (MP3 needs a libsndfile built with LAME). */
bool recorder_format_supported(enum rec_format f, bool dual);
const char *recorder_format_ext(enum rec_format f);

/*
 * Start recording leg l (live) for tenant_id. reply_to ("" = the leg's allocate's)
 * receives the outcome. A recording_id already running is left alone (a redelivered
 * command): returns 0. VP_E_INVALID_PARAMETER when the ids make no valid storage key,
 * VP_E_NOT_IMPLEMENTED when the format cannot be written here, VP_E_CANCELED while closing.
 */
int recorder_start(struct recorder *r, struct leg *l, const char *tenant_id,
                   const struct rec_params *p, const char *reply_to);
/*
 * Stop the recordings of leg_id (only recording_id when it is not "" or NULL); each is
 * finished and reported. Returns how many were running.
 */
unsigned recorder_stop(struct recorder *r, const char *leg_id, const char *recording_id);
/* Recordings not yet reported (running or being finished). */
unsigned recorder_count(const struct recorder *r);
/* done(arg) once no recording is running or being finished (maybe at once). */
void recorder_drain(struct recorder *r, void (*done)(void *arg), void *arg);
/*
 * Stop every recording (they are finished and reported: done() still runs), then free
 * the recorder once the last file is finished and call closed(arg) (may be NULL).
 */
void recorder_close(struct recorder *r, void (*closed)(void *arg), void *arg);

/* beep.c: the start-of-recording tone, one new reference (audio_unref it). */
struct audio *beep_audio(void);

#endif
