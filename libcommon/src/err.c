#include "voepy/err.h"
#include "voepy/alloc.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_row {
    int err;
    const char *code;
    int status;
    const char *message;
};

static const struct err_row rows[] = {
#define VP_ERR_ROW(name, num, code, status, msg) {-(num), code, status, msg},
    VP_ERROR_TABLE(VP_ERR_ROW)
#undef VP_ERR_ROW
};

static const struct err_row *find(int err)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].err == err)
            return &rows[i];
    return NULL;
}

static const struct err_row *find_or_internal(int err)
{
    const struct err_row *r = find(err);
    return r ? r : find(VP_E_INTERNAL);
}

const char *vp_err_code(int err)
{
    return find_or_internal(err)->code;
}

int vp_err_http_status(int err)
{
    return find_or_internal(err)->status;
}

const char *vp_err_message(int err)
{
    return find_or_internal(err)->message;
}

int vp_err_from_code(const char *code)
{
    for (size_t i = 0; code && i < sizeof(rows) / sizeof(rows[0]); i++)
        if (strcmp(rows[i].code, code) == 0)
            return rows[i].err;
    return VP_E_INTERNAL;
}

int vp_error_set(struct vp_error *e, int err, const char *field, const char *fmt, ...)
{
    e->err = err;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    } else {
        snprintf(e->message, sizeof(e->message), "%s", vp_err_message(err));
    }
    return err;
}

char *vp_error_json(const struct vp_error *e)
{
    json_t *inner = json_object();
    json_object_set_new(inner, "code", json_string(vp_err_code(e->err)));
    json_object_set_new(inner, "message",
                        json_string(e->message[0] ? e->message : vp_err_message(e->err)));
    if (e->field[0])
        json_object_set_new(inner, "field", json_string(e->field));
    json_t *root = json_object();
    json_object_set_new(root, "error", inner);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s)
        s = vp_strdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"encoding failed\"}}");
    return s;
}
