/*
 * invoice_pdf.c - an invoice (invoice_pdf.h) as a PDF document, written with libhpdf
 * (libharu) into memory.
 *
 * libhpdf reports errors through a handler and the return value of each call. Its examples
 * longjmp out of the handler; ours only records the first error (no longjmp may cross our
 * frames), and every call's status is checked, so a failure unwinds normally and the
 * document is freed on the one exit path. Content streams are left uncompressed (the text
 * can be read back from the bytes) and no creation date is set, so the same invoice gives
 * the same bytes.
 */
#include "invoice_pdf.h"

#include <hpdf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define PAGE_W    595.0f /* A4 portrait, points */
#define PAGE_H    842.0f
#define MARGIN    50.0f
#define RIGHT     (PAGE_W - MARGIN)
#define LINE_H    14.0f
#define BODY_SIZE 9.0f
#define TEXT_MAX  200 /* bytes of one text item after sanitising */
#define DESC_MAX  52  /* characters of a description in the table */

struct pdf {
    HPDF_Doc doc;
    HPDF_Page page;
    HPDF_Font font, bold;
    float y;                 /* baseline of the next row */
    HPDF_STATUS first_error; /* set by the error handler */
    HPDF_STATUS first_detail;
};

/* Record only: returning lets the failing call return its error code to us. */
static void error_cb(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
    struct pdf *p = user_data;
    if (p->first_error == HPDF_OK) {
        p->first_error = error_no;
        p->first_detail = detail_no;
    }
}

static int check(struct pdf *p, HPDF_STATUS st)
{
    return st == HPDF_OK && p->first_error == HPDF_OK ? 0 : VP_E_INTERNAL;
}

/* Printable ASCII only: the standard fonts carry no other glyphs we can rely on. */
static void sanitize(char out[TEXT_MAX], const char *s, size_t max_chars)
{
    size_t n = 0;
    for (; s && *s && n < max_chars && n < TEXT_MAX - 1; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[n] = '\0';
}

static int page_new(struct pdf *p)
{
    p->page = HPDF_AddPage(p->doc);
    if (!p->page)
        return VP_E_INTERNAL;
    p->y = PAGE_H - MARGIN;
    if (check(p, HPDF_Page_SetWidth(p->page, PAGE_W)) ||
        check(p, HPDF_Page_SetHeight(p->page, PAGE_H)))
        return VP_E_INTERNAL;
    return check(p, HPDF_Page_BeginText(p->page));
}

/* Text at x (or ending at x when right-aligned) on the current row. */
static int text(struct pdf *p, float x, const char *s, bool bold, float size, bool right)
{
    char t[TEXT_MAX];
    sanitize(t, s, TEXT_MAX - 1);
    if (check(p, HPDF_Page_SetFontAndSize(p->page, bold ? p->bold : p->font, size)))
        return VP_E_INTERNAL;
    if (right) {
        float w = HPDF_Page_TextWidth(p->page, t);
        if (check(p, HPDF_OK))
            return VP_E_INTERNAL;
        x -= w;
    }
    return check(p, HPDF_Page_TextOut(p->page, x, p->y, t));
}

/* Move to the next row, starting a new page when this one is full. */
static int row_next(struct pdf *p, float gap)
{
    p->y -= gap;
    if (p->y >= MARGIN)
        return 0;
    if (check(p, HPDF_Page_EndText(p->page)))
        return VP_E_INTERNAL;
    return page_new(p);
}

/* "label ..... amount" rows of the summary and the header fields. */
static int pair(struct pdf *p, const char *label, const char *value, bool bold)
{
    if (text(p, MARGIN, label, bold, BODY_SIZE + 1, false) ||
        text(p, MARGIN + 330, value, bold, BODY_SIZE + 1, true))
        return VP_E_INTERNAL;
    return row_next(p, LINE_H);
}

static int money_pair(struct pdf *p, const char *label, int64_t cents, bool bold)
{
    char s[INVOICE_CENTS_MAX];
    invoice_format_cents(cents, s);
    return pair(p, label, s, bold);
}

static int header(struct pdf *p, const struct invoice *inv)
{
    char s[TEXT_MAX];
    if (text(p, MARGIN, "voepy", true, 20, false) || text(p, RIGHT, "INVOICE", true, 16, true) ||
        row_next(p, 34))
        return VP_E_INTERNAL;
    snprintf(s, sizeof(s), "%s to %s (UTC)", inv->period_start, inv->period_end);
    if (pair(p, "Invoice number", inv->id, true) || pair(p, "Account", inv->tenant_id, false) ||
        pair(p, "Period", inv->period, false) || pair(p, "Covering", s, false) ||
        pair(p, "Status", strcmp(inv->status, "final") == 0 ? "FINAL" : "DRAFT (month not ended)",
             false) ||
        pair(p, "Currency", inv->currency, false) || row_next(p, LINE_H))
        return VP_E_INTERNAL;
    if (money_pair(p, "Opening balance", inv->opening_cents, false) ||
        money_pair(p, "Payments and credits", inv->payments_cents, false) ||
        money_pair(p, "Charges", inv->charges_cents, false) ||
        money_pair(p, "Closing balance", inv->closing_cents, true))
        return VP_E_INTERNAL;
    return row_next(p, LINE_H);
}

static int table_head(struct pdf *p)
{
    if (text(p, MARGIN, "Description", true, BODY_SIZE, false) ||
        text(p, MARGIN + 290, "Type", true, BODY_SIZE, false) ||
        text(p, MARGIN + 375, "Qty", true, BODY_SIZE, true) ||
        text(p, MARGIN + 430, "Seconds", true, BODY_SIZE, true) ||
        text(p, RIGHT, "Amount", true, BODY_SIZE, true))
        return VP_E_INTERNAL;
    return row_next(p, LINE_H);
}

static int table_row(struct pdf *p, const struct invoice_line *l)
{
    char desc[TEXT_MAX], qty[24], secs[24] = "", amount[INVOICE_CENTS_MAX + 1];
    bool charge = strcmp(l->type, "charge") == 0;
    sanitize(desc, l->description, DESC_MAX);
    snprintf(qty, sizeof(qty), "%" PRId64, l->quantity);
    if (l->billed_secs >= 0)
        snprintf(secs, sizeof(secs), "%" PRId64, l->billed_secs);
    invoice_format_cents(charge ? l->amount_cents : -l->amount_cents, amount);
    if (text(p, MARGIN, desc, false, BODY_SIZE, false) ||
        text(p, MARGIN + 290, charge ? "charge" : "payment", false, BODY_SIZE, false) ||
        text(p, MARGIN + 375, qty, false, BODY_SIZE, true) ||
        text(p, MARGIN + 430, secs, false, BODY_SIZE, true) ||
        text(p, RIGHT, amount, false, BODY_SIZE, true))
        return VP_E_INTERNAL;
    return row_next(p, LINE_H);
}

static int body(struct pdf *p, const struct invoice *inv)
{
    if (page_new(p) || header(p, inv) || table_head(p))
        return VP_E_INTERNAL;
    for (size_t i = 0; i < inv->nlines; i++)
        if (table_row(p, &inv->lines[i]))
            return VP_E_INTERNAL;
    if (row_next(p, LINE_H) ||
        text(p, MARGIN,
             "Payments are shown negative. Opening balance + payments - charges = "
             "closing balance.",
             false, BODY_SIZE - 1, false))
        return VP_E_INTERNAL;
    return check(p, HPDF_Page_EndText(p->page));
}

/* The saved document from libhpdf's memory stream into one malloc'd block. */
static int take_bytes(struct pdf *p, char **out, size_t *lenp)
{
    if (check(p, HPDF_SaveToStream(p->doc)))
        return VP_E_INTERNAL;
    HPDF_UINT32 size = HPDF_GetStreamSize(p->doc);
    char *data = vp_malloc((size_t)size + 1);
    HPDF_UINT32 got = size;
    HPDF_STATUS st = HPDF_ReadFromStream(p->doc, (HPDF_BYTE *)data, &got);
    if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || got != size || size == 0) {
        free(data);
        return VP_E_INTERNAL;
    }
    data[size] = '\0';
    *out = data;
    *lenp = size;
    return 0;
}

static int setup(struct pdf *p, const struct invoice *inv)
{
    char title[TEXT_MAX];
    if (check(p, HPDF_SetCompressionMode(p->doc, HPDF_COMP_NONE)))
        return VP_E_INTERNAL;
    snprintf(title, sizeof(title), "Invoice %s", inv->id);
    sanitize(title, title, TEXT_MAX - 1);
    if (check(p, HPDF_SetInfoAttr(p->doc, HPDF_INFO_TITLE, title)) ||
        check(p, HPDF_SetInfoAttr(p->doc, HPDF_INFO_CREATOR, "voepy")))
        return VP_E_INTERNAL;
    p->font = HPDF_GetFont(p->doc, "Helvetica", NULL);
    p->bold = HPDF_GetFont(p->doc, "Helvetica-Bold", NULL);
    return p->font && p->bold ? 0 : VP_E_INTERNAL;
}

int invoice_pdf_render(const struct invoice *inv, char **out, size_t *lenp)
{
    struct pdf p = {0};
    int err = VP_E_INTERNAL;
    p.doc = HPDF_New(error_cb, &p);
    if (!p.doc)
        goto out;
    err = setup(&p, inv);
    if (!err)
        err = body(&p, inv);
    if (!err)
        err = take_bytes(&p, out, lenp);
out:
    if (err)
        log_error("invoice.pdf_failed", "invoice %s: libhpdf error 0x%04lX (detail %lu)",
                  inv->id ? inv->id : "?", (unsigned long)p.first_error,
                  (unsigned long)p.first_detail);
    if (p.doc)
        HPDF_Free(p.doc);
    return err;
}
