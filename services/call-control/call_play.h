/*
 * call_play.h - play, speak and stop_playback of a call, with target_legs (self, opposite,
 * both) and media-fork's queue of plays per leg (proto/streams.md).
 *
 * A play is sent to each leg it targets: the call's own (self), the leg of the call it is
 * bridged with on the same media node (opposite: the other call of a bridge, a transfer
 * or a forwarding), or both; playback_id is the action id on every leg. Its call_actions
 * row (on the call that asked) completes when every targeted leg has reported the
 * playback's end: done, or failed when any failed (the first failure's error). A call
 * that is not bridged refuses opposite/both with no_opposite_leg.
 *
 * Each leg keeps the list of plays sent to it in order (what media-fork plays now and
 * queues behind it). stop_playback ("stop": current | all, default all) goes to the
 * call's own leg and to every leg its plays target; it completes when the last playback
 * it ends reports its end (the current one's, or the last queued one's), at once when
 * nothing it could stop is known here.
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_PLAY_H
#define CC_CALL_PLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct call;
struct cc;
struct call_play; /* one leg's list of plays */

/* play or speak (op) with action id action; params the action's. Returns 0 (taken) or
 * VP_E_* with why (no_opposite_leg: VP_E_CONFLICT). */
int call_play_action(struct call *c, const char *op, const char *action, const json_t *params,
                     char *why, size_t n);
/* stop_playback. Returns 0 or VP_E_UNAVAILABLE (not sent) with why. */
int call_play_stop(struct call *c, const char *action, const json_t *params, char *why, size_t n);
/* Whether action (of c) is already sent here (a command read twice). */
bool call_play_has(struct call *c, const char *action);
/* media-fork's playback_ended for the leg of call_id (c: that call, NULL when gone). */
void call_play_ended(struct cc *cc, struct call *c, const char *call_id, const json_t *m);
/* c's leg is released: its plays never reported are closed as ended. */
void call_play_released(struct call *c);
/*
 * Ringback (the creation's audio_url, voepy-calls.txt: "on the far leg as pre-answer
 * ringback"): when a transfer's child starts ringing, its parent's leg (answered, the
 * party waiting for the transfer) hears the parent call's audio_url (calls.options, set
 * at creation; the transfer action has no audio_url), looped, queued behind plays
 * already sent there. It is stopped (only it: stop_playback with its playback_id
 * "ringback~<child id>") when the child answers (before the bridge) or ends.
 * call_play_ringback: child moved to ringing (call_out.c). call_play_ringback_stop: the
 * child answers (call_out.c); also when its leg is released (call_play_released). It
 * stops call_play_early's ringback the same way.
 */
void call_play_ringback(struct call *child);
void call_play_ringback_stop(struct call *child);
/*
 * Early media (call_out.c, once, when a 180/183's SDP first connects the leg of a call
 * without a parent): the call's own audio_url (calls.options) is played, looped, on its
 * own leg, so the far end hears it before it answers; playback_id "ringback~<call id>".
 * call_play_ringback_stop stops it at the answer, before call.answered; the leg's
 * release ends it too. Nothing is played when the call has no audio_url, or when it was
 * answered or ended before the audio_url was read.
 */
void call_play_early(struct call *c);
/* Free a list (call_media.c frees a call's media state). */
void call_play_free(struct call_play *p);

/*
 * Defined in call_media.c, which keeps each call's media state: the slot of call_id's
 * list of plays (made when make; NULL when the call has no state and !make), and the
 * tidy-up once the list is gone (the state goes when nothing else is pending).
 */
struct call_play **call_media__plays(struct cc *cc, const char *call_id, bool make);
void call_media__tidy(struct cc *cc, const char *call_id);

#endif
