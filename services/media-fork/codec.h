/*
 * codec.h - the audio codecs media-fork speaks on legs, as a table, and each leg's codec
 * state.
 *
 *   PCMU, PCMA  G.711 (spandsp's ITU tables), static payload types 0 and 8, clock 8000:
 *               one byte per sample, 160 bytes and 160 timestamp units per 20 ms.
 *   G722        static payload type 9, RTP clock 8000 (RFC 3551 4.5.2: the clock is
 *               8000 although the audio is 16 kHz), 64 kbit/s: 160 bytes per 20 ms.
 *               spandsp's G.722 in its 8 kHz mode (codec_g722.c): the lower sub-band
 *               carries the leg's 8 kHz audio and the upper one is empty, a standard
 *               bitstream any decoder plays at 16 kHz; decoding keeps the lower sub-band.
 *               No resampler is needed, since the leg's audio is 8 kHz anyway.
 *   OPUS        dynamic payload type (from `connect`), RTP clock 48000 (RFC 7587), so a
 *               20 ms frame advances the timestamp by 960. libopus (codec_opus.c) encodes
 *               and decodes at 8 kHz itself (narrowband; it resamples internally), mono,
 *               one variable-size packet per 20 ms.
 *
 * Inside media-fork a leg's audio is 16-bit linear at 8 kHz, CODEC_FRAME_SAMPLES per tick
 * (playback, taps, in-band DTMF, transcoding between bridged legs).
 *
 * G.722 and Opus keep state between frames, so each leg owns a struct codec_state,
 * made when it is connected with a codec and freed when it closes: one encoder (what the
 * leg sends: playback, silence, injected or transcoded audio) and one decoder per reader
 * of its streams (enum codec_dec), because decoding a packet twice with one ADPCM or Opus
 * state would corrupt it. Nothing here allocates per packet.
 */
#ifndef MF_CODEC_H
#define MF_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEC_FRAME_SAMPLES 160 /* 20 ms at 8 kHz: the leg's internal frame */
#define CODEC_PAYLOAD_MAX   480 /* the largest payload we encode (FRAME_MAX_BYTES) */

enum codec_id { CODEC_PCMU, CODEC_PCMA, CODEC_G722, CODEC_OPUS };

struct codec {
    const char *name; /* SDP encoding name: "PCMU" */
    enum codec_id id;
    int static_pt;       /* RFC 3551 static payload type; -1: dynamic (OPUS) */
    unsigned clock_rate; /* RTP clock in Hz: 8000, 48000 for OPUS */
    uint8_t silence;     /* G.711: byte value of digital silence */
    size_t frame_bytes;  /* bytes in one 20 ms frame; 0: variable (OPUS) */
    bool stateful;       /* needs a codec_state to encode/decode */
};

/* Case-insensitive lookup by SDP name; NULL when unsupported. */
const struct codec *codec_by_name(const char *name);
/* Lookup by static payload type (0 PCMU, 8 PCMA, 9 G722); NULL when unknown or dynamic. */
const struct codec *codec_by_pt(unsigned pt);
/* RTP timestamp units in one 20 ms frame: 160, or 960 for OPUS. */
uint32_t codec_frame_ts(const struct codec *c);
/* G.711 only: a frame of silence, frame_bytes long (static storage); NULL otherwise. */
const uint8_t *codec_silence_frame(const struct codec *c);

/* G.711 only (stateless): 16-bit linear at 8 kHz <-> n bytes, one per sample. */
void codec_encode(const struct codec *c, const int16_t *pcm, uint8_t *out, size_t n);
void codec_decode(const struct codec *c, const uint8_t *in, int16_t *pcm, size_t n);

/* The readers of a leg's streams, each with its own decoder state. */
enum codec_dec {
    CODEC_DEC_IN,    /* taps: what the far end sent */
    CODEC_DEC_OUT,   /* taps: what we sent */
    CODEC_DEC_DTMF,  /* in-band digit detection of a gather */
    CODEC_DEC_RELAY, /* transcoding what the far end sent for a bridged peer */
    CODEC_DECODERS
};

struct codec_state;
/* 0, or VP_E_UNAVAILABLE when the codec library refuses (never for G.711). */
int codec_state_create(struct codec_state **sp, const struct codec *c);
/* Frees the state and its encoder/decoders; NULL is fine. */
void codec_state_free(struct codec_state *s);
const struct codec *codec_state_codec(const struct codec_state *s);
/*
 * Encode one 20 ms frame (CODEC_FRAME_SAMPLES samples at 8 kHz) into out (cap bytes, at
 * least CODEC_PAYLOAD_MAX). Returns the payload length or VP_E_IO / VP_E_OVERFLOW.
 */
int codec_state_encode(struct codec_state *s, const int16_t *pcm, uint8_t *out, size_t cap);
/*
 * Decode one payload with reader d's decoder into at most cap samples at 8 kHz (bytes
 * beyond cap samples are ignored for G.711/G.722). Returns the sample count or VP_E_PARSE
 * (a bad Opus packet, or one longer than cap).
 */
int codec_state_decode(struct codec_state *s, enum codec_dec d, const uint8_t *in, size_t len,
                       int16_t *pcm, size_t cap);
/*
 * This tick's silence: the static frame for G.711, else zeros encoded by the leg's encoder
 * (a scratch buffer inside s, valid until the next call). NULL when encoding failed.
 */
const uint8_t *codec_state_silence(struct codec_state *s, size_t *len);

#endif
