/* xalloc.c - allocation that never returns NULL: out of memory aborts. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void ember_oom(size_t n)
{
    fprintf(stderr, "ember: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ember_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        ember_oom(n);
    return p;
}

void *ember_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        ember_oom(nmemb * size);
    return p;
}

void *ember_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        ember_oom(n);
    return q;
}

char *ember_xstrdup(const char *s)
{
    return ember_xstrndup(s, strlen(s));
}

char *ember_xstrndup(const char *s, size_t n)
{
    char *p = ember_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ember_xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    int     n;
    char   *p;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    p = ember_xmalloc((size_t) n + 1);
    vsnprintf(p, (size_t) n + 1, fmt, ap);
    return p;
}

char *ember_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char   *p;

    va_start(ap, fmt);
    p = ember_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}
