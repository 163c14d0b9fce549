/*
 * reply.h - the replies media-fork writes to voepy:cc:{node} (proto/streams.md).
 *
 * Each function returns a compact JSON body that the caller frees. Strings are escaped by
 * jansson; none of the inputs need to be trusted.
 */
#ifndef MF_REPLY_H
#define MF_REPLY_H

#include "engine.h"

/* {"op":"media.allocated","leg_id","call_id","media_node","ip","port"} */
char *reply_allocated(const char *leg_id, const char *call_id, const char *node, const char *ip,
                      unsigned port);
/*
 * {"op":"media.failed","leg_id","call_id","media_node","error","request"}: error is a
 * stable code (no_ports, draining, released, invalid_request, io_error, unknown_leg),
 * request the op that failed; detail, when not NULL, a sentence for logs.
 */
char *reply_failed(const char *leg_id, const char *call_id, const char *node, const char *error,
                   const char *request, const char *detail);
/* {"op":"media.released","leg_id","call_id","media_node","packets_in",...,"reason"} */
char *reply_released(const struct leg_report *r, const char *node);
/*
 * {"op":"playback_ended","leg_id","call_id","media_node","playback_id"?,"reason"} or
 * {"op":"gather_complete","leg_id","call_id","media_node","gather_id","digits","status"}
 */
char *reply_leg_event(const struct leg_event *ev, const char *node);
/*
 * {"op":"playback_ended",...,"reason":"failed","error","detail"}: a play that could not
 * start (its audio, an unknown leg).
 */
char *reply_play_failed(const char *leg_id, const char *call_id, const char *node,
                        const char *playback_id, const char *error, const char *detail);
/* media.failed for a media verb: reply_failed's fields plus gather_id when given. */
char *reply_verb_failed(const char *leg_id, const char *call_id, const char *node,
                        const char *request, const char *gather_id, const char *error,
                        const char *detail);
/* {"op":"bridged","leg_id","call_id","media_node","peer_leg_id","peer_call_id"} or
 * {"op":"unbridged",...} (peer fields "" when the leg had no peer). */
char *reply_bridged(const char *op, const char *leg_id, const char *call_id, const char *node,
                    const char *peer_leg_id, const char *peer_call_id);

/*
 * {"op":"recording_done","leg_id","call_id","media_node","recording_id","status":
 * "completed"|"failed","duration_ms","size_bytes","storage_key","error"?,"detail"?}
 */
struct rec_result;
char *reply_recording_done(const struct rec_result *r, const char *node);

#endif
