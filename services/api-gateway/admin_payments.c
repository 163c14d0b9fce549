/*
 * admin_payments.c - the operator's side of the bundled "operator_approved" payment
 * provider (/admin/v1/top_ups): the queue of top-ups waiting for approval, and approving
 * (the ledger credits payments_clearing -> tenant_balance, once) or declining one.
 *
 * Settling is api_admin_top_up_settle() in proto/sql/0032_payments.sql: approving twice
 * answers the same succeeded top-up and moves the money once; approving a declined top-up
 * or declining a succeeded one is 409 conflict.
 */
#include "api.h"

#include "voepy/id.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static const struct jfield decline_fields[] = {
    {.name = "reason", .type = JF_STRING, .flags = JF_NULLABLE, .min = 1, .max = 500},
};

void admin_top_ups_list(struct api_req *r)
{
    const char *status, *cursor;
    const char *tenant = input_query(r, "tenant_id");
    char limit[16];
    if (billing_query_top_up_status(r, &status) || input_cursor(r, &cursor) ||
        input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    if (tenant && !id_valid(tenant, "tenant")) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "tenant_id", "tenant_id must be a voepy_tenant_ id.");
        return;
    }
    const char *params[] = {status, tenant, cursor, limit};
    reply_query(r, "SELECT * FROM api_admin_top_ups_list($1, $2, $3, $4::int)", 4, params, NULL);
}

/* approve: no body (an empty object is accepted); decline: {"reason"} optional. */
static void settle(struct api_req *r, bool succeeded)
{
    const char *id = input_id(r, "topup", "top-up");
    if (!id || input_body(r, decline_fields, succeeded ? 0 : NFIELDS(decline_fields), true))
        return;
    const char *params[6] = {id, succeeded ? "true" : "false", vjson_str(r->body, "reason")};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_admin_top_up_settle($1, $2::boolean, $3, $4, $5, $6)", 6,
                params, NULL);
}

void admin_top_up_approve(struct api_req *r)
{
    settle(r, true);
}

void admin_top_up_decline(struct api_req *r)
{
    settle(r, false);
}
