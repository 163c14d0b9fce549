"""call-control against real SIP peers: every way an outbound call can go.

PostgreSQL, Redis, the five services and one SIPp far end per behaviour (answer and
wait, answer and hang up, busy, decline, ring forever, slow to answer) on loopback.
Each test places a call through the API (or writes one straight into PostgreSQL, as if
its dial command had been lost) and checks the call's row, its leg, its events and what
the far end saw.
"""
import json
import os
import signal
import socket
import subprocess
import time
import unittest
import urllib.request

from harness import SERVICES, Platform, wait_until

FROM = "+15125550100"
TO = "+15558675309"


def setup_tenant(p, default_route):
    created = p.create_tenant("cc-tests", default_route_id=default_route["id"])
    tenant, key = created["tenant"], created["api_key"]
    st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                            {"numbers": [FROM], "route_id": default_route["id"]})
    assert st == 201, raw
    st, _, raw, _ = p.admin("POST", "/admin/v1/rates", {"prefix": "1", "cents_per_minute": 60})
    assert st == 201, raw
    st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % tenant["id"],
                            {"amount_cents": 10000})
    assert st in (200, 201), raw
    st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": FROM}, key=key)
    assert st == 201, raw
    return tenant, key


class CallControl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="call-control")
        cls.p.start()
        p = cls.p
        cls.answer = p.sipp("uas_answer.xml", name="answer")
        cls.bye = p.sipp("uas_answer_bye.xml", name="bye", extra=["-d", "1500"])
        cls.busy_tcp = p.sipp("uas_busy.xml", name="busytcp", rtp_echo=False, extra=["-t", "t1"])
        cls.reject = p.sipp("uas_reject.xml", name="reject", rtp_echo=False)
        cls.ring = p.sipp("uas_ring.xml", name="ring", rtp_echo=False)
        cls.slow = p.sipp("uas_slow.xml", name="slow")
        cls.routes = {
            "answer": p.create_route(cls.answer.uri, name="answer"),
            "bye": p.create_route(cls.bye.uri, name="bye"),
            "busy_tcp": p.create_route(cls.busy_tcp.uri, transport="tcp", name="busy over tcp"),
            "reject": p.create_route(cls.reject.uri, name="reject"),
            "ring": p.create_route(cls.ring.uri, name="ring"),
            "slow": p.create_route(cls.slow.uri, name="slow"),
            "by_name": p.create_route("sip:localhost:%d" % cls.reject.port, name="by name"),
        }
        cls.tenant, cls.key = setup_tenant(p, cls.routes["answer"])

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    # -- helpers -------------------------------------------------------------------------
    def place(self, route, **fields):
        body = dict({"from": FROM, "to": TO, "route_id": self.routes[route]["id"]}, **fields)
        st, call, raw, _ = self.p.api("POST", "/v1/calls", body, key=self.key)
        self.assertEqual(st, 201, raw)
        return call

    def wait(self, call_id, status, timeout=20):
        """Wait for status (or for the call to be over), then insist on status: a call that
        took another way fails here with its row, not with a timeout."""
        call = self.p.wait_call(self.key, call_id,
                                lambda c: c["status"] in (status, "ended", "failed"), timeout)
        self.assertEqual(call["status"], status, call)
        return call

    def wait_over(self, call_id, timeout=20):
        return self.p.wait_call(self.key, call_id,
                                lambda c: c["status"] in ("ended", "failed"), timeout)

    def events(self, call_id):
        return [r[0] for r in self.p.sql(
            "SELECT type FROM events WHERE call_id = '%s' ORDER BY seq" % call_id)]

    def row(self, call_id):
        cols = "status, end_reason, end_initiator, sip_status, node_id"
        return self.p.sql("SELECT %s FROM calls WHERE id = '%s'" % (cols, call_id))[0]

    def sip_call_id(self, call_id):
        """The leg's SIP Call-ID, None when nothing was dialled."""
        rows = self.p.sql("SELECT 'x', sip_call_id FROM call_legs WHERE call_id = '%s'" % call_id)
        return rows[0][1]

    def hangup(self, call_id):
        st, body, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                      key=self.key)
        self.assertEqual(st, 200, raw)
        return body

    def insert_call(self, route_key=None, hangup_requested=False, tenant=None, call_id=None):
        """A call written straight into PostgreSQL: its dial command never existed."""
        tenant = tenant or self.tenant["id"]
        route = "'%s'" % self.routes[route_key]["id"] if route_key else "NULL"
        hangup = "now()" if hangup_requested else "NULL"
        call_id = self.p.sql(
            "INSERT INTO calls (id, tenant_id, direction, from_number, to_number, route_id,"
            " timeout_secs, hangup_requested_at) VALUES (%s, '%s', 'outbound',"
            " '%s', '%s', %s, 10, %s) RETURNING id"
            % ("'%s'" % call_id if call_id else "voepy_id('call')", tenant, FROM, TO, route,
               hangup))[0][0]
        self.p.sql("INSERT INTO call_legs (id, call_id, tenant_id, direction, from_uri, to_uri)"
                   " VALUES (voepy_id('leg'), '%s', '%s', 'outbound', '%s', '%s')"
                   % (call_id, tenant, FROM, TO))
        return call_id

    # -- the far end answers ---------------------------------------------------------------
    def test_far_end_hangs_up(self):
        call = self.place("bye")
        call = self.wait(call["id"], "ended")
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("completed", "callee"))
        self.assertEqual(self.events(call["id"]),
                         ["call.started", "call.ringing", "call.answered", "call.ended"])
        status, reason, initiator, sip_status, node = self.row(call["id"])
        self.assertEqual((sip_status, node), ("200", "call-control-it"))
        leg = call["legs"][0]
        self.assertEqual(leg["status"], "ended")
        self.assertEqual(leg["codec"], "PCMU")
        self.assertGreater(leg["rtp"]["packets_out"], 10, leg)
        local, remote = self.p.sql("SELECT local_media, remote_media FROM call_legs"
                                   " WHERE call_id = '%s'" % call["id"])[0]
        self.assertTrue(local.startswith("127.0.0.1:"), local)
        self.assertEqual(remote, "127.0.0.1:%d" % self.bye.media_port)

    def test_hangup_when_answered(self):
        call = self.place("answer")
        self.wait(call["id"], "answered")
        self.hangup(call["id"])
        call = self.wait(call["id"], "ended")
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("completed", "api"))
        sip = self.sip_call_id(call["id"])
        wait_until(lambda: ("BYE", sip) in self.answer.received("BYE"), 5, what="BYE at the far end")
        self.assertEqual(self.events(call["id"]).count("call.ended"), 1)

    def test_invite_retransmitted_to_a_slow_far_end(self):
        call = self.place("slow", time_limit_secs=1)
        call = self.wait(call["id"], "ended", timeout=25)
        self.assertEqual(call["end_reason"], "time_limit")
        self.assertEqual(call["legs"][0]["codec"], "PCMA")
        sip = self.sip_call_id(call["id"])
        invites = [c for _, c in self.slow.received("INVITE") if c == sip]
        self.assertGreaterEqual(len(invites), 2, "the INVITE was not sent again (timer A)")

    # -- the far end does not answer ---------------------------------------------------------
    def test_busy_over_tcp(self):
        call = self.place("busy_tcp")
        call = self.wait(call["id"], "failed")
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("busy", "callee"))
        self.assertIsNone(call["answered_at"])
        self.assertEqual(self.row(call["id"])[3], "486")
        self.assertEqual(self.events(call["id"]), ["call.started", "call.ended"])
        self.assertEqual(call["legs"][0]["status"], "failed")

    def test_declined(self):
        call = self.place("reject")
        call = self.wait(call["id"], "failed")
        self.assertEqual(call["end_reason"], "rejected")
        self.assertEqual(self.row(call["id"])[3], "603")
        self.assertEqual(self.events(call["id"]), ["call.started", "call.ringing", "call.ended"])

    def test_ring_timeout_cancels(self):
        call = self.place("ring", timeout_secs=2)
        self.wait(call["id"], "ringing", timeout=10)
        started = time.monotonic()
        call = self.wait(call["id"], "failed", timeout=10)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("no_answer", "system"))
        sip = self.sip_call_id(call["id"])
        wait_until(lambda: ("CANCEL", sip) in self.ring.received("CANCEL"), 5,
                   what="CANCEL at the far end")
        wait_until(lambda: ("ACK", sip) in self.ring.received("ACK"), 5,
                   what="ACK of the 487 at the far end")

    def test_hangup_while_ringing_cancels(self):
        call = self.place("ring")
        self.wait(call["id"], "ringing", timeout=10)
        self.hangup(call["id"])
        call = self.wait(call["id"], "failed")
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("canceled", "api"))
        sip = self.sip_call_id(call["id"])
        wait_until(lambda: ("CANCEL", sip) in self.ring.received("CANCEL"), 5,
                   what="CANCEL at the far end")
        self.assertEqual(self.events(call["id"]), ["call.started", "call.ringing", "call.ended"])

    def test_route_host_is_resolved(self):
        call = self.place("by_name")
        call = self.wait(call["id"], "failed")
        self.assertEqual(call["end_reason"], "rejected")
        sip = self.sip_call_id(call["id"])
        self.assertIn(("INVITE", sip), self.reject.received("INVITE"))

    # -- claims -------------------------------------------------------------------------------
    def test_lost_dial_command_is_swept(self):
        call_id = self.insert_call("reject")
        call = self.wait(call_id, "failed", timeout=15)
        self.assertEqual(call["end_reason"], "rejected")
        self.assertEqual(self.row(call_id)[4], "call-control-it")

    def test_hangup_before_claim_never_dials(self):
        call_id = self.insert_call("answer", hangup_requested=True)
        call = self.wait(call_id, "failed", timeout=15)
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("canceled", "api"))
        self.assertIsNone(self.sip_call_id(call_id))
        self.assertEqual(self.events(call_id), ["call.ended"])

    def test_hangup_command_before_its_call_keeps_its_reason(self):
        """rating's cutoff can reach the node's inbox before the call does: the node keeps
        the command, reason and all, and ends the call with it once it appears."""
        call_id = self.p.sql("SELECT voepy_id('call')")[0][0]
        cmd = json.dumps({"op": "hangup", "call_id": call_id, "initiator": "system",
                          "reason": "balance_exhausted"})
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.p.redis_port), "XADD",
                        "voepy:cc:call-control-it", "*", "m", cmd], check=True,
                       capture_output=True)
        wait_until(lambda: call_id in self.p.procs["call-control"].output(), 10,
                   what="the node to read the hangup")
        self.insert_call("answer", call_id=call_id)  # no dial command: the sweep claims it
        call = self.wait(call_id, "failed", timeout=15)
        self.assertEqual((call["end_reason"], call["end_initiator"]),
                         ("balance_exhausted", "system"))
        self.assertIsNone(self.sip_call_id(call_id))

    def test_no_route_fails(self):
        other = self.p.create_tenant("no-route")["tenant"]
        call_id = self.insert_call(None, tenant=other["id"])
        wait_until(lambda: self.row(call_id)[0] == "failed", 15, what="the call to fail")
        status, reason, initiator, sip_status, node = self.row(call_id)
        self.assertEqual((reason, initiator, sip_status), ("system_failure", "system", None))
        self.assertEqual(self.events(call_id), ["call.ended"])

    def test_metrics(self):
        port = self.p.ops_ports["call-control"]
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        text = body.decode()
        for name in ("voepy_cc_live_calls", "voepy_sip_requests_total",
                     "voepy_sip_responses_total", "voepy_cc_claims_total"):
            self.assertIn(name, text)


class NoMediaFork(unittest.TestCase):
    """No media-fork node: the call fails system_failure after VOEPY_MEDIA_TIMEOUT_MS,
    without an INVITE."""

    def test_call_fails_without_media(self):
        services = [s for s in SERVICES if s != "media-fork"]
        p = Platform(services=services, name="cc-no-media", env={"VOEPY_MEDIA_TIMEOUT_MS": "1500"})
        p.start()
        try:
            answer = p.sipp("uas_answer.xml", name="answer")
            route = p.create_route(answer.uri, name="answer")
            _, key = setup_tenant(p, route)
            st, call, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO}, key=key)
            self.assertEqual(st, 201, raw)
            started = time.monotonic()
            call = p.wait_call(key, call["id"], lambda c: c["status"] == "failed", timeout=10)
            self.assertLess(time.monotonic() - started, 5)
            self.assertEqual((call["end_reason"], call["end_initiator"]),
                             ("system_failure", "system"))
            self.assertEqual(answer.received("INVITE"), [])
        finally:
            p.stop()


class Restart(unittest.TestCase):
    """call-control dies (SIGKILL) with an answered call and comes back under the same
    node id: the orphaned call is ended system_failure, and new calls work."""

    def test_orphaned_call_is_ended(self):
        p = Platform(name="cc-restart")
        p.start()
        try:
            answer = p.sipp("uas_answer.xml", name="answer")
            route = p.create_route(answer.uri, name="answer")
            _, key = setup_tenant(p, route)
            st, call, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO}, key=key)
            self.assertEqual(st, 201, raw)
            p.wait_call(key, call["id"], lambda c: c["status"] == "answered")
            p.kill("call-control")
            p.restart("call-control")
            call = p.wait_call(key, call["id"], lambda c: c["status"] == "ended", timeout=10)
            self.assertEqual((call["end_reason"], call["end_initiator"]),
                             ("system_failure", "system"))
            st, second, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO}, key=key)
            self.assertEqual(st, 201, raw)
            p.wait_call(key, second["id"], lambda c: c["status"] == "answered")
        finally:
            p.stop()


def invite_bytes(port, did):
    """A minimal INVITE with a PCMU offer from a socket at port (for the 503 of a drain)."""
    sdp = ("v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    head = ("INVITE sip:%s@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKdrain%d\r\n"
            "From: <sip:+15125550199@127.0.0.1>;tag=drain\r\nTo: <sip:%s@127.0.0.1>\r\n"
            "Call-ID: drain-%d@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            "Contact: <sip:caller@127.0.0.1:%d>\r\nContent-Type: application/sdp\r\n"
            "Content-Length: %d\r\n\r\n" % (did, port, port, did, port, port, len(sdp)))
    return (head + sdp).encode()


def final_answer_to_invite(sip_port, did):
    """Send an INVITE to the node over UDP; return the status of its final answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    try:
        s.sendto(invite_bytes(s.getsockname()[1], did), ("127.0.0.1", sip_port))
        while True:
            status = int(s.recv(65535).split(b" ", 2)[1])
            if status >= 200:
                return status
    finally:
        s.close()


class Drain(unittest.TestCase):
    """SIGTERM: the node leaves the registry and takes no new calls (dial commands stay
    unclaimed, INVITEs get 503), live calls run on for up to VOEPY_CC_DRAIN_GRACE_MS and
    end as they would (here the far end's BYE) or, at the grace, are hung up system_failure
    (initiator system); then the process exits 0."""

    GRACE_MS = 3000

    def drain_platform(self, name, far_scenario, far_extra=()):
        p = Platform(name=name, env={"VOEPY_DRAIN_TIMEOUT_MS": "20000",
                                     "VOEPY_CC_DRAIN_GRACE_MS": str(self.GRACE_MS)})
        p.start()
        self.addCleanup(p.stop)
        far = p.sipp(far_scenario, name="far", extra=list(far_extra))
        route = p.create_route(far.uri, name="far")
        _, key = setup_tenant(p, route)
        return p, far, key

    def answered_call(self, p, key):
        st, call, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO}, key=key)
        self.assertEqual(st, 201, raw)
        return p.wait_call(key, call["id"], lambda c: c["status"] == "answered")

    def in_registry(self, p):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(p.redis_port), "ZSCORE",
                              "voepy:nodes:call-control", "call-control-it"],
                             check=True, capture_output=True, text=True).stdout
        return out.strip() != ""

    def test_sigterm_lets_live_calls_run_then_hangs_up_at_the_grace(self):
        p, far, key = self.drain_platform("cc-drain", "uas_answer.xml")
        call = self.answered_call(p, key)
        self.assertTrue(self.in_registry(p))
        cc = p.procs["call-control"]
        started = time.monotonic()
        cc.signal(signal.SIGTERM)
        wait_until(lambda: not self.in_registry(p), 3, what="the node to leave the registry")
        # no new work: a dial command stays unclaimed, an INVITE is refused 503
        st, late, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO}, key=key)
        self.assertEqual(st, 201, raw)
        self.assertEqual(final_answer_to_invite(p.sip_port, FROM), 503)
        time.sleep(self.GRACE_MS / 1000.0 - 1.0 - (time.monotonic() - started))
        self.assertEqual(p.wait_call(key, call["id"], lambda c: True)["status"], "answered")
        rc = cc.proc.wait(15)
        self.assertEqual(rc, 0, cc.output()[-3000:])
        self.assertGreater(time.monotonic() - started, self.GRACE_MS / 1000.0)
        self.assertLess(time.monotonic() - started, self.GRACE_MS / 1000.0 + 5)
        call = p.wait_call(key, call["id"], lambda c: c["status"] == "ended", timeout=5)
        self.assertEqual((call["end_reason"], call["end_initiator"]),
                         ("system_failure", "system"))
        sip = p.sql("SELECT sip_call_id FROM call_legs WHERE call_id = '%s'" % call["id"])[0][0]
        self.assertIn(("BYE", sip), far.received("BYE"))
        self.assertEqual(p.wait_call(key, late["id"], lambda c: True)["status"], "initiated")
        self.assertEqual(p.sql("SELECT coalesce(node_id, 'none') FROM calls WHERE id = '%s'"
                               % late["id"]), [["none"]])
        # a node that starts takes the call the drained one left
        p.restart("call-control")
        p.wait_call(key, late["id"], lambda c: c["status"] == "answered")
        # ended before the platform stops: media-fork (stopped first) would wait its whole
        # 20 s drain for the leg
        st, _, raw, _ = p.api("POST", "/v1/calls/%s/actions/hangup" % late["id"], {}, key=key)
        self.assertEqual(st, 200, raw)
        p.wait_call(key, late["id"], lambda c: c["status"] == "ended")

    def test_a_call_that_ends_during_the_drain_ends_normally(self):
        p, far, key = self.drain_platform("cc-drain-bye", "uas_answer_bye.xml",
                                          ["-d", "2000"])
        waiting = p.sipp("uas_answer.xml", name="waiting")
        route = p.create_route(waiting.uri, name="waiting")
        st, other, raw, _ = p.api("POST", "/v1/calls",
                                  {"from": FROM, "to": TO, "route_id": route["id"]}, key=key)
        self.assertEqual(st, 201, raw)
        p.wait_call(key, other["id"], lambda c: c["status"] == "answered")
        call = self.answered_call(p, key)  # its far end hangs up 2 s after the answer
        cc = p.procs["call-control"]
        started = time.monotonic()
        cc.signal(signal.SIGTERM)
        wait_until(lambda: not self.in_registry(p), 3, what="the node to leave the registry")
        # a hangup still reaches the draining node (it goes to the call's node, not by the
        # registry)
        st, _, raw, _ = p.api("POST", "/v1/calls/%s/actions/hangup" % other["id"], {}, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(p.wait_call(key, call["id"], lambda c: True)["status"], "answered")
        rc = cc.proc.wait(15)
        self.assertEqual(rc, 0, cc.output()[-3000:])
        self.assertLess(time.monotonic() - started, self.GRACE_MS / 1000.0)
        call = p.wait_call(key, call["id"], lambda c: c["status"] == "ended", timeout=5)
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("completed", "callee"))
        other = p.wait_call(key, other["id"], lambda c: c["status"] == "ended", timeout=5)
        self.assertEqual((other["end_reason"], other["end_initiator"]), ("completed", "api"))

    def test_sigint_hangs_up_at_once(self):
        p = Platform(name="cc-sigint")
        p.start()
        try:
            answer = p.sipp("uas_answer.xml", name="answer")
            route = p.create_route(answer.uri, name="answer")
            _, key = setup_tenant(p, route)
            st, call, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": TO}, key=key)
            self.assertEqual(st, 201, raw)
            p.wait_call(key, call["id"], lambda c: c["status"] == "answered")
            cc = p.procs["call-control"]
            started = time.monotonic()
            cc.signal(signal.SIGINT)
            rc = cc.proc.wait(10)
            self.assertEqual(rc, 0, cc.output()[-3000:])
            self.assertLess(time.monotonic() - started, 3)
            sip = p.sql("SELECT sip_call_id FROM call_legs WHERE call_id = '%s'" % call["id"])[0][0]
            wait_until(lambda: ("BYE", sip) in answer.received("BYE"), 5, what="BYE at the far end")
        finally:
            p.stop()


if __name__ == "__main__":
    unittest.main()
