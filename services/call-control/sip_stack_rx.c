/*
 * The receive path: parse, validate, mark the top Via with where the request really came
 * from (RFC 3261 18.2.1, RFC 3581), then hand the message to its transaction, to a new
 * server transaction, or to the user when it belongs to no transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_stack_int.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

static void count_invalid(struct sip_stack *st, const struct sip_rx *rx, const char *why)
{
    char port[8];
    st->stats.invalid++;
    snprintf(port, sizeof(port), "%d", rx->src_port);
    vlog_kv(VLOG_WARN, "sip.invalid_message", "dropped an invalid SIP message", "reason", why,
            "from", rx->src_ip, "port", port, "proto", sip_proto_name(rx->proto), NULL);
    metric_inc(metrics_counter("voepy_sip_invalid_total", "SIP messages dropped as invalid", NULL));
}

static void set_via_param(osip_via_t *via, const char *name, const char *value)
{
    osip_generic_param_t *p = NULL;
    osip_via_param_get_byname(via, (char *)name, &p);
    if (p) {
        osip_free(p->gvalue);
        p->gvalue = osip_strdup(value);
    } else {
        osip_generic_param_add(&via->via_params, osip_strdup(name), osip_strdup(value));
    }
}

/* Responses then go to where the request came from (received, and rport when asked). */
static void mark_top_via(osip_message_t *m, const struct sip_rx *rx)
{
    osip_via_t *via = osip_list_get(&m->vias, 0);
    osip_generic_param_t *rport = NULL;
    osip_via_param_get_byname(via, "rport", &rport);
    if (rport) {
        char port[8];
        snprintf(port, sizeof(port), "%d", rx->src_port);
        set_via_param(via, "rport", port);
    }
    if (rport || strcmp(via->host, rx->src_ip) != 0)
        set_via_param(via, "received", rx->src_ip);
}

static void new_server_transaction(struct sip_stack *st, osip_event_t *evt, const struct sip_rx *rx)
{
    osip_transaction_t *tr = osip_create_transaction(st->osip, evt);
    if (!tr) {
        count_invalid(st, rx, "no transaction can be made for it");
        osip_event_free(evt);
        return;
    }
    struct tr_user *u = VP_NEW(u);
    u->proto = rx->proto;
    u->conn_id = rx->conn_id;
    osip_transaction_set_your_instance(tr, u);
    st->transactions++;
    osip_transaction_add_event(tr, evt);
}

static void dispatch(struct sip_stack *st, osip_event_t *evt, const struct sip_rx *rx)
{
    osip_message_t *m = evt->sip;
    if (osip_find_transaction_and_add_event(st->osip, evt) == 0)
        return; /* the transaction owns evt now */
    if (MSG_IS_RESPONSE(m)) {
        if (st->h.stray_response)
            st->h.stray_response(st, m, rx, st->h.arg);
        osip_event_free(evt);
    } else if (MSG_IS_ACK(m)) {
        if (st->h.stray_ack)
            st->h.stray_ack(st, m, rx, st->h.arg);
        osip_event_free(evt);
    } else {
        new_server_transaction(st, evt, rx);
    }
}

static void log_in(const struct sip_rx *rx)
{
    char port[8];
    snprintf(port, sizeof(port), "%d", rx->src_port);
    char *text = vp_strndup(rx->data, rx->len);
    vlog_kv(VLOG_DEBUG, "sip.in", "received a SIP message", "from", rx->src_ip, "port", port,
            "proto", sip_proto_name(rx->proto), "text", text, NULL);
    free(text);
}

void sip_stack__rx_cb(const struct sip_rx *rx, void *arg)
{
    struct sip_stack *st = arg;
    if (st->closing)
        return;
    st->stats.in++;
    if (vlog_enabled(VLOG_DEBUG))
        log_in(rx);
    osip_event_t *evt = osip_parse(rx->data, rx->len);
    const char *why = "unparseable";
    if (!evt || !evt->sip || sip_msg_validate(evt->sip, &why)) {
        count_invalid(st, rx, why);
        osip_event_free(evt);
        return;
    }
    sip_stack__count(evt->sip, "in");
    if (MSG_IS_REQUEST(evt->sip))
        mark_top_via(evt->sip, rx);
    st->cur_rx = rx;
    dispatch(st, evt, rx);
    sip_stack__run(st);
    st->cur_rx = NULL;
}

void sip_stack__tp_error_cb(enum sip_proto proto, const char *ip, int port, int err, void *arg)
{
    struct sip_stack *st = arg;
    (void)err;
    if (st->h.transport_error && !st->closing)
        st->h.transport_error(st, proto, ip, port, st->h.arg);
}
