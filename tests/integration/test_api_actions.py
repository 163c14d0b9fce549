"""Call action verbs (POST /v1/calls/{id}/actions/{verb}, all but hangup) and the call
sub-resources (GET /v1/calls/{id}/streamings, /transcription, /amd), against real
PostgreSQL, Redis, api-gateway and call-control.

What each part waits for:
  - Inbound calls are made by issue 4; until then the tests write calls (inbound and in
    every state) with SQL, owned by a node id of the test's choosing.
  - call-control carries out `hangup`, `answer` and `reject` (inbound calls, issue 4; their
    calls are made by SIPp in test_inbound) and advertises just those in the node registry
    (key `verbs`). Every other verb on a call it owns answers 501 not_implemented until
    issues 4/5 teach it the verb (test_not_implemented).
  - To see the forwarding path, a fake node is registered in Redis (voepy:nodes:call-control
    and voepy:node:call-control:{id}) advertising every verb; commands for its calls are
    read back from its inbox stream with redis-cli.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_api_actions
"""
import json
import subprocess
import time
import unittest
import uuid

from harness import ApiAssertions, Platform, wait_until

CC_NODE = "call-control-it"  # the harness's VOEPY_NODE_ID for call-control
ALL_VERBS = ("answer", "reject", "transfer", "bridge", "refer", "play", "stop_playback", "speak",
             "start_recording", "stop_recording", "send_dtmf", "gather", "gather_using_speak",
             "gather_using_audio", "stop_gather", "streaming_start", "streaming_stop",
             "transcription_start", "transcription_stop")
PRE_ANSWER = ("answer", "reject")
CC_VERBS = ("hangup", "answer", "reject", "play", "stop_playback", "gather", "gather_using_audio",
            "stop_gather", "send_dtmf", "start_recording", "stop_recording", "streaming_start",
            "streaming_stop", "transfer", "bridge", "refer", "speak", "gather_using_speak",
            "transcription_start", "transcription_stop",
            )  # what call-control advertises (cc_int.h INBOX_VERBS): every verb
ANSWERED_ONLY = ("bridge", "refer", "start_recording")

# A valid body per verb (bridge's leg_id is filled in by the test).
VALID = {
    "answer": {"record": "record-from-answer", "record_channels": "dual",
               "stream_url": "wss://media.example.com/voepy", "stream_track": "both_tracks"},
    "reject": {"cause": "user_busy"},
    "transfer": {"to": "+15558675309"},
    "bridge": {"leg_id": None},
    "refer": {"sip_address": "sip:agent@example.com"},
    "play": {"url": "https://example.com/a.mp3"},
    "stop_playback": {},
    "speak": {"payload": "Hello", "voice": "Polly.Joanna"},
    "start_recording": {"channels": "dual", "format": "wav"},
    "stop_recording": {},
    "send_dtmf": {"digits": "12w34#"},
    "gather": {},
    "gather_using_speak": {"payload": "Press 1 for sales.", "voice": "Polly.Joanna"},
    "gather_using_audio": {"audio_url": "https://example.com/prompt.mp3"},
    "stop_gather": {},
    "streaming_start": {"stream_url": "wss://example.com/stream"},
    "streaming_stop": {},
    "transcription_start": {},
    "transcription_stop": {},
}

# The params each command carries for the VALID body: the body with the defaults applied.
EXPECTED_PARAMS = {
    "answer": dict(VALID["answer"], record_format="mp3", stream_codec="PCMU"),
    "reject": {"cause": "user_busy"},
    "transfer": {"to": "+15558675309", "timeout_secs": 30},
    "refer": {"sip_address": "sip:agent@example.com"},
    "play": {"url": "https://example.com/a.mp3", "loop": 1, "target_legs": "self"},
    "stop_playback": {"stop": "all"},
    "speak": {"payload": "Hello", "voice": "Polly.Joanna", "language": "en-US"},
    "start_recording": {"channels": "dual", "format": "wav", "play_beep": False},
    "stop_recording": {},
    "send_dtmf": {"digits": "12w34#", "duration_millis": 250},
    "gather": {"minimum_digits": 1, "maximum_digits": 128, "terminating_digit": "#",
               "timeout_millis": 60000, "inter_digit_timeout_millis": 5000, "maximum_tries": 1},
    "gather_using_speak": {"payload": "Press 1 for sales.", "voice": "Polly.Joanna",
                           "language": "en-US", "minimum_digits": 1, "maximum_digits": 128,
                           "terminating_digit": "#", "timeout_millis": 60000,
                           "inter_digit_timeout_millis": 5000, "maximum_tries": 3},
    "gather_using_audio": {"audio_url": "https://example.com/prompt.mp3", "minimum_digits": 1,
                           "maximum_digits": 128, "terminating_digit": "#",
                           "timeout_millis": 60000, "inter_digit_timeout_millis": 5000,
                           "maximum_tries": 3},
    "stop_gather": {},
    "streaming_start": {"stream_url": "wss://example.com/stream", "stream_track": "inbound_track",
                        "stream_codec": "PCMU"},
    "streaming_stop": {},
    "transcription_start": {"language": "en-US", "engine": "fast",
                            "transcription_tracks": "inbound"},
    "transcription_stop": {},
}

# (verb, body, status, code, field): bodies the gateway refuses before any SQL runs.
BAD = [
    ("answer", {"record": "yes"}, 422, "invalid_parameter", "record"),
    ("answer", {"stream_url": "https://example.com/x"}, 422, "invalid_parameter", "stream_url"),
    ("answer", {"stream_track": 1}, 400, "invalid_request", "stream_track"),
    ("answer", {"colour": "red"}, 400, "invalid_request", "colour"),
    ("reject", {}, 400, "invalid_request", "cause"),
    ("reject", {"cause": "normal"}, 422, "invalid_parameter", "cause"),
    ("transfer", {}, 400, "invalid_request", "to"),
    ("transfer", {"to": "5558675309"}, 422, "invalid_parameter", "to"),
    ("transfer", {"to": "+15558675309", "from": "+1"}, 422, "invalid_parameter", "from"),
    ("transfer", {"to": "+15558675309", "timeout_secs": 601}, 422, "invalid_parameter",
     "timeout_secs"),
    ("transfer", {"to": "+15558675309", "timeout_secs": "30"}, 400, "invalid_request",
     "timeout_secs"),
    ("bridge", {}, 400, "invalid_request", "leg_id"),
    ("bridge", {"leg_id": "voepy_call_01HZZZZZZZZZZZZZZZZZZZZZZZ"}, 422, "invalid_parameter",
     "leg_id"),
    ("refer", {"sip_address": "tel:+15558675309"}, 422, "invalid_parameter", "sip_address"),
    ("refer", {"sip_address": "sip:a b@host"}, 422, "invalid_parameter", "sip_address"),
    ("refer", {"sip_address": "sip:user@"}, 422, "invalid_parameter", "sip_address"),
    ("play", {}, 400, "invalid_request", "url"),
    ("play", {"url": "ftp://example.com/a.mp3"}, 422, "invalid_parameter", "url"),
    ("play", {"url": "wss://example.com/a.mp3"}, 422, "invalid_parameter", "url"),
    ("play", {"url": "https://example.com/a.mp3", "loop": 0}, 422, "invalid_parameter", "loop"),
    ("play", {"url": "https://example.com/a.mp3", "loop": 101}, 422, "invalid_parameter", "loop"),
    ("play", {"url": "https://example.com/a.mp3", "target_legs": "all"}, 422,
     "invalid_parameter", "target_legs"),
    ("play", {"url": "http://224.0.0.1/a.mp3"}, 422, "invalid_parameter", "url"),
    ("stop_playback", {"stop": "some"}, 422, "invalid_parameter", "stop"),
    ("speak", {"voice": "Polly.Joanna"}, 400, "invalid_request", "payload"),
    ("speak", {"payload": "Hi"}, 400, "invalid_request", "voice"),
    ("speak", {"payload": "", "voice": "v"}, 422, "invalid_parameter", "payload"),
    ("speak", {"payload": "x" * 3001, "voice": "v"}, 422, "invalid_parameter", "payload"),
    ("speak", {"payload": "\u00e9" * 3001, "voice": "v"}, 422, "invalid_parameter", "payload"),
    ("speak", {"payload": "Hi", "voice": "v", "language": "english!"}, 422, "invalid_parameter",
     "language"),
    ("speak", {"payload": ["Hi"], "voice": "v"}, 400, "invalid_request", "payload"),
    ("start_recording", {"format": "mp3"}, 400, "invalid_request", "channels"),
    ("start_recording", {"channels": "quad", "format": "mp3"}, 422, "invalid_parameter",
     "channels"),
    ("start_recording", {"channels": "single", "format": "ogg"}, 422, "invalid_parameter",
     "format"),
    ("start_recording", {"channels": "single", "format": "mp3", "max_length": 14401}, 422,
     "invalid_parameter", "max_length"),
    ("start_recording", {"channels": "single", "format": "mp3", "play_beep": "yes"}, 400,
     "invalid_request", "play_beep"),
    ("stop_recording", {"now": True}, 400, "invalid_request", "now"),
    ("send_dtmf", {}, 400, "invalid_request", "digits"),
    ("send_dtmf", {"digits": "12E"}, 422, "invalid_parameter", "digits"),
    ("send_dtmf", {"digits": "1" * 65}, 422, "invalid_parameter", "digits"),
    ("send_dtmf", {"digits": "1", "duration_millis": 99}, 422, "invalid_parameter",
     "duration_millis"),
    ("send_dtmf", {"digits": "1", "duration_millis": 501}, 422, "invalid_parameter",
     "duration_millis"),
    ("gather", {"minimum_digits": 0}, 422, "invalid_parameter", "minimum_digits"),
    ("gather", {"maximum_digits": 129}, 422, "invalid_parameter", "maximum_digits"),
    ("gather", {"minimum_digits": 5, "maximum_digits": 4}, 422, "invalid_parameter",
     "maximum_digits"),
    ("gather", {"terminating_digit": "##"}, 422, "invalid_parameter", "terminating_digit"),
    ("gather", {"timeout_millis": 999}, 422, "invalid_parameter", "timeout_millis"),
    ("gather", {"inter_digit_timeout_millis": 60001}, 422, "invalid_parameter",
     "inter_digit_timeout_millis"),
    ("gather", {"maximum_tries": 11}, 422, "invalid_parameter", "maximum_tries"),
    ("gather", {"payload": "Hi"}, 400, "invalid_request", "payload"),
    ("gather_using_speak", {"voice": "v"}, 400, "invalid_request", "payload"),
    ("gather_using_speak", {"payload": "Hi", "voice": "v", "invalid_payload": "x" * 3001}, 422,
     "invalid_parameter", "invalid_payload"),
    ("gather_using_speak", {"payload": "Hi", "voice": "v", "audio_url": "https://e.com/a"}, 400,
     "invalid_request", "audio_url"),
    ("gather_using_audio", {}, 400, "invalid_request", "audio_url"),
    ("gather_using_audio", {"audio_url": "https://e.com/a", "payload": "Hi"}, 400,
     "invalid_request", "payload"),
    ("gather_using_audio", {"audio_url": "https://e.com/a", "invalid_audio_url": "nope"}, 422,
     "invalid_parameter", "invalid_audio_url"),
    ("stop_gather", {"x": 1}, 400, "invalid_request", "x"),
    ("streaming_start", {}, 400, "invalid_request", "stream_url"),
    ("streaming_start", {"stream_url": "https://example.com/s"}, 422, "invalid_parameter",
     "stream_url"),
    ("streaming_start", {"stream_url": "wss://example.com/s", "stream_track": "both"}, 422,
     "invalid_parameter", "stream_track"),
    ("streaming_start", {"stream_url": "wss://example.com/s", "stream_codec": "pcmu"}, 422,
     "invalid_parameter", "stream_codec"),
    ("streaming_start", {"stream_url": "ws://0.0.0.0/s"}, 422, "invalid_parameter",
     "stream_url"),
    ("streaming_stop", {"stream_id": "abc"}, 422, "invalid_parameter", "stream_id"),
    ("transcription_start", {"engine": "best"}, 422, "invalid_parameter", "engine"),
    ("transcription_start", {"transcription_tracks": "inbound_track"}, 422, "invalid_parameter",
     "transcription_tracks"),
    ("transcription_start", {"language": 5}, 400, "invalid_request", "language"),
    ("transcription_stop", {"a": None}, 400, "invalid_request", "a"),
]


class ApiActions(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway", "call-control"), name="actions")
        cls.p.start()
        cls.fake = "cc-fake-%s" % uuid.uuid4().hex[:6]
        cls.redis("HSET", "voepy:node:call-control:%s" % cls.fake, "verbs",
                  ",".join(("hangup",) + ALL_VERBS))
        created = cls.p.create_tenant("actions-a")
        cls.tenant, cls.key = created["tenant"]["id"], created["api_key"]
        other = cls.p.create_tenant("actions-b")
        cls.other_tenant, cls.other_key = other["tenant"]["id"], other["api_key"]

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    # -- helpers ---------------------------------------------------------------------------
    @classmethod
    def redis(cls, *args):
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(cls.p.redis_port),
                               "--raw"] + [str(a) for a in args],
                              check=True, capture_output=True, text=True).stdout

    def beat(self, wait=True):
        """Heartbeat the fake node (alive for 5 s) and wait until the gateway has seen it."""
        self.redis("ZADD", "voepy:nodes:call-control", int(time.time() * 1000), self.fake)
        if wait:
            time.sleep(1.2)  # the gateway refreshes its node list every second

    def stream(self, name):
        out = self.redis("XRANGE", name, "-", "+")
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def call(self, status="answered", direction="outbound", node=None, tenant=None, options="{}"):
        """A call row in the given state (inbound calls and states come from issue 4)."""
        ended = status in ("ended", "failed")
        return self.p.sql(
            "INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number, node_id,"
            " options, answered_at, ended_at, end_reason) VALUES (voepy_id('call'), '%s', '%s',"
            " '%s', '+15125550100', '+15558675309', %s, '%s', %s, %s, %s) RETURNING id"
            % (tenant or self.tenant, direction, status,
               "'%s'" % (node or self.fake), options,
               "now()" if status in ("answered", "bridged") else "NULL",
               "now()" if ended else "NULL", "'completed'" if ended else "NULL"))[0][0]

    def leg(self, call_id, tenant=None):
        return self.p.sql(
            "INSERT INTO call_legs (id, call_id, tenant_id, direction, from_uri, to_uri)"
            " VALUES (voepy_id('leg'), '%s', '%s', 'outbound', 'a', 'b') RETURNING id"
            % (call_id, tenant or self.tenant))[0][0]

    def act(self, call_id, verb, body, key=None, headers=None):
        return self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body,
                          key=key or self.key, headers=headers)

    def actions_of(self, call_id):
        return self.p.sql("SELECT verb, status, params::text, node_id FROM call_actions"
                          " WHERE call_id = '%s' ORDER BY requested_at" % call_id)

    def state_for(self, verb):
        return ("ringing", "inbound") if verb in PRE_ANSWER else ("answered", "outbound")

    def valid(self, verb):
        body = dict(VALID[verb])
        if verb == "bridge":
            body["leg_id"] = self.leg(self.call())
        return body

    # -- tests -----------------------------------------------------------------------------
    def test_registry_advertises_verbs(self):
        self.assertEqual(self.redis("HGET", "voepy:node:call-control:%s" % CC_NODE,
                                    "verbs").strip(), ",".join(CC_VERBS))

    def test_bad_bodies(self):
        call = self.call()
        for verb, body, status, code, field in BAD:
            with self.subTest(verb=verb, body=body):
                self.assert_error(self.act(call, verb, body), status, code, field)
        # Not JSON, or not an object.
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/play" % call, key=self.key,
                                   headers={"Content-Type": "application/json"}, raw=b"[1]")
        self.assertEqual(st, 400, raw)
        self.assertEqual(self.actions_of(call), [])

    def test_unknown_verb_and_ids(self):
        call = self.call()
        self.assert_error(self.act(call, "dance", {}), 404, "not_found")
        self.assert_error(self.act(call, "Play", VALID["play"]), 404, "not_found")
        self.assert_error(self.act("voepy_call_01HZZZZZZZZZZZZZZZZZZZZZZZ", "play", VALID["play"]),
                          404, "not_found")
        self.assert_error(self.act("voepy_leg_01HZZZZZZZZZZZZZZZZZZZZZZZ", "play", VALID["play"]),
                          404, "not_found")
        self.beat()
        # Another tenant's call: 404 for every verb, nothing recorded, nothing sent.
        for verb in ALL_VERBS:
            with self.subTest(verb=verb):
                self.assert_error(self.act(call, verb, self.valid(verb), key=self.other_key), 404,
                                  "not_found")
        self.assertEqual(self.actions_of(call), [])
        self.assertEqual([m for m in self.stream("voepy:cc:%s" % self.fake)
                          if m["call_id"] == call], [])
        # bridge to a leg of another tenant's call, of the same call, or of an ended call.
        theirs = self.leg(self.call(tenant=self.other_tenant), tenant=self.other_tenant)
        mine = self.call()
        ended = self.leg(self.call(status="ended"))
        for leg in (theirs, self.leg(mine), ended):
            self.assert_error(self.act(mine, "bridge", {"leg_id": leg}), 404, "not_found",
                              "leg_id")
        self.assertEqual(self.actions_of(mine), [])

    def test_state_rules(self):
        # Inbound calls wait for issue 4: their states are written with SQL here.
        for verb in ALL_VERBS:
            with self.subTest(verb=verb, state="ended"):
                for status in ("ended", "failed"):
                    call = self.call(status=status, direction=self.state_for(verb)[1])
                    self.assert_error(self.act(call, verb, self.valid(verb)), 409,
                                      "call_already_ended")
        wrong = {v: [("answered", "inbound"), ("ringing", "outbound"), ("initiated", "outbound")]
                 for v in PRE_ANSWER}
        for v in ANSWERED_ONLY:
            wrong[v] = [("bridged", "outbound"), ("ringing", "outbound"), ("initiated", "inbound")]
        for v in ALL_VERBS:
            wrong.setdefault(v, [("initiated", "outbound"), ("ringing", "inbound")])
        for verb, states in wrong.items():
            for status, direction in states:
                with self.subTest(verb=verb, status=status, direction=direction):
                    call = self.call(status=status, direction=direction)
                    self.assert_error(self.act(call, verb, self.valid(verb)), 409,
                                      "call_not_in_required_state", "status")
                    self.assertEqual(self.actions_of(call), [])

    def test_not_implemented(self):
        # call-control carries out every verb now; a node that advertises fewer (an older
        # call-control during an upgrade) gets none of the others: a valid request on a
        # call it owns is refused, never answered as a silent success.
        self.assertEqual(set(CC_VERBS), {"hangup"} | set(ALL_VERBS))
        partial = "cc-partial-%s" % uuid.uuid4().hex[:6]
        self.redis("HSET", "voepy:node:call-control:%s" % partial, "verbs", "hangup,play")
        self.redis("ZADD", "voepy:nodes:call-control", int(time.time() * 1000), partial)
        time.sleep(1.2)  # the gateway refreshes its node list every second
        for verb in (v for v in ALL_VERBS if v != "play"):
            with self.subTest(verb=verb):
                status, direction = self.state_for(verb)
                call = self.call(status=status, direction=direction, node=partial)
                st, body, raw, _ = self.act(call, verb, self.valid(verb))
                self.assert_error((st, body, raw, None), 501, "not_implemented")
                self.assertIn(verb, body["error"]["message"])
                self.assertEqual(self.actions_of(call), [])
        self.assertEqual(self.stream("voepy:cc:%s" % partial), [])
        # A node that stopped heartbeating is not trusted either.
        self.redis("ZADD", "voepy:nodes:call-control", int(time.time() * 1000) - 60000, self.fake)
        time.sleep(1.2)
        self.assert_error(self.act(self.call(), "play", VALID["play"]), 501, "not_implemented")

    def test_forwarding(self):
        self.beat()
        for verb in ALL_VERBS:
            with self.subTest(verb=verb):
                self.beat(wait=False)
                status, direction = self.state_for(verb)
                call = self.call(status=status, direction=direction)
                body = self.valid(verb)
                st, got, raw, _ = self.act(call, verb, body)
                self.assertEqual(st, 200, raw)
                self.assertEqual((got["id"], got["status"], got["direction"]),
                                 (call, status, direction), raw)
                (row,) = self.actions_of(call)
                self.assertEqual((row[0], row[1], row[3]), (verb, "requested", self.fake))
                (cmd,) = [m for m in self.stream("voepy:cc:%s" % self.fake)
                          if m["call_id"] == call]
                self.assertEqual(set(cmd), {"op", "call_id", "tenant_id", "action_id", "params"})
                self.assertEqual((cmd["op"], cmd["tenant_id"]), (verb, self.tenant))
                self.assertRegex(cmd["action_id"], r"^voepy_act_[0-9A-Z]{26}$")
                params = dict(cmd["params"])
                self.assertEqual(json.loads(row[2]), params)
                if verb in ("answer", "streaming_start"):
                    self.assertRegex(params.pop("stream_id"), r"^voepy_stream_[0-9A-Z]{26}$")
                expected = EXPECTED_PARAMS.get(verb, body)
                self.assertEqual(params, expected)
                if verb == "streaming_start":
                    st, page, raw, _ = self.p.api("GET", "/v1/calls/%s/streamings" % call,
                                                  key=self.key)
                    self.assertEqual(st, 200, raw)
                    (s,) = page["data"]
                    self.assertEqual(list(s), ["id", "call_id", "stream_url", "stream_track",
                                               "stream_codec", "status", "started_at",
                                               "stopped_at", "frames_sent", "frames_dropped"])
                    self.assertEqual((s["id"], s["call_id"], s["stream_url"], s["status"],
                                      s["frames_sent"]),
                                     (cmd["params"]["stream_id"], call, body["stream_url"],
                                      "requested", 0))
                if verb == "transcription_start":
                    st, tr, raw, _ = self.p.api("GET", "/v1/calls/%s/transcription" % call,
                                                key=self.key)
                    self.assertEqual((st, tr["status"], tr["engine"], tr["language"]),
                                     (200, "requested", "fast", "en-US"), raw)
        # bridged calls take the answered/bridged verbs too.
        call = self.call(status="bridged")
        self.assertEqual(self.act(call, "play", VALID["play"])[0], 200)

    def test_idempotent_replay(self):
        self.beat()
        call = self.call()
        h = {"Idempotency-Key": "act-%s" % uuid.uuid4().hex}
        first = self.act(call, "play", VALID["play"], headers=h)
        again = self.act(call, "play", VALID["play"], headers=h)
        self.assertEqual((first[0], again[0]), (200, 200), first[2])
        self.assertEqual(first[2], again[2])
        self.assertEqual(len(self.actions_of(call)), 1)
        self.assertEqual(len([m for m in self.stream("voepy:cc:%s" % self.fake)
                              if m["call_id"] == call]), 1)
        self.assert_error(self.act(call, "play", {"url": "https://example.com/b.mp3"}, headers=h),
                          422, "idempotency_key_reused")
        # The replay stands even once the call has ended.
        self.p.sql("UPDATE calls SET status = 'ended', ended_at = now(), end_reason = 'completed'"
                   " WHERE id = '%s'" % call)
        self.assertEqual(self.act(call, "play", VALID["play"], headers=h)[2], first[2])
        self.assert_error(self.act(call, "play", VALID["play"]), 409, "call_already_ended")

    def test_unknown_op_marks_action_failed(self):
        # A command call-control does not carry out (sent by hand: the gateway would not
        # send it) marks its action failed instead of leaving it requested.
        self.beat()
        call = self.call(node=self.fake)
        self.assertEqual(self.act(call, "streaming_start", VALID["streaming_start"])[0], 200)
        (cmd,) = [m for m in self.stream("voepy:cc:%s" % self.fake) if m["call_id"] == call]
        cmd["op"] = "streaming_restart"  # an op no call-control knows (every verb is known)
        self.redis("XADD", "voepy:cc:%s" % CC_NODE, "*", "m", json.dumps(cmd))

        def failed():
            rows = self.p.sql("SELECT status, error FROM call_actions WHERE id = '%s'"
                              % cmd["action_id"])
            return rows if rows[0][0] == "failed" else None
        rows = wait_until(failed, 10, interval=0.1, what="action marked failed")
        self.assertIn("streaming_restart", rows[0][1])
        self.assertIn(CC_NODE, rows[0][1])
        st, page, raw, _ = self.p.api("GET", "/v1/calls/%s/streamings" % call, key=self.key)
        self.assertEqual([s["status"] for s in page["data"]], ["failed"], raw)

    def test_answer_of_a_call_the_node_does_not_carry_fails(self):
        # A row that says call-control owns a ringing inbound call it has no dialog for
        # (written here with SQL): the node takes the answer and reject commands and marks
        # each action failed, saying why; nothing answers a success nobody performed.
        for verb in PRE_ANSWER:
            with self.subTest(verb=verb):
                call = self.call(status="ringing", direction="inbound", node=CC_NODE)
                # 501 (nothing recorded) until the gateway has read the node's registry
                # entry, which it does every second.
                def forwarded():
                    st = self.act(call, verb, VALID[verb])[0]
                    return st if st != 501 else None
                st = wait_until(forwarded, 10, interval=0.3, what="the gateway to know the node")
                self.assertEqual(st, 200)

                def failed():
                    rows = self.actions_of(call)
                    return rows if rows and rows[0][1] == "failed" else None
                wait_until(failed, 10, interval=0.1, what="%s marked failed" % verb)
                error = self.p.sql("SELECT error FROM call_actions WHERE call_id = '%s'"
                                   % call)[0][0]
                self.assertIn("not live on this node", error)

    def test_sub_resources(self):
        call = self.call()
        for path in ("streamings", "transcription", "amd"):
            with self.subTest(path=path):
                self.assert_error(self.p.api("GET", "/v1/calls/%s/%s" % (call, path),
                                             key=self.other_key), 404, "not_found")
                self.assert_error(self.p.api("GET", "/v1/calls/voepy_call_bad/%s" % path,
                                             key=self.key), 404, "not_found")
        st, page, raw, _ = self.p.api("GET", "/v1/calls/%s/streamings" % call, key=self.key)
        self.assertEqual((st, page), (200, {"data": []}), raw)
        st, tr, raw, _ = self.p.api("GET", "/v1/calls/%s/transcription" % call, key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(tr, {"call_id": call, "status": "off", "language": None, "engine": None,
                              "transcription_tracks": None, "chunks": [], "text": ""})
        # Chunks as the transcriber will write them (issue 5): text joins the final ones.
        self.p.sql("INSERT INTO call_transcriptions (call_id, tenant_id, status, language, engine,"
                   " transcription_tracks) VALUES ('%s', '%s', 'active', 'en-US', 'accurate',"
                   " 'both')" % (call, self.tenant))
        self.p.sql("INSERT INTO call_transcript_chunks (call_id, tenant_id, transcript, confidence,"
                   " is_final, track, started_at, ended_at) VALUES"
                   " ('%s', '%s', 'I need help', 0.94, true, 'inbound', now(), now()),"
                   " ('%s', '%s', 'with my', 0.5, false, 'inbound', now() + interval '1 s', now()),"
                   " ('%s', '%s', 'order.', 0.9, true, 'inbound', now() + interval '2 s', now())"
                   % ((call, self.tenant) * 3))
        st, tr, raw, _ = self.p.api("GET", "/v1/calls/%s/transcription" % call, key=self.key)
        self.assertEqual((tr["status"], tr["engine"], tr["text"], len(tr["chunks"])),
                         ("active", "accurate", "I need help order.", 3), raw)
        self.assertEqual(list(tr["chunks"][0]), ["transcript", "confidence", "is_final", "track",
                                                 "started_at", "ended_at", "words"])
        # AMD: off unless asked for when the call was placed; pending; complete.
        amd = lambda c: self.p.api("GET", "/v1/calls/%s/amd" % c, key=self.key)[1]
        self.assertEqual(amd(call), {"call_id": call, "status": "off", "result": None,
                                     "beep_detected": None, "completed_at": None})
        premium = self.call(options='{"answering_machine_detection": "premium"}')
        self.assertEqual(amd(premium)["status"], "pending")
        self.p.sql("UPDATE calls SET amd_result = 'machine', amd_beep_detected = true,"
                   " amd_completed_at = now() WHERE id = '%s'" % premium)
        got = amd(premium)
        self.assertEqual((got["status"], got["result"], got["beep_detected"]),
                         ("complete", "machine", True))
        self.assertRegex(got["completed_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


if __name__ == "__main__":
    unittest.main()
