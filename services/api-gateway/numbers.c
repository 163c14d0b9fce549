/*
 * numbers.c - /v1/phone_numbers: search the inventory, buy, list, fetch, release.
 *
 * The inventory is the operator's (POST /admin/v1/numbers); buying moves a number from
 * available to active for the tenant in one conditional update, so two tenants racing
 * for one number cannot both win. Releasing puts it back; the old owner then gets 404.
 */
#include "api.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"
#include "voepy/e164.h"
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

static const char *const caller_id_choices[] = {"caller", "number", NULL};

/* PATCH /v1/phone_numbers/{id}: every member optional; null clears name and forward_to. */
static const struct jfield update_fields[] = {
    {.name = "name", .type = JF_STRING, .flags = JF_NULLABLE, .min = 1, .max = 64},
    {.name = "forward_to", .type = JF_STRING, .flags = JF_NULLABLE, .min = 1, .max = 256},
    {.name = "relay_enabled", .type = JF_BOOL},
    {.name = "forward_caller_id", .type = JF_ENUM, .choices = caller_id_choices},
    {.name = "relay_record", .type = JF_BOOL},
    {.name = "relay_transcribe", .type = JF_BOOL},
};

/* The user part of a forwarding SIP URI: RFC 3261 unreserved and a few user-unreserved. */
static bool sip_user_valid(const char *u, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)u[i]) && !strchr("-_.!~*'()%&=+$,;", u[i]))
            return false;
    return true;
}

/*
 * forward_to: E.164, or sip:/sips: with an optional user part before a host[:port] that
 * validate_sip_uri() accepts (nothing that could break out of a SIP header).
 */
static bool forward_to_valid(const char *s)
{
    if (e164_valid(s))
        return true;
    const char *rest = strncmp(s, "sip:", 4) == 0    ? s + 4
                       : strncmp(s, "sips:", 5) == 0 ? s + 5
                                                     : NULL;
    if (!rest)
        return false;
    const char *at = strchr(rest, '@');
    if (at && !sip_user_valid(rest, (size_t)(at - rest)))
        return false;
    char hostport[272];
    int n = snprintf(hostport, sizeof(hostport), "sip:%s", at ? at + 1 : rest);
    return n > 0 && (size_t)n < sizeof(hostport) && validate_sip_uri(hostport);
}

void numbers_update(struct api_req *r)
{
    const char *id = input_id(r, "num", "phone number");
    if (!id || input_body(r, update_fields, sizeof(update_fields) / sizeof(update_fields[0]), true))
        return;
    const char *fwd = vjson_str(r->body, "forward_to");
    if (fwd && !forward_to_valid(fwd)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "forward_to",
                   "forward_to must be an E.164 number or a sip:/sips: URI such as "
                   "sip:alice@pbx.example.com.");
        return;
    }
    const char *params[6] = {r->tenant_id, id, input_body_text(r)};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_number_update($1, $2, $3::jsonb, $4, $5, $6)", 6, params,
                NULL);
}
