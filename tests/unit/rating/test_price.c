/*
 * rating_price(): a table of hand-checked cases, then a property test comparing it with a
 * deliberately naive reference model (block-by-block counting, exact rational cents with
 * 128-bit integers) over many random durations, rates, increments and fees.
 * VOEPY_TEST_SEED=<n> replays a run; the seed in use is printed.
 */
#include "vp_test.h"

#include "price.h"
#include "voepy/err.h"

#include <inttypes.h>
#include <string.h>

#define MPM(cents_per_min) ((int64_t)(cents_per_min)*1000000) /* micros per minute */

struct price_case {
    const char *what;
    int64_t ms, mpm, fee, initial, subsequent;
    int64_t billed, micros, cents;
    int64_t minimum; /* minimum_charge_micros */
};

static const struct price_case cases[] = {
    {"never answered costs nothing, not even the fee", 0, MPM(1), 5000000, 60, 60, 0, 0, 0, 0},
    {"one millisecond is one second", 1, MPM(6), 0, 1, 1, 1, 100000, 1, 0},
    {"exactly one second", 1000, MPM(6), 0, 1, 1, 1, 100000, 1, 0},
    {"1001 ms is two seconds", 1001, MPM(6), 0, 1, 1, 2, 200000, 1, 0},
    {"per second, 38 s at 1 c/min", 38000, MPM(1), 0, 1, 1, 38, 633334, 1, 0},
    {"per minute, 1 s bills a full minute", 1000, MPM(2), 0, 60, 60, 60, 2000000, 2, 0},
    {"per minute, 61 s bills two minutes", 61000, MPM(2), 0, 60, 60, 120, 4000000, 4, 0},
    {"60 s on 60/60 is one minute", 60000, MPM(2), 0, 60, 60, 60, 2000000, 2, 0},
    {"30/6: 29 s bills the first 30", 29000, MPM(12), 0, 30, 6, 30, 6000000, 6, 0},
    {"30/6: 31 s bills 36", 31000, MPM(12), 0, 30, 6, 36, 7200000, 8, 0},
    {"30/6: 36 s bills 36", 36000, MPM(12), 0, 30, 6, 36, 7200000, 8, 0},
    {"30/6: 36.001 s bills 42", 36001, MPM(12), 0, 30, 6, 42, 8400000, 9, 0},
    {"sub-cent rate rounds up once at the end", 10000, 450000, 0, 1, 1, 10, 75000, 1, 0},
    {"connection fee alone (free minutes)", 5000, 0, 2500000, 1, 1, 5, 2500000, 3, 0},
    {"fee plus time", 90000, MPM(1), 1000000, 60, 1, 90, 2500000, 3, 0},
    {"free rate, no fee: 0 cents but rated", 120000, 0, 0, 1, 1, 120, 0, 0, 0},
    {"whole cents exactly", 60000, MPM(3), 0, 1, 1, 60, 3000000, 3, 0},
    {"one micro over a cent rounds up", 60000, MPM(3) + 60, 0, 1, 1, 60, 3000060, 4, 0},
    {"per-second part rounds up to the micro", 1000, 1, 0, 1, 1, 1, 1, 1, 0},
    {"a day per second", 86400000, MPM(1), 0, 1, 1, 86400, 1440000000, 1440, 0},
    {"initial larger than subsequent", 121000, MPM(60), 0, 120, 30, 150, 150000000, 150, 0},
    {"minimum charge lifts a short call", 3000, MPM(1), 0, 1, 1, 3, 5000000, 5, 5000000},
    {"minimum charge below the price changes nothing", 600000, MPM(1), 0, 1, 1, 600, 10000000, 10,
     5000000},
    {"minimum charge is not owed by an unanswered call", 0, MPM(1), 0, 1, 1, 0, 0, 0, 5000000},
};

static void test_price_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct price_case *c = &cases[i];
        struct rating_rate r = {c->mpm, c->fee, c->initial, c->subsequent, c->minimum};
        struct rating_charge ch;
        int rc = rating_price(&r, c->ms, &ch);
        if (rc || ch.billed_seconds != c->billed || ch.cost_micros != c->micros ||
            ch.cost_cents != c->cents)
            fail_msg("case \"%s\": rc %d billed %" PRId64 " micros %" PRId64 " cents %" PRId64
                     ", want billed %" PRId64 " micros %" PRId64 " cents %" PRId64,
                     c->what, rc, ch.billed_seconds, ch.cost_micros, ch.cost_cents, c->billed,
                     c->micros, c->cents);
    }
}

static void test_price_never_answered_needs_no_rate(void **state)
{
    (void)state;
    struct rating_charge ch = {1, 1, 1};
    assert_int_equal(rating_price(NULL, 0, &ch), 0);
    assert_int_equal(ch.billed_seconds, 0);
    assert_int_equal(ch.cost_micros, 0);
    assert_int_equal(ch.cost_cents, 0);
    /* an answered call does need one */
    assert_int_equal(rating_price(NULL, 1, &ch), VP_E_INVALID_PARAMETER);
}

static void test_price_bad_input(void **state)
{
    (void)state;
    struct rating_charge ch;
    const struct rating_rate good = {MPM(1), 0, 1, 1, 0};
    assert_int_equal(rating_price(&good, -1, &ch), VP_E_INVALID_PARAMETER);
    const struct rating_rate bad[] = {
        {-1, 0, 1, 1, 0},     {MPM(1), -1, 1, 1, 0}, {MPM(1), 0, 0, 1, 0},
        {MPM(1), 0, 1, 0, 0}, {MPM(1), 0, -5, 1, 0}, {MPM(1), 0, 1, 1, -1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ch.cost_cents = 99;
        assert_int_equal(rating_price(&bad[i], 1000, &ch), VP_E_INVALID_PARAMETER);
        assert_int_equal(ch.cost_cents, 0);
    }
}

static void test_price_overflow(void **state)
{
    (void)state;
    struct rating_charge ch;
    const struct rating_rate huge_rate = {INT64_MAX, 0, 1, 1, 0};
    assert_int_equal(rating_price(&huge_rate, 3600000, &ch), VP_E_OVERFLOW);
    assert_int_equal(ch.cost_micros, 0);
    const struct rating_rate huge_fee = {MPM(60), INT64_MAX, 1, 1, 0};
    assert_int_equal(rating_price(&huge_fee, 1000, &ch), VP_E_OVERFLOW);
    const struct rating_rate huge_block = {0, 0, 1, INT64_MAX, 0};
    assert_int_equal(rating_price(&huge_block, 3000, &ch), VP_E_OVERFLOW);
    /* the largest duration still prices without tripping */
    const struct rating_rate sec = {0, 0, 1, 1, 0};
    assert_int_equal(rating_price(&sec, INT64_MAX, &ch), 0);
    assert_int_equal(ch.billed_seconds, INT64_MAX / 1000 + 1);
}

/* ---- property test ---- */

static uint64_t rng_state;
static uint64_t rng_seed;

static uint64_t rng_next(void)
{
    /* xorshift64*: reproducible from the printed seed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* The model: count blocks one by one, price as one exact fraction, round once. */
static void model_price(const struct rating_rate *r, int64_t ms, struct rating_charge *out)
{
    memset(out, 0, sizeof(*out));
    if (ms == 0)
        return;
    int64_t seconds = (ms + 999) / 1000;
    int64_t billed = r->initial_increment_s;
    while (billed < seconds)
        billed += r->subsequent_increment_s;
    __int128 per_time_x60 = (__int128)billed * r->micros_per_minute;
    __int128 micros = r->connection_fee_micros + (per_time_x60 + 59) / 60;
    __int128 total_x60 = per_time_x60 + (__int128)60 * r->connection_fee_micros;
    __int128 denom = (__int128)60 * 1000000;
    if (micros < r->minimum_charge_micros) {
        micros = r->minimum_charge_micros;
        total_x60 = (__int128)60 * micros;
    }
    out->billed_seconds = billed;
    out->cost_micros = (int64_t)micros;
    out->cost_cents = (int64_t)((total_x60 + denom - 1) / denom);
}

static int64_t pick_duration_ms(void)
{
    switch (rng_next() % 6) {
    case 0:
        return 0;
    case 1:
        return rng_range(1, 1500); /* around the first second */
    case 2:
        return rng_range(1, 60) * 1000 + rng_range(-1, 1); /* whole seconds +- 1 ms */
    default:
        return rng_range(1, 4 * 3600 * 1000);
    }
}

static void pick_rate(struct rating_rate *r)
{
    static const int64_t incs[] = {1, 6, 10, 30, 60, 120};
    r->micros_per_minute = rng_next() % 4 ? rng_range(0, 5 * 1000000) : rng_range(0, 1000);
    r->connection_fee_micros = rng_next() % 2 ? 0 : rng_range(0, 3 * 1000000);
    r->initial_increment_s = rng_next() % 2 ? incs[rng_next() % 6] : rng_range(1, 90);
    r->subsequent_increment_s = rng_next() % 2 ? incs[rng_next() % 6] : rng_range(1, 90);
    r->minimum_charge_micros = rng_next() % 3 ? 0 : rng_range(0, 10 * 1000000);
}

static void check_against_model(const struct rating_rate *r, int64_t ms)
{
    struct rating_charge got, want;
    int rc = rating_price(r, ms, &got);
    model_price(r, ms, &want);
    if (rc || memcmp(&got, &want, sizeof(got)) != 0)
        fail_msg("VOEPY_TEST_SEED=%" PRIu64 ": ms %" PRId64 " rate %" PRId64 "/min fee %" PRId64
                 " inc %" PRId64 "/%" PRId64 ": got rc %d %" PRId64 " s %" PRId64 " u %" PRId64
                 " c, model %" PRId64 " s %" PRId64 " u %" PRId64 " c",
                 rng_seed, ms, r->micros_per_minute, r->connection_fee_micros,
                 r->initial_increment_s, r->subsequent_increment_s, rc, got.billed_seconds,
                 got.cost_micros, got.cost_cents, want.billed_seconds, want.cost_micros,
                 want.cost_cents);
    /* properties that hold whatever the model says */
    int64_t secs = (ms + 999) / 1000;
    assert_true(got.billed_seconds >= secs);
    if (ms > 0) {
        int64_t block = r->initial_increment_s > r->subsequent_increment_s
                            ? r->initial_increment_s
                            : r->subsequent_increment_s;
        assert_true(got.billed_seconds - secs < block);
    }
    assert_true(got.cost_cents * 1000000 >= got.cost_micros);
    assert_true(ms == 0 || got.cost_micros >= r->minimum_charge_micros);
    assert_true(got.cost_cents == 0 || (got.cost_cents - 1) * 1000000 < got.cost_micros);
}

static void test_price_matches_model(void **state)
{
    (void)state;
    const char *s = getenv("VOEPY_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 10) : (uint64_t)uv_hrtime() | 1;
    printf("test_price: VOEPY_TEST_SEED=%" PRIu64 "\n", seed);
    rng_state = rng_seed = seed;
    for (int i = 0; i < 50000; i++) {
        struct rating_rate r;
        pick_rate(&r);
        check_against_model(&r, pick_duration_ms());
    }
}

static void test_price_monotonic_in_duration(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200; i++) {
        struct rating_rate r;
        pick_rate(&r);
        struct rating_charge prev = {0, 0, 0}, cur;
        for (int64_t ms = 0; ms <= 200000; ms += 250) {
            assert_int_equal(rating_price(&r, ms, &cur), 0);
            assert_true(cur.billed_seconds >= prev.billed_seconds);
            assert_true(cur.cost_micros >= prev.cost_micros);
            assert_true(cur.cost_cents >= prev.cost_cents);
            prev = cur;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_price_table),
        cmocka_unit_test(test_price_never_answered_needs_no_rate),
        cmocka_unit_test(test_price_bad_input),
        cmocka_unit_test(test_price_overflow),
        cmocka_unit_test(test_price_matches_model),
        cmocka_unit_test(test_price_monotonic_in_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
