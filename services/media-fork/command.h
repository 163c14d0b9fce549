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

#include <stddef.h>

#include "leg.h"
#include "leg_ids.h"
#include "voepy/err.h"

#define REPLY_TO_PREFIX "voepy:cc:"

enum mf_op {
    MF_OP_NONE, /* not parsed (yet) */
    MF_OP_ALLOCATE,
    MF_OP_CONNECT,
    MF_OP_RELEASE,
};

struct mf_command {
    enum mf_op op;
    char leg_id[LEG_ID_MAX];
    char call_id[LEG_ID_MAX];   /* allocate; "" when absent */
    char tenant_id[LEG_ID_MAX]; /* allocate; "" when absent */
    char reply_to[STREAM_MAX];  /* allocate (required), release (optional) */
    struct leg_remote remote;   /* connect */
};

/*
 * Parse one message body. Returns 0, or VP_E_PARSE (not a JSON object) /
 * VP_E_INVALID_PARAMETER (a field is missing or wrong) with e naming the field. Fields
 * are read in the order op, leg_id, reply_to, then the rest: on failure, those already
 * read are filled (so the caller can still answer whoever asked), the others are empty.
 */
int command_parse(const char *body, size_t len, struct mf_command *c, struct vp_error *e);
const char *command_op_name(enum mf_op op);

#endif
