/*
 * webhook_log.c - /v1/webhooks/{id}/deliveries: the delivery log of an endpoint (every
 * delivery with its attempts, newest first), sending one delivery again, and replaying
 * every failure since a time.
 *
 * Deliveries are made by the dispatcher's fanout and attempted by its deliverer; here they
 * are only read, or put back to pending as replays (replay = true: the dispatcher makes one
 * attempt, then marks them succeeded or failed). The SQL (0043_webhook_api.sql) finds the
 * endpoint first, so another tenant's endpoint, or a hidden call-URL one, is 404 before the
 * delivery id is even looked at.
 */
#include "api.h"

#include <stdint.h>
#include <string.h>

#include "voepy/id.h"
#include "voepy/vtime.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200

static const char *const status_choices[] = {"pending", "succeeded", "failed", "exhausted", NULL};

/* ?status=, one of status_choices, or NULL when absent. */
static int query_status(struct api_req *r, const char **out)
{
    *out = input_query(r, "status");
    if (!*out)
        return 0;
    for (const char *const *c = status_choices; *c; c++)
        if (strcmp(*c, *out) == 0)
            return 0;
    return reply_fail(r, VP_E_INVALID_PARAMETER, "status",
                      "status must be one of: pending, succeeded, failed, exhausted.");
}

/* Path parameter 1 when it is a delivery id; else answers 404 and returns NULL. */
static const char *delivery_id(struct api_req *r)
{
    const char *id = input_param(r, 1);
    if (id_valid(id, "dlv"))
        return id;
    reply_fail(r, VP_E_NOT_FOUND, NULL, "No delivery with this id for this endpoint.");
    return NULL;
}

void webhook_log_list(struct api_req *r)
{
    const char *status, *cursor;
    char limit[16];
    const char *id = input_id(r, "whk", "webhook endpoint");
    if (!id || query_status(r, &status) || input_cursor(r, &cursor) ||
        input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, id, status, cursor, limit};
    reply_query(r, "SELECT * FROM api_webhook_deliveries($1, $2, $3, $4, $5::int)", 5, params,
                NULL);
}

void webhook_log_get(struct api_req *r)
{
    const char *id = input_id(r, "whk", "webhook endpoint");
    const char *dlv = id ? delivery_id(r) : NULL;
    if (!dlv)
        return;
    const char *params[] = {r->tenant_id, id, dlv};
    reply_query(r, "SELECT * FROM api_webhook_delivery_get($1, $2, $3)", 3, params, NULL);
}

void webhook_log_retry(struct api_req *r)
{
    const char *id = input_id(r, "whk", "webhook endpoint");
    const char *dlv = id ? delivery_id(r) : NULL;
    if (!dlv || input_body(r, NULL, 0, true))
        return;
    const char *params[6] = {r->tenant_id, id, dlv};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_webhook_delivery_retry($1, $2, $3, $4, $5, $6)", 6, params,
                NULL);
}

static const struct jfield replay_fields[] = {
    {.name = "since", .type = JF_TIME, .flags = JF_REQUIRED},
    {.name = "until", .type = JF_TIME, .flags = JF_NULLABLE},
};

/* A member already validated as JF_TIME, as epoch ms text in the arena (NULL if absent). */
static const char *time_ms(struct api_req *r, const char *name, int64_t *ms)
{
    const char *v = vjson_str(r->body, name);
    if (!v || vtime_parse(v, ms) != 0)
        return NULL;
    return input_printf(r, "%lld", (long long)*ms);
}

void webhook_log_replay(struct api_req *r)
{
    int64_t since_ms = 0, until_ms = 0;
    const char *id = input_id(r, "whk", "webhook endpoint");
    if (!id ||
        input_body(r, replay_fields, sizeof(replay_fields) / sizeof(replay_fields[0]), false))
        return;
    const char *since = time_ms(r, "since", &since_ms);
    const char *until = time_ms(r, "until", &until_ms);
    if (until && until_ms < since_ms) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "until", "until must not be before since.");
        return;
    }
    const char *params[7] = {r->tenant_id, id, since, until};
    input_idem_params(r, params + 4);
    reply_query(r,
                "SELECT * FROM api_webhook_deliveries_replay($1, $2, $3::bigint, $4::bigint, $5, "
                "$6, $7)",
                7, params, NULL);
}
