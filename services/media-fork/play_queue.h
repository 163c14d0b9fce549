/*
 * play_queue.h - the plays waiting on one leg behind the one playing (FIFO, at most
 * PLAY_QUEUE_MAX). A waiting play may not have its audio yet (it is being fetched or
 * rendered): it keeps its place and is identified by a token the queue hands out, so
 * that the audio can be attached when it arrives and a play is never started out of
 * order. The queue holds a reference on each attached audio; whoever takes an item
 * (play_queue_pop, play_queue_take) takes that reference too.
 *
 * Pure data: no loop, no events. leg_media.c decides when to start and what to report.
 */
#ifndef MF_PLAY_QUEUE_H
#define MF_PLAY_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "leg_ids.h"

#define PLAY_QUEUE_MAX 16

struct audio;

struct play_item {
    uint32_t token;
    struct audio *audio; /* NULL while it is being loaded */
    unsigned loops;
    char id[LEG_ID_MAX];       /* playback_id, "" none */
    char reply_to[STREAM_MAX]; /* "" = the leg's */
};

struct play_queue {
    struct play_item items[PLAY_QUEUE_MAX];
    unsigned head, count;
    uint32_t next_token; /* the last token handed out (0 is never one) */
};

/*
 * Append a play (audio may be NULL: attached later with play_queue_ready; when not NULL
 * the queue takes the caller's reference). Returns its token (never 0), or 0 when the
 * queue is full (audio is then still the caller's).
 */
uint32_t play_queue_push(struct play_queue *q, struct audio *a, unsigned loops, const char *id,
                         const char *reply_to);
/* Attach a (the queue takes the reference) to the waiting play token; false when it is
 * no longer queued (dropped meanwhile): a stays the caller's. */
bool play_queue_ready(struct play_queue *q, uint32_t token, struct audio *a);
/* The first waiting play, or NULL. */
const struct play_item *play_queue_head(const struct play_queue *q);
/* Remove the first waiting play into out (its audio reference with it); false if none. */
bool play_queue_pop(struct play_queue *q, struct play_item *out);
/* Remove the play token wherever it waits into out; false when it is not queued. */
bool play_queue_take(struct play_queue *q, uint32_t token, struct play_item *out);
unsigned play_queue_count(const struct play_queue *q);

#endif
