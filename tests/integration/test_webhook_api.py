"""The webhook API of issue 7: endpoints with Ed25519 keys, secret rotation, the call-URL
secret and per-call webhook_url, and the delivery log with retries and replays.

WebhookApi runs the gateway alone: deliveries are written with SQL (as the dispatcher's
fanout and recording write them) so that the log, its filters and pages, and the state
changes of retries and replays are checked exactly. WebhookResend also runs the
dispatcher with a receiver, to see a retried delivery actually sent again, signed. Every
answer is checked against proto/openapi.yaml by the harness.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_webhook_api
"""
import base64
import itertools
import json
import os
import time
import unittest
import uuid

from harness import q, ROOT, ApiAssertions, Platform, verify_standard_webhook, wait_until

_numbers = itertools.count(100)

WEBHOOK_FIELDS = ["id", "url", "name", "events", "active", "disabled_reason", "disabled_at",
                  "failing_since", "ed25519_signing", "ed25519_public_key", "secret_rotated_at",
                  "previous_secret_expires_at", "created_at"]
DELIVERY_FIELDS = ["id", "webhook_id", "event_id", "event_type", "status", "attempt_count",
                   "next_attempt_at", "created_at", "completed_at", "last_status_code",
                   "last_error", "replay", "attempts"]
ATTEMPT_FIELDS = ["attempt", "attempted_at", "duration_ms", "status_code", "error",
                  "response_body"]
# B's dispatcher work of issue 7 (replays get one attempt; per-call URLs in the fanout).
DISPATCH_V2 = os.path.exists(os.path.join(ROOT, "proto", "sql", "0042_webhook_dispatch.sql"))


def keys_in_order(raw):
    return [k for k, _ in json.loads(raw, object_pairs_hook=lambda kv: kv)]


def idem():
    return {"Idempotency-Key": str(uuid.uuid4())}


class Base(ApiAssertions, unittest.TestCase):
    services = ("api-gateway",)

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=cls.services, name="webhook-api",
                         env={"VOEPY_WEBHOOK_POLL_MS": "100"})
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        cls.route = cls.p.create_route("sip:127.0.0.1:5999", name="unused trunk")

    # -- helpers ---------------------------------------------------------------------------
    def api(self, method, path, body=None, key=None, **kw):
        return self.p.api(method, path, body, key=key, **kw)

    def row(self, query):
        rows = self.p.sql(query)
        return rows[0] if rows else None

    def new_tenant(self):
        """(tenant id, API key, a number of its own to call from)."""
        t = self.p.create_tenant("wh-%s" % uuid.uuid4().hex[:8], default_route_id=self.route["id"])
        tid, key = t["tenant"]["id"], t["api_key"]
        number = "+1512555%04d" % next(_numbers)
        st, _, raw, _ = self.p.admin("POST", "/admin/v1/numbers", {"numbers": [number]})
        self.assertEqual(st, 201, raw)
        st, _, raw, _ = self.p.admin("POST", "/admin/v1/tenants/%s/credit" % tid,
                                     {"amount_cents": 1000})
        self.assertEqual(st, 200, raw)
        st, _, raw, _ = self.api("POST", "/v1/phone_numbers", {"phone_number": number}, key=key)
        self.assertEqual(st, 201, raw)
        return tid, key, number

    def endpoint(self, key, url="https://example.com/hooks", **fields):
        st, body, raw, _ = self.api("POST", "/v1/webhooks", dict(url=url, **fields), key=key)
        self.assertEqual(st, 201, raw)
        return body["webhook"], body["secret"]

    def delivery(self, tenant, webhook, status, age_s=0, attempts=(), event_type="call.ended"):
        """A delivery written as the dispatcher writes it, created age_s seconds ago, with
        attempts [(status_code, error, response_body), ...] oldest first."""
        done = "NULL" if status == "pending" else "now()"
        last = attempts[-1] if attempts else (None, None, None)
        did = self.p.sql(
            "WITH e AS (SELECT voepy_id('evt') AS id) INSERT INTO webhook_deliveries"
            " (id, tenant_id, endpoint_id, event_id, event_type, payload, status, attempts,"
            " next_attempt_at, created_at, completed_at, last_status_code, last_error)"
            " SELECT voepy_id('dlv'), %s, %s, e.id, %s, wh_envelope(json_build_object('id', e.id,"
            " 'type', %s, 'tenant_id', %s, 'occurred_at', voepy_ts(now()), 'data',"
            " json_build_object('call_id', NULL))), %s, %d, now() + interval '1 hour',"
            " now() - %d * interval '1 second', %s, %s, %s FROM e RETURNING id"
            % (q(tenant), q(webhook), q(event_type), q(event_type), q(tenant), q(status),
               len(attempts), age_s, done, q(last[0]), q(last[1])))[0][0]
        for i, (code, err, resp) in enumerate(attempts):
            self.p.sql("INSERT INTO webhook_attempts (delivery_id, tenant_id, attempt,"
                       " attempted_at, duration_ms, status_code, error, response_body) VALUES"
                       " (%s, %s, %d, now() - %d * interval '1 second', %d, %s, %s, %s)"
                       % (q(did), q(tenant), i + 1, len(attempts) - i, 10 * (i + 1), q(code),
                          q(err), q(resp)))
        return did

    def delivery_row(self, did):
        return self.row("SELECT status, replay, completed_at IS NULL, next_attempt_at <= now(),"
                        " attempts FROM webhook_deliveries WHERE id = %s" % q(did))

    def assert_replayed(self, first, again):
        """again is the stored answer of first, byte for byte, marked as a replay."""
        self.assertEqual((again[0], again[2]), (first[0], first[2]), again[2])
        self.assertEqual(again[3].get("idempotent-replayed"), "true")


class WebhookApi(Base):
    # -- endpoints -------------------------------------------------------------------------
    def test_endpoint_fields_and_ed25519(self):
        _, key, _ = self.new_tenant()
        st, body, raw, _ = self.api("POST", "/v1/webhooks",
                                    {"url": "https://example.com/a", "ed25519_signing": True,
                                     "events": ["webhook.exhausted", "webhook.endpoint_disabled",
                                                "recording.deleted"]}, key=key)
        self.assertEqual(st, 201, raw)
        w = body["webhook"]
        self.assertEqual(list(w), WEBHOOK_FIELDS)
        self.assertTrue(w["ed25519_signing"])
        self.assertEqual(w["events"], ["webhook.exhausted", "webhook.endpoint_disabled",
                                       "recording.deleted"])
        for f in ("disabled_at", "failing_since", "secret_rotated_at",
                  "previous_secret_expires_at"):
            self.assertIsNone(w[f], f)
        pk = base64.b64decode(w["ed25519_public_key"][len("whpk_"):], validate=True)
        self.assertEqual(len(pk), 32)
        sk_text, pk_text = self.row("SELECT ed25519_secret_key, ed25519_public_key FROM"
                                    " webhook_endpoints WHERE id = %s" % q(w["id"]))
        sk = base64.b64decode(sk_text[len("whsk_"):], validate=True)
        self.assertEqual(len(sk), 64)
        self.assertEqual(sk[32:], pk)  # libsodium's secret key is seed || public key
        self.assertEqual(pk_text, w["ed25519_public_key"])
        self.assertNotIn(b"whsk_", raw)
        # The pair is never shown again except its public half.
        st, got, raw, _ = self.api("GET", "/v1/webhooks/%s" % w["id"], key=key)
        self.assertEqual((st, got), (200, w), raw)
        self.assertNotIn(b"whsk_", raw)
        # Without the flag: no pair.
        plain, _ = self.endpoint(key)
        self.assertEqual((plain["ed25519_signing"], plain["ed25519_public_key"]), (False, None))
        self.assertEqual(self.row("SELECT ed25519_secret_key IS NULL FROM webhook_endpoints"
                                  " WHERE id = %s" % q(plain["id"])), ["t"])
        for body, status, code, field in (
                ({"url": "https://example.com/x", "ed25519_signing": "yes"}, 400,
                 "invalid_request", "ed25519_signing"),
                ({"url": "https://example.com/x", "events": ["webhook.nope"]}, 422,
                 "invalid_parameter", "events[0]")):
            self.assert_error(self.api("POST", "/v1/webhooks", body, key=key), status, code, field)

    def test_patch_ed25519_and_reenable(self):
        _, key, _ = self.new_tenant()
        w, _ = self.endpoint(key)
        path = "/v1/webhooks/%s" % w["id"]
        st, on, raw, _ = self.api("PATCH", path, {"ed25519_signing": True}, key=key)
        self.assertEqual((st, on["ed25519_signing"]), (200, True), raw)
        self.assertEqual(keys_in_order(raw), WEBHOOK_FIELDS)
        # On again keeps the pair receivers already trust; off removes it.
        st, again, raw, _ = self.api("PATCH", path, {"ed25519_signing": True}, key=key)
        self.assertEqual(again["ed25519_public_key"], on["ed25519_public_key"], raw)
        st, off, raw, _ = self.api("PATCH", path, {"ed25519_signing": False}, key=key)
        self.assertEqual((off["ed25519_signing"], off["ed25519_public_key"]), (False, None), raw)
        self.assertEqual(self.row("SELECT ed25519_secret_key, ed25519_public_key FROM"
                                  " webhook_endpoints WHERE id = %s" % q(w["id"])), [None, None])
        st, new, raw, _ = self.api("PATCH", path, {"ed25519_signing": True}, key=key)
        self.assertNotEqual(new["ed25519_public_key"], on["ed25519_public_key"])
        self.assert_error(self.api("PATCH", path, {"ed25519_signing": None}, key=key), 400,
                          "invalid_request", "ed25519_signing")
        # Disabled by the dispatcher, then re-enabled: its notes are cleared.
        self.p.sql("UPDATE webhook_endpoints SET active = false, disabled_reason = 'gone',"
                   " disabled_at = now(), failing_since = now() - interval '5 days',"
                   " paused_until = now() + interval '1 hour', slowdowns = 3 WHERE id = %s"
                   % q(w["id"]))
        st, dis, raw, _ = self.api("GET", path, key=key)
        self.assertEqual((dis["active"], dis["disabled_reason"]), (False, "gone"), raw)
        self.assertIsNotNone(dis["disabled_at"])
        self.assertIsNotNone(dis["failing_since"])
        st, en, raw, _ = self.api("PATCH", path, {"active": True}, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual((en["active"], en["disabled_reason"], en["disabled_at"],
                          en["failing_since"]), (True, None, None, None))
        self.assertEqual(self.row("SELECT paused_until, slowdowns FROM webhook_endpoints"
                                  " WHERE id = %s" % q(w["id"])), [None, "0"])
        # active: true on an active endpoint does not restart a failing endpoint's clock.
        self.p.sql("UPDATE webhook_endpoints SET failing_since = now() - interval '1 day'"
                   " WHERE id = %s" % q(w["id"]))
        st, still, raw, _ = self.api("PATCH", path, {"active": True}, key=key)
        self.assertIsNotNone(still["failing_since"], raw)

    def test_rotate_secret(self):
        _, key, _ = self.new_tenant()
        _, other, _ = self.new_tenant()
        w, old = self.endpoint(key)
        path = "/v1/webhooks/%s/rotate_secret" % w["id"]
        hk = idem()
        first = self.api("POST", path, {}, key=key, headers=hk)
        st, body, raw, _ = first
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw), ["webhook", "secret", "previous_secret_expires_at"])
        new = body["secret"]
        self.assertTrue(new.startswith("whsec_"))
        self.assertNotEqual(new, old)
        self.assertEqual(len(base64.b64decode(new[len("whsec_"):])), 32)
        self.assertEqual(body["webhook"]["previous_secret_expires_at"],
                         body["previous_secret_expires_at"])
        self.assertIsNotNone(body["webhook"]["secret_rotated_at"])
        # The old secret signs beside the new one for the default day.
        self.assertEqual(self.row(
            "SELECT secret = %s, previous_secret = %s, previous_secret_expires_at"
            " BETWEEN now() + interval '86390 s' AND now() + interval '86410 s'"
            " FROM webhook_endpoints WHERE id = %s" % (q(new), q(old), q(w["id"]))),
            ["t", "t", "t"])
        # A retry with the same key is the same answer, and rotates nothing.
        self.assert_replayed(first, self.api("POST", path, {}, key=key, headers=hk))
        self.assertEqual(self.row("SELECT secret FROM webhook_endpoints WHERE id = %s"
                                  % q(w["id"])), [new])
        self.assert_error(self.api("POST", path, {"overlap_seconds": 5}, key=key, headers=hk),
                          422, "idempotency_key_reused")
        # overlap 0: the old secret stops at once.
        st, body0, raw, _ = self.api("POST", path, {"overlap_seconds": 0}, key=key)
        self.assertEqual((st, body0["previous_secret_expires_at"]), (200, None), raw)
        self.assertEqual(self.row("SELECT secret, previous_secret FROM webhook_endpoints"
                                  " WHERE id = %s" % q(w["id"])), [body0["secret"], None])
        st, body1, raw, _ = self.api("POST", path, {"overlap_seconds": 60}, key=key)
        self.assertEqual(self.row("SELECT previous_secret FROM webhook_endpoints WHERE id = %s"
                                  % q(w["id"])), [body0["secret"]])
        # The webhook resource shows no secret.
        st, got, raw, _ = self.api("GET", "/v1/webhooks/%s" % w["id"], key=key)
        self.assertNotIn(b"whsec_", raw)
        self.assertEqual(got["previous_secret_expires_at"], body1["previous_secret_expires_at"])
        # Bad input, another tenant, a deleted endpoint.
        before = self.row("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = %s"
                          % q(w["id"]))
        for b, status, code, field in (({"overlap_seconds": 604801}, 422, "invalid_parameter",
                                        "overlap_seconds"),
                                       ({"overlap_seconds": -1}, 422, "invalid_parameter",
                                        "overlap_seconds"),
                                       ({"overlap_seconds": "60"}, 400, "invalid_request",
                                        "overlap_seconds"),
                                       ({"secret": "whsec_mine"}, 400, "invalid_request",
                                        "secret")):
            self.assert_error(self.api("POST", path, b, key=key), status, code, field)
        self.assert_error(self.api("POST", path, {}, key=other), 404, "not_found")
        self.assert_error(self.api("POST", "/v1/webhooks/voepy_whk_x/rotate_secret", {}, key=key),
                          404, "not_found")
        self.assertEqual(self.row("SELECT secret, previous_secret FROM webhook_endpoints"
                                  " WHERE id = %s" % q(w["id"])), before)
        st, _, raw, _ = self.api("POST", path, key=key, raw=b"",
                                 headers={"Content-Type": "application/json"})
        self.assertEqual(st, 200, raw)  # no body = the default overlap
        self.assertIn(self.api("DELETE", "/v1/webhooks/%s" % w["id"], key=key)[0], (200, 204))
        self.assert_error(self.api("POST", path, {}, key=key), 404, "not_found")

    def test_call_url_secret(self):
        t, key, _ = self.new_tenant()
        path = "/v1/webhooks/call_url_secret"
        hk = idem()
        first = self.api("POST", path, {}, key=key, headers=hk)
        st, created, raw, _ = first
        self.assertEqual(st, 201, raw)
        self.assertEqual(keys_in_order(raw), ["secret", "previous_secret_expires_at",
                                              "created_at", "rotated_at"])
        self.assertEqual((created["previous_secret_expires_at"], created["rotated_at"]),
                         (None, None))
        self.assert_replayed(first, self.api("POST", path, {}, key=key, headers=hk))
        self.assertEqual(self.row("SELECT secret, previous_secret FROM webhook_call_secrets"
                                  " WHERE tenant_id = %s" % q(t)), [created["secret"], None])
        # Then it rotates, with the overlap.
        st, rotated, raw, _ = self.api("POST", path, {"overlap_seconds": 3600}, key=key)
        self.assertEqual(st, 200, raw)
        self.assertNotEqual(rotated["secret"], created["secret"])
        self.assertEqual(rotated["created_at"], created["created_at"])
        self.assertIsNotNone(rotated["rotated_at"])
        self.assertIsNotNone(rotated["previous_secret_expires_at"])
        self.assertEqual(self.row(
            "SELECT secret, previous_secret, previous_secret_expires_at BETWEEN"
            " now() + interval '3590 s' AND now() + interval '3610 s' FROM webhook_call_secrets"
            " WHERE tenant_id = %s" % q(t)), [rotated["secret"], created["secret"], "t"])
        st, r0, raw, _ = self.api("POST", path, {"overlap_seconds": 0}, key=key)
        self.assertEqual((st, r0["previous_secret_expires_at"]), (200, None), raw)
        self.assert_error(self.api("POST", path, {"overlap_seconds": 604801}, key=key), 422,
                          "invalid_parameter", "overlap_seconds")
        # It is not an endpoint: no other method, and never listed.
        self.assert_error(self.api("GET", path, key=key), 404, "not_found")
        st, page, raw, _ = self.api("GET", "/v1/webhooks", key=key)
        self.assertEqual(page["data"], [], raw)
        # Each tenant has its own.
        t2, key2, _ = self.new_tenant()
        st, _, raw, _ = self.api("POST", path, {}, key=key2)
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.row("SELECT secret FROM webhook_call_secrets WHERE tenant_id = %s"
                                  % q(t)), [r0["secret"]])

    def test_call_webhook_url(self):
        t, key, number = self.new_tenant()
        url = "https://example.com/calls/%s" % uuid.uuid4().hex
        call = {"from": number, "to": "+15558675309", "webhook_url": url}
        calls_before = self.row("SELECT count(*) FROM calls WHERE tenant_id = %s" % q(t))
        # Without the call-URL secret: refused, naming the field and the way out.
        self.assert_error(self.api("POST", "/v1/calls", call, key=key, headers=idem()), 422,
                          "invalid_parameter", "webhook_url",
                          words="POST /v1/webhooks/call_url_secret")
        for bad in ("ftp://example.com/x", "http://224.0.0.1/x", "not a url"):
            self.assert_error(self.api("POST", "/v1/calls", dict(call, webhook_url=bad), key=key),
                              422, "invalid_parameter", "webhook_url")
        self.assert_error(self.api("POST", "/v1/calls", dict(call, webhook_url=5), key=key), 400,
                          "invalid_request", "webhook_url")
        self.assertEqual(self.row("SELECT count(*) FROM calls WHERE tenant_id = %s" % q(t)),
                         calls_before)
        self.assertEqual(self.row("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = %s"
                                  % q(t)), ["0"])
        # With it: the call, its options, and one hidden endpoint for the URL.
        st, _, raw, _ = self.api("POST", "/v1/webhooks/call_url_secret", {}, key=key)
        self.assertEqual(st, 201, raw)
        st, c1, raw, _ = self.api("POST", "/v1/calls", call, key=key, headers=idem())
        self.assertEqual(st, 201, raw)
        self.assertNotIn("webhook_url", c1)  # the Call resource is unchanged
        self.assertEqual(self.row("SELECT options->>'webhook_url' FROM calls WHERE id = %s"
                                  % q(c1["id"])), [url])
        st, c2, raw, _ = self.api("POST", "/v1/calls", call, key=key, headers=idem())
        self.assertEqual(st, 201, raw)
        hidden = self.p.sql("SELECT id, kind, active, events FROM webhook_endpoints"
                            " WHERE tenant_id = %s" % q(t))
        self.assertEqual(len(hidden), 1, hidden)
        hid = hidden[0][0]
        self.assertEqual(hidden[0][1:], ["call_url", "t", "{}"])
        # A call without webhook_url makes none.
        st, _, raw, _ = self.api("POST", "/v1/calls", {"from": number, "to": "+15558675309"},
                                 key=key)
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.row("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = %s"
                                  % q(t)), ["1"])
        # A disabled hidden endpoint is re-enabled by the next call with its URL.
        self.p.sql("UPDATE webhook_endpoints SET active = false, disabled_reason = 'gone',"
                   " disabled_at = now(), failing_since = now() WHERE id = %s" % q(hid))
        st, _, raw, _ = self.api("POST", "/v1/calls", call, key=key)
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.row("SELECT active, disabled_reason, disabled_at, failing_since"
                                  " FROM webhook_endpoints WHERE id = %s" % q(hid)),
                         ["t", None, None, None])
        # Hidden: never listed, fetched, changed, rotated, deleted, nor its log shown.
        dlv = self.delivery(t, hid, "failed", attempts=[(500, "HTTP 500", "no")])
        st, page, raw, _ = self.api("GET", "/v1/webhooks", key=key)
        self.assertEqual((st, page["data"]), (200, []), raw)
        before = self.row("SELECT url, active, secret, deleted_at FROM webhook_endpoints"
                          " WHERE id = %s" % q(hid))
        for method, path, body in (
                ("GET", "/v1/webhooks/%s" % hid, None),
                ("PATCH", "/v1/webhooks/%s" % hid, {"active": False}),
                ("DELETE", "/v1/webhooks/%s" % hid, None),
                ("POST", "/v1/webhooks/%s/rotate_secret" % hid, {}),
                ("GET", "/v1/webhooks/%s/deliveries" % hid, None),
                ("GET", "/v1/webhooks/%s/deliveries/%s" % (hid, dlv), None),
                ("POST", "/v1/webhooks/%s/deliveries/%s/retry" % (hid, dlv), {}),
                ("POST", "/v1/webhooks/%s/deliveries/replay" % hid,
                 {"since": "2020-01-01T00:00:00Z"})):
            with self.subTest(method=method, path=path):
                self.assert_error(self.api(method, path, body, key=key), 404, "not_found")
        self.assertEqual(self.row("SELECT url, active, secret, deleted_at FROM webhook_endpoints"
                                  " WHERE id = %s" % q(hid)), before)
        self.assertEqual(self.delivery_row(dlv)[0], "failed")

    # -- the delivery log ------------------------------------------------------------------
    def test_deliveries_list_and_get(self):
        t, key, _ = self.new_tenant()
        _, other, _ = self.new_tenant()
        w, _ = self.endpoint(key)
        w2, _ = self.endpoint(key, "https://example.com/second")
        base = "/v1/webhooks/%s/deliveries" % w["id"]
        st, page, raw, _ = self.api("GET", base, key=key)
        self.assertEqual((st, page), (200, {"data": [], "next_cursor": None}), raw)
        made = []  # oldest first
        for i, status in enumerate(["succeeded", "exhausted", "failed", "succeeded", "pending"]):
            atts = [(500, "HTTP 500", "boom"), (None, "timeout", None)] if status != "pending" \
                else []
            if status == "succeeded":
                atts.append((200, None, "ok"))
            made.append((self.delivery(t, w["id"], status, age_s=100 - i, attempts=atts), status))
        self.delivery(t, w2["id"], "failed")  # another endpoint's: never in w's log
        st, page, raw, _ = self.api("GET", base, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual([d["id"] for d in page["data"]], [d for d, _ in reversed(made)])
        self.assertIsNone(page["next_cursor"])
        d = page["data"][1]  # the newest succeeded one
        self.assertEqual(list(d), DELIVERY_FIELDS)
        self.assertEqual((d["webhook_id"], d["status"], d["attempt_count"], d["replay"],
                          d["last_status_code"], d["next_attempt_at"]),
                         (w["id"], "succeeded", 3, False, 200, None))
        self.assertIsNotNone(d["completed_at"])
        self.assertEqual([list(a) for a in d["attempts"]], [ATTEMPT_FIELDS] * 3)
        self.assertEqual([(a["attempt"], a["status_code"], a["error"], a["response_body"],
                           a["duration_ms"]) for a in d["attempts"]],
                         [(3, 200, None, "ok", 30), (2, None, "timeout", None, 20),
                          (1, 500, "HTTP 500", "boom", 10)])  # newest first
        pending = page["data"][0]
        self.assertEqual((pending["status"], pending["attempts"], pending["completed_at"]),
                         ("pending", [], None))
        self.assertIsNotNone(pending["next_attempt_at"])
        # Filter by status.
        for status, want in (("succeeded", [made[3][0], made[0][0]]), ("failed", [made[2][0]]),
                             ("exhausted", [made[1][0]]), ("pending", [made[4][0]])):
            st, page, raw, _ = self.api("GET", base + "?status=" + status, key=key)
            self.assertEqual([x["id"] for x in page["data"]], want, raw)
        # Pages of two, newest first, then the end.
        seen, cursor = [], None
        for _ in range(5):
            st, page, raw, _ = self.api("GET", base + "?limit=2" +
                                        ("&cursor=" + cursor if cursor else ""), key=key)
            self.assertEqual(st, 200, raw)
            self.assertLessEqual(len(page["data"]), 2)
            seen += [x["id"] for x in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, [x for x, _ in reversed(made)])
        # One delivery.
        st, one, raw, _ = self.api("GET", "%s/%s" % (base, made[3][0]), key=key)
        self.assertEqual((st, one), (200, d), raw)
        # Bad input.
        for query, field in (("?status=done", "status"), ("?limit=0", "limit"),
                             ("?limit=201", "limit"), ("?cursor=!!", "cursor"),
                             ("?cursor=bm9wZQ", "cursor")):
            self.assert_error(self.api("GET", base + query, key=key), 422, "invalid_parameter",
                              field)
        other_dlv = self.p.sql("SELECT id FROM webhook_deliveries WHERE endpoint_id = %s"
                               % q(w2["id"]))[0][0]
        for path in ("%s/%s" % (base, other_dlv), base + "/voepy_dlv_nope",
                     base + "/" + w["id"]):
            self.assert_error(self.api("GET", path, key=key), 404, "not_found")
        # Another tenant sees nothing.
        self.assert_error(self.api("GET", base, key=other), 404, "not_found")
        self.assert_error(self.api("GET", "%s/%s" % (base, made[0][0]), key=other), 404,
                          "not_found")
        # A deleted endpoint keeps its log.
        self.assertIn(self.api("DELETE", "/v1/webhooks/%s" % w["id"], key=key)[0], (200, 204))
        st, page, raw, _ = self.api("GET", base, key=key)
        self.assertEqual((st, len(page["data"])), (200, 5), raw)

    def test_many_attempts_are_capped(self):
        t, key, _ = self.new_tenant()
        w, _ = self.endpoint(key)
        did = self.delivery(t, w["id"], "failed", attempts=[(500, None, str(i)) for i in range(60)])
        st, d, raw, _ = self.api("GET", "/v1/webhooks/%s/deliveries/%s" % (w["id"], did), key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(d["attempt_count"], 60)
        self.assertEqual([a["attempt"] for a in d["attempts"]], list(range(60, 10, -1)))

    def test_retry(self):
        t, key, _ = self.new_tenant()
        _, other, _ = self.new_tenant()
        w, _ = self.endpoint(key)
        failed = self.delivery(t, w["id"], "exhausted", attempts=[(500, "HTTP 500", "x")] * 3)
        path = "/v1/webhooks/%s/deliveries/%s/retry" % (w["id"], failed)
        # Another tenant: 404 and nothing changes.
        self.assert_error(self.api("POST", path, {}, key=other), 404, "not_found")
        self.assertEqual(self.delivery_row(failed), ["exhausted", "f", "f", "f", "3"])
        hk = idem()
        first = self.api("POST", path, {}, key=key, headers=hk)
        st, d, raw, _ = first
        self.assertEqual(st, 202, raw)
        self.assertEqual(list(d), DELIVERY_FIELDS)
        self.assertEqual((d["status"], d["replay"], d["completed_at"], d["attempt_count"]),
                         ("pending", True, None, 3))
        self.assertIsNotNone(d["next_attempt_at"])
        self.assertEqual(len(d["attempts"]), 3)  # the log is kept
        self.assertEqual(self.delivery_row(failed), ["pending", "t", "t", "t", "3"])
        self.assert_replayed(first, self.api("POST", path, {}, key=key, headers=hk))
        # Pending already: conflict.
        self.assert_error(self.api("POST", path, {}, key=key), 409, "conflict")
        # A succeeded one can be sent again too; no body is the same as {}.
        ok = self.delivery(t, w["id"], "succeeded", attempts=[(200, None, "ok")])
        st, d2, raw, _ = self.api("POST", "/v1/webhooks/%s/deliveries/%s/retry" % (w["id"], ok),
                                  key=key, raw=b"", headers={"Content-Type": "application/json"})
        self.assertEqual((st, d2["status"], d2["replay"]), (202, "pending", True), raw)
        # A disabled or deleted endpoint: conflict, nothing changes.
        again = self.delivery(t, w["id"], "failed")
        apath = "/v1/webhooks/%s/deliveries/%s/retry" % (w["id"], again)
        self.p.sql("UPDATE webhook_endpoints SET active = false WHERE id = %s" % q(w["id"]))
        self.assert_error(self.api("POST", apath, {}, key=key), 409, "conflict", words="disabled")
        self.api("PATCH", "/v1/webhooks/%s" % w["id"], {"active": True}, key=key)
        self.assertIn(self.api("DELETE", "/v1/webhooks/%s" % w["id"], key=key)[0], (200, 204))
        self.assert_error(self.api("POST", apath, {}, key=key), 409, "conflict", words="deleted")
        self.assertEqual(self.delivery_row(again)[:2], ["failed", "f"])
        # Unknown ids and bodies.
        w2, _ = self.endpoint(key)
        for p in ("/v1/webhooks/%s/deliveries/voepy_dlv_x/retry" % w2["id"],
                  "/v1/webhooks/%s/deliveries/%s/retry" % (w2["id"], again)):
            self.assert_error(self.api("POST", p, {}, key=key), 404, "not_found")
        self.assert_error(self.api("POST", apath, {"now": True}, key=key), 400,
                          "invalid_request", "now")

    def test_replay(self):
        t, key, _ = self.new_tenant()
        _, other, _ = self.new_tenant()
        w, _ = self.endpoint(key)
        path = "/v1/webhooks/%s/deliveries/replay" % w["id"]
        old = self.delivery(t, w["id"], "failed", age_s=7200)
        in_range = [self.delivery(t, w["id"], s, age_s=1800 - i)
                    for i, s in enumerate(("failed", "exhausted", "failed"))]
        kept = [self.delivery(t, w["id"], s, age_s=1700) for s in ("succeeded", "pending")]
        recent = self.delivery(t, w["id"], "exhausted", age_s=60)
        since = self.row("SELECT to_char((now() - interval '1 hour') AT TIME ZONE 'UTC',"
                         " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")[0]
        until = self.row("SELECT to_char((now() - interval '10 minutes') AT TIME ZONE 'UTC',"
                         " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")[0]
        # Another tenant: 404, nothing changes.
        self.assert_error(self.api("POST", path, {"since": since}, key=other), 404, "not_found")
        hk = idem()
        first = self.api("POST", path, {"since": since, "until": until}, key=key, headers=hk)
        st, body, raw, _ = first
        self.assertEqual((st, body), (202, {"replayed": 3}), raw)
        for d in in_range:
            self.assertEqual(self.delivery_row(d)[:4], ["pending", "t", "t", "t"], d)
        self.assertEqual(self.delivery_row(old)[:2], ["failed", "f"])
        self.assertEqual(self.delivery_row(recent)[:2], ["exhausted", "f"])
        self.assertEqual([self.delivery_row(d)[:2] for d in kept],
                         [["succeeded", "f"], ["pending", "f"]])
        self.assert_replayed(first, self.api("POST", path, {"since": since, "until": until},
                                             key=key, headers=hk))
        st, page, raw, _ = self.api("GET", "/v1/webhooks/%s/deliveries?status=pending"
                                    % w["id"], key=key)
        self.assertEqual(sorted(x["id"] for x in page["data"] if x["replay"]), sorted(in_range))
        # Without until: up to now; what is pending already is not counted again.
        st, body, raw, _ = self.api("POST", path, {"since": since, "until": None}, key=key)
        self.assertEqual((st, body), (202, {"replayed": 1}), raw)
        self.assertEqual(self.delivery_row(recent)[:2], ["pending", "t"])
        st, body, raw, _ = self.api("POST", path, {"since": until, "until": until}, key=key)
        self.assertEqual((st, body), (202, {"replayed": 0}), raw)
        # Bad input.
        for b, status, code, field in (
                ({}, 400, "invalid_request", "since"),
                ({"since": None}, 400, "invalid_request", "since"),
                ({"since": "yesterday"}, 422, "invalid_parameter", "since"),
                ({"since": 1715500000}, 400, "invalid_request", "since"),
                ({"since": until, "until": since}, 422, "invalid_parameter", "until"),
                ({"since": since, "until": "soon"}, 422, "invalid_parameter", "until"),
                ({"since": since, "status": "failed"}, 400, "invalid_request", "status")):
            self.assert_error(self.api("POST", path, b, key=key), status, code, field)
        # A disabled endpoint: conflict, and nothing is replayed.
        self.p.sql("UPDATE webhook_endpoints SET active = false WHERE id = %s" % q(w["id"]))
        self.assert_error(self.api("POST", path, {"since": "2000-01-01T00:00:00Z"}, key=key),
                          409, "conflict")
        self.assertEqual(self.delivery_row(old)[:2], ["failed", "f"])
        self.assert_error(self.api("POST", "/v1/webhooks/voepy_whk_x/deliveries/replay",
                                   {"since": since}, key=key), 404, "not_found")


class WebhookResend(Base):
    """With the dispatcher: a retried delivery is sent again, signed, to the receiver."""
    services = ("api-gateway", "webhook-dispatcher")

    def test_retried_delivery_is_sent_again(self):
        t, key, _ = self.new_tenant()
        r = self.p.receiver()
        w, secret = self.endpoint(key, r.url, events=["recording.deleted"])
        did = self.delivery(t, w["id"], "exhausted", attempts=[(500, "HTTP 500", "no")] * 2)
        evt = self.row("SELECT event_id FROM webhook_deliveries WHERE id = %s" % q(did))[0]
        st, d, raw, _ = self.api("POST", "/v1/webhooks/%s/deliveries/%s/retry" % (w["id"], did),
                                 {}, key=key)
        self.assertEqual((st, d["status"]), (202, "pending"), raw)

        def sent():
            st, got, _, _ = self.api("GET", "/v1/webhooks/%s/deliveries/%s" % (w["id"], did),
                                     key=key)
            return got if got["status"] != "pending" else None
        got = wait_until(sent, 20, interval=0.2, what="the retried delivery")
        self.assertEqual((got["status"], got["replay"], got["last_status_code"]),
                         ("succeeded", True, 200))
        self.assertEqual(got["attempt_count"], 3)
        self.assertEqual((got["attempts"][0]["attempt"], got["attempts"][0]["status_code"]),
                         (3, 200))
        reqs = [x for x in r.requests if x["headers"].get("webhook-id") == evt]
        self.assertEqual(len(reqs), 1)
        self.assertIsNone(verify_standard_webhook(secret, reqs[0]["headers"], reqs[0]["body"]))
        stored = self.row("SELECT payload FROM webhook_deliveries WHERE id = %s" % q(did))[0]
        self.assertEqual(reqs[0]["body"], stored.encode())

    def test_failed_replay_gets_one_attempt(self):
        if not DISPATCH_V2:
            self.skipTest("the dispatcher's replay rule (one attempt) is engineer B's, not here yet")
        t, key, _ = self.new_tenant()
        r = self.p.receiver(lambda req: 500)
        w, _ = self.endpoint(key, r.url, events=["recording.deleted"])
        did = self.delivery(t, w["id"], "failed", attempts=[(500, "HTTP 500", "no")])
        st, body, raw, _ = self.api("POST", "/v1/webhooks/%s/deliveries/replay" % w["id"],
                                    {"since": "2000-01-01T00:00:00Z"}, key=key)
        self.assertEqual((st, body), (202, {"replayed": 1}), raw)
        wait_until(lambda: self.delivery_row(did)[0] == "failed", 20, interval=0.2,
                   what="the replay to fail")
        time.sleep(2.5)  # the schedule (0,1,1,...) would have tried again by now
        st, got, raw, _ = self.api("GET", "/v1/webhooks/%s/deliveries/%s" % (w["id"], did),
                                   key=key)
        self.assertEqual((got["status"], got["replay"], got["attempt_count"],
                          len(got["attempts"])), ("failed", True, 2, 2), raw)

    def test_call_webhook_url_receives_the_calls_events(self):
        if not DISPATCH_V2:
            self.skipTest("per-call URLs in the fanout are engineer B's, not here yet")
        t, key, number = self.new_tenant()
        r = self.p.receiver()
        st, sec, raw, _ = self.api("POST", "/v1/webhooks/call_url_secret", {}, key=key)
        self.assertEqual(st, 201, raw)
        st, call, raw, _ = self.api("POST", "/v1/calls", {"from": number, "to": "+15558675309",
                                                         "webhook_url": r.url + "/call"},
                                    key=key)
        self.assertEqual(st, 201, raw)

        def started():
            return [x for x in r.requests if json.loads(x["body"]).get("type") == "call.started"]
        (req,) = wait_until(started, 20, interval=0.2, what="call.started at the call's URL")
        self.assertEqual(json.loads(req["body"])["data"]["call_id"], call["id"])
        self.assertEqual(req["path"], "/hooks/call")
        self.assertIsNone(verify_standard_webhook(sec["secret"], req["headers"], req["body"]))


if __name__ == "__main__":
    unittest.main()
