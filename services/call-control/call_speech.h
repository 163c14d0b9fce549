/*
 * call_speech.h - the speech verbs of a call: speak and gather_using_speak (carried out
 * by call_media.c as a play / gather whose audio media-fork renders from text), and
 * transcription_start / transcription_stop; media-fork's transcription_started completes
 * the start, and its transcript_chunk and transcription_ended become call.transcript_chunk
 * events, the transcript behind GET /v1/calls/{id}/transcription and the transcription
 * minutes charged at the call's end (proto/sql/0027_speech.sql).
 *
 * Actions: speak is done when its playback ends (as play); transcription_start is done
 * when media-fork answers transcription_started and failed when it refuses it
 * (media.failed naming the transcription_id, e.g. a language it has no model for);
 * transcription_stop is done once sent. A transcription's id at media-fork is its
 * transcription_start action id.
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_SPEECH_H
#define CC_CALL_SPEECH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct call;
struct cc;

/* speak's media-fork command (op speak, text, voice, language; playback_id is added by
 * the caller) for leg_id from the action's params p. */
json_t *call_speech_speak_command(const char *leg_id, const json_t *p);
/*
 * gather_using_speak: put the spoken prompt on a gather command ("speak": {text, voice,
 * language}); retry: the prompt of later tries (invalid_payload, else payload). Nothing
 * when p has no payload (gather, gather_using_audio).
 */
void call_speech_gather_prompt(json_t *cmd, const json_t *p, bool retry);

/* Whether op is transcription_start or transcription_stop. */
bool call_speech_is_verb(const char *op);
/* Carry out a transcription verb on call c (answered, with a media leg); as
 * call_media_action. */
int call_speech_action(struct call *c, const char *op, const char *action_id, const json_t *p,
                       char *why, size_t n);
/* media-fork's media.failed m for a transcription_start of call c (call_media.c): the
 * action it names fails with media-fork's error and detail as its error. */
void call_speech_failed(struct call *c, const json_t *m);
/* Whether op is a reply of media-fork this module handles. */
bool call_speech_is_outcome(const char *op);
/* transcript_chunk / transcription_ended (inbox.c); m is the whole message. */
void call_speech_outcome(struct cc *cc, const json_t *m);

#endif
