/*
 * call_state.h - the call's states, its legal moves, and how a SIP ending maps onto the
 * product's end_reason. Pure functions: the state machine's table, tested on its own.
 *
 *   initiated -> ringing -> answered -> ended
 *   initiated -> answered            (a 2xx without a provisional)
 *   answered -> bridged -> ended     (transfer, bridge: call_bridge.h, 0025_bridge.sql)
 *   initiated | ringing -> failed
 *
 * The SQL functions of proto/sql/0020_call_control.sql accept the same moves.
 */
#ifndef CC_CALL_STATE_H
#define CC_CALL_STATE_H

#include <stdbool.h>

enum call_state {
    CALL_INITIATED, /* claimed; media being allocated or INVITE sent, nothing heard */
    CALL_RINGING,   /* 180/183 received */
    CALL_ANSWERED,  /* 2xx received, ACKed, media connected */
    CALL_BRIDGED,   /* answered, its leg bridged with another call's (call_bridge.c) */
    CALL_ENDED,     /* over after an answer */
    CALL_FAILED,    /* over without an answer */
};

/* "initiated", "ringing", ... as in calls.status. */
const char *call_state_name(enum call_state s);
bool call_state_terminal(enum call_state s);
/* Whether from -> to is a legal move. */
bool call_state_can_move(enum call_state from, enum call_state to);

/*
 * end_reason for a final SIP failure of the INVITE: 486/600 busy, 480/408 no_answer,
 * 603 rejected, anything else failed.
 */
const char *call_reason_for_status(int sip_status);

#endif
