/*
 * redis.h - one Redis connection on the loop, with reconnect.
 *
 * Wraps hiredis' async API (with our fixed libuv adapter). The host must be an IP
 * address or a name; names are resolved with uv_getaddrinfo (hiredis would block).
 * On loss of the connection pending commands fail (status VP_E_CLOSED) and the wrapper
 * reconnects with capped exponential backoff; commands issued while disconnected fail at
 * once with VP_E_UNAVAILABLE. Every command has a timeout (cmd_timeout_ms): on expiry
 * its callback gets VP_E_TIMEOUT and the connection is recycled, since a late reply
 * would otherwise be matched to the wrong command.
 *
 * Never issue a blocking command (XREADGROUP BLOCK, BLPOP) on a connection shared with
 * other commands: everything queued behind it waits. rstream consumers own a connection.
 */
#ifndef VOEPY_REDIS_H
#define VOEPY_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct redis;
struct redisReply; /* hiredis' reply; include <hiredis/hiredis.h> to read one */

/* cmd_timeout_ms value for a connection whose commands may wait forever. */
#define REDIS_NO_TIMEOUT 0xffffffffu

struct redis_opts {
    const char *host;            /* default "127.0.0.1" */
    int port;                    /* default 6379 */
    const char *password;        /* AUTH when set */
    unsigned connect_timeout_ms; /* default 2000 */
    unsigned cmd_timeout_ms;     /* default 5000; REDIS_NO_TIMEOUT = none */
    const char *name;            /* CLIENT SETNAME and metrics label */
};

/*
 * reply is NULL unless status == 0; it is freed after the callback returns. An error
 * reply from Redis ("-ERR ...") is status 0 with reply->type == REDIS_REPLY_ERROR.
 */
typedef void(redis_reply_cb)(int status, struct redisReply *reply, void *arg);
typedef void(redis_state_cb)(bool connected, void *arg);

/*
 * Zero fields of opts take the defaults above.
 * Returns VP_E_INVALID_PARAMETER for a bad port, an empty host or password, or a name
 * that CLIENT SETNAME or a metrics label would refuse (spaces, quotes, > 64 chars).
 * Metrics: voepy_redis_connected{name} (gauge), voepy_redis_reconnects_total{name}
 * (connection attempts after a failed attempt or a lost connection).
 */
int redis_create(struct redis **rp, uv_loop_t *loop, const struct redis_opts *opts);
/*
 * Called on every connect (true: connected, AUTH and CLIENT SETNAME done) and every loss
 * of a ready connection (false). Failed attempts and redis_close() do not call it.
 */
void redis_on_state(struct redis *r, redis_state_cb *cb, void *arg);
bool redis_connected(const struct redis *r);
/*
 * Returns 0 (cb will run exactly once, if given) or VP_E_UNAVAILABLE (cb will not run).
 * Also VP_E_INVALID_PARAMETER (cb will not run) for a format hiredis cannot expand and
 * for (P)SUBSCRIBE, (P)UNSUBSCRIBE and MONITOR, which do not answer once per command.
 */
int redis_cmd(struct redis *r, redis_reply_cb *cb, void *arg, const char *fmt, ...);
int redis_cmdv(struct redis *r, redis_reply_cb *cb, void *arg, int argc, const char **argv,
               const size_t *argvlen);
/* Fail pending commands with VP_E_CANCELED, disconnect, free, then closed() runs. */
void redis_close(struct redis *r, void (*closed)(void *arg), void *arg);

#endif
