/*
 * leg.h - one call leg's media endpoint: an RTP/RTCP port pair, the far end, counters.
 *
 * A leg is created by `allocate` (ports bound, receiving at once), given the far end by
 * `connect` (address, codec, what to send), driven by the engine's shared 20 ms tick,
 * and closed by `release` or the idle reaper. States:
 *
 *   LEG_ALLOCATED --connect--> LEG_CONNECTED --connect--> LEG_CONNECTED (new far end/mode)
 *        |                          |
 *        +--------- close ----------+--> LEG_CLOSING (handles closing; then freed)
 *
 * Packet path (leg_rx.c, leg_tx.c): datagram -> rtp_parse -> source check / latching ->
 * counters -> delivery to the leg's consumers (the echo ring now; recorder, WebSocket
 * fork and bridge peer later). Each tick -> the mode's source fills one frame -> stamped
 * with our SSRC/seq/ts -> uv_udp_try_send (dropped, never queued, when the socket is
 * full). Nothing on this path allocates.
 *
 * Ownership: the engine owns legs. leg_close() may be called from anywhere except the
 * leg's own receive callbacks; the memory is freed once libuv has closed both handles,
 * after which ctx->leg_freed() runs.
 */
#ifndef MF_LEG_H
#define MF_LEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "leg_ids.h"

struct leg;
struct media_ctx;
struct codec;

enum leg_state {
    LEG_ALLOCATED, /* ports bound, receiving and counting; no far end, nothing sent */
    LEG_CONNECTED, /* far end known: sending per mode */
    LEG_CLOSING,   /* released: handles closing, memory freed by their callbacks */
};

/* What a connected leg sends each 20 ms. */
enum leg_mode {
    LEG_MODE_SILENCE, /* a frame of codec silence every tick */
    LEG_MODE_ECHO,    /* what arrived, re-stamped with our SSRC/seq/ts; nothing if nothing */
};

/* The far end, from its SDP (a `connect` command). */
struct leg_remote {
    struct sockaddr_storage addr; /* where to send until its packets show where it is */
    const struct codec *codec;
    uint8_t pt;        /* payload type to send and to accept for the mode */
    unsigned ptime_ms; /* 20 */
    enum leg_mode mode;
    uint8_t te_pt; /* telephone-event (RFC 4733) payload type, both ways; 101 by default */
    bool hold;     /* the far end holds the call (its SDP: sendonly/inactive): send nothing */
};

/*
 * Take a port pair from ctx->ports, bind it on ctx->media_addr and start receiving.
 * Returns 0, VP_E_UNAVAILABLE (no free port pair), VP_E_IO (binding failed) or
 * VP_E_INVALID_PARAMETER (an id too long).
 */
int leg_open(struct leg **lp, struct media_ctx *ctx, const char *leg_id, const char *call_id,
             const char *reply_to);
/* Set or change the far end. Resets latching when the address changes. */
void leg_connect(struct leg *l, const struct leg_remote *r);
/* One 20 ms period: refill receive budgets, send the mode's frame. */
void leg_tick(struct leg *l);
/* Note a command for the leg (keeps the idle reaper away). */
void leg_touch(struct leg *l);
/* Stop all I/O and free the leg asynchronously. Idempotent. */
void leg_close(struct leg *l);

const char *leg_id(const struct leg *l);
const char *leg_call_id(const struct leg *l);
const char *leg_reply_to(const struct leg *l);
uint16_t leg_port(const struct leg *l);
enum leg_state leg_state(const struct leg *l);
const struct leg_counters *leg_counters(const struct leg *l);
/* Loop time (uv_now, ms) of the last valid RTP/RTCP or command. */
uint64_t leg_last_activity(const struct leg *l);

/*
 * Media verbs (leg_media.c). Each may be called in any live state; audio and DTMF go out
 * once the leg is connected. reply_to ("" or NULL: the allocate's) receives the events
 * they end with (leg_event.h). Ids are optional ("" or NULL) and echoed in the events.
 */
struct audio;
struct gather_params;

/*
 * Play a (the leg takes the caller's reference) loops times instead of the mode's audio.
 * A playback or gather prompt already playing is stopped first (a play ends "stopped"; a
 * prompt's gather starts its timeout).
 */
void leg_play(struct leg *l, struct audio *a, unsigned loops, const char *play_id,
              const char *reply_to);
/* Stop the playback (event reason "stopped"); returns false when nothing was playing.
 * The next waiting play (below) starts at the next tick. */
bool leg_stop_playback(struct leg *l);
/*
 * The queue of plays (play_queue.h, proto/streams.md "play"): leg_play_queue() appends a
 * play (a: the leg takes the reference; NULL while its audio is still being loaded,
 * attached later with leg_play_ready) that starts when the plays before it have ended;
 * returns its token, or 0 when PLAY_QUEUE_MAX already wait (a stays the caller's).
 * leg_play_ready() returns false when the play no longer waits (a stays the caller's);
 * leg_play_forget() drops a waiting play without a report (its audio failed to load: the
 * caller reports). leg_stop_playback_current() ends what plays (or the first waiting
 * play when nothing plays yet); leg_drop_plays() ends every waiting play "stopped".
 * leg_play() above preempts what plays but leaves the queue; a gather's prompt and the
 * leg's release end the queue too.
 */
uint32_t leg_play_queue(struct leg *l, struct audio *a, unsigned loops, const char *play_id,
                        const char *reply_to);
bool leg_play_ready(struct leg *l, uint32_t token, struct audio *a);
void leg_play_forget(struct leg *l, uint32_t token);
bool leg_stop_playback_current(struct leg *l);
/* End the play play_id (playing or waiting) "stopped", the others go on; false: none. */
bool leg_stop_playback_id(struct leg *l, const char *play_id);
void leg_drop_plays(struct leg *l);
/*
 * Start collecting digits (p checked with gather_params_check), with prompt (NULL or a
 * reference the leg takes) played first. A running gather ends "cancelled". A gather_id
 * equal to the running one is ignored; equal to the last completed one re-sends its
 * result (a redelivered command).
 */
void leg_gather(struct leg *l, const struct gather_params *p, const char *gather_id,
                struct audio *prompt, const char *reply_to);
/*
 * End a running gather "cancelled"; returns false when none was running, or when
 * gather_id is given ("" or NULL: any) and is not the running gather's.
 */
bool leg_stop_gather(struct leg *l, const char *gather_id);
/* Queue RFC 4733 digits (dtmf_out_queue's rules and errors). */
int leg_send_dtmf(struct leg *l, const char *digits, unsigned duration_ms);
/*
 * A digit (0-9 * # A-D) the far end sent another way than RTP (SIP INFO, relayed by
 * call-control as digit_in), lasting duration_ms (0: not said): heard as an RFC 4733
 * digit is, by a running gather (barge-in included) and by the taps' digit() (streams'
 * dtmf frames), and sent on as an RFC 4733 event by a bridged peer (as send_dtmf does,
 * the duration kept within 40..5000 ms, DIGIT_IN_DEFAULT_MS when not said). Ignored
 * unless the leg is connected.
 */
#define DIGIT_IN_DEFAULT_MS 100
void leg_digit_in(struct leg *l, char digit, unsigned duration_ms);

/*
 * Injected audio (leg_inject.c): 8 kHz linear samples another source (a bidirectional
 * WebSocket stream) wants the far end to hear. They are queued (at most 1 s: beyond
 * that the oldest samples are dropped; returns how many were dropped) and go out 20 ms
 * per tick, encoded with the leg's codec, in place of the bridge peer's audio or the
 * mode (DTMF and playback still come first). leg_inject_clear() drops what is queued.
 */
size_t leg_inject_audio(struct leg *l, const int16_t *pcm, size_t n);
size_t leg_inject_queued(const struct leg *l);
void leg_inject_clear(struct leg *l);

/*
 * Answering-machine detection (leg_amd.c, amd.h) on what the far end says: the leg
 * reports LEG_EV_AMD_COMPLETE once, to reply_to ("" or NULL: the allocate's), when the
 * detector decides, or with what it has (machine without beep, else unknown) when the
 * leg closes first. A start while one runs is ignored. Stop ends it silently; false when
 * none was running.
 */
void leg_amd_start(struct leg *l, const char *reply_to);
bool leg_amd_stop(struct leg *l);

const char *leg_state_name(enum leg_state s);
const char *leg_mode_name(enum leg_mode m);
/* "echo" | "silence"; returns 0 or VP_E_INVALID_PARAMETER. */
int leg_mode_parse(const char *s, enum leg_mode *m);

#endif
