/*
 * The leg codec table (codec.h): lookups, RTP clock per frame, per-leg state with round
 * trips of a tone through each codec (bounded error), payload sizes, encoded silence,
 * isolation between two legs' states and between a leg's readers, and refused input.
 */
#include "vp_test.h"

#include <math.h>
#include <string.h>

#include "codec.h"
#include "command.h"
#include "voepy/err.h"

#define FRAMES 50 /* one second */
#define N      (FRAMES * CODEC_FRAME_SAMPLES)

static int16_t tone[N];

/* A 440 Hz tone at about -12 dBFS. */
static void make_tone(void)
{
    for (size_t i = 0; i < N; i++)
        tone[i] = (int16_t)(8000.0 * sin(2.0 * M_PI * 440.0 * (double)i / 8000.0));
}

/* Power of pcm at f Hz (Goertzel), normalised by length. */
static double power_at(const int16_t *pcm, size_t n, double f)
{
    double k = 2.0 * cos(2.0 * M_PI * f / 8000.0), s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s0 = pcm[i] + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / ((double)n * (double)n);
}

static double rms(const int16_t *pcm, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)pcm[i] * pcm[i];
    return sqrt(sum / (double)n);
}

/* The best SNR (dB) of out against the tone over lags 0..80 samples (codec delay). */
static double snr_db(const int16_t *out, size_t from, size_t n)
{
    double best = -100;
    for (size_t lag = 0; lag <= 80; lag++) {
        double sig = 0, err = 0;
        for (size_t i = from; i < from + n; i++) {
            double d = (double)out[i + lag] - tone[i];
            sig += (double)tone[i] * tone[i];
            err += d * d;
        }
        double db = 10.0 * log10(sig / (err + 1e-9));
        if (db > best)
            best = db;
    }
    return best;
}

/* Encode the tone frame by frame with s and decode it with reader CODEC_DEC_IN. */
static void round_trip(struct codec_state *s, int16_t *out, size_t *min_len, size_t *max_len)
{
    uint8_t pay[CODEC_PAYLOAD_MAX];
    *min_len = SIZE_MAX;
    *max_len = 0;
    for (size_t f = 0; f < FRAMES; f++) {
        int len = codec_state_encode(s, tone + f * CODEC_FRAME_SAMPLES, pay, sizeof(pay));
        assert_true(len > 0);
        *min_len = (size_t)len < *min_len ? (size_t)len : *min_len;
        *max_len = (size_t)len > *max_len ? (size_t)len : *max_len;
        int n = codec_state_decode(s, CODEC_DEC_IN, pay, (size_t)len, out + f * CODEC_FRAME_SAMPLES,
                                   CODEC_FRAME_SAMPLES);
        assert_int_equal(n, CODEC_FRAME_SAMPLES);
    }
}

static void test_table(void **state)
{
    (void)state;
    const struct codec *u = codec_by_name("PCMU"), *a = codec_by_name("PCMA");
    const struct codec *g = codec_by_name("g722"), *o = codec_by_name("opus");
    assert_non_null(u);
    assert_non_null(a);
    assert_non_null(g);
    assert_non_null(o);
    assert_ptr_equal(codec_by_pt(0), u);
    assert_ptr_equal(codec_by_pt(8), a);
    assert_ptr_equal(codec_by_pt(9), g);
    for (unsigned pt = 96; pt < 128; pt++)
        assert_null(codec_by_pt(pt)); /* Opus is dynamic: never found by payload type */
    assert_null(codec_by_pt(18));
    assert_null(codec_by_name("G729"));
    assert_int_equal(o->static_pt, -1);
    assert_int_equal(g->clock_rate, 8000); /* RFC 3551: 8000 although the audio is 16 kHz */
    assert_int_equal(o->clock_rate, 48000);
    assert_int_equal(codec_frame_ts(u), 160);
    assert_int_equal(codec_frame_ts(g), 160);
    assert_int_equal(codec_frame_ts(o), 960);
    assert_int_equal(g->frame_bytes, 160);
    assert_true(g->stateful && o->stateful && !u->stateful && !a->stateful);
    assert_null(codec_silence_frame(g));
}

/* Each codec carries the tone: bounded waveform error where the codec keeps the
 * waveform, and for all of them the tone's level and frequency. */
static void test_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t bytes; /* 0: variable */
        double min_snr;
    } cases[] = {{"PCMU", 160, 30}, {"PCMA", 160, 30}, {"G722", 160, 40}, {"OPUS", 0, 15}};
    static int16_t out[N + 100];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct codec_state *s = NULL;
        assert_int_equal(codec_state_create(&s, codec_by_name(cases[c].name)), 0);
        assert_ptr_equal(codec_state_codec(s), codec_by_name(cases[c].name));
        memset(out, 0, sizeof(out));
        size_t lo, hi;
        round_trip(s, out, &lo, &hi);
        if (cases[c].bytes) {
            assert_int_equal(lo, cases[c].bytes);
            assert_int_equal(hi, cases[c].bytes);
        } else {
            assert_true(lo >= 2 && hi <= 120); /* ~20 kbit/s: about 50 bytes a frame */
        }
        const int16_t *tail = out + N / 2; /* past any codec start-up */
        double in_rms = rms(tone, N / 2), out_rms = rms(tail, N / 2);
        print_message("%s: %zu..%zu bytes, rms %.0f -> %.0f, snr %.1f dB\n", cases[c].name, lo, hi,
                      in_rms, out_rms, snr_db(out, N / 2, N / 2 - 100));
        assert_true(out_rms > in_rms * 0.5 && out_rms < in_rms * 1.5);
        assert_true(power_at(tail, N / 2, 440) > 50 * power_at(tail, N / 2, 1300));
        assert_true(snr_db(out, N / 2, N / 2 - 100) >= cases[c].min_snr);
        codec_state_free(s);
    }
}

/* Silence mode: G.711's constant frame; G.722 and Opus encode zeros, which decode quiet. */
static void test_silence(void **state)
{
    (void)state;
    const char *names[] = {"PCMU", "PCMA", "G722", "OPUS"};
    for (size_t c = 0; c < 4; c++) {
        struct codec_state *s = NULL;
        assert_int_equal(codec_state_create(&s, codec_by_name(names[c])), 0);
        int16_t pcm[CODEC_FRAME_SAMPLES];
        for (int f = 0; f < 10; f++) {
            size_t len = 0;
            const uint8_t *p = codec_state_silence(s, &len);
            assert_non_null(p);
            assert_true(len > 0 && len <= CODEC_PAYLOAD_MAX);
            if (c < 3)
                assert_int_equal(len, 160);
            int n = codec_state_decode(s, CODEC_DEC_OUT, p, len, pcm, CODEC_FRAME_SAMPLES);
            assert_int_equal(n, CODEC_FRAME_SAMPLES);
            if (f >= 5)
                assert_true(rms(pcm, CODEC_FRAME_SAMPLES) < 50);
        }
        codec_state_free(s);
    }
}

/* Two legs' states share nothing: after leg a encoded the tone, leg b still encodes
 * exactly as a fresh state does; and a leg's readers are independent of each other. */
static void test_isolation(void **state)
{
    (void)state;
    const char *names[] = {"G722", "OPUS"};
    for (size_t c = 0; c < 2; c++) {
        const struct codec *codec = codec_by_name(names[c]);
        struct codec_state *a = NULL, *b = NULL, *fresh = NULL;
        assert_int_equal(codec_state_create(&a, codec), 0);
        assert_int_equal(codec_state_create(&b, codec), 0);
        assert_int_equal(codec_state_create(&fresh, codec), 0);
        uint8_t pa[CODEC_PAYLOAD_MAX], pb[CODEC_PAYLOAD_MAX], pf[CODEC_PAYLOAD_MAX];
        int16_t da[CODEC_FRAME_SAMPLES], db[CODEC_FRAME_SAMPLES];
        for (size_t f = 0; f < 10; f++) {
            int la = codec_state_encode(a, tone + f * CODEC_FRAME_SAMPLES, pa, sizeof(pa));
            assert_true(la > 0);
            /* a's own DEC_IN hears its stream; its other readers must not move */
            assert_int_equal(codec_state_decode(a, CODEC_DEC_IN, pa, (size_t)la, da, 160), 160);
        }
        for (size_t f = 10; f < 20; f++) {
            const int16_t *pcm = tone + f * CODEC_FRAME_SAMPLES;
            int lb = codec_state_encode(b, pcm, pb, sizeof(pb));
            int lf = codec_state_encode(fresh, pcm, pf, sizeof(pf));
            assert_int_equal(lb, lf);
            assert_memory_equal(pb, pf, (size_t)lb);
            /* a's DEC_RELAY (untouched by its DEC_IN) decodes like a fresh decoder */
            assert_int_equal(codec_state_decode(a, CODEC_DEC_RELAY, pb, (size_t)lb, da, 160), 160);
            assert_int_equal(codec_state_decode(fresh, CODEC_DEC_IN, pb, (size_t)lb, db, 160), 160);
            assert_memory_equal(da, db, sizeof(da));
        }
        codec_state_free(a);
        codec_state_free(b);
        codec_state_free(fresh);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    struct codec_state *o = NULL, *g = NULL;
    assert_int_equal(codec_state_create(&o, codec_by_name("OPUS")), 0);
    assert_int_equal(codec_state_create(&g, codec_by_name("G722")), 0);
    int16_t pcm[CODEC_FRAME_SAMPLES];
    uint8_t small[40];
    /* a code-3 TOC with a frame count of 0 is not an Opus packet (RFC 6716 3.2.5) */
    static const uint8_t bad[] = {0x03, 0x00};
    assert_int_equal(codec_state_decode(o, CODEC_DEC_IN, bad, sizeof(bad), pcm, 160), VP_E_PARSE);
    /* a 20 ms packet into room for 10 ms */
    uint8_t pay[CODEC_PAYLOAD_MAX];
    int len = codec_state_encode(o, tone, pay, sizeof(pay));
    assert_true(len > 0);
    assert_int_equal(codec_state_decode(o, CODEC_DEC_OUT, pay, (size_t)len, pcm, 80), VP_E_PARSE);
    assert_int_equal(
        codec_state_decode(o, (enum codec_dec)CODEC_DECODERS, pay, (size_t)len, pcm, 160),
        VP_E_INVALID_PARAMETER);
    assert_int_equal(codec_state_encode(g, tone, small, sizeof(small)), VP_E_OVERFLOW);
    /* G.722 bytes beyond the room are dropped, not written past it */
    assert_int_equal(codec_state_decode(g, CODEC_DEC_IN, pay, 100, pcm, 60), 60);
    assert_int_equal(codec_state_decode(g, CODEC_DEC_IN, pay, 0, pcm, 60), 0);
    codec_state_free(o);
    codec_state_free(g);
    codec_state_free(NULL);
}

static int connect_with(const char *fields, struct mf_command *c, struct vp_error *e)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"op\":\"connect\",\"leg_id\":\"l1\",\"remote_ip\":\"127.0.0.1\","
             "\"remote_port\":6000%s}",
             fields);
    memset(e, 0, sizeof(*e));
    return command_parse(body, strlen(body), c, e);
}

/* connect names the new codecs: G722 by name or static type 9, OPUS only with the
 * dynamic payload type the SDP gave it. */
static void test_connect_codecs(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    assert_int_equal(connect_with(",\"payload_type\":9", &c, &e), 0);
    assert_ptr_equal(c.remote.codec, codec_by_name("G722"));
    assert_int_equal(connect_with(",\"codec\":\"G722\"", &c, &e), 0);
    assert_int_equal(c.remote.pt, 9);
    assert_int_equal(connect_with(",\"codec\":\"OPUS\",\"payload_type\":111", &c, &e), 0);
    assert_ptr_equal(c.remote.codec, codec_by_name("OPUS"));
    assert_int_equal(c.remote.pt, 111);
    assert_int_equal(connect_with(",\"codec\":\"opus\"", &c, &e), VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "payload_type");
    assert_int_equal(connect_with(",\"payload_type\":111", &c, &e), VP_E_INVALID_PARAMETER);
    assert_int_equal(connect_with(",\"codec\":\"G729\"", &c, &e), VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "codec");
}

int main(void)
{
    make_tone();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),     cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_silence),   cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_connect_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
