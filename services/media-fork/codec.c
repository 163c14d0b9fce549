/* The codec table; see codec.h. */
#include "codec.h"

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
