/*
 * engine.h - all legs of a media-fork node: allocate, connect, release, tick, reap.
 *
 * The engine owns the port pool, the legs (by leg_id), the records of released legs and
 * the one 20 ms ticker that drives every leg. Every operation is idempotent per leg_id,
 * as the stream contract requires (proto/streams.md): a second allocate returns the same
 * port, a second release the same counters. A leg with no RTP, RTCP or command for
 * idle_ms is released by the engine itself (its call-control node may have died); the
 * reaped callback reports it so the owner can be told.
 *
 * Single-threaded, on one loop. The engine must outlive nothing of its own: close it
 * with engine_close(), which closes every leg and reports when all handles are gone.
 */
#ifndef MF_ENGINE_H
#define MF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "leg.h"
#include "leg_event.h"

struct engine;

struct engine_opts {
    const char *media_ip; /* IPv4/IPv6 literal to bind and to announce */
    unsigned port_min, port_max;
    unsigned idle_ms;  /* 0 = never reap */
    size_t tombstones; /* released legs remembered; default 4096 */
};

/* What a leg had when it was released (live or remembered). */
struct leg_report {
    const char *leg_id;
    const char *call_id;
    const char *reply_to; /* where its allocate asked replies to go ("" when unknown) */
    uint16_t port;
    struct leg_counters counters;
    const char *reason; /* "release" (command), "idle" (reaped), "unknown" (never known) */
};

typedef void(engine_reaped_cb)(const struct leg_report *r, void *arg);
/* A leg's playback ended or gather completed (leg_event.h); strings valid during the call. */
typedef void(engine_event_cb)(const struct leg_event *ev, void *arg);

/*
 * VP_E_CONFIG when media_ip is not an address literal (or is 0.0.0.0 / ::) or the range
 * holds no pair. crypto_init() must have run (legs draw random SSRCs).
 */
int engine_create(struct engine **ep, uv_loop_t *loop, const struct engine_opts *o);
void engine_on_reaped(struct engine *e, engine_reaped_cb *cb, void *arg);
/* cb may be NULL (events are dropped). Events can fire from inside any engine or leg call. */
void engine_on_event(struct engine *e, engine_event_cb *cb, void *arg);
const char *engine_media_ip(const struct engine *e);

/*
 * Allocate a leg (or find it: idempotent); *port is its RTP port. Returns 0,
 * VP_E_UNAVAILABLE (no free ports), VP_E_CONFLICT (the leg was already released),
 * VP_E_CANCELED (draining: no new legs), VP_E_INVALID_PARAMETER or VP_E_IO.
 */
int engine_allocate(struct engine *e, const char *leg_id, const char *call_id, const char *reply_to,
                    uint16_t *port);
/* Connect a leg to its far end. VP_E_NOT_FOUND when the leg is not live. */
int engine_connect(struct engine *e, const char *leg_id, const struct leg_remote *r);
/*
 * Release a leg (idempotent): fills *r from the live leg, else from its record, else
 * with zero counters and reason "unknown". r's strings stay valid until the next engine
 * call.
 */
void engine_release(struct engine *e, const char *leg_id, struct leg_report *r);

size_t engine_leg_count(const struct engine *e);
size_t engine_ports_free(const struct engine *e);
/* A live leg (tests, diagnostics), or NULL. */
struct leg *engine_find(const struct engine *e, const char *leg_id);

/* Refuse new legs from now on; done(arg) runs once no leg is left (maybe at once). */
void engine_drain(struct engine *e, void (*done)(void *arg), void *arg);
bool engine_draining(const struct engine *e);
/* Close every leg and the ticker, free, then closed(arg) runs (may be NULL). */
void engine_close(struct engine *e, void (*closed)(void *arg), void *arg);

#endif
