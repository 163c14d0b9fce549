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

#endif
