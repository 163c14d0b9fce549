/*
 * cc_int.h - the node's shared state, for the service's own files only.
 */
#ifndef CC_CC_INT_H
#define CC_CC_INT_H

#include <stdbool.h>

#include "cc.h"
#include "strmap.h"

struct dial;
struct inbox;
struct nodes;
struct outbox;
struct pg_pool;
struct redis;
struct route_register;
struct sip_ua;
struct takeover;

struct cc {
    uv_loop_t *loop;
    struct service *svc;
    struct pg_pool *pg;
    struct redis *redis; /* commands only (XADD); consumers have their own connections */
    const char *node_id;
    struct cc_opts opts;
    struct outbox *outbox;
    struct nodes *nodes;
    struct nodes *registry;    /* this node's registry entry, closed when a drain starts */
    struct takeover *takeover; /* takeover.h: heartbeat row, dead nodes' calls */
    struct sip_ua *ua;
    struct strmap *calls;         /* call id -> struct call, while this node carries it */
    struct strmap *early_hangups; /* call id -> struct early_hangup (see inbox.c) */
    struct strmap *media_calls;   /* call id -> media verb state (call_media.c), NULL = none */
    struct dial *dial;
    struct inbox *inbox;
    char inbox_stream[192]; /* voepy:cc:{node} */
    char sip_addr[128];     /* host:port, published in the node registry */
    uv_timer_t drain_timer; /* hangs live calls up before the drain times out */
    bool draining, stopped;
    bool leaving; /* drained: the heartbeat row is being removed */
    void (*drained)(void *arg);
    void *drained_arg;
    /* route_register.h: trunk registrations; reg_draining while their unregisters are
     * not all answered (a drain waits for them) */
    struct route_register *reg;
    bool reg_draining;
};

/* A call was freed: a drain may be complete. */
void cc__call_gone(struct cc *cc);
/* The end of a transition's SQL: publish its event now. */
void cc__kick_outbox(struct cc *cc);

/* dial.c: the voepy:dial consumer and the sweeper of unclaimed calls. */
int dial_create(struct dial **dp, struct cc *cc);
void dial_drain(struct dial *d); /* no new claims */
void dial_close(struct dial *d);

/* inbox.c: voepy:cc:{node}, commands and media replies. */
/*
 * The call action verbs the inbox carries out, advertised in the node registry (key
 * "verbs", comma-separated): the api-gateway forwards only these to this node and
 * answers 501 for the others. Add a verb here when its op is handled in inbox.c.
 */
#define INBOX_VERBS                                                                            \
    "hangup,answer,reject,play,stop_playback,gather,gather_using_audio,stop_gather,send_dtmf," \
    "start_recording,stop_recording,"                                                          \
    "streaming_start,streaming_stop,"                                                          \
    "transfer,bridge,"                                                                         \
    "refer,"                                                                                   \
    "speak,gather_using_speak,transcription_start,transcription_stop"
int inbox_create(struct inbox **ip, struct cc *cc);
void inbox_close(struct inbox *in);
/*
 * A hangup that came before the claim's answer reached us: the call gets it as soon as
 * it exists. Returns true (and who asked, and why: reason "" when not said) when one was
 * waiting for call_id.
 */
struct early_hangup_note {
    char initiator[16];
    char reason[24];
};
bool inbox_take_early_hangup(struct cc *cc, const char *call_id, struct early_hangup_note *note);
void inbox_free_early_hangups(struct cc *cc);

#endif
