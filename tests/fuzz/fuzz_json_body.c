/*
 * fuzz_json_body.c - request bodies through libcommon's parser and field validation,
 * with a table shaped like POST /v1/calls. Every refusal must name an error of the table
 * and carry a message.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "voepy/json.h"

static const char *const records[] = {"off", "on_answer", "on_ringing", "on_demand", NULL};

static const struct jfield fields[] = {
    {"from", JF_E164, JF_REQUIRED, 0, 0, NULL, NULL},
    {"to", JF_E164, JF_REQUIRED, 0, 0, NULL, NULL},
    {"route_id", JF_ID, 0, 0, 0, NULL, "route"},
    {"record", JF_ENUM, 0, 0, 0, records, NULL},
    {"customer_reference", JF_STRING, JF_NULLABLE, 0, 128, NULL, NULL},
    {"timeout_secs", JF_INT, 0, 1, 600, NULL, NULL},
    {"caller_id_forwarding", JF_BOOL, 0, 0, 0, NULL, NULL},
    {"audio_url", JF_URL, 0, 0, 0, NULL, NULL},
    {"numbers", JF_ARRAY, 0, 1, 3, NULL, NULL},
    {"since", JF_TIME, 0, 0, 0, NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj;
    struct vp_error e;
    int err = vjson_parse_object((const char *)data, size, false, &obj, &e);
    if (err == 0) {
        err = vjson_validate(obj, fields, sizeof(fields) / sizeof(fields[0]), &e);
        json_decref(obj);
    }
    if (err && (err != e.err || e.message[0] == '\0'))
        abort();
    if (err) {
        char *s = vp_error_json(&e);
        free(s);
    }
    return 0;
}
