"""The contract itself: proto/openapi.yaml against the gateway's route table, the served
document, and the lint.

(Every response the other suites see is checked against the document by harness.py with
contract.py; this suite checks the document's coverage and the checker.)
"""

import os
import re
import shutil
import subprocess
import unittest

from contract import DOC_PATH, ROOT, Contract
from harness import Platform

DISPATCH_C = os.path.join(ROOT, "services", "api-gateway", "dispatch.c")
LINT_SH = os.path.join(ROOT, "tests", "contract", "lint.sh")

# The verbs POST /v1/calls/{id}/actions/{verb} routes (voepy-calls.txt, issue 3).
ACTION_VERBS = (
    "answer", "hangup", "reject", "transfer", "bridge", "refer", "play", "stop_playback",
    "speak", "start_recording", "stop_recording", "send_dtmf", "gather", "gather_using_speak",
    "gather_using_audio", "stop_gather", "streaming_start", "streaming_stop",
    "transcription_start", "transcription_stop",
)

ROUTE_RE = re.compile(
    r'\{\s*"(GET|POST|PUT|PATCH|DELETE)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([TAN])\s*,'
    r'\s*(B \| R|B|0)\s*,\s*(NULL|"[^"]*")\s*\}')


def dispatch_routes():
    """(method, path, auth, body, scope) of every route in dispatch.c's table."""
    with open(DISPATCH_C) as f:
        src = f.read()
    table = src[src.index("routes[] = {"):]
    table = table[:table.index("};")]
    routes = [(m, p, a, b.startswith("B"), None if s == "NULL" else s.strip('"'))
              for m, p, _, a, b, s in ROUTE_RE.findall(table)]
    # Every entry of the table must have been understood by the regex.
    assert len(routes) == table.count('{"'), "dispatch.c: a route the test cannot parse"
    return routes


def expanded_routes():
    """The route table with the {verb} route expanded to one route per verb."""
    out = {}
    for m, p, a, b, s in dispatch_routes():
        paths = [p.replace("{verb}", v) for v in ACTION_VERBS] if "{verb}" in p else [p]
        for q in paths:
            out.setdefault((m, q), (a, b, s))  # a literal route listed first wins
    return out


class ContractDocumentTest(unittest.TestCase):
    """The document against the code, without a running platform."""

    @classmethod
    def setUpClass(cls):
        cls.contract = Contract()
        cls.doc = cls.contract.doc

    def documented(self):
        out = {}
        for path, item in self.doc["paths"].items():
            for m, op in item.items():
                if m in ("get", "post", "put", "patch", "delete"):
                    out[(m.upper(), path)] = op
        return out

    def test_every_route_documented_and_nothing_else(self):
        routes = expanded_routes()
        documented = self.documented()
        self.assertEqual(sorted(set(routes) - set(documented)), [],
                         "routes in dispatch.c missing from proto/openapi.yaml")
        self.assertEqual(sorted(set(documented) - set(routes)), [],
                         "operations in proto/openapi.yaml that dispatch.c does not route")

    def test_security_and_scopes_agree(self):
        documented = self.documented()
        for (m, p), (auth, _, scope) in expanded_routes().items():
            op = documented[(m, p)]
            where = "%s %s" % (m, p)
            if auth == "N":
                self.assertEqual(op.get("security"), [], where)
            elif auth == "A":
                self.assertEqual(op.get("security"), [{"adminAuth": []}], where)
                self.assertNotIn("x-voepy-scope", op, where)
            else:
                self.assertNotIn("security", op, where + " (tenant routes use the default)")
                self.assertIn("x-voepy-scope", op, where)
                self.assertEqual(op["x-voepy-scope"], scope, where)
                if scope:
                    self.assertIn("`%s`" % scope, op["description"], where)
        self.assertEqual(self.doc["security"], [{"bearerAuth": []}])

    def test_mutating_operations_take_idempotency_key_and_bodies_match(self):
        documented = self.documented()
        for (m, p), (_, body, _) in expanded_routes().items():
            op = documented[(m, p)]
            refs = [x.get("$ref") for x in op.get("parameters", [])]
            if m != "GET":
                self.assertIn("#/components/parameters/IdempotencyKey", refs, "%s %s" % (m, p))
            self.assertEqual("requestBody" in op, body, "%s %s: body flag" % (m, p))

    def test_error_codes_are_the_err_h_table(self):
        with open(os.path.join(ROOT, "libcommon", "include", "voepy", "err.h")) as f:
            table = re.findall(r'X\(\w+, \d+, "(\w+)", (\d+),', f.read())
        internal = {"ok", "io_error", "closed", "database_error", "parse_error", "overflow",
                    "canceled", "config_error"}  # never an API answer's code
        codes = self.doc["components"]["schemas"]["ErrorCode"]["enum"]
        self.assertEqual(sorted(codes), sorted(c for c, _ in table if c not in internal))
        for code, status in table:
            schema = self.doc["components"]["schemas"].get("Error%s" % status)
            if code in codes and schema and status not in ("408", "405", "431"):
                self.assertIn(code, schema["properties"]["error"]["properties"]["code"]["enum"],
                              "%s belongs in Error%s" % (code, status))

    def test_rate_limited_answers_carry_retry_after(self):
        r = self.doc["components"]["responses"]["TooManyRequests"]
        self.assertIn("Retry-After", r["headers"])
        self.assertTrue(self.contract.deref("/components/headers/RetryAfter")[1]["required"])

    def test_checker_refuses_what_the_contract_does_not_allow(self):
        c = self.contract
        j = {"content-type": "application/json"}
        call = {"id": "voepy_call_01HZABCDEFGHJKMNPQRSTVWXYZ", "direction": "outbound",
                "status": "initiated", "from": "+15125550100", "to": "+15558675309",
                "route_id": None, "initiated_at": "2026-05-12T14:32:18.000Z",
                "answered_at": None, "ended_at": None, "duration_seconds": None,
                "end_reason": None, "end_initiator": None, "customer_reference": None,
                "timeout_secs": 60, "time_limit_secs": None, "billed_seconds": None,
                "cost_cents": None, "rating_status": "pending"}
        import json
        c.check("GET", "/v1/calls?limit=1", 200, j,
                json.dumps({"data": [call], "next_cursor": None}).encode())
        bad = [
            ("GET", "/v1/calls", 201, j, b"{}"),                                  # status
            ("GET", "/v1/calls", 200, {"content-type": "text/plain"}, b"x"),       # media type
            ("GET", "/v1/calls", 200, j, json.dumps({"data": [dict(call, x=1)],
                                                     "next_cursor": None}).encode()),
            ("GET", "/v1/calls", 200, j, json.dumps({"data": [dict(call, cost_cents="1")],
                                                     "next_cursor": None}).encode()),
            ("GET", "/v1/calls", 200, j, json.dumps({"data": []}).encode()),       # required
            ("GET", "/v1/calls/voepy_call_x", 404, j,
             b'{"error":{"code":"conflict","message":"m"}}'),                      # code/status
            ("GET", "/v1/calls", 429, j, b'{"error":{"code":"rate_limited","message":"m"}}'),
            ("DELETE", "/v1/webhooks/voepy_whk_x", 204, {}, b"{}"),                # no body
            ("GET", "/v1/calls", 405, j, b'{"error":{"code":"method_not_allowed","message":"m"}}'),
            ("PUT", "/v1/calls", 405, j, b'{"error":{"code":"method_not_allowed","message":"m"}}'),
            ("GET", "/v1/nothing", 404, j, b"not json"),
        ]
        for method, path, status, headers, body in bad:
            with self.assertRaises(AssertionError, msg="%s %s %d %r" % (method, path, status,
                                                                        body)):
                c.check(method, path, status, headers, body)
        c.check("PUT", "/v1/calls", 405, dict(j, allow="GET, POST"),
                b'{"error":{"code":"method_not_allowed","message":"m"}}')
        c.check("GET", "/v1/nothing", 404, j, b'{"error":{"code":"not_found","message":"m"}}')

    def test_lint(self):
        if not shutil.which("npm"):
            self.skipTest("npm is not installed (deploy/local/deps.sh installs it)")
        p = subprocess.run([LINT_SH], capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class ServedDocumentTest(unittest.TestCase):
    """GET /v1/openapi.yaml on a running gateway."""

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), name="contract")
        cls.p.start()

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    def test_serves_the_file_without_a_key(self):
        with open(DOC_PATH, "rb") as f:
            want = f.read()
        st, _, raw, headers = self.p.api("GET", "/v1/openapi.yaml")
        self.assertEqual(st, 200)
        self.assertEqual(headers["content-type"].split(";")[0], "application/yaml")
        self.assertEqual(raw, want, "the served document differs from proto/openapi.yaml "
                                    "(rebuild the gateway)")
        # A key, even a wrong one, changes nothing: the document is public.
        st, _, raw2, _ = self.p.api("GET", "/v1/openapi.yaml", key="voepy_live_nonsense")
        self.assertEqual((st, raw2), (200, want))

    def test_other_methods_are_405(self):
        st, body, _, headers = self.p.api("POST", "/v1/openapi.yaml", raw=b"")
        self.assertEqual(st, 405)
        self.assertEqual(body["error"]["code"], "method_not_allowed")
        self.assertEqual(headers["allow"], "GET")

    def test_unknown_paths_answer_a_documented_error(self):
        st, body, _, _ = self.p.api("GET", "/v1/openapi.json")
        self.assertEqual((st, body["error"]["code"]), (404, "not_found"))


if __name__ == "__main__":
    unittest.main()
