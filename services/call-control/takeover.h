/*
 * takeover.h - this node's heartbeat in PostgreSQL, and the calls of nodes that died.
 *
 * Besides its entry in the Redis node registry (where peers look for it), every node
 * beats into cc_nodes (proto/sql/0023_node_takeover.sql). At its start it first ends the
 * calls its earlier life under the same node id still owns (cc_recover_node), then beats
 * every beat interval and, as often, asks cc_takeover_dead whether a node has been silent
 * for longer than dead_ms while it still owns live calls: exactly one survivor ends such a
 * node's calls (system_failure, initiator system, at the node's last beat), which writes
 * their call.ended events (rating prices them), and asks media-fork to release their legs.
 * The far ends' dialogs are not ours to end: their peers see media stop and their own
 * timers end them.
 *
 * A beat that learns this node was itself taken over (cut off from the database for
 * longer than dead_ms) hangs up every call the node still carries.
 */
#ifndef CC_TAKEOVER_H
#define CC_TAKEOVER_H

struct cc;
struct takeover;

struct takeover_opts {
    unsigned dead_ms; /* a node silent this long is dead (VOEPY_CC_NODE_DEAD_MS) */
    unsigned beat_ms; /* beat and look for dead nodes this often; 0 = min(1000, dead_ms/3) */
};

/* Start (the recovery statement is queued at once). cc must outlive t: close t first. */
int takeover_create(struct takeover **tp, struct cc *cc, const struct takeover_opts *o);
/*
 * The end of a drain: stop beating and remove this node's row (only when it owns no live
 * call, so that a call left behind is still taken over). done(arg) runs once, from a
 * database callback or the loop, when that is settled. Call at most once, before close.
 */
void takeover_leave(struct takeover *t, void (*done)(void *arg), void *arg);
/* Stop; the memory goes once the statements in flight have answered. done is not run. */
void takeover_close(struct takeover *t);

#endif
