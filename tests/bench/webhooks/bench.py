#!/usr/bin/env python3
"""Signed webhook deliveries per second into a local keep-alive receiver, against that
receiver's own ceiling measured with wrk and the same request, in one run.

The receiver is nginx (1 worker, access_log off, keep-alive, keepalive_requests 100000)
answering 204 to every POST. Steps (see README.md):

1. PostgreSQL, Redis and only webhook-dispatcher start with the integration harness (a
   Release build). One real delivery goes to a capturing receiver: its body and headers
   (content-type, user-agent, webhook-id/-timestamp/-signature, ...) are what wrk sends.
2. Rounds, interleaved because this machine is noisy: wrk -> nginx (the ceiling), then the
   dispatcher draining N deliveries pre-loaded in PostgreSQL for an inactive endpoint on
   nginx, released at once by activating it. Deliveries/s = N / (last completed_at - first
   attempt's start), from SQL. CPU time of every process is read from /proc around each
   run: microseconds per request (nginx) and per delivery (dispatcher, postgres, redis,
   nginx).
3. Latency at a fixed rate below the ceiling: events are written with voepy_emit() at a
   steady pace (one transaction every TICK_S), published by the dispatcher's outbox relay,
   fanned out and delivered; p50/p99 of completed_at - events.occurred_at (the whole way)
   and of completed_at - events.published_at (from the stream on).

The receiver (nginx) is pinned to CPU 0, the request source (wrk, or the dispatcher with its
PostgreSQL and Redis) to CPU 1, so each side has one core in both measurements
(VOEPY_BENCH_PIN=none leaves scheduling alone). The last line, `bench-webhooks-json:`,
holds the figures as JSON. With --profile, one more drain runs under `perf record` (where
the dispatcher's and PostgreSQL's time goes). Exits non-zero on a failed delivery, a wrk error, or a ratio
below VOEPY_BENCH_MIN_RATIO when that is set.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("VOEPY_BUILD_DIR", "build-bench")

from harness import Platform, binary, http_request, wait_until  # noqa: E402
from benchlib import PIN, REPORT_LUA, Nginx, children, cpu_seconds, pin, read_pid  # noqa: E402,E501

TARGET_RATIO = 0.5


def env_num(name, default, kind=int):
    return kind(os.environ.get(name, default))


DELIVERIES = env_num("VOEPY_BENCH_DELIVERIES", 20000)   # pre-loaded per round
CONNECTIONS = env_num("VOEPY_BENCH_CONNECTIONS", 64)    # wrk -c = endpoint concurrency
DURATION = env_num("VOEPY_BENCH_DURATION", 5)           # wrk seconds per round
ROUNDS = env_num("VOEPY_BENCH_ROUNDS", 3)
RATE = env_num("VOEPY_BENCH_RATE", 500)                 # events/s for the latency
LAT_S = env_num("VOEPY_BENCH_LATENCY_S", 10)
TICK_S = 0.02
RECV_CPUS, SRC_CPUS = {0}, {1}
TENANT = "voepy_tenant_bench"


def log(msg):
    print("bench-webhooks: %s" % msg, flush=True)


def q(s):
    return "NULL" if s is None else "'" + str(s).replace("'", "''") + "'"


# -- the platform side ----------------------------------------------------------------------
class Bench:
    def __init__(self, p, nginx):
        self.p = p
        self.nginx = nginx
        self.n_endpoints = 0
        self.wrk_runs, self.drains = [], []

    def sql(self, query):
        return self.p.sql(query)

    def endpoint(self, url, active):
        self.n_endpoints += 1
        eid = "voepy_whk_bench%d" % self.n_endpoints
        self.sql("INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, active)"
                 " VALUES (%s, %s, %s, '{*}', %s, %s)"
                 % (q(eid), q(TENANT), q(url), q(self.secret), "true" if active else "false"))
        return eid

    def groups(self):
        """CPU time groups: dispatcher, postgres (postmaster and backends), redis, nginx."""
        pg = read_pid(os.path.join(self.p.pg_dir, "postmaster.pid"))
        return {"dispatcher": [self.p.procs["webhook-dispatcher"].proc.pid],
                "postgres": [pg] + children(pg),
                "redis": [read_pid(os.path.join(self.p.redis_dir, "redis.pid"))],
                "nginx": self.nginx.pids()}

    def pin_all(self):
        g = self.groups()
        pin(g["dispatcher"] + g["postgres"] + g["redis"], SRC_CPUS)
        pin(g["nginx"] + [os.getpid()], RECV_CPUS)

    def cpu(self):
        return {k: cpu_seconds(v) for k, v in self.groups().items()}

    # -- 1. one real delivery: what wrk will send ----------------------------------------------
    def capture(self):
        import base64
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.sql("INSERT INTO tenants (id, name) VALUES (%s, 'bench')" % q(TENANT))
        r = self.p.receiver()
        eid = self.endpoint(r.url, True)
        evt = self.sql("SELECT voepy_emit(%s, 'voepy_call_bench0', 'call.started',"
                       " json_build_object('call_id', 'voepy_call_bench0', 'customer_reference',"
                       " 'order-4711', 'status', 'initiated', 'direction', 'outbound',"
                       " 'from', '+15125550100', 'to', '+15558675309'))" % q(TENANT))[0][0]
        wait_until(lambda: r.requests, 20, what="the first delivery")
        self.sql("UPDATE webhook_endpoints SET active = false WHERE id = %s" % q(eid))
        req = r.requests[0]
        self.body, self.event_id = req["body"], evt
        skip = {"host", "content-length"}  # wrk writes these itself
        self.headers = {k: v for k, v in req["headers"].items() if k not in skip}
        log("a delivery: %d-byte body, headers %s" % (len(self.body), sorted(self.headers)))

    # -- 2a. the receiver's ceiling -------------------------------------------------------------
    def wrk(self, seconds, record=True):
        lua = os.path.join(self.p.tmp, "post.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\n' % lua_str(self.body))
            for k, v in sorted(self.headers.items()):
                f.write("wrk.headers[%s] = %s\n" % (lua_str(k), lua_str(v)))
            with open(REPORT_LUA) as rep:
                f.write(rep.read())
        argv = ["wrk", "-t1", "-c%d" % CONNECTIONS, "-d%ds" % seconds, "--timeout", "5s",
                "-s", lua, self.nginx.url]
        pre = (lambda: os.sched_setaffinity(0, SRC_CPUS)) if PIN else None
        before = self.cpu()
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30,
                             preexec_fn=pre)
        after = self.cpu()
        if out.returncode != 0:
            raise AssertionError("wrk failed: %s %s" % (out.stdout, out.stderr))
        r = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
        errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        if errors:
            raise AssertionError("wrk: %d errors: %s" % (errors, r))
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
        r["nginx_cpu_us"] = 1e6 * (after["nginx"] - before["nginx"]) / max(r["requests"], 1)
        if record:
            self.wrk_runs.append(r)
            log("  wrk -> nginx     %9.0f req/s         p50 %6.3f ms  p99 %6.3f ms  nginx %.1f us/req"
                % (r["rps"], r["p50_us"] / 1000, r["p99_us"] / 1000, r["nginx_cpu_us"]))
        return r

    # -- 2b. the dispatcher draining N deliveries -----------------------------------------------
    def preload(self, n):
        eid = self.endpoint(self.nginx.url, False)
        tag = eid[len("voepy_whk_"):]
        self.sql("INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id,"
                 " event_type, payload) SELECT 'voepy_dlv_' || x.e, %s, %s, 'voepy_evt_' || x.e,"
                 " 'call.started', replace(%s, %s, 'voepy_evt_' || x.e) FROM generate_series(1, %d)"
                 " g, LATERAL (SELECT %s || lpad(g::text, 7, '0') AS e) x"
                 % (q(TENANT), q(eid), q(self.body.decode()), q(self.event_id), n, q(tag)))
        self.sql("VACUUM ANALYZE webhook_deliveries")
        return eid

    def drain(self, n, profiler=None):
        eid = self.preload(n)
        self.pin_all()
        if profiler:
            profiler.start()
        before = self.cpu()
        t0 = time.time()
        self.sql("UPDATE webhook_endpoints SET active = true WHERE id = %s" % q(eid))

        def done():
            return self.sql("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s"
                            " AND status = 'pending'" % q(eid))[0][0] == "0"
        wait_until(done, 30 + n / 200, interval=0.25, what="%d deliveries drained" % n)
        after = self.cpu()
        if profiler:
            profiler.stop()
        wall = time.time() - t0
        self.sql("UPDATE webhook_endpoints SET active = false WHERE id = %s" % q(eid))
        ok, first, last, attempts = self.sql(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'),"
            " extract(epoch FROM (SELECT min(a.attempted_at - a.duration_ms * interval '1 ms')"
            "   FROM webhook_attempts a JOIN webhook_deliveries x ON x.id = a.delivery_id"
            "  WHERE x.endpoint_id = %s)),"
            " extract(epoch FROM max(completed_at)), sum(attempts)"
            " FROM webhook_deliveries WHERE endpoint_id = %s" % (q(eid), q(eid)))[0]
        if int(ok) != n:
            raise AssertionError("only %s of %d deliveries succeeded" % (ok, n))
        span = float(last) - float(first)
        d = {"deliveries": n, "attempts": int(attempts), "seconds": span, "rps": n / span,
             "wall_s": wall,
             "cpu_us": {k: 1e6 * (after[k] - before[k]) / n for k in after}}
        self.drains.append(d)
        c = d["cpu_us"]
        log("  dispatcher       %9.0f deliveries/s  (%d in %.2f s)  CPU/delivery: dispatcher"
            " %.1f + postgres %.1f + redis %.1f us; nginx %.1f us"
            % (d["rps"], n, span, c["dispatcher"], c["postgres"], c["redis"], c["nginx"]))
        return d

    # -- 3. latency at a fixed rate ---------------------------------------------------------------
    def latency(self, rate, seconds):
        eid = self.endpoint(self.nginx.url, True)
        per_tick = max(1, round(rate * TICK_S))
        tick = per_tick / rate
        psql = subprocess.Popen(["psql", self.p.pg_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.pin_all()
        pin([psql.pid], RECV_CPUS)
        before = self.cpu()
        start = time.monotonic()
        sent = 0
        first_seq = int(self.sql("SELECT coalesce(max(seq), 0) FROM events")[0][0])
        while time.monotonic() - start < seconds:
            psql.stdin.write(
                "SELECT count(voepy_emit(%s, c, 'call.started', json_build_object('call_id', c,"
                " 'customer_reference', 'order-' || g, 'status', 'initiated'))) FROM"
                " generate_series(%d, %d) g, LATERAL (SELECT 'voepy_call_lat' || g AS c) x;\n"
                % (q(TENANT), sent + 1, sent + per_tick))
            psql.stdin.flush()
            sent += per_tick
            time.sleep(max(0.0, start + (sent / per_tick) * tick - time.monotonic()))
        psql.stdin.close()
        psql.wait(30)
        emit_s = time.monotonic() - start

        def done():
            return self.sql("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = %s"
                            " AND status = 'succeeded'" % q(eid))[0][0] == str(sent)
        wait_until(done, 30, interval=0.25, what="%d deliveries at a fixed rate" % sent)
        after = self.cpu()
        row = self.sql(
            "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY"
            "   extract(epoch FROM d.completed_at - e.occurred_at)),"
            " percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY"
            "   extract(epoch FROM d.completed_at - e.published_at)),"
            " max(extract(epoch FROM d.completed_at - e.occurred_at)), count(*)"
            " FROM webhook_deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.endpoint_id = %s AND e.seq > %d" % (q(eid), first_seq))[0]
        whole = [1000 * float(x) for x in row[0].strip("{}").split(",")]
        stream = [1000 * float(x) for x in row[1].strip("{}").split(",")]
        res = {"rate": sent / emit_s, "events": sent, "p50_ms": whole[0], "p99_ms": whole[1],
               "max_ms": 1000 * float(row[2]), "from_stream_p50_ms": stream[0],
               "from_stream_p99_ms": stream[1],
               "cpu_us": {k: 1e6 * (after[k] - before[k]) / sent for k in after}}
        log("  %d events at %.0f/s: event -> delivered p50 %.1f ms, p99 %.1f ms (max %.1f);"
            " published -> delivered p50 %.1f ms, p99 %.1f ms"
            % (sent, res["rate"], whole[0], whole[1], res["max_ms"], stream[0], stream[1]))
        c = res["cpu_us"]
        log("  CPU per event at that rate: dispatcher %.1f + postgres %.1f + redis %.1f us;"
            " nginx %.1f us" % (c["dispatcher"], c["postgres"], c["redis"], c["nginx"]))
        return res


class Profiler:
    """perf cpu-clock samples (a software event: this VM has no hardware counters) of the
    request source's CPU during one drain, with call graphs; reports by process and by
    symbol go to VOEPY_BENCH_PROFILE_DIR (default /tmp/voepy-bench-webhooks-profile)."""

    def __init__(self, b):
        self.b = b
        self.dir = os.environ.get("VOEPY_BENCH_PROFILE_DIR", "/tmp/voepy-bench-webhooks-profile")
        os.makedirs(self.dir, exist_ok=True)
        self.data = os.path.join(self.dir, "perf.data")

    def start(self):
        # time per PL/pgSQL function (wh_claim, wh_record, ...) over the drain
        self.b.sql("ALTER SYSTEM SET track_functions = 'pl'")
        self.b.sql("SELECT pg_reload_conf()")
        time.sleep(0.2)
        self.b.sql("SELECT pg_stat_reset()")
        cpus = ",".join(str(c) for c in sorted(SRC_CPUS)) if PIN else None
        argv = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2999", "-g", "-o", self.data]
        argv += ["-C", cpus] if cpus else ["-a"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise AssertionError("perf record: %s" % self.proc.stderr.read().decode())

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)

    def report(self):
        def rep(name, *args, limit="0.7"):
            out = subprocess.run(["perf", "report", "-i", self.data, "--stdio", "-q",
                                  "--no-children", "--percent-limit", limit] + list(args),
                                 capture_output=True, text=True, timeout=120).stdout
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(out)
            return out
        log("profile: samples by process (CPU %s):" % (sorted(SRC_CPUS) if PIN else "all"))
        for line in rep("by-process.txt", "--sort", "comm", "-g", "none").splitlines()[:8]:
            log("    " + line.strip())
        for comm in ("voepy-webhook-d", "postgres"):
            log("profile: %s, top symbols (self, %% of all samples):" % comm)
            out = rep("symbols-%s.txt" % comm, "--comm", comm, "--sort", "dso,sym", "-g", "none",
                      limit="0.2")
            for line in out.splitlines()[:22]:
                log("    " + line.strip())
        log("profile: PostgreSQL time per function during the drain (ms total, calls, ms/call):")
        for name, calls, total, own in self.b.sql(
                "SELECT funcname, calls, round(total_time::numeric, 1), round(self_time::numeric, 1)"
                " FROM pg_stat_user_functions ORDER BY total_time DESC LIMIT 8"):
            log("    %-22s total %9s ms  self %9s ms  calls %7s  %.3f ms/call"
                % (name, total, own, calls, float(total) / max(int(calls), 1)))
        rep("callgraph-dispatcher.txt", "--comm", "voepy-webhook-d", "--sort", "sym",
            "-g", "caller,0.5,callee", "--children")
        log("profile: reports and perf.data in %s" % self.dir)


def lua_str(s):
    """A Lua string literal for s (bytes or str): printable ASCII as is, the rest \\ddd."""
    b = s if isinstance(s, bytes) else s.encode()
    out = []
    for c in b:
        if 32 <= c < 127 and c not in (34, 92):
            out.append(chr(c))
        else:
            out.append("\\%03d" % c)
    return '"' + "".join(out) + '"'


def med(xs):
    return statistics.median(xs)


def report(b, lat):
    ceiling = med([r["rps"] for r in b.wrk_runs])
    rate = med([d["rps"] for d in b.drains])
    ratio = rate / ceiling
    cpu = {k: med([d["cpu_us"][k] for d in b.drains]) for k in b.drains[0]["cpu_us"]}
    ngx = med([r["nginx_cpu_us"] for r in b.wrk_runs])
    log("RESULT (median of %d rounds, %d-byte body, %d connections / endpoint concurrency):"
        % (ROUNDS, len(b.body), CONNECTIONS))
    log("  nginx ceiling (wrk)    %9.0f req/s   nginx CPU %.1f us/request" % (ceiling, ngx))
    log("  dispatcher -> nginx    %9.0f deliveries/s   CPU/delivery: dispatcher %.1f +"
        " postgres %.1f + redis %.1f us (nginx %.1f us)"
        % (rate, cpu["dispatcher"], cpu["postgres"], cpu["redis"], cpu["nginx"]))
    log("  ratio dispatcher/nginx = %.3f (target >= %.1f: %s)"
        % (ratio, TARGET_RATIO, "met" if ratio >= TARGET_RATIO else "NOT met"))
    log("  latency at %.0f events/s: p50 %.1f ms, p99 %.1f ms (event -> delivered);"
        " p50 %.1f ms, p99 %.1f ms (published -> delivered)"
        % (lat["rate"], lat["p50_ms"], lat["p99_ms"], lat["from_stream_p50_ms"],
           lat["from_stream_p99_ms"]))
    result = {"nginx_rps": round(ceiling), "dispatcher_rps": round(rate),
              "ratio": round(ratio, 4), "cpu_us_per_delivery": cpu, "nginx_cpu_us_per_req": ngx,
              "latency": lat, "wrk_runs": b.wrk_runs, "drains": b.drains,
              "body_bytes": len(b.body), "connections": CONNECTIONS, "rounds": ROUNDS,
              "pinned": PIN}
    print("bench-webhooks-json: " + json.dumps(result), flush=True)
    return result


def run(profile):
    env = {"VOEPY_LOG_LEVEL": os.environ.get("VOEPY_BENCH_LOG_LEVEL", "warn"),
           "VOEPY_WEBHOOK_ENDPOINT_CONCURRENCY": str(CONNECTIONS),
           "VOEPY_WEBHOOK_CONCURRENCY": str(max(256, 2 * CONNECTIONS)),
           "VOEPY_WEBHOOK_POLL_MS": "50",
           "VOEPY_WEBHOOK_TIMEOUT_MS": "5000"}
    p = Platform(services=("webhook-dispatcher",), env=env, name="bench-wh")
    nginx = None
    try:
        p.start()
        nginx = Nginx(p.tmp, "location / { return 204; }",
                      lambda port: http_request("127.0.0.1", port, "POST", "/hooks", b"{}")[0] == 204)
        nginx.url = "http://127.0.0.1:%d/hooks" % nginx.port
        b = Bench(p, nginx)
        b.capture()
        b.pin_all()
        log("nginx pinned to CPU %s; wrk / dispatcher+postgres+redis to CPU %s"
            % (sorted(RECV_CPUS) if PIN else "any", sorted(SRC_CPUS) if PIN else "any"))
        b.wrk(2, record=False)  # warm-up
        b.drain(min(2000, DELIVERIES))
        b.drains.clear()
        for i in range(ROUNDS):
            log("round %d/%d" % (i + 1, ROUNDS))
            b.wrk(DURATION)
            b.drain(DELIVERIES)
        rate = RATE
        log("latency: %d s at %.0f events/s (voepy_emit -> relay -> stream -> fan-out ->"
            " delivery)" % (LAT_S, rate))
        lat = b.latency(rate, LAT_S)
        result = report(b, lat)
        if profile:
            log("profile: one more drain of %d deliveries under perf" % DELIVERIES)
            prof = Profiler(b)
            b.drain(DELIVERIES, prof)
            prof.report()
        return result
    finally:
        if nginx:
            nginx.stop()
        p.stop()


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("bench-webhooks: terminated"))
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit("bench-webhooks: %s not installed (tests/bench/webhooks/run.sh installs it)"
                     % tool)
    binary("webhook-dispatcher")
    result = run("--profile" in sys.argv[1:])
    want = os.environ.get("VOEPY_BENCH_MIN_RATIO")
    if want and result["ratio"] < float(want):
        sys.exit("bench-webhooks: ratio %.3f below VOEPY_BENCH_MIN_RATIO %s"
                 % (result["ratio"], want))


if __name__ == "__main__":
    main()
