"""API keys, scopes, /v1/whoami and per-tenant rate limits, against real PostgreSQL and Redis.

Only the gateway runs (no call-control): placed calls stay "initiated". The auth cache is
left at its default (VOEPY_API_AUTH_CACHE_MS=1000), so the tests also show what it
promises: revocations and rotations made through this gateway act at once, changes made
behind its back (SQL) within the cache time.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_api_keys
"""
import hashlib
import itertools
import json
import time
import unittest
import uuid

from harness import ApiAssertions, Platform, http_request, sh_lib

_numbers = itertools.count(3000)
KEY_FIELDS = ["id", "name", "prefix", "scopes", "created_at", "revoked_at", "expires_at",
              "last_used_at"]
CACHE_MS = 1000


def next_number(prefix="+1512777"):
    return "%s%04d" % (prefix, next(_numbers))


def ordered_keys(raw):
    return [k for k, _ in json.loads(raw, object_pairs_hook=lambda kv: kv)]


class ApiKeys(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), name="keys")
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

    def new_tenant(self, credit=0, nnumbers=0):
        """A tenant (its first key holds "*"), with a default route, credit and numbers."""
        created = self.p.create_tenant("k-%s" % uuid.uuid4().hex[:8],
                                       default_route_id=self.route["id"])
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

    def make_key(self, key, scopes, **fields):
        st, body, raw, _ = self.api("POST", "/v1/api_keys", dict(scopes=scopes, **fields), key=key)
        self.assertEqual(st, 201, raw)
        return body

    def key_row(self, key_id):
        return self.p.sql("SELECT revoked_at IS NOT NULL, expires_at IS NOT NULL, key_hash"
                          " FROM api_keys WHERE id = '%s'" % key_id)[0]

    def status_of(self, key, path="/v1/whoami"):
        return self.api("GET", path, key=key)[0]

    def wait_status(self, key, status, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.status_of(key) == status:
                return
            time.sleep(0.05)
        self.fail("key did not answer %d within %.1f s" % (status, timeout))

    # -- creating, reading, listing --------------------------------------------------------
    def test_create_get_list_shape(self):
        t, root, _ = self.new_tenant()
        st, k, raw, _ = self.api("POST", "/v1/api_keys",
                                 {"name": "reporting", "scopes": ["calls:read", "billing:read",
                                                                  "calls:read"],
                                  "expires_in_secs": 3600}, key=root)
        self.assertEqual(st, 201, raw)
        self.assertEqual(ordered_keys(raw), KEY_FIELDS + ["key"], raw)
        self.assertRegex(k["id"], r"^voepy_key_[0-9A-Z]{26}$")
        self.assertRegex(k["key"], r"^voepy_live_[0-9A-Za-z]{36}$")
        self.assertEqual(k["prefix"], k["key"][:15])
        self.assertEqual((k["name"], k["scopes"], k["revoked_at"], k["last_used_at"]),
                         ("reporting", ["calls:read", "billing:read"], None, None))
        self.assertIsNotNone(k["expires_at"])
        # Only the hash is stored, and it is never shown.
        khash = hashlib.sha256(k["key"].encode()).hexdigest()
        self.assertEqual(self.key_row(k["id"]), ["f", "t", khash])
        # The new key works at once and names itself.
        st, who, raw, _ = self.api("GET", "/v1/whoami", key=k["key"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(ordered_keys(raw), ["tenant_id", "tenant_name", "key_id", "key_prefix",
                                             "scopes", "rate_limits"])
        self.assertEqual(who, {"tenant_id": t["id"], "tenant_name": t["name"],
                               "key_id": k["id"], "key_prefix": k["prefix"],
                               "scopes": ["calls:read", "billing:read"],
                               "rate_limits": {"api_requests_per_second": 100,
                                               "calls_per_minute": 60,
                                               "calls_per_second": None,
                                               "max_concurrent_calls": None}})
        # GET shows the same key, with last_used_at now set, and never the key or its hash.
        st, got, raw, _ = self.api("GET", "/v1/api_keys/%s" % k["id"], key=root)
        self.assertEqual(st, 200, raw)
        self.assertEqual(ordered_keys(raw), KEY_FIELDS)
        self.assertIsNotNone(got["last_used_at"])
        self.assertEqual({f: got[f] for f in ("id", "name", "prefix", "scopes", "expires_at")},
                         {f: k[f] for f in ("id", "name", "prefix", "scopes", "expires_at")})
        # The list: newest first, prefix only, cursor pagination.
        extra = self.make_key(root, ["numbers:read"])
        st, page, raw, _ = self.api("GET", "/v1/api_keys?limit=2", key=root)
        self.assertEqual(st, 200, raw)
        self.assertEqual([x["id"] for x in page["data"]], [extra["id"], k["id"]])
        self.assertNotIn(k["key"][11:], raw.decode())
        self.assertNotIn(khash, raw.decode())
        for x in page["data"]:
            self.assertEqual(list(x), KEY_FIELDS)
        self.assertIsNotNone(page["next_cursor"])
        st, page2, raw, _ = self.api("GET", "/v1/api_keys?limit=2&cursor=%s"
                                     % page["next_cursor"], key=root)
        self.assertEqual(st, 200, raw)
        self.assertEqual(len(page2["data"]), 1)  # the tenant's first key
        self.assertEqual(page2["data"][0]["scopes"], ["*"])
        self.assertIsNone(page2["next_cursor"])
        # The plaintext is nowhere in the database, not even in idempotency records.
        self.assertEqual(self.p.sql("SELECT count(*) FROM idempotency_keys WHERE response_body"
                                    " LIKE '%%%s%%'" % k["key"][11:]), [["0"]])

    def test_bad_input(self):
        _, root, _ = self.new_tenant()
        self.assert_error(self.api("POST", "/v1/api_keys", {}, key=root), 400,
                          "invalid_request", "scopes")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": []}, key=root), 422,
                          "invalid_parameter", "scopes")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": "calls:read"}, key=root),
                          400, "invalid_request", "scopes")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": ["calls:read", "calls:x"]},
                                   key=root), 422, "invalid_parameter", "scopes[1]")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": [5]}, key=root), 400,
                          "invalid_request", "scopes[0]")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": ["*"], "owner": "x"},
                                   key=root), 400, "invalid_request", "owner")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": ["*"], "name": 5},
                                   key=root), 400, "invalid_request", "name")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": ["*"], "expires_in_secs": 0},
                                   key=root), 422, "invalid_parameter", "expires_in_secs")
        self.assert_error(self.api("POST", "/v1/api_keys", raw=b"{", key=root,
                                   headers={"Content-Type": "application/json"}),
                          400, "invalid_request")
        rid = self.p.sql("SELECT id FROM api_keys WHERE key_hash = '%s'"
                         % hashlib.sha256(root.encode()).hexdigest())[0][0]
        path = "/v1/api_keys/%s/rotate" % rid
        self.assert_error(self.api("POST", path, {"grace_secs": 86401}, key=root), 422,
                          "invalid_parameter", "grace_secs")
        self.assert_error(self.api("POST", path, {"grace_secs": -1}, key=root), 422,
                          "invalid_parameter", "grace_secs")
        self.assert_error(self.api("POST", path, {"grace_secs": "5"}, key=root), 400,
                          "invalid_request", "grace_secs")
        self.assert_error(self.api("POST", path, {"grace": 5}, key=root), 400,
                          "invalid_request", "grace")
        self.assert_error(self.api("GET", "/v1/api_keys/nope", key=root), 404, "not_found")
        self.assert_error(self.api("GET", "/v1/api_keys/voepy_call_01HZZZZZZZZZZZZZZZZZZZZZZZ",
                                   key=root), 404, "not_found")
        self.assert_error(self.api("GET", "/v1/api_keys?limit=0", key=root), 422,
                          "invalid_parameter", "limit")
        self.assert_error(self.api("GET", "/v1/api_keys?cursor=zzz", key=root), 422,
                          "invalid_parameter", "cursor")
        # Nothing of the above made a key.
        self.assertEqual(self.p.sql("SELECT count(*) FROM api_keys k JOIN api_keys r"
                                    " ON r.tenant_id = k.tenant_id WHERE r.id = '%s'" % rid),
                         [["1"]])

    def test_idempotent_create(self):
        _, root, _ = self.new_tenant()
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"name": "ci", "scopes": ["calls:write"]}
        st1, k1, raw1, _ = self.api("POST", "/v1/api_keys", body, key=root, headers=idem)
        st2, k2, raw2, h2 = self.api("POST", "/v1/api_keys", body, key=root, headers=idem)
        self.assertEqual((st1, st2), (201, 201), raw2)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assertTrue(k1["key"].startswith("voepy_live_"))
        self.assertIsNone(k2["key"])  # shown once, never stored
        self.assertEqual(ordered_keys(raw2), KEY_FIELDS + ["key"])
        self.assertEqual(dict(k1, key=None), k2)
        self.assertEqual(self.p.sql("SELECT count(*) FROM api_keys WHERE name = 'ci'"
                                    " AND id = '%s'" % k1["id"]), [["1"]])
        self.assertEqual(self.p.sql("SELECT count(*) FROM api_keys WHERE tenant_id ="
                                    " (SELECT tenant_id FROM api_keys WHERE id = '%s')"
                                    % k1["id"]), [["2"]])
        self.assert_error(self.api("POST", "/v1/api_keys", dict(body, name="other"), key=root,
                                   headers=idem), 422, "idempotency_key_reused")

    # -- scopes ----------------------------------------------------------------------------
    def test_scopes_enforced(self):
        _, root, _ = self.new_tenant()
        calls_read = self.make_key(root, ["calls:read"])["key"]
        calls_write = self.make_key(root, ["calls:write"])["key"]
        keys_read = self.make_key(root, ["keys:read"])["key"]
        cases = [
            (calls_read, "GET", "/v1/calls", None, 200, None),
            (calls_read, "POST", "/v1/calls", {"from": "+15125550100", "to": "+15125550101"},
             403, "calls:write"),
            (calls_read, "GET", "/v1/phone_numbers", None, 403, "numbers:read"),
            (calls_read, "GET", "/v1/webhooks", None, 403, "webhooks:read"),
            (calls_read, "GET", "/v1/billing/balance", None, 403, "billing:read"),
            (calls_read, "GET", "/v1/recordings", None, 403, "recordings:read"),
            (calls_read, "GET", "/v1/api_keys", None, 403, "keys:read"),
            (calls_read, "POST", "/v1/api_keys", {"scopes": ["calls:read"]}, 403, "keys:write"),
            (calls_write, "GET", "/v1/calls", None, 200, None),  # write implies read
            (calls_write, "GET", "/v1/phone_numbers/available", None, 403, "numbers:read"),
            (keys_read, "GET", "/v1/api_keys", None, 200, None),
            (keys_read, "POST", "/v1/api_keys", {"scopes": ["keys:read"]}, 403, "keys:write"),
            (keys_read, "DELETE", "/v1/api_keys/voepy_key_01HZZZZZZZZZZZZZZZZZZZZZZZ", None, 403,
             "keys:write"),
        ]
        for key, method, path, body, status, scope in cases:
            resp = self.api(method, path, body, key=key)
            if scope is None:
                self.assertEqual(resp[0], status, (method, path, resp[2]))
            else:
                self.assert_error(resp, 403, "insufficient_scope", words=scope)
        # whoami needs no scope; the openapi document needs no key at all.
        for key in (calls_read, calls_write, keys_read):
            self.assertEqual(self.status_of(key), 200)
        self.assertEqual(self.p.sql("SELECT count(*) FROM calls c JOIN api_keys k"
                                    " ON k.tenant_id = c.tenant_id WHERE k.key_hash = '%s'"
                                    % hashlib.sha256(calls_read.encode()).hexdigest()), [["0"]])

    def test_no_escalation(self):
        t, root, _ = self.new_tenant()
        root_id = self.api("GET", "/v1/whoami", key=root)[1]["key_id"]
        limited = self.make_key(root, ["keys:write", "calls:read"])
        lk = limited["key"]
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": ["calls:write"]}, key=lk),
                          403, "insufficient_scope", "scopes[0]", "calls:write")
        self.assert_error(self.api("POST", "/v1/api_keys", {"scopes": ["calls:read", "*"]},
                                   key=lk), 403, "insufficient_scope", "scopes[1]")
        # What it holds it may pass on (keys:write holds keys:read).
        self.assertEqual(self.make_key(lk, ["calls:read", "keys:read"])["scopes"],
                         ["calls:read", "keys:read"])
        # Rotating a key would hand out its scopes: the "*" key is out of reach.
        before = self.key_row(root_id)
        self.assert_error(self.api("POST", "/v1/api_keys/%s/rotate" % root_id, {}, key=lk), 403,
                          "insufficient_scope", words="*")
        self.assertEqual(self.key_row(root_id), before)
        self.assertEqual(self.p.sql("SELECT count(*) FROM api_keys WHERE tenant_id = '%s'"
                                    % t["id"]), [["3"]])
        # Its own scopes it may rotate.
        st, new, raw, _ = self.api("POST", "/v1/api_keys/%s/rotate" % limited["id"], {}, key=lk)
        self.assertEqual(st, 201, raw)
        self.assertEqual(new["scopes"], ["keys:write", "calls:read"])

    # -- rotate and revoke -----------------------------------------------------------------
    def test_rotate_without_grace(self):
        _, root, _ = self.new_tenant()
        old = self.make_key(root, ["calls:read"], name="app")
        self.assertEqual(self.status_of(old["key"]), 200)  # now cached
        st, new, raw, _ = self.api("POST", "/v1/api_keys/%s/rotate" % old["id"], key=root,
                                   raw=b"", headers={"Content-Type": "application/json"})
        self.assertEqual(st, 201, raw)
        self.assertEqual(ordered_keys(raw), KEY_FIELDS + ["key"])
        self.assertNotEqual(new["id"], old["id"])
        self.assertNotEqual(new["key"], old["key"])
        self.assertEqual((new["name"], new["scopes"], new["expires_at"]),
                         ("app", ["calls:read"], None))
        # This gateway forgets the old key at once.
        self.assert_error(self.api("GET", "/v1/whoami", key=old["key"]), 401, "unauthorized")
        self.assertEqual(self.status_of(new["key"]), 200)
        st, got, raw, _ = self.api("GET", "/v1/api_keys/%s" % old["id"], key=root)
        self.assertIsNotNone(got["revoked_at"], raw)
        # A revoked key cannot be rotated again.
        self.assert_error(self.api("POST", "/v1/api_keys/%s/rotate" % old["id"], {}, key=root),
                          409, "conflict")

    def test_rotate_with_grace(self):
        _, root, _ = self.new_tenant()
        old = self.make_key(root, ["calls:read"])
        st, new, raw, _ = self.api("POST", "/v1/api_keys/%s/rotate" % old["id"],
                                   {"grace_secs": 2}, key=root)
        self.assertEqual(st, 201, raw)
        rotated_at = time.time()
        st, got, raw, _ = self.api("GET", "/v1/api_keys/%s" % old["id"], key=root)
        self.assertIsNone(got["revoked_at"], raw)
        self.assertIsNotNone(got["expires_at"], raw)
        # Both keys work during the grace period...
        self.assertEqual(self.status_of(old["key"]), 200)
        self.assertEqual(self.status_of(new["key"]), 200)
        self.assertLess(time.time() - rotated_at, 1.5, "the test machine is too slow")
        # ...and the old one stops at its expiry, cached or not.
        self.wait_status(old["key"], 401, 2.0 + 1.0)
        self.assertGreater(time.time() - rotated_at, 1.8)
        self.assertEqual(self.status_of(new["key"]), 200)

    def test_revoke(self):
        t, root, _ = self.new_tenant()
        root_id = self.api("GET", "/v1/whoami", key=root)[1]["key_id"]
        k = self.make_key(root, ["calls:read"])
        self.assertEqual(self.status_of(k["key"]), 200)
        st, got, raw, _ = self.api("DELETE", "/v1/api_keys/%s" % k["id"], key=root)
        self.assertEqual(st, 200, raw)
        self.assertEqual(ordered_keys(raw), KEY_FIELDS)
        self.assertIsNotNone(got["revoked_at"])
        self.assert_error(self.api("GET", "/v1/whoami", key=k["key"]), 401, "unauthorized")
        # Again: the key as it is.
        st, again, raw, _ = self.api("DELETE", "/v1/api_keys/%s" % k["id"], key=root)
        self.assertEqual((st, again), (200, got), raw)
        # The last active key stays.
        self.assert_error(self.api("DELETE", "/v1/api_keys/%s" % root_id, key=root), 409,
                          "conflict", words="last active")
        self.assertEqual(self.key_row(root_id)[0], "f")
        self.assertEqual(self.status_of(root), 200)
        # A revocation behind the gateway's back (SQL) takes effect within the cache time.
        k2 = self.make_key(root, ["calls:read"])
        self.assertEqual(self.status_of(k2["key"]), 200)
        self.p.sql("UPDATE api_keys SET revoked_at = now() WHERE id = '%s'" % k2["id"])
        self.wait_status(k2["key"], 401, CACHE_MS / 1000.0 + 0.5)
        # A key may revoke itself while another is active.
        k3 = self.make_key(root, ["keys:write"])
        st, _, raw, _ = self.api("DELETE", "/v1/api_keys/%s" % k3["id"], key=k3["key"])
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.status_of(k3["key"]), 401)

    def test_expiry(self):
        _, root, _ = self.new_tenant()
        k = self.make_key(root, ["calls:read"], expires_in_secs=60)
        self.assertEqual(self.status_of(k["key"]), 200)
        self.p.sql("UPDATE api_keys SET expires_at = now() - interval '1 second'"
                   " WHERE id = '%s'" % k["id"])
        self.wait_status(k["key"], 401, CACHE_MS / 1000.0 + 0.5)
        self.assert_error(self.api("POST", "/v1/api_keys/%s/rotate" % k["id"], {}, key=root),
                          409, "conflict")

    def test_tenant_isolation(self):
        _, key_a, _ = self.new_tenant()
        _, key_b, _ = self.new_tenant()
        ka = self.make_key(key_a, ["calls:read"])
        before = self.p.sql("SELECT * FROM api_keys WHERE id = '%s'" % ka["id"])
        path = "/v1/api_keys/%s" % ka["id"]
        self.assert_error(self.api("GET", path, key=key_b), 404, "not_found")
        self.assert_error(self.api("POST", path + "/rotate", {}, key=key_b), 404, "not_found")
        self.assert_error(self.api("DELETE", path, key=key_b), 404, "not_found")
        self.assertEqual(self.p.sql("SELECT * FROM api_keys WHERE id = '%s'" % ka["id"]), before)
        st, page, raw, _ = self.api("GET", "/v1/api_keys", key=key_b)
        self.assertEqual(st, 200, raw)
        self.assertNotIn(ka["id"], raw.decode())
        self.assertEqual(len(page["data"]), 1)
        self.assertEqual(self.status_of(ka["key"]), 200)

    # -- rate limits -----------------------------------------------------------------------
    def test_admin_sets_limits(self):
        t, key, _ = self.new_tenant()
        self.assertEqual((t["api_requests_per_second"], t["calls_per_minute"]), (100, 60))
        st, got, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                     {"api_requests_per_second": 7, "calls_per_minute": 3})
        self.assertEqual(st, 200, raw)
        self.assertEqual((got["api_requests_per_second"], got["calls_per_minute"]), (7, 3))
        # The gateway that made the change applies it at once.
        self.assertEqual(self.api("GET", "/v1/whoami", key=key)[1]["rate_limits"],
                         {"api_requests_per_second": 7, "calls_per_minute": 3,
                          "calls_per_second": None, "max_concurrent_calls": None})
        for bad in ({"api_requests_per_second": 0}, {"calls_per_minute": 100001},
                    {"calls_per_minute": "5"}):
            st, body, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], bad)
            self.assertIn(st, (400, 422), raw)
            self.assertEqual(body["error"]["field"], list(bad)[0], raw)

    def test_api_requests_per_second(self):
        t, key, _ = self.new_tenant()
        st, _, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                   {"api_requests_per_second": 5})
        self.assertEqual(st, 200, raw)
        # Start at the beginning of a second, so that 20 quick requests share one window.
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        answers = [self.api("GET", "/v1/whoami", key=key) for _ in range(20)]
        statuses = [a[0] for a in answers]
        self.assertIn(200, statuses)
        self.assertIn(429, statuses)
        self.assertLessEqual(statuses.count(200), 10, statuses)  # at most two windows' worth
        first_ok = answers[0]
        self.assertEqual(first_ok[3].get("ratelimit-limit"), "5")
        self.assertIn(first_ok[3].get("ratelimit-remaining"), {"0", "1", "2", "3", "4"})
        limited = next(a for a in answers if a[0] == 429)
        self.assert_error(limited, 429, "rate_limited", words="per second")
        self.assertEqual(limited[3].get("retry-after"), "1")
        self.assertEqual(limited[3].get("ratelimit-remaining"), "0")
        # Another tenant is not affected; the operator API is never limited.
        _, other, _ = self.new_tenant()
        self.assertEqual(self.status_of(other), 200)
        for _ in range(8):
            self.assertEqual(self.admin("GET", "/admin/v1/tenants/%s" % t["id"])[0], 200)
        # The next window lets requests through again.
        time.sleep(1.1)
        self.assertEqual(self.status_of(key), 200)
        self.assertTrue(self.p.sql("SELECT 1"))  # (nothing to check in SQL: counters are Redis')

    def test_calls_per_minute(self):
        t, key, (frm,) = self.new_tenant(credit=1000, nnumbers=1)
        st, _, raw, _ = self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"],
                                   {"calls_per_minute": 2})
        self.assertEqual(st, 200, raw)
        # Three calls within one wall-clock minute.
        if time.time() % 60 > 55:
            time.sleep(60 - time.time() % 60 + 0.1)
        # An invalid request does not use up the limit.
        self.assert_error(self.api("POST", "/v1/calls", {"from": frm}, key=key), 400,
                          "invalid_request", "to")
        for i in range(2):
            st, _, raw, _ = self.api("POST", "/v1/calls", {"from": frm, "to": "+1555867000%d" % i},
                                     key=key)
            self.assertEqual(st, 201, raw)
        resp = self.api("POST", "/v1/calls", {"from": frm, "to": "+15558670009"}, key=key)
        self.assert_error(resp, 429, "rate_limited", words="per minute")
        retry = int(resp[3]["retry-after"])
        self.assertTrue(1 <= retry <= 60, retry)
        self.assertEqual(self.p.sql("SELECT count(*) FROM calls WHERE tenant_id = '%s'"
                                    % t["id"]), [["2"]])
        # Other requests of the tenant still go through.
        self.assertEqual(self.api("GET", "/v1/calls", key=key)[0], 200)

    def test_zz_redis_down_fails_open(self):
        """Runs last (name): stops Redis, then starts it again for the other suites' sake."""
        t, key, _ = self.new_tenant()
        self.admin("PATCH", "/admin/v1/tenants/%s" % t["id"], {"api_requests_per_second": 1})
        sh_lib("vp_redis_stop %s %d" % (self.p.redis_dir, self.p.redis_port))
        try:
            for _ in range(5):
                st, _, raw, _ = self.api("GET", "/v1/whoami", key=key)
                self.assertEqual(st, 200, raw)
            st, _, text = http_request("127.0.0.1", self.p.ops_ports["api-gateway"], "GET",
                                       "/metrics")
            line = [ln for ln in text.decode().splitlines()
                    if ln.startswith("voepy_api_ratelimit_failopen_total")]
            self.assertTrue(line and float(line[0].split()[-1]) >= 5, line)
        finally:
            sh_lib("vp_redis_start %s %d" % (self.p.redis_dir, self.p.redis_port))


if __name__ == "__main__":
    unittest.main()
