"""The media verbs end to end: API -> api-gateway -> call-control -> media-fork -> events.

PostgreSQL, Redis and the five services on loopback; every call is an outbound call
answered by SIPp. Two far ends:

- cmedia_uas_dtmf.xml answers (telephone-event 101), waits 3 s, then presses 1 2 3 #
  with SIPp's shipped RFC 4733 pcaps;
- cmedia_uas_peer.xml answers with an SDP that points at a Python RTP peer of the test
  (telephone-event 96), which records what media-fork sends (played audio, RFC 4733
  events) and sends events itself when a test wants digits heard.

Checked: gather -> call.gather_complete (digits, status valid / timeout / cancelled /
call_hangup, call_id, customer_reference) in the events table and GET /v1/calls/{id}/
events; maximum_tries (one retry, then the final result only; gather_using_audio's
invalid_audio_url as the retry's prompt); stop_gather; play of a WAV made at test time
(served over http from the test: the API takes http(s) URLs only) heard by the peer;
stop_playback; target_legs opposite failing; send_dtmf heard on payload type 96 (connect's
dtmf_payload_type), on an inbound call too (the caller's offer); the verbs the node
advertises (501 for others: test_api_actions); media-fork dying during a play and a gather (the actions
are closed and the gather reported call_hangup when the call ends).
"""
import json
import os
import subprocess
import time
import unittest

from contract import contract
from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_inbound import CALLER
from test_media_verbs import AudioServer, Redis, RtpPeer, decode_events, sox

MF_STREAM = "voepy:mf:media-fork-it"
DID = "+15125550177"  # the tenant's number for inbound calls
MEDIA_VERBS = ("play", "stop_playback", "gather", "gather_using_audio", "stop_gather",
               "send_dtmf")


class CallMediaBase(unittest.TestCase):
    """The platform of a suite and the helpers of its tests (no tests of its own)."""

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="call-media")
        cls.audio_dir = os.path.join(cls.p.tmp, "audio")
        os.makedirs(cls.audio_dir)
        sox("-n", "-r", "16000", "-c", "1", os.path.join(cls.audio_dir, "chirp.wav"),
            "synth", "1", "sine", "300-3000", "gain", "-6")
        sox("-n", "-r", "8000", "-c", "1", os.path.join(cls.audio_dir, "long.wav"),
            "synth", "8", "sine", "440", "gain", "-6")
        sox("-n", "-r", "8000", "-c", "1", os.path.join(cls.audio_dir, "prompt.wav"),
            "synth", "0.4", "sine", "600", "gain", "-6")
        sox("-n", "-r", "8000", "-c", "1", os.path.join(cls.audio_dir, "again.wav"),
            "synth", "0.4", "sine", "900", "gain", "-6")
        cls.p.extra_env["VOEPY_MEDIA_AUDIO_DIR"] = cls.audio_dir
        cls.p.start()
        try:
            cls.audio = AudioServer(cls.audio_dir)
            cls.redis = Redis(cls.p.redis_port)
            cls.dtmf_uas = cls.p.sipp("cmedia_uas_dtmf.xml", name="dtmf", rtp_echo=False)
            cls.routes = {"dtmf": cls.p.create_route(cls.dtmf_uas.uri, name="dtmf")}
            cls.tenant, cls.key = setup_tenant(cls.p, cls.routes["dtmf"])
            cls.setup_did()
            cls.hooks = cls.p.receiver()
            whk = cls.p.sql("SELECT voepy_id('whk')")[0][0]
            cls.p.sql_webhook_endpoint(whk, cls.tenant["id"], cls.hooks.url,
                                       events=("call.gather_complete",))
            # The gateway reads the node registry every second: verbs sent sooner are 501.
            wait_until(lambda: set(MEDIA_VERBS) <= set(cls.node_verbs()), 10,
                       what="the node to advertise the media verbs")
            time.sleep(1.5)
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def setup_did(cls):
        p, route = cls.p, cls.routes["dtmf"]
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                {"numbers": [DID], "route_id": route["id"]})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                {"prefix": "1", "kind": "inbound", "cents_per_minute": 60})
        assert st == 201, raw
        st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": DID}, key=cls.key)
        assert st == 201, raw

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
    def call_body(self):
        return {"from": FROM, "to": TO, "customer_reference": "ref-%s" % self._testMethodName}

    def place(self, route):
        return self.p.answered_call(self.key, dict(self.call_body(), route_id=route["id"]))

    def peer_call(self):
        """A call answered by a SIPp whose SDP points at a new RtpPeer (telephone-event 96);
        returns (call, peer, media-fork's RTP port for the leg)."""
        peer = RtpPeer()
        self.peers.append(peer)
        call, port = self.p.peer_call(self.key, peer, self.call_body())
        return call, peer, port

    def action(self, call_id, verb, body=None, status=200):
        st, out, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb),
                                     body if body is not None else {}, key=self.key)
        self.assertEqual(st, status, raw)
        if status != 200:
            return out
        return self.p.sql("SELECT id FROM call_actions WHERE call_id = %s AND verb = %s"
                          " ORDER BY requested_at DESC LIMIT 1" % (q(call_id), q(verb)))[0][0]

    def action_row(self, action_id, timeout=10):
        """(status, error) of an action once it is no longer requested."""
        def done():
            row = self.p.sql("SELECT status, error FROM call_actions WHERE id = %s"
                             % q(action_id))[0]
            return row if row[0] != "requested" else None
        return tuple(wait_until(done, timeout, interval=0.1, what="action %s" % action_id))

    def gathers(self, call_id):
        return [json.loads(r[0]) for r in self.p.sql(
            "SELECT data FROM events WHERE call_id = %s AND type = 'call.gather_complete'"
            " ORDER BY seq" % q(call_id))]

    def wait_gather(self, call_id, n=1, timeout=15):
        return wait_until(lambda: len(self.gathers(call_id)) >= n and self.gathers(call_id),
                          timeout, interval=0.1, what="call.gather_complete")[n - 1]

    def mf_commands(self, op, leg_id):
        out = []
        for _, kv in self.redis.call("XRANGE", MF_STREAM, "-", "+"):
            m = json.loads(kv[1])
            if m.get("op") == op and m.get("leg_id") == leg_id:
                out.append(m)
        return out

    def metric(self, series):
        st, _, body = self.p.ops("media-fork", "/metrics")
        self.assertEqual(st, 200)
        for line in body.decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name == series:
                return float(value)
        return 0.0

    def hangup(self, call_id):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.p.wait_call(self.key, call_id, lambda c: c["status"] == "ended")



class CallMedia(CallMediaBase):
    # -- the node advertises the media verbs ----------------------------------------------
    def test_verbs_advertised(self):
        self.assertEqual(set(self.node_verbs()), {"hangup", "answer", "reject"} | set(MEDIA_VERBS)
                         | {"transfer", "bridge", "refer", "start_recording", "stop_recording",
                            "streaming_start", "streaming_stop", "speak", "gather_using_speak",
                            "transcription_start", "transcription_stop"})

    # -- gather ---------------------------------------------------------------------------
    def test_gather_rfc4733_digits_from_sipp(self):
        call = self.place(self.routes["dtmf"])
        act = self.action(call["id"], "gather", {"maximum_digits": 10})
        data = self.wait_gather(call["id"])
        self.assertEqual(data, {"call_id": call["id"], "customer_reference":
                                "ref-test_gather_rfc4733_digits_from_sipp",
                                "digits": "123", "status": "valid"})
        self.assertEqual(self.action_row(act), ("done", None))
        # The far end's telephone-event type went to media-fork with connect.
        leg = call["legs"][0]["id"]
        self.assertEqual(self.mf_commands("connect", leg)[-1].get("dtmf_payload_type"), 101)
        # The event log of the call, as the API shows it (checked against openapi.yaml).
        st, page, raw, _ = self.p.api("GET", "/v1/calls/%s/events" % call["id"], key=self.key)
        self.assertEqual(st, 200, raw)
        ev = [e for e in page["data"] if e["type"] == "call.gather_complete"]
        self.assertEqual(len(ev), 1, raw)
        self.assertEqual(ev[0]["data"]["digits"], "123")
        # The webhook, as the tenant receives it: openapi.yaml's GatherCompleteEvent.
        hook = wait_until(lambda: [e for e in self.hooks.events()
                                   if e["data"].get("call_id") == call["id"]], 15,
                          what="the call.gather_complete webhook")[0]
        self.assertEqual((hook["type"], hook["data"]), ("call.gather_complete", data))
        schema = contract()._validator("/components/schemas/GatherCompleteEvent")
        self.assertEqual(list(schema.iter_errors(hook)), [], hook)
        self.assertTrue(list(schema.iter_errors(dict(hook, data=dict(hook["data"],
                                                                     status="bogus")))))
        self.hangup(call["id"])

    def test_gather_timeout(self):
        call, peer, port = self.peer_call()
        t0 = time.monotonic()
        act = self.action(call["id"], "gather", {"timeout_millis": 1000})
        data = self.wait_gather(call["id"])
        self.assertEqual((data["digits"], data["status"]), ("", "timeout"))
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(self.action_row(act), ("done", None))
        self.hangup(call["id"])

    def test_gather_maximum_tries_then_timeout(self):
        call, peer, port = self.peer_call()
        t0 = time.monotonic()
        act = self.action(call["id"], "gather", {"timeout_millis": 1000, "maximum_tries": 2})
        data = self.wait_gather(call["id"])
        self.assertGreater(time.monotonic() - t0, 1.9)  # two tries of 1 s
        self.assertEqual((data["digits"], data["status"]), ("", "timeout"))
        time.sleep(1.5)
        self.assertEqual(len(self.gathers(call["id"])), 1, "only the last try is emitted")
        ids = [m["gather_id"] for m in self.mf_commands("gather", call["legs"][0]["id"])]
        self.assertEqual(ids, [act, act + "~2"])
        self.assertEqual(self.action_row(act), ("done", None))
        self.hangup(call["id"])

    def test_gather_using_audio_retries_with_the_invalid_prompt(self):
        call, peer, port = self.peer_call()
        prompt, again = self.audio.url("prompt.wav"), self.audio.url("again.wav")
        act = self.action(call["id"], "gather_using_audio",
                          {"audio_url": prompt, "invalid_audio_url": again,
                           "minimum_digits": 2, "maximum_tries": 2, "timeout_millis": 5000})
        leg = call["legs"][0]["id"]
        time.sleep(1.0)  # the prompt (0.4 s) is over
        peer.send_event(port, "5", pt=96)
        peer.send_event(port, "#", pt=96)  # one digit: invalid, tried again
        wait_until(lambda: len(self.mf_commands("gather", leg)) == 2, 5, what="the retry")
        cmds = self.mf_commands("gather", leg)
        self.assertEqual((cmds[0]["play"], cmds[1]["play"]), (prompt, again))
        self.assertEqual((cmds[1]["gather_id"], cmds[1]["minimum_digits"]), (act + "~2", 2))
        time.sleep(1.0)
        for d in "42#":
            peer.send_event(port, d, pt=96)
        data = self.wait_gather(call["id"])
        self.assertEqual((data["digits"], data["status"]), ("42", "valid"))
        self.assertEqual(len(self.gathers(call["id"])), 1)
        self.hangup(call["id"])

    def test_stop_gather_and_hangup_during_gather(self):
        call, peer, port = self.peer_call()
        act = self.action(call["id"], "gather", {"timeout_millis": 30000, "maximum_tries": 3})
        time.sleep(0.5)
        peer.send_event(port, "7", pt=96)
        time.sleep(0.3)
        stop = self.action(call["id"], "stop_gather")
        data = self.wait_gather(call["id"])
        self.assertEqual((data["digits"], data["status"]), ("7", "cancelled"))
        self.assertEqual(self.action_row(stop), ("done", None))
        self.assertEqual(self.action_row(act), ("done", None))
        # A gather running when the call ends: call_hangup.
        self.action(call["id"], "gather", {"timeout_millis": 30000})
        time.sleep(0.5)
        self.hangup(call["id"])
        data = self.wait_gather(call["id"], n=2)
        self.assertEqual(data["status"], "call_hangup")
        types = [r[0] for r in self.p.sql("SELECT type FROM events WHERE call_id = %s"
                                          " ORDER BY seq" % q(call["id"]))]
        self.assertEqual(types[-2:], ["call.gather_complete", "call.ended"])

    # -- play -----------------------------------------------------------------------------
    def test_play_is_heard(self):
        call, peer, port = self.peer_call()
        finished = self.metric('voepy_media_playbacks_total{reason="finished"}')
        peer.take()
        act = self.action(call["id"], "play", {"url": self.audio.url("chirp.wav")})
        self.assertEqual(self.action_row(act), ("done", None))
        self.assertEqual(self.metric('voepy_media_playbacks_total{reason="finished"}'),
                         finished + 1)
        pkts = peer.take()
        loud = [p for p in pkts if p["pt"] == 0 and any(b not in (0xFF, 0x7F)
                                                         for b in p["payload"])]
        self.assertGreaterEqual(len(loud), 45, "the 1 s file reached the far end")
        # Opposite/both need a second leg: the action fails, nothing is played.
        act = self.action(call["id"], "play", {"url": self.audio.url("chirp.wav"),
                                               "target_legs": "opposite"})
        status, error = self.action_row(act)
        self.assertEqual(status, "failed")
        self.assertIn("second leg", error)
        # A file the gateway cannot take as a URL: 422 at the edge.
        st, body, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/play" % call["id"],
                                      {"url": "file:///etc/hostname"}, key=self.key)
        self.assertEqual(st, 422, raw)
        # Audio media-fork cannot fetch: the play action fails with its error.
        act = self.action(call["id"], "play", {"url": self.audio.url("missing.wav")})
        status, error = self.action_row(act)
        self.assertEqual(status, "failed")
        self.assertIn("audio_fetch_failed", error)
        self.hangup(call["id"])

    def test_stop_playback(self):
        call, peer, port = self.peer_call()
        play = self.action(call["id"], "play", {"url": self.audio.url("long.wav"), "loop": 3})
        wait_until(lambda: any(p["payload"][0] not in (0xFF, 0x7F) for p in peer.take()), 5,
                   what="the long file playing")
        stop = self.action(call["id"], "stop_playback")
        self.assertEqual(self.action_row(stop), ("done", None))
        self.assertEqual(self.action_row(play), ("done", None))
        time.sleep(0.3)
        peer.take()
        time.sleep(0.3)
        self.assertTrue(all(p["payload"] == b"\xff" * 160 for p in peer.take()),
                        "silence again after stop_playback")
        # Nothing playing: done at once.
        stop = self.action(call["id"], "stop_playback")
        self.assertEqual(self.action_row(stop), ("done", None))
        self.hangup(call["id"])

    # -- send_dtmf ------------------------------------------------------------------------
    def test_send_dtmf(self):
        call, peer, port = self.peer_call()
        leg = call["legs"][0]["id"]
        self.assertEqual(self.mf_commands("connect", leg)[-1].get("dtmf_payload_type"), 96)
        sent = self.metric("voepy_media_dtmf_sent_total")
        peer.take()
        act = self.action(call["id"], "send_dtmf", {"digits": "12#", "duration_millis": 100})
        self.assertEqual(self.action_row(act), ("done", None))
        wait_until(lambda: len(decode_events(peer.packets, pt=96)) == 3, 5, what="three events")
        time.sleep(0.3)
        self.assertEqual("".join(e[0] for e in decode_events(peer.take(), pt=96)), "12#")
        self.assertGreaterEqual(self.metric("voepy_media_dtmf_sent_total"), sent + 3)
        self.hangup(call["id"])

    # -- an inbound call: the caller's telephone-event type both ways ----------------------
    def test_inbound_call_digits_both_ways(self):
        peer = RtpPeer()
        self.peers.append(peer)
        caller = self.p.sipp("cmedia_uac_peer.xml", name="caller", calls=1, rtp_echo=False,
                             extra=["-s", DID, "-key", "peer_port", str(peer.port),
                                    "-recv_timeout", "40000"],
                             target="127.0.0.1:%d" % self.p.sip_port)
        rows = wait_until(lambda: self.p.sql("SELECT id FROM calls WHERE direction = 'inbound'"
                                             " AND from_number = %s AND to_number = %s"
                                             " AND status = 'ringing'" % (q(CALLER), q(DID))),
                          10, interval=0.1, what="the inbound call ringing")
        call_id = rows[0][0]
        self.action(call_id, "answer")
        call = self.p.wait_call(self.key, call_id, lambda c: c["status"] == "answered")
        leg = call["legs"][0]["id"]
        self.assertEqual(self.mf_commands("connect", leg)[-1].get("dtmf_payload_type"), 96)
        local = self.p.sql("SELECT 'x', local_media FROM call_legs WHERE call_id = %s"
                           % q(call_id))[0][1]
        port = int(local.rsplit(":", 1)[1])
        wait_until(lambda: peer.packets, 5, what="RTP from the leg")
        # Heard: the caller's events on 96.
        self.action(call_id, "gather", {"timeout_millis": 5000})
        time.sleep(0.3)
        for d in "90#":
            peer.send_event(port, d, pt=96)
        data = self.wait_gather(call_id)
        self.assertEqual((data["digits"], data["status"], data["customer_reference"]),
                         ("90", "valid", None))
        # Sent: events on 96 to the caller.
        peer.take()
        act = self.action(call_id, "send_dtmf", {"digits": "4", "duration_millis": 100})
        self.assertEqual(self.action_row(act), ("done", None))
        wait_until(lambda: decode_events(peer.packets, pt=96), 5, what="the event")
        time.sleep(0.3)
        self.assertEqual("".join(e[0] for e in decode_events(peer.take(), pt=96)), "4")
        self.hangup(call_id)
        self.assertEqual(caller.process.proc.wait(15), 0, caller.messages()[-3000:])

    # -- what the node does not carry out -------------------------------------------------

class MediaForkGone(CallMediaBase):
    """media-fork dies during a play and a gather: when the call ends (its release given
    up after VOEPY_MEDIA_TIMEOUT_MS) nothing stays requested and the gather still reports,
    call_hangup."""

    def test_actions_closed_when_media_fork_never_reports(self):
        call, peer, port = self.peer_call()
        play = self.action(call["id"], "play", {"url": self.audio.url("long.wav"), "loop": 5})
        wait_until(lambda: any(p["payload"][0] not in (0xFF, 0x7F) for p in peer.take()), 5,
                   what="the long file playing")
        gather = self.action(call["id"], "gather", {"timeout_millis": 30000})
        time.sleep(0.3)
        self.p.kill("media-fork")
        self.hangup(call["id"])
        self.assertEqual(self.action_row(play)[0], "done")
        self.assertIn("media-fork", self.action_row(play)[1])
        self.assertEqual(self.action_row(gather), ("done", None))
        data = self.wait_gather(call["id"])
        self.assertEqual((data["digits"], data["status"]), ("", "call_hangup"))


if __name__ == "__main__":
    unittest.main()
