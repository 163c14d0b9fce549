"""Answering-machine detection end to end: API -> call-control -> media-fork -> events.

Outbound calls created with `answering_machine_detection: "premium"`, answered by SIPp
with an SDP that points the call's RTP at a Python RTP peer of the test
(cmedia_uas_peer.xml), which then plays what a person or a machine would say, as G.711
made at test time with espeak-ng and sox:

- a voicemail greeting (several sentences), a short pause and a 1 kHz beep: machine,
  beep_detected true;
- "Hello?" and then silence: human, decided within a couple of seconds of the hello;
- nothing at all: unknown.

Checked for each: the call.amd_complete event (data call_id, customer_reference, result,
beep_detected), GET /v1/calls/{id}/amd, one `amd` usage charge; and that a call without
detection gets no detector (media-fork saw no amd_start for it) and reads `off`.
"""
import json
import os
import subprocess
import threading
import time
import unittest

from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_media_verbs import Redis, RtpPeer, sox

MF_STREAM = "voepy:mf:media-fork-it"


def ulaw(tmp, name, *parts):
    """mu-law 8 kHz bytes of the wav files in parts, in order."""
    out = os.path.join(tmp, name + ".ul")
    sox(*(list(parts) + ["-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1", out]))
    with open(out, "rb") as f:
        return f.read()


def speech(tmp, name, text):
    wav = os.path.join(tmp, name + "-speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = os.path.join(tmp, name + ".wav")
    sox(wav, "-r", "8000", "-c", "1", out)
    return out


def silence(tmp, name, secs):
    out = os.path.join(tmp, name + ".wav")
    sox("-n", "-r", "8000", "-c", "1", out, "trim", "0", str(secs))
    return out


class Amd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="amd")
        cls.p.start()
        try:
            p, tmp = cls.p, cls.p.tmp
            # The route is per call (each call has its own SIPp); the tenant needs one.
            placeholder = p.create_route("sip:127.0.0.1:9", name="placeholder")
            cls.tenant, cls.key = setup_tenant(p, placeholder)
            st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                    {"prefix": "1", "kind": "amd", "cents_per_minute": 30})
            assert st == 201, raw
            beep = os.path.join(tmp, "beep.wav")
            sox("-n", "-r", "8000", "-c", "1", beep, "synth", "0.5", "sine", "1000", "gain", "-6")
            cls.greeting = ulaw(tmp, "machine", silence(tmp, "lead", 0.3), speech(
                tmp, "greeting", "Hello, you have reached the voicemail of Alex Morgan. "
                "I cannot take your call right now. Please leave a message after the tone."),
                silence(tmp, "pause", 0.4), beep, silence(tmp, "tail", 1.0))
            cls.hello = ulaw(tmp, "human", silence(tmp, "lead2", 0.3),
                             speech(tmp, "hello", "Hello?"), silence(tmp, "quiet", 2.5))
            cls.redis = Redis(p.redis_port)
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()
        cls.p.stop()

    def setUp(self):
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.close()

    def call(self, amd=True):
        """An answered call whose far end is a new RtpPeer; (call, peer, leg's RTP port)."""
        peer = RtpPeer()
        self.peers.append(peer)
        body = {"from": FROM, "to": TO, "customer_reference": "ref-%s" % self._testMethodName}
        if amd:
            body["answering_machine_detection"] = "premium"
        call, port = self.p.peer_call(self.key, peer, body)
        return call, peer, port

    def leg(self, call):
        return self.p.sql("SELECT 'x', id FROM call_legs WHERE call_id = %s" % q(call["id"]))[0][1]

    def hangup(self, call_id):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.p.wait_call(self.key, call_id, lambda c: c["status"] == "ended")

    def amd_event(self, call_id, timeout=15):
        def find():
            rows = self.p.sql("SELECT 'x', data::text FROM events WHERE call_id = %s "
                              "AND type = 'call.amd_complete'" % q(call_id))
            return rows
        rows = wait_until(find, timeout, what="call.amd_complete for %s" % call_id)
        self.assertEqual(len(rows), 1, rows)
        return json.loads(rows[0][1])

    def check(self, call, result, beep):
        data = self.amd_event(call["id"])
        self.assertEqual(data, {"call_id": call["id"], "customer_reference": call["customer_reference"],
                                "result": result, "beep_detected": beep})
        st, amd, raw, _ = self.p.api("GET", "/v1/calls/%s/amd" % call["id"], key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual((amd["status"], amd["result"], amd["beep_detected"]),
                         ("complete", result, beep), amd)
        charges = self.p.sql("SELECT 'x', quantity, status FROM usage_charges WHERE call_id = %s "
                             "AND kind = 'amd'" % q(call["id"]))
        self.assertEqual([(r[1], r[2]) for r in charges], [("1", "rated")])

    def play(self, peer, port, audio):
        """The far end says audio (in real time) on a thread; returns the thread."""
        t = threading.Thread(target=peer.send_audio, args=(port, audio), daemon=True)
        t.start()
        return t

    def test_greeting_then_beep_is_a_machine_with_beep(self):
        call, peer, port = self.call()
        started = time.monotonic()
        t = self.play(peer, port, self.greeting)
        self.check(call, "machine", True)
        # not before the beep: the greeting alone lasts several seconds
        self.assertGreater(time.monotonic() - started, 4.0)
        t.join(15)
        self.hangup(call["id"])

    def test_short_hello_then_silence_is_a_human(self):
        call, peer, port = self.call()
        started = time.monotonic()
        t = self.play(peer, port, self.hello)
        self.check(call, "human", False)
        self.assertLess(time.monotonic() - started, 3.0)  # 0.3 s lead, the hello, 0.8 s pause
        t.join(5)
        self.hangup(call["id"])

    def test_dead_air_is_unknown_and_no_detection_when_not_asked(self):
        call, _, _ = self.call()
        plain, _, _ = self.call(amd=False)
        self.check(call, "unknown", False)  # 2.5 s without a word
        st, amd, raw, _ = self.p.api("GET", "/v1/calls/%s/amd" % plain["id"], key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual((amd["status"], amd["result"]), ("off", None), amd)
        starts = [str(e) for e in self.redis.call("XRANGE", MF_STREAM, "-", "+")
                  if "amd_start" in str(e)]
        self.assertEqual(sum(self.leg(call) in e for e in starts), 1, starts)
        self.assertEqual(sum(self.leg(plain) in e for e in starts), 0, starts)
        for c in (call, plain):
            self.hangup(c["id"])
        self.assertEqual(self.p.sql("SELECT 'x', count(*) FROM events WHERE call_id = %s AND "
                                    "type = 'call.amd_complete'" % q(plain["id"]))[0][1], "0")


if __name__ == "__main__":
    unittest.main()
