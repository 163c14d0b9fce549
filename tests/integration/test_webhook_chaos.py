"""Chaos: webhook-dispatcher killed with SIGKILL again and again while 10,000 events flow.

Events go the real way: SQL `voepy_emit()` rows (batches of BATCH, one transaction each,
at a steady pace) are published by the dispatcher's outbox relay onto the events streams,
fanned out into deliveries, claimed, signed and sent. Three endpoints of one tenant take
every event ('*'), each its own threaded stdlib HTTP receiver on 127.0.0.1:

  live-a, live-b  answer 200, except ~10 % of requests: 5 % a 500, 3 % a "reset" (the
                  headers of a 503 and a few bytes of a longer body, then a TCP RST), 1.5 %
                  a "timeout" (no answer before the dispatcher's VOEPY_WEBHOOK_TIMEOUT_MS);
  gone            the same, until it has answered GONE_AFTER requests 2xx; from then on it
                  answers 410 Gone to everything.

Meanwhile the test SIGKILLs the dispatcher every 2-6 s (random) and starts it again, until
the last event has been written and KILL_TAIL_S more seconds have passed; then it waits
(bounded) for every delivery to finish. What is asserted afterwards:

1. At least once: every emitted event id was answered 2xx (a complete answer, with a valid
   Standard Webhooks signature) by live-a and by live-b; their deliveries are all
   `succeeded` in PostgreSQL.

2. The log shows every attempt. Under SIGKILL "every attempt" has to be made precise: an
   attempt whose answer arrived a moment before the kill dies with the process, and no
   design can write it (the lease expires and the delivery is sent again). So, per
   (endpoint, event), with the receiver's requests in arrival order and the
   webhook_attempts rows in attempt order:
   a. no recorded answer the receiver did not give: the rows embed, in order, into the
      requests, a row with a status code matching a request answered with that code. A
      row without a status code (an error: reset, timeout, refused) matches any request,
      or none: a connection can fail before a request reaches the receiver's handler.
      Such rows are counted ("rows_unseen_error") and printed;
   b. every request the dispatcher says it recorded is in the log. Just before each kill
      the test reads the dispatcher's voepy_webhook_recorded_through_ms (every result
      that reached its recorder before that time is committed; the recorder writes in
      arrival order). A request answered (for a timeout: given up on) more than SKEW_S
      before that time must have a row; SKEW_S covers the moment between the receiver's
      answer and the dispatcher's loop taking it. The rest, answered in the last moments
      of a life, may be missing (counted and printed as "cut by a kill"), and only they.
      The last dispatcher is never killed: every request it answered must be logged;
   c. the attempt counter of each delivery (incremented by each claim) is at least the
      number of its rows.
3. Nothing after a 410: once the endpoint's deactivation is committed (observed by a
   poller, so an upper bound of the commit time), no request reaches `gone` later than
   SEND_GRACE_S, one lease (an attempt claimed just before the commit may still be on its
   way); no delivery to it is created or succeeds after that, and it ends inactive with a
   reason.

Sized for a 2-core machine under AddressSanitizer (about 2-3 minutes); the figures seen
(events, requests, deliveries, attempts, kills, time) are printed. VOEPY_CHAOS_EVENTS and
VOEPY_CHAOS_EMIT_S change the size and the pace (defaults 10000 and 50).
"""
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import unittest
import http.server

from harness import http_request, q, Platform, verify_standard_webhook, wait_until

EVENTS = int(os.environ.get("VOEPY_CHAOS_EVENTS", "10000"))
EMIT_S = float(os.environ.get("VOEPY_CHAOS_EMIT_S", "50"))  # time to write them all
BATCH = 100                 # events per INSERT transaction
KILL_EVERY = (2.0, 6.0)     # seconds between kills (uniform)
KILL_TAIL_S = 8.0           # keep killing this long after the last event is written
FINISH_S = 100.0            # bound of the wait for every delivery to finish
TIMEOUT_MS = 1000           # VOEPY_WEBHOOK_TIMEOUT_MS
LEASE_MS = 3000             # VOEPY_WEBHOOK_LEASE_MS
START_SLACK_S = 0.5  # see must_log
STALL_S = TIMEOUT_MS / 1000.0 + 0.4  # a "timeout" answer comes this late (or never)
SKEW_S = 1.0                # receiver's answer -> the dispatcher's recorder has the result
SEND_GRACE_S = LEASE_MS / 1000.0  # claimed before the 410 was committed, sent in its lease
GONE_AFTER = max(50, EVENTS * 3 // 10)  # the gone endpoint answers 410 after this many 2xx
P_500, P_RESET, P_TIMEOUT = 0.05, 0.03, 0.015
TENANT = "voepy_tenant_chaos"
TYPE = "call.started"


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: 5 drops SYNs when a dispatcher restarts

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a killed dispatcher's resets are
            super().handle_error(request, client_address)  # expected here, nothing else


class ChaosReceiver:
    """A threaded HTTP/1.1 keep-alive receiver that fails some requests on purpose and
    records every request: (event id, arrival time, kind, status, answer time, headers,
    body). kind is "status" (a full answer with status), "reset" or "timeout"."""

    def __init__(self, name, seed, gone_after=None):
        self.name = name
        self.rnd = random.Random(seed)
        self.gone_after = gone_after
        self.ok = 0                  # 2xx answered
        self.first_410 = None        # time of the first 410
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = {"event": self.headers.get("webhook-id"), "arrived": arrived,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body}
                kind, status = outer.decide()
                req["kind"], req["status"] = kind, status
                try:
                    outer.answer(self, kind, status)
                except OSError:
                    self.close_connection = True
                req["answered"] = time.time()
                with outer.lock:
                    outer.requests.append(req)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hooks/%s" % (self.server.server_address[1], name)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def decide(self):
        with self.lock:
            if self.gone_after is not None and self.ok >= self.gone_after:
                if self.first_410 is None:
                    self.first_410 = time.time()
                return "status", 410
            r = self.rnd.random()
            if r < P_500:
                return "status", 500
            if r < P_500 + P_RESET:
                return "reset", None
            if r < P_500 + P_RESET + P_TIMEOUT:
                return "timeout", None
            self.ok += 1
            return "status", 200

    @staticmethod
    def answer(h, kind, status):
        if kind == "timeout":
            time.sleep(STALL_S)  # the dispatcher has given up (and closed) by now
            h.close_connection = True
            return
        if kind == "reset":
            # headers of a 503 promising 100 bytes, 10 of them, then RST: a server that
            # died mid-answer; the bytes keep libcurl from silently resending the request
            h.wfile.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\n"
                          b"0123456789")
            h.wfile.flush()
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        h.send_response(status)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Chaos(unittest.TestCase):
    def test_sigkill_storm_loses_nothing_logs_every_attempt_and_respects_410(self):
        t0 = time.time()
        env = {"VOEPY_LOG_LEVEL": "info",
               "VOEPY_WEBHOOK_TIMEOUT_MS": str(TIMEOUT_MS),
               "VOEPY_WEBHOOK_LEASE_MS": str(LEASE_MS),
               "VOEPY_WEBHOOK_POLL_MS": "200",
               "VOEPY_WEBHOOK_RETRY_SCHEDULE": "0,1,1,1,2,2,2,2",
               "VOEPY_WEBHOOK_CONCURRENCY": "96",
               "VOEPY_WEBHOOK_ENDPOINT_CONCURRENCY": "24"}
        p = Platform(services=("webhook-dispatcher",), env=env, name="chaos")
        p.start()
        self.addCleanup(p.stop)
        self.p = p
        seed = int(os.environ.get("VOEPY_CHAOS_SEED", str(int(t0))))
        print("\nchaos: seed %d (VOEPY_CHAOS_SEED), %d events in %.0f s" % (seed, EVENTS, EMIT_S))
        rnd = random.Random(seed)
        live = [ChaosReceiver("live-a", seed + 1), ChaosReceiver("live-b", seed + 2)]
        gone = ChaosReceiver("gone", seed + 3, gone_after=GONE_AFTER)
        p.receivers.extend(live + [gone])
        p.sql_tenant(TENANT, "chaos")
        secrets, ids = {}, {}
        for r in live + [gone]:
            ids[r.name] = "voepy_whk_chaos_" + r.name.replace("-", "_")
            secrets[r.name] = p.sql_webhook_endpoint(ids[r.name], TENANT, r.url)

        gone_seen = {}
        emitter = threading.Thread(target=self.emit_all, daemon=True)
        poller = threading.Thread(target=self.watch_gone, args=(ids["gone"], gone_seen),
                                  daemon=True)
        emitter.start()
        poller.start()
        lives = self.kill_storm(rnd, emitter)
        t_storm = time.time()
        # 2b rests on these readings: a dispatcher that never reported would leave only its
        # last life's answers to check
        read = sum(1 for _, _, through in lives[:-1] if through)
        self.assertGreaterEqual(read, len(lives[:-1]) // 2,
                                "voepy_webhook_recorded_through_ms was read before too few "
                                "kills: %s" % lives)
        emitter.join()
        self.assertFalse(getattr(self, "emit_error", None))

        def finished():
            n = p.sql("SELECT count(*) FILTER (WHERE status = 'pending'),"
                      " count(*) FILTER (WHERE endpoint_id <> %s AND event_type = %s"
                      " AND status = 'succeeded') FROM webhook_deliveries"
                      % (q(ids["gone"]), q(TYPE)))[0]
            return int(n[0]) == 0 and int(n[1]) == 2 * EVENTS
        try:
            wait_until(finished, FINISH_S, interval=0.5, what="every delivery finished")
        except AssertionError:
            print("chaos: deliveries by endpoint and status: %s\nchaos: pending: %s" % (
                p.sql("SELECT endpoint_id, status, count(*), max(attempts) FROM"
                      " webhook_deliveries GROUP BY 1, 2 ORDER BY 1, 2"),
                p.sql("SELECT id, endpoint_id, event_type, attempts, next_attempt_at,"
                      " lease_until, last_error FROM webhook_deliveries WHERE status ="
                      " 'pending' ORDER BY next_attempt_at LIMIT 5")))
            raise
        t_done = time.time()
        time.sleep(0.5)
        poller.join(5)
        self.check(live, gone, ids, secrets, lives, gone_seen, t0, t_storm, t_done)

    # -- the flow of events ------------------------------------------------------------------
    def emit_all(self):
        """EVENTS call.started events, BATCH per transaction, evenly over EMIT_S seconds."""
        try:
            start = time.monotonic()
            for i, first in enumerate(range(1, EVENTS + 1, BATCH)):
                last = min(first + BATCH - 1, EVENTS)
                due = start + EMIT_S * first / EVENTS
                time.sleep(max(0.0, due - time.monotonic()))
                self.p.sql(
                    "SELECT count(voepy_emit(%s, c, %s, json_build_object('call_id', c,"
                    " 'customer_reference', 'chaos-' || g, 'status', 'initiated')))"
                    " FROM generate_series(%d, %d) g, LATERAL (SELECT 'voepy_call_chaos'"
                    " || lpad(g::text, 6, '0') AS c) x" % (q(TENANT), q(TYPE), first, last))
            self.emit_done = time.time()
        except Exception as e:  # reported by the main thread
            self.emit_error = repr(e)

    def kill_storm(self, rnd, emitter):
        """SIGKILL and restart the dispatcher every 2-6 s while events are written and
        KILL_TAIL_S after. Returns the dispatchers' lives:
        [(started_at, killed_at|None, recorded_through|None)], the last read just before
        the kill (None when the dispatcher did not answer in time)."""
        lives = [[0.0, None, None]]  # the first one started before any endpoint existed
        tail_end = None
        while True:
            time.sleep(rnd.uniform(*KILL_EVERY))
            if not emitter.is_alive():
                tail_end = tail_end or time.time() + KILL_TAIL_S
                if time.time() > tail_end:
                    break
            lives[-1][2] = self.recorded_through()
            lives[-1][1] = time.time()
            self.p.kill("webhook-dispatcher", signal.SIGKILL)
            time.sleep(rnd.uniform(0.0, 0.5))  # sometimes nobody runs for a while
            started = time.time()  # it may send before /readyz answers
            self.p.restart("webhook-dispatcher")
            lives.append([started, None, None])
        return lives

    def recorded_through(self):
        """The dispatcher's voepy_webhook_recorded_through_ms, in seconds, or None."""
        try:
            status, _, body = http_request("127.0.0.1", self.p.ops_ports["webhook-dispatcher"],
                                           "GET", "/metrics", timeout=2)
        except OSError:
            return None
        for line in body.decode().splitlines() if status == 200 else ():
            if line.startswith("voepy_webhook_recorded_through_ms "):
                return int(line.split()[1]) / 1000.0
        return None

    def watch_gone(self, endpoint, seen):
        """The first time the gone endpoint is seen inactive (an upper bound of the commit
        of its deactivation)."""
        deadline = time.time() + EMIT_S + KILL_TAIL_S + FINISH_S + 60
        while time.time() < deadline:
            if self.p.sql("SELECT active FROM webhook_endpoints WHERE id = %s"
                          % q(endpoint))[0][0] == "f":
                seen["at"] = time.time()
                return
            time.sleep(0.1)

    # -- the checks ----------------------------------------------------------------------------
    def check(self, live, gone, ids, secrets, lives, gone_seen, t0, t_storm, t_done):
        p = self.p
        events = {r[0] for r in p.sql("SELECT id FROM events WHERE tenant_id = %s AND type = %s"
                                      % (q(TENANT), q(TYPE)))}
        self.assertEqual(len(events), EVENTS)
        figures = {}
        for r in live:
            reqs = r.snapshot()
            ok = [x for x in reqs if x["kind"] == "status" and 200 <= x["status"] < 300]
            got = {x["event"] for x in ok}
            missing = events - got
            self.assertFalse(missing, "%s: %d events never answered 2xx, e.g. %s"
                             % (r.name, len(missing), sorted(missing)[:5]))
            bad = [x["event"] for x in ok if verify_standard_webhook(
                secrets[r.name], x["headers"], x["body"], now=int(x["arrived"]))]
            self.assertEqual(bad, [], "%s: bad signatures" % r.name)
            self.assertTrue(all(json.loads(x["body"])["id"] == x["event"] for x in ok))
            st = p.sql("SELECT status, count(*) FROM webhook_deliveries WHERE endpoint_id = %s"
                       " AND event_type = %s GROUP BY 1" % (q(ids[r.name]), q(TYPE)))
            self.assertEqual(st, [["succeeded", str(EVENTS)]], r.name)
            figures[r.name] = {"requests": len(reqs), "2xx": len(ok),
                               "duplicates_2xx": len(ok) - len(got)}
        log_figures = self.check_log(live + [gone], ids, lives)
        gone_figures = self.check_gone(gone, ids["gone"], gone_seen)
        rows = p.sql("SELECT count(*), (SELECT count(*) FROM webhook_attempts),"
                     " (SELECT sum(attempts) FROM webhook_deliveries) FROM webhook_deliveries")[0]
        print("chaos: %d events, %d deliveries, %d attempt rows, %s claims, %d kills, "
              "%.1f s (storm %.1f s, then %.1f s to finish)"
              % (EVENTS, int(rows[0]), int(rows[1]), rows[2], len(lives) - 1,
                 t_done - t0, t_storm - t0, t_done - t_storm))
        for r in live:
            print("chaos: %s %s" % (r.name, figures[r.name]))
        print("chaos: log %s" % log_figures)
        print("chaos: gone %s" % gone_figures)

    def check_log(self, receivers, ids, lives):
        """2a-2c of the module docstring, per (endpoint, event)."""
        rows = {}
        for ep, evt, att, code, err, claims in self.p.sql(
                "SELECT d.endpoint_id, d.event_id, a.attempt, a.status_code, a.error,"
                " d.attempts FROM webhook_attempts a JOIN webhook_deliveries d"
                " ON d.id = a.delivery_id WHERE d.tenant_id = %s ORDER BY a.attempt, a.id"
                % q(TENANT)):
            rows.setdefault((ep, evt), []).append(
                (int(att), code and int(code), err, int(claims)))
        n = {"requests": 0, "rows": sum(len(v) for v in rows.values()), "must_log": 0,
             "cut_by_kill": 0, "rows_error": 0, "rows_unseen_error": 0}
        seen_keys = set()
        for r in receivers:
            by_evt = {}
            for x in r.snapshot():
                by_evt.setdefault(x["event"], []).append(x)
            for evt, reqs in by_evt.items():
                reqs.sort(key=lambda x: x["arrived"])
                key = (ids[r.name], evt)
                seen_keys.add(key)
                recs = rows.get(key, [])
                must = [self.must_log(x, lives) for x in reqs]
                n["requests"] += len(reqs)
                n["must_log"] += sum(must)
                self.assertTrue(all(c >= len(recs) for _, _, _, c in recs), (key, recs))
                unmatched = embed(recs, reqs, must)
                self.assertIsNotNone(unmatched, "%s %s: the log %s does not match what the"
                                     " receiver saw %s (must-log %s); dispatcher lives %s"
                                     % (r.name, evt, recs, describe(reqs), must,
                                        near(lives, reqs)))
                n["cut_by_kill"] += unmatched[0]
                n["rows_unseen_error"] += unmatched[1]
                n["rows_error"] += sum(1 for x in recs if x[1] is None)
        extra = set(rows) - seen_keys
        self.assertEqual(extra, set(), "attempts recorded for requests nobody received")
        return n

    @staticmethod
    def must_log(req, lives):
        """2b: the request arrived while a dispatcher ran that was never killed, or that
        said, before its kill, it had recorded everything up to SKEW_S past the answer.
        A request arriving within START_SLACK_S of a life's start is nobody's for sure: the
        killed dispatcher's last request can still be on its way when the next one is up."""
        done = req["arrived"] + TIMEOUT_MS / 1000.0 if req["kind"] == "timeout" \
            else req["answered"]
        for ready, killed, through in lives:
            if ready + START_SLACK_S <= req["arrived"] \
                    and (killed is None or req["arrived"] < killed):
                return killed is None or (through is not None and done + SKEW_S < through)
        return False

    def check_gone(self, gone, endpoint, seen):
        p = self.p
        active, reason = p.sql("SELECT active, disabled_reason FROM webhook_endpoints"
                               " WHERE id = %s" % q(endpoint))[0]
        self.assertEqual(active, "f")
        self.assertIn("410", reason or "")
        self.assertIn("at", seen, "the poller never saw the endpoint disabled")
        t_gone = seen["at"]
        reqs = gone.snapshot()
        late = [x["arrived"] - t_gone for x in reqs if x["arrived"] > t_gone]
        self.assertLessEqual(max(late, default=0), SEND_GRACE_S,
                             "requests reached the disabled endpoint after its deactivation"
                             " was committed")
        after = p.sql("SELECT count(*) FILTER (WHERE created_at > to_timestamp(%f)),"
                      " count(*) FILTER (WHERE status = 'succeeded' AND completed_at >"
                      " to_timestamp(%f)), count(*) FILTER (WHERE status = 'succeeded'),"
                      " count(*) FILTER (WHERE status = 'failed'), count(*) FROM"
                      " webhook_deliveries WHERE endpoint_id = %s"
                      % (t_gone, t_gone, q(endpoint)))[0]
        self.assertEqual(after[:2], ["0", "0"], "deliveries made/succeeded after the 410")
        # it was live for a while (some of its 2xx may be cut by a kill, then sent again and
        # answered 410: those deliveries failed)
        self.assertTrue(0 < int(after[2]) <= gone.ok, (after, gone.ok))
        return {"requests": len(reqs), "2xx": gone.ok,
                "410s": sum(1 for x in reqs if x["status"] == 410),
                "first_410_to_disabled_seen_s": round(t_gone - gone.first_410, 3),
                "requests_after_disabled": len(late),
                "max_late_s": round(max(late, default=0), 3),
                "deliveries": int(after[4]), "succeeded": int(after[2]),
                "failed": int(after[3])}


def compatible(row, req):
    """A row says what the receiver did: a recorded status code is the code it answered;
    a row without one (an error) fits any request."""
    code = row[1]
    if code is None:
        return True
    if req["kind"] == "reset":
        return code == 503  # the headers it began with
    return req["kind"] == "status" and req["status"] == code


def embed(rows, reqs, must):
    """Match rows (attempt order) to requests (arrival order), order kept: a row with a
    status code to a request answered with it, a row without one (an error) to any request
    or to none (a connection that never reached the receiver's handler), every must-log
    request to a row. Returns (requests without a row, error rows without a request), or
    None when no such matching exists."""
    memo = {}

    def go(i, j):
        if (i, j) in memo:
            return memo[(i, j)]
        res = None
        if i < len(rows) and j < len(reqs) and compatible(rows[i], reqs[j]):
            res = go(i + 1, j + 1)
        if res is None and j < len(reqs) and not must[j]:
            res = go(i, j + 1)
            res = res and (res[0] + 1, res[1])
        if res is None and i < len(rows) and rows[i][1] is None:
            res = go(i + 1, j)
            res = res and (res[0], res[1] + 1)
        if i == len(rows) and j == len(reqs):
            res = (0, 0)
        memo[(i, j)] = res
        return res
    return go(0, 0)


def near(lives, reqs):
    lo, hi = reqs[0]["arrived"] - 10, reqs[-1]["answered"] + 10
    return [(round(a, 3), b and round(b, 3), c and round(c, 3)) for a, b, c in lives
            if (b or hi) >= lo and a <= hi]


def describe(reqs):
    return [(x["kind"], x["status"], round(x["arrived"], 3), round(x["answered"], 3))
            for x in reqs]


if __name__ == "__main__":
    unittest.main()
