"""Where the gateway spends its time on GET /v1/calls/{id} (bench.py --profile).

Two views, both written under the platform's temporary directory and summarised on stdout:
  - perf sampling (cpu-clock, a software event, so it works in VMs without hardware
    counters) of everything on the system-under-test CPU while wrk loads the gateway: the
    split between the gateway, PostgreSQL, Redis and the kernel, and the hottest symbols.
    Skipped when `perf record` does not work here.
  - callgrind on a second gateway (same database) serving the request: instructions per
    request and the functions that execute them, the gateway's user space only. Counters
    are zeroed after start-up, so only the requests are counted.
"""
import glob
import os
import shutil
import subprocess
import time

from harness import binary, free_port, http_request, wait_until

PERF_SECONDS = 6
CALLGRIND_SECONDS = 8
TOP = 25


def run(p, key, path, pin_all, wrk, log):
    out_dir = os.path.join(p.tmp, "profile")
    os.makedirs(out_dir, exist_ok=True)
    if shutil.which("perf") and perf_works(out_dir):
        perf_profile(p, key, path, pin_all, wrk, log, out_dir)
    else:
        log("profile: perf record does not work here; callgrind only")
    if shutil.which("valgrind"):
        callgrind_profile(p, key, path, wrk, log, out_dir)
    else:
        log("profile: valgrind not installed; no callgrind profile")
    keep = os.path.join(os.environ.get("VOEPY_BENCH_PROFILE_DIR", "/tmp"), "voepy-bench-profile")
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(out_dir, keep)
    log("profile: raw data and reports kept in %s" % keep)


def perf_works(out_dir):
    data = os.path.join(out_dir, "probe.data")
    r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", data, "--", "true"],
                       capture_output=True)
    return r.returncode == 0


def perf_profile(p, key, path, pin_all, wrk, log, out_dir):
    data = os.path.join(out_dir, "perf.data")
    pin_all()
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-C", "0",
                            "-o", data, "--", "sleep", str(PERF_SECONDS)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = wrk("http://127.0.0.1:%d%s" % (p.api_port, path), key, PERF_SECONDS - 1)
    rec.wait(30)
    log("profile/perf: %d requests in %d s while sampling CPU 0" % (r["requests"],
                                                                      PERF_SECONDS - 1))
    for sort, limit, name in (("comm", 0.5, "perf-by-process.txt"),
                              ("comm,dso,sym", 0.6, "perf-by-symbol.txt")):
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--sort", sort,
                              "--percent-limit", str(limit)],
                             capture_output=True, text=True).stdout
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(rep)
        lines = [ln for ln in rep.splitlines() if ln.strip() and not ln.startswith("#")]
        log("profile/perf --sort %s (share of CPU 0):" % sort)
        for ln in lines[:TOP]:
            print("    " + ln.rstrip())


def callgrind_profile(p, key, path, wrk, log, out_dir):
    port, ops = free_port(), free_port()
    env = p.service_env("api-gateway", VOEPY_API_PORT=port, VOEPY_OPS_PORT=ops,
                        VOEPY_NODE_ID="api-gateway-callgrind")
    out = os.path.join(out_dir, "callgrind.out")
    logf = open(os.path.join(out_dir, "callgrind-gateway.log"), "wb")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                             binary("api-gateway")], env=env, stdout=logf,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def ready():
            if proc.poll() is not None:
                raise AssertionError("gateway under callgrind exited (see %s)" % logf.name)
            try:
                return http_request("127.0.0.1", ops, "GET", "/readyz")[0] == 200
            except OSError:
                return False
        wait_until(ready, 60, interval=0.2, what="gateway under callgrind")
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True,
                       capture_output=True)
        r = wrk("http://127.0.0.1:%d%s" % (port, path), key, CALLGRIND_SECONDS,
                connections=4, threads=1)
        subprocess.run(["callgrind_control", "--dump=bench", str(proc.pid)], check=True,
                       capture_output=True)
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(60)
        logf.close()
    dumps = sorted(glob.glob(out + ".*")) or [out]
    summarize_callgrind(dumps[0], r["requests"], out_dir, log)


def cost(line):
    try:
        return int(line.split()[0].replace(",", ""))
    except (IndexError, ValueError):
        return None


def summarize_callgrind(dump, requests, out_dir, log):
    """Top functions by self and by inclusive cost. The frames that were on the stack when
    the counters were zeroed (main, service_run, uv_run...) show the whole total, even as
    "self" cost (a callgrind_annotate quirk): they say nothing and are left out."""
    for inclusive, name in (("no", "callgrind-self.txt"), ("yes", "callgrind-inclusive.txt")):
        rep = subprocess.run(["callgrind_annotate", "--inclusive=" + inclusive,
                              "--threshold=100", dump], capture_output=True, text=True).stdout
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(rep)
        total = next((cost(ln) for ln in rep.splitlines() if "PROGRAM TOTALS" in ln), 0) or 0
        if inclusive == "no":
            log("profile/callgrind: %d requests, %s instructions in total, %.0f per request"
                % (requests, f"{total:,}", total / max(requests, 1)))
        log("profile/callgrind %s cost, top functions (instructions per request):"
            % ("inclusive" if inclusive == "yes" else "self"))
        body = rep.split("file:function", 1)[-1].splitlines()[2:]
        rows = [ln for ln in body if cost(ln) is not None and cost(ln) < 0.99 * total]
        for ln in rows[:TOP]:
            fn = ln.split(")", 1)[1].strip()
            print("    %7.0f  %s" % (cost(ln) / max(requests, 1), fn[:110]))
