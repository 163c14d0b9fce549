/*
 * stream.h - WebSocket media streams of a leg (streaming_start / streaming_stop,
 * proto/streams.md; the frames: stream_frame.h and docs/api.md).
 *
 * A stream taps its leg (leg_tap.h), encodes the chosen track(s) every 20 ms
 * (stream_codec.h) and sends them as JSON text frames to a customer's WebSocket server.
 * The client is libwebsockets running on the service's own libuv loop (stream_ws.c).
 *
 * Life of a stream:
 *   streamer_start   the URL is checked by the shared URL policy (url_guard.h: scheme
 *                    wss, or ws when the operator allows insecure streams; port; every
 *                    address), then the client connects to exactly the checked address
 *                    (Host and TLS name: the URL's host);
 *   connected        `connected` and `start` frames, then media every 20 ms; the event
 *                    "streaming_started" is reported;
 *   stop             streamer_stop, or the leg closing: a `stop` frame goes out after the
 *                    queued frames, then the WebSocket is closed (at most 3 s later it is
 *                    cut); "streaming_ended" with reason stopped / released;
 *   failures         a refused URL, a failed connection, the server closing first:
 *                    "streaming_ended" with reason failed (error set) or closed_by_peer.
 * Exactly one streaming_ended is reported per started stream, also when the start fails.
 *
 * Backpressure: each stream has a bounded queue of frames (STREAM_QUEUE_FRAMES); when the
 * server (or the network) is slower than the audio, the oldest media frames are dropped
 * and counted (frames_dropped), so the stream stays live instead of lagging.
 *
 * Bidirectional streams: media frames the client sends are decoded from the stream's
 * encoding and queued on the leg (leg_inject_audio), which plays them to the far end.
 *
 * Several streams per leg (any tracks and encodings) are fine; a stream_id is unique per
 * leg (a start with the id of a running stream is ignored: a redelivered command).
 * Everything runs on the loop thread.
 */
#ifndef MF_STREAM_H
#define MF_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "leg_ids.h"
#include "stream_codec.h"

#define STREAM_URL_MAX      2048
#define STREAM_QUEUE_FRAMES 64 /* 1.28 s of one track, 0.64 s of both */

struct leg;
struct streamer;
struct url_policy;

struct stream_params {
    char stream_id[LEG_ID_MAX];
    char url[STREAM_URL_MAX];
    unsigned tracks; /* STREAM_TRACK_* mask (stream_frame.h) */
    enum stream_codec codec;
    bool bidirectional;
};

/* What a stream reports (streaming_started, streaming_ended). */
struct stream_event {
    bool ended; /* false: started */
    const char *leg_id, *call_id, *stream_id;
    const char *reason; /* ended: stopped | released | failed | closed_by_peer */
    const char *error;  /* failed: stream_url_forbidden, stream_url_insecure, connect_failed,
                           streaming_not_supported, draining, ...; else NULL */
    const char *detail; /* a sentence for logs, or NULL */
    uint64_t frames_sent, frames_dropped;
    const char *reply_to; /* the command's reply_to, else the leg's allocate's */
};

typedef void(stream_event_cb)(const struct stream_event *ev, void *arg);

struct streamer_opts {
    struct url_policy *policy; /* must outlive the streamer; NULL: the guard's defaults */
    bool allow_insecure;       /* VOEPY_STREAM_ALLOW_INSECURE: accept ws:// URLs */
    unsigned connect_secs;     /* TCP connect timeout; 0: 5 s */
};

/*
 * Create the streamer and its libwebsockets context on loop. When libwebsockets cannot
 * run on the loop (its libuv event library plugin is missing), the streamer is still
 * created and every start fails with error streaming_not_supported (logged once).
 */
int streamer_create(struct streamer **sp, uv_loop_t *loop, const struct streamer_opts *o);
/* Where events go (NULL: nowhere). */
void streamer_on_event(struct streamer *st, stream_event_cb *cb, void *arg);
/*
 * Start a stream on l. The outcome is always reported as an event, never returned: a
 * stream that cannot start reports streaming_ended (failed) from the loop, not from
 * inside this call. reply_to may be "" (the leg's).
 */
void streamer_start(struct streamer *st, struct leg *l, const struct stream_params *p,
                    const char *reply_to);
/* Stop the leg's stream stream_id ("" or NULL: all of the leg's). Returns how many. */
unsigned streamer_stop(struct streamer *st, const char *leg_id, const char *stream_id);
/* Streams not yet ended (tests, metrics). */
unsigned streamer_count(const struct streamer *st);
/*
 * Stop every stream at once (reason released, reported) and start closing the
 * libwebsockets context's handles. Run the loop until they are closed (uv_run returns),
 * then streamer_destroy().
 */
void streamer_close(struct streamer *st);
/* Free the streamer after the loop has closed its handles. NULL is fine. */
void streamer_destroy(struct streamer *st);

#endif
