/*
 * call_record.h - recordings of a call: the API's start_recording / stop_recording
 * actions, the record option of call creation (on_answer; on_ringing, from early media
 * when there is some, else at the answer; on_demand and off start nothing) and answer's
 * record "record-from-answer", carried out on the call's media-fork leg (record_start /
 * record_stop, proto/streams.md); media-fork's recording_done completes the recordings row and
 * emits recording.completed or recording.failed (proto/sql/0026_recording.sql).
 *
 * The recordings row is written (status recording) before record_start is sent, by
 * cc_recording_start, which also names the recording. A recording still running when
 * the call ends is finished by media-fork at the leg's release and reported like any
 * other: recording_done may arrive after the call has left this node, so it is recorded
 * by id, without the call.
 *
 * Actions: start_recording is done once record_start is sent (failed when the call is
 * not answered here, or the command cannot be sent); stop_recording is done once
 * record_stop is sent (also when nothing was recording). The outcome of the recording
 * itself is the recording's status and event.
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_RECORD_H
#define CC_CALL_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct call;
struct cc;
struct pg_result;

/* start_recording or stop_recording (see INBOX_VERBS). */
bool call_record_is_verb(const char *op);
/*
 * Carry out a recording action of call_id; 0 when the call takes it (its call_actions row
 * is completed as above), else VP_E_NOT_FOUND (not live here) or VP_E_CONFLICT (not
 * answered with a media leg) with why set. params is the command's "params".
 */
int call_record_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                       const json_t *params, char *why, size_t n);
/* An inbound call's answer params: remember record "record-from-answer" for the answer. */
void call_record_answer_params(struct call *c, const json_t *params);
/*
 * Whether c's answered statement is to start its automatic recording (store.c passes it
 * a new recording id then): not when early media already started record on_ringing.
 */
bool call_record_answer_starts(const struct call *c);
/*
 * c's answered statement (cc_call_answered / cc_inbound_answered) returned res: when it
 * started the recording the call asked for at answer (record on_answer, on_ringing when
 * early media did not start it, record-from-answer), send record_start for it, or mark
 * the recording failed when the call can no longer take it.
 */
void call_record_answered(struct call *c, int status, const struct pg_result *res);
/*
 * An outbound call's leg was connected by early media (call_out.c, once): a call created
 * with record on_ringing starts recording now, so the recording holds what was heard and
 * played before the answer as well; it is the call's one automatic recording
 * (cc_recording_start: at most one per call), which call_record_answered does not start
 * again. Without early media on_ringing starts at the answer, like on_answer. The
 * recording's duration is what it holds (ringing included); the call's billing is not
 * touched (it counts from the answer).
 */
void call_record_early(struct call *c);
/* recording_done from media-fork (inbox.c). */
void call_record_done(struct cc *cc, const json_t *m);

#endif
