"""The foundation's acceptance: one real call across every service.

PostgreSQL, Redis, the five services and SIPp (the carrier) on loopback. A tenant buys a
number, registers a webhook receiver and places a call; SIPp answers with SDP and echoes
RTP to media-fork; the call ends by its time limit (or the hangup action); the receiver
gets signed call.started / call.answered / call.ended; rating prices the billed seconds
and the ledger balances. A busy far end costs nothing; an Idempotency-Key retry dials
once; another tenant sees 404.
"""
import math
import time
import unittest
import uuid

from harness import Platform, verify_standard_webhook, wait_until

RATE_CENTS_PER_MINUTE = 120  # 2 cents a second: easy to check by hand
CREDIT_CENTS = 500
FROM = "+15125550100"
TO = "+15558675309"


def parse_ms(iso):
    """ISO-8601 "YYYY-MM-DDTHH:MM:SS.mmmZ" to epoch milliseconds."""
    import calendar
    date, _, rest = iso.partition("T")
    hms, _, frac = rest.rstrip("Z").partition(".")
    t = time.strptime(date + "T" + hms, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 1000 + int((frac + "000")[:3])


class FirstCall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="first-call")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)  # runs even when the rest of setUpClass fails
        p = cls.p
        cls.answer = p.sipp("e2e_uas_answer.xml", name="answer")
        cls.busy = p.sipp("e2e_uas_busy.xml", name="busy", rtp_echo=False)
        cls.route = p.create_route(cls.answer.uri, name="answering trunk")
        cls.busy_route = p.create_route(cls.busy.uri, name="busy trunk")
        created = p.create_tenant("acme", default_route_id=cls.route["id"])
        cls.tenant = created["tenant"]
        cls.key = created["api_key"]
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                {"numbers": [FROM], "route_id": cls.route["id"]})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                {"prefix": "1", "cents_per_minute": RATE_CENTS_PER_MINUTE})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % cls.tenant["id"],
                                {"amount_cents": CREDIT_CENTS})
        assert st in (200, 201), raw
        st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": FROM}, key=cls.key)
        assert st == 201, raw
        cls.receiver = p.receiver()
        st, body, raw, _ = p.api("POST", "/v1/webhooks", {"url": cls.receiver.url, "events": ["*"]},
                                 key=cls.key)
        assert st == 201, raw
        cls.secret = body["secret"]

    def place(self, idem=None, **fields):
        body = dict({"from": FROM, "to": TO}, **fields)
        headers = {"Idempotency-Key": idem} if idem else {}
        return self.p.api("POST", "/v1/calls", body, key=self.key, headers=headers)

    def events_for(self, call_id):
        return [e for e in self.receiver.events() if e["data"].get("call_id") == call_id]

    def balance(self):
        rows = self.p.sql("SELECT balance_cents FROM ledger_accounts WHERE tenant_id = '%s'"
                          " AND kind = 'tenant_balance'" % self.tenant["id"])
        return int(rows[0][0])

    def assert_ledger_consistent(self):
        total = self.p.sql("SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries")[0][0]
        self.assertEqual(int(total), 0, "the ledger does not balance")
        drift = self.p.sql(
            "SELECT a.id FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id"
            " GROUP BY a.id, a.balance_cents HAVING a.balance_cents <> coalesce(sum(e.amount_cents), 0)")
        self.assertEqual(drift, [], "cached balances differ from the sum of entries")

    def test_1_call_by_time_limit(self):
        balance_before = self.balance()
        invites_before = {cid for _, cid in self.answer.received("INVITE")}
        idem = str(uuid.uuid4())
        st, call, raw, _ = self.place(idem, time_limit_secs=2, customer_reference="e2e-1")
        self.assertEqual(st, 201, raw)
        self.assertEqual(call["status"], "initiated")
        self.assertIsNone(call["cost_cents"])
        # The same Idempotency-Key replays the first answer byte for byte and dials once.
        st2, _, raw2, _ = self.place(idem, time_limit_secs=2, customer_reference="e2e-1")
        self.assertEqual((st2, raw2), (st, raw))

        call = self.p.wait_call(self.key, call["id"],
                                lambda c: c["status"] == "ended" and c["rating_status"] == "rated",
                                timeout=30)
        self.assertEqual(call["end_reason"], "time_limit")
        self.assertIsNotNone(call["answered_at"])
        answered_ms = parse_ms(call["answered_at"])
        ended_ms = parse_ms(call["ended_at"])
        # The call ends at its limit exactly: a BYE sent a moment late bills no extra second.
        self.assertEqual(ended_ms - answered_ms, 2000)
        self.assertEqual(call["duration_seconds"], 2)
        # Rating: per second, rounded up to the second, the rate times the billed seconds.
        self.assertEqual(call["billed_seconds"], 2)
        self.assertEqual(call["cost_cents"],
                         math.ceil(RATE_CENTS_PER_MINUTE * call["billed_seconds"] / 60))
        self.assertEqual(self.balance(), balance_before - call["cost_cents"])
        self.assert_ledger_consistent()
        # Media: RTP reached media-fork from SIPp (echo) and went out to SIPp.
        self.assertEqual(len(call["legs"]), 1)
        leg = call["legs"][0]
        self.assertGreater(leg["rtp"]["packets_in"] or 0, 20, leg)
        self.assertGreater(leg["rtp"]["packets_out"] or 0, 20, leg)
        # Exactly one call reached the carrier despite the retried request.
        new_invites = {cid for _, cid in self.answer.received("INVITE")} - invites_before
        self.assertEqual(len(new_invites), 1, self.answer.received())
        # Webhooks: started, answered, ended, each signed and carrying the reference.
        wait_until(lambda: any(e["type"] == "call.ended" for e in self.events_for(call["id"])),
                   15, what="call.ended webhook")
        types = [e["type"] for e in self.events_for(call["id"])]
        for t in ("call.started", "call.answered", "call.ended"):
            self.assertIn(t, types)
        for req in self.receiver.requests:
            self.assertIsNone(verify_standard_webhook(self.secret, req["headers"], req["body"]))
        for e in self.events_for(call["id"]):
            self.assertEqual(e["data"]["customer_reference"], "e2e-1")
            self.assertTrue(e["id"].startswith("voepy_evt_"))
        ended = [e for e in self.events_for(call["id"]) if e["type"] == "call.ended"][0]
        self.assertEqual(ended["data"]["end_reason"], "time_limit")

    def test_2_busy_costs_nothing(self):
        balance_before = self.balance()
        st, call, raw, _ = self.place(route_id=self.busy_route["id"])
        self.assertEqual(st, 201, raw)
        call = self.p.wait_call(self.key, call["id"],
                                lambda c: c["status"] == "failed" and c["rating_status"] == "rated",
                                timeout=20)
        self.assertEqual(call["end_reason"], "busy")
        self.assertIsNone(call["answered_at"])
        self.assertEqual(call["cost_cents"], 0)
        self.assertEqual(self.balance(), balance_before)
        txns = self.p.sql("SELECT count(*) FROM ledger_transactions WHERE ref_id = '%s'" % call["id"])
        self.assertEqual(int(txns[0][0]), 0)
        wait_until(lambda: any(e["type"] == "call.ended" for e in self.events_for(call["id"])),
                   15, what="call.ended webhook for the busy call")
        ended = [e for e in self.events_for(call["id"]) if e["type"] == "call.ended"][0]
        self.assertEqual(ended["data"]["status"], "failed")
        self.assertEqual(ended["data"]["end_reason"], "busy")
        self.assert_ledger_consistent()

    def test_3_hangup_action(self):
        st, call, raw, _ = self.place()
        self.assertEqual(st, 201, raw)
        self.p.wait_call(self.key, call["id"], lambda c: c["status"] == "answered", timeout=20)
        st, body, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {},
                                      key=self.key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["id"], call["id"])
        call = self.p.wait_call(self.key, call["id"], lambda c: c["status"] == "ended", timeout=20)
        self.assertEqual(call["end_initiator"], "api")
        self.assertEqual(call["end_reason"], "completed")
        st, body, _, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {},
                                    key=self.key)
        self.assertEqual((st, body["error"]["code"]), (409, "call_already_ended"))

    def test_5_time_limits_end_exactly(self):
        # Timers fire a millisecond early or late; each call must still end, and be billed,
        # at exactly its limit. Several calls at once make a lucky pass unlikely.
        ids = []
        for i in range(6):
            st, call, raw, _ = self.place(time_limit_secs=1)
            self.assertEqual(st, 201, raw)
            ids.append(call["id"])
        for call_id in ids:
            call = self.p.wait_call(self.key, call_id,
                                    lambda c: c["status"] == "ended" and c["rating_status"] == "rated",
                                    timeout=30)
            self.assertEqual(call["end_reason"], "time_limit")
            self.assertEqual(parse_ms(call["ended_at"]) - parse_ms(call["answered_at"]), 1000, call)
            self.assertEqual(call["billed_seconds"], 1)
            self.assertEqual(call["cost_cents"], math.ceil(RATE_CENTS_PER_MINUTE / 60))

    def test_4_other_tenant_sees_404(self):
        st, call, raw, _ = self.place(route_id=self.busy_route["id"])
        self.assertEqual(st, 201, raw)
        other = self.p.create_tenant("other")["api_key"]
        st, body, _, _ = self.p.api("GET", "/v1/calls/%s" % call["id"], key=other)
        self.assertEqual((st, body["error"]["code"]), (404, "not_found"))
        st, body, _, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {}, key=other)
        self.assertEqual(st, 404)
        st, body, _, _ = self.p.api("GET", "/v1/calls", key=other)
        self.assertEqual((st, body["data"]), (200, []))
        st, _, _, _ = self.p.api("GET", "/v1/calls/%s" % call["id"], key="voepy_live_wrong")
        self.assertEqual(st, 401)


if __name__ == "__main__":
    unittest.main()
