/*
 * The fields of streaming_start and streaming_stop on voepy:mf:{node} (proto/streams.md),
 * checked like every command: stream_id a plain id (it goes into the frames unescaped),
 * url a string of printable characters (the URL policy judges it when the stream
 * starts), track and codec spelled exactly, bidirectional a JSON boolean.
 */
#include <string.h>

#include "command.h"
#include "stream_frame.h"

static int get_stream_id(const json_t *o, bool required, char *dst, size_t cap, struct vp_error *e)
{
    int err = command__get_str(o, "stream_id", required, dst, cap, e);
    if (err)
        return err;
    for (const char *p = dst; *p; p++)
        if (!(*p == '_' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            return command__bad(e, "stream_id", "must be letters, digits, '_' and '-'");
    return 0;
}

static int parse_start(const json_t *o, struct stream_params *p, struct vp_error *e)
{
    char track[24], codec[8];
    int err = get_stream_id(o, true, p->stream_id, sizeof(p->stream_id), e);
    if (!err)
        err = command__get_str(o, "url", true, p->url, sizeof(p->url), e);
    if (!err)
        err = command__get_str(o, "track", false, track, sizeof(track), e);
    if (!err && stream_track_parse(track[0] ? track : "inbound_track", &p->tracks))
        err = command__bad(e, "track", "must be inbound_track, outbound_track or both_tracks");
    if (!err)
        err = command__get_str(o, "codec", false, codec, sizeof(codec), e);
    if (!err && stream_codec_parse(codec[0] ? codec : "PCMU", &p->codec))
        err = command__bad(e, "codec", "must be PCMU, PCMA, G722, OPUS or L16");
    if (err)
        return err;
    const json_t *bidi = json_object_get(o, "bidirectional");
    if (bidi && !json_is_null(bidi) && !json_is_boolean(bidi))
        return command__bad(e, "bidirectional", "must be true or false");
    p->bidirectional = bidi && json_is_true(bidi);
    return 0;
}

int command__parse_stream(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    if (c->op == MF_OP_STREAMING_START)
        return parse_start(o, &c->stream, e);
    return get_stream_id(o, false, c->stream.stream_id, sizeof(c->stream.stream_id), e);
}
