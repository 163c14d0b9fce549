/*
 * admin_catalog.c - the operator's catalogue: phone numbers in inventory
 * (POST /admin/v1/numbers) and rates (POST /admin/v1/rates: one rate of a kind, with its
 * minimum charge and effective period; decks in bulk and reads are in admin_rates.c).
 *
 * Money in rates arrives as whole cents (JSON integers) or decimal strings ("0.45") and
 * is carried as integer micros from here on (money.h); JSON reals are refused.
 */
#include "api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "voepy/e164.h"
#include "voepy/http_server.h"
#include "voepy/vtime.h"

#define NUMBERS_MAX 1000

static const struct jfield numbers_fields[] = {
    {.name = "numbers", .type = JF_ARRAY, .flags = JF_REQUIRED, .min = 1, .max = NUMBERS_MAX},
    {.name = "route_id", .type = JF_ID, .flags = JF_NULLABLE, .kind = "route"},
    {.name = "country", .type = JF_STRING, .flags = JF_NULLABLE, .min = 2, .max = 2},
};

static const char *const rate_kinds[] = {"outbound", "inbound",           "transcription",
                                         "amd",      "recording_storage", NULL};

static const struct jfield rate_fields[] = {
    {.name = "prefix", .type = JF_STRING, .flags = JF_REQUIRED, .min = 0, .max = 16},
    {.name = "cents_per_minute", .type = JF_ANY, .flags = JF_REQUIRED},
    {.name = "tenant_id", .type = JF_ID, .flags = JF_NULLABLE, .kind = "tenant"},
    {.name = "connection_fee_cents", .type = JF_ANY, .flags = JF_NULLABLE},
    {.name = "initial_increment_secs", .type = JF_INT, .flags = JF_NULLABLE, .min = 1, .max = 3600},
    {.name = "subsequent_increment_secs",
     .type = JF_INT,
     .flags = JF_NULLABLE,
     .min = 1,
     .max = 3600},
    {.name = "kind", .type = JF_ENUM, .flags = JF_NULLABLE, .choices = rate_kinds},
    {.name = "minimum_charge_cents", .type = JF_ANY, .flags = JF_NULLABLE},
    {.name = "minimum_charge_micros",
     .type = JF_INT,
     .flags = JF_NULLABLE,
     .min = 0,
     .max = INT64_MAX},
    {.name = "effective_from", .type = JF_TIME, .flags = JF_NULLABLE},
    {.name = "effective_to", .type = JF_TIME, .flags = JF_NULLABLE},
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* The country given for the whole request, upper-cased; NULL when absent. */
static int given_country(struct api_req *r, char out[3])
{
    const char *c = vjson_str(r->body, "country");
    if (!c) {
        out[0] = '\0';
        return 0;
    }
    out[0] = (char)toupper((unsigned char)c[0]);
    out[1] = (char)toupper((unsigned char)c[1]);
    out[2] = '\0';
    if (!validate_country(out))
        return reply_fail(r, VP_E_INVALID_PARAMETER, "country",
                          "country must be an ISO 3166 alpha-2 code such as US.");
    return 0;
}

/* One inventory entry {phone_number, country, calling_code}, or an answered error. */
static int number_entry(struct api_req *r, size_t i, const json_t *v, const char *country,
                        json_t *out)
{
    char field[32], cc[4];
    snprintf(field, sizeof(field), "numbers[%zu]", i);
    if (!json_is_string(v))
        return reply_fail(r, VP_E_INVALID_REQUEST, field, "%s must be a string.", field);
    const char *num = json_string_value(v);
    if (e164_country_code(num, cc, sizeof(cc)) != 0)
        return reply_fail(r, VP_E_INVALID_PARAMETER, field,
                          "%s must be an E.164 number with an assigned country code.", field);
    if (!*country)
        country = validate_country_for_code(cc);
    if (!country)
        return reply_fail(r, VP_E_INVALID_PARAMETER, "country",
                          "country is required for %s (calling code %s has no default).", num, cc);
    json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "phone_number", num, "country", country,
                                         "calling_code", cc));
    return 0;
}

void admin_numbers_add(struct api_req *r)
{
    char country[3];
    if (input_body(r, numbers_fields, NFIELDS(numbers_fields), false) || given_country(r, country))
        return;
    json_t *entries = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(r->body, "numbers"), i, v)
    {
        if (number_entry(r, i, v, country, entries)) {
            json_decref(entries);
            return;
        }
    }
    char *text = vjson_dump(entries);
    json_decref(entries);
    const char *params[5] = {http_request_strdup(r->http, text), vjson_str(r->body, "route_id")};
    free(text);
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_admin_numbers_add($1::jsonb, $2, $3, $4, $5)", 5, params,
                NULL);
}

/* A money member as micros text, or NULL when absent; answers and fails when invalid. */
static int cents_param(struct api_req *r, const char *name, const char **out)
{
    const json_t *v = json_object_get(r->body, name);
    int64_t micros;
    struct vp_error e;
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (validate_cents(v, name, &micros, &e)) {
        reply_error(r, &e);
        return e.err;
    }
    *out = input_printf(r, "%lld", (long long)micros);
    return 0;
}

static const char *int_param(struct api_req *r, const char *name, long long def)
{
    return input_printf(r, "%lld", vjson_int(r->body, name, def));
}

/* An ISO-8601 member as epoch ms text, or NULL when absent (already validated). */
static const char *time_param(struct api_req *r, const char *name)
{
    const char *v = vjson_str(r->body, name);
    int64_t ms;
    if (!v || vtime_parse(v, &ms) != 0)
        return NULL;
    return input_printf(r, "%lld", (long long)ms);
}

/* The minimum charge as micros text: minimum_charge_cents (like the other money members)
 * or minimum_charge_micros (an integer), not both; "0" when neither. */
static int minimum_param(struct api_req *r, const char **out)
{
    const json_t *micros = json_object_get(r->body, "minimum_charge_micros");
    if (cents_param(r, "minimum_charge_cents", out))
        return VP_E_INVALID_PARAMETER;
    if (micros && !json_is_null(micros)) {
        if (*out)
            return reply_fail(r, VP_E_INVALID_PARAMETER, "minimum_charge_micros",
                              "Give minimum_charge_cents or minimum_charge_micros, not both.");
        *out = input_printf(r, "%lld", (long long)json_integer_value(micros));
    }
    if (!*out)
        *out = "0";
    return 0;
}

void admin_rate_create(struct api_req *r)
{
    char prefix[16];
    const char *per_minute, *fee, *minimum;
    if (input_body(r, rate_fields, NFIELDS(rate_fields), false))
        return;
    if (!validate_rate_prefix(vjson_str(r->body, "prefix"), prefix)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "prefix",
                   "prefix must be up to 15 digits, optionally after a +.");
        return;
    }
    if (cents_param(r, "cents_per_minute", &per_minute) ||
        cents_param(r, "connection_fee_cents", &fee) || minimum_param(r, &minimum))
        return;
    const char *kind = vjson_str(r->body, "kind");
    const char *params[13] = {vjson_str(r->body, "tenant_id"),
                              kind ? kind : "outbound",
                              http_request_strdup(r->http, prefix),
                              per_minute,
                              fee ? fee : "0",
                              int_param(r, "initial_increment_secs", 1),
                              int_param(r, "subsequent_increment_secs", 1),
                              minimum,
                              time_param(r, "effective_from"),
                              time_param(r, "effective_to")};
    input_idem_params(r, params + 10);
    reply_query(r,
                "SELECT * FROM api_admin_rate_add($1, $2, $3, $4::bigint, $5::bigint, $6::int, "
                "$7::int, $8::bigint, voepy_ms($9::bigint), voepy_ms($10::bigint), $11, $12, $13)",
                13, params, NULL);
}
