/*
 * Tests for libcommon's asynchronous PostgreSQL pool against a real server
 * (tests/with-services.sh provides VOEPY_TEST_PG_DSN).
 */
#include "vp_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "voepy/err.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"

#define MAXCOLS 4

/* What a callback saw, copied out because the result dies with the callback. */
struct rec {
    bool done;
    int calls;
    int status;
    bool res_null;
    int ntuples;
    int nfields;
    bool isnull[MAXCOLS];
    char val[MAXCOLS][128];
    char sqlstate[8];
    char message[256];
    struct vp_error e;
    int err;
    long long affected;
    uint64_t done_ns;
};

struct t {
    uv_loop_t loop;
    struct pg_pool *pool;
    bool closed;
};

static void rec_cb(int status, const struct pg_result *res, void *arg)
{
    struct rec *r = arg;
    r->calls++;
    r->done = true;
    r->status = status;
    r->res_null = res == NULL;
    r->done_ns = uv_hrtime();
    r->ntuples = pg_ntuples(res);
    r->nfields = pg_nfields(res);
    for (int i = 0; i < MAXCOLS; i++) {
        const char *v = pg_value(res, 0, i);
        r->isnull[i] = v == NULL;
        snprintf(r->val[i], sizeof(r->val[i]), "%s", v ? v : "");
    }
    const char *s = pg_result_sqlstate(res);
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", s ? s : "");
    s = pg_result_message(res);
    snprintf(r->message, sizeof(r->message), "%s", s ? s : "");
    r->err = pg_result_error(res, &r->e);
    r->affected = pg_affected(res);
}

static void closed_cb(void *arg)
{
    *(bool *)arg = true;
}

static const char *dsn(void)
{
    return vp_test_env("VOEPY_TEST_PG_DSN");
}

static void open_pool(struct t *t, const struct pg_opts *o)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    assert_int_equal(pg_pool_create(&t->pool, &t->loop, o), 0);
}

static void finish(struct t *t)
{
    pg_pool_close(t->pool, closed_cb, &t->closed);
    assert_true(vp_test_run_until(&t->loop, &t->closed, 10000));
    vp_test_loop_done(&t->loop);
}

/* Run one statement and wait for its callback. */
static void run(struct t *t, const char *sql, int n, const char *const *params, struct rec *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(pg_exec(t->pool, sql, n, params, rec_cb, r), 0);
    assert_true(vp_test_run_until(&t->loop, &r->done, 10000));
    assert_int_equal(r->calls, 1);
}

static void run_ok(struct t *t, const char *sql, int n, const char *const *params, struct rec *r)
{
    run(t, sql, n, params, r);
    if (r->status != 0)
        fprintf(stderr, "%s: status %d %s\n", sql, r->status, r->message);
    assert_int_equal(r->status, 0);
    assert_false(r->res_null);
}

/* Let the loop run for ms (timers, reconnects) with nothing to wait for. */
static void spin(struct t *t, unsigned ms)
{
    bool never = false;
    vp_test_run_until(&t->loop, &never, ms);
}

static double ms_since(uint64_t start_ns, uint64_t end_ns)
{
    return (double)(end_ns - start_ns) / 1e6;
}

/* A loopback port with nothing listening (the kernel picked it, then we let it go). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_simple(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1, .name = "simple"});
    run_ok(&t, "SELECT 1 AS one, 'x' AS s, NULL::text AS n", 0, NULL, &r);
    assert_int_equal(r.ntuples, 1);
    assert_int_equal(r.nfields, 3);
    assert_string_equal(r.val[0], "1");
    assert_string_equal(r.val[1], "x");
    assert_true(r.isnull[2]);
    assert_true(r.isnull[3]); /* out of range */
    assert_int_equal(r.err, 0);

    run_ok(&t, "CREATE TEMP TABLE t (x int)", 0, NULL, &r);
    run_ok(&t, "INSERT INTO t SELECT generate_series(1, 3)", 0, NULL, &r);
    assert_int_equal(r.affected, 3);
    run_ok(&t, "UPDATE t SET x = x + 1 WHERE x > 1", 0, NULL, &r);
    assert_int_equal(r.affected, 2);
    run_ok(&t, "SELECT x FROM t WHERE x > 100", 0, NULL, &r);
    assert_int_equal(r.ntuples, 0);
    assert_true(r.isnull[0]);
    finish(&t);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct t t;
    uv_loop_t loop;
    struct pg_pool *p = NULL;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(pg_pool_create(&p, &loop, &(struct pg_opts){.conninfo = "bogus=1"}),
                     VP_E_CONFIG);
    assert_int_equal(pg_pool_create(&p, &loop, &(struct pg_opts){0}), VP_E_CONFIG);
    assert_int_equal(
        pg_pool_create(&p, &loop, &(struct pg_opts){.conninfo = dsn(), .name = "a b\""}),
        VP_E_CONFIG);
    /* A list of names would make libpq resolve each one with blocking getaddrinfo. */
    assert_int_equal(
        pg_pool_create(&p, &loop, &(struct pg_opts){.conninfo = "host=localhost,db.invalid"}),
        VP_E_CONFIG);
    assert_null(p);
    vp_test_loop_done(&loop);

    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1});
    struct rec r = {0};
    const char *one[] = {"1"};
    assert_int_equal(pg_exec(t.pool, NULL, 0, NULL, rec_cb, &r), VP_E_INVALID_PARAMETER);
    assert_int_equal(pg_exec(t.pool, "SELECT 1", -1, NULL, rec_cb, &r), VP_E_INVALID_PARAMETER);
    assert_int_equal(pg_exec(t.pool, "SELECT $1", 1, NULL, rec_cb, &r), VP_E_INVALID_PARAMETER);
    assert_int_equal(pg_exec(t.pool, "SELECT $1", 1, one, NULL, &r), VP_E_INVALID_PARAMETER);
    assert_int_equal(pg_prepare(t.pool, "", "SELECT 1"), VP_E_INVALID_PARAMETER);
    /* Wrong parameter count is the server's to refuse; the connection stays usable. */
    run(&t, "SELECT $1::int, $2::int", 1, one, &r);
    assert_int_equal(r.status, VP_E_DB);
    assert_string_equal(r.sqlstate, "08P01");
    run_ok(&t, "SELECT 2", 0, NULL, &r);
    finish(&t);
}

static void test_params_null(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 2});
    const char *params[] = {NULL, "41", "h\xc3\xa9llo'; --"};
    run_ok(&t, "SELECT $1::text IS NULL, $2::int + 1, $3::text, $1::text", 3, params, &r);
    assert_string_equal(r.val[0], "t");
    assert_string_equal(r.val[1], "42");
    assert_string_equal(r.val[2], "h\xc3\xa9llo'; --");
    assert_true(r.isnull[3]);
    /* A parameter that does not parse is the server's error, not ours. */
    const char *bad[] = {"forty"};
    run(&t, "SELECT $1::int", 1, bad, &r);
    assert_int_equal(r.status, VP_E_DB);
    assert_string_equal(r.sqlstate, "22P02");
    finish(&t);
}

static void test_prepared(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    const char *sql_count = "SELECT count(*) FROM pg_prepared_statements WHERE name = $1";
    const char *ab[] = {"20", "22"}, *add[] = {"add"}, *mul[] = {"mul"};
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1});
    assert_int_equal(pg_prepare(t.pool, "add", "SELECT $1::int + $2::int AS sum"), 0);
    assert_int_equal(pg_prepare(t.pool, "add", "SELECT $1::int + $2::int AS sum"), 0);
    assert_int_equal(pg_prepare(t.pool, "add", "SELECT 0"), VP_E_CONFLICT);
    run_ok(&t, "add", 2, ab, &r);
    assert_string_equal(r.val[0], "42");
    run_ok(&t, sql_count, 1, add, &r);
    assert_string_equal(r.val[0], "1");

    /* Registered after connecting: prepared on the connection before its first use. */
    assert_int_equal(pg_prepare(t.pool, "mul", "SELECT $1::int * $2::int"), 0);
    run_ok(&t, sql_count, 1, mul, &r);
    assert_string_equal(r.val[0], "0");
    run_ok(&t, "mul", 2, ab, &r);
    assert_string_equal(r.val[0], "440");
    run_ok(&t, sql_count, 1, mul, &r);
    assert_string_equal(r.val[0], "1");

    /* A statement the server refuses to prepare fails when run; the rest keep working. */
    assert_int_equal(pg_prepare(t.pool, "broken", "SELEC 1"), 0);
    run(&t, "broken", 0, NULL, &r);
    assert_int_equal(r.status, VP_E_DB);
    assert_string_equal(r.sqlstate, "26000");
    run_ok(&t, "add", 2, ab, &r);
    assert_string_equal(r.val[0], "42");
    finish(&t);
}

#define NCONC 200

static void test_concurrent(void **state)
{
    (void)state;
    struct t t;
    static struct rec rs[NCONC];
    static char nums[NCONC][16];
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 2, .name = "conc"});
    assert_int_equal(pg_prepare(t.pool, "twice", "SELECT $1::int * 2, pg_backend_pid()"), 0);

    /* Two 0.5 s sleeps end within 1 s only if both connections run them. */
    memset(rs, 0, 2 * sizeof(rs[0]));
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            pg_exec(t.pool, "SELECT pg_sleep(0.5), pg_backend_pid()", 0, NULL, rec_cb, &rs[i]), 0);
    assert_true(vp_test_run_until(&t.loop, &rs[1].done, 5000));
    assert_true(vp_test_run_until(&t.loop, &rs[0].done, 5000));
    assert_int_equal(rs[0].status, 0);
    assert_int_equal(rs[1].status, 0);
    assert_string_not_equal(rs[0].val[1], rs[1].val[1]);
    assert_true(ms_since(t0, rs[0].done_ns > rs[1].done_ns ? rs[0].done_ns : rs[1].done_ns) < 950);

    /* Registered after connect: each connection prepares it before its first use. */
    assert_int_equal(pg_prepare(t.pool, "thrice", "SELECT $1::int * 3, pg_backend_pid()"), 0);
    memset(rs, 0, sizeof(rs));
    for (int i = 0; i < NCONC; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%d", i);
        const char *p[] = {nums[i]};
        assert_int_equal(pg_exec(t.pool, i % 2 ? "twice" : "thrice", 1, p, rec_cb, &rs[i]), 0);
    }
    /* Two connections: the last query may finish before the one ahead of it. */
    for (int i = 0; i < NCONC; i++)
        assert_true(vp_test_run_until(&t.loop, &rs[i].done, 10000));
    char pids[2][128] = {"", ""};
    int npids = 0;
    for (int i = 0; i < NCONC; i++) {
        assert_int_equal(rs[i].calls, 1);
        assert_int_equal(rs[i].status, 0);
        assert_int_equal(atoi(rs[i].val[0]), i * (i % 2 ? 2 : 3));
        bool seen = false;
        for (int j = 0; j < npids; j++)
            seen = seen || strcmp(pids[j], rs[i].val[1]) == 0;
        if (!seen) {
            assert_true(npids < 2); /* never more sessions than the pool size */
            snprintf(pids[npids++], sizeof(pids[0]), "%s", rs[i].val[1]);
        }
    }
    /* Every outcome is counted, and the gauges follow the connections' states. */
    assert_int_equal(
        metric_value(metrics_counter("voepy_pg_queries_total", "", "pool=\"conc\",status=\"ok\"")),
        NCONC + 2);
    assert_int_equal(
        metric_value(metrics_gauge("voepy_pg_connections", "", "pool=\"conc\",state=\"idle\"")), 2);
    finish(&t);
    assert_int_equal(
        metric_value(metrics_gauge("voepy_pg_connections", "", "pool=\"conc\",state=\"idle\"")), 0);
}

static void test_max_queue(void **state)
{
    (void)state;
    struct t t;
    struct rec rs[4] = {0};
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1, .max_queue = 3});
    for (int i = 0; i < 3; i++)
        assert_int_equal(pg_exec(t.pool, "SELECT 1", 0, NULL, rec_cb, &rs[i]), 0);
    assert_int_equal(pg_exec(t.pool, "SELECT 1", 0, NULL, rec_cb, &rs[3]), VP_E_UNAVAILABLE);
    assert_true(vp_test_run_until(&t.loop, &rs[2].done, 5000));
    spin(&t, 50);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rs[i].calls, 1);
        assert_int_equal(rs[i].status, 0);
    }
    assert_int_equal(rs[3].calls, 0);
    finish(&t);
}

static void test_queue_while_connecting(void **state)
{
    (void)state;
    struct t t;
    struct rec rs[3] = {0};
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 2});
    assert_false(pg_pool_ready(t.pool));
    for (int i = 0; i < 3; i++)
        assert_int_equal(pg_exec(t.pool, "SELECT 'queued'", 0, NULL, rec_cb, &rs[i]), 0);
    assert_int_equal(rs[0].calls, 0); /* never inside pg_exec */
    assert_true(vp_test_run_until(&t.loop, &rs[2].done, 5000));
    assert_true(vp_test_run_until(&t.loop, &rs[0].done, 5000));
    assert_true(vp_test_run_until(&t.loop, &rs[1].done, 5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rs[i].status, 0);
        assert_string_equal(rs[i].val[0], "queued");
    }
    assert_true(pg_pool_ready(t.pool));
    finish(&t);
}

static void test_syntax_error(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1});
    run(&t, "SELEC 1", 0, NULL, &r);
    assert_int_equal(r.status, VP_E_DB);
    assert_false(r.res_null);
    assert_string_equal(r.sqlstate, "42601");
    assert_non_null(strstr(r.message, "syntax error"));
    /* Plain server errors map to database_error with the table's message, no field. */
    assert_int_equal(r.err, VP_E_DB);
    assert_int_equal(r.e.err, VP_E_DB);
    assert_string_equal(r.e.field, "");
    assert_string_equal(r.e.message, vp_err_message(VP_E_DB));
    run_ok(&t, "SELECT 1", 0, NULL, &r); /* the session survived */
    finish(&t);
}

static void test_voepy_error(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1});
    run(&t,
        "DO $$BEGIN RAISE EXCEPTION USING MESSAGE = 'voepy:balance_insufficient', "
        "DETAIL = 'amount'; END$$",
        0, NULL, &r);
    assert_int_equal(r.status, VP_E_DB);
    assert_string_equal(r.sqlstate, "P0001");
    assert_int_equal(r.err, VP_E_BALANCE_INSUFFICIENT);
    assert_int_equal(r.e.err, VP_E_BALANCE_INSUFFICIENT);
    assert_string_equal(r.e.field, "amount");
    assert_string_equal(r.e.message, vp_err_message(VP_E_BALANCE_INSUFFICIENT));

    run_ok(&t,
           "CREATE FUNCTION pg_test_raise(code text, field text) RETURNS int LANGUAGE plpgsql "
           "AS $$BEGIN IF field IS NULL THEN RAISE EXCEPTION USING MESSAGE = 'voepy:' || code; "
           "END IF; RAISE EXCEPTION USING MESSAGE = 'voepy:' || code, DETAIL = field, "
           "HINT = 'Use a number you own.'; END$$",
           0, NULL, &r);
    const char *p1[] = {"from_number_not_owned", "from"};
    run(&t, "SELECT pg_test_raise($1, $2)", 2, p1, &r);
    assert_int_equal(r.status, VP_E_DB);
    assert_int_equal(r.err, VP_E_FROM_NUMBER_NOT_OWNED);
    assert_string_equal(r.e.field, "from");
    assert_string_equal(r.e.message, "Use a number you own.");

    const char *p2[] = {"call_already_ended", NULL};
    run(&t, "SELECT pg_test_raise($1, $2)", 2, p2, &r);
    assert_int_equal(r.err, VP_E_CALL_ALREADY_ENDED);
    assert_string_equal(r.e.field, "");
    /* An unknown code is a bug in the SQL: internal_error, never a silent success. */
    const char *p3[] = {"no_such_code", "x"};
    run(&t, "SELECT pg_test_raise($1, $2)", 2, p3, &r);
    assert_int_equal(r.err, VP_E_INTERNAL);
    finish(&t);
}

static void test_timeout(void **state)
{
    (void)state;
    struct t t;
    struct rec slow = {0}, queued = {0}, r;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1, .query_timeout_ms = 400});
    run_ok(&t, "SELECT 1", 0, NULL, &r); /* connected */
    uint64_t t0 = uv_hrtime();
    assert_int_equal(pg_exec(t.pool, "SELECT pg_sleep(31)", 0, NULL, rec_cb, &slow), 0);
    assert_int_equal(pg_exec(t.pool, "SELECT 'behind'", 0, NULL, rec_cb, &queued), 0);
    assert_true(vp_test_run_until(&t.loop, &slow.done, 5000));
    assert_true(vp_test_run_until(&t.loop, &queued.done, 5000));
    assert_int_equal(slow.status, VP_E_TIMEOUT);
    assert_true(slow.res_null);
    assert_int_equal(queued.status, VP_E_TIMEOUT);
    double ms = ms_since(t0, slow.done_ns);
    assert_true(ms >= 390 && ms < 1500);

    /* The statement was cancelled and the session is reused for the next query. */
    const char *pat[] = {"SELECT pg_sleep(31)%"};
    run_ok(&t, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1", 1,
           pat, &r);
    assert_string_equal(r.val[0], "0");
    spin(&t, 200);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(queued.calls, 1);
    finish(&t);
}

/* Closing right after a timeout: the cancel request may still be on its worker. */
static void test_close_while_cancelling(void **state)
{
    (void)state;
    struct t t;
    struct rec slow = {0}, r;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1, .query_timeout_ms = 200});
    run_ok(&t, "SELECT 1", 0, NULL, &r);
    assert_int_equal(pg_exec(t.pool, "SELECT pg_sleep(33)", 0, NULL, rec_cb, &slow), 0);
    assert_true(vp_test_run_until(&t.loop, &slow.done, 5000));
    assert_int_equal(slow.status, VP_E_TIMEOUT);
    finish(&t);
    assert_int_equal(slow.calls, 1);
}

static void test_terminated(void **state)
{
    (void)state;
    struct t t, killer;
    struct rec r, victim = {0}, k;
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1, .name = "victim"});
    open_pool(&killer, &(struct pg_opts){.conninfo = dsn(), .size = 1, .name = "killer"});
    run_ok(&t, "SELECT pg_backend_pid()", 0, NULL, &r);
    char pid[128];
    snprintf(pid, sizeof(pid), "%s", r.val[0]);
    const char *params[] = {pid};

    /* Killed while running: the query fails with VP_E_CLOSED. */
    assert_int_equal(pg_exec(t.pool, "SELECT pg_sleep(32)", 0, NULL, rec_cb, &victim), 0);
    spin(&t, 100);
    memset(&k, 0, sizeof(k));
    assert_int_equal(pg_exec(killer.pool, "SELECT pg_terminate_backend($1)", 1, params, rec_cb, &k),
                     0);
    assert_true(vp_test_run_until(&killer.loop, &k.done, 5000));
    assert_string_equal(k.val[0], "t");
    assert_true(vp_test_run_until(&t.loop, &victim.done, 5000));
    assert_int_equal(victim.status, VP_E_CLOSED);
    assert_true(victim.res_null);

    /* The pool reconnects by itself. */
    run_ok(&t, "SELECT pg_backend_pid()", 0, NULL, &r);
    assert_string_not_equal(r.val[0], pid);
    snprintf(pid, sizeof(pid), "%s", r.val[0]);

    /* Killed while idle: noticed, replaced, and the next query runs on a new session. */
    run(&killer, "SELECT pg_terminate_backend($1)", 1, params, &k);
    assert_string_equal(k.val[0], "t");
    spin(&t, 300);
    run_ok(&t, "SELECT pg_backend_pid()", 0, NULL, &r);
    assert_string_not_equal(r.val[0], pid);
    spin(&t, 50);
    assert_int_equal(victim.calls, 1);
    finish(&t);
    finish(&killer);
}

static void test_unreachable(void **state)
{
    (void)state;
    struct t t;
    struct rec rs[3] = {0};
    char ci[128];
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=voepy user=voepy", free_port());
    open_pool(&t,
              &(struct pg_opts){
                  .conninfo = ci, .size = 2, .connect_timeout_ms = 200, .query_timeout_ms = 500});
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 3; i++)
        assert_int_equal(pg_exec(t.pool, "SELECT 1", 0, NULL, rec_cb, &rs[i]), 0);
    for (int i = 0; i < 3; i++)
        assert_true(vp_test_run_until(&t.loop, &rs[i].done, 5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rs[i].status, VP_E_TIMEOUT);
        assert_int_equal(rs[i].calls, 1);
    }
    double ms = ms_since(t0, rs[2].done_ns);
    assert_true(ms >= 490 && ms < 2000);
    assert_false(pg_pool_ready(t.pool));
    finish(&t);
}

/*
 * libpq tries a refused host first, then moves to the next one on a new socket: the
 * poll handle must follow it (IP lists are passed to libpq as they are).
 */
static void test_host_failover(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    const char *port = strstr(dsn(), "port=");
    assert_non_null(port);
    char ci[160];
    snprintf(ci, sizeof(ci), "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=voepy user=voepy",
             free_port(), atoi(port + strlen("port=")));
    open_pool(&t, &(struct pg_opts){.conninfo = ci, .size = 2});
    run_ok(&t, "SELECT inet_server_port()", 0, NULL, &r);
    assert_int_equal(atoi(r.val[0]), atoi(port + strlen("port=")));
    finish(&t);
}

/* A server that accepts TCP but never answers: only our connect timer ends the attempt. */
static void test_connect_timeout(void **state)
{
    (void)state;
    struct t t;
    struct rec r = {0};
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    char ci[128];
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=voepy user=voepy", ntohs(a.sin_port));
    open_pool(&t,
              &(struct pg_opts){
                  .conninfo = ci, .size = 1, .connect_timeout_ms = 150, .query_timeout_ms = 1000});
    assert_int_equal(pg_exec(t.pool, "SELECT 1", 0, NULL, rec_cb, &r), 0);
    assert_true(vp_test_run_until(&t.loop, &r.done, 5000));
    assert_int_equal(r.status, VP_E_TIMEOUT);
    /* Attempts at about 0, 250 and 600 ms: each timed out and was retried. */
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    int attempts = 0, fd;
    while ((fd = accept(lfd, NULL, NULL)) >= 0) {
        attempts++;
        close(fd);
    }
    assert_true(attempts >= 2);
    finish(&t);
    close(lfd);
}

static void test_localhost(void **state)
{
    (void)state;
    struct t t;
    struct rec r;
    const char *d = dsn();
    const char *at = strstr(d, "host=127.0.0.1");
    assert_non_null(at);
    char ci[256];
    snprintf(ci, sizeof(ci), "%.*shost=localhost%s", (int)(at - d), d,
             at + strlen("host=127.0.0.1"));
    open_pool(&t, &(struct pg_opts){.conninfo = ci, .size = 1});
    run_ok(&t, "SELECT inet_server_addr()", 0, NULL, &r);
    assert_string_equal(r.val[0], "127.0.0.1");
    finish(&t);

    /* A name that does not resolve never connects; its queries time out. */
    open_pool(&t, &(struct pg_opts){.conninfo = "host=nonexistent.invalid dbname=voepy",
                                    .size = 1,
                                    .query_timeout_ms = 300});
    run(&t, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.status, VP_E_TIMEOUT);
    finish(&t);
}

struct reentrant {
    struct pg_pool *pool;
    int calls;
    int status;
    int exec_rc;
};

/* Runs during pg_pool_close: new work is refused, not queued. */
static void exec_again_cb(int status, const struct pg_result *res, void *arg)
{
    struct reentrant *x = arg;
    x->calls++;
    x->status = status;
    static struct rec ignored;
    x->exec_rc = pg_exec(x->pool, "SELECT 1", 0, NULL, rec_cb, &ignored);
}

static void test_close_queued(void **state)
{
    (void)state;
    struct t t;
    struct rec rs[3] = {0}, r;
    char ci[128];
    snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=voepy user=voepy", free_port());
    open_pool(&t, &(struct pg_opts){.conninfo = ci, .size = 1});
    for (int i = 0; i < 3; i++)
        assert_int_equal(pg_exec(t.pool, "SELECT 1", 0, NULL, rec_cb, &rs[i]), 0);
    spin(&t, 100);
    pg_pool_close(t.pool, closed_cb, &t.closed);
    /* Every callback has run when pg_pool_close returns; closed() comes later. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rs[i].calls, 1);
        assert_int_equal(rs[i].status, VP_E_CANCELED);
    }
    assert_false(t.closed);
    assert_true(vp_test_run_until(&t.loop, &t.closed, 5000));
    vp_test_loop_done(&t.loop);

    /* A running query and a queued one; the callback tries to queue more. */
    struct reentrant running = {0}, waiting = {0};
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 1});
    running.pool = waiting.pool = t.pool;
    run_ok(&t, "SELECT 1", 0, NULL, &r);
    assert_int_equal(pg_exec(t.pool, "SELECT pg_sleep(2)", 0, NULL, exec_again_cb, &running), 0);
    assert_int_equal(pg_exec(t.pool, "SELECT 2", 0, NULL, exec_again_cb, &waiting), 0);
    spin(&t, 100);
    pg_pool_close(t.pool, closed_cb, &t.closed);
    assert_int_equal(running.calls, 1);
    assert_int_equal(running.status, VP_E_CANCELED);
    assert_int_equal(running.exec_rc, VP_E_UNAVAILABLE);
    assert_int_equal(waiting.calls, 1);
    assert_int_equal(waiting.status, VP_E_CANCELED);
    assert_true(vp_test_run_until(&t.loop, &t.closed, 5000));
    vp_test_loop_done(&t.loop);
}

struct closer {
    struct t *t;
    int calls;
};

static void close_from_cb(int status, const struct pg_result *res, void *arg)
{
    struct closer *c = arg;
    c->calls++;
    assert_int_equal(status, 0);
    assert_string_equal(pg_value(res, 0, 0), "bye");
    pg_pool_close(c->t->pool, closed_cb, &c->t->closed);
}

/* Closing the pool from inside a result callback is allowed. */
static void test_close_in_callback(void **state)
{
    (void)state;
    struct t t;
    struct rec other = {0};
    open_pool(&t, &(struct pg_opts){.conninfo = dsn(), .size = 2});
    struct closer c = {&t, 0};
    assert_int_equal(pg_exec(t.pool, "SELECT 'bye'", 0, NULL, close_from_cb, &c), 0);
    assert_int_equal(pg_exec(t.pool, "SELECT pg_sleep(1)", 0, NULL, rec_cb, &other), 0);
    assert_true(vp_test_run_until(&t.loop, &t.closed, 5000));
    assert_int_equal(c.calls, 1);
    assert_int_equal(other.calls, 1);
    assert_int_equal(other.status, VP_E_CANCELED);
    vp_test_loop_done(&t.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_params_null),
        cmocka_unit_test(test_prepared),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_max_queue),
        cmocka_unit_test(test_queue_while_connecting),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_voepy_error),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_close_while_cancelling),
        cmocka_unit_test(test_terminated),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_host_failover),
        cmocka_unit_test(test_localhost),
        cmocka_unit_test(test_close_queued),
        cmocka_unit_test(test_close_in_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
