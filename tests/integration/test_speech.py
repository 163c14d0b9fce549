"""Speech end to end: speak (espeak-ng in media-fork) heard by a transcription of the same
leg (pocketsphinx), through API -> api-gateway -> call-control -> media-fork -> events.

One outbound call answered by SIPp (uas_answer.xml). The transcription listens to the
outbound track, what media-fork sends: the spoken sentence. Checked: an unknown voice is
422 invalid_parameter on field voice (tts_voices, 0027) and leaves no action, and so is
a transcription language no media-fork node has a model for (field language, naming the
node's en-US); a transcription_start that reaches media-fork anyway (sent past the
gateway) fails its action with media-fork's reason; speak's
action is done once the playback ended; gather_using_speak plays its spoken prompt before
its timeout runs; a call.transcript_chunk event whose transcript
holds key words of the sentence, with confidence, times and words, as the webhook
(validated against openapi's TranscriptChunkEvent) and at GET /v1/calls/{id}/transcription;
transcription_stop stops the session; after the hangup the transcribed minutes are
charged (a usage_charges row of kind transcription, priced by the transcription rate);
a transcription still running at the hangup is ended by the leg's release and charged too.

espeak-ng's voice "man" (Klatt) at 8 kHz is what pocketsphinx's en-us model hears best;
the sentence is one it recognises reliably ("i need help with my order ..."): at least
two of its key words must be recognised.
"""
import json
import time
import unittest

from contract import contract
from harness import ApiAssertions, Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_media_verbs import Redis

VERBS = ("speak", "gather_using_speak", "transcription_start", "transcription_stop")
SENTENCE = "I need help with my order please."
KEY_WORDS = ("need", "help", "order")


class Speech(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="speech")
        cls.p.start()
        try:
            p = cls.p
            cls.redis = Redis(p.redis_port)
            cls.uas = p.sipp("uas_answer.xml", name="answer")
            cls.route = p.create_route(cls.uas.uri, name="answer")
            cls.tenant, cls.key = setup_tenant(p, cls.route)
            st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                    {"prefix": "1", "kind": "transcription",
                                     "cents_per_minute": 3})
            assert st == 201, raw
            cls.hooks = p.receiver()
            whk = p.sql("SELECT voepy_id('whk')")[0][0]
            p.sql_webhook_endpoint(whk, cls.tenant["id"], cls.hooks.url,
                                   events=("call.transcript_chunk",))
            wait_until(lambda: set(VERBS) <= set(cls.node_verbs()), 10,
                       what="the node to advertise the speech verbs")
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

    def action(self, call_id, verb, body, timeout=10):
        """POST the action; wait for its row to complete; returns (status, error)."""
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body,
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        act = self.p.sql("SELECT id FROM call_actions WHERE call_id = %s AND verb = %s"
                         " ORDER BY requested_at DESC LIMIT 1" % (q(call_id), q(verb)))[0][0]

        def done():
            row = self.p.sql("SELECT status, error FROM call_actions WHERE id = %s" % q(act))[0]
            return tuple(row) if row[0] != "requested" else None
        return wait_until(done, timeout, interval=0.1, what=verb)

    def test_speak_heard_by_transcription(self):
        p, key = self.p, self.key
        st, call, raw, _ = p.api("POST", "/v1/calls",
                                 {"from": FROM, "to": TO, "route_id": self.route["id"],
                                  "customer_reference": "speech-ref"}, key=key)
        self.assertEqual(st, 201, raw)
        cid = call["id"]
        call = p.wait_call(key, cid, lambda c: c["status"] in ("answered", "ended", "failed"))
        self.assertEqual(call["status"], "answered", call)

        # An unknown voice: refused before anything is kept or sent.
        self.assert_error(p.api("POST", "/v1/calls/%s/actions/speak" % cid,
                                {"payload": "hello", "voice": "Polly.Nobody"}, key=key),
                          422, "invalid_parameter", field="voice", words="Polly.Nobody")
        self.assert_error(p.api("POST", "/v1/calls/%s/actions/gather_using_speak" % cid,
                                {"payload": "press one", "voice": "robot"}, key=key),
                          422, "invalid_parameter", field="voice")
        self.assert_error(p.api("POST", "/v1/calls/%s/actions/transcription_start" % cid,
                                {"language": "es-ES"}, key=key),
                          422, "invalid_parameter", field="language",
                          words="Languages available: en-US.")
        self.assertEqual(p.sql("SELECT count(*) FROM call_actions WHERE call_id = %s"
                               % q(cid))[0][0], "0")

        st, tr, raw, _ = p.api("GET", "/v1/calls/%s/transcription" % cid, key=key)
        self.assertEqual((st, tr["status"], tr["chunks"]), (200, "off", []), raw)
        # Past the gateway (as when no media-fork was known yet), media-fork refuses it.
        act, params = p.sql("SELECT action_id, params FROM api_call_action(%s, %s,"
                            " 'transcription_start', '{\"language\": \"es-ES\"}',"
                            " ARRAY['call-control-it'], NULL, NULL, NULL)"
                            % (q(self.tenant["id"]), q(cid)))[0]
        self.redis.call("XADD", "voepy:cc:call-control-it", "*", "m", json.dumps(
            {"op": "transcription_start", "call_id": cid, "tenant_id": self.tenant["id"],
             "action_id": act, "params": json.loads(params)}))
        status, error = wait_until(lambda: (lambda r: r if r[0] != "requested" else None)(
            p.sql("SELECT status, error FROM call_actions WHERE id = %s" % q(act))[0]), 10,
            interval=0.1, what="the refused transcription_start")
        self.assertEqual(status, "failed", error)
        self.assertIn("no transcription model for language es-ES", error)
        self.assertIn("(it has en-US)", error)
        self.assertEqual(self.action(cid, "transcription_start",
                                     {"engine": "fast", "transcription_tracks": "outbound"}),
                         ("done", None))
        started = time.monotonic()
        self.assertEqual(self.action(cid, "speak", {"payload": SENTENCE, "voice": "man"},
                                     timeout=15), ("done", None))
        # done when the playback ended, not when sent: the sentence lasts about 2 s
        self.assertGreater(time.monotonic() - started, 1.0)

        def chunk():
            rows = p.sql("SELECT data FROM events WHERE call_id = %s AND"
                         " type = 'call.transcript_chunk' ORDER BY seq" % q(cid))
            return [json.loads(r[0]) for r in rows] or None
        chunks = wait_until(chunk, 15, interval=0.2, what="a call.transcript_chunk")
        data = chunks[0]
        text = data["transcript"]
        heard = [w for w in KEY_WORDS if w in text.split()]
        self.assertGreaterEqual(len(heard), 2, "recognised %r" % text)
        self.assertEqual((data["call_id"], data["customer_reference"], data["is_final"],
                          data["track"]), (cid, "speech-ref", True, "outbound"))
        self.assertTrue(0 <= data["confidence"] <= 1)
        self.assertLess(data["started_at"], data["ended_at"])
        self.assertTrue(data["words"])
        self.assertEqual(" ".join(w["word"] for w in data["words"]), text)
        for a, b in zip(data["words"], data["words"][1:]):
            self.assertLessEqual(a["start"], b["start"])

        # The webhook the tenant receives is the same event, valid per openapi.yaml, and
        # the call's event log at the API shows it.
        hook = wait_until(lambda: [e for e in self.hooks.events()
                                   if e["data"].get("call_id") == cid], 15,
                          what="the call.transcript_chunk webhook")[0]
        self.assertEqual((hook["type"], hook["data"]), ("call.transcript_chunk", data))
        schema = contract()._validator("/components/schemas/TranscriptChunkEvent")
        self.assertEqual(list(schema.iter_errors(hook)), [], hook)
        st, page, raw, _ = p.api("GET", "/v1/calls/%s/events" % cid, key=key)
        self.assertEqual(st, 200, raw)
        self.assertIn(data, [e["data"] for e in page["data"]
                             if e["type"] == "call.transcript_chunk"])

        st, tr, raw, _ = p.api("GET", "/v1/calls/%s/transcription" % cid, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual((tr["status"], tr["engine"], tr["transcription_tracks"]),
                         ("active", "fast", "outbound"))
        self.assertEqual(tr["chunks"][0]["transcript"], text)
        self.assertIn(text, tr["text"])

        self.assertEqual(self.action(cid, "transcription_stop", {}), ("done", None))
        wait_until(lambda: p.sql("SELECT status FROM call_transcriptions WHERE call_id = %s"
                                 % q(cid))[0][0] == "stopped", 10, interval=0.1,
                   what="the transcription to stop")
        # gather_using_speak: the spoken prompt plays, then the gather's timeout runs.
        started = time.monotonic()
        self.assertEqual(self.action(cid, "gather_using_speak",
                                     {"payload": "Press one for sales.", "voice": "alice",
                                      "timeout_millis": 1000, "maximum_tries": 1}),
                         ("done", None))
        self.assertGreater(time.monotonic() - started, 1.5)  # prompt (~1.3 s) + 1 s
        ev = p.sql("SELECT data FROM events WHERE call_id = %s AND type = 'call.gather_complete'"
                   % q(cid))
        self.assertEqual(json.loads(ev[0][0])["status"], "timeout", ev)

        st, _, raw, _ = p.api("POST", "/v1/calls/%s/actions/hangup" % cid, {}, key=key)
        self.assertEqual(st, 200, raw)
        row = wait_until(lambda: (p.sql("SELECT quantity, status, cost_cents FROM usage_charges"
                                        " WHERE call_id = %s AND kind = 'transcription'"
                                        % q(cid)) or [None])[0], 10, interval=0.1,
                         what="the transcription charge")
        quantity, status, cents = row
        # the session lasted from transcription_start to transcription_stop: a few seconds
        self.assertTrue(2000 <= int(quantity) <= 30000, row)
        self.assertEqual(status, "rated", row)
        self.assertGreaterEqual(int(cents), 1, row)  # 3 cents a minute, one minute at least

    def test_hangup_ends_and_charges_a_running_transcription(self):
        """No transcription_stop: the leg's release ends the session (transcription_ended
        "released" after the call's end is recorded) and that charges the minutes."""
        p, key = self.p, self.key
        st, call, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO,
                                                       "route_id": self.route["id"]}, key=key)
        self.assertEqual(st, 201, raw)
        cid = call["id"]
        call = p.wait_call(key, cid, lambda c: c["status"] in ("answered", "ended", "failed"))
        self.assertEqual(call["status"], "answered", call)
        self.assertEqual(self.action(cid, "transcription_start", {"engine": "accurate"}),
                         ("done", None))
        time.sleep(1.0)
        st, _, raw, _ = p.api("POST", "/v1/calls/%s/actions/hangup" % cid, {}, key=key)
        self.assertEqual(st, 200, raw)
        row = wait_until(lambda: (p.sql("SELECT quantity FROM usage_charges WHERE call_id = %s"
                                        " AND kind = 'transcription'" % q(cid)) or [None])[0],
                         10, interval=0.1, what="the transcription charge")
        self.assertTrue(800 <= int(row[0]) <= 10000, row)
        st, tr, raw, _ = p.api("GET", "/v1/calls/%s/transcription" % cid, key=key)
        self.assertEqual((st, tr["status"], tr["engine"], tr["transcription_tracks"]),
                         (200, "stopped", "accurate", "inbound"), raw)


if __name__ == "__main__":
    unittest.main()
