/*
 * billing_payments.c - a tenant's payments: payment methods, top-ups and auto-recharge
 * (/v1/billing/payment_methods, /v1/billing/top_ups, /v1/billing/auto_recharge).
 *
 * The gateway checks shapes, types and ranges; everything that needs the database (which
 * providers exist, whose payment method it is, the provider's decision, whether
 * auto-recharge fires at once) is one SQL function per operation in
 * proto/sql/0032_payments.sql, which also holds the payment provider interface
 * (pay_provider_submit) and the auto-recharge crossing logic. Operators settle top-ups
 * in admin_payments.c.
 */
#include "api.h"

#include <string.h>

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define TOP_UP_MIN_CENTS   100LL      /* $1: smaller payments cost more to handle than they bring */
#define TOP_UP_MAX_CENTS   10000000LL /* $100,000, also the database's CHECK */
#define THRESHOLD_MAX      10000000LL

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static const char *const top_up_status_choices[] = {"pending_approval", "succeeded", "declined",
                                                    NULL};

/* type: a payment provider's name; the SQL knows which ones exist (payment_providers). */
static const struct jfield method_fields[] = {
    {.name = "type", .type = JF_STRING, .flags = JF_REQUIRED, .min = 1, .max = 40},
    {.name = "label", .type = JF_STRING, .flags = JF_REQUIRED, .min = 1, .max = 200},
};

static const struct jfield top_up_fields[] = {
    {.name = "amount_cents",
     .type = JF_INT,
     .flags = JF_REQUIRED,
     .min = TOP_UP_MIN_CENTS,
     .max = TOP_UP_MAX_CENTS},
    {.name = "payment_method_id", .type = JF_ID, .flags = JF_REQUIRED, .kind = "pm"},
};

/* PUT: enabled is required; the others replace the stored values when present (null
 * clears one), and enabled settings need all three (checked in SQL). */
static const struct jfield auto_recharge_fields[] = {
    {.name = "enabled", .type = JF_BOOL, .flags = JF_REQUIRED},
    {.name = "threshold_cents", .type = JF_INT, .flags = JF_NULLABLE, .max = THRESHOLD_MAX},
    {.name = "amount_cents",
     .type = JF_INT,
     .flags = JF_NULLABLE,
     .min = TOP_UP_MIN_CENTS,
     .max = TOP_UP_MAX_CENTS},
    {.name = "payment_method_id", .type = JF_ID, .flags = JF_NULLABLE, .kind = "pm"},
};

void billing_payment_method_create(struct api_req *r)
{
    if (input_body(r, method_fields, NFIELDS(method_fields), false))
        return;
    const char *params[5] = {r->tenant_id, input_body_text(r)};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_payment_method_create($1, $2::jsonb, $3, $4, $5)", 5, params,
                NULL);
}

void billing_payment_methods_list(struct api_req *r)
{
    const char *cursor;
    char limit[16];
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, cursor, limit};
    reply_query(r, "SELECT * FROM api_payment_methods_list($1, $2, $3::int)", 3, params, NULL);
}

void billing_payment_method_delete(struct api_req *r)
{
    const char *id = input_id(r, "pm", "payment method");
    if (!id)
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_payment_method_delete($1, $2, $3, $4, $5)", 5, params, NULL);
}

void billing_top_up_create(struct api_req *r)
{
    if (input_body(r, top_up_fields, NFIELDS(top_up_fields), false))
        return;
    const char *params[6] = {r->tenant_id,
                             input_printf(r, "%lld", vjson_int(r->body, "amount_cents", 0)),
                             vjson_str(r->body, "payment_method_id")};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_top_up_create($1, $2::bigint, $3, $4, $5, $6)", 6, params,
                NULL);
}

/* ?status= of the top-up lists (shared with admin_payments.c through api.h). */
int billing_query_top_up_status(struct api_req *r, const char **out)
{
    *out = input_query(r, "status");
    if (!*out)
        return 0;
    for (const char *const *c = top_up_status_choices; *c; c++)
        if (strcmp(*c, *out) == 0)
            return 0;
    return reply_fail(r, VP_E_INVALID_PARAMETER, "status",
                      "status must be pending_approval, succeeded or declined.");
}

void billing_top_ups_list(struct api_req *r)
{
    const char *status, *cursor;
    char limit[16];
    if (billing_query_top_up_status(r, &status) || input_cursor(r, &cursor) ||
        input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, status, cursor, limit};
    reply_query(r, "SELECT * FROM api_top_ups_list($1, $2, $3, $4::int)", 4, params, NULL);
}

void billing_top_up_get(struct api_req *r)
{
    const char *id = input_id(r, "topup", "top-up");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_top_up_get($1, $2)", 2, params, NULL);
}

void billing_auto_recharge_get(struct api_req *r)
{
    const char *params[] = {r->tenant_id};
    reply_query(r, "SELECT * FROM api_auto_recharge_get($1)", 1, params, NULL);
}

void billing_auto_recharge_put(struct api_req *r)
{
    if (input_body(r, auto_recharge_fields, NFIELDS(auto_recharge_fields), false))
        return;
    const char *params[5] = {r->tenant_id, input_body_text(r)};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_auto_recharge_put($1, $2::jsonb, $3, $4, $5)", 5, params,
                NULL);
}
