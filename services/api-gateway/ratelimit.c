/*
 * ratelimit.c - per-tenant rate limits, counted in Redis so that every gateway process
 * shares them.
 *
 * Fixed windows: API requests per tenant per second (tenants.api_requests_per_second, every
 * authenticated tenant request) and calls placed per tenant per minute
 * (tenants.calls_per_minute, POST /v1/calls once its body is valid). Each check is one
 * EVAL that increments the window's counter and gives it an expiry; the window is named
 * after the wall-clock second or minute, so processes agree without talking. Over the
 * limit: 429 rate_limited naming the limit, with Retry-After (whole seconds until the
 * window ends, at least 1). Every answer to an API-limited request carries
 * RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset for the per-second limit.
 *
 * Redis trouble never fails a request: when Redis is disconnected, refuses or errs, the
 * request goes on unlimited (fail open), voepy_api_ratelimit_failopen_total counts it and
 * a warning is logged at most every FAILOPEN_LOG_MS. The operator API is not limited.
 */
#include "api.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "voepy/http_server.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/redis.h"
#include "voepy/vtime.h"

#define FAILOPEN_LOG_MS 10000

/* INCR the window's counter; the first increment sets its expiry (ARGV[1], ms). */
static const char incr_script[] = "local n = redis.call('INCR', KEYS[1]) "
                                  "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
                                  "return n";

/* One check in flight, in the request's arena. */
struct rl_check {
    struct api_req *r;
    void (*next)(struct api_req *r);
    const char *what; /* "api" or "calls" */
    long limit;
    int64_t window_end_ms; /* epoch ms at which the window closes */
};

static uint64_t last_failopen_log_ms;

static void fail_open(const struct rl_check *c, const char *why)
{
    metric_inc(metrics_counter("voepy_api_ratelimit_failopen_total",
                               "Requests let through unlimited because Redis could not count.",
                               NULL));
    uint64_t now = vtime_mono_ms();
    if (last_failopen_log_ms == 0 || now - last_failopen_log_ms >= FAILOPEN_LOG_MS) {
        last_failopen_log_ms = now;
        log_warn("api.ratelimit_failopen", "rate limits not enforced (%s limit): %s", c->what, why);
    }
    c->next(c->r);
}

static void set_headers(struct rl_check *c, long long n, long retry)
{
    char v[32];
    snprintf(v, sizeof(v), "%ld", c->limit);
    reply_header(c->r, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%lld", n >= c->limit ? 0LL : (long long)c->limit - n);
    reply_header(c->r, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%ld", retry);
    reply_header(c->r, "RateLimit-Reset", v);
}

static void refuse(struct rl_check *c, long retry)
{
    char v[32];
    snprintf(v, sizeof(v), "%ld", retry);
    reply_header(c->r, "Retry-After", v);
    if (strcmp(c->what, "api") == 0)
        reply_fail(c->r, VP_E_RATE_LIMITED, NULL,
                   "Too many API requests: this account may make %ld per second. Retry after "
                   "%ld s.",
                   c->limit, retry);
    else
        reply_fail(c->r, VP_E_RATE_LIMITED, NULL,
                   "Too many calls placed: this account may place %ld per minute. Retry after "
                   "%ld s.",
                   c->limit, retry);
}

static void counted_cb(int status, struct redisReply *reply, void *arg)
{
    struct rl_check *c = arg;
    if (status != 0) {
        fail_open(c, vp_err_message(status));
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        fail_open(c, reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        return;
    }
    int64_t left_ms = c->window_end_ms - vtime_now_ms();
    long retry = left_ms <= 1000 ? 1 : (long)((left_ms + 999) / 1000);
    if (strcmp(c->what, "api") == 0)
        set_headers(c, reply->integer, retry);
    if (reply->integer > c->limit)
        refuse(c, retry);
    else
        c->next(c->r);
}

/* Count r in the window of window_ms for what; then next(r), or a 429. */
static void check(struct api_req *r, const char *what, long limit, int64_t window_ms,
                  void (*next)(struct api_req *r))
{
    struct rl_check *c = http_request_alloc(r->http, sizeof(*c));
    *c = (struct rl_check){.r = r, .next = next, .what = what, .limit = limit};
    if (!r->api->redis || !redis_connected(r->api->redis)) {
        fail_open(c, "Redis is not connected");
        return;
    }
    int64_t now = vtime_now_ms();
    int64_t window = now / window_ms;
    c->window_end_ms = (window + 1) * window_ms;
    char key[160], ttl[32];
    snprintf(key, sizeof(key), "voepy:rl:%s:%s:%lld", r->tenant_id, what, (long long)window);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)(window_ms + 1000));
    int err = redis_cmd(r->api->redis, counted_cb, c, "EVAL %s 1 %s %s", incr_script, key, ttl);
    if (err)
        fail_open(c, vp_err_message(err));
}

void ratelimit_request(struct api_req *r, void (*next)(struct api_req *r))
{
    if (!r->tenant_id || r->rate_api_per_sec <= 0) {
        next(r);
        return;
    }
    check(r, "api", r->rate_api_per_sec, 1000, next);
}

void ratelimit_calls(struct api_req *r, void (*next)(struct api_req *r))
{
    if (!r->tenant_id || r->rate_calls_per_min <= 0) {
        next(r);
        return;
    }
    check(r, "calls", r->rate_calls_per_min, 60000, next);
}
