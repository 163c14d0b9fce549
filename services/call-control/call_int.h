/*
 * call_int.h - struct call, shared by the files of the call module: call.c (registry,
 * state bookkeeping, ending), call_out.c (the outbound SIP side), media_client.c (the
 * media leg on media-fork), store.c (PostgreSQL).
 *
 * Lifetime: a call is freed when it is over and recorded (or abandoned at stop), no SQL
 * is in flight for it and no name lookup is pending; then its two timers are closed and
 * the memory goes with the last close callback. Nothing frees a call from inside its own
 * callback stack: call__maybe_free only starts the closes.
 */
#ifndef CC_CALL_INT_H
#define CC_CALL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "call.h"
#include "call_state.h"
#include "cc_int.h"
#include "sdp.h"
#include "sip_transport.h"
#include "voepy/id.h"

struct pg_result;
struct sip_session;
struct sip_uas;
struct store_op;
struct call_refer;
struct call_info;

enum media_state {
    MEDIA_NONE,       /* nothing asked */
    MEDIA_ALLOCATING, /* allocate sent, waiting for media.allocated */
    MEDIA_ALLOCATED,  /* ports reserved (connected once answered) */
    MEDIA_RELEASING,  /* release sent, waiting for media.released */
    MEDIA_RELEASED,   /* counters known (or given up) */
};

struct call_media {
    enum media_state state;
    char node[128];
    char ip[SIP_IP_MAX];
    int port;
    long long packets_in, packets_out;
    bool counted;           /* packets_* came from media-fork */
    bool gone;              /* media-fork never answered the release (cc_media_lost) */
    long long lost;         /* far end's RTP lost (media.released "lost") */
    long long jitter_ms;    /* its interarrival jitter ("jitter_ms") */
    long long rtt_ms;       /* RTCP round-trip time ("rtt_ms"), -1 when unknown */
    uint64_t pick_deadline; /* uv_now until which we wait for a media-fork node */
};

/* An answer or reject that came while the inbound call's row was being written. */
struct call_early_action {
    char verb[8]; /* "answer" | "reject" | "" */
    char action_id[ID_MAX];
    bool busy; /* reject: user_busy (else rejected) */
};

struct call {
    struct cc *cc;
    char id[ID_MAX], tenant_id[ID_MAX], leg_id[ID_MAX], route_id[ID_MAX];
    char from[64], to[64];
    char *sip_uri;
    enum sip_proto proto;
    int timeout_secs, time_limit_secs;
    enum call_state state;
    /* the answer */
    int answer_status;
    char remote_media[SIP_IP_MAX + 8];
    char codec[8];
    bool early_media; /* outbound: a 180/183's SDP connected the leg before the answer */
    /* the ending, once decided */
    const char *end_reason, *end_initiator;
    int end_sip_status;  /* 0 = none */
    int64_t answered_ms; /* when the 2xx arrived: time limits count from here */
    int64_t end_ms;
    bool end_recorded; /* cc_call_ended done (or given up) */
    bool abandoned;    /* stop: record nothing more */
    struct sip_session *sess;
    struct call_routes *routes; /* outbound: credentials and failover (call_route.h) */
    bool failed_over;           /* the failover route was dialled (once per call) */
    /* inbound (call_in.c) */
    bool inbound;
    bool creating;  /* cc_inbound_create in flight */
    bool answering; /* the answer command is being carried out */
    struct sip_uas *uas;
    struct sdp_answer offer; /* the caller's SDP offer, as parsed */
    char answer_action[ID_MAX];
    const char *answer_note; /* static: what the answer did not carry out, NULL = all */
    struct {                 /* answer's record "record-from-answer" (call_record.c) */
        char channels[8];    /* "" = not asked */
        char format[8];
    } answer_record;
    bool recording_sent; /* a record_start went out (call_record.c) */
    /* answer's stream_url (call_stream.c) */
    struct {
        char stream_id[ID_MAX]; /* "" = none asked, or already started */
        char url[2048];
        char track[16], codec[8];
    } answer_stream;
    struct call_early_action early;
    struct call_media media;
    /* transfer, bridge, forwarding (call_bridge.c, call_forward.c): other calls by id */
    char peer_id[ID_MAX];       /* bridged (or being bridged) with, "" none */
    char parent_id[ID_MAX];     /* a transfer's or forwarding's child: the call it joins */
    char child_id[ID_MAX];      /* the transfer (or forwarding) dialling for this call */
    char bridge_action[ID_MAX]; /* the transfer/bridge action the bridge completes */
    const char *soon_reason;    /* static: end_reason of a deferred ending */
    bool relay;                 /* inbound to a forwarding number: call_forward.c drives it */
    bool relay_answered;        /* ... and its child answered: the 200 may go */
    bool relay_early; /* ... 183 with our SDP sent, the leg connected to the caller's offer and
                         bridged with the child's before the answer (call_forward.c) */
    /* call_relay.c's RELAY_* bits: what the answer said, whether the bridge is sent */
    unsigned relay_media;

    uv_timer_t timer;       /* ring timeout, then the time limit */
    uv_timer_t media_timer; /* a media-fork reply we wait for */
    uv_getaddrinfo_t dns;
    bool dns_pending;
    /* the SIP dialog beyond answer and hangup (call_dialog.c, call_refer.c, sip_info.c) */
    uint64_t sdp_id;          /* o= sess-id of our SDP, kept for the answers to re-offers */
    bool held;                /* the far end holds the call (sendonly, inactive, 0.0.0.0) */
    struct call_refer *refer; /* a refer action in progress, NULL = none */
    struct call_info *info;   /* DTMF digits going out as SIP INFO, NULL = none */
    struct store_op *q_head, **q_tail; /* SQL for this call, one statement at a time */
    bool q_busy;
    int handles;
    bool freeing;
};

/* call.c */
struct call *call__create(struct cc *cc, const struct call_params *p);
struct call *call__find(struct cc *cc, const char *id);
/*
 * Move to `to`, checking the move is legal (a bug otherwise: logged, asserted in debug
 * builds, refused). Ringing and answered are recorded at once (store.c); the ending
 * moves go through call__finish.
 */
bool call_set_state(struct call *c, enum call_state to, int64_t at_ms);
/*
 * End the call now: ended when answered, else failed. Stops timers, hangs the SIP side
 * up, releases the media leg, and records the end once the leg's counters are known.
 * sip_status 0 = none. A call already over is left alone.
 */
void call__finish(struct call *c, const char *reason, const char *initiator, int sip_status,
                  int64_t at_ms);
/* The media leg is released (or never was): write the end. */
void call__record_end(struct call *c);
/* Free the call if nothing holds it any more. */
void call__maybe_free(struct call *c);

/* call_record.c: start_recording's path without an action (relay numbers, call_relay.c):
 * cc_recording_start with channels/format, then record_start; 0 or the query's error. */
int call_record__start(struct call *c, const char *channels, const char *format);

/* call_out.c */
void call__media_ready(struct call *c);

/* call_in.c */
void call_in__media_ready(struct call *c);
/* A forwarding's early media (call_forward.c): 183 with the SDP answer the 200 repeats, the
 * leg connected to the caller's offer. The leg must be allocated. Returns 0 or VP_E_*. */
int call_in__early_answer(struct call *c);
/* call__finish of an inbound call: its final answer or BYE, a pending answer failed. */
void call_in__ending(struct call *c);

/* media_client.c */
int media__allocate(struct call *c);
void media__connect(struct call *c, const struct sdp_answer *a);
/* Release the leg. True when media-fork's answer is awaited (call__record_end follows). */
bool media__release(struct call *c);
void media__stop_waiting(struct call *c);

/* store.c */
void store__prepare(struct pg_pool *pg);
void store__ringing(struct call *c, int64_t at_ms);
void store__leg_media(struct call *c, const char *sip_call_id);
void store__route(struct call *c); /* c->route_id carries the call (failover) */
void store__ended(struct call *c);
/* The statement's result, before the next statement of the call runs (status 0 or VP_E_*). */
typedef void(store_then_cb)(struct call *c, int status, const struct pg_result *res);
/* The answer (cc_call_answered / cc_inbound_answered); then gets its result. */
void store__answered(struct call *c, int64_t at_ms, store_then_cb *then);
void store__inbound_create(struct call *c, const char *sip_call_id, int64_t at_ms,
                           store_then_cb *then);
/* An action's row: done (note: what was not carried out, NULL = everything) or failed. */
void store__action_result(struct call *c, const char *action_id, bool done, const char *note);
/*
 * Any SQL on the call's queue: $1 is the call id, $2 this node's id, then args (n <= 8,
 * NULL = SQL NULL). kick: it writes an event. then: told the result (may be NULL).
 */
void store__sql(struct call *c, const char *sql, const char *const *args, int n, bool kick,
                store_then_cb *then);

#endif
