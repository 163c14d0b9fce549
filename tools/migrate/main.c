/*
 * voepy-migrate - apply proto/sql migrations to PostgreSQL.
 *
 *   voepy-migrate [--dir proto/sql] [--dsn DSN] [--status]
 *
 * Applies, in lexical order, every NNNN_name.sql in the directory that schema_migrations
 * does not record, each in its own transaction with its row; one JSON line per applied
 * file on stdout. Refuses to apply anything when a recorded file changed (SHA-256) or is
 * gone. --status lists applied, pending, changed and missing versions instead. Exit 0 when
 * everything is applied (or, with --status, consistent), 1 on any error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "voepy/alloc.h"
#include "voepy/config.h"
#include "voepy/err.h"
#include "voepy/log.h"

struct migrate_config {
    char *dsn;
    char *dir;
    bool status;
};

static const struct config_var config_vars[] = {
    CONFIG_STR(struct migrate_config, dsn, "VOEPY_PG_DSN",
               "host=127.0.0.1 port=5432 dbname=voepy user=voepy", CONFIG_SECRET,
               "PostgreSQL conninfo (--dsn)"),
    CONFIG_STR(struct migrate_config, dir, "VOEPY_MIGRATIONS_DIR", "proto/sql", 0,
               "directory of NNNN_name.sql files (--dir)"),
};
#define NVARS (sizeof(config_vars) / sizeof(config_vars[0]))

int migrate_error(int err, const char *event, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vlog_kv(VLOG_ERROR, event, msg, NULL);
    fprintf(stderr, "voepy-migrate: %s\n", msg);
    return err;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: voepy-migrate [--dir DIR] [--dsn DSN] [--status]\n"
                 "Applies DIR/NNNN_name.sql files not yet recorded in schema_migrations.\n"
                 "Environment:\n");
    if (out == stdout)
        config_usage(config_vars, NVARS);
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = vp_strdup(v);
}

/* Environment first, then the command line; 1 when --help was asked for. */
static int options_parse(int argc, char **argv, struct migrate_config *cfg)
{
    static const struct option longs[] = {{"dir", required_argument, NULL, 'd'},
                                          {"dsn", required_argument, NULL, 'n'},
                                          {"status", no_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    char err[256];
    if (config_load(cfg, config_vars, NVARS, err, sizeof(err)) < 0)
        return migrate_error(VP_E_CONFIG, "migrate.bad_config", "%s", err);
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == 'd' || c == 'n')
            set_str(c == 'd' ? &cfg->dir : &cfg->dsn, optarg);
        else if (c == 's')
            cfg->status = true;
        else if (c == 'h')
            return 1;
        else
            return VP_E_INVALID_REQUEST;
    }
    if (optind < argc)
        return migrate_error(VP_E_INVALID_REQUEST, "migrate.bad_usage", "unexpected argument %s",
                             argv[optind]);
    return 0;
}

/* Recorded versions whose file is gone or changed; each is reported. */
static int check_applied(const struct migrate_files *fs, const struct migrate_rows *rows)
{
    int problems = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const struct migrate_row *r = &rows->v[i];
        const struct migrate_file *f = migrate_files_find(fs, r->version);
        if (!f) {
            migrate_error(VP_E_CONFLICT, "migrate.missing",
                          "%s was applied but its file is missing", r->version);
            problems++;
        } else if (strcmp(f->checksum, r->checksum) != 0) {
            migrate_error(VP_E_CONFLICT, "migrate.changed",
                          "%s changed after it was applied (recorded sha256 %s, file %s); "
                          "write a new migration instead",
                          f->path, r->checksum, f->checksum);
            problems++;
        }
    }
    return problems;
}

static int print_status(const struct migrate_files *fs, const struct migrate_rows *rows)
{
    for (size_t i = 0; i < fs->n; i++) {
        const struct migrate_file *f = &fs->v[i];
        const struct migrate_row *r = migrate_rows_find(rows, f->version);
        if (!r)
            printf("pending\t%s\n", f->version);
        else
            printf("%s\t%s\t%s\n", strcmp(r->checksum, f->checksum) ? "changed" : "applied",
                   f->version, r->applied_at);
    }
    for (size_t i = 0; i < rows->n; i++)
        if (!migrate_files_find(fs, rows->v[i].version))
            printf("missing\t%s\t%s\n", rows->v[i].version, rows->v[i].applied_at);
    fflush(stdout);
    return check_applied(fs, rows) ? VP_E_CONFLICT : 0;
}

static int apply_pending(PGconn *pg, const struct migrate_files *fs,
                         const struct migrate_rows *rows)
{
    int applied = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct migrate_file *f = &fs->v[i];
        if (migrate_rows_find(rows, f->version))
            continue;
        int rc = migrate_db_apply(pg, f);
        if (rc < 0)
            return rc;
        vlog_kv(VLOG_INFO, "migrate.applied", "applied", "version", f->version, "file", f->path,
                "sha256", f->checksum, NULL);
        applied++;
    }
    log_info("migrate.done", "%d applied, %zu already applied", applied, rows->n);
    return 0;
}

/* Lock, then read what is recorded: the rows cannot change under us until we exit. */
static int run(PGconn *pg, const struct migrate_config *cfg, const struct migrate_files *fs)
{
    struct migrate_rows rows;
    int rc;
    if (cfg->status) {
        if ((rc = migrate_db_rows(pg, &rows)) == 0)
            rc = print_status(fs, &rows);
    } else {
        if ((rc = migrate_db_lock(pg)) < 0 || (rc = migrate_db_create_table(pg)) < 0 ||
            (rc = migrate_db_rows(pg, &rows)) < 0)
            return rc;
        rc = check_applied(fs, &rows) ? VP_E_CONFLICT : apply_pending(pg, fs, &rows);
    }
    migrate_rows_free(&rows);
    return rc;
}

int main(int argc, char **argv)
{
    struct migrate_config cfg = {0};
    struct migrate_files fs = {0};
    PGconn *pg = NULL;
    vlog_init("voepy-migrate", NULL, VLOG_INFO);
    vlog_set_output(stdout);
    int rc = options_parse(argc, argv, &cfg);
    if (rc != 0) {
        usage(rc == 1 ? stdout : stderr);
        config_free(&cfg, config_vars, NVARS);
        return rc == 1 ? 0 : 1;
    }
    if (crypto_init() < 0)
        rc = migrate_error(VP_E_INTERNAL, "migrate.crypto_failed", "libsodium did not start");
    if (rc == 0)
        rc = migrate_files_load(cfg.dir, &fs);
    if (rc == 0 && !(pg = migrate_db_connect(cfg.dsn)))
        rc = VP_E_UNAVAILABLE;
    if (rc == 0)
        rc = run(pg, &cfg, &fs);
    PQfinish(pg);
    migrate_files_free(&fs);
    config_free(&cfg, config_vars, NVARS);
    return rc == 0 ? 0 : 1;
}
