/*
 * billing.c - /v1/billing reads: balance and ledger entries.
 *
 * Placeholder while the work is in progress: answers 501 not_implemented.
 */
#include "api.h"

void billing_balance(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}

void billing_ledger_entries(struct api_req *r)
{
    reply_fail(r, VP_E_NOT_IMPLEMENTED, NULL, NULL);
}
