/*
 * call_events.c - GET /v1/calls/{id}/events: a call's event log, oldest first.
 *
 * Each entry is the event exactly as webhook deliveries carry it ({id, type, created_at,
 * data}, the envelope of wh_envelope in proto/sql/0040_webhooks.sql), read from the
 * events table (the outbox every service writes with voepy_emit), so the log holds every
 * event of the call whether or not the account has webhook endpoints. Cursor-paginated
 * like the other lists; another account's call is 404. The SQL is api_call_events in
 * proto/sql/0014_api_call_rules.sql.
 */
#include "api.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200

void calls_events(struct api_req *r)
{
    const char *id = input_id(r, "call", "call");
    const char *cursor;
    char limit[16];
    if (!id || input_cursor(r, &cursor) ||
        input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, id, cursor, limit};
    reply_query(r, "SELECT * FROM api_call_events($1, $2, $3, $4::int)", 4, params, NULL);
}
