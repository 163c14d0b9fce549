/*
 * actions.c - the call action verbs (all but hangup, see calls.c) and the call
 * sub-resources: POST /v1/calls/{id}/actions/{verb}, GET /v1/calls/{id}/streamings,
 * /transcription and /amd.
 *
 * A verb's body is checked here against its field table (unknown field or wrong type 400,
 * bad value 422, both naming the field) plus the checks a table cannot express; the state
 * rules, the record of the request and its answer are one SQL function,
 * api_call_action() in proto/sql/0012_api_actions.sql. The gateway passes the alive
 * call-control nodes that advertise the verb (ccnodes.c): a call whose node is not among
 * them answers 501 not_implemented. Otherwise, after commit, the node gets
 *   {"op": "<verb>", "call_id", "tenant_id", "action_id", "params": {...}}
 * on voepy:cc:{node} (proto/streams.md), and the answer is the latest Call resource.
 *
 * Ranges and defaults (the defaults are applied by api_action_defaults() in SQL, so the
 * stored params and the command carry them):
 *   answer       record "record-from-answer" (absent: no recording), record_channels
 *                single, record_format mp3 (when recording); stream_track inbound_track,
 *                stream_codec PCMU (when stream_url is given; ws:// or wss://)
 *   reject       cause user_busy|rejected (required)
 *   transfer     to E.164 (required), from E.164, timeout_secs 1-600 (30)
 *   bridge       leg_id voepy_leg_ (required)
 *   refer        sip_address sip:/sips: URI, at most 256 chars (required)
 *   play         url http(s) (required), loop 1-100 (1), target_legs self|opposite|both (self)
 *   stop_playback stop current|all (all)
 *   speak        payload 1-3000 characters (required), voice 1-128 chars (required),
 *                language BCP-47 tag, 2-35 chars (en-US)
 *   start_recording channels single|dual, format mp3|wav (both required), max_length
 *                1-14400 s (none: until stop_recording or the end of the call),
 *                play_beep (false)
 *   send_dtmf    digits [0-9*#A-Dw]{1,64} (required; w = 0.5 s pause), duration_millis
 *                100-500 (250)
 *   gather*      minimum_digits 1-128 (1), maximum_digits 1-128 and >= minimum (128),
 *                terminating_digit one of 0-9*# (#), timeout_millis 1000-120000 (60000),
 *                inter_digit_timeout_millis 1000-60000 (5000), maximum_tries 1-10 (1 for
 *                gather, 3 for the prompting variants)
 *   gather_using_speak + payload (required), voice (required), language (en-US),
 *                invalid_payload 1-3000 characters
 *   gather_using_audio + audio_url http(s) (required), invalid_audio_url http(s)
 *   streaming_start stream_url ws(s) (required), stream_track inbound_track|outbound_track|
 *                both_tracks (inbound_track), stream_codec PCMU|PCMA|G722|OPUS|L16 (PCMU)
 *   streaming_stop stream_id voepy_stream_ (absent: every stream of the call)
 *   transcription_start language (en-US; one some media-fork node has a model for, else
 *                422, see languages.c), engine fast|accurate (fast),
 *                transcription_tracks inbound|outbound|both (inbound)
 *   stop_recording, stop_gather, transcription_stop: {} only.
 * Every optional field may also be null (= absent).
 */
#include "api.h"

#include <ctype.h>
#include <string.h>

#include "validate.h"

#define N(a)         (sizeof(a) / sizeof((a)[0]))
#define OPT          JF_NULLABLE
#define REQ          JF_REQUIRED
#define TEXT_MAX     3000 /* speak payloads, in characters */
#define TEXT_MAX_B   (4 * TEXT_MAX)
#define SIP_ADDR_MAX 256

static const char *const record_choices[] = {"record-from-answer", NULL};
static const char *const channels_choices[] = {"single", "dual", NULL};
static const char *const format_choices[] = {"mp3", "wav", NULL};
static const char *const track_choices[] = {"inbound_track", "outbound_track", "both_tracks", NULL};
static const char *const codec_choices[] = {"PCMU", "PCMA", "G722", "OPUS", "L16", NULL};
static const char *const cause_choices[] = {"user_busy", "rejected", NULL};
static const char *const legs_choices[] = {"self", "opposite", "both", NULL};
static const char *const stop_choices[] = {"current", "all", NULL};
static const char *const engine_choices[] = {"fast", "accurate", NULL};
static const char *const ttracks_choices[] = {"inbound", "outbound", "both", NULL};
static const char *const term_choices[] = {"0", "1", "2", "3", "4", "5", "6",
                                           "7", "8", "9", "*", "#", NULL};

#define F_ENUM(n, fl, c)                                      \
    {                                                         \
        .name = n, .type = JF_ENUM, .flags = fl, .choices = c \
    }
#define F_INT(n, lo, hi)                                              \
    {                                                                 \
        .name = n, .type = JF_INT, .flags = OPT, .min = lo, .max = hi \
    }
#define F_STR(n, fl, lo, hi)                                            \
    {                                                                   \
        .name = n, .type = JF_STRING, .flags = fl, .min = lo, .max = hi \
    }
#define F_URL(n, fl)                           \
    {                                          \
        .name = n, .type = JF_URL, .flags = fl \
    }
#define GATHER_DIGIT_FIELDS                                                                    \
    F_INT("minimum_digits", 1, 128), F_INT("maximum_digits", 1, 128),                          \
        F_ENUM("terminating_digit", OPT, term_choices), F_INT("timeout_millis", 1000, 120000), \
        F_INT("inter_digit_timeout_millis", 1000, 60000), F_INT("maximum_tries", 1, 10)

static const struct jfield answer_fields[] = {
    F_ENUM("record", OPT, record_choices),        F_ENUM("record_channels", OPT, channels_choices),
    F_ENUM("record_format", OPT, format_choices), F_URL("stream_url", OPT),
    F_ENUM("stream_track", OPT, track_choices),
};
static const struct jfield reject_fields[] = {F_ENUM("cause", REQ, cause_choices)};
static const struct jfield transfer_fields[] = {
    {.name = "to", .type = JF_E164, .flags = REQ},
    {.name = "from", .type = JF_E164, .flags = OPT},
    F_INT("timeout_secs", 1, 600),
};
static const struct jfield bridge_fields[] = {
    {.name = "leg_id", .type = JF_ID, .flags = REQ, .kind = "leg"}};
static const struct jfield refer_fields[] = {F_STR("sip_address", REQ, 5, SIP_ADDR_MAX)};
static const struct jfield play_fields[] = {F_URL("url", REQ), F_INT("loop", 1, 100),
                                            F_ENUM("target_legs", OPT, legs_choices)};
static const struct jfield stop_playback_fields[] = {F_ENUM("stop", OPT, stop_choices)};
static const struct jfield speak_fields[] = {F_STR("payload", REQ, 1, TEXT_MAX_B),
                                             F_STR("voice", REQ, 1, 128),
                                             F_STR("language", OPT, 2, 35)};
static const struct jfield start_recording_fields[] = {
    F_ENUM("channels", REQ, channels_choices),
    F_ENUM("format", REQ, format_choices),
    F_INT("max_length", 1, 14400),
    {.name = "play_beep", .type = JF_BOOL, .flags = OPT}};
static const struct jfield send_dtmf_fields[] = {F_STR("digits", REQ, 1, 64),
                                                 F_INT("duration_millis", 100, 500)};
static const struct jfield gather_fields[] = {GATHER_DIGIT_FIELDS};
static const struct jfield gather_speak_fields[] = {
    GATHER_DIGIT_FIELDS, F_STR("payload", REQ, 1, TEXT_MAX_B), F_STR("voice", REQ, 1, 128),
    F_STR("language", OPT, 2, 35), F_STR("invalid_payload", OPT, 1, TEXT_MAX_B)};
static const struct jfield gather_audio_fields[] = {GATHER_DIGIT_FIELDS, F_URL("audio_url", REQ),
                                                    F_URL("invalid_audio_url", OPT)};
static const struct jfield streaming_start_fields[] = {F_URL("stream_url", REQ),
                                                       F_ENUM("stream_track", OPT, track_choices),
                                                       F_ENUM("stream_codec", OPT, codec_choices)};
static const struct jfield streaming_stop_fields[] = {
    {.name = "stream_id", .type = JF_ID, .flags = OPT, .kind = "stream"}};
static const struct jfield transcription_start_fields[] = {
    F_STR("language", OPT, 2, 35), F_ENUM("engine", OPT, engine_choices),
    F_ENUM("transcription_tracks", OPT, ttracks_choices)};

/* ---- checks a field table cannot express; each answers r and returns non-zero ---- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int check_text(struct api_req *r, const char *field)
{
    const char *s = vjson_str(r->body, field);
    if (s && utf8_chars(s) > TEXT_MAX)
        return reply_fail(r, VP_E_INVALID_PARAMETER, field, "%s must be 1 to %d characters long.",
                          field, TEXT_MAX);
    return 0;
}

/* A BCP-47 language tag, loosely: 2-3 letters, then "-" separated letters and digits. */
static int check_language(struct api_req *r)
{
    const char *s = vjson_str(r->body, "language");
    if (!s)
        return 0;
    size_t lead = 0;
    while (isalpha((unsigned char)s[lead]))
        lead++;
    bool ok = lead >= 2 && lead <= 3 && s[strlen(s) - 1] != '-';
    for (const char *p = s + lead; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || (*p == '-' && p[1] != '-');
    if (!ok)
        return reply_fail(r, VP_E_INVALID_PARAMETER, "language",
                          "language must be a language tag such as en-US.");
    return 0;
}

static int check_http_url(struct api_req *r, const char *field)
{
    const char *url = vjson_str(r->body, field);
    return url ? input_url_check(r, field, url) : 0;
}

/* A ws:// or wss:// URL whose literal address, if any, the SSRF guard allows. */
static int check_ws_url(struct api_req *r, const char *field)
{
    const char *url = vjson_str(r->body, field);
    return url ? input_ws_url_check(r, field, url) : 0;
}

/* "sip:" or "sips:", an optional "user@", then host[:port] and optional ";params". */
static bool sip_address_ok(const char *s)
{
    size_t scheme = strncmp(s, "sips:", 5) == 0 ? 5 : strncmp(s, "sip:", 4) == 0 ? 4 : 0;
    if (!scheme)
        return false;
    const char *host = s + scheme, *at = strchr(host, '@');
    if (at) {
        size_t ulen = (size_t)(at - host);
        if (ulen == 0 || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-_.!~*'()&=+$,;?/%") != ulen)
            return false;
        host = at + 1;
    }
    size_t hlen = strcspn(host, ";");
    const char *params = host + hlen;
    if (*params && strspn(params, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789-_.=;") != strlen(params))
        return false;
    char buf[SIP_ADDR_MAX + 8];
    snprintf(buf, sizeof(buf), "sip:%.*s", (int)hlen, host);
    return validate_sip_uri(buf);
}

static int check_answer(struct api_req *r)
{
    return check_ws_url(r, "stream_url");
}

static int check_refer(struct api_req *r)
{
    if (!sip_address_ok(vjson_str(r->body, "sip_address")))
        return reply_fail(r, VP_E_INVALID_PARAMETER, "sip_address",
                          "sip_address must be a sip: or sips: URI such as sip:user@host.");
    return 0;
}

static int check_play(struct api_req *r)
{
    return check_http_url(r, "url");
}

static int check_speak(struct api_req *r)
{
    return check_text(r, "payload") || check_language(r);
}

static int check_send_dtmf(struct api_req *r)
{
    const char *d = vjson_str(r->body, "digits");
    if (strspn(d, "0123456789*#ABCDw") != strlen(d))
        return reply_fail(r, VP_E_INVALID_PARAMETER, "digits",
                          "digits may hold only 0-9, *, #, A-D and w (a half-second pause).");
    return 0;
}

static int check_gather(struct api_req *r)
{
    long long min = vjson_int(r->body, "minimum_digits", 1);
    if (vjson_int(r->body, "maximum_digits", 128) < min)
        return reply_fail(r, VP_E_INVALID_PARAMETER, "maximum_digits",
                          "maximum_digits must not be less than minimum_digits.");
    return 0;
}

static int check_gather_speak(struct api_req *r)
{
    return check_gather(r) || check_text(r, "payload") || check_text(r, "invalid_payload") ||
           check_language(r);
}

static int check_gather_audio(struct api_req *r)
{
    return check_gather(r) || check_http_url(r, "audio_url") ||
           check_http_url(r, "invalid_audio_url");
}

static int check_streaming_start(struct api_req *r)
{
    return check_ws_url(r, "stream_url");
}

/* ---- the verb table ---- */

struct verb {
    const char *name;
    const struct jfield *fields;
    size_t nfields;
    int (*check)(struct api_req *r); /* NULL: the table says it all */
};

#define VERB(name, fields, check)      \
    {                                  \
        name, fields, N(fields), check \
    }
#define BARE(name)          \
    {                       \
        name, NULL, 0, NULL \
    }

static const struct verb verbs[] = {
    VERB("answer", answer_fields, check_answer),
    VERB("reject", reject_fields, NULL),
    VERB("transfer", transfer_fields, NULL),
    VERB("bridge", bridge_fields, NULL),
    VERB("refer", refer_fields, check_refer),
    VERB("play", play_fields, check_play),
    VERB("stop_playback", stop_playback_fields, NULL),
    VERB("speak", speak_fields, check_speak),
    VERB("start_recording", start_recording_fields, NULL),
    BARE("stop_recording"),
    VERB("send_dtmf", send_dtmf_fields, check_send_dtmf),
    VERB("gather", gather_fields, check_gather),
    VERB("gather_using_speak", gather_speak_fields, check_gather_speak),
    VERB("gather_using_audio", gather_audio_fields, check_gather_audio),
    BARE("stop_gather"),
    VERB("streaming_start", streaming_start_fields, check_streaming_start),
    VERB("streaming_stop", streaming_stop_fields, NULL),
    VERB("transcription_start", transcription_start_fields, check_language),
    BARE("transcription_stop"),
};

static const struct verb *verb_find(const char *name)
{
    for (size_t i = 0; i < N(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static void action_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    const char *node = pg_get(res, 0, "node_id");
    json_t *params = node ? json_loads(pg_get(res, 0, "params"), 0, NULL) : NULL;
    if (reply_pg_replayed(res) || !params) {
        reply_pg_row(r, res);
        return;
    }
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s, s:o}", "op", input_param(r, 1), "call_id",
                            input_param(r, 0), "tenant_id", r->tenant_id, "action_id",
                            pg_get(res, 0, "action_id"), "params", params);
    command_send_then_answer(r, res, input_printf(r, "voepy:cc:%s", node), msg);
}

/* The checked action, to the database (then to its node, action_cb). */
static void action_query(struct api_req *r)
{
    const struct verb *v = verb_find(input_param(r, 1));
    const char *params[8] = {r->tenant_id, input_param(r, 0), v->name, input_body_text(r),
                             ccnodes_with_verb(r->api->ccnodes, r, v->name)};
    input_idem_params(r, params + 5);
    reply_query(r, "SELECT * FROM api_call_action($1, $2, $3, $4::jsonb, $5::text[], $6, $7, $8)",
                8, params, action_cb);
}

void calls_action(struct api_req *r)
{
    const char *id = input_id(r, "call", "call");
    if (!id)
        return;
    const char *name = input_param(r, 1);
    const struct verb *v = verb_find(name);
    if (!v) {
        reply_fail(r, VP_E_NOT_FOUND, NULL, "No call action named %s.", name);
        return;
    }
    if (input_body(r, v->fields, v->nfields, true) || (v->check && v->check(r)))
        return;
    if (strcmp(v->name, "transcription_start") == 0) { /* a language some media node hears */
        const char *language = vjson_str(r->body, "language");
        languages_check(r, language ? language : "en-US", action_query); /* 0012's default */
        return;
    }
    action_query(r);
}

/* ---- sub-resources ---- */

static void sub_get(struct api_req *r, const char *sql)
{
    const char *id = input_id(r, "call", "call");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, sql, 2, params, NULL);
}

void calls_streamings(struct api_req *r)
{
    sub_get(r, "SELECT * FROM api_call_streamings($1, $2)");
}

void calls_transcription(struct api_req *r)
{
    sub_get(r, "SELECT * FROM api_call_transcription($1, $2)");
}

void calls_amd(struct api_req *r)
{
    sub_get(r, "SELECT * FROM api_call_amd($1, $2)");
}
