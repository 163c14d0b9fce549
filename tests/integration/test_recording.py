"""Recordings end to end: API -> api-gateway -> call-control -> media-fork -> storage ->
events -> the signed download.

Outbound calls answered by SIPp (cmedia_uas_peer.xml) whose SDP points at the test's
RtpPeer, which sends a 440 Hz tone as PCMU in real time: the far end's audio is known.
VOEPY_RECORDINGS_DIR is one directory shared by media-fork (writes) and the gateway
(serves, deletes); VOEPY_RECORDING_URL_KEY is set so that the test can sign URLs itself
(an expired one, one for another tenant) and check that each is refused.

Checked: start_recording dual wav with play_beep -> stop_recording -> recording.completed
(the Recording resource in its data) -> GET /v1/recordings/{id} available with duration
and size -> download_url (signed, no API key needed) serves a WAV of 2 channels at 8 kHz,
about as long as recorded, the far end's tone on channel 1 and the beep on channel 2;
tampered, expired and other-tenant URLs are 403 forbidden; record on_answer at creation,
MP3, finished by the hangup; DELETE removes the file.
"""
import hashlib
import hmac
import io
import json
import math
import os
import socket
import struct
import threading
import time
import unittest
import urllib.parse
import wave

from contract import contract
from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_media_verbs import Redis, RtpPeer

URL_KEY = "recording-url-test-key"
VERBS = ("start_recording", "stop_recording", "transfer")
TO2 = "+15558675310"  # the transfer target's number


def ulaw_encode(sample):
    """One 16-bit sample to G.711 mu-law (the classic segment encoder)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exp = 7
    for e in range(7, -1, -1):
        if sample & (0x4000 >> (7 - e)):
            exp = e
            break
    mant = (sample >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


def tone_ulaw(hz, secs, level=8000):
    n = int(8000 * secs)
    return bytes(ulaw_encode(int(level * math.sin(2 * math.pi * hz * i / 8000)))
                 for i in range(n))


def band_ratio(samples, hz, rate=8000):
    """Share of the energy of samples at hz (Goertzel), 0..1."""
    if not samples:
        return 0.0
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    total = sum(x * x for x in samples)
    return 2 * power / (len(samples) * total) if total else 0.0


def tone_share(samples, hz, window=1600):
    """The median over 200 ms windows of the energy share at hz: robust to the odd window
    that a loaded machine's late packets left partly silent."""
    shares = sorted(band_ratio(samples[i:i + window], hz)
                    for i in range(0, len(samples) - window + 1, window))
    return shares[len(shares) // 2] if shares else 0.0


def sign(rec_id, tenant, expires):
    key = hashlib.sha256(URL_KEY.encode()).digest()
    msg = "%s|%s|%s" % (rec_id, tenant, expires)
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


class Recording(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="recording")
        cls.rec_dir = os.path.join(cls.p.tmp, "recordings")
        os.makedirs(cls.rec_dir)
        cls.p.extra_env.update({"VOEPY_RECORDINGS_DIR": cls.rec_dir,
                                "VOEPY_RECORDING_URL_KEY": URL_KEY})
        cls.p.start()
        try:
            cls.redis = Redis(cls.p.redis_port)
            cls.uas = cls.p.sipp("uas_answer.xml", name="answer")
            route = cls.p.create_route(cls.uas.uri, name="answer")
            cls.tenant, cls.key = setup_tenant(cls.p, route)
            other = cls.p.create_tenant("other-tenant")
            cls.other_tenant, cls.other_key = other["tenant"], other["api_key"]
            cls.hooks = cls.p.receiver()
            whk = cls.p.sql("SELECT voepy_id('whk')")[0][0]
            cls.p.sql_webhook_endpoint(whk, cls.tenant["id"], cls.hooks.url,
                                       events=("recording.completed", "recording.failed"))
            wait_until(lambda: set(VERBS) <= set(cls.node_verbs()), 10,
                       what="the node to advertise the recording verbs")
            time.sleep(1.5)  # the gateway reads the registry every second
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def node_verbs(cls):
        verbs = cls.redis.call("HGET", "voepy:node:call-control:call-control-it", "verbs")
        return (verbs or "").split(",")

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()
        cls.p.stop()

    def setUp(self):
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.close()

    # -- helpers -------------------------------------------------------------------------
    def new_peer(self):
        peer = RtpPeer()
        self.peers.append(peer)
        return peer

    def far_end(self):
        """A SIPp answering one call with an SDP that points at a new RtpPeer; returns
        (route, peer)."""
        peer = self.new_peer()
        return self.p.peer_route(peer.port, calls=1)[0], peer

    def peer_call(self, **fields):
        """A call answered by SIPp whose SDP points at a new RtpPeer; returns (call, peer,
        media-fork's RTP port of the leg)."""
        peer = self.new_peer()
        body = dict({"from": FROM, "to": TO, "customer_reference": "rec-ref"}, **fields)
        call, port = self.p.peer_call(self.key, peer, body, calls=1, wait_rtp=False)
        return call, peer, port

    def send_tone(self, peer, port, secs, hz=440):
        """The far end's tone, paced in real time, on a thread; returns it (join it)."""
        t = threading.Thread(target=peer.send_audio, args=(port, tone_ulaw(hz, secs)),
                             daemon=True)
        t.start()
        return t

    def action(self, call_id, verb, body):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body,
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        act = self.p.sql("SELECT id FROM call_actions WHERE call_id = %s AND verb = %s"
                         " ORDER BY requested_at DESC LIMIT 1" % (q(call_id), q(verb)))[0][0]
        def done():
            row = self.p.sql("SELECT status, error FROM call_actions WHERE id = %s" % q(act))[0]
            return tuple(row) if row[0] != "requested" else None
        self.assertEqual(wait_until(done, 10, interval=0.1, what=verb), ("done", None))

    def recording_event(self, call_id, timeout=15):
        def get():
            rows = self.p.sql("SELECT type, data FROM events WHERE call_id = %s AND type LIKE"
                              " 'recording.%%' ORDER BY seq" % q(call_id))
            return rows or None
        rows = wait_until(get, timeout, interval=0.1, what="a recording event")
        self.assertEqual(len(rows), 1, rows)
        return rows[0][0], json.loads(rows[0][1])

    def hangup(self, call_id):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)

    def download(self, url, key=None):
        return self.p.api("GET", url, key=key)

    def wav_of(self, url):
        """(channels, frames, samples interleaved) of the WAV at a signed URL."""
        st, _, audio, _ = self.download(url)
        self.assertEqual(st, 200)
        with wave.open(io.BytesIO(audio)) as w:
            self.assertEqual((w.getframerate(), w.getsampwidth()), (8000, 2))
            frames, ch = w.getnframes(), w.getnchannels()
            return ch, frames, struct.unpack("<%dh" % (ch * frames), w.readframes(frames))

    def assert_refused(self, url):
        st, body, raw, _ = self.download(url)
        self.assertEqual(st, 403, raw)
        self.assertEqual((body["error"]["code"], body["error"].get("field")), ("forbidden", "sig"))

    # -- tests ---------------------------------------------------------------------------
    def test_dual_wav_signed_download_and_delete(self):
        call, peer, port = self.peer_call()
        sender = self.send_tone(peer, port, 4.0)
        time.sleep(0.3)
        self.action(call["id"], "start_recording",
                    {"channels": "dual", "format": "wav", "play_beep": True})
        time.sleep(2.0)
        self.action(call["id"], "stop_recording", {})
        kind, data = self.recording_event(call["id"])
        self.assertEqual(kind, "recording.completed")
        rec_id = data["id"]
        self.assertEqual((data["call_id"], data["status"], data["channels"], data["format"]),
                         (call["id"], "available", "dual", "wav"))
        # The webhook, as the tenant receives it: openapi.yaml's RecordingEvent.
        hook = wait_until(lambda: [e for e in self.hooks.events()
                                   if e["data"].get("id") == rec_id], 15,
                          what="the recording.completed webhook")[0]
        self.assertEqual((hook["type"], hook["data"]), ("recording.completed", data))
        schema = contract()._validator("/components/schemas/RecordingEvent")
        self.assertEqual(list(schema.iter_errors(hook)), [], hook)
        sender.join()
        self.hangup(call["id"])

        st, rec, raw, _ = self.p.api("GET", "/v1/recordings/%s" % rec_id, key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(rec["status"], "available")
        self.assertIn(rec["duration_seconds"], (1, 2, 3))
        url = rec["download_url"]
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.assertEqual(parts.path, "/v1/recordings/%s/download" % rec_id)
        self.assertEqual(query["sig"], sign(rec_id, self.tenant["id"], query["expires"]))
        self.assertTrue(3500 <= int(query["expires"]) - time.time() <= 3700)
        key_row = self.p.sql("SELECT storage_key, size_bytes FROM recordings WHERE id = %s"
                             % q(rec_id))[0]
        self.assertEqual(key_row[0], "%s/%s/%s.wav" % (self.tenant["id"], call["id"], rec_id))
        self.assertEqual(int(key_row[1]), rec["size_bytes"])

        # The signed URL alone (no API key) serves the file.
        st, _, audio, headers = self.download(url)
        self.assertEqual(st, 200)
        self.assertEqual(len(audio), rec["size_bytes"])
        with wave.open(io.BytesIO(audio)) as w:
            self.assertEqual((w.getnchannels(), w.getframerate(), w.getsampwidth()), (2, 8000, 2))
            frames = w.getnframes()
            pcm = struct.unpack("<%dh" % (2 * frames), w.readframes(frames))
        self.assertTrue(1.7 <= frames / 8000 <= 2.6, frames)
        far, ours = pcm[0::2], pcm[1::2]
        # channel 1: the far end's 440 Hz tone (after the first 100 ms)
        self.assertGreater(tone_share(far[800:8800], 440), 0.7)
        # channel 2: what we sent, the 1 kHz beep during its 400 ms, then silence
        self.assertGreater(tone_share(ours[400:2800], 1000, 800), 0.7)
        self.assertLess(max(abs(x) for x in ours[4000:]), 200)

        # Refused, all with 403 forbidden: a tampered signature, id or expiry, an expired
        # URL, a URL signed for another tenant, a URL moved to another recording.
        exp = query["expires"]
        bad_sig = ("0" if query["sig"][0] != "0" else "1") + query["sig"][1:]
        base = "/v1/recordings/%s/download" % rec_id
        self.assert_refused("%s?expires=%s&sig=%s" % (base, exp, bad_sig))
        self.assert_refused("%s?expires=%d&sig=%s" % (base, int(exp) + 60, query["sig"]))
        self.assert_refused("%s?expires=%s" % (base, exp))
        past = str(int(time.time()) - 10)
        self.assert_refused("%s?expires=%s&sig=%s" % (base, past,
                                                      sign(rec_id, self.tenant["id"], past)))
        self.assert_refused("%s?expires=%s&sig=%s" % (base, exp,
                                                      sign(rec_id, self.other_tenant["id"], exp)))
        other_id = self.p.sql("SELECT voepy_id('rec')")[0][0]
        self.assert_refused("/v1/recordings/%s/download?expires=%s&sig=%s"
                            % (other_id, exp, sign(other_id, self.tenant["id"], exp)))
        # Another tenant's key does not see it; the owner's key still downloads it.
        st, _, raw, _ = self.download(base, key=self.other_key)
        self.assertEqual(st, 404, raw)
        st, _, audio2, _ = self.download(base, key=self.key)
        self.assertEqual((st, audio2), (200, audio))

        # DELETE removes the file.
        path = os.path.join(self.rec_dir, key_row[0])
        self.assertTrue(os.path.exists(path))
        st, gone, raw, _ = self.p.api("DELETE", "/v1/recordings/%s" % rec_id, key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertIsNone(gone["download_url"])
        self.assertFalse(os.path.exists(path))
        self.assertEqual(self.p.sql("SELECT storage_deleted_at IS NOT NULL FROM recordings"
                                    " WHERE id = %s" % q(rec_id)), [["t"]])
        self.assert_refused(url)

    def test_media_lost_closes_what_ran_on_the_leg(self):
        """media-fork dies mid-recording, with a stream still connecting and a
        transcription running: when the call ends without its answer to the release, the
        recording is failed (recording.failed), the stream failed and the transcription
        stopped (cc_media_lost), none left running."""
        call, peer, port = self.peer_call(record="on_answer", record_format="wav")
        rows = wait_until(lambda: self.p.sql("SELECT id FROM recordings WHERE call_id = %s"
                                             % q(call["id"])), 5, interval=0.1,
                          what="the recording at answer")
        silent = socket.socket()  # accepts, never answers the TLS handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        self.addCleanup(silent.close)
        self.action(call["id"], "streaming_start",
                    {"stream_url": "wss://127.0.0.1:%d/media" % silent.getsockname()[1]})
        self.action(call["id"], "transcription_start", {})
        time.sleep(0.5)  # record_start reaches media-fork and the recording runs
        self.assertEqual(self.p.sql("SELECT status FROM call_streams WHERE call_id = %s"
                                    % q(call["id"])), [["requested"]])
        self.p.kill("media-fork")
        try:
            self.hangup(call["id"])
            kind, data = self.recording_event(call["id"], timeout=15)
            self.assertEqual((kind, data["id"], data["status"], data["download_url"]),
                             ("recording.failed", rows[0][0], "failed", None))
            self.assertEqual(self.p.sql("SELECT error FROM recordings WHERE id = %s"
                                        % q(rows[0][0])), [["media_lost"]])
            st, streams, raw, _ = self.p.api("GET", "/v1/calls/%s/streamings" % call["id"],
                                             key=self.key)
            self.assertEqual(st, 200, raw)
            self.assertEqual([x["status"] for x in streams["data"]], ["failed"], raw)
            st, tr, raw, _ = self.p.api("GET", "/v1/calls/%s/transcription" % call["id"],
                                        key=self.key)
            self.assertEqual((st, tr["status"]), (200, "stopped"), raw)
        finally:
            self.p.restart("media-fork")

    def test_media_fork_refusals(self):
        """record_start that cannot start is answered at once with recording_done failed
        (unknown leg, a format media-fork does not know is invalid_request)."""
        reply_to = "voepy:cc:rec-test-%d" % os.getpid()
        cmds = [{"op": "record_start", "leg_id": "voepy_leg_nothere", "recording_id":
                 "voepy_rec_a", "tenant_id": "voepy_tenant_x", "reply_to": reply_to},
                {"op": "record_start", "leg_id": "voepy_leg_nothere", "recording_id":
                 "voepy_rec_b", "tenant_id": "voepy_tenant_x", "format": "ogg",
                 "reply_to": reply_to},
                {"op": "record_stop", "leg_id": "voepy_leg_nothere", "reply_to": reply_to}]
        for cmd in cmds:
            self.redis.call("XADD", "voepy:mf:media-fork-it", "*", "m", json.dumps(cmd))
        def replies():
            got = self.redis.call("XRANGE", reply_to, "-", "+") or []
            return [json.loads(kv[1]) for _, kv in got] if len(got) >= 2 else None
        got = wait_until(replies, 5, interval=0.1, what="media-fork's answers")
        time.sleep(0.3)  # record_stop is not answered: nothing more comes
        got = replies()
        self.assertEqual(len(got), 2, got)
        self.assertEqual((got[0]["op"], got[0]["recording_id"], got[0]["status"],
                          got[0]["error"], got[0]["storage_key"]),
                         ("recording_done", "voepy_rec_a", "failed", "unknown_leg", ""))
        self.assertEqual((got[1]["op"], got[1]["error"], got[1]["request"]),
                         ("media.failed", "invalid_request", "record_start"))

    def test_on_answer_mp3_finished_by_hangup(self):
        call, peer, port = self.peer_call(record="on_answer", record_channels="single",
                                          record_format="mp3")
        sender = self.send_tone(peer, port, 1.5)
        rows = wait_until(lambda: self.p.sql("SELECT id, status, channels, format FROM"
                                             " recordings WHERE call_id = %s" % q(call["id"])),
                          5, interval=0.1, what="the recording at answer")
        self.assertEqual(rows[0][1:], ["recording", "single", "mp3"])
        sender.join()
        self.hangup(call["id"])  # the leg's release finishes the file
        kind, data = self.recording_event(call["id"])
        self.assertEqual((kind, data["status"], data["format"]),
                         ("recording.completed", "available", "mp3"))
        st, rec, raw, _ = self.p.api("GET", "/v1/recordings/%s" % rows[0][0], key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertIn(rec["duration_seconds"], (1, 2, 3))
        st, _, audio, headers = self.download(rec["download_url"])
        self.assertEqual(st, 200)
        self.assertEqual(len(audio), rec["size_bytes"])
        self.assertTrue(audio[:3] == b"ID3" or (audio[0] == 0xFF and audio[1] & 0xE0 == 0xE0),
                        audio[:4])
        # the call resource's recordings carry a signed download_url too
        st, full, raw, _ = self.p.api("GET", "/v1/calls/%s" % call["id"], key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual([r["id"] for r in full["recordings"]], [rows[0][0]])
        url = full["recordings"][0]["download_url"]
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.assertEqual(query["sig"], sign(rows[0][0], self.tenant["id"], query["expires"]))
        # a recording of another tenant is not theirs to see, nor to sign
        st, _, raw, _ = self.p.api("GET", "/v1/recordings/%s" % rows[0][0], key=self.other_key)
        self.assertEqual(st, 404, raw)


    def test_bridged_call_dual(self):
        """A recording started on an answered call goes on when a transfer bridges it with
        a second SIPp (start_recording needs an answered call; stop_recording works on a
        bridged one): channel 1 is the first far end's tone, channel 2 the second's,
        relayed by the bridge."""
        route_a, peer_a = self.far_end()
        route_b, peer_b = self.far_end()
        parent = self.p.answered_call(self.key, {"from": FROM, "to": TO,
                                                 "route_id": route_a["id"]})
        self.action(parent["id"], "start_recording", {"channels": "dual", "format": "wav"})
        started = time.monotonic()
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(route_b["id"]), q(self.tenant["id"])))
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/transfer" % parent["id"],
                                   {"to": TO2, "timeout_secs": 10}, key=self.key)
        self.assertEqual(st, 200, raw)
        self.p.wait_call(self.key, parent["id"], lambda c: c["status"] == "bridged")
        child = self.p.sql("SELECT id FROM calls WHERE options->>'parent_call_id' = %s"
                           % q(parent["id"]))[0][0]
        send_a = self.send_tone(peer_a, self.p.leg_port(parent["id"]), 2.6, hz=440)
        send_b = self.send_tone(peer_b, self.p.leg_port(child), 2.6, hz=700)
        time.sleep(2.0)
        self.action(parent["id"], "stop_recording", {})
        secs = time.monotonic() - started
        kind, data = self.recording_event(parent["id"])
        self.assertEqual((kind, data["channels"]), ("recording.completed", "dual"))
        send_a.join()
        send_b.join()
        self.hangup(parent["id"])
        st, rec, raw, _ = self.p.api("GET", "/v1/recordings/%s" % data["id"],
                                     key=self.key)
        self.assertEqual(st, 200, raw)
        ch, frames, pcm = self.wav_of(rec["download_url"])
        self.assertEqual(ch, 2)
        self.assertTrue(secs - 0.6 <= frames / 8000 <= secs + 0.2, (frames, secs))
        # the last second, while both far ends sent their tones through the bridge
        far, ours = pcm[0::2][-9600:-1600], pcm[1::2][-9600:-1600]
        self.assertGreater(tone_share(far, 440), 0.7)   # the first far end
        self.assertGreater(tone_share(ours, 700), 0.7)  # the second, bridged


if __name__ == "__main__":
    unittest.main()
