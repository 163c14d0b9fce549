/*
 * json.h - request bodies: parse and validate against a field table.
 *
 * Request bodies are JSON objects. vjson_parse_object() refuses anything else with a
 * clear vp_error; vjson_validate() checks an object against a table of fields: unknown
 * fields and wrong types are 400 invalid_request, values out of range or of the wrong
 * shape (E.164, enum, length) are 422 invalid_parameter; either way the message and
 * vp_error.field name the field.
 */
#ifndef VOEPY_JSON_H
#define VOEPY_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"

enum jfield_type {
    JF_STRING, /* min..max = length bounds (max 0 = unlimited) */
    JF_INT,    /* min..max = value bounds */
    JF_BOOL,
    JF_ENUM,   /* a string, one of .choices (NULL-terminated) */
    JF_E164,   /* a string in E.164 */
    JF_ID,     /* a voepy id of kind .kind */
    JF_URL,    /* an http(s) or ws(s) URL (syntax only) */
    JF_OBJECT, /* any object */
    JF_ARRAY,  /* any array; min..max = element count bounds */
    JF_TIME,   /* ISO-8601 date-time */
    JF_ANY,
};

#define JF_REQUIRED 0x1u
#define JF_NULLABLE 0x2u /* JSON null accepted (treated as absent) */

struct jfield {
    const char *name;
    enum jfield_type type;
    unsigned flags;
    long long min, max;
    const char *const *choices; /* JF_ENUM */
    const char *kind;           /* JF_ID */
};

/* Parse a body that must be one JSON object (an empty body is {} when allow_empty). */
int vjson_parse_object(const char *body, size_t len, bool allow_empty, json_t **out,
                       struct vp_error *e);
/* Validate obj against fields; unknown members are refused. */
int vjson_validate(const json_t *obj, const struct jfield *fields, size_t n, struct vp_error *e);

/* Accessors that treat absent and null alike. */
const char *vjson_str(const json_t *obj, const char *key); /* NULL when absent */
long long vjson_int(const json_t *obj, const char *key, long long def);
bool vjson_bool(const json_t *obj, const char *key, bool def);
/* Compact serialisation; caller frees. */
char *vjson_dump(const json_t *v);

#endif
