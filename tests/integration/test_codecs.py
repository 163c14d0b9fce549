"""G.722 and Opus on call legs end to end (issue 5, "SDP offer/answer ... PCMU, PCMA,
G722, OPUS and telephone-event").

Outbound calls answered by SIPp (sip/codec_uas_peer.xml) with an SDP that accepts one codec
only - G722 on 9, then Opus on 111 ("opus/48000/2") - and points at a Python RTP peer. The
leg's codec in the call resource is that codec; the peer gets RTP with its payload type,
its size (160 bytes for G.722) and its timestamp step (160 at G.722's 8000 Hz RTP clock,
960 at Opus's 48000); before the play what comes is encoded silence (media-fork's silence
mode), and a `play` of a chirp is heard as payloads that are not that silence (G.722:
different, varied bytes; Opus: packets much larger than the few bytes of its silence).
An inbound call (sip/codec_uac_g722.xml) offering G722 only is answered with G722 (the
scenario checks our SDP answer) and gets G.722 RTP. Bridged legs: two G722 legs relay the
payloads a peer sends byte for byte; a G722 leg bridged with an Opus leg transcodes (the
Opus side gets Opus packets of speech size on payload type 111, timestamps 960 apart).
Echo mode (a `connect` with mode echo sent to media-fork) sends a G722 or Opus peer's
payloads back unchanged on the leg's own clock.
"""
import json
import os
import time
import unittest

from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_inbound import CALLER
from test_media_verbs import AudioServer, Redis, RtpPeer, sox

DID = "+15125550188"  # the tenant's number for the inbound call


class Codecs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="codecs")
        cls.audio_dir = os.path.join(cls.p.tmp, "audio")
        os.makedirs(cls.audio_dir)
        sox("-n", "-r", "8000", "-c", "1", os.path.join(cls.audio_dir, "chirp.wav"),
            "synth", "1", "sine", "300-3000", "gain", "-6")
        cls.p.start()
        cls.peers = []
        try:
            cls.audio = AudioServer(cls.audio_dir)
            cls.g722 = cls.peer_route("9", "G722/8000")
            cls.opus = cls.peer_route("111", "opus/48000/2")
            cls.tenant, cls.key = setup_tenant(cls.p, cls.g722[0])
            cls.setup_did()
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def peer_route(cls, pt, rtpmap):
        """A route to a SIPp that accepts only (pt, rtpmap), and the RtpPeer it points at."""
        peer = RtpPeer()
        cls.peers.append(peer)
        route, _ = cls.p.peer_route(peer.port, scenario="codec_uas_peer.xml",
                                    name="codec-%s" % pt,
                                    extra=["-key", "codec_pt", pt, "-key", "codec_map", rtpmap])
        return route, peer

    @classmethod
    def setup_did(cls):
        p = cls.p
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                {"numbers": [DID], "route_id": cls.g722[0]["id"]})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                {"prefix": "1", "kind": "inbound", "cents_per_minute": 60})
        assert st == 201, raw
        st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": DID}, key=cls.key)
        assert st == 201, raw

    @classmethod
    def tearDownClass(cls):
        for peer in cls.peers:
            peer.close()
        cls.audio.close()
        cls.p.stop()

    # -- helpers -------------------------------------------------------------------------
    def place(self, route, peer=None):
        if peer:
            peer.take()  # what an earlier call's leg sent
        return self.p.answered_call(self.key, {"from": FROM, "to": TO, "route_id": route["id"]})

    def verb(self, call_id, verb, body):
        """POST a call action (retried while the node's verbs are not read yet: 501);
        returns (status, error) of its call_actions row once carried out."""
        def post():
            st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb),
                                       body, key=self.key)
            self.assertIn(st, (200, 501), raw)
            return st == 200
        wait_until(post, 5, interval=0.2, what="the %s accepted" % verb)

        def done():
            rows = self.p.sql("SELECT status, error FROM call_actions WHERE call_id = %s"
                              " AND verb = %s ORDER BY requested_at DESC LIMIT 1"
                              % (q(call_id), q(verb)))
            return rows and rows[0][0] != "requested" and tuple(rows[0])
        return wait_until(done, 10, interval=0.1, what="the %s done" % verb)

    def leg(self, call):
        """(leg id, media-fork's RTP port for it) of a call."""
        return call["legs"][0]["id"], self.p.leg_port(call["id"])

    def play(self, call_id):
        """A play of the chirp, to the end; (status, error) of its action."""
        def post():
            st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/play" % call_id,
                                       {"url": self.audio.url("chirp.wav")}, key=self.key)
            return raw if st == 200 else None  # 501 until the node's verbs are read
        wait_until(post, 5, interval=0.2, what="the play accepted")

        def done():
            rows = self.p.sql("SELECT status, error FROM call_actions WHERE call_id = %s"
                              " AND verb = 'play'" % q(call_id))
            return rows and rows[0][0] != "requested" and tuple(rows[0])
        return wait_until(done, 10, interval=0.1, what="the play done")

    def hangup(self, call_id):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.p.wait_call(self.key, call_id, lambda c: c["status"] == "ended")

    def check_stream(self, pkts, pt, step, size=None):
        """Our RTP on one SSRC: payload type pt, the timestamp step per sequence number
        (a multiple of it across a talkspurt's start), and (G.722) a fixed size."""
        audio = [p for p in pkts if p["pt"] == pt]
        self.assertGreater(len(audio), 10, [p["pt"] for p in pkts[:20]])
        self.assertEqual({p["pt"] for p in pkts}, {pt})
        self.assertEqual(len({p["ssrc"] for p in audio}), 1)
        for a, b in zip(audio, audio[1:]):
            dseq = (b["seq"] - a["seq"]) & 0xFFFF
            dts = (b["ts"] - a["ts"]) & 0xFFFFFFFF
            if b["marker"]:  # after a gap (a bridged tick with nothing heard) the clock ran on
                self.assertTrue(dts % step == 0 and dts >= dseq * step, (a, b))
            else:
                self.assertEqual(dts, dseq * step, (a, b))
        if size is not None:
            self.assertEqual({len(p["payload"]) for p in audio}, {size})
        return audio

    def bridged(self, a, b):
        leg_b = self.leg(b)[0]
        self.assertEqual(self.verb(a["id"], "bridge", {"leg_id": leg_b})[0], "done")
        for c in (a, b):
            self.p.wait_call(self.key, c["id"], lambda x: x["status"] == "bridged")

    # -- tests ---------------------------------------------------------------------------
    def test_bridged_legs_relay_or_transcode(self):
        # G.722 speech to send: what media-fork plays on a G722 leg
        route, peer = self.g722
        a = self.place(route, peer)
        wait_until(lambda: len(peer.packets) > 5, 5, what="RTP from the leg")
        quiet = {bytes(p["payload"]) for p in peer.take()[3:]}
        self.assertEqual(self.play(a["id"]), ("done", None))
        speech = [bytes(p["payload"]) for p in peer.take()
                  if p["pt"] == 9 and bytes(p["payload"]) not in quiet][:40]
        self.assertGreater(len(speech), 30)
        # two G722 legs: relayed byte for byte
        b_route, b_peer = self.peer_route("9", "G722/8000")
        b = self.place(b_route)
        self.bridged(a, b)
        self.send_and_collect(peer, self.leg(a)[1], speech, b_peer)
        got = [bytes(p["payload"]) for p in b_peer.take() if p["pt"] == 9]
        self.assertGreaterEqual(len([x for x in got if x in set(speech)]), 30)
        self.hangup(a["id"])
        # a G722 leg and an Opus leg: transcoded
        c_route, c_peer = self.peer_route("9", "G722/8000")
        o_route, o_peer = self.peer_route("111", "opus/48000/2")
        c, o = self.place(c_route), self.place(o_route)
        self.bridged(c, o)
        self.send_and_collect(c_peer, self.leg(c)[1], speech, o_peer)
        opus = self.check_stream(o_peer.take(), 111, 960)
        self.assertGreaterEqual(len([p for p in opus if len(p["payload"]) > 20]), 20,
                                sorted(len(p["payload"]) for p in opus))
        for call in (c, o, b):  # ending one side of a bridge may end the other (409 then)
            st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {},
                                       key=self.key)
            self.assertIn(st, (200, 409), raw)
            self.p.wait_call(self.key, call["id"], lambda x: x["status"] == "ended")

    def test_echo_mode(self):
        """A leg switched to echo (a second `connect`, as a re-INVITE would send) sends back
        what its far end sends, on its own clock: 160 (G722) or 960 (OPUS) per frame."""
        redis = Redis(self.p.redis_port)
        self.addCleanup(redis.close)
        node = wait_until(lambda: redis.call("ZRANGE", "voepy:nodes:media-fork", 0, -1), 5,
                          what="the media-fork node")[0]
        for (route, peer), pt, codec, step in ((self.g722, 9, "G722", 160),
                                               (self.opus, 111, "OPUS", 960)):
            call = self.place(route, peer)
            leg, port = self.leg(call)
            redis.call("XADD", "voepy:mf:%s" % node, "*", "m", json.dumps(
                {"op": "connect", "leg_id": leg, "remote_ip": "127.0.0.1",
                 "remote_port": peer.port, "codec": codec, "payload_type": pt,
                 "dtmf_payload_type": 96, "mode": "echo"}))
            time.sleep(0.2)
            sent = [os.urandom(160 if codec == "G722" else 40) for _ in range(15)]
            self.send_and_collect(peer, port, sent, peer, pt=pt)
            back = self.check_stream(peer.take(), pt, step)
            self.assertGreaterEqual(len([p for p in back if bytes(p["payload"]) in sent]), 12)
            self.hangup(call["id"])

    def send_and_collect(self, src, port, payloads, dst, pt=9):
        """src sends payloads as RTP (pt) to port every 20 ms; dst's earlier packets go."""
        time.sleep(0.1)
        dst.take()
        for i, pay in enumerate(payloads):
            src.send(port, pt, pay, marker=(i == 0), ts=(src.ts + 160 * i) & 0xFFFFFFFF)
            time.sleep(0.02)
        time.sleep(0.3)

    def test_outbound_g722(self):
        route, peer = self.g722
        call = self.place(route, peer)
        self.assertEqual(call["legs"][0]["codec"], "G722")
        wait_until(lambda: len(peer.packets) > 15, 5, what="RTP from the leg")
        silent = self.check_stream(peer.take(), 9, 160, size=160)
        quiet = {bytes(p["payload"]) for p in silent[5:]}  # encoded zeros, settled
        self.assertEqual(self.play(call["id"]), ("done", None))
        played = self.check_stream(peer.take(), 9, 160, size=160)
        loud = [p for p in played if bytes(p["payload"]) not in quiet
                and len(set(p["payload"])) > 16]
        self.assertGreater(len(loud), 30, "a 1 s chirp is about 50 loud frames")
        self.hangup(call["id"])

    def test_outbound_opus(self):
        route, peer = self.opus
        call = self.place(route, peer)
        self.assertEqual(call["legs"][0]["codec"], "OPUS")
        wait_until(lambda: len(peer.packets) > 15, 5, what="RTP from the leg")
        silent = self.check_stream(peer.take(), 111, 960)
        quiet_max = max(len(p["payload"]) for p in silent[5:])
        self.assertLess(quiet_max, 12, "Opus codes digital silence in a few bytes")
        self.assertEqual(self.play(call["id"]), ("done", None))
        played = self.check_stream(peer.take(), 111, 960)
        loud = [p for p in played if len(p["payload"]) > 20]
        self.assertGreater(len(loud), 30, sorted(len(p["payload"]) for p in played))
        self.hangup(call["id"])

    def test_inbound_offer_g722_only(self):
        peer = RtpPeer()
        self.peers.append(peer)
        caller = self.p.sipp("codec_uac_g722.xml", name="caller", calls=1, rtp_echo=False,
                             extra=["-s", DID, "-key", "peer_port", str(peer.port),
                                    "-recv_timeout", "20000"],
                             target="127.0.0.1:%d" % self.p.sip_port)
        rows = wait_until(lambda: self.p.sql("SELECT id FROM calls WHERE direction = 'inbound'"
                                             " AND from_number = %s AND to_number = %s"
                                             " AND status = 'ringing'" % (q(CALLER), q(DID))),
                          10, interval=0.1, what="the inbound call ringing")
        call_id = rows[0][0]
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/answer" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        call = self.p.wait_call(self.key, call_id, lambda c: c["status"] == "answered")
        self.assertEqual(call["legs"][0]["codec"], "G722")
        wait_until(lambda: len(peer.packets) > 10, 5, what="RTP from the leg")
        self.check_stream(peer.take(), 9, 160, size=160)
        self.hangup(call_id)
        # the caller's scenario checked our answer: m=audio ... RTP/AVP 9 96, G722/8000
        self.assertEqual(caller.process.proc.wait(15), 0, caller.messages()[-3000:])


if __name__ == "__main__":
    unittest.main()
