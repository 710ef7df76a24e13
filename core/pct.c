/*
 * pct.c - percent-encoding (RFC 3986): one decoder for the event's paths
 * and queries, the router's segments and ember-local.  See pct.h.
 */
#include "config.h"

#include <string.h>

#include "pct.h"

int ember_pct_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte at s[*i] decoded, *i moved past what it took. */
static unsigned char next(const char *s, size_t n, size_t *i, int plus)
{
    unsigned char c = (unsigned char) s[*i];

    if (c == '%' && *i + 2 < n && ember_pct_hexval((unsigned char) s[*i + 1]) >= 0
        && ember_pct_hexval((unsigned char) s[*i + 2]) >= 0) {
        c = (unsigned char) (ember_pct_hexval((unsigned char) s[*i + 1]) << 4
                             | ember_pct_hexval((unsigned char) s[*i + 2]));
        *i += 3;
        return c;
    }
    (*i)++;
    return c == '+' && plus ? ' ' : c;
}

size_t ember_pct_decode(char *dst, const char *s, size_t n, int plus)
{
    size_t i = 0, o = 0;

    while (i < n)
        dst[o++] = (char) next(s, n, &i, plus);
    dst[o] = '\0';
    return o;
}

int ember_pct_equal(const char *s, size_t n, const char *lit, size_t litlen)
{
    size_t i = 0, o = 0;

    while (i < n) {
        if (o == litlen || next(s, n, &i, 0) != (unsigned char) lit[o])
            return 0;
        o++;
    }
    return o == litlen;
}

void ember_pct_encode(struct ember_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~') {
            ember_buf_append(b, s, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };

            ember_buf_append(b, e, 3);
        }
    }
}
