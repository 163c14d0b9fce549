/*
 * frame_ring.h - a small FIFO of received audio frames (the start of a jitter buffer).
 *
 * The receive path pushes payloads as they arrive; the 20 ms tick pops one per period
 * (echo now; bridging and recording later read the same way). Slots are preallocated and
 * fixed in size, so pushing copies and never allocates. When full, the oldest frame is
 * dropped: a late frame is worth less than a fresh one, and the latency stays bounded at
 * FRAME_RING_SLOTS periods.
 */
#ifndef MF_FRAME_RING_H
#define MF_FRAME_RING_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_RING_SLOTS 8   /* 160 ms of 20 ms frames */
#define FRAME_MAX_BYTES  480 /* 60 ms of G.711: the largest frame kept */

struct frame {
    size_t len;
    uint8_t data[FRAME_MAX_BYTES];
};

struct frame_ring {
    struct frame slots[FRAME_RING_SLOTS];
    unsigned head, count;
    uint64_t dropped; /* frames overwritten or too large */
};

void frame_ring_reset(struct frame_ring *r);
/* Copy a frame in (dropping the oldest when full). Frames over FRAME_MAX_BYTES are dropped. */
void frame_ring_push(struct frame_ring *r, const uint8_t *data, size_t len);
/* The oldest frame, or NULL when empty; valid until the next push. Removes it. */
const struct frame *frame_ring_pop(struct frame_ring *r);

#endif
