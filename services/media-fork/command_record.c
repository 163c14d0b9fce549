/*
 * The fields of record_start and record_stop on voepy:mf:{node} (proto/streams.md),
 * checked as strictly as the other commands: enums spelled exactly, max_length ranged,
 * play_beep a JSON boolean. tenant_id and recording_id become the storage key, so they
 * must be plain ids (recorder_start checks the key they make).
 */
#include <string.h>

#include "command.h"

static int parse_enum(const json_t *o, const char *key, const char *a, const char *b, bool *is_b,
                      bool def_b, struct vp_error *e)
{
    char v[16];
    int err = command__get_str(o, key, false, v, sizeof(v), e);
    if (err)
        return err;
    if (!v[0]) {
        *is_b = def_b;
        return 0;
    }
    if (strcmp(v, a) != 0 && strcmp(v, b) != 0)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, key, "%s must be %s or %s", key, a, b);
    *is_b = strcmp(v, b) == 0;
    return 0;
}

static int parse_beep(const json_t *o, bool *beep, struct vp_error *e)
{
    const json_t *v = json_object_get(o, "play_beep");
    *beep = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return command__bad(e, "play_beep", "must be true or false");
    *beep = json_is_true(v);
    return 0;
}

static int parse_start(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    struct rec_params *p = &c->record;
    bool mp3 = false;
    long long max = 0;
    int err =
        command__get_str(o, "recording_id", true, p->recording_id, sizeof(p->recording_id), e);
    if (!err)
        err = command__get_str(o, "tenant_id", true, c->tenant_id, sizeof(c->tenant_id), e);
    if (!err)
        err = parse_enum(o, "channels", "single", "dual", &p->dual, false, e);
    if (!err)
        err = parse_enum(o, "format", "wav", "mp3", &mp3, true, e);
    if (!err)
        err = command__get_int(o, "max_length", 0, RECORDER_MAX_SECS, 0, &max, e);
    if (!err)
        err = parse_beep(o, &p->play_beep, e);
    p->format = mp3 ? REC_MP3 : REC_WAV;
    p->max_secs = (unsigned)max;
    return err;
}

int command__parse_record(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    if (c->op == MF_OP_RECORD_START)
        return parse_start(o, c, e);
    return command__get_str(o, "recording_id", false, c->record.recording_id,
                            sizeof(c->record.recording_id), e);
}
