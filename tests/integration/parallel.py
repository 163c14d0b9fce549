#!/usr/bin/env python3
"""Run the integration suites (test_*.py modules) side by side, N at a time.

Each module runs in its own `python3 -m unittest -v` process, with its own PostgreSQL,
Redis and services (the harness claims ports in a registry shared by the processes, so
suites never collide). Most of a suite's time is spent waiting on timers and peers, so
two at a time on two cores roughly halves the wall time.

Longest suites start first, so that a long one does not start last and run alone. A
module's output is printed whole when it finishes, with its time; the last lines sum up
like unittest's (`Ran N tests`, `OK` or `FAILED`). A module that failed runs once more,
alone, at the end (`--retries`, `VOEPY_IT_RETRIES`): if it passes then, it is listed as
FLAKY with its failed output kept above, and the run is OK; exit status 1 when any module
failed again.

    parallel.py [-j N] [module ...]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Seconds per suite, measured with two suites at a time on a busy 2-core machine (plain
# build); only the order matters. Suites not listed count as DEFAULT_WEIGHT.
WEIGHTS = {
    "test_call_control": 90, "test_webhook_chaos": 70, "test_webhooks": 47,
    "test_call_media": 40, "test_webhook_signatures": 39, "test_cc_nodes": 37,
    "test_media_verbs": 36, "test_billing_chaos": 35, "test_webhook_delivery": 34,
    "test_api_actions": 32, "test_inbound": 29, "test_balance_cutoff": 29,
    "test_early_media": 15,
}
DEFAULT_WEIGHT = 20


def modules(names):
    if names:
        return names
    found = sorted(f[:-3] for f in os.listdir(HERE) if re.fullmatch(r"test_\w+\.py", f))
    return sorted(found, key=lambda m: -WEIGHTS.get(m, DEFAULT_WEIGHT))


class Job:
    def __init__(self, module, logdir):
        self.module = module
        self.log_path = os.path.join(logdir, module + ".log")
        self.log = open(self.log_path, "wb")
        self.start = time.monotonic()
        # Every platform keeps its logs (harness.py prints where); those of a suite that
        # passed are removed in finish(), a failed suite's stay for its post-mortem.
        env = dict(os.environ, VOEPY_KEEP_TMP="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "unittest", "-v", module],
                                     cwd=HERE, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def finish(self):
        self.log.close()
        self.seconds = time.monotonic() - self.start
        with open(self.log_path, "rb") as f:
            self.output = f.read().decode("utf-8", "replace")
        m = re.search(r"^Ran (\d+) tests? in", self.output, re.M)
        self.tests = int(m.group(1)) if m else 0
        self.ok = self.proc.returncode == 0
        if self.ok and not os.environ.get("VOEPY_KEEP_TMP"):
            for kept in re.findall(r"voepy harness: logs kept in (\S+)", self.output):
                shutil.rmtree(kept, ignore_errors=True)
            self.output = re.sub(r"voepy harness: logs kept in \S+\n?", "", self.output)


def run_all(modules_, jobs, logdir, label=""):
    """Run modules_ jobs at a time; print each one's output as it finishes. Returns the
    finished jobs."""
    pending, running, done = list(modules_), [], []
    while pending or running:
        while pending and len(running) < jobs:
            running.append(Job(pending.pop(0), logdir))
        time.sleep(0.2)
        for j in [j for j in running if j.proc.poll() is not None]:
            running.remove(j)
            j.finish()
            done.append(j)
            print("\n---- %s%s: %d tests, %.0f s, %s ----" %
                  (label, j.module, j.tests, j.seconds, "ok" if j.ok else "FAILED"))
            sys.stdout.write(j.output)
            sys.stdout.flush()
    return done


def run(names, jobs, retries):
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voepy-it-logs-") as logdir:
        done = run_all(modules(names), jobs, logdir)
        # A suite that failed runs once more, alone: one that then passes is reported as
        # flaky (its failed output is printed above, and its logs are kept), not hidden;
        # one that fails again fails the run.
        flaky = []
        for _ in range(retries):
            again = [j.module for j in done if not j.ok]
            if not again:
                break
            for j in run_all(again, 1, logdir, label="again: "):
                if j.ok:
                    flaky.append(j.module)
                    done = [d for d in done if d.module != j.module] + [j]
    failed = [j.module for j in done if not j.ok]
    print("\n---- suites by time ----")
    for j in sorted(done, key=lambda j: -j.seconds):
        print("%6.0f s  %s%s" % (j.seconds, j.module, "" if j.ok else "  FAILED"))
    print("-" * 70)
    print("Ran %d tests in %.3fs (%d suites, %d at a time)\n" %
          (sum(j.tests for j in done), time.monotonic() - start, len(done), jobs))
    if flaky:
        print("FLAKY (failed, then passed alone; see their first output above): %s"
              % ", ".join(flaky))
    print("FAILED (%s)" % ", ".join(failed) if failed else "OK")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", type=int, default=2, help="suites at a time (default 2)")
    ap.add_argument("--retries", type=int, default=int(os.environ.get("VOEPY_IT_RETRIES", "1")),
                    help="times a failed suite runs again, alone (default VOEPY_IT_RETRIES or 1)")
    ap.add_argument("module", nargs="*")
    a = ap.parse_args()
    sys.exit(run(a.module, max(1, a.j), max(0, a.retries)))


if __name__ == "__main__":
    main()
