/*
 * The JSON frames of a media stream (stream_frame.h). The writers use snprintf into the
 * caller's buffer (a media frame goes out every 20 ms per track: no allocation); the
 * reader uses jansson (client frames are rare and untrusted).
 */
#include "stream_frame.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "voepy/crypto.h"
#include "voepy/err.h"

int stream_track_parse(const char *s, unsigned *mask)
{
    if (s && strcmp(s, "inbound_track") == 0)
        *mask = STREAM_TRACK_INBOUND;
    else if (s && strcmp(s, "outbound_track") == 0)
        *mask = STREAM_TRACK_OUTBOUND;
    else if (s && strcmp(s, "both_tracks") == 0)
        *mask = STREAM_TRACK_INBOUND | STREAM_TRACK_OUTBOUND;
    else
        return VP_E_INVALID_PARAMETER;
    return 0;
}

static int done(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? VP_E_OVERFLOW : n;
}

int stream_frame_connected(char *out, size_t cap)
{
    return done(snprintf(out, cap,
                         "{\"event\":\"connected\",\"protocol\":\"voepy-media-stream\","
                         "\"version\":1}"),
                cap);
}

int stream_frame_start(char *out, size_t cap, uint64_t seq, const char *stream_id,
                       const char *call_id, unsigned tracks, enum stream_codec codec)
{
    const char *list = tracks == (STREAM_TRACK_INBOUND | STREAM_TRACK_OUTBOUND)
                           ? "\"inbound\",\"outbound\""
                       : tracks == STREAM_TRACK_OUTBOUND ? "\"outbound\""
                                                         : "\"inbound\"";
    return done(snprintf(out, cap,
                         "{\"event\":\"start\",\"sequence_number\":%llu,\"stream_id\":\"%s\","
                         "\"call_id\":\"%s\",\"start\":{\"tracks\":[%s],\"media_format\":"
                         "{\"encoding\":\"%s\",\"sample_rate\":%u,\"channels\":1}}}",
                         (unsigned long long)seq, stream_id, call_id, list,
                         stream_codec_name(codec), stream_codec_rate(codec)),
                cap);
}

int stream_frame_media(char *out, size_t cap, uint64_t seq, const char *stream_id, unsigned track,
                       uint64_t chunk, uint64_t ts_ms, const uint8_t *payload, size_t len)
{
    int n = snprintf(out, cap,
                     "{\"event\":\"media\",\"sequence_number\":%llu,\"stream_id\":\"%s\","
                     "\"media\":{\"track\":\"%s\",\"chunk\":%llu,\"timestamp\":%llu,"
                     "\"payload\":\"",
                     (unsigned long long)seq, stream_id,
                     track == STREAM_TRACK_OUTBOUND ? "outbound" : "inbound",
                     (unsigned long long)chunk, (unsigned long long)ts_ms);
    if (done(n, cap) < 0)
        return VP_E_OVERFLOW;
    int b = crypto_base64_encode(payload, len, out + n, cap - (size_t)n);
    if (b < 0 || (size_t)(n + b) + 4 > cap)
        return VP_E_OVERFLOW;
    memcpy(out + n + b, "\"}}", 4);
    return n + b + 3;
}

int stream_frame_dtmf(char *out, size_t cap, uint64_t seq, const char *stream_id, char digit)
{
    return done(snprintf(out, cap,
                         "{\"event\":\"dtmf\",\"sequence_number\":%llu,\"stream_id\":\"%s\","
                         "\"dtmf\":{\"track\":\"inbound\",\"digit\":\"%c\"}}",
                         (unsigned long long)seq, stream_id, digit),
                cap);
}

int stream_frame_stop(char *out, size_t cap, uint64_t seq, const char *stream_id)
{
    return done(snprintf(out, cap,
                         "{\"event\":\"stop\",\"sequence_number\":%llu,\"stream_id\":\"%s\"}",
                         (unsigned long long)seq, stream_id),
                cap);
}

static int parse_media(const json_t *o, uint8_t *payload, size_t cap, size_t *plen)
{
    const json_t *p = json_object_get(json_object_get(o, "media"), "payload");
    if (!json_is_string(p))
        return VP_E_PARSE;
    int n = crypto_base64_decode(json_string_value(p), json_string_length(p), payload, cap);
    if (n < 0)
        return VP_E_PARSE;
    *plen = (size_t)n;
    return STREAM_IN_MEDIA;
}

int stream_frame_parse_in(const char *text, size_t len, uint8_t *payload, size_t cap, size_t *plen)
{
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return VP_E_PARSE;
    }
    const char *ev = json_string_value(json_object_get(o, "event"));
    int kind = STREAM_IN_IGNORED;
    if (ev && strcmp(ev, "media") == 0)
        kind = parse_media(o, payload, cap, plen);
    else if (ev && strcmp(ev, "clear") == 0)
        kind = STREAM_IN_CLEAR;
    json_decref(o);
    return kind;
}
