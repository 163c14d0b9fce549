/*
 * config.h - configuration from VOEPY_* environment variables.
 *
 * A service describes its settings once, as a table of struct config_var pointing into
 * its own config struct; config_load() fills the struct from the environment (or the
 * defaults), validates it, and config_print() logs the effective configuration as one
 * JSON line with secrets masked. Strings are owned by the struct: config_free() them.
 *
 *   struct gw_config { char *pg_dsn; long api_port; bool debug; };
 *   static const struct config_var vars[] = {
 *       CONFIG_STR(struct gw_config, pg_dsn, "VOEPY_PG_DSN", "host=127.0.0.1", 0, "..."),
 *       CONFIG_INT(struct gw_config, api_port, "VOEPY_API_PORT", "8080", 0, 65535, "..."),
 *   };
 */
#ifndef VOEPY_CONFIG_H
#define VOEPY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_type { CONFIG_TYPE_STR, CONFIG_TYPE_INT, CONFIG_TYPE_BOOL };

#define CONFIG_SECRET 0x1u /* masked when printed */

struct config_var {
    const char *name; /* VOEPY_API_PORT */
    enum config_type type;
    size_t offset;   /* of a char * (STR), long (INT) or bool (BOOL) member */
    const char *def; /* default as text; NULL leaves a STR NULL when unset */
    long min, max;   /* INT only */
    unsigned flags;
    const char *help;
};

#define CONFIG_STR(type, member, name, def, flags, help)                      \
    {                                                                         \
        name, CONFIG_TYPE_STR, offsetof(type, member), def, 0, 0, flags, help \
    }
#define CONFIG_INT(type, member, name, def, min, max, help)                   \
    {                                                                         \
        name, CONFIG_TYPE_INT, offsetof(type, member), def, min, max, 0, help \
    }
#define CONFIG_BOOL(type, member, name, def, help)                         \
    {                                                                      \
        name, CONFIG_TYPE_BOOL, offsetof(type, member), def, 0, 0, 0, help \
    }

/*
 * Fill cfg from the environment. On a bad value returns VP_E_CONFIG and writes a
 * sentence naming the variable into err (cfg is then freed again).
 */
int config_load(void *cfg, const struct config_var *vars, size_t n, char *err, size_t errlen);
/* Log the effective configuration (event "config.effective"). */
void config_print(const void *cfg, const struct config_var *vars, size_t n);
void config_free(void *cfg, const struct config_var *vars, size_t n);
/* Print "NAME (default: X) help" lines, for --help. */
void config_usage(const struct config_var *vars, size_t n);

#endif
