/* buf.h - a growable byte buffer, always NUL-terminated. */
#ifndef EMBER_BUF_H
#define EMBER_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct ember_buf {
    char   *data;   /* owned; NULL until the first append */
    size_t  len;
    size_t  cap;
};

#define EMBER_BUF_INIT { NULL, 0, 0 }

void ember_buf_append(struct ember_buf *b, const void *p, size_t n);
/* Room for n more bytes (plus the NUL) at data + len: write there, then add
   to len and NUL-terminate (e.g. recv(2) straight into the buffer). */
void ember_buf_reserve(struct ember_buf *b, size_t n);
void ember_buf_puts(struct ember_buf *b, const char *s);
void ember_buf_printf(struct ember_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ember_buf_vprintf(struct ember_buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes (consumed input). */
void ember_buf_consume(struct ember_buf *b, size_t n);
void ember_buf_reset(struct ember_buf *b);        /* len = 0, keeps memory */
void ember_buf_free(struct ember_buf *b);
/* "" when empty, never NULL. Borrowed. */
const char *ember_buf_str(const struct ember_buf *b);

#endif
