/*
 * webhooks.c - /v1/webhooks: a tenant's endpoints for event deliveries, their secrets,
 * and the call-URL secret (the delivery log is webhook_log.c).
 *
 * Signing secrets (Standard Webhooks, "whsec_...") are made here and shown once, in the
 * answer that made them (creation, rotation); the rows keep them because the dispatcher
 * signs with them. With ed25519_signing the gateway also makes an Ed25519 key pair
 * (libsodium), stored as "whsk_" + base64 of the 64-byte secret key and "whpk_" + base64
 * of the 32-byte public key; only the public key is ever shown. The URL is checked for
 * shape and literal private addresses now; the dispatcher checks the resolved address
 * again on every delivery. Endpoints made for per-call webhook URLs (kind call_url) are
 * invisible here: the SQL answers 404 for them.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "voepy/buf.h"
#include "voepy/http_server.h"
#include "voepy/webhook_sig.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define OVERLAP_DEFAULT_S  86400  /* rotate_secret: the old secret signs for a day */
#define OVERLAP_MAX_S      604800 /* ... at most a week */

/* Event types an endpoint may subscribe to ("*" = all). */
static const char *const event_types[] = {
    "*",
    "call.started",
    "call.ringing",
    "call.answered",
    "call.bridged",
    "call.ended",
    "call.gather_complete",
    "call.transcript_chunk",
    "call.amd_complete",
    "recording.completed",
    "recording.failed",
    "recording.deleted",
    "webhook.exhausted",
    "webhook.endpoint_disabled",
    "billing.top_up_succeeded",
    "billing.top_up_declined",
    "billing.auto_recharge_triggered",
    NULL,
};

static const struct jfield create_fields[] = {
    {.name = "url", .type = JF_URL, .flags = JF_REQUIRED},
    {.name = "events", .type = JF_ARRAY, .flags = JF_NULLABLE, .min = 1, .max = 32},
    {.name = "name", .type = JF_STRING, .flags = JF_NULLABLE, .min = 0, .max = 200},
    {.name = "ed25519_signing", .type = JF_BOOL, .flags = JF_NULLABLE},
};

static bool event_known(const char *s)
{
    for (const char *const *t = event_types; *t; t++)
        if (strcmp(*t, s) == 0)
            return true;
    return false;
}

/* events as a PostgreSQL array literal in the arena; NULL when absent (= all). */
static int events_param(struct api_req *r, const char **out)
{
    const json_t *events = json_object_get(r->body, "events");
    *out = NULL;
    if (!json_is_array(events))
        return 0;
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '{');
    size_t i;
    const json_t *v;
    json_array_foreach(events, i, v)
    {
        char field[32];
        snprintf(field, sizeof(field), "events[%zu]", i);
        int err = !json_is_string(v)                   ? VP_E_INVALID_REQUEST
                  : !event_known(json_string_value(v)) ? VP_E_INVALID_PARAMETER
                                                       : 0;
        if (err) {
            buf_free(&b);
            return reply_fail(r, err, field,
                              "%s must be an event type such as call.answered, "
                              "or \"*\" for all.",
                              field);
        }
        buf_printf(&b, "%s\"%s\"", i ? "," : "", json_string_value(v));
    }
    buf_putc(&b, '}');
    *out = http_request_strdup(r->http, b.data);
    buf_free(&b);
    return 0;
}

/* A new Ed25519 key pair for v1a signatures, in the arena, as the endpoint row stores it. */
static void ed25519_pair_new(struct api_req *r, const char **sk, const char **pk)
{
    char *skt = http_request_alloc(r->http, WEBHOOK_ED25519_SK_MAX);
    char *pkt = http_request_alloc(r->http, WEBHOOK_ED25519_PK_MAX);
    webhook_ed25519_keypair_new(skt, pkt);
    *sk = skt;
    *pk = pkt;
}

/* A new signing secret, in the arena. */
static const char *secret_new(struct api_req *r)
{
    char *secret = http_request_alloc(r->http, WEBHOOK_SECRET_MAX);
    webhook_secret_new(secret);
    return secret;
}

void webhooks_create(struct api_req *r)
{
    const char *events, *sk = NULL, *pk = NULL;
    if (input_body(r, create_fields, sizeof(create_fields) / sizeof(create_fields[0]), false))
        return;
    const char *url = vjson_str(r->body, "url");
    if (input_url_check(r, "url", url) || events_param(r, &events))
        return;
    if (vjson_bool(r->body, "ed25519_signing", false))
        ed25519_pair_new(r, &sk, &pk);
    const char *params[10] = {r->tenant_id,  url, events, vjson_str(r->body, "name"),
                              secret_new(r), sk,  pk};
    input_idem_params(r, params + 7);
    reply_query(r,
                "SELECT * FROM api_webhook_create($1, $2, $3::text[], $4, $5, $6, $7, $8, $9, $10)",
                10, params, NULL);
}

void webhooks_list(struct api_req *r)
{
    const char *cursor;
    char limit[16];
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, cursor, limit};
    reply_query(r, "SELECT * FROM api_webhooks_list($1, $2, $3::int)", 3, params, NULL);
}

void webhooks_get(struct api_req *r)
{
    const char *id = input_id(r, "whk", "webhook endpoint");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_webhook_get($1, $2)", 2, params, NULL);
}

void webhooks_delete(struct api_req *r)
{
    const char *id = input_id(r, "whk", "webhook endpoint");
    if (!id)
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_webhook_delete($1, $2, $3, $4, $5)", 5, params, NULL);
}

/* PATCH /v1/webhooks/{id}: every member optional; a null events (or name) resets it. */
static const struct jfield update_fields[] = {
    {.name = "url", .type = JF_URL},
    {.name = "name", .type = JF_STRING, .flags = JF_NULLABLE, .min = 0, .max = 200},
    {.name = "events", .type = JF_ARRAY, .flags = JF_NULLABLE, .min = 1, .max = 32},
    {.name = "active", .type = JF_BOOL},
    {.name = "ed25519_signing", .type = JF_BOOL},
};

void webhooks_update(struct api_req *r)
{
    const char *events, *sk = NULL, *pk = NULL;
    const char *id = input_id(r, "whk", "webhook endpoint");
    if (!id || input_body(r, update_fields, sizeof(update_fields) / sizeof(update_fields[0]), true))
        return;
    const char *url = vjson_str(r->body, "url");
    if ((url && input_url_check(r, "url", url)) || events_param(r, &events))
        return;
    /* Used only when the endpoint has no pair yet: SQL keeps an existing one. */
    if (vjson_bool(r->body, "ed25519_signing", false))
        ed25519_pair_new(r, &sk, &pk);
    const char *params[9] = {r->tenant_id, id, input_body_text(r), events, sk, pk};
    input_idem_params(r, params + 6);
    reply_query(r,
                "SELECT * FROM api_webhook_update($1, $2, $3::jsonb, $4::text[], $5, $6, $7, $8, "
                "$9)",
                9, params, NULL);
}

/* The body of both rotations: how long the replaced secret keeps signing. */
static const struct jfield rotate_fields[] = {
    {.name = "overlap_seconds",
     .type = JF_INT,
     .flags = JF_NULLABLE,
     .min = 0,
     .max = OVERLAP_MAX_S},
};

/* Validate a rotation body; the overlap as text into out[24]. */
static int rotate_body(struct api_req *r, char out[24])
{
    int err = input_body(r, rotate_fields, sizeof(rotate_fields) / sizeof(rotate_fields[0]), true);
    if (err)
        return err;
    snprintf(out, 24, "%lld", vjson_int(r->body, "overlap_seconds", OVERLAP_DEFAULT_S));
    return 0;
}

void webhooks_rotate_secret(struct api_req *r)
{
    char overlap[24];
    const char *id = input_id(r, "whk", "webhook endpoint");
    if (!id || rotate_body(r, overlap))
        return;
    const char *params[7] = {r->tenant_id, id, secret_new(r), overlap};
    input_idem_params(r, params + 4);
    reply_query(r, "SELECT * FROM api_webhook_rotate_secret($1, $2, $3, $4::int, $5, $6, $7)", 7,
                params, NULL);
}

void webhooks_call_url_secret(struct api_req *r)
{
    char overlap[24];
    if (rotate_body(r, overlap))
        return;
    const char *params[6] = {r->tenant_id, secret_new(r), overlap};
    input_idem_params(r, params + 3);
    reply_query(r, "SELECT * FROM api_webhook_call_url_secret($1, $2, $3::int, $4, $5, $6)", 6,
                params, NULL);
}
