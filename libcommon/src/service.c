#include "voepy/service.h"
#include "voepy/crypto.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/ops.h"
#include "voepy/pg.h"
#include "voepy/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The configuration service_load_config() read, printed by service_start() once logging
   carries the service's name and node. One service per process. */
static struct {
    const void *cfg;
    const struct config_var *vars;
    size_t n;
} loaded;

void service_load_config(const char *name, void *cfg, const struct config_var *vars, size_t n,
                         int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("voepy-%s: configured by environment variables:\n", name);
            config_usage(vars, n);
            exit(0);
        }
        fprintf(stderr, "voepy-%s: unknown argument %s (try --help)\n", name, argv[i]);
        exit(2);
    }
    char err[256];
    if (config_load(cfg, vars, n, err, sizeof(err))) {
        fprintf(stderr, "voepy-%s: %s\n", name, err);
        exit(2);
    }
    loaded.cfg = cfg;
    loaded.vars = vars;
    loaded.n = n;
}

static void make_node_id(struct service *s)
{
    if (s->common->node_id && *s->common->node_id) {
        snprintf(s->node_id, sizeof(s->node_id), "%s", s->common->node_id);
        return;
    }
    char host[64] = "host", rnd[7];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    crypto_random_token(rnd, 6);
    snprintf(s->node_id, sizeof(s->node_id), "%s-%s-%s", s->name, host, rnd);
}

static bool pg_ready_cb(void *arg)
{
    return pg_pool_ready(arg);
}

static bool redis_ready_cb(void *arg)
{
    return redis_connected(arg);
}

/* Closing the base happens last: the service's own participants stopped before. */
static void base_stop(void *arg)
{
    struct service *s = arg;
    if (s->redis)
        redis_close(s->redis, NULL, NULL);
    if (s->pg)
        pg_pool_close(s->pg, NULL, NULL);
    ops_close(s->ops, NULL, NULL);
    s->redis = NULL;
    s->pg = NULL;
    s->ops = NULL;
}

void service_redis_opts(const struct service *s, struct redis_opts *o, const char *purpose)
{
    memset(o, 0, sizeof(*o));
    o->host = s->common->redis_host;
    o->port = (int)s->common->redis_port;
    o->password = s->common->redis_password;
    o->name = purpose;
}

static int start_stores(struct service *s, unsigned flags)
{
    if (flags & SERVICE_PG) {
        struct pg_opts po = {
            .conninfo = s->common->pg_dsn, .size = (unsigned)s->common->pg_pool, .name = s->name};
        if (pg_pool_create(&s->pg, s->loop, &po))
            return VP_E_CONFIG;
        ops_add_check(s->ops, "postgres", pg_ready_cb, s->pg);
    }
    if (flags & SERVICE_REDIS) {
        struct redis_opts ro;
        service_redis_opts(s, &ro, s->name);
        if (redis_create(&s->redis, s->loop, &ro))
            return VP_E_CONFIG;
        ops_add_check(s->ops, "redis", redis_ready_cb, s->redis);
    }
    return 0;
}

int service_start(struct service *s, const char *name, const struct service_common *common,
                  unsigned flags)
{
    memset(s, 0, sizeof(*s));
    s->name = name;
    s->common = common;
    enum vlog_level lvl = VLOG_INFO;
    if (vlog_level_parse(common->log_level, &lvl))
        fprintf(stderr, "voepy-%s: unknown VOEPY_LOG_LEVEL %s, using info\n", name,
                common->log_level);
    if (crypto_init())
        return VP_E_INTERNAL;
    make_node_id(s);
    vlog_init(name, s->node_id, lvl);
    if (loaded.cfg)
        config_print(loaded.cfg, loaded.vars, loaded.n);
    s->loop = uv_default_loop();
    lifecycle_create(&s->lc, s->loop, (unsigned)common->drain_timeout_ms);
    lifecycle_add(s->lc, &(struct lifecycle_hooks){.stop = base_stop, .arg = s});
    int err = ops_create(&s->ops, s->loop, common->ops_host, (int)common->ops_port, s->lc);
    if (err) {
        log_error("service.ops_failed", "cannot serve ops on %s:%ld: %s", common->ops_host,
                  common->ops_port, vp_err_message(err));
        return err;
    }
    err = start_stores(s, flags);
    if (err)
        return err;
    log_info("service.started", "%s started (ops on %s:%d)", name, common->ops_host,
             ops_port(s->ops));
    return 0;
}

int service_run(struct service *s)
{
    uv_run(s->loop, UV_RUN_DEFAULT);
    lifecycle_destroy(s->lc);
    int rc = uv_loop_close(s->loop);
    if (rc) {
        log_warn("service.handles_left", "handles still open at exit");
        uv_print_all_handles(s->loop, stderr);
    }
    log_info("service.stopped", "%s stopped", s->name);
    return 0;
}
