/*
 * admin.c - the operator API for tenants and routes (/admin/v1/tenants, /admin/v1/routes,
 * /admin/v1/routes/{id}).
 *
 * A tenant is created with its first API key and its ledger account in one SQL function.
 * The key is made here (apikey.h); only its SHA-256 and a short prefix go to the
 * database, and the key itself appears in this one answer. An idempotent replay of the
 * creation therefore answers "api_key": null: the key is not kept anywhere to repeat.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "validate.h"
#include "voepy/alloc.h"
#include "voepy/http_server.h"

#define CREDIT_MAX 100000000000LL /* $1 billion, in cents */

static const char *const tenant_status_choices[] = {"active", "suspended", NULL};
static const char *const transport_choices[] = {"udp", "tcp", NULL};

/*
 * The outbound call rules (proto/sql/0014_api_call_rules.sql), on create and PATCH alike;
 * null clears one (no allow list, nothing blocked, no limit). The elements of the lists
 * are checked in SQL (countries of the calling-code table, E.164 prefixes), which names
 * the element ("blocked_prefixes[2]"). An empty allow list would refuse every call: 422.
 */
#define RULE_LIST(n, lo, hi)                                                          \
    {                                                                                 \
        .name = (n), .type = JF_ARRAY, .flags = JF_NULLABLE, .min = (lo), .max = (hi) \
    }
#define RULE_INT(n, hi)                                                          \
    {                                                                            \
        .name = (n), .type = JF_INT, .flags = JF_NULLABLE, .min = 1, .max = (hi) \
    }
#define CALL_RULE_FIELDS                                                                  \
    RULE_LIST("allowed_countries", 1, 300), RULE_LIST("blocked_countries", 0, 300),       \
        RULE_LIST("blocked_prefixes", 0, 1000), RULE_INT("max_concurrent_calls", 100000), \
        RULE_INT("calls_per_second", 10000)

static const struct jfield tenant_fields[] = {
    {.name = "name", .type = JF_STRING, .flags = JF_REQUIRED, .min = 1, .max = 200},
    {.name = "default_route_id", .type = JF_ID, .flags = JF_NULLABLE, .kind = "route"},
    {.name = "credit_limit_cents", .type = JF_INT, .flags = JF_NULLABLE, .max = CREDIT_MAX},
    {.name = "allow_caller_id_forwarding", .type = JF_BOOL, .flags = JF_NULLABLE},
    CALL_RULE_FIELDS,
};

/* PATCH: members present change; a null default_route_id clears it. */
static const struct jfield patch_fields[] = {
    {.name = "name", .type = JF_STRING, .min = 1, .max = 200},
    {.name = "default_route_id", .type = JF_ID, .flags = JF_NULLABLE, .kind = "route"},
    {.name = "credit_limit_cents", .type = JF_INT, .max = CREDIT_MAX},
    {.name = "allow_caller_id_forwarding", .type = JF_BOOL},
    {.name = "status", .type = JF_ENUM, .choices = tenant_status_choices},
    {.name = "api_requests_per_second", .type = JF_INT, .min = 1, .max = 100000},
    {.name = "calls_per_minute", .type = JF_INT, .min = 1, .max = 100000},
    CALL_RULE_FIELDS,
};

static const struct jfield credit_fields[] = {
    {.name = "amount_cents", .type = JF_INT, .flags = JF_REQUIRED, .min = 1, .max = CREDIT_MAX},
    {.name = "description", .type = JF_STRING, .flags = JF_NULLABLE, .min = 0, .max = 500},
};

/*
 * A route's optional members, on create and PATCH alike: digest credentials answered on
 * 401/407 (the password is write-only) and the route call-control tries when this one
 * fails before ringing (proto/sql/0022_routes.sql); trunk registration by call-control
 * (proto/sql/0038_route_registration.sql). On PATCH a null clears a credential or the
 * failover, and sets platform_default, register and register_expires_secs back to their
 * defaults.
 */
#define ROUTE_OPT(n, t)                                \
    {                                                  \
        .name = (n), .type = (t), .flags = JF_NULLABLE \
    }
#define ROUTE_RANGE(n, t, lo, hi)                                                \
    {                                                                            \
        .name = (n), .type = (t), .flags = JF_NULLABLE, .min = (lo), .max = (hi) \
    }
#define ROUTE_REF(n, k)                                               \
    {                                                                 \
        .name = (n), .type = JF_ID, .flags = JF_NULLABLE, .kind = (k) \
    }
#define ROUTE_OPTIONAL_FIELDS                                                                  \
    ROUTE_OPT("platform_default", JF_BOOL), ROUTE_RANGE("auth_username", JF_STRING, 1, 128),   \
        ROUTE_RANGE("auth_password", JF_STRING, 1, 128),                                       \
        ROUTE_RANGE("auth_realm", JF_STRING, 1, 128), ROUTE_REF("failover_route_id", "route"), \
        ROUTE_OPT("register", JF_BOOL), ROUTE_RANGE("register_expires_secs", JF_INT, 60, 86400)

static const struct jfield route_fields[] = {
    {.name = "name", .type = JF_STRING, .flags = JF_REQUIRED, .min = 1, .max = 200},
    {.name = "sip_uri", .type = JF_STRING, .flags = JF_REQUIRED, .min = 1, .max = 512},
    {.name = "transport", .type = JF_ENUM, .flags = JF_REQUIRED, .choices = transport_choices},
    ROUTE_OPTIONAL_FIELDS,
};

/* PATCH: members present change, none is required. */
static const struct jfield route_patch_fields[] = {
    {.name = "name", .type = JF_STRING, .min = 1, .max = 200},
    {.name = "sip_uri", .type = JF_STRING, .min = 1, .max = 512},
    {.name = "transport", .type = JF_ENUM, .choices = transport_choices},
    ROUTE_OPTIONAL_FIELDS,
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* The key is copied out of the arena and wiped there first: r is gone once answered. */
static void tenant_created_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    char key[APIKEY_BUF];
    memcpy(key, r->data, APIKEY_BUF);
    explicit_bzero(r->data, APIKEY_BUF);
    if (reply_pg_ok(r, status, res)) {
        if (reply_pg_replayed(res)) {
            reply_pg_row(r, res);
        } else {
            char *body =
                vp_asprintf("{\"tenant\":%s,\"api_key\":\"%s\"}", pg_get(res, 0, "http_body"), key);
            size_t len = strlen(body);
            reply_send(r, 201, body, len);
            explicit_bzero(body, len);
            free(body);
        }
    }
    explicit_bzero(key, sizeof(key));
}

void admin_tenant_create(struct api_req *r)
{
    if (input_body(r, tenant_fields, NFIELDS(tenant_fields), false))
        return;
    char *key = http_request_alloc(r->http, APIKEY_BUF);
    char *hash = http_request_alloc(r->http, CRYPTO_SHA256_HEX_LEN);
    apikey_new(key);
    apikey_hash(key, hash);
    r->data = key;
    const char *params[6] = {input_body_text(r), hash,
                             input_printf(r, "%.*s", APIKEY_SHOWN_LEN, key)};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_admin_tenant_create($1::jsonb, $2, $3, $4, $5, $6)", 6,
                params, tenant_created_cb);
}

void admin_tenant_get(struct api_req *r)
{
    const char *id = input_id(r, "tenant", "tenant");
    if (!id)
        return;
    const char *params[] = {id};
    reply_query(r, "SELECT * FROM api_admin_tenant_get($1)", 1, params, NULL);
}

void admin_tenant_update(struct api_req *r)
{
    const char *id = input_id(r, "tenant", "tenant");
    if (!id || input_body(r, patch_fields, NFIELDS(patch_fields), false))
        return;
    const char *params[5] = {id, input_body_text(r)};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_admin_tenant_update($1, $2::jsonb, $3, $4, $5)", 5, params,
                NULL);
}

void admin_tenant_credit(struct api_req *r)
{
    const char *id = input_id(r, "tenant", "tenant");
    if (!id || input_body(r, credit_fields, NFIELDS(credit_fields), false))
        return;
    const char *params[6] = {id, input_printf(r, "%lld", vjson_int(r->body, "amount_cents", 0)),
                             vjson_str(r->body, "description")};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_admin_tenant_credit($1, $2::bigint, $3, $4, $5, $6)", 6,
                params, NULL);
}

/*
 * Whether call-control can dial uri (and register there); else r is answered 422.
 * sips: would need SIP over TLS, and call-control has no TLS transport: refused with that
 * reason rather than taken and failed on every call.
 */
static bool route_uri_ok(struct api_req *r, const char *uri)
{
    if (uri && strncasecmp(uri, "sips:", 5) == 0) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "sip_uri",
                   "sip_uri is sips: (SIP over TLS), which call-control cannot reach: it has no "
                   "TLS transport (udp and tcp only). Use a sip: URI.");
        return false;
    }
    if (!validate_sip_uri(uri)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "sip_uri",
                   "sip_uri must be sip:host or sip:host:port (host name, IPv4 or [IPv6]).");
        return false;
    }
    return true;
}

void admin_route_create(struct api_req *r)
{
    if (input_body(r, route_fields, NFIELDS(route_fields), false))
        return;
    const char *uri = vjson_str(r->body, "sip_uri");
    if (!route_uri_ok(r, uri))
        return;
    const char *params[13] = {vjson_str(r->body, "name"), uri, vjson_str(r->body, "transport"),
                              vjson_bool(r->body, "platform_default", false) ? "true" : "false"};
    input_idem_params(r, params + 4);
    params[7] = vjson_str(r->body, "auth_username");
    params[8] = vjson_str(r->body, "auth_password");
    params[9] = vjson_str(r->body, "auth_realm");
    params[10] = vjson_str(r->body, "failover_route_id");
    params[11] = vjson_bool(r->body, "register", false) ? "true" : "false";
    long long expires = vjson_int(r->body, "register_expires_secs", 0); /* 0: absent */
    params[12] = expires ? input_printf(r, "%lld", expires) : NULL;
    reply_query(r,
                "SELECT * FROM api_admin_route_create_reg($12::boolean, $13::int, $1, $2, $3, "
                "$4::boolean, $5, $6, $7, $8, $9, $10, $11)",
                13, params, NULL);
}

void admin_route_list(struct api_req *r)
{
    reply_query(r, "SELECT * FROM api_admin_route_list()", 0, NULL, NULL);
}

/* PATCH /admin/v1/routes/{id}: the body (password included) goes to SQL as jsonb, where the
 * rules between fields are checked on the result (api_admin_route_update, 0022). */
void admin_route_update(struct api_req *r)
{
    const char *id = input_id(r, "route", "route");
    if (!id || input_body(r, route_patch_fields, NFIELDS(route_patch_fields), false))
        return;
    const char *uri = vjson_str(r->body, "sip_uri");
    if (uri && !route_uri_ok(r, uri))
        return;
    const char *params[5] = {id, input_body_text(r)};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_admin_route_update($1, $2::jsonb, $3, $4, $5)", 5, params,
                NULL);
}
