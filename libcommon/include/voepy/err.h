/*
 * err.h - voepy's one error space.
 *
 * Every fallible function returns 0 or a negative VP_E_* value; async callbacks receive
 * the same as `int status`. One table gives each error its API code (the spec's
 * snake_case names), the HTTP status it maps to and a default message, so logs, HTTP
 * responses and tests all speak the same names.
 *
 * Errors that reach a client carry detail in struct vp_error: which field, and a message
 * naming it. Render it with vp_error_json() into the spec's envelope
 *   {"error": {"code": "...", "message": "...", "field": "..."}}
 */
#ifndef VOEPY_ERR_H
#define VOEPY_ERR_H

#include <stddef.h>

/* X(NAME, number, "api_code", http_status, "default message") */
#define VP_ERROR_TABLE(X)                                                                       \
    X(OK, 0, "ok", 200, "OK.")                                                                  \
    /* client errors, named by the product contract */                                          \
    X(INVALID_REQUEST, 1, "invalid_request", 400, "The request is malformed.")                  \
    X(UNAUTHORIZED, 2, "unauthorized", 401, "Missing or invalid API key.")                      \
    X(BALANCE_INSUFFICIENT, 3, "balance_insufficient", 402,                                     \
      "Tenant balance is exhausted; top up to place new calls.")                                \
    X(FORBIDDEN, 4, "forbidden", 403, "The key may not perform this operation.")                \
    X(FROM_NUMBER_NOT_OWNED, 5, "from_number_not_owned", 403,                                   \
      "The from number is not an active number on this account.")                               \
    X(COUNTRY_BLOCKED, 6, "country_blocked", 403, "The destination country is blocked.")        \
    X(COUNTRY_NOT_ALLOWED, 7, "country_not_allowed", 403,                                       \
      "The destination country is not on the allow list.")                                      \
    X(PREFIX_BLOCKED, 8, "prefix_blocked", 403, "The destination prefix is blocked.")           \
    X(NOT_FOUND, 9, "not_found", 404, "No such resource.")                                      \
    X(METHOD_NOT_ALLOWED, 10, "method_not_allowed", 405,                                        \
      "The method is not allowed on this path.")                                                \
    X(CALL_ALREADY_ENDED, 11, "call_already_ended", 409, "The call has already ended.")         \
    X(CALL_NOT_IN_REQUIRED_STATE, 12, "call_not_in_required_state", 409,                        \
      "The call is not in a state that allows this action.")                                    \
    X(RECORDING_NOT_READY, 13, "recording_not_ready", 409, "The recording is not available.")   \
    X(IDEMPOTENCY_KEY_IN_USE, 14, "idempotency_key_in_use", 409,                                \
      "A request with this Idempotency-Key is still being processed.")                          \
    X(NUMBER_NOT_AVAILABLE, 15, "number_not_available", 409,                                    \
      "The phone number is not available for purchase.")                                        \
    X(CONFLICT, 16, "conflict", 409, "The request conflicts with the current state.")           \
    X(PAYLOAD_TOO_LARGE, 17, "payload_too_large", 413, "The request body is too large.")        \
    X(UNSUPPORTED_MEDIA_TYPE, 18, "unsupported_media_type", 415,                                \
      "Request bodies must be application/json.")                                               \
    X(INVALID_PARAMETER, 19, "invalid_parameter", 422, "A parameter has an invalid value.")     \
    X(IDEMPOTENCY_KEY_REUSED, 20, "idempotency_key_reused", 422,                                \
      "This Idempotency-Key was used with a different request.")                                \
    X(RATE_LIMITED, 21, "rate_limited", 429, "Too many requests.")                              \
    X(BLOCKED_DESTINATION, 22, "blocked_destination", 429,                                      \
      "The destination failed repeatedly and is blocked for a while.")                          \
    X(OPT_OUT, 23, "opt_out", 451, "The destination has opted out of calls from this account.") \
    X(REQUEST_TIMEOUT, 24, "request_timeout", 408, "The request took too long to arrive.")      \
    X(HEADERS_TOO_LARGE, 25, "headers_too_large", 431, "The request headers are too large.")    \
    X(INSUFFICIENT_SCOPE, 26, "insufficient_scope", 403,                                        \
      "The API key lacks the scope this operation needs.")                                      \
    X(NOT_IMPLEMENTED, 27, "not_implemented", 501,                                              \
      "This operation is not carried out by this platform yet.")                                \
    /* server and internal errors */                                                            \
    X(INTERNAL, 40, "internal_error", 500, "Something went wrong on our side.")                 \
    X(UPSTREAM, 41, "upstream_error", 502, "Carrier-side failure.")                             \
    X(UNAVAILABLE, 42, "service_unavailable", 503, "The service is temporarily unavailable.")   \
    X(TIMEOUT, 43, "timeout", 504, "The operation timed out.")                                  \
    X(IO, 44, "io_error", 500, "An I/O operation failed.")                                      \
    X(CLOSED, 45, "closed", 503, "The connection was closed.")                                  \
    X(DB, 46, "database_error", 500, "The database refused the operation.")                     \
    X(PARSE, 47, "parse_error", 400, "The input could not be parsed.")                          \
    X(OVERFLOW, 48, "overflow", 500, "A value or buffer exceeded its limit.")                   \
    X(CANCELED, 49, "canceled", 500, "The operation was canceled.")                             \
    X(CONFIG, 50, "config_error", 500, "The configuration is invalid.")

enum vp_err {
#define VP_ERR_ENUM(name, num, code, status, msg) VP_E_##name = -(num),
    VP_ERROR_TABLE(VP_ERR_ENUM)
#undef VP_ERR_ENUM
};
#define VP_OK VP_E_OK

/* The API code ("balance_insufficient"); "internal_error" for values not in the table. */
const char *vp_err_code(int err);
/* The HTTP status for the error (500 for values not in the table). */
int vp_err_http_status(int err);
/* The default human message. */
const char *vp_err_message(int err);
/* Reverse lookup by API code; VP_E_INTERNAL when the code is unknown. */
int vp_err_from_code(const char *code);

/* Detail of an error that reaches a client. */
struct vp_error {
    int err;           /* a VP_E_* value */
    char field[64];    /* offending field ("to", "legs[0].id"), empty when none */
    char message[256]; /* sentence for the client */
};

/* Fill *e; a NULL fmt uses the table's default message. Returns err for tail calls. */
int vp_error_set(struct vp_error *e, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The JSON envelope; caller frees. */
char *vp_error_json(const struct vp_error *e);

#endif
