/*
 * codec_impl.h - the stateful codecs behind codec.h's table (codec.c only): each is a set
 * of operations on an opaque encoder and decoder. Constructors return NULL when the
 * library refuses; encode/decode follow codec_state_encode/codec_state_decode.
 */
#ifndef MF_CODEC_IMPL_H
#define MF_CODEC_IMPL_H

#include <stddef.h>
#include <stdint.h>

struct codec_ops {
    void *(*enc_new)(void);
    void (*enc_free)(void *enc);
    void *(*dec_new)(void);
    void (*dec_free)(void *dec);
    /* CODEC_FRAME_SAMPLES samples at 8 kHz -> payload length, or a VP_E_* error. */
    int (*encode)(void *enc, const int16_t *pcm, uint8_t *out, size_t cap);
    /* payload -> samples at 8 kHz (at most cap), or a VP_E_* error. */
    int (*decode)(void *dec, const uint8_t *in, size_t len, int16_t *pcm, size_t cap);
};

extern const struct codec_ops codec__g722_ops; /* codec_g722.c */
extern const struct codec_ops codec__opus_ops; /* codec_opus.c */

#endif
