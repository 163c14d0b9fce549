"""WebSocket media streams end to end: API -> api-gateway -> call-control -> media-fork ->
a WebSocket server of the test (ws_server.py) -> back into the call.

One outbound call answered by SIPp whose SDP points at a Python RTP peer; the peer talks
(known µ-law noise, paced in real time). On that call:
- five streams at once, one per codec (PCMU with both tracks, so the echo can be told
  apart; PCMA, L16, G722, OPUS inbound): each server connection gets connected, start
  (tracks, media_format), media frames every 20 ms (sequence numbers without gaps, chunks
  per track, timestamps on the 20 ms clock, payload sizes right for the codec) and stop;
  the PCMU and L16 payloads are exactly the peer's audio; the rows go requested ->
  active -> stopped with frames_sent counted and nothing dropped;
- the PCMU server echoes what it hears: the RTP peer hears its own audio come back
  (bidirectional streams play the client's media on the leg);
- streaming_stop with one stream_id stops only that stream, without one all of them;
- a server that stops reading: the stream drops its oldest frames (frames_dropped) rather
  than falling behind, and its stop still ends it (the connection is cut after 3 s);
- a stream_url whose name resolves to a reserved address (the test resolver) passes the
  gateway and is refused by media-fork's URL policy: the row is failed;
- GET /v1/calls/{id}/streamings lists them all.
And an inbound call answered with stream_url: the stream starts with the answer, the
caller's RFC 4733 key press arrives as a dtmf frame, the stream runs until the hangup
releases the leg, and its row is then stopped.
"""
import audioop
import base64
import os
import random
import threading
import time
import unittest

from harness import Platform, q, wait_until
from test_call_control import setup_tenant
from test_call_media import DID, CallMediaBase
from test_inbound import CALLER
from test_media_verbs import Redis, RtpPeer
from ws_server import WsServer

CODECS = ("PCMU", "PCMA", "L16", "G722", "OPUS")
RATES = {"PCMU": 8000, "PCMA": 8000, "L16": 8000, "G722": 16000, "OPUS": 16000}
SIZES = {"PCMU": 160, "PCMA": 160, "L16": 320, "G722": 160}


class Streaming(CallMediaBase):

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="streaming")
        resolver = os.path.join(cls.p.tmp, "resolver.txt")
        with open(resolver, "w") as f:
            f.write("evil.example 240.0.0.1\n")
        cls.p.extra_env.update({"VOEPY_STREAM_ALLOW_INSECURE": "true",
                                "VOEPY_URL_TEST_RESOLVER": resolver})
        cls.p.start()
        try:
            cls.redis = Redis(cls.p.redis_port)
            cls.ws = WsServer(echo_paths=("/PCMU",))
            cls.stalled = WsServer(stall=True)
            placeholder = cls.p.create_route("sip:127.0.0.1:9", name="placeholder")
            cls.routes = {"dtmf": placeholder}  # setup_did's route for the DID
            cls.tenant, cls.key = setup_tenant(cls.p, placeholder)
            cls.setup_did()
            wait_until(lambda: {"streaming_start", "streaming_stop"} <= set(cls.node_verbs()),
                       10, what="the node to advertise the streaming verbs")
            time.sleep(1.5)  # the gateway reads the registry every second
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ws.close()
        cls.stalled.close()
        cls.redis.close()
        cls.p.stop()

    def rows(self, call_id):
        return {r[0]: r[1:] for r in self.p.sql(
            "SELECT stream_url, id, status, frames_sent, frames_dropped FROM call_streams"
            " WHERE call_id = %s" % q(call_id))}

    def wait_rows(self, call_id, urls, status, timeout=10):
        def ok():
            rows = self.rows(call_id)
            return all(rows.get(u, (None, None))[1] == status for u in urls) and rows
        return wait_until(ok, timeout, interval=0.1, what="streams %s" % status)

    def check_frames(self, conn, codec, tracks):
        ev = conn.messages
        self.assertEqual(ev[0], {"event": "connected", "protocol": "voepy-media-stream",
                                 "version": 1})
        start = ev[1]
        self.assertEqual(start["event"], "start")
        self.assertEqual(start["start"]["tracks"], tracks)
        self.assertEqual(start["start"]["media_format"],
                         {"encoding": codec, "sample_rate": RATES[codec], "channels": 1})
        sid = start["stream_id"]
        self.assertEqual(ev[-1], {"event": "stop", "stream_id": sid,
                                  "sequence_number": len(ev) - 1})
        self.assertEqual([m["sequence_number"] for m in ev[1:]], list(range(1, len(ev))))
        media = [m for m in ev if m["event"] == "media"]
        self.assertGreater(len(media), 40, codec)
        out = {}
        for track in tracks:
            mine = [m["media"] for m in media if m["media"]["track"] == track]
            self.assertEqual([m["chunk"] for m in mine], list(range(1, len(mine) + 1)))
            stamps = [m["timestamp"] for m in mine]
            self.assertTrue(all(t % 20 == 0 for t in stamps) and stamps == sorted(stamps))
            payloads = [base64.b64decode(m["payload"]) for m in mine]
            for p in payloads:
                if codec in SIZES:
                    self.assertEqual(len(p), SIZES[codec], codec)
                else:
                    self.assertTrue(0 < len(p) < 400, len(p))
            self.assertTrue(all(m["stream_id"] == sid for m in media))
            out[track] = payloads
        return sid, out

    def test_streams_for_each_codec_echo_stop_and_refused_url(self):
        call, peer, port = self.peer_call()
        rnd = random.Random(5)
        talk = bytes(rnd.randrange(0x10, 0x70) for _ in range(160 * 200))  # 4 s, never silence
        talker = threading.Thread(target=peer.send_audio, args=(port, talk), daemon=True)
        talker.start()
        slow = self.stalled.url("/slow")  # a server that stops reading: backpressure
        self.action(call["id"], "streaming_start", {"stream_url": slow, "stream_codec": "L16",
                                                   "stream_track": "both_tracks"})
        urls = {c: self.ws.url("/" + c) for c in CODECS}
        for c in CODECS:
            self.action(call["id"], "streaming_start",
                        {"stream_url": urls[c], "stream_codec": c,
                         "stream_track": "both_tracks" if c == "PCMU" else "inbound_track"})
        self.wait_rows(call["id"], list(urls.values()) + [slow], "active")
        wait_until(lambda: all(len(self.ws.by_path("/" + c)[0].events("media")) > 60
                               for c in CODECS), 10, what="media frames on every stream")

        refused = "ws://evil.example:8080/x"
        self.action(call["id"], "streaming_start", {"stream_url": refused})
        self.wait_rows(call["id"], [refused], "failed")

        pcma = self.rows(call["id"])[urls["PCMA"]][0]
        self.action(call["id"], "streaming_stop", {"stream_id": pcma})
        self.wait_rows(call["id"], [urls["PCMA"]], "stopped")
        self.assertEqual(self.rows(call["id"])[urls["PCMU"]][1], "active")
        self.action(call["id"], "streaming_stop")
        rows = self.wait_rows(call["id"], urls.values(), "stopped")
        # the stalled stream dropped its oldest frames, and was cut 3 s after its stop
        _, status, sent, dropped = self.wait_rows(call["id"], [slow], "stopped", 6)[slow]
        self.assertGreater(int(dropped), 20)
        self.assertGreater(int(sent), 0)
        wait_until(lambda: all(self.ws.by_path("/" + c)[0].closed for c in CODECS), 5,
                   what="the servers' connections closed")
        talker.join(5)

        payloads = {}
        for c in CODECS:
            conn = self.ws.by_path("/" + c)[0]
            tracks = ["inbound", "outbound"] if c == "PCMU" else ["inbound"]
            sid, payloads[c] = self.check_frames(conn, c, tracks)
            self.assertEqual(conn.close_code, 1000)
            self.assertEqual(rows[urls[c]][0], sid)
            media = len(conn.events("media"))
            self.assertEqual([int(x) for x in rows[urls[c]][2:]], [media, 0], c)  # sent, dropped
        # what the far end said, byte for byte: µ-law as sent, L16 its linear big-endian
        heard = [p for p in payloads["PCMU"]["inbound"] if p in talk]
        self.assertGreater(len(heard), 40)
        lin = audioop.byteswap(audioop.ulaw2lin(talk, 2), 2)
        self.assertGreater(len([p for p in payloads["L16"]["inbound"] if p in lin]), 40)
        # the echo: what the PCMU server sent back was played to the far end
        echoed = [k for k in peer.take() if k["pt"] == 0 and k["payload"] in talk]
        self.assertGreater(len(echoed), 20)
        self.assertTrue(any(p in talk for p in payloads["PCMU"]["outbound"]))

        st, body, raw, _ = self.p.api("GET", "/v1/calls/%s/streamings" % call["id"], key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(sorted(s["status"] for s in body["data"]),
                         ["failed"] + ["stopped"] * 6)
        self.hangup(call["id"])

    def test_answer_with_stream_url_streams_until_the_call_ends(self):
        peer = RtpPeer()
        self.peers.append(peer)
        caller = self.p.sipp("cmedia_uac_peer.xml", name="caller", calls=1, rtp_echo=False,
                             extra=["-s", DID, "-key", "peer_port", str(peer.port),
                                    "-recv_timeout", "40000"],
                             target="127.0.0.1:%d" % self.p.sip_port)
        rows = wait_until(lambda: self.p.sql("SELECT id FROM calls WHERE direction = 'inbound'"
                                             " AND from_number = %s AND status = 'ringing'"
                                             % q(CALLER)), 10, interval=0.1,
                          what="the inbound call ringing")
        call_id = rows[0][0]
        url = self.ws.url("/answer")
        act = self.action(call_id, "answer", {"stream_url": url, "stream_track": "both_tracks"})
        self.p.wait_call(self.key, call_id, lambda c: c["status"] == "answered")
        self.assertEqual(self.action_row(act), ("done", None))  # no "not carried out" note
        self.wait_rows(call_id, [url], "active")
        wait_until(lambda: self.ws.by_path("/answer")
                   and len(self.ws.by_path("/answer")[0].events("media")) > 60, 10,
                   what="media frames of the answer's stream")
        # the caller's RFC 4733 key press (its telephone-event is 96) becomes a dtmf frame
        local = self.p.sql("SELECT 'x', local_media FROM call_legs WHERE call_id = %s"
                           % q(call_id))[0][1]
        peer.send_event(int(local.rsplit(":", 1)[1]), "7", pt=96)
        conn = self.ws.by_path("/answer")[0]
        dtmf = wait_until(lambda: conn.events("dtmf"), 5, what="the dtmf frame")
        self.assertEqual(dtmf, [{"event": "dtmf", "sequence_number": dtmf[0]["sequence_number"],
                                 "stream_id": rows and dtmf[0]["stream_id"],
                                 "dtmf": {"track": "inbound", "digit": "7"}}])
        self.hangup(call_id)  # the leg is released: the stream ends with it
        rows = self.wait_rows(call_id, [url], "stopped")
        wait_until(lambda: conn.closed, 5, what="the connection closed")
        sid, _ = self.check_frames(conn, "PCMU", ["inbound", "outbound"])  # answer's codec
        self.assertEqual(rows[url][0], sid)
        self.assertEqual(caller.process.proc.wait(15), 0, caller.messages()[-3000:])


if __name__ == "__main__":
    unittest.main()
