/*
 * auth.c - who is calling: a tenant's API key on /v1, the operator's token on /admin/v1.
 *
 * Tenant keys are checked for shape and checksum first (apikey.h), so random strings
 * never reach the database; then looked up by SHA-256 (api_auth in 0010_api.sql): an
 * unknown or revoked key is 401. The admin token is compared as SHA-256 digests with
 * crypto_memcmp, so neither its content nor its length leaks through timing.
 */
#include "api.h"

#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "voepy/http_server.h"
#include "voepy/log.h"

void auth_admin_init(struct api *api, const char *admin_token)
{
    crypto_sha256(admin_token, strlen(admin_token), api->admin_token_hash);
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
    r->auth_next(r);
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
    const char *tenant = pg_get(res, 0, "tenant_id");
    const char *tstatus = pg_get(res, 0, "tenant_status");
    if (!tenant) {
        unauthorized(r, "The API key is not valid (unknown or revoked).");
        return;
    }
    r->tenant_id = http_request_strdup(r->http, tenant);
    if (!tstatus || strcmp(tstatus, "active") != 0) {
        reply_fail(r, VP_E_FORBIDDEN, NULL, "This account is suspended.");
        return;
    }
    r->auth_next(r);
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
    const char *params[] = {hash};
    int err = pg_exec(r->api->pg, "SELECT tenant_id, tenant_status FROM api_auth($1)", 1, params,
                      tenant_cb, r);
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
