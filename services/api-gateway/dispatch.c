/*
 * dispatch.c - the route table and the order of checks every request goes through:
 *
 *   route (404, 405 with Allow) -> auth (401/403) -> Content-Type of a body (415)
 *   -> Idempotency-Key shape and request hash (writes) -> the route's handler.
 *
 * Body size (413), header size (431), timeouts (408) and malformed HTTP (400) are the
 * http server's (libcommon/include/voepy/http_server.h) and never reach this file.
 */
#include "api.h"

#include <string.h>
#include <strings.h>

#include "voepy/http_server.h"

#define T ROUTER_AUTH_TENANT
#define A ROUTER_AUTH_ADMIN
#define B ROUTER_BODY

/* Literal routes before parameter routes of the same shape (".../available" first). */
static const struct router_route routes[] = {
    {"POST", "/admin/v1/tenants", admin_tenant_create, A, B},
    {"GET", "/admin/v1/tenants/{id}", admin_tenant_get, A, 0},
    {"PATCH", "/admin/v1/tenants/{id}", admin_tenant_update, A, B},
    {"POST", "/admin/v1/tenants/{id}/credit", admin_tenant_credit, A, B},
    {"POST", "/admin/v1/routes", admin_route_create, A, B},
    {"GET", "/admin/v1/routes", admin_route_list, A, 0},
    {"POST", "/admin/v1/numbers", admin_numbers_add, A, B},
    {"POST", "/admin/v1/rates", admin_rate_create, A, B},

    {"GET", "/v1/phone_numbers/available", numbers_available, T, 0},
    {"POST", "/v1/phone_numbers", numbers_buy, T, B},
    {"GET", "/v1/phone_numbers", numbers_list, T, 0},
    {"GET", "/v1/phone_numbers/{id}", numbers_get, T, 0},
    {"DELETE", "/v1/phone_numbers/{id}", numbers_release, T, 0},

    {"POST", "/v1/calls", calls_create, T, B},
    {"GET", "/v1/calls", calls_list, T, 0},
    {"GET", "/v1/calls/{id}", calls_get, T, 0},
    {"POST", "/v1/calls/{id}/actions/hangup", calls_hangup, T, B},

    {"POST", "/v1/webhooks", webhooks_create, T, B},
    {"GET", "/v1/webhooks", webhooks_list, T, 0},
    {"GET", "/v1/webhooks/{id}", webhooks_get, T, 0},
    {"DELETE", "/v1/webhooks/{id}", webhooks_delete, T, 0},
};

/* A body, when there is one, must be declared JSON ("application/json; charset=utf-8" too). */
static bool content_type_ok(const struct api_req *r)
{
    size_t len = 0;
    http_request_body(r->http, &len);
    if (!(r->match.route->flags & ROUTER_BODY) || len == 0)
        return true;
    const char *ct = http_request_header(r->http, "Content-Type");
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* After authentication: the remaining checks, then the handler. */
static void run_handler(struct api_req *r)
{
    if (!content_type_ok(r)) {
        reply_fail(r, VP_E_UNSUPPORTED_MEDIA_TYPE, "Content-Type",
                   "Request bodies must be sent as Content-Type: application/json.");
        return;
    }
    if (strcmp(r->method, "GET") != 0 && input_idem_prepare(r))
        return;
    r->match.route->handler(r);
}

void api_dispatch_cb(struct http_request *hr, void *arg)
{
    struct api_req *r = http_request_alloc(hr, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->http = hr;
    r->api = arg;
    r->start_ns = uv_hrtime();
    r->method = http_request_method(hr);
    r->path = http_request_path(hr);
    int err =
        router_match(routes, sizeof(routes) / sizeof(routes[0]), r->method, r->path, &r->match);
    if (err == VP_E_METHOD_NOT_ALLOWED) {
        reply_header(r, "Allow", r->match.allow);
        reply_fail(r, err, NULL, "%s is not allowed here; use %s.", r->method, r->match.allow);
        return;
    }
    if (err) {
        reply_fail(r, VP_E_NOT_FOUND, NULL, "No such path.");
        return;
    }
    auth_request(r, run_handler);
}
