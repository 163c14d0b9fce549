/*
 * Recordings (recorder.h, storage.h): a real leg on loopback with a far end (rtp_peer.h)
 * sending a known tone, the leg ticked by hand, files written by the thread pool into a
 * directory storage. The files are read back with libsndfile: length, channel count and
 * content (the far end's channel correlates with the tone it sent; the beep is heard on
 * the other). Also: max_length, the leg's release, MP3, bad commands and keys.
 */
#include "vp_test.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "command.h"
#include "leg.h"
#include "media_ctx.h"
#include "port_pool.h"
#include "recorder.h"
#include "rtp_peer.h"
#include "storage.h"
#include "udp_pair.h"

#define TENANT "voepy_tenant_rt"
#define CALL   "voepy_call_rt"

struct fixture {
    uv_loop_t loop;
    struct media_ctx ctx;
    struct peer peer;
    struct leg *leg;
    struct storage *storage;
    struct recorder *rec;
    char dir[64];
    uint16_t seq;
    long pos; /* samples of the tone sent so far */
    /* the last outcome */
    bool done;
    int ndone;
    bool completed;
    char error[64], key[STORAGE_KEY_MAX + 1], reply_to[STREAM_MAX];
    uint64_t duration_ms, size;
};

static void done_cb(const struct rec_result *r, void *arg)
{
    struct fixture *fx = arg;
    fx->done = true;
    fx->ndone++;
    fx->completed = r->completed;
    snprintf(fx->error, sizeof(fx->error), "%s", r->error ? r->error : "");
    snprintf(fx->key, sizeof(fx->key), "%s", r->storage_key);
    snprintf(fx->reply_to, sizeof(fx->reply_to), "%s", r->reply_to);
    fx->duration_ms = r->duration_ms;
    fx->size = r->size_bytes;
    assert_string_equal(r->call_id, CALL);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    fx->ctx.loop = &fx->loop;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &fx->ctx.media_addr), 0);
    assert_int_equal(port_pool_create(&fx->ctx.ports, 43000, 43999), 0);
    media_metrics_init(&fx->ctx.metrics);
    peer_open(&fx->peer, &fx->loop);
    assert_int_equal(leg_open(&fx->leg, &fx->ctx, "voepy_leg_rt", CALL, "voepy:cc:n1"), 0);
    struct leg_remote r = {.codec = codec_by_name("PCMU"),
                           .pt = 0,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = 101};
    assert_int_equal(udp_addr_parse("127.0.0.1", fx->peer.port, &r.addr), 0);
    leg_connect(fx->leg, &r);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/vp-rec-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(storage_dir_create(&fx->storage, fx->dir), 0);
    assert_int_equal(recorder_create(&fx->rec, &fx->loop, fx->storage), 0);
    recorder_on_done(fx->rec, done_cb, fx);
    *state = fx;
    return 0;
}

static void set_flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->leg)
        leg_close(fx->leg);
    if (fx->rec) {
        bool closed = false;
        recorder_close(fx->rec, set_flag_cb, &closed);
        assert_true(vp_test_run_until(&fx->loop, &closed, 5000));
    }
    uv_close((uv_handle_t *)&fx->peer.udp, NULL);
    vp_test_loop_done(&fx->loop);
    port_pool_destroy(fx->ctx.ports);
    storage_destroy(fx->storage);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static void settle(struct fixture *fx)
{
    bool never = false;
    vp_test_run_until(&fx->loop, &never, 10);
}

static double tone(long i)
{
    return 8000.0 * sin(2.0 * M_PI * 440.0 * (double)i / 8000.0);
}

/* frames ticks, each with a 20 ms packet of the tone from the far end (4 per batch). */
static void run_ticks(struct fixture *fx, int frames)
{
    const struct codec *pcmu = codec_by_name("PCMU");
    for (int done = 0; done < frames; done += 4) {
        int batch = frames - done < 4 ? frames - done : 4;
        for (int k = 0; k < batch; k++) {
            uint8_t p[RTP_HEADER_LEN + 160];
            int16_t pcm[160];
            for (int i = 0; i < 160; i++)
                pcm[i] = (int16_t)tone(fx->pos++);
            rtp_write_header(p, false, 0, fx->seq, (uint32_t)fx->seq * 160u, 0x4321);
            fx->seq++;
            codec_encode(pcmu, pcm, p + RTP_HEADER_LEN, 160);
            peer_send(&fx->peer, leg_port(fx->leg), p, sizeof(p));
        }
        settle(fx);
        for (int k = 0; k < batch; k++)
            leg_tick(fx->leg);
    }
}

static void wait_done(struct fixture *fx)
{
    assert_true(vp_test_run_until(&fx->loop, &fx->done, 5000));
}

static struct rec_params params(const char *id, bool dual, enum rec_format f, unsigned max,
                                bool beep)
{
    struct rec_params p = {.dual = dual, .format = f, .max_secs = max, .play_beep = beep};
    snprintf(p.recording_id, sizeof(p.recording_id), "%s", id);
    return p;
}

/* Normalised correlation of channel ch of buf (channels wide) with the tone from 0. */
static double correlate(const int16_t *buf, long frames, int channels, int ch)
{
    double xy = 0, xx = 0, yy = 0;
    for (long i = 0; i < frames; i++) {
        double x = buf[i * channels + ch], y = tone(i);
        xy += x * y;
        xx += x * x;
        yy += y * y;
    }
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
}

static int16_t *read_file(struct fixture *fx, SF_INFO *info)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", fx->dir, fx->key);
    memset(info, 0, sizeof(*info));
    SNDFILE *sf = sf_open(path, SFM_READ, info);
    assert_non_null(sf);
    int16_t *buf = calloc((size_t)(info->frames * info->channels) + 1, sizeof(*buf));
    assert_int_equal(sf_readf_short(sf, buf, info->frames), info->frames);
    sf_close(sf);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, fx->size);
    return buf;
}

static void test_dual_wav_content(void **state)
{
    struct fixture *fx = *state;
    peer_reset(&fx->peer);
    struct rec_params p = params("voepy_rec_dual", true, REC_WAV, 0, false);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, ""), 0);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, ""), 0); /* redelivered */
    assert_int_equal(recorder_count(fx->rec), 1);
    run_ticks(fx, 110); /* 2.2 s: two full chunks and a part */
    assert_int_equal(recorder_stop(fx->rec, "voepy_leg_rt", "voepy_rec_other"), 0);
    assert_int_equal(recorder_stop(fx->rec, "voepy_leg_rt", NULL), 1);
    run_ticks(fx, 5); /* stopped: not recorded */
    wait_done(fx);
    assert_true(fx->completed);
    assert_int_equal(fx->ndone, 1);
    assert_string_equal(fx->key, TENANT "/" CALL "/voepy_rec_dual.wav");
    assert_string_equal(fx->reply_to, "voepy:cc:n1"); /* the leg's allocate's */
    assert_int_equal(fx->duration_ms, 2200);
    SF_INFO info;
    int16_t *buf = read_file(fx, &info);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.samplerate, 8000);
    assert_int_equal(info.frames, 110 * 160);
    assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    assert_true(correlate(buf, info.frames, 2, 0) > 0.99); /* channel 1: the far end */
    long loud = 0;
    for (long i = 0; i < info.frames; i++)
        loud += abs(buf[i * 2 + 1]) > 64;
    assert_int_equal(loud, 0); /* channel 2: what we sent, PCMU silence */
    free(buf);
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/%s/%s/.voepy_rec_dual.wav.part", fx->dir, TENANT, CALL);
    struct stat st;
    assert_int_not_equal(stat(tmp, &st), 0); /* the temporary name is gone */
}

static void test_single_max_length_beep(void **state)
{
    struct fixture *fx = *state;
    struct rec_params p = params("voepy_rec_single", false, REC_WAV, 1, true);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, "voepy:cc:other"), 0);
    run_ticks(fx, 60); /* max_length 1 s: 50 frames */
    wait_done(fx);
    assert_true(fx->completed);
    assert_string_equal(fx->reply_to, "voepy:cc:other");
    assert_int_equal(fx->duration_ms, 1000);
    SF_INFO info;
    int16_t *buf = read_file(fx, &info);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.frames, 50 * 160);
    /* Mixed: the tone plus the beep for the first 400 ms, the tone alone after it. */
    double e_beep = 0, e_after = 0;
    for (long i = 160; i < 19 * 160; i++)
        e_beep += (double)buf[i] * buf[i];
    for (long i = 30 * 160; i < 48 * 160; i++)
        e_after += (double)buf[i] * buf[i];
    assert_true(e_beep > 2.0 * e_after); /* the beep (half scale) is louder than the tone */
    free(buf);
    assert_int_equal(recorder_count(fx->rec), 0);
}

static void test_release_finishes_mp3(void **state)
{
    struct fixture *fx = *state;
    if (!recorder_format_supported(REC_MP3, false)) {
        struct rec_params p = params("voepy_rec_mp3", false, REC_MP3, 0, false);
        assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, ""), VP_E_NOT_IMPLEMENTED);
        return;
    }
    struct rec_params p = params("voepy_rec_mp3", false, REC_MP3, 0, false);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, ""), 0);
    run_ticks(fx, 100);
    leg_close(fx->leg); /* the release: the file is still finished */
    fx->leg = NULL;     /* freed by the loop */
    wait_done(fx);
    assert_true(fx->completed);
    assert_int_equal(fx->duration_ms, 2000);
    assert_string_equal(fx->key, TENANT "/" CALL "/voepy_rec_mp3.mp3");
    SF_INFO info;
    int16_t *buf = read_file(fx, &info);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.format & SF_FORMAT_TYPEMASK, SF_FORMAT_MPEG);
    assert_true(info.frames >= 15000 && info.frames <= 18000); /* 16000 plus coder padding */
    free(buf);
}

/* Two recordings of one leg at once; closing the recorder finishes and reports both. */
static void test_two_then_close(void **state)
{
    struct fixture *fx = *state;
    struct rec_params a = params("voepy_rec_one", false, REC_WAV, 0, false);
    struct rec_params b = params("voepy_rec_two", true, REC_WAV, 0, false);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &a, ""), 0);
    run_ticks(fx, 20);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &b, ""), 0);
    run_ticks(fx, 30);
    assert_int_equal(recorder_count(fx->rec), 2);
    bool closed = false;
    recorder_close(fx->rec, set_flag_cb, &closed);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &a, ""), VP_E_CANCELED);
    assert_true(vp_test_run_until(&fx->loop, &closed, 5000));
    fx->rec = NULL; /* freed with its last file */
    assert_int_equal(fx->ndone, 2);
    assert_true(fx->completed);
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s/%s/voepy_rec_one.wav", fx->dir, TENANT, CALL);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 44 + 50 * 160 * 2); /* the header and 1 s mono */
    snprintf(path, sizeof(path), "%s/%s/%s/voepy_rec_two.wav", fx->dir, TENANT, CALL);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 44 + 30 * 160 * 4); /* 0.6 s stereo */
}

static void test_bad_input(void **state)
{
    struct fixture *fx = *state;
    struct rec_params p = params("../x", false, REC_WAV, 0, false);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, ""), VP_E_INVALID_PARAMETER);
    p = params("voepy_rec_a", false, REC_WAV, 0, false);
    assert_int_equal(recorder_start(fx->rec, fx->leg, "a b", &p, ""), VP_E_INVALID_PARAMETER);
    assert_int_equal(recorder_start(fx->rec, fx->leg, TENANT, &p, ""), 0);
    assert_int_equal(recorder_stop(fx->rec, "voepy_leg_rt", "voepy_rec_a"), 1);
    wait_done(fx);
    assert_int_equal(storage_key_check("t/c/r.wav"), 0);
    assert_int_not_equal(storage_key_check("/t/c/r.wav"), 0);
    assert_int_not_equal(storage_key_check("t//r.wav"), 0);
    assert_int_not_equal(storage_key_check("t/../r.wav"), 0);
    assert_int_not_equal(storage_key_check("t/.r.wav"), 0);
    assert_int_not_equal(storage_key_check("t/r wav"), 0);
    assert_int_not_equal(storage_key_check("t/"), 0);
    assert_int_not_equal(storage_key_check(""), 0);
    struct storage *s;
    assert_int_equal(storage_dir_create(&s, "/nonexistent/voepy"), VP_E_CONFIG);

    struct mf_command c;
    struct vp_error e;
    const char *ok = "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\","
                     "\"tenant_id\":\"t\",\"channels\":\"dual\",\"format\":\"wav\","
                     "\"max_length\":30,\"play_beep\":true,\"reply_to\":\"voepy:cc:n\"}";
    assert_int_equal(command_parse(ok, strlen(ok), &c, &e), 0);
    assert_int_equal(c.op, MF_OP_RECORD_START);
    assert_true(c.record.dual && c.record.play_beep);
    assert_int_equal(c.record.format, REC_WAV);
    assert_int_equal(c.record.max_secs, 30);
    assert_string_equal(c.tenant_id, "t");
    const char *dflt = "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\","
                       "\"tenant_id\":\"t\"}";
    assert_int_equal(command_parse(dflt, strlen(dflt), &c, &e), 0);
    assert_true(!c.record.dual && !c.record.play_beep && c.record.max_secs == 0);
    assert_int_equal(c.record.format, REC_MP3); /* the API's default */
    const char *bad[] = {
        "{\"op\":\"record_start\",\"leg_id\":\"l\",\"tenant_id\":\"t\"}",
        "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\"}",
        "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\",\"tenant_id\":\"t\","
        "\"channels\":\"stereo\"}",
        "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\",\"tenant_id\":\"t\","
        "\"format\":\"ogg\"}",
        "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\",\"tenant_id\":\"t\","
        "\"max_length\":14401}",
        "{\"op\":\"record_start\",\"leg_id\":\"l\",\"recording_id\":\"r\",\"tenant_id\":\"t\","
        "\"play_beep\":\"yes\"}",
        "{\"op\":\"record_stop\",\"leg_id\":\"l\",\"recording_id\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(command_parse(bad[i], strlen(bad[i]), &c, &e), 0);
    const char *stop = "{\"op\":\"record_stop\",\"leg_id\":\"l\"}";
    assert_int_equal(command_parse(stop, strlen(stop), &c, &e), 0);
    assert_int_equal(c.op, MF_OP_RECORD_STOP);
    assert_string_equal(c.record.recording_id, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dual_wav_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_max_length_beep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_finishes_mp3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
