/*
 * migrate.h - voepy-migrate's parts: the migration files on disk (files.c) and the
 * database side (db.c); main.c reads options and runs them in order.
 *
 * A migration is a file NNNN_name.sql (four or more digits); its version is the file
 * name without ".sql". Each file runs in its own transaction together with its
 * schema_migrations row, so it must not contain COMMIT/ROLLBACK or statements that cannot
 * run inside a transaction block (CREATE INDEX CONCURRENTLY).
 */
#ifndef VOEPY_MIGRATE_H
#define VOEPY_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "voepy/crypto.h"

struct migrate_file {
    char *version; /* "0001_core" */
    char *path;
    char *sql; /* the whole file, NUL-terminated */
    char checksum[CRYPTO_SHA256_HEX_LEN];
};

struct migrate_files {
    struct migrate_file *v; /* in lexical order of file name */
    size_t n;
};

/* One schema_migrations row. */
struct migrate_row {
    char *version;
    char *checksum;
    char *applied_at;
};

struct migrate_rows {
    struct migrate_row *v; /* in version order */
    size_t n;
};

/*
 * Log an error as a JSON line (stdout, with everything else) and repeat it for humans
 * on stderr. Returns VP_E_* err for tail calls.
 */
int migrate_error(int err, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* files.c: read every migration in dir; VP_E_* (logged) on a bad dir, name or file. */
int migrate_files_load(const char *dir, struct migrate_files *out);
const struct migrate_file *migrate_files_find(const struct migrate_files *fs, const char *version);
void migrate_files_free(struct migrate_files *fs);

/* db.c: blocking libpq; every function logs its own errors. */
PGconn *migrate_db_connect(const char *dsn);
/* Session advisory lock shared by every voepy-migrate: waits for another run to end. */
int migrate_db_lock(PGconn *pg);
int migrate_db_create_table(PGconn *pg);
/* The recorded rows; none when schema_migrations does not exist yet. */
int migrate_db_rows(PGconn *pg, struct migrate_rows *out);
/* Run f and record it in one transaction; on failure nothing of f remains. */
int migrate_db_apply(PGconn *pg, const struct migrate_file *f);
const struct migrate_row *migrate_rows_find(const struct migrate_rows *rs, const char *version);
void migrate_rows_free(struct migrate_rows *rs);

#endif
