"""Usage summaries and monthly invoices (issue 6, statements) on real PostgreSQL.

A month of ledger activity is built with the SQL the platform itself uses (ledger_transfer
for credits, top-ups and a usage charge; rating_apply for rated calls), in the previous
calendar month and the current one. The ledger posts at now(); to place rows in the past
each posting runs in one transaction that turns the immutability triggers off, moves the
rows it just wrote back in time, and turns them on again (tests only).

Checked: usage by day and by destination (and that a month's usage equals its invoice's
charges), the invoices list (draft/final, newest first, cursor), lines and totals with
opening + payments - charges = closing for every month, the next month opening where the
last one closed and the current month closing at the balance, PDF and CSV downloads (content
types, text, RFC 4180 quoting), tenant isolation and bad from/to/group_by values.
"""
import csv
import datetime
import io
import itertools
import shutil
import subprocess
import tempfile
import unittest

from harness import q, ApiAssertions, Platform

_ids = itertools.count(1)
UTC = datetime.timezone.utc


def month_start(d):
    return datetime.datetime(d.year, d.month, 1, tzinfo=UTC)


def prev_month(m):
    return month_start(m - datetime.timedelta(days=1))


class BillingStatementsTest(unittest.TestCase, ApiAssertions):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), name="statements")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        cls.p.sql("INSERT INTO rates (id, tenant_id, prefix, micros_per_minute) VALUES"
                  " ('voepy_rate_st1', NULL, '1', 1200000),"
                  " ('voepy_rate_st44', NULL, '44', 30000000)")
        cls.now = datetime.datetime.now(UTC)
        cls.m0 = month_start(cls.now)  # the current month (draft)
        cls.m1 = prev_month(cls.m0)    # the previous one (final)
        created = cls.p.create_tenant("statements")
        cls.tenant, cls.key = created["tenant"]["id"], created["api_key"]
        other = cls.p.create_tenant("other")
        cls.other_tenant, cls.other_key = other["tenant"]["id"], other["api_key"]
        cls.build_ledger()

    # -- data ------------------------------------------------------------------------------
    @classmethod
    def at(cls, day, hour):
        return cls.m1 + datetime.timedelta(days=day - 1, hours=hour)

    @classmethod
    def posted(cls, when, stmt):
        """Run stmt (which posts ledger rows) and, when given a time, move those rows there."""
        if when is None:
            return cls.p.sql(stmt)
        ts = q(when.isoformat())
        cls.p.sql(
            "BEGIN;"
            " ALTER TABLE ledger_transactions DISABLE TRIGGER ledger_transactions_immutable;"
            " ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_immutable;"
            " %s;"
            " SET CONSTRAINTS ALL IMMEDIATE;"  # the balance check, before ALTER TABLE again
            " UPDATE ledger_entries SET created_at = %s WHERE created_at = now();"
            " UPDATE ledger_transactions SET created_at = %s WHERE created_at = now();"
            " ALTER TABLE ledger_transactions ENABLE TRIGGER ledger_transactions_immutable;"
            " ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_immutable;"
            " COMMIT" % (stmt, ts, ts))

    @classmethod
    def transfer(cls, when, kind, ref_type, amount, into_tenant, description=None,
                 account="payments_clearing"):
        t = cls.tenant
        src, dst = ("ledger_account(NULL, %s)" % q(account),
                    "ledger_account(%s, 'tenant_balance')" % q(t))
        if not into_tenant:
            src, dst = ("ledger_account(%s, 'tenant_balance')" % q(t),
                        "ledger_account(NULL, 'platform_revenue')")
        cls.posted(when, "SELECT ledger_transfer(%s, %s, %s, %s, %s, %s, %d, %s)"
                   % (q(t), q(kind), q(ref_type), q("ref-%d" % next(_ids)), src, dst, amount,
                      q(description) if description else "NULL"))

    @classmethod
    def rated_call(cls, when, to, rate, secs, cents):
        cid = "voepy_call_st%d" % next(_ids)
        end = when or datetime.datetime.now(UTC)
        cls.p.sql("INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,"
                  " initiated_at, answered_at, ended_at, end_reason) VALUES"
                  " (%s, %s, 'outbound', 'ended', '+15125550100', %s, %s, %s, %s, 'completed')"
                  % (q(cid), q(cls.tenant), q(to),
                     q((end - datetime.timedelta(seconds=secs + 5)).isoformat()),
                     q((end - datetime.timedelta(seconds=secs)).isoformat()), q(end.isoformat())))
        cls.posted(when if cents else None, "SELECT * FROM rating_apply(%s, %s, %d, %d)"
                   % (q(cid), q(rate), secs, cents))
        return cid

    @classmethod
    def build_ledger(cls):
        # The previous month: two payments, four rated calls (one free), one usage charge.
        cls.transfer(cls.at(2, 9), "credit", "admin_credit", 10000, True,
                     'Welcome credit, "first" month\nthanks')
        cls.rated_call(cls.at(3, 12), "+447700900001", "voepy_rate_st44", 60, 30)
        cls.rated_call(cls.at(3, 13), "+447700900002", "voepy_rate_st44", 120, 60)
        cls.rated_call(cls.at(10, 8), "+15125550101", "voepy_rate_st1", 30, 6)
        cls.transfer(cls.at(10, 9), "usage_charge", "transcription", 25, False)
        cls.rated_call(cls.at(11, 8), "+15125550102", "voepy_rate_st1", 20, 0)
        cls.transfer(cls.at(20, 9), "top_up", "top_up", 5000, True, "Top-up")
        # The current month, posted now.
        cls.rated_call(None, "+447700900003", "voepy_rate_st44", 90, 45)
        cls.transfer(None, "usage_charge", "amd", 5, False)
        cls.transfer(None, "credit", "admin_credit", 1000, True, "=1+1")

    def api(self, method, path, key=None, **kw):
        return self.p.api(method, path, key=key or self.key, **kw)

    def invoice_id(self, m, tenant=None):
        return "voepy_inv_%s_%s" % ((tenant or self.tenant)[len("voepy_tenant_"):],
                                    m.strftime("%Y%m"))

    # -- usage -----------------------------------------------------------------------------
    def test_usage_by_day_and_destination(self):
        last = self.m0 - datetime.timedelta(days=1)
        qs = "from=%s&to=%s" % (self.m1.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d"))
        st, u, raw, _ = self.api("GET", "/v1/billing/usage?" + qs + "&group_by=day")
        self.assertEqual(st, 200, raw)
        self.assertEqual(u["from"], self.m1.strftime("%Y-%m-%dT00:00:00.000Z"))
        self.assertEqual(u["to"], self.m0.strftime("%Y-%m-%dT00:00:00.000Z"))  # to's whole day
        day = lambda d: self.at(d, 0).strftime("%Y-%m-%d")
        rows = [(g["group"], g["kind"], g["calls"], g["charges"], g["billed_seconds"],
                 g["cost_cents"]) for g in u["data"]]
        self.assertEqual(rows, [(day(3), "call", 2, 0, 180, 90),
                                (day(10), "call", 1, 0, 30, 6),
                                (day(10), "transcription", 0, 1, 0, 25),
                                (day(11), "call", 1, 0, 20, 0)], raw)
        self.assertEqual(u["total"], {"calls": 4, "charges": 1, "billed_seconds": 230,
                                      "cost_cents": 121})
        st, u, raw, _ = self.api("GET", "/v1/billing/usage?" + qs + "&group_by=destination")
        self.assertEqual(st, 200, raw)
        rows = [(g["group"], g["kind"], g["calls"], g["charges"], g["billed_seconds"],
                 g["cost_cents"]) for g in u["data"]]
        self.assertEqual(sorted(rows), [("+1", "call", 2, 0, 50, 6),
                                        ("+44", "call", 2, 0, 180, 90),
                                        ("transcription", "transcription", 0, 1, 0, 25)], raw)
        # A month's usage is its invoice's charges.
        st, inv, raw, _ = self.api("GET", "/v1/billing/invoices/" + self.invoice_id(self.m1))
        self.assertEqual(inv["charges_cents"], u["total"]["cost_cents"], raw)
        # Default range: this month so far (timestamps with zones work too).
        st, u, raw, _ = self.api("GET", "/v1/billing/usage")
        self.assertEqual(st, 200, raw)
        self.assertEqual(u["group_by"], "day")
        self.assertEqual(u["total"], {"calls": 1, "charges": 1, "billed_seconds": 90,
                                      "cost_cents": 50}, raw)
        ts = self.m1.strftime("%Y-%m-03T12:30:00%%2B00:00")  # +00:00, encoded
        st, u, raw, _ = self.api("GET", "/v1/billing/usage?from=%s&to=%s" %
                                 (self.m1.strftime("%Y-%m-03T00:00:00Z"), ts))
        self.assertEqual(st, 200, raw)
        self.assertEqual(u["total"]["cost_cents"], 30, raw)
        # Another tenant sees none of it.
        st, u, raw, _ = self.api("GET", "/v1/billing/usage?" + qs, key=self.other_key)
        self.assertEqual((st, u["data"], u["total"]["cost_cents"]), (200, [], 0), raw)

    def test_usage_bad_parameters(self):
        for qs, field in (("from=yesterday", "from"), ("from=2026-13-01", "from"),
                          ("to=2026-02-30", "to"), ("from=2026-01-01T10:00:00", "from"),
                          ("from=2026-01-02&to=2026-01-01", "to"),
                          ("from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
                          ("from=2024-01-01&to=2025-06-01", "to"),
                          ("group_by=week", "group_by"), ("from=2026-01-01;drop", "from")):
            self.assert_error(self.api("GET", "/v1/billing/usage?" + qs), 422,
                              "invalid_parameter", field=field)
        self.assert_error(self.api("GET", "/v1/billing/usage?from=2025-01-01&to=2025-12-31"
                                   "&group_by=day", key="voepy_live_nope"), 401, "unauthorized")

    # -- invoices --------------------------------------------------------------------------
    def test_invoices_and_identity(self):
        st, page, raw, _ = self.api("GET", "/v1/billing/invoices")
        self.assertEqual(st, 200, raw)
        ids = [i["id"] for i in page["data"]]
        self.assertEqual(ids, [self.invoice_id(self.m0), self.invoice_id(self.m1)], raw)
        self.assertEqual([i["status"] for i in page["data"]], ["draft", "final"])
        self.assertIsNone(page["next_cursor"])
        # Cursor pages give the same months.
        st, p1, raw, _ = self.api("GET", "/v1/billing/invoices?limit=1")
        st, p2, raw2, _ = self.api("GET", "/v1/billing/invoices?limit=1&cursor=" +
                                   p1["next_cursor"])
        self.assertEqual([p1["data"][0]["id"], p2["data"][0]["id"]], ids, raw + raw2)
        self.assertIsNone(p2["next_cursor"])
        self.assert_error(self.api("GET", "/v1/billing/invoices?cursor=abc"), 422,
                          "invalid_parameter", field="cursor")
        # Every month: opening + payments - charges = closing, and lines add up to the totals.
        invoices = []
        for i in ids:
            st, inv, raw, _ = self.api("GET", "/v1/billing/invoices/" + i)
            self.assertEqual(st, 200, raw)
            self.assertEqual(inv["opening_balance_cents"] + inv["payments_cents"]
                             - inv["charges_cents"], inv["closing_balance_cents"], raw)
            for kind, total in (("charge", "charges_cents"), ("payment", "payments_cents")):
                self.assertEqual(sum(l["amount_cents"] for l in inv["lines"] if l["type"] == kind),
                                 inv[total], raw)
            invoices.append(inv)
        cur, prev = invoices
        self.assertEqual(cur["opening_balance_cents"], prev["closing_balance_cents"])
        balance = self.api("GET", "/v1/billing/balance")[1]["balance_cents"]
        self.assertEqual(cur["closing_balance_cents"], balance)
        self.assertEqual((prev["opening_balance_cents"], prev["payments_cents"],
                          prev["charges_cents"], prev["closing_balance_cents"]),
                         (0, 15000, 121, 14879))
        self.assertEqual((cur["payments_cents"], cur["charges_cents"],
                          cur["closing_balance_cents"]), (1000, 50, 15829))
        lines = [(l["type"], l["kind"], l["description"], l["quantity"], l["billed_seconds"],
                  l["amount_cents"]) for l in prev["lines"]]
        self.assertEqual(lines, [
            ("charge", "call_charge", "Calls to +1", 1, 30, 6),
            ("charge", "call_charge", "Calls to +44", 2, 180, 90),
            ("charge", "usage_charge", "Transcription", 1, None, 25),
            ("payment", "credit", 'Welcome credit, "first" month\nthanks', 1, None, 10000),
            ("payment", "top_up", "Top-up", 1, None, 5000)])
        self.assertEqual(prev["period"], self.m1.strftime("%Y-%m"))
        # The same id every time, and a final month never changes.
        again = self.api("GET", "/v1/billing/invoices/" + ids[1])[1]
        self.assertEqual(again, prev)

    def test_downloads(self):
        iid = self.invoice_id(self.m1)
        st, _, body, h = self.api("GET", "/v1/billing/invoices/%s/pdf" % iid)
        self.assertEqual(st, 200, body[:200])
        self.assertEqual(h["content-type"], "application/pdf")
        self.assertIn('filename="%s.pdf"' % iid, h["content-disposition"])
        self.assertTrue(body.startswith(b"%PDF-"))
        self.assertTrue(body.rstrip().endswith(b"%%EOF"))
        self.assertIn(("(%s)" % iid).encode(), body)
        self.assertIn(b"(148.79)", body)  # closing balance
        if shutil.which("pdftotext"):
            with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
                f.write(body)
                f.flush()
                text = subprocess.run(["pdftotext", "-layout", f.name, "-"], check=True,
                                      capture_output=True, text=True).stdout
            for want in (iid, "FINAL", "Calls to +44", "150.00", "1.21", "148.79"):
                self.assertIn(want, text)
        st, _, body, h = self.api("GET", "/v1/billing/invoices/%s/csv" % iid)
        self.assertEqual(st, 200, body[:200])
        self.assertEqual(h["content-type"].split(";")[0], "text/csv")
        text = body.decode()
        self.assertIn('"Welcome credit, ""first"" month\nthanks"', text)
        self.assertTrue(text.endswith("\r\n"))
        rows = list(csv.reader(io.StringIO(text, newline="")))
        self.assertEqual(rows[0][:4], ["invoice_id", "period", "type", "kind"])
        self.assertEqual(len(rows), 1 + 5 + 4)
        self.assertEqual(rows[4][4], 'Welcome credit, "first" month\nthanks')
        summary = {r[3]: int(r[8]) for r in rows if r[2] == "summary"}
        self.assertEqual(summary, {"opening_balance": 0, "payments": 15000, "charges": 121,
                                   "closing_balance": 14879})
        # The current month's credit description looks like a formula: defused.
        st, _, body, _ = self.api("GET", "/v1/billing/invoices/%s/csv" % self.invoice_id(self.m0))
        self.assertIn(",'=1+1,", body.decode())

    def test_isolation_and_unknown_ids(self):
        mine = self.invoice_id(self.m1)
        for suffix in ("", "/pdf", "/csv"):
            self.assert_error(self.api("GET", "/v1/billing/invoices/" + mine + suffix,
                                       key=self.other_key), 404, "not_found")
        st, page, raw, _ = self.api("GET", "/v1/billing/invoices", key=self.other_key)
        self.assertEqual([i["id"] for i in page["data"]],
                         [self.invoice_id(self.m0, self.other_tenant)], raw)
        self.assertEqual(page["data"][0]["closing_balance_cents"], 0)
        future = self.m0 + datetime.timedelta(days=40)
        before = prev_month(self.m1)
        for bad in (self.invoice_id(future), self.invoice_id(before),
                    "voepy_inv_x_202613", "voepy_call_01J0000000000000000000000A", "inv.pdf"):
            self.assert_error(self.api("GET", "/v1/billing/invoices/" + bad), 404, "not_found")
        self.assert_error(self.api("GET", "/v1/billing/invoices/%s/pdf" % self.invoice_id(future)),
                          404, "not_found")


if __name__ == "__main__":
    unittest.main()
