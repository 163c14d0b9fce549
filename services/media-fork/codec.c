/* The codec table; see codec.h. */
#include "codec.h"

#include <spandsp.h>
#include <string.h>
#include <strings.h>

#define G711_FRAME 160 /* 20 ms at 8000 Hz, 1 byte per sample */

static const struct codec codecs[] = {
    {"PCMU", 0, 8000, 0xFF, G711_FRAME}, /* mu-law: 0xFF encodes +0 */
    {"PCMA", 8, 8000, 0xD5, G711_FRAME}, /* A-law: 0xD5 encodes +0 (even bits inverted) */
};

#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

/* One precomputed silence frame per codec, filled on first use. */
static uint8_t silence[NCODECS][G711_FRAME];
static int silence_ready;

const struct codec *codec_by_name(const char *name)
{
    for (size_t i = 0; name && i < NCODECS; i++)
        if (strcasecmp(codecs[i].name, name) == 0)
            return &codecs[i];
    return NULL;
}

const struct codec *codec_by_pt(unsigned pt)
{
    for (size_t i = 0; i < NCODECS; i++)
        if (codecs[i].static_pt == pt)
            return &codecs[i];
    return NULL;
}

const uint8_t *codec_silence_frame(const struct codec *c)
{
    if (!silence_ready) {
        for (size_t i = 0; i < NCODECS; i++)
            memset(silence[i], codecs[i].silence, G711_FRAME);
        silence_ready = 1;
    }
    return silence[c - codecs];
}

/* PCMU is the row with static payload type 0; every other row is PCMA (the table has two). */
static bool is_ulaw(const struct codec *c)
{
    return c->static_pt == 0;
}

void codec_encode(const struct codec *c, const int16_t *pcm, uint8_t *out, size_t n)
{
    if (is_ulaw(c))
        for (size_t i = 0; i < n; i++)
            out[i] = linear_to_ulaw(pcm[i]);
    else
        for (size_t i = 0; i < n; i++)
            out[i] = linear_to_alaw(pcm[i]);
}

void codec_decode(const struct codec *c, const uint8_t *in, int16_t *pcm, size_t n)
{
    if (is_ulaw(c))
        for (size_t i = 0; i < n; i++)
            pcm[i] = ulaw_to_linear(in[i]);
    else
        for (size_t i = 0; i < n; i++)
            pcm[i] = alaw_to_linear(in[i]);
}
