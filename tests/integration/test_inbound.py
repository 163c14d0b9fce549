"""Inbound calls: SIPp calls one of our DIDs and the tenant answers, rejects or lets it ring.

PostgreSQL, Redis and the five services on loopback; every call is a SIPp caller (the
uac_inbound_*.xml scenarios of tests/integration/sip, one call each) dialling the
call-control node's SIP port, with the DID as the Request-URI user. Each test checks what
SIPp saw (the scenario's expectations: SIPp exits 0 only when every response it waited
for came), the call row, its events, end_reason/end_initiator and that rating priced it.

answer's record/stream options are carried out once the call is answered
(test_answer_with_record_and_stream; streams themselves: test_streaming).
"""
import re
import subprocess
import time
import unittest

from harness import SERVICES, Platform, free_port, q, wait_until

CALLER = "+15125550199"
DID = "+15125550100"          # the tenant's number
DID_FREE = "+15125550101"     # in the inventory, never sold
DID_RELEASED = "+15125550102"  # bought, then released
DID_UNKNOWN = "+15125559999"  # not on the platform at all
RING_MS = 5000                # VOEPY_INBOUND_RING_TIMEOUT_MS for this suite


class InboundBase(unittest.TestCase):
    """The platform of a suite and the helpers of its tests (no tests of its own)."""
    services = SERVICES
    env = {}

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=cls.services, name="inbound",
                         env=dict({"VOEPY_INBOUND_RING_TIMEOUT_MS": str(RING_MS)}, **cls.env))
        cls.p.start()
        try:
            cls.setup_numbers()
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def setup_numbers(cls):
        p = cls.p
        route = p.create_route("sip:127.0.0.1:9", name="inbound trunk")
        created = p.create_tenant("inbound-tests", default_route_id=route["id"])
        cls.tenant, cls.key = created["tenant"], created["api_key"]
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                {"numbers": [DID, DID_FREE, DID_RELEASED], "route_id": route["id"]})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                {"prefix": "1", "kind": "inbound", "cents_per_minute": 60})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % cls.tenant["id"],
                                {"amount_cents": 10000})
        assert st in (200, 201), raw
        for number in (DID, DID_RELEASED):
            st, num, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": number},
                                    key=cls.key)
            assert st == 201, raw
        st, _, raw, _ = p.api("DELETE", "/v1/phone_numbers/%s" % num["id"], key=cls.key)
        assert st == 204, raw
        cls.wait_node_advertises(("answer", "reject"))

    @classmethod
    def wait_node_advertises(cls, verbs):
        """Until the node's registry entry lists verbs and the gateway has read it (the
        gateway refreshes its node list every second): actions sent sooner answer 501."""
        def advertised():
            out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(cls.p.redis_port),
                                  "--raw", "HGET", "voepy:node:call-control:call-control-it",
                                  "verbs"], capture_output=True, text=True).stdout.strip()
            return set(verbs) <= set(out.split(","))
        wait_until(advertised, 10, what="the node to advertise %s" % (verbs,))
        time.sleep(1.5)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    # -- helpers -------------------------------------------------------------------------
    def dial(self, scenario, did=DID, pause_ms=None):
        """A SIPp caller placing one call to did."""
        extra = ["-s", did, "-recv_timeout", "40000"]
        if pause_ms is not None:
            extra += ["-d", str(pause_ms)]
        return self.p.sipp(scenario, name=scenario.split(".")[0], calls=1, extra=extra,
                           target="127.0.0.1:%d" % self.p.sip_port)

    def caller_done(self, sipp, timeout=40):
        """SIPp's exit code once its one call is over: 0 when the scenario passed."""
        try:
            return sipp.process.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("SIPp did not finish its call:\n%s" % sipp.messages()[-3000:])

    def assert_caller_passed(self, sipp):
        rc = self.caller_done(sipp)
        self.assertEqual(rc, 0, "the caller's scenario failed:\n%s" % sipp.messages()[-4000:])

    def sip_call_id(self, sipp):
        m = wait_until(lambda: re.search(r"^Call-ID:\s*(\S+)", sipp.messages(), re.M), 10,
                       what="SIPp's INVITE")
        return m.group(1)

    def call_of(self, sipp):
        """The call id of SIPp's call, once the node has written it."""
        sip = self.sip_call_id(sipp)
        rows = wait_until(lambda: self.p.sql("SELECT call_id FROM call_legs WHERE sip_call_id = %s"
                                             % q(sip)), 10, what="the inbound call's row")
        return rows[0][0]

    def wait(self, call_id, status, timeout=20):
        call = self.p.wait_call(self.key, call_id,
                                lambda c: c["status"] in (status, "ended", "failed"), timeout)
        self.assertEqual(call["status"], status, call)
        return call

    def events(self, call_id):
        return [r[0] for r in self.p.sql(
            "SELECT type FROM events WHERE call_id = %s ORDER BY seq" % q(call_id))]

    def event_data(self, call_id, type_):
        return self.p.sql(
            "SELECT data->>'direction', data->>'from', data->>'to', data->>'status',"
            " data->>'end_reason', data->>'end_initiator'"
            " FROM events WHERE call_id = %s AND type = %s" % (q(call_id), q(type_)))

    def row(self, call_id):
        return self.p.sql("SELECT direction, status, end_reason, end_initiator, sip_status,"
                          " node_id, from_number, to_number, timeout_secs FROM calls"
                          " WHERE id = %s" % q(call_id))[0]

    def act(self, call_id, verb, body):
        return self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body, key=self.key)

    def actions(self, call_id):
        return self.p.sql("SELECT verb, status, error FROM call_actions WHERE call_id = %s"
                          " ORDER BY requested_at" % q(call_id))

    def rated(self, call_id, timeout=20):
        """The call's rating, once rating has priced it: (billed_seconds, cost_cents)."""
        row = wait_until(lambda: self.p.sql(
            "SELECT billed_seconds, cost_cents FROM calls WHERE id = %s AND rating_status = 'rated'"
            % q(call_id)), timeout, what="rating of %s" % call_id)
        return int(row[0][0] or 0), int(row[0][1])

    def ringing(self, sipp):
        """SIPp's call, ringing: call.started (inbound, from the caller to the DID) and
        call.ringing recorded, owned by this node."""
        call_id = self.call_of(sipp)
        call = self.wait(call_id, "ringing", timeout=10)
        self.assertEqual((call["direction"], call["from"], call["to"]), ("inbound", CALLER, DID))
        direction, _, _, _, _, node, frm, to, timeout = self.row(call_id)
        self.assertEqual((node, frm, to, timeout), ("call-control-it", CALLER, DID,
                                                    str(RING_MS // 1000)))
        self.assertEqual(self.event_data(call_id, "call.started"),
                         [["inbound", CALLER, DID, "initiated", None, None]])
        self.assertEqual(self.events(call_id), ["call.started", "call.ringing"])
        return call_id

    def answer(self, call_id, body=None, already=False):
        if not already:
            st, call, raw, _ = self.act(call_id, "answer", body or {})
            self.assertEqual(st, 200, raw)
        call = self.wait(call_id, "answered")
        self.assertIsNotNone(call["answered_at"])
        self.assertEqual(self.event_data(call_id, "call.answered")[0][:4],
                         ["inbound", CALLER, DID, "answered"])
        wait_until(lambda: self.actions(call_id)[0][1] != "requested", 5, what="the answer done")
        return call

    def assert_ended(self, call_id, status, reason, initiator, sip_status):
        call = self.wait(call_id, status)
        self.assertEqual((call["end_reason"], call["end_initiator"]), (reason, initiator), call)
        self.assertEqual(self.row(call_id)[4], sip_status)
        ended = self.event_data(call_id, "call.ended")
        self.assertEqual(ended, [["inbound", CALLER, DID, status, reason, initiator]])
        return call

    def assert_media(self, call_id, sipp):
        leg = self.p.sql("SELECT codec, local_media, remote_media, rtp_packets_out, status"
                         " FROM call_legs WHERE call_id = %s" % q(call_id))[0]
        codec, local, remote, packets_out, status = leg
        self.assertEqual((codec, remote, status), ("PCMU", "127.0.0.1:%d" % sipp.media_port,
                                                   "ended"))
        self.assertTrue(local.startswith("127.0.0.1:"), local)
        self.assertGreater(int(packets_out), 10, leg)


class Inbound(InboundBase):
    # -- answered ----------------------------------------------------------------------------
    def test_answer_then_hangup_verb(self):
        sipp = self.dial("uac_inbound_answer.xml")
        call_id = self.ringing(sipp)
        self.answer(call_id)
        self.assertEqual(self.actions(call_id), [["answer", "done", None]])
        # reject is pre-answer only, answer once only: the gateway's state table.
        resp = self.act(call_id, "reject", {"cause": "user_busy"})
        self.assertEqual((resp[0], resp[1]["error"]["code"]), (409, "call_not_in_required_state"))
        resp = self.act(call_id, "answer", {})
        self.assertEqual((resp[0], resp[1]["error"]["code"]), (409, "call_not_in_required_state"))
        time.sleep(1.5)  # a billable second or more
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.assert_ended(call_id, "ended", "completed", "api", "200")
        self.assert_caller_passed(sipp)  # it got our BYE (UAS side) and answered it
        self.assertEqual(self.events(call_id),
                         ["call.started", "call.ringing", "call.answered", "call.ended"])
        self.assert_media(call_id, sipp)
        billed, cents = self.rated(call_id)
        self.assertGreaterEqual(billed, 1)
        self.assertEqual(cents, billed)  # inbound deck: 60 cents a minute, per second
        resp = self.act(call_id, "reject", {"cause": "rejected"})
        self.assertEqual((resp[0], resp[1]["error"]["code"]), (409, "call_already_ended"))

    def test_answer_then_caller_hangs_up(self):
        sipp = self.dial("uac_inbound_answer_bye.xml", pause_ms=1500)
        call_id = self.ringing(sipp)
        # Two answers at once: the second either finds the call answered (409) or reaches
        # the node while the first is under way, which refuses it (its action fails).
        st, _, raw, _ = self.act(call_id, "answer", {})
        self.assertEqual(st, 200, raw)
        second = self.act(call_id, "answer", {})
        self.answer(call_id, already=True)
        if second[0] == 200:
            wait_until(lambda: [a[1] for a in self.actions(call_id)] == ["done", "failed"], 10,
                       what="the second answer refused")
            self.assertIn("not an inbound call waiting for an answer", self.actions(call_id)[1][2])
        else:
            self.assertEqual((second[0], second[1]["error"]["code"]),
                             (409, "call_not_in_required_state"))
        self.assert_ended(call_id, "ended", "completed", "callee", "200")
        self.assert_caller_passed(sipp)
        self.assertEqual(self.events(call_id),
                         ["call.started", "call.ringing", "call.answered", "call.ended"])
        self.assert_media(call_id, sipp)
        billed, cents = self.rated(call_id)
        self.assertGreaterEqual(billed, 1)
        self.assertEqual(cents, billed)

    def test_answer_with_record_and_stream(self):
        """answer's options are carried out once answered: the recording runs (its row,
        completed at the end) and the stream is attempted; a stream_url nobody listens on
        (a free loopback port) fails its row without failing the answer."""
        sipp = self.dial("uac_inbound_answer_bye.xml", pause_ms=1000)
        call_id = self.ringing(sipp)
        self.answer(call_id, {"record": "record-from-answer", "record_channels": "dual",
                              "record_format": "wav",
                              "stream_url": "wss://127.0.0.1:%d/voepy" % free_port()})
        verb, status, error = self.actions(call_id)[0]
        self.assertEqual((verb, status, error), ("answer", "done", None))
        self.assert_ended(call_id, "ended", "completed", "callee", "200")
        self.assert_caller_passed(sipp)
        wait_until(lambda: self.p.sql("SELECT status FROM call_streams WHERE call_id = %s"
                                      % q(call_id)) == [["failed"]], 10,
                   what="the refused stream's row to fail")
        recs = wait_until(lambda: [r for r in self.p.sql(
            "SELECT channels, format, status FROM recordings WHERE call_id = %s" % q(call_id))
            if r[2] != "recording"], 15, what="the recording to finish")
        self.assertEqual(recs, [["dual", "wav", "available"]])
        self.rated(call_id)

    # -- not answered ------------------------------------------------------------------------
    def reject(self, cause, scenario, reason, sip_status):
        sipp = self.dial(scenario)
        call_id = self.ringing(sipp)
        st, _, raw, _ = self.act(call_id, "reject", {"cause": cause})
        self.assertEqual(st, 200, raw)
        call = self.assert_ended(call_id, "failed", reason, "api", sip_status)
        self.assertIsNone(call["answered_at"])
        self.assert_caller_passed(sipp)
        self.assertEqual(self.events(call_id), ["call.started", "call.ringing", "call.ended"])
        self.assertEqual(self.actions(call_id), [["reject", "done", None]])
        self.assertEqual(self.rated(call_id), (0, 0))
        resp = self.act(call_id, "answer", {})
        self.assertEqual((resp[0], resp[1]["error"]["code"]), (409, "call_already_ended"))

    def test_reject_user_busy(self):
        self.reject("user_busy", "uac_inbound_busy.xml", "busy", "486")

    def test_reject_rejected(self):
        self.reject("rejected", "uac_inbound_reject.xml", "rejected", "603")

    def test_caller_cancels_while_ringing(self):
        sipp = self.dial("uac_inbound_cancel.xml", pause_ms=1500)
        call_id = self.ringing(sipp)
        self.assert_ended(call_id, "failed", "canceled", "callee", "487")
        self.assert_caller_passed(sipp)  # 200 for the CANCEL, 487 for the INVITE
        self.assertEqual(self.events(call_id), ["call.started", "call.ringing", "call.ended"])
        self.assertEqual(self.rated(call_id), (0, 0))
        resp = self.act(call_id, "answer", {})
        self.assertEqual((resp[0], resp[1]["error"]["code"]), (409, "call_already_ended"))

    def test_no_action_times_out(self):
        sipp = self.dial("uac_inbound_timeout.xml")
        call_id = self.ringing(sipp)
        started = time.monotonic()
        self.assert_ended(call_id, "failed", "no_answer", "system", "480")
        self.assertLess(time.monotonic() - started, RING_MS / 1000 + 3)
        self.assert_caller_passed(sipp)
        self.assertEqual(self.events(call_id), ["call.started", "call.ringing", "call.ended"])
        self.assertEqual(self.rated(call_id), (0, 0))

    def test_hangup_verb_while_ringing(self):
        sipp = self.dial("uac_inbound_timeout.xml")
        call_id = self.ringing(sipp)
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.assert_ended(call_id, "failed", "canceled", "api", None)
        self.assert_caller_passed(sipp)  # 480 for its INVITE

    # -- numbers that take no calls -------------------------------------------------------------
    def assert_no_call(self, sipp):
        sip = self.sip_call_id(sipp)
        self.assertEqual(self.p.sql("SELECT call_id FROM call_legs WHERE sip_call_id = %s"
                                    % q(sip)), [])

    def test_unknown_did_is_404(self):
        before = self.p.sql("SELECT count(*) FROM calls")
        sipp = self.dial("uac_inbound_unknown.xml", did=DID_UNKNOWN)
        self.assert_caller_passed(sipp)
        self.assert_no_call(sipp)
        self.assertEqual(self.p.sql("SELECT count(*) FROM calls"), before)

    def test_unassigned_and_released_dids_are_480(self):
        for did in (DID_FREE, DID_RELEASED):
            with self.subTest(did=did):
                before = self.p.sql("SELECT count(*) FROM calls")
                sipp = self.dial("uac_inbound_unassigned.xml", did=did)
                self.assert_caller_passed(sipp)
                self.assert_no_call(sipp)
                self.assertEqual(self.p.sql("SELECT count(*) FROM calls"), before)


class NoMediaFork(InboundBase):
    """No media-fork node: an answer fails as an outbound call does without media
    (system_failure after VOEPY_MEDIA_TIMEOUT_MS), the caller gets 503, the action fails."""
    services = tuple(s for s in SERVICES if s != "media-fork")
    env = {"VOEPY_MEDIA_TIMEOUT_MS": "1500"}

    def test_answer_without_media_fails(self):
        sipp = self.dial("uac_inbound_no_media.xml")
        call_id = self.ringing(sipp)
        st, _, raw, _ = self.act(call_id, "answer", {})
        self.assertEqual(st, 200, raw)
        started = time.monotonic()
        call = self.assert_ended(call_id, "failed", "system_failure", "system", None)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIsNone(call["answered_at"])
        self.assert_caller_passed(sipp)  # 503 for its INVITE
        self.assertEqual(self.events(call_id), ["call.started", "call.ringing", "call.ended"])
        (verb, status, error), = self.actions(call_id)
        self.assertEqual((verb, status), ("answer", "failed"))
        self.assertIn("before it could be answered", error)
        self.assertEqual(self.rated(call_id), (0, 0))


if __name__ == "__main__":
    unittest.main()
