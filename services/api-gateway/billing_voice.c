/*
 * billing_voice.c - the tenant's voice subscription (/v1/billing/voice): its state with
 * the minutes used, subscribe to a tier, cancel at period end.
 *
 * Which tiers exist, what they include and cost, the fee, renewal and how calls draw the
 * included minutes are proto/sql/0036_voice_tiers.sql (docs/billing.md, "Subscription
 * tiers"); the gateway checks the body's shape and calls one SQL function per operation.
 */
#include "api.h"

/* The tier's name; the SQL knows which tiers are on sale (voice_tiers) and says so. */
static const struct jfield subscribe_fields[] = {
    {.name = "tier", .type = JF_STRING, .flags = JF_REQUIRED, .min = 1, .max = 32},
};

void billing_voice_get(struct api_req *r)
{
    const char *params[] = {r->tenant_id};
    reply_query(r, "SELECT * FROM api_voice_get($1)", 1, params, NULL);
}

void billing_voice_subscribe(struct api_req *r)
{
    if (input_body(r, subscribe_fields, sizeof(subscribe_fields) / sizeof(subscribe_fields[0]),
                   false))
        return;
    const char *params[5] = {r->tenant_id, vjson_str(r->body, "tier")};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_voice_subscribe($1, $2, $3, $4, $5)", 5, params, NULL);
}

void billing_voice_cancel(struct api_req *r)
{
    const char *params[4] = {r->tenant_id};
    input_idem_params(r, params + 1);
    reply_query(r, "SELECT * FROM api_voice_cancel($1, $2, $3, $4)", 4, params, NULL);
}
