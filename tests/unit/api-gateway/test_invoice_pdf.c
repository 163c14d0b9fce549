/* api-gateway invoices: the JSON model, the PDF (libhpdf) and the CSV (RFC 4180) writers. */
#include "vp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "invoice_pdf.h"
#include "voepy/err.h"

#define INV_ID "voepy_inv_01HZZZZZZZZZZZZZZZZZZZZZZZ_202601"

static const char *const invoice_json =
    "{\"id\": \"" INV_ID "\", \"object\": \"invoice\","
    " \"tenant_id\": \"voepy_tenant_01HZZZZZZZZZZZZZZZZZZZZZZZ\", \"period\": \"2026-01\","
    " \"period_start\": \"2026-01-01T00:00:00.000Z\", \"period_end\": \"2026-02-01T00:00:00.000Z\","
    " \"status\": \"final\", \"currency\": \"USD\", \"opening_balance_cents\": 1000,"
    " \"payments_cents\": 250075, \"charges_cents\": 1234, \"closing_balance_cents\": 249841,"
    " \"lines\": ["
    "  {\"type\": \"charge\", \"kind\": \"call_charge\", \"description\": \"Calls to +44\","
    "   \"destination\": \"+44\", \"quantity\": 3, \"billed_seconds\": 180, \"amount_cents\": 1200,"
    "   \"date\": null, \"reference\": null},"
    "  {\"type\": \"charge\", \"kind\": \"usage_charge\", \"description\": \"Transcription\","
    "   \"destination\": null, \"quantity\": 1, \"billed_seconds\": null, \"amount_cents\": 34,"
    "   \"date\": null, \"reference\": null},"
    "  {\"type\": \"payment\", \"kind\": \"credit\","
    "   \"description\": \"Goodwill, \\\"sorry\\\" (outage)\\nsee ticket 7 \\u00e9\","
    "   \"destination\": null, \"quantity\": 1, \"billed_seconds\": null,"
    "   \"amount_cents\": 250075, \"date\": \"2026-01-05T10:00:00.000Z\", \"reference\": \"c-1\"}"
    " ]}";

static void load(struct invoice *inv)
{
    assert_int_equal(invoice_from_json(inv, invoice_json, strlen(invoice_json)), 0);
}

static bool contains(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void test_format_cents(void **state)
{
    (void)state;
    char s[INVOICE_CENTS_MAX];
    const struct {
        int64_t in;
        const char *out;
    } cases[] = {{0, "0.00"},
                 {5, "0.05"},
                 {-5, "-0.05"},
                 {100, "1.00"},
                 {123456, "1234.56"},
                 {-250075, "-2500.75"},
                 {INT64_MAX, "92233720368547758.07"},
                 {INT64_MIN, "-92233720368547758.08"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        invoice_format_cents(cases[i].in, s);
        assert_string_equal(s, cases[i].out);
    }
}

static void test_from_json(void **state)
{
    (void)state;
    struct invoice inv;
    load(&inv);
    assert_string_equal(inv.id, INV_ID);
    assert_int_equal(inv.nlines, 3);
    assert_int_equal(inv.closing_cents, 249841);
    assert_int_equal(inv.lines[0].billed_secs, 180);
    assert_string_equal(inv.lines[0].destination, "+44");
    assert_int_equal(inv.lines[1].billed_secs, -1);
    assert_null(inv.lines[1].destination);
    assert_string_equal(inv.lines[2].reference, "c-1");
    invoice_clear(&inv);
    invoice_clear(&inv); /* twice is harmless */
    /* Wrong shapes are refused whole, with nothing left to free. */
    const char *bad[] = {"", "[]", "{\"id\": \"x\"}", "{\"id\": 1, \"lines\": []}",
                         "{\"id\": \"x\", \"tenant_id\": \"t\", \"period\": \"p\", "
                         "\"period_start\": \"s\", \"period_end\": \"e\", \"status\": \"draft\", "
                         "\"currency\": \"USD\", \"opening_balance_cents\": 0, "
                         "\"payments_cents\": 0, \"charges_cents\": 0, "
                         "\"closing_balance_cents\": 0, \"lines\": [{\"type\": \"charge\"}]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(invoice_from_json(&inv, bad[i], strlen(bad[i])), VP_E_PARSE);
        assert_null(inv.id);
        assert_null(inv.lines);
    }
}

/* Structure and text of the PDF, read from the bytes (content streams are uncompressed). */
static void test_pdf_bytes(void **state)
{
    (void)state;
    struct invoice inv;
    char *pdf = NULL;
    size_t len = 0;
    load(&inv);
    assert_int_equal(invoice_pdf_render(&inv, &pdf, &len), 0);
    assert_true(len > 500);
    assert_memory_equal(pdf, "%PDF-", 5);
    size_t end = len;
    while (end > 0 && (pdf[end - 1] == '\n' || pdf[end - 1] == '\r'))
        end--;
    assert_true(end >= 5);
    assert_memory_equal(pdf + end - 5, "%%EOF", 5);
    assert_true(contains(pdf, len, "(" INV_ID ")"));
    assert_true(contains(pdf, len, "(2500.75)"));  /* payments */
    assert_true(contains(pdf, len, "(12.34)"));    /* charges */
    assert_true(contains(pdf, len, "(2498.41)"));  /* closing */
    assert_true(contains(pdf, len, "(-2500.75)")); /* the payment line, shown negative */
    assert_true(contains(pdf, len, "(FINAL)"));
    /* The same invoice gives the same bytes. */
    char *again = NULL;
    size_t len2 = 0;
    assert_int_equal(invoice_pdf_render(&inv, &again, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(pdf, again, len);
    free(again);
    free(pdf);
    invoice_clear(&inv);
}

/* Text of a PDF as pdftotext (poppler-utils) reads it; NULL when pdftotext is missing. */
static char *pdf_text(const char *pdf, size_t len)
{
    if (system("command -v pdftotext >/dev/null 2>&1") != 0)
        return NULL;
    char path[] = "/tmp/vp_invoice_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pdf, len), (ssize_t)len);
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "pdftotext -layout %s - 2>&1", path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    assert_int_equal(pclose(f), 0);
    unlink(path);
    return text;
}

/* A long invoice spans pages, and a PDF reader finds every line and the totals in it. */
static void test_pdf_pages_readable(void **state)
{
    (void)state;
    struct invoice inv;
    load(&inv);
    size_t n = 150;
    struct invoice_line *many = calloc(n, sizeof(*many));
    assert_non_null(many);
    char desc[150][32];
    for (size_t i = 0; i < n; i++) {
        snprintf(desc[i], sizeof(desc[i]), "Calls to +%zu", 100 + i);
        many[i] = inv.lines[0];
        many[i].description = desc[i];
    }
    struct invoice_line *own = inv.lines;
    size_t own_n = inv.nlines;
    inv.lines = many;
    inv.nlines = n;
    char *pdf = NULL;
    size_t len = 0;
    assert_int_equal(invoice_pdf_render(&inv, &pdf, &len), 0);
    inv.lines = own;
    inv.nlines = own_n;
    free(many);
    size_t pages = 0; /* page objects: "/Type /Page" not followed by "s" (the page tree) */
    for (const char *p = pdf; (p = memmem(p, len - (size_t)(p - pdf), "/Type /Page", 11)); p++)
        pages += p[11] != 's';
    assert_true(pages >= 2);
    char *text = pdf_text(pdf, len);
    if (text) {
        assert_non_null(strstr(text, INV_ID));
        assert_non_null(strstr(text, "Calls to +100"));
        assert_non_null(strstr(text, "Calls to +249"));
        assert_non_null(strstr(text, "2498.41"));
        const char *ff = strchr(text, '\f'); /* pdftotext ends every page with one */
        assert_true(ff && strchr(ff + 1, '\f'));
    } else {
        print_message("pdftotext not installed: page text not checked\n");
        assert_true(contains(pdf, len, "(Calls to +249)"));
    }
    free(pdf);
    invoice_clear(&inv);
}

static void test_csv(void **state)
{
    (void)state;
    struct invoice inv;
    char *csv = NULL;
    size_t len = 0;
    load(&inv);
    free(inv.lines[1].description);
    inv.lines[1].description = strdup("=HYPERLINK(\"x\")");
    assert_int_equal(invoice_csv_render(&inv, &csv, &len), 0);
    assert_int_equal(strlen(csv), len);
    const char *want =
        "invoice_id,period,type,kind,description,destination,quantity,billed_seconds,"
        "amount_cents,date,reference\r\n" INV_ID ",2026-01,charge,call_charge,Calls to +44,+44,3,"
        "180,1200,,\r\n" INV_ID ",2026-01,charge,usage_charge,\"'=HYPERLINK(\"\"x\"\")\",,1,,34,,"
        "\r\n" INV_ID ",2026-01,payment,credit,\"Goodwill, \"\"sorry\"\" (outage)\nsee ticket 7 "
        "\xc3\xa9\",,1,,250075,2026-01-05T10:00:00.000Z,c-1\r\n" INV_ID
        ",2026-01,summary,opening_balance,Opening balance,,1,,1000,,\r\n" INV_ID
        ",2026-01,summary,payments,Payments and credits,,1,,250075,,\r\n" INV_ID
        ",2026-01,summary,charges,Charges,,1,,1234,,\r\n" INV_ID
        ",2026-01,summary,closing_balance,Closing balance,,1,,249841,,\r\n";
    assert_string_equal(csv, want);
    free(csv);
    invoice_clear(&inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_cents), cmocka_unit_test(test_from_json),
        cmocka_unit_test(test_pdf_bytes),    cmocka_unit_test(test_pdf_pages_readable),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
