"""SIP dialogs beyond answer and hangup, against SIPp on loopback.

PostgreSQL, Redis and the five services; every far end is a SIPp scenario of
tests/integration/sip (dialog_*.xml), each checking what it receives (SIPp fails a call
whose expected message or regexp does not come: the tests read its exit code or its
counters and its message trace).

- hold: the far end of an outbound call holds it with a re-INVITE (a=sendonly: our 200
  says a=recvonly) and media-fork sends nothing while held (its RTP counter stands
  still), then unholds it (a=sendrecv, RTP again); a second re-INVITE before the ACK of
  the first's 200 gets 491. An inbound caller holds with UPDATE (a=inactive) and with
  c=0.0.0.0, then unholds with a re-INVITE. A re-INVITE with another Contact moves where
  our requests go (target refresh): our BYE follows it.
- session timers (RFC 4028): a 422 with Min-SE makes us INVITE again with that
  Session-Expires; a 2xx with a short Session-Expires and refresher=uac makes us refresh
  with UPDATE at half the interval; refresher=uas without refresh makes us BYE at expiry
  (end_reason failed, initiator system).
- PRACK (RFC 3262): a 183 with Require: 100rel and RSeq is acknowledged with PRACK (RAck),
  a request of the 183's early dialog: its Contact as Request-URI, its Record-Route
  reversed as Route headers, sent to the first route (RFC 3261 12.1.2), as the ACK is;
  an inbound INVITE requiring an extension we lack gets 420 with Unsupported, one asking
  for a session interval below 90 s gets 422 with Min-SE.
- refer: REFER with Refer-To and Referred-By, 202, NOTIFY 100 then NOTIFY 200: the action
  is done and the call ends completed/api with our BYE; a refused REFER fails the action.
- send_dtmf to a far end without telephone-event goes as SIP INFO (dtmf-relay), one per
  digit; its INFO digits (dtmf-relay and application/dtmf) are answered 200 and heard by
  the gather running on the call as if they had come by RFC 4733.
- 10 % loss: SIPp's own -lost 10 on both sides of outbound and inbound calls; the calls
  still complete thanks to retransmissions.
"""
import datetime
import json
import os
import re
import subprocess
import time
import unittest

from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant

DID = "+15125550166"
CALLER = "+15125550199"


class SipDialog(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="sip-dialog")
        cls.p.start()
        try:
            p = cls.p
            # Held for -d ms: long enough for assert_quiet_then_flowing's 0.3 + 1.0 s.
            cls.hold = p.sipp("dialog_uas_hold.xml", name="hold", extra=["-d", "2000"])
            cls.routes = {"hold": p.create_route(cls.hold.uri, name="hold")}
            cls.tenant, cls.key = setup_tenant(p, cls.routes["hold"])
            st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                    {"numbers": [DID], "route_id": cls.routes["hold"]["id"]})
            assert st == 201, raw
            st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                    {"prefix": "1", "kind": "inbound", "cents_per_minute": 60})
            assert st == 201, raw
            st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": DID}, key=cls.key)
            assert st == 201, raw
            wait_until(lambda: "refer" in cls.node_verbs(), 10, what="the node to advertise refer")
            time.sleep(1.5)  # the gateway reads the registry every second
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    @classmethod
    def node_verbs(cls):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(cls.p.redis_port),
                              "--raw", "HGET", "voepy:node:call-control:call-control-it",
                              "verbs"], capture_output=True, text=True).stdout.strip()
        return out.split(",")

    # -- helpers -------------------------------------------------------------------------
    def route(self, scenario, name, extra=(), **kw):
        """A SIPp far end and a route to it."""
        sipp = self.p.sipp(scenario, name=name, extra=list(extra), **kw)
        self.addCleanup(sipp.stop)
        return sipp, self.p.create_route(sipp.uri, name=name)

    def place(self, route, **fields):
        body = dict({"from": FROM, "to": TO, "route_id": route["id"]}, **fields)
        st, call, raw, _ = self.p.api("POST", "/v1/calls", body, key=self.key)
        self.assertEqual(st, 201, raw)
        return call

    def wait(self, call_id, status, timeout=20):
        call = self.p.wait_call(self.key, call_id,
                                lambda c: c["status"] in (status, "ended", "failed"), timeout)
        self.assertEqual(call["status"], status, call)
        return call

    def ended(self, call_id, timeout=20):
        return self.p.wait_call(self.key, call_id, lambda c: c["status"] in ("ended", "failed"),
                                timeout)

    def act(self, call_id, verb, body):
        return self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body, key=self.key)

    def action(self, call_id, verb, timeout=10):
        """The (status, error) of the call's latest such action once it is not requested."""
        def done():
            rows = self.p.sql("SELECT status, error FROM call_actions WHERE call_id = %s"
                              " AND verb = %s ORDER BY requested_at DESC, id DESC LIMIT 1"
                              % (q(call_id), q(verb)))
            return rows if rows and rows[0][0] != "requested" else None
        return tuple(wait_until(done, timeout, what="the %s action's outcome" % verb)[0])

    def row(self, call_id):
        return tuple(self.p.sql("SELECT status, end_reason, end_initiator FROM calls"
                                " WHERE id = %s" % q(call_id))[0])

    def packets_out(self):
        st, _, body = self.p.ops("media-fork", "/metrics")
        self.assertEqual(st, 200)
        m = re.search(r'^voepy_media_rtp_packets_total\{direction="out"\} (\d+)',
                      body.decode(), re.M)
        return int(m.group(1)) if m else 0

    def node_log(self):
        with open(os.path.join(self.p.tmp, "call-control.log"), errors="replace") as f:
            return f.read()

    def dial_in(self, scenario, name, extra=()):
        """A SIPp caller placing one call to our DID."""
        sipp = self.p.sipp(scenario, name=name, calls=1,
                           extra=["-s", DID, "-recv_timeout", "30000"] + list(extra),
                           target="127.0.0.1:%d" % self.p.sip_port)
        self.addCleanup(sipp.stop)
        return sipp

    def call_of(self, sipp):
        sip = wait_until(lambda: re.search(r"^Call-ID:\s*(\S+)", sipp.messages(), re.M), 10,
                         what="SIPp's INVITE").group(1)
        return wait_until(lambda: self.p.sql("SELECT call_id FROM call_legs WHERE sip_call_id = %s"
                                             % q(sip)), 10, what="the inbound call")[0][0]

    def caller_passed(self, sipp, timeout=40):
        try:
            rc = sipp.process.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("SIPp did not finish its call:\n%s" % sipp.messages()[-3000:])
        self.assertEqual(rc, 0, "the caller's scenario failed:\n%s" % sipp.messages()[-4000:])

    def assert_no_call(self, sipp):
        """No call was made for the INVITE SIPp sent."""
        sip = re.search(r"^Call-ID:\s*(\S+)", sipp.messages(), re.M).group(1)
        self.assertEqual(self.p.sql("SELECT count(*) FROM call_legs WHERE sip_call_id = %s"
                                    % q(sip))[0][0], "0", "a call was made for a refused INVITE")

    def assert_quiet_then_flowing(self, held_pattern, unheld_pattern):
        """media-fork sends nothing while the far end holds, and sends again after."""
        wait_until(lambda: self.sipp_of_test.got(held_pattern), 15,
                   what="our answer to the hold")
        time.sleep(0.3)
        before = self.packets_out()
        time.sleep(1.0)
        held = self.packets_out() - before
        self.assertLessEqual(held, 2, "RTP kept flowing while held")
        wait_until(lambda: self.sipp_of_test.got(unheld_pattern), 15,
                   what="our answer to the unhold")
        before = self.packets_out()
        time.sleep(0.6)
        self.assertGreater(self.packets_out() - before, 15, "no RTP after the unhold")

    # -- hold ----------------------------------------------------------------------------
    def test_outbound_hold_unhold_and_glare(self):
        self.sipp_of_test = self.hold
        call = self.place(self.routes["hold"])
        self.wait(call["id"], "answered")
        self.assert_quiet_then_flowing(r"^SIP/2.0 200.*CSeq: 1 INVITE.*a=recvonly",
                                       r"^SIP/2.0 200.*CSeq: 2 INVITE.*a=sendrecv")
        self.assertTrue(self.hold.got(r"^SIP/2.0 491"), "no 491 for the second offer")
        ended = self.ended(call["id"])
        self.assertEqual((ended["status"], ended["end_reason"], ended["end_initiator"]),
                         ("ended", "completed", "callee"))

    def test_inbound_hold_with_update_and_old_style(self):
        # Held for two -d pauses (UPDATE, then c=0.0.0.0): 2.4 s cover the 1.3 s measured.
        sipp = self.dial_in("dialog_uac_hold.xml", "uachold", extra=["-d", "1200"])
        self.sipp_of_test = sipp
        call_id = self.call_of(sipp)
        self.wait(call_id, "ringing")
        st, _, raw, _ = self.act(call_id, "answer", {})
        self.assertEqual(st, 200, raw)
        self.assert_quiet_then_flowing(r"^SIP/2.0 200.*CSeq: 2 UPDATE.*a=inactive",
                                       r"^SIP/2.0 200.*CSeq: 4 INVITE.*a=sendrecv")
        self.assertTrue(sipp.got(r"^SIP/2.0 200.*CSeq: 3 INVITE.*a=inactive"),
                        "c=0.0.0.0 was not answered inactive")
        self.caller_passed(sipp)
        self.assertEqual(self.row(call_id), ("ended", "completed", "callee"))

    def test_reinvite_moves_the_target_of_our_requests(self):
        """A re-INVITE with another Contact is a target refresh: our BYE goes there."""
        sipp, route = self.route("dialog_uas_retarget.xml", "retarget", calls=1)
        call = self.place(route)
        self.wait(call["id"], "answered")
        wait_until(lambda: sipp.got(r"^SIP/2.0 200.*CSeq: 1 INVITE"), 10,
                   what="our 200 to the re-INVITE")
        time.sleep(0.2)  # its ACK
        st, _, raw, _ = self.act(call["id"], "hangup", {})
        self.assertEqual(st, 200, raw)
        self.caller_passed(sipp, timeout=20)  # the BYE's Request-URI is checked there
        self.assertTrue(sipp.got(r"^BYE sip:moved@127\.0\.0\.1:%d" % sipp.port))
        self.assertEqual(self.row(call["id"]), ("ended", "completed", "api"))

    # -- session timers ------------------------------------------------------------------
    def test_session_timer_422_then_our_refreshes(self):
        sipp, route = self.route("dialog_uas_timer.xml", "timer", calls=1)
        call = self.place(route)
        self.caller_passed(sipp, timeout=20)
        self.assertEqual(sipp.count_received("INVITE"), 2, "no second INVITE after the 422")
        self.assertTrue(sipp.got(r"^INVITE.*Session-Expires: 90.*Min-SE: 90"))
        self.assertTrue(sipp.got(r"^INVITE.*Supported: timer"))
        self.assertEqual(sipp.count_received("UPDATE"), 2)
        ended = self.ended(call["id"])
        self.assertEqual((ended["end_reason"], ended["end_initiator"]), ("completed", "callee"))

    def test_session_timer_refreshed_by_reinvite(self):
        sipp, route = self.route("dialog_uas_timer_reinvite.xml", "timerinv", calls=1)
        call = self.place(route)
        self.caller_passed(sipp, timeout=20)  # our re-INVITE came, its 200 got our ACK
        self.assertEqual(sipp.count_received("INVITE"), 2)
        ended = self.ended(call["id"])
        self.assertEqual((ended["end_reason"], ended["end_initiator"]), ("completed", "callee"))

    def test_session_timer_expiry_without_refresh(self):
        sipp, route = self.route("dialog_uas_timer_expire.xml", "expire", calls=1)
        call = self.place(route)
        self.caller_passed(sipp, timeout=20)
        ended = self.ended(call["id"])
        self.assertEqual((ended["status"], ended["end_reason"], ended["end_initiator"]),
                         ("ended", "failed", "system"))
        self.assertTrue(2 <= ended["duration_seconds"] <= 4, ended)

    # -- PRACK and extensions ------------------------------------------------------------
    def test_reliable_183_is_pracked(self):
        sipp, route = self.route("dialog_uas_prack.xml", "prack", extra=["-d", "500"], calls=1)
        call = self.place(route)
        self.caller_passed(sipp, timeout=20)
        self.assertEqual(sipp.count_received("PRACK"), 1)
        self.assertTrue(sipp.got(r"^INVITE.*Supported:[^\n]*100rel"))
        ended = self.ended(call["id"])
        self.assertEqual((ended["status"], ended["end_reason"]), ("ended", "completed"))
        events = [r[0] for r in self.p.sql("SELECT type FROM events WHERE call_id = %s"
                                           " ORDER BY seq" % q(call["id"]))]
        self.assertIn("call.ringing", events)  # the 183 rang

    def test_prack_follows_the_early_route_set(self):
        """The 183 and the 200 Record-Route through p2 then p1 (both this SIPp) and name a
        Contact where nothing listens: the PRACK and the ACK go by the route set."""
        sipp, route = self.route("dialog_uas_prack_route.xml", "prackrr", extra=["-d", "300"],
                                 calls=1)
        call = self.place(route)
        self.caller_passed(sipp, timeout=20)
        self.assertEqual(sipp.count_received("PRACK"), 1)
        routes = (r"^Route: <sip:p1@127\.0\.0\.1:%d;lr>\r?\nRoute: <sip:p2@127\.0\.0\.1:%d;lr>\r?$"
                  % (sipp.port, sipp.port))
        for method in ("PRACK", "ACK"):
            self.assertTrue(sipp.got(r"^%s sip:uas@127\.0\.0\.1:9 SIP/2\.0.*%s"
                                         % (method, routes)),
                            "the %s does not follow the route set:\n%s"
                            % (method, sipp.messages()[-3000:]))
        self.assertTrue(sipp.got(r"^PRACK .*^RAck: 7 1 INVITE"))
        ended = self.ended(call["id"])
        self.assertEqual((ended["status"], ended["end_reason"]), ("ended", "completed"))

    def test_inbound_refused_420_unsupported_422_interval(self):
        for scenario in ("dialog_uac_require.xml", "dialog_uac_short_timer.xml"):  # 420, 422
            sipp = self.dial_in(scenario, scenario.split(".")[0][11:])
            self.caller_passed(sipp, timeout=20)
            self.assert_no_call(sipp)

    # -- refer ---------------------------------------------------------------------------
    REFER_TO = {"sip_address": "sip:transfer@127.0.0.1:5099"}

    def test_refer_accepted_and_transferred(self):
        sipp, route = self.route("dialog_uas_refer.xml", "refer", calls=1)
        call = self.place(route)
        self.wait(call["id"], "answered")
        st, _, raw, _ = self.act(call["id"], "refer", self.REFER_TO)
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.action(call["id"], "refer"), ("done", None))
        self.caller_passed(sipp, timeout=20)  # it got our BYE after the NOTIFY 200's answer
        self.assertEqual(sipp.count_received("REFER"), 1)
        ended = self.ended(call["id"])
        self.assertEqual((ended["status"], ended["end_reason"], ended["end_initiator"]),
                         ("ended", "completed", "api"))

    def test_refer_on_inbound_call(self):
        sipp = self.dial_in("dialog_uac_refer.xml", "uacrefer")
        call_id = self.call_of(sipp)
        self.wait(call_id, "ringing")
        st, _, raw, _ = self.act(call_id, "answer", {})
        self.assertEqual(st, 200, raw)
        self.wait(call_id, "answered")
        st, _, raw, _ = self.act(call_id, "refer", self.REFER_TO)
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.action(call_id, "refer"), ("done", None))
        self.caller_passed(sipp, timeout=20)
        self.assertEqual(self.row(call_id), ("ended", "completed", "api"))

    def test_refer_refused_then_failed_transfer(self):
        sipp, route = self.route("dialog_uas_refer_refused.xml", "referno", calls=1)
        call = self.place(route)
        self.wait(call["id"], "answered")
        st, _, raw, _ = self.act(call["id"], "refer", self.REFER_TO)
        self.assertEqual(st, 200, raw)
        status, error = self.action(call["id"], "refer")
        self.assertEqual(status, "failed")
        self.assertIn("603", error)
        st, _, raw, _ = self.act(call["id"], "refer", self.REFER_TO)
        self.assertEqual(st, 200, raw)
        status, error = self.action(call["id"], "refer")
        self.assertEqual(status, "failed")
        self.assertIn("486", error)
        self.assertEqual(self.wait(call["id"], "answered")["status"], "answered")
        st, _, raw, _ = self.act(call["id"], "hangup", {})
        self.assertEqual(st, 200, raw)
        self.caller_passed(sipp, timeout=20)
        self.assertEqual(self.row(call["id"]), ("ended", "completed", "api"))

    # -- SIP INFO DTMF -------------------------------------------------------------------
    def info_times(self, sipp):
        """When SIPp received each INFO (datetime), in order."""
        out = []
        for m in re.finditer(r"^-{20,} (\S+ \S+)\n[^\n]*message received[^\n]*\n\s*INFO ",
                             sipp.messages(), re.M):
            out.append(datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f"))
        return out

    def test_send_dtmf_falls_back_to_sip_info(self):
        sipp, route = self.route("dialog_uas_info.xml", "info", calls=1)
        call = self.place(route)
        self.wait(call["id"], "answered")
        # The far end keys its digits once it has ours: the gather runs by then.
        st, _, raw, _ = self.act(call["id"], "gather", {"maximum_digits": 4,
                                                          "timeout_millis": 15000})
        self.assertEqual(st, 200, raw)
        st, _, raw, _ = self.act(call["id"], "send_dtmf", {"digits": "1#", "duration_millis": 200})
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.action(call["id"], "send_dtmf"), ("done", None))
        times = wait_until(lambda: len(self.info_times(sipp)) >= 2 and self.info_times(sipp),
                           5, what="two INFOs")
        gap = (times[1] - times[0]).total_seconds()
        self.assertGreaterEqual(gap, 0.25, "the digits were not paced: %.3f s apart" % gap)
        self.assertTrue(sipp.got(r"^INFO .*Content-Type: application/dtmf-relay"))
        wait_until(lambda: re.search(r'"call.info_dtmf_in".*"digit":"5"', self.node_log()), 10,
                   what="the far end's INFO digit")
        gathered = wait_until(lambda: self.p.sql(
            "SELECT data FROM events WHERE call_id = %s AND type = 'call.gather_complete'"
            % q(call["id"])), 10, what="call.gather_complete")
        data = json.loads(gathered[0][0])
        self.assertEqual((data["digits"], data["status"]), ("57", "valid"), data)
        st, _, raw, _ = self.act(call["id"], "hangup", {})
        self.assertEqual(st, 200, raw)
        self.caller_passed(sipp, timeout=20)

    # -- packet loss ---------------------------------------------------------------------
    def test_calls_complete_with_10_percent_loss(self):
        """SIPp drops 10 % of what it sends and receives (-lost 10, both directions): our
        transactions' retransmissions (and SIPp's) still carry every call to its end."""
        uas, route = self.route("uas_answer_bye.xml", "lossy", extra=["-lost", "10", "-d", "800"])
        calls = [self.place(route) for _ in range(3)]
        uac = self.dial_in("dialog_uac_loss.xml", "lossyin",
                           extra=["-lost", "10", "-d", "800", "-m", "2", "-r", "4"])
        answered = set()

        def inbound_done():
            rows = self.p.sql("SELECT id, status FROM calls WHERE direction = 'inbound'"
                              " AND to_number = %s AND initiated_at > now() - interval '60 s'"
                              % q(DID))
            for cid, status in rows:
                if status == "ringing" and cid not in answered:
                    st, _, raw, _ = self.act(cid, "answer", {})
                    if st == 200:
                        answered.add(cid)
            return len(rows) == 2 and all(r[1] in ("ended", "failed") for r in rows) and rows
        inbound = wait_until(inbound_done, 40, interval=0.2, what="the lossy inbound calls")
        self.caller_passed(uac, timeout=30)
        for cid, _ in inbound:
            self.assertEqual(self.row(cid), ("ended", "completed", "callee"))
        for call in calls:
            ended = self.ended(call["id"], timeout=40)
            self.assertEqual((ended["status"], ended["end_reason"], ended["end_initiator"]),
                             ("ended", "completed", "callee"),
                             "%s\n%s" % (ended, self.sipp_story(uas, call["id"])))

    def sipp_story(self, sipp, call_id):
        """What SIPp traced of call_id's dialog, a line per message (seen once in CI: a
        lossy call that no answer reached in 32 s; the trace says which side went quiet)."""
        rows = self.p.sql("SELECT 'x', sip_call_id FROM call_legs WHERE call_id = %s"
                          % q(call_id))
        sip_id = rows[0][1] if rows else None
        out = []
        # A block: the date, "UDP message received/sent", the message. When SIPp drops one
        # (-lost) it ends that block with "... message lost (recv)." for the message just
        # received, or with "... voluntary lost (while sending)." for the next one it was
        # to send (which is then not traced).
        for block in re.split(r"-{20,} ", sipp.messages()):
            if sip_id and sip_id in block:
                head, _, msg = block.partition("\n\n")
                first = msg.strip().split("\n", 1)[0]
                tail = block.rstrip().rsplit("\n", 1)[-1]
                out.append("%s | %s" % (head.strip().replace("\n", " "), first))
                if "lost" in tail:
                    out.append("    " + tail.strip())
        return "SIPp saw for %s (%s):\n%s" % (call_id, sip_id, "\n".join(out) or "nothing")


if __name__ == "__main__":
    unittest.main()
