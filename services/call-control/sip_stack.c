/*
 * The osip glue: callbacks from libosip2's state machines, the run loop that feeds them,
 * and the life of osip_transaction_t objects.
 *
 * Ownership: each transaction carries a struct tr_user (your_instance) naming its owner's
 * callback and the transport it uses. osip's kill callback removes the transaction from
 * osip's lists and queues it; the queue is freed after the round (osip keeps using a
 * transaction after killing it, within the same osip_*_execute call).
 */
#include "sip_stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_stack_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

#define DEAD_INITIAL 16

struct tr_user *sip_stack__user(osip_transaction_t *tr)
{
    return osip_transaction_get_your_instance(tr);
}

struct sip_stack *sip_stack__of(osip_transaction_t *tr)
{
    return osip_get_application_context((osip_t *)tr->config);
}

int64_t sip_stack__event_time(const struct sip_stack *st)
{
    return st->cur_rx ? st->cur_rx->at_ms : vtime_now_ms();
}

void sip_stack__bury(struct sip_stack *st, osip_transaction_t *tr)
{
    if (st->ndead == st->dead_cap) {
        st->dead_cap = st->dead_cap ? st->dead_cap * 2 : DEAD_INITIAL;
        st->dead = vp_realloc(st->dead, st->dead_cap * sizeof(*st->dead));
    }
    st->dead[st->ndead++] = tr;
}

static void free_transaction(osip_transaction_t *tr)
{
    free(sip_stack__user(tr));
    osip_transaction_free2(tr);
}

static void free_dead(struct sip_stack *st)
{
    for (size_t i = 0; i < st->ndead; i++)
        free_transaction(st->dead[i]);
    st->ndead = 0;
}

static void run_round(struct sip_stack *st)
{
    osip_timers_ict_execute(st->osip);
    osip_timers_nict_execute(st->osip);
    osip_timers_ist_execute(st->osip);
    osip_timers_nist_execute(st->osip);
    osip_ict_execute(st->osip);
    osip_nict_execute(st->osip);
    osip_ist_execute(st->osip);
    osip_nist_execute(st->osip);
    osip_retransmissions_execute(st->osip);
}

static void arm_timer(struct sip_stack *st)
{
    struct timeval tv;
    osip_timers_gettimeout(st->osip, &tv);
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    if (ms == 0)
        ms = 1; /* a deadline that is due: next tick, never a busy loop */
    if (ms > 1000)
        ms = 1000;
    uv_timer_start(&st->timer, sip_stack__timer_cb, ms, 0);
}

void sip_stack__run(struct sip_stack *st)
{
    if (st->running) {
        st->again = true;
        return;
    }
    st->running = true;
    int rounds = 0;
    do {
        st->again = false;
        run_round(st);
        free_dead(st);
    } while (st->again && ++rounds < 16);
    st->running = false;
    if (st->again)
        uv_timer_start(&st->kick, sip_stack__kick_cb, 0, 0);
    if (!st->closing)
        arm_timer(st);
}

void sip_stack_flush(struct sip_stack *st)
{
    if (!st->closing)
        sip_stack__run(st);
}

void sip_stack__timer_cb(uv_timer_t *t)
{
    sip_stack__run(t->data);
}

void sip_stack__kick_cb(uv_timer_t *t)
{
    sip_stack__run(t->data);
}

void sip_stack__schedule(struct sip_stack *st)
{
    if (st->closing)
        return;
    if (st->running)
        st->again = true;
    else
        uv_timer_start(&st->kick, sip_stack__kick_cb, 0, 0);
}

int sip_stack_request(struct sip_stack *st, osip_message_t *req, enum sip_proto proto,
                      const char *ip, int port, sip_tr_cb *cb, void *owner,
                      osip_transaction_t **trp)
{
    osip_transaction_t *tr = NULL;
    osip_fsm_type_t type = strcmp(req->sip_method, "INVITE") == 0 ? ICT : NICT;
    if (st->closing || osip_transaction_init(&tr, type, st->osip, req) != 0) {
        osip_message_free(req);
        return st->closing ? VP_E_CLOSED : VP_E_INVALID_PARAMETER;
    }
    struct tr_user *u = VP_NEW(u);
    u->cb = cb;
    u->owner = owner;
    u->proto = proto;
    osip_transaction_set_your_instance(tr, u);
    if (type == ICT)
        osip_ict_set_destination(tr->ict_context, osip_strdup(ip), port);
    else
        osip_nict_set_destination(tr->nict_context, osip_strdup(ip), port);
    st->transactions++;
    osip_transaction_add_event(tr, osip_new_outgoing_sipmessage(req));
    sip_stack__schedule(st);
    if (trp)
        *trp = tr;
    return 0;
}

void sip_stack_disown(osip_transaction_t *tr)
{
    struct tr_user *u = tr ? sip_stack__user(tr) : NULL;
    if (u) {
        u->cb = NULL;
        u->owner = NULL;
    }
}

void sip_stack_set_timer_b(osip_transaction_t *tr, unsigned ms)
{
    osip_ict_t *ict = tr ? tr->ict_context : NULL;
    if (!ict || ms == 0)
        return;
    /* osip keeps Timer B as a deadline fixed when the transaction was made (now). */
    struct timeval now;
    osip_gettimeofday(&now, NULL);
    int64_t us = (int64_t)now.tv_usec + (int64_t)(ms % 1000) * 1000;
    ict->timer_b_length = (int)ms;
    ict->timer_b_start.tv_sec = now.tv_sec + (time_t)(ms / 1000) + (time_t)(us / 1000000);
    ict->timer_b_start.tv_usec = (suseconds_t)(us % 1000000);
}

void sip_stack_watch(osip_transaction_t *tr, sip_tr_gone_cb *gone, void *owner)
{
    struct tr_user *u = tr ? sip_stack__user(tr) : NULL;
    if (u) {
        u->gone = gone;
        u->gone_owner = gone ? owner : NULL;
    }
}

void sip_stack_abort(struct sip_stack *st, osip_transaction_t *tr)
{
    sip_stack_disown(tr);
    if (osip_remove_transaction(st->osip, tr) == 0) {
        st->transactions--;
        sip_stack__bury(st, tr);
        sip_stack__schedule(st);
    }
}

int sip_stack_respond(struct sip_stack *st, osip_transaction_t *tr, osip_message_t *resp)
{
    if (st->closing) {
        osip_message_free(resp);
        return VP_E_CLOSED;
    }
    osip_event_t *evt = osip_new_outgoing_sipmessage(resp);
    if (!evt) {
        osip_message_free(resp);
        return VP_E_INTERNAL;
    }
    osip_transaction_add_event(tr, evt);
    sip_stack__schedule(st);
    return 0;
}

int sip_stack_port(const struct sip_stack *st)
{
    return sip_transport_port(st->tp);
}

const char *sip_stack_advertised_host(const struct sip_stack *st)
{
    return st->adv_host;
}

void sip_stack_stats(const struct sip_stack *st, struct sip_stack_stats *s)
{
    *s = st->stats;
    s->transactions = st->transactions;
}

static void free_all(struct sip_stack *st, osip_list_t *list)
{
    while (!osip_list_eol(list, 0)) {
        osip_transaction_t *tr = osip_list_get(list, 0);
        osip_list_remove(list, 0);
        free_transaction(tr);
    }
}

static void transport_closed_cb(void *arg)
{
    struct sip_stack *st = arg;
    void (*closed)(void *) = st->closed;
    void *closed_arg = st->closed_arg;
    free(st);
    if (closed)
        closed(closed_arg);
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct sip_stack *st = h->data;
    if (--st->handles == 0)
        sip_transport_close(st->tp, transport_closed_cb, st);
}

void sip_stack_close(struct sip_stack *st, void (*closed)(void *arg), void *arg)
{
    if (st->closing)
        return;
    st->closing = true;
    st->closed = closed;
    st->closed_arg = arg;
    free_dead(st);
    free_all(st, &st->osip->osip_ict_transactions);
    free_all(st, &st->osip->osip_nict_transactions);
    free_all(st, &st->osip->osip_ist_transactions);
    free_all(st, &st->osip->osip_nist_transactions);
    osip_release(st->osip);
    st->osip = NULL;
    free(st->dead);
    st->dead = NULL;
    st->handles = 2;
    uv_close((uv_handle_t *)&st->timer, handle_closed_cb);
    uv_close((uv_handle_t *)&st->kick, handle_closed_cb);
}

int sip_stack_create(struct sip_stack **sp, uv_loop_t *loop, const struct sip_stack_opts *o,
                     const struct sip_stack_handlers *h)
{
    sip_stack__init_trace();
    struct sip_stack *st = VP_NEW(st);
    st->loop = loop;
    st->h = *h;
    if (osip_init(&st->osip) != 0) {
        free(st);
        return VP_E_INTERNAL;
    }
    osip_set_application_context(st->osip, st);
    sip_stack__install_callbacks(st->osip);
    osip_set_cb_send_message(st->osip, sip_stack__send_cb);
    struct sip_transport_opts to = {.host = o->host, .port = o->port};
    int err =
        sip_transport_create(&st->tp, loop, &to, sip_stack__rx_cb, sip_stack__tp_error_cb, st);
    if (err) {
        osip_release(st->osip);
        free(st);
        return err;
    }
    const char *adv = o->advertised_host && *o->advertised_host ? o->advertised_host : o->host;
    snprintf(st->adv_host, sizeof(st->adv_host), "%s", adv ? adv : "127.0.0.1");
    uv_timer_init(loop, &st->timer);
    uv_timer_init(loop, &st->kick);
    st->timer.data = st;
    st->kick.data = st;
    uv_timer_start(&st->timer, sip_stack__timer_cb, 1000, 0);
    *sp = st;
    return 0;
}
