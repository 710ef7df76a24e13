/* pool.h - per-request memory: one arena, freed at once, with cleanups. */
#ifndef EMBER_POOL_H
#define EMBER_POOL_H

#include <stddef.h>
#include <stdarg.h>

struct ember_pool;

struct ember_pool *ember_pool_create(void);
/* Runs the cleanups (last registered first), then frees every block. */
void ember_pool_destroy(struct ember_pool *p);
/* Like destroy, but keeps the pool (and its first block) for reuse. */
void ember_pool_reset(struct ember_pool *p);

void *ember_pool_alloc(struct ember_pool *p, size_t n);      /* 16-aligned, never NULL */
void *ember_pool_calloc(struct ember_pool *p, size_t n);
char *ember_pool_strndup(struct ember_pool *p, const char *s, size_t n);
char *ember_pool_strdup(struct ember_pool *p, const char *s);
char *ember_pool_sprintf(struct ember_pool *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *ember_pool_vsprintf(struct ember_pool *p, const char *fmt, va_list ap);
void ember_pool_cleanup_add(struct ember_pool *p, void (*fn)(void *), void *data);

#endif
