/*
 * The node: wiring of its parts on the service base, the drain and the stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "cc_int.h"
#include "call_int.h"
#include "route_register.h"
#include "sip_ua.h"
#include "takeover.h"
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
    if (!o->drain_grace_ms)
        o->drain_grace_ms = 60000;
    if (!o->node_dead_ms)
        o->node_dead_ms = 5000;
    if (!o->route_register_retry_ms)
        o->route_register_retry_ms = 30000;
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

/*
 * Two registry handles: cc->nodes only watches media-fork (to pick a node for a leg) and
 * lives until the stop; cc->registry is this node's own entry, which a drain closes at
 * once (nodes_close removes it) so that peers stop choosing this node while its live
 * calls run on.
 */
static int start_registry(struct cc *cc)
{
    struct outbox_opts oo = {.partitions = cc->opts.event_partitions};
    int err = outbox_create(&cc->outbox, cc->loop, cc->pg, cc->redis, &oo);
    if (err)
        return err;
    const char *info[] = {"sip",   cc->sip_addr, "inbox", cc->inbox_stream,
                          "verbs", INBOX_VERBS,  NULL};
    struct nodes_opts no = {.service = "call-control", .node_id = cc->node_id, .info = info};
    err = nodes_create(&cc->registry, cc->loop, cc->redis, &no);
    if (err)
        return err;
    struct nodes_opts mo = {.service = "media-fork"};
    return nodes_create(&cc->nodes, cc->loop, cc->redis, &mo);
}

/* The heartbeat row in PostgreSQL: recovery of our earlier life, then dead peers' calls. */
static int start_takeover(struct cc *cc)
{
    struct takeover_opts to = {.dead_ms = cc->opts.node_dead_ms};
    return takeover_create(&cc->takeover, cc, &to);
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
        err = start_takeover(cc);
    if (!err)
        err = route_register_create(&cc->reg, cc);
    return err;
}

static void left_cb(void *arg)
{
    struct cc *cc = arg;
    void (*done)(void *) = cc->drained;
    cc->drained = NULL;
    if (done)
        done(cc->drained_arg);
}

/* Drained: leave the heartbeat table (nothing of ours is left to take over), then done. */
static void check_drained(struct cc *cc)
{
    if (!cc->draining || !cc->drained || cc->leaving || strmap_count(cc->calls) > 0 ||
        cc->reg_draining)
        return;
    log_info("cc.drained", "no live calls left");
    uv_timer_stop(&cc->drain_timer);
    cc->leaving = true;
    if (cc->takeover)
        takeover_leave(cc->takeover, left_cb, cc);
    else
        left_cb(cc);
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

/* The trunks are unregistered and their leases given up. */
static void reg_drained_cb(void *arg)
{
    struct cc *cc = arg;
    cc->reg_draining = false;
    check_drained(cc);
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
    if (cc->reg) {
        cc->reg_draining = true;
        route_register_drain(cc->reg, reg_drained_cb, cc);
    }
    if (cc->registry)
        nodes_close(cc->registry, NULL, NULL);
    cc->registry = NULL;
    unsigned keep = cc->opts.media_timeout_ms + DRAIN_MARGIN_MS;
    unsigned at = cc->opts.drain_timeout_ms > keep ? cc->opts.drain_timeout_ms - keep : 0;
    if (cc->opts.drain_grace_ms < at)
        at = cc->opts.drain_grace_ms;
    log_info("cc.draining", "no new calls, left the registry; %zu live calls get %u ms to end",
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
    if (cc->takeover)
        takeover_close(cc->takeover);
    if (cc->registry)
        nodes_close(cc->registry, NULL, NULL);
    if (cc->nodes)
        nodes_close(cc->nodes, NULL, NULL);
    if (cc->outbox)
        outbox_close(cc->outbox, NULL, NULL);
    if (cc->reg)
        route_register_close(cc->reg);
    cc->reg = NULL;
    cc->reg_draining = false;
    if (cc->ua)
        sip_ua_close(cc->ua, NULL, NULL);
    cc->dial = NULL;
    cc->inbox = NULL;
    cc->nodes = NULL;
    cc->registry = NULL;
    cc->takeover = NULL;
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
