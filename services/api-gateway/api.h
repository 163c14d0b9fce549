/*
 * api.h - what the api-gateway's files share: the gateway context, the per-request
 * state, and the helpers every handler uses.
 *
 * A request goes: dispatch (route, method, content type, Idempotency-Key) -> auth
 * (tenant key or admin token) -> the route's handler (validate, one SQL function) ->
 * reply (status and body from SQL, or an error envelope). Every path ends in exactly one
 * reply_*() call, which logs the request, counts it and answers it.
 *
 * Convention: helpers that can refuse the request (input_*, reply_pg_ok) answer it
 * themselves and return non-zero (false); the handler then just returns.
 *
 * Memory: struct api_req and the strings hung on it live in the request's arena
 * (http_request_alloc) and are freed by the http server once the answer is sent; the
 * parsed body (json_t) is released by reply_*() before that.
 */
#ifndef VOEPY_GW_API_H
#define VOEPY_GW_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "router.h"
#include "voepy/crypto.h"
#include "voepy/json.h"
#include "voepy/pg.h"
#include "voepy/redis.h"

struct ccnodes;
struct http_request;
struct outbox;
struct redis;
struct authcache;
struct url_policy;

/* The gateway: long-lived, owned by main.c. */
struct api {
    uv_loop_t *loop;
    struct pg_pool *pg;
    struct redis *redis;
    struct outbox *outbox;
    uint8_t admin_token_hash[CRYPTO_SHA256_LEN]; /* compared in constant time */
    struct url_policy *url_policy;               /* VOEPY_URL_* (url_guard.h), owned by main.c */
    struct ccnodes *ccnodes;                     /* call-control nodes and their verbs */
    const char *recordings_dir;                  /* VOEPY_RECORDINGS_DIR (recordings.c) */
    /* Signed download_url (recordings.c): HMAC key, public base URL ("" = none), lifetime. */
    uint8_t recording_url_key[CRYPTO_HMAC_SHA256_LEN];
    const char *public_url;
    size_t public_url_len; /* without trailing slashes */
    long recording_url_ttl;
    /* Key lookups (auth.c, authcache.h); NULL when VOEPY_API_AUTH_CACHE_MS=0. */
    struct authcache *auth_cache;
};

/* One request, from dispatch to reply. */
struct api_req {
    struct http_request *http;
    struct api *api;
    struct router_match match;
    const char *method;
    const char *path;
    const char *tenant_id;                /* set by auth for tenant routes; NULL for admin routes */
    json_t *body;                         /* the parsed body (input_body), released by reply */
    const char *idem_key;                 /* Idempotency-Key, or NULL */
    char req_hash[CRYPTO_SHA256_HEX_LEN]; /* SHA-256 of method, path and body */
    uint64_t start_ns;
    void (*auth_next)(struct api_req *r); /* where auth_request() continues */
    void *data;                           /* the handler's own state, in the arena */
    /* Also set by auth for tenant routes (NULL / 0 otherwise): the calling key's id, its
     * scopes (space-separated, apikey.h) and the tenant's rate limits (ratelimit.c). */
    const char *key_id;
    const char *scopes;
    long rate_api_per_sec;
    long rate_calls_per_min;
};

/* ---- dispatch.c ---- */
/* The http_server handler; arg is the struct api. */
void api_dispatch_cb(struct http_request *hr, void *arg);

/* ---- auth.c ---- */
/* Hash the admin token once at start (the token itself is not kept). */
void auth_admin_init(struct api *api, const char *admin_token);
/*
 * Authenticate r for its route, then call next(r). On failure r is answered (401, 403
 * for a suspended tenant, 503 when the database is away) and next is not called.
 */
void auth_request(struct api_req *r, void (*next)(struct api_req *r));
/*
 * The cache of key lookups (authcache.h): ttl_ms from VOEPY_API_AUTH_CACHE_MS, 0 = none.
 * auth_cache_free after the loop ended. auth_forget_key: this process revoked or rotated
 * key_id, so its cached lookup must go (other processes see it within ttl_ms).
 */
void auth_cache_init(struct api *api, long ttl_ms);
void auth_cache_free(struct api *api);
void auth_forget_key(struct api *api, const char *key_id);

/* ---- ratelimit.c ---- */
/*
 * Count r against its tenant's API requests per second (auth.c calls it for every
 * authenticated tenant request) or calls per minute (calls_create, once the body is
 * valid); then next(r), or r is answered 429 with Retry-After. Fails open without Redis.
 */
void ratelimit_request(struct api_req *r, void (*next)(struct api_req *r));
void ratelimit_calls(struct api_req *r, void (*next)(struct api_req *r));

/* ---- languages.c ---- */
/*
 * transcription_start: next(r) when an alive media-fork node advertises a model serving
 * language (lang.h), or when none is known (Redis down, no node, a node advertising
 * nothing: media-fork refuses then); otherwise r is answered 422 invalid_parameter on
 * field language, naming the languages available.
 */
void languages_check(struct api_req *r, const char *language, void (*next)(struct api_req *r));

/* ---- input.c ---- */
/* Path parameter i of the route ("{id}"). */
const char *input_param(const struct api_req *r, size_t i);
/* Path parameter 0 when it is a voepy id of kind; else answers 404 and returns NULL. */
const char *input_id(struct api_req *r, const char *kind, const char *what);
/* Parse the body as one JSON object and validate it; on error answer and return it. */
int input_body(struct api_req *r, const struct jfield *fields, size_t n, bool allow_empty);
/* The body, compact, in the arena (to pass to SQL as jsonb). */
const char *input_body_text(struct api_req *r);
/* A query parameter, or NULL; a present but empty value counts as absent. */
const char *input_query(struct api_req *r, const char *name);
/* ?limit= within 1..max (def when absent), as text into out[16]. */
int input_limit(struct api_req *r, long def, long max, char out[16]);
/* ?cursor= (opaque, checked for size and alphabet only); NULL when absent. */
int input_cursor(struct api_req *r, const char **cursor);
/* A query parameter that must be E.164 ("+" may arrive decoded as a space). */
int input_query_e164(struct api_req *r, const char *name, const char **out);
/*
 * A query parameter holding a date or date-time, or NULL: the "+" of a zone
 * ("...T12:00:00+05:30") sent unencoded arrives as a space and is put back.
 */
const char *input_query_zoned(struct api_req *r, const char *name);
/* A query parameter that must be an ISO-8601 date-time with a zone, as epoch ms text. */
int input_query_time(struct api_req *r, const char *name, const char **out);
/*
 * A URL a customer gives us (webhook, audio_url): http(s) that parses, and, when its host
 * is a literal address, not one the SSRF guard refuses (private targets only with
 * VOEPY_URL_ALLOW_PRIVATE). Names are resolved and checked again at fetch time by the
 * service that connects.
 */
int input_url_check(struct api_req *r, const char *field, const char *url);
/* The same for a media stream URL: ws:// or wss:// only. */
int input_ws_url_check(struct api_req *r, const char *field, const char *url);
/* Fill params[0..2] with the request path, Idempotency-Key and request hash. */
void input_idem_params(const struct api_req *r, const char **params);
/* Read and check the Idempotency-Key header and compute the request hash. */
int input_idem_prepare(struct api_req *r);
/* printf into the arena. */
char *input_printf(struct api_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- reply.c ---- */
/* Answer with a JSON body (status 204 sends none). body may be NULL for 204. */
void reply_send(struct api_req *r, int status, const char *body, size_t len);
/* Answer with a body of another media type (a recording's audio); body is copied. */
void reply_send_media(struct api_req *r, int status, const char *content_type, const char *body,
                      size_t len);
void reply_error(struct api_req *r, const struct vp_error *e);
/* Answer with err; a NULL fmt uses the error table's message. Returns err. */
int reply_fail(struct api_req *r, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Add a response header (before the answer). */
void reply_header(struct api_req *r, const char *name, const char *value);
/*
 * Run sql with text params; cb gets r as arg (NULL cb = reply_pg_cb). When the pool
 * refuses the query, r is answered with 503 and cb will not run.
 */
void reply_query(struct api_req *r, const char *sql, int nparams, const char *const *params,
                 pg_result_cb *cb);
/*
 * pg_exec of a literal SQL text, prepared once per connection (see reply.c); returns
 * pg_exec's result. Only for the fixed texts written in the gateway's code.
 */
int reply_exec(struct api *api, const char *sql, int nparams, const char *const *params,
               pg_result_cb *cb, void *arg);
/*
 * For custom pg callbacks: true when status is 0 and res holds a row; otherwise answers
 * r with the mapped error (domain errors as raised, database trouble as 500/503).
 */
bool reply_pg_ok(struct api_req *r, int status, const struct pg_result *res);
/* Answer with the row's http_status and http_body (and mark replays). */
void reply_pg_row(struct api_req *r, const struct pg_result *res);
/* The generic callback: reply_pg_ok, then reply_pg_row. */
void reply_pg_cb(int status, const struct pg_result *res, void *arg);
/* True when the row is an idempotent replay (column replayed = 't'). */
bool reply_pg_replayed(const struct pg_result *res);

/* ---- sweep.c ---- */
struct sweep;
/* Start forgetting expired idempotent answers every minute (sweep_stop before pg closes). */
struct sweep *sweep_start(uv_loop_t *loop, struct pg_pool *pg);
void sweep_stop(struct sweep *s);

/* ---- command.c ---- */
/*
 * For a handler's pg callback after its SQL committed: keep the row's http_status and
 * http_body, XADD msg (consumed) to stream, and answer once Redis confirmed or refused it.
 */
void command_send_then_answer(struct api_req *r, const struct pg_result *res, const char *stream,
                              json_t *msg);

/* ---- ccnodes.c: the alive call-control nodes and the verbs each carries out ---- */

/* One EVAL reading the alive members of voepy:nodes:{service} (as libcommon's nodes.c
 * counts them) with field of each one's registry hash: cb gets an array of id, value
 * pairs ("" for a node without the field). Returns redis_cmdv's result. */
int nodes_field_read(struct redis *redis, const char *service, const char *field,
                     redis_reply_cb *cb, void *arg);
/*
 * Start refreshing from the node registry (Redis, every CCNODES_REFRESH_MS) on loop; the
 * redis connection is borrowed and must outlive the cache (close it first).
 */
int ccnodes_create(struct ccnodes **cp, uv_loop_t *loop, struct redis *redis);
/*
 * The alive nodes that advertise verb, as a PostgreSQL text[] literal in r's arena ("{}"
 * when none, or when the cache could not be refreshed for longer than a node lives).
 */
const char *ccnodes_with_verb(struct ccnodes *c, struct api_req *r, const char *verb);
/* Stop refreshing and free once no reply is outstanding. c may be NULL. */
void ccnodes_close(struct ccnodes *c);

/* ---- handlers: admin.c, admin_catalog.c, keys.c, numbers.c, calls.c, actions.c,
 *      recordings.c, webhooks.c, billing.c, openapi.c ---- */
void admin_tenant_create(struct api_req *r);
void admin_tenant_update(struct api_req *r);
void admin_tenant_get(struct api_req *r);
void admin_tenant_credit(struct api_req *r);
void admin_route_create(struct api_req *r);
void admin_route_list(struct api_req *r);
void admin_route_update(struct api_req *r);
void admin_numbers_add(struct api_req *r);
void admin_rate_create(struct api_req *r);
/* admin_rates.c: rate decks (CSV import, list, lookup). */
void admin_rates_import(struct api_req *r);
void admin_rates_list(struct api_req *r);
void admin_rates_lookup(struct api_req *r);

void openapi_get(struct api_req *r);

void keys_whoami(struct api_req *r);
void keys_create(struct api_req *r);
void keys_list(struct api_req *r);
void keys_get(struct api_req *r);
void keys_rotate(struct api_req *r);
void keys_revoke(struct api_req *r);

void numbers_available(struct api_req *r);
void numbers_buy(struct api_req *r);
void numbers_list(struct api_req *r);
void numbers_get(struct api_req *r);
void numbers_update(struct api_req *r);
void numbers_release(struct api_req *r);

void calls_create(struct api_req *r);
void calls_get(struct api_req *r);
void calls_list(struct api_req *r);
void calls_hangup(struct api_req *r);
/* actions.c: every verb but hangup (input_param(r, 1) is the verb). */
void calls_action(struct api_req *r);
void calls_streamings(struct api_req *r);
void calls_transcription(struct api_req *r);
void calls_amd(struct api_req *r);
/* call_events.c: GET /v1/calls/{id}/events, the call's event log. */
void calls_events(struct api_req *r);
/* opt_outs.c: /v1/opt_outs, numbers POST /v1/calls refuses with 451 opt_out. */
void opt_outs_create(struct api_req *r);
void opt_outs_list(struct api_req *r);
void opt_outs_delete(struct api_req *r);

void recordings_list(struct api_req *r);
void recordings_get(struct api_req *r);
void recordings_download(struct api_req *r);
void recordings_delete(struct api_req *r);
/*
 * The download_url key: key_text when set, else derived from the admin token (so every
 * gateway of a deployment agrees without more configuration). Strings are borrowed.
 */
void recordings_url_init(struct api *api, const char *key_text, const char *admin_token,
                         const char *public_url, long ttl_secs);
/* A download that carries ?expires=&sig= is checked by its signature, not an API key. */
bool recordings_download_signed(const struct api_req *r);
/* Replace the download_url of a Recording object (borrowed) with a signed, expiring URL. */
void recordings_sign(struct api_req *r, json_t *recording);
/*
 * reply_query callback for a Recording, a page of them ("data") or a Call with its
 * "recordings": every download_url signed, then the row's status and body.
 */
void recordings_signed_body_cb(int status, const struct pg_result *res, void *arg);

void webhooks_create(struct api_req *r);
void webhooks_list(struct api_req *r);
void webhooks_get(struct api_req *r);
void webhooks_update(struct api_req *r);
void webhooks_delete(struct api_req *r);
void webhooks_rotate_secret(struct api_req *r);
void webhooks_call_url_secret(struct api_req *r);
/* webhook_log.c: an endpoint's deliveries (input_param(r, 1) is the delivery id). */
void webhook_log_list(struct api_req *r);
void webhook_log_get(struct api_req *r);
void webhook_log_retry(struct api_req *r);
void webhook_log_replay(struct api_req *r);

void billing_balance(struct api_req *r);
void billing_ledger_entries(struct api_req *r);
/* billing_statements.c: usage summaries and monthly invoices (JSON, /pdf, /csv). */
void billing_usage(struct api_req *r);
void billing_invoices_list(struct api_req *r);
void billing_invoice_get(struct api_req *r);
void billing_invoice_pdf(struct api_req *r);
void billing_invoice_csv(struct api_req *r);

/* billing_payments.c, admin_payments.c: payment methods, top-ups, auto-recharge. */
void billing_payment_method_create(struct api_req *r);
void billing_payment_methods_list(struct api_req *r);
void billing_payment_method_delete(struct api_req *r);
void billing_top_up_create(struct api_req *r);
void billing_top_ups_list(struct api_req *r);
void billing_top_up_get(struct api_req *r);
void billing_auto_recharge_get(struct api_req *r);
void billing_auto_recharge_put(struct api_req *r);
/* ?status= of a top-up list into *out (NULL when absent); answers 422 when unknown. */
int billing_query_top_up_status(struct api_req *r, const char **out);
void admin_top_ups_list(struct api_req *r);
void admin_top_up_approve(struct api_req *r);
void admin_top_up_decline(struct api_req *r);

/* billing_voice.c: the voice subscription (tiers with included minutes). */
void billing_voice_get(struct api_req *r);
void billing_voice_subscribe(struct api_req *r);
void billing_voice_cancel(struct api_req *r);

#endif
