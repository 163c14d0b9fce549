"""play's target_legs and the queue of plays, end to end: API -> api-gateway -> call-control
-> media-fork -> the far ends' RTP.

PostgreSQL, Redis and the five services on loopback. Every far end is SIPp
(cmedia_uas_peer.xml) answering with an SDP that points at a Python RTP peer of the test,
so the test sees what each far end hears. The audio files are constant-level WAVs made at
test time (one positive, one negative level): every packet of a file is one G.711 byte
repeated, so a packet says which file it came from. Checked:

- two API calls bridged: play with target_legs opposite is heard by the other call's far
  end only, both by both; the action is done when every leg's playback ended; a
  stop_playback of the call that played on the opposite leg stops it there; a call that
  is not bridged fails opposite/both with no_opposite_leg;
- the queue on one leg: two plays are heard one after the other in the order sent (the
  second not stopping the first); stop_playback stop current ends the first and the
  second is then heard; stop all ends the playing one and the queued one, both reported
  playback_ended stopped by media-fork (read on call-control's inbox stream); a 17th
  waiting play is refused queue_full;
- ringback: a call created with audio_url is transferred to a SIPp that rings and never
  answers (uas_ring.xml, timeout_secs 2): while the child rings, the parent's far end
  hears the audio_url; once the transfer has failed (no_answer) it hears nothing more;
  transferred to a SIPp that rings 1.5 s then answers (sip/play_uas_ring_peer.xml), the
  parent hears the ringback while it rings, then the new call's far end and no ringback.
"""
import json
import os
import struct
import time
import unittest
import wave

from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_media_verbs import AudioServer, Redis, RtpPeer

CC_STREAM = "voepy:cc:call-control-it"


def level_wav(path, value, secs):
    """A mono 8 kHz WAV of one constant sample value."""
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<h", value) * int(8000 * secs))


def kinds(pkts):
    """The file each audio packet came from: 'P' (positive level), 'N' (negative); silence
    and anything else is left out. G.711 mu-law: the top bit is the sign (1 = positive)."""
    out = []
    for p in pkts:
        b = p["payload"]
        if p["pt"] != 0 or len(set(b)) != 1 or b[0] in (0xFF, 0x7F):
            continue
        out.append("P" if b[0] & 0x80 else "N")
    return out


def runs(seq):
    """'PPPNNN' -> ['P', 'N']: the order in which the files were heard."""
    out = []
    for k in seq:
        if not out or out[-1] != k:
            out.append(k)
    return out


class Play(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="play")
        cls.audio_dir = os.path.join(cls.p.tmp, "audio")
        os.makedirs(cls.audio_dir)
        level_wav(os.path.join(cls.audio_dir, "pos.wav"), 8000, 0.6)
        level_wav(os.path.join(cls.audio_dir, "neg.wav"), -8000, 0.6)
        level_wav(os.path.join(cls.audio_dir, "poslong.wav"), 8000, 4)
        cls.p.extra_env["VOEPY_MEDIA_AUDIO_DIR"] = cls.audio_dir
        cls.p.start()
        try:
            cls.audio = AudioServer(cls.audio_dir)
            cls.redis = Redis(cls.p.redis_port)
            cls.busy = cls.p.sipp("uas_busy.xml", name="busy", rtp_echo=False)
            route = cls.p.create_route(cls.busy.uri, name="busy")
            cls.tenant, cls.key = setup_tenant(cls.p, route)
            # The gateway reads the node registry every second: verbs sent sooner are 501.
            wait_until(lambda: {"play", "stop_playback", "bridge"} <= set(cls.node_verbs()),
                       10, what="the node to advertise play and bridge")
            time.sleep(1.5)
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def node_verbs(cls):
        verbs = cls.redis.call("HGET", "voepy:node:call-control:call-control-it", "verbs")
        return (verbs or "").split(",")

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
    def call(self, **fields):
        """An answered API call whose far end's RTP goes to a new RtpPeer: (call, peer)."""
        peer = RtpPeer()
        self.peers.append(peer)
        call, _ = self.p.peer_call(self.key, peer, dict({"from": FROM, "to": TO}, **fields))
        return call, peer

    def leg(self, call_id):
        return self.p.sql("SELECT id FROM call_legs WHERE call_id = %s" % q(call_id))[0][0]

    def action(self, call_id, verb, body, status=200):
        st, out, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body,
                                     key=self.key)
        self.assertEqual(st, status, raw)
        return self.p.sql("SELECT id FROM call_actions WHERE call_id = %s AND verb = %s"
                          " ORDER BY requested_at DESC LIMIT 1" % (q(call_id), q(verb)))[0][0]

    def action_row(self, action_id, timeout=10):
        def done():
            row = self.p.sql("SELECT status, error FROM call_actions WHERE id = %s"
                             % q(action_id))[0]
            return (row[0], row[1] or "") if row[0] != "requested" else None
        return wait_until(done, timeout, interval=0.1, what="action %s" % action_id)

    def play(self, call_id, name, **extra):
        return self.action(call_id, "play", dict({"url": self.audio.url(name)}, **extra))

    def ended_reasons(self, playback_id):
        """media-fork's playback_ended reasons for playback_id, read on call-control's
        inbox stream."""
        out = []
        for _, kv in self.redis.call("XRANGE", CC_STREAM, "-", "+"):
            m = json.loads(kv[1])
            if m.get("op") == "playback_ended" and m.get("playback_id") == playback_id:
                out.append(m.get("reason"))
        return out

    def hangup(self, call_id):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)

    # -- target_legs ---------------------------------------------------------------------
    def test_target_legs_on_a_bridge(self):
        a, peer_a = self.call()
        b, peer_b = self.call()
        # Not bridged yet: opposite and both have no leg to play on.
        for legs in ("opposite", "both"):
            status, error = self.action_row(self.play(a["id"], "pos.wav", target_legs=legs))
            self.assertEqual(status, "failed")
            self.assertIn("no_opposite_leg", error)
        self.assertEqual(self.action_row(self.action(a["id"], "bridge",
                                                     {"leg_id": self.leg(b["id"])}))[0], "done")
        time.sleep(0.2)
        peer_a.take(), peer_b.take()
        # opposite: b's far end hears it, a's does not.
        act = self.play(a["id"], "pos.wav", target_legs="opposite")
        self.assertEqual(self.action_row(act), ("done", ""))
        self.assertGreaterEqual(kinds(peer_b.take()).count("P"), 25)
        self.assertEqual(kinds(peer_a.take()), [])
        # both: both far ends hear it; done once both ended.
        act = self.play(b["id"], "neg.wav", target_legs="both")
        self.assertEqual(self.action_row(act), ("done", ""))
        self.assertEqual(self.ended_reasons(act), ["finished", "finished"])
        self.assertGreaterEqual(kinds(peer_a.take()).count("N"), 25)
        self.assertGreaterEqual(kinds(peer_b.take()).count("N"), 25)
        # stop_playback of a stops a's play on b's leg.
        act = self.play(a["id"], "poslong.wav", target_legs="opposite")
        wait_until(lambda: "P" in kinds(peer_b.take()), 5, what="the long file on b's leg")
        stop = self.action(a["id"], "stop_playback", {})
        self.assertEqual(self.action_row(stop), ("done", ""))
        self.assertEqual(self.action_row(act), ("done", ""))
        self.assertEqual(self.ended_reasons(act), ["stopped"])
        time.sleep(0.2)
        peer_b.take()
        time.sleep(0.3)
        self.assertEqual(kinds(peer_b.take()), [], "nothing plays on b after the stop")
        self.hangup(a["id"])

    # -- the queue -----------------------------------------------------------------------
    def test_queue_in_order_stop_current_and_all(self):
        c, peer = self.call()
        peer.take()
        # Two plays: heard one after the other, in the order sent; both done.
        first = self.play(c["id"], "pos.wav")
        second = self.play(c["id"], "neg.wav")
        self.assertEqual(self.action_row(second), ("done", ""))
        self.assertEqual(self.action_row(first), ("done", ""))
        heard = kinds(peer.take())
        self.assertEqual(runs(heard), ["P", "N"], heard)
        self.assertGreaterEqual(heard.count("P"), 25, "the first was not cut short")
        self.assertEqual(self.ended_reasons(first), ["finished"])
        # stop current: the long one ends, the queued one is then heard.
        long_ = self.play(c["id"], "poslong.wav")
        queued = self.play(c["id"], "neg.wav")
        wait_until(lambda: "P" in kinds(peer.take()), 5, what="the long file playing")
        stop = self.action(c["id"], "stop_playback", {"stop": "current"})
        self.assertEqual(self.action_row(stop), ("done", ""))
        self.assertEqual(self.action_row(long_), ("done", ""))
        self.assertEqual(self.ended_reasons(long_), ["stopped"])
        self.assertEqual(self.action_row(queued), ("done", ""))
        self.assertEqual(self.ended_reasons(queued), ["finished"])
        self.assertGreaterEqual(kinds(peer.take()).count("N"), 25, "the queued one played")
        # stop all: the playing one and the queued one end stopped; nothing more plays.
        long_ = self.play(c["id"], "poslong.wav")
        queued = self.play(c["id"], "neg.wav")
        wait_until(lambda: "P" in kinds(peer.take()), 5, what="the long file playing")
        stop = self.action(c["id"], "stop_playback", {"stop": "all"})
        self.assertEqual(self.action_row(stop), ("done", ""))
        for act in (long_, queued):
            self.assertEqual(self.action_row(act), ("done", ""))
            self.assertEqual(self.ended_reasons(act), ["stopped"])
        time.sleep(0.2)
        peer.take()
        time.sleep(0.4)
        self.assertEqual(kinds(peer.take()), [], "nothing plays after stop all")
        # 1 playing + 16 waiting; the 18th is refused by media-fork: queue_full.
        acts = [self.play(c["id"], "poslong.wav") for _ in range(18)]
        status, error = self.action_row(acts[-1])
        self.assertEqual(status, "failed")
        self.assertIn("queue_full", error)
        self.assertEqual(self.action_row(self.action(c["id"], "stop_playback", {})),
                         ("done", ""))
        for act in acts[:-1]:
            self.assertEqual(self.action_row(act), ("done", ""))
        self.hangup(c["id"])

    # -- ringback ------------------------------------------------------------------------
    def test_ringback_while_a_transfer_rings(self):
        parent, peer = self.call(audio_url=self.audio.url("pos.wav"))
        ring = self.p.sipp("uas_ring.xml", name="ring", rtp_echo=False)
        route = self.p.create_route(ring.uri, name="ring")
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(route["id"]), q(self.tenant["id"])))
        time.sleep(0.3)
        peer.take()
        act = self.action(parent["id"], "transfer", {"to": "+15558675310", "timeout_secs": 2})
        heard = []
        wait_until(lambda: heard.extend(kinds(peer.take())) or heard.count("P") >= 10, 5,
                   what="the ringback on the parent's leg while the child rings")
        status, error = self.action_row(act)
        self.assertEqual(status, "failed")
        self.assertIn("no_answer", error)
        time.sleep(0.3)
        peer.take()
        time.sleep(0.5)
        self.assertEqual(kinds(peer.take()), [], "the ringback stops with the child")
        self.assertEqual(self.p.wait_call(self.key, parent["id"],
                                          lambda c: c["status"] == "answered")["status"],
                         "answered")
        # Again to a far end that answers after ringing: the ringback stops at the bridge
        # and the parent's far end hears the new call's far end instead.
        child_peer = RtpPeer()
        self.peers.append(child_peer)
        route, _ = self.p.peer_route(child_peer.port, scenario="play_uas_ring_peer.xml",
                                     name="ringpeer")
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(route["id"]), q(self.tenant["id"])))
        time.sleep(0.3)
        peer.take()
        act = self.action(parent["id"], "transfer", {"to": "+15558675310", "timeout_secs": 10})
        heard = []
        wait_until(lambda: heard.extend(kinds(peer.take())) or heard.count("P") >= 10, 5,
                   what="the ringback while the second transfer rings")
        self.assertEqual(self.action_row(act), ("done", ""))
        child = self.p.sql("SELECT id FROM calls WHERE options->>'parent_call_id' = %s"
                           " AND status = 'bridged'" % q(parent["id"]))[0][0]
        child_port = int(self.p.sql("SELECT local_media FROM call_legs WHERE call_id = %s"
                                    % q(child))[0][0].rsplit(":", 1)[1])
        time.sleep(0.3)
        peer.take()
        child_peer.send_audio(child_port, bytes([0x1F]) * 160 * 25)  # a negative level
        time.sleep(0.2)
        heard = kinds(peer.take())
        self.assertNotIn("P", heard, "no ringback once bridged")
        self.assertGreaterEqual(heard.count("N"), 15, "the new call's far end is heard")
        self.hangup(parent["id"])


if __name__ == "__main__":
    unittest.main()
