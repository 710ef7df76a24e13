/* buf.c - a growable byte buffer, always NUL-terminated. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

static void reserve(struct ember_buf *b, size_t more)
{
    size_t need = b->len + more + 1;

    if (need <= b->cap)
        return;
    if (b->cap == 0)
        b->cap = 256;
    while (b->cap < need)
        b->cap *= 2;
    b->data = ember_xrealloc(b->data, b->cap);
}

void ember_buf_reserve(struct ember_buf *b, size_t n)
{
    reserve(b, n);
}

void ember_buf_append(struct ember_buf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ember_buf_puts(struct ember_buf *b, const char *s)
{
    ember_buf_append(b, s, strlen(s));
}

void ember_buf_vprintf(struct ember_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int     n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0)
        return;
    reserve(b, (size_t) n);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    b->len += (size_t) n;
}

void ember_buf_printf(struct ember_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ember_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ember_buf_consume(struct ember_buf *b, size_t n)
{
    if (n >= b->len) {
        ember_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void ember_buf_reset(struct ember_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ember_buf_free(struct ember_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *ember_buf_str(const struct ember_buf *b)
{
    return b->data ? b->data : "";
}
