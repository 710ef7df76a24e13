/* xalloc.h - allocation that never returns NULL: out of memory aborts. */
#ifndef EMBER_XALLOC_H
#define EMBER_XALLOC_H

#include <stddef.h>
#include <stdarg.h>

void *ember_xmalloc(size_t n);
void *ember_xcalloc(size_t nmemb, size_t size);
void *ember_xrealloc(void *p, size_t n);
char *ember_xstrdup(const char *s);
char *ember_xstrndup(const char *s, size_t n);
/* Caller frees the result. */
char *ember_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *ember_xvasprintf(const char *fmt, va_list ap);
/* "ember: out of memory allocating N bytes" on stderr, then abort(). */
void  ember_oom(size_t n) __attribute__((noreturn));

#endif
