/*
 * Injected audio (leg.h: leg_inject_audio): a bounded FIFO of 8 kHz linear samples that
 * some other source wants the far end to hear (a bidirectional WebSocket stream's client
 * sends audio back). The send path asks it after DTMF and playback and before the bridge
 * peer and the mode: while it holds a whole 20 ms frame, that frame goes out, encoded
 * with the leg's codec; otherwise the leg sends what it would have sent anyway.
 *
 * The FIFO holds INJECT_MAX_SAMPLES (1 s); a producer faster than the clock loses its
 * oldest samples (counted), so the audio is never more than a second late. Allocated at
 * the first injection, freed with the leg; nothing is allocated per frame.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "leg_internal.h"
#include "voepy/alloc.h"

#define INJECT_MAX_SAMPLES 8000
#define INJECT_FRAME       160 /* 20 ms at 8 kHz, encoded with the leg's codec state */
_Static_assert(INJECT_FRAME == CODEC_FRAME_SAMPLES, "one leg frame per tick");

struct leg_inject {
    int16_t ring[INJECT_MAX_SAMPLES];
    size_t head, len; /* oldest sample, samples held */
    uint64_t dropped;
    int16_t pcm[INJECT_FRAME];
    uint8_t enc[CODEC_PAYLOAD_MAX];
};

static void push(struct leg_inject *in, int16_t s)
{
    if (in->len == INJECT_MAX_SAMPLES) { /* full: the oldest sample goes */
        in->head = (in->head + 1) % INJECT_MAX_SAMPLES;
        in->len--;
        in->dropped++;
    }
    in->ring[(in->head + in->len) % INJECT_MAX_SAMPLES] = s;
    in->len++;
}

size_t leg_inject_audio(struct leg *l, const int16_t *pcm, size_t n)
{
    if (l->state == LEG_CLOSING)
        return 0;
    if (!l->inject)
        l->inject = VP_NEW(l->inject);
    uint64_t before = l->inject->dropped;
    for (size_t i = 0; i < n; i++)
        push(l->inject, pcm[i]);
    return (size_t)(l->inject->dropped - before);
}

size_t leg_inject_queued(const struct leg *l)
{
    return l->inject ? l->inject->len : 0;
}

void leg_inject_clear(struct leg *l)
{
    if (l->inject)
        l->inject->len = 0;
}

bool leg__inject_pending(const struct leg *l)
{
    return l->inject && l->inject->len >= INJECT_FRAME;
}

bool leg__inject_frame(struct leg *l, struct leg_frame *f)
{
    struct leg_inject *in = l->inject;
    if (!in || in->len < INJECT_FRAME || !l->codec)
        return false;
    for (size_t i = 0; i < INJECT_FRAME; i++)
        in->pcm[i] = in->ring[(in->head + i) % INJECT_MAX_SAMPLES];
    in->head = (in->head + INJECT_FRAME) % INJECT_MAX_SAMPLES;
    in->len -= INJECT_FRAME;
    int n = codec_state_encode(l->codec, in->pcm, in->enc, sizeof(in->enc));
    if (n <= 0)
        return false;
    f->payload = in->enc;
    f->len = (size_t)n;
    return true;
}

void leg__inject_close(struct leg *l)
{
    free(l->inject);
    l->inject = NULL;
}
