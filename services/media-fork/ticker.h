/*
 * ticker.h - one drift-free periodic clock for all legs.
 *
 * Every leg sends a frame per 20 ms; one shared tick walks all legs instead of a timer per
 * leg (thousands of timers cost heap operations and wake-ups each). The ticker keeps an
 * absolute schedule on the monotonic clock (period n is due at start + n * period), so
 * packet rates do not drift with callback latency. When the loop was stalled it runs the
 * missed periods back to back, at most max_catchup per wake-up; periods beyond that are
 * skipped and counted as overruns (sending a burst of stale frames helps nobody).
 */
#ifndef MF_TICKER_H
#define MF_TICKER_H

#include <stdint.h>
#include <uv.h>

struct ticker;

typedef void(ticker_cb)(void *arg);

/* Start ticking at once: the first period is due period_ms from now. */
int ticker_create(struct ticker **tp, uv_loop_t *loop, unsigned period_ms, unsigned max_catchup,
                  ticker_cb *cb, void *arg);
/* Periods skipped because the loop was too late. */
uint64_t ticker_overruns(const struct ticker *t);
/*
 * Stop; cb never runs afterwards. The memory is freed when libuv has closed the timer,
 * then closed(arg) runs (always later, from the loop; closed may be NULL).
 */
void ticker_close(struct ticker *t, void (*closed)(void *arg), void *arg);

#endif
