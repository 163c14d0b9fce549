/*
 * invoice_pdf.h - an invoice as data, read from the JSON body of api_billing_invoice_get
 * (proto/sql/0034_statements.sql), and written out as PDF (libhpdf) or CSV (RFC 4180).
 *
 * Pure functions: no I/O, no loop. The gateway's handlers (billing_statements.c) fetch the
 * invoice JSON, parse it here and send the bytes; the unit test drives them directly.
 * Money is integer cents throughout; amounts are printed as decimal text ("12.34").
 */
#ifndef VOEPY_GW_INVOICE_PDF_H
#define VOEPY_GW_INVOICE_PDF_H

#include <stddef.h>
#include <stdint.h>

/* One line: a group of charges, or one payment. Strings are owned by the invoice. */
struct invoice_line {
    char *type;           /* "charge" or "payment" */
    char *kind;           /* ledger kind: call_charge, usage_charge, top_up, credit, ... */
    char *description;    /* free text (a payment's description comes from its ledger row) */
    char *destination;    /* call charges: "+44", ...; NULL otherwise */
    char *date;           /* payments: RFC 3339 time; NULL for charges */
    char *reference;      /* payments: what the ledger transaction refers to; NULL otherwise */
    int64_t quantity;     /* calls, charges or 1 for a payment */
    int64_t billed_secs;  /* call charges: billed seconds; -1 when not applicable */
    int64_t amount_cents; /* positive; type says which way it moved the balance */
};

/* An invoice for one tenant and month; opening + payments - charges = closing. */
struct invoice {
    char *id;
    char *tenant_id;
    char *period; /* "YYYY-MM" */
    char *period_start;
    char *period_end;
    char *status; /* "draft" or "final" */
    char *currency;
    int64_t opening_cents;
    int64_t payments_cents;
    int64_t charges_cents;
    int64_t closing_cents;
    struct invoice_line *lines;
    size_t nlines;
};

/*
 * Fill inv from an Invoice JSON object (with lines). Returns 0, or VP_E_PARSE when the
 * text is not such an object (inv is then left empty). Free with invoice_clear().
 */
int invoice_from_json(struct invoice *inv, const char *json, size_t len);
/* Free what invoice_from_json allocated and zero inv. Safe on a zeroed invoice. */
void invoice_clear(struct invoice *inv);

/*
 * Write inv as a PDF (uncompressed, standard Helvetica; text outside printable ASCII is
 * shown as '?'). On success *out (malloc'd, the caller frees) and *lenp are set and 0 is
 * returned; on a libhpdf failure VP_E_INTERNAL, with nothing to free.
 */
int invoice_pdf_render(const struct invoice *inv, char **out, size_t *lenp);

/*
 * Write inv as CSV (RFC 4180: CRLF line ends, fields with a comma, quote, CR or LF quoted,
 * quotes doubled): a header row, one row per line, then four summary rows (opening_balance,
 * payments, charges, closing_balance). A description that a spreadsheet would read as a
 * formula (starting with = + - @ or a tab) gets a leading apostrophe. Returns 0 and sets
 * *out (malloc'd, NUL-terminated, the caller frees) and *lenp.
 */
int invoice_csv_render(const struct invoice *inv, char **out, size_t *lenp);

/* "12.34" / "-0.05" for a number of cents; out needs INVOICE_CENTS_MAX bytes. */
#define INVOICE_CENTS_MAX 32
void invoice_format_cents(int64_t cents, char out[INVOICE_CENTS_MAX]);

#endif
