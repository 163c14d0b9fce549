/*
 * Tests for voepy-migrate: the built binary runs against a real PostgreSQL
 * (tests/with-services.sh) on temporary directories of SQL files. Each test gets its
 * own database, so schema_migrations starts empty.
 */
#include "vp_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "voepy/crypto.h"

#ifndef VOEPY_MIGRATE_BIN
#error "VOEPY_MIGRATE_BIN must name the built voepy-migrate"
#endif

extern char **environ;

struct env {
    char dir[256];
    char db[64];
    char dsn[512];
};

struct proc {
    pid_t pid;
    char out_path[300];
    char err_path[300];
    int code;
    char out[32768];
    char err[8192];
};

/* ---- helpers ------------------------------------------------------------------------ */

static PGconn *connect_or_fail(const char *dsn)
{
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "connect %s: %s", dsn, PQerrorMessage(pg));
        fail();
    }
    return pg;
}

static void quiet_cb(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void admin_exec(const char *sql)
{
    PGconn *pg = connect_or_fail(vp_test_env("VOEPY_TEST_PG_DSN"));
    PQsetNoticeProcessor(pg, quiet_cb, NULL); /* "does not exist, skipping" */
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(pg);
}

/* First value of the first row as a fresh string, "(error)" on failure, "(none)" if empty. */
static char *query1(const struct env *e, const char *sql)
{
    PGconn *pg = connect_or_fail(e->dsn);
    PGresult *r = PQexec(pg, sql);
    const char *v = PQresultStatus(r) != PGRES_TUPLES_OK ? "(error)"
                    : PQntuples(r) == 0                  ? "(none)"
                    : PQgetisnull(r, 0, 0)               ? "(null)"
                                                         : PQgetvalue(r, 0, 0);
    char *s = strdup(v);
    PQclear(r);
    PQfinish(pg);
    return s;
}

static void assert_query(const struct env *e, const char *sql, const char *want)
{
    char *got = query1(e, sql);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "%s: got %s, want %s\n", sql, got, want);
    assert_string_equal(got, want);
    free(got);
}

static void env_open(struct env *e, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(e->dir, sizeof(e->dir), "%s/voepy-migrate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->db, sizeof(e->db), "migrate_%s", name);
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", e->db);
    admin_exec(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", e->db);
    admin_exec(sql);
    /* A keyword given twice: libpq uses the last one. */
    snprintf(e->dsn, sizeof(e->dsn), "%s dbname=%s", vp_test_env("VOEPY_TEST_PG_DSN"), e->db);
}

static void env_close(struct env *e)
{
    DIR *d = opendir(e->dir);
    assert_non_null(d);
    struct dirent *de;
    char path[600];
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", e->dir, de->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(e->dir), 0);
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE %s", e->db);
    admin_exec(sql);
}

static void write_file(const struct env *e, const char *name, const char *content)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", e->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const struct env *e, const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", e->dir, name);
    assert_int_equal(unlink(path), 0);
}

/* Start voepy-migrate with extra arguments (NULL-terminated), output to files. */
static void spawn(struct proc *p, const struct env *e, const char *const *args)
{
    static int seq;
    const char *argv[16] = {VOEPY_MIGRATE_BIN};
    int n = 1;
    for (; args && *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    memset(p, 0, sizeof(*p));
    snprintf(p->out_path, sizeof(p->out_path), "%s/.out%d", e->dir, seq);
    snprintf(p->err_path, sizeof(p->err_path), "%s/.err%d", e->dir, seq++);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(posix_spawn(&p->pid, VOEPY_MIGRATE_BIN, &fa, NULL, (char **)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
}

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
    unlink(path);
}

static int reap(struct proc *p)
{
    int st;
    assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
    assert_true(WIFEXITED(st));
    p->code = WEXITSTATUS(st);
    slurp(p->out_path, p->out, sizeof(p->out));
    slurp(p->err_path, p->err, sizeof(p->err));
    return p->code;
}

/* Run with --dir and --dsn of e plus extra (NULL-terminated); returns the exit code. */
static int migrate(struct proc *p, const struct env *e, const char *extra)
{
    const char *args[] = {"--dir", e->dir, "--dsn", e->dsn, extra, NULL};
    spawn(p, e, args);
    return reap(p);
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *s = haystack; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

#define APPLIED "\"event\":\"migrate.applied\""

/* ---- tests -------------------------------------------------------------------------- */

static const char *const sql_a = "CREATE TABLE a (id int PRIMARY KEY);\n"
                                 "INSERT INTO a VALUES (1), (2);\n";
/* Depends on a: applying it first would fail. */
static const char *const sql_b = "CREATE TABLE b (a_id int REFERENCES a (id));\n"
                                 "INSERT INTO b SELECT id FROM a;\n";

static void test_applies_in_order(void **state)
{
    (void)state;
    struct env e;
    struct proc p;
    env_open(&e, "order");
    write_file(&e, "0002_b.sql", sql_b);
    write_file(&e, "0001_a.sql", sql_a);
    write_file(&e, "README.md", "not a migration");
    assert_int_equal(migrate(&p, &e, NULL), 0);
    assert_int_equal(count(p.out, APPLIED), 2);
    char *a = strstr(p.out, "\"version\":\"0001_a\""), *b = strstr(p.out, "\"version\":\"0002_b\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_query(&e, "SELECT count(*) FROM b", "2");
    assert_query(&e, "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations",
                 "0001_a,0002_b");
    char sum[CRYPTO_SHA256_HEX_LEN];
    crypto_sha256_hex(sql_a, strlen(sql_a), sum);
    assert_query(&e, "SELECT checksum FROM schema_migrations WHERE version = '0001_a'", sum);
    env_close(&e);
}

static void test_idempotent(void **state)
{
    (void)state;
    struct env e;
    struct proc p;
    env_open(&e, "again");
    write_file(&e, "0001_a.sql", sql_a);
    write_file(&e, "0002_b.sql", sql_b);
    assert_int_equal(migrate(&p, &e, NULL), 0);
    assert_int_equal(count(p.out, APPLIED), 2);
    /* Nothing new: nothing runs (a second INSERT into a would fail on the key). */
    assert_int_equal(migrate(&p, &e, NULL), 0);
    assert_int_equal(count(p.out, APPLIED), 0);
    assert_query(&e, "SELECT count(*) FROM a", "2");

    write_file(&e, "0003_c.sql", "ALTER TABLE a ADD COLUMN name text;");
    assert_int_equal(migrate(&p, &e, "--status"), 0);
    assert_non_null(strstr(p.out, "applied\t0001_a\t"));
    assert_non_null(strstr(p.out, "applied\t0002_b\t"));
    assert_non_null(strstr(p.out, "pending\t0003_c\n"));
    assert_query(&e, "SELECT count(*) FROM schema_migrations", "2"); /* status changes nothing */
    assert_int_equal(migrate(&p, &e, NULL), 0);
    assert_int_equal(count(p.out, APPLIED), 1);
    assert_non_null(strstr(p.out, "\"version\":\"0003_c\""));
    assert_query(&e, "SELECT count(*) FROM schema_migrations", "3");
    env_close(&e);
}

static void test_changed_or_missing(void **state)
{
    (void)state;
    struct env e;
    struct proc p;
    env_open(&e, "changed");
    write_file(&e, "0001_a.sql", sql_a);
    write_file(&e, "0002_b.sql", sql_b);
    assert_int_equal(migrate(&p, &e, NULL), 0);

    /* An applied file edited afterwards: refused, and the pending file is not applied. */
    write_file(&e, "0001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);\n");
    write_file(&e, "0003_c.sql", "CREATE TABLE c (x int);");
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_non_null(strstr(p.err, "0001_a.sql changed"));
    assert_int_equal(count(p.out, APPLIED), 0);
    assert_query(&e, "SELECT to_regclass('c') IS NULL", "t");
    assert_int_equal(migrate(&p, &e, "--status"), 1);
    assert_non_null(strstr(p.out, "changed\t0001_a\t"));

    /* Restored, but an applied file is gone. */
    write_file(&e, "0001_a.sql", sql_a);
    remove_file(&e, "0002_b.sql");
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_non_null(strstr(p.err, "0002_b was applied but its file is missing"));
    assert_query(&e, "SELECT to_regclass('c') IS NULL", "t");

    write_file(&e, "0002_b.sql", sql_b);
    assert_int_equal(migrate(&p, &e, NULL), 0);
    assert_int_equal(count(p.out, APPLIED), 1);
    assert_query(&e, "SELECT to_regclass('c') IS NULL", "f");
    env_close(&e);
}

static void test_failure_rolls_back(void **state)
{
    (void)state;
    struct env e;
    struct proc p;
    env_open(&e, "rollback");
    write_file(&e, "0001_a.sql", sql_a);
    write_file(&e, "0002_bad.sql",
               "CREATE TABLE partial (x int);\n"
               "INSERT INTO partial VALUES (1);\n"
               "SELECT 1 / 0;\n");
    write_file(&e, "0003_c.sql", "CREATE TABLE c (x int);");
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_int_equal(count(p.out, APPLIED), 1);
    assert_non_null(strstr(p.err, "0002_bad.sql"));
    assert_non_null(strstr(p.err, "division by zero"));
    /* Nothing of the failed file remains, and nothing after it ran. */
    assert_query(&e, "SELECT to_regclass('partial') IS NULL", "t");
    assert_query(&e, "SELECT to_regclass('c') IS NULL", "t");
    assert_query(&e, "SELECT string_agg(version, ',') FROM schema_migrations", "0001_a");

    /* A syntax error is reported with its line in the file. */
    write_file(&e, "0002_bad.sql", "CREATE TABLE partial (x int);\nSELEC 1;\n");
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_non_null(strstr(p.err, "0002_bad.sql (line 2)"));
    assert_query(&e, "SELECT to_regclass('partial') IS NULL", "t");

    /* Never applied, so it may be fixed in place. */
    write_file(&e, "0002_bad.sql", "CREATE TABLE partial (x int);");
    assert_int_equal(migrate(&p, &e, NULL), 0);
    assert_int_equal(count(p.out, APPLIED), 2);

    /* A file that ends the transaction itself is refused. */
    write_file(&e, "0004_commit.sql", "CREATE TABLE d (x int); COMMIT;");
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_non_null(strstr(p.err, "must not end the transaction"));
    assert_query(&e, "SELECT count(*) FROM schema_migrations WHERE version = '0004_commit'", "0");
    env_close(&e);
}

static void test_concurrent_runs(void **state)
{
    (void)state;
    struct env e;
    struct proc p[3];
    env_open(&e, "concurrent");
    /* Slow enough that the runs overlap; running it twice would fail on CREATE TABLE. */
    write_file(&e, "0001_slow.sql", "CREATE TABLE once (x int); SELECT pg_sleep(0.5);");
    write_file(&e, "0002_b.sql", "INSERT INTO once VALUES (1);");
    const char *args[] = {"--dir", e.dir, "--dsn", e.dsn, NULL};
    for (int i = 0; i < 3; i++)
        spawn(&p[i], &e, args);
    int applied = 0, waited = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(reap(&p[i]), 0);
        applied += count(p[i].out, APPLIED);
        waited += count(p[i].out, "\"event\":\"migrate.waiting\"");
    }
    assert_int_equal(applied, 2);
    assert_true(waited >= 1);
    assert_query(&e, "SELECT count(*) FROM once", "1");
    assert_query(&e, "SELECT count(*) FROM schema_migrations", "2");
    env_close(&e);
}

static void test_bad_setup(void **state)
{
    (void)state;
    struct env e;
    struct proc p;
    env_open(&e, "setup");
    write_file(&e, "1_short.sql", "SELECT 1;");
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_non_null(strstr(p.err, "not named NNNN_name.sql"));
    remove_file(&e, "1_short.sql");

    write_file(&e, "0001_a.sql", sql_a);
    write_file(&e, "0001_b.sql", sql_b);
    assert_int_equal(migrate(&p, &e, NULL), 1);
    assert_non_null(strstr(p.err, "share a number"));
    assert_query(&e, "SELECT to_regclass('schema_migrations') IS NULL", "t");
    remove_file(&e, "0001_b.sql");

    const char *bogus[] = {"--bogus", NULL};
    spawn(&p, &e, bogus);
    assert_int_equal(reap(&p), 1);
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/nope", e.dir);
    const char *nodir[] = {"--dir", dir, "--dsn", e.dsn, NULL};
    spawn(&p, &e, nodir);
    assert_int_equal(reap(&p), 1);
    assert_non_null(strstr(p.err, "cannot read directory"));
    const char *nodb[] = {"--dir", e.dir, "--dsn", "host=127.0.0.1 port=1 dbname=x", NULL};
    spawn(&p, &e, nodb);
    assert_int_equal(reap(&p), 1);
    assert_non_null(strstr(p.err, "cannot connect"));

    /* The environment stands in for the flags. */
    setenv("VOEPY_PG_DSN", e.dsn, 1);
    setenv("VOEPY_MIGRATIONS_DIR", e.dir, 1);
    spawn(&p, &e, NULL);
    assert_int_equal(reap(&p), 0);
    unsetenv("VOEPY_PG_DSN");
    unsetenv("VOEPY_MIGRATIONS_DIR");
    assert_int_equal(count(p.out, APPLIED), 1);
    assert_query(&e, "SELECT count(*) FROM a", "2");
    env_close(&e);
}

int main(void)
{
    assert_int_equal(crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_applies_in_order),   cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_changed_or_missing), cmocka_unit_test(test_failure_rolls_back),
        cmocka_unit_test(test_concurrent_runs),    cmocka_unit_test(test_bad_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
