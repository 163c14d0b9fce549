/*
 * Opus for legs (codec.h): libopus at 8 kHz, mono, VoIP application. libopus resamples
 * internally, so the leg's 8 kHz frames go in and come out as they are; the RTP clock
 * stays 48000 (RFC 7587) whatever the internal rate. Complexity 3 and 20 kbit/s keep an
 * encode at tens of microseconds, cheap enough for the 20 ms tick.
 */
#include <opus.h>

#include "codec.h"
#include "codec_impl.h"
#include "voepy/err.h"

#define OPUS_RATE    8000
#define OPUS_BITRATE 20000

static void *enc_new(void)
{
    int err = 0;
    OpusEncoder *e = opus_encoder_create(OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
    if (!e || err != OPUS_OK)
        return NULL;
    opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(3));
    opus_encoder_ctl(e, OPUS_SET_BITRATE(OPUS_BITRATE));
    return e;
}

static void enc_free(void *enc)
{
    opus_encoder_destroy(enc);
}

static void *dec_new(void)
{
    int err = 0;
    OpusDecoder *d = opus_decoder_create(OPUS_RATE, 1, &err);
    return d && err == OPUS_OK ? d : NULL;
}

static void dec_free(void *dec)
{
    opus_decoder_destroy(dec);
}

static int encode(void *enc, const int16_t *pcm, uint8_t *out, size_t cap)
{
    opus_int32 n = opus_encode(enc, pcm, CODEC_FRAME_SAMPLES, out, (opus_int32)cap);
    return n < 0 ? VP_E_IO : (int)n;
}

/* A packet longer than cap samples (e.g. 120 ms into a 20 ms buffer) is refused. */
static int decode(void *dec, const uint8_t *in, size_t len, int16_t *pcm, size_t cap)
{
    int n = opus_decode(dec, in, (opus_int32)len, pcm, (int)cap, 0);
    return n < 0 ? VP_E_PARSE : n;
}

const struct codec_ops codec__opus_ops = {enc_new, enc_free, dec_new, dec_free, encode, decode};
