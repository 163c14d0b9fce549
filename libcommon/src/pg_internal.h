/*
 * pg_internal.h - what the pool (pg.c) and its connections (pg_conn.c) share.
 *
 * The pool owns the queue, the registered statements and the connect parameters; a
 * connection owns one libpq session and runs at most one query at a time. Connections
 * talk back to the pool only through the pg__pool_* functions below, always from a loop
 * callback (never from inside a pg_exec() call), so a user callback never runs in the
 * stack of the API call that queued it.
 */
#ifndef VOEPY_PG_INTERNAL_H
#define VOEPY_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "voepy/pg.h"

struct metric;
struct pg_conn;

/*
 * Connection states. A connection is created BROKEN (no session) and reconnects by
 * itself; only pg__conn_close() leaves the cycle.
 *   BROKEN -> CONNECTING            backoff timer expired (first one: at once)
 *   CONNECTING -> PREPARING         PQconnectPoll said OK
 *   PREPARING -> IDLE | BUSY        every registered statement prepared (BUSY when a
 *                                   query was waiting for a statement)
 *   IDLE -> BUSY                    a query was sent
 *   IDLE -> PREPARING               a query needs statements registered since connecting
 *   BUSY -> IDLE                    results read (and any cancel request finished)
 *   any -> BROKEN                   connect/read/write failure, connect timeout, FATAL
 *   any -> CLOSED                   pool closing; final
 */
enum pg_conn_state {
    PG_CONN_BROKEN,
    PG_CONN_CONNECTING,
    PG_CONN_PREPARING,
    PG_CONN_IDLE,
    PG_CONN_BUSY,
    PG_CONN_CLOSED,
};
#define PG__NSTATES 6

/* A registered statement; owned by the pool, never removed. Index = registration order. */
struct pg__stmt {
    char *name;
    char *sql;
};

/*
 * What the pool shares with its connections. Owned by the pool and freed only after
 * every connection is gone. keywords/values are NULL-terminated and ready for
 * PQconnectStartParams; when resolve_host is set, the slots host_idx and hostaddr_idx are
 * placeholders that each connect attempt fills with resolved addresses.
 */
struct pg__shared {
    uv_loop_t *loop;
    struct pg_pool *pool;
    const char *name;
    const char **keywords;
    const char **values;
    const char *resolve_host;
    int host_idx;
    int hostaddr_idx;
    unsigned connect_timeout_ms;
    struct pg__stmt *stmts;
    unsigned nstmts;
    unsigned stmts_cap;
    struct metric *m_conns[PG__NSTATES]; /* voepy_pg_connections{state}; NULL for CLOSED */
};

/*
 * One pg_exec() call. Owned by the pool from pg_exec() until its callback has run; a
 * connection only borrows it while attached (q->conn set).
 */
struct pg__query {
    struct pg__query *next;
    int stmt;  /* index of the registered statement, -1 for SQL text */
    char *sql; /* statement name or SQL text (owned) */
    int nparams;
    char **params; /* owned; NULL entries are SQL NULL */
    pg_result_cb *cb;
    void *arg;
    uint64_t deadline_ms; /* uv_now() value after which it fails with VP_E_TIMEOUT */
    uint64_t start_ns;    /* uv_hrtime() at pg_exec, for the duration histogram */
    struct pg_conn *conn; /* the connection running it, NULL while queued */
};

/* pg_conn.c */
int pg__conn_create(struct pg_conn **cp, struct pg__shared *sh, unsigned id);
const char *pg__conn_state_name(enum pg_conn_state s);
enum pg_conn_state pg__conn_state(const struct pg_conn *c);
/* The attached query, or NULL. */
struct pg__query *pg__conn_query(const struct pg_conn *c);
/* Attach q to an IDLE connection and start it. Call from a loop callback only. */
void pg__conn_run(struct pg_conn *c, struct pg__query *q);
/*
 * Detach the attached query (it timed out): the caller completes it. A query already
 * sent is cancelled; the connection takes no new work until its results are drained.
 */
void pg__conn_abandon(struct pg_conn *c);
/*
 * Close the session and the handles; returns the detached query (caller completes it)
 * or NULL. The connection frees itself later and then calls pg__pool_conn_freed().
 */
struct pg__query *pg__conn_close(struct pg_conn *c);

/* pg.c, called by connections from loop callbacks */
/* q finished: run its callback with status and res (res may be NULL; pool clears it). */
void pg__pool_done(struct pg_pool *p, struct pg__query *q, int status, PGresult *res);
/* q was attached but never sent (the connection broke while preparing): queue it again. */
void pg__pool_requeue(struct pg_pool *p, struct pg__query *q);
/* A connection became IDLE without finishing a query: hand it queued work. */
void pg__pool_idle(struct pg_pool *p);
/* A closed connection has released its memory. */
void pg__pool_conn_freed(struct pg_pool *p);

#endif
