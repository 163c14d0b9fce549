/*
 * command.h - the commands on voepy:mf:{node} (proto/streams.md), parsed and checked.
 *
 * Stream messages are peer input: every field is type- and length-checked here, ids fit
 * their fixed buffers or the command is refused, and reply_to must name a call-control
 * inbox ("voepy:cc:...") so that a forged command cannot make us write into another
 * stream. Unknown fields are ignored (producers may add fields before we read them).
 */
#ifndef MF_COMMAND_H
#define MF_COMMAND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dtmf_out.h"
#include "gather.h"
#include "leg.h"
#include "leg_ids.h"
#include "recorder.h"
#include "stream.h"
#include "tts.h"
#include "voepy/err.h"

#define REPLY_TO_PREFIX "voepy:cc:"
#define AUDIO_URL_MAX   1024

enum mf_op {
    MF_OP_NONE, /* not parsed (yet) */
    MF_OP_ALLOCATE,
    MF_OP_CONNECT,
    MF_OP_RELEASE,
    MF_OP_PLAY,
    MF_OP_STOP_PLAYBACK,
    MF_OP_GATHER,
    MF_OP_STOP_GATHER,
    MF_OP_SEND_DTMF,
    MF_OP_BRIDGE,   /* bridge.h: join leg_id and peer_leg_id */
    MF_OP_UNBRIDGE, /* bridge.h: split leg_id from its peer */
    MF_OP_RECORD_START,
    MF_OP_RECORD_STOP,
    MF_OP_STREAMING_START, /* stream.h */
    MF_OP_STREAMING_STOP,
    MF_OP_SPEAK,               /* tts.h: play rendered text */
    MF_OP_TRANSCRIPTION_START, /* transcribe.h */
    MF_OP_TRANSCRIPTION_STOP,
    MF_OP_AMD_START, /* amd.h: answering-machine detection on the leg */
    MF_OP_AMD_STOP,
    MF_OP_DIGIT_IN, /* a digit the far end sent by SIP INFO (call-control), heard as RFC 4733 */
};
#define MF_OP_LAST MF_OP_DIGIT_IN

struct mf_command {
    enum mf_op op;
    char leg_id[LEG_ID_MAX];
    char call_id[LEG_ID_MAX];   /* allocate; "" when absent */
    char tenant_id[LEG_ID_MAX]; /* allocate; "" when absent */
    char reply_to[STREAM_MAX];  /* allocate (required), release (optional) */
    struct leg_remote remote;   /* connect */
    /* The media verbs (command_media.c). */
    char audio[AUDIO_URL_MAX];   /* play (required); gather's prompt "play" ("" = none) */
    unsigned loops;              /* play: "loop", 1..100 */
    char media_id[LEG_ID_MAX];   /* play: "playback_id"; gather, stop_gather: "gather_id" */
    struct gather_params gather; /* gather */
    char digits[DTMF_OUT_MAX_DIGITS + 1]; /* send_dtmf; digit_in: its "digit" */
    unsigned duration_ms;                 /* send_dtmf: "duration_millis"; digit_in */
    char peer_leg_id[LEG_ID_MAX];         /* bridge (required) */
    bool stop_current; /* stop_playback "stop": "current" (else "all", the default) */
    /* record_start; record_stop: recording_id (optional); recorder.h */
    struct rec_params record;
    struct stream_params stream; /* streaming_start; streaming_stop: stream_id (optional) */
    /* speak, gather's "speak" prompt (text "" = none); transcription_start/stop
     * (command_speech.c): media_id is the playback_id / transcription_id. */
    char text[TTS_TEXT_MAX];
    char voice[TTS_VOICE_MAX], language[TTS_LANG_MAX];
    char engine[16], tracks[16]; /* transcription_start */
};

/*
 * Parse one message body. Returns 0, or VP_E_PARSE (not a JSON object) /
 * VP_E_INVALID_PARAMETER (a field is missing or wrong) with e naming the field. Fields
 * are read in the order op, leg_id, reply_to, then the rest: on failure, those already
 * read are filled (so the caller can still answer whoever asked), the others are empty.
 */
int command_parse(const char *body, size_t len, struct mf_command *c, struct vp_error *e);
const char *command_op_name(enum mf_op op);

/* Shared by command.c and command_media.c only. */
int command__get_str(const json_t *o, const char *key, bool required, char *dst, size_t cap,
                     struct vp_error *e);
int command__get_int(const json_t *o, const char *key, long long min, long long max, long long def,
                     long long *out, struct vp_error *e);
int command__bad(struct vp_error *e, const char *field, const char *why);
/* The fields of play, stop_playback, gather, stop_gather, send_dtmf and digit_in. */
int command__parse_media(const json_t *o, struct mf_command *c, struct vp_error *e);
/* command_record.c: the fields of record_start and record_stop. */
int command__parse_record(const json_t *o, struct mf_command *c, struct vp_error *e);
/* stream_command.c: the fields of streaming_start and streaming_stop. */
int command__parse_stream(const json_t *o, struct mf_command *c, struct vp_error *e);
/* command_speech.c: speak, gather's "speak" prompt, transcription_start/stop. */
int command__parse_speech(const json_t *o, struct mf_command *c, struct vp_error *e);
int command__parse_speak_prompt(const json_t *o, struct mf_command *c, struct vp_error *e);

#endif
