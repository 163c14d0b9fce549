/*
 * lifecycle.h - process lifecycle on one libuv loop: signals, draining, stopping.
 *
 * SIGTERM drains: every participant's drain hook runs (stop taking new work, finish
 * what is in flight) and reports back with lifecycle_drained(); when all have, or when
 * the drain timeout passes, the process stops. SIGINT (or a second SIGTERM) stops at
 * once: every participant's stop hook runs, in reverse order of registration, and must
 * close its handles so that uv_run() returns. SIGPIPE is ignored process-wide (hiredis
 * and others write with plain write(2)).
 *
 *   main: lifecycle_create(&lc, loop, 30000);
 *         lifecycle_add(lc, &(struct lifecycle_hooks){.drain = d, .stop = s, .arg = x});
 *         uv_run(loop, UV_RUN_DEFAULT);
 *         lifecycle_destroy(lc);   (after the loop has ended)
 */
#ifndef VOEPY_LIFECYCLE_H
#define VOEPY_LIFECYCLE_H

#include <stdbool.h>
#include <uv.h>

enum lifecycle_state {
    LIFECYCLE_RUNNING,
    LIFECYCLE_DRAINING,
    LIFECYCLE_STOPPING,
};

struct lifecycle;

struct lifecycle_hooks {
    /* Stop accepting work; call lifecycle_drained(lc, id) when done. NULL = drained at once. */
    void (*drain)(struct lifecycle *lc, int id, void *arg);
    /* Close every handle now. Called once. May be NULL. */
    void (*stop)(void *arg);
    void *arg;
};

int lifecycle_create(struct lifecycle **lcp, uv_loop_t *loop, unsigned drain_timeout_ms);
/* Register a participant; returns its id (>= 0). */
int lifecycle_add(struct lifecycle *lc, const struct lifecycle_hooks *hooks);
void lifecycle_drained(struct lifecycle *lc, int id);
/* Programmatic shutdown (tests, fatal errors): drain when drain is true, else stop. */
void lifecycle_shutdown(struct lifecycle *lc, bool drain);
enum lifecycle_state lifecycle_state(const struct lifecycle *lc);
const char *lifecycle_state_name(enum lifecycle_state s);
/* Free after uv_run() has returned. */
void lifecycle_destroy(struct lifecycle *lc);

#endif
