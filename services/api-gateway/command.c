/*
 * command.c - a stream command sent after the SQL that decided it has committed.
 *
 * The handlers that wake another service (calls.c: dial, hangup; actions.c: the action
 * verbs) first commit the request and its idempotent answer in PostgreSQL, then XADD the
 * command, and answer only when Redis confirmed (or refused) it, so that a drain does not
 * cut the command off. A lost XADD is logged: the request is recorded either way (see
 * each caller for what picks it up).
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "voepy/http_server.h"
#include "voepy/log.h"
#include "voepy/rstream.h"

#define STREAM_MAXLEN 100000

/* The committed answer, kept in the request's arena while the command is on its way. */
struct pending_answer {
    int status;
    const char *body;
};

static void command_added_cb(int status, const char *entry_id, void *arg)
{
    struct api_req *r = arg;
    struct pending_answer *a = r->data;
    (void)entry_id;
    if (status != 0)
        log_warn("api.command_lost", "%s %s: XADD failed (%s); the request is recorded", r->method,
                 r->path, vp_err_message(status));
    reply_send(r, a->status, a->body, strlen(a->body));
}

void command_send_then_answer(struct api_req *r, const struct pg_result *res, const char *stream,
                              json_t *msg)
{
    struct pending_answer *a = http_request_alloc(r->http, sizeof(*a));
    a->status = atoi(pg_get(res, 0, "http_status"));
    a->body = http_request_strdup(r->http, pg_get(res, 0, "http_body"));
    r->data = a;
    char *text = vjson_dump(msg);
    json_decref(msg);
    int err =
        rstream_add(r->api->redis, stream, text, strlen(text), STREAM_MAXLEN, command_added_cb, r);
    free(text);
    if (err)
        command_added_cb(err, NULL, r);
}
