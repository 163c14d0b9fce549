#include "voepy/log.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/vtime.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static const char *level_names[] = {"debug", "info", "warn", "error"};

static struct {
    char service[64];
    char node[64];
    enum vlog_level min;
    FILE *out;
} g = {"voepy", "", VLOG_INFO, NULL};

void vlog_init(const char *service, const char *node, enum vlog_level min)
{
    snprintf(g.service, sizeof(g.service), "%s", service ? service : "voepy");
    snprintf(g.node, sizeof(g.node), "%s", node ? node : "");
    g.min = min;
}

void vlog_set_level(enum vlog_level min)
{
    g.min = min;
}

int vlog_level_parse(const char *s, enum vlog_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (enum vlog_level)i;
            return 0;
        }
    }
    return VP_E_INVALID_PARAMETER;
}

const char *vlog_level_name(enum vlog_level lvl)
{
    return lvl <= VLOG_ERROR ? level_names[lvl] : "error";
}

bool vlog_enabled(enum vlog_level lvl)
{
    return lvl >= g.min;
}

void vlog_set_output(FILE *f)
{
    g.out = f;
}

static void put_str_field(struct buf *b, const char *key, const char *val)
{
    buf_puts(b, ",\"");
    buf_json_escape(b, key, strlen(key));
    if (!val) {
        buf_puts(b, "\":null");
        return;
    }
    buf_puts(b, "\":\"");
    buf_json_escape(b, val, strlen(val));
    buf_putc(b, '"');
}

static void begin(struct buf *b, enum vlog_level lvl, const char *event)
{
    char ts[VTIME_ISO_LEN];
    vtime_format(vtime_now_ms(), ts, sizeof(ts));
    buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, vlog_level_name(lvl));
    put_str_field(b, "service", g.service);
    if (g.node[0])
        put_str_field(b, "node", g.node);
    put_str_field(b, "event", event ? event : "log");
}

static void finish(struct buf *b)
{
    buf_puts(b, "}\n");
    FILE *f = g.out ? g.out : stderr;
    if (f == stderr) {
        /* One write per line keeps lines whole when processes share the file. */
        ssize_t n = write(STDERR_FILENO, b->data, b->len);
        (void)n;
    } else {
        fwrite(b->data, 1, b->len, f);
        fflush(f);
    }
    buf_free(b);
}

void vlog(enum vlog_level lvl, const char *event, const char *fmt, ...)
{
    if (!vlog_enabled(lvl))
        return;
    struct buf b = BUF_INIT, msg = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    begin(&b, lvl, event);
    put_str_field(&b, "msg", msg.data ? msg.data : "");
    buf_free(&msg);
    finish(&b);
}

void vlog_kv(enum vlog_level lvl, const char *event, const char *msg, ...)
{
    if (!vlog_enabled(lvl))
        return;
    struct buf b = BUF_INIT;
    begin(&b, lvl, event);
    put_str_field(&b, "msg", msg ? msg : "");
    va_list ap;
    va_start(ap, msg);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *))
        put_str_field(&b, k, va_arg(ap, const char *));
    va_end(ap);
    finish(&b);
}

void vlog_json(enum vlog_level lvl, const char *event, const char *msg, const char *key,
               const char *raw_json)
{
    if (!vlog_enabled(lvl))
        return;
    struct buf b = BUF_INIT;
    begin(&b, lvl, event);
    put_str_field(&b, "msg", msg ? msg : "");
    buf_puts(&b, ",\"");
    buf_json_escape(&b, key, strlen(key));
    buf_puts(&b, "\":");
    buf_puts(&b, raw_json && *raw_json ? raw_json : "null");
    finish(&b);
}
