"""Voice subscription tiers (issue 6): /v1/billing/voice, included minutes drawn first.

The API side runs through api-gateway; rating runs for real and rates calls written with
SQL the way call-control writes them (the call.ended event through the outbox, as
test_rating.py does). Periods are moved into the past with SQL to make them end, and the
rating service's renewer (VOEPY_RATING_RENEW_MS=200) settles them. Checked: the fee is
charged once when subscribing (idempotent replays and repeated subscribes charge
nothing more), 402 when it is not covered, 422 for an unknown tier, 404 for a cancel
without a subscription; cancel ends the subscription at period end without a fee;
renewal charges the next fee on the next tier and starts the minutes again, or lapses
when the fee is not covered; calls draw the included seconds first, in the order they
ended, across a batch, and only the rest is charged (a Python model of the rule); a call
ending after the period is charged in full; a tenant without a subscription is
unaffected; a tenant with included minutes left may place a call on an empty balance.
"""
import itertools
import math
import unittest
import uuid

from harness import ApiAssertions, Platform, q, wait_until

_ids = itertools.count(1)
RATE_MPM = 1200000  # 1.2 cents a minute: 0.02 c/s on '1' (1/1 increments)


def cents_for_seconds(seconds, mpm=RATE_MPM, fee=0, minimum=0):
    """price.h's formula on already billed seconds, as rating_cost_cents."""
    micros = max(minimum, fee + math.ceil(seconds * mpm / 60))
    return -(-micros // 1000000)


class VoiceTiers(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway", "rating"), name="voice-tiers",
                         env={"VOEPY_RATING_RENEW_MS": "200"})
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute) VALUES"
                  " ('voepy_rate_vt1', NULL, '1', %d)" % RATE_MPM)
        # '44' has a connection fee: covered airtime does not waive it
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute,"
                  " connection_fee_micros) VALUES ('voepy_rate_vt44', NULL, '44', 6000000,"
                  " 2000000)")
        # no call-control runs: a placed call waits unclaimed and nothing is sent
        cls.route = cls.p.create_route("sip:127.0.0.1:9", name="unused")

    # -- helpers ---------------------------------------------------------------------------
    def tenant(self, credit_cents):
        created = self.p.create_tenant("tiers", default_route_id=self.route["id"])
        tid, key = created["tenant"]["id"], created["api_key"]
        if credit_cents:
            st, _, raw, _ = self.p.admin("POST", "/admin/v1/tenants/%s/credit" % tid,
                                         {"amount_cents": credit_cents})
            self.assertIn(st, (200, 201), raw)
        return tid, key

    def voice(self, key):
        st, body, raw, _ = self.p.api("GET", "/v1/billing/voice", key=key)
        self.assertEqual(st, 200, raw)
        return body

    def subscribe(self, key, tier, idem=None):
        headers = {"Idempotency-Key": idem} if idem else None
        return self.p.api("POST", "/v1/billing/voice/subscribe", {"tier": tier}, key=key,
                          headers=headers)

    def cancel(self, key):
        return self.p.api("POST", "/v1/billing/voice/cancel", key=key)

    def balance(self, key):
        st, body, raw, _ = self.p.api("GET", "/v1/billing/balance", key=key)
        self.assertEqual(st, 200, raw)
        return body["balance_cents"]

    def fees(self, tid):
        return [int(r[0]) for r in self.p.sql(
            "SELECT e.amount_cents FROM ledger_transactions t JOIN ledger_entries e"
            " ON e.txn_id = t.id JOIN ledger_accounts a ON a.id = e.account_id"
            " WHERE t.tenant_id = %s AND t.kind = 'subscription_fee'"
            " AND a.kind = 'tenant_balance' ORDER BY t.created_at" % q(tid))]

    def end_period(self, tid):
        """Move the tenant's current period into the past: it ended a second ago."""
        self.p.sql("UPDATE voice_periods v SET period_start = now() - interval '1 month'"
                   " - interval '1 second', period_end = now() - interval '1 second'"
                   " FROM voice_subscriptions s WHERE s.current_period_id = v.id"
                   " AND s.status = 'active' AND s.tenant_id = %s" % q(tid))

    def backdate(self, tid, minutes=10):
        """The current period started `minutes` ago, so calls ended since draw from it."""
        self.p.sql("UPDATE voice_periods v SET period_start = now() - %d * interval '1 minute'"
                   " FROM voice_subscriptions s WHERE s.current_period_id = v.id"
                   " AND s.tenant_id = %s" % (minutes, q(tid)))

    def call(self, tid, seconds, to="+15557654321", ended_ago_s=5):
        """An ended outbound call of `seconds` answered seconds, its call.ended emitted."""
        cid = "voepy_call_vt%d" % next(_ids)
        self.p.sql(
            "INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
            " initiated_at, answered_at, ended_at, end_reason) VALUES (%s, %s, 'outbound',"
            " 'ended', '+15125550100', %s, now() - interval '1 hour',"
            " now() - (%d + %d) * interval '1 second', now() - %d * interval '1 second',"
            " 'completed')" % (q(cid), q(tid), q(to), ended_ago_s, seconds, ended_ago_s))
        self.p.sql("SELECT voepy_emit(c.tenant_id, c.id, 'call.ended', voepy_call_event_data(c))"
                   " FROM calls c WHERE c.id = %s" % q(cid))
        return cid

    def rated(self, cids):
        ids = ",".join(q(c) for c in cids)

        def done():
            rows = self.p.sql("SELECT id, billed_seconds, included_seconds, cost_cents FROM calls"
                              " WHERE id IN (%s) AND rating_status = 'rated'" % ids)
            if len(rows) != len(cids):
                return None
            return {r[0]: (int(r[1]), None if r[2] is None else int(r[2]), int(r[3]))
                    for r in rows}
        return wait_until(done, 30, interval=0.1, what="calls rated")

    # -- subscribe, cancel, renew ------------------------------------------------------------
    def test_subscribe_charges_the_fee_once(self):
        tid, key = self.tenant(20000)
        before = self.voice(key)
        self.assertEqual(before["status"], "none", before)
        self.assertEqual([t["tier"] for t in before["tiers"]], ["starter", "growth", "scale"])
        growth = next(t for t in before["tiers"] if t["tier"] == "growth")
        idem = str(uuid.uuid4())
        st, body, raw, _ = self.subscribe(key, "growth", idem)
        self.assertEqual(st, 201, raw)
        self.assertEqual((body["status"], body["tier"], body["included_minutes"],
                          body["used_seconds"], body["remaining_seconds"]),
                         ("active", "growth", growth["included_minutes"], 0,
                          growth["included_minutes"] * 60), body)
        self.assertRegex(body["subscription_id"], r"^voepy_vsub_")
        self.assertEqual(body["fee_cents"], growth["fee_cents"])
        self.assertEqual(self.balance(key), 20000 - growth["fee_cents"])
        # a replay answers the same bytes; subscribing to the same tier again changes nothing
        st2, _, raw2, headers = self.subscribe(key, "growth", idem)
        self.assertEqual((st2, raw2), (201, raw))
        self.assertEqual(headers.get("idempotent-replayed"), "true")
        st3, body3, raw3, _ = self.subscribe(key, "growth")
        self.assertEqual(st3, 200, raw3)
        self.assertEqual(body3["subscription_id"], body["subscription_id"])
        self.assertEqual(self.fees(tid), [-growth["fee_cents"]])
        self.assertEqual(self.voice(key)["status"], "active")
        # the fee is usage of its own kind, so usage totals still match the invoice
        st, usage, raw, _ = self.p.api("GET", "/v1/billing/usage?group_by=destination", key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual([(g["group"], g["kind"], g["charges"], g["cost_cents"])
                          for g in usage["data"]],
                         [("voice_subscription", "voice_subscription", 1, growth["fee_cents"])])

    def test_refusals(self):
        tid, key = self.tenant(500)  # below every tier's fee
        self.assert_error(self.subscribe(key, "growth"), 402, "balance_insufficient")
        self.assert_error(self.subscribe(key, "platinum"), 422, "invalid_parameter", field="tier")
        self.assert_error(self.p.api("POST", "/v1/billing/voice/subscribe", {}, key=key), 400,
                          "invalid_request", field="tier")
        self.assert_error(self.p.api("POST", "/v1/billing/voice/subscribe",
                                     {"tier": "growth", "minutes": 5}, key=key), 400,
                          "invalid_request", field="minutes")
        self.assert_error(self.cancel(key), 404, "not_found")
        self.assertEqual(self.voice(key)["status"], "none")
        self.assertEqual(self.balance(key), 500)
        self.assertEqual(self.fees(tid), [])

    def test_cancel_ends_at_period_end_without_a_fee(self):
        tid, key = self.tenant(5000)
        self.assertEqual(self.subscribe(key, "starter")[0], 201)
        st, body, raw, _ = self.cancel(key)
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["status"], body["cancel_at_period_end"]), ("active", True), body)
        # subscribing again to the same tier withdraws the cancel; cancel once more
        st, body, raw, _ = self.subscribe(key, "starter")
        self.assertEqual((st, body["cancel_at_period_end"]), (200, False), raw)
        self.assertEqual(self.cancel(key)[0], 200)
        self.end_period(tid)
        wait_until(lambda: self.voice(key)["status"] == "canceled", 10, what="canceled")
        after = self.voice(key)
        self.assertEqual((after["tier"], after["remaining_seconds"]), ("starter", 0), after)
        self.assertEqual(self.fees(tid), [-1000])
        self.assertEqual(self.cancel(key)[0], 404)

    def test_renewal_takes_the_next_tier_then_lapses_without_funds(self):
        tid, key = self.tenant(9500)
        self.assertEqual(self.subscribe(key, "starter")[0], 201)  # 1000
        st, body, raw, _ = self.subscribe(key, "growth")
        self.assertEqual((st, body["tier"], body["next_tier"]), (200, "starter", "growth"), raw)
        self.p.sql("UPDATE voice_periods SET used_seconds = 120 WHERE tenant_id = %s" % q(tid))
        first = self.voice(key)["current_period_end"]
        self.end_period(tid)
        wait_until(lambda: self.voice(key)["tier"] == "growth", 10, what="renewed on growth")
        now = self.voice(key)
        self.assertEqual((now["status"], now["next_tier"], now["used_seconds"]),
                         ("active", None, 0), now)
        self.assertNotEqual(now["current_period_start"], first)
        self.assertEqual(self.fees(tid), [-1000, -8000])
        self.assertEqual(self.balance(key), 500)
        self.end_period(tid)  # 500 cents do not cover growth's 8000
        wait_until(lambda: self.voice(key)["status"] == "lapsed", 10, what="lapsed")
        self.assertEqual(self.fees(tid), [-1000, -8000])
        self.assertEqual(self.balance(key), 500)

    # -- included minutes --------------------------------------------------------------------
    def test_calls_draw_included_minutes_first(self):
        tid, key = self.tenant(5000)
        self.assertEqual(self.subscribe(key, "starter")[0], 201)
        self.backdate(tid)
        self.p.sql("UPDATE voice_periods SET used_seconds = included_seconds - 100"
                   " WHERE tenant_id = %s" % q(tid))
        # one after another: 60 s and 30 s are covered, 50 s crosses the end, 40 s pays
        left, charged = 100, 0
        for secs in (60, 30, 50, 40):
            cid = self.call(tid, secs)
            covered = min(secs, left)
            left -= covered
            want = (secs, covered, cents_for_seconds(secs - covered))
            self.assertEqual(self.rated([cid])[cid], want, "a %d s call, %d s left" % (secs, left))
            charged += want[2]
        v = self.voice(key)
        self.assertEqual((v["remaining_seconds"], v["used_seconds"], v["minutes_used"]),
                         (0, v["included_seconds"], v["included_minutes"]), v)
        self.assertEqual(self.balance(key), 5000 - 1000 - charged)

    def test_calls_rated_together_share_the_minutes(self):
        tid, key = self.tenant(5000)
        self.assertEqual(self.subscribe(key, "starter")[0], 201)
        self.backdate(tid)
        self.p.sql("UPDATE voice_periods SET used_seconds = included_seconds - 200"
                   " WHERE tenant_id = %s" % q(tid))
        secs = [45, 70, 20, 90, 33, 61]
        cids = [self.call(tid, n, ended_ago_s=60 - i) for i, n in enumerate(secs)]
        got = self.rated(cids)
        # whatever the batches: never more than what was left, each call pays exactly its
        # uncovered seconds, and what is left is used up when the calls need more
        total = 0
        for cid, n in zip(cids, secs):
            billed, covered, cost = got[cid]
            self.assertEqual(billed, n)
            self.assertTrue(0 <= covered <= n, got[cid])
            self.assertEqual(cost, cents_for_seconds(n - covered), got[cid])
            total += covered
        self.assertEqual(total, min(200, sum(secs)))
        self.assertEqual(self.voice(key)["remaining_seconds"], 0)

    def test_fee_stays_and_earlier_calls_pay_in_full(self):
        tid, key = self.tenant(5000)
        self.assertEqual(self.subscribe(key, "starter")[0], 201)
        self.backdate(tid)
        covered = self.call(tid, 30, to="+447700900123")
        # ended before the period started: draws nothing
        early = self.call(tid, 30, ended_ago_s=3600)
        got = self.rated([covered, early])
        # fully covered airtime; the connection fee (2,000,000 micros = 2 cents) remains
        self.assertEqual(got[covered], (30, 30, 2))
        self.assertEqual(got[early], (30, None, cents_for_seconds(30)))
        self.assertEqual(self.voice(key)["used_seconds"], 30)

    def test_no_subscription_is_unaffected(self):
        tid, _ = self.tenant(1000)
        cid = self.call(tid, 90)
        self.assertEqual(self.rated([cid])[cid], (90, None, cents_for_seconds(90)))

    def test_included_minutes_admit_a_call_on_an_empty_balance(self):
        tid, key = self.tenant(1000)
        self.assertEqual(self.subscribe(key, "starter")[0], 201)  # balance now 0
        self.assertEqual(self.balance(key), 0)
        st, _, raw, _ = self.p.admin("POST", "/admin/v1/numbers",
                                     {"numbers": ["+15125557001"], "route_id": self.route["id"]})
        self.assertEqual(st, 201, raw)
        st, _, raw, _ = self.p.api("POST", "/v1/phone_numbers", {"phone_number": "+15125557001"},
                                   key=key)
        self.assertEqual(st, 201, raw)
        body = {"from": "+15125557001", "to": "+15557654321"}
        st, _, raw, _ = self.p.api("POST", "/v1/calls", body, key=key)
        # admitted by the money check; with no call-control running it waits unclaimed
        self.assertEqual(st, 201, raw)
        self.p.sql("UPDATE voice_periods SET used_seconds = included_seconds"
                   " WHERE tenant_id = %s" % q(tid))
        self.assert_error(self.p.api("POST", "/v1/calls", body, key=key), 402, "balance_insufficient")


if __name__ == "__main__":
    unittest.main()
