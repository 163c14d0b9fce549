/*
 * voepy-api-gateway - the public HTTP API.
 *
 * main.c reads the configuration, wires the parts and runs the loop. The rooms:
 *   dispatch.c  route table and the order of checks      router.c   path patterns
 *   auth.c      tenant keys and the operator token        apikey.c   key format
 *   input.c     body, query, Idempotency-Key              validate.c value checks
 *   reply.c     answers, SQL results, request log/metrics
 *   admin.c admin_catalog.c numbers.c calls.c webhooks.c  one file per resource
 * The SQL behind every operation is in proto/sql/0010_api.sql.
 *
 * SIGTERM drains: the listener closes, idle connections close, requests in flight are
 * answered (their connections then close) and the process stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "voepy/http_server.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/outbox.h"
#include "voepy/service.h"
#include "voepy/url_guard.h"

struct gw_config {
    struct service_common common;
    char *api_host;
    long api_port;
    char *admin_token;
    long max_body;
    struct url_policy_config url; /* VOEPY_URL_*: which customer URLs are accepted */
    long auth_cache_ms;
    char *recordings_dir;
    char *recording_url_key; /* recordings.c: download_url signatures */
    char *public_url;
    long recording_url_ttl;
};

static const struct config_var vars[] = {
    SERVICE_COMMON_VARS(struct gw_config, common, "9100"),
    CONFIG_STR(struct gw_config, api_host, "VOEPY_API_HOST", "127.0.0.1", 0,
               "address the public API listens on"),
    CONFIG_INT(struct gw_config, api_port, "VOEPY_API_PORT", "8080", 0, 65535,
               "port of the public API (0 = any free port, logged)"),
    CONFIG_STR(struct gw_config, admin_token, "VOEPY_ADMIN_TOKEN", NULL, CONFIG_SECRET,
               "bearer token of the operator API /admin/v1 (required)"),
    CONFIG_INT(struct gw_config, max_body, "VOEPY_API_MAX_BODY", "1048576", 1024, 67108864,
               "largest request body in bytes (larger: 413)"),
    URL_POLICY_VARS(struct gw_config, url),
    CONFIG_INT(struct gw_config, auth_cache_ms, "VOEPY_API_AUTH_CACHE_MS", "1000", 0, 60000,
               "keep API key lookups this long in each process (0 = look up every request); "
               "a revoked key keeps working elsewhere for at most this long"),
    CONFIG_STR(struct gw_config, recordings_dir, "VOEPY_RECORDINGS_DIR",
               "/var/lib/voepy/recordings", 0,
               "directory the recording files are served from (storage_key is relative to it)"),
    CONFIG_STR(struct gw_config, recording_url_key, "VOEPY_RECORDING_URL_KEY", "", CONFIG_SECRET,
               "key of the HMAC that signs recordings' download_url (every gateway the same); "
               "empty: derived from VOEPY_ADMIN_TOKEN"),
    CONFIG_STR(struct gw_config, public_url, "VOEPY_API_PUBLIC_URL", "", 0,
               "the API's public base URL (https://api.example.com), put before signed "
               "download_url paths; empty: the paths alone"),
    CONFIG_INT(struct gw_config, recording_url_ttl, "VOEPY_RECORDING_URL_TTL_SECS", "3600", 60,
               604800, "how long a recording's download_url stays valid"),
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* What the lifecycle hooks need. */
struct gateway {
    struct service svc;
    struct api api;
    struct http_server *http;
    struct outbox *outbox;
    struct sweep *sweep;
    int drain_id;
};

static void drained_cb(void *arg)
{
    struct gateway *gw = arg;
    log_info("api.drained", "every request in flight was answered");
    lifecycle_drained(gw->svc.lc, gw->drain_id);
}

static void drain_hook(struct lifecycle *lc, int id, void *arg)
{
    struct gateway *gw = arg;
    gw->drain_id = id;
    log_info("api.draining", "no new connections; finishing requests in flight");
    http_server_drain(gw->http, drained_cb, gw);
}

static void stop_hook(void *arg)
{
    struct gateway *gw = arg;
    if (gw->http)
        http_server_close(gw->http, NULL, NULL);
    if (gw->outbox)
        outbox_close(gw->outbox, NULL, NULL);
    sweep_stop(gw->sweep);
    ccnodes_close(gw->api.ccnodes);
    gw->api.ccnodes = NULL;
    gw->http = NULL;
    gw->outbox = NULL;
    gw->sweep = NULL;
}

static int gateway_start(struct gateway *gw, const struct gw_config *cfg)
{
    gw->api.loop = gw->svc.loop;
    gw->api.pg = gw->svc.pg;
    gw->api.redis = gw->svc.redis;
    url_policy_log(gw->api.url_policy);
    gw->api.recordings_dir = cfg->recordings_dir;
    recordings_url_init(&gw->api, cfg->recording_url_key, cfg->admin_token, cfg->public_url,
                        cfg->recording_url_ttl);
    auth_admin_init(&gw->api, cfg->admin_token);
    auth_cache_init(&gw->api, cfg->auth_cache_ms);
    struct outbox_opts oo = {.partitions = (unsigned)cfg->common.event_partitions};
    int err = outbox_create(&gw->outbox, gw->svc.loop, gw->svc.pg, gw->svc.redis, &oo);
    if (err)
        return err;
    gw->api.outbox = gw->outbox;
    gw->sweep = sweep_start(gw->svc.loop, gw->svc.pg);
    struct http_server_opts ho = {.host = cfg->api_host,
                                  .port = (int)cfg->api_port,
                                  .max_body_bytes = (size_t)cfg->max_body,
                                  .name = "api"};
    err = http_server_create(&gw->http, gw->svc.loop, &ho, api_dispatch_cb, &gw->api);
    if (err) {
        log_error("api.listen_failed", "cannot listen on %s:%ld: %s", cfg->api_host, cfg->api_port,
                  vp_err_message(err));
        return err;
    }
    ccnodes_create(&gw->api.ccnodes, gw->svc.loop, gw->svc.redis);
    lifecycle_add(gw->svc.lc,
                  &(struct lifecycle_hooks){.drain = drain_hook, .stop = stop_hook, .arg = gw});
    log_info("api.listening", "public API on http://%s:%d", cfg->api_host,
             http_server_port(gw->http));
    return 0;
}

int main(int argc, char **argv)
{
    static struct gw_config cfg;
    static struct gateway gw;
    service_load_config("api-gateway", &cfg, vars, NVARS, argc, argv);
    if (!cfg.admin_token || !*cfg.admin_token) {
        fprintf(stderr, "voepy-api-gateway: VOEPY_ADMIN_TOKEN is required (the operator API's "
                        "bearer token); refusing to start without it\n");
        config_free(&cfg, vars, NVARS);
        return 2;
    }
    char err[256];
    if (url_policy_create(&gw.api.url_policy, &cfg.url, err, sizeof(err))) {
        fprintf(stderr, "voepy-api-gateway: %s\n", err);
        config_free(&cfg, vars, NVARS);
        return 2;
    }
    int rc = 1;
    if (service_start(&gw.svc, "api-gateway", &cfg.common, SERVICE_PG | SERVICE_REDIS) == 0) {
        if (gateway_start(&gw, &cfg) == 0)
            rc = 0;
    }
    if (rc != 0 && !gw.svc.lc)
        return rc;
    if (rc != 0)
        lifecycle_shutdown(gw.svc.lc, false);
    int exit_code = service_run(&gw.svc);
    auth_cache_free(&gw.api);
    url_policy_free(gw.api.url_policy);
    config_free(&cfg, vars, NVARS);
    return rc != 0 ? rc : exit_code;
}
