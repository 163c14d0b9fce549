"""The books survive SIGKILL (issue 6): hundreds of short calls while rating and
call-control are killed at random and restarted.

SIPp answers every call and hangs up 1 s later (uas_answer_bye.xml). Three tenants place
CALLS calls through the API (which stays up) while a chaos thread SIGKILLs rating or
call-control every 1.5-3.5 s and restarts it after a short pause (Platform.kill/restart;
call-control comes back under the same node id, so cc_recover_node ends the calls its
earlier life carried). Afterwards: voepy-ledger-check passes; every call is over and rated
exactly once (one call_charge transaction when it cost something, of its cost); every
call is billed for the time it ran by its row (billed_seconds and cost from answered_at and
ended_at, per second at 1 c/s); calls that ended normally ran at least the far end's 1 s.
Bounded: placing takes ~CALLS/RATE s, then at most 60 s for calls to end and be rated.
"""
import math
import os
import random
import subprocess
import threading
import time
import unittest

from harness import Platform, binary, q, wait_until

CALLS = int(os.environ.get("VOEPY_CHAOS_CALLS", "240"))
RATE = 10.0  # calls placed per second
TENANTS = 3
CREDIT = 100000
TO = "+15558675309"


class BillingChaos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # legs of a killed call-control are freed by media-fork once idle for 5 s, so that
        # repeated kills do not use up the RTP port range
        cls.p = Platform(name="billing-chaos",
                         env={"VOEPY_RATING_CHECK_MS": "500", "VOEPY_MEDIA_IDLE_SECS": "5"})
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        p = cls.p
        cls.far = p.sipp("uas_answer_bye.xml", name="bye", extra=["-d", "1000"])
        route = p.create_route(cls.far.uri, name="bye")
        p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute) VALUES"
              " ('voepy_rate_chaos1', NULL, '1', 60000000)")
        cls.tenants = []
        for i in range(TENANTS):
            created = p.create_tenant("chaos%d" % i, default_route_id=route["id"])
            tid, key = created["tenant"]["id"], created["api_key"]
            p.sql("UPDATE tenants SET calls_per_minute = 1000 WHERE id = %s" % q(tid))
            number = "+1512556%04d" % i
            st, _, raw, _ = p.admin("POST", "/admin/v1/numbers",
                                    {"numbers": [number], "route_id": route["id"]})
            assert st == 201, raw
            st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": number}, key=key)
            assert st == 201, raw
            st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % tid,
                                    {"amount_cents": CREDIT})
            assert st in (200, 201), raw
            cls.tenants.append((tid, key, number))

    def chaos(self, stop, rng, log):
        """Kill rating or call-control at random until stop is set; leave both running."""
        while not stop.wait(rng.uniform(1.5, 3.5)):
            victim = rng.choice(("rating", "call-control"))
            self.p.kill(victim)
            time.sleep(rng.uniform(0.1, 0.8))
            self.p.restart(victim)
            log.append(victim)

    def place_all(self):
        ids = []
        start = time.monotonic()
        for i in range(CALLS):
            tid, key, number = self.tenants[i % TENANTS]
            st, call, raw, _ = self.p.api("POST", "/v1/calls", {"from": number, "to": TO}, key=key)
            self.assertEqual(st, 201, raw)
            ids.append(call["id"])
            delay = start + (i + 1) / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return ids

    def rows(self, ids):
        cols = ("c.id, c.status, c.rating_status, c.billed_seconds, c.cost_cents,"
                " c.end_reason, c.end_initiator,"
                " CASE WHEN c.answered_at IS NULL OR c.status = 'failed' THEN 0 ELSE"
                " ceil(extract(epoch FROM (c.ended_at - c.answered_at)) * 1000)::bigint END,"
                " (SELECT count(*) FROM ledger_transactions x WHERE x.kind = 'call_charge'"
                "   AND x.ref_type = 'call' AND x.ref_id = c.id),"
                " (SELECT coalesce(sum(e.amount_cents), 0) FROM ledger_transactions x"
                "   JOIN ledger_entries e ON e.txn_id = x.id AND e.amount_cents > 0"
                "  WHERE x.kind = 'call_charge' AND x.ref_type = 'call' AND x.ref_id = c.id)")
        out = self.p.sql("SELECT %s FROM calls c WHERE c.id IN (%s)"
                         % (cols, ",".join(q(i) for i in ids)))
        keys = ("id", "status", "rating_status", "billed", "cost", "end_reason", "initiator",
                "answered_ms", "txns", "charged")
        return [dict(zip(keys, r)) for r in out]

    def test_books_survive_kills(self):
        seed = int(os.environ.get("VOEPY_CHAOS_SEED", str(int(time.time()))))
        print("billing chaos: seed %d, %d calls" % (seed, CALLS))
        stop, kills = threading.Event(), []
        chaos = threading.Thread(target=self.chaos, args=(stop, random.Random(seed), kills))
        chaos.start()
        try:
            ids = self.place_all()
        finally:
            stop.set()
            chaos.join(30)
        self.assertGreater(len(kills), 0)
        print("billing chaos: killed %s" % ", ".join(kills))
        in_list = ",".join(q(i) for i in ids)
        wait_until(lambda: self.p.sql("SELECT count(*) FROM calls WHERE id IN (%s) AND status"
                                      " NOT IN ('ended', 'failed')" % in_list) == [["0"]],
                   60, interval=0.5, what="every call over")
        wait_until(lambda: self.p.sql("SELECT count(*) FROM calls WHERE id IN (%s) AND"
                                      " rating_status = 'pending'" % in_list) == [["0"]],
                   60, interval=0.5, what="every call rated")
        check = subprocess.run([binary("ledger-check"), "--dsn", self.p.pg_dsn],
                               capture_output=True, text=True)
        print(check.stdout)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        rows = self.rows(ids)
        self.assertEqual(len(rows), CALLS)
        answered = 0
        for r in rows:
            self.assertEqual(r["rating_status"], "rated", r)
            ms = int(r["answered_ms"])
            billed = math.ceil(ms / 1000)  # 1/1 increments
            self.assertEqual(int(r["billed"]), billed, r)
            self.assertEqual(int(r["cost"]), billed, r)  # 1 cent per second
            self.assertEqual(int(r["txns"]), 1 if billed else 0, r)
            self.assertEqual(int(r["charged"]), billed, r)
            if r["end_reason"] == "completed" and r["initiator"] == "callee":
                self.assertGreaterEqual(ms, 900, r)  # the far end hangs up after 1 s
                answered += 1
        self.assertGreater(answered, 0, "no call completed normally")
        total = sum(int(r["cost"]) for r in rows)
        balances = self.p.sql("SELECT coalesce(sum(a.balance_cents), 0) FROM ledger_accounts a"
                              " WHERE a.kind = 'tenant_balance' AND a.tenant_id IN (%s)"
                              % ",".join(q(t[0]) for t in self.tenants))
        self.assertEqual(int(balances[0][0]), TENANTS * CREDIT - total)
        print("billing chaos: %d calls, %d completed normally, %d cents charged"
              % (len(rows), answered, total))


if __name__ == "__main__":
    unittest.main()
