/*
 * calls.c - /v1/calls: place a call, fetch one, list them, hang one up.
 *
 * Placing a call is one SQL function (api_call_create: idempotency claim, caller-ID
 * ownership, route, the call rules of proto/sql/0014_api_call_rules.sql, balance, the call
 * and its first leg, call.started, the stored answer).
 * Only after it committed does the gateway wake call-control with a dial command on
 * voepy:dial and kick the outbox relay; the command is a wake-up, not the record (nodes
 * also sweep for unclaimed calls), so a lost XADD delays a call but never loses it, and
 * the answer waits for the XADD only so that a drain does not cut it off.
 *
 * Hangup marks hangup_requested_at and, when a node owns the call, sends it the command
 * on its inbox voepy:cc:{node}; an unclaimed call is ended by whichever node claims it.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "voepy/log.h"
#include "voepy/outbox.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200

static const char *const record_choices[] = {"off", "on_answer", "on_ringing", "on_demand", NULL};
static const char *const channels_choices[] = {"single", "dual", NULL};
static const char *const format_choices[] = {"mp3", "wav", NULL};
static const char *const amd_choices[] = {"off", "premium", NULL};
static const char *const status_choices[] = {"initiated", "ringing", "answered", "bridged",
                                             "ended",     "failed",  NULL};
static const char *const direction_choices[] = {"inbound", "outbound", NULL};

/* POST /v1/calls, exactly the spec's table; optional fields may also be null. */
static const struct jfield create_fields[] = {
    {.name = "from", .type = JF_E164, .flags = JF_REQUIRED},
    {.name = "to", .type = JF_E164, .flags = JF_REQUIRED},
    {.name = "route_id", .type = JF_ID, .flags = JF_NULLABLE, .kind = "route"},
    {.name = "record", .type = JF_ENUM, .flags = JF_NULLABLE, .choices = record_choices},
    {.name = "record_channels", .type = JF_ENUM, .flags = JF_NULLABLE, .choices = channels_choices},
    {.name = "record_format", .type = JF_ENUM, .flags = JF_NULLABLE, .choices = format_choices},
    {.name = "customer_reference", .type = JF_STRING, .flags = JF_NULLABLE, .min = 0, .max = 128},
    {.name = "answering_machine_detection",
     .type = JF_ENUM,
     .flags = JF_NULLABLE,
     .choices = amd_choices},
    {.name = "audio_url", .type = JF_URL, .flags = JF_NULLABLE},
    {.name = "timeout_secs", .type = JF_INT, .flags = JF_NULLABLE, .min = 1, .max = 600},
    {.name = "time_limit_secs", .type = JF_INT, .flags = JF_NULLABLE, .min = 1, .max = 86400},
    {.name = "caller_id_forwarding", .type = JF_BOOL, .flags = JF_NULLABLE},
    /* The call's events also go there, signed with the call-URL secret (0043). */
    {.name = "webhook_url", .type = JF_URL, .flags = JF_NULLABLE},
};

/*
 * The call rules' 429s (blocked_destination, and rate_limited for max_concurrent_calls
 * and calls_per_second, raised by proto/sql/0014_api_call_rules.sql) state their wait as
 * "Retry after <n> s." in the message: it becomes the Retry-After header (1 when absent).
 */
static void set_rules_retry_after(struct api_req *r, const struct pg_result *res)
{
    struct vp_error e;
    int err = pg_result_error(res, &e);
    if (err != VP_E_RATE_LIMITED && err != VP_E_BLOCKED_DESTINATION)
        return;
    long secs = 1;
    const char *at = NULL;
    for (const char *p = e.message; (p = strstr(p, "Retry after ")) != NULL; p++)
        at = p;
    if (at)
        secs = strtol(at + strlen("Retry after "), NULL, 10);
    reply_header(r, "Retry-After", input_printf(r, "%ld", secs > 0 ? secs : 1));
}

static void create_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (status == VP_E_DB)
        set_rules_retry_after(r, res);
    if (!reply_pg_ok(r, status, res))
        return;
    if (reply_pg_replayed(res)) {
        reply_pg_row(r, res);
        return;
    }
    if (r->api->outbox)
        outbox_kick(r->api->outbox);
    json_t *msg = json_pack("{s:s, s:s, s:s}", "op", "dial", "call_id", pg_get(res, 0, "call_id"),
                            "tenant_id", r->tenant_id);
    command_send_then_answer(r, res, "voepy:dial", msg);
}

/* A valid request within the tenant's calls-per-minute limit (ratelimit.c). */
static void create_query(struct api_req *r)
{
    const char *params[5] = {r->tenant_id, input_body_text(r)};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_call_create($1, $2::jsonb, $3, $4, $5)", 5, params,
                create_cb);
}

void calls_create(struct api_req *r)
{
    if (input_body(r, create_fields, sizeof(create_fields) / sizeof(create_fields[0]), false))
        return;
    const char *audio = vjson_str(r->body, "audio_url");
    if (audio && input_url_check(r, "audio_url", audio))
        return;
    const char *hook = vjson_str(r->body, "webhook_url");
    if (hook && input_url_check(r, "webhook_url", hook))
        return;
    ratelimit_calls(r, create_query);
}

void calls_get(struct api_req *r)
{
    const char *id = input_id(r, "call", "call");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_call_get($1, $2)", 2, params,
                recordings_signed_body_cb); /* its recordings' download_url signed */
}

static int query_enum(struct api_req *r, const char *name, const char *const *choices,
                      const char **out)
{
    *out = input_query(r, name);
    if (!*out)
        return 0;
    for (const char *const *c = choices; *c; c++)
        if (strcmp(*c, *out) == 0)
            return 0;
    return reply_fail(r, VP_E_INVALID_PARAMETER, name, "%s is not one of the allowed values.",
                      name);
}

void calls_list(struct api_req *r)
{
    const char *status, *direction, *from, *to, *after, *cursor;
    char limit[16];
    if (query_enum(r, "status", status_choices, &status) ||
        query_enum(r, "direction", direction_choices, &direction) ||
        input_query_e164(r, "from_number", &from) || input_query_e164(r, "to_number", &to) ||
        input_query_time(r, "initiated_after", &after) || input_cursor(r, &cursor) ||
        input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, status, direction, from, to, after, cursor, limit};
    reply_query(r, "SELECT * FROM api_calls_list($1, $2, $3, $4, $5, $6::bigint, $7, $8::int)", 8,
                params, NULL);
}

static void hangup_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    const char *node = pg_get(res, 0, "node_id");
    if (reply_pg_replayed(res) || !node) {
        reply_pg_row(r, res);
        return;
    }
    json_t *msg = json_pack("{s:s, s:s, s:s, s:s}", "op", "hangup", "call_id", input_param(r, 0),
                            "tenant_id", r->tenant_id, "initiator", "api");
    command_send_then_answer(r, res, input_printf(r, "voepy:cc:%s", node), msg);
}

void calls_hangup(struct api_req *r)
{
    const char *id = input_id(r, "call", "call");
    if (!id || input_body(r, NULL, 0, true))
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_call_hangup($1, $2, $3, $4, $5)", 5, params, hangup_cb);
}
