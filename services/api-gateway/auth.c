/*
 * auth.c - who is calling: a tenant's API key on /v1, the operator's token on /admin/v1;
 * and whether the key may call the route (its scopes).
 *
 * Tenant keys are checked for shape and checksum first (apikey.h), so random strings
 * never reach the database; then looked up by SHA-256 (api_auth_key in 0011_api_keys.sql),
 * through the in-process cache of authcache.h when VOEPY_API_AUTH_CACHE_MS > 0: an
 * unknown, revoked or expired key is 401, a suspended tenant 403. Then the tenant's
 * per-second request limit (ratelimit.c, 429), then the route's scope (403
 * insufficient_scope naming it), then the handler. The admin token is compared as SHA-256
 * digests with crypto_memcmp, so neither its content nor its length leaks through timing.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "authcache.h"
#include "voepy/http_server.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

#define AUTH_CACHE_SLOTS 2048

void auth_admin_init(struct api *api, const char *admin_token)
{
    crypto_sha256(admin_token, strlen(admin_token), api->admin_token_hash);
}

void auth_cache_init(struct api *api, long ttl_ms)
{
    api->auth_cache = NULL;
    if (ttl_ms > 0)
        authcache_create(&api->auth_cache, AUTH_CACHE_SLOTS, (uint64_t)ttl_ms);
}

void auth_cache_free(struct api *api)
{
    authcache_free(api->auth_cache);
    api->auth_cache = NULL;
}

void auth_forget_key(struct api *api, const char *key_id)
{
    if (api->auth_cache && key_id)
        authcache_forget_key(api->auth_cache, key_id);
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer_token(const struct api_req *r)
{
    const char *h = http_request_header(r->http, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

static void unauthorized(struct api_req *r, const char *why)
{
    reply_header(r, "WWW-Authenticate", "Bearer realm=\"voepy\"");
    reply_fail(r, VP_E_UNAUTHORIZED, NULL, "%s", why);
}

static void auth_admin(struct api_req *r)
{
    const char *token = bearer_token(r);
    uint8_t h[CRYPTO_SHA256_LEN];
    if (!token) {
        unauthorized(r, "Send the operator token as Authorization: Bearer <token>.");
        return;
    }
    crypto_sha256(token, strlen(token), h);
    if (crypto_memcmp(h, r->api->admin_token_hash, sizeof(h)) != 0) {
        unauthorized(r, "The operator token is not valid.");
        return;
    }
    /* An operator write may suspend a tenant or change its limits: forget what we knew. */
    if (r->api->auth_cache && strcmp(r->method, "GET") != 0)
        authcache_clear(r->api->auth_cache);
    r->auth_next(r);
}

/* Last step before the handler: the key must hold the route's scope. */
static void scope_check(struct api_req *r)
{
    const char *scope = r->match.route->scope;
    if (scope && !apikey_scope_held(r->scopes, scope)) {
        reply_fail(r, VP_E_INSUFFICIENT_SCOPE, NULL,
                   "This API key lacks the scope %s, which %s %s needs.", scope, r->method,
                   r->match.route->pattern);
        return;
    }
    r->auth_next(r);
}

/* The key is known: remember who is calling, then the tenant's state, limit and scope. */
static void authenticated(struct api_req *r, const struct authcache_entry *e)
{
    r->tenant_id = http_request_strdup(r->http, e->tenant_id);
    r->key_id = http_request_strdup(r->http, e->key_id);
    r->scopes = http_request_strdup(r->http, e->scopes);
    r->rate_api_per_sec = e->api_requests_per_second;
    r->rate_calls_per_min = e->calls_per_minute;
    if (!e->tenant_active) {
        reply_fail(r, VP_E_FORBIDDEN, NULL, "This account is suspended.");
        return;
    }
    ratelimit_request(r, scope_check);
}

static bool copy_field(char *dst, size_t size, const char *src)
{
    if (!src || strlen(src) >= size)
        return false;
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

/* The row of api_auth_key as a cache entry; false when a value does not fit. */
static bool entry_from_row(const struct pg_result *res, const char *hash, struct authcache_entry *e)
{
    memset(e, 0, sizeof(*e));
    const char *status = pg_get(res, 0, "tenant_status");
    const char *expires = pg_get(res, 0, "key_expires_ms");
    e->tenant_active = status && strcmp(status, "active") == 0;
    e->api_requests_per_second = atol(pg_get(res, 0, "api_requests_per_second"));
    e->calls_per_minute = atol(pg_get(res, 0, "calls_per_minute"));
    e->key_expires_ms = expires ? atoll(expires) : 0;
    const char *scopes = pg_get(res, 0, "scopes");
    return copy_field(e->key_hash, sizeof(e->key_hash), hash) &&
           copy_field(e->tenant_id, sizeof(e->tenant_id), pg_get(res, 0, "tenant_id")) &&
           copy_field(e->key_id, sizeof(e->key_id), pg_get(res, 0, "key_id")) &&
           copy_field(e->scopes, sizeof(e->scopes), scopes ? scopes : "");
}

static void tenant_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (status != 0) {
        log_warn("api.auth_db", "key lookup failed: %s",
                 status == VP_E_DB ? pg_result_message(res) : vp_err_message(status));
        reply_fail(r, VP_E_UNAVAILABLE, NULL, "Keys cannot be checked right now; retry shortly.");
        return;
    }
    if (pg_ntuples(res) < 1 || !pg_get(res, 0, "tenant_id")) {
        unauthorized(r, "The API key is not valid (unknown, revoked or expired).");
        return;
    }
    struct authcache_entry e;
    if (!entry_from_row(res, r->data, &e)) {
        log_error("api.auth_row", "a key lookup returned values too long to keep");
        reply_fail(r, VP_E_INTERNAL, NULL, NULL);
        return;
    }
    r->data = NULL;
    if (r->api->auth_cache)
        authcache_put(r->api->auth_cache, &e, vtime_mono_ms());
    authenticated(r, &e);
}

static void auth_tenant(struct api_req *r)
{
    const char *token = bearer_token(r);
    if (!token) {
        unauthorized(r, "Send your API key as Authorization: Bearer voepy_live_...");
        return;
    }
    if (!apikey_well_formed(token)) {
        unauthorized(r, "The API key is malformed.");
        return;
    }
    char *hash = http_request_alloc(r->http, CRYPTO_SHA256_HEX_LEN);
    apikey_hash(token, hash);
    struct authcache_entry e;
    if (r->api->auth_cache &&
        authcache_get(r->api->auth_cache, hash, vtime_mono_ms(), vtime_now_ms(), &e)) {
        authenticated(r, &e);
        return;
    }
    r->data = hash; /* for tenant_cb; handlers start with r->data NULL again */
    const char *params[] = {hash};
    int err = reply_exec(r->api, "SELECT * FROM api_auth_key($1)", 1, params, tenant_cb, r);
    if (err)
        reply_fail(r, VP_E_UNAVAILABLE, NULL, "The database is busy; retry shortly.");
}

void auth_request(struct api_req *r, void (*next)(struct api_req *r))
{
    r->auth_next = next;
    if (r->match.route->auth == ROUTER_AUTH_NONE)
        next(r);
    else if (r->match.route->auth == ROUTER_AUTH_ADMIN)
        auth_admin(r);
    else
        auth_tenant(r);
}
