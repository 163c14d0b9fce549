/*
 * stream_codec.h - the audio encodings of a WebSocket stream (stream.h), from and to the
 * taps' 16-bit 8 kHz frames.
 *
 *   PCMU, PCMA  G.711, a byte per sample: 160 bytes per 20 ms (spandsp's tables).
 *   L16         16-bit linear, big-endian (network order), 8 kHz: 320 bytes per 20 ms.
 *   G722        spandsp's G.722 encoder at 64 kbit/s in its 8 kHz input mode: the lower
 *               sub-band carries the call's 8 kHz audio and the upper one is empty, which
 *               is a standard G.722 bitstream (160 bytes per 20 ms) that any decoder turns
 *               into 16 kHz audio; media_format says 16000. Call audio has nothing above
 *               4 kHz, so upsampling first would only spend CPU.
 *   OPUS        libopus (VoIP application, mono, complexity 3, 24 kbit/s) at 16 kHz: the
 *               8 kHz frames are upsampled with libsamplerate (a resampler state per
 *               stream), one Opus packet per 20 ms (320 samples at 16 kHz).
 *
 * Decoding (audio a bidirectional client sends back) yields 8 kHz samples for every
 * encoding: G.722 from its lower sub-band, Opus decoded at 8 kHz by libopus itself.
 *
 * Encoders and decoders keep state per stream; nothing here allocates per frame. All of
 * it is cheap enough for the loop (an Opus frame at complexity 3 is some tens of
 * microseconds).
 */
#ifndef MF_STREAM_CODEC_H
#define MF_STREAM_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum stream_codec { STREAM_PCMU, STREAM_PCMA, STREAM_L16, STREAM_G722, STREAM_OPUS };

#define STREAM_FRAME_SAMPLES 160 /* 20 ms at 8 kHz: one tap frame */
#define STREAM_PAYLOAD_MAX   400 /* the largest encoded 20 ms frame (L16: 320) */
#define STREAM_DECODE_MAX    960 /* samples at 8 kHz a decoded payload may yield (120 ms) */

/* "PCMU" ... (exact, upper case); 0 or VP_E_INVALID_PARAMETER. */
int stream_codec_parse(const char *name, enum stream_codec *c);
const char *stream_codec_name(enum stream_codec c);
/* The sample rate of the decoded audio, for media_format: 8000, 16000 (G722, OPUS). */
unsigned stream_codec_rate(enum stream_codec c);

struct stream_enc;
/* 0, or VP_E_INVALID_PARAMETER / VP_E_UNAVAILABLE (the library refused). */
int stream_enc_create(struct stream_enc **ep, enum stream_codec c);
/*
 * Encode one frame of STREAM_FRAME_SAMPLES samples at 8 kHz into out (cap bytes, at
 * least STREAM_PAYLOAD_MAX). Returns the payload length, 0 when no packet is due yet (the
 * Opus resampler's first frame), or VP_E_IO.
 */
int stream_enc_frame(struct stream_enc *e, const int16_t *pcm, uint8_t *out, size_t cap);
void stream_enc_free(struct stream_enc *e);

struct stream_dec;
int stream_dec_create(struct stream_dec **dp, enum stream_codec c);
/*
 * Decode one payload of the stream's encoding into at most cap samples at 8 kHz. Returns
 * the number of samples, or VP_E_PARSE (an odd L16 length, a bad Opus packet).
 */
int stream_dec_payload(struct stream_dec *d, const uint8_t *in, size_t len, int16_t *pcm,
                       size_t cap);
void stream_dec_free(struct stream_dec *d);

#endif
