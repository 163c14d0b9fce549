"""Forwarding numbers end to end: SIPp caller -> call-control (relay DID) -> SIPp target.

PostgreSQL, Redis and the five services on loopback. Two DIDs of one tenant forward:
DID_E164 to an E.164 number over the tenant's default route (a SIPp answering with an SDP
that points at an RTP peer of the test), keeping the caller's number; DID_SIP to a sip:
URI dialled directly (a busy SIPp), presenting the DID. Checked:

- the caller (SIPp, its SDP pointing at another RTP peer) is answered once the target
  answers; the inbound call and its child (outbound, options.parent_call_id, from the
  caller, to forward_to) both become bridged with call.bridged; RTP crosses both ways and
  the caller's RFC 4733 key press (payload type 101) reaches the target once, on its 96;
  the caller's BYE ends both (completed) and the caller's scenario passes;
- a busy target gives the caller 486; both calls fail busy, no answer is ever sent;
- early media (DID_EARLY, a sip: target answering 183 with an SDP that points at another
  RTP peer, then 200 after 2.5 s): the caller gets 183 with our SDP answer and the 200
  repeats it; while both calls ring, RTP crosses the early bridge both ways; then the
  usual answer, bridge (call.ringing and call.bridged once each), and ending;
- a target busy after early media gives the caller 486 after the 183 (DID_EARLY_BUSY);
  a caller canceling during early media ends both calls canceled (DID_EARLY_CANCEL).
"""
import json
import re
import subprocess
import time
import unittest

from harness import Platform, q, wait_until
from test_call_control import setup_tenant
from test_media_verbs import RtpPeer, decode_events

CALLER = "+15125550199"  # the SIPp scenarios' From
DID_E164 = "+15125550181"
DID_SIP = "+15125550182"
TARGET = "+15558675311"
DID_EARLY = "+15125550183"
DID_EARLY_BUSY = "+15125550184"
DID_EARLY_CANCEL = "+15125550185"


class Forwarding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="forwarding")
        cls.p.start()
        try:
            p = cls.p
            cls.target_peer = RtpPeer()
            cls.target = p.sipp("cmedia_uas_peer.xml", name="target", rtp_echo=False,
                                extra=["-key", "peer_port", str(cls.target_peer.port)])
            cls.busy = p.sipp("uas_busy.xml", name="busy", rtp_echo=False)
            cls.early_peer = RtpPeer()
            peer = ["-key", "peer_port", str(cls.early_peer.port)]
            cls.early = p.sipp("fwd_early_uas.xml", name="early", rtp_echo=False, extra=peer)
            cls.early_busy = p.sipp("fwd_early_uas_busy.xml", name="early_busy", rtp_echo=False,
                                    extra=peer)
            cls.route = p.create_route(cls.target.uri, name="target")
            cls.tenant, cls.key = setup_tenant(p, cls.route)
            st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                    {"numbers": [DID_E164, DID_SIP, DID_EARLY, DID_EARLY_BUSY,
                                                 DID_EARLY_CANCEL],
                                     "route_id": cls.route["id"]})
            assert st == 201, raw
            for did, far in ((DID_EARLY, cls.early), (DID_EARLY_BUSY, cls.early_busy),
                             (DID_EARLY_CANCEL, cls.early)):
                cls.relay(did, {"forward_to": "sip:early@127.0.0.1:%d" % far.port,
                                "relay_enabled": True})
            cls.relay(DID_E164, {"forward_to": TARGET, "relay_enabled": True})
            cls.relay(DID_SIP, {"forward_to": "sip:busy@127.0.0.1:%d" % cls.busy.port,
                                "relay_enabled": True, "forward_caller_id": "number"})
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def relay(cls, did, patch):
        st, num, raw, _ = cls.p.api("POST", "/v1/phone_numbers", {"phone_number": did},
                                    key=cls.key)
        assert st == 201, raw
        st, _, raw, _ = cls.p.api("PATCH", "/v1/phone_numbers/%s" % num["id"], patch, key=cls.key)
        assert st == 200, raw

    @classmethod
    def tearDownClass(cls):
        cls.target_peer.close()
        cls.early_peer.close()
        cls.p.stop()

    # -- helpers -------------------------------------------------------------------------
    def dial(self, scenario, did, extra=()):
        return self.p.sipp(scenario, name=scenario.split(".")[0], calls=1, rtp_echo=False,
                           extra=["-s", did, "-recv_timeout", "20000"] + list(extra),
                           target="127.0.0.1:%d" % self.p.sip_port)

    def calls_to(self, did):
        """(inbound call id, child call id) once both rows exist."""
        def both():
            rows = self.p.sql("SELECT i.id, c.id FROM calls i JOIN calls c "
                              "ON c.options->>'parent_call_id' = i.id "
                              "WHERE i.to_number = %s AND i.direction = 'inbound'" % q(did))
            return rows[0] if rows else None
        return wait_until(both, 10, what="the forwarded call and its child")

    def status(self, call_id):
        return self.p.sql("SELECT status, end_reason, end_initiator FROM calls WHERE id = %s"
                          % q(call_id))[0]

    def wait_status(self, call_id, status, timeout=15):
        return wait_until(lambda: self.status(call_id)[0] == status and self.status(call_id),
                          timeout, what="call %s to be %s" % (call_id, status))

    def events(self, call_id):
        return [r[0] for r in self.p.sql("SELECT type FROM events WHERE call_id = %s ORDER BY id"
                                         % q(call_id))]

    def caller_rc(self, sipp):
        try:
            return sipp.process.proc.wait(25)
        except subprocess.TimeoutExpired:
            self.fail("the caller did not finish:\n%s" % sipp.messages()[-3000:])

    def port_of(self, call_id):
        local = self.p.sql("SELECT local_media FROM call_legs WHERE call_id = %s"
                           % q(call_id))[0][0]
        return int(local.rsplit(":", 1)[1])

    def assert_audio_crosses(self, src, src_port, dst, fill):
        dst.take()
        payload = bytes([fill]) * 160
        for _ in range(20):
            src.send(src_port, 0, payload)
            src.ts = (src.ts + 160) & 0xFFFFFFFF
            time.sleep(0.02)
        time.sleep(0.3)
        got = [k for k in dst.take() if k["pt"] == 0 and k["payload"] == payload]
        self.assertGreaterEqual(len(got), 15, "forwarded audio did not arrive")

    def response_sdp(self, sipp, status):
        """The SDP body of the first `status` response sipp received, or None."""
        for block in re.split(r"^-{20,} [^\n]*\n", sipp.messages(), flags=re.M):
            head, _, msg = block.partition("\n\n")
            if "message received" in head and msg.lstrip().startswith("SIP/2.0 %d " % status):
                parts = re.split(r"\r?\n\r?\n", msg.lstrip(), maxsplit=1)
                return parts[1].strip() if len(parts) == 2 and parts[1].strip() else None
        return None

    def leg_media(self, call_id):
        rows = self.p.sql("SELECT local_media FROM call_legs WHERE call_id = %s" % q(call_id))
        return rows[0][0] if rows else None

    def assert_both_ways(self, a, a_to, b, b_to):
        """RTP from a (to port a_to) reaches b, and from b (to b_to) reaches a, at once."""
        a.take()
        b.take()
        from_a, from_b = bytes([0x77]) * 160, bytes([0x88]) * 160
        for _ in range(20):
            a.send(a_to, 0, from_a)
            b.send(b_to, 0, from_b)
            a.ts = (a.ts + 160) & 0xFFFFFFFF
            b.ts = (b.ts + 160) & 0xFFFFFFFF
            time.sleep(0.02)
        time.sleep(0.3)
        at_b = [k for k in b.take() if k["pt"] == 0 and k["payload"] == from_a]
        at_a = [k for k in a.take() if k["pt"] == 0 and k["payload"] == from_b]
        self.assertGreaterEqual(len(at_b), 15, "the caller's audio did not reach the target")
        self.assertGreaterEqual(len(at_a), 15, "the target's early media did not reach the caller")

    # -- tests ---------------------------------------------------------------------------
    def test_forward_answers_bridges_and_caller_bye_ends_both(self):
        caller_peer = RtpPeer()
        self.addCleanup(caller_peer.close)
        caller = self.dial("fwd_uac_peer_bye.xml", DID_E164,
                           ["-d", "5000", "-key", "peer_port", str(caller_peer.port)])
        inbound, child = self.calls_to(DID_E164)
        self.wait_status(inbound, "bridged")
        self.wait_status(child, "bridged")
        row = self.p.sql("SELECT direction, from_number, to_number, route_id, node_id FROM calls "
                         "WHERE id = %s" % q(child))[0]
        self.assertEqual(row, ["outbound", CALLER, TARGET, self.route["id"], "call-control-it"])
        legs = self.p.sql("SELECT media_node FROM call_legs WHERE call_id IN (%s, %s)"
                          % (q(inbound), q(child)))
        self.assertEqual(legs, [["media-fork-it"], ["media-fork-it"]])
        data = json.loads(self.p.sql("SELECT data::text FROM events WHERE call_id = %s AND "
                                     "type = 'call.bridged'" % q(inbound))[0][0])
        self.assertEqual(data["bridged_with"]["call_id"], child)
        self.assert_audio_crosses(caller_peer, self.port_of(inbound), self.target_peer, 0x55)
        self.assert_audio_crosses(self.target_peer, self.port_of(child), caller_peer, 0x66)
        # a key pressed by the caller (telephone-event 101) reaches the target on its 96
        self.target_peer.take()
        caller_peer.send_event(self.port_of(inbound), "5", ms=100, pt=101)
        time.sleep(0.3)
        got = self.target_peer.take()
        events = decode_events(got, pt=96)
        self.assertEqual([e[0] for e in events], ["5"], got)
        pkts = events[0][2]
        self.assertEqual([k["marker"] for k in pkts], [True] + [False] * (len(pkts) - 1))
        self.assertEqual(sum(k["payload"][1] >> 7 for k in pkts), 3)  # the end, three times
        self.assertEqual([k for k in got if k["pt"] == 101], [])
        # the caller hangs up: both end
        self.assertEqual(self.caller_rc(caller), 0, caller.messages()[-3000:])
        self.assertEqual(self.wait_status(inbound, "ended"), ["ended", "completed", "callee"])
        self.assertEqual(self.wait_status(child, "ended"), ["ended", "completed", "system"])
        for call in (inbound, child):
            self.assertEqual(self.events(call), ["call.started", "call.ringing", "call.answered",
                                                 "call.bridged", "call.ended"])

    def test_busy_target_gives_the_caller_486(self):
        caller = self.dial("fwd_uac_busy.xml", DID_SIP)
        self.assertEqual(self.caller_rc(caller), 0, caller.messages()[-3000:])
        inbound, child = self.calls_to(DID_SIP)
        self.assertEqual(self.wait_status(child, "failed")[:2], ["failed", "busy"])
        self.assertEqual(self.wait_status(inbound, "failed")[:2], ["failed", "busy"])
        row = self.p.sql("SELECT from_number, to_number, route_id FROM calls WHERE id = %s"
                         % q(child))[0]
        self.assertEqual(row, [DID_SIP, "sip:busy@127.0.0.1:%d" % self.busy.port, None])
        self.assertNotIn("call.answered", self.events(inbound))

    def test_early_media_crosses_before_the_answer(self):
        caller_peer = RtpPeer()
        self.addCleanup(caller_peer.close)
        caller = self.dial("fwd_early_uac.xml", DID_EARLY,
                           ["-d", "2000", "-key", "peer_port", str(caller_peer.port)])
        inbound, child = self.calls_to(DID_EARLY)
        # the caller's leg is written with our 183 (its SDP answer names that leg)
        wait_until(lambda: self.leg_media(inbound), 5, what="the caller's leg at the 183")
        self.assert_both_ways(caller_peer, self.port_of(inbound), self.early_peer,
                              self.port_of(child))
        # the target has not answered (it does after 2.5 s): both calls still ring
        self.assertEqual(self.status(inbound)[0], "ringing")
        self.assertEqual(self.status(child)[0], "ringing")
        self.assertEqual(self.events(inbound), ["call.started", "call.ringing"])
        self.wait_status(inbound, "bridged")
        self.wait_status(child, "bridged")
        # the join of legs bridged early keeps them bridged
        self.assert_audio_crosses(self.early_peer, self.port_of(child), caller_peer, 0x66)
        self.assertEqual(self.caller_rc(caller), 0, caller.messages()[-3000:])
        early, answer = self.response_sdp(caller, 183), self.response_sdp(caller, 200)
        self.assertIsNotNone(early, caller.messages()[-3000:])
        self.assertEqual(early, answer)  # RFC 3264: the 200 repeats the 183's answer
        self.assertIn("m=audio %d RTP/AVP 0 101" % self.port_of(inbound), early)
        self.assertEqual(self.wait_status(inbound, "ended"), ["ended", "completed", "callee"])
        self.assertEqual(self.wait_status(child, "ended"), ["ended", "completed", "system"])
        for call in (inbound, child):
            self.assertEqual(self.events(call), ["call.started", "call.ringing", "call.answered",
                                                 "call.bridged", "call.ended"])

    def test_early_media_then_busy_or_cancel(self):
        # the target plays early media, then is busy: the caller gets 486 after the 183
        caller = self.dial("fwd_early_uac_busy.xml", DID_EARLY_BUSY,
                           ["-key", "peer_port", str(self.early_peer.port)])
        self.assertEqual(self.caller_rc(caller), 0, caller.messages()[-3000:])
        inbound, child = self.calls_to(DID_EARLY_BUSY)
        self.assertEqual(self.wait_status(child, "failed")[:2], ["failed", "busy"])
        self.assertEqual(self.wait_status(inbound, "failed")[:2], ["failed", "busy"])
        for call in (inbound, child):
            self.assertEqual(self.events(call), ["call.started", "call.ringing", "call.ended"])
        # the caller cancels during early media: both end canceled, the target sees CANCEL
        cancels = self.early.count_received("CANCEL")
        caller = self.dial("fwd_early_uac_cancel.xml", DID_EARLY_CANCEL,
                           ["-d", "300", "-key", "peer_port", str(self.early_peer.port)])
        self.assertEqual(self.caller_rc(caller), 0, caller.messages()[-3000:])
        inbound, child = self.calls_to(DID_EARLY_CANCEL)
        self.assertEqual(self.wait_status(inbound, "failed"), ["failed", "canceled", "callee"])
        self.assertEqual(self.wait_status(child, "failed")[:2], ["failed", "canceled"])
        wait_until(lambda: self.early.count_received("CANCEL") > cancels, 5,
                   what="the target to see our CANCEL")
        for call in (inbound, child):
            self.assertEqual(self.events(call), ["call.started", "call.ringing", "call.ended"])


if __name__ == "__main__":
    unittest.main()
