/*
 * billing_statements.c - /v1/billing usage summaries and invoices (reads only).
 *
 * Figures come from proto/sql/0034_statements.sql (api_billing_usage,
 * api_billing_invoices_list, api_billing_invoice_get), derived from the ledger. The PDF
 * and CSV renderings are made here from the same invoice JSON (invoice_pdf.h), so the
 * three forms of an invoice always agree.
 *
 * The router matches a parameter as a whole path segment, so "{id}.pdf" cannot be a
 * pattern: the renderings live at /v1/billing/invoices/{id}/pdf and /csv.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "invoice_pdf.h"
#include "voepy/log.h"

#define LIST_DEFAULT_LIMIT 12
#define LIST_MAX_LIMIT     120
#define TIME_MAX           40 /* from/to: "2026-01-31T12:00:00.123456+05:30" fits */
#define INVOICE_ID_MAX     96

/* from/to are checked by SQL (stmt_parse_time); here only their size and alphabet. */
static bool time_text_ok(const char *v)
{
    size_t n = strspn(v, "0123456789-:T.Z+ ");
    return v[n] == '\0' && n <= TIME_MAX;
}

void billing_usage(struct api_req *r)
{
    const char *names[] = {"from", "to"};
    const char *group = input_query(r, "group_by");
    const char *params[4] = {r->tenant_id};
    for (size_t i = 0; i < 2; i++) {
        params[i + 1] = input_query_zoned(r, names[i]);
        if (params[i + 1] && !time_text_ok(params[i + 1])) {
            reply_fail(r, VP_E_INVALID_PARAMETER, names[i],
                       "%s must be a date (2026-01-31) or a timestamp with a zone "
                       "(2026-01-31T12:00:00Z).",
                       names[i]);
            return;
        }
    }
    if (group && strcmp(group, "day") != 0 && strcmp(group, "destination") != 0) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "group_by", "group_by must be day or destination.");
        return;
    }
    params[3] = group;
    reply_query(r, "SELECT * FROM api_billing_usage($1, $2, $3, $4)", 4, params, NULL);
}

void billing_invoices_list(struct api_req *r)
{
    const char *cursor;
    char limit[16];
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, cursor, limit};
    reply_query(r, "SELECT * FROM api_billing_invoices_list($1, $2, $3::int)", 3, params, NULL);
}

/* voepy_inv_<tenant>_<YYYYMM>: the shape only; SQL decides whether it is this tenant's. */
static const char *invoice_id(struct api_req *r)
{
    const char *id = input_param(r, 0);
    size_t n = strlen(id);
    if (n <= INVOICE_ID_MAX && strncmp(id, "voepy_inv_", 10) == 0 &&
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n)
        return id;
    reply_fail(r, VP_E_NOT_FOUND, NULL, "No invoice with this id.");
    return NULL;
}

static void invoice_query(struct api_req *r, pg_result_cb *cb)
{
    const char *id = invoice_id(r);
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_billing_invoice_get($1, $2)", 2, params, cb);
}

void billing_invoice_get(struct api_req *r)
{
    invoice_query(r, NULL);
}

/* Render the invoice of the row with fn and send it as content_type, named id.ext. */
static void send_rendered(struct api_req *r, const struct pg_result *res,
                          int (*fn)(const struct invoice *, char **, size_t *),
                          const char *content_type, const char *ext)
{
    struct invoice inv;
    const char *json = pg_get(res, 0, "http_body");
    char *data = NULL;
    size_t len = 0;
    if (!json || invoice_from_json(&inv, json, strlen(json))) {
        log_error("api.invoice_unreadable", "invoice %s: SQL body not an invoice",
                  input_param(r, 0));
        reply_fail(r, VP_E_INTERNAL, NULL, NULL);
        return;
    }
    int err = fn(&inv, &data, &len);
    invoice_clear(&inv);
    if (err) {
        reply_fail(r, VP_E_INTERNAL, NULL, "The invoice could not be rendered.");
        return;
    }
    reply_header(r, "Content-Disposition",
                 input_printf(r, "attachment; filename=\"%s.%s\"", input_param(r, 0), ext));
    reply_send_media(r, 200, content_type, data, len);
    free(data);
}

static void pdf_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (reply_pg_ok(r, status, res))
        send_rendered(r, res, invoice_pdf_render, "application/pdf", "pdf");
}

static void csv_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (reply_pg_ok(r, status, res))
        send_rendered(r, res, invoice_csv_render, "text/csv; charset=utf-8; header=present", "csv");
}

void billing_invoice_pdf(struct api_req *r)
{
    invoice_query(r, pdf_cb);
}

void billing_invoice_csv(struct api_req *r)
{
    invoice_query(r, csv_cb);
}
