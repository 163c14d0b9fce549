/*
 * buf.h - a growable byte buffer.
 *
 * The buffer owns data; buf_free() releases it. data is always NUL-terminated (the NUL
 * is not counted in len), so text built here can be handed to C string functions.
 * A buffer may carry a limit: appends that would pass it fail with VP_E_OVERFLOW and
 * leave the buffer unchanged, which is how peer-controlled input stays bounded.
 */
#ifndef VOEPY_BUF_H
#define VOEPY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 = unlimited */
};

#define BUF_INIT      \
    {                 \
        NULL, 0, 0, 0 \
    }

void buf_init(struct buf *b, size_t limit);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Append s as the body of a JSON string (escaped, without the quotes). */
int buf_json_escape(struct buf *b, const char *s, size_t n);
/* Drop the first n bytes (consumed input). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Hand the data to the caller (who frees it) and empty the buffer. Never NULL. */
char *buf_steal(struct buf *b, size_t *lenp);
void buf_free(struct buf *b);

#endif
