/*
 * fuzz.h - what every libFuzzer target of tests/fuzz/ shares: reading the
 * input as a stream of small values, quiet logging, and an oracle for JSON
 * the code under test produced (it must parse back).
 *
 * Built only by tests/fuzz/build.sh (clang-14, -fsanitize=fuzzer,address,
 * undefined); never part of the normal build.
 */
#ifndef EMBER_FUZZ_H
#define EMBER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"

/* The target: libFuzzer calls it, and so does replay.c (make check). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input, consumed from the front. */
struct fz {
    const uint8_t *p;
    size_t         n;
};

static inline unsigned fz_byte(struct fz *f)
{
    if (f->n == 0)
        return 0;
    f->n--;
    return *f->p++;
}

/*
 * The bytes up to the next `sep` (not included; the separator is consumed),
 * or the rest.  Returns a malloc'd NUL-terminated copy; *len its length.
 */
static inline char *fz_until(struct fz *f, int sep, size_t *len)
{
    const uint8_t *e = f->n ? memchr(f->p, sep, f->n) : NULL;
    size_t         k = e ? (size_t) (e - f->p) : f->n;
    char          *s = malloc(k + 1);

    if (s == NULL)
        abort();
    if (k)
        memcpy(s, f->p, k);
    s[k] = '\0';
    f->p += k + (e != NULL);
    f->n -= k + (e != NULL);
    if (len)
        *len = k;
    return s;
}

/* The rest of the input, as a malloc'd NUL-terminated copy. */
static inline char *fz_rest(struct fz *f, size_t *len)
{
    char *s = malloc(f->n + 1);

    if (s == NULL)
        abort();
    if (f->n)
        memcpy(s, f->p, f->n);
    s[f->n] = '\0';
    if (len)
        *len = f->n;
    f->p += f->n;
    f->n = 0;
    return s;
}

/* Logging below FATAL is noise here (and slow). */
static inline void fz_quiet(void)
{
    ember_log_set_level(EMBER_LOG_FATAL);
}

/* JSON that the code under test produced must parse back, whole. */
static inline void fz_json_ok(const char *s, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object  *o;
    char                *copy = malloc(len + 1);
    size_t               end;

    if (tok == NULL || copy == NULL)
        abort();
    memcpy(copy, s, len);
    copy[len] = '\0';
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, copy, (int) len + 1);    /* with the NUL: "5" ends */
    end = json_tokener_get_parse_end(tok);
    while (end < len && strchr(" \t\r\n", copy[end]) != NULL)
        end++;
    free(copy);
    if (json_tokener_get_error(tok) != json_tokener_success || end < len) {
        fprintf(stderr, "fuzz: produced JSON does not parse back: %.*s\n", (int) len, s);
        abort();
    }
    json_object_put(o);
    json_tokener_free(tok);
}

#endif
