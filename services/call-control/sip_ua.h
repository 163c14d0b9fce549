/*
 * sip_ua.h - the user agent core: the SIP stack plus the INVITE sessions it carries.
 *
 * Requests and stray responses that belong to a dialog are routed to its session by
 * Call-ID; the rest is answered here (OPTIONS 200, unknown dialogs 481, methods we do not
 * implement 501). A new INVITE becomes an inbound session (sip_uas.h) handed to the
 * handler set with sip_ua_on_invite(); without a handler it is answered 480.
 */
#ifndef CC_SIP_UA_H
#define CC_SIP_UA_H

#include <uv.h>

#include "sip_transport.h"
#include "sip_uas.h"

struct sip_ua;
struct sip_stack;

/* The methods we take (Allow in OPTIONS answers, INVITEs, 2xx, 405/501). */
#define SIP_UA_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY, PRACK"

struct sip_ua_opts {
    const char *host;            /* bind address */
    int port;                    /* 0 = a free port */
    const char *advertised_host; /* Via, Contact, From host; NULL = host */
};

int sip_ua_create(struct sip_ua **up, uv_loop_t *loop, const struct sip_ua_opts *o);
int sip_ua_port(const struct sip_ua *ua);
const char *sip_ua_advertised_host(const struct sip_ua *ua);
struct sip_stack *sip_ua_stack(struct sip_ua *ua);
/* Who takes new INVITEs (see sip_uas.h); cb NULL: nobody (480). */
void sip_ua_on_invite(struct sip_ua *ua, sip_uas_invite_cb *cb, void *arg);
/* Sessions not yet freed (live calls plus those still hanging up). */
unsigned sip_ua_sessions(const struct sip_ua *ua);
/*
 * Hang up every session at once (CANCEL/BYE are sent, their answers not awaited), close
 * the stack, free, then closed() runs. Owners must have terminated their sessions.
 */
void sip_ua_close(struct sip_ua *ua, void (*closed)(void *arg), void *arg);

#endif
