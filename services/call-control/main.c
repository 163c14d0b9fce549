/*
 * voepy-call-control: the SIP user agent that places calls and runs their state machine.
 *
 * main only reads the configuration, wires the node (cc.h) to the service base, and runs
 * the loop until SIGTERM (drain: take no new calls, leave the node registry, let live
 * ones run for up to VOEPY_CC_DRAIN_GRACE_MS, hang up the rest) or SIGINT (stop: hang up
 * best effort, now).
 */
#include "cc.h"
#include "sdp.h"

#include "voepy/config.h"
#include "voepy/err.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/service.h"

struct cc_config {
    struct service_common common;
    char *sip_host;
    long sip_port;
    char *sip_advertised_host;
    long media_timeout_ms;
    char *media_mode;
    char *codecs;
    long inbound_ring_timeout_ms;
    long drain_grace_ms;
    long node_dead_ms;
    long route_options_ms, route_down_after, sip_timer_b_ms;
    long route_register_round_ms, route_register_retry_ms;
};

static const struct config_var vars[] = {
    SERVICE_COMMON_VARS(struct cc_config, common, "9101"),
    CONFIG_STR(struct cc_config, sip_host, "VOEPY_SIP_HOST", "127.0.0.1", 0,
               "address SIP listens on (UDP and TCP)"),
    CONFIG_INT(struct cc_config, sip_port, "VOEPY_SIP_PORT", "5060", 0, 65535,
               "SIP port; 0 picks a free one (logged)"),
    CONFIG_STR(struct cc_config, sip_advertised_host, "VOEPY_SIP_ADVERTISED_HOST", NULL, 0,
               "host put in Via, Contact and From (default: VOEPY_SIP_HOST)"),
    CONFIG_INT(struct cc_config, media_timeout_ms, "VOEPY_MEDIA_TIMEOUT_MS", "3000", 100, 60000,
               "longest wait for a media-fork answer"),
    /* Until call actions exist, media-fork needs something to send: "silence" streams
     * G.711 silence (RTP flows both ways even with a far end that only echoes, like
     * SIPp -rtp_echo); "echo" sends back what the far end sends. */
    CONFIG_STR(struct cc_config, media_mode, "VOEPY_MEDIA_MODE", "silence", 0,
               "what an answered call's media leg sends: silence or echo"),
    CONFIG_STR(struct cc_config, codecs, "VOEPY_CODECS", "PCMU,PCMA,G722,OPUS", 0,
               "codecs offered and accepted in SDP, in order of preference"),
    CONFIG_INT(struct cc_config, inbound_ring_timeout_ms, "VOEPY_INBOUND_RING_TIMEOUT_MS", "30000",
               100, 600000, "how long an inbound call rings without answer or reject (then 480)"),
    CONFIG_INT(struct cc_config, drain_grace_ms, "VOEPY_CC_DRAIN_GRACE_MS", "60000", 1, 86400000,
               "on SIGTERM, how long live calls keep running before they are hung up "
               "(at most VOEPY_DRAIN_TIMEOUT_MS less the time to record their end)"),
    CONFIG_INT(struct cc_config, node_dead_ms, "VOEPY_CC_NODE_DEAD_MS", "5000", 300, 600000,
               "a call-control node whose heartbeat is this old is dead: a survivor ends its "
               "calls (system_failure, at its last heartbeat)"),
    CONFIG_INT(struct cc_config, route_options_ms, "VOEPY_ROUTE_OPTIONS_MS", "30000", 0, 3600000,
               "OPTIONS keep-alive to every route this often; 0 turns it off"),
    CONFIG_INT(struct cc_config, route_down_after, "VOEPY_ROUTE_DOWN_AFTER", "3", 1, 100,
               "failed keep-alives in a row that make a route down"),
    CONFIG_INT(struct cc_config, sip_timer_b_ms, "VOEPY_SIP_TIMER_B_MS", "32000", 500, 300000,
               "how long an outbound INVITE waits for any answer (RFC 3261 Timer B)"),
    CONFIG_INT(struct cc_config, route_register_round_ms, "VOEPY_ROUTE_REGISTER_ROUND_MS", "5000",
               0, 600000,
               "trunk registration: how often a node takes or renews the leases of the routes "
               "it registers (held 3 rounds); 0 turns registration off"),
    CONFIG_INT(struct cc_config, route_register_retry_ms, "VOEPY_ROUTE_REGISTER_RETRY_MS", "30000",
               100, 3600000, "first retry of a failed REGISTER; doubles up to 8 times this"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

struct cc_app {
    struct service svc;
    struct cc *cc;
    struct lifecycle *lc;
    int lc_id;
};

static void drained_cb(void *arg)
{
    struct cc_app *app = arg;
    lifecycle_drained(app->lc, app->lc_id);
}

static void app_drain(struct lifecycle *lc, int id, void *arg)
{
    struct cc_app *app = arg;
    app->lc = lc;
    app->lc_id = id;
    cc_drain(app->cc, drained_cb, app);
}

static void app_stop(void *arg)
{
    struct cc_app *app = arg;
    cc_stop(app->cc);
}

static int app_start(struct cc_app *app, const struct cc_config *cfg)
{
    struct cc_opts o = {.sip_host = cfg->sip_host,
                        .sip_port = (int)cfg->sip_port,
                        .sip_advertised_host = cfg->sip_advertised_host,
                        .media_timeout_ms = (unsigned)cfg->media_timeout_ms,
                        .media_mode = cfg->media_mode,
                        .inbound_ring_timeout_ms = (unsigned)cfg->inbound_ring_timeout_ms,
                        .drain_grace_ms = (unsigned)cfg->drain_grace_ms,
                        .node_dead_ms = (unsigned)cfg->node_dead_ms,
                        .route_options_ms = (unsigned)cfg->route_options_ms,
                        .route_down_after = (unsigned)cfg->route_down_after,
                        .sip_timer_b_ms = (unsigned)cfg->sip_timer_b_ms,
                        .route_register_round_ms = (unsigned)cfg->route_register_round_ms,
                        .route_register_retry_ms = (unsigned)cfg->route_register_retry_ms,
                        .drain_timeout_ms = (unsigned)cfg->common.drain_timeout_ms,
                        .event_partitions = (unsigned)cfg->common.event_partitions};
    int err = cc_create(&app->cc, &app->svc, &o);
    lifecycle_add(app->svc.lc,
                  &(struct lifecycle_hooks){.drain = app_drain, .stop = app_stop, .arg = app});
    return err;
}

int main(int argc, char **argv)
{
    static struct cc_config cfg;
    static struct cc_app app;
    service_load_config("call-control", &cfg, vars, NVARS, argc, argv);
    if (sdp_codecs_set(cfg.codecs) != 0) {
        log_error("call-control.bad_codecs", "VOEPY_CODECS=%s: use PCMU, PCMA, G722, OPUS",
                  cfg.codecs);
        config_free(&cfg, vars, NVARS);
        return 1;
    }
    int err = service_start(&app.svc, "call-control", &cfg.common, SERVICE_PG | SERVICE_REDIS);
    if (!err) {
        err = app_start(&app, &cfg);
        if (err) {
            log_error("call-control.start_failed", "cannot start: %s", vp_err_message(err));
            lifecycle_shutdown(app.svc.lc, false);
        }
    }
    if (err && !app.cc)
        return 1;
    int rc = service_run(&app.svc);
    cc_destroy(app.cc);
    config_free(&cfg, vars, NVARS);
    return err ? 1 : rc;
}
