"""Trunk registration (RFC 3261 section 10): routes created with register: true.

PostgreSQL, Redis, api-gateway and call-control on loopback; SIPp plays two registrars:
one that challenges (401 digest MD5 with qop) and grants a 4 s binding, so that the
refresh at half the expiry is seen within the test, and one that refuses with 403. Every
Authorization is recomputed here from the registrar's message trace. A route named by a
host name (localhost) registers too, and PATCH moves its binding or turns it off. The last
test drains call-control (SIGTERM) and expects the unregister (Expires: 0).
"""
import datetime
import hashlib
import re
import signal
import time
import unittest

from harness import ApiAssertions, Platform, wait_until

USER, PASSWORD = "trunkuser", "s3cret"
SERVICES = ("api-gateway", "call-control")


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def trace(sipp):
    """Every message in SIPp's trace, in order: (time, "received" | "sent", start line,
    headers with lower-case names)."""
    out = []
    parts = re.split(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n", sipp.messages(),
                     flags=re.M)
    for stamp, block in zip(parts[1::2], parts[2::2]):
        head, _, msg = block.partition("\n\n")
        lines = msg.lstrip().replace("\r", "").split("\n")
        hdrs = {}
        for line in lines[1:]:
            if not line:
                break
            k, _, v = line.partition(":")
            hdrs.setdefault(k.strip().lower(), v.strip())
        when = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        out.append((when, "received" if "message received" in head else "sent", lines[0],
                    hdrs))
    return out


def registers(sipp):
    """(start line, headers) of every REGISTER the registrar received, in order."""
    return [(line, h) for _, way, line, h in trace(sipp)
            if way == "received" and line.startswith("REGISTER ")]


def digest_params(value):
    assert value.startswith("Digest "), value
    pairs = re.findall(r'([A-Za-z-]+)=(?:"([^"]*)"|([^,\s]+))', value[7:])
    return {k.lower(): q or t for k, q, t in pairs}


def check_digest(testcase, authz, ruri, nc):
    d = digest_params(authz)
    testcase.assertEqual((d["username"], d["realm"], d["uri"]), (USER, "voepy-reg", ruri))
    testcase.assertEqual((d["qop"], d["nc"], d["opaque"], d["algorithm"]),
                         ("auth", nc, "op7", "MD5"))
    ha1 = md5("%s:voepy-reg:%s" % (USER, PASSWORD))
    ha2 = md5("REGISTER:%s" % ruri)
    want = md5("%s:%s:%s:%s:auth:%s" % (ha1, d["nonce"], d["nc"], d["cnonce"], ha2))
    testcase.assertEqual(d["response"], want, "the digest does not match the password")


class Registration(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=SERVICES, name="registration",
                         env={"VOEPY_ROUTE_OPTIONS_MS": "0",
                              "VOEPY_ROUTE_REGISTER_ROUND_MS": "500",
                              "VOEPY_ROUTE_REGISTER_RETRY_MS": "1000"})
        cls.p.start()
        cls.reg = cls.p.sipp("reg_auth.xml", name="registrar", rtp_echo=False)
        cls.forbid = cls.p.sipp("reg_forbidden.xml", name="forbidden", rtp_echo=False)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    def route(self, name, uri, **fields):
        body = dict({"name": name, "sip_uri": uri, "transport": "udp"}, **fields)
        st, r, raw, _ = self.p.admin("POST", "/admin/v1/routes", body)
        self.assertEqual(st, 201, raw)
        return r

    def registration(self, route_id):
        st, body, raw, _ = self.p.admin("GET", "/admin/v1/routes")
        self.assertEqual(st, 200, raw)
        return [r for r in body["data"] if r["id"] == route_id][0]["registration"]

    def gauge(self, route_id):
        st, _, data = self.p.ops("call-control", "/metrics")
        text = data if isinstance(data, str) else data.decode()
        m = re.search(r'^voepy_route_registered\{route="%s"\} (\d+)' % route_id, text,
                      flags=re.M)
        return int(m.group(1)) if m else None

    def test_1_refused_fields(self):
        resp = self.p.admin("POST", "/admin/v1/routes", {
            "name": "no user", "sip_uri": self.reg.uri, "transport": "udp", "register": True})
        self.assert_error(resp, 422, "invalid_parameter", "register")
        resp = self.p.admin("POST", "/admin/v1/routes", {
            "name": "too short", "sip_uri": self.reg.uri, "transport": "udp", "register": True,
            "auth_username": USER, "auth_password": PASSWORD, "register_expires_secs": 30})
        self.assert_error(resp, 422, "invalid_parameter", "register_expires_secs")
        plain = self.route("plain", self.reg.uri)
        self.assertEqual((plain["register"], plain["register_expires_secs"],
                          plain["registration"]), (False, 3600, None))

    def test_2_digest_register_and_refresh(self):
        r = self.route("registered", self.reg.uri, auth_username=USER, auth_password=PASSWORD,
                       register=True, register_expires_secs=60)
        self.assertEqual((r["register"], r["register_expires_secs"]), (True, 60))
        self.assertEqual(r["registration"],
                         {"status": "unregistered", "expires_at": None, "last_error": None})
        wait_until(lambda: self.registration(r["id"])["status"] == "registered", 8,
                   what="registered")
        self.assertEqual(self.gauge(r["id"]), 1)
        # One node holds the lease: another one gets nothing while it is held.
        other = self.p.sql("SELECT count(*) FROM cc_route_reg_lease('other-node', "
                           "(extract(epoch from now()) * 1000)::bigint, 10000)")
        self.assertEqual(other, [["0"]])
        # The 4 s binding is refreshed at about half its expiry, before it ends.
        wait_until(lambda: len(registers(self.reg)) >= 3, 6, what="the refresh")
        # As the registrar saw it: from its 200 (CSeq 2) to the refresh (CSeq 3).
        msgs = trace(self.reg)
        ok_at = [t for t, way, line, h in msgs
                 if way == "sent" and line.startswith("SIP/2.0 200") and h["cseq"].startswith("2 ")]
        refresh_at = [t for t, way, line, h in msgs
                      if way == "received" and h.get("cseq", "").startswith("3 ")]
        waited = refresh_at[0] - ok_at[0]
        self.assertGreater(waited, 1.5, "refreshed far before half the expiry")
        self.assertLess(waited, 3.5, "not refreshed well before the binding expired")
        regs = registers(self.reg)
        ruri = self.reg.uri
        for i, (line, h) in enumerate(regs[:3]):
            self.assertEqual(line, "REGISTER %s SIP/2.0" % ruri)
            self.assertIn("<sip:%s@127.0.0.1>" % USER, h["to"])
            self.assertIn("<sip:%s@127.0.0.1>" % USER, h["from"])
            self.assertEqual(h["call-id"], regs[0][1]["call-id"], "one Call-ID per route")
            self.assertEqual(h["cseq"], "%d REGISTER" % (int(regs[0][1]["cseq"].split()[0]) + i))
            self.assertEqual(h["expires"], "60")
            via_port = re.search(r"127\.0\.0\.1:(\d+)", h["via"]).group(1)
            self.assertEqual(h["contact"], "<sip:%s@127.0.0.1:%s>" % (USER, via_port))
        self.assertNotIn("authorization", regs[0][1])
        check_digest(self, regs[1][1]["authorization"], ruri, "00000001")
        # The refresh answers the last challenge again, with the next nonce count.
        check_digest(self, regs[2][1]["authorization"], ruri, "00000002")
        reg = self.registration(r["id"])
        self.assertEqual(reg["status"], "registered")
        self.assertIsNone(reg["last_error"])
        self.assertIsNotNone(reg["expires_at"])
        self.__class__.registered_route = r["id"]

    def test_3_forbidden_fails_and_backs_off(self):
        r = self.route("forbidden", self.forbid.uri, auth_username=USER,
                       auth_password=PASSWORD, register=True)
        wait_until(lambda: self.registration(r["id"])["status"] == "failed", 8, what="failed")
        self.assertEqual(self.registration(r["id"]),
                         {"status": "failed", "expires_at": None, "last_error": "403 Forbidden"})
        self.assertEqual(self.gauge(r["id"]), 0)
        wait_until(lambda: len(registers(self.forbid)) >= 3, 8, what="two retries")
        self.assertEqual(registers(self.forbid)[0][1]["expires"], "3600")
        times = [t for t, way, line, _ in trace(self.forbid)
                 if way == "received" and line.startswith("REGISTER ")]
        gap1, gap2 = times[1] - times[0], times[2] - times[1]
        self.assertGreater(gap1, 0.7, "retried at once after a 403")
        self.assertGreater(gap2, gap1 * 1.5, "the retry delay does not grow")

    def test_4_lease_of_another_node(self):
        """A route another node holds is left alone until that node's lease lapses (it
        died), then taken over and registered."""
        reg2 = self.p.sipp("reg_auth.xml", name="registrar2", rtp_echo=False)
        r = self.route("held elsewhere", reg2.uri, auth_username=USER, auth_password=PASSWORD)
        self.p.sql("INSERT INTO route_registrations (route_id, holder_node, lease_until, "
                   "status, expires_at) VALUES ('%s', 'ghost-node', now() + interval '2.5 s', "
                   "'registered', now() + interval '1 hour'); "
                   "UPDATE routes SET register = true WHERE id = '%s'" % (r["id"], r["id"]))
        time.sleep(1.5)  # three lease rounds of this node
        self.assertEqual(registers(reg2), [], "registered a route another node holds")
        self.assertEqual(self.registration(r["id"])["status"], "registered")
        wait_until(lambda: len(registers(reg2)) >= 2, 5, what="the takeover")
        wait_until(lambda: self.p.sql("SELECT holder_node, status FROM route_registrations "
                                      "WHERE route_id = '%s'" % r["id"])[0][1] == "registered"
                   and self.gauge(r["id"]) == 1, 3, what="registered by this node")
        holder = self.p.sql("SELECT holder_node FROM route_registrations WHERE route_id = '%s'"
                            % r["id"])[0][0]
        self.assertNotEqual(holder, "ghost-node")

    def test_5_patch_moves_then_stops_a_registration_by_name(self):
        """A route named localhost (looked up off the loop) registers as sip:user@localhost.
        PATCH to another address of record unregisters the old binding (Expires: 0) and
        registers the new one; PATCH register false unregisters that one."""
        reg3 = self.p.sipp("reg_auth.xml", name="registrar3", rtp_echo=False)
        by_name = "sip:localhost:%d" % reg3.port
        r = self.route("by name", by_name, auth_username=USER, auth_password=PASSWORD,
                       register=True, register_expires_secs=60)
        wait_until(lambda: self.registration(r["id"])["status"] == "registered", 8,
                   what="registered by name")
        line, first = registers(reg3)[0]
        self.assertEqual(line, "REGISTER %s SIP/2.0" % by_name)
        self.assertIn("<sip:%s@localhost>" % USER, first["to"])
        path = "/admin/v1/routes/%s" % r["id"]
        st, got, raw, _ = self.p.admin("PATCH", path, {"sip_uri": reg3.uri})
        self.assertEqual((st, got["sip_uri"], got["registration"]["status"]),
                         (200, reg3.uri, "unregistered"), raw)

        def unregistered(call_id):
            return any(h["call-id"] == call_id and h["expires"] == "0"
                       for _, h in registers(reg3))

        def moved():
            new = [h for _, h in registers(reg3) if h["call-id"] != first["call-id"]]
            return unregistered(first["call-id"]) and new
        new = wait_until(moved, 5, what="the old binding unregistered and a new REGISTER")
        self.assertIn("<sip:%s@127.0.0.1>" % USER, new[0]["to"])
        self.assertEqual(new[0]["expires"], "60")
        wait_until(lambda: self.registration(r["id"])["status"] == "registered"
                   and self.gauge(r["id"]) == 1, 5, what="registered at the new address")
        st, got, raw, _ = self.p.admin("PATCH", path, {"register": False})
        self.assertEqual((st, got["register"], got["registration"]), (200, False, None), raw)
        wait_until(lambda: unregistered(new[0]["call-id"]), 5, what="the unregister")
        wait_until(lambda: self.gauge(r["id"]) == 0, 3, what="the gauge back to 0")

    def test_9_drain_unregisters(self):
        route_id = getattr(self.__class__, "registered_route", None)
        if not route_id:
            self.skipTest("no route was registered")
        before = len(registers(self.reg))
        self.p.kill("call-control", signal.SIGTERM)  # drains, then exits
        regs = registers(self.reg)[before:]
        self.assertTrue(any(h["expires"] == "0" for _, h in regs),
                        "no REGISTER with Expires: 0 at the drain: %r" % regs)
        self.assertEqual(self.registration(route_id),
                         {"status": "unregistered", "expires_at": None, "last_error": None})
        left = self.p.sql("SELECT count(*) FROM route_registrations "
                          "WHERE route_id = '%s' AND lease_until > now()" % route_id)
        self.assertEqual(left, [["0"]], "the drained node kept its lease")


if __name__ == "__main__":
    unittest.main()
