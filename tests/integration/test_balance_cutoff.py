"""Authorisation and cutoff (issue 6) with real calls: SIPp answers and waits for our BYE.

The platform deck charges 1 cent per second (60 c/min, 1/1 increments) to +1 numbers and
has a +44 rate whose minimum charge is 50 cents. Checked: a tenant with a small balance is
cut off with end_reason balance_exhausted, no later than one increment plus the check
period after its funds ran out (plus a stated slack for a loaded machine), and is never
charged more than it had; two concurrent calls of one tenant share the budget (both are
cut, together charged no more than balance + credit limit); a call with enough balance is
not cut, and holds funds while it runs (GET /v1/billing/balance shows reserved_cents);
402 balance_insufficient when the available funds do not cover the least an answered
call to the destination costs; included minutes of a voice tier carry a call on an empty
balance and it is cut when they run out.
"""
import itertools
import unittest

from harness import ApiAssertions, Platform, q, wait_until

CHECK_MS = 500
CENTS_PER_SECOND = 1
INCREMENT_S = 1
# A loaded 2-core machine (ASan) may answer, poll and hang up late: the cutoff may come
# this much later than one increment plus the check period after the funds ran out.
SLACK_S = 4.0
_numbers = itertools.count(100)


class BalanceCutoff(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="cutoff", env={"VOEPY_RATING_CHECK_MS": str(CHECK_MS)})
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        cls.far = cls.p.sipp("uas_answer.xml", name="answer")
        cls.route = cls.p.create_route(cls.far.uri, name="answer")
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute) VALUES"
                  " ('voepy_rate_cut1', NULL, '1', %d)" % (CENTS_PER_SECOND * 60 * 1000000))
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute,"
                  " minimum_charge_micros) VALUES ('voepy_rate_cut44', NULL, '44', 6000000,"
                  " 50000000)")

    # -- helpers ---------------------------------------------------------------------------
    def tenant(self, credit_cents, credit_limit_cents=0):
        """A tenant with its own caller number, credit_cents on its balance and a limit."""
        p = self.p
        created = p.create_tenant("cutoff", default_route_id=self.route["id"])
        tid, key = created["tenant"]["id"], created["api_key"]
        number = "+1512555%04d" % next(_numbers)
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                {"numbers": [number], "route_id": self.route["id"]})
        self.assertEqual(st, 201, raw)
        st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": number}, key=key)
        self.assertEqual(st, 201, raw)
        if credit_cents:
            st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % tid,
                                    {"amount_cents": credit_cents})
            self.assertIn(st, (200, 201), raw)
        p.sql("UPDATE tenants SET credit_limit_cents = %d WHERE id = %s"
              % (credit_limit_cents, q(tid)))
        return tid, key, number

    def place(self, key, number, to="+15558675309"):
        st, call, raw, _ = self.p.api("POST", "/v1/calls", {"from": number, "to": to}, key=key)
        self.assertEqual(st, 201, raw)
        return call["id"]

    def over(self, key, call_id, timeout=45):
        return self.p.wait_call(key, call_id, lambda c: c["status"] in ("ended", "failed"),
                                timeout)

    def answered_seconds(self, call_id):
        return float(self.p.sql("SELECT extract(epoch FROM ended_at - answered_at) FROM calls"
                                " WHERE id = %s AND answered_at IS NOT NULL" % q(call_id))[0][0])

    def rated(self, call_ids):
        """Wait until rating has charged every call; returns {id: cost_cents}."""
        ids = ",".join(q(c) for c in call_ids)

        def done():
            rows = self.p.sql("SELECT id, cost_cents FROM calls WHERE id IN (%s)"
                              " AND rating_status = 'rated'" % ids)
            return {r[0]: int(r[1]) for r in rows} if len(rows) == len(call_ids) else None
        return wait_until(done, 30, interval=0.2, what="calls rated")

    def balance(self, key):
        st, body, raw, _ = self.p.api("GET", "/v1/billing/balance", key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["available_cents"], body["balance_cents"]
                         + body["credit_limit_cents"] - body["reserved_cents"], body)
        return body

    def assert_cut(self, call, funds_seconds):
        """call ended balance_exhausted (system), within the bound of the funds' end."""
        self.assertEqual(call["status"], "ended", call)
        self.assertEqual(call["end_reason"], "balance_exhausted", call)
        self.assertEqual(call["end_initiator"], "system", call)
        ran = self.answered_seconds(call["id"])
        self.assertLessEqual(ran, funds_seconds + INCREMENT_S + CHECK_MS / 1000 + SLACK_S,
                             "cut off too late: %.3f s on %.1f s of funds" % (ran, funds_seconds))
        return ran

    # -- tests -----------------------------------------------------------------------------
    def test_included_minutes_carry_a_call_on_an_empty_balance(self):
        tid, key, number = self.tenant(credit_cents=1000)
        st, _, raw, _ = self.p.api("POST", "/v1/billing/voice/subscribe", {"tier": "starter"},
                                   key=key)
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.balance(key)["balance_cents"], 0)  # starter's fee was 1000
        self.p.sql("UPDATE voice_periods SET used_seconds = included_seconds - 8"
                   " WHERE tenant_id = %s" % q(tid))
        cid = self.place(key, number)
        # carried by the 8 included seconds, then cut off as the money path would be
        ran = self.assert_cut(self.over(key, cid), funds_seconds=8)
        self.assertGreaterEqual(ran, 8 - INCREMENT_S - CHECK_MS / 1000 - 1.0 - 0.5)
        cost = self.rated([cid])[cid]
        included = int(self.p.sql("SELECT included_seconds FROM calls WHERE id = %s"
                                  % q(cid))[0][0])
        self.assertEqual(included, min(8, int(self.p.sql(
            "SELECT billed_seconds FROM calls WHERE id = %s" % q(cid))[0][0])))
        # what the minutes did not cover is charged, within one increment plus the slack
        self.assertLessEqual(cost, (INCREMENT_S + CHECK_MS / 1000 + SLACK_S) * CENTS_PER_SECOND)
        self.assertEqual(self.balance(key)["balance_cents"], -cost)

    def test_small_balance_is_cut_off(self):
        tid, key, number = self.tenant(credit_cents=6)
        cid = self.place(key, number)
        # held ahead while it runs (from the first round after the call was placed)
        wait_until(lambda: self.balance(key)["reserved_cents"] > 0, 10, what="a hold")
        ran = self.assert_cut(self.over(key, cid), funds_seconds=6 / CENTS_PER_SECOND)
        # never cut before the hold (price of the time until the next round plus the
        # margin, rounded up to the increment) stopped fitting into the funds
        self.assertGreaterEqual(ran, 6 - INCREMENT_S - CHECK_MS / 1000 - 1.0 - 0.5)
        cost = self.rated([cid])[cid]
        self.assertLessEqual(cost, 6)
        after = self.balance(key)
        self.assertEqual(after["reserved_cents"], 0, after)
        self.assertEqual(after["balance_cents"], 6 - cost, after)
        self.assertGreaterEqual(after["balance_cents"], 0, after)
        # the far end was told: our BYE arrived
        wait_until(lambda: any(m == "BYE" for m, _ in self.far.received("BYE")), 10,
                   what="BYE at the far end")

    def test_concurrent_calls_share_the_budget(self):
        tid, key, number = self.tenant(credit_cents=10, credit_limit_cents=4)
        a = self.place(key, number)
        b = self.place(key, number, to="+15558675310")
        calls = [self.over(key, a), self.over(key, b)]
        # together they had 14 cents: 14 s of talk at 1 c/s between them
        ran = [self.assert_cut(c, funds_seconds=14 / CENTS_PER_SECOND) for c in calls]
        costs = self.rated([a, b])
        self.assertLessEqual(sum(costs.values()), 14, costs)
        self.assertLessEqual(sum(ran), 14 + 2 * INCREMENT_S, ran)
        after = self.balance(key)
        self.assertGreaterEqual(after["balance_cents"], -4, after)
        self.assertEqual(after["reserved_cents"], 0, after)

    def test_enough_balance_is_not_cut(self):
        tid, key, number = self.tenant(credit_cents=10000)
        cid = self.place(key, number)
        self.p.wait_call(key, cid, lambda c: c["status"] in ("answered", "ended", "failed"),
                         timeout=20)
        wait_until(lambda: self.balance(key)["reserved_cents"] > 0, 10, what="a hold")
        wait_until(lambda: self.answered_running(cid) >= 4, 20, what="4 s of talk")
        st, _, raw, _ = self.p.api("POST", "/v1/calls/%s/actions/hangup" % cid, key=key)
        self.assertEqual(st, 200, raw)
        call = self.over(key, cid)
        self.assertEqual(call["end_reason"], "completed", call)
        self.assertEqual(call["end_initiator"], "api", call)
        cost = self.rated([cid])[cid]
        after = self.balance(key)
        self.assertEqual(after, dict(after, balance_cents=10000 - cost, reserved_cents=0))

    def answered_running(self, call_id):
        rows = self.p.sql("SELECT extract(epoch FROM coalesce(ended_at, now()) - answered_at)"
                          " FROM calls WHERE id = %s AND answered_at IS NOT NULL" % q(call_id))
        return float(rows[0][0]) if rows else 0.0

    def test_402_when_the_minimum_charge_is_not_covered(self):
        tid, key, number = self.tenant(credit_cents=20)
        # +44 costs at least 50 cents once answered; 20 are available
        self.assert_error(self.p.api("POST", "/v1/calls", {"from": number, "to": "+447700900123"},
                                     key=key), 402, "balance_insufficient", words="minimum")
        self.assertEqual(self.p.sql("SELECT count(*) FROM calls WHERE tenant_id = %s" % q(tid)),
                         [["0"]])
        # with a credit limit that covers it, the same call is placed
        self.p.sql("UPDATE tenants SET credit_limit_cents = 30 WHERE id = %s" % q(tid))
        st, call, raw, _ = self.p.api("POST", "/v1/calls",
                                      {"from": number, "to": "+447700900123"}, key=key)
        self.assertEqual(st, 201, raw)
        self.p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], key=key)
        self.over(key, call["id"])

    def test_402_when_nothing_is_available(self):
        tid, key, number = self.tenant(credit_cents=0)
        self.assert_error(self.p.api("POST", "/v1/calls", {"from": number, "to": "+15558675309"},
                                     key=key), 402, "balance_insufficient")


if __name__ == "__main__":
    unittest.main()
