"""Tenant isolation on every route: tenant B's key on tenant A's ids is 404, and nothing
changes.

The route table is read from services/api-gateway/dispatch.c, so a route added there
without a case here fails test_every_id_route_is_covered. Each case sends a request that
would be valid for A (so validation cannot answer first) with B's key and an
Idempotency-Key; the answer must be 404 not_found, never 403 (which would tell B the id
exists). Before and after, every table with a tenant_id column is fingerprinted for A (and
for B: a 404 stores no idempotent answer) and every Redis stream's length is read: a
refused request may not leave a trace anywhere.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_api_isolation
"""
import os
import re
import subprocess
import unittest
import uuid

from harness import ROOT, Platform

FROM = "+15125550177"
VERBS = {
    "hangup": {},
    "answer": {},
    "reject": {"cause": "user_busy"},
    "transfer": {"to": "+15558675300"},
    "bridge": {"leg_id": "{leg}"},
    "refer": {"sip_address": "sip:agent@example.com"},
    "play": {"url": "https://example.com/hold.wav"},
    "stop_playback": {},
    "speak": {"payload": "Hello", "voice": "Polly.Joanna"},
    "start_recording": {"channels": "single", "format": "wav"},
    "stop_recording": {},
    "send_dtmf": {"digits": "12#"},
    "gather": {"minimum_digits": 1, "maximum_digits": 4},
    "gather_using_speak": {"payload": "Press 1", "voice": "Polly.Joanna"},
    "gather_using_audio": {"audio_url": "https://example.com/menu.wav"},
    "stop_gather": {},
    "streaming_start": {"stream_url": "wss://example.com/media"},
    "streaming_stop": {},
    "transcription_start": {"engine": "fast"},
    "transcription_stop": {},
}
# Every tenant route with an id, with a body that would be valid for the owner.
CASES = [
    ("GET", "/v1/api_keys/{key}", None),
    ("POST", "/v1/api_keys/{key}/rotate", {}),
    ("DELETE", "/v1/api_keys/{key}", None),
    ("GET", "/v1/phone_numbers/{number}", None),
    ("PATCH", "/v1/phone_numbers/{number}", {"name": "stolen"}),
    ("DELETE", "/v1/phone_numbers/{number}", None),
    ("GET", "/v1/calls/{call}", None),
    ("GET", "/v1/calls/{call}/streamings", None),
    ("GET", "/v1/calls/{call}/transcription", None),
    ("GET", "/v1/calls/{call}/amd", None),
    ("GET", "/v1/calls/{call}/events", None),
    ("DELETE", "/v1/opt_outs/{opt}", None),
    ("GET", "/v1/recordings/{rec}", None),
    ("GET", "/v1/recordings/{rec}/download", None),
    ("DELETE", "/v1/recordings/{rec}", None),
    ("GET", "/v1/webhooks/{webhook}", None),
    ("PATCH", "/v1/webhooks/{webhook}", {"name": "stolen"}),
    ("DELETE", "/v1/webhooks/{webhook}", None),
    ("POST", "/v1/webhooks/{webhook}/rotate_secret", {"overlap_seconds": 0}),
    ("GET", "/v1/webhooks/{webhook}/deliveries", None),
    ("POST", "/v1/webhooks/{webhook}/deliveries/replay", {"since": "2000-01-01T00:00:00Z"}),
    ("GET", "/v1/webhooks/{webhook}/deliveries/{dlv}", None),
    ("POST", "/v1/webhooks/{webhook}/deliveries/{dlv}/retry", {}),
    ("DELETE", "/v1/billing/payment_methods/{pm}", None),
    ("GET", "/v1/billing/top_ups/{topup}", None),
    ("GET", "/v1/billing/invoices/{inv}", None),
    ("GET", "/v1/billing/invoices/{inv}/pdf", None),
    ("GET", "/v1/billing/invoices/{inv}/csv", None),
] + [("POST", "/v1/calls/{call}/actions/%s" % v, b) for v, b in VERBS.items()]


def routed_id_paths():
    """(method, pattern) of every tenant route with a path parameter, from dispatch.c."""
    src = open(os.path.join(ROOT, "services/api-gateway/dispatch.c")).read()
    out = set()
    for method, pattern, auth in re.findall(r'\{"(\w+)", "([^"]+)", \w+, (\w)\b', src):
        if auth == "T" and "{" in pattern:
            out.add((method, pattern))
    return out


class Isolation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), name="isolation")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        p = cls.p
        route = p.create_route("sip:127.0.0.1:5999", name="unused trunk")
        a = p.create_tenant("tenant-a", default_route_id=route["id"])
        b = p.create_tenant("tenant-b", default_route_id=route["id"])
        cls.a, cls.key_a = a["tenant"], a["api_key"]
        cls.b, cls.key_b = b["tenant"], b["api_key"]
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers", {"numbers": [FROM]})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % cls.a["id"],
                                {"amount_cents": 1000})
        assert st == 200, raw
        st, number, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": FROM},
                                   key=cls.key_a)
        assert st == 201, raw
        st, call, raw, _ = p.api("POST", "/v1/calls", {"from": FROM, "to": "+15558675309"},
                                 key=cls.key_a)
        assert st == 201, raw
        st, hook, raw, _ = p.api("POST", "/v1/webhooks", {"url": "https://example.com/hook"},
                                 key=cls.key_a)
        assert st == 201, raw
        hook = hook["webhook"]
        st, key2, raw, _ = p.api("POST", "/v1/api_keys", {"name": "second", "scopes": ["*"]},
                                 key=cls.key_a)
        assert st == 201, raw
        leg = p.sql("SELECT id FROM call_legs WHERE call_id = '%s'" % call["id"])[0][0]
        rec = "voepy_rec_01J0000000000000000000ABCD"
        p.sql("INSERT INTO recordings (id, call_id, tenant_id, channels, format, status,"
              " duration_seconds, size_bytes, storage_key) VALUES ('%s', '%s', '%s', 'single',"
              " 'wav', 'available', 1, 44, 'isolation.wav')" % (rec, call["id"], cls.a["id"]))
        # A delivery that failed: a retry or replay would be valid for A.
        dlv = p.sql("INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id,"
                    " event_type, payload, status, completed_at) VALUES (voepy_id('dlv'), '%s',"
                    " '%s', voepy_id('evt'), 'call.ended', '{}', 'failed', now()) RETURNING id"
                    % (cls.a["id"], hook["id"]))[0][0]
        st, pm, raw, _ = p.api("POST", "/v1/billing/payment_methods",
                               {"type": "operator_approved", "label": "finance"}, key=cls.key_a)
        assert st == 201, raw
        st, topup, raw, _ = p.api("POST", "/v1/billing/top_ups",
                                  {"amount_cents": 500, "payment_method_id": pm["id"]},
                                  key=cls.key_a)
        assert st == 201, raw
        st, invoices, raw, _ = p.api("GET", "/v1/billing/invoices", key=cls.key_a)
        assert st == 200 and invoices["data"], raw
        st, opt, raw, _ = p.api("POST", "/v1/opt_outs", {"phone_number": "+15558675301"},
                                key=cls.key_a)
        assert st == 201, raw
        cls.ids = {"key": key2["id"], "number": number["id"], "call": call["id"],
                   "webhook": hook["id"], "rec": rec, "leg": leg, "dlv": dlv, "pm": pm["id"],
                   "topup": topup["id"], "inv": invoices["data"][0]["id"], "opt": opt["id"]}

    def fill(self, template):
        out = template
        for name, value in self.ids.items():
            out = out.replace("{%s}" % name, value)
        return out

    def fill_body(self, body):
        if body is None:
            return None
        return {k: self.fill(v) if isinstance(v, str) else v for k, v in body.items()}

    def fingerprint(self):
        """A digest of every tenant-owned row of A and B, and every stream's length."""
        tables = [r[0] for r in self.p.sql(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'tenant_id' AND table_name IN (SELECT table_name FROM"
            " information_schema.tables WHERE table_type = 'BASE TABLE') ORDER BY 1")]
        rows = {}
        for t in tables:
            rows[t] = self.p.sql(
                "SELECT tenant_id, count(*), md5(string_agg(row_to_json(x)::text, ','"
                " ORDER BY row_to_json(x)::text)) FROM %s x WHERE tenant_id IN ('%s', '%s')"
                " GROUP BY tenant_id ORDER BY 1" % (t, self.a["id"], self.b["id"]))
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.p.redis_port), "--raw"]
        keys = subprocess.run(cli + ["--scan", "--pattern", "voepy:*"], check=True,
                              capture_output=True, text=True).stdout.split()
        streams = {}
        for k in sorted(keys):
            kind = subprocess.run(cli + ["TYPE", k], check=True, capture_output=True,
                                  text=True).stdout.strip()
            if kind == "stream":
                streams[k] = subprocess.run(cli + ["XLEN", k], check=True, capture_output=True,
                                            text=True).stdout.strip()
        return rows, streams

    def test_every_id_route_is_covered(self):
        covered = set()
        for method, path, _ in CASES:
            path = re.sub(r"\{\w+\}", "{id}", path)
            covered.add((method, path))  # literal action routes (hangup) as they are
            covered.add((method, re.sub(r"/actions/\w+$", "/actions/{verb}", path)))
        # Every parameter counts as {id} (a delivery's routes have two), {verb} excepted.
        routed = {(m, re.sub(r"\{(?!verb\})\w+\}", "{id}", p)) for m, p in routed_id_paths()}
        missing = routed - covered
        self.assertEqual(missing, set(), "routes with ids that this test does not try")

    def test_other_tenants_ids_are_404_and_change_nothing(self):
        before = self.fingerprint()
        for method, template, body in CASES:
            path = self.fill(template)
            headers = {} if method == "GET" else {"Idempotency-Key": str(uuid.uuid4())}
            st, resp, raw, _ = self.p.api(method, path, self.fill_body(body), key=self.key_b,
                                          headers=headers)
            with self.subTest(method=method, path=template):
                self.assertEqual(st, 404, raw)
                self.assertEqual(resp["error"]["code"], "not_found", raw)
                for value in self.ids.values():  # the refusal does not echo A's ids back
                    self.assertNotIn(value.encode(), raw)
        self.assertEqual(self.fingerprint(), before)

    def test_lists_show_only_own_rows(self):
        lists = ["/v1/calls", "/v1/phone_numbers", "/v1/webhooks", "/v1/api_keys",
                 "/v1/recordings", "/v1/recordings?call_id=%s" % self.ids["call"],
                 "/v1/billing/ledger_entries", "/v1/billing/payment_methods",
                 "/v1/billing/top_ups", "/v1/billing/invoices", "/v1/billing/usage",
                 "/v1/opt_outs", "/v1/opt_outs?phone_number=%2B15558675301"]
        for path in lists:
            st, page, raw, _ = self.p.api("GET", path, key=self.key_b)
            with self.subTest(path=path):
                self.assertEqual(st, 200, raw)
                for value in self.ids.values():
                    self.assertNotIn(value.encode(), raw)
                self.assertNotIn(self.a["id"].encode(), raw)
        # The owner does see them (the refusals above are about the key, not the rows).
        st, page, raw, _ = self.p.api("GET", "/v1/recordings?call_id=%s" % self.ids["call"],
                                      key=self.key_a)
        self.assertEqual(st, 200, raw)
        self.assertEqual([r["id"] for r in page["data"]], [self.ids["rec"]])


if __name__ == "__main__":
    unittest.main()
