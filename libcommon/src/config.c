#include "voepy/config.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void *member(void *cfg, const struct config_var *v)
{
    return (char *)cfg + v->offset;
}

static const void *cmember(const void *cfg, const struct config_var *v)
{
    return (const char *)cfg + v->offset;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return VP_E_CONFIG;
}

static int load_one(void *cfg, const struct config_var *v, char *err, size_t errlen)
{
    const char *env = getenv(v->name);
    const char *val = (env && *env) ? env : v->def;
    switch (v->type) {
    case CONFIG_TYPE_STR:
        *(char **)member(cfg, v) = val ? vp_strdup(val) : NULL;
        return 0;
    case CONFIG_TYPE_INT: {
        char *end;
        errno = 0;
        long n = val ? strtol(val, &end, 10) : 0;
        if (!val || errno || end == val || *end || n < v->min || n > v->max) {
            snprintf(err, errlen, "%s must be an integer from %ld to %ld (got \"%s\")", v->name,
                     v->min, v->max, val ? val : "");
            return VP_E_CONFIG;
        }
        *(long *)member(cfg, v) = n;
        return 0;
    }
    case CONFIG_TYPE_BOOL:
        if (!val || parse_bool(val, (bool *)member(cfg, v))) {
            snprintf(err, errlen, "%s must be true or false (got \"%s\")", v->name, val ? val : "");
            return VP_E_CONFIG;
        }
        return 0;
    }
    return VP_E_CONFIG;
}

int config_load(void *cfg, const struct config_var *vars, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == CONFIG_TYPE_STR)
            *(char **)member(cfg, &vars[i]) = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (load_one(cfg, &vars[i], err, errlen)) {
            config_free(cfg, vars, n);
            return VP_E_CONFIG;
        }
    }
    return 0;
}

void config_print(const void *cfg, const struct config_var *vars, size_t n)
{
    struct buf b = BUF_INIT;
    buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        const struct config_var *v = &vars[i];
        buf_printf(&b, "%s\"%s\":", i ? "," : "", v->name);
        switch (v->type) {
        case CONFIG_TYPE_STR: {
            const char *s = *(char *const *)cmember(cfg, v);
            if (!s) {
                buf_puts(&b, "null");
            } else {
                buf_putc(&b, '"');
                if (v->flags & CONFIG_SECRET)
                    buf_puts(&b, *s ? "***" : "");
                else
                    buf_json_escape(&b, s, strlen(s));
                buf_putc(&b, '"');
            }
            break;
        }
        case CONFIG_TYPE_INT:
            buf_printf(&b, "%ld", *(const long *)cmember(cfg, v));
            break;
        case CONFIG_TYPE_BOOL:
            buf_puts(&b, *(const bool *)cmember(cfg, v) ? "true" : "false");
            break;
        }
    }
    buf_putc(&b, '}');
    vlog_json(VLOG_INFO, "config.effective", "effective configuration", "config", b.data);
    buf_free(&b);
}

void config_free(void *cfg, const struct config_var *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == CONFIG_TYPE_STR) {
            char **s = (char **)member(cfg, &vars[i]);
            free(*s);
            *s = NULL;
        }
    }
}

void config_usage(const struct config_var *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_var *v = &vars[i];
        printf("  %-32s %s (default: %s)\n", v->name, v->help ? v->help : "",
               v->def ? ((v->flags & CONFIG_SECRET) ? "***" : v->def) : "unset");
    }
}
