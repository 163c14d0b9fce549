/*
 * sip_timer.h - the clock of a session timer (RFC 4028) on one dialog.
 *
 * The dialog (sip_session.c, sip_uas.c) learns the interval and who refreshes from the
 * Session-Expires of the 2xx it sent or received (sip_ext.h) and arms this timer. When we
 * refresh, ops.refresh runs at half the interval (the dialog sends UPDATE or re-INVITE and
 * calls sip_timer_refreshed() on its 2xx, or ops.expire when it fails). When the far end
 * refreshes, each of its re-INVITEs or UPDATEs is sip_timer_refreshed(), and ops.expire
 * runs when none came within the interval minus min(32 s, interval/3).
 *
 * Memory: sip_timer_free() closes the uv timer; the struct goes with its close callback.
 * The ops are never called after sip_timer_free().
 */
#ifndef CC_SIP_TIMER_H
#define CC_SIP_TIMER_H

#include <stdbool.h>
#include <uv.h>

struct sip_timer;

struct sip_timer_ops {
    void (*refresh)(void *arg); /* time for our refresh */
    void (*expire)(void *arg);  /* no refresh from the far end in time */
    void *arg;
};

struct sip_timer *sip_timer_create(uv_loop_t *loop, const struct sip_timer_ops *ops);
/* (Re)start with interval secs (0 stops it); we_refresh: ours to refresh. t may be NULL. */
void sip_timer_arm(struct sip_timer *t, unsigned secs, bool we_refresh);
/* A refresh was done (theirs arrived, ours got its 2xx): the interval starts again.
 * t may be NULL. */
void sip_timer_refreshed(struct sip_timer *t);
unsigned sip_timer_secs(const struct sip_timer *t);
bool sip_timer_we_refresh(const struct sip_timer *t);
/* Refreshes seen (ours answered or theirs received), for logs and tests. */
unsigned sip_timer_refreshes(const struct sip_timer *t);
void sip_timer_free(struct sip_timer *t); /* t may be NULL */

#endif
