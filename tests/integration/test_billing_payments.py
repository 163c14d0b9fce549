"""Payments: payment methods, top-ups through the operator-approved provider, and
auto-recharge, on real PostgreSQL and the api-gateway.

Checked: methods are created, listed and removed (and no card numbers are kept); a manual
top-up waits in pending_approval until the operator approves it, which credits the
balance once however often it is approved, or declines it, which credits nothing;
creation is idempotent (same key replays, another body is 422); another tenant's top-ups
and methods are 404; every bad body names its field; auto-recharge fires exactly once per
crossing when 20 transactions charge the balance across the threshold at the same time,
and again once after the balance was topped up above it; the events are in the outbox.

Concurrent charges are ledger_transfer() calls made the way rating makes them, each in
its own psql session; they are started while another session holds the tenant's balance
row, and that row is released only once all 20 wait on it, so they really do race.
"""
import itertools
import subprocess
import threading
import unittest
import uuid

from harness import ApiAssertions, Platform, q, wait_until

_ids = itertools.count(1)


class BillingPayments(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), name="payments")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)

    # -- helpers ---------------------------------------------------------------------------
    def api(self, method, path, body=None, key=None, idem=None, **kw):
        headers = {"Idempotency-Key": idem} if idem else None
        return self.p.api(method, path, body, key=key, headers=headers, **kw)

    def tenant(self, credit=0):
        t = self.p.create_tenant(name="pay%d" % next(_ids))
        if credit:
            st, _, raw, _ = self.p.admin("POST", "/admin/v1/tenants/%s/credit" % t["tenant"]["id"],
                                         {"amount_cents": credit})
            self.assertEqual(st, 200, raw)
        return t["tenant"]["id"], t["api_key"]

    def method(self, key, label="Bank transfer"):
        st, m, raw, _ = self.api("POST", "/v1/billing/payment_methods",
                                 {"type": "operator_approved", "label": label}, key=key)
        self.assertEqual(st, 201, raw)
        return m

    def top_up(self, key, pm, amount=5000, idem=None):
        st, t, raw, _ = self.api("POST", "/v1/billing/top_ups",
                                 {"amount_cents": amount, "payment_method_id": pm}, key=key,
                                 idem=idem)
        self.assertEqual(st, 201, raw)
        return t

    def settle(self, topup, verb, body=None):
        return self.p.admin("POST", "/admin/v1/top_ups/%s/%s" % (topup, verb), body)

    def balance(self, key):
        st, b, raw, _ = self.api("GET", "/v1/billing/balance", key=key)
        self.assertEqual(st, 200, raw)
        return b["balance_cents"]

    def events(self, tenant, type_):
        return self.p.sql("SELECT data::text FROM events WHERE tenant_id = %s AND type = %s"
                          " ORDER BY seq" % (q(tenant), q(type_)))

    def top_up_credits(self, topup):
        return int(self.p.sql("SELECT count(*) FROM ledger_transactions WHERE ref_type = 'top_up'"
                              " AND ref_id = %s AND kind = 'top_up'" % q(topup))[0][0])

    # -- payment methods -------------------------------------------------------------------
    def test_methods_create_list_delete(self):
        _, key = self.tenant()
        a = self.method(key, "Wire A")
        b = self.method(key, "Wire B")
        self.assertEqual(a["type"], "operator_approved")
        st, page, raw, _ = self.api("GET", "/v1/billing/payment_methods?limit=1", key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual([m["id"] for m in page["data"]], [a["id"]])
        st, page2, raw, _ = self.api("GET", "/v1/billing/payment_methods?cursor=%s"
                                     % page["next_cursor"], key=key)
        self.assertEqual([m["id"] for m in page2["data"]], [b["id"]], raw)
        st, _, raw, _ = self.api("DELETE", "/v1/billing/payment_methods/%s" % a["id"], key=key)
        self.assertEqual(st, 204, raw)
        st, page, raw, _ = self.api("GET", "/v1/billing/payment_methods", key=key)
        self.assertEqual([m["id"] for m in page["data"]], [b["id"]], raw)
        self.assert_error(self.api("DELETE", "/v1/billing/payment_methods/%s" % a["id"], key=key),
                          404, "not_found")
        # a removed method cannot pay
        self.assert_error(self.api("POST", "/v1/billing/top_ups",
                                   {"amount_cents": 500, "payment_method_id": a["id"]}, key=key),
                          404, "not_found", field="payment_method_id")

    def test_method_bad_bodies(self):
        _, key = self.tenant()
        url = "/v1/billing/payment_methods"
        self.assert_error(self.api("POST", url, {"type": "visa", "label": "x"}, key=key),
                          422, "invalid_parameter", field="type")
        self.assert_error(self.api("POST", url, {"type": "operator_approved",
                                                 "label": "card 4111 1111 1111 1111"}, key=key),
                          422, "invalid_parameter", field="label")
        self.assert_error(self.api("POST", url, {"type": "operator_approved", "label": "x",
                                                 "card_number": "4111111111111111"}, key=key),
                          400, "invalid_request", field="card_number")
        self.assert_error(self.api("POST", url, {"type": "operator_approved", "label": 7},
                                   key=key), 400, "invalid_request", field="label")
        self.assert_error(self.api("POST", url, {"type": "operator_approved"}, key=key),
                          400, "invalid_request", field="label")
        self.assertEqual(self.p.sql("SELECT count(*) FROM payment_methods WHERE label ~ '4111'"),
                         [["0"]])

    # -- top-ups ---------------------------------------------------------------------------
    def test_manual_top_up_approved_once(self):
        tid, key = self.tenant()
        pm = self.method(key)["id"]
        t = self.top_up(key, pm, 5000)
        self.assertEqual((t["status"], t["trigger"], t["amount_cents"], t["completed_at"]),
                         ("pending_approval", "manual", 5000, None))
        self.assertEqual(self.balance(key), 0)
        st, queue, raw, _ = self.p.admin("GET", "/admin/v1/top_ups?status=pending_approval"
                                         "&tenant_id=%s" % tid)
        self.assertEqual(st, 200, raw)
        self.assertEqual([(x["id"], x["tenant_id"]) for x in queue["data"]], [(t["id"], tid)])
        st, ok, raw, _ = self.settle(t["id"], "approve")
        self.assertEqual(st, 200, raw)
        self.assertEqual(ok["status"], "succeeded")
        self.assertIsNotNone(ok["completed_at"])
        st, again, raw, _ = self.settle(t["id"], "approve")  # an operator's double click
        self.assertEqual((st, again["status"]), (200, "succeeded"), raw)
        self.assertEqual(self.balance(key), 5000)
        self.assertEqual(self.top_up_credits(t["id"]), 1)
        self.assert_error(self.settle(t["id"], "decline"), 409, "conflict")
        st, got, raw, _ = self.api("GET", "/v1/billing/top_ups/%s" % t["id"], key=key)
        self.assertEqual((st, got["status"]), (200, "succeeded"), raw)
        ev = self.events(tid, "billing.top_up_succeeded")
        self.assertEqual(len(ev), 1)
        self.assertIn('"balance_cents" : 5000', ev[0][0])
        # the ledger: payments_clearing -> tenant_balance, kind top_up
        st, led, raw, _ = self.api("GET", "/v1/billing/ledger_entries?kind=top_up", key=key)
        self.assertEqual([(e["ref_type"], e["ref_id"], e["amount_cents"]) for e in led["data"]],
                         [("top_up", t["id"], 5000)], raw)

    def test_decline(self):
        tid, key = self.tenant()
        pm = self.method(key)["id"]
        t = self.top_up(key, pm, 700)
        st, d, raw, _ = self.settle(t["id"], "decline", {"reason": "No transfer arrived."})
        self.assertEqual((st, d["status"], d["decline_reason"]),
                         (200, "declined", "No transfer arrived."), raw)
        st, d2, raw, _ = self.settle(t["id"], "decline")
        self.assertEqual((st, d2["status"]), (200, "declined"), raw)
        self.assert_error(self.settle(t["id"], "approve"), 409, "conflict")
        self.assertEqual(self.balance(key), 0)
        self.assertEqual(self.top_up_credits(t["id"]), 0)
        self.assertEqual(len(self.events(tid, "billing.top_up_declined")), 1)
        st, page, raw, _ = self.api("GET", "/v1/billing/top_ups?status=declined", key=key)
        self.assertEqual([x["id"] for x in page["data"]], [t["id"]], raw)
        st, page, raw, _ = self.api("GET", "/v1/billing/top_ups?status=succeeded", key=key)
        self.assertEqual(page["data"], [], raw)

    def test_idempotent_creation(self):
        _, key = self.tenant()
        pm = self.method(key)["id"]
        idem = str(uuid.uuid4())
        body = {"amount_cents": 1200, "payment_method_id": pm}
        st1, a, raw1, h1 = self.api("POST", "/v1/billing/top_ups", body, key=key, idem=idem)
        st2, b, raw2, h2 = self.api("POST", "/v1/billing/top_ups", body, key=key, idem=idem)
        self.assertEqual((st1, st2), (201, 201), raw2)
        self.assertEqual(raw1, raw2)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assert_error(self.api("POST", "/v1/billing/top_ups", dict(body, amount_cents=1300),
                                   key=key, idem=idem), 422, "idempotency_key_reused")
        st, page, raw, _ = self.api("GET", "/v1/billing/top_ups", key=key)
        self.assertEqual([x["id"] for x in page["data"]], [a["id"]], raw)

    def test_top_up_bad_bodies(self):
        _, key = self.tenant()
        pm = self.method(key)["id"]
        url = "/v1/billing/top_ups"
        for amount in (0, 99, -5, 10000001):
            self.assert_error(self.api("POST", url, {"amount_cents": amount,
                                                     "payment_method_id": pm}, key=key),
                              422, "invalid_parameter", field="amount_cents")
        self.assert_error(self.api("POST", url, {"amount_cents": "500", "payment_method_id": pm},
                                   key=key), 400, "invalid_request", field="amount_cents")
        self.assert_error(self.api("POST", url, {"amount_cents": 10.5, "payment_method_id": pm},
                                   key=key), 400, "invalid_request", field="amount_cents")
        self.assert_error(self.api("POST", url, {"amount_cents": 500, "payment_method_id": pm,
                                                 "currency": "EUR"}, key=key),
                          400, "invalid_request", field="currency")
        self.assert_error(self.api("POST", url, {"amount_cents": 500,
                                                 "payment_method_id": "voepy_key_x"}, key=key),
                          422, "invalid_parameter", field="payment_method_id")
        self.assert_error(self.api("GET", url + "?status=paid", key=key), 422,
                          "invalid_parameter", field="status")
        self.assert_error(self.p.admin("GET", "/admin/v1/top_ups?tenant_id=nope"), 422,
                          "invalid_parameter", field="tenant_id")

    def test_scopes(self):
        _, root = self.tenant()
        st, k, raw, _ = self.api("POST", "/v1/api_keys", {"scopes": ["billing:read"]}, key=root)
        self.assertEqual(st, 201, raw)
        reader = k["key"]
        self.assert_error(self.api("POST", "/v1/billing/payment_methods",
                                   {"type": "operator_approved", "label": "x"}, key=reader),
                          403, "insufficient_scope")
        st, _, raw, _ = self.api("GET", "/v1/billing/top_ups", key=reader)
        self.assertEqual(st, 200, raw)
        st, k, raw, _ = self.api("POST", "/v1/api_keys", {"scopes": ["billing:write"]}, key=root)
        self.assertEqual(st, 201, raw)
        self.method(k["key"])  # billing:write can write ...
        st, _, raw, _ = self.api("GET", "/v1/billing/auto_recharge", key=k["key"])
        self.assertEqual(st, 200, raw)  # ... and read

    def test_tenant_isolation(self):
        _, key_a = self.tenant()
        _, key_b = self.tenant()
        pm_a = self.method(key_a)["id"]
        t_a = self.top_up(key_a, pm_a)
        self.assert_error(self.api("GET", "/v1/billing/top_ups/%s" % t_a["id"], key=key_b),
                          404, "not_found")
        self.assert_error(self.api("POST", "/v1/billing/top_ups",
                                   {"amount_cents": 500, "payment_method_id": pm_a}, key=key_b),
                          404, "not_found", field="payment_method_id")
        self.assert_error(self.api("DELETE", "/v1/billing/payment_methods/%s" % pm_a, key=key_b),
                          404, "not_found")
        self.assert_error(self.api("PUT", "/v1/billing/auto_recharge",
                                   {"enabled": True, "threshold_cents": 100, "amount_cents": 500,
                                    "payment_method_id": pm_a}, key=key_b),
                          404, "not_found", field="payment_method_id")
        st, page, raw, _ = self.api("GET", "/v1/billing/top_ups", key=key_b)
        self.assertEqual(page["data"], [], raw)
        st, page, raw, _ = self.api("GET", "/v1/billing/payment_methods", key=key_b)
        self.assertEqual(page["data"], [], raw)

    # -- auto-recharge ---------------------------------------------------------------------
    def test_auto_recharge_settings(self):
        _, key = self.tenant()
        st, s, raw, _ = self.api("GET", "/v1/billing/auto_recharge", key=key)
        self.assertEqual((st, s["enabled"], s["threshold_cents"]), (200, False, None), raw)
        url = "/v1/billing/auto_recharge"
        self.assert_error(self.api("PUT", url, {"enabled": True, "threshold_cents": 100}, key=key),
                          422, "invalid_parameter", field="amount_cents")
        self.assert_error(self.api("PUT", url, {"threshold_cents": 100}, key=key),
                          400, "invalid_request", field="enabled")
        self.assert_error(self.api("PUT", url, {"enabled": "yes"}, key=key),
                          400, "invalid_request", field="enabled")
        self.assert_error(self.api("PUT", url, {"enabled": False, "threshold_cents": -1}, key=key),
                          422, "invalid_parameter", field="threshold_cents")
        pm = self.method(key)["id"]
        st, s, raw, _ = self.api("PUT", url, {"enabled": False, "threshold_cents": 100,
                                              "amount_cents": 500, "payment_method_id": pm},
                                 key=key)
        self.assertEqual((st, s["enabled"], s["payment_method_id"]), (200, False, pm), raw)
        # the method auto-recharge uses cannot go; freeing it (null) lets it go
        self.assert_error(self.api("DELETE", "/v1/billing/payment_methods/%s" % pm, key=key),
                          409, "conflict", words="Auto-recharge uses this payment method")
        st, s, raw, _ = self.api("PUT", url, {"enabled": False, "payment_method_id": None},
                                 key=key)
        self.assertEqual((st, s["threshold_cents"], s["payment_method_id"]), (200, 100, None), raw)
        st, _, raw, _ = self.api("DELETE", "/v1/billing/payment_methods/%s" % pm, key=key)
        self.assertEqual(st, 204, raw)

    def charge_concurrently(self, tid, n, amount):
        """n call charges of amount on tid, each its own psql session, released together."""
        acct = self.p.sql("SELECT ledger_account(%s, 'tenant_balance')" % q(tid))[0][0]
        self.p.sql("SELECT ledger_account(NULL, 'platform_revenue')")
        holder = subprocess.Popen(["psql", self.p.pg_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        holder.stdin.write("BEGIN; SELECT 1 FROM ledger_accounts WHERE id = %s FOR UPDATE;\n"
                           % q(acct))
        holder.stdin.flush()
        wait_until(lambda: self.p.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
            " AND query LIKE '%%FOR UPDATE%%' AND query LIKE %s" % q("%" + acct + "%"))
            == [["1"]], 10, what="the balance row held")
        errors = []

        def charge(i):
            try:
                self.p.sql("SELECT ledger_transfer(%s, 'call_charge', 'call', %s,"
                           " ledger_account(%s, 'tenant_balance'),"
                           " ledger_account(NULL, 'platform_revenue'), %d, 'test charge')"
                           % (q(tid), q("voepy_call_%s" % uuid.uuid4().hex), q(tid), amount))
            except Exception as e:  # reported below: every charge must commit
                errors.append(e)
        threads = [threading.Thread(target=charge, args=(i,)) for i in range(n)]
        try:
            for t in threads:
                t.start()
            wait_until(lambda: int(self.p.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%ledger_transfer%'")[0][0]) >= n, 30,
                what="%d charges waiting on the balance row" % n)
        finally:
            holder.stdin.write("COMMIT;\n")
            holder.stdin.close()
            holder.wait(30)
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])

    def auto_top_ups(self, tid):
        return self.p.sql("SELECT id, amount_cents, status FROM top_ups WHERE tenant_id = %s"
                          " AND trigger = 'auto_recharge' ORDER BY created_at, id" % q(tid))

    def test_auto_recharge_once_per_crossing_under_concurrency(self):
        tid, key = self.tenant(credit=1000)
        pm = self.method(key)["id"]
        st, s, raw, _ = self.api("PUT", "/v1/billing/auto_recharge",
                                 {"enabled": True, "threshold_cents": 500, "amount_cents": 2000,
                                  "payment_method_id": pm}, key=key, idem=str(uuid.uuid4()))
        self.assertEqual((st, s["enabled"], s["armed"]), (200, True, True), raw)
        self.assertEqual(self.auto_top_ups(tid), [])  # 1000 is not below 500
        # 20 x 40 = 800: 1000 -> 200, crossing 500 once
        self.charge_concurrently(tid, 20, 40)
        self.assertEqual(self.balance(key), 200)
        auto = self.auto_top_ups(tid)
        self.assertEqual([(a[1], a[2]) for a in auto], [("2000", "pending_approval")])
        st, s, raw, _ = self.api("GET", "/v1/billing/auto_recharge", key=key)
        self.assertEqual(s["armed"], False, raw)
        self.assertIsNotNone(s["last_triggered_at"])
        trig = self.events(tid, "billing.auto_recharge_triggered")
        self.assertEqual(len(trig), 1)
        self.assertIn(auto[0][0], trig[0][0])
        # approve: 2200 >= 500 re-arms
        st, _, raw, _ = self.settle(auto[0][0], "approve")
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.balance(key), 2200)
        st, s, raw, _ = self.api("GET", "/v1/billing/auto_recharge", key=key)
        self.assertEqual(s["armed"], True, raw)
        # 20 x 100 = 2000: 2200 -> 200, crossing again: exactly one more
        self.charge_concurrently(tid, 20, 100)
        self.assertEqual(self.balance(key), 200)
        auto = self.auto_top_ups(tid)
        self.assertEqual([a[2] for a in auto], ["succeeded", "pending_approval"])
        self.assertEqual(len(self.events(tid, "billing.auto_recharge_triggered")), 2)
        # a single charge while still below does not fire
        self.charge_concurrently(tid, 1, 10)
        self.assertEqual(len(self.auto_top_ups(tid)), 2)
        # ledger: every transaction sums to zero, the cached balance is the sum of entries
        self.assertEqual(self.p.sql(
            "SELECT count(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id"
            " HAVING sum(amount_cents) <> 0) x"), [["0"]])
        self.assertEqual(self.p.sql(
            "SELECT count(*) FROM ledger_accounts a WHERE a.balance_cents <>"
            " (SELECT coalesce(sum(e.amount_cents), 0) FROM ledger_entries e"
            "   WHERE e.account_id = a.id)"), [["0"]])

    def test_auto_recharge_enabling_below_threshold_fires_once(self):
        tid, key = self.tenant(credit=300)
        pm = self.method(key)["id"]
        body = {"enabled": True, "threshold_cents": 1000, "amount_cents": 5000,
                "payment_method_id": pm}
        st, s, raw, _ = self.api("PUT", "/v1/billing/auto_recharge", body, key=key)
        self.assertEqual((st, s["armed"]), (200, False), raw)
        self.assertEqual(len(self.auto_top_ups(tid)), 1)
        # the same settings again (not a change of threshold) do not fire again
        st, s, raw, _ = self.api("PUT", "/v1/billing/auto_recharge", body, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(len(self.auto_top_ups(tid)), 1)
        # decline it: still below, still disarmed, nothing more
        st, _, raw, _ = self.settle(self.auto_top_ups(tid)[0][0], "decline")
        self.assertEqual(st, 200, raw)
        self.charge_concurrently(tid, 1, 10)
        self.assertEqual(len(self.auto_top_ups(tid)), 1)


if __name__ == "__main__":
    unittest.main()
