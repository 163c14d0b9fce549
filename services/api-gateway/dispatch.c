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
#define N ROUTER_AUTH_NONE
#define B ROUTER_BODY
#define R ROUTER_BODY_RAW

/*
 * Every route of the API: method, path, handler, who may call it, whether it takes a
 * body, and for tenant routes the scope the key must hold (docs/api.md lists the scopes).
 * Literal routes before parameter routes of the same shape (".../available" first).
 * proto/openapi.yaml describes the same table; tests/integration/test_api_contract.py
 * checks that the two agree.
 */
static const struct router_route routes[] = {
    {"POST", "/admin/v1/tenants", admin_tenant_create, A, B, NULL},
    {"GET", "/admin/v1/tenants/{id}", admin_tenant_get, A, 0, NULL},
    {"PATCH", "/admin/v1/tenants/{id}", admin_tenant_update, A, B, NULL},
    {"POST", "/admin/v1/tenants/{id}/credit", admin_tenant_credit, A, B, NULL},
    {"POST", "/admin/v1/routes", admin_route_create, A, B, NULL},
    {"GET", "/admin/v1/routes", admin_route_list, A, 0, NULL},
    {"PATCH", "/admin/v1/routes/{id}", admin_route_update, A, B, NULL},
    {"POST", "/admin/v1/numbers", admin_numbers_add, A, B, NULL},
    {"POST", "/admin/v1/rates", admin_rate_create, A, B, NULL},
    {"POST", "/admin/v1/rates/import", admin_rates_import, A, B | R, NULL}, /* text/csv */
    {"GET", "/admin/v1/rates", admin_rates_list, A, 0, NULL},
    {"GET", "/admin/v1/rates/lookup", admin_rates_lookup, A, 0, NULL},
    {"GET", "/admin/v1/top_ups", admin_top_ups_list, A, 0, NULL},
    {"POST", "/admin/v1/top_ups/{id}/approve", admin_top_up_approve, A, B, NULL},
    {"POST", "/admin/v1/top_ups/{id}/decline", admin_top_up_decline, A, B, NULL},

    {"GET", "/v1/openapi.yaml", openapi_get, N, 0, NULL},
    {"GET", "/v1/whoami", keys_whoami, T, 0, NULL},

    {"POST", "/v1/api_keys", keys_create, T, B, "keys:write"},
    {"GET", "/v1/api_keys", keys_list, T, 0, "keys:read"},
    {"GET", "/v1/api_keys/{id}", keys_get, T, 0, "keys:read"},
    {"POST", "/v1/api_keys/{id}/rotate", keys_rotate, T, B, "keys:write"},
    {"DELETE", "/v1/api_keys/{id}", keys_revoke, T, 0, "keys:write"},

    {"GET", "/v1/phone_numbers/available", numbers_available, T, 0, "numbers:read"},
    {"POST", "/v1/phone_numbers", numbers_buy, T, B, "numbers:write"},
    {"GET", "/v1/phone_numbers", numbers_list, T, 0, "numbers:read"},
    {"GET", "/v1/phone_numbers/{id}", numbers_get, T, 0, "numbers:read"},
    {"PATCH", "/v1/phone_numbers/{id}", numbers_update, T, B, "numbers:write"},
    {"DELETE", "/v1/phone_numbers/{id}", numbers_release, T, 0, "numbers:write"},

    {"POST", "/v1/calls", calls_create, T, B, "calls:write"},
    {"GET", "/v1/calls", calls_list, T, 0, "calls:read"},
    {"GET", "/v1/calls/{id}", calls_get, T, 0, "calls:read"},
    {"POST", "/v1/calls/{id}/actions/hangup", calls_hangup, T, B, "calls:write"},
    {"POST", "/v1/calls/{id}/actions/{verb}", calls_action, T, B, "calls:write"},
    {"GET", "/v1/calls/{id}/streamings", calls_streamings, T, 0, "calls:read"},
    {"GET", "/v1/calls/{id}/transcription", calls_transcription, T, 0, "calls:read"},
    {"GET", "/v1/calls/{id}/amd", calls_amd, T, 0, "calls:read"},
    {"GET", "/v1/calls/{id}/events", calls_events, T, 0, "calls:read"},

    {"POST", "/v1/opt_outs", opt_outs_create, T, B, "calls:write"},
    {"GET", "/v1/opt_outs", opt_outs_list, T, 0, "calls:read"},
    {"DELETE", "/v1/opt_outs/{id}", opt_outs_delete, T, 0, "calls:write"},

    {"GET", "/v1/recordings", recordings_list, T, 0, "recordings:read"},
    {"GET", "/v1/recordings/{id}", recordings_get, T, 0, "recordings:read"},
    {"GET", "/v1/recordings/{id}/download", recordings_download, T, 0, "recordings:read"},
    {"DELETE", "/v1/recordings/{id}", recordings_delete, T, 0, "recordings:write"},

    {"POST", "/v1/webhooks", webhooks_create, T, B, "webhooks:write"},
    {"GET", "/v1/webhooks", webhooks_list, T, 0, "webhooks:read"},
    {"POST", "/v1/webhooks/call_url_secret", webhooks_call_url_secret, T, B, "webhooks:write"},
    {"GET", "/v1/webhooks/{id}", webhooks_get, T, 0, "webhooks:read"},
    {"PATCH", "/v1/webhooks/{id}", webhooks_update, T, B, "webhooks:write"},
    {"DELETE", "/v1/webhooks/{id}", webhooks_delete, T, 0, "webhooks:write"},
    {"POST", "/v1/webhooks/{id}/rotate_secret", webhooks_rotate_secret, T, B, "webhooks:write"},
    {"GET", "/v1/webhooks/{id}/deliveries", webhook_log_list, T, 0, "webhooks:read"},
    {"POST", "/v1/webhooks/{id}/deliveries/replay", webhook_log_replay, T, B, "webhooks:write"},
    {"GET", "/v1/webhooks/{id}/deliveries/{delivery_id}", webhook_log_get, T, 0, "webhooks:read"},
    {"POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", webhook_log_retry, T, B,
     "webhooks:write"},

    {"GET", "/v1/billing/balance", billing_balance, T, 0, "billing:read"},
    {"GET", "/v1/billing/ledger_entries", billing_ledger_entries, T, 0, "billing:read"},
    {"GET", "/v1/billing/usage", billing_usage, T, 0, "billing:read"},
    {"GET", "/v1/billing/invoices", billing_invoices_list, T, 0, "billing:read"},
    {"GET", "/v1/billing/invoices/{id}", billing_invoice_get, T, 0, "billing:read"},
    {"GET", "/v1/billing/invoices/{id}/pdf", billing_invoice_pdf, T, 0, "billing:read"},
    {"GET", "/v1/billing/invoices/{id}/csv", billing_invoice_csv, T, 0, "billing:read"},
    {"POST", "/v1/billing/payment_methods", billing_payment_method_create, T, B, "billing:write"},
    {"GET", "/v1/billing/payment_methods", billing_payment_methods_list, T, 0, "billing:read"},
    {"DELETE", "/v1/billing/payment_methods/{id}", billing_payment_method_delete, T, 0,
     "billing:write"},
    {"POST", "/v1/billing/top_ups", billing_top_up_create, T, B, "billing:write"},
    {"GET", "/v1/billing/top_ups", billing_top_ups_list, T, 0, "billing:read"},
    {"GET", "/v1/billing/top_ups/{id}", billing_top_up_get, T, 0, "billing:read"},
    {"GET", "/v1/billing/auto_recharge", billing_auto_recharge_get, T, 0, "billing:read"},
    {"PUT", "/v1/billing/auto_recharge", billing_auto_recharge_put, T, B, "billing:write"},
    {"GET", "/v1/billing/voice", billing_voice_get, T, 0, "billing:read"},
    {"POST", "/v1/billing/voice/subscribe", billing_voice_subscribe, T, B, "billing:write"},
    {"POST", "/v1/billing/voice/cancel", billing_voice_cancel, T, 0, "billing:write"},
};

/* A body, when there is one, must be declared JSON ("application/json; charset=utf-8" too). */
static bool content_type_ok(const struct api_req *r)
{
    size_t len = 0;
    http_request_body(r->http, &len);
    if (!(r->match.route->flags & ROUTER_BODY) || len == 0)
        return true;
    if (r->match.route->flags & ROUTER_BODY_RAW)
        return true; /* the handler checks its own type (admin_rates.c: text/csv, 415) */
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
    /* A signed recording download (recordings.c) is its own authorisation: no API key. */
    if (r->match.route->handler == recordings_download && recordings_download_signed(r))
        run_handler(r);
    else
        auth_request(r, run_handler);
}
