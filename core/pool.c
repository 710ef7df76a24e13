/*
 * pool.c - per-request memory: bump allocation from a chain of blocks,
 * freed at once; cleanups run (last registered first) before the memory.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "xalloc.h"

#define BLOCK_SIZE  (16 * 1024)
#define ALIGN       16

struct block {
    struct block *next;
    size_t        size;   /* usable bytes after the header */
    size_t        used;
    /* data follows, ALIGN-aligned */
};

struct cleanup {
    struct cleanup *next;
    void          (*fn)(void *);
    void           *data;
};

struct ember_pool {
    struct block   *blocks;     /* current block first */
    struct block   *first;      /* the one kept across resets */
    struct cleanup *cleanups;
};

#define BLOCK_HDR  ((sizeof(struct block) + ALIGN - 1) & ~(size_t) (ALIGN - 1))

static struct block *block_new(size_t size)
{
    struct block *b = ember_xmalloc(BLOCK_HDR + size);

    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct ember_pool *ember_pool_create(void)
{
    struct ember_pool *p = ember_xcalloc(1, sizeof(*p));

    p->blocks = block_new(BLOCK_SIZE - BLOCK_HDR);
    p->first = p->blocks;
    return p;
}

static void run_cleanups(struct ember_pool *p)
{
    while (p->cleanups) {
        struct cleanup *c = p->cleanups;

        p->cleanups = c->next;
        c->fn(c->data);
    }
}

void ember_pool_reset(struct ember_pool *p)
{
    struct block *b, *next;

    run_cleanups(p);
    /* keep the first block (big ones may sit anywhere in the chain) */
    for (b = p->blocks; b; b = next) {
        next = b->next;
        if (b != p->first)
            free(b);
    }
    p->first->used = 0;
    p->first->next = NULL;
    p->blocks = p->first;
}

void ember_pool_destroy(struct ember_pool *p)
{
    if (p == NULL)
        return;
    ember_pool_reset(p);
    free(p->blocks);
    free(p);
}

void *ember_pool_alloc(struct ember_pool *p, size_t n)
{
    struct block *b = p->blocks;
    size_t        need;
    void         *mem;

    /* n comes from plugins too (host->palloc): rounding it up, or adding a
       block's header, must not wrap around to a small block */
    if (n > SIZE_MAX - BLOCK_HDR - ALIGN)
        ember_oom(n);
    need = (n + ALIGN - 1) & ~(size_t) (ALIGN - 1);

    if (need == 0)
        need = ALIGN;
    if (b->size - b->used < need) {
        if (need > BLOCK_SIZE / 4) {
            /* a big one gets a block of its own, behind the current one */
            struct block *big = block_new(need);

            big->used = need;
            big->next = b->next;
            b->next = big;
            return (char *) big + BLOCK_HDR;
        }
        b = block_new(BLOCK_SIZE - BLOCK_HDR);
        b->next = p->blocks;
        p->blocks = b;
    }
    mem = (char *) b + BLOCK_HDR + b->used;
    b->used += need;
    return mem;
}

void *ember_pool_calloc(struct ember_pool *p, size_t n)
{
    void *mem = ember_pool_alloc(p, n);

    memset(mem, 0, n);
    return mem;
}

char *ember_pool_strndup(struct ember_pool *p, const char *s, size_t n)
{
    char *d;

    if (n == SIZE_MAX)
        ember_oom(n);
    d = ember_pool_alloc(p, n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ember_pool_strdup(struct ember_pool *p, const char *s)
{
    return ember_pool_strndup(p, s, strlen(s));
}

char *ember_pool_vsprintf(struct ember_pool *p, const char *fmt, va_list ap)
{
    va_list ap2;
    int     n;
    char   *d;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    d = ember_pool_alloc(p, (size_t) n + 1);
    vsnprintf(d, (size_t) n + 1, fmt, ap);
    return d;
}

char *ember_pool_sprintf(struct ember_pool *p, const char *fmt, ...)
{
    va_list ap;
    char   *d;

    va_start(ap, fmt);
    d = ember_pool_vsprintf(p, fmt, ap);
    va_end(ap);
    return d;
}

void ember_pool_cleanup_add(struct ember_pool *p, void (*fn)(void *), void *data)
{
    struct cleanup *c = ember_pool_alloc(p, sizeof(*c));

    c->fn = fn;
    c->data = data;
    c->next = p->cleanups;
    p->cleanups = c;
}
