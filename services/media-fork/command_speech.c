/*
 * The fields of the speech commands on voepy:mf:{node} (proto/streams.md): speak, the
 * "speak" prompt of gather, transcription_start and transcription_stop. Text is free
 * UTF-8 (spaces allowed, no control characters but newline and tab); the voice is only
 * checked for shape here: whether the engine speaks it is tts_get's answer.
 */
#include <string.h>

#include "command.h"

/* text: required, 1..TTS_TEXT_MAX-1 bytes, no control characters but \t \n \r. */
static int get_text(const json_t *o, const char *key, char *dst, struct vp_error *e)
{
    const json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!json_is_string(v))
        return command__bad(e, key, "is required (a string)");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n >= TTS_TEXT_MAX)
        return command__bad(e, key, "has a bad length");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f)
            return command__bad(e, key, "must not contain control characters");
    }
    memcpy(dst, s, n + 1);
    return 0;
}

/* text, voice (required), language (optional) of o into c. */
static int parse_spoken(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    int err = get_text(o, "text", c->text, e);
    if (!err)
        err = command__get_str(o, "voice", true, c->voice, sizeof(c->voice), e);
    if (!err)
        err = command__get_str(o, "language", false, c->language, sizeof(c->language), e);
    return err;
}

int command__parse_speak_prompt(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    const json_t *sp = json_object_get(o, "speak");
    if (!sp || json_is_null(sp))
        return 0;
    if (!json_is_object(sp))
        return command__bad(e, "speak", "must be an object");
    if (c->audio[0])
        return command__bad(e, "speak", "and play cannot both be given");
    return parse_spoken(sp, c, e);
}

static int parse_choice(const json_t *o, const char *key, const char *a, const char *b,
                        const char *cc, char *dst, size_t cap, struct vp_error *e)
{
    int err = command__get_str(o, key, false, dst, cap, e);
    if (err || !dst[0] || strcmp(dst, a) == 0 || strcmp(dst, b) == 0 ||
        (cc && strcmp(dst, cc) == 0))
        return err;
    dst[0] = '\0';
    return command__bad(e, key, "is not one of the allowed values");
}

int command__parse_speech(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    int err;
    switch (c->op) {
    case MF_OP_SPEAK:
        err = parse_spoken(o, c, e);
        if (!err)
            err = command__get_str(o, "playback_id", false, c->media_id, sizeof(c->media_id), e);
        return err;
    case MF_OP_TRANSCRIPTION_START:
        err = command__get_str(o, "transcription_id", false, c->media_id, sizeof(c->media_id), e);
        if (!err)
            err = parse_choice(o, "engine", "fast", "accurate", NULL, c->engine, sizeof(c->engine),
                               e);
        if (!err)
            err = parse_choice(o, "tracks", "inbound", "outbound", "both", c->tracks,
                               sizeof(c->tracks), e);
        if (!err) /* which model hears it: transcribe_start's to check */
            err = command__get_str(o, "language", false, c->language, sizeof(c->language), e);
        return err;
    default: /* transcription_stop */
        return command__get_str(o, "transcription_id", false, c->media_id, sizeof(c->media_id), e);
    }
}
