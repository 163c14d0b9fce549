/* Reply bodies for call-control; see reply.h. */
#include "reply.h"

#include <jansson.h>

#include "voepy/json.h"

static char *dump(json_t *o)
{
    char *s = vjson_dump(o);
    json_decref(o);
    return s;
}

char *reply_allocated(const char *leg_id, const char *call_id, const char *node, const char *ip,
                      unsigned port)
{
    return dump(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "op", "media.allocated", "leg_id",
                          leg_id, "call_id", call_id, "media_node", node, "ip", ip, "port",
                          (json_int_t)port));
}

char *reply_failed(const char *leg_id, const char *call_id, const char *node, const char *error,
                   const char *request, const char *detail)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "op", "media.failed", "leg_id", leg_id,
                  "call_id", call_id, "media_node", node, "error", error, "request", request);
    if (detail && *detail)
        json_object_set_new(o, "detail", json_string(detail));
    return dump(o);
}

char *reply_released(const struct leg_report *r, const char *node)
{
    const struct leg_counters *c = &r->counters;
    return dump(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "op",
                          "media.released", "leg_id", r->leg_id, "call_id", r->call_id,
                          "media_node", node, "packets_in", (json_int_t)c->packets_in,
                          "packets_out", (json_int_t)c->packets_out, "bytes_in",
                          (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out, "rtcp_in",
                          (json_int_t)c->rtcp_in, "reason", r->reason));
}
