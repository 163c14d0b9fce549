/*
 * voepy-webhook-dispatcher: fans events out to the tenants' webhook endpoints and
 * delivers them, signed, at least once, with retries.
 *
 * main only reads the configuration and wires three parts to the service base: the
 * fan-out consumer (fanout.h: events -> deliveries in PostgreSQL), the delivery loop
 * (deliverer.h: claim, send, record) and an outbox relay. SIGTERM drains (no new events
 * or claims; attempts in flight are recorded), SIGINT stops at once (leases expire and
 * the deliveries are sent again).
 */
#include "deliverer.h"
#include "fanout.h"
#include "retry.h"

#include "voepy/config.h"
#include "voepy/err.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/outbox.h"
#include "voepy/service.h"
#include "voepy/url_guard.h"

#include <stdio.h>
#include <stdlib.h>

struct wh_config {
    struct service_common common;
    long timeout_ms;
    long endpoint_concurrency;
    long concurrency;
    char *retry_schedule;
    long poll_ms;
    long lease_ms;
    long slowdown_ms;
    long disable_after_s;
    struct url_policy_config url; /* VOEPY_URL_*: which endpoint URLs may be reached */
};

#define WH_VAR_INT(member, name, def, min, max, help) \
    CONFIG_INT(struct wh_config, member, name, def, min, max, help)

static const struct config_var vars[] = {
    SERVICE_COMMON_VARS(struct wh_config, common, "9104"),
    WH_VAR_INT(timeout_ms, "VOEPY_WEBHOOK_TIMEOUT_MS", "15000", 100, 600000,
               "timeout of one delivery attempt"),
    WH_VAR_INT(endpoint_concurrency, "VOEPY_WEBHOOK_ENDPOINT_CONCURRENCY", "4", 1, 1000,
               "attempts in flight per endpoint (all dispatchers together)"),
    WH_VAR_INT(concurrency, "VOEPY_WEBHOOK_CONCURRENCY", "256", 1, 10000,
               "attempts in flight in this dispatcher"),
    CONFIG_STR(struct wh_config, retry_schedule, "VOEPY_WEBHOOK_RETRY_SCHEDULE",
               WH_SCHEDULE_DEFAULT, 0,
               "seconds before the first attempt, then after each failed one (+-10 %)"),
    WH_VAR_INT(poll_ms, "VOEPY_WEBHOOK_POLL_MS", "1000", 10, 60000,
               "how often due deliveries are looked for"),
    WH_VAR_INT(lease_ms, "VOEPY_WEBHOOK_LEASE_MS", "0", 0, 3600000,
               "how long a claimed delivery is ours (0: timeout + 30 s)"),
    WH_VAR_INT(slowdown_ms, "VOEPY_WEBHOOK_SLOWDOWN_MS", WH_SLOWDOWN_DEFAULT, 0, WH_SLOWDOWN_MAX_MS,
               "first pause of an endpoint that answers 429/502/504 without Retry-After "
               "(doubled per consecutive slow-down, at most 300 s)"),
    WH_VAR_INT(disable_after_s, "VOEPY_WEBHOOK_DISABLE_AFTER_S", WH_DISABLE_AFTER_DEFAULT, 1,
               315360000, "seconds of continuous failure after which an endpoint is disabled"),
    URL_POLICY_VARS(struct wh_config, url),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

struct wh_app {
    struct service svc;
    struct fanout *fanout;
    struct deliverer *deliverer;
    struct outbox *outbox;
    struct url_policy *url_policy; /* shared by every attempt; freed after the loop ends */
    struct lifecycle *lc;
    int lc_id;
    int draining; /* parts still draining */
};

static void part_drained_cb(void *arg)
{
    struct wh_app *app = arg;
    if (--app->draining == 0)
        lifecycle_drained(app->lc, app->lc_id);
}

/* Events first (no new deliveries), the delivery loop alongside (no new claims). */
static void app_drain(struct lifecycle *lc, int id, void *arg)
{
    struct wh_app *app = arg;
    app->lc = lc;
    app->lc_id = id;
    app->draining = 2;
    fanout_drain(app->fanout, part_drained_cb, app);
    deliverer_drain(app->deliverer, part_drained_cb, app);
}

static void app_stop(void *arg)
{
    struct wh_app *app = arg;
    fanout_stop(app->fanout);
    deliverer_stop(app->deliverer);
    outbox_close(app->outbox, NULL, NULL);
    app->fanout = NULL;
    app->deliverer = NULL;
    app->outbox = NULL;
}

static void created_cb(void *arg)
{
    struct wh_app *app = arg;
    if (app->deliverer)
        deliverer_kick(app->deliverer);
}

/* Recording wrote webhook.exhausted or webhook.endpoint_disabled: publish them now. */
static void emitted_cb(void *arg)
{
    struct wh_app *app = arg;
    if (app->outbox)
        outbox_kick(app->outbox);
}

static int start_parts(struct wh_app *app, const struct wh_config *cfg,
                       const struct wh_schedule *sched)
{
    struct service *s = &app->svc;
    struct outbox_opts oo = {.partitions = (unsigned)cfg->common.event_partitions};
    int err = outbox_create(&app->outbox, s->loop, s->pg, s->redis, &oo);
    if (err)
        return err;
    struct deliverer_opts dopts = {.max_inflight = (unsigned)cfg->concurrency,
                                   .per_endpoint = (unsigned)cfg->endpoint_concurrency,
                                   .timeout_ms = (unsigned)cfg->timeout_ms,
                                   .lease_ms = (unsigned)cfg->lease_ms,
                                   .poll_ms = (unsigned)cfg->poll_ms,
                                   .schedule = *sched,
                                   .slowdown_ms = cfg->slowdown_ms,
                                   .disable_after_s = cfg->disable_after_s,
                                   .emitted = emitted_cb,
                                   .emitted_arg = app,
                                   .url_policy = app->url_policy};
    err = deliverer_create(&app->deliverer, s->loop, s->pg, &dopts);
    if (err)
        return err;
    struct fanout_opts fo = {.partitions = (unsigned)cfg->common.event_partitions,
                             .consumer = s->node_id,
                             .first_delay_ms = sched->delay_s[0] * 1000,
                             .created = created_cb,
                             .created_arg = app};
    err = fanout_create(&app->fanout, s, &fo);
    if (err)
        return err;
    lifecycle_add(s->lc,
                  &(struct lifecycle_hooks){.drain = app_drain, .stop = app_stop, .arg = app});
    return 0;
}

static void check_config(const struct wh_config *cfg, struct wh_schedule *sched,
                         struct url_policy **url_policy)
{
    if (wh_schedule_parse(cfg->retry_schedule, sched)) {
        fprintf(stderr,
                "voepy-webhook-dispatcher: VOEPY_WEBHOOK_RETRY_SCHEDULE must be 1 to %d "
                "comma-separated seconds (0..%d), got \"%s\"\n",
                WH_SCHEDULE_MAX, WH_SCHEDULE_MAX_DELAY, cfg->retry_schedule);
        exit(2);
    }
    if (cfg->lease_ms && cfg->lease_ms <= cfg->timeout_ms) {
        fprintf(stderr, "voepy-webhook-dispatcher: VOEPY_WEBHOOK_LEASE_MS must exceed "
                        "VOEPY_WEBHOOK_TIMEOUT_MS\n");
        exit(2);
    }
    char err[256]; /* last: nothing to free on the exits above */
    if (url_policy_create(url_policy, &cfg->url, err, sizeof(err))) {
        fprintf(stderr, "voepy-webhook-dispatcher: %s\n", err);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static struct wh_config cfg;
    static struct wh_app app;
    struct wh_schedule sched;
    service_load_config("webhook-dispatcher", &cfg, vars, NVARS, argc, argv);
    check_config(&cfg, &sched, &app.url_policy);
    int err =
        service_start(&app.svc, "webhook-dispatcher", &cfg.common, SERVICE_PG | SERVICE_REDIS);
    if (!err) {
        url_policy_log(app.url_policy);
        err = start_parts(&app, &cfg, &sched);
        if (err)
            log_error("webhook.start_failed", "cannot start: %s", vp_err_message(err));
    }
    if (err)
        return 1;
    int rc = service_run(&app.svc);
    url_policy_free(app.url_policy);
    config_free(&cfg, vars, NVARS);
    return rc;
}
