/*
 * The encodings of a WebSocket stream (stream_codec.h). G.711 goes through codec.c (the
 * leg's own tables), G.722 through spandsp, Opus through libopus with libsamplerate in
 * front of the encoder. This is the one stream file that includes spandsp.h.
 */
#include "stream_codec.h"

#include <opus.h>
#include <samplerate.h>
#include <spandsp.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "voepy/alloc.h"
#include "voepy/err.h"

#define OPUS_RATE    16000
#define OPUS_FRAME   320 /* 20 ms at 16 kHz */
#define OPUS_BITRATE 24000

static const char *const names[] = {"PCMU", "PCMA", "L16", "G722", "OPUS"};

int stream_codec_parse(const char *name, enum stream_codec *c)
{
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *c = (enum stream_codec)i;
            return 0;
        }
    }
    return VP_E_INVALID_PARAMETER;
}

const char *stream_codec_name(enum stream_codec c)
{
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

unsigned stream_codec_rate(enum stream_codec c)
{
    return c == STREAM_G722 || c == STREAM_OPUS ? 16000 : 8000;
}

/* ---- encoding ---- */

struct stream_enc {
    enum stream_codec codec;
    g722_encode_state_t *g722;
    OpusEncoder *opus;
    SRC_STATE *src;
    float in[STREAM_FRAME_SAMPLES];
    float up[OPUS_FRAME * 3]; /* resampled, waiting for a whole Opus frame */
    size_t nup;
    int16_t frame[OPUS_FRAME];
};

static int opus_enc_init(struct stream_enc *e)
{
    int err = 0;
    e->opus = opus_encoder_create(OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &err);
    if (!e->opus || err != OPUS_OK)
        return VP_E_UNAVAILABLE;
    opus_encoder_ctl(e->opus, OPUS_SET_COMPLEXITY(3));
    opus_encoder_ctl(e->opus, OPUS_SET_BITRATE(OPUS_BITRATE));
    e->src = src_new(SRC_SINC_FASTEST, 1, &err);
    return e->src ? 0 : VP_E_UNAVAILABLE;
}

int stream_enc_create(struct stream_enc **ep, enum stream_codec c)
{
    struct stream_enc *e = VP_NEW(e);
    int err = 0;
    e->codec = c;
    if (c == STREAM_G722) {
        e->g722 = g722_encode_init(NULL, 64000, G722_SAMPLE_RATE_8000);
        err = e->g722 ? 0 : VP_E_UNAVAILABLE;
    } else if (c == STREAM_OPUS) {
        err = opus_enc_init(e);
    } else if ((unsigned)c > STREAM_OPUS) {
        err = VP_E_INVALID_PARAMETER;
    }
    if (err) {
        stream_enc_free(e);
        e = NULL;
    }
    *ep = e;
    return err;
}

void stream_enc_free(struct stream_enc *e)
{
    if (!e)
        return;
    if (e->g722)
        g722_encode_free(e->g722);
    if (e->opus)
        opus_encoder_destroy(e->opus);
    if (e->src)
        src_delete(e->src);
    free(e);
}

/* Upsample the frame into e->up; encode one Opus packet when 20 ms at 16 kHz are there. */
static int encode_opus(struct stream_enc *e, const int16_t *pcm, uint8_t *out, size_t cap)
{
    src_short_to_float_array(pcm, e->in, STREAM_FRAME_SAMPLES);
    SRC_DATA d = {.data_in = e->in,
                  .input_frames = STREAM_FRAME_SAMPLES,
                  .data_out = e->up + e->nup,
                  .output_frames = (long)(sizeof(e->up) / sizeof(e->up[0]) - e->nup),
                  .src_ratio = (double)OPUS_RATE / 8000.0};
    if (src_process(e->src, &d) != 0)
        return VP_E_IO;
    e->nup += (size_t)d.output_frames_gen;
    if (e->nup < OPUS_FRAME)
        return 0;
    src_float_to_short_array(e->up, e->frame, OPUS_FRAME);
    e->nup -= OPUS_FRAME;
    memmove(e->up, e->up + OPUS_FRAME, e->nup * sizeof(e->up[0]));
    opus_int32 n = opus_encode(e->opus, e->frame, OPUS_FRAME, out, (opus_int32)cap);
    return n < 0 ? VP_E_IO : (int)n;
}

int stream_enc_frame(struct stream_enc *e, const int16_t *pcm, uint8_t *out, size_t cap)
{
    if (cap < STREAM_PAYLOAD_MAX)
        return VP_E_OVERFLOW;
    switch (e->codec) {
    case STREAM_PCMU:
    case STREAM_PCMA:
        codec_encode(codec_by_name(e->codec == STREAM_PCMU ? "PCMU" : "PCMA"), pcm, out,
                     STREAM_FRAME_SAMPLES);
        return STREAM_FRAME_SAMPLES;
    case STREAM_L16:
        for (size_t i = 0; i < STREAM_FRAME_SAMPLES; i++) {
            uint16_t v = (uint16_t)pcm[i];
            out[2 * i] = (uint8_t)(v >> 8);
            out[2 * i + 1] = (uint8_t)(v & 0xff);
        }
        return 2 * STREAM_FRAME_SAMPLES;
    case STREAM_G722:
        return g722_encode(e->g722, out, pcm, STREAM_FRAME_SAMPLES);
    case STREAM_OPUS:
        return encode_opus(e, pcm, out, cap);
    }
    return VP_E_INVALID_PARAMETER;
}

/* ---- decoding ---- */

struct stream_dec {
    enum stream_codec codec;
    g722_decode_state_t *g722;
    OpusDecoder *opus;
};

int stream_dec_create(struct stream_dec **dp, enum stream_codec c)
{
    struct stream_dec *d = VP_NEW(d);
    int err = 0;
    d->codec = c;
    if (c == STREAM_G722) {
        d->g722 = g722_decode_init(NULL, 64000, G722_SAMPLE_RATE_8000);
        err = d->g722 ? 0 : VP_E_UNAVAILABLE;
    } else if (c == STREAM_OPUS) {
        int oerr = 0;
        d->opus = opus_decoder_create(8000, 1, &oerr);
        err = d->opus && oerr == OPUS_OK ? 0 : VP_E_UNAVAILABLE;
    } else if ((unsigned)c > STREAM_OPUS) {
        err = VP_E_INVALID_PARAMETER;
    }
    if (err) {
        stream_dec_free(d);
        d = NULL;
    }
    *dp = d;
    return err;
}

void stream_dec_free(struct stream_dec *d)
{
    if (!d)
        return;
    if (d->g722)
        g722_decode_free(d->g722);
    if (d->opus)
        opus_decoder_destroy(d->opus);
    free(d);
}

int stream_dec_payload(struct stream_dec *d, const uint8_t *in, size_t len, int16_t *pcm,
                       size_t cap)
{
    switch (d->codec) {
    case STREAM_PCMU:
    case STREAM_PCMA:
    case STREAM_G722: {
        size_t n = len < cap ? len : cap;
        if (d->codec == STREAM_G722)
            return g722_decode(d->g722, pcm, in, (int)n);
        codec_decode(codec_by_name(d->codec == STREAM_PCMU ? "PCMU" : "PCMA"), in, pcm, n);
        return (int)n;
    }
    case STREAM_L16: {
        if (len % 2)
            return VP_E_PARSE;
        size_t n = len / 2 < cap ? len / 2 : cap;
        for (size_t i = 0; i < n; i++)
            pcm[i] = (int16_t)(uint16_t)((in[2 * i] << 8) | in[2 * i + 1]);
        return (int)n;
    }
    case STREAM_OPUS: {
        int n = opus_decode(d->opus, in, (opus_int32)len, pcm, (int)cap, 0);
        return n < 0 ? VP_E_PARSE : n;
    }
    }
    return VP_E_INVALID_PARAMETER;
}
