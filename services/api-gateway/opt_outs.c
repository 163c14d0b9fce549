/*
 * opt_outs.c - /v1/opt_outs: the numbers that asked not to be called by this account.
 *
 * POST /v1/calls refuses a destination on the list with 451 opt_out before any SIP is
 * sent (proto/sql/0014_api_call_rules.sql, call_rules_check_destination). Adding a number
 * that is already on the list is 409 conflict naming the existing entry, never a second
 * entry; deleting an entry lets the number be called again. Each operation is one SQL
 * function of 0014; the gateway checks shapes only.
 */
#include "api.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define REASON_MAX         500

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

static const struct jfield create_fields[] = {
    {.name = "phone_number", .type = JF_E164, .flags = JF_REQUIRED},
    {.name = "reason", .type = JF_STRING, .flags = JF_NULLABLE, .min = 0, .max = REASON_MAX},
};

void opt_outs_create(struct api_req *r)
{
    if (input_body(r, create_fields, NFIELDS(create_fields), false))
        return;
    const char *params[5] = {r->tenant_id, input_body_text(r)};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_opt_out_create($1, $2::jsonb, $3, $4, $5)", 5, params, NULL);
}

void opt_outs_list(struct api_req *r)
{
    const char *number, *cursor;
    char limit[16];
    if (input_query_e164(r, "phone_number", &number) || input_cursor(r, &cursor) ||
        input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, number, cursor, limit};
    reply_query(r, "SELECT * FROM api_opt_outs_list($1, $2, $3, $4::int)", 4, params, NULL);
}

void opt_outs_delete(struct api_req *r)
{
    const char *id = input_id(r, "opt", "opt-out");
    if (!id)
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_opt_out_delete($1, $2, $3, $4, $5)", 5, params, NULL);
}
