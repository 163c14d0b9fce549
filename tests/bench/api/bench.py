#!/usr/bin/env python3
"""GET /v1/calls/{id} on api-gateway against nginx serving the same bytes, in one run.

Starts PostgreSQL, Redis and only api-gateway with the integration harness, makes a tenant
with a real call row, writes that call's exact JSON body as a static file, starts nginx
(1 worker, access_log off, keep-alive) on loopback as an unprivileged user, then runs the
same wrk command against both, interleaved (gateway, nginx, gateway, nginx, ...) because
this machine is noisy, and prints req/s, p50/p99 latency, CPU per request and the ratio
gateway/nginx (medians over the rounds).

The system under test (gateway + its PostgreSQL and Redis, or nginx) is pinned to CPU 0 and
wrk to CPU 1 (VOEPY_BENCH_PIN=none leaves scheduling alone). Exits non-zero when a run saw
socket errors or non-2xx answers (the numbers would be meaningless), or when the ratio is
below VOEPY_BENCH_MIN_RATIO if that is set. With --profile, afterwards profiles the gateway
serving the same request (callgrind; plus perf cpu-clock sampling of CPU 0 when perf works).

Environment (defaults in brackets): VOEPY_BUILD_DIR [build-bench], VOEPY_BENCH_THREADS [1],
VOEPY_BENCH_CONNECTIONS [32], VOEPY_BENCH_DURATION [10] seconds, VOEPY_BENCH_WARMUP [3]
seconds, VOEPY_BENCH_ROUNDS [3], VOEPY_BENCH_LOG_LEVEL [warn: no per-request log line, as
nginx has access_log off], VOEPY_BENCH_PIN [sut], VOEPY_BENCH_MIN_RATIO [none].
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("VOEPY_BUILD_DIR", "build-bench")

from harness import Platform, binary, http_request  # noqa: E402
from benchlib import PIN, REPORT_LUA, Nginx, children, cpu_seconds, pin, read_pid  # noqa: E402,E501

TARGET_RATIO = 0.6


def env_int(name, default):
    return int(os.environ.get(name, default))


THREADS = env_int("VOEPY_BENCH_THREADS", 1)
CONNECTIONS = env_int("VOEPY_BENCH_CONNECTIONS", 32)
DURATION = env_int("VOEPY_BENCH_DURATION", 10)
WARMUP = env_int("VOEPY_BENCH_WARMUP", 3)
ROUNDS = env_int("VOEPY_BENCH_ROUNDS", 3)
SUT_CPUS, LOAD_CPUS = {0}, {1}


def log(msg):
    print("bench-api: %s" % msg, flush=True)


class Target:
    """Something wrk hits: its URL and the processes whose CPU time counts for it."""

    def __init__(self, name, port, path, pids_fn):
        self.name = name
        self.url = "http://127.0.0.1:%d%s" % (port, path)
        self.pids_fn = pids_fn
        self.runs = []


# -- the platform side ----------------------------------------------------------------------
def make_call(p):
    """A tenant (route, number, credit) and one real outbound call; returns (key, call_id,
    tenant_id). Only the gateway runs, so the call stays "initiated"."""
    route = p.create_route("sip:127.0.0.1:5999", name="bench trunk")
    created = p.create_tenant("bench", default_route_id=route["id"])
    tenant, key = created["tenant"], created["api_key"]
    number = "+15125550100"
    st, _, raw, _ = p.admin("POST", "/admin/v1/numbers", {"numbers": [number]})
    assert st == 201, (st, raw)
    st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": number}, key=key)
    assert st == 201, (st, raw)
    st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % tenant["id"],
                            {"amount_cents": 100000})
    assert st == 200, (st, raw)
    st, call, raw, _ = p.api("POST", "/v1/calls", {"from": number, "to": "+15558675309"},
                             key=key)
    assert st == 201, (st, raw)
    return key, call["id"], tenant["id"]


def lift_rate_limit(p, tenant_id):
    """The tenant's API rate limit (100 requests/s by default) would turn the bench into
    429s: raise it to the most the operator API allows."""
    st, _, raw, _ = p.admin("PATCH", "/admin/v1/tenants/%s" % tenant_id,
                            {"api_requests_per_second": 100000})
    if st != 200:
        raise AssertionError("PATCH tenant: %d %s" % (st, raw))
    log("tenant rate limit raised to 100000 requests/s")


def platform_pids(p):
    """The gateway, and PostgreSQL's and Redis's processes that serve it."""
    gw = p.procs["api-gateway"].proc.pid
    pg = read_pid(os.path.join(p.pg_dir, "postmaster.pid"))
    redis = read_pid(os.path.join(p.redis_dir, "redis.pid"))
    return [gw], [pg] + children(pg), [redis]


# -- wrk --------------------------------------------------------------------------------------
def wrk(url, key, seconds, connections=None, threads=None):
    argv = ["wrk", "-t%d" % (threads or THREADS), "-c%d" % (connections or CONNECTIONS),
            "-d%ds" % seconds, "--timeout", "5s", "-s", REPORT_LUA,
            "-H", "Authorization: Bearer %s" % key, url]
    pre = (lambda: os.sched_setaffinity(0, LOAD_CPUS)) if PIN else None
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30,
                         preexec_fn=pre)
    if out.returncode != 0:
        raise AssertionError("wrk failed: %s %s" % (out.stdout, out.stderr))
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def measure(t, key, groups):
    """One measured wrk run on t; CPU seconds of each process group over the run."""
    before = [cpu_seconds(g()) for g in groups]
    r = wrk(t.url, key, DURATION)
    after = [cpu_seconds(g()) for g in groups]
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    if errors:
        raise AssertionError("%s: %d errors in the run (non-2xx %d, timeouts %d): %s"
                             % (t.name, errors, r["status"], r["timeout"], r))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["cpu_us_per_req"] = [1e6 * (a - b) / max(r["requests"], 1) for a, b in zip(after, before)]
    t.runs.append(r)
    log("  %-8s %9.0f req/s  p50 %6.3f ms  p99 %6.3f ms  CPU/req %s" % (
        t.name, r["rps"], r["p50_us"] / 1000, r["p99_us"] / 1000,
        " + ".join("%.1f us" % c for c in r["cpu_us_per_req"])))


def summary(t):
    med = lambda k: statistics.median(r[k] for r in t.runs)  # noqa: E731
    cpu = [statistics.median(r["cpu_us_per_req"][i] for r in t.runs)
           for i in range(len(t.runs[0]["cpu_us_per_req"]))]
    return {"rps": med("rps"), "p50_ms": med("p50_us") / 1000, "p99_ms": med("p99_us") / 1000,
            "cpu_us_per_req": cpu}


def check_same_body(p, key, path, nginx):
    st, _, gw_body, gw_h = p.api("GET", path, key=key)
    assert st == 200, (st, gw_body)
    st, ng_h, ng_body = http_request("127.0.0.1", nginx.port, "GET", path)
    assert st == 200 and ng_body == gw_body, "nginx does not serve the gateway's bytes"
    assert ng_h.get("content-type") == "application/json", ng_h
    log("body: %d bytes, Content-Type %s (gateway) / %s (nginx)"
        % (len(gw_body), gw_h.get("content-type"), ng_h.get("content-type")))
    return gw_body


def run(profile):
    env = {"VOEPY_LOG_LEVEL": os.environ.get("VOEPY_BENCH_LOG_LEVEL", "warn")}
    p = Platform(services=("api-gateway",), env=env, name="bench")
    nginx = None
    try:
        p.start()
        key, call_id, tenant_id = make_call(p)
        lift_rate_limit(p, tenant_id)
        path = "/v1/calls/%s" % call_id
        nginx = Nginx(p.tmp, "root {d}/www;",
                      lambda port: http_request("127.0.0.1", port, "GET", path)[0] == 200,
                      {path: p.api("GET", path, key=key)[2]})
        body = check_same_body(p, key, path, nginx)
        gw_pids, pg_pids, redis_pids = platform_pids(p)
        gateway = Target("gateway", p.api_port, path, None)
        ngx = Target("nginx", nginx.port, path, None)
        gw_groups = [lambda: gw_pids, lambda: platform_pids(p)[1], lambda: redis_pids]
        ng_groups = [nginx.pids]

        def pin_all():
            g, pg, rd = platform_pids(p)
            pin(g + pg + rd + nginx.pids(), SUT_CPUS)

        pin_all()
        log("wrk -t%d -c%d -d%ds, %d rounds, SUT on CPU %s, wrk on CPU %s" % (
            THREADS, CONNECTIONS, DURATION, ROUNDS, sorted(SUT_CPUS) if PIN else "any",
            sorted(LOAD_CPUS) if PIN else "any"))
        for t in (gateway, ngx):
            wrk(t.url, key, WARMUP)
        pin_all()  # connections the warm-up made PostgreSQL fork
        log("CPU/req columns: gateway = gateway + postgres + redis; nginx = master + worker")
        for i in range(ROUNDS):
            log("round %d/%d" % (i + 1, ROUNDS))
            measure(gateway, key, gw_groups)
            measure(ngx, key, ng_groups)
        result = report(gateway, ngx, len(body))
        if profile:
            import profile_gw
            profile_gw.run(p, key, path, pin_all, wrk, log)
        return result
    finally:
        if nginx:
            nginx.stop()
        p.stop()


def report(gateway, ngx, nbytes):
    g, n = summary(gateway), summary(ngx)
    ratio = g["rps"] / n["rps"]
    log("RESULT (median of %d rounds, %d-byte body):" % (ROUNDS, nbytes))
    for name, s in (("gateway", g), ("nginx", n)):
        log("  %-8s %9.0f req/s  p50 %6.3f ms  p99 %6.3f ms  CPU/req %s" % (
            name, s["rps"], s["p50_ms"], s["p99_ms"],
            " + ".join("%.1f us" % c for c in s["cpu_us_per_req"])))
    log("  ratio gateway/nginx = %.3f (target >= %.1f: %s)" % (
        ratio, TARGET_RATIO, "met" if ratio >= TARGET_RATIO else "NOT met"))
    result = {"gateway": g, "nginx": n, "ratio": round(ratio, 4), "body_bytes": nbytes,
              "wrk": "-t%d -c%d -d%ds" % (THREADS, CONNECTIONS, DURATION), "rounds": ROUNDS,
              "pinned": PIN}
    print("bench-api-json: " + json.dumps(result), flush=True)
    return result


def main():
    profile = "--profile" in sys.argv[1:]
    # SIGTERM (e.g. from timeout(1)) unwinds through the finally blocks: nothing is left.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("bench-api: terminated"))
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit("bench-api: %s not installed (tests/bench/api/run.sh installs it)" % tool)
    binary("api-gateway")
    result = run(profile)
    want = os.environ.get("VOEPY_BENCH_MIN_RATIO")
    if want and result["ratio"] < float(want):
        sys.exit("bench-api: ratio %.3f below VOEPY_BENCH_MIN_RATIO %s" % (result["ratio"], want))


if __name__ == "__main__":
    main()
