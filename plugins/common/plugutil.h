/*
 * plugutil.h - the small helpers every in-tree plugin needs: allocation
 * that aborts when out of memory, a whole decimal in a range, a growable
 * string.  Built as the convenience library plugins/common/libplugutil.la
 * and linked into each plugin (and auth-jwks.so): plugins may not link the
 * core, so they cannot use core/xalloc.c and core/buf.c.  Hidden by
 * -fvisibility=hidden, so a plugin still exports only ember_plugin_<name>.
 */
#ifndef EMBER_PLUGUTIL_H
#define EMBER_PLUGUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Out of memory aborts; never NULL.  The caller frees the result. */
void *ember_pu_xmalloc(size_t n);
void *ember_pu_xcalloc(size_t n, size_t size);
void *ember_pu_xrealloc(void *p, size_t n);
char *ember_pu_xstrdup(const char *s);
char *ember_pu_xstrndup(const char *s, size_t n);

/*
 * s as a whole decimal integer in [min, max] (strtol: an optional sign, no
 * leading blank, nothing after).  0 with *out set, else -1 and *out as it
 * was.
 */
int ember_pu_parse_long(const char *s, long min, long max, long *out);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t ember_pu_now_ms(void);

/* Wait until fd is ready for `events` (poll's) or the monotonic time `end`
   (ember_pu_now_ms); 1 ready, 0 out of time, -1 error (errno). */
int ember_pu_wait_fd(int fd, short events, int64_t end);

/* A growable byte buffer, NUL-terminated once anything was added. */
struct ember_pu_buf {
    char   *p;        /* owned (free()); NULL until the first add */
    size_t  len, cap;
};

void ember_pu_buf_add(struct ember_pu_buf *b, const char *s, size_t n);
void ember_pu_buf_adds(struct ember_pu_buf *b, const char *s);

#endif
