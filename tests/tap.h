/*
 * tap.h - a tiny TAP producer for unit tests (after h2o's picotest).
 *
 *   ok(cond, "name %d", i);
 *   is_str(got, expected, "name");     // NULL-safe
 *   is_int(got, expected, "name");
 *   return done_testing();
 */
#ifndef EMBER_TAP_H
#define EMBER_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_vok(int cond, const char *fmt, va_list ap)
{
    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline __attribute__((format(printf, 2, 3)))
int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cond = tap_vok(cond, fmt, ap);
    va_end(ap);
    return cond;
}

static inline __attribute__((format(printf, 1, 2)))
void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static inline __attribute__((format(printf, 3, 4)))
int is_str(const char *got, const char *expected, const char *fmt, ...)
{
    va_list ap;
    int cond = (got == NULL && expected == NULL)
               || (got != NULL && expected != NULL && strcmp(got, expected) == 0);
    va_start(ap, fmt);
    tap_vok(cond, fmt, ap);
    va_end(ap);
    if (!cond) {
        printf("#   got:      %s%s%s\n", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
        printf("#   expected: %s%s%s\n", expected ? "\"" : "", expected ? expected : "NULL",
               expected ? "\"" : "");
    }
    return cond;
}

static inline __attribute__((format(printf, 3, 4)))
int is_int(long long got, long long expected, const char *fmt, ...)
{
    va_list ap;
    int cond = got == expected;
    va_start(ap, fmt);
    tap_vok(cond, fmt, ap);
    va_end(ap);
    if (!cond)
        printf("#   got: %lld, expected: %lld\n", got, expected);
    return cond;
}

static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
