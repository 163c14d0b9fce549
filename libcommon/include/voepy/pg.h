/*
 * pg.h - asynchronous PostgreSQL: a small pool of libpq connections on the loop.
 *
 * Each connection is driven non-blocking (PQconnectStart/PQconnectPoll, then
 * PQsendQueryParams/PQsendQueryPrepared) by a uv_poll. Statements registered with
 * pg_prepare() are prepared on every connection when it connects, and run by name.
 * Queries queue when every connection is busy or while reconnecting; a query that waits
 * longer than query_timeout_ms in total fails with VP_E_TIMEOUT (a running one is
 * cancelled with PQcancel on a worker thread). A broken connection is replaced with
 * capped exponential backoff; queries in flight on it fail with VP_E_CLOSED (they may or
 * may not have committed: callers make their SQL idempotent).
 *
 * Host names in the conninfo are resolved with uv_getaddrinfo and passed as hostaddr, so
 * libpq never blocks the loop resolving.
 *
 * Multi-statement work belongs in one SQL statement or function (proto/sql): one round
 * trip, one transaction, no transaction state kept across callbacks.
 *
 * SQL functions report domain errors with RAISE ... USING MESSAGE = 'voepy:<code>' (and
 * optionally DETAIL = '<field>'): pg_result_error() turns these into the error table's
 * VP_E_* value with the detail as field.
 */
#ifndef VOEPY_PG_H
#define VOEPY_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "voepy/err.h"

struct pg_pool;
struct pg_result;

struct pg_opts {
    const char *conninfo;        /* libpq conninfo or URI */
    unsigned size;               /* connections, default 4 */
    unsigned connect_timeout_ms; /* default 5000 */
    unsigned query_timeout_ms;   /* default 10000 */
    unsigned max_queue;          /* queued queries before VP_E_UNAVAILABLE, default 10000 */
    const char *name;            /* metrics label and application_name */
};

/*
 * status: 0 on success (res holds the rows), VP_E_DB when the server refused the
 * statement (res holds the error: see pg_result_error), or VP_E_TIMEOUT, VP_E_CLOSED,
 * VP_E_UNAVAILABLE, VP_E_CANCELED (res is NULL). res is freed after the callback returns.
 */
typedef void(pg_result_cb)(int status, const struct pg_result *res, void *arg);

/*
 * Connections start from the loop, never inside this call. VP_E_CONFIG for a conninfo
 * libpq refuses, a name outside [A-Za-z0-9_.-], or a host list holding names (each would
 * be resolved with blocking getaddrinfo: give hostaddr instead).
 */
int pg_pool_create(struct pg_pool **pp, uv_loop_t *loop, const struct pg_opts *opts);
/*
 * Register a prepared statement for every connection (before or after connecting).
 * Registering the same name and SQL again is a no-op; VP_E_CONFLICT for the same name
 * with other SQL. A statement the server refuses to prepare is logged and running it
 * fails with VP_E_DB (SQLSTATE 26000).
 */
int pg_prepare(struct pg_pool *p, const char *name, const char *sql);
/*
 * Run a registered statement by name, or any SQL text when name_or_sql is not a
 * registered name. Parameters are text (NULL = SQL NULL). Returns 0 (cb will run exactly
 * once, never inside this call) or VP_E_UNAVAILABLE when the queue is full or the pool is
 * closing, VP_E_INVALID_PARAMETER for a NULL statement or callback or a bad nparams (cb
 * will not run).
 */
int pg_exec(struct pg_pool *p, const char *name_or_sql, int nparams, const char *const *params,
            pg_result_cb *cb, void *arg);
/* True when at least one connection is up. */
bool pg_pool_ready(const struct pg_pool *p);
/*
 * Fail queued and running queries with VP_E_CANCELED, close connections, free, then
 * closed() runs from the loop. Every query callback has run when this returns (pg_exec
 * from inside them returns VP_E_UNAVAILABLE). May be called from a pg callback; call once.
 */
void pg_pool_close(struct pg_pool *p, void (*closed)(void *arg), void *arg);

/* Result accessors. Values are text; NULL for SQL NULL or out-of-range row/column. */
int pg_ntuples(const struct pg_result *res);
int pg_nfields(const struct pg_result *res);
const char *pg_value(const struct pg_result *res, int row, int col);
/* Column by name; NULL when the column does not exist or the value is NULL. */
const char *pg_get(const struct pg_result *res, int row, const char *col);
long long pg_affected(const struct pg_result *res); /* rows affected by INSERT/UPDATE/DELETE */
/*
 * For a status of VP_E_DB: the VP_E_* error the SQL raised ("voepy:<code>"; an unknown
 * code gives VP_E_INTERNAL), else VP_E_DB; fills e (when given) with the code, field
 * (DETAIL) and message (HINT, else the error table's default: server text never goes
 * into e, read it with pg_result_message). 0 for a result that is not an error.
 */
int pg_result_error(const struct pg_result *res, struct vp_error *e);
const char *pg_result_sqlstate(const struct pg_result *res);
const char *pg_result_message(const struct pg_result *res);

#endif
