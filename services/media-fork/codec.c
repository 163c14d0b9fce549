/* The codec table and each leg's codec state; see codec.h. */
#include "codec.h"

#include <spandsp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec_impl.h"
#include "voepy/alloc.h"
#include "voepy/err.h"

#define G711_FRAME 160 /* 20 ms at 8000 Hz, 1 byte per sample */

static const struct codec codecs[] = {
    {"PCMU", CODEC_PCMU, 0, 8000, 0xFF, G711_FRAME, false}, /* mu-law: 0xFF encodes +0 */
    {"PCMA", CODEC_PCMA, 8, 8000, 0xD5, G711_FRAME, false}, /* A-law: 0xD5 encodes +0 */
    {"G722", CODEC_G722, 9, 8000, 0, G711_FRAME, true},     /* RFC 3551: clock 8000 */
    {"OPUS", CODEC_OPUS, -1, 48000, 0, 0, true},            /* RFC 7587: clock 48000 */
};

#define NCODECS 4
_Static_assert(sizeof(codecs) / sizeof(codecs[0]) == NCODECS, "table size");

/* One precomputed silence frame per G.711 codec, filled on first use. */
static uint8_t silence[2][G711_FRAME];
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
        if (codecs[i].static_pt >= 0 && (unsigned)codecs[i].static_pt == pt)
            return &codecs[i];
    return NULL;
}

uint32_t codec_frame_ts(const struct codec *c)
{
    return c->clock_rate / 50u; /* 20 ms */
}

const uint8_t *codec_silence_frame(const struct codec *c)
{
    if (c->stateful)
        return NULL;
    if (!silence_ready) {
        for (size_t i = 0; i < 2; i++)
            memset(silence[i], codecs[i].silence, G711_FRAME);
        silence_ready = 1;
    }
    return silence[c->id];
}

void codec_encode(const struct codec *c, const int16_t *pcm, uint8_t *out, size_t n)
{
    if (c->id == CODEC_PCMU)
        for (size_t i = 0; i < n; i++)
            out[i] = linear_to_ulaw(pcm[i]);
    else
        for (size_t i = 0; i < n; i++)
            out[i] = linear_to_alaw(pcm[i]);
}

void codec_decode(const struct codec *c, const uint8_t *in, int16_t *pcm, size_t n)
{
    if (c->id == CODEC_PCMU)
        for (size_t i = 0; i < n; i++)
            pcm[i] = ulaw_to_linear(in[i]);
    else
        for (size_t i = 0; i < n; i++)
            pcm[i] = alaw_to_linear(in[i]);
}

/* ---- per-leg state ---- */

struct codec_state {
    const struct codec *codec;
    const struct codec_ops *ops; /* NULL for G.711 */
    void *enc;
    void *dec[CODEC_DECODERS];
    uint8_t scratch[CODEC_PAYLOAD_MAX]; /* encoded silence */
    int16_t zeros[CODEC_FRAME_SAMPLES];
};

int codec_state_create(struct codec_state **sp, const struct codec *c)
{
    struct codec_state *s = VP_NEW(s);
    int err = 0;
    s->codec = c;
    s->ops = c->id == CODEC_G722 ? &codec__g722_ops : c->id == CODEC_OPUS ? &codec__opus_ops : NULL;
    if (s->ops) {
        s->enc = s->ops->enc_new();
        err = s->enc ? 0 : VP_E_UNAVAILABLE;
        for (int i = 0; !err && i < CODEC_DECODERS; i++) {
            s->dec[i] = s->ops->dec_new();
            err = s->dec[i] ? 0 : VP_E_UNAVAILABLE;
        }
    }
    if (err) {
        codec_state_free(s);
        s = NULL;
    }
    *sp = s;
    return err;
}

void codec_state_free(struct codec_state *s)
{
    if (!s)
        return;
    if (s->ops && s->enc)
        s->ops->enc_free(s->enc);
    for (int i = 0; s->ops && i < CODEC_DECODERS; i++)
        if (s->dec[i])
            s->ops->dec_free(s->dec[i]);
    free(s);
}

const struct codec *codec_state_codec(const struct codec_state *s)
{
    return s->codec;
}

int codec_state_encode(struct codec_state *s, const int16_t *pcm, uint8_t *out, size_t cap)
{
    if (s->ops)
        return s->ops->encode(s->enc, pcm, out, cap);
    if (cap < CODEC_FRAME_SAMPLES)
        return VP_E_OVERFLOW;
    codec_encode(s->codec, pcm, out, CODEC_FRAME_SAMPLES);
    return CODEC_FRAME_SAMPLES;
}

int codec_state_decode(struct codec_state *s, enum codec_dec d, const uint8_t *in, size_t len,
                       int16_t *pcm, size_t cap)
{
    if ((unsigned)d >= CODEC_DECODERS)
        return VP_E_INVALID_PARAMETER;
    if (s->ops)
        return s->ops->decode(s->dec[d], in, len, pcm, cap);
    size_t n = len < cap ? len : cap;
    codec_decode(s->codec, in, pcm, n);
    return (int)n;
}

const uint8_t *codec_state_silence(struct codec_state *s, size_t *len)
{
    if (!s->ops) {
        *len = s->codec->frame_bytes;
        return codec_silence_frame(s->codec);
    }
    int n = s->ops->encode(s->enc, s->zeros, s->scratch, sizeof(s->scratch));
    *len = n > 0 ? (size_t)n : 0;
    return n > 0 ? s->scratch : NULL;
}
