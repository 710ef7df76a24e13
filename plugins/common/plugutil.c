/*
 * plugutil.c - helpers shared by the in-tree plugins (see plugutil.h).
 * Linked into each plugin .so, hidden: not part of the plugin ABI.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugutil.h"

void *ember_pu_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        abort();
    return p;
}

void *ember_pu_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        abort();
    return p;
}

void *ember_pu_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        abort();
    return q;
}

char *ember_pu_xstrndup(const char *s, size_t n)
{
    char *p = ember_pu_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ember_pu_xstrdup(const char *s)
{
    return ember_pu_xstrndup(s, strlen(s));
}

int ember_pu_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long  v;

    if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void ember_pu_buf_add(struct ember_pu_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = ember_pu_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ember_pu_buf_adds(struct ember_pu_buf *b, const char *s)
{
    ember_pu_buf_add(b, s, strlen(s));
}

int64_t ember_pu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ember_pu_wait_fd(int fd, short events, int64_t end)
{
    struct pollfd pfd;
    int64_t       left;
    int           rc;

    for (;;) {
        left = end - ember_pu_now_ms();
        if (left <= 0)
            return 0;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}
