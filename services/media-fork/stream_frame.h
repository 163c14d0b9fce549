/*
 * stream_frame.h - the JSON text frames of a WebSocket media stream (docs/api.md,
 * "Media streams"), close to what media-stream consumers already parse:
 *
 *   {"event":"connected","protocol":"voepy-media-stream","version":1}
 *   {"event":"start","sequence_number":1,"stream_id":"…","call_id":"…",
 *    "start":{"tracks":["inbound","outbound"],
 *             "media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}
 *   {"event":"media","sequence_number":2,"stream_id":"…",
 *    "media":{"track":"inbound","chunk":1,"timestamp":0,"payload":"<base64>"}}
 *   {"event":"dtmf","sequence_number":9,"stream_id":"…","dtmf":{"track":"inbound","digit":"5"}}
 *   {"event":"stop","sequence_number":10,"stream_id":"…"}
 *
 * sequence_number counts every frame after connected (1, 2, ...); chunk counts the media
 * frames of one track (1, 2, ...); timestamp is milliseconds since the stream started, on
 * the 20 ms clock. From a bidirectional client we read
 *   {"event":"media","media":{"payload":"<base64 of the stream's encoding>"}}
 *   {"event":"clear"}   (drop the audio queued and not yet played)
 * and ignore anything else (other events, binary frames).
 *
 * Ids are checked plain ids (letters, digits, '_', '-'), so writers need no escaping.
 */
#ifndef MF_STREAM_FRAME_H
#define MF_STREAM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream_codec.h"

#define STREAM_TRACK_INBOUND  1u   /* what the far end says */
#define STREAM_TRACK_OUTBOUND 2u   /* what we send it */
#define STREAM_TEXT_MAX       1024 /* the longest frame we write */

/* "inbound_track" | "outbound_track" | "both_tracks" -> a mask; 0 or VP_E_INVALID_PARAMETER */
int stream_track_parse(const char *s, unsigned *mask);

/* Writers: the frame's length, or VP_E_OVERFLOW when cap is too small. */
int stream_frame_connected(char *out, size_t cap);
int stream_frame_start(char *out, size_t cap, uint64_t seq, const char *stream_id,
                       const char *call_id, unsigned tracks, enum stream_codec codec);
int stream_frame_media(char *out, size_t cap, uint64_t seq, const char *stream_id, unsigned track,
                       uint64_t chunk, uint64_t ts_ms, const uint8_t *payload, size_t len);
int stream_frame_dtmf(char *out, size_t cap, uint64_t seq, const char *stream_id, char digit);
int stream_frame_stop(char *out, size_t cap, uint64_t seq, const char *stream_id);

enum stream_in {
    STREAM_IN_IGNORED, /* valid JSON we do not act on */
    STREAM_IN_MEDIA,   /* payload decoded into the caller's buffer */
    STREAM_IN_CLEAR,
};
/*
 * Read a text frame from the client. Returns a stream_in kind (payload and *plen set for
 * media), or VP_E_PARSE (not a JSON object, a media frame without a base64 payload or
 * with one longer than cap).
 */
int stream_frame_parse_in(const char *text, size_t len, uint8_t *payload, size_t cap, size_t *plen);

#endif
