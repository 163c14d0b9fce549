#include "call_state.h"

const char *call_state_name(enum call_state s)
{
    switch (s) {
    case CALL_INITIATED:
        return "initiated";
    case CALL_RINGING:
        return "ringing";
    case CALL_ANSWERED:
        return "answered";
    case CALL_BRIDGED:
        return "bridged";
    case CALL_ENDED:
        return "ended";
    case CALL_FAILED:
        return "failed";
    }
    return "?";
}

bool call_state_terminal(enum call_state s)
{
    return s == CALL_ENDED || s == CALL_FAILED;
}

bool call_state_can_move(enum call_state from, enum call_state to)
{
    switch (to) {
    case CALL_RINGING:
        return from == CALL_INITIATED;
    case CALL_ANSWERED:
        return from == CALL_INITIATED || from == CALL_RINGING;
    case CALL_BRIDGED:
        return from == CALL_ANSWERED;
    case CALL_ENDED:
        return from == CALL_ANSWERED || from == CALL_BRIDGED;
    case CALL_FAILED:
        return from == CALL_INITIATED || from == CALL_RINGING;
    case CALL_INITIATED:
        return false;
    }
    return false;
}

const char *call_reason_for_status(int sip_status)
{
    switch (sip_status) {
    case 486:
    case 600:
        return "busy";
    case 408:
    case 480:
        return "no_answer";
    case 603:
        return "rejected";
    default:
        return "failed";
    }
}
