/*
 * nodes.h - node registry: who is alive in a service that scales by node.
 *
 * call-control and media-fork nodes announce themselves every interval_ms in the sorted
 * set voepy:nodes:{service} (member = node id, score = last heartbeat in epoch ms) and
 * keep a hash voepy:node:{service}:{id} with details (address, started_at). A node is
 * alive while its score is within dead_after_ms of now. Peers read the set to choose a
 * node (media-fork for a new leg) or to find dead ones (to close their calls).
 */
#ifndef VOEPY_NODES_H
#define VOEPY_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct nodes;
struct redis;

struct nodes_opts {
    const char *service;     /* "call-control" */
    const char *node_id;     /* this node */
    const char *const *info; /* key, value, key, value, ..., NULL for the details hash */
    unsigned interval_ms;    /* default 1000 */
    unsigned dead_after_ms;  /* default 5000 */
};

/*
 * Start heartbeating this node (opts->node_id NULL: only watch opts->service). The redis
 * connection is borrowed: it must outlive n (close n first). VP_E_INVALID_PARAMETER for a
 * missing service, ids with spaces, dead_after_ms <= interval_ms, or an info key without
 * a value.
 */
int nodes_create(struct nodes **np, uv_loop_t *loop, struct redis *redis,
                 const struct nodes_opts *opts);

/* Also track the alive nodes of another service (media-fork, for call-control). */
void nodes_watch(struct nodes *n, const char *service);
/*
 * Alive nodes of a watched service, as of the last refresh (refreshed every interval_ms).
 * Returns the count written (at most max); ids[i] stay valid until the next refresh (use
 * them at once).
 */
size_t nodes_alive(struct nodes *n, const char *service, const char **ids, size_t max);
/* Pick one alive node of service round-robin; NULL when none. */
const char *nodes_pick(struct nodes *n, const char *service);
/* Remove this node from the registry (clean shutdown), then close. */
void nodes_close(struct nodes *n, void (*closed)(void *arg), void *arg);

#endif
