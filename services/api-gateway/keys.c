/*
 * keys.c - API keys and scopes: /v1/api_keys and /v1/whoami.
 *
 * A key is made here (apikey_new); only its SHA-256 and prefix go to the database
 * (api_key_create / api_key_rotate in proto/sql/0011_api_keys.sql), and the plaintext is
 * added to the one answer that made it, as "key" (the last member). An idempotent replay
 * of a creation or rotation answers "key": null: the key is not kept anywhere to repeat,
 * as with POST /admin/v1/tenants.
 *
 * A key may only grant scopes it holds itself (create), and may only rotate a key whose
 * scopes it holds (the answer hands out a key with them; checked in SQL): else 403
 * insufficient_scope. Revoking needs keys:write only. The tenant's last active key cannot
 * be revoked (409 conflict; rotate it instead). A revocation or rotation is effective at
 * once in this process and within VOEPY_API_AUTH_CACHE_MS in the others (auth.c).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/http_server.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define SCOPES_MAX         16
#define EXPIRES_MAX        (10LL * 366 * 86400) /* ten years, in seconds */
#define GRACE_MAX          86400

static const struct jfield create_fields[] = {
    {.name = "name", .type = JF_STRING, .flags = JF_NULLABLE, .min = 0, .max = 200},
    {.name = "scopes", .type = JF_ARRAY, .flags = JF_REQUIRED, .min = 1, .max = SCOPES_MAX},
    {.name = "expires_in_secs",
     .type = JF_INT,
     .flags = JF_NULLABLE,
     .min = 60,
     .max = EXPIRES_MAX},
};

static const struct jfield rotate_fields[] = {
    {.name = "grace_secs", .type = JF_INT, .flags = JF_NULLABLE, .min = 0, .max = GRACE_MAX},
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* One scope of the body: a string (400), known (422), held by the calling key (403). */
static int scope_ok(struct api_req *r, size_t i, const json_t *v)
{
    char field[32];
    snprintf(field, sizeof(field), "scopes[%zu]", i);
    if (!json_is_string(v))
        return reply_fail(r, VP_E_INVALID_REQUEST, field, "%s must be a string.", field);
    const char *s = json_string_value(v);
    if (!apikey_scope_known(s))
        return reply_fail(r, VP_E_INVALID_PARAMETER, field,
                          "%s must be a scope such as calls:read or calls:write, or \"*\".", field);
    if (!apikey_scope_held(r->scopes, s))
        return reply_fail(r, VP_E_INSUFFICIENT_SCOPE, field,
                          "This API key cannot grant the scope %s: it does not hold it.", s);
    return 0;
}

/* The body's scopes, checked, as a PostgreSQL text[] literal in the arena. */
static int scopes_param(struct api_req *r, const char **out)
{
    const json_t *scopes = json_object_get(r->body, "scopes");
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '{');
    size_t i;
    const json_t *v;
    json_array_foreach(scopes, i, v)
    {
        int err = scope_ok(r, i, v);
        if (err) {
            buf_free(&b);
            return err;
        }
        buf_printf(&b, "%s\"%s\"", i ? "," : "", json_string_value(v));
    }
    buf_putc(&b, '}');
    *out = http_request_strdup(r->http, b.data);
    buf_free(&b);
    return 0;
}

/* The calling key's scopes as a text[] literal (names never need quoting). */
static const char *held_param(struct api_req *r)
{
    char *s = input_printf(r, "{%s}", r->scopes ? r->scopes : "");
    for (char *p = s; *p; p++)
        if (*p == ' ')
            *p = ',';
    return s;
}

/* A fresh key in r->data; fills params[0] (hash) and params[1] (prefix). */
static void new_key(struct api_req *r, const char **params)
{
    char *key = http_request_alloc(r->http, APIKEY_BUF);
    char *hash = http_request_alloc(r->http, CRYPTO_SHA256_HEX_LEN);
    apikey_new(key);
    apikey_hash(key, hash);
    r->data = key;
    params[0] = hash;
    params[1] = input_printf(r, "%.*s", APIKEY_SHOWN_LEN, key);
}

/*
 * After create or rotate: the first answer gets the plaintext as its last member; a
 * replay is sent as stored ("key": null). The key is wiped from the arena and from the
 * body buffer once sent.
 */
static void key_made_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    char key[APIKEY_BUF];
    memcpy(key, r->data, APIKEY_BUF);
    explicit_bzero(r->data, APIKEY_BUF);
    if (reply_pg_ok(r, status, res)) {
        if (input_param(r, 0)[0])
            auth_forget_key(r->api, input_param(r, 0)); /* rotate: the old key changed */
        const char *row = pg_get(res, 0, "http_body");
        size_t n = strlen(row);
        if (reply_pg_replayed(res) || n < 2 || row[n - 1] != '}') {
            reply_pg_row(r, res);
        } else {
            char *body = vp_asprintf("%.*s,\"key\":\"%s\"}", (int)(n - 1), row, key);
            size_t len = strlen(body);
            reply_send(r, atoi(pg_get(res, 0, "http_status")), body, len);
            explicit_bzero(body, len);
            free(body);
        }
    }
    explicit_bzero(key, sizeof(key));
}

void keys_create(struct api_req *r)
{
    const char *scopes;
    if (input_body(r, create_fields, NFIELDS(create_fields), false) || scopes_param(r, &scopes))
        return;
    long long expires = vjson_int(r->body, "expires_in_secs", -1);
    const char *params[9] = {r->tenant_id, vjson_str(r->body, "name"), scopes,
                             expires < 0 ? NULL : input_printf(r, "%lld", expires)};
    new_key(r, params + 4);
    input_idem_params(r, params + 6);
    reply_query(r, "SELECT * FROM api_key_create($1, $2, $3::text[], $4::int, $5, $6, $7, $8, $9)",
                9, params, key_made_cb);
}

void keys_list(struct api_req *r)
{
    const char *cursor;
    char limit[16];
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, cursor, limit};
    reply_query(r, "SELECT * FROM api_keys_list($1, $2, $3::int)", 3, params, NULL);
}

void keys_get(struct api_req *r)
{
    const char *id = input_id(r, "key", "API key");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_key_get($1, $2)", 2, params, NULL);
}

void keys_rotate(struct api_req *r)
{
    const char *id = input_id(r, "key", "API key");
    if (!id || input_body(r, rotate_fields, NFIELDS(rotate_fields), true))
        return;
    const char *params[9] = {r->tenant_id, id, held_param(r),
                             input_printf(r, "%lld", vjson_int(r->body, "grace_secs", 0))};
    new_key(r, params + 4);
    input_idem_params(r, params + 6);
    reply_query(r, "SELECT * FROM api_key_rotate($1, $2, $3::text[], $4::int, $5, $6, $7, $8, $9)",
                9, params, key_made_cb);
}

static void revoked_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    auth_forget_key(r->api, input_param(r, 0));
    reply_pg_row(r, res);
}

void keys_revoke(struct api_req *r)
{
    const char *id = input_id(r, "key", "API key");
    if (!id)
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_key_revoke($1, $2, $3, $4, $5)", 5, params, revoked_cb);
}

void keys_whoami(struct api_req *r)
{
    const char *params[] = {r->tenant_id, r->key_id};
    reply_query(r, "SELECT * FROM api_whoami($1, $2)", 2, params, NULL);
}
