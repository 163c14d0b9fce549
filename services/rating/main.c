/*
 * voepy-rating: prices every ended call and charges it to the tenant's balance, and holds
 * funds for live calls, cutting them off when the funds run out.
 *
 * main only reads the configuration, wires the rater (rater.h), the authorizer
 * (authorizer.h), the voice subscription renewer (renewer.h) and an outbox relay to the service
 * base, and runs the loop until SIGTERM (drain: finish the calls in hand) or SIGINT (stop now;
 * unacknowledged events are rated again by the next consumer).
 */
#include "authorizer.h"
#include "rater.h"
#include "renewer.h"

#include "voepy/config.h"
#include "voepy/err.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/outbox.h"
#include "voepy/service.h"

struct rating_config {
    struct service_common common;
    long max_inflight;
    long check_ms;
    long margin_ms;
    long renew_ms;
};

static const struct config_var vars[] = {
    SERVICE_COMMON_VARS(struct rating_config, common, "9103"),
    CONFIG_INT(struct rating_config, max_inflight, "VOEPY_RATING_MAX_INFLIGHT", "64", 1, 4096,
               "calls rated at the same time"),
    CONFIG_INT(struct rating_config, check_ms, "VOEPY_RATING_CHECK_MS", "1000", 50, 60000,
               "period (ms) of the authorisation round that holds funds for live calls"),
    CONFIG_INT(struct rating_config, margin_ms, "VOEPY_RATING_RESERVE_MARGIN_MS", "1000", 0, 600000,
               "answered time (ms) held beyond the next round (a late round, a slow hangup)"),
    CONFIG_INT(struct rating_config, renew_ms, "VOEPY_RATING_RENEW_MS", "5000", 50, 3600000,
               "period (ms) of the voice subscription renewal run"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

struct rating_app {
    struct service svc;
    struct rater *rater;
    struct authorizer *authorizer;
    struct renewer *renewer;
    struct outbox *outbox;
    struct lifecycle *lc;
    int lc_id;
};

static void drained_cb(void *arg)
{
    struct rating_app *app = arg;
    lifecycle_drained(app->lc, app->lc_id);
}

static void app_drain(struct lifecycle *lc, int id, void *arg)
{
    struct rating_app *app = arg;
    app->lc = lc;
    app->lc_id = id;
    rater_drain(app->rater, drained_cb, app);
}

static void app_stop(void *arg)
{
    struct rating_app *app = arg;
    rater_stop(app->rater);
    authorizer_stop(app->authorizer);
    app->authorizer = NULL;
    renewer_stop(app->renewer);
    app->renewer = NULL;
    outbox_close(app->outbox, NULL, NULL);
    app->rater = NULL;
    app->outbox = NULL;
}

static int app_start(struct rating_app *app, const struct rating_config *cfg)
{
    struct service *s = &app->svc;
    /* every service relays the outbox: several relays share the work under leases */
    struct outbox_opts oo = {.partitions = (unsigned)cfg->common.event_partitions};
    int err = outbox_create(&app->outbox, s->loop, s->pg, s->redis, &oo);
    if (err)
        return err;
    struct rater_opts ro = {.partitions = (unsigned)cfg->common.event_partitions,
                            .consumer = s->node_id,
                            .max_inflight = (unsigned)cfg->max_inflight};
    err = rater_create(&app->rater, s, &ro);
    if (err)
        return err;
    struct authorizer_opts ao = {.check_ms = (uint64_t)cfg->check_ms,
                                 .margin_ms = (uint64_t)cfg->margin_ms};
    err = authorizer_create(&app->authorizer, s, &ao);
    if (!err)
        err = renewer_create(&app->renewer, s, (uint64_t)cfg->renew_ms);
    if (err)
        return err;
    lifecycle_add(s->lc,
                  &(struct lifecycle_hooks){.drain = app_drain, .stop = app_stop, .arg = app});
    return 0;
}

int main(int argc, char **argv)
{
    static struct rating_config cfg;
    static struct rating_app app;
    service_load_config("rating", &cfg, vars, NVARS, argc, argv);
    int err = service_start(&app.svc, "rating", &cfg.common, SERVICE_PG | SERVICE_REDIS);
    if (!err) {
        err = app_start(&app, &cfg);
        if (err)
            log_error("rating.start_failed", "cannot start: %s", vp_err_message(err));
    }
    if (err)
        return 1;
    int rc = service_run(&app.svc);
    config_free(&cfg, vars, NVARS);
    return rc;
}
