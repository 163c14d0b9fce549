/*
 * admin_rates.c - the operator's rate decks in bulk: importing a deck as CSV
 * (POST /admin/v1/rates/import), listing a deck (GET /admin/v1/rates) and asking which
 * rate would price a number (GET /admin/v1/rates/lookup). One rate at a time is
 * POST /admin/v1/rates (admin_catalog.c).
 *
 * The CSV is checked here, cell by cell, before anything reaches the database: the first
 * bad cell is answered 422 naming its line and column; only a deck whose every cell is
 * good goes to api_admin_rates_import (0031_rate_decks.sql) as one JSON array, which
 * inserts it in one transaction (all or nothing). docs/billing.md describes the format.
 */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validate.h"
#include "voepy/http_server.h"
#include "voepy/id.h"
#include "voepy/vtime.h"

#define IMPORT_MAX_ROWS    20000 /* data lines per import (the body is VOEPY_API_MAX_BODY) */
#define CELL_MAX           64    /* bytes in one cell */
#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define MICROS_MAX         1000000000000000LL /* 10^15 micros = 10 million dollars */
#define INCREMENT_MAX      3600

static const char *const kinds[] = {"outbound", "inbound",           "transcription",
                                    "amd",      "recording_storage", NULL};

/* The columns of a deck, in the order the documentation lists them. */
enum col {
    C_PREFIX,
    C_KIND,
    C_MPM,
    C_FEE,
    C_INITIAL,
    C_SUBSEQUENT,
    C_MINIMUM,
    C_FROM,
    C_TO,
    NCOLS
};

static const char *const col_names[NCOLS] = {"prefix",
                                             "kind",
                                             "micros_per_minute",
                                             "connection_fee_micros",
                                             "initial_increment_s",
                                             "subsequent_increment_s",
                                             "minimum_charge_micros",
                                             "effective_from",
                                             "effective_to"};

/* Where the parser stands in the body. */
struct csv {
    const char *p, *end;
    long line;           /* 1-based line of the row being read */
    size_t ncols;        /* columns of the header */
    enum col map[NCOLS]; /* column position -> what it holds */
    char cells[NCOLS][CELL_MAX];
    struct vp_error e;
};

/* Fill c->e for the cell at position pos (0-based) of the current line. Returns the error. */
static int cell_fail(struct csv *c, size_t pos, const char *name, const char *what)
{
    char field[64];
    snprintf(field, sizeof(field), "line %ld, column %zu (%s)", c->line, pos + 1, name);
    return vp_error_set(&c->e, VP_E_INVALID_PARAMETER, field, "line %ld, column %zu (%s): %s",
                        c->line, pos + 1, name, what);
}

static const char *pos_name(const struct csv *c, size_t pos)
{
    return pos < c->ncols ? col_names[c->map[pos]] : "?";
}

/* One cell: unquoted (surrounding blanks dropped) or "quoted" with "" for a quote. */
static int read_cell(struct csv *c, size_t pos, char *out)
{
    size_t n = 0;
    bool quoted = false;
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
    if (c->p < c->end && *c->p == '"') {
        quoted = true;
        c->p++;
    }
    for (; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (quoted && ch == '"') {
            if (c->p + 1 < c->end && c->p[1] == '"') {
                c->p++;
            } else {
                quoted = false;
                c->p++;
                break;
            }
        } else if (!quoted && (ch == ',' || ch == '\n' || ch == '\r')) {
            break;
        } else if (quoted && (ch == '\n' || ch == '\r')) {
            return cell_fail(c, pos, pos_name(c, pos), "a quoted cell must end on its line.");
        }
        if (n + 1 >= CELL_MAX)
            return cell_fail(c, pos, pos_name(c, pos), "the cell is longer than 63 bytes.");
        out[n++] = ch;
    }
    if (quoted)
        return cell_fail(c, pos, pos_name(c, pos), "the quoted cell is not closed.");
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
    if (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r')
        return cell_fail(c, pos, pos_name(c, pos), "text follows the closing quote.");
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
    return 0;
}

/* The cells of one line into c->cells; *n is how many. Moves past the line's end. */
static int read_row(struct csv *c, size_t max, size_t *n)
{
    *n = 0;
    for (;;) {
        if (*n == max)
            return cell_fail(c, *n, "?", "the line has more cells than the header has columns.");
        int err = read_cell(c, *n, c->cells[*n]);
        if (err)
            return err;
        (*n)++;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '\r')
            c->p++;
        if (c->p < c->end && *c->p == '\n')
            c->p++;
        return 0;
    }
}

/* True when the rest of the current line is blank (skipped, not counted as a row). */
static bool blank_line(struct csv *c)
{
    const char *q = c->p;
    while (q < c->end && (*q == ' ' || *q == '\t' || *q == '\r'))
        q++;
    if (q < c->end && *q != '\n')
        return false;
    c->p = q < c->end ? q + 1 : q;
    return true;
}

static int read_header(struct csv *c)
{
    size_t n;
    bool seen[NCOLS] = {false};
    c->line = 1;
    int err = read_row(c, NCOLS, &n);
    for (size_t i = 0; !err && i < n; i++) {
        size_t k = 0;
        while (k < NCOLS && strcasecmp(c->cells[i], col_names[k]) != 0)
            k++;
        if (k == NCOLS)
            return cell_fail(c, i, c->cells[i], "not a column of a rate deck.");
        if (seen[k])
            return cell_fail(c, i, c->cells[i], "the column is named twice.");
        seen[k] = true;
        c->map[i] = (enum col)k;
    }
    if (!err && (!seen[C_PREFIX] || !seen[C_MPM]))
        err = cell_fail(c, n, "header", "the header must name prefix and micros_per_minute.");
    c->ncols = n;
    return err;
}

/* A non-negative integer within [min, max]. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    if (!*s || !strchr("0123456789", *s))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The cell at pos into row (a JSON object); the column decides how it is read. */
static int put_cell(struct csv *c, size_t pos, json_t *row)
{
    const char *s = c->cells[pos];
    enum col k = c->map[pos];
    const char *name = col_names[k];
    long long v;
    char prefix[16];
    int64_t ms;
    switch (k) {
    case C_PREFIX:
        if (!validate_rate_prefix(s, prefix))
            return cell_fail(c, pos, name, "must be up to 15 digits, optionally after a +.");
        json_object_set_new(row, name, json_string(prefix));
        return 0;
    case C_KIND:
        for (const char *const *q = kinds; *q; q++)
            if (strcmp(*q, s) == 0) {
                json_object_set_new(row, name, json_string(s));
                return 0;
            }
        if (!*s)
            return 0; /* outbound */
        return cell_fail(c, pos, name,
                         "must be outbound, inbound, transcription, amd or recording_storage.");
    case C_MPM:
    case C_FEE:
    case C_MINIMUM:
        if (!*s && k != C_MPM)
            return 0;
        if (!parse_int(s, 0, MICROS_MAX, &v))
            return cell_fail(c, pos, name, "must be a whole number of micros from 0 to 10^15.");
        json_object_set_new(row, name, json_integer(v));
        return 0;
    case C_INITIAL:
    case C_SUBSEQUENT:
        if (!*s)
            return 0;
        if (!parse_int(s, 1, INCREMENT_MAX, &v))
            return cell_fail(c, pos, name, "must be a whole number of seconds from 1 to 3600.");
        json_object_set_new(row, name, json_integer(v));
        return 0;
    case C_FROM:
    case C_TO:
        if (!*s)
            return 0;
        if (vtime_parse(s, &ms) != 0)
            return cell_fail(c, pos, name,
                             "must be an ISO-8601 date-time with a zone, such as "
                             "2026-06-01T00:00:00Z.");
        json_object_set_new(row, name, json_integer(ms));
        return 0;
    default:
        return 0;
    }
}

static long long member(const json_t *row, enum col k, long long def)
{
    const json_t *v = json_object_get(row, col_names[k]);
    return v ? json_integer_value(v) : def;
}

static size_t col_pos(const struct csv *c, enum col k)
{
    for (size_t i = 0; i < c->ncols; i++)
        if (c->map[i] == k)
            return i;
    return 0;
}

/* The row as api_admin_rates_import takes it, defaults filled in. */
static json_t *import_row(struct csv *c, const json_t *row)
{
    const json_t *kind = json_object_get(row, "kind"),
                 *from = json_object_get(row, "effective_from");
    const json_t *to = json_object_get(row, "effective_to");
    if (to && from && json_integer_value(to) <= json_integer_value(from)) {
        cell_fail(c, col_pos(c, C_TO), "effective_to", "must be after effective_from.");
        return NULL;
    }
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:O?, s:O?}", "line",
                     (json_int_t)c->line, "kind", kind ? json_string_value(kind) : "outbound",
                     "prefix", json_string_value(json_object_get(row, "prefix")), "mpm",
                     (json_int_t)member(row, C_MPM, 0), "fee", (json_int_t)member(row, C_FEE, 0),
                     "initial", (json_int_t)member(row, C_INITIAL, 1), "subsequent",
                     (json_int_t)member(row, C_SUBSEQUENT, 1), "minimum",
                     (json_int_t)member(row, C_MINIMUM, 0), "from_ms", from, "to_ms", to);
}

/* One data line into rows; 0, or an error in c->e. */
static int read_data_line(struct csv *c, json_t *rows)
{
    size_t n;
    int err = read_row(c, c->ncols, &n);
    if (!err && n < c->ncols)
        err = cell_fail(c, n, col_names[c->map[n]], "the line has fewer cells than the header.");
    json_t *row = json_object();
    for (size_t i = 0; !err && i < n; i++)
        err = put_cell(c, i, row);
    json_t *out = err ? NULL : import_row(c, row);
    json_decref(row);
    if (!out)
        return err ? err : c->e.err;
    if (json_array_size(rows) >= IMPORT_MAX_ROWS) {
        json_decref(out);
        return vp_error_set(&c->e, VP_E_INVALID_PARAMETER, "body",
                            "line %ld: a deck import takes at most %d rate lines.", c->line,
                            IMPORT_MAX_ROWS);
    }
    json_array_append_new(rows, out);
    return 0;
}

/* The whole body into rows; 0, or the first bad cell in c->e. */
static int parse_deck(struct csv *c, json_t *rows)
{
    if (c->end - c->p >= 3 && memcmp(c->p, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3; /* a byte order mark from a spreadsheet */
    int err = read_header(c);
    while (!err && c->p < c->end) {
        c->line++;
        if (!blank_line(c))
            err = read_data_line(c, rows);
    }
    if (!err && json_array_size(rows) == 0)
        err = vp_error_set(&c->e, VP_E_INVALID_PARAMETER, "body",
                           "The deck has a header but no rate lines.");
    return err;
}

static bool is_csv(const struct api_req *r)
{
    const char *ct = http_request_header(r->http, "Content-Type");
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return strcspn(ct, "; \t") == 8 && strncasecmp(ct, "text/csv", 8) == 0;
}

/* ?tenant_id=, a tenant id or absent (the platform deck). */
static int query_tenant(struct api_req *r, const char **out)
{
    *out = input_query(r, "tenant_id");
    if (*out && !id_valid(*out, "tenant"))
        return reply_fail(r, VP_E_INVALID_PARAMETER, "tenant_id",
                          "tenant_id must be a tenant id (voepy_tenant_...).");
    return 0;
}

void admin_rates_import(struct api_req *r)
{
    const char *tenant;
    if (!is_csv(r)) {
        reply_fail(r, VP_E_UNSUPPORTED_MEDIA_TYPE, "Content-Type",
                   "A rate deck is sent as Content-Type: text/csv.");
        return;
    }
    if (query_tenant(r, &tenant))
        return;
    size_t len = 0;
    const char *body = http_request_body(r->http, &len);
    struct csv *c = http_request_alloc(r->http, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->p = body ? body : "";
    c->end = c->p + (body ? len : 0);
    json_t *rows = json_array();
    if (parse_deck(c, rows)) {
        json_decref(rows);
        reply_error(r, &c->e);
        return;
    }
    char *text = vjson_dump(rows);
    json_decref(rows);
    const char *params[5] = {tenant, http_request_strdup(r->http, text)};
    free(text);
    input_idem_params(r, params + 2);
    /* the key is scoped by path, which has no query: the deck belongs to the scope too */
    params[2] = input_printf(r, "%s?tenant_id=%s", r->path, tenant ? tenant : "");
    reply_query(r, "SELECT * FROM api_admin_rates_import($1, $2::jsonb, $3, $4, $5)", 5, params,
                NULL);
}

/* ?kind=, one of kinds, or def when absent. */
static int query_kind(struct api_req *r, const char *def, const char **out)
{
    *out = input_query(r, "kind");
    if (!*out) {
        *out = def;
        return 0;
    }
    for (const char *const *q = kinds; *q; q++)
        if (strcmp(*q, *out) == 0)
            return 0;
    return reply_fail(r, VP_E_INVALID_PARAMETER, "kind",
                      "kind must be outbound, inbound, transcription, amd or recording_storage.");
}

/* ?name= as rate prefix digits ("+" allowed, decoded or not), or NULL. */
static int query_digits(struct api_req *r, const char *name, size_t min, const char **out)
{
    const char *v = input_query(r, name);
    char digits[16];
    *out = NULL;
    if (!v)
        return 0;
    if (v[0] == ' ')
        v++;
    if (!validate_rate_prefix(v, digits) || strlen(digits) < min)
        return reply_fail(r, VP_E_INVALID_PARAMETER, name,
                          "%s must be up to 15 digits, optionally after a + (send + as %%2B).",
                          name);
    *out = http_request_strdup(r->http, digits);
    return 0;
}

void admin_rates_list(struct api_req *r)
{
    const char *tenant, *kind, *prefix, *at, *cursor;
    char limit[16];
    if (query_tenant(r, &tenant) || query_kind(r, NULL, &kind) ||
        query_digits(r, "prefix", 0, &prefix) || input_query_time(r, "at", &at) ||
        input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {tenant, kind, prefix, at, cursor, limit};
    reply_query(r,
                "SELECT * FROM api_admin_rate_list($1, $2, $3, voepy_ms($4::bigint), $5, $6::int)",
                6, params, NULL);
}

void admin_rates_lookup(struct api_req *r)
{
    const char *tenant, *kind, *number, *at;
    if (query_tenant(r, &tenant) || query_kind(r, "outbound", &kind) ||
        query_digits(r, "number", 1, &number) || input_query_time(r, "at", &at))
        return;
    if (!number) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "number", "number is required.");
        return;
    }
    const char *params[] = {tenant, kind, input_printf(r, "+%s", number), at};
    reply_query(r, "SELECT * FROM api_admin_rate_lookup($1, $2, $3, voepy_ms($4::bigint))", 4,
                params, NULL);
}
