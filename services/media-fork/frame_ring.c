/* Fixed FIFO of audio frames; see frame_ring.h. */
#include "frame_ring.h"

#include <string.h>

void frame_ring_reset(struct frame_ring *r)
{
    r->head = 0;
    r->count = 0;
}

void frame_ring_push(struct frame_ring *r, const uint8_t *data, size_t len)
{
    if (len > FRAME_MAX_BYTES) {
        r->dropped++;
        return;
    }
    if (r->count == FRAME_RING_SLOTS) {
        r->head = (r->head + 1) % FRAME_RING_SLOTS;
        r->count--;
        r->dropped++;
    }
    struct frame *f = &r->slots[(r->head + r->count) % FRAME_RING_SLOTS];
    memcpy(f->data, data, len);
    f->len = len;
    r->count++;
}

const struct frame *frame_ring_pop(struct frame_ring *r)
{
    if (r->count == 0)
        return NULL;
    const struct frame *f = &r->slots[r->head];
    r->head = (r->head + 1) % FRAME_RING_SLOTS;
    r->count--;
    return f;
}
