/*
 * voepy-media-fork: the media plane. Reads configuration, wires the engine (legs, ports,
 * the 20 ms clock), the command inbox and the node heartbeat, runs the loop, shuts down.
 *
 * SIGTERM drains: new allocations are refused (media.failed "draining"), connect and
 * release keep working, and the process stops once every leg is released (and the node
 * has left the registry) or the drain timeout passes. Then the inbox, the heartbeat and
 * the engine close, in that order.
 */
#include <stdlib.h>

#include "audio_cache.h"
#include "audio_load.h"
#include "engine.h"
#include "inbox.h"
#include "recorder.h"
#include "stream.h"
#include "storage.h"
#include "transcribe.h"
#include "tts.h"
#include "voepy/err.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/nodes.h"
#include "voepy/redis.h"
#include "voepy/service.h"
#include "voepy/url_guard.h"

struct mf_config {
    struct service_common common;
    char *media_ip;
    long port_min, port_max, idle_secs;
    char *audio_dir;
    long audio_cache_mb, audio_max_secs, audio_fetch_mb;
    char *recordings_dir;
    char *tts_engine, *asr_accurate, *asr_model, *asr_models; /* speech (tts.h, transcribe.h) */
    long vad_threshold;
    bool stream_insecure;         /* VOEPY_STREAM_ALLOW_INSECURE: ws:// stream URLs */
    struct url_policy_config url; /* VOEPY_URL_*: which http(s) audio URLs may be fetched */
};

static const struct config_var vars[] = {
    SERVICE_COMMON_VARS(struct mf_config, common, "9102"),
    CONFIG_STR(struct mf_config, media_ip, "VOEPY_MEDIA_IP", "127.0.0.1", 0,
               "address bound for RTP and put in SDP"),
    CONFIG_INT(struct mf_config, port_min, "VOEPY_RTP_PORT_MIN", "20000", 1024, 65535,
               "lowest RTP/RTCP port"),
    CONFIG_INT(struct mf_config, port_max, "VOEPY_RTP_PORT_MAX", "29999", 1024, 65535,
               "highest RTP/RTCP port"),
    CONFIG_INT(struct mf_config, idle_secs, "VOEPY_MEDIA_IDLE_SECS", "60", 1, 86400,
               "release a leg after this long without RTP or commands"),
    CONFIG_STR(struct mf_config, audio_dir, "VOEPY_MEDIA_AUDIO_DIR", "", 0,
               "directory play/gather audio (file:// URLs, paths) is read from; empty: none"),
    CONFIG_INT(struct mf_config, audio_cache_mb, "VOEPY_MEDIA_AUDIO_CACHE_MB", "64", 0, 4096,
               "decoded audio kept in memory (MiB)"),
    CONFIG_INT(struct mf_config, audio_max_secs, "VOEPY_MEDIA_AUDIO_MAX_SECS", "600", 1, 7200,
               "longest audio file accepted for playback (seconds)"),
    CONFIG_INT(struct mf_config, audio_fetch_mb, "VOEPY_MEDIA_AUDIO_FETCH_MB", "20", 1, 1024,
               "largest http(s) audio file downloaded (MiB)"),
    URL_POLICY_VARS(struct mf_config, url),
    CONFIG_BOOL(struct mf_config, stream_insecure, "VOEPY_STREAM_ALLOW_INSECURE", "false",
                "accept ws:// (unencrypted) stream URLs besides wss:// (development and tests)"),
    CONFIG_STR(struct mf_config, recordings_dir, "VOEPY_RECORDINGS_DIR",
               "/var/lib/voepy/recordings", 0,
               "directory recordings are stored under (the gateway serves them from it); "
               "recording is off when it does not exist"),
    CONFIG_STR(struct mf_config, tts_engine, "VOEPY_TTS_ENGINE", "espeak", 0,
               "text-to-speech engine for speak (espeak)"),
    CONFIG_STR(struct mf_config, asr_accurate, "VOEPY_ASR_ACCURATE_ENGINE", "", 0,
               "engine of transcription's \"accurate\"; empty: pocketsphinx, as \"fast\""),
    CONFIG_STR(struct mf_config, asr_models, "VOEPY_ASR_MODELS", "", 0,
               "transcription models by language: TAG=HMM[:LM:DICT],... (HMM alone: Debian's "
               "layout, e.g. en-US=/usr/share/pocketsphinx/model/en-us/en-us); empty: en-US only"),
    CONFIG_STR(struct mf_config, asr_model, "VOEPY_ASR_MODEL_DIR", "", 0,
               "the en-US model's directory (as Debian's en-us), used unless VOEPY_ASR_MODELS "
               "names en-US; empty: /usr/share/pocketsphinx/model/en-us"),
    CONFIG_INT(struct mf_config, vad_threshold, "VOEPY_VAD_THRESHOLD_DBFS", "-40", -90, -1,
               "transcription: a 20 ms frame louder than this (dBFS) is speech"),
};

struct media_fork {
    struct service svc;
    struct mf_config cfg;
    struct engine *engine;
    struct audio_cache *audio;
    struct url_policy *url_policy; /* freed after the loop ends */
    struct audio_load *load;
    struct inbox *inbox;
    struct storage *storage;   /* NULL: no recordings (freed after the loop) */
    struct recorder *recorder; /* NULL: no recordings */
    struct streamer *streamer; /* WebSocket media streams (freed after the loop) */
    struct tts *tts;
    struct transcribe *asr;
    struct nodes *nodes;
    struct lifecycle *lc;
    int lc_id;
};

/*
 * Draining, in order: the engine refuses new legs and reports when the last one is
 * released; then the inbox stops reading and finishes its replies; then the node leaves
 * the registry (its ZREM goes out while Redis is still open); then we are drained.
 */
static void nodes_closed_cb(void *arg)
{
    struct media_fork *mf = arg;
    log_info("media.drained", "no legs left, replies written, node deregistered");
    lifecycle_drained(mf->lc, mf->lc_id);
}

static void inbox_drained_cb(void *arg)
{
    struct media_fork *mf = arg;
    struct nodes *n = mf->nodes;
    mf->nodes = NULL;
    nodes_close(n, nodes_closed_cb, mf);
}

static void recorder_drained_cb(void *arg)
{
    struct media_fork *mf = arg;
    inbox_drain(mf->inbox, inbox_drained_cb, mf);
}

/* The last legs' recordings are still being finished: their outcomes go out first. */
static void engine_drained_cb(void *arg)
{
    struct media_fork *mf = arg;
    if (mf->recorder)
        recorder_drain(mf->recorder, recorder_drained_cb, mf);
    else
        recorder_drained_cb(mf);
}

static void drain_hook(struct lifecycle *lc, int id, void *arg)
{
    struct media_fork *mf = arg;
    engine_drain(mf->engine, engine_drained_cb, mf);
}

/* Stop (after the drain, or at once on SIGINT or the drain timeout). */
static void stop_hook(void *arg)
{
    struct media_fork *mf = arg;
    inbox_close(mf->inbox, NULL, NULL);
    /* its streams end; their connections and handles close */
    streamer_close(mf->streamer);
    audio_load_close(mf->load, NULL, NULL); /* answers waiting plays: the inbox can go */
    tts_close(mf->tts, NULL, NULL);         /* the same for waiting speaks */
    transcribe_close(mf->asr, NULL, NULL);  /* before the legs: its taps come off */
    if (mf->recorder) /* before the legs close: files are finished, not reported */
        recorder_close(mf->recorder, NULL, NULL);
    if (mf->nodes)
        nodes_close(mf->nodes, NULL, NULL);
    engine_close(mf->engine, NULL, NULL);
}

static int start_engine(struct media_fork *mf)
{
    struct engine_opts eo = {
        .media_ip = mf->cfg.media_ip,
        .port_min = (unsigned)mf->cfg.port_min,
        .port_max = (unsigned)mf->cfg.port_max,
        .idle_ms = (unsigned)mf->cfg.idle_secs * 1000u,
    };
    int err = engine_create(&mf->engine, mf->svc.loop, &eo);
    if (err)
        log_error("media.config", "VOEPY_MEDIA_IP must be an IP address of this host and "
                                  "VOEPY_RTP_PORT_MIN..MAX must hold an even/odd port pair");
    return err;
}

static int start_audio(struct media_fork *mf)
{
    struct audio_cache_opts ao = {
        .dir = mf->cfg.audio_dir,
        .max_bytes = (size_t)mf->cfg.audio_cache_mb << 20,
        .max_secs = (unsigned)mf->cfg.audio_max_secs,
    };
    int err = audio_cache_create(&mf->audio, &ao);
    if (err) {
        log_error("media.config", "VOEPY_MEDIA_AUDIO_DIR must be an existing directory");
        return err;
    }
    char why[256];
    if ((err = url_policy_create(&mf->url_policy, &mf->cfg.url, why, sizeof(why)))) {
        log_error("media.config", "%s", why);
        return err;
    }
    url_policy_log(mf->url_policy);
    struct audio_load_opts lo = {.policy = mf->url_policy,
                                 .cache = mf->audio,
                                 .max_fetch_bytes = (size_t)mf->cfg.audio_fetch_mb << 20};
    return audio_load_create(&mf->load, mf->svc.loop, &lo);
}

static int start_speech(struct media_fork *mf)
{
    int err = tts_create(&mf->tts, mf->svc.loop, mf->audio, mf->cfg.tts_engine);
    if (err) {
        log_error("media.config", "VOEPY_TTS_ENGINE must be espeak");
        return err;
    }
    struct transcribe_opts to = {.node = mf->svc.node_id,
                                 .accurate_engine = mf->cfg.asr_accurate,
                                 .models = mf->cfg.asr_models,
                                 .model_dir = mf->cfg.asr_model,
                                 .threshold_dbfs = (int)mf->cfg.vad_threshold};
    char why[512];
    if ((err = transcribe_create(&mf->asr, mf->svc.loop, &to, why, sizeof(why))))
        log_error("media.config", "transcription: %s", why);
    else
        log_info("media.asr_languages", "transcription models: %s", transcribe_languages(mf->asr));
    return err;
}

/* Recording needs the storage directory; without it the node still serves calls. */
static int start_recorder(struct media_fork *mf)
{
    if (storage_dir_create(&mf->storage, mf->cfg.recordings_dir)) {
        log_warn("media.recording_off",
                 "VOEPY_RECORDINGS_DIR %s is not a directory: "
                 "record_start will fail",
                 mf->cfg.recordings_dir);
        return 0;
    }
    return recorder_create(&mf->recorder, mf->svc.loop, mf->storage);
}

/* Streams check their URLs with the same policy as audio URLs (start_audio made it). */
static int start_streamer(struct media_fork *mf)
{
    struct streamer_opts so = {.policy = mf->url_policy, .allow_insecure = mf->cfg.stream_insecure};
    return streamer_create(&mf->streamer, mf->svc.loop, &so);
}

static int start_inbox(struct media_fork *mf)
{
    struct redis_opts ro;
    service_redis_opts(&mf->svc, &ro, "media-fork-inbox");
    ro.cmd_timeout_ms = 5000; /* acks and claims; the blocking reader adds its BLOCK time */
    struct inbox_opts io = {.node_id = mf->svc.node_id,
                            .ropts = &ro,
                            .redis = mf->svc.redis,
                            .engine = mf->engine,
                            .load = mf->load,
                            .recorder = mf->recorder,
                            .streamer = mf->streamer,
                            .tts = mf->tts,
                            .asr = mf->asr};
    return inbox_create(&mf->inbox, mf->svc.loop, &io);
}

/* languages: what transcription_start accepts here (the gateway refuses others, 422). */
static int start_heartbeat(struct media_fork *mf)
{
    const char *info[] = {"media_ip", mf->cfg.media_ip, "languages", transcribe_languages(mf->asr),
                          NULL};
    struct nodes_opts no = {.service = "media-fork", .node_id = mf->svc.node_id, .info = info};
    return nodes_create(&mf->nodes, mf->svc.loop, mf->svc.redis, &no);
}

int main(int argc, char **argv)
{
    static struct media_fork mf;
    service_load_config("media-fork", &mf.cfg, vars, sizeof(vars) / sizeof(vars[0]), argc, argv);
    int err = service_start(&mf.svc, "media-fork", &mf.cfg.common, SERVICE_REDIS);
    if (!err)
        err = start_engine(&mf);
    if (!err)
        err = start_audio(&mf);
    if (!err)
        err = start_recorder(&mf);
    if (!err)
        err = start_streamer(&mf);
    if (!err)
        err = start_speech(&mf);
    if (!err)
        err = start_inbox(&mf);
    if (!err)
        err = start_heartbeat(&mf);
    if (err) {
        log_error("media.start_failed", "cannot start: %s", vp_err_message(err));
        return 1;
    }
    mf.lc = mf.svc.lc;
    mf.lc_id = lifecycle_add(mf.lc, &(struct lifecycle_hooks){drain_hook, stop_hook, &mf});
    log_info("media.ready", "media on %s, ports %ld-%ld", mf.cfg.media_ip, mf.cfg.port_min,
             mf.cfg.port_max);
    int rc = service_run(&mf.svc);
    audio_cache_destroy(mf.audio); /* after the loop: no command can reach it any more */
    tts_shutdown();                /* after the loop: no render runs */
    streamer_destroy(mf.streamer); /* after the loop closed its handles */
    url_policy_free(mf.url_policy);
    if (mf.storage)
        storage_destroy(mf.storage); /* the recorder, freed with its last file, is gone */
    config_free(&mf.cfg, vars, sizeof(vars) / sizeof(vars[0]));
    return rc;
}
