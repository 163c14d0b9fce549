/*
 * db.c - voepy-migrate's database side, with blocking libpq (a CLI may block).
 *
 * The session holds an advisory lock for the whole run, so two migrators never
 * interleave; each file runs with its schema_migrations row in one transaction.
 */
#include "migrate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

/* pg_advisory_lock key shared by every voepy-migrate: "voepy" in ASCII. */
#define LOCK_KEY "508675059833"

static void notice_cb(void *arg, const char *msg)
{
    (void)arg;
    vlog_kv(VLOG_DEBUG, "migrate.notice", msg, NULL);
}

/* libpq's messages end with a newline; logs and stderr lines should not. */
static const char *trim(char *buf, size_t n, const char *msg)
{
    snprintf(buf, n, "%s", msg ? msg : "");
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

PGconn *migrate_db_connect(const char *dsn)
{
    /* dbname is expanded as a conninfo; keys in it override application_name. */
    const char *keys[] = {"application_name", "dbname", NULL};
    const char *vals[] = {"voepy-migrate", dsn, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        char err[512];
        migrate_error(VP_E_UNAVAILABLE, "migrate.connect_failed", "cannot connect: %s",
                      trim(err, sizeof(err), PQerrorMessage(pg)));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, notice_cb, NULL);
    return pg;
}

/* Run one statement; *out gets the rows when asked for, else the result is cleared. */
static int exec(PGconn *pg, const char *sql, int n, const char *const *params, PGresult **out)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char err[512];
        migrate_error(VP_E_DB, "migrate.sql_failed", "%s: %s", sql,
                      trim(err, sizeof(err), PQresultErrorMessage(r)));
        PQclear(r);
        return VP_E_DB;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

int migrate_db_lock(PGconn *pg)
{
    const char *key[] = {LOCK_KEY};
    PGresult *r;
    if (exec(pg, "SELECT pg_try_advisory_lock($1::bigint)", 1, key, &r) < 0)
        return VP_E_DB;
    bool got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (got)
        return 0;
    log_info("migrate.waiting", "another voepy-migrate is running; waiting for it to finish");
    return exec(pg, "SELECT pg_advisory_lock($1::bigint)", 1, key, NULL);
}

int migrate_db_create_table(PGconn *pg)
{
    if (exec(pg, "SET client_min_messages = warning", 0, NULL, NULL) < 0)
        return VP_E_DB;
    return exec(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, NULL);
}

static void rows_fill(struct migrate_rows *out, const PGresult *r)
{
    out->n = (size_t)PQntuples(r);
    out->v = vp_calloc(out->n ? out->n : 1, sizeof(*out->v));
    for (size_t i = 0; i < out->n; i++) {
        out->v[i].version = vp_strdup(PQgetvalue(r, (int)i, 0));
        out->v[i].checksum = vp_strdup(PQgetvalue(r, (int)i, 1));
        out->v[i].applied_at = vp_strdup(PQgetvalue(r, (int)i, 2));
    }
}

int migrate_db_rows(PGconn *pg, struct migrate_rows *out)
{
    PGresult *r;
    memset(out, 0, sizeof(*out));
    if (exec(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, &r) < 0)
        return VP_E_DB;
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists)
        return 0;
    if (exec(pg,
             "SELECT version, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations ORDER BY version COLLATE "
             "\"C\"",
             0, NULL, &r) < 0)
        return VP_E_DB;
    rows_fill(out, r);
    PQclear(r);
    return 0;
}

/* The line of a 1-based character position in sql (UTF-8), for error messages. */
static int line_of(const char *sql, const char *pos)
{
    long chars = pos ? strtol(pos, NULL, 10) : 0, seen = 0;
    int line = 1;
    for (const unsigned char *p = (const unsigned char *)sql; *p && seen < chars - 1; p++) {
        if ((*p & 0xc0) != 0x80)
            seen++;
        line += *p == '\n';
    }
    return line;
}

static int file_failed(PGconn *pg, const struct migrate_file *f, PGresult *r, const char *why)
{
    char err[512];
    const char *pos = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
    trim(err, sizeof(err), why ? why : PQresultErrorMessage(r));
    if (pos)
        migrate_error(VP_E_DB, "migrate.file_failed", "%s (line %d): %s", f->path,
                      line_of(f->sql, pos), err);
    else
        migrate_error(VP_E_DB, "migrate.file_failed", "%s: %s", f->path, err);
    PQclear(r);
    PQclear(PQexec(pg, "ROLLBACK"));
    return VP_E_DB;
}

int migrate_db_apply(PGconn *pg, const struct migrate_file *f)
{
    if (exec(pg, "BEGIN", 0, NULL, NULL) < 0)
        return VP_E_DB;
    /* PQexec: a file holds many statements, which the extended protocol refuses. */
    PGresult *r = PQexec(pg, f->sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        return file_failed(pg, f, r, NULL);
    PQclear(r);
    if (PQtransactionStatus(pg) != PQTRANS_INTRANS)
        return file_failed(pg, f, NULL, "the file must not end the transaction (COMMIT/ROLLBACK)");
    const char *row[] = {f->version, f->checksum};
    if (exec(pg, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2, row,
             NULL) < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return VP_E_DB;
    }
    return exec(pg, "COMMIT", 0, NULL, NULL);
}

const struct migrate_row *migrate_rows_find(const struct migrate_rows *rs, const char *version)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].version, version) == 0)
            return &rs->v[i];
    return NULL;
}

void migrate_rows_free(struct migrate_rows *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].version);
        free(rs->v[i].checksum);
        free(rs->v[i].applied_at);
    }
    free(rs->v);
    memset(rs, 0, sizeof(*rs));
}
