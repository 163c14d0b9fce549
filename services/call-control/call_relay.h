/*
 * call_relay.h - the media of relay numbers: a forwarding number (call_forward.h) with
 * relay_record and/or relay_transcribe gets its forwarded calls recorded (dual, mp3) and
 * transcribed (engine fast, both tracks) once the inbound call is bridged with its child.
 *
 * cc_relay_media (proto/sql/0035_relay_media.sql) reads what the number asks for and
 * writes the transcription's row; the recording is started as the API's start_recording
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

/*
 * call_forward.c: the forwarded (inbound) call p was bridged with its child (the bridge
 * command is sent). Asks the database on p's statement queue; what is asked for starts
 * when the answer comes, if p is still answered or bridged with its media leg.
 */
void call_relay_bridged(struct call *p);

#endif
