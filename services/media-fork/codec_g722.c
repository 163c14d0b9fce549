/*
 * G.722 for legs (codec.h): spandsp at 64 kbit/s in its 8 kHz mode, so one byte per
 * 8 kHz sample each way (160 bytes per 20 ms), with no resampler. See codec.h for why.
 */
#include <spandsp.h>

#include "codec.h"
#include "codec_impl.h"
#include "voepy/err.h"

static void *enc_new(void)
{
    return g722_encode_init(NULL, 64000, G722_SAMPLE_RATE_8000);
}

static void enc_free(void *enc)
{
    g722_encode_free(enc);
}

static void *dec_new(void)
{
    return g722_decode_init(NULL, 64000, G722_SAMPLE_RATE_8000);
}

static void dec_free(void *dec)
{
    g722_decode_free(dec);
}

static int encode(void *enc, const int16_t *pcm, uint8_t *out, size_t cap)
{
    if (cap < CODEC_FRAME_SAMPLES)
        return VP_E_OVERFLOW;
    return g722_encode(enc, out, pcm, CODEC_FRAME_SAMPLES);
}

/* Extra bytes beyond cap are dropped: at one sample per byte they would not fit. */
static int decode(void *dec, const uint8_t *in, size_t len, int16_t *pcm, size_t cap)
{
    size_t n = len < cap ? len : cap;
    return n ? g722_decode(dec, pcm, in, (int)n) : 0;
}

const struct codec_ops codec__g722_ops = {enc_new, enc_free, dec_new, dec_free, encode, decode};
