"""Outbound call rules before the INVITE (issue 4), the opt-out list and a call's event log.

PostgreSQL, Redis, the gateway, call-control and media-fork, with SIPp far ends on
loopback: one that answers (the route every refused call was offered, which must see no
INVITE for it) and one that answers 503 (a failing destination). Every refusal is checked
three ways: the error (status, code, Retry-After where due), no call row for the tenant,
and no INVITE at the far end; an allowed call in the same configuration goes through.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_call_rules
"""
import json
import threading
import time
import unittest
import uuid

from harness import ApiAssertions, Platform, q, wait_until

FROM = "+15125550140"
FROM_B = "+15125550141"
US = "+15558675309"


class CallRules(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway", "call-control", "media-fork"),
                         name="call-rules")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        p = cls.p
        cls.answer = p.sipp("uas_answer.xml", name="answer")
        cls.fail503 = p.sipp("rules_uas_503.xml", name="oos", rtp_echo=False)
        cls.route = p.create_route(cls.answer.uri, name="answer")
        cls.route503 = p.create_route(cls.fail503.uri, name="out of service")
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers", {"numbers": [FROM, FROM_B]})
        assert st == 201, raw
        cls.tenant, cls.key = cls.new_tenant("rules", FROM)
        cls.other, cls.key_other = cls.new_tenant("other", FROM_B)

    @classmethod
    def new_tenant(cls, name, number, **rules):
        p = cls.p
        created = p.create_tenant(name, default_route_id=cls.route["id"],
                                  credit_limit_cents=100000, **rules)
        tenant, key = created["tenant"], created["api_key"]
        st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": number}, key=key)
        assert st == 201, raw
        return tenant, key

    # -- helpers -------------------------------------------------------------------------
    def rules(self, tenant=None, **fields):
        """PATCH the tenant's rules (every other rule cleared first)."""
        body = dict({"allowed_countries": None, "blocked_countries": None,
                     "blocked_prefixes": None, "max_concurrent_calls": None,
                     "calls_per_second": None}, **fields)
        st, t, raw, _ = self.p.admin("PATCH", "/admin/v1/tenants/%s"
                                     % (tenant or self.tenant)["id"], body)
        self.assertEqual(st, 200, raw)
        return t

    def post_call(self, to, key=None, frm=FROM, route=None, **fields):
        body = dict({"from": frm, "to": to, "route_id": (route or self.route)["id"]}, **fields)
        return self.p.api("POST", "/v1/calls", body, key=key or self.key,
                          headers={"Idempotency-Key": str(uuid.uuid4())})

    def calls_of(self, tenant=None):
        return int(self.p.sql("SELECT count(*) FROM calls WHERE tenant_id = %s"
                              % q((tenant or self.tenant)["id"]))[0][0])

    def refused(self, to, status, code, sipp=None, words=None, **kw):
        """POST /v1/calls is refused with status/code, creates no call and sends no INVITE."""
        sipp = sipp or self.answer
        tenant = kw.pop("tenant", None)
        calls = self.calls_of(tenant)
        invites = sipp.count_received("INVITE")
        resp = self.post_call(to, **kw)
        self.assert_error(resp, status, code, words=words)
        self.assertEqual(self.calls_of(tenant), calls, "a refused request made a call")
        time.sleep(0.3)  # a dial would reach SIPp within milliseconds
        self.assertEqual(sipp.count_received("INVITE"), invites, "SIPp saw an INVITE")
        return resp

    def allowed(self, to, **kw):
        """POST /v1/calls is accepted and the far end sees the INVITE; then hang up."""
        invites = self.answer.count_received("INVITE")
        st, call, raw, _ = self.post_call(to, **kw)
        self.assertEqual(st, 201, raw)
        wait_until(lambda: self.answer.count_received("INVITE") > invites, 10,
                   what="the INVITE of the allowed call")
        self.hangup(call["id"], kw.get("key"))
        return call

    def hangup(self, call_id, key=None):
        key = key or self.key
        self.p.wait_call(key, call_id, lambda c: c["status"] != "initiated", 10)
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call_id, {}, key=key)
        self.assertIn(st, (200, 409), raw)
        self.p.wait_call(key, call_id, lambda c: c["status"] in ("ended", "failed"), 15)

    # -- countries -------------------------------------------------------------------------
    def test_country_allow_list(self):
        self.rules(allowed_countries=["US", "CA"])
        try:
            resp = self.refused("+442071234567", 403, "country_not_allowed", words="GB")
            self.assertEqual(resp[1]["error"]["field"], "to")
            # NANP is split by area code: Jamaica (+1 876) is not the US.
            self.refused("+18765551234", 403, "country_not_allowed", words="JM")
            # A number of no country (a global service) is on no allow list.
            self.refused("+88212345678", 403, "country_not_allowed")
            self.allowed("+14165550123")  # Toronto: CA
        finally:
            self.rules()

    def test_country_mapping(self):
        """call_country_of: the longest prefix of the ITU calling-code table, with the
        shared codes split (docs/api.md, "Call rules and opt-outs")."""
        want = {
            "+15125550100": "US", "+18005550100": "US", "+19005550100": "US",
            "+14165550100": "CA", "+16045550100": "CA", "+18675550100": "CA",
            "+18765550100": "JM", "+17875550100": "PR", "+18095550100": "DO",
            "+12425550100": "BS", "+16715550100": "GU", "+14415550100": "BM",
            "+74951234567": "RU", "+77011234567": "KZ", "+76123456789": "KZ",
            "+442071234567": "GB", "+441481234567": "GG", "+441534123456": "JE",
            "+447624123456": "IM", "+390612345678": "IT", "+390669812345": "VA",
            "+4722123456": "NO", "+4779021234": "SJ", "+358912345678": "FI",
            "+358181234567": "AX", "+262262123456": "RE", "+262269612345": "YT",
            "+59997654321": "CW", "+5997171234": "BQ", "+61212345678": "AU",
            "+61891641234": "CX", "+33123456789": "FR", "+4930123456": "DE",
            "+819012345678": "JP", "+8613812345678": "CN", "+919812345678": "IN",
            "+2348012345678": "NG", "+5511912345678": "BR", "+97150123456": "AE",
            "+88212345678": None, "+80012345678": None, "+87012345678": None,
        }
        got = dict(self.p.sql("SELECT n, call_country_of(n) FROM unnest(ARRAY[%s]) AS n"
                              % ", ".join(q(n) for n in want)))
        self.assertEqual(got, want)

    def test_country_deny_list(self):
        self.rules(blocked_countries=["KZ", "JM"])
        try:
            self.refused("+77011234567", 403, "country_blocked", words="KZ")  # +7 7: KZ
            self.refused("+16585551234", 403, "country_blocked", words="JM")
            self.allowed("+74951234567")  # +7 495 is Moscow: RU, not blocked
        finally:
            self.rules()
        self.allowed("+77011234567")  # cleared: allowed again

    # -- prefixes --------------------------------------------------------------------------
    def test_prefix_block_list(self):
        t = self.rules(blocked_prefixes=["1900", "+4420", "+1900"])
        self.assertEqual(t["blocked_prefixes"], ["+1900", "+4420"])
        try:
            self.refused("+19005551234", 403, "prefix_blocked", words="+1900")
            self.refused("+442071234567", 403, "prefix_blocked", words="+4420")
            self.allowed("+19015551234")
            self.allowed("+441611234567")
        finally:
            self.rules()

    # -- opt-outs --------------------------------------------------------------------------
    def test_opt_out_list_and_refusal(self):
        p, to = self.p, "+15558670001"
        key = str(uuid.uuid4())
        st, opt, raw, _ = p.api("POST", "/v1/opt_outs", {"phone_number": to, "reason": "asked"},
                                key=self.key, headers={"Idempotency-Key": key})
        self.assertEqual(st, 201, raw)
        self.assertEqual((opt["phone_number"], opt["reason"]), (to, "asked"))
        self.assertRegex(opt["id"], r"^voepy_opt_[0-9A-Z]{26}$")
        # The same request again is a replay; the number again (another key) is a conflict.
        st, again, raw2, h = p.api("POST", "/v1/opt_outs", {"phone_number": to, "reason": "asked"},
                                   key=self.key, headers={"Idempotency-Key": key})
        self.assertEqual((st, raw2, h.get("idempotent-replayed")), (201, raw, "true"))
        self.assert_error(p.api("POST", "/v1/opt_outs", {"phone_number": to}, key=self.key),
                          409, "conflict", field="phone_number", words=opt["id"])
        self.assert_error(p.api("POST", "/v1/opt_outs", {"phone_number": "5558670001"},
                                key=self.key), 422, "invalid_parameter", field="phone_number")
        self.assert_error(p.api("POST", "/v1/opt_outs", {"reason": "x"}, key=self.key),
                          400, "invalid_request", field="phone_number")
        # Listed, and found by number; not in another tenant's list.
        st, page, raw, _ = p.api("GET", "/v1/opt_outs", key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertIn(opt, page["data"])
        st, page, raw, _ = p.api("GET", "/v1/opt_outs?phone_number=%2B15558670001", key=self.key)
        self.assertEqual((st, page), (200, {"data": [opt], "next_cursor": None}), raw)
        st, page, raw, _ = p.api("GET", "/v1/opt_outs", key=self.key_other)
        self.assertEqual((st, page["data"]), (200, []), raw)
        # The number is refused with 451, others are not.
        resp = self.refused(to, 451, "opt_out")
        self.assertEqual(resp[1]["error"]["field"], "to")
        # Another tenant may still call it, and cannot delete the entry.
        self.allowed(to, key=self.key_other, frm=FROM_B)
        self.assert_error(p.api("DELETE", "/v1/opt_outs/%s" % opt["id"], key=self.key_other),
                          404, "not_found")
        # Deleted: the number may be called again.
        st, _, raw, _ = p.api("DELETE", "/v1/opt_outs/%s" % opt["id"], key=self.key)
        self.assertEqual((st, raw), (204, b""))
        self.assert_error(p.api("DELETE", "/v1/opt_outs/%s" % opt["id"], key=self.key),
                          404, "not_found")
        self.allowed(to)

    def test_opt_out_pages_and_scopes(self):
        p = self.p
        numbers = ["+15558671%03d" % i for i in range(5)]
        for n in numbers:
            st, _, raw, _ = p.api("POST", "/v1/opt_outs", {"phone_number": n},
                                  key=self.key_other)
            self.assertEqual(st, 201, raw)
        seen, cursor = [], None
        while True:
            path = "/v1/opt_outs?limit=2" + ("&cursor=%s" % cursor if cursor else "")
            st, page, raw, _ = p.api("GET", path, key=self.key_other)
            self.assertEqual(st, 200, raw)
            seen += [o["phone_number"] for o in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, list(reversed(numbers)))  # newest first
        st, key, raw, _ = p.api("POST", "/v1/api_keys", {"scopes": ["calls:read"]},
                                key=self.key_other)
        self.assertEqual(st, 201, raw)
        self.assertEqual(p.api("GET", "/v1/opt_outs", key=key["key"])[0], 200)
        self.assert_error(p.api("POST", "/v1/opt_outs", {"phone_number": "+15558672000"},
                                key=key["key"]), 403, "insufficient_scope")
        self.assert_error(p.api("DELETE", "/v1/opt_outs/voepy_opt_01J0000000000000000000ABCD",
                                key=key["key"]), 403, "insufficient_scope")
        self.assert_error(p.api("GET", "/v1/opt_outs?phone_number=12", key=self.key_other),
                          422, "invalid_parameter", field="phone_number")
        for n in numbers:
            p.sql("DELETE FROM opt_outs WHERE phone_number = %s" % q(n))

    # -- blocked destinations --------------------------------------------------------------
    def fail_rows(self, to, minutes_ago, reason="failed", status="failed"):
        """Outbound calls of the tenant to `to` that ended `minutes_ago` minutes ago."""
        for m in minutes_ago:
            self.p.sql(
                "INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
                " initiated_at, ended_at, end_reason, end_initiator, rating_status)"
                " VALUES (voepy_id('call'), %s, 'outbound', %s, %s, %s,"
                " now() - interval '%d minutes', now() - interval '%d minutes', %s, 'system',"
                " 'failed')" % (q(self.tenant["id"]), q(status), q(FROM), q(to), m, m, q(reason)))

    def test_blocked_destination_after_five_real_failures(self):
        to = "+15558670555"
        for i in range(5):
            st, call, raw, _ = self.post_call(to, route=self.route503)
            self.assertEqual(st, 201, (i, raw))
            call = self.p.wait_call(self.key, call["id"],
                                    lambda c: c["status"] in ("ended", "failed"), 15)
            self.assertEqual((call["status"], call["end_reason"]), ("failed", "failed"), call)
        self.assertEqual(self.fail503.count_received("INVITE"), 5)
        resp = self.refused(to, 429, "blocked_destination", sipp=self.fail503,
                            route=self.route503)
        retry = int(resp[3]["retry-after"])
        self.assertTrue(3590 <= retry <= 3600, retry)
        self.assertEqual(self.fail503.count_received("INVITE"), 5)
        # Another tenant, or another destination, is not blocked.
        self.allowed(to, key=self.key_other, frm=FROM_B)
        self.allowed("+15558670556")

    def test_blocked_destination_window(self):
        # Busy, no answer, rejected and our own failures are not failures of the destination.
        for i, reason in enumerate(("busy", "no_answer", "rejected", "system_failure")):
            to = "+1555867060%d" % i
            self.fail_rows(to, [1, 2, 3, 4, 5, 6], reason=reason)
            self.allowed(to)
        # Five failures, but not within one hour of each other: not blocked.
        self.fail_rows("+15558670610", [5, 20, 40, 65, 70])
        self.allowed("+15558670610")
        # Five within an hour, the fifth 61 minutes ago: the hour of blocking is over.
        self.fail_rows("+15558670611", [61, 70, 80, 90, 100])
        self.allowed("+15558670611")
        # Five within an hour, the fifth 20 minutes ago: blocked for 40 more minutes.
        self.fail_rows("+15558670612", [20, 30, 40, 50, 70])
        resp = self.refused("+15558670612", 429, "blocked_destination")
        retry = int(resp[3]["retry-after"])
        self.assertTrue(40 * 60 - 10 <= retry <= 40 * 60, retry)
        # Ended calls count by end_reason, whatever their status.
        self.fail_rows("+15558670613", [1, 2, 3, 4, 5], status="ended")
        self.refused("+15558670613", 429, "blocked_destination")

    # -- concurrency and calls per second ---------------------------------------------------
    def parallel_posts(self, n, to, key, frm):
        results = [None] * n
        start = threading.Barrier(n)

        def one(i):
            start.wait()
            results[i] = self.post_call(to, key=key, frm=frm)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results

    def test_max_concurrent_calls_race(self):
        number = "+15125550142"
        st, _, raw, _ = self.p.admin("POST", "/admin/v1/numbers", {"numbers": [number]})
        self.assertEqual(st, 201, raw)
        tenant, key = self.new_tenant("concurrency", number, max_concurrent_calls=3)
        self.assertEqual(self.p.api("GET", "/v1/whoami", key=key)[1]["rate_limits"],
                         {"api_requests_per_second": 100, "calls_per_minute": 60,
                          "calls_per_second": None, "max_concurrent_calls": 3})
        invites = self.answer.count_received("INVITE")
        results = self.parallel_posts(12, "+15558670700", key, number)
        made = [r[1]["id"] for r in results if r[0] == 201]
        self.assertEqual(len(made), 3, [r[2] for r in results])
        for r in results:
            if r[0] != 201:
                self.assert_error(r, 429, "rate_limited", words="max_concurrent_calls")
                self.assertGreaterEqual(int(r[3]["retry-after"]), 1)
        self.assertEqual(self.calls_of(tenant), 3)
        wait_until(lambda: self.answer.count_received("INVITE") >= invites + 3, 10,
                   what="the three INVITEs")
        time.sleep(0.3)
        self.assertEqual(self.answer.count_received("INVITE"), invites + 3)
        # One call ends: there is room for exactly one more.
        self.hangup(made[0], key)
        st, call, raw, _ = self.post_call("+15558670700", key=key, frm=number)
        self.assertEqual(st, 201, raw)
        self.refused("+15558670700", 429, "rate_limited", key=key, frm=number, tenant=tenant)
        for call_id in made[1:] + [call["id"]]:
            self.hangup(call_id, key)

    def test_calls_per_second(self):
        number = "+15125550143"
        st, _, raw, _ = self.p.admin("POST", "/admin/v1/numbers", {"numbers": [number]})
        self.assertEqual(st, 201, raw)
        tenant, key = self.new_tenant("cps", number, calls_per_second=2)
        invites = self.answer.count_received("INVITE")
        results = self.parallel_posts(10, "+15558670800", key, number)
        made = [r[1]["id"] for r in results if r[0] == 201]
        self.assertGreaterEqual(len(made), 2, [r[2] for r in results])
        self.assertLess(len(made), 10, "nothing was refused")
        for r in results:
            if r[0] != 201:
                self.assert_error(r, 429, "rate_limited", words="calls_per_second")
                self.assertEqual(r[3]["retry-after"], "1")
        self.assertEqual(self.calls_of(tenant), len(made))
        # However slowly the requests were served, no 3 calls lie within one second.
        starts = [float(r[0]) for r in self.p.sql(
            "SELECT extract(epoch FROM initiated_at) FROM calls WHERE tenant_id = %s"
            " ORDER BY initiated_at" % q(tenant["id"]))]
        for a, b in zip(starts, starts[2:]):
            self.assertGreaterEqual(b - a, 1.0, starts)
        wait_until(lambda: self.answer.count_received("INVITE") >= invites + len(made), 10,
                   what="the INVITEs of the calls made")
        time.sleep(0.3)
        self.assertEqual(self.answer.count_received("INVITE"), invites + len(made))
        time.sleep(1.1)
        st, call, raw, _ = self.post_call("+15558670800", key=key, frm=number)
        self.assertEqual(st, 201, raw)
        for call_id in made + [call["id"]]:
            self.hangup(call_id, key)

    # -- which refusal wins ------------------------------------------------------------------
    def test_order_of_checks(self):
        to = "+442071234999"
        st, opt, raw, _ = self.p.api("POST", "/v1/opt_outs", {"phone_number": to}, key=self.key)
        self.assertEqual(st, 201, raw)
        self.fail_rows(to, [1, 2, 3, 4, 5])
        try:
            self.rules(allowed_countries=["US"], blocked_countries=["GB"],
                       blocked_prefixes=["+44"], max_concurrent_calls=1)
            self.refused(to, 403, "from_number_not_owned", frm="+15125559999")
            self.refused(to, 403, "country_not_allowed")
            self.rules(blocked_countries=["GB"], blocked_prefixes=["+44"])
            self.refused(to, 403, "country_blocked")
            self.rules(blocked_prefixes=["+44"])
            self.refused(to, 403, "prefix_blocked")
            self.rules()
            self.refused(to, 451, "opt_out")
            self.p.sql("DELETE FROM opt_outs WHERE id = %s" % q(opt["id"]))
            self.refused(to, 429, "blocked_destination")
        finally:
            self.rules()
            self.p.sql("UPDATE calls SET end_reason = 'busy' WHERE to_number = %s" % q(to))

    # -- the operator's settings --------------------------------------------------------------
    def test_operator_settings(self):
        p = self.p
        created = p.create_tenant("settings", allowed_countries=["GB", "US"],
                                  blocked_prefixes=["1900"], calls_per_second=5)
        t = created["tenant"]
        self.assertEqual((t["allowed_countries"], t["blocked_countries"], t["blocked_prefixes"],
                          t["calls_per_second"], t["max_concurrent_calls"]),
                         (["GB", "US"], [], ["+1900"], 5, None))
        st, got, raw, _ = p.admin("GET", "/admin/v1/tenants/%s" % t["id"])
        self.assertEqual((st, got), (200, t), raw)
        path = "/admin/v1/tenants/%s" % t["id"]
        bad = [({"allowed_countries": []}, 422, "invalid_parameter", "allowed_countries"),
               ({"allowed_countries": ["US", "UK"]}, 422, "invalid_parameter",
                "allowed_countries[1]"),
               ({"blocked_countries": ["us"]}, 422, "invalid_parameter", "blocked_countries[0]"),
               ({"blocked_countries": [1]}, 400, "invalid_request", "blocked_countries[0]"),
               ({"blocked_prefixes": ["+0044"]}, 422, "invalid_parameter", "blocked_prefixes[0]"),
               ({"blocked_prefixes": ["44x"]}, 422, "invalid_parameter", "blocked_prefixes[0]"),
               ({"blocked_prefixes": "44"}, 400, "invalid_request", "blocked_prefixes"),
               ({"max_concurrent_calls": 0}, 422, "invalid_parameter", "max_concurrent_calls"),
               ({"calls_per_second": 10001}, 422, "invalid_parameter", "calls_per_second")]
        for body, status, code, field in bad:
            with self.subTest(body=body):
                self.assert_error(p.admin("PATCH", path, body), status, code, field=field)
        # Nothing changed by the refusals; members absent stay; null clears.
        st, got, raw, _ = p.admin("PATCH", path, {"max_concurrent_calls": 7})
        self.assertEqual((got["allowed_countries"], got["blocked_prefixes"],
                          got["calls_per_second"], got["max_concurrent_calls"]),
                         (["GB", "US"], ["+1900"], 5, 7), raw)
        st, got, raw, _ = p.admin("PATCH", path, {"allowed_countries": None,
                                                  "blocked_prefixes": None,
                                                  "calls_per_second": None})
        self.assertEqual((got["allowed_countries"], got["blocked_prefixes"],
                          got["calls_per_second"], got["max_concurrent_calls"]),
                         (None, [], None, 7), raw)
        st, who, raw, _ = p.api("GET", "/v1/whoami", key=created["api_key"])
        self.assertEqual(who["rate_limits"]["max_concurrent_calls"], 7, raw)

    # -- the event log --------------------------------------------------------------------------
    def test_call_events_log(self):
        p = self.p
        st, call, raw, _ = self.post_call(US, customer_reference="order-7")
        self.assertEqual(st, 201, raw)
        self.p.wait_call(self.key, call["id"], lambda c: c["status"] == "answered", 10)
        self.hangup(call["id"])
        # call.ended is written in the transaction that ends the call.
        st, page, raw, _ = p.api("GET", "/v1/calls/%s/events" % call["id"], key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertIsNone(page["next_cursor"])
        types = [e["type"] for e in page["data"]]
        self.assertEqual(types, ["call.started", "call.ringing", "call.answered", "call.ended"])
        # Each entry is the webhook envelope of the event, byte for byte as the dispatcher
        # builds it (wh_envelope), in the order the events occurred.
        want = [r[0] for r in p.sql(
            "SELECT wh_envelope(json_build_object('id', id, 'type', type, 'occurred_at',"
            " voepy_ts(occurred_at), 'data', data)) FROM events WHERE call_id = %s"
            " ORDER BY occurred_at, seq" % q(call["id"]))]
        self.assertEqual(page["data"], [json.loads(w) for w in want])
        for e in page["data"]:
            self.assertEqual(list(e), ["id", "type", "created_at", "data"])
            self.assertEqual(e["data"]["customer_reference"], "order-7")
        self.assertEqual(page["data"][-1]["data"]["status"], "ended")
        # Page by page, the same log.
        seen, cursor = [], None
        while True:
            path = "/v1/calls/%s/events?limit=1" % call["id"]
            path += "&cursor=%s" % cursor if cursor else ""
            st, pg, raw, _ = p.api("GET", path, key=self.key)
            self.assertEqual(st, 200, raw)
            seen += pg["data"]
            cursor = pg["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, page["data"])
        # Another tenant's call, an unknown call, a bad cursor.
        self.assert_error(p.api("GET", "/v1/calls/%s/events" % call["id"], key=self.key_other),
                          404, "not_found")
        self.assert_error(p.api("GET", "/v1/calls/voepy_call_01J0000000000000000000ABCD/events",
                                key=self.key), 404, "not_found")
        self.assert_error(p.api("GET", "/v1/calls/%s/events?cursor=abc" % call["id"],
                                key=self.key), 422, "invalid_parameter", field="cursor")


if __name__ == "__main__":
    unittest.main()
