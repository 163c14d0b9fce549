"""transfer and bridge end to end: API -> api-gateway -> call-control -> media-fork.

PostgreSQL, Redis and the five services on loopback. Every far end is SIPp
(cmedia_uas_peer.xml: it answers with an SDP pointing at a Python RTP peer of the test, so
the test both sends what one far end says and sees what the other hears); a busy transfer
target is SIPp's uas_busy.xml. Checked:

- transfer of an answered call to a second SIPp: a child call (outbound, options.
  parent_call_id, the tenant's default route) answers, both calls become bridged with
  call.bridged (bridged_with: the other call and its leg), the action is done; RTP sent by
  one far end reaches the other, both ways, re-stamped by media-fork; hanging up one side
  ends both (completed), and the child is rated like any call;
- transfer to a busy SIPp: the action fails with the reason, the child fails busy, the
  parent stays answered;
- bridge of two API calls: both bridged, audio crosses; a bridge with a leg of no live
  call is refused by the API (404), a bridged call cannot be bridged again (409) but can
  be transferred: its old peer is hung up (completed/system), the new call bridged with
  it, and hanging it up ends the new call;
- a transfer whose from is not the tenant's is failed (from_number_not_owned) before any
  SIP; one not answered within timeout_secs fails no_answer; the parent goes on.
"""
import json
import time
import unittest

from harness import Platform, q, wait_until
from test_call_control import FROM, TO, setup_tenant
from test_media_verbs import Redis, RtpPeer

TO2 = "+15558675310"  # the transfer target's number


class Bridge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="bridge")
        cls.p.start()
        try:
            cls.redis = Redis(cls.p.redis_port)
            cls.busy = cls.p.sipp("uas_busy.xml", name="busy", rtp_echo=False)
            cls.busy_route = cls.p.create_route(cls.busy.uri, name="busy")
            cls.tenant, cls.key = setup_tenant(cls.p, cls.busy_route)
            # The gateway reads the node registry every second: verbs sent sooner are 501.
            wait_until(lambda: {"transfer", "bridge"} <= set(cls.node_verbs()), 10,
                       what="the node to advertise transfer and bridge")
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
        cls.redis.close()
        cls.p.stop()

    def setUp(self):
        self.peers = []

    def tearDown(self):
        for peer in self.peers:
            peer.close()

    # -- helpers -------------------------------------------------------------------------
    def far_end(self):
        """A SIPp that answers one call with an SDP pointing at a new RtpPeer; returns
        (route, peer)."""
        peer = RtpPeer()
        self.peers.append(peer)
        return self.p.peer_route(peer.port, calls=1)[0], peer

    def place(self, route):
        return self.p.answered_call(self.key, {"from": FROM, "to": TO, "route_id": route["id"]})

    def leg(self, call_id):
        """(leg id, media-fork's RTP port of the leg)."""
        leg, local = self.p.sql("SELECT id, local_media FROM call_legs WHERE call_id = %s"
                                % q(call_id))[0]
        return leg, int(local.rsplit(":", 1)[1])

    def action(self, call_id, verb, body, status=200):
        st, out, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/%s" % (call_id, verb), body,
                                     key=self.key)
        self.assertEqual(st, status, raw)
        if status != 200:
            return out
        return self.p.sql("SELECT id FROM call_actions WHERE call_id = %s AND verb = %s"
                          " ORDER BY requested_at DESC LIMIT 1" % (q(call_id), q(verb)))[0][0]

    def action_row(self, action_id, timeout=15):
        def done():
            row = self.p.sql("SELECT status, error FROM call_actions WHERE id = %s"
                             % q(action_id))[0]
            return (row[0], row[1] or "") if row[0] != "requested" else None
        return wait_until(done, timeout, what="action %s to complete" % action_id)

    def events(self, call_id, kind):
        return [r[0] for r in self.p.sql(
            "SELECT data::text FROM events WHERE call_id = %s AND type = %s ORDER BY id"
            % (q(call_id), q(kind)))]

    def assert_audio_crosses(self, src, src_port, dst):
        """src sends 25 packets to its leg; dst hears them (one stream, media-fork's own)."""
        dst.take()
        payload = bytes([0x55]) * 160
        for _ in range(25):
            src.send(src_port, 0, payload)
            src.ts = (src.ts + 160) & 0xFFFFFFFF
            time.sleep(0.02)
        time.sleep(0.3)
        got = [k for k in dst.take() if k["pt"] == 0 and k["payload"] == payload]
        self.assertGreaterEqual(len(got), 20, "bridged audio did not arrive")
        self.assertEqual(len({k["ssrc"] for k in got}), 1)
        self.assertNotEqual(got[0]["ssrc"], src.ssrc)  # re-stamped, not forwarded

    def wait_status(self, call_id, status, timeout=15):
        return self.p.wait_call(self.key, call_id, lambda c: c["status"] == status, timeout)

    # -- tests ---------------------------------------------------------------------------
    def test_transfer_bridges_and_either_side_ends_both(self):
        route_a, peer_a = self.far_end()
        route_b, peer_b = self.far_end()
        parent = self.place(route_a)
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(route_b["id"]), q(self.tenant["id"])))
        act = self.action(parent["id"], "transfer", {"to": TO2, "timeout_secs": 10})
        child_id = wait_until(lambda: (self.p.sql(
            "SELECT id FROM calls WHERE options->>'parent_call_id' = %s" % q(parent["id"]))
            or [[None]])[0][0], 10, what="the transfer's child call")
        self.assertEqual(self.action_row(act), ("done", ""))
        self.wait_status(parent["id"], "bridged")
        child = self.wait_status(child_id, "bridged")
        self.assertEqual((child["direction"], child["from"], child["to"], child["route_id"]),
                         ("outbound", FROM, TO2, route_b["id"]))
        leg_a, port_a = self.leg(parent["id"])
        leg_b, port_b = self.leg(child_id)
        for call, other, other_leg in ((parent["id"], child_id, leg_b),
                                       (child_id, parent["id"], leg_a)):
            ev = self.events(call, "call.bridged")
            self.assertEqual(len(ev), 1, ev)
            data = json.loads(ev[0])
            self.assertEqual((data["call_id"], data["status"]), (call, "bridged"))
            self.assertEqual(data["bridged_with"], {"call_id": other, "leg_id": other_leg})
        self.assert_audio_crosses(peer_a, port_a, peer_b)
        self.assert_audio_crosses(peer_b, port_b, peer_a)
        # the API hangs the child up: the parent ends too
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % child_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        for cid in (child_id, parent["id"]):
            c = self.wait_status(cid, "ended")
            self.assertEqual(c["end_reason"], "completed", c)
        self.assertEqual(self.wait_status(parent["id"], "ended")["end_initiator"], "api")
        # the child is rated like any call
        wait_until(lambda: self.p.sql("SELECT rating_status FROM calls WHERE id = %s"
                                      % q(child_id))[0][0] == "rated", 15,
                   what="the child to be rated")
        packets = self.p.sql("SELECT rtp_packets_in, rtp_packets_out FROM call_legs "
                             "WHERE call_id = %s" % q(child_id))[0]
        self.assertGreaterEqual(int(packets[0]), 20)
        self.assertGreaterEqual(int(packets[1]), 20)

    def test_transfer_to_busy_fails_and_parent_stays(self):
        route_a, _ = self.far_end()
        parent = self.place(route_a)
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(self.busy_route["id"]), q(self.tenant["id"])))
        act = self.action(parent["id"], "transfer", {"to": TO2})
        status, error = self.action_row(act)
        self.assertEqual(status, "failed")
        self.assertIn("busy", error)
        child = self.p.sql("SELECT status, end_reason FROM calls "
                           "WHERE options->>'parent_call_id' = %s" % q(parent["id"]))
        self.assertEqual(child, [["failed", "busy"]])
        time.sleep(0.3)
        self.assertEqual(self.wait_status(parent["id"], "answered")["status"], "answered")
        self.assertEqual(self.events(parent["id"], "call.bridged"), [])
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % parent["id"], {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.wait_status(parent["id"], "ended")

    def test_bridge_two_api_calls(self):
        route_a, peer_a = self.far_end()
        route_c, peer_c = self.far_end()
        a = self.place(route_a)
        c = self.place(route_c)
        leg_a, port_a = self.leg(a["id"])
        leg_c, port_c = self.leg(c["id"])
        out = self.action(a["id"], "bridge", {"leg_id": "voepy_leg_01HZZZZZZZZZZZZZZZZZZZZZZZ"},
                          status=404)
        self.assertEqual(out["error"]["code"], "not_found")
        act = self.action(a["id"], "bridge", {"leg_id": leg_c})
        self.assertEqual(self.action_row(act), ("done", ""))
        self.wait_status(a["id"], "bridged")
        self.wait_status(c["id"], "bridged")
        self.assertEqual(len(self.events(c["id"], "call.bridged")), 1)
        self.assert_audio_crosses(peer_c, port_c, peer_a)
        # a bridged call can no longer be bridged (the API's state check) ...
        self.action(c["id"], "bridge", {"leg_id": leg_a}, status=409)
        # ... but transferred: its old peer is hung up, the new call bridged with it
        route_b, peer_b = self.far_end()
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(route_b["id"]), q(self.tenant["id"])))
        act = self.action(c["id"], "transfer", {"to": TO2})
        self.assertEqual(self.action_row(act), ("done", ""))
        old = self.wait_status(a["id"], "ended")
        self.assertEqual((old["end_reason"], old["end_initiator"]), ("completed", "system"))
        b = self.p.sql("SELECT id FROM calls WHERE options->>'parent_call_id' = %s" % q(c["id"]))
        self.wait_status(b[0][0], "bridged")
        self.assertEqual(self.wait_status(c["id"], "bridged")["status"], "bridged")
        self.assert_audio_crosses(peer_c, port_c, peer_b)
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % c["id"], {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.wait_status(b[0][0], "ended")["end_reason"], "completed")

    def test_transfer_refused_by_the_rules_or_unanswered(self):
        route_a, _ = self.far_end()
        parent = self.place(route_a)
        ring = self.p.sipp("uas_ring.xml", name="ring", rtp_echo=False, calls=1)
        self.p.sql("UPDATE tenants SET default_route_id = %s WHERE id = %s"
                   % (q(self.p.create_route(ring.uri, name="ring")["id"]), q(self.tenant["id"])))
        # from must be one of the tenant's numbers: refused before any SIP
        act = self.action(parent["id"], "transfer", {"to": TO2, "from": "+15125550111"})
        status, error = self.action_row(act)
        self.assertEqual(status, "failed")
        self.assertTrue(error.startswith("from_number_not_owned: "), error)
        self.assertEqual(ring.count_received("INVITE"), 0)
        # no answer within timeout_secs: failed no_answer, the target's INVITE cancelled
        act = self.action(parent["id"], "transfer", {"to": TO2, "timeout_secs": 1})
        status, error = self.action_row(act)
        self.assertEqual(status, "failed")
        self.assertIn("no_answer", error)
        self.assertEqual(ring.count_received("INVITE"), 1)
        self.assertEqual(self.wait_status(parent["id"], "answered")["status"], "answered")
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % parent["id"], {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.wait_status(parent["id"], "ended")


if __name__ == "__main__":
    unittest.main()
