/*
 * What libosip2 calls: message callbacks (reported to transaction owners), kill and
 * transport-error callbacks, the send callback, and its trace output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_stack_int.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

static const char *const known_methods[] = {"INVITE",   "ACK",       "BYE",     "CANCEL", "OPTIONS",
                                            "REGISTER", "INFO",      "UPDATE",  "PRACK",  "REFER",
                                            "NOTIFY",   "SUBSCRIBE", "MESSAGE", NULL};

/* Peer-chosen method names are not metric labels: anything unknown is "other". */
static const char *method_label(const char *m)
{
    for (int i = 0; m && known_methods[i]; i++)
        if (strcmp(m, known_methods[i]) == 0)
            return known_methods[i];
    return "other";
}

void sip_stack__count(const osip_message_t *m, const char *direction)
{
    char labels[128];
    if (MSG_IS_REQUEST(m)) {
        snprintf(labels, sizeof(labels), "direction=\"%s\",method=\"%s\"", direction,
                 method_label(m->sip_method));
        metric_inc(metrics_counter("voepy_sip_requests_total",
                                   "SIP requests by direction and method", labels));
        return;
    }
    snprintf(labels, sizeof(labels), "direction=\"%s\",method=\"%s\",status=\"%d\"", direction,
             method_label(m->cseq ? m->cseq->method : NULL), m->status_code);
    metric_inc(metrics_counter("voepy_sip_responses_total",
                               "SIP responses by direction, CSeq method and status", labels));
}

static void notify_owner(osip_transaction_t *tr, enum sip_tr_event ev, osip_message_t *msg)
{
    struct sip_stack *st = sip_stack__of(tr);
    struct tr_user *u = sip_stack__user(tr);
    if (u && u->cb)
        u->cb(u->owner, tr, ev, msg, sip_stack__event_time(st));
}

static void provisional_cb(int type, osip_transaction_t *tr, osip_message_t *msg)
{
    (void)type;
    notify_owner(tr, SIP_TR_PROVISIONAL, msg);
}

static void final_cb(int type, osip_transaction_t *tr, osip_message_t *msg)
{
    (void)type;
    notify_owner(tr, SIP_TR_FINAL, msg);
}

static void timeout_cb(int type, osip_transaction_t *tr, osip_message_t *msg)
{
    (void)type;
    (void)msg;
    notify_owner(tr, SIP_TR_TIMEOUT, NULL);
}

static void transport_error_cb(int type, osip_transaction_t *tr, int error)
{
    (void)error;
    if (type == OSIP_ICT_TRANSPORT_ERROR || type == OSIP_NICT_TRANSPORT_ERROR)
        notify_owner(tr, SIP_TR_TRANSPORT, NULL);
}

static void retransmission_cb(int type, osip_transaction_t *tr, osip_message_t *msg)
{
    struct sip_stack *st = sip_stack__of(tr);
    (void)type;
    st->stats.retransmissions++;
    char labels[64];
    const char *method = msg && msg->cseq ? msg->cseq->method : NULL;
    snprintf(labels, sizeof(labels), "method=\"%s\"", method_label(method));
    metric_inc(metrics_counter("voepy_sip_retransmissions_total",
                               "SIP messages sent again (timers A, E, G, or a repeated request)",
                               labels));
}

static void server_request_cb(int type, osip_transaction_t *tr, osip_message_t *msg)
{
    struct sip_stack *st = sip_stack__of(tr);
    (void)type;
    struct sip_rx now = {.at_ms = sip_stack__event_time(st)};
    if (st->h.request)
        st->h.request(st, tr, msg, st->cur_rx ? st->cur_rx : &now, st->h.arg);
}

static void kill_cb(int type, osip_transaction_t *tr)
{
    struct sip_stack *st = sip_stack__of(tr);
    struct tr_user *u = sip_stack__user(tr);
    (void)type;
    osip_remove_transaction(st->osip, tr);
    st->transactions--;
    sip_stack__bury(st, tr);
    if (u && u->gone) {
        /* The owner forgets tr now; the memory stays until the end of the round. */
        sip_tr_gone_cb *gone = u->gone;
        void *owner = u->gone_owner;
        u->gone = NULL;
        u->gone_owner = NULL;
        gone(owner, tr);
    }
}

static void set_many(osip_t *o, const int *types, size_t n, osip_message_cb_t cb)
{
    for (size_t i = 0; i < n; i++)
        osip_set_message_callback(o, types[i], cb);
}

void sip_stack__install_callbacks(osip_t *o)
{
    static const int provisional[] = {OSIP_ICT_STATUS_1XX_RECEIVED, OSIP_NICT_STATUS_1XX_RECEIVED};
    static const int final[] = {OSIP_ICT_STATUS_2XX_RECEIVED,  OSIP_ICT_STATUS_3XX_RECEIVED,
                                OSIP_ICT_STATUS_4XX_RECEIVED,  OSIP_ICT_STATUS_5XX_RECEIVED,
                                OSIP_ICT_STATUS_6XX_RECEIVED,  OSIP_NICT_STATUS_2XX_RECEIVED,
                                OSIP_NICT_STATUS_3XX_RECEIVED, OSIP_NICT_STATUS_4XX_RECEIVED,
                                OSIP_NICT_STATUS_5XX_RECEIVED, OSIP_NICT_STATUS_6XX_RECEIVED};
    static const int timeout[] = {OSIP_ICT_STATUS_TIMEOUT, OSIP_NICT_STATUS_TIMEOUT};
    static const int again[] = {OSIP_ICT_INVITE_SENT_AGAIN,        OSIP_ICT_ACK_SENT_AGAIN,
                                OSIP_NICT_REQUEST_SENT_AGAIN,      OSIP_IST_STATUS_2XX_SENT_AGAIN,
                                OSIP_IST_STATUS_3456XX_SENT_AGAIN, OSIP_NIST_STATUS_2XX_SENT_AGAIN,
                                OSIP_NIST_STATUS_3456XX_SENT_AGAIN};
    static const int requests[] = {OSIP_IST_INVITE_RECEIVED,
                                   OSIP_NIST_REGISTER_RECEIVED,
                                   OSIP_NIST_BYE_RECEIVED,
                                   OSIP_NIST_OPTIONS_RECEIVED,
                                   OSIP_NIST_INFO_RECEIVED,
                                   OSIP_NIST_CANCEL_RECEIVED,
                                   OSIP_NIST_NOTIFY_RECEIVED,
                                   OSIP_NIST_SUBSCRIBE_RECEIVED,
                                   OSIP_NIST_UNKNOWN_REQUEST_RECEIVED};
    set_many(o, provisional, sizeof(provisional) / sizeof(*provisional), provisional_cb);
    set_many(o, final, sizeof(final) / sizeof(*final), final_cb);
    set_many(o, timeout, sizeof(timeout) / sizeof(*timeout), timeout_cb);
    set_many(o, again, sizeof(again) / sizeof(*again), retransmission_cb);
    set_many(o, requests, sizeof(requests) / sizeof(*requests), server_request_cb);
    for (int k = 0; k < OSIP_KILL_CALLBACK_COUNT; k++)
        osip_set_kill_transaction_callback(o, k, kill_cb);
    for (int k = 0; k < OSIP_TRANSPORT_ERROR_CALLBACK_COUNT; k++)
        osip_set_transport_error_callback(o, k, transport_error_cb);
}

static enum sip_proto via_proto(const osip_message_t *m)
{
    osip_via_t *via = osip_list_get(&m->vias, 0);
    enum sip_proto p = SIP_UDP;
    if (via && via->protocol)
        sip_proto_parse(via->protocol, &p);
    return p;
}

int sip_stack__send(struct sip_stack *st, const osip_message_t *msg, enum sip_proto proto,
                    const char *ip, int port, uint32_t conn_id)
{
    char *text = NULL;
    size_t len = 0;
    if (!ip || sip_msg_to_text(msg, &text, &len))
        return VP_E_INVALID_PARAMETER;
    int err = sip_transport_send(st->tp, proto, ip, port, conn_id, text, len);
    if (!err) {
        st->stats.out++;
        sip_stack__count(msg, "out");
        if (vlog_enabled(VLOG_DEBUG))
            vlog_kv(VLOG_DEBUG, "sip.out", "sent a SIP message", "to", ip, "proto",
                    sip_proto_name(proto), "text", text, NULL);
    }
    osip_free(text);
    return err;
}

int sip_stack__send_cb(osip_transaction_t *tr, osip_message_t *msg, char *host, int port,
                       int out_socket)
{
    (void)out_socket;
    if (!tr)
        return -1; /* osip's own 2xx retransmission lists (ixt) are not used */
    struct sip_stack *st = sip_stack__of(tr);
    struct tr_user *u = sip_stack__user(tr);
    enum sip_proto proto = u ? u->proto : via_proto(msg);
    return sip_stack__send(st, msg, proto, host, port, u ? u->conn_id : 0) ? -1 : 0;
}

int sip_stack_send_direct(struct sip_stack *st, const osip_message_t *msg, enum sip_proto proto,
                          const char *ip, int port)
{
    if (st->closing)
        return VP_E_CLOSED;
    return sip_stack__send(st, msg, proto, ip, port, 0);
}

static void trace_cb(const char *file, int line, osip_trace_level_t level, const char *fmt,
                     va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    char where[160];
    snprintf(where, sizeof(where), "%s:%d", file ? file : "?", line);
    vlog_kv(level <= OSIP_ERROR ? VLOG_WARN : VLOG_DEBUG, "sip.osip_trace", msg, "at", where, NULL);
}

void sip_stack__init_trace(void)
{
    static bool done;
    if (!done) {
        osip_trace_initialize_func(OSIP_WARNING, trace_cb);
        done = true;
    }
}
