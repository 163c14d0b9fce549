/*
 * call_stream.h - WebSocket media streams of a call: the API's streaming_start /
 * streaming_stop actions and answer's stream_url, carried out on the call's media-fork
 * leg (streaming_start / streaming_stop, proto/streams.md); media-fork's
 * streaming_started and streaming_ended move the call_streams row (requested -> active ->
 * stopped | failed, proto/sql/0029_streaming.sql).
 *
 * The gateway writes the row and gives its id (params.stream_id) with the action.
 * Streams are always bidirectional: the customer's server may send audio back, which
 * media-fork plays to the call (docs/api.md).
 *
 * Actions: streaming_start is done once the command is sent (failed, with its row, when
 * the call is not answered here or the command cannot be sent); streaming_stop is done
 * once its command is sent. How the stream went is its row.
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_STREAM_H
#define CC_CALL_STREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct call;
struct cc;

/* streaming_start or streaming_stop (see INBOX_VERBS). */
bool call_stream_is_verb(const char *op);
/*
 * Carry out a stream action of call_id; 0 when the call takes it, else VP_E_NOT_FOUND
 * (not live here), VP_E_CONFLICT (not answered with a media leg), VP_E_INVALID_PARAMETER
 * (no stream_id / stream_url) or the send's error, with why set.
 */
int call_stream_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                       const json_t *params, char *why, size_t n);
/* An inbound call's answer params: remember stream_url (and its stream_id) for the answer. */
void call_stream_answer_params(struct call *c, const json_t *params);
/* c was answered: start the stream its answer asked for, if any (once). */
void call_stream_answered(struct call *c);
/* streaming_started or streaming_ended from media-fork. */
bool call_stream_is_reply(const char *op);
void call_stream_reply(struct cc *cc, const json_t *m);

#endif
