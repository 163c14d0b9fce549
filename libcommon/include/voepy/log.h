/*
 * log.h - JSON-lines logging.
 *
 * One JSON object per line on stderr (or the stream set with vlog_set_output):
 *   {"ts":"2026-05-12T14:32:18.000Z","level":"info","service":"call-control",
 *    "node":"cc-1","event":"call.answered","msg":"...","call_id":"voepy_call_..."}
 * `event` is a stable dotted name an operator can grep for; `msg` is for humans;
 * vlog_kv() adds string fields. Each line is written with one write(2), so lines from
 * several processes sharing a file do not interleave.
 */
#ifndef VOEPY_LOG_H
#define VOEPY_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum vlog_level { VLOG_DEBUG, VLOG_INFO, VLOG_WARN, VLOG_ERROR };

/* Set the service and node names put on every line and the minimum level. */
void vlog_init(const char *service, const char *node, enum vlog_level min);
void vlog_set_level(enum vlog_level min);
/* "debug" | "info" | "warn" | "error"; returns 0 or VP_E_INVALID_PARAMETER. */
int vlog_level_parse(const char *s, enum vlog_level *out);
const char *vlog_level_name(enum vlog_level lvl);
bool vlog_enabled(enum vlog_level lvl);
/* Redirect output (tests); NULL restores stderr. */
void vlog_set_output(FILE *f);

void vlog(enum vlog_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* msg, then (key, value) string pairs ending with NULL. NULL values are written as null. */
void vlog_kv(enum vlog_level lvl, const char *event, const char *msg, ...)
    __attribute__((sentinel));

/* msg, then one field whose value is already-rendered JSON (an object, array, number). */
void vlog_json(enum vlog_level lvl, const char *event, const char *msg, const char *key,
               const char *raw_json);

#define log_debug(event, ...) vlog(VLOG_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...)  vlog(VLOG_INFO, event, __VA_ARGS__)
#define log_warn(event, ...)  vlog(VLOG_WARN, event, __VA_ARGS__)
#define log_error(event, ...) vlog(VLOG_ERROR, event, __VA_ARGS__)

#endif
