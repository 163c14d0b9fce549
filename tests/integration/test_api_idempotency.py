"""Idempotency-Key under concurrency, against real services and a real SIP far end.

The issue's acceptance: 50 concurrent POST /v1/calls with one Idempotency-Key place
exactly one call (SIPp, the far end, sees one INVITE); every other answer is the replay
of the first (byte for byte) or 409 idempotency_key_in_use. And the 409 itself, made
deterministic: while another transaction holds the key's claim, a request with that key
is refused at once instead of acting or waiting.

    VOEPY_BUILD_DIR=build tests/integration/run.sh test_api_idempotency
"""
import subprocess
import threading
import time
import unittest
import uuid

from harness import Platform, wait_until

FROM = "+15125550142"
TO = "+15558675309"
CONCURRENT = 50


class Idempotency(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway", "call-control", "media-fork"), name="idem")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        p = cls.p
        cls.far = p.sipp("uas_answer.xml", name="far")
        route = p.create_route(cls.far.uri, name="far end")
        created = p.create_tenant("idem", default_route_id=route["id"])
        cls.tenant, cls.key = created["tenant"], created["api_key"]
        st, _, raw, _ = p.admin("POST", "/admin/v1/numbers", {"numbers": [FROM]})
        assert st == 201, raw
        st, _, raw, _ = p.admin("POST", "/admin/v1/tenants/%s/credit" % cls.tenant["id"],
                                {"amount_cents": 1000})
        assert st == 200, raw
        st, _, raw, _ = p.api("POST", "/v1/phone_numbers", {"phone_number": FROM}, key=cls.key)
        assert st == 201, raw

    def place(self, idem, **fields):
        body = dict({"from": FROM, "to": TO, "time_limit_secs": 2}, **fields)
        return self.p.api("POST", "/v1/calls", body, key=self.key,
                          headers={"Idempotency-Key": idem})

    def test_50_concurrent_creates_dial_once(self):
        idem = str(uuid.uuid4())
        gate = threading.Barrier(CONCURRENT)
        answers = [None] * CONCURRENT

        def one(i):
            gate.wait()
            answers[i] = self.place(idem, customer_reference="burst")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        created = [a for a in answers if a and a[0] == 201]
        refused = [a for a in answers if a and a[0] == 409]
        self.assertEqual(len(created) + len(refused), CONCURRENT,
                         [(a[0], a[2][:200]) for a in answers if a and a[0] not in (201, 409)])
        self.assertGreaterEqual(len(created), 1)
        first = created[0][2]
        for st, _, raw, _ in created:  # the original and its replays: the same bytes
            self.assertEqual(raw, first)
        for _, body, raw, _ in refused:
            self.assertEqual(body["error"]["code"], "idempotency_key_in_use", raw)
        replays = [h for _, _, _, h in created if h.get("idempotent-replayed") == "true"]
        self.assertEqual(len(replays), len(created) - 1)
        call_id = created[0][1]["id"]
        rows = self.p.sql("SELECT id FROM calls WHERE tenant_id = '%s' AND customer_reference"
                          " = 'burst'" % self.tenant["id"])
        self.assertEqual(rows, [[call_id]])
        # The one call reaches the far end once, and ends by its time limit.
        wait_until(lambda: self.far.count_received("INVITE") >= 1, 15, what="the INVITE")
        self.p.wait_call(self.key, call_id, lambda c: c["status"] in ("ended", "failed"),
                         timeout=20)
        invites = {cid for _, cid in self.far.received("INVITE")}
        time.sleep(0.5)  # anything dialled twice would have arrived by now
        self.assertEqual(len({cid for _, cid in self.far.received("INVITE")}), 1, invites)

    def test_key_in_use_is_409_not_a_wait(self):
        idem = str(uuid.uuid4())
        claim = "%s POST /v1/calls %s" % (self.tenant["id"], idem)
        holder = subprocess.Popen(
            ["psql", self.p.pg_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
             "SELECT pg_advisory_lock(hashtextextended('%s', 0)); SELECT pg_sleep(3)" % claim],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: self.p.sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")[0][0] != "0",
                5, what="the claim held by another session")
            t0 = time.monotonic()
            st, body, raw, _ = self.place(idem, customer_reference="held")
            self.assertLess(time.monotonic() - t0, 2.5, "the request waited for the claim")
            self.assertEqual(st, 409, raw)
            self.assertEqual(body["error"]["code"], "idempotency_key_in_use")
            self.assertEqual(body["error"].get("field"), "Idempotency-Key")
            self.assertEqual(self.p.sql("SELECT count(*) FROM calls WHERE customer_reference"
                                        " = 'held'"), [["0"]])
        finally:
            holder.wait(10)
        # Once the claim is released, the same key acts (the 409 was not stored).
        st, call, raw, _ = self.place(idem, customer_reference="held")
        self.assertEqual(st, 201, raw)
        self.p.wait_call(self.key, call["id"], lambda c: c["status"] in ("ended", "failed"),
                         timeout=20)

    def test_expired_answers_are_swept(self):
        t = self.tenant["id"]
        self.p.sql("INSERT INTO idempotency_keys (tenant_id, method, path, key, request_hash,"
                   " response_status, response_body, expires_at) VALUES"
                   " ('%s', 'POST', '/v1/calls', 'old', 'h', 201, '{}', now() - interval '1 s'),"
                   " ('%s', 'POST', '/v1/calls', 'fresh', 'h', 201, '{}', now() + interval '1 h')"
                   % (t, t))
        self.assertEqual(self.p.sql("SELECT idem_sweep(1000)"), [["1"]])
        self.assertEqual(self.p.sql("SELECT key FROM idempotency_keys WHERE tenant_id = '%s'"
                                    " AND key IN ('old', 'fresh')" % t), [["fresh"]])


if __name__ == "__main__":
    unittest.main()
