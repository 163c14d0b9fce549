"""The public API of api-gateway, endpoint by endpoint, against real PostgreSQL and Redis.

Only the gateway runs (no call-control): calls stay "initiated", which is all the API
itself decides. Every endpoint is exercised with good and bad input: malformed JSON,
unknown fields, wrong types, bad values, missing or wrong keys, another tenant's ids,
idempotent replays, pagination. Stream commands are read back from Redis with redis-cli.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_api
"""
import base64
import datetime
import hashlib
import itertools
import json
import re
import signal
import subprocess
import threading
import time
import unittest
import uuid

from harness import ApiAssertions, Platform, http_request, wait_until

MAX_BODY = 16384
_numbers = itertools.count(1000)


def ms_later(iso):
    """An API timestamp plus one millisecond (the API shows milliseconds, rows keep micros)."""
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return (t + datetime.timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def next_number(prefix="+1512555"):
    """A fresh E.164 number per call, so that tests never collide on the inventory."""
    return "%s%04d" % (prefix, next(_numbers))


class Api(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), name="api",
                         env={"VOEPY_API_MAX_BODY": str(MAX_BODY)})
        cls.p.start()
        cls.route = cls.p.create_route("sip:127.0.0.1:5999", name="test trunk")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()

    # -- helpers ---------------------------------------------------------------------------
    def api(self, method, path, body=None, key=None, **kw):
        return self.p.api(method, path, body, key=key, **kw)

    def admin(self, method, path, body=None, **kw):
        return self.p.admin(method, path, body, **kw)

    def assert_page(self, resp, limit, ts_field):
        """A 200 list page: {"data", "next_cursor"} in that order, at most limit rows, and a
        next_cursor that is null or stands for the last row shown: base64url, no padding, of
        "<epoch microseconds>|<id>" (the API shows the time to the millisecond). Returns it."""
        st, page, raw, _ = resp
        self.assertEqual(st, 200, raw)
        self.assertEqual([k for k, _ in json.loads(raw, object_pairs_hook=lambda kv: kv)],
                         ["data", "next_cursor"], raw)
        self.assertLessEqual(len(page["data"]), limit, raw)
        cursor = page["next_cursor"]
        if cursor is not None:
            self.assertEqual(len(page["data"]), limit, raw)
            self.assertRegex(cursor, r"^[A-Za-z0-9_-]+$")
            us, _, rid = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode() \
                .partition("|")
            last = page["data"][-1]
            t = datetime.datetime.strptime(last[ts_field], "%Y-%m-%dT%H:%M:%S.%fZ")
            self.assertEqual((int(us) // 1000, rid),
                             ((t - datetime.datetime(1970, 1, 1)) // datetime.timedelta(
                                 milliseconds=1), last["id"]), raw)
        return page

    def new_tenant(self, credit=1000, nnumbers=1, **fields):
        """A tenant with a default route, credit and nnumbers bought numbers."""
        fields.setdefault("default_route_id", self.route["id"])
        created = self.p.create_tenant("t-%s" % uuid.uuid4().hex[:8], **fields)
        tenant, key = created["tenant"], created["api_key"]
        numbers = [next_number() for _ in range(nnumbers)]
        if numbers:
            st, _, raw, _ = self.admin("POST", "/admin/v1/numbers", {"numbers": numbers})
            self.assertEqual(st, 201, raw)
        for n in numbers:
            st, _, raw, _ = self.api("POST", "/v1/phone_numbers", {"phone_number": n}, key=key)
            self.assertEqual(st, 201, raw)
        if credit:
            st, _, raw, _ = self.admin("POST", "/admin/v1/tenants/%s/credit" % tenant["id"],
                                       {"amount_cents": credit})
            self.assertEqual(st, 200, raw)
        return tenant, key, numbers

    def place(self, key, frm, to="+15558675309", headers=None, **fields):
        return self.api("POST", "/v1/calls", dict({"from": frm, "to": to}, **fields), key=key,
                        headers=headers)

    def stream(self, name):
        """Bodies of the entries of a Redis stream, oldest first."""
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.p.redis_port),
                              "--raw", "XRANGE", name, "-", "+"],
                             check=True, capture_output=True, text=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def dials_for(self, call_id):
        return [m for m in self.stream("voepy:dial") if m.get("call_id") == call_id]

    # -- authentication ----------------------------------------------------------------------
    def test_auth_tenant_keys(self):
        _, key, nums = self.new_tenant()
        self.assert_error(self.api("GET", "/v1/calls"), 401, "unauthorized")
        self.assert_error(self.api("GET", "/v1/calls", headers={"Authorization": key}), 401,
                          "unauthorized")
        self.assert_error(self.api("GET", "/v1/calls", key="voepy_live_short"), 401,
                          "unauthorized")
        # Right shape, wrong checksum.
        bad = key[:-1] + ("A" if key[-1] != "A" else "B")
        self.assert_error(self.api("GET", "/v1/calls", key=bad), 401, "unauthorized")
        # The operator token is not a tenant key.
        self.assert_error(self.api("GET", "/v1/calls", key=self.p.admin_token), 401,
                          "unauthorized")
        st, _, raw, headers = self.api("GET", "/v1/calls", key=key)
        self.assertEqual(st, 200, raw)
        # A key revoked behind the gateway's back (here in SQL) stops working once the
        # gateway's auth cache forgets it: VOEPY_API_AUTH_CACHE_MS, 1 s by default.
        self.p.sql("UPDATE api_keys SET revoked_at = now() WHERE key_hash = '%s'"
                   % hashlib.sha256(key.encode()).hexdigest())
        wait_until(lambda: self.api("GET", "/v1/calls", key=key)[0] == 401, 2.5,
                   what="the revoked key refused")
        self.assert_error(self.api("GET", "/v1/calls", key=key), 401, "unauthorized")

    def test_auth_admin_token(self):
        _, key, _ = self.new_tenant(credit=0, nnumbers=0)
        self.assert_error(self.admin_raw("GET", "/admin/v1/routes", None), 401, "unauthorized")
        self.assert_error(self.admin_raw("GET", "/admin/v1/routes", key), 401, "unauthorized")
        self.assert_error(self.admin_raw("GET", "/admin/v1/routes", self.p.admin_token + "x"),
                          401, "unauthorized")
        self.assert_error(self.admin_raw("GET", "/admin/v1/routes", self.p.admin_token[:-1]),
                          401, "unauthorized")
        st, _, raw, _ = self.admin("GET", "/admin/v1/routes")
        self.assertEqual(st, 200, raw)

    def admin_raw(self, method, path, token):
        return self.p.api(method, path, key=token)

    def test_api_key_format_and_storage(self):
        created = self.p.create_tenant("keys")
        key = created["api_key"]
        self.assertRegex(key, r"^voepy_live_[0-9A-Za-z]{36}$")
        rows = self.p.sql("SELECT key_hash, prefix FROM api_keys WHERE tenant_id = '%s'"
                          % created["tenant"]["id"])
        self.assertEqual(rows, [[hashlib.sha256(key.encode()).hexdigest(), key[:15]]])
        # The key is nowhere in the database, not even in the idempotency records.
        dump = self.p.sql("SELECT count(*) FROM idempotency_keys WHERE response_body LIKE '%%%s%%'"
                          % key[11:])
        self.assertEqual(dump, [["0"]])

    # -- operator API: tenants ---------------------------------------------------------------
    def test_admin_tenant_create_get_patch(self):
        st, body, raw, _ = self.admin("POST", "/admin/v1/tenants",
                                      {"name": "acme", "credit_limit_cents": 50,
                                       "allow_caller_id_forwarding": True})
        self.assertEqual(st, 201, raw)
        t = body["tenant"]
        self.assertTrue(t["id"].startswith("voepy_tenant_"))
        self.assertEqual((t["name"], t["status"], t["credit_limit_cents"],
                          t["allow_caller_id_forwarding"], t["balance_cents"]),
                         ("acme", "active", 50, True, 0))
        st, got, raw, _ = self.admin("GET", "/admin/v1/tenants/%s" % t["id"])
        self.assertEqual((st, got), (200, t), raw)
        st, got, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                     {"credit_limit_cents": 0, "default_route_id": self.route["id"],
                                      "allow_caller_id_forwarding": False})
        self.assertEqual(st, 200, raw)
        self.assertEqual((got["credit_limit_cents"], got["default_route_id"],
                          got["allow_caller_id_forwarding"], got["name"]),
                         (0, self.route["id"], False, "acme"))
        st, got, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                     {"default_route_id": None})
        self.assertEqual((st, got["default_route_id"]), (200, None), raw)
        # Bad input.
        missing = "voepy_tenant_01HZZZZZZZZZZZZZZZZZZZZZZZ"
        self.assert_error(self.admin("GET", "/admin/v1/tenants/%s" % missing), 404, "not_found")
        self.assert_error(self.admin("GET", "/admin/v1/tenants/nope"), 404, "not_found")
        self.assert_error(self.admin("PATCH", "/admin/v1/tenants/%s" % missing, {"status": "active"}),
                          404, "not_found")
        self.assert_error(self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"bogus": 1}),
                          400, "invalid_request", "bogus")
        self.assert_error(self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                     {"status": "deleted"}), 422, "invalid_parameter", "status")
        self.assert_error(self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                     {"credit_limit_cents": -1}), 422, "invalid_parameter",
                          "credit_limit_cents")
        self.assert_error(self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                     {"default_route_id": "voepy_route_01HZZZZZZZZZZZZZZZZZZZZZZZ"}),
                          422, "invalid_parameter", "default_route_id")
        self.assert_error(self.admin("POST", "/admin/v1/tenants", {}), 400, "invalid_request",
                          "name")
        self.assert_error(self.admin("POST", "/admin/v1/tenants", {"name": ""}), 422,
                          "invalid_parameter", "name")
        self.assert_error(self.admin("POST", "/admin/v1/tenants", {"name": 5}), 400,
                          "invalid_request", "name")

    def test_admin_tenant_suspended(self):
        t, key, nums = self.new_tenant()
        st, _, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                   {"status": "suspended"})
        self.assertEqual(st, 200, raw)
        self.assert_error(self.api("GET", "/v1/calls", key=key), 403, "forbidden")
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"status": "active"})
        self.assertEqual(self.api("GET", "/v1/calls", key=key)[0], 200)

    def test_admin_tenant_create_idempotent(self):
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        st1, b1, raw1, _ = self.admin("POST", "/admin/v1/tenants", {"name": "once"}, headers=idem)
        st2, b2, raw2, h2 = self.admin("POST", "/admin/v1/tenants", {"name": "once"}, headers=idem)
        self.assertEqual((st1, st2), (201, 201), raw2)
        self.assertEqual(b1["tenant"], b2["tenant"])
        self.assertTrue(b1["api_key"].startswith("voepy_live_"))
        self.assertIsNone(b2["api_key"])  # shown once, never stored
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assertEqual(self.p.sql("SELECT count(*) FROM tenants WHERE name = 'once'"), [["1"]])
        self.assert_error(self.admin("POST", "/admin/v1/tenants", {"name": "twice"}, headers=idem),
                          422, "idempotency_key_reused")

    def test_admin_credit(self):
        t, _, _ = self.new_tenant(credit=0, nnumbers=0)
        path = "/admin/v1/tenants/%s/credit" % t["id"]
        st, got, raw, _ = self.admin("POST", path, {"amount_cents": 250, "description": "top-up"})
        self.assertEqual((st, got["balance_cents"], got["id"]), (200, 250, t["id"]), raw)
        idem = {"Idempotency-Key": "credit-" + uuid.uuid4().hex}
        for _ in range(2):
            st, got, raw, _ = self.admin("POST", path, {"amount_cents": 100}, headers=idem)
            self.assertEqual((st, got["balance_cents"]), (200, 350), raw)
        rows = self.p.sql("SELECT count(*), sum(e.amount_cents) FROM ledger_transactions x"
                          " JOIN ledger_entries e ON e.txn_id = x.id"
                          " WHERE x.tenant_id = '%s' AND x.ref_type = 'admin_credit'" % t["id"])
        self.assertEqual(rows, [["4", "0"]])  # two transfers, two entries each, balanced
        self.assert_error(self.admin("POST", path, {"amount_cents": 0}), 422, "invalid_parameter",
                          "amount_cents")
        self.assert_error(self.admin("POST", path, {"amount_cents": "10"}), 400, "invalid_request",
                          "amount_cents")
        self.assert_error(self.admin("POST", path, {"amount_cents": 1.5}), 400, "invalid_request",
                          "amount_cents")
        self.assert_error(self.admin("POST", path, {}), 400, "invalid_request", "amount_cents")
        self.assert_error(self.admin("POST", "/admin/v1/tenants/%s/credit"
                                     % "voepy_tenant_01HZZZZZZZZZZZZZZZZZZZZZZZ",
                                     {"amount_cents": 5}), 404, "not_found")

    # -- operator API: routes, numbers, rates --------------------------------------------------
    def test_admin_routes(self):
        st, r, raw, _ = self.admin("POST", "/admin/v1/routes",
                                   {"name": "tcp trunk", "sip_uri": "sip:[::1]:5070",
                                    "transport": "tcp"})
        self.assertEqual(st, 201, raw)
        self.assertTrue(r["id"].startswith("voepy_route_"))
        self.assertEqual((r["sip_uri"], r["transport"], r["platform_default"]),
                         ("sip:[::1]:5070", "tcp", False))
        st, listing, raw, _ = self.admin("GET", "/admin/v1/routes")
        self.assertEqual(st, 200, raw)
        self.assertIn(r, listing["data"])
        for uri in ("http://x", "sip:", "sip:host:99999", "sip:user@host", "sip:bad host"):
            self.assert_error(self.admin("POST", "/admin/v1/routes",
                                         {"name": "x", "sip_uri": uri, "transport": "udp"}),
                              422, "invalid_parameter", "sip_uri")
        self.assert_error(self.admin("POST", "/admin/v1/routes",
                                     {"name": "x", "sip_uri": "sip:h", "transport": "tls"}),
                          422, "invalid_parameter", "transport")
        self.assert_error(self.admin("POST", "/admin/v1/routes", {"name": "x", "sip_uri": "sip:h"}),
                          400, "invalid_request", "transport")

    def test_admin_numbers(self):
        a, b = next_number(), next_number()
        gb = next_number("+44207946")
        st, got, raw, _ = self.admin("POST", "/admin/v1/numbers",
                                     {"numbers": [a, b, gb], "route_id": self.route["id"]})
        self.assertEqual(st, 201, raw)
        self.assertEqual([(n["phone_number"], n["country"], n["status"]) for n in got["data"]],
                         [(a, "US", "available"), (b, "US", "available"), (gb, "GB", "available")])
        self.assert_error(self.admin("POST", "/admin/v1/numbers", {"numbers": [a]}), 409,
                          "conflict")
        self.assert_error(self.admin("POST", "/admin/v1/numbers", {"numbers": ["5125550100"]}),
                          422, "invalid_parameter", "numbers[0]")
        self.assert_error(self.admin("POST", "/admin/v1/numbers", {"numbers": [next_number(), 5]}),
                          400, "invalid_request", "numbers[1]")
        self.assert_error(self.admin("POST", "/admin/v1/numbers", {"numbers": []}), 422,
                          "invalid_parameter", "numbers")
        # No default country for +998: the operator must say.
        uz = next_number("+99871")
        self.assert_error(self.admin("POST", "/admin/v1/numbers", {"numbers": [uz]}), 422,
                          "invalid_parameter", "country")
        st, got, raw, _ = self.admin("POST", "/admin/v1/numbers", {"numbers": [uz], "country": "uz"})
        self.assertEqual((st, got["data"][0]["country"]), (201, "UZ"), raw)
        self.assert_error(self.admin("POST", "/admin/v1/numbers",
                                     {"numbers": [next_number()], "route_id":
                                      "voepy_route_01HZZZZZZZZZZZZZZZZZZZZZZZ"}),
                          422, "invalid_parameter", "route_id")
        # Nothing of a refused request was added.
        self.assertEqual(self.p.sql("SELECT count(*) FROM phone_numbers WHERE phone_number = '%s'"
                                    % uz), [["1"]])

    def test_admin_rates(self):
        t, _, _ = self.new_tenant(credit=0, nnumbers=0)
        st, r, raw, _ = self.admin("POST", "/admin/v1/rates",
                                   {"prefix": "+4420", "cents_per_minute": "0.45",
                                    "connection_fee_cents": 2, "initial_increment_secs": 60,
                                    "subsequent_increment_secs": 6, "tenant_id": t["id"]})
        self.assertEqual(st, 201, raw)
        self.assertTrue(r["id"].startswith("voepy_rate_"))
        self.assertEqual((r["prefix"], r["cents_per_minute"], r["connection_fee_cents"],
                          r["initial_increment_secs"], r["subsequent_increment_secs"],
                          r["tenant_id"]), ("4420", "0.45", "2", 60, 6, t["id"]))
        rows = self.p.sql("SELECT micros_per_minute, connection_fee_micros FROM rates WHERE id = '%s'"
                          % r["id"])
        self.assertEqual(rows, [["450000", "2000000"]])
        st, r2, raw, _ = self.admin("POST", "/admin/v1/rates", {"prefix": "3399", "cents_per_minute": 3})
        self.assertEqual((st, r2["cents_per_minute"], r2["tenant_id"]), (201, "3", None), raw)
        self.assert_error(self.admin("POST", "/admin/v1/rates", {"prefix": "3399", "cents_per_minute": 4}),
                          409, "conflict")
        self.assert_error(self.admin("POST", "/admin/v1/rates", {"prefix": "1", "cents_per_minute": 0.45}),
                          422, "invalid_parameter", "cents_per_minute")
        self.assert_error(self.admin("POST", "/admin/v1/rates", {"prefix": "1", "cents_per_minute": "1.2345678"}),
                          422, "invalid_parameter", "cents_per_minute")
        self.assert_error(self.admin("POST", "/admin/v1/rates", {"prefix": "1", "cents_per_minute": "-1"}),
                          422, "invalid_parameter", "cents_per_minute")
        self.assert_error(self.admin("POST", "/admin/v1/rates", {"prefix": "1", "cents_per_minute": True}),
                          400, "invalid_request", "cents_per_minute")
        self.assert_error(self.admin("POST", "/admin/v1/rates", {"prefix": "1x", "cents_per_minute": 1}),
                          422, "invalid_parameter", "prefix")
        self.assert_error(self.admin("POST", "/admin/v1/rates",
                                     {"prefix": "1", "cents_per_minute": 1,
                                      "tenant_id": "voepy_tenant_01HZZZZZZZZZZZZZZZZZZZZZZZ"}),
                          422, "invalid_parameter", "tenant_id")

    # -- phone numbers ---------------------------------------------------------------------------
    def test_numbers_search_buy_list_release(self):
        t, key, _ = self.new_tenant(credit=0, nnumbers=0)
        _, other, _ = self.new_tenant(credit=0, nnumbers=0)
        mine = [next_number("+1737555"), next_number("+1737555"), next_number("+1737555")]
        st, _, raw, _ = self.admin("POST", "/admin/v1/numbers", {"numbers": mine})
        self.assertEqual(st, 201, raw)
        st, found, raw, _ = self.api("GET", "/v1/phone_numbers/available?country=US&area_code=737",
                                     key=key)
        self.assertEqual(st, 200, raw)
        got = [n["phone_number"] for n in found["data"]]
        self.assertTrue(set(mine) <= set(got), got)
        self.assertTrue(all(n.startswith("+1737") for n in got), got)
        st, found, _, _ = self.api("GET", "/v1/phone_numbers/available?contains=%s" % mine[1][-6:],
                                   key=key)
        self.assertEqual([n["phone_number"] for n in found["data"]], [mine[1]])
        st, found, _, _ = self.api("GET", "/v1/phone_numbers/available?country=GB&area_code=737",
                                   key=key)
        self.assertEqual(found["data"], [])
        st, found, _, _ = self.api("GET", "/v1/phone_numbers/available?area_code=737&limit=1",
                                   key=key)
        self.assertEqual(len(found["data"]), 1)
        for q, field in (("country=USA", "country"), ("area_code=7a", "area_code"),
                         ("contains=", None), ("limit=0", "limit"), ("limit=201", "limit"),
                         ("limit=x", "limit")):
            resp = self.api("GET", "/v1/phone_numbers/available?" + q, key=key)
            if field is None:
                self.assertEqual(resp[0], 200, resp[2])
            else:
                self.assert_error(resp, 422, "invalid_parameter", field)
        # Buy all three; another tenant cannot buy one of them.
        bought = []
        for n in mine:
            st, num, raw, _ = self.api("POST", "/v1/phone_numbers", {"phone_number": n}, key=key)
            self.assertEqual((st, num["status"], num["phone_number"]), (201, "active", n), raw)
            self.assertIsNotNone(num["purchased_at"])
            bought.append(num)
        self.assert_error(self.api("POST", "/v1/phone_numbers", {"phone_number": mine[0]}, key=other),
                          409, "number_not_available", "phone_number")
        self.assert_error(self.api("POST", "/v1/phone_numbers", {"phone_number": "+15550000000"},
                                   key=key), 409, "number_not_available")
        self.assert_error(self.api("POST", "/v1/phone_numbers", {"phone_number": "555"}, key=key),
                          422, "invalid_parameter", "phone_number")
        self.assert_error(self.api("POST", "/v1/phone_numbers", {}, key=key), 400,
                          "invalid_request", "phone_number")
        # List, two per page.
        ids, cursor, pages = [], None, 0
        while True:
            q = "/v1/phone_numbers?limit=2" + ("&cursor=" + cursor if cursor else "")
            page = self.assert_page(self.api("GET", q, key=key), 2, "created_at")
            ids += [n["id"] for n in page["data"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        # Oldest first; numbers added in one statement share created_at and sort by id.
        self.assertEqual((sorted(ids), len(ids), pages), (sorted(n["id"] for n in bought), 3, 2))
        # Exactly limit rows: no next page.
        page = self.assert_page(self.api("GET", "/v1/phone_numbers?limit=3", key=key), 3,
                                "created_at")
        self.assertEqual(([n["id"] for n in page["data"]], page["next_cursor"]), (ids, None))
        # Fetch, isolation, release.
        nid = bought[0]["id"]
        st, got, raw, _ = self.api("GET", "/v1/phone_numbers/%s" % nid, key=key)
        self.assertEqual((st, got), (200, bought[0]), raw)
        self.assert_error(self.api("GET", "/v1/phone_numbers/%s" % nid, key=other), 404, "not_found")
        self.assert_error(self.api("DELETE", "/v1/phone_numbers/%s" % nid, key=other), 404,
                          "not_found")
        st, _, raw, _ = self.api("DELETE", "/v1/phone_numbers/%s" % nid, key=key)
        self.assertEqual((st, raw), (204, b""))
        self.assert_error(self.api("GET", "/v1/phone_numbers/%s" % nid, key=key), 404, "not_found")
        self.assert_error(self.api("DELETE", "/v1/phone_numbers/%s" % nid, key=key), 404,
                          "not_found")
        st, found, _, _ = self.api("GET", "/v1/phone_numbers/available?contains=%s" % mine[0][-6:],
                                   key=other)
        self.assertEqual([n["phone_number"] for n in found["data"]], [mine[0]])
        st, num, raw, _ = self.api("POST", "/v1/phone_numbers", {"phone_number": mine[0]}, key=other)
        self.assertEqual(st, 201, raw)

    # -- calls -------------------------------------------------------------------------------
    def test_call_create(self):
        t, key, (frm,) = self.new_tenant()
        st, call, raw, _ = self.place(key, frm, customer_reference="cart-abc-123", timeout_secs=30,
                                      time_limit_secs=90, record="on_answer", record_format="wav",
                                      record_channels="dual", answering_machine_detection="premium",
                                      audio_url="https://example.com/ring.wav")
        self.assertEqual(st, 201, raw)
        self.assertTrue(call["id"].startswith("voepy_call_"))
        self.assertEqual((call["status"], call["direction"], call["from"], call["to"],
                          call["route_id"], call["customer_reference"], call["timeout_secs"],
                          call["time_limit_secs"], call["cost_cents"], call["rating_status"]),
                         ("initiated", "outbound", frm, "+15558675309", self.route["id"],
                          "cart-abc-123", 30, 90, None, "pending"))
        self.assertEqual(len(call["legs"]), 1)
        leg = call["legs"][0]
        self.assertEqual((leg["direction"], leg["from"], leg["to"], leg["status"]),
                         ("outbound", frm, "+15558675309", "initiated"))
        self.assertEqual(call["recordings"], [])
        # The dial command, the event, the stored options.
        self.assertEqual(self.dials_for(call["id"]),
                         [{"op": "dial", "call_id": call["id"], "tenant_id": t["id"]}])
        rows = self.p.sql("SELECT type, data::json->>'status', data::json->>'customer_reference'"
                          " FROM events WHERE call_id = '%s'" % call["id"])
        self.assertEqual(rows, [["call.started", "initiated", "cart-abc-123"]])
        opts = json.loads(self.p.sql("SELECT options FROM calls WHERE id = '%s'" % call["id"])[0][0])
        self.assertEqual(opts, {"record": "on_answer", "record_channels": "dual",
                                "record_format": "wav", "answering_machine_detection": "premium",
                                "audio_url": "https://example.com/ring.wav",
                                "caller_id_forwarding": False})
        # GET returns the same resource.
        st, got, raw, _ = self.api("GET", "/v1/calls/%s" % call["id"], key=key)
        self.assertEqual((st, got), (200, call), raw)
        # Defaults.
        st, call2, raw, _ = self.place(key, frm)
        self.assertEqual((st, call2["timeout_secs"], call2["time_limit_secs"],
                          call2["customer_reference"]), (201, 60, None, None), raw)

    def test_call_bad_input(self):
        _, key, (frm,) = self.new_tenant()
        ok = {"from": frm, "to": "+15558675309"}
        json_ct = {"Content-Type": "application/json"}

        def post(body=None, raw=None, headers=None):
            if headers is None and raw is not None:
                headers = json_ct
            return self.api("POST", "/v1/calls", body, key=key, raw=raw, headers=headers)

        self.assert_error(post(raw=b'{"from": '), 400, "invalid_request")
        self.assert_error(post(raw=b'[1, 2]'), 400, "invalid_request")
        self.assert_error(post(raw=b''), 400, "invalid_request")
        self.assert_error(post(raw=b'{"from": "+15125550100", "from": "+15125550100"}'), 400,
                          "invalid_request")
        self.assert_error(post(dict(ok, colour="blue")), 400, "invalid_request", "colour")
        self.assert_error(post({"to": "+15558675309"}), 400, "invalid_request", "from")
        self.assert_error(post(dict(ok, timeout_secs="30")), 400, "invalid_request", "timeout_secs")
        self.assert_error(post(dict(ok, caller_id_forwarding="yes")), 400, "invalid_request",
                          "caller_id_forwarding")
        self.assert_error(post(dict(ok, to="5558675309")), 422, "invalid_parameter", "to")
        self.assert_error(post(dict(ok, to="+1-555-867-5309")), 422, "invalid_parameter", "to")
        self.assert_error(post(dict(ok, **{"from": "+0123456789"})), 422, "invalid_parameter",
                          "from")
        self.assert_error(post(dict(ok, customer_reference="x" * 129)), 422, "invalid_parameter",
                          "customer_reference")
        for f, v in (("timeout_secs", 0), ("timeout_secs", 601), ("time_limit_secs", 0),
                     ("time_limit_secs", 86401), ("record", "always"), ("record_channels", "quad"),
                     ("record_format", "ogg"), ("answering_machine_detection", "basic"),
                     ("route_id", "trunk-1"), ("audio_url", "ftp://example.com/a.wav"),
                     ("audio_url", "http://224.0.0.1/a.wav")):
            self.assert_error(post(dict(ok, **{f: v})), 422, "invalid_parameter", f)
        self.assert_error(post(dict(ok, route_id="voepy_route_01HZZZZZZZZZZZZZZZZZZZZZZZ")), 422,
                          "invalid_parameter", "route_id")
        self.assert_error(post(raw=json.dumps(ok).encode(), headers={"Content-Type": "text/plain"}),
                          415, "unsupported_media_type")
        self.assert_error(post(raw=json.dumps(ok).encode(), headers={}), 415,
                          "unsupported_media_type")
        st, _, _, _ = post(raw=json.dumps(ok).encode(),
                           headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(st, 201)
        self.assert_error(post(raw=b"x" * (MAX_BODY + 1)), 413, "payload_too_large")
        self.assert_error(self.api("POST", "/v1/calls", ok,
                                   headers={"Idempotency-Key": "x" * 256}, key=key),
                          400, "invalid_request", "Idempotency-Key")
        # Boundaries that are fine.
        st, call, raw, _ = post(dict(ok, customer_reference="x" * 128, timeout_secs=600,
                                     time_limit_secs=86400, route_id=self.route["id"]))
        self.assertEqual(st, 201, raw)
        # Nothing was created by the refused requests: only the two accepted calls exist.
        self.assertEqual(self.p.sql("SELECT count(*) FROM calls c JOIN api_keys k"
                                    " ON k.tenant_id = c.tenant_id WHERE k.key_hash = '%s'"
                                    % hashlib.sha256(key.encode()).hexdigest()), [["2"]])

    def test_call_from_not_owned(self):
        t, key, (frm,) = self.new_tenant()
        _, _, (others,) = self.new_tenant()
        self.assert_error(self.place(key, others), 403, "from_number_not_owned", "from")
        self.assert_error(self.place(key, "+15550001111"), 403, "from_number_not_owned", "from")
        self.assert_error(self.place(key, "+15550001111", caller_id_forwarding=True), 403,
                          "from_number_not_owned", "from")
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"allow_caller_id_forwarding": True})
        self.assert_error(self.place(key, "+15550001111"), 403, "from_number_not_owned", "from")
        st, call, raw, _ = self.place(key, "+15550001111", caller_id_forwarding=True)
        self.assertEqual((st, call["from"]), (201, "+15550001111"), raw)
        # A released number is no longer ours to call from.
        nid = self.p.sql("SELECT id FROM phone_numbers WHERE phone_number = '%s'" % frm)[0][0]
        self.assertEqual(self.api("DELETE", "/v1/phone_numbers/%s" % nid, key=key)[0], 204)
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"allow_caller_id_forwarding": False})
        self.assert_error(self.place(key, frm), 403, "from_number_not_owned")

    def test_call_balance(self):
        t, key, (frm,) = self.new_tenant(credit=0)
        self.assert_error(self.place(key, frm), 402, "balance_insufficient")
        self.assertEqual(self.p.sql("SELECT count(*) FROM calls WHERE tenant_id = '%s'" % t["id"]),
                         [["0"]])
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"credit_limit_cents": 100})
        self.assertEqual(self.place(key, frm)[0], 201)
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"credit_limit_cents": 0})
        self.assert_error(self.place(key, frm), 402, "balance_insufficient")
        self.admin("POST", "/admin/v1/tenants/%s/credit" % t["id"], {"amount_cents": 1})
        self.assertEqual(self.place(key, frm)[0], 201)

    def test_call_idempotency(self):
        t, key, (frm,) = self.new_tenant()
        t2, key2, (frm2,) = self.new_tenant()
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        st1, c1, raw1, _ = self.place(key, frm, headers=idem, customer_reference="once")
        st2, c2, raw2, h2 = self.place(key, frm, headers=idem, customer_reference="once")
        self.assertEqual(st1, 201, raw1)
        self.assertEqual((st2, raw2), (st1, raw1))  # byte for byte
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        rows = self.p.sql("SELECT count(*) FROM calls WHERE tenant_id = '%s'"
                          " AND customer_reference = 'once'" % t["id"])
        self.assertEqual(rows, [["1"]])
        self.assertEqual(len(self.dials_for(c1["id"])), 1)
        self.assertEqual(self.p.sql("SELECT count(*) FROM events WHERE call_id = '%s'" % c1["id"]),
                         [["1"]])
        # Same key, another body.
        self.assert_error(self.place(key, frm, headers=idem, customer_reference="twice"), 422,
                          "idempotency_key_reused", "Idempotency-Key")
        # Same key, another tenant: a different request altogether.
        st3, c3, raw3, _ = self.place(key2, frm2, headers=idem, customer_reference="once")
        self.assertEqual(st3, 201, raw3)
        self.assertNotEqual(c3["id"], c1["id"])
        # An error is not stored: after a top-up the same key goes through.
        t4, key4, (frm4,) = self.new_tenant(credit=0)
        idem4 = {"Idempotency-Key": str(uuid.uuid4())}
        self.assert_error(self.place(key4, frm4, headers=idem4), 402, "balance_insufficient")
        self.admin("POST", "/admin/v1/tenants/%s/credit" % t4["id"], {"amount_cents": 10})
        self.assertEqual(self.place(key4, frm4, headers=idem4)[0], 201)

    def test_call_tenant_isolation(self):
        _, key, (frm,) = self.new_tenant()
        _, other, _ = self.new_tenant()
        st, call, raw, _ = self.place(key, frm)
        self.assertEqual(st, 201, raw)
        self.assert_error(self.api("GET", "/v1/calls/%s" % call["id"], key=other), 404, "not_found")
        self.assert_error(self.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {}, key=other),
                          404, "not_found")
        rows = self.p.sql("SELECT hangup_requested_at IS NULL FROM calls WHERE id = '%s'"
                          % call["id"])
        self.assertEqual(rows, [["t"]])
        st, listing, _, _ = self.api("GET", "/v1/calls", key=other)
        self.assertNotIn(call["id"], [c["id"] for c in listing["data"]])
        self.assert_error(self.api("GET", "/v1/calls/voepy_call_01HZZZZZZZZZZZZZZZZZZZZZZZ", key=key),
                          404, "not_found")
        self.assert_error(self.api("GET", "/v1/calls/nope", key=key), 404, "not_found")

    def test_call_list_pagination_and_filters(self):
        _, key, (frm,) = self.new_tenant()
        made = []
        for i in range(5):
            st, c, raw, _ = self.place(key, frm, to="+1555867%04d" % i)
            self.assertEqual(st, 201, raw)
            made.append(c)
            time.sleep(0.005)
        seen, cursor, pages = [], None, 0
        while True:
            q = "/v1/calls?limit=2" + ("&cursor=" + cursor if cursor else "")
            page = self.assert_page(self.api("GET", q, key=key), 2, "initiated_at")
            seen += page["data"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertLessEqual(pages, 5)
        self.assertEqual(pages, 3)
        self.assertEqual([c["id"] for c in seen], [c["id"] for c in reversed(made)])  # newest first
        self.assertTrue(all("legs" not in c and "recordings" not in c for c in seen))
        # Exactly limit rows: no next page.
        page = self.assert_page(self.api("GET", "/v1/calls?limit=5", key=key), 5, "initiated_at")
        self.assertEqual((len(page["data"]), page["next_cursor"]), (5, None))
        st, page, _, _ = self.api("GET", "/v1/calls", key=key)
        self.assertEqual(len(page["data"]), 5)

        def ids(query):
            st, page, raw, _ = self.api("GET", "/v1/calls?" + query, key=key)
            self.assertEqual(st, 200, raw)
            return [c["id"] for c in page["data"]]

        self.assertEqual(ids("to_number=%2B15558670003"), [made[3]["id"]])
        self.assertEqual(ids("to_number=+15558670003"), [made[3]["id"]])  # "+" sent raw
        self.assertEqual(ids("from_number=%2B" + frm[1:] + "&to_number=%2B15558670001"),
                         [made[1]["id"]])
        self.assertEqual(ids("status=initiated&direction=outbound&limit=200"),
                         [c["id"] for c in reversed(made)])
        self.assertEqual(ids("status=ended"), [])
        self.assertEqual(ids("direction=inbound"), [])
        self.assertEqual(ids("initiated_after=2100-01-01T00:00:00Z"), [])
        self.assertEqual(ids("initiated_after=%s" % ms_later(made[2]["initiated_at"])),
                         [made[4]["id"], made[3]["id"]])
        self.assertEqual(len(ids("initiated_after=2020-01-01T00:00:00%2B02:00")), 5)
        for q, field in (("status=done", "status"), ("direction=up", "direction"),
                         ("limit=0", "limit"), ("limit=201", "limit"),
                         ("cursor=%21%21", "cursor"), ("cursor=bm90LWEtY3Vyc29y", "cursor"),
                         ("from_number=123", "from_number"),
                         ("initiated_after=yesterday", "initiated_after")):
            self.assert_error(self.api("GET", "/v1/calls?" + q, key=key), 422,
                              "invalid_parameter", field)

    def test_call_hangup(self):
        t, key, (frm,) = self.new_tenant()
        st, call, raw, _ = self.place(key, frm)
        self.assertEqual(st, 201, raw)
        path = "/v1/calls/%s/actions/hangup" % call["id"]
        # Not claimed by a node: recorded only.
        st, got, raw, _ = self.api("POST", path, {}, key=key)
        self.assertEqual((st, got["id"], got["status"]), (200, call["id"], "initiated"), raw)
        self.assertEqual(self.p.sql("SELECT hangup_requested_at IS NOT NULL FROM calls"
                                    " WHERE id = '%s'" % call["id"]), [["t"]])
        self.assertEqual(self.stream("voepy:cc:cc-nobody"), [])
        # Owned by a node: the node gets the command on its inbox.
        node = "cc-test-%s" % uuid.uuid4().hex[:6]
        self.p.sql("UPDATE calls SET node_id = '%s', status = 'answered',"
                   " answered_at = now() WHERE id = '%s'" % (node, call["id"]))
        st, got, raw, _ = self.api("POST", path, key=key)  # no body at all is fine too
        self.assertEqual((st, got["status"]), (200, "answered"), raw)
        self.assertEqual(self.stream("voepy:cc:%s" % node),
                         [{"op": "hangup", "call_id": call["id"], "tenant_id": t["id"],
                           "initiator": "api"}])
        self.assert_error(self.api("POST", path, {"cause": "x"}, key=key), 400, "invalid_request",
                          "cause")
        # Terminal calls.
        self.p.sql("UPDATE calls SET status = 'ended', ended_at = now(), end_reason = 'completed'"
                   " WHERE id = '%s'" % call["id"])
        self.assert_error(self.api("POST", path, {}, key=key), 409, "call_already_ended")
        # An unknown verb is no path; GET on an action is the wrong method.
        self.assert_error(self.api("POST", "/v1/calls/%s/actions/teleport" % call["id"], {}, key=key),
                          404, "not_found")
        st, _, raw, headers = self.api("GET", path, key=key)
        self.assertEqual((st, headers.get("allow")), (405, "POST"), raw)
        self.assert_error(self.api("POST", "/v1/calls/voepy_call_01HZZZZZZZZZZZZZZZZZZZZZZZ/actions/hangup",
                                   {}, key=key), 404, "not_found")

    def test_call_route_resolution(self):
        # Runs alone on the platform default: none exists until this test creates one.
        if self.p.sql("SELECT count(*) FROM routes WHERE is_platform_default") != [["0"]]:
            self.skipTest("a platform default route already exists")
        t, key, (frm,) = self.new_tenant(default_route_id=None)
        self.assert_error(self.place(key, frm), 503, "service_unavailable")
        st, call, raw, _ = self.place(key, frm, route_id=self.route["id"])
        self.assertEqual((st, call["route_id"]), (201, self.route["id"]), raw)
        default = self.p.create_route("sip:127.0.0.1:5998", name="platform", platform_default=True)
        st, call, raw, _ = self.place(key, frm)
        self.assertEqual((st, call["route_id"]), (201, default["id"]), raw)
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"default_route_id": self.route["id"]})
        st, call, raw, _ = self.place(key, frm)
        self.assertEqual((st, call["route_id"]), (201, self.route["id"]), raw)
        self.p.sql("UPDATE routes SET is_platform_default = false")

    # -- webhooks ----------------------------------------------------------------------------
    def test_webhooks(self):
        _, key, _ = self.new_tenant(credit=0, nnumbers=0)
        _, other, _ = self.new_tenant(credit=0, nnumbers=0)
        st, created, raw, _ = self.api("POST", "/v1/webhooks",
                                       {"url": "http://127.0.0.1:1024/hooks",
                                        "events": ["call.answered", "call.ended"], "name": "main"},
                                       key=key)
        self.assertEqual(st, 201, raw)
        self.assertEqual(set(created), {"webhook", "secret"})
        self.assertRegex(created["secret"], r"^whsec_[A-Za-z0-9+/=]{40,}$")
        w = created["webhook"]
        self.assertTrue(w["id"].startswith("voepy_whk_"))
        self.assertNotIn("secret", w)
        self.assertEqual((w["url"], w["events"], w["name"], w["active"]),
                         ("http://127.0.0.1:1024/hooks", ["call.answered", "call.ended"], "main", True))
        st, all_default, raw, _ = self.api("POST", "/v1/webhooks", {"url": "https://example.com/x"},
                                           key=key)
        self.assertEqual((st, all_default["webhook"]["events"]), (201, ["*"]), raw)
        st, got, raw, _ = self.api("GET", "/v1/webhooks/%s" % w["id"], key=key)
        self.assertEqual((st, got), (200, w), raw)
        listing = self.assert_page(self.api("GET", "/v1/webhooks?limit=1", key=key), 1,
                                   "created_at")
        self.assertEqual((listing["data"], listing["next_cursor"] is not None), ([w], True))
        page2 = self.assert_page(self.api("GET", "/v1/webhooks?limit=1&cursor=" +
                                          listing["next_cursor"], key=key), 1, "created_at")
        self.assertEqual(([x["id"] for x in page2["data"]], page2["next_cursor"]),
                         ([all_default["webhook"]["id"]], None))
        # Exactly limit rows: both endpoints, oldest first, and no next page.
        both = self.assert_page(self.api("GET", "/v1/webhooks?limit=2", key=key), 2, "created_at")
        self.assertEqual((both["data"], both["next_cursor"]), ([w, all_default["webhook"]], None))
        # Isolation.
        self.assert_error(self.api("GET", "/v1/webhooks/%s" % w["id"], key=other), 404, "not_found")
        self.assert_error(self.api("DELETE", "/v1/webhooks/%s" % w["id"], key=other), 404,
                          "not_found")
        empty = self.assert_page(self.api("GET", "/v1/webhooks", key=other), 50, "created_at")
        self.assertEqual(empty, {"data": [], "next_cursor": None})
        # Delete.
        st, _, raw, _ = self.api("DELETE", "/v1/webhooks/%s" % w["id"], key=key)
        self.assertEqual((st, raw), (204, b""))
        self.assert_error(self.api("GET", "/v1/webhooks/%s" % w["id"], key=key), 404, "not_found")
        self.assert_error(self.api("DELETE", "/v1/webhooks/%s" % w["id"], key=key), 404, "not_found")
        self.assertEqual([x["id"] for x in self.api("GET", "/v1/webhooks", key=key)[1]["data"]],
                         [all_default["webhook"]["id"]])
        # Bad input.
        for body, status, code, field in (
                ({}, 400, "invalid_request", "url"),
                ({"url": "ftp://example.com/x"}, 422, "invalid_parameter", "url"),
                ({"url": "wss://example.com/x"}, 422, "invalid_parameter", "url"),
                ({"url": "http://224.0.0.1/x"}, 422, "invalid_parameter", "url"),
                ({"url": "https://example.com", "events": "call.ended"}, 400, "invalid_request",
                 "events"),
                ({"url": "https://example.com", "events": []}, 422, "invalid_parameter", "events"),
                ({"url": "https://example.com", "events": ["call.nope"]}, 422,
                 "invalid_parameter", "events[0]"),
                ({"url": "https://example.com", "events": ["*", 3]}, 400, "invalid_request",
                 "events[1]"),
                ({"url": "https://example.com", "secret": "mine"}, 400, "invalid_request",
                 "secret")):
            self.assert_error(self.api("POST", "/v1/webhooks", body, key=key), status, code, field)

    # -- the HTTP surface ----------------------------------------------------------------------
    def test_unknown_paths_and_methods(self):
        _, key, _ = self.new_tenant(credit=0, nnumbers=0)
        self.assert_error(self.api("GET", "/v1/nothing", key=key), 404, "not_found")
        self.assert_error(self.api("GET", "/", key=key), 404, "not_found")
        self.assert_error(self.api("GET", "/v1/calls/", key=key), 404, "not_found")
        st, body, raw, headers = self.api("DELETE", "/v1/calls", key=key)
        self.assert_error((st, body, raw, headers), 405, "method_not_allowed")
        self.assertEqual(headers.get("allow"), "POST, GET")
        st, _, _, headers = self.api("PUT", "/admin/v1/tenants/x")
        self.assertEqual((st, headers.get("allow")), (405, "GET, PATCH"))
        self.assertEqual(headers.get("content-type"), "application/json")

    def test_metrics_and_request_log(self):
        t, key, _ = self.new_tenant(credit=0, nnumbers=0)
        self.api("GET", "/v1/calls", key=key)
        st, _, text = http_request("127.0.0.1", self.p.ops_ports["api-gateway"], "GET", "/metrics")
        self.assertEqual(st, 200)
        m = re.search(r'^voepy_api_requests_total\{method="GET",route="/v1/calls",status="200"\} (\d+)$',
                      text.decode(), re.M)
        self.assertIsNotNone(m, text.decode()[:2000])
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertIn("voepy_api_request_duration_seconds_bucket", text.decode())
        lines = [json.loads(l) for l in self.p.procs["api-gateway"].output().splitlines()
                 if l.startswith("{") and '"api.request"' in l]
        mine = [l for l in lines if l.get("tenant_id") == t["id"] and l.get("route") == "/v1/calls"]
        self.assertTrue(mine, lines[-5:])
        self.assertEqual((mine[-1]["method"], mine[-1]["status"]), ("GET", "200"))
        self.assertIn("duration_ms", mine[-1])
        # The effective configuration is logged; the admin token and API keys never are.
        out = self.p.procs["api-gateway"].output()
        self.assertIn('"config.effective"', out)
        self.assertNotIn(self.p.admin_token, out)
        self.assertNotIn(key, out)


class ApiStartup(unittest.TestCase):
    """Configuration the gateway refuses, and a clean drain."""

    def test_refuses_to_start_without_admin_token(self):
        p = Platform(services=(), name="api-start")
        p.start()
        try:
            proc = p.start_service("api-gateway", VOEPY_ADMIN_TOKEN="")
            proc.proc.wait(20)
            self.assertEqual(proc.stop(), 2)
            self.assertIn("VOEPY_ADMIN_TOKEN", proc.output())
            # Port 0: a free port is chosen and logged; SIGTERM drains and exits 0.
            proc = p.start_service("api-gateway", VOEPY_API_PORT="0")
            p.wait_ready("api-gateway")
            out = ""
            deadline = time.monotonic() + 10
            while "api.listening" not in out and time.monotonic() < deadline:
                time.sleep(0.05)
                out = proc.output()
            port = int(re.search(r"public API on http://127\.0\.0\.1:(\d+)", out).group(1))
            self.assertNotEqual(port, 0)
            st, _, body = http_request("127.0.0.1", port, "GET", "/v1/calls")
            self.assertEqual(st, 401, body)
            self.assertEqual(proc.stop(), 0)
            self.assertIn("api.drained", proc.output())
            self.assertIsNone(proc.sanitizer_report())
        finally:
            p.stop()

    def test_drain_finishes_requests_in_flight(self):
        p = Platform(services=("api-gateway",), name="api-drain")
        p.start()
        try:
            num = next_number()
            key = p.create_tenant("drain")["api_key"]
            self.assertEqual(p.admin("POST", "/admin/v1/numbers", {"numbers": [num]})[0], 201)
            # Hold the number's row lock so that buying it waits inside PostgreSQL.
            locker = subprocess.Popen(
                ["psql", p.pg_dsn, "-X", "-q", "-c",
                 "BEGIN; SELECT 1 FROM phone_numbers WHERE phone_number = '%s' FOR UPDATE;"
                 " SELECT pg_sleep(2); COMMIT;" % num], stdout=subprocess.DEVNULL)
            wait_until(lambda: p.sql("SELECT count(*) FROM pg_stat_activity"
                                     " WHERE query LIKE '%%pg_sleep(2)%%' AND state = 'active'"
                                     " AND pid <> pg_backend_pid()") == [["1"]], 10,
                       what="the lock holder")
            result = {}
            t = threading.Thread(target=lambda: result.update(
                r=p.api("POST", "/v1/phone_numbers", {"phone_number": num}, key=key)))
            t.start()
            wait_until(lambda: p.sql("SELECT count(*) FROM pg_stat_activity"
                                     " WHERE query LIKE '%%api_number_buy%%'"
                                     " AND wait_event_type = 'Lock'") == [["1"]], 10,
                       what="the request waiting on the lock")
            proc = p.procs["api-gateway"]
            proc.signal(signal.SIGTERM)

            def refused():
                try:
                    http_request("127.0.0.1", p.api_port, "GET", "/v1/calls", timeout=1)
                    return False
                except (ConnectionRefusedError, ConnectionResetError):
                    # A connect that lands in the backlog as the listener closes is reset.
                    return True
            wait_until(refused, 5, what="the listener to close")
            t.join(10)
            locker.wait(10)
            st, body, raw, _ = result["r"]
            self.assertEqual((st, body["status"]), (201, "active"), raw)
            self.assertEqual(proc.proc.wait(10), 0)
            self.assertIn("api.drained", proc.output())
        finally:
            p.stop()


if __name__ == "__main__":
    unittest.main()
