/*
 * text.c - strict UTF-8, HTTP tokens and environment variable names, once
 * for the core and every plugin.  See text.h.
 */
#include <stdint.h>
#include <string.h>

#include "text.h"

size_t ember_utf8_len(const unsigned char *s, size_t n)
{
    size_t   need, k;
    uint32_t cp;

    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;       /* a continuation byte, 0xc0/0xc1 (overlong), 0xf5.. */
    }
    if (n < need)
        return 0;
    for (k = 1; k < need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000)
        || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return need;
}

int ember_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t len;

        if (s[i] < 0x80) {      /* the common case, without a call */
            i++;
            continue;
        }
        len = ember_utf8_len(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

int ember_http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int ember_http_token(const char *s)
{
    const unsigned char *u = (const unsigned char *) s;

    if (*u == '\0')
        return 0;
    for (; *u != '\0'; u++)
        if (!ember_http_tchar(*u))
            return 0;
    return 1;
}

int ember_env_name(const char *s)
{
    size_t i;

    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (i = 1; s[i] != '\0'; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}
