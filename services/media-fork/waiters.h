/*
 * waiters.h - the callers waiting for one piece of audio that is being made (a file
 * decoded or a URL fetched by audio_load.c, a text rendered by tts.c): each asked while
 * the job ran, all are told at once when it ends, with the audio or with why not.
 *
 * A job embeds a struct waiters (zeroed: empty), adds each caller with waiters_add() and
 * calls waiters_tell() once it is done. Loop thread only.
 */
#ifndef MF_WAITERS_H
#define MF_WAITERS_H

#include "audio_load.h" /* audio_load_cb */

struct audio;
struct waiter;

struct waiters {
    struct waiter *head; /* private to waiters.c */
};

/* cb(arg) will be called once, by waiters_tell(). */
void waiters_add(struct waiters *ws, audio_load_cb *cb, void *arg);

/*
 * Call every waiter's cb, the last added first, and empty the list: with a and a new
 * reference for each when a is not NULL (the caller keeps its own), else with e. A
 * callback may free what it likes but the job being told.
 */
void waiters_tell(struct waiters *ws, struct audio *a, const struct vp_error *e);

#endif
