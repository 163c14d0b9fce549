/* Parsing and checking voepy:mf:{node} commands; see command.h. */
#include "command.h"

#include <jansson.h>
#include <string.h>

#include "codec.h"
#include "rfc4733.h"
#include "udp_pair.h"

const char *command_op_name(enum mf_op op)
{
    switch (op) {
    case MF_OP_ALLOCATE:
        return "allocate";
    case MF_OP_CONNECT:
        return "connect";
    case MF_OP_RELEASE:
        return "release";
    case MF_OP_PLAY:
        return "play";
    case MF_OP_STOP_PLAYBACK:
        return "stop_playback";
    case MF_OP_GATHER:
        return "gather";
    case MF_OP_STOP_GATHER:
        return "stop_gather";
    case MF_OP_SEND_DTMF:
        return "send_dtmf";
    case MF_OP_BRIDGE:
        return "bridge";
    case MF_OP_UNBRIDGE:
        return "unbridge";
    case MF_OP_RECORD_START:
        return "record_start";
    case MF_OP_RECORD_STOP:
        return "record_stop";
    case MF_OP_STREAMING_START:
        return "streaming_start";
    case MF_OP_STREAMING_STOP:
        return "streaming_stop";
    case MF_OP_SPEAK:
        return "speak";
    case MF_OP_TRANSCRIPTION_START:
        return "transcription_start";
    case MF_OP_TRANSCRIPTION_STOP:
        return "transcription_stop";
    case MF_OP_AMD_START:
        return "amd_start";
    case MF_OP_AMD_STOP:
        return "amd_stop";
    case MF_OP_DIGIT_IN:
        return "digit_in";
    case MF_OP_NONE:
        break;
    }
    return "none";
}

int command__bad(struct vp_error *e, const char *field, const char *why)
{
    return vp_error_set(e, VP_E_INVALID_PARAMETER, field, "%s %s", field, why);
}

/* Copy string member key into dst (cap bytes with NUL): printable, 1..cap-1 chars. */
int command__get_str(const json_t *o, const char *key, bool required, char *dst, size_t cap,
                     struct vp_error *e)
{
    const json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return required ? command__bad(e, key, "is required") : 0;
    if (!json_is_string(v))
        return command__bad(e, key, "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n >= cap)
        return command__bad(e, key, "has a bad length");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f)
            return command__bad(e, key, "must not contain spaces or control characters");
    memcpy(dst, s, n + 1);
    return 0;
}

/* Integer member key in [min, max]; def when absent (def < min: required). */
int command__get_int(const json_t *o, const char *key, long long min, long long max, long long def,
                     long long *out, struct vp_error *e)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return def < min ? command__bad(e, key, "is required") : 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return command__bad(e, key, "is out of range");
    *out = json_integer_value(v);
    return 0;
}

static int parse_op(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    char op[32]; /* the longest: transcription_start */
    int err = command__get_str(o, "op", true, op, sizeof(op), e);
    if (err)
        return err;
    for (int i = MF_OP_ALLOCATE; i <= MF_OP_LAST; i++)
        if (strcmp(op, command_op_name((enum mf_op)i)) == 0) {
            c->op = (enum mf_op)i;
            return 0;
        }
    return command__bad(e, "op", "is not a media-fork command");
}

static int parse_reply_to(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    int err = command__get_str(o, "reply_to", c->op == MF_OP_ALLOCATE, c->reply_to,
                               sizeof(c->reply_to), e);
    if (err)
        return err;
    if (c->reply_to[0] && strncmp(c->reply_to, REPLY_TO_PREFIX, strlen(REPLY_TO_PREFIX)) != 0) {
        c->reply_to[0] = '\0';
        return command__bad(e, "reply_to", "must be a voepy:cc:{node} stream");
    }
    return 0;
}

static bool present(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return v && !json_is_null(v);
}

/* codec and payload_type: either may be absent when the other implies it. */
static int parse_codec(const json_t *o, struct leg_remote *r, struct vp_error *e)
{
    char name[16];
    long long pt = 0;
    int err = command__get_str(o, "codec", false, name, sizeof(name), e);
    if (!err)
        err = command__get_int(o, "payload_type", 0, 127, 0, &pt, e);
    if (err)
        return err;
    bool has_pt = present(o, "payload_type");
    if (has_pt && pt >= 72 && pt <= 76)
        return command__bad(e, "payload_type", "collides with RTCP packet types");
    if (name[0])
        r->codec = codec_by_name(name);
    else if (has_pt)
        r->codec = codec_by_pt((unsigned)pt);
    else
        return command__bad(e, "codec", "or payload_type is required");
    if (!r->codec)
        return command__bad(e, name[0] ? "codec" : "payload_type", "is not a supported codec");
    if (!has_pt && r->codec->static_pt < 0)
        return command__bad(e, "payload_type", "is required for a dynamic codec (OPUS)");
    r->pt = has_pt ? (uint8_t)pt : (uint8_t)r->codec->static_pt;
    return 0;
}

static int parse_connect(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    char ip[64], mode[16];
    long long port, ptime;
    int err = command__get_str(o, "remote_ip", true, ip, sizeof(ip), e);
    if (!err)
        err = command__get_int(o, "remote_port", 1, 65535, -1, &port, e);
    if (!err && udp_addr_parse(ip, (unsigned)port, &c->remote.addr))
        err = command__bad(e, "remote_ip", "is not an IP address");
    if (!err)
        err = parse_codec(o, &c->remote, e);
    if (!err)
        err = command__get_int(o, "ptime", 20, 20, 20, &ptime, e);
    if (!err)
        err = command__get_str(o, "mode", false, mode, sizeof(mode), e);
    if (err)
        return err;
    long long te_pt;
    err = command__get_int(o, "dtmf_payload_type", 96, 127, RFC4733_DEFAULT_PT, &te_pt, e);
    if (err)
        return err;
    if (te_pt == c->remote.pt)
        return command__bad(e, "dtmf_payload_type", "is the audio payload type");
    c->remote.te_pt = (uint8_t)te_pt;
    c->remote.ptime_ms = (unsigned)ptime;
    c->remote.mode = LEG_MODE_SILENCE;
    if (mode[0] && leg_mode_parse(mode, &c->remote.mode))
        return command__bad(e, "mode", "is not echo or silence");
    const json_t *hold = json_object_get(o, "hold"); /* optional boolean, default false */
    if (hold && !json_is_boolean(hold))
        return command__bad(e, "hold", "is not a boolean");
    c->remote.hold = hold && json_is_true(hold);
    return 0;
}

static int parse_fields(const json_t *o, struct mf_command *c, struct vp_error *e)
{
    int err = parse_op(o, c, e);
    if (!err)
        err = command__get_str(o, "leg_id", true, c->leg_id, sizeof(c->leg_id), e);
    if (!err && c->op != MF_OP_CONNECT)
        err = parse_reply_to(o, c, e);
    if (err)
        return err;
    if (c->op == MF_OP_CONNECT)
        return parse_connect(o, c, e);
    if (c->op >= MF_OP_PLAY)
        return command__parse_media(o, c, e);
    err = command__get_str(o, "call_id", false, c->call_id, sizeof(c->call_id), e);
    if (!err)
        err = command__get_str(o, "tenant_id", false, c->tenant_id, sizeof(c->tenant_id), e);
    return err;
}

int command_parse(const char *body, size_t len, struct mf_command *c, struct vp_error *e)
{
    memset(c, 0, sizeof(*c));
    memset(e, 0, sizeof(*e));
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return vp_error_set(e, VP_E_PARSE, "", "the message is not a JSON object");
    }
    int err = parse_fields(o, c, e);
    json_decref(o);
    return err;
}
