/*
 * invoice_csv.c - the invoice model (invoice_pdf.h) read from its JSON, and its CSV form.
 *
 * The JSON comes from our own SQL (api_billing_invoice_get), so a shape it does not have
 * is a bug on our side: it is refused whole (VP_E_PARSE) rather than rendered in part.
 */
#include "invoice_pdf.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"

void invoice_format_cents(int64_t cents, char out[INVOICE_CENTS_MAX])
{
    /* The magnitude as unsigned, so that INT64_MIN is printed too. */
    uint64_t mag = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    snprintf(out, INVOICE_CENTS_MAX, "%s%" PRIu64 ".%02" PRIu64, cents < 0 ? "-" : "", mag / 100,
             mag % 100);
}

/* ---- JSON to the model ------------------------------------------------------------ */

/* A string member (NULL for null or absent when optional); false when the shape is wrong. */
static bool take_str(const json_t *o, const char *key, bool optional, char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (json_is_string(v)) {
        *out = vp_strdup(json_string_value(v));
        return true;
    }
    return optional && (!v || json_is_null(v));
}

/* An integer member; null or absent gives def when optional. */
static bool take_int(const json_t *o, const char *key, bool optional, int64_t def, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    *out = def;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    return optional && (!v || json_is_null(v));
}

static bool line_from_json(struct invoice_line *l, const json_t *o)
{
    return json_is_object(o) && take_str(o, "type", false, &l->type) &&
           take_str(o, "kind", false, &l->kind) &&
           take_str(o, "description", false, &l->description) &&
           take_str(o, "destination", true, &l->destination) &&
           take_str(o, "date", true, &l->date) && take_str(o, "reference", true, &l->reference) &&
           take_int(o, "quantity", false, 0, &l->quantity) &&
           take_int(o, "billed_seconds", true, -1, &l->billed_secs) &&
           take_int(o, "amount_cents", false, 0, &l->amount_cents);
}

static bool header_from_json(struct invoice *inv, const json_t *o)
{
    return take_str(o, "id", false, &inv->id) && take_str(o, "tenant_id", false, &inv->tenant_id) &&
           take_str(o, "period", false, &inv->period) &&
           take_str(o, "period_start", false, &inv->period_start) &&
           take_str(o, "period_end", false, &inv->period_end) &&
           take_str(o, "status", false, &inv->status) &&
           take_str(o, "currency", false, &inv->currency) &&
           take_int(o, "opening_balance_cents", false, 0, &inv->opening_cents) &&
           take_int(o, "payments_cents", false, 0, &inv->payments_cents) &&
           take_int(o, "charges_cents", false, 0, &inv->charges_cents) &&
           take_int(o, "closing_balance_cents", false, 0, &inv->closing_cents);
}

int invoice_from_json(struct invoice *inv, const char *json, size_t len)
{
    int err = VP_E_PARSE;
    memset(inv, 0, sizeof(*inv));
    json_t *root = json_loadb(json, len, 0, NULL);
    const json_t *lines = json_object_get(root, "lines");
    if (!json_is_object(root) || !json_is_array(lines) || !header_from_json(inv, root))
        goto out;
    inv->nlines = json_array_size(lines);
    inv->lines = vp_calloc(inv->nlines ? inv->nlines : 1, sizeof(*inv->lines));
    for (size_t i = 0; i < inv->nlines; i++)
        if (!line_from_json(&inv->lines[i], json_array_get(lines, i)))
            goto out;
    err = 0;
out:
    if (err)
        invoice_clear(inv);
    json_decref(root);
    return err;
}

void invoice_clear(struct invoice *inv)
{
    for (size_t i = 0; inv->lines && i < inv->nlines; i++) {
        struct invoice_line *l = &inv->lines[i];
        free(l->type);
        free(l->kind);
        free(l->description);
        free(l->destination);
        free(l->date);
        free(l->reference);
    }
    free(inv->lines);
    free(inv->id);
    free(inv->tenant_id);
    free(inv->period);
    free(inv->period_start);
    free(inv->period_end);
    free(inv->status);
    free(inv->currency);
    memset(inv, 0, sizeof(*inv));
}

/* ---- CSV ---------------------------------------------------------------------------- */

/* One field, quoted when RFC 4180 needs it; a NULL value is an empty field. */
static void csv_field(struct buf *b, const char *v, bool defuse_formula, bool last)
{
    if (!v)
        v = "";
    bool quote = strpbrk(v, ",\"\r\n") != NULL;
    bool formula = defuse_formula && v[0] && strchr("=+-@\t", v[0]);
    if (quote)
        buf_putc(b, '"');
    if (formula)
        buf_putc(b, '\'');
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            buf_putc(b, '"');
        buf_putc(b, *p);
    }
    if (quote)
        buf_putc(b, '"');
    buf_puts(b, last ? "\r\n" : ",");
}

static void csv_int(struct buf *b, int64_t v, bool present)
{
    char s[24] = "";
    if (present)
        snprintf(s, sizeof(s), "%" PRId64, v);
    csv_field(b, s, false, false);
}

static void csv_line(struct buf *b, const struct invoice *inv, const struct invoice_line *l)
{
    csv_field(b, inv->id, false, false);
    csv_field(b, inv->period, false, false);
    csv_field(b, l->type, false, false);
    csv_field(b, l->kind, false, false);
    csv_field(b, l->description, true, false);
    csv_field(b, l->destination, false, false);
    csv_int(b, l->quantity, true);
    csv_int(b, l->billed_secs, l->billed_secs >= 0);
    csv_int(b, l->amount_cents, true);
    csv_field(b, l->date, false, false);
    csv_field(b, l->reference, false, true);
}

static void csv_summary(struct buf *b, const struct invoice *inv, const char *kind,
                        const char *description, int64_t cents)
{
    struct invoice_line l = {.type = "summary",
                             .kind = (char *)kind,
                             .description = (char *)description,
                             .quantity = 1,
                             .billed_secs = -1,
                             .amount_cents = cents};
    csv_line(b, inv, &l);
}

int invoice_csv_render(const struct invoice *inv, char **out, size_t *lenp)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "invoice_id,period,type,kind,description,destination,quantity,"
                 "billed_seconds,amount_cents,date,reference\r\n");
    for (size_t i = 0; i < inv->nlines; i++)
        csv_line(&b, inv, &inv->lines[i]);
    csv_summary(&b, inv, "opening_balance", "Opening balance", inv->opening_cents);
    csv_summary(&b, inv, "payments", "Payments and credits", inv->payments_cents);
    csv_summary(&b, inv, "charges", "Charges", inv->charges_cents);
    csv_summary(&b, inv, "closing_balance", "Closing balance", inv->closing_cents);
    *out = buf_steal(&b, lenp);
    return 0;
}
