"""Recordings, phone number configuration, webhook endpoint PATCH and billing reads.

Only api-gateway runs. Recordings are made by media-fork (issue 5), so the tests write
the rows with SQL and the files into a temporary VOEPY_RECORDINGS_DIR, the way media-fork
will; call charges are posted with rating_apply(), the way the rating service posts them.
Every endpoint is walked with good and bad input, another tenant's key (404, nothing
changed) and idempotent replays of the writes.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_api_resources
"""
import itertools
import json
import os
import shutil
import tempfile
import unittest
import uuid

from harness import q, ApiAssertions, Platform

_numbers = itertools.count(1000)
_ids = itertools.count(1)

NUMBER_FIELDS = ["id", "phone_number", "country", "status", "purchased_at", "created_at",
                 "forward_to", "relay_enabled", "forward_caller_id", "name", "relay_record",
                 "relay_transcribe"]
RECORDING_FIELDS = ["id", "call_id", "channels", "format", "duration_seconds", "size_bytes",
                    "download_url", "status", "created_at"]
LEDGER_FIELDS = ["id", "transaction_id", "kind", "ref_type", "ref_id", "amount_cents",
                 "description", "created_at"]


def ulid_id(kind):
    """A well-formed voepy id (26 Crockford base32 characters) unique to this run."""
    return "voepy_%s_01TEST%s%014d" % (kind, uuid.uuid4().hex[:6].upper(), next(_ids))


def keys_in_order(raw):
    return [k for k, _ in json.loads(raw, object_pairs_hook=lambda kv: kv)]


def unsigned(rec):
    """A recording without its download_url's query: it is signed anew with each answer, and
    its expiry moves with the clock (seen: two answers a second apart differ)."""
    url = rec["download_url"]
    return dict(rec, download_url=url.split("?")[0] if url else url)


class ApiResources(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rec_dir = tempfile.mkdtemp(prefix="voepy-it-recordings-")
        cls.addClassCleanup(shutil.rmtree, cls.rec_dir, True)
        cls.p = Platform(services=("api-gateway",), name="resources",
                         env={"VOEPY_RECORDINGS_DIR": cls.rec_dir})
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        cls.route = cls.p.create_route("sip:127.0.0.1:5999", name="test trunk")

    # -- helpers ---------------------------------------------------------------------------
    def api(self, method, path, body=None, key=None, **kw):
        return self.p.api(method, path, body, key=key, **kw)

    def new_tenant(self, nnumbers=0):
        created = self.p.create_tenant("t-%s" % uuid.uuid4().hex[:8],
                                       default_route_id=self.route["id"])
        tenant, key = created["tenant"], created["api_key"]
        numbers = []
        for _ in range(nnumbers):
            n = "+1737555%04d" % next(_numbers)
            st, _, raw, _ = self.p.admin("POST", "/admin/v1/numbers", {"numbers": [n]})
            self.assertEqual(st, 201, raw)
            st, num, raw, _ = self.api("POST", "/v1/phone_numbers", {"phone_number": n}, key=key)
            self.assertEqual(st, 201, raw)
            numbers.append(num)
        return tenant["id"], key, numbers

    def call(self, tenant):
        cid = ulid_id("call")
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
                   " answered_at, ended_at, end_reason) VALUES (%s, %s, 'outbound', 'ended',"
                   " '+15125550100', '+15558675309', now() - interval '1 minute', now(),"
                   " 'completed')" % (q(cid), q(tenant)))
        return cid

    def recording(self, tenant, call, status="available", fmt="mp3", data=b"ID3audio",
                  key=None, seconds_ago=0, write=True):
        """A recording row (and its file, as media-fork would write it); returns its id."""
        rid = ulid_id("rec")
        if key is None:
            key = "%s/%s.%s" % (tenant, rid, fmt)
        if write and data is not None and ".." not in key and not key.startswith("/"):
            path = os.path.join(self.rec_dir, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        self.p.sql("INSERT INTO recordings (id, call_id, tenant_id, channels, format, status,"
                   " duration_seconds, size_bytes, storage_key, created_at) VALUES"
                   " (%s, %s, %s, 'single', %s, %s, 42, %d, %s,"
                   " now() - %d * interval '1 second')"
                   % (q(rid), q(call), q(tenant), q(fmt), q(status), len(data or b""), q(key),
                      seconds_ago))
        return rid

    def row(self, query):
        rows = self.p.sql(query)
        return rows[0] if rows else None

    # -- recordings ------------------------------------------------------------------------
    def test_recordings_list_and_get(self):
        t, key, _ = self.new_tenant()
        other_t, other, _ = self.new_tenant()
        c1, c2 = self.call(t), self.call(t)
        r_old = self.recording(t, c1, seconds_ago=30)
        r_failed = self.recording(t, c1, status="failed", seconds_ago=20, write=False)
        r_new = self.recording(t, c2, fmt="wav", seconds_ago=10)
        gone = self.recording(t, c2, seconds_ago=5)
        self.p.sql("UPDATE recordings SET deleted_at = now() WHERE id = %s" % q(gone))
        theirs = self.recording(other_t, self.call(other_t))

        st, got, raw, _ = self.api("GET", "/v1/recordings/%s" % r_new, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw), RECORDING_FIELDS)
        self.assertEqual((got["id"], got["call_id"], got["format"], got["channels"],
                          got["status"], got["duration_seconds"], got["size_bytes"]),
                         (r_new, c2, "wav", "single", "available", 42, 8))
        # signed (test_recording checks the signature and its refusals)
        self.assertRegex(got["download_url"], r"/v1/recordings/%s/download\?expires=\d+&sig="
                         r"[0-9a-f]{64}$" % r_new)
        st, failed, raw, _ = self.api("GET", "/v1/recordings/%s" % r_failed, key=key)
        self.assertEqual((st, failed["status"], failed["download_url"]), (200, "failed", None))

        st, page, raw, _ = self.api("GET", "/v1/recordings", key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw), ["data", "next_cursor"])
        self.assertEqual([x["id"] for x in page["data"]], [r_new, r_failed, r_old])
        self.assertIsNone(page["next_cursor"])
        # Pagination, newest first.
        st, p1, raw, _ = self.api("GET", "/v1/recordings?limit=2", key=key)
        self.assertEqual(([x["id"] for x in p1["data"]], st), ([r_new, r_failed], 200), raw)
        st, p2, raw, _ = self.api("GET", "/v1/recordings?limit=2&cursor=" + p1["next_cursor"],
                                  key=key)
        self.assertEqual(([x["id"] for x in p2["data"]], p2["next_cursor"]), ([r_old], None), raw)
        # By call.
        st, by_call, raw, _ = self.api("GET", "/v1/recordings?call_id=" + c1, key=key)
        self.assertEqual([x["id"] for x in by_call["data"]], [r_failed, r_old], raw)
        st, none, raw, _ = self.api("GET", "/v1/recordings?call_id=" + ulid_id("call"), key=key)
        self.assertEqual((st, none), (200, {"data": [], "next_cursor": None}), raw)
        # Bad input.
        for bad in ("nope", r_old, "voepy_call_123"):
            self.assert_error(self.api("GET", "/v1/recordings?call_id=" + bad, key=key), 422,
                              "invalid_parameter", "call_id")
        self.assert_error(self.api("GET", "/v1/recordings?limit=0", key=key), 422,
                          "invalid_parameter", "limit")
        self.assert_error(self.api("GET", "/v1/recordings?cursor=abc", key=key), 422,
                          "invalid_parameter", "cursor")
        for bad_id in ("voepy_rec_nope", c1, gone):
            self.assert_error(self.api("GET", "/v1/recordings/%s" % bad_id, key=key), 404,
                              "not_found")
        # Isolation: each tenant sees only its own.
        self.assert_error(self.api("GET", "/v1/recordings/%s" % r_new, key=other), 404,
                          "not_found")
        self.assertEqual([x["id"] for x in self.api("GET", "/v1/recordings", key=other)[1]["data"]],
                         [theirs])
        self.assertEqual(self.api("GET", "/v1/recordings?call_id=" + c1, key=other)[1]["data"], [])
        # The call shows its recordings too, with the same rendering.
        st, call, raw, _ = self.api("GET", "/v1/calls/%s" % c2, key=key)
        self.assertEqual((st, [unsigned(r) for r in call["recordings"]]), (200, [unsigned(got)]),
                         raw)

    def test_recording_download(self):
        t, key, _ = self.new_tenant()
        other_t, other, _ = self.new_tenant()
        c = self.call(t)
        mp3 = os.urandom(70000) + b"\x00\r\n" + bytes(range(256))
        wav = b"RIFF" + os.urandom(5000)
        r_mp3 = self.recording(t, c, data=mp3)
        r_wav = self.recording(t, c, fmt="wav", data=wav)
        st, _, raw, headers = self.api("GET", "/v1/recordings/%s/download" % r_mp3, key=key)
        self.assertEqual((st, headers["content-type"]), (200, "audio/mpeg"))
        self.assertEqual(raw, mp3)
        self.assertEqual(int(headers["content-length"]), len(mp3))
        self.assertIn(r_mp3 + ".mp3", headers["content-disposition"])
        st, _, raw, headers = self.api("GET", "/v1/recordings/%s/download" % r_wav, key=key)
        self.assertEqual((st, headers["content-type"], raw), (200, "audio/wav", wav))
        # Not available: 409, whatever the file.
        for status in ("recording", "failed", "archived", "expired"):
            rid = self.recording(t, c, status=status)
            self.assert_error(self.api("GET", "/v1/recordings/%s/download" % rid, key=key), 409,
                              "recording_not_ready")
        # Another tenant, a malformed id, a deleted recording: 404.
        self.assert_error(self.api("GET", "/v1/recordings/%s/download" % r_mp3, key=other), 404,
                          "not_found")
        self.assert_error(self.api("GET", "/v1/recordings/voepy_rec_x/download", key=key), 404,
                          "not_found")
        gone = self.recording(t, c)
        self.p.sql("UPDATE recordings SET deleted_at = now() WHERE id = %s" % q(gone))
        self.assert_error(self.api("GET", "/v1/recordings/%s/download" % gone, key=key), 404,
                          "not_found")
        log = self.p.procs["api-gateway"]
        # An available recording whose file is missing: 500, logged.
        missing = self.recording(t, c, write=False)
        self.assert_error(self.api("GET", "/v1/recordings/%s/download" % missing, key=key), 500,
                          "internal_error")
        self.assertIn("api.recording_unreadable", log.output())
        # Storage keys that would leave the directory are refused, even if a file is there.
        secret = os.path.join(os.path.dirname(self.rec_dir), "outside-%s.mp3" % uuid.uuid4().hex)
        with open(secret, "wb") as f:
            f.write(b"not yours")
        self.addCleanup(os.remove, secret)
        for bad_key in ("../" + os.path.basename(secret), "a/../../" + os.path.basename(secret),
                        secret, "", "a\\b.mp3"):
            rid = self.recording(t, c, key=bad_key, write=False)
            st, body, raw, _ = self.api("GET", "/v1/recordings/%s/download" % rid, key=key)
            self.assertEqual(st, 500, (bad_key, raw))
            self.assertNotIn(b"not yours", raw)
        self.assertIn("api.recording_bad_key", log.output())
        # A NULL storage_key is refused the same way.
        rid = self.recording(t, c, write=False)
        self.p.sql("UPDATE recordings SET storage_key = NULL WHERE id = %s" % q(rid))
        self.assertEqual(self.api("GET", "/v1/recordings/%s/download" % rid, key=key)[0], 500)

    def test_recording_delete(self):
        t, key, _ = self.new_tenant()
        other_t, other, _ = self.new_tenant()
        c = self.call(t)
        rid = self.recording(t, c)
        st, before, _, _ = self.api("GET", "/v1/recordings/%s" % rid, key=key)
        # Another tenant: 404 and nothing changes.
        self.assert_error(self.api("DELETE", "/v1/recordings/%s" % rid, key=other), 404,
                          "not_found")
        self.assertEqual(self.row("SELECT deleted_at IS NULL FROM recordings WHERE id = %s"
                                  % q(rid)), ["t"])
        self.assertEqual(unsigned(self.api("GET", "/v1/recordings/%s" % rid, key=key)[1]),
                         unsigned(before))
        # Delete with a key; the replay is the same bytes.
        hk = {"Idempotency-Key": "del-%s" % uuid.uuid4()}
        st, gone, raw, headers = self.api("DELETE", "/v1/recordings/%s" % rid, key=key,
                                          headers=hk)
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw), RECORDING_FIELDS)
        self.assertEqual(gone, dict(before, download_url=None))
        self.assertNotIn("idempotent-replayed", headers)
        st2, _, raw2, headers2 = self.api("DELETE", "/v1/recordings/%s" % rid, key=key,
                                          headers=hk)
        self.assertEqual((st2, raw2, headers2.get("idempotent-replayed")), (200, raw, "true"))
        # The same key with another request (a body) is refused.
        self.assert_error(self.api("DELETE", "/v1/recordings/%s" % rid, key=key, headers=hk,
                                   raw=b"{}"), 422, "idempotency_key_reused")
        # The row is soft-deleted, once, and recording.deleted is in the outbox for media-fork.
        deleted_at, storage_key = self.row("SELECT deleted_at, storage_key FROM recordings"
                                           " WHERE id = %s" % q(rid))
        self.assertIsNotNone(deleted_at)
        self.assertEqual(storage_key, "%s/%s.mp3" % (t, rid))
        events = self.p.sql("SELECT tenant_id, call_id, data FROM events"
                            " WHERE type = 'recording.deleted' AND data->>'recording_id' = %s"
                            % q(rid))
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0][:2], [t, c])
        data = json.loads(events[0][2])
        self.assertEqual((data["recording_id"], data["call_id"], data["format"]), (rid, c, "mp3"))
        self.assertNotIn("storage_key", data)
        # Gone from the API.
        self.assert_error(self.api("GET", "/v1/recordings/%s" % rid, key=key), 404, "not_found")
        self.assert_error(self.api("GET", "/v1/recordings/%s/download" % rid, key=key), 404,
                          "not_found")
        self.assert_error(self.api("DELETE", "/v1/recordings/%s" % rid, key=key), 404,
                          "not_found")
        self.assertEqual(self.api("GET", "/v1/recordings", key=key)[1]["data"], [])
        self.assertEqual(self.api("GET", "/v1/calls/%s" % c, key=key)[1]["recordings"], [])
        # Still being written: 409, untouched.
        busy = self.recording(t, c, status="recording")
        self.assert_error(self.api("DELETE", "/v1/recordings/%s" % busy, key=key), 409,
                          "recording_not_ready")
        self.assertEqual(self.row("SELECT deleted_at IS NULL FROM recordings WHERE id = %s"
                                  % q(busy)), ["t"])
        # A failed recording can be deleted; a malformed id is 404.
        failed = self.recording(t, c, status="failed", write=False)
        self.assertEqual(self.api("DELETE", "/v1/recordings/%s" % failed, key=key)[0], 200)
        self.assert_error(self.api("DELETE", "/v1/recordings/%s" % c, key=key), 404, "not_found")
        n_events = self.p.sql("SELECT count(*) FROM events WHERE type = 'recording.deleted'"
                              " AND tenant_id = %s" % q(t))[0][0]
        self.assertEqual(n_events, "2")

    # -- phone number configuration --------------------------------------------------------
    def test_number_configuration(self):
        t, key, (num,) = self.new_tenant(nnumbers=1)
        _, other, _ = self.new_tenant()
        path = "/v1/phone_numbers/%s" % num["id"]
        self.assertEqual((num["forward_to"], num["relay_enabled"], num["forward_caller_id"],
                          num["name"]), (None, False, "caller", None))
        st, got, raw, _ = self.api("PATCH", path, {"name": "Support line",
                                                   "forward_to": "+33612345678"}, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw), NUMBER_FIELDS)
        self.assertEqual((got["name"], got["forward_to"], got["relay_enabled"]),
                         ("Support line", "+33612345678", False))
        self.assertEqual(self.api("GET", path, key=key)[1], got)
        # Members not sent stay; relay on; caller ID of the number.
        st, got, raw, _ = self.api("PATCH", path, {"relay_enabled": True,
                                                   "forward_caller_id": "number"}, key=key)
        self.assertEqual((st, got["name"], got["forward_to"], got["relay_enabled"],
                          got["forward_caller_id"]),
                         (200, "Support line", "+33612345678", True, "number"), raw)
        # An empty body (or {}) changes nothing.
        for raw_body in (b"", b"{}"):
            st, same, raw, _ = self.api("PATCH", path, key=key, raw=raw_body,
                                        headers={"Content-Type": "application/json"})
            self.assertEqual((st, same), (200, got), raw)
        # SIP URIs.
        for uri in ("sip:alice@pbx.example.com", "sips:pbx.example.com:5061", "sip:[::1]:5070",
                    "sip:+15125550100@10.0.0.1"):
            st, got, raw, _ = self.api("PATCH", path, {"forward_to": uri}, key=key)
            self.assertEqual((st, got["forward_to"]), (200, uri), raw)
        # Relay on without a destination.
        self.assert_error(self.api("PATCH", path, {"forward_to": None}, key=key), 422,
                          "invalid_parameter", "forward_to")
        self.assert_error(self.api("PATCH", path, {"forward_to": None, "relay_enabled": True},
                                   key=key), 422, "invalid_parameter", "relay_enabled")
        st, got, raw, _ = self.api("PATCH", path, {"forward_to": None, "relay_enabled": False,
                                                   "name": None}, key=key)
        self.assertEqual((st, got["forward_to"], got["relay_enabled"], got["name"]),
                         (200, None, False, None), raw)
        self.assert_error(self.api("PATCH", path, {"relay_enabled": True}, key=key), 422,
                          "invalid_parameter", "relay_enabled")
        # Bad input.
        for body, status, code, field in (
                ({"name": "x" * 65}, 422, "invalid_parameter", "name"),
                ({"name": ""}, 422, "invalid_parameter", "name"),
                ({"name": 5}, 400, "invalid_request", "name"),
                ({"forward_to": "+0123456"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": "+1234"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": "http://example.com"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": "sip:"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": "sip:alice@"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": "sip:a b@host.example"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": "sip:host.example\r\nX-Evil: 1"}, 422, "invalid_parameter",
                 "forward_to"),
                ({"forward_to": "sip:h.example:99999"}, 422, "invalid_parameter", "forward_to"),
                ({"forward_to": 33612345678}, 400, "invalid_request", "forward_to"),
                ({"relay_enabled": "yes"}, 400, "invalid_request", "relay_enabled"),
                ({"relay_enabled": None}, 400, "invalid_request", "relay_enabled"),
                ({"forward_caller_id": "other"}, 422, "invalid_parameter", "forward_caller_id"),
                ({"status": "disabled"}, 400, "invalid_request", "status")):
            self.assert_error(self.api("PATCH", path, body, key=key), status, code, field)
        self.assert_error(self.api("PATCH", path, key=key, raw=b"[1]",
                                   headers={"Content-Type": "application/json"}), 400,
                          "invalid_request")
        # Idempotency: a replay is the same bytes; the same key with another body is refused.
        hk = {"Idempotency-Key": "num-%s" % uuid.uuid4()}
        st, first, raw, _ = self.api("PATCH", path, {"name": "A"}, key=key, headers=hk)
        self.assertEqual((st, first["name"]), (200, "A"), raw)
        self.api("PATCH", path, {"name": "B"}, key=key)
        st2, _, raw2, h2 = self.api("PATCH", path, {"name": "A"}, key=key, headers=hk)
        self.assertEqual((st2, raw2, h2.get("idempotent-replayed")), (200, raw, "true"))
        self.assert_error(self.api("PATCH", path, {"name": "C"}, key=key, headers=hk), 422,
                          "idempotency_key_reused")
        self.assertEqual(self.row("SELECT name FROM phone_numbers WHERE id = %s"
                                  % q(num["id"])), ["B"])
        # Another tenant: 404, nothing changed.
        self.api("PATCH", path, {"forward_to": "+33612345678", "relay_enabled": True}, key=key)
        before = self.row("SELECT name, forward_to, relay_enabled, forward_caller_id"
                          " FROM phone_numbers WHERE id = %s" % q(num["id"]))
        self.assert_error(self.api("PATCH", path, {"name": "mine"}, key=other), 404, "not_found")
        self.assert_error(self.api("PATCH", path, {}, key=other), 404, "not_found")
        self.assert_error(self.api("PATCH", "/v1/phone_numbers/voepy_num_bad", {}, key=key), 404,
                          "not_found")
        self.assertEqual(self.row("SELECT name, forward_to, relay_enabled, forward_caller_id"
                                  " FROM phone_numbers WHERE id = %s" % q(num["id"])), before)
        # Released: 404, and its configuration does not follow it to the next owner.
        self.assertIn(self.api("DELETE", path, key=key)[0], (200, 204))
        self.assert_error(self.api("PATCH", path, {"name": "again"}, key=key), 404, "not_found")
        self.assertEqual(self.row("SELECT name, forward_to, relay_enabled, forward_caller_id"
                                  " FROM phone_numbers WHERE id = %s" % q(num["id"])),
                         [None, None, "f", "caller"])

    # -- webhook endpoints -----------------------------------------------------------------
    def test_webhook_update(self):
        _, key, _ = self.new_tenant()
        _, other, _ = self.new_tenant()
        st, created, raw, _ = self.api("POST", "/v1/webhooks",
                                       {"url": "http://127.0.0.1:1024/a", "events": ["call.ended"],
                                        "name": "main"}, key=key)
        self.assertEqual(st, 201, raw)
        w = created["webhook"]
        path = "/v1/webhooks/%s" % w["id"]
        st, got, raw, _ = self.api("PATCH", path, {"url": "https://example.com/b",
                                                   "events": ["call.answered", "call.ended"],
                                                   "name": "renamed"}, key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw), keys_in_order(json.dumps(w)))
        self.assertEqual(got, dict(w, url="https://example.com/b", name="renamed",
                                   events=["call.answered", "call.ended"]))
        self.assertEqual(self.api("GET", path, key=key)[1], got)
        # events null = all; name null clears; empty body changes nothing.
        st, got, raw, _ = self.api("PATCH", path, {"events": None, "name": None}, key=key)
        self.assertEqual((st, got["events"], got["name"]), (200, ["*"], None), raw)
        st, same, raw, _ = self.api("PATCH", path, key=key, raw=b"",
                                    headers={"Content-Type": "application/json"})
        self.assertEqual((st, same), (200, got), raw)
        # Off, then on again: re-activating clears the dispatcher's disabled_reason.
        st, off, raw, _ = self.api("PATCH", path, {"active": False}, key=key)
        self.assertEqual((st, off["active"]), (200, False), raw)
        self.p.sql("UPDATE webhook_endpoints SET disabled_reason = 'failing' WHERE id = %s"
                   % q(w["id"]))
        st, still, raw, _ = self.api("PATCH", path, {"name": "x"}, key=key)
        self.assertEqual((still["active"], still["disabled_reason"]), (False, "failing"), raw)
        st, on, raw, _ = self.api("PATCH", path, {"active": True}, key=key)
        self.assertEqual((st, on["active"], on["disabled_reason"]), (200, True, None), raw)
        # The secret is never shown or changed.
        secret = self.row("SELECT secret FROM webhook_endpoints WHERE id = %s" % q(w["id"]))
        self.assertNotIn("secret", on)
        self.assertEqual(secret, [created["secret"]])
        # Bad input.
        for body, status, code, field in (
                ({"url": None}, 400, "invalid_request", "url"),
                ({"url": "ftp://example.com/x"}, 422, "invalid_parameter", "url"),
                ({"url": "wss://example.com/x"}, 422, "invalid_parameter", "url"),
                ({"url": "http://224.0.0.1/x"}, 422, "invalid_parameter", "url"),
                ({"events": []}, 422, "invalid_parameter", "events"),
                ({"events": "call.ended"}, 400, "invalid_request", "events"),
                ({"events": ["call.nope"]}, 422, "invalid_parameter", "events[0]"),
                ({"events": ["*", 3]}, 400, "invalid_request", "events[1]"),
                ({"active": "no"}, 400, "invalid_request", "active"),
                ({"name": "x" * 201}, 422, "invalid_parameter", "name"),
                ({"secret": "whsec_mine"}, 400, "invalid_request", "secret")):
            self.assert_error(self.api("PATCH", path, body, key=key), status, code, field)
        # Idempotency.
        hk = {"Idempotency-Key": "whk-%s" % uuid.uuid4()}
        st, _, raw, _ = self.api("PATCH", path, {"name": "one"}, key=key, headers=hk)
        self.api("PATCH", path, {"name": "two"}, key=key)
        st2, _, raw2, h2 = self.api("PATCH", path, {"name": "one"}, key=key, headers=hk)
        self.assertEqual((st2, raw2, h2.get("idempotent-replayed")), (st, raw, "true"))
        self.assert_error(self.api("PATCH", path, {"name": "three"}, key=key, headers=hk), 422,
                          "idempotency_key_reused")
        # Another tenant: 404 and nothing changed.
        before = self.row("SELECT url, name, events, active FROM webhook_endpoints WHERE id = %s"
                          % q(w["id"]))
        self.assert_error(self.api("PATCH", path, {"active": False}, key=other), 404, "not_found")
        self.assert_error(self.api("PATCH", "/v1/webhooks/voepy_whk_x", {}, key=key), 404,
                          "not_found")
        self.assertEqual(self.row("SELECT url, name, events, active FROM webhook_endpoints"
                                  " WHERE id = %s" % q(w["id"])), before)
        # Deleted: 404.
        self.assertIn(self.api("DELETE", path, key=key)[0], (200, 204))
        self.assert_error(self.api("PATCH", path, {"active": True}, key=key), 404, "not_found")
        self.assertEqual(self.row("SELECT active FROM webhook_endpoints WHERE id = %s"
                                  % q(w["id"])), ["f"])

    # -- billing ---------------------------------------------------------------------------
    def test_billing(self):
        t, key, _ = self.new_tenant()
        _, other, _ = self.new_tenant()
        st, bal, raw, _ = self.api("GET", "/v1/billing/balance", key=key)
        self.assertEqual(st, 200, raw)
        self.assertEqual(keys_in_order(raw),
                         ["balance_cents", "credit_limit_cents", "reserved_cents",
                          "available_cents", "currency"])
        self.assertEqual(bal, {"balance_cents": 0, "credit_limit_cents": 0, "reserved_cents": 0,
                               "available_cents": 0, "currency": "USD"})
        self.assertEqual(self.api("GET", "/v1/billing/ledger_entries", key=key)[1],
                         {"data": [], "next_cursor": None})
        # An operator credit, a credit limit, then a rated call.
        st, _, raw, _ = self.p.admin("POST", "/admin/v1/tenants/%s/credit" % t,
                                     {"amount_cents": 1500, "description": "top-up"})
        self.assertEqual(st, 200, raw)
        st, _, raw, _ = self.p.admin("PATCH", "/admin/v1/tenants/%s" % t,
                                     {"credit_limit_cents": 300})
        self.assertEqual(st, 200, raw)
        c = self.call(t)
        self.p.sql("SELECT * FROM rating_apply(%s, NULL, 60, 42)" % q(c))
        st, bal, raw, _ = self.api("GET", "/v1/billing/balance", key=key)
        self.assertEqual(bal, {"balance_cents": 1458, "credit_limit_cents": 300,
                               "reserved_cents": 0, "available_cents": 1758, "currency": "USD"},
                         raw)
        st, page, raw, _ = self.api("GET", "/v1/billing/ledger_entries", key=key)
        self.assertEqual(st, 200, raw)
        charge, credit = page["data"]
        self.assertEqual(keys_in_order(json.dumps(charge)), LEDGER_FIELDS)
        txns = dict(self.p.sql("SELECT kind, id FROM ledger_transactions WHERE tenant_id = %s"
                               % q(t)))
        self.assertEqual({k: charge[k] for k in LEDGER_FIELDS if k not in ("id", "created_at",
                                                                          "description")},
                         {"transaction_id": txns["call_charge"], "kind": "call_charge",
                          "ref_type": "call", "ref_id": c, "amount_cents": -42})
        self.assertIn(c, charge["description"])
        self.assertEqual({k: credit[k] for k in ("transaction_id", "kind", "ref_type",
                                                 "amount_cents", "description")},
                         {"transaction_id": txns["credit"], "kind": "credit",
                          "ref_type": "admin_credit", "amount_cents": 1500,
                          "description": "top-up"})
        self.assertRegex(credit["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(int(charge["id"]) > int(credit["id"]))
        self.assertIsNone(page["next_cursor"])
        # The sum of the entries is the balance.
        self.assertEqual(sum(e["amount_cents"] for e in page["data"]), 1458)
        # Filter, pagination.
        st, credits, raw, _ = self.api("GET", "/v1/billing/ledger_entries?kind=credit", key=key)
        self.assertEqual(credits["data"], [credit], raw)
        self.assertEqual(self.api("GET", "/v1/billing/ledger_entries?kind=refund", key=key)[1],
                         {"data": [], "next_cursor": None})
        st, p1, raw, _ = self.api("GET", "/v1/billing/ledger_entries?limit=1", key=key)
        self.assertEqual((p1["data"], p1["next_cursor"] is not None), ([charge], True), raw)
        st, p2, raw, _ = self.api("GET", "/v1/billing/ledger_entries?limit=1&cursor=" +
                                  p1["next_cursor"], key=key)
        self.assertEqual((st, p2["data"], p2["next_cursor"]), (200, [credit], None), raw)
        # Bad input.
        for qs, field in (("kind=Credit", "kind"), ("kind=a-b", "kind"), ("limit=201", "limit"),
                          ("cursor=xyz", "cursor"), ("cursor=" + ulid_id("call"), "cursor")):
            self.assert_error(self.api("GET", "/v1/billing/ledger_entries?" + qs, key=key), 422,
                              "invalid_parameter", field)
        # Another tenant sees only its own (nothing).
        self.assertEqual(self.api("GET", "/v1/billing/ledger_entries", key=other)[1],
                         {"data": [], "next_cursor": None})
        self.assertEqual(self.api("GET", "/v1/billing/balance", key=other)[1]["balance_cents"], 0)
        self.assert_error(self.api("GET", "/v1/billing/balance"), 401, "unauthorized")


if __name__ == "__main__":
    unittest.main()
