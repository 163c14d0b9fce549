/*
 * call_relay.h - the media of relay numbers: a forwarding number (call_forward.h) with
 * relay_record and/or relay_transcribe gets its forwarded calls recorded (dual, mp3) and
 * transcribed (engine fast, both tracks) once the inbound call is bridged with its child.
 *
 * cc_relay_media (proto/sql/0035_relay_media.sql), run by the inbound call's answered
 * statement (cc_inbound_answered), reads what the number asks for and writes the
 * transcription's row; the recording is started as the API's start_recording
 * is (call_record.c, cc_recording_start), the transcription with media-fork's
 * transcription_start as the API's (its reports go through call_speech.c). Rows, events
 * and charges are therefore those of API-started ones. The inbound call's call.ended
 * names the recording and carries the transcript so far (voepy_call_event_data, 0035).
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_RELAY_H
#define CC_CALL_RELAY_H

struct call;
struct pg_result;

/*
 * c's answered statement (cc_inbound_answered) returned res (status 0) or failed: for a
 * forwarded call, what its number asks for (relay_record, relay_transcribe), started
 * once the bridge is sent too.
 */
void call_relay_answered(struct call *c, int status, const struct pg_result *res);
/*
 * call_forward.c: the forwarded (inbound) call p is being bridged with its child (the
 * bridge command is sent). What the answer said is started now, or when the answer
 * comes, if p is still answered or bridged with its media leg.
 */
void call_relay_bridged(struct call *p);

#endif
