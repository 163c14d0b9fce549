"""Routes that real carriers accept: digest authentication, failover, OPTIONS keep-alive.

PostgreSQL, Redis, api-gateway, call-control and media-fork on loopback; SIPp trunks that
challenge INVITEs (401 MD5 with qop, 407 proxy, SHA-256 beside MD5, refusals), trunks
that fail (503, silence on UDP, a closed TCP port) in front of a failover trunk that
answers, and a trunk that stops answering OPTIONS. Every digest call's Authorization is
recomputed here from the far end's message trace, not only trusted to SIPp.
"""
import hashlib
import re
import socket
import time
import unittest

from harness import ApiAssertions, Platform, free_port, wait_until

FROM = "+15125550100"
TO = "+15558675309"
USER, PASSWORD = "trunkuser", "s3cret"
SERVICES = ("api-gateway", "call-control", "media-fork")


def setup_tenant(p, route_id):
    created = p.create_tenant("routes-tests", default_route_id=route_id)
    tenant, key = created["tenant"], created["api_key"]
    st, _, raw, _ = p.admin("POST", "/admin/v1/numbers", {"numbers": [FROM], "route_id": route_id})
    assert st == 201, raw
    st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % tenant["id"],
                            {"amount_cents": 10000})
    assert st in (200, 201), raw
    st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": FROM}, key=key)
    assert st == 201, raw
    return tenant, key


def route(p, name, sip_uri, transport="udp", **fields):
    body = dict({"name": name, "sip_uri": sip_uri, "transport": transport}, **fields)
    st, r, raw, _ = p.admin("POST", "/admin/v1/routes", body)
    assert st == 201, raw
    return r


def sip_messages(sipp, call_id, method):
    """(start line, headers) of the requests SIPp received in dialog call_id."""
    out = []
    for block in re.split(r"^-{20,} [^\n]*\n", sipp.messages(), flags=re.M):
        head, _, msg = block.partition("\n\n")
        if "message received" not in head:
            continue
        msg = msg.lstrip()
        if not msg.startswith(method + " "):
            continue
        lines = msg.replace("\r", "").split("\n")
        hdrs = {}
        for line in lines[1:]:
            if not line:
                break
            k, _, v = line.partition(":")
            hdrs.setdefault(k.strip().lower(), v.strip())
        if hdrs.get("call-id") == call_id:
            out.append((lines[0], hdrs))
    return out


def digest_params(value):
    assert value.startswith("Digest "), value
    pairs = re.findall(r'([A-Za-z-]+)=(?:"([^"]*)"|([^,\s]+))', value[7:])
    return {k.lower(): q or t for k, q, t in pairs}


class Routes(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=SERVICES, name="routes",
                         env={"VOEPY_ROUTE_OPTIONS_MS": "0", "VOEPY_SIP_TIMER_B_MS": "2000"})
        cls.p.start()
        p = cls.p
        cls.md5 = p.sipp("uas_auth_md5.xml", name="md5")
        cls.proxy = p.sipp("uas_auth_proxy.xml", name="proxy")
        cls.sha = p.sipp("uas_auth_sha256.xml", name="sha256")
        cls.refuse = p.sipp("uas_auth_refuse.xml", name="refuse", rtp_echo=False)
        cls.stale = p.sipp("uas_auth_stale.xml", name="stale")
        cls.oos = p.sipp("rules_uas_503.xml", name="oos", rtp_echo=False)
        cls.busy = p.sipp("uas_busy.xml", name="busy", rtp_echo=False)
        cls.answer = p.sipp("uas_answer.xml", name="answer")
        creds = {"auth_username": USER, "auth_password": PASSWORD}
        backup = route(p, "backup", cls.answer.uri)
        silent_udp, closed_tcp = free_port(), free_port()
        cls.routes = {
            "md5": route(p, "md5", cls.md5.uri, **creds),
            "md5_realm": route(p, "md5 realm", cls.md5.uri, auth_realm="voepy-test", **creds),
            "md5_wrong": route(p, "md5 wrong", cls.md5.uri, auth_username=USER,
                               auth_password="not-it"),
            "md5_none": route(p, "md5 without credentials", cls.md5.uri),
            "proxy": route(p, "proxy", cls.proxy.uri, **creds),
            "sha256": route(p, "sha256", cls.sha.uri, **creds),
            "refuse": route(p, "refuse", cls.refuse.uri, **creds),
            "stale": route(p, "stale", cls.stale.uri, **creds),
            "backup": backup,
            "oos": route(p, "503 then backup", cls.oos.uri, failover_route_id=backup["id"]),
            "silent": route(p, "silent then backup", "sip:127.0.0.1:%d" % silent_udp,
                            failover_route_id=backup["id"]),
            "closed_tcp": route(p, "closed tcp then backup", "sip:127.0.0.1:%d" % closed_tcp,
                                transport="tcp", failover_route_id=backup["id"]),
            "busy": route(p, "busy then backup", cls.busy.uri, failover_route_id=backup["id"]),
        }
        cls.tenant, cls.key = setup_tenant(p, cls.routes["md5"]["id"])

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    # -- helpers ---------------------------------------------------------------------------
    def place(self, name):
        body = {"from": FROM, "to": TO, "route_id": self.routes[name]["id"]}
        st, call, raw, _ = self.p.api("POST", "/v1/calls", body, key=self.key)
        self.assertEqual(st, 201, raw)
        return call["id"]

    def wait_status(self, call_id, status, timeout=20):
        call = self.p.wait_call(self.key, call_id,
                                lambda c: c["status"] in (status, "ended", "failed"), timeout)
        self.assertEqual(call["status"], status, call)
        return call

    def hangup(self, call_id):
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        return self.wait_status(call_id, "ended")

    def row(self, call_id):
        return self.p.sql("SELECT status, end_reason, end_initiator, sip_status, route_id"
                          " FROM calls WHERE id = '%s'" % call_id)[0]

    def sip_call_id(self, call_id):
        return self.p.sql("SELECT 'x', sip_call_id FROM call_legs WHERE call_id = '%s'"
                          % call_id)[0][1]

    def check_digest(self, invite, header, method, alg, password=PASSWORD):
        """The response in invite's header is the digest of our credentials (RFC 2617 /
        RFC 8760), for the INVITE's own Request-URI."""
        start, hdrs = invite
        d = digest_params(hdrs[header])
        h = hashlib.sha256 if alg == "SHA-256" else hashlib.md5
        H = lambda s: h(s.encode()).hexdigest()  # noqa: E731
        ruri = start.split(" ")[1]
        self.assertEqual(d["uri"], ruri)
        self.assertEqual(d["username"], USER)
        self.assertEqual(d.get("algorithm", "MD5"), alg)
        ha1, ha2 = H("%s:%s:%s" % (USER, d["realm"], password)), H("%s:%s" % (method, ruri))
        if "qop" in d:
            self.assertEqual(d["qop"], "auth")
            self.assertRegex(d["nc"], r"^[0-9a-f]{8}$")
            want = H("%s:%s:%s:%s:auth:%s" % (ha1, d["nonce"], d["nc"], d["cnonce"], ha2))
        else:
            want = H("%s:%s:%s" % (ha1, d["nonce"], ha2))
        self.assertEqual(d["response"], want, hdrs[header])
        return d

    def challenged_twice(self, sipp, call_id):
        """The two INVITEs of a challenged call: the second with CSeq one more, the same
        Call-ID and From tag, a new branch."""
        invites = sip_messages(sipp, self.sip_call_id(call_id), "INVITE")
        self.assertEqual(len(invites), 2, [i[0] for i in invites])
        (_, a), (_, b) = invites
        self.assertEqual(int(b["cseq"].split()[0]), int(a["cseq"].split()[0]) + 1)
        self.assertEqual(a["from"], b["from"])
        self.assertNotEqual(a["via"], b["via"])
        self.assertNotIn("authorization", a)
        self.assertNotIn("proxy-authorization", a)
        return invites

    # -- digest authentication ---------------------------------------------------------------
    def test_md5_401_with_qop_is_answered(self):
        for name in ("md5", "md5_realm"):
            call_id = self.place(name)
            self.wait_status(call_id, "answered")
            invites = self.challenged_twice(self.md5, call_id)
            d = self.check_digest(invites[1], "authorization", "INVITE", "MD5")
            self.assertEqual(d["opaque"], "op42")
            self.assertEqual(d["realm"], "voepy-test")
            ended = self.hangup(call_id)
            self.assertEqual((ended["end_reason"], ended["end_initiator"]), ("completed", "api"))
            acks = sip_messages(self.md5, self.sip_call_id(call_id), "ACK")
            self.assertEqual(len(acks), 2)  # the 401's (CSeq 1) and the 200's (CSeq 2)
            self.assertEqual(acks[-1][1]["cseq"], "2 ACK")

    def test_407_proxy_challenge_is_answered(self):
        call_id = self.place("proxy")
        self.wait_status(call_id, "answered")
        invites = self.challenged_twice(self.proxy, call_id)
        self.assertNotIn("authorization", invites[1][1])
        self.check_digest(invites[1], "proxy-authorization", "INVITE", "MD5")
        self.hangup(call_id)

    def test_sha256_is_preferred_over_md5(self):
        call_id = self.place("sha256")
        self.wait_status(call_id, "answered")
        invites = self.challenged_twice(self.sha, call_id)
        d = self.check_digest(invites[1], "authorization", "INVITE", "SHA-256")
        self.assertTrue(d["nonce"].startswith("sha"), d)
        self.hangup(call_id)

    def test_wrong_password_fails_after_one_retry(self):
        call_id = self.place("md5_wrong")
        call = self.wait_status(call_id, "failed")
        self.assertEqual(call["end_reason"], "failed")
        self.assertEqual(call["end_initiator"], "callee")
        self.assertEqual(self.row(call_id)[3], "403")  # SIPp's verifyauth refused it
        invites = self.challenged_twice(self.md5, call_id)
        self.check_digest(invites[1], "authorization", "INVITE", "MD5", password="not-it")

    def test_same_challenge_again_fails_the_call(self):
        call_id = self.place("refuse")
        call = self.wait_status(call_id, "failed")
        self.assertEqual((call["end_reason"], call["end_initiator"]), ("failed", "callee"))
        self.assertEqual(self.row(call_id)[3], "401")
        time.sleep(1.5)  # a third INVITE would come at once
        self.challenged_twice(self.refuse, call_id)

    def test_stale_nonce_is_answered_again(self):
        call_id = self.place("stale")
        self.wait_status(call_id, "answered")
        invites = sip_messages(self.stale, self.sip_call_id(call_id), "INVITE")
        self.assertEqual([int(i[1]["cseq"].split()[0]) for i in invites], [1, 2, 3])
        first = self.check_digest(invites[1], "authorization", "INVITE", "MD5")
        second = self.check_digest(invites[2], "authorization", "INVITE", "MD5")
        self.assertEqual((first["nonce"][:3], second["nonce"][:3]), ("old", "new"))
        self.hangup(call_id)

    def test_challenge_without_credentials_fails(self):
        call_id = self.place("md5_none")
        self.wait_status(call_id, "failed")
        self.assertEqual(self.row(call_id)[:4], ["failed", "failed", "callee", "401"])
        self.assertEqual(len(sip_messages(self.md5, self.sip_call_id(call_id), "INVITE")), 1)

    def test_password_is_never_returned(self):
        st, body, raw, _ = self.p.admin("GET", "/admin/v1/routes")
        self.assertEqual(st, 200, raw)
        self.assertNotIn(PASSWORD, raw if isinstance(raw, str) else raw.decode())
        md5 = [r for r in body["data"] if r["id"] == self.routes["md5"]["id"]][0]
        self.assertEqual((md5["auth_username"], md5["has_auth_password"]), (USER, True))
        self.assertNotIn("auth_password", md5)
        self.assertEqual(md5["health"], "unknown")  # keep-alives are off in this suite
        self.assertNotIn(PASSWORD, str(self.routes["md5"]))

    def test_route_fields_are_checked(self):
        for body, field in (
                ({"auth_username": USER}, "auth_password"),
                ({"auth_password": PASSWORD}, "auth_username"),
                ({"auth_realm": "x"}, "auth_realm"),
                ({"failover_route_id": "voepy_route_01HZZZZZZZZZZZZZZZZZZZZZZZ"},
                 "failover_route_id"),
                ({"auth_username": ""}, "auth_username")):
            b = dict({"name": "bad", "sip_uri": "sip:127.0.0.1:5999", "transport": "udp"}, **body)
            st, err, raw, _ = self.p.admin("POST", "/admin/v1/routes", b)
            self.assertIn(st, (400, 422), raw)
            self.assertEqual(err["error"].get("field"), field, raw)

    def test_patch_is_checked_like_creation_and_dials_the_new_route(self):
        """PATCH /admin/v1/routes/{id} changes only what it names, refused (nothing
        changed) when the result breaks a rule of creation; sips: is refused with its
        reason; the next call dials the route as it is now, here by host name (localhost,
        resolved off the loop) with the credentials just set."""
        r = route(self.p, "to patch", "sip:127.0.0.1:%d" % free_port())
        path = "/admin/v1/routes/%s" % r["id"]
        for body, field in (({"auth_username": USER}, "auth_password"),
                            ({"auth_realm": "x"}, "auth_realm"),
                            ({"failover_route_id": r["id"]}, "failover_route_id"),
                            ({"register": True}, "register"),
                            ({"register_expires_secs": 30}, "register_expires_secs"),
                            ({"sip_uri": "sip:bad host"}, "sip_uri"),
                            ({"name": None}, "name"),
                            ({"colour": "red"}, "colour")):
            st, err, raw, _ = self.p.admin("PATCH", path, body)
            self.assertIn(st, (400, 422), raw)
            self.assertEqual(err["error"].get("field"), field, raw)
        for method, p, body in (("PATCH", path, {"sip_uri": "sips:127.0.0.1:5061"}),
                                ("POST", "/admin/v1/routes", {"name": "tls", "transport": "tcp",
                                                              "sip_uri": "sips:127.0.0.1:5061"})):
            self.assert_error(self.p.admin(method, p, body), 422, "invalid_parameter", "sip_uri",
                              "no TLS transport")
        self.assert_error(self.p.admin("PATCH", "/admin/v1/routes/voepy_route_01HZZZZZZZZZZZZZZZ"
                                       "ZZZZZZZZZZ", {"name": "x"}), 404, "not_found")
        uri = "sip:localhost:%d" % self.md5.port
        st, got, raw, _ = self.p.admin("PATCH", path, {"sip_uri": uri, "auth_username": USER,
                                                       "auth_password": PASSWORD})
        self.assertEqual(st, 200, raw)
        self.assertNotIn(PASSWORD, raw if isinstance(raw, str) else raw.decode())
        self.assertEqual((got["name"], got["sip_uri"], got["transport"], got["auth_username"],
                          got["has_auth_password"], got["register"]),
                         ("to patch", uri, "udp", USER, True, False))
        self.routes["patched"] = got
        call_id = self.place("patched")
        self.wait_status(call_id, "answered")
        invites = self.challenged_twice(self.md5, call_id)
        self.assertRegex(invites[0][0], r"^INVITE sip:[^@ ]+@localhost:%d[; ]" % self.md5.port)
        self.check_digest(invites[1], "authorization", "INVITE", "MD5")
        self.hangup(call_id)
        st, got, raw, _ = self.p.admin("PATCH", path, {"auth_username": None,
                                                       "auth_password": None})
        self.assertEqual(st, 200, raw)
        self.assertEqual((got["sip_uri"], got["auth_username"], got["has_auth_password"]),
                         (uri, None, False))

    # -- failover ----------------------------------------------------------------------------
    def failed_over(self, name, first_sipp=None, timeout=20):
        call_id = self.place(name)
        self.wait_status(call_id, "answered", timeout)
        self.assertEqual(self.row(call_id)[4], self.routes["backup"]["id"])
        leg = self.sip_call_id(call_id)  # the failover's dialog
        self.assertEqual(len(sip_messages(self.answer, leg, "INVITE")), 1)
        ended = self.hangup(call_id)
        self.assertEqual(ended["route_id"], self.routes["backup"]["id"])
        self.assertEqual((ended["end_reason"], ended["end_initiator"]), ("completed", "api"))
        return call_id

    def test_503_fails_over_to_the_second_route(self):
        before = self.oos.count_received("INVITE")
        self.failed_over("oos")
        self.assertEqual(self.oos.count_received("INVITE"), before + 1)

    def test_silent_udp_route_fails_over_after_timer_b(self):
        t0 = time.monotonic()
        self.failed_over("silent", timeout=15)
        self.assertLess(time.monotonic() - t0, 12)  # Timer B was 2 s, not 32 s

    def test_closed_tcp_route_fails_over(self):
        self.failed_over("closed_tcp")

    def test_busy_is_the_callees_answer_not_a_failover(self):
        before = self.answer.count_received("INVITE")
        call_id = self.place("busy")
        call = self.wait_status(call_id, "failed")
        self.assertEqual(call["end_reason"], "busy")
        self.assertEqual(self.row(call_id)[4], self.routes["busy"]["id"])
        time.sleep(0.5)
        self.assertEqual(self.answer.count_received("INVITE"), before)


class KeepAlive(unittest.TestCase):
    """OPTIONS every 300 ms, down after 2 failures: a trunk that stops answering goes down,
    the gauge and the operator API say so, and new calls go straight to its failover."""

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=SERVICES, name="routes-keepalive",
                         env={"VOEPY_ROUTE_OPTIONS_MS": "300", "VOEPY_ROUTE_DOWN_AFTER": "2"})
        cls.p.start()
        p = cls.p
        cls.a = p.sipp("uas_options_answer.xml", name="trunk-a")
        cls.b = p.sipp("uas_options_answer.xml", name="trunk-b")
        cls.rb = route(p, "trunk b", cls.b.uri)
        cls.ra = route(p, "trunk a", cls.a.uri, failover_route_id=cls.rb["id"])
        cls.named = route(p, "trunk b by name", "sip:localhost:%d" % cls.b.port)
        cls.nowhere = route(p, "a name that does not resolve", "sip:nowhere.invalid:5060")
        cls.tenant, cls.key = setup_tenant(p, cls.ra["id"])

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    def gauge(self, route_id):
        st, _, body = self.p.ops("call-control", "/metrics")
        m = re.search(r'^voepy_route_up\{route="%s"\} (\d+)' % route_id, body.decode(), re.M)
        return m.group(1) if m else None

    def health(self, route_id):
        st, body, raw, _ = self.p.admin("GET", "/admin/v1/routes")
        self.assertEqual(st, 200, raw)
        return [r for r in body["data"] if r["id"] == route_id][0]

    def test_down_route_is_skipped_for_its_failover(self):
        wait_until(lambda: self.health(self.ra["id"])["health"] == "up", 10, 0.2,
                   "trunk a up")
        self.assertEqual(self.gauge(self.ra["id"]), "1")
        self.assertEqual(self.health(self.rb["id"])["health"], "up")
        wait_until(lambda: self.health(self.named["id"])["health"] == "up", 10, 0.2,
                   "a route named by a host name is resolved and pinged")
        wait_until(lambda: self.health(self.nowhere["id"])["health"] == "down", 10, 0.2,
                   "a name that does not resolve is down")
        self.assertIsNotNone(self.health(self.ra["id"])["health_checked_at"])
        self.assertGreater(self.a.count_received("OPTIONS"), 0)
        self.a.stop()  # trunk a goes silent
        wait_until(lambda: self.gauge(self.ra["id"]) == "0", 10, 0.2, "gauge of trunk a at 0")
        wait_until(lambda: self.health(self.ra["id"])["health"] == "down", 10, 0.2,
                   "trunk a down in the operator API")
        self.assertEqual(self.gauge(self.rb["id"]), "1")
        body = {"from": FROM, "to": TO}  # the tenant's default: trunk a
        st, call, raw, _ = self.p.api("POST", "/v1/calls", body, key=self.key)
        self.assertEqual(st, 201, raw)
        self.assertEqual(call["route_id"], self.ra["id"])
        # straight to trunk b: answered well within trunk a's 32 s Timer B
        ans = self.p.wait_call(self.key, call["id"],
                               lambda c: c["status"] in ("answered", "ended", "failed"), 8)
        self.assertEqual(ans["status"], "answered", ans)
        self.assertEqual(ans["route_id"], self.rb["id"])
        self.assertEqual(self.a.count_received("INVITE"), 0)
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {},
                                   key=self.key)
        self.assertEqual(st, 200, raw)
        self.p.wait_call(self.key, call["id"], lambda c: c["status"] == "ended")


if __name__ == "__main__":
    unittest.main()
