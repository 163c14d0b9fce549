/*
 * ops.h - the operations endpoint every service serves on its own port:
 *   GET /healthz  200 while the process runs its loop
 *   GET /readyz   200 when every readiness check passes and the process is not
 *                 draining, else 503 with the failing checks named
 *   GET /metrics  Prometheus text format (metrics.h)
 */
#ifndef VOEPY_OPS_H
#define VOEPY_OPS_H

#include <stdbool.h>
#include <uv.h>

struct ops;
struct lifecycle;

typedef bool(ops_check_fn)(void *arg);

/* Serve on host:port (port 0 = any free port); lc may be NULL. */
int ops_create(struct ops **op, uv_loop_t *loop, const char *host, int port, struct lifecycle *lc);
int ops_port(const struct ops *o);
/* A named readiness check ("postgres", "redis"); called on every /readyz. */
void ops_add_check(struct ops *o, const char *name, ops_check_fn *fn, void *arg);
void ops_close(struct ops *o, void (*closed)(void *arg), void *arg);

#endif
