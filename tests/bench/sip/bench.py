#!/usr/bin/env python3
"""Call setup rate through voepy against Kamailio and against SIPp direct, in one run
(issue 4; see README.md).

Three paths, each with its own SIPp uas as the far end and a fresh SIPp uac per step:
  direct   uac -> uas
  kamailio uac -> Kamailio 5.6 stateful proxy (tm + rr + sl, record_route, t_relay;
           kamailio.cfg here; `-x tlsf -m 2048` as BENCH-NOTES.md says) -> uas
  voepy    uac -> call-control, to a relay number of a tenant (relay_enabled, forward_to
           an E.164 number on the tenant's default route) -> forwarded child call -> uas:
           two calls, two media legs, the inbound answered when the child answers, both
           bridged, BYE carried across, both rated.

The rate ramps (RATES calls/s, STEP_S seconds each, calls of HOLD_MS); the three paths
take turns at each rate. A step passes when both SIPps saw no failed call,
retransmissions stayed under 1 % of calls and the uac made at least 97 % of the calls it
was asked for in time; a step that fails is tried once more. A path's ceiling is its last
passing rate. The system under test runs on core 0, the SIPps on core 1 (benchlib.pin).

Also printed: CPU seconds of the system under test per call at FIXED_CPS (every process
of voepy including PostgreSQL and Redis; Kamailio's processes), the figure the noisy
machine blurs least. The last line, `bench-sip-json:`, holds everything as JSON.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("VOEPY_BUILD_DIR", "build-bench")

import benchlib  # noqa: E402
from harness import Platform, free_port, wait_until  # noqa: E402


def env_list(name, default):
    return [int(x) for x in os.environ.get(name, default).split(",")]


RATES = env_list("VOEPY_BENCH_SIP_RATES", "50,100,200,300,400,600,800,1000,1300,1600,2000,2500,3000")
STEP_S = float(os.environ.get("VOEPY_BENCH_SIP_STEP_S", "4"))
HOLD_MS = int(os.environ.get("VOEPY_BENCH_SIP_HOLD_MS", "500"))
FIXED_CPS = int(os.environ.get("VOEPY_BENCH_SIP_FIXED_CPS", "200"))
PATHS = os.environ.get("VOEPY_BENCH_SIP_PATHS", "direct,kamailio,voepy").split(",")
# Also count, over voepy's step at FIXED_CPS, each service's statements per forwarded call
# (voepy_pg_queries_total), PostgreSQL's commits per call and the SQL functions run per
# call (pg_stat_user_functions with track_functions = all). Off by default: it waits for
# the statistics and the function timing costs CPU (README.md).
PG_STATS = os.environ.get("VOEPY_BENCH_SIP_PG_STATS", "") not in ("", "0")
PG_STATS_FLUSH_S = 11  # an idle backend reports its statistics within 10 s (PostgreSQL 15)
TARGET_RATIO = 0.5
SUT_CPUS, GEN_CPUS = {0}, {1}
DID = "+15125550100"
FORWARD_TO = "+15125550200"
SIPP_BUF = ["-buff_size", "4194304"]


def sipp_stats(path):
    """The last line of a SIPp -trace_stat CSV, as {column: value}."""
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    head, last = lines[0].split(";"), lines[-1].split(";")
    return dict(zip(head, last))


class Uas:
    """A SIPp uas that answers every call (built-in scenario), on core 1."""

    def __init__(self, tmp, name):
        self.port, self.mport = free_port(), free_port()
        self.stat = os.path.join(tmp, "%s-uas.csv" % name)
        self.log = open(os.path.join(tmp, "%s-uas.log" % name), "wb")
        self.proc = subprocess.Popen(
            ["sipp", "-sf", os.path.join(HERE, "uas.xml"), "-i", "127.0.0.1", "-p", str(self.port), "-mp",
             str(self.mport), "-nostdin", "-trace_stat", "-stf", self.stat, "-fd", "1"]
            + SIPP_BUF, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)
        time.sleep(0.3)
        benchlib.pin([self.proc.pid], GEN_CPUS)

    def counters(self):
        s = sipp_stats(self.stat) if os.path.exists(self.stat) else {}
        return {k: int(s.get(k, 0)) for k in ("FailedCall(C)", "Retransmissions(C)",
                                             "IncomingCall(C)")}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_uac(tmp, name, target, rate, ruri_user=None):
    """One step: rate calls/s for STEP_S seconds. Returns the uac's figures."""
    calls = max(1, int(rate * STEP_S))
    stat = os.path.join(tmp, "%s-uac-%d-%f.csv" % (name, rate, time.time()))
    argv = ["sipp", "-sf", os.path.join(HERE, "uac.xml"), target, "-i", "127.0.0.1", "-p", str(free_port()),
            "-mp", str(free_port()), "-r", str(rate), "-m", str(calls), "-d", str(HOLD_MS),
            "-l", str(max(100, rate * 4)), "-nostdin", "-trace_stat", "-stf", stat,
            "-fd", "60", "-trace_err", "-error_file", stat + ".errors", "-timeout", str(int(STEP_S * 3 + 15)), "-recv_timeout", "8000"] + SIPP_BUF
    argv += ["-s", ruri_user or "service"]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    benchlib.pin([proc.pid], GEN_CPUS)
    proc.wait()
    elapsed = time.monotonic() - start
    s = sipp_stats(stat) if os.path.exists(stat) else {}
    out = {k: int(s.get(k, 0)) for k in ("OutgoingCall(C)", "SuccessfulCall(C)",
                                         "FailedCall(C)", "Retransmissions(C)")}
    out.update(calls=calls, elapsed=elapsed, rc=proc.returncode)
    return out


class Path:
    def __init__(self, name, tmp):
        self.name, self.tmp = name, tmp
        self.ceiling, self.failed_at, self.steps = 0, None, []
        self.cpu_per_call, self.breakdown = None, {}
        self.uas = Uas(tmp, name)

    def sut_pids(self):
        return []

    def sut_named(self):
        """The system under test's processes by part, for the per-call CPU breakdown."""
        return {}

    def step(self, rate):
        """Run one step (tried twice when it fails); records and returns whether it passed."""
        for attempt in (1, 2):
            if rate == FIXED_CPS:
                self.reset_stats()
            before_uas = self.uas.counters()
            named0 = {k: benchlib.cpu_seconds(v) for k, v in self.sut_named().items()}
            cpu0 = benchlib.cpu_seconds(self.sut_pids())
            u = run_uac(self.tmp, self.name, self.target(), rate, self.ruri_user())
            time.sleep(HOLD_MS / 1000 + 0.5)  # the last calls' BYEs
            cpu1 = benchlib.cpu_seconds(self.sut_pids())
            after_uas = self.uas.counters()
            failed = u["FailedCall(C)"] + after_uas["FailedCall(C)"] - before_uas["FailedCall(C)"]
            retrans = u["Retransmissions(C)"] + after_uas["Retransmissions(C)"] - \
                before_uas["Retransmissions(C)"]
            made = u["SuccessfulCall(C)"]
            in_time = u["elapsed"] <= STEP_S / 0.97 + HOLD_MS / 1000 + 2
            ok = failed == 0 and made >= 0.97 * u["calls"] and retrans <= 0.01 * u["calls"] \
                and in_time and u["rc"] == 0
            rec = {"rate": rate, "attempt": attempt, "ok": ok, "calls": u["calls"], "made": made,
                   "failed": failed, "retrans": retrans, "elapsed": round(u["elapsed"], 2),
                   "sut_cpu_s": round(cpu1 - cpu0, 3)}
            self.steps.append(rec)
            print("  %-8s %5d cps: %s (made %d/%d, failed %d, retrans %d, %.1f s, SUT CPU %.2f s)"
                  % (self.name, rate, "pass" if ok else "FAIL", made, u["calls"], failed, retrans,
                     u["elapsed"], cpu1 - cpu0), flush=True)
            if rate == FIXED_CPS and ok and made:
                self.read_stats(made)
            if rate == FIXED_CPS and ok and made and self.sut_pids():
                self.cpu_per_call = (cpu1 - cpu0) / made
                self.breakdown = {k: round((benchlib.cpu_seconds(v) - named0[k]) * 1000 / made, 3)
                                  for k, v in self.sut_named().items()}
            if ok:
                self.ceiling = rate
                return True
        self.failed_at = rate
        return False

    def ruri_user(self):
        return None

    def reset_stats(self):
        """Before the step at FIXED_CPS: zero the counters read_stats reads (voepy)."""

    def read_stats(self, made):
        """After a passing step at FIXED_CPS of made calls: record the counters per call."""

    def stop(self):
        self.uas.stop()


class Direct(Path):
    def target(self):
        return "127.0.0.1:%d" % self.uas.port


KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


class Kamailio(Path):
    def __init__(self, tmp):
        super().__init__("kamailio", tmp)
        self.port = free_port()
        d = os.path.join(tmp, "kamailio")
        os.makedirs(d)
        with open(os.path.join(HERE, "kamailio.cfg")) as f:
            cfg = f.read()
        cfg = cfg.replace("@PORT@", str(self.port)).replace("@UAS@", str(self.uas.port)) \
            .replace("@MODULES@", KAMAILIO_MODULES)
        conf = os.path.join(d, "kamailio.cfg")
        with open(conf, "w") as f:
            f.write(cfg)
        self.log = open(os.path.join(d, "kamailio.log"), "wb")
        self.proc = subprocess.Popen(
            ["kamailio", "-f", conf, "-DD", "-E", "-x", "tlsf", "-m", "2048", "-M", "64",
             "-P", os.path.join(d, "kamailio.pid"), "-Y", d],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and os.path.exists(
            os.path.join(d, "kamailio.pid")), 10, what="kamailio")
        time.sleep(0.5)
        benchlib.pin(self.sut_pids(), SUT_CPUS)

    def sut_pids(self):
        return [self.proc.pid] + benchlib.children(self.proc.pid)

    def target(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        super().stop()


class Voepy(Path):
    def __init__(self, tmp):
        super().__init__("voepy", tmp)
        # No OPTIONS keep-alives to the trunk: SIPp's uas takes an OPTIONS for a call that
        # does not follow its scenario and counts it failed, which failed the first step
        # of a run now and then (one failed call, made all); Kamailio's path has none.
        self.p = Platform(name="bench-sip", env={
            "VOEPY_LOG_LEVEL": "warn", "VOEPY_RTP_PORT_MIN": "20000",
            "VOEPY_RTP_PORT_MAX": "31999", "VOEPY_ROUTE_OPTIONS_MS": "0"})
        self.p.start()
        p = self.p
        route = p.create_route("sip:127.0.0.1:%d" % self.uas.port, name="bench trunk")
        created = p.create_tenant("bench-sip", default_route_id=route["id"],
                                  calls_per_second=10000, max_concurrent_calls=100000)
        key = created["api_key"]
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers", {"numbers": [DID], "route_id": route["id"]})
        assert st == 201, raw
        for kind in ("inbound", "outbound"):
            st, _, raw, _ = p.admin("POST", "/admin/v1/rates",
                                    {"prefix": "1", "kind": kind, "cents_per_minute": 1})
            assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % created["tenant"]["id"],
                                {"amount_cents": 100000000})
        assert st in (200, 201), raw
        st, num, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": DID}, key=key)
        assert st == 201, raw
        st, _, raw, _ = p.api("PATCH", "/v1/phone_numbers/%s" % num["id"],
                              {"forward_to": FORWARD_TO, "relay_enabled": True}, key=key)
        assert st == 200, raw
        benchlib.pin(self.sut_pids(), SUT_CPUS)
        self.functions, self.commits, self.statements = {}, None, {}
        if PG_STATS:
            p.sql("ALTER SYSTEM SET track_functions = 'all'")
            p.sql("SELECT pg_reload_conf()")

    def reset_stats(self):
        if not PG_STATS:
            return
        time.sleep(PG_STATS_FLUSH_S)  # what the setup's statements still hold
        self.p.sql("SELECT pg_stat_reset()")
        self.xact0 = self.xact_commit()
        self.queries0 = self.queries()

    def queries(self):
        """Each service's PostgreSQL statements so far (its pools' voepy_pg_queries_total)."""
        out = {}
        for name in self.p.procs:
            try:
                st, _, body = self.p.ops(name, "/metrics")
            except OSError:
                continue
            if st != 200:
                continue
            out[name] = sum(float(ln.rsplit(" ", 1)[1]) for ln in body.decode().splitlines()
                            if ln.startswith("voepy_pg_queries_total{"))
        return out

    def xact_commit(self):
        return int(self.p.sql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'voepy'")[0][0])

    def read_stats(self, made):
        if not PG_STATS:
            return
        time.sleep(PG_STATS_FLUSH_S)
        # the two SELECTs above and below are psql's own commits: negligible
        self.commits = round((self.xact_commit() - self.xact0) / made, 2)
        q1 = self.queries()
        self.statements = {k: round((q1[k] - self.queries0.get(k, 0)) / made, 2) for k in q1}
        print("  voepy statements per call by service: %s" % ", ".join(
            "%s %.2f" % kv for kv in sorted(self.statements.items(), key=lambda kv: -kv[1])),
            flush=True)
        # overloads (cc_call_ended of 0020 and 0039) by name/number of arguments
        rows = self.p.sql("SELECT f.funcname || CASE WHEN count(*) OVER (PARTITION BY f.funcname) > 1 "
                          "THEN '/' || p.pronargs ELSE '' END, f.calls, round(f.self_time::numeric, 3) "
                          "FROM pg_stat_user_functions f JOIN pg_proc p ON p.oid = f.funcid "
                          "ORDER BY f.calls DESC, 1")
        self.functions = {r[0]: {"calls_per_call": round(int(r[1]) / made, 2),
                                 "self_ms_per_call": round(float(r[2]) / made, 3)} for r in rows}
        print("  voepy SQL at %d cps over %d calls: %.2f commits per call; functions per call:"
              % (FIXED_CPS, made, self.commits), flush=True)
        for name, f in self.functions.items():
            print("    %-36s %6.2f calls  %7.3f ms self" % (name, f["calls_per_call"],
                                                           f["self_ms_per_call"]), flush=True)

    def sut_named(self):
        named = {name: [proc.proc.pid] for name, proc in self.p.procs.items()}
        for part, d, name in (("postgresql", self.p.pg_dir, "postmaster.pid"),
                              ("redis", self.p.redis_dir, "redis.pid")):
            path = os.path.join(d, name)
            if os.path.exists(path):
                pid = benchlib.read_pid(path)
                named[part] = [pid] + benchlib.children(pid)
        return named

    def sut_pids(self):
        return [pid for pids in self.sut_named().values() for pid in pids]

    def target(self):
        return "127.0.0.1:%d" % self.p.sip_port

    def ruri_user(self):
        return DID

    def stop(self):
        try:
            self.p.stop()
        finally:
            super().stop()


def main():
    tmp = tempfile.mkdtemp(prefix="voepy-bench-sip-")
    makers = {"direct": lambda: Direct("direct", tmp), "kamailio": lambda: Kamailio(tmp),
              "voepy": lambda: Voepy(tmp)}
    paths = []
    try:
        for name in PATHS:
            paths.append(makers[name]())
        print("bench-sip: %s s steps, %d ms calls, rates %s" % (STEP_S, HOLD_MS, RATES), flush=True)
        for rate in RATES:
            live = [pa for pa in paths if pa.failed_at is None]
            if not live:
                break
            for pa in live:
                pa.step(rate)
    finally:
        for pa in paths:
            try:
                pa.stop()
            except Exception as e:  # keep stopping the others
                print("bench-sip: stopping %s: %s" % (pa.name, e))
    for pa in paths:
        if pa.breakdown:
            print("%s CPU ms per call at %d cps: %s" % (pa.name, FIXED_CPS, ", ".join(
                "%s %.2f" % kv for kv in sorted(pa.breakdown.items(), key=lambda kv: -kv[1]))))
    figures = {pa.name: {"ceiling_cps": pa.ceiling, "failed_at": pa.failed_at,
                         "cpu_ms_per_call_by_part": pa.breakdown,
                         "sut_cpu_ms_per_call": pa.cpu_per_call and round(pa.cpu_per_call * 1000, 3),
                         "steps": pa.steps} for pa in paths}
    if "voepy" in figures and PG_STATS:
        v = next(pa for pa in paths if pa.name == "voepy")
        figures["voepy"].update(pg_commits_per_call=v.commits, pg_functions_per_call=v.functions,
                                pg_statements_per_call_by_service=v.statements)
    print("\n%-9s %12s %22s" % ("path", "ceiling cps", "SUT CPU ms/call @%d" % FIXED_CPS))
    for pa in paths:
        print("%-9s %12d %22s" % (pa.name, pa.ceiling,
                                   "-" if pa.cpu_per_call is None else "%.3f" % (pa.cpu_per_call * 1000)))
    by = {pa.name: pa for pa in paths}
    if "voepy" in by and "kamailio" in by and by["kamailio"].ceiling:
        v, k = by["voepy"], by["kamailio"]
        figures["ratio_ceiling_vs_kamailio"] = round(v.ceiling / k.ceiling, 3)
        line = "voepy/kamailio ceiling ratio %.2f (target >= %.1f)" % (v.ceiling / k.ceiling,
                                                                        TARGET_RATIO)
        if v.cpu_per_call and k.cpu_per_call:
            figures["ratio_cpu_vs_kamailio"] = round(k.cpu_per_call / v.cpu_per_call, 3)
            line += "; CPU per call ratio (kamailio/voepy) %.3f" % (k.cpu_per_call / v.cpu_per_call)
        print(line)
    if "direct" in by and by["direct"].ceiling:
        for name in ("voepy", "kamailio"):
            if name in by:
                figures["ratio_%s_vs_direct" % name] = round(by[name].ceiling / by["direct"].ceiling, 3)
    print("bench-sip-json: " + json.dumps(figures))
    if not os.environ.get("VOEPY_KEEP_TMP"):
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
