/*
 * The fields of the media verbs on voepy:mf:{node} (proto/streams.md): play,
 * stop_playback, gather, stop_gather, send_dtmf, digit_in. Checked as strictly as the other
 * commands (command.c): every field typed and ranged, ids and URLs fit their buffers.
 * Absent optional fields get the API's defaults (proto/openapi.yaml), so a command built
 * from a validated action body means the same thing here.
 */
#include <string.h>

#include "command.h"
#include "rfc4733.h"

#define LOOP_MAX      100
#define GATHER_TO_MIN 100    /* ms; the API's minimum is 1000, tests go lower */
#define GATHER_TO_MAX 600000 /* ms */
#define DTMF_MS_MIN   40
#define DTMF_MS_MAX   5000
#define DTMF_MS_DEF   250

static int parse_play(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    long long loops = 1;
    int err = command__get_str(o, "audio", true, c->audio, sizeof(c->audio), e);
    if (!err)
        err = command__get_int(o, "loop", 1, LOOP_MAX, 1, &loops, e);
    if (!err)
        err = command__get_str(o, "playback_id", false, c->media_id, sizeof(c->media_id), e);
    c->loops = (unsigned)loops;
    return err;
}

/* terminating_digit: absent -> '#'; null or "" -> none; else one DTMF character. */
static int parse_terminator(const json_t *o, char *t, struct vp_error *e)
{
    const json_t *v = json_object_get(o, "terminating_digit");
    *t = '#';
    if (!v)
        return 0;
    if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        *t = 0;
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != 1 || rfc4733_code(s[0]) < 0)
        return command__bad(e, "terminating_digit", "must be one of 0-9 * # A-D");
    *t = s[0] >= 'a' ? (char)(s[0] - 'a' + 'A') : s[0];
    return 0;
}

static int parse_gather(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    long long mn, mx, to, idt;
    int err = command__get_str(o, "gather_id", true, c->media_id, sizeof(c->media_id), e);
    if (!err)
        err = command__get_int(o, "minimum_digits", 1, GATHER_MAX_DIGITS, 1, &mn, e);
    if (!err)
        err =
            command__get_int(o, "maximum_digits", 1, GATHER_MAX_DIGITS, GATHER_MAX_DIGITS, &mx, e);
    if (!err)
        err = command__get_int(o, "timeout_millis", GATHER_TO_MIN, GATHER_TO_MAX, 60000, &to, e);
    if (!err)
        err = command__get_int(o, "inter_digit_timeout_millis", GATHER_TO_MIN, GATHER_TO_MAX, 5000,
                               &idt, e);
    if (!err)
        err = parse_terminator(o, &c->gather.terminator, e);
    if (!err)
        err = command__get_str(o, "play", false, c->audio, sizeof(c->audio), e);
    if (!err)
        err = command__parse_speak_prompt(o, c, e); /* "speak": {text, voice, language} */
    if (err)
        return err;
    if (mn > mx)
        return command__bad(e, "minimum_digits", "is larger than maximum_digits");
    c->gather.min_digits = (unsigned)mn;
    c->gather.max_digits = (unsigned)mx;
    c->gather.timeout_ms = (unsigned)to;
    c->gather.inter_digit_ms = (unsigned)idt;
    return 0;
}

/* digit_in: "digit" one DTMF character (a-d as A-D), "duration_ms" 0..60000 (0: unknown). */
static int parse_digit_in(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    long long ms;
    char d[2];
    int err = command__get_str(o, "digit", true, d, sizeof(d), e);
    if (!err)
        err = command__get_int(o, "duration_ms", 0, 60000, 0, &ms, e);
    if (err)
        return err;
    if (rfc4733_code(d[0]) < 0)
        return command__bad(e, "digit", "must be one of 0-9 * # A-D");
    c->digits[0] = d[0] >= 'a' ? (char)(d[0] - 'a' + 'A') : d[0];
    c->digits[1] = '\0';
    c->duration_ms = (unsigned)ms;
    return 0;
}

static int parse_send_dtmf(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    long long ms;
    int err = command__get_str(o, "digits", true, c->digits, sizeof(c->digits), e);
    if (!err)
        err = command__get_int(o, "duration_millis", DTMF_MS_MIN, DTMF_MS_MAX, DTMF_MS_DEF, &ms, e);
    if (err)
        return err;
    for (const char *p = c->digits; *p; p++)
        if (*p != 'w' && *p != 'W' && rfc4733_code(*p) < 0)
            return command__bad(e, "digits", "may only hold 0-9 * # A-D w W");
    c->duration_ms = (unsigned)ms;
    return 0;
}

/* stop_playback's "stop": "current" or "all" (default); "playback_id": only that play. */
static int parse_stop_playback(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    char stop[16];
    int err = command__get_str(o, "stop", false, stop, sizeof(stop), e);
    if (err)
        return err;
    if (stop[0] && strcmp(stop, "current") != 0 && strcmp(stop, "all") != 0)
        return command__bad(e, "stop", "must be current or all");
    c->stop_current = strcmp(stop, "current") == 0;
    return command__get_str(o, "playback_id", false, c->media_id, sizeof(c->media_id), e);
}

int command__parse_media(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    switch (c->op) {
    case MF_OP_PLAY:
        return parse_play(o, c, e);
    case MF_OP_GATHER:
        return parse_gather(o, c, e);
    case MF_OP_STOP_GATHER:
        return command__get_str(o, "gather_id", false, c->media_id, sizeof(c->media_id), e);
    case MF_OP_SEND_DTMF:
        return parse_send_dtmf(o, c, e);
    case MF_OP_DIGIT_IN:
        return parse_digit_in(o, c, e);
    case MF_OP_BRIDGE:
        return command__get_str(o, "peer_leg_id", true, c->peer_leg_id, sizeof(c->peer_leg_id), e);
    case MF_OP_RECORD_START:
    case MF_OP_RECORD_STOP:
        return command__parse_record(o, c, e);
    case MF_OP_STREAMING_START:
    case MF_OP_STREAMING_STOP:
        return command__parse_stream(o, c, e);
    case MF_OP_SPEAK:
    case MF_OP_TRANSCRIPTION_START:
    case MF_OP_TRANSCRIPTION_STOP:
        return command__parse_speech(o, c, e);
    case MF_OP_STOP_PLAYBACK:
        return parse_stop_playback(o, c, e);
    default:
        return 0;
    }
}
