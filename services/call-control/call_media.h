/*
 * call_media.h - the media verbs of a call (play, stop_playback, gather,
 * gather_using_audio, stop_gather, send_dtmf): the API's actions, which reach this node on
 * its inbox, become media-fork commands on the call's leg (proto/streams.md, voepy:mf:
 * {node}); what media-fork reports later (playback_ended, gather_complete, media.failed)
 * completes the actions and becomes call.gather_complete (proto/sql/0024_media_verbs.sql).
 *
 * Ids: a play's playback_id is its action id; a gather's first gather_id is its action
 * id, each retry (maximum_tries) "<action id>~<try>", so that any reply names its action
 * even when this node no longer remembers it.
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_MEDIA_H
#define CC_CALL_MEDIA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct call;
struct cc;

/* Whether op is a media verb this node carries out (see INBOX_VERBS). */
bool call_media_is_verb(const char *op);
/*
 * Carry out a media action of call_id. Returns 0 when the call takes it (the call then
 * completes its call_actions row: done once sent, or for play once media-fork reports
 * the playback's end), else VP_E_* with why set to a sentence for the action's error:
 * VP_E_NOT_FOUND (not live here), VP_E_CONFLICT (not answered, no media leg),
 * VP_E_INVALID_PARAMETER (target_legs opposite/both: the call has one leg),
 * VP_E_UNAVAILABLE (the command could not be written). params is the command's "params".
 */
int call_media_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                      const json_t *params, char *why, size_t n);
/* playback_ended or gather_complete from media-fork (inbox.c); m is the whole message. */
void call_media_outcome(struct cc *cc, const json_t *m);
/* Whether a media.failed's request is one of the verbs' (media_client.c). */
bool call_media_is_verb_request(const char *request);
/* media.failed for a verb of call c: a failed gather fails its action. */
void call_media__failed(struct call *c, const json_t *m);
/* c's leg is released (or given up): a stop_playback still waiting completes, the rest
 * of the call's media state is forgotten. */
void call_media__released(struct call *c);
/* Forget every call's media state (inbox_close: no reply can come any more). */
void call_media_free_all(struct cc *cc);

/* media_client.c: send a verb command (reply_to is added) to c's media node; takes cmd.
 * Returns 0 or VP_E_*. */
int media__send_verb(struct call *c, json_t *cmd);
/* The same, with a sentence for the action's error in why when it fails. */
int media__send_or_why(struct call *c, json_t *cmd, char *why, size_t n);
/* The call call_id, carried here, answered or bridged, with a media leg: 0 and *cp, or
 * VP_E_NOT_FOUND / VP_E_CONFLICT with why (what every media action needs first). */
int call_media_call(struct cc *cc, const char *call_id, struct call **cp, char *why, size_t n);
/* store.c: the final result of a gather action (cc_gather_complete): done, and the
 * call.gather_complete event. */
void store__gather_complete(struct call *c, const char *action_id, const char *digits,
                            const char *status);

#endif
