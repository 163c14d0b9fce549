"""webhook-dispatcher on real PostgreSQL, Redis and HTTP receivers (all on 127.0.0.1).

Events are written with SQL through the outbox (voepy_emit), as the other services write
them; the dispatcher's own relay publishes them. Receivers here check every signature the
way a customer would (HMAC-SHA256 over id.timestamp.body with the secret after whsec_).
Checked: the envelope and headers, subscriptions, retries until success (every attempt
recorded), exhaustion, 3xx is a failure and never followed, 410 disables the endpoint, a
redelivered event is harmless, the per-endpoint concurrency cap, SIGKILL and restart lose
nothing, and without the operator's switch private targets are refused.
"""
import itertools
import json
import threading
import time
import unittest

from harness import q, Platform, verify_standard_webhook, wait_until

_ids = itertools.count(1)


class Counting:
    """A receiver's answer policy that also tracks how many requests run at once."""

    def __init__(self, answers=None, delay=0.0, default=200):
        self.answers = list(answers or [])
        self.delay = delay
        self.default = default
        self.lock = threading.Lock()
        self.now = self.peak = self.started = 0

    def __call__(self, req):
        with self.lock:
            self.now += 1
            self.started += 1
            self.peak = max(self.peak, self.now)
            status = self.answers.pop(0) if self.answers else self.default
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return status


class WebhookBase(unittest.TestCase):
    env = {}

    @classmethod
    def setUpClass(cls):
        env = {"VOEPY_WEBHOOK_POLL_MS": "200", "VOEPY_WEBHOOK_RETRY_SCHEDULE": "0,1,1,1"}
        env.update(cls.env)
        cls.p = Platform(services=("webhook-dispatcher",), env=env, name="webhooks")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)  # also when the rest of setUpClass fails

    def tenant(self):
        return self.p.sql_tenant("voepy_tenant_wh%d" % next(_ids), "webhook test")

    def endpoint(self, tenant, url, events=("*",)):
        eid = "voepy_whk_t%d" % next(_ids)
        return eid, self.p.sql_webhook_endpoint(eid, tenant, url, events)

    def emit(self, tenant, type_="call.started", ref="cart-abc-123"):
        """A call of tenant and one event about it; returns (event id, call id)."""
        cid = "voepy_call_wh%d" % next(_ids)
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, from_number, to_number,"
                   " customer_reference) VALUES (%s, %s, 'outbound', '+15125550100',"
                   " '+15558675309', %s)" % (q(cid), q(tenant), q(ref)))
        evt = self.p.sql("SELECT voepy_emit(c.tenant_id, c.id, %s, voepy_call_event_data(c))"
                         " FROM calls c WHERE c.id = %s" % (q(type_), q(cid)))[0][0]
        return evt, cid

    def deliveries(self, endpoint):
        rows = self.p.sql("SELECT event_id, status, attempts, last_status_code, last_error"
                          " FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY created_at"
                          % q(endpoint))
        return [{"event_id": r[0], "status": r[1], "attempts": int(r[2]),
                 "last_status_code": r[3] and int(r[3]), "last_error": r[4]} for r in rows]

    def attempts(self, endpoint):
        rows = self.p.sql("SELECT a.attempt, a.status_code, a.error, a.response_body"
                          " FROM webhook_attempts a JOIN webhook_deliveries d"
                          " ON d.id = a.delivery_id WHERE d.endpoint_id = %s ORDER BY a.id"
                          % q(endpoint))
        return [(int(r[0]), r[1] and int(r[1]), r[2], r[3]) for r in rows]

    def wait_status(self, endpoint, status, n=1, timeout=20):
        return wait_until(lambda: (lambda ds: ds if len(ds) >= n and all(
            d["status"] == status for d in ds) else None)(self.deliveries(endpoint)),
            timeout, what="%d deliveries %s" % (n, status))

    def requests_for(self, receiver, event_id):
        with receiver.lock:
            return [r for r in receiver.requests if r["headers"].get("webhook-id") == event_id]

    def metric(self, series):
        status, _, body = self.p.ops("webhook-dispatcher", "/metrics")
        self.assertEqual(status, 200)
        for line in body.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[1])
        return 0

    def assert_signed(self, req, secret):
        self.assertIsNone(verify_standard_webhook(secret, req["headers"], req["body"]))


class Delivery(WebhookBase):
    def test_envelope_headers_and_signature(self):
        t = self.tenant()
        r = self.p.receiver()
        eid, secret = self.endpoint(t, r.url)
        evt, cid = self.emit(t, "call.started", ref="cart-abc-123")
        self.wait_status(eid, "succeeded")
        (req,) = self.requests_for(r, evt)
        self.assert_signed(req, secret)
        h = req["headers"]
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["user-agent"], "voepy-webhooks/1")
        self.assertLess(abs(int(h["webhook-timestamp"]) - time.time()), 60)
        body = json.loads(req["body"])
        self.assertEqual(list(body), ["id", "type", "created_at", "data"])
        self.assertEqual(body["id"], evt)
        self.assertEqual(body["type"], "call.started")
        self.assertRegex(body["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(body["data"]["call_id"], cid)
        self.assertEqual(body["data"]["customer_reference"], "cart-abc-123")
        self.assertEqual(self.attempts(eid), [(1, 200, None, "ok")])
        self.assertGreaterEqual(self.metric('voepy_webhook_deliveries_total{result="succeeded"}'), 1)
        self.assertGreaterEqual(self.metric("voepy_webhook_attempt_duration_seconds_count"), 1)
        self.assertIn("voepy_webhook_pending ", self.p.ops("webhook-dispatcher", "/metrics")[2].decode())
        stored = self.p.sql("SELECT payload FROM webhook_deliveries WHERE event_id = %s"
                            % q(evt))[0][0]
        self.assertEqual(stored.encode(), req["body"])  # the exact bytes signed and sent

    def test_subscriptions_and_tenancy(self):
        t, other = self.tenant(), self.tenant()
        r = self.p.receiver()
        all_ep, _ = self.endpoint(t, r.url + "/all")
        ended_ep, _ = self.endpoint(t, r.url + "/ended", events=("call.ended",))
        gone_ep, _ = self.endpoint(t, r.url + "/inactive")
        self.p.sql("UPDATE webhook_endpoints SET active = false WHERE id = %s" % q(gone_ep))
        deleted_ep, _ = self.endpoint(t, r.url + "/deleted")
        self.p.sql("UPDATE webhook_endpoints SET deleted_at = now() WHERE id = %s" % q(deleted_ep))
        foreign_ep, _ = self.endpoint(other, r.url + "/other-tenant")
        started, _ = self.emit(t, "call.started")
        ended, _ = self.emit(t, "call.ended")
        self.wait_status(all_ep, "succeeded", n=2)
        self.wait_status(ended_ep, "succeeded", n=1)
        self.assertEqual([d["event_id"] for d in self.deliveries(ended_ep)], [ended])
        for ep in (gone_ep, deleted_ep, foreign_ep):
            self.assertEqual(self.deliveries(ep), [])
        paths = sorted(req["path"] for req in r.requests)
        self.assertEqual(paths, ["/hooks/all", "/hooks/all", "/hooks/ended"])
        self.assertEqual(len(self.requests_for(r, started)), 1)

    def test_fails_twice_then_succeeds(self):
        t = self.tenant()
        policy = Counting(answers=[500, 503])
        r = self.p.receiver(policy)
        eid, secret = self.endpoint(t, r.url)
        evt, _ = self.emit(t)
        (d,) = self.wait_status(eid, "succeeded")
        self.assertEqual(d["attempts"], 3)
        self.assertEqual(d["last_status_code"], 200)
        atts = self.attempts(eid)
        self.assertEqual([(a[0], a[1]) for a in atts], [(1, 500), (2, 503), (3, 200)])
        self.assertEqual(atts[0][2], "HTTP 500")
        reqs = self.requests_for(r, evt)
        self.assertEqual(len(reqs), 3)
        for req in reqs:
            self.assert_signed(req, secret)
            self.assertEqual(req["body"], reqs[0]["body"])
        # the schedule's waits (1 s +- 10 %) separate the attempts
        for a, b in zip(reqs, reqs[1:]):
            self.assertGreater(b["at"] - a["at"], 0.85)

    def test_exhausted_after_the_last_attempt(self):
        t = self.tenant()
        r = self.p.receiver(lambda req: 500)
        eid, _ = self.endpoint(t, r.url)
        evt, _ = self.emit(t)
        # The endpoint takes '*': it also gets the webhook.exhausted event about its own
        # delivery, which exhausts in turn without a further event (no loop).
        ds = self.wait_status(eid, "exhausted", n=2, timeout=30)
        (d,) = [x for x in ds if x["event_id"] == evt]
        self.assertEqual(d["attempts"], 4)  # "0,1,1,1": four attempts
        self.assertEqual(len(self.attempts(eid)), 8)
        time.sleep(1.5)
        self.assertEqual(len(self.requests_for(r, evt)), 4)
        self.assertEqual(len(self.deliveries(eid)), 2)
        self.assertEqual(self.p.sql("SELECT count(*) FROM events WHERE tenant_id = %s AND type"
                                    " = 'webhook.exhausted'" % q(t)), [["1"]])
        self.assertIn('"webhook.exhausted"', self.p.procs["webhook-dispatcher"].output())
        self.assertGreaterEqual(self.metric('voepy_webhook_deliveries_total{result="exhausted"}'), 1)
        self.assertGreaterEqual(self.metric('voepy_webhook_attempts_total{result="retry"}'), 3)

    def test_redirect_is_a_failure_and_not_followed(self):
        t = self.tenant()
        answers = [302, 307]

        def answer(path):
            if path == "/hooks" and answers:
                return answers.pop(0), {"Location": "/followed"}, b"moved"
            return 200, {}, b"ok"

        rr = RawReceiver(answer)
        self.p.receivers.append(rr)
        eid, _ = self.endpoint(t, rr.url)
        self.emit(t)
        (d,) = self.wait_status(eid, "succeeded")
        self.assertEqual([(a[0], a[1]) for a in self.attempts(eid)],
                         [(1, 302), (2, 307), (3, 200)])
        # /followed is never asked for
        self.assertEqual([(r["method"], r["path"]) for r in rr.seen], [("POST", "/hooks")] * 3)

    def test_gone_disables_the_endpoint(self):
        t = self.tenant()
        r = self.p.receiver(lambda req: 410)
        eid, _ = self.endpoint(t, r.url)
        evt, _ = self.emit(t)
        (d,) = self.wait_status(eid, "failed")
        self.assertEqual((d["attempts"], d["last_status_code"]), (1, 410))
        active, reason = self.p.sql("SELECT active, disabled_reason FROM webhook_endpoints"
                                    " WHERE id = %s" % q(eid))[0]
        self.assertEqual(active, "f")
        self.assertIn("410", reason)
        self.assertGreaterEqual(self.metric('voepy_webhook_deliveries_total{result="gone"}'), 1)
        later, _ = self.emit(t)
        time.sleep(1.0)
        self.assertEqual([x["event_id"] for x in self.deliveries(eid)], [evt])
        self.assertEqual(len(r.requests), 1)

    def test_redelivered_event_is_harmless(self):
        t = self.tenant()
        r = self.p.receiver()
        eid, _ = self.endpoint(t, r.url)
        evt, _ = self.emit(t)
        self.wait_status(eid, "succeeded")
        self.p.sql("UPDATE events SET published_at = NULL, lease_until = NULL WHERE id = %s"
                   % q(evt))
        wait_until(lambda: self.p.sql("SELECT published_at IS NOT NULL FROM events WHERE id = %s"
                                      % q(evt))[0][0] == "t", 10, what="republish")
        time.sleep(1.0)
        self.assertEqual(len(self.deliveries(eid)), 1)
        self.assertEqual(len(self.requests_for(r, evt)), 1)

    def test_response_body_is_truncated_and_made_text(self):
        t = self.tenant()
        # a long answer that is not valid UTF-8: a euro sign, a NUL, then 'x's
        big = RawReceiver(lambda path: (200, {}, "\u20ac".encode() + b"\x00" + b"x" * 5000))
        self.p.receivers.append(big)
        eid, _ = self.endpoint(t, big.url)
        self.emit(t)
        self.wait_status(eid, "succeeded")
        (att,) = self.attempts(eid)
        self.assertEqual(att[1], 200)
        self.assertEqual(len(att[3].encode()), 1024)
        self.assertEqual(att[3], "\u20ac?" + "x" * 1020)


class RawReceiver:
    """A receiver whose answers (status, headers, body) come from answer(path); it records
    every request (method, path, headers, body) before answering, and takes a peer that
    hangs up mid-answer (a killed dispatcher) in its stride."""

    def __init__(self, answer):
        import http.server
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.seen.append({"method": self.command, "path": self.path, "body": body,
                                   "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, headers, out = answer(self.path)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_POST = do_GET = handle_any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hooks" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_event(self, event_id):
        return [r for r in self.seen if r["headers"].get("webhook-id") == event_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Concurrency(WebhookBase):
    env = {"VOEPY_WEBHOOK_ENDPOINT_CONCURRENCY": "2"}

    def test_per_endpoint_cap(self):
        t = self.tenant()
        slow = Counting(delay=0.5)
        r = self.p.receiver(slow)
        eid, _ = self.endpoint(t, r.url)
        other = Counting(delay=0.5)
        r2 = self.p.receiver(other)
        eid2, _ = self.endpoint(t, r2.url)
        for _ in range(8):
            self.emit(t)
        self.wait_status(eid, "succeeded", n=8, timeout=30)
        self.wait_status(eid2, "succeeded", n=8, timeout=30)
        self.assertEqual(slow.peak, 2)   # the cap is reached, never passed
        self.assertEqual(other.peak, 2)  # and it is per endpoint


class Crash(WebhookBase):
    env = {"VOEPY_WEBHOOK_TIMEOUT_MS": "2000", "VOEPY_WEBHOOK_LEASE_MS": "4000"}

    def test_sigkill_and_restart_lose_nothing(self):
        t = self.tenant()
        seen = threading.Event()

        def answer(path):
            if not seen.is_set():
                seen.set()
                time.sleep(1.5)  # the dispatcher dies while this request is in flight
            return 200, {}, b"ok"

        r = RawReceiver(answer)
        self.p.receivers.append(r)
        eid, secret = self.endpoint(t, r.url)
        first, _ = self.emit(t)
        self.assertTrue(seen.wait(10))
        self.p.kill("webhook-dispatcher")  # SIGKILL
        during = [self.emit(t)[0] for _ in range(3)]  # written while nobody runs
        self.p.restart("webhook-dispatcher")
        ds = self.wait_status(eid, "succeeded", n=4, timeout=30)
        self.assertEqual(sorted(d["event_id"] for d in ds), sorted([first] + during))
        for evt in [first] + during:
            reqs = r.for_event(evt)
            self.assertGreaterEqual(len(reqs), 1)
            self.assert_signed(reqs[-1], secret)
        # the first was sent again after its lease ran out: at least once, same id and body
        again = r.for_event(first)
        self.assertGreaterEqual(len(again), 2)
        self.assertEqual(again[0]["body"], again[-1]["body"])


class PrivateTargets(WebhookBase):
    env = {"VOEPY_URL_ALLOW_PRIVATE": "false"}

    def test_private_targets_are_refused(self):
        t = self.tenant()
        r = self.p.receiver()
        # http://127.0.0.1:<port>/hooks; not '*', which would add webhook.exhausted
        eid, _ = self.endpoint(t, r.url, events=("call.started",))
        self.emit(t)
        (d,) = self.wait_status(eid, "exhausted")
        atts = self.attempts(eid)
        self.assertEqual(len(atts), 4)
        for a in atts:
            self.assertIsNone(a[1])
            self.assertIn("url refused", a[2])
            self.assertIn("loopback", a[2])
        self.assertEqual(r.requests, [])  # not one request reached it


if __name__ == "__main__":
    unittest.main()
