#!/usr/bin/env python3
"""Rated calls per second into the ledger: the rating service against pgbench running the
same per-call ledger transaction on the same PostgreSQL, in one run (see README.md).

1. PostgreSQL and Redis start with the integration harness (a Release build); the rating
   service runs against them. 100 tenants with credit and one platform rate.
2. Rounds, interleaved because this machine is noisy; each round makes N fresh ended,
   answered calls for each side:
   - pgbench: one transaction per call, `SELECT rating_apply(call, rate, 60, 1)` (the
     ledger transfer, the call's update; what the service must do for each call at least),
     -c CLIENTS. Calls/s = pgbench's tps.
   - the service: N call.ended events are XADDed to voepy:events:{p} at once (redis-cli
     --pipe, far faster than rating), the service loads, prices (price.c) and applies them.
     Calls/s = N / (last rated - first rated), from calls.updated_at in SQL.
3. The medians of both, and their ratio (service / pgbench). Every rated call is checked:
   rated exactly once, one call_charge each, and the books balance.

The last line, `bench-rating-json:`, holds the figures as JSON. Exits non-zero when a call
is not rated, or the ratio is below VOEPY_BENCH_MIN_RATIO when that is set.
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("VOEPY_BUILD_DIR", "build-bench")

from harness import Platform, q, wait_until  # noqa: E402


def env_num(name, default, kind=int):
    return kind(os.environ.get(name, default))


CALLS = env_num("VOEPY_BENCH_CALLS", 20000)        # per side per round
ROUNDS = env_num("VOEPY_BENCH_ROUNDS", 3)
CLIENTS = env_num("VOEPY_BENCH_CLIENTS", 8)        # pgbench -c
INFLIGHT = env_num("VOEPY_BENCH_INFLIGHT", 64)     # VOEPY_RATING_MAX_INFLIGHT
PARTITIONS = 4
TENANTS = 100
TARGET_RATIO = 2.0


def make_calls(p, tag, n):
    """n ended calls answered 1-600 s, spread over the tenants; ids voepy_call_<tag>_<i>."""
    p.sql("INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
          " initiated_at, answered_at, ended_at, end_reason)"
          " SELECT 'voepy_call_%s_' || i, 'voepy_tenant_bench' || (i %% %d), 'outbound', 'ended',"
          " '+15125550100', '+1555' || lpad(i::text, 7, '0'), now() - interval '1 hour',"
          " now() - interval '50 minutes', now() - interval '50 minutes'"
          " + (1 + i %% 600) * interval '1 second', 'completed'"
          " FROM generate_series(1, %d) i" % (tag, TENANTS, n))


def fresh_tables(p):
    """Both sides start a round on vacuumed tables: the dead row versions the previous
    round left (every per-call transaction rewrites the revenue account's row) would
    otherwise slow whichever side runs next."""
    p.sql("VACUUM ANALYZE ledger_accounts, ledger_transactions, ledger_entries, calls,"
          " call_reservations")


def pgbench_round(p, tag):
    make_calls(p, tag, CALLS)
    fresh_tables(p)
    seq = "bench_seq_%s" % tag
    p.sql("CREATE SEQUENCE %s" % seq)
    script = os.path.join(p.tmp, "%s.sql" % tag)
    with open(script, "w") as f:
        f.write("SELECT * FROM rating_apply('voepy_call_%s_' || nextval('%s'),"
                " 'voepy_rate_bench', 60, 1);\n" % (tag, seq))
    out = subprocess.run(["pgbench", "-n", "-f", script, "-c", str(CLIENTS), "-j", "2", "-t",
                          str(CALLS // CLIENTS), p.pg_dsn], capture_output=True, text=True,
                         check=True).stdout
    tps = [line for line in out.splitlines() if line.startswith("tps =")]
    return float(tps[-1].split()[2])


def xadd_events(p, tag, n):
    """call.ended envelopes for voepy_call_<tag>_1..n, straight into the streams."""
    lines = []
    for i in range(1, n + 1):
        cid = "voepy_call_%s_%d" % (tag, i)
        body = json.dumps({"id": "voepy_evt_%s_%d" % (tag, i), "type": "call.ended",
                           "tenant_id": "voepy_tenant_bench%d" % (i % TENANTS), "call_id": cid,
                           "created_at": "2026-05-12T14:32:18.000Z", "data": {}})
        args = ["XADD", "voepy:events:%d" % (i % PARTITIONS), "*", "m", body]
        lines.append("*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args))
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(p.redis_port), "--pipe"],
                   input="".join(lines).encode(), check=True, capture_output=True)


def service_round(p, tag):
    make_calls(p, tag, CALLS)
    fresh_tables(p)
    xadd_events(p, tag, CALLS)
    like = q("voepy_call_%s_%%" % tag)
    wait_until(lambda: p.sql("SELECT count(*) FROM calls WHERE id LIKE %s AND rating_status"
                             " <> 'pending'" % like)[0][0] == str(CALLS), 300,
               interval=0.2, what="rating of %s" % tag)
    span = float(p.sql("SELECT extract(epoch FROM max(updated_at) - min(updated_at))"
                       " FROM calls WHERE id LIKE %s" % like)[0][0])
    failed = p.sql("SELECT count(*) FROM calls WHERE id LIKE %s AND rating_status <> 'rated'"
                   % like)[0][0]
    if failed != "0":
        raise AssertionError("%s calls of %s not rated" % (failed, tag))
    return CALLS / max(span, 1e-3)


def check_books(p):
    bad = p.sql("SELECT count(*) FROM (SELECT ref_id FROM ledger_transactions"
                " WHERE kind = 'call_charge' GROUP BY ref_id HAVING count(*) > 1) x")[0][0]
    unbalanced = p.sql("SELECT count(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id"
                       " HAVING sum(amount_cents) <> 0) x")[0][0]
    drift = p.sql("SELECT count(*) FROM (SELECT a.id FROM ledger_accounts a LEFT JOIN"
                  " ledger_entries e ON e.account_id = a.id GROUP BY a.id, a.balance_cents"
                  " HAVING a.balance_cents <> coalesce(sum(e.amount_cents), 0)) x")[0][0]
    if (bad, unbalanced, drift) != ("0", "0", "0"):
        raise AssertionError("books: %s calls charged twice, %s unbalanced, %s drifting"
                             % (bad, unbalanced, drift))


def main():
    p = Platform(services=(), name="bench-rating")
    p.start()
    try:
        p.sql("INSERT INTO tenants (id, name, credit_limit_cents) SELECT"
              " 'voepy_tenant_bench' || i, 'bench', 1000000000000 FROM generate_series(0, %d) i"
              % (TENANTS - 1))
        # as for a tenant made through the API (0010): its balance account exists already
        p.sql("SELECT ledger_account(id, 'tenant_balance') FROM tenants")
        p.sql("SELECT ledger_account(NULL, 'platform_revenue')")
        p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute, initial_increment_s,"
              " subsequent_increment_s) VALUES ('voepy_rate_bench', NULL, '', 1200000, 6, 6)")
        p.start_service("rating", VOEPY_LOG_LEVEL="warn", VOEPY_EVENT_PARTITIONS=PARTITIONS,
                        VOEPY_RATING_MAX_INFLIGHT=INFLIGHT)
        p.wait_ready("rating")
        pg, svc = [], []
        for r in range(ROUNDS):
            pg.append(pgbench_round(p, "pgb%d" % r))
            svc.append(service_round(p, "svc%d" % r))
            print("round %d: pgbench %.0f calls/s, rating service %.0f calls/s"
                  % (r + 1, pg[-1], svc[-1]), flush=True)
        check_books(p)
    finally:
        p.stop()
    pg_m, svc_m = statistics.median(pg), statistics.median(svc)
    ratio = svc_m / pg_m
    print("pgbench (rating_apply, one call per transaction, -c %d): %.0f calls/s" % (CLIENTS, pg_m))
    print("rating service (load + price + apply, max_inflight %d):   %.0f calls/s"
          % (INFLIGHT, svc_m))
    print("ratio service/pgbench: %.2f (target >= %.1f)" % (ratio, TARGET_RATIO))
    print("bench-rating-json: " + json.dumps({
        "calls_per_round": CALLS, "rounds": ROUNDS, "pgbench_calls_per_s": round(pg_m),
        "service_calls_per_s": round(svc_m), "ratio": round(ratio, 3),
        "pgbench_rounds": [round(x) for x in pg], "service_rounds": [round(x) for x in svc]}))
    floor = os.environ.get("VOEPY_BENCH_MIN_RATIO")
    if floor and ratio < float(floor):
        print("ratio %.2f below VOEPY_BENCH_MIN_RATIO %s" % (ratio, floor), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
