"""Early media on outbound calls (issue 4's "early media 183", issue 5's pre-answer
audio_url): API -> api-gateway -> call-control -> media-fork -> the far end's RTP.

PostgreSQL, Redis and the five services on loopback. The far ends are SIPp uas scenarios
(sip/early_*.xml) whose SDPs point at the test's own RTP sockets (SIPp -key early_port N),
so the test hears what media-fork sends while the call rings and can talk to the leg
before the answer. The call's audio_url is a 600 Hz WAV made with sox and served over
HTTP (AudioServer); the test's far-end audio is a 440 Hz tone. Checked:

- a 183 with SDP (sip/early_uas_183.xml): while the call rings, the leg sends the
  audio_url (non-silent RTP) to the 183's address, and what the test sends to the leg is
  recorded (record on_ringing starts with early media: the recording holds the ringing
  time, the far end's tone in it, the ringback on our channel); a repeated 183 changes
  nothing, a second 183 with another port moves the audio there; at the 200 the play
  stops (silence only afterwards) and the call runs until the far end's BYE. One
  call.ringing, one call.answered at the 200; the call's duration counts from the 200;
  media-fork got three connects (two 183s, the 200);
- a reliable 183 with SDP (100rel, PRACKed) and a 200 without SDP (sip/early_uas_prack.xml):
  the same early audio, the call answered on the 183's SDP; record on_answer still starts
  at the answer (the recording is only the answered part);
- a 183 without SDP (sip/early_uas_nosdp.xml): the call only rings, nothing is sent to
  the far end before the 200, the audio_url is not played, record on_ringing starts at
  the answer;
- 181 without SDP rings the call, 182 with SDP brings early media as a 183 does, 199
  (another fork's early dialog ended) changes nothing (sip/early_uas_18x.xml);
- an UPDATE in the early dialog of a reliable 183 (RFC 3311) moves the ringing leg to its
  offer's address and is answered 200 with our SDP; an UPDATE without offer gets a 200
  without SDP, and the 2xx without SDP keeps the UPDATE's address (sip/early_uas_update.xml).
"""
import json
import os
import struct
import threading
import time
import unittest
import wave

from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_media_verbs import AudioServer, Redis, RtpPeer, sox
from test_recording import band_ratio, tone_ulaw

MF_STREAM = "voepy:mf:media-fork-it"


def audible(pkts):
    """The PCMU packets that carry sound: G.711 silence is one byte (0xFF or 0x7F) repeated,
    a sine is many different bytes."""
    return [p for p in pkts if p["pt"] == 0 and len(set(p["payload"])) > 8]


def tone_windows(samples, hz, window=1600, share=0.6):
    """How many 200 ms windows of samples are mostly hz."""
    return sum(1 for i in range(0, len(samples) - window + 1, window)
               if band_ratio(samples[i:i + window], hz) > share)


def loud(samples, level=1000):
    return sum(1 for x in samples if abs(x) > level)


class EarlyMedia(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="early-media")
        cls.audio_dir = os.path.join(cls.p.tmp, "audio")
        cls.rec_dir = os.path.join(cls.p.tmp, "recordings")
        os.makedirs(cls.audio_dir)
        os.makedirs(cls.rec_dir)
        sox("-n", "-r", "8000", "-c", "1", os.path.join(cls.audio_dir, "ring.wav"),
            "synth", "1", "sine", "600", "gain", "-6")
        cls.p.extra_env.update({"VOEPY_MEDIA_AUDIO_DIR": cls.audio_dir,
                                "VOEPY_RECORDINGS_DIR": cls.rec_dir})
        cls.p.start()
        try:
            cls.audio = AudioServer(cls.audio_dir)
            cls.redis = Redis(cls.p.redis_port)
            cls.idle = cls.p.sipp("uas_answer.xml", name="answer")
            cls.tenant, cls.key = setup_tenant(cls.p, cls.p.create_route(cls.idle.uri))
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.audio.close()
        cls.redis.close()
        cls.p.stop()

    def setUp(self):
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.close()

    # -- helpers -------------------------------------------------------------------------
    def peer(self):
        peer = RtpPeer()
        self.peers.append(peer)
        return peer

    def dial(self, scenario, keys, **fields):
        """A call to a SIPp running scenario with -key name port for each of keys; returns
        (call id, sipp)."""
        extra = []
        for name, port in keys.items():
            extra += ["-key", name, str(port)]
        # No call limit: the node's OPTIONS keep-alive may reach SIPp before the INVITE.
        uas = self.p.sipp(scenario, name=scenario.split(".")[0], rtp_echo=False, extra=extra)
        route = self.p.create_route(uas.uri, name="early-%d" % uas.port)
        body = dict({"from": FROM, "to": TO, "route_id": route["id"], "timeout_secs": 20,
                     "audio_url": self.audio.url("ring.wav")}, **fields)
        st, call, raw, _ = self.p.api("POST", "/v1/calls", body, key=self.key)
        self.assertEqual(st, 201, raw)
        return call["id"], uas

    def status(self, call_id):
        return self.p.sql("SELECT status FROM calls WHERE id = %s" % q(call_id))[0][0]

    def wait_status(self, call_id, statuses, timeout=10):
        return wait_until(lambda: self.status(call_id) in statuses and self.status(call_id),
                          timeout, what="call %s %s" % (call_id, "/".join(statuses)))

    def leg_port(self, call_id):
        def port():
            rows = self.p.sql("SELECT 'x', local_media FROM call_legs WHERE call_id = %s"
                              % q(call_id))
            return rows and rows[0][1] and int(rows[0][1].rsplit(":", 1)[1])
        return wait_until(port, 10, what="the leg's port")

    def ended(self, call_id):
        self.wait_status(call_id, ("ended", "failed"), timeout=15)
        st, call, raw, _ = self.p.api("GET", "/v1/calls/%s" % call_id, key=self.key)
        self.assertEqual(st, 200, raw)
        return call

    def event_types(self, call_id):
        st, page, raw, _ = self.p.api("GET", "/v1/calls/%s/events" % call_id, key=self.key)
        self.assertEqual(st, 200, raw)
        return [e["type"] for e in page["data"]]

    def mf_commands(self, call_id, op):
        out = []
        for _, kv in self.redis.call("XRANGE", MF_STREAM, "-", "+"):
            m = json.loads(kv[1])
            if m.get("op") == op and m.get("leg_id") == self.leg_id(call_id):
                out.append(m)
        return out

    def leg_id(self, call_id):
        return self.p.sql("SELECT id FROM call_legs WHERE call_id = %s" % q(call_id))[0][0]

    def recording(self, call_id):
        """(channels, seconds, samples) of the call's one recording, once completed."""
        def done():
            rows = self.p.sql("SELECT status, storage_key FROM recordings WHERE call_id = %s"
                              % q(call_id))
            return rows if rows and rows[0][0] != "recording" else None
        rows = wait_until(done, 15, interval=0.1, what="the recording's end")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][0], "available", rows)
        with wave.open(os.path.join(self.rec_dir, rows[0][1])) as w:
            ch, frames = w.getnchannels(), w.getnframes()
            pcm = struct.unpack("<%dh" % (ch * frames), w.readframes(frames))
        return ch, frames / 8000.0, pcm

    # -- tests ---------------------------------------------------------------------------
    def test_183_early_media_ringback_moves_and_is_recorded(self):
        a, b = self.peer(), self.peer()
        call_id, _ = self.dial("early_uas_183.xml", {"early_port": a.port, "early_port2": b.port},
                               record="on_ringing", record_channels="dual", record_format="wav")
        port = self.leg_port(call_id)
        self.wait_status(call_id, ("ringing",))
        # The far end talks during early media: the leg hears it (it is recorded). It is
        # over before the second 183 (1.1 s on), which makes the leg latch afresh.
        sender = threading.Thread(target=a.send_audio, args=(port, tone_ulaw(440, 0.6)),
                                  daemon=True)
        sender.start()
        wait_until(lambda: audible(a.packets), 5, what="the audio_url at the 183's address")
        self.assertEqual(self.status(call_id), "ringing")
        # The second 183 moves the early media to its port; still ringing.
        wait_until(lambda: audible(b.packets), 5, what="the audio_url at the second 183's port")
        self.assertEqual(self.status(call_id), "ringing")
        sender.join()
        self.wait_status(call_id, ("answered",))
        time.sleep(0.3)  # the stop_playback's way to media-fork
        a.take()
        b.take()
        time.sleep(0.6)
        after = b.take()
        self.assertGreater(len(after), 15, "the answered leg still sends (silence)")
        self.assertEqual(len(audible(after)), 0, "the audio_url stops at the answer")
        self.assertEqual(len(a.take()), 0, "nothing goes to the first 183's port any more")

        call = self.ended(call_id)
        self.assertEqual((call["status"], call["end_reason"], call["end_initiator"]),
                         ("ended", "completed", "callee"))
        self.assertIn(call["duration_seconds"], (1, 2), "billed from the 200, not the 183")
        types = self.event_types(call_id)
        self.assertEqual([t for t in types if t.startswith("call.")],
                         ["call.started", "call.ringing", "call.answered", "call.ended"], types)
        ring, answer = self.p.sql("SELECT extract(epoch FROM ringing_at),"
                                  " extract(epoch FROM answered_at) FROM calls WHERE id = %s"
                                  % q(call_id))[0]
        self.assertGreater(float(answer) - float(ring), 1.8, "answered at the 200")
        # media-fork: one connect per different SDP (the repeated 183 sent none), the
        # ringback played on the call's own leg and stopped by its id.
        connects = self.mf_commands(call_id, "connect")
        self.assertEqual([c["remote_port"] for c in connects], [a.port, b.port, b.port])
        plays = self.mf_commands(call_id, "play")
        self.assertEqual([p["playback_id"] for p in plays], ["ringback~" + call_id])
        self.assertEqual(plays[0]["audio"], self.audio.url("ring.wav"))
        stops = self.mf_commands(call_id, "stop_playback")
        self.assertEqual([s["playback_id"] for s in stops], ["ringback~" + call_id])

        # The recording started with early media: ringing (~2.1 s) + answered (~1.5 s).
        ch, secs, pcm = self.recording(call_id)
        self.assertEqual(ch, 2)
        self.assertTrue(3.0 <= secs <= 4.6, secs)
        far, ours = pcm[0::2], pcm[1::2]
        ringing = int(8000 * 2.0)
        self.assertGreaterEqual(tone_windows(far[:ringing], 440), 2,
                                "the far end's early audio is in the recording")
        self.assertGreaterEqual(tone_windows(ours[:ringing], 600), 5,
                                "the ringback we played is in the recording")
        self.assertLess(loud(ours[-8000:]), 80, "no ringback after the answer")

    def test_reliable_183_with_sdp_and_a_200_without(self):
        a = self.peer()
        call_id, uas = self.dial("early_uas_prack.xml", {"early_port": a.port},
                                 record="on_answer", record_channels="single",
                                 record_format="wav")
        wait_until(lambda: audible(a.packets), 5, what="the audio_url at the 183's address")
        self.assertEqual(self.status(call_id), "ringing")
        self.assertEqual(uas.count_received("PRACK"), 1)
        self.wait_status(call_id, ("answered",))
        time.sleep(0.3)
        a.take()
        time.sleep(0.4)
        after = a.take()
        self.assertGreater(len(after), 10, "answered on the 183's SDP")
        self.assertEqual(len(audible(after)), 0, "the audio_url stops at the answer")
        call = self.ended(call_id)
        self.assertEqual((call["status"], call["end_reason"]), ("ended", "completed"))
        self.assertEqual(self.event_types(call_id).count("call.ringing"), 1)
        # on_answer is not on_ringing: only the answered second is recorded.
        ch, secs, _ = self.recording(call_id)
        self.assertTrue(0.6 <= secs <= 1.6, secs)

    def test_183_without_sdp_only_rings(self):
        a = self.peer()
        call_id, _ = self.dial("early_uas_nosdp.xml", {"early_port": a.port},
                               record="on_ringing", record_channels="single",
                               record_format="wav")
        self.wait_status(call_id, ("ringing",))
        time.sleep(0.5)  # the 200 comes 1 s after the 183
        self.assertEqual(self.status(call_id), "ringing")
        self.assertEqual(len(a.take()), 0, "nothing is sent to the far end before the 200")
        self.wait_status(call_id, ("answered",))
        time.sleep(0.5)
        after = a.take()
        self.assertGreater(len(after), 15)
        self.assertEqual(len(audible(after)), 0, "no audio_url without early media")
        call = self.ended(call_id)
        self.assertEqual((call["status"], call["end_reason"]), ("ended", "completed"))
        types = self.event_types(call_id)
        self.assertEqual([t for t in types if t.startswith("call.")],
                         ["call.started", "call.ringing", "call.answered", "call.ended"], types)
        self.assertEqual(self.mf_commands(call_id, "play"), [])
        # record on_ringing without early media starts at the answer, as before.
        ch, secs, _ = self.recording(call_id)
        self.assertTrue(0.6 <= secs <= 1.6, secs)

    def test_181_rings_182_brings_early_media_199_changes_nothing(self):
        a = self.peer()
        call_id, _ = self.dial("early_uas_18x.xml", {"early_port": a.port})
        self.wait_status(call_id, ("ringing",))
        rang = time.monotonic()
        self.assertEqual(len(a.packets), 0, "media before the 182's SDP")
        wait_until(lambda: audible(a.packets), 5, what="the audio_url at the 182's address")
        self.assertGreater(time.monotonic() - rang, 0.5, "the 182 rang the call, not the 181")
        self.assertEqual(self.status(call_id), "ringing")
        self.wait_status(call_id, ("answered",))
        call = self.ended(call_id)
        self.assertEqual((call["status"], call["end_reason"], call["end_initiator"]),
                         ("ended", "completed", "callee"))
        types = self.event_types(call_id)
        self.assertEqual([t for t in types if t.startswith("call.")],
                         ["call.started", "call.ringing", "call.answered", "call.ended"], types)
        self.assertEqual([c["remote_port"] for c in self.mf_commands(call_id, "connect")],
                         [a.port, a.port])

    def test_update_in_the_early_dialog_moves_the_leg(self):
        a, b = self.peer(), self.peer()
        call_id, uas = self.dial("early_uas_update.xml", {"early_port": a.port,
                                                          "early_port2": b.port})
        wait_until(lambda: audible(a.packets), 5, what="the audio_url at the 183's address")
        wait_until(lambda: audible(b.packets), 5, what="the audio_url at the UPDATE's address")
        self.assertEqual(self.status(call_id), "ringing")
        self.assertTrue(uas.got(r"^SIP/2\.0 200 .*CSeq: 1 UPDATE.*m=audio \d+ RTP/AVP 0 101"
                                      r".*a=sendrecv"), "no SDP answer to the early UPDATE")
        self.wait_status(call_id, ("answered",))
        self.assertTrue(uas.got(r"^SIP/2\.0 200 .*CSeq: 2 UPDATE"))
        self.assertFalse(uas.got(r"^SIP/2\.0 200 .*CSeq: 2 UPDATE.*m=audio"),
                         "an UPDATE without offer got an SDP")
        self.assertEqual(uas.count_received("PRACK"), 1)
        time.sleep(0.3)
        a.take()
        b.take()
        time.sleep(0.4)
        self.assertGreater(len(b.take()), 10, "answered on the UPDATE's SDP")
        self.assertEqual(len(a.take()), 0, "nothing goes to the 183's port any more")
        call = self.ended(call_id)
        self.assertEqual((call["status"], call["end_reason"], call["end_initiator"]),
                         ("ended", "completed", "callee"))
        self.assertEqual([c["remote_port"] for c in self.mf_commands(call_id, "connect")],
                         [a.port, b.port, b.port])
        self.assertEqual(self.event_types(call_id).count("call.ringing"), 1)


if __name__ == "__main__":
    unittest.main()
