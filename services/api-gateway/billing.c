/*
 * billing.c - /v1/billing reads: the balance and the entries of the balance account.
 *
 * The ledger is written by the operator's credits (POST /admin/v1/tenants/{id}/credit)
 * and by rating (call charges); these endpoints only read it (api_billing_balance,
 * api_ledger_entries_list in proto/sql/0013_api_resources.sql).
 */
#include "api.h"

#include <string.h>

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define KIND_MAX           32

void billing_balance(struct api_req *r)
{
    const char *params[] = {r->tenant_id};
    reply_query(r, "SELECT * FROM api_billing_balance($1)", 1, params, NULL);
}

/* A transaction kind is a lower-case word ("credit", "call_charge"); unknown ones match none. */
static bool kind_valid(const char *k)
{
    size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz_");
    return n > 0 && n <= KIND_MAX && k[n] == '\0' && k[0] != '_';
}

void billing_ledger_entries(struct api_req *r)
{
    const char *kind = input_query(r, "kind");
    const char *cursor;
    char limit[16];
    if (kind && !kind_valid(kind)) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "kind",
                   "kind must be a transaction kind such as credit or call_charge.");
        return;
    }
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, kind, cursor, limit};
    reply_query(r, "SELECT * FROM api_ledger_entries_list($1, $2, $3, $4::int)", 4, params, NULL);
}
