/* In-band DTMF detection with spandsp; see dtmf_detect.h. */
#include "dtmf_detect.h"

#include <spandsp.h>
#include <stdlib.h>

#include "voepy/alloc.h"

struct dtmf_detect {
    dtmf_rx_state_t *rx;
    dtmf_digit_cb *cb;
    void *arg;
};

static void digits_cb(void *user, const char *digits, int len)
{
    struct dtmf_detect *d = user;
    for (int i = 0; i < len; i++)
        d->cb(d->arg, digits[i]);
}

static void init_rx(struct dtmf_detect *d)
{
    d->rx = dtmf_rx_init(NULL, digits_cb, d);
    if (!d->rx)
        abort(); /* spandsp allocates with malloc: out of memory, as vp_malloc would */
}

void dtmf_detect_create(struct dtmf_detect **dp, dtmf_digit_cb *cb, void *arg)
{
    struct dtmf_detect *d = VP_NEW(d);
    d->cb = cb;
    d->arg = arg;
    init_rx(d);
    *dp = d;
}

void dtmf_detect_samples(struct dtmf_detect *d, const int16_t *pcm, size_t n)
{
    while (n) {
        int chunk = n > 4096 ? 4096 : (int)n;
        dtmf_rx(d->rx, pcm, chunk);
        pcm += chunk;
        n -= (size_t)chunk;
    }
}

void dtmf_detect_reset(struct dtmf_detect *d)
{
    dtmf_rx_free(d->rx);
    init_rx(d);
}

void dtmf_detect_destroy(struct dtmf_detect *d)
{
    if (!d)
        return;
    dtmf_rx_free(d->rx);
    free(d);
}
