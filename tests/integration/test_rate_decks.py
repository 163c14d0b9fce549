"""Rate decks on real PostgreSQL and Redis: the operator API (CSV import, list, lookup,
POST /admin/v1/rates with kind, minimum charge and effective period) and rating by kind.

Checked: a good deck imports with its counts, and importing it again changes nothing; a
bad cell is 422 naming its line and column and nothing of the file is imported; a call
before a deck switch is priced by the old rate, after it by the new; a tenant's deck wins
over the platform's; an inbound call is priced by the inbound rate of the DID it reached
(never by the outbound deck); the minimum charge lifts a short answered call but is never
owed by an unanswered one; usage charges (transcription, amd, recording_storage) move
money once per (call, kind); and the SQL price function (rating_price_sql) gives the
figures of price.c's own table cases (read from tests/unit/rating/test_price.c) and of a
model over random inputs.
"""
import itertools
import math
import os
import random
import re
import subprocess
import unittest
import urllib.parse

from harness import q, ApiAssertions, Platform, wait_until

_ids = itertools.count(1)
HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = ("prefix,kind,micros_per_minute,connection_fee_micros,initial_increment_s,"
          "subsequent_increment_s,minimum_charge_micros,effective_from,effective_to")


def model_price(ms, mpm, fee, initial, subsequent, minimum=0):
    """price.h's rules again, in Python integers: (billed_seconds, micros, cents)."""
    if ms == 0:
        return 0, 0, 0
    d = -(-ms // 1000)
    billed = initial if d <= initial else initial + -(-(d - initial) // subsequent) * subsequent
    micros = max(-(-billed * mpm // 60) + fee, minimum)
    return billed, micros, -(-micros // 1000000)


class RateDecks(ApiAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway", "rating"), name="ratedecks")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)

    # -- helpers ---------------------------------------------------------------------------
    def tenant(self):
        """A tenant whose credit covers what the tests charge: no authorisation runs here,
        and the books' check (voepy-ledger-check) refuses balances below the limit."""
        tid = self.p.create_tenant(name="decks %d" % next(_ids))["tenant"]["id"]
        self.p.sql("UPDATE tenants SET credit_limit_cents = 100000 WHERE id = %s" % q(tid))
        return tid

    def import_csv(self, text, tenant=None, headers=None):
        path = "/admin/v1/rates/import"
        if tenant:
            path += "?tenant_id=" + tenant
        h = {"Content-Type": "text/csv"}
        h.update(headers or {})
        return self.p.admin("POST", path, raw=text.encode(), headers=h)

    def deck_size(self, tenant):
        return int(self.p.sql("SELECT count(*) FROM rates WHERE coalesce(tenant_id, '') = %s"
                              % q(tenant or ""))[0][0])

    def call(self, tenant, to, answered_ms, initiated="2026-05-12T14:32:18Z",
             direction="outbound", frm="+15125550100"):
        cid = "voepy_call_rd%d" % next(_ids)
        ini = "timestamptz %s" % q(initiated)
        if answered_ms is None:
            answered, ended = "NULL", "%s + interval '20 seconds'" % ini
        else:
            answered = "%s + interval '4 seconds'" % ini
            ended = "%s + interval '4 seconds' + %d * interval '1 millisecond'" % (ini, answered_ms)
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
                   " initiated_at, answered_at, ended_at, end_reason) VALUES"
                   " (%s, %s, %s, 'ended', %s, %s, %s, %s, %s, 'completed')"
                   % (q(cid), q(tenant), q(direction), q(frm), q(to), ini, answered, ended))
        self.p.sql("SELECT voepy_emit(c.tenant_id, c.id, 'call.ended', voepy_call_event_data(c))"
                   " FROM calls c WHERE c.id = %s" % q(cid))
        return cid

    def rated(self, cid):
        def row():
            r = self.p.sql("SELECT rating_status, billed_seconds, cost_cents, rate_id, rating_error"
                           " FROM calls WHERE id = %s" % q(cid))[0]
            return r if r[0] != "pending" else None
        r = wait_until(row, 15, what="rating of %s" % cid)
        return {"status": r[0], "billed": r[1] and int(r[1]), "cents": r[2] and int(r[2]),
                "rate_id": r[3], "error": r[4]}

    def rate_id(self, tenant, kind, prefix, effective_from="-infinity"):
        return self.p.sql("SELECT id FROM rates WHERE coalesce(tenant_id, '') = %s AND kind = %s"
                          " AND prefix = %s AND effective_from = %s"
                          % (q(tenant or ""), q(kind), q(prefix), q(effective_from)))[0][0]

    def lookup(self, **params):
        return self.p.admin("GET", "/admin/v1/rates/lookup?" + urllib.parse.urlencode(params))

    def assert_ledger_consistent(self):
        self.assertEqual(self.p.sql("SELECT txn_id FROM ledger_entries GROUP BY txn_id"
                                    " HAVING sum(amount_cents) <> 0"), [])
        self.assertEqual(self.p.sql("SELECT a.id FROM ledger_accounts a LEFT JOIN ledger_entries e"
                                    " ON e.account_id = a.id GROUP BY a.id, a.balance_cents"
                                    " HAVING a.balance_cents <> coalesce(sum(e.amount_cents), 0)"),
                         [])

    # -- import ----------------------------------------------------------------------------
    def test_import_good_deck_then_again_changes_nothing(self):
        t = self.tenant()
        # columns in another order, optional ones left out or empty, quotes, CRLF, a BOM
        text = ("\ufeffkind,prefix,micros_per_minute,initial_increment_s,subsequent_increment_s,"
                "effective_from\r\n"
                "outbound,+44,1200000,60,60,2026-01-01T00:00:00Z\r\n"
                "\"inbound\",\"1512\",300000,,,\r\n"
                "\r\n"
                "transcription,,2000000,1,1,\r\n"
                ",4420,900000,,,2026-01-01T00:00:00+01:00\r\n")
        st, body, raw, _ = self.import_csv(text, tenant=t, headers={"Idempotency-Key": "imp-%s" % t})
        self.assertEqual(st, 200, raw)
        self.assertEqual(body, {"tenant_id": t, "rows": 4, "imported": 4, "unchanged": 0,
                                "by_kind": {"inbound": 1, "outbound": 2, "transcription": 1}})
        self.assertEqual(self.deck_size(t), 4)
        st, page, raw, _ = self.p.admin("GET", "/admin/v1/rates?tenant_id=%s&kind=outbound" % t)
        self.assertEqual(st, 200, raw)
        got = {(r["prefix"], r["cents_per_minute"], r["initial_increment_secs"],
                r["effective_from"]) for r in page["data"]}
        self.assertEqual(got, {("44", "1.2", 60, "2026-01-01T00:00:00.000Z"),
                               ("4420", "0.9", 1, "2025-12-31T23:00:00.000Z")})
        # the same key replays the answer; the same file without a key adds nothing
        st, body2, _, h = self.import_csv(text, tenant=t, headers={"Idempotency-Key": "imp-%s" % t})
        self.assertEqual((st, body2, h.get("idempotent-replayed")), (200, body, "true"))
        st, body3, raw, _ = self.import_csv(text, tenant=t)
        self.assertEqual((st, body3["imported"], body3["unchanged"]), (200, 0, 4), raw)
        self.assertEqual(self.deck_size(t), 4)

    def test_bad_cells_are_refused_by_line_and_column_and_nothing_is_imported(self):
        t = self.tenant()
        good = "prefix,micros_per_minute,kind\n1,100,outbound\n"
        cases = [
            (good + "44,100,outbund\n", 422, "line 3, column 3 (kind)"),
            (good + "44,-5,outbound\n", 422, "line 3, column 2 (micros_per_minute)"),
            (good + "44,1.5,outbound\n", 422, "line 3, column 2 (micros_per_minute)"),
            (good + "4x4,100,outbound\n", 422, "line 3, column 1 (prefix)"),
            (good + "44,100\n", 422, "line 3, column 3 (kind)"),
            (good + "44,100,outbound,7\n", 422, "line 3, column 4 (?)"),
            (good + "\"44,100,outbound\n", 422, "line 3, column 1 (prefix)"),
            ("prefix,micros_per_minute,colour\n1,100,red\n", 422, "line 1, column 3 (colour)"),
            ("prefix,kind\n1,outbound\n", 422, "line 1, column 3 (header)"),
            ("prefix,micros_per_minute,prefix\n1,1,1\n", 422, "line 1, column 3 (prefix)"),
            ("prefix,micros_per_minute,effective_from\n1,1,yesterday\n", 422,
             "line 2, column 3 (effective_from)"),
            ("prefix,micros_per_minute,initial_increment_s\n1,1,0\n", 422,
             "line 2, column 3 (initial_increment_s)"),
            ("prefix,micros_per_minute,effective_from,effective_to\n"
             "1,1,2026-02-01T00:00:00Z,2026-01-01T00:00:00Z\n", 422,
             "line 2, column 4 (effective_to)"),
            (good + "1,200,outbound\n", 422, "line 3"),  # repeats line 2's key
            ("prefix,micros_per_minute\n", 422, "body"),
        ]
        for text, status, field in cases:
            with self.subTest(field=field, text=text):
                resp = self.import_csv(text, tenant=t)
                self.assert_error(resp, status, "invalid_parameter", field=field)
                if field.startswith("line"):
                    self.assertTrue(resp[1]["error"]["message"].startswith(field.split(" (")[0]),
                                    resp[2])
                self.assertEqual(self.deck_size(t), 0)
        # a line that would change a rate already in the deck is a conflict naming it
        self.assertEqual(self.import_csv(good, tenant=t)[0], 200)
        self.assert_error(self.import_csv("prefix,micros_per_minute\n7,1\n1,999\n", tenant=t),
                          409, "conflict", field="line 3")
        self.assertEqual(self.deck_size(t), 1)
        # not CSV, an unknown tenant
        self.assert_error(self.p.admin("POST", "/admin/v1/rates/import", {"prefix": "1"}),
                          415, "unsupported_media_type")
        self.assert_error(self.import_csv(good, tenant="voepy_tenant_" + "0" * 26), 422,
                          "invalid_parameter", field="tenant_id")
        self.assert_error(self.import_csv(good, tenant="acme"), 422, "invalid_parameter",
                          field="tenant_id")

    def test_row_limit(self):
        t = self.tenant()
        rows = "".join("%d,1\n" % (10000000 + i) for i in range(20001))
        resp = self.import_csv("prefix,micros_per_minute\n" + rows, tenant=t)
        self.assert_error(resp, 422, "invalid_parameter", field="body", words="20000")
        self.assertEqual(self.deck_size(t), 0)

    # -- one rate, list, lookup ------------------------------------------------------------
    def test_post_rate_takes_kind_minimum_and_period(self):
        t = self.tenant()
        st, rate, raw, _ = self.p.admin("POST", "/admin/v1/rates", {
            "tenant_id": t, "prefix": "+33", "kind": "inbound", "cents_per_minute": "0.5",
            "minimum_charge_micros": 2500000, "effective_from": "2026-01-01T00:00:00Z",
            "effective_to": "2027-01-01T00:00:00Z"})
        self.assertEqual(st, 201, raw)
        self.assertEqual((rate["kind"], rate["minimum_charge_cents"], rate["effective_from"],
                          rate["effective_to"]),
                         ("inbound", "2.5", "2026-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"))
        st, rate, raw, _ = self.p.admin("POST", "/admin/v1/rates", {
            "tenant_id": t, "prefix": "33", "cents_per_minute": 1, "minimum_charge_cents": "0.25"})
        self.assertEqual((st, rate["kind"], rate["minimum_charge_cents"], rate["effective_from"]),
                         (201, "outbound", "0.25", None), raw)
        self.assert_error(self.p.admin("POST", "/admin/v1/rates", {
            "prefix": "33", "cents_per_minute": 1, "effective_from": "2026-02-01T00:00:00Z",
            "effective_to": "2026-01-01T00:00:00Z"}), 422, "invalid_parameter", field="effective_to")
        self.assert_error(self.p.admin("POST", "/admin/v1/rates", {
            "prefix": "33", "cents_per_minute": 1, "minimum_charge_cents": 1,
            "minimum_charge_micros": 1}), 422, "invalid_parameter", field="minimum_charge_micros")
        self.assert_error(self.p.admin("POST", "/admin/v1/rates", {
            "prefix": "33", "cents_per_minute": 1, "kind": "sms"}), 422, "invalid_parameter",
            field="kind")

    def test_list_filters_and_pages(self):
        t = self.tenant()
        text = HEADER + "\n" + "\n".join([
            "1,outbound,100,0,1,1,0,,2026-06-01T00:00:00Z",
            "1,outbound,200,0,1,1,0,2026-06-01T00:00:00Z,",
            "1512,outbound,300,0,1,1,0,,",
            "1512,inbound,400,0,1,1,0,,",
            "44,outbound,500,0,1,1,0,,"]) + "\n"
        self.assertEqual(self.import_csv(text, tenant=t)[0], 200)
        seen, cursor = [], None
        while True:
            path = "/admin/v1/rates?limit=2&tenant_id=" + t + ("&cursor=" + cursor if cursor else "")
            st, page, raw, _ = self.p.admin("GET", path)
            self.assertEqual(st, 200, raw)
            self.assertLessEqual(len(page["data"]), 2)
            seen += [r["id"] for r in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), 5)
        self.assertEqual(len(set(seen)), 5)

        def listed(query):
            st, page, raw, _ = self.p.admin("GET", "/admin/v1/rates?tenant_id=%s&%s" % (t, query))
            self.assertEqual(st, 200, raw)
            return sorted((r["kind"], r["prefix"], r["cents_per_minute"]) for r in page["data"])
        self.assertEqual(listed("prefix=%2B15"), [("inbound", "1512", "0.0004"),
                                                  ("outbound", "1512", "0.0003")])
        self.assertEqual(listed("kind=outbound&at=2026-05-01T00:00:00Z"),
                         [("outbound", "1", "0.0001"), ("outbound", "1512", "0.0003"),
                          ("outbound", "44", "0.0005")])
        self.assertEqual(listed("kind=outbound&prefix=1&at=2026-07-01T00:00:00Z"),
                         [("outbound", "1", "0.0002"), ("outbound", "1512", "0.0003")])
        # the platform deck is another deck
        st, page, _, _ = self.p.admin("GET", "/admin/v1/rates?prefix=1512&kind=inbound")
        self.assertNotIn(t, [r["tenant_id"] for r in page["data"]])
        for bad, field in (("kind=sms", "kind"), ("prefix=1a", "prefix"), ("at=soon", "at"),
                           ("tenant_id=x", "tenant_id"), ("limit=0", "limit"),
                           ("cursor=%21", "cursor")):
            self.assert_error(self.p.admin("GET", "/admin/v1/rates?" + bad), 422,
                              "invalid_parameter", field=field)

    def test_tenant_deck_over_platform_deck(self):
        mine, other = self.tenant(), self.tenant()
        self.assertEqual(self.import_csv("prefix,micros_per_minute\n4930,6000000\n")[0], 200)
        self.assertEqual(self.import_csv("prefix,micros_per_minute\n49,1200000\n", tenant=mine)[0],
                         200)
        st, found, raw, _ = self.lookup(tenant_id=mine, number="+4930123456")
        self.assertEqual((st, found["deck"], found["rate"]["prefix"]), (200, "tenant", "49"), raw)
        st, found, raw, _ = self.lookup(tenant_id=other, number="+4930123456")
        self.assertEqual((st, found["deck"], found["rate"]["prefix"]), (200, "platform", "4930"),
                         raw)
        a = self.rated(self.call(mine, "+4930123456", 60000))
        b = self.rated(self.call(other, "+4930123456", 60000))
        self.assertEqual((a["cents"], a["rate_id"]), (2, self.rate_id(mine, "outbound", "49")))
        self.assertEqual((b["cents"], b["rate_id"]), (6, self.rate_id(None, "outbound", "4930")))
        self.assert_error(self.lookup(tenant_id=mine, number="+4930123456", kind="amd"), 404,
                          "not_found", field="number")
        self.assert_error(self.lookup(tenant_id=mine), 422, "invalid_parameter", field="number")
        self.assert_error(self.lookup(number="+49x"), 422, "invalid_parameter", field="number")

    # -- rating by kind --------------------------------------------------------------------
    def test_effective_dates_price_calls_by_the_rate_of_their_time(self):
        t = self.tenant()
        text = HEADER + "\n" + \
            "61,outbound,6000000,0,1,1,0,,2026-06-01T00:00:00Z\n" + \
            "61,outbound,12000000,0,1,1,0,2026-06-01T00:00:00Z,\n"
        self.assertEqual(self.import_csv(text, tenant=t)[0], 200)
        before = self.rated(self.call(t, "+61255501234", 60000, initiated="2026-05-31T23:59:59Z"))
        after = self.rated(self.call(t, "+61255501234", 60000, initiated="2026-06-01T00:00:00Z"))
        self.assertEqual(before["cents"], 6)
        self.assertEqual(after["cents"], 12)
        self.assertNotEqual(before["rate_id"], after["rate_id"])
        st, old, _, _ = self.lookup(tenant_id=t, number="61255501234", at="2026-05-01T00:00:00Z")
        self.assertEqual((st, old["rate"]["id"]), (200, before["rate_id"]))
        st, new, _, _ = self.lookup(tenant_id=t, number="61255501234")
        self.assertEqual((st, new["rate"]["id"]), (200, after["rate_id"]))
        self.assert_ledger_consistent()

    def test_inbound_calls_are_priced_by_the_did(self):
        t = self.tenant()
        text = HEADER + "\n1737,inbound,600000,0,60,60,0,,\n1737,outbound,60000000,0,1,1,0,,\n"
        self.assertEqual(self.import_csv(text, tenant=t)[0], 200)
        did = "+17375550199"
        inbound = self.rated(self.call(t, did, 61000, direction="inbound", frm="+447700900123"))
        self.assertEqual((inbound["status"], inbound["billed"], inbound["cents"]), ("rated", 120, 2))
        self.assertEqual(inbound["rate_id"], self.rate_id(t, "inbound", "1737"))
        # an inbound call to a DID no inbound rate covers is not priced by the outbound deck
        other = self.tenant()
        self.assertEqual(self.import_csv("prefix,kind,micros_per_minute\n1737,outbound,1\n",
                                         tenant=other)[0], 200)
        unpriced = self.rated(self.call(other, did, 5000, direction="inbound"))
        self.assertEqual((unpriced["status"], unpriced["cents"]), ("failed", None))
        self.assertIn("no rate", unpriced["error"])

    def test_minimum_charge(self):
        t = self.tenant()
        text = "prefix,micros_per_minute,minimum_charge_micros,connection_fee_micros\n" \
               "852,600000,5000000,100000\n"
        self.assertEqual(self.import_csv(text, tenant=t)[0], 200)
        short = self.rated(self.call(t, "+85221234567", 3000))
        longer = self.rated(self.call(t, "+85221234567", 1200000))
        never = self.rated(self.call(t, "+85221234567", None))
        self.assertEqual((short["billed"], short["cents"]), model_price(3000, 600000, 100000, 1, 1,
                                                                        5000000)[::2])
        self.assertEqual(short["cents"], 5)
        self.assertEqual(longer["cents"], model_price(1200000, 600000, 100000, 1, 1, 5000000)[2])
        self.assertEqual(longer["cents"], 13)
        self.assertEqual((never["status"], never["cents"]), ("rated", 0))
        self.assert_ledger_consistent()

    # -- usage charges ---------------------------------------------------------------------
    def usage(self, cid, kind, quantity):
        r = self.p.sql("SELECT outcome, cost_cents, billed_seconds, rate_id, txn_id"
                       " FROM rating_charge_usage(%s, %s, %d)" % (q(cid), q(kind), quantity))[0]
        return r[0], r[1] and int(r[1]), r[4]

    def usage_txns(self, cid):
        return self.p.sql("SELECT ref_type, count(*) FROM ledger_transactions WHERE ref_id = %s"
                          " AND kind = 'usage_charge' GROUP BY ref_type ORDER BY ref_type" % q(cid))

    def test_usage_charges_once_per_call_and_kind(self):
        t = self.tenant()
        text = HEADER + "\n,transcription,2400000,0,1,1,0,,\n,amd,0,750000,1,1,0,,\n" \
                        ",recording_storage,100000,0,60,60,1000000,,\n"
        self.assertEqual(self.import_csv(text, tenant=t)[0], 200)
        cid = self.call(t, "+15125550111", 95000, direction="inbound")
        self.assertEqual(self.usage(cid, "transcription", 95000)[:2], ("charged", 4))  # 95 s
        again = self.usage(cid, "transcription", 999999)
        self.assertEqual(again[:2], ("already_charged", 4))
        self.assertEqual(self.usage(cid, "amd", 1)[:2], ("charged", 1))
        self.assertEqual(self.usage(cid, "amd", 1)[0], "already_charged")
        # storage: 2 minutes at 0.1 c, lifted to the 1 c minimum
        self.assertEqual(self.usage(cid, "recording_storage", 95000)[:2], ("charged", 1))
        self.assertEqual(self.usage_txns(cid), [["amd", "1"], ["recording_storage", "1"],
                                                ["transcription", "1"]])
        balance = int(self.p.sql("SELECT balance_cents FROM ledger_accounts WHERE tenant_id = %s"
                                 % q(t))[0][0])
        self.assertEqual(balance, -6)  # the call itself has no rate here: rated failed
        # no usage rate: unpriced, recorded once, nothing moves
        other = self.tenant()
        cid2 = self.call(other, "+15125550111", 1000)
        self.assertEqual(self.usage(cid2, "transcription", 60000)[:2], ("unpriced", None))
        self.assertEqual(self.usage(cid2, "transcription", 60000)[:2], ("already_charged", None))
        self.assertEqual(self.usage_txns(cid2), [])
        # bad input is refused by name
        for kind, qty, field in (("sms", 1, "kind"), ("amd", 2, "quantity"),
                                 ("transcription", -1, "quantity")):
            with self.assertRaises(subprocess.CalledProcessError) as e:
                self.usage(cid2, kind, qty)
            self.assertIn("voepy:invalid_parameter", e.exception.stderr)
        self.assert_ledger_consistent()

    # -- the SQL price function ------------------------------------------------------------
    def sql_price(self, ms, mpm, fee, initial, subsequent, minimum):
        r = self.p.sql("SELECT * FROM rating_price_sql(%d, %d, %d, %d, %d, %d)"
                       % (mpm, fee, initial, subsequent, minimum, ms))[0]
        return tuple(int(x) for x in r)

    def test_sql_price_matches_price_c_table_cases(self):
        with open(os.path.join(HERE, "..", "unit", "rating", "test_price.c")) as f:
            src = f.read()
        table = src[src.index("cases[] = {"):src.index("};", src.index("cases[] = {"))]
        rows = re.findall(r'\{"([^"]*)",\s*([^{}]*)\}', table)
        self.assertGreaterEqual(len(rows), 20)

        def num(x):
            m = re.fullmatch(r"MPM\((\d+)\)(?:\s*\+\s*(\d+))?", x.strip())
            return int(m.group(1)) * 1000000 + int(m.group(2) or 0) if m else int(x)
        for what, values in rows:
            ms, mpm, fee, ini, sub, billed, micros, cents, minimum = map(num, values.split(","))
            with self.subTest(what):
                self.assertEqual(self.sql_price(ms, mpm, fee, ini, sub, minimum),
                                 (billed, micros, cents))
        # overflow is an error, never a wrapped number (price.c: VP_E_OVERFLOW)
        for args in ((3600000, 2**63 - 1, 0, 1, 1, 0), (1000, 60000000, 2**63 - 1, 1, 1, 0),
                     (2000, 0, 0, 1, 2**63 - 1, 0)):
            with self.assertRaises(subprocess.CalledProcessError) as e:
                self.sql_price(*args)
            self.assertIn("out of range", e.exception.stderr)

    def test_sql_price_matches_the_model_on_random_inputs(self):
        rng = random.Random(int(os.environ.get("VOEPY_TEST_SEED", "6")))
        cases = []
        for _ in range(400):
            cases.append((rng.choice([0, 1, 999, 1000, 1001, rng.randrange(1, 7200000)]),
                          rng.choice([0, 1, 59, 60, rng.randrange(0, 10**9)]),
                          rng.choice([0, rng.randrange(0, 10**7)]),
                          rng.choice([1, 6, 30, 60, 120]), rng.choice([1, 6, 30, 60]),
                          rng.choice([0, rng.randrange(0, 10**8)])))
        values = ",".join("(%d,%d,%d,%d,%d,%d,%d)" % ((i,) + c) for i, c in enumerate(cases))
        got = self.p.sql("SELECT v.i, p.* FROM (VALUES %s) v(i, ms, mpm, fee, ini, sub, mn),"
                         " rating_price_sql(v.mpm, v.fee, v.ini, v.sub, v.mn, v.ms) p ORDER BY v.i"
                         % values)
        self.assertEqual(len(got), len(cases))
        for row, (ms, mpm, fee, ini, sub, mn) in zip(got, cases):
            self.assertEqual(tuple(int(x) for x in row[1:]), model_price(ms, mpm, fee, ini, sub, mn),
                             (ms, mpm, fee, ini, sub, mn))


if __name__ == "__main__":
    unittest.main()
