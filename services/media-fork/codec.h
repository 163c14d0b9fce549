/*
 * codec.h - the audio codecs media-fork speaks, as a table.
 *
 * Foundation scope is G.711 (PCMU, PCMA) at 8 kHz: one byte per sample, so a 20 ms
 * frame is 160 bytes and advances the RTP timestamp by 160. Transcoding will add rows
 * (with encode/decode functions) here. Encoding and decoding use spandsp's G.711 (the
 * ITU reference tables); this file is the one place that includes spandsp for it.
 */
#ifndef MF_CODEC_H
#define MF_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct codec {
    const char *name;    /* SDP encoding name: "PCMU" */
    uint8_t static_pt;   /* RFC 3551 static payload type */
    unsigned clock_rate; /* Hz */
    uint8_t silence;     /* byte value of digital silence */
    size_t frame_bytes;  /* bytes in one 20 ms frame */
};

/* Case-insensitive lookup by SDP name; NULL when unsupported. */
const struct codec *codec_by_name(const char *name);
/* Lookup by static payload type (0 = PCMU, 8 = PCMA); NULL when unknown. */
const struct codec *codec_by_pt(unsigned pt);
/* A frame of silence for c, frame_bytes long (static storage). */
const uint8_t *codec_silence_frame(const struct codec *c);

/* 16-bit linear samples at 8 kHz <-> n G.711 bytes of codec c (one byte per sample). */
void codec_encode(const struct codec *c, const int16_t *pcm, uint8_t *out, size_t n);
void codec_decode(const struct codec *c, const uint8_t *in, int16_t *pcm, size_t n);

#endif
