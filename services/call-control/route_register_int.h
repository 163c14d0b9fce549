/*
 * route_register_int.h - what route_register.c and route_register_route.c share: the
 * registry and its route records (see route_register.h). Private to those two files.
 *
 * A record is one route this node registers, made from a row of cc_route_reg_lease: its
 * addresses (Request-URI, address of record, Contact), credentials and the state of its
 * binding. It lives in the registry's map by route id, or, once it no longer registers
 * as it did, on the leaving list until its unregister is answered.
 */
#ifndef CC_ROUTE_REGISTER_INT_H
#define CC_ROUTE_REGISTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "route_register.h"
#include "sip_auth.h"
#include "sip_msg.h"
#include "sip_stack.h"
#include "strmap.h"
#include "voepy/id.h"

struct cc;
struct metric;
struct pg_result;

enum rr_state { RR_UNREGISTERED, RR_REGISTERED, RR_FAILED };

struct rr_route {
    struct route_register *rr;
    char id[ID_MAX];
    char *ruri, *aor, *contact;
    char *user, *pass, *realm;
    enum sip_proto proto;
    char ip[SIP_IP_MAX];  /* where REGISTERs go: the URI's address, or its name's last lookup */
    char *name;           /* the URI's host name, looked up before each attempt; NULL: an IP */
    uv_getaddrinfo_t dns; /* while resolving */
    bool resolving, gone; /* gone: freed by the lookup's callback */
    int port;
    bool reachable;       /* the URI names a host */
    unsigned asked;       /* the expiry we ask for (a 423 raises it) */
    unsigned expires_cfg; /* the route's register_expires_secs */
    bool leaving;         /* on the registry's leaving list: unregisters, then is freed */
    struct rr_route *next_leaving;
    char call_id[SIP_CALL_ID_MAX], from_tag[SIP_TOKEN_MAX];
    unsigned cseq;
    osip_transaction_t *tr;
    bool unregistering;
    /* the last challenge answered, reused with the next nonce count on later REGISTERs */
    bool have_challenge;
    struct sip_auth_challenge ch;
    unsigned nc, auth_tries, tries_423;
    enum rr_state state;
    int64_t expires_at_ms, next_at_ms;
    unsigned failures;
    char last_error[128];
    struct metric *gauge;
};

struct route_register {
    struct cc *cc;
    struct strmap *routes;    /* route id -> struct rr_route */
    struct rr_route *leaving; /* records unregistering before they are freed */
    uv_timer_t timer;
    int64_t next_round_ms, drain_deadline_ms;
    bool querying, closing, timer_closed, draining;
    unsigned pending; /* queries and lookups in flight */
    void (*drained)(void *arg);
    void *drained_arg;
};

/* route_register_route.c */

/* A record for row i of a lease answer (not yet registering: next_at_ms is 0). */
struct rr_route *route_register__route_new(struct route_register *rr, const struct pg_result *res,
                                           int i);
/* Free r (its REGISTER aborted first); during a lookup its callback frees it instead. */
void route_register__route_free(struct rr_route *r);
/* Abort r's REGISTER in flight, if any (no callback follows). */
void route_register__drop(struct rr_route *r);
/* Whether row i still names r's binding: address of record, registrar, transport. */
bool route_register__same_binding(const struct rr_route *r, const struct pg_result *res, int i);
/* Take row i's password, realm and expiry; when one changed, register again at once. */
void route_register__resettle(struct rr_route *r, const struct pg_result *res, int i);

#endif
