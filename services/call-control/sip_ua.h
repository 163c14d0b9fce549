/*
 * sip_ua.h - the user agent core: the SIP stack plus the INVITE sessions it carries.
 *
 * Requests and stray responses that belong to a dialog are routed to its session by
 * Call-ID; the rest is answered here (OPTIONS 200, unknown dialogs 481, methods we do not
 * implement 501, inbound INVITEs 480 until inbound calls exist).
 */
#ifndef CC_SIP_UA_H
#define CC_SIP_UA_H

#include <uv.h>

#include "sip_transport.h"

struct sip_ua;
struct sip_stack;

struct sip_ua_opts {
    const char *host;            /* bind address */
    int port;                    /* 0 = a free port */
    const char *advertised_host; /* Via, Contact, From host; NULL = host */
};

int sip_ua_create(struct sip_ua **up, uv_loop_t *loop, const struct sip_ua_opts *o);
int sip_ua_port(const struct sip_ua *ua);
const char *sip_ua_advertised_host(const struct sip_ua *ua);
struct sip_stack *sip_ua_stack(struct sip_ua *ua);
/* Sessions not yet freed (live calls plus those still hanging up). */
unsigned sip_ua_sessions(const struct sip_ua *ua);
/*
 * Hang up every session at once (CANCEL/BYE are sent, their answers not awaited), close
 * the stack, free, then closed() runs. Owners must have terminated their sessions.
 */
void sip_ua_close(struct sip_ua *ua, void (*closed)(void *arg), void *arg);

#endif
