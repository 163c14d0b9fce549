/*
 * leg_event.h - what a leg reports on its own, later than the command that caused it:
 * a playback that ended, a gather that completed. The engine hands these to whoever
 * registered with engine_on_event() (the inbox, which answers on reply_to).
 *
 * Every string points into the leg and is valid only during the callback.
 */
#ifndef MF_LEG_EVENT_H
#define MF_LEG_EVENT_H

#include <stdbool.h>

enum leg_event_type {
    LEG_EV_PLAYBACK_ENDED,  /* reason: finished | stopped | failed */
    LEG_EV_GATHER_COMPLETE, /* status: valid | invalid | timeout | cancelled; digits */
    LEG_EV_AMD_COMPLETE,    /* status: human | machine | unknown; beep */
};

struct leg_event {
    enum leg_event_type type;
    const char *leg_id, *call_id;
    const char *reply_to; /* the command's reply_to, else the leg's allocate's */
    const char *id;       /* playback_id / gather_id, "" when the command gave none */
    const char *reason;   /* LEG_EV_PLAYBACK_ENDED */
    const char *status;   /* LEG_EV_GATHER_COMPLETE */
    const char *digits;   /* LEG_EV_GATHER_COMPLETE */
    bool beep;            /* LEG_EV_AMD_COMPLETE: a beep followed a machine's greeting */
    unsigned elapsed_ms;  /* LEG_EV_AMD_COMPLETE: audio analysed */
};

#endif
