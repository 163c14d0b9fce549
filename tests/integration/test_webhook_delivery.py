"""The dispatcher's delivery rules (issue 7), on real PostgreSQL, Redis and receivers.

Slow-down: a 429 with Retry-After pauses the endpoint (its other deliveries wait too); a
502 pauses for VOEPY_WEBHOOK_SLOWDOWN_MS, doubled when it happens again. Exhaustion emits
webhook.exhausted, delivered to the tenant's subscribed endpoints, and a webhook.* event
that exhausts emits nothing (no loop). A replay is one attempt. Per-call webhook URLs get
their call's events, signed with the tenant's call-URL secret. With
VOEPY_WEBHOOK_DISABLE_AFTER_S small, an endpoint failing longer is disabled and
webhook.endpoint_disabled is delivered elsewhere; a 410 disables with the event too.
"""
import base64
import http.server
import itertools
import json
import os
import threading
import time
import unittest

from harness import q, Platform, verify_standard_webhook, wait_until

_ids = itertools.count(1)


class Receiver:
    """Answers (status, headers) from answer(n) for its n-th request (0-based); records
    every request with its arrival time."""

    def __init__(self, answer=lambda n: (200, {})):
        self.seen = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    n = len(outer.seen)
                    outer.seen.append({"at": time.monotonic(), "body": body, "headers": {
                        k.lower(): v for k, v in self.headers.items()}})
                status, headers = answer(n)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hooks" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self):
        with self.lock:
            return list(self.seen)

    def bodies(self):
        return [json.loads(r["body"]) for r in self.requests()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Base(unittest.TestCase):
    env = {}

    @classmethod
    def setUpClass(cls):
        env = {"VOEPY_WEBHOOK_POLL_MS": "100", "VOEPY_WEBHOOK_RETRY_SCHEDULE": "0,1,1",
               "VOEPY_WEBHOOK_SLOWDOWN_MS": "1000"}
        env.update(cls.env)
        cls.p = Platform(services=("webhook-dispatcher",), env=env, name="webhook-delivery")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)

    def receiver(self, answer=lambda n: (200, {})):
        r = Receiver(answer)
        self.p.receivers.append(r)
        return r

    def tenant(self):
        return self.p.sql_tenant("voepy_tenant_wd%d" % next(_ids), "delivery test")

    def endpoint(self, tenant, url, events=("call.started",)):
        eid = "voepy_whk_wd%d" % next(_ids)
        self.p.sql_webhook_endpoint(eid, tenant, url, events)
        return eid

    def call(self, tenant, options="{}"):
        cid = "voepy_call_wd%d" % next(_ids)
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, from_number, to_number, options)"
                   " VALUES (%s, %s, 'outbound', '+15125550100', '+15558675309', %s::jsonb)"
                   % (q(cid), q(tenant), q(options)))
        return cid

    def emit(self, tenant, type_="call.started", call=None):
        cid = call or self.call(tenant)
        return self.p.sql("SELECT voepy_emit(c.tenant_id, c.id, %s, voepy_call_event_data(c))"
                          " FROM calls c WHERE c.id = %s" % (q(type_), q(cid)))[0][0]

    def deliveries(self, endpoint):
        rows = self.p.sql("SELECT event_id, event_type, status, attempts, last_error"
                          " FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY created_at, id"
                          % q(endpoint))
        return [{"event_id": r[0], "type": r[1], "status": r[2], "attempts": int(r[3]),
                 "last_error": r[4]} for r in rows]

    def wait_status(self, endpoint, status, n=1, timeout=20):
        def check():
            ds = self.deliveries(endpoint)
            return ds if len(ds) >= n and all(d["status"] == status for d in ds) else None
        return wait_until(check, timeout, interval=0.1, what="%d deliveries %s" % (n, status))

    def endpoint_row(self, eid):
        r = self.p.sql("SELECT active, disabled_reason, disabled_at IS NOT NULL, failing_since"
                       " IS NOT NULL, slowdowns, extract(epoch FROM paused_until - now())"
                       " FROM webhook_endpoints WHERE id = %s" % q(eid))[0]
        return {"active": r[0] == "t", "disabled_reason": r[1], "disabled": r[2] == "t",
                "failing": r[3] == "t", "slowdowns": int(r[4]),
                "paused_for": r[5] and float(r[5])}

    def events(self, tenant, type_):
        return [json.loads(r[0]) for r in self.p.sql(
            "SELECT data FROM events WHERE tenant_id = %s AND type = %s ORDER BY seq"
            % (q(tenant), q(type_)))]


class SlowDown(Base):
    def test_retry_after_pauses_the_whole_endpoint(self):
        t = self.tenant()
        r = self.receiver(lambda n: (429, {"Retry-After": "2"}) if n == 0 else (200, {}))
        eid = self.endpoint(t, r.url)
        first = self.emit(t)
        wait_until(lambda: r.requests(), 10, what="the first request")
        wait_until(lambda: self.endpoint_row(eid)["slowdowns"] == 1, 5, what="the pause")
        paused = self.endpoint_row(eid)
        self.assertGreater(paused["paused_for"], 1.0)
        self.assertLessEqual(paused["paused_for"], 2.0)
        second = self.emit(t)  # due now, but the endpoint is paused
        self.wait_status(eid, "succeeded", n=2)
        reqs = r.requests()
        self.assertEqual(len(reqs), 3)
        self.assertEqual(reqs[0]["headers"]["webhook-id"], first)
        for later in reqs[1:]:  # nothing reached it during the 2 s pause
            self.assertGreaterEqual(later["at"] - reqs[0]["at"], 1.9)
        self.assertEqual(sorted(x["headers"]["webhook-id"] for x in reqs[1:]), sorted([first, second]))
        # the success ended the slow-down
        self.assertEqual(self.endpoint_row(eid)["slowdowns"], 0)
        self.assertIsNone(self.endpoint_row(eid)["paused_for"])
        self.assertFalse(self.endpoint_row(eid)["failing"])

    def test_502_slows_down_doubling(self):
        t = self.tenant()
        r = self.receiver(lambda n: (502, {}) if n < 2 else (200, {}))
        eid = self.endpoint(t, r.url)
        self.emit(t)
        (d,) = self.wait_status(eid, "succeeded", timeout=20)
        self.assertEqual(d["attempts"], 3)
        at = [x["at"] for x in r.requests()]
        self.assertEqual(len(at), 3)
        self.assertGreaterEqual(at[1] - at[0], 0.95)  # VOEPY_WEBHOOK_SLOWDOWN_MS
        self.assertGreaterEqual(at[2] - at[1], 1.9)   # doubled: a second slow-down in a row
        self.assertEqual(self.endpoint_row(eid)["slowdowns"], 0)


class Exhaustion(Base):
    def test_exhausted_is_told_once(self):
        t = self.tenant()
        failing = self.receiver(lambda n: (500, {}))
        watcher = self.receiver()
        eid = self.endpoint(t, failing.url, events=("*",))  # also gets webhook.* events
        wid = self.endpoint(t, watcher.url, events=("webhook.exhausted",))
        evt = self.emit(t)
        wait_until(lambda: watcher.requests(), 20, what="webhook.exhausted at the watcher")
        (body,) = watcher.bodies()
        self.assertEqual(body["type"], "webhook.exhausted")
        data = body["data"]
        self.assertEqual(data["webhook_id"], eid)
        self.assertEqual(data["event_id"], evt)
        self.assertEqual(data["event_type"], "call.started")
        self.assertEqual(data["attempts"], 3)
        self.assertEqual(data["last_status_code"], 500)
        self.assertEqual(data["last_error"], "HTTP 500")
        self.assertRegex(data["delivery_id"], r"^voepy_dlv_")
        # the failing endpoint's own webhook.exhausted delivery exhausts too, silently
        ds = self.wait_status(eid, "exhausted", n=2, timeout=20)
        self.assertEqual([d["type"] for d in ds], ["call.started", "webhook.exhausted"])
        time.sleep(1.0)
        self.assertEqual(len(self.events(t, "webhook.exhausted")), 1)
        self.assertEqual(len(watcher.requests()), 1)
        self.assertEqual([d["status"] for d in self.deliveries(wid)], ["succeeded"])

    def test_replay_is_one_attempt(self):
        t = self.tenant()
        ok = threading.Event()
        r = self.receiver(lambda n: (200, {}) if ok.is_set() else (500, {}))
        eid = self.endpoint(t, r.url)
        evt = self.emit(t)
        self.wait_status(eid, "exhausted")
        self.assertEqual(len(self.events(t, "webhook.exhausted")), 1)
        replay = ("UPDATE webhook_deliveries SET status = 'pending', replay = true, next_attempt_at"
                  " = now(), lease_until = NULL, completed_at = NULL WHERE endpoint_id = %s" % q(eid))
        self.p.sql(replay)
        (d,) = self.wait_status(eid, "failed")  # not retried, not exhausted again
        self.assertEqual(d["attempts"], 4)
        time.sleep(1.5)
        self.assertEqual(len(r.requests()), 4)
        self.assertEqual(len(self.events(t, "webhook.exhausted")), 1)
        ok.set()
        self.p.sql(replay)
        (d,) = self.wait_status(eid, "succeeded")
        self.assertEqual(d["attempts"], 5)
        self.assertEqual([x["headers"]["webhook-id"] for x in r.requests()], [evt] * 5)

    def test_call_events_go_to_its_url(self):
        t = self.tenant()
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.p.sql("INSERT INTO webhook_call_secrets (tenant_id, secret) VALUES (%s, %s)"
                   % (q(t), q(secret)))
        per_call, sub = self.receiver(), self.receiver()
        sid = self.endpoint(t, sub.url, events=("*",))
        # the gateway's trigger (0043) makes the hidden endpoint for the URL
        cid = self.call(t, json.dumps({"webhook_url": per_call.url}))
        (hidden,) = self.p.sql("SELECT id FROM webhook_endpoints WHERE tenant_id = %s AND kind ="
                               " 'call_url'" % q(t))[0]
        mine = [self.emit(t, ty, call=cid) for ty in ("call.started", "call.answered")]
        other = self.emit(t)  # another call, without webhook_url
        tenant_level = self.p.sql("SELECT voepy_emit(%s, NULL, 'webhook.test', '{}')" % q(t))[0][0]
        self.wait_status(sid, "succeeded", n=4)
        self.wait_status(hidden, "succeeded", n=2)
        reqs = per_call.requests()
        # several deliveries per endpoint run at once: arrival order is not promised
        self.assertEqual(sorted(x["headers"]["webhook-id"] for x in reqs), sorted(mine))
        for x in reqs:  # signed with the call-URL secret
            self.assertIsNone(verify_standard_webhook(secret, x["headers"], x["body"]))
            self.assertEqual(json.loads(x["body"])["data"]["call_id"], cid)
        self.assertEqual(sorted(x["headers"]["webhook-id"] for x in sub.requests()),
                         sorted(mine + [other, tenant_level]))


class Disabling(Base):
    env = {"VOEPY_WEBHOOK_DISABLE_AFTER_S": "3"}

    def test_failing_too_long_disables(self):
        t = self.tenant()
        failing, watcher = self.receiver(lambda n: (500, {})), self.receiver()
        eid = self.endpoint(t, failing.url)
        self.endpoint(t, watcher.url, events=("webhook.endpoint_disabled",))
        start = time.monotonic()
        while self.endpoint_row(eid)["active"]:  # a new failing delivery every half second
            self.assertLess(time.monotonic() - start, 15, "never disabled")
            self.emit(t)
            time.sleep(0.5)
        self.assertGreaterEqual(time.monotonic() - start, 3.0)
        row = self.endpoint_row(eid)
        self.assertTrue(row["disabled"])
        self.assertIn("(disabled after 3 s)", row["disabled_reason"])
        wait_until(lambda: watcher.requests(), 10, what="webhook.endpoint_disabled")
        (body,) = watcher.bodies()
        self.assertEqual(body["type"], "webhook.endpoint_disabled")
        data = body["data"]
        self.assertEqual((data["webhook_id"], data["url"], data["reason"]),
                         (eid, failing.url, row["disabled_reason"]))
        self.assertGreaterEqual(data["disabled_at"], data["failing_since"])
        # what was still waiting failed with it; nothing is sent to it any more
        ds = self.deliveries(eid)
        self.assertNotIn("pending", [d["status"] for d in ds])
        self.assertIn("endpoint disabled", [d["last_error"] for d in ds])
        n = len(failing.requests())
        self.emit(t)
        time.sleep(1.0)
        self.assertEqual(len(failing.requests()), n)

    def test_gone_disables_with_the_event(self):
        t = self.tenant()
        gone, watcher = self.receiver(lambda n: (410, {})), self.receiver()
        eid = self.endpoint(t, gone.url)
        self.endpoint(t, watcher.url, events=("webhook.endpoint_disabled",))
        self.emit(t)
        wait_until(lambda: watcher.requests(), 10, what="webhook.endpoint_disabled")
        (body,) = watcher.bodies()
        self.assertEqual(body["data"]["webhook_id"], eid)
        self.assertIn("410 Gone", body["data"]["reason"])
        self.assertFalse(self.endpoint_row(eid)["active"])
        self.assertEqual(len(gone.requests()), 1)


if __name__ == "__main__":
    unittest.main()
