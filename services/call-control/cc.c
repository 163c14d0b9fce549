/*
 * The node: wiring of its parts on the service base, the drain and the stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "cc_int.h"
#include "call_int.h"
#include "sip_ua.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/nodes.h"
#include "voepy/outbox.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"
#include "voepy/service.h"

#define DRAIN_MARGIN_MS 1000 /* time left after the last hangups to record them */

void cc__kick_outbox(struct cc *cc)
{
    if (cc->outbox)
        outbox_kick(cc->outbox);
}

static void defaults(struct cc_opts *o)
{
    if (!o->media_timeout_ms)
        o->media_timeout_ms = 3000;
    if (!o->sweep_interval_ms)
        o->sweep_interval_ms = 1000;
    if (!o->unclaimed_after_ms)
        o->unclaimed_after_ms = 3000;
    if (!o->media_mode || strcmp(o->media_mode, "echo") != 0)
        o->media_mode = "silence";
    if (!o->event_partitions)
        o->event_partitions = 4;
    if (!o->inbound_ring_timeout_ms)
        o->inbound_ring_timeout_ms = 30000;
}

static int start_sip(struct cc *cc)
{
    struct sip_ua_opts uo = {.host = cc->opts.sip_host,
                             .port = cc->opts.sip_port,
                             .advertised_host = cc->opts.sip_advertised_host};
    int err = sip_ua_create(&cc->ua, cc->loop, &uo);
    if (err) {
        log_error("cc.sip_failed", "cannot listen for SIP on %s:%d", cc->opts.sip_host,
                  cc->opts.sip_port);
        return err;
    }
    const char *adv = sip_ua_advertised_host(cc->ua);
    if (strcmp(adv, "0.0.0.0") == 0 || strcmp(adv, "::") == 0)
        log_warn("cc.sip_wildcard", "SIP listens on a wildcard address: set "
                                    "VOEPY_SIP_ADVERTISED_HOST to the address peers reach");
    snprintf(cc->sip_addr, sizeof(cc->sip_addr), "%s:%d", adv, sip_ua_port(cc->ua));
    sip_ua_on_invite(cc->ua, call_in_invite_cb, cc);
    log_info("cc.sip_listening", "SIP on %s:%d (UDP and TCP), advertised as %s", cc->opts.sip_host,
             sip_ua_port(cc->ua), cc->sip_addr);
    return 0;
}

static int start_registry(struct cc *cc)
{
    struct outbox_opts oo = {.partitions = cc->opts.event_partitions};
    int err = outbox_create(&cc->outbox, cc->loop, cc->pg, cc->redis, &oo);
    if (err)
        return err;
    const char *info[] = {"sip",   cc->sip_addr, "inbox", cc->inbox_stream,
                          "verbs", INBOX_VERBS,  NULL};
    struct nodes_opts no = {.service = "call-control", .node_id = cc->node_id, .info = info};
    err = nodes_create(&cc->nodes, cc->loop, cc->redis, &no);
    if (err)
        return err;
    nodes_watch(cc->nodes, "media-fork");
    return 0;
}

static void recovered_cb(int status, const struct pg_result *res, void *arg)
{
    struct cc *cc = arg;
    const char *n = status == 0 ? pg_value(res, 0, 0) : NULL;
    if (status) {
        log_warn("cc.recover_failed", "could not end the calls of this node's earlier life: %s",
                 vp_err_message(status));
    } else if (n && strcmp(n, "0") != 0) {
        log_warn("cc.recovered", "ended %s calls this node carried before it restarted", n);
        cc__kick_outbox(cc);
    }
}

/* Calls left live under our node id by an earlier process: their dialogs are gone. */
static void recover(struct cc *cc)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)vtime_now_ms());
    const char *params[] = {cc->node_id, ms};
    pg_exec(cc->pg, "cc_recover_node", 2, params, recovered_cb, cc);
}

int cc_create(struct cc **ccp, struct service *svc, const struct cc_opts *o)
{
    struct cc *cc = VP_NEW(cc);
    cc->loop = svc->loop;
    cc->svc = svc;
    cc->pg = svc->pg;
    cc->redis = svc->redis;
    cc->node_id = svc->node_id;
    cc->opts = *o;
    defaults(&cc->opts);
    cc->calls = strmap_create();
    cc->early_hangups = strmap_create();
    snprintf(cc->inbox_stream, sizeof(cc->inbox_stream), "voepy:cc:%s", cc->node_id);
    uv_timer_init(cc->loop, &cc->drain_timer);
    cc->drain_timer.data = cc;
    *ccp = cc; /* cc_stop/cc_destroy undo a partial start */
    store__prepare(cc->pg);
    int err = start_sip(cc);
    if (!err)
        err = start_registry(cc);
    if (!err)
        err = inbox_create(&cc->inbox, cc);
    if (!err)
        err = dial_create(&cc->dial, cc);
    if (!err)
        recover(cc);
    return err;
}

static void check_drained(struct cc *cc)
{
    if (!cc->draining || !cc->drained || strmap_count(cc->calls) > 0)
        return;
    void (*done)(void *) = cc->drained;
    cc->drained = NULL;
    log_info("cc.drained", "no live calls left");
    done(cc->drained_arg);
}

void cc__call_gone(struct cc *cc)
{
    check_drained(cc);
}

static void drain_deadline_cb(uv_timer_t *t)
{
    struct cc *cc = t->data;
    log_warn("cc.drain_hangup", "drain time is running out: hanging up %zu live calls",
             strmap_count(cc->calls));
    call_hangup_all(cc);
}

void cc_drain(struct cc *cc, void (*done)(void *arg), void *arg)
{
    if (cc->draining || cc->stopped)
        return;
    cc->draining = true;
    cc->drained = done;
    cc->drained_arg = arg;
    if (cc->dial)
        dial_drain(cc->dial);
    unsigned keep = cc->opts.media_timeout_ms + DRAIN_MARGIN_MS;
    unsigned at = cc->opts.drain_timeout_ms > keep ? cc->opts.drain_timeout_ms - keep : 0;
    log_info("cc.draining", "no new calls; %zu live calls get %u ms to end",
             strmap_count(cc->calls), at);
    uv_timer_start(&cc->drain_timer, drain_deadline_cb, at, 0);
    check_drained(cc);
}

void cc_stop(struct cc *cc)
{
    if (cc->stopped)
        return;
    cc->stopped = true;
    cc->drained = NULL;
    uv_close((uv_handle_t *)&cc->drain_timer, NULL);
    if (cc->dial)
        dial_close(cc->dial);
    call_abandon_all(cc);
    if (cc->inbox)
        inbox_close(cc->inbox);
    if (cc->nodes)
        nodes_close(cc->nodes, NULL, NULL);
    if (cc->outbox)
        outbox_close(cc->outbox, NULL, NULL);
    if (cc->ua)
        sip_ua_close(cc->ua, NULL, NULL);
    cc->dial = NULL;
    cc->inbox = NULL;
    cc->nodes = NULL;
    cc->outbox = NULL;
    cc->ua = NULL;
}

void cc_destroy(struct cc *cc)
{
    if (!cc)
        return;
    if (strmap_count(cc->calls) > 0)
        log_error("cc.calls_left", "%zu calls still in memory at exit", strmap_count(cc->calls));
    strmap_free(cc->calls);
    inbox_free_early_hangups(cc);
    free(cc);
}
