/* Decoding and resampling audio files; see audio_file.h. */
#include "audio_file.h"

#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "voepy/alloc.h"

#define READ_FRAMES 4096 /* frames read from libsndfile per call */

struct audio {
    unsigned refs;
    size_t n;
    int16_t samples[]; /* n samples at AUDIO_RATE */
};

const int16_t *audio_samples(const struct audio *a, size_t *n)
{
    *n = a->n;
    return a->samples;
}

size_t audio_bytes(const struct audio *a)
{
    return sizeof(*a) + a->n * sizeof(int16_t);
}

void audio_ref(struct audio *a)
{
    a->refs++;
}

void audio_unref(struct audio *a)
{
    if (a && --a->refs == 0)
        free(a);
}

static struct audio *audio_new(size_t n)
{
    struct audio *a = vp_malloc(sizeof(*a) + n * sizeof(int16_t));
    a->refs = 1;
    a->n = n;
    return a;
}

/* Round and clip to 16 bits: the sinc filter may overshoot full scale slightly. */
static int16_t to_s16(float v)
{
    long s = lrintf(v * 32767.0f);
    return (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
}

int audio_from_float(const float *in, size_t n, unsigned rate, struct audio **ap)
{
    if (n == 0 || rate == 0)
        return VP_E_INVALID_PARAMETER;
    double ratio = (double)AUDIO_RATE / rate;
    size_t cap = (size_t)ceil((double)n * ratio) + 1;
    float *out = vp_malloc(cap * sizeof(float));
    SRC_DATA d = {.data_in = in,
                  .data_out = out,
                  .input_frames = (long)n,
                  .output_frames = (long)cap,
                  .src_ratio = ratio};
    size_t got = n;
    if (rate == AUDIO_RATE)
        memcpy(out, in, n * sizeof(float));
    else if (src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1) == 0)
        got = (size_t)d.output_frames_gen;
    else
        got = 0;
    int err = got ? 0 : VP_E_INVALID_PARAMETER;
    if (!err) {
        struct audio *a = audio_new(got);
        for (size_t i = 0; i < got; i++)
            a->samples[i] = to_s16(out[i]);
        *ap = a;
    }
    free(out);
    return err;
}

/* Read all frames of f, averaged to mono, into a new buffer of *n floats (NULL on error). */
static float *read_mono(SNDFILE *f, const SF_INFO *info, size_t max_frames, size_t *n)
{
    size_t ch = (size_t)info->channels, cap = 0, len = 0;
    float *mono = NULL, *buf = vp_malloc(READ_FRAMES * ch * sizeof(float));
    sf_count_t got;
    while ((got = sf_readf_float(f, buf, READ_FRAMES)) > 0) {
        if (len + (size_t)got > max_frames) {
            free(mono);
            mono = NULL;
            len = 0;
            break;
        }
        if (len + (size_t)got > cap) {
            cap = (len + (size_t)got) * 2;
            mono = vp_realloc(mono, cap * sizeof(float));
        }
        for (sf_count_t i = 0; i < got; i++) {
            float s = 0;
            for (size_t c = 0; c < ch; c++)
                s += buf[(size_t)i * ch + c];
            mono[len++] = s / (float)ch;
        }
    }
    free(buf);
    *n = len;
    return mono;
}

int audio_file_load(const char *path, unsigned max_secs, struct audio **ap, struct vp_error *e)
{
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f)
        return vp_error_set(e, access(path, R_OK) ? VP_E_NOT_FOUND : VP_E_INVALID_PARAMETER,
                            "audio", "cannot read the audio file: %s", sf_strerror(NULL));
    int err = 0;
    size_t n = 0;
    float *mono = NULL;
    if (info.channels < 1 || info.samplerate < 1000 || info.samplerate > 384000)
        err = vp_error_set(e, VP_E_INVALID_PARAMETER, "audio", "unsupported channels or rate");
    else if (!(mono = read_mono(f, &info, (size_t)max_secs * (size_t)info.samplerate, &n)))
        err = vp_error_set(e, VP_E_INVALID_PARAMETER, "audio",
                           "the audio is empty, unreadable or longer than %u s", max_secs);
    else if (audio_from_float(mono, n, (unsigned)info.samplerate, ap))
        err = vp_error_set(e, VP_E_INVALID_PARAMETER, "audio", "the audio cannot be resampled");
    free(mono);
    sf_close(f);
    return err;
}
