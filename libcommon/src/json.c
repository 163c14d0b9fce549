#include "voepy/json.h"
#include "voepy/alloc.h"
#include "voepy/e164.h"
#include "voepy/id.h"
#include "voepy/vtime.h"

#include <string.h>
#include <strings.h>

int vjson_parse_object(const char *body, size_t len, bool allow_empty, json_t **out,
                       struct vp_error *e)
{
    *out = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        if (!allow_empty)
            return vp_error_set(e, VP_E_INVALID_REQUEST, NULL, "The request body is empty.");
        *out = json_object();
        return 0;
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return vp_error_set(e, VP_E_INVALID_REQUEST, NULL,
                            "The request body is not valid JSON: %s (line %d, column %d).",
                            jerr.text, jerr.line, jerr.column);
    if (!json_is_object(v)) {
        json_decref(v);
        return vp_error_set(e, VP_E_INVALID_REQUEST, NULL,
                            "The request body must be a JSON object.");
    }
    *out = v;
    return 0;
}

static const struct jfield *find_field(const struct jfield *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static const char *type_name(enum jfield_type t)
{
    switch (t) {
    case JF_INT:
        return "an integer";
    case JF_BOOL:
        return "a boolean";
    case JF_OBJECT:
        return "an object";
    case JF_ARRAY:
        return "an array";
    case JF_ANY:
        return "a value";
    default:
        return "a string";
    }
}

static bool type_ok(const struct jfield *f, const json_t *v)
{
    switch (f->type) {
    case JF_INT:
        return json_is_integer(v);
    case JF_BOOL:
        return json_is_boolean(v);
    case JF_OBJECT:
        return json_is_object(v);
    case JF_ARRAY:
        return json_is_array(v);
    case JF_ANY:
        return true;
    default:
        return json_is_string(v);
    }
}

static bool url_ok(const char *s)
{
    static const char *const schemes[] = {"http://", "https://", "ws://", "wss://"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(schemes[i]);
        if (strncasecmp(s, schemes[i], n) == 0)
            return s[n] != '\0' && s[n] != '/' && !strpbrk(s, " \t\r\n\"<>\\^`{|}");
    }
    return false;
}

static bool enum_ok(const struct jfield *f, const char *s)
{
    for (const char *const *c = f->choices; c && *c; c++)
        if (strcmp(*c, s) == 0)
            return true;
    return false;
}

static int enum_error(const struct jfield *f, struct vp_error *e)
{
    char list[160] = "";
    size_t used = 0;
    for (const char *const *c = f->choices; c && *c; c++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *c);
        if (n < 0 || (size_t)n >= sizeof(list) - used)
            break;
        used += (size_t)n;
    }
    return vp_error_set(e, VP_E_INVALID_PARAMETER, f->name, "%s must be one of: %s.", f->name,
                        list);
}

/* Checks of the value's shape, once its JSON type is right. */
static int check_string(const struct jfield *f, const char *s, struct vp_error *e)
{
    size_t len = strlen(s);
    int64_t ms;
    switch (f->type) {
    case JF_STRING:
        if ((long long)len < f->min || (f->max > 0 && (long long)len > f->max))
            return vp_error_set(e, VP_E_INVALID_PARAMETER, f->name,
                                "%s must be %lld to %lld characters long.", f->name, f->min,
                                f->max);
        return 0;
    case JF_ENUM:
        return enum_ok(f, s) ? 0 : enum_error(f, e);
    case JF_E164:
        return e164_valid(s)
                   ? 0
                   : vp_error_set(e, VP_E_INVALID_PARAMETER, f->name,
                                  "%s must be an E.164 number: + and 6-15 digits.", f->name);
    case JF_ID:
        return id_valid(s, f->kind)
                   ? 0
                   : vp_error_set(e, VP_E_INVALID_PARAMETER, f->name, "%s must be a voepy_%s_ id.",
                                  f->name, f->kind ? f->kind : "<kind>");
    case JF_URL:
        if (len > 2048 || !url_ok(s))
            return vp_error_set(e, VP_E_INVALID_PARAMETER, f->name,
                                "%s must be an http(s) or ws(s) URL.", f->name);
        return 0;
    case JF_TIME:
        return vtime_parse(s, &ms) == 0
                   ? 0
                   : vp_error_set(e, VP_E_INVALID_PARAMETER, f->name,
                                  "%s must be an ISO-8601 date-time with a zone.", f->name);
    default:
        return 0;
    }
}

static int check_value(const struct jfield *f, const json_t *v, struct vp_error *e)
{
    if (!type_ok(f, v))
        return vp_error_set(e, VP_E_INVALID_REQUEST, f->name, "%s must be %s.", f->name,
                            type_name(f->type));
    if (f->type == JF_INT) {
        json_int_t n = json_integer_value(v);
        if (n < f->min || n > f->max)
            return vp_error_set(e, VP_E_INVALID_PARAMETER, f->name,
                                "%s must be between %lld and %lld.", f->name, f->min, f->max);
    } else if (f->type == JF_ARRAY) {
        long long n = (long long)json_array_size(v);
        if (n < f->min || (f->max > 0 && n > f->max))
            return vp_error_set(e, VP_E_INVALID_PARAMETER, f->name,
                                "%s must have %lld to %lld elements.", f->name, f->min, f->max);
    } else if (json_is_string(v)) {
        return check_string(f, json_string_value(v), e);
    }
    return 0;
}

int vjson_validate(const json_t *obj, const struct jfield *fields, size_t n, struct vp_error *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct jfield *f = find_field(fields, n, key);
        if (!f)
            return vp_error_set(e, VP_E_INVALID_REQUEST, key, "Unknown field: %s.", key);
        if (json_is_null(v)) {
            if (f->flags & JF_NULLABLE)
                continue;
            return vp_error_set(e, VP_E_INVALID_REQUEST, key, "%s must not be null.", key);
        }
        int err = check_value(f, v, e);
        if (err)
            return err;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *val = json_object_get(obj, fields[i].name);
        if ((fields[i].flags & JF_REQUIRED) && (!val || json_is_null(val)))
            return vp_error_set(e, VP_E_INVALID_REQUEST, fields[i].name, "%s is required.",
                                fields[i].name);
    }
    return 0;
}

const char *vjson_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long vjson_int(const json_t *obj, const char *key, long long def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

bool vjson_bool(const json_t *obj, const char *key, bool def)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

char *vjson_dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : vp_strdup("null");
}
