/*
 * service.h - what every voepy service does at start and at exit.
 *
 * A service's config struct embeds struct service_common and its variable table starts
 * with SERVICE_COMMON_VARS(); service_start() then sets up, in order: logging, libsodium,
 * the loop, lifecycle (signals), the ops endpoint (/healthz, /readyz, /metrics) and, when
 * asked, the PostgreSQL pool and a Redis connection, both registered as readiness checks.
 * service_run() runs the loop until the lifecycle stops it and tears everything down.
 *
 * Participants registered by the service itself (lifecycle_add) after service_start()
 * are stopped before the base (stop hooks run in reverse order), so a service closes its
 * consumers and servers while the pool and Redis are still there.
 */
#ifndef VOEPY_SERVICE_H
#define VOEPY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "voepy/config.h"

struct lifecycle;
struct ops;
struct pg_pool;
struct redis;
struct redis_opts;

struct service_common {
    char *log_level;
    char *pg_dsn;
    long pg_pool;
    char *redis_host;
    long redis_port;
    char *redis_password;
    char *ops_host;
    long ops_port;
    char *node_id;
    long event_partitions;
    long drain_timeout_ms;
};

/* The shared VOEPY_* variables; `member` is the struct service_common inside `type`. */
#define SERVICE_COMMON_VARS(type, member, ops_port_default)                                       \
    CONFIG_STR(type, member.log_level, "VOEPY_LOG_LEVEL", "info", 0,                              \
               "debug, info, warn or error"),                                                     \
        CONFIG_STR(type, member.pg_dsn, "VOEPY_PG_DSN",                                           \
                   "host=127.0.0.1 port=5432 dbname=voepy user=voepy", CONFIG_SECRET,             \
                   "PostgreSQL conninfo"),                                                        \
        CONFIG_INT(type, member.pg_pool, "VOEPY_PG_POOL", "4", 1, 64, "PostgreSQL connections"),  \
        CONFIG_STR(type, member.redis_host, "VOEPY_REDIS_HOST", "127.0.0.1", 0, "Redis host"),    \
        CONFIG_INT(type, member.redis_port, "VOEPY_REDIS_PORT", "6379", 1, 65535, "Redis port"),  \
        CONFIG_STR(type, member.redis_password, "VOEPY_REDIS_PASSWORD", NULL, CONFIG_SECRET,      \
                   "Redis password"),                                                             \
        CONFIG_STR(type, member.ops_host, "VOEPY_OPS_HOST", "127.0.0.1", 0,                       \
                   "address of /healthz /readyz /metrics"),                                       \
        CONFIG_INT(type, member.ops_port, "VOEPY_OPS_PORT", ops_port_default, 0, 65535,           \
                   "port of /healthz /readyz /metrics"),                                          \
        CONFIG_STR(type, member.node_id, "VOEPY_NODE_ID", "", 0,                                  \
                   "this node's id (default: <service>-<host>-<random>)"),                        \
        CONFIG_INT(type, member.event_partitions, "VOEPY_EVENT_PARTITIONS", "4", 1, 256,          \
                   "number of voepy:events:{p} streams"),                                         \
        CONFIG_INT(type, member.drain_timeout_ms, "VOEPY_DRAIN_TIMEOUT_MS", "30000", 0, 86400000, \
                   "longest SIGTERM drain before stopping")

enum service_flags {
    SERVICE_PG = 1u << 0,
    SERVICE_REDIS = 1u << 1,
};

struct service {
    const char *name;
    uv_loop_t *loop;
    struct lifecycle *lc;
    struct ops *ops;
    struct pg_pool *pg;  /* when SERVICE_PG */
    struct redis *redis; /* when SERVICE_REDIS: for commands, never for blocking reads */
    const struct service_common *common;
    char node_id[128];
};

/*
 * Load cfg from the environment; on --help print usage and exit 0, on a bad value print
 * the reason and exit 2. service_start() prints the effective configuration (secrets
 * masked) once logging is set up.
 */
void service_load_config(const char *name, void *cfg, const struct config_var *vars, size_t n,
                         int argc, char **argv);
/* Returns 0, or an error after logging why (the caller exits non-zero). */
int service_start(struct service *s, const char *name, const struct service_common *common,
                  unsigned flags);
/* The Redis options every connection of this service uses (name = purpose). */
void service_redis_opts(const struct service *s, struct redis_opts *o, const char *purpose);
/* Run until stopped; frees the base. Returns the process exit code. */
int service_run(struct service *s);

#endif
