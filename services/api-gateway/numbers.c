/*
 * numbers.c - /v1/phone_numbers: search the inventory, buy, list, fetch, release.
 *
 * The inventory is the operator's (POST /admin/v1/numbers); buying moves a number from
 * available to active for the tenant in one conditional update, so two tenants racing
 * for one number cannot both win. Releasing puts it back; the old owner then gets 404.
 */
#include "api.h"

#include <ctype.h>

#include "validate.h"
#include "voepy/http_server.h"

#define NUMBERS_DEFAULT_LIMIT 20
#define LIST_DEFAULT_LIMIT    50
#define LIST_MAX_LIMIT        200

static const char *upper_country(struct api_req *r, const char *v)
{
    if (!v)
        return NULL;
    char *s = http_request_strdup(r->http, v);
    for (char *p = s; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return s;
}

void numbers_available(struct api_req *r)
{
    const char *country = upper_country(r, input_query(r, "country"));
    const char *area = input_query(r, "area_code");
    const char *contains = input_query(r, "contains");
    char limit[16];
    if (country && !validate_country(country)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "country",
                   "country must be an ISO 3166 alpha-2 code such as US.");
        return;
    }
    if (area && !validate_digits(area, 1, 6)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "area_code", "area_code must be 1 to 6 digits.");
        return;
    }
    if (contains && !validate_digits(contains, 1, 15)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "contains", "contains must be 1 to 15 digits.");
        return;
    }
    if (input_limit(r, NUMBERS_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {country, area, contains, limit};
    reply_query(r, "SELECT * FROM api_numbers_available($1, $2, $3, $4::int)", 4, params, NULL);
}

void numbers_buy(struct api_req *r)
{
    static const struct jfield fields[] = {
        {.name = "phone_number", .type = JF_E164, .flags = JF_REQUIRED},
    };
    if (input_body(r, fields, 1, false))
        return;
    const char *params[5] = {r->tenant_id, vjson_str(r->body, "phone_number")};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_number_buy($1, $2, $3, $4, $5)", 5, params, NULL);
}

void numbers_list(struct api_req *r)
{
    const char *cursor;
    char limit[16];
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, cursor, limit};
    reply_query(r, "SELECT * FROM api_numbers_list($1, $2, $3::int)", 3, params, NULL);
}

void numbers_get(struct api_req *r)
{
    const char *id = input_id(r, "num", "phone number");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_number_get($1, $2)", 2, params, NULL);
}

void numbers_release(struct api_req *r)
{
    const char *id = input_id(r, "num", "phone number");
    if (!id)
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_number_release($1, $2, $3, $4, $5)", 5, params, NULL);
}

void numbers_update(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}
