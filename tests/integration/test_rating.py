"""rating on real PostgreSQL and Redis.

Calls, rates and call.ended events are written with SQL the way call-control writes them
(the event through the outbox, voepy_emit); the rating service's own outbox relay
publishes them to voepy:events:{p}. Checked: the price (against a model of the pricing
rules written here again, in Python), the ledger (every transaction sums to zero, every
balance is the sum of its entries), that a redelivered event never charges twice, that
unanswered calls cost nothing, that an unknown destination marks the call failed, which
rate wins, and that events that arrive while the service is down are rated after it
comes back. A second suite runs rating_apply() directly, also concurrently.
"""
import itertools
import math
import subprocess
import threading
import unittest

from harness import q, Platform, wait_until

INITIATED = "2026-05-12T14:32:18.000Z"
ANSWERED = "2026-05-12T14:32:22.120Z"
_ids = itertools.count(1)


def model_price(answered_ms, micros_per_minute, fee_micros, initial_s, subsequent_s):
    """The pricing rules as the brief states them: (billed_seconds, cost_cents)."""
    if answered_ms == 0:
        return 0, 0
    duration = math.ceil(answered_ms / 1000)
    if duration <= initial_s:
        billed = initial_s
    else:
        billed = initial_s + math.ceil((duration - initial_s) / subsequent_s) * subsequent_s
    total_x60 = billed * micros_per_minute + 60 * fee_micros  # exact: 60 x micros
    return billed, -(-total_x60 // (60 * 1000000))


class RatingBase(unittest.TestCase):
    services = ("rating",)

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=cls.services, name="rating")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)  # also when the rest of setUpClass fails
        # platform deck: '1' 1.2 c/min per second, '44' 3 c/min per minute with a fee
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute) VALUES"
                  " ('voepy_rate_p1', NULL, '1', 1200000)")
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute,"
                  " connection_fee_micros, initial_increment_s, subsequent_increment_s)"
                  " VALUES ('voepy_rate_p44', NULL, '44', 3000000, 250000, 60, 60)")

    # -- data ------------------------------------------------------------------------------
    def tenant(self):
        tid = "voepy_tenant_rt%d" % next(_ids)
        # credit covers the charges: no authorisation runs here (voepy-ledger-check)
        self.p.sql("INSERT INTO tenants (id, name, credit_limit_cents) VALUES"
                   " (%s, 'rating test', 100000)" % q(tid))
        return tid

    def call(self, tenant, to, answered_ms=None, status="ended"):
        """An ended (or failed) call; answered_ms None = never answered."""
        cid = "voepy_call_rt%d" % next(_ids)
        if answered_ms is None:
            answered, ended = "NULL", "timestamptz %s + interval '20 seconds'" % q(INITIATED)
        else:
            answered = "timestamptz %s" % q(ANSWERED)
            ended = "timestamptz %s + %d * interval '1 millisecond'" % (q(ANSWERED), answered_ms)
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
                   " initiated_at, answered_at, ended_at, end_reason) VALUES"
                   " (%s, %s, 'outbound', %s, '+15125550100', %s, %s, %s, %s, 'completed')"
                   % (q(cid), q(tenant), q(status), q(to), q(INITIATED), answered, ended))
        return cid

    def emit(self, call_id, type_="call.ended"):
        return self.p.sql("SELECT voepy_emit(c.tenant_id, c.id, %s, voepy_call_event_data(c))"
                          " FROM calls c WHERE c.id = %s" % (q(type_), q(call_id)))[0][0]

    def row(self, call_id):
        r = self.p.sql("SELECT rating_status, billed_seconds, cost_cents, rating_error, rate_id"
                       " FROM calls WHERE id = %s" % q(call_id))[0]
        return {"rating_status": r[0], "billed_seconds": r[1] and int(r[1]),
                "cost_cents": r[2] and int(r[2]), "rating_error": r[3], "rate_id": r[4]}

    def wait_rated(self, call_id, timeout=15):
        return wait_until(lambda: (lambda r: r if r["rating_status"] != "pending" else None)(
            self.row(call_id)), timeout, what="rating of %s" % call_id)

    def balance(self, tenant):
        rows = self.p.sql("SELECT balance_cents FROM ledger_accounts WHERE tenant_id = %s"
                          " AND kind = 'tenant_balance'" % q(tenant))
        return int(rows[0][0]) if rows else 0

    def charges(self, call_id):
        return self.p.sql("SELECT t.id, e.amount_cents FROM ledger_transactions t"
                          " JOIN ledger_entries e ON e.txn_id = t.id"
                          " WHERE t.ref_type = 'call' AND t.ref_id = %s AND t.kind = 'call_charge'"
                          " ORDER BY e.amount_cents" % q(call_id))

    def metric(self, name):
        status, _, body = self.p.ops("rating", "/metrics")
        self.assertEqual(status, 200)
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        return 0

    def assert_ledger_consistent(self):
        unbalanced = self.p.sql("SELECT txn_id, sum(amount_cents) FROM ledger_entries"
                                " GROUP BY txn_id HAVING sum(amount_cents) <> 0")
        self.assertEqual(unbalanced, [], "transactions that do not sum to zero")
        drift = self.p.sql("SELECT a.id, a.balance_cents, coalesce(sum(e.amount_cents), 0)"
                           " FROM ledger_accounts a LEFT JOIN ledger_entries e"
                           " ON e.account_id = a.id GROUP BY a.id, a.balance_cents"
                           " HAVING a.balance_cents <> coalesce(sum(e.amount_cents), 0)")
        self.assertEqual(drift, [], "balances that are not the sum of their entries")


class RatingService(RatingBase):
    def test_answered_call_is_priced_and_charged(self):
        t = self.tenant()
        cid = self.call(t, "+15558675309", answered_ms=38760)
        self.emit(cid)
        r = self.wait_rated(cid)
        billed, cents = model_price(38760, 1200000, 0, 1, 1)
        self.assertEqual((billed, cents), (39, 1))
        self.assertEqual(r, {"rating_status": "rated", "billed_seconds": billed,
                             "cost_cents": cents, "rating_error": None,
                             "rate_id": "voepy_rate_p1"})
        entries = self.charges(cid)
        self.assertEqual([int(e[1]) for e in entries], [-cents, cents])
        self.assertEqual(self.balance(t), -cents)
        self.assert_ledger_consistent()

    def test_redelivered_event_never_charges_twice(self):
        t = self.tenant()
        cid = self.call(t, "+447700900123", answered_ms=61001)
        evt = self.emit(cid)
        r = self.wait_rated(cid)
        billed, cents = model_price(61001, 3000000, 250000, 60, 60)
        self.assertEqual((r["billed_seconds"], r["cost_cents"]), (billed, cents))
        self.assertEqual((billed, cents), (120, 7))
        dups = self.metric("voepy_rating_duplicates_total")
        # at-least-once: the relay publishes the same event again (and again)
        for _ in range(2):
            self.p.sql("UPDATE events SET published_at = NULL, lease_until = NULL"
                       " WHERE id = %s" % q(evt))
        wait_until(lambda: self.metric("voepy_rating_duplicates_total") >= dups + 1, 15,
                   what="the duplicate to be seen")
        self.assertEqual(len(self.charges(cid)), 2)  # one transaction, two entries
        self.assertEqual(self.balance(t), -cents)
        self.assertEqual(self.row(cid)["cost_cents"], cents)
        self.assert_ledger_consistent()

    def test_unanswered_and_failed_calls_cost_nothing(self):
        t = self.tenant()
        never = self.call(t, "+15558675309", answered_ms=None, status="ended")
        failed = self.call(t, "+8885550100", answered_ms=None, status="failed")  # no rate
        self.emit(never)
        self.emit(failed)
        for cid in (never, failed):
            r = self.wait_rated(cid)
            self.assertEqual((r["rating_status"], r["billed_seconds"], r["cost_cents"]),
                             ("rated", 0, 0))
            self.assertEqual(self.charges(cid), [])
        self.assertEqual(self.balance(t), 0)

    def test_no_rate_marks_the_call_failed(self):
        t = self.tenant()
        cid = self.call(t, "+8885550100", answered_ms=5000)
        failed_before = self.metric("voepy_rating_calls_failed_total")
        self.emit(cid)
        r = self.wait_rated(cid)
        self.assertEqual(r["rating_status"], "failed")
        self.assertIsNone(r["cost_cents"])
        self.assertIn("no rate", r["rating_error"])
        self.assertEqual(self.charges(cid), [])
        self.assertEqual(self.metric("voepy_rating_calls_failed_total"), failed_before + 1)
        self.assertIn('"rating.failed"', self.p.procs["rating"].output())
        # a rate added later: the next delivery of the event rates the call
        self.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute) VALUES"
                   " ('voepy_rate_t888', %s, '888', 60000000)" % q(t))
        self.p.sql("UPDATE events SET published_at = NULL WHERE call_id = %s" % q(cid))
        wait_until(lambda: self.row(cid)["rating_status"] == "rated", 15, what="re-rating")
        self.assertEqual(self.row(cid)["cost_cents"], 5)  # 5 s at 60 c/min
        self.assertIsNone(self.row(cid)["rating_error"])

    def test_tenant_rates_then_longest_prefix(self):
        t = self.tenant()
        other = self.tenant()
        self.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute,"
                   " initial_increment_s, subsequent_increment_s, effective_from) VALUES"
                   " (%s, %s, '1', 600000, 30, 6, '-infinity'),"
                   " (%s, %s, '1555', 6000000, 30, 6, '-infinity'),"
                   " (%s, %s, '1555', 9000000, 30, 6, '2030-01-01'),"  # not yet in effect
                   " (%s, %s, '1555867', 1, 1, 1, '-infinity')"        # another tenant's
                   % (q("voepy_rate_a%s" % t), q(t), q("voepy_rate_b%s" % t), q(t),
                      q("voepy_rate_c%s" % t), q(t), q("voepy_rate_d%s" % other), q(other)))
        mine = self.call(t, "+15558675309", answered_ms=31000)
        theirs = self.call(other, "+15558675309", answered_ms=31000)
        self.emit(mine)
        self.emit(theirs)
        r = self.wait_rated(mine)
        self.assertEqual(r["rate_id"], "voepy_rate_b%s" % t)
        self.assertEqual((r["billed_seconds"], r["cost_cents"]), model_price(31000, 6000000, 0, 30, 6))
        r = self.wait_rated(theirs)
        self.assertEqual(r["rate_id"], "voepy_rate_d%s" % other)
        self.assertEqual((r["billed_seconds"], r["cost_cents"]), (31, 1))
        self.assert_ledger_consistent()

    def test_other_events_are_acknowledged_without_effect(self):
        t = self.tenant()
        cid = self.call(t, "+15558675309", answered_ms=10000)
        for type_ in ("call.started", "call.ringing", "call.answered"):
            self.emit(cid, type_)
        wait_until(lambda: self.p.sql("SELECT count(*) FROM events WHERE call_id = %s"
                                      " AND published_at IS NULL" % q(cid))[0][0] == "0", 10)
        wait_until(lambda: self.pending_entries() == 0, 10, what="acks")
        self.assertEqual(self.row(cid)["rating_status"], "pending")
        self.emit(cid)  # the ended call is rated after all: every ended call is, once
        self.assertEqual(self.wait_rated(cid)["rating_status"], "rated")

    def pending_entries(self):
        total = 0
        for part in range(4):
            out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.p.redis_port),
                                  "XPENDING", "voepy:events:%d" % part, "rating"],
                                 capture_output=True, text=True, check=True).stdout
            total += int(out.split()[0]) if out.split() else 0
        return total

    def test_events_during_an_outage_are_rated_after_restart(self):
        t = self.tenant()
        self.p.kill("rating")  # SIGKILL: nothing drained
        calls = [self.call(t, "+15558675309", answered_ms=1000 * (i + 1)) for i in range(3)]
        for cid in calls:
            self.emit(cid)  # stays in the outbox: the relay lives in the service too
        self.p.restart("rating")
        for i, cid in enumerate(calls):
            r = self.wait_rated(cid)
            self.assertEqual((r["billed_seconds"], r["cost_cents"]),
                             model_price(1000 * (i + 1), 1200000, 0, 1, 1))
        self.assertEqual(self.balance(t), -3)
        self.assert_ledger_consistent()


class RatingApplySql(RatingBase):
    """rating_apply() is idempotent per call, also when deliveries race."""
    services = ()

    def test_apply_twice_moves_money_once(self):
        t = self.tenant()
        cid = self.call(t, "+15558675309", answered_ms=60000)
        first = self.p.sql("SELECT outcome, txn_id FROM rating_apply(%s, NULL, 60, 12)" % q(cid))
        second = self.p.sql("SELECT outcome, txn_id FROM rating_apply(%s, NULL, 60, 99)" % q(cid))
        self.assertEqual(first[0][0], "rated")
        self.assertTrue(first[0][1].startswith("voepy_txn_"))
        self.assertEqual(second, [["already_rated", None]])
        self.assertEqual(self.row(cid)["cost_cents"], 12)
        self.assertEqual(self.balance(t), -12)
        self.assertEqual(len(self.charges(cid)), 2)
        self.assert_ledger_consistent()

    def test_concurrent_applies_charge_once(self):
        t = self.tenant()
        cid = self.call(t, "+15558675309", answered_ms=60000)
        outcomes, lock = [], threading.Lock()

        def apply():
            out = self.p.sql("SELECT outcome FROM rating_apply(%s, NULL, 60, 7)" % q(cid))
            with lock:
                outcomes.append(out[0][0])

        threads = [threading.Thread(target=apply) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        self.assertEqual(sorted(outcomes), ["already_rated"] * 7 + ["rated"])
        self.assertEqual(self.balance(t), -7)
        self.assertEqual(len(self.charges(cid)), 2)
        self.assert_ledger_consistent()

    def test_apply_refuses_what_it_cannot_do(self):
        t = self.tenant()
        live = "voepy_call_rt%d" % next(_ids)
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number)"
                   " VALUES (%s, %s, 'outbound', 'answered', '+1555', '+1666')" % (q(live), q(t)))
        for sql, code in (("rating_apply('voepy_call_nope', NULL, 1, 1)", "voepy:not_found"),
                          ("rating_apply(%s, NULL, 1, 1)" % q(live),
                           "voepy:call_not_in_required_state")):
            with self.assertRaises(subprocess.CalledProcessError) as cm:
                subprocess.run(["psql", self.p.pg_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                "-c", "SELECT * FROM " + sql],
                               check=True, capture_output=True, text=True)
            self.assertIn(code, cm.exception.stderr)
        ended = self.call(t, "+15558675309", answered_ms=1000)
        with self.assertRaises(subprocess.CalledProcessError):
            self.p.sql("SELECT * FROM rating_apply(%s, NULL, 1, -1)" % q(ended))
        self.assertEqual(self.row(ended)["rating_status"], "pending")
        self.assertEqual(self.balance(t), 0)


if __name__ == "__main__":
    unittest.main()
