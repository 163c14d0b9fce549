"""Relay numbers' recording and transcription end to end (issue 5, proto/sql/0035).

A forwarding number with relay_record and relay_transcribe: a SIPp caller (its SDP
pointing at an RTP peer of the test) -> call-control -> forwarded to a SIPp target (its
SDP pointing at another peer). Once the two calls are bridged, the caller's peer speaks
a sentence made by espeak-ng (voice en-us+klatt2, what media-fork's "man" is: the one
pocketsphinx hears best on 8 kHz) and the target's peer sends a tone; then the caller
hangs up. Checked:

- PATCH validation of the two settings (400 invalid_request naming the member, as for
  relay_enabled), their rendering in PhoneNumber, and their clearing when the number is
  released;
- the inbound call gets a dual mp3 recording, started as start_recording's (row, then
  recording.completed) and available after the hangup with a file of the call's length;
- its transcription (engine fast, both tracks, no action) hears a key word of the
  sentence on the inbound track (call.transcript_chunk: one, because this audio crosses
  RTP paced by Python, and under ASan pocketsphinx heard "i mean hell when i order the";
  test_speech holds recognition itself to two), is stopped by the leg's
  release and its minutes are charged as an API-started one's;
- call.ended of the inbound call (event row and webhook, valid per openapi's CallEvent)
  carries recording_id (that recording) and transcript (the phrases so far, as the
  transcription's text at the API begins); the child's call.ended does not.
"""
import json
import os
import subprocess
import threading
import unittest

from contract import contract
from harness import ApiAssertions, Platform, q, wait_until
from test_call_control import setup_tenant
from test_media_verbs import RtpPeer, sox

CALLER = "+15125550199"  # the SIPp scenario's From
DID = "+15125550183"
DID_SPARE = "+15125550184"
TARGET = "+15558675312"
SENTENCE = "I need help with my order please."
KEY_WORDS = ("need", "help", "order")


def speech_ulaw(tmp):
    """0.3 s of silence, the sentence, 1.5 s of silence: mu-law 8 kHz bytes."""
    wav = os.path.join(tmp, "relay-speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-us+klatt2", "-s", "150", "-w", wav, SENTENCE],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = os.path.join(tmp, "relay-speech.ul")
    sox(wav, "-r", "8000", "-c", "1", "-t", "raw", "-e", "mu-law", out, "pad", "0.3", "1.5")
    with open(out, "rb") as f:
        return f.read()


def tone_ulaw(tmp, secs):
    out = os.path.join(tmp, "relay-tone.ul")
    sox("-n", "-r", "8000", "-c", "1", "-t", "raw", "-e", "mu-law", out, "synth", str(secs),
        "sine", "440", "gain", "-12")
    with open(out, "rb") as f:
        return f.read()


class RelayMedia(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="relay-media")
        cls.p.start()
        try:
            p = cls.p
            cls.target_peer = RtpPeer()
            cls.target = p.sipp("cmedia_uas_peer.xml", name="target", rtp_echo=False,
                                extra=["-key", "peer_port", str(cls.target_peer.port)])
            cls.route = p.create_route(cls.target.uri, name="target")
            cls.tenant, cls.key = setup_tenant(p, cls.route)
            st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                    {"numbers": [DID, DID_SPARE], "route_id": cls.route["id"]})
            assert st == 201, raw
            st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                    {"prefix": "1", "kind": "transcription",
                                     "cents_per_minute": 3})
            assert st == 201, raw
            cls.hooks = p.receiver()
            whk = p.sql("SELECT voepy_id('whk')")[0][0]
            p.sql_webhook_endpoint(whk, cls.tenant["id"], cls.hooks.url, events=("call.ended",))
            cls.num = cls.buy(DID)
            cls.speech = speech_ulaw(p.tmp)
            cls.tone = tone_ulaw(p.tmp, 1.0)
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def buy(cls, did):
        st, num, raw, _ = cls.p.api("POST", "/v1/phone_numbers", {"phone_number": did},
                                    key=cls.key)
        assert st == 201, raw
        return num

    @classmethod
    def tearDownClass(cls):
        cls.target_peer.close()
        cls.p.stop()

    def patch(self, num, body):
        return self.p.api("PATCH", "/v1/phone_numbers/%s" % num["id"], body, key=self.key)

    def sql1(self, query):
        rows = self.p.sql(query)
        return rows[0] if rows else None

    def event(self, call_id, kind):
        rows = self.p.sql("SELECT data::text FROM events WHERE call_id = %s AND type = %s"
                          " ORDER BY seq" % (q(call_id), q(kind)))
        return [json.loads(r[0]) for r in rows]

    # -- the settings ---------------------------------------------------------------------
    def test_settings_validated_shown_and_cleared_with_the_owner(self):
        p, num = self.p, self.buy(DID_SPARE)
        self.assertEqual((num["relay_record"], num["relay_transcribe"]), (False, False))
        for field, bad in (("relay_record", "yes"), ("relay_transcribe", 1),
                           ("relay_record", None)):
            self.assert_error(self.patch(num, {field: bad}), 400, "invalid_request", field=field)
        st, got, raw, _ = self.patch(num, {"relay_record": True, "relay_transcribe": True})
        self.assertEqual(st, 200, raw)
        self.assertEqual((got["relay_record"], got["relay_transcribe"], got["relay_enabled"]),
                         (True, True, False))
        st, got, raw, _ = self.patch(num, {"relay_transcribe": False})
        self.assertEqual((st, got["relay_record"], got["relay_transcribe"]), (200, True, False),
                         raw)
        st, got, raw, _ = p.api("GET", "/v1/phone_numbers/%s" % num["id"], key=self.key)
        self.assertEqual((st, got["relay_record"], got["relay_transcribe"]), (200, True, False),
                         raw)
        st, _, raw, _ = p.api("DELETE", "/v1/phone_numbers/%s" % num["id"], key=self.key)
        self.assertEqual(st, 204, raw)
        self.assertEqual(p.sql("SELECT relay_record, relay_transcribe FROM phone_numbers"
                               " WHERE id = %s" % q(num["id"])), [["f", "f"]])

    # -- a relayed call -------------------------------------------------------------------
    def test_relayed_call_is_recorded_transcribed_and_ended_with_both(self):
        p = self.p
        st, got, raw, _ = self.patch(self.num, {"forward_to": TARGET, "relay_enabled": True,
                                                "relay_record": True,
                                                "relay_transcribe": True})
        self.assertEqual((st, got["relay_record"], got["relay_transcribe"]), (200, True, True),
                         raw)
        caller_peer = RtpPeer()
        self.addCleanup(caller_peer.close)
        caller = p.sipp("fwd_uac_peer_bye.xml", name="caller", calls=1, rtp_echo=False,
                        extra=["-s", DID, "-recv_timeout", "20000", "-d", "9000",
                               "-key", "peer_port", str(caller_peer.port)],
                        target="127.0.0.1:%d" % p.sip_port)
        inbound, child = wait_until(
            lambda: self.sql1("SELECT i.id, c.id FROM calls i JOIN calls c ON"
                              " c.options->>'parent_call_id' = i.id WHERE i.to_number = %s"
                              " AND i.status = 'bridged'" % q(DID)), 10,
            interval=0.1, what="the forwarded call bridged")
        # the relay's media start once bridged: the transcription session is active
        wait_until(lambda: self.sql1("SELECT 1 FROM call_transcriptions WHERE call_id = %s"
                                     " AND status = 'active'" % q(inbound)), 5, interval=0.05,
                   what="the relay's transcription")
        self.assertEqual(self.sql1("SELECT action_id, engine, transcription_tracks FROM"
                                   " call_transcriptions WHERE call_id = %s" % q(inbound)),
                         [None, "fast", "both"])
        port_in = int(self.sql1("SELECT local_media FROM call_legs WHERE call_id = %s"
                                % q(inbound))[0].rsplit(":", 1)[1])
        port_child = int(self.sql1("SELECT local_media FROM call_legs WHERE call_id = %s"
                                   % q(child))[0].rsplit(":", 1)[1])
        # the callee's tone while the caller says the sentence (both paced in real time)
        tone = threading.Thread(target=self.target_peer.send_audio, args=(port_child, self.tone))
        tone.start()
        caller_peer.send_audio(port_in, self.speech)
        tone.join()

        chunks = wait_until(lambda: self.event(inbound, "call.transcript_chunk"), 10,
                            interval=0.2, what="a call.transcript_chunk")
        heard = [w for w in KEY_WORDS if any(w in c["transcript"].split() for c in chunks)]
        self.assertGreaterEqual(len(heard), 1, "recognised %r" % chunks)
        self.assertIn("inbound", [c["track"] for c in chunks])

        # the caller's BYE (at the end of its -d pause) ends both calls
        try:
            rc = caller.process.proc.wait(25)
        except subprocess.TimeoutExpired:
            self.fail("the caller did not finish:\n%s" % caller.messages()[-3000:])
        self.assertEqual(rc, 0, caller.messages()[-3000:])
        wait_until(lambda: self.sql1("SELECT 1 FROM calls WHERE id = %s AND status = 'ended'"
                                     % q(inbound)), 10, interval=0.1, what="the call's end")

        # the recording: dual mp3, completed after the hangup, with a file
        rec = wait_until(lambda: self.sql1("SELECT id, channels, format, status,"
                                           " duration_seconds, storage_key FROM recordings"
                                           " WHERE call_id = %s AND status <> 'recording'"
                                           % q(inbound)), 10, interval=0.1,
                         what="the recording's completion")
        self.assertEqual(rec[1:4], ["dual", "mp3", "available"], rec)
        self.assertTrue(5 <= int(rec[4]) <= 12, rec)  # bridged to BYE: about 8.5 s
        path = os.path.join(p.tmp, "recordings", rec[5])
        self.assertGreater(os.path.getsize(path), 8000, path)
        with open(path, "rb") as f:
            head = f.read(3)
        self.assertTrue(head == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0), head)
        done = self.event(inbound, "recording.completed")
        self.assertEqual([(d["id"], d["channels"]) for d in done], [(rec[0], "dual")])
        self.assertEqual(p.sql("SELECT count(*) FROM recordings WHERE call_id = %s" % q(child)),
                         [["0"]])

        # call.ended names the recording and carries the transcript
        ended = self.event(inbound, "call.ended")
        self.assertEqual(len(ended), 1, ended)
        data = ended[0]
        self.assertEqual((data["status"], data["recording_id"]), ("ended", rec[0]), data)
        self.assertGreaterEqual(len([w for w in KEY_WORDS if w in data["transcript"].split()]),
                                1, data)
        self.assertNotIn("recording_id", self.event(child, "call.ended")[0])
        hook = wait_until(lambda: [e for e in self.hooks.events()
                                   if e["data"].get("call_id") == inbound], 15,
                          what="the call.ended webhook")[0]
        self.assertEqual((hook["type"], hook["data"]), ("call.ended", data))
        schema = contract()._validator("/components/schemas/CallEvent")
        self.assertEqual(list(schema.iter_errors(hook)), [], hook)

        # the transcription was ended by the leg's release and charged as an API one's
        row = wait_until(lambda: self.sql1("SELECT quantity, status FROM usage_charges WHERE"
                                           " call_id = %s AND kind = 'transcription'"
                                           % q(inbound)), 10, interval=0.1,
                         what="the transcription charge")
        self.assertTrue(3000 <= int(row[0]) <= 15000, row)
        self.assertEqual(row[1], "rated", row)
        self.assertEqual(self.sql1("SELECT status FROM call_transcriptions WHERE call_id = %s"
                                   % q(inbound)), ["stopped"])
        self.assertEqual(p.sql("SELECT count(*) FROM call_transcriptions WHERE call_id = %s"
                               % q(child)), [["0"]])
        st, tr, raw, _ = p.api("GET", "/v1/calls/%s/transcription" % inbound, key=self.key)
        self.assertEqual((st, tr["status"], tr["engine"], tr["transcription_tracks"]),
                         (200, "stopped", "fast", "both"), raw)
        self.assertTrue(tr["text"].startswith(data["transcript"]), (tr["text"], data))


if __name__ == "__main__":
    unittest.main()
