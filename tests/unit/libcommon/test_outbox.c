/*
 * The outbox relay against real PostgreSQL and Redis: events written to the `events`
 * table reach voepy:events:{p} with the documented envelope, on the partition of their
 * call, each marked published; two relays side by side publish everything; a kick
 * publishes without waiting for the poll. Also the pure helpers: partitions and the
 * names of their streams.
 */
#include "vp_test.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/outbox.h"
#include "voepy/pg.h"
#include "voepy/redis.h"

#define PARTITIONS 4

struct fixture {
    uv_loop_t loop;
    struct pg_pool *pg;
    struct redis *redis;
    char tenant[64];
};

struct sync_result {
    bool done;
    int status;
    char *value;     /* first column of the first row */
    long long n;     /* integer reply / affected rows */
    json_t *entries; /* XRANGE bodies, parsed */
};

static void pg_done_cb(int status, const struct pg_result *res, void *arg)
{
    struct sync_result *r = arg;
    r->status = status;
    if (status == 0 && pg_ntuples(res) > 0 && pg_value(res, 0, 0))
        r->value = vp_strdup(pg_value(res, 0, 0));
    r->done = true;
}

/* Run one statement and wait for it; returns its first value (caller frees) or NULL. */
static char *pg_sync(struct fixture *f, const char *sql, int n, const char *const *params)
{
    struct sync_result r = {0};
    assert_int_equal(pg_exec(f->pg, sql, n, params, pg_done_cb, &r), 0);
    assert_true(vp_test_run_until(&f->loop, &r.done, 10000));
    assert_int_equal(r.status, 0);
    return r.value;
}

static long long pg_count(struct fixture *f, const char *sql)
{
    const char *params[] = {f->tenant};
    char *v = pg_sync(f, sql, 1, params);
    long long n = v ? atoll(v) : -1;
    free(v);
    return n;
}

static void xrange_cb(int status, struct redisReply *reply, void *arg)
{
    struct sync_result *r = arg;
    r->status = status;
    r->entries = json_array();
    for (size_t i = 0;
         status == 0 && reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *fields = reply->element[i]->element[1];
        assert_int_equal(fields->elements, 2);
        assert_string_equal(fields->element[0]->str, "m");
        json_error_t err;
        json_t *body = json_loads(fields->element[1]->str, 0, &err);
        assert_non_null(body);
        json_array_append_new(r->entries, body);
    }
    r->done = true;
}

/* Every entry of voepy:events:{p} that belongs to this test's tenant. */
static json_t *stream_entries(struct fixture *f, unsigned p)
{
    struct sync_result r = {0};
    char stream[OUTBOX_STREAM_MAX];
    assert_int_equal(outbox_stream_name(p, stream, sizeof(stream)), 0);
    assert_int_equal(redis_cmd(f->redis, xrange_cb, &r, "XRANGE %s - +", stream), 0);
    assert_true(vp_test_run_until(&f->loop, &r.done, 10000));
    assert_int_equal(r.status, 0);
    json_t *mine = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(r.entries, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "tenant_id")), f->tenant) == 0)
            json_array_append(mine, e);
    }
    json_decref(r.entries);
    return mine;
}

static void emit(struct fixture *f, int n)
{
    char sql[512], count[16];
    snprintf(count, sizeof(count), "%d", n);
    /* Calls c0..c9 of this tenant, so events spread over the partitions. */
    snprintf(sql, sizeof(sql),
             "SELECT count(voepy_emit($1, $1 || '_c' || (i %% 10), 'call.test',"
             " json_build_object('i', i, 'text', 'quote \" and \\ back')))"
             " FROM generate_series(1, $2::int) i");
    const char *params[] = {f->tenant, count};
    free(pg_sync(f, sql, 2, params));
}

static bool all_published(struct fixture *f)
{
    return pg_count(
               f, "SELECT count(*) FROM events WHERE tenant_id = $1 AND published_at IS NULL") == 0;
}

static void wait_published(struct fixture *f, unsigned timeout_ms)
{
    uint64_t deadline = uv_now(&f->loop) + timeout_ms;
    while (!all_published(f)) {
        bool never = false;
        assert_true(uv_now(&f->loop) < deadline);
        vp_test_run_until(&f->loop, &never, 50);
    }
}

static int setup(void **state)
{
    struct fixture *f = VP_NEW(f);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s --dir %s --dsn '%s' >/dev/null", VOEPY_MIGRATE_BIN,
             VOEPY_SQL_DIR, vp_test_env("VOEPY_TEST_PG_DSN"));
    assert_int_equal(system(cmd), 0);
    uv_loop_init(&f->loop);
    struct pg_opts po = {.conninfo = vp_test_env("VOEPY_TEST_PG_DSN"), .size = 2};
    assert_int_equal(pg_pool_create(&f->pg, &f->loop, &po), 0);
    struct redis_opts ro = {.host = vp_test_env("VOEPY_TEST_REDIS_HOST"),
                            .port = atoi(vp_test_env("VOEPY_TEST_REDIS_PORT"))};
    assert_int_equal(redis_create(&f->redis, &f->loop, &ro), 0);
    char rnd[9];
    crypto_random_token(rnd, 8);
    snprintf(f->tenant, sizeof(f->tenant), "t_outbox_%s", rnd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    redis_close(f->redis, NULL, NULL);
    pg_pool_close(f->pg, NULL, NULL);
    vp_test_loop_done(&f->loop);
    free(f);
    return 0;
}

static void test_publishes_envelopes(void **state)
{
    struct fixture *f = *state;
    emit(f, 250); /* more than one batch */
    struct outbox *o;
    struct outbox_opts oo = {.partitions = PARTITIONS, .poll_ms = 50, .batch = 100};
    assert_int_equal(outbox_create(&o, &f->loop, f->pg, f->redis, &oo), 0);
    wait_published(f, 10000);
    int seen[250] = {0};
    size_t total = 0;
    for (unsigned p = 0; p < PARTITIONS; p++) {
        json_t *entries = stream_entries(f, p), *e;
        size_t i;
        json_array_foreach(entries, i, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            const char *call = json_string_value(json_object_get(e, "call_id"));
            assert_non_null(id);
            assert_int_equal(strncmp(id, "voepy_evt_", 10), 0);
            assert_string_equal(json_string_value(json_object_get(e, "type")), "call.test");
            assert_non_null(json_string_value(json_object_get(e, "occurred_at")));
            /* The partition of the event's call. */
            assert_int_equal(outbox_partition(call, PARTITIONS), p);
            json_t *data = json_object_get(e, "data");
            assert_string_equal(json_string_value(json_object_get(data, "text")),
                                "quote \" and \\ back");
            int n = (int)json_integer_value(json_object_get(data, "i"));
            assert_true(n >= 1 && n <= 250);
            seen[n - 1]++;
            total++;
        }
        json_decref(entries);
    }
    /* One relay, no failures: every event exactly once. */
    assert_int_equal(total, 250);
    for (int i = 0; i < 250; i++)
        assert_int_equal(seen[i], 1);
    outbox_close(o, NULL, NULL);
}

static void test_two_relays_and_kick(void **state)
{
    struct fixture *f = *state;
    struct outbox *a, *b;
    /* A long poll: only kicks make these relays run quickly. */
    struct outbox_opts oo = {.partitions = PARTITIONS, .poll_ms = 60000, .batch = 20};
    assert_int_equal(outbox_create(&a, &f->loop, f->pg, f->redis, &oo), 0);
    assert_int_equal(outbox_create(&b, &f->loop, f->pg, f->redis, &oo), 0);
    emit(f, 300);
    outbox_kick(a);
    outbox_kick(b);
    wait_published(f, 10000);
    size_t total = 0;
    for (unsigned p = 0; p < PARTITIONS; p++) {
        json_t *entries = stream_entries(f, p);
        total += json_array_size(entries);
        json_decref(entries);
    }
    /* At least once each; the leases keep two relays from sending one batch twice. */
    assert_int_equal(total, 300);
    outbox_close(a, NULL, NULL);
    outbox_close(b, NULL, NULL);
}

static void test_partition_is_stable(void **state)
{
    (void)state;
    assert_int_equal(outbox_partition("voepy_call_01ABC", 1), 0);
    unsigned p = outbox_partition("voepy_call_01ABC", 8);
    assert_true(p < 8);
    assert_int_equal(outbox_partition("voepy_call_01ABC", 8), p);
    /* FNV-1a of "" is the offset basis 2166136261. */
    assert_int_equal(outbox_partition("", 1000), 2166136261u % 1000);
    assert_int_equal(outbox_partition(NULL, 1000), 2166136261u % 1000);
}

static void test_stream_names(void **state)
{
    (void)state;
    char name[OUTBOX_STREAM_MAX];
    assert_int_equal(outbox_stream_name(0, name, sizeof(name)), 0);
    assert_string_equal(name, "voepy:events:0");
    assert_int_equal(outbox_stream_name(4294967295u, name, sizeof(name)), 0);
    assert_string_equal(name, "voepy:events:4294967295");
    /* Too small, by one byte or altogether: refused, never a truncated stream name. */
    char small[sizeof("voepy:events:12")] = "untouched";
    assert_int_equal(outbox_stream_name(12, small, sizeof(small)), 0);
    assert_string_equal(small, "voepy:events:12");
    assert_int_equal(outbox_stream_name(123, small, sizeof(small)), VP_E_INVALID_PARAMETER);
    assert_string_equal(small, "");
    assert_int_equal(outbox_stream_name(1, NULL, 0), VP_E_INVALID_PARAMETER);

    assert_null(outbox_stream_names(0));
    const char **names = outbox_stream_names(12);
    assert_non_null(names);
    for (unsigned p = 0; p < 12; p++) {
        char want[32];
        snprintf(want, sizeof(want), "voepy:events:%u", p);
        assert_string_equal(names[p], want);
    }
    /* The name a consumer reads is the one the relay writes a key's event to. */
    unsigned p = outbox_partition("voepy_call_01ABC", 12);
    assert_int_equal(outbox_stream_name(p, name, sizeof(name)), 0);
    assert_string_equal(names[p], name);
    free(names); /* one allocation: ASan reports a leak or a bad free otherwise */
}

int main(void)
{
    vlog_init("test", NULL, VLOG_WARN);
    crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publishes_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_relays_and_kick, setup, teardown),
        cmocka_unit_test(test_partition_is_stable),
        cmocka_unit_test(test_stream_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
