/* Energy voice activity detection; see vad.h. */
#include "vad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"

struct vad {
    unsigned rate;
    double threshold; /* mean square of a sample, on int16 scale */
    size_t start_n, hangover_n, max_n, min_speech_n;
    /* Preroll ring: the last ring_cap samples fed while no phrase is in progress. */
    int16_t *ring;
    size_t ring_cap, ring_len, ring_pos;
    /* The phrase being built: preroll + speech + trailing quiet. */
    int16_t *buf;
    size_t buf_cap, len;
    bool speech;
    size_t loud_run;    /* consecutive loud samples (before the start) */
    size_t quiet_run;   /* consecutive quiet samples (in a phrase) */
    size_t speech_n;    /* loud samples in the phrase */
    uint64_t fed;       /* samples fed */
    uint64_t start_at;  /* sample index where the speech started */
    uint64_t last_loud; /* sample index just after the last loud frame */
    uint64_t buf_start; /* sample index of buf[0] */
};

static size_t ms_n(unsigned rate, unsigned ms, unsigned def)
{
    return (size_t)rate * (ms ? ms : def) / 1000;
}

int vad_create(struct vad **vp, const struct vad_opts *o)
{
    struct vad *v = VP_NEW(v);
    v->rate = o->rate ? o->rate : 8000;
    int db = o->threshold_dbfs ? o->threshold_dbfs : -40;
    v->threshold = pow(10.0, db / 10.0) * 32768.0 * 32768.0;
    v->start_n = ms_n(v->rate, o->start_ms, 40);
    v->hangover_n = ms_n(v->rate, o->hangover_ms, 600);
    v->max_n = ms_n(v->rate, o->max_phrase_ms, 15000);
    v->min_speech_n = ms_n(v->rate, o->min_speech_ms, 100);
    v->ring_cap = ms_n(v->rate, o->preroll_ms, 200) + v->start_n;
    v->ring = vp_calloc(v->ring_cap, sizeof(int16_t));
    v->buf_cap = v->ring_cap + v->max_n + v->hangover_n;
    v->buf = vp_malloc(v->buf_cap * sizeof(int16_t));
    *vp = v;
    return 0;
}

void vad_destroy(struct vad *v)
{
    if (!v)
        return;
    free(v->ring);
    free(v->buf);
    free(v);
}

static bool loud(const struct vad *v, const int16_t *s, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    return n && sum / (double)n > v->threshold;
}

static void ring_put(struct vad *v, const int16_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v->ring[v->ring_pos] = s[i];
        v->ring_pos = (v->ring_pos + 1) % v->ring_cap;
    }
    v->ring_len = v->ring_len + n > v->ring_cap ? v->ring_cap : v->ring_len + n;
}

/* The phrase starts: the ring (preroll and the loud start) goes first. */
static void phrase_begin(struct vad *v)
{
    size_t first = (v->ring_pos + v->ring_cap - v->ring_len) % v->ring_cap;
    for (size_t i = 0; i < v->ring_len; i++)
        v->buf[i] = v->ring[(first + i) % v->ring_cap];
    v->len = v->ring_len;
    v->buf_start = v->fed - v->ring_len;
    v->ring_len = v->ring_pos = 0;
    v->speech = true;
    v->speech_n = v->loud_run;
    v->start_at = v->fed - v->loud_run;
    v->last_loud = v->fed;
    v->quiet_run = 0;
}

static void append(struct vad *v, const int16_t *s, size_t n)
{
    size_t room = v->buf_cap - v->len;
    size_t k = n < room ? n : room;
    memcpy(v->buf + v->len, s, k * sizeof(int16_t));
    v->len += k;
}

/* End the phrase; true (p filled) when it had enough speech to be one. */
static bool phrase_end(struct vad *v, struct vad_phrase *p)
{
    v->speech = false;
    v->loud_run = 0;
    if (v->speech_n < v->min_speech_n)
        return false;
    p->samples = v->buf;
    p->n = v->len;
    p->start_ms = v->start_at * 1000 / v->rate;
    p->end_ms = v->last_loud * 1000 / v->rate;
    p->buf_start_ms = v->buf_start * 1000 / v->rate;
    return true;
}

static bool feed_idle(struct vad *v, const int16_t *s, size_t n, bool is_loud)
{
    ring_put(v, s, n);
    v->loud_run = is_loud ? v->loud_run + n : 0;
    if (v->loud_run >= v->start_n)
        phrase_begin(v);
    return false;
}

bool vad_feed(struct vad *v, const int16_t *s, size_t n, struct vad_phrase *p)
{
    bool is_loud = loud(v, s, n);
    v->fed += n;
    if (!v->speech)
        return feed_idle(v, s, n, is_loud);
    append(v, s, n);
    if (is_loud) {
        v->speech_n += n;
        v->quiet_run = 0;
        v->last_loud = v->fed;
    } else {
        v->quiet_run += n;
    }
    if (v->quiet_run >= v->hangover_n)
        return phrase_end(v, p);
    if (v->fed - v->start_at >= v->max_n) {
        bool got = phrase_end(v, p);
        v->loud_run = is_loud ? v->start_n : 0; /* still talking: the next phrase goes on */
        if (is_loud) {
            v->speech = true;
            v->start_at = v->last_loud = v->buf_start = v->fed;
            v->speech_n = v->quiet_run = 0;
            v->len = 0; /* the caller copies p->samples before the next feed: see vad.h */
        }
        return got;
    }
    return false;
}

bool vad_flush(struct vad *v, struct vad_phrase *p)
{
    if (!v->speech)
        return false;
    return phrase_end(v, p);
}

bool vad_in_speech(const struct vad *v)
{
    return v->speech;
}

uint64_t vad_fed_ms(const struct vad *v)
{
    return v->fed * 1000 / v->rate;
}
