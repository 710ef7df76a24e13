/*
 * pct.h - percent-encoding (RFC 3986) for paths and query strings.
 *
 * Decoding is lenient as browsers are: a '%' without two hex digits stays
 * as it is.  It never fails; whoever decodes checks the result (a NUL byte,
 * UTF-8) as its own rules say.
 */
#ifndef EMBER_PCT_H
#define EMBER_PCT_H

#include <stddef.h>
#include "buf.h"

/* The value of hex digit c, or -1. */
int ember_pct_hexval(unsigned char c);

/*
 * Decode s[0..n) into dst (room for n + 1 bytes), NUL-terminated; returns
 * the decoded length (a "%00" gives a NUL inside it).  With `plus`, '+' is
 * a space (form encoding: query strings only, never paths).
 */
size_t ember_pct_decode(char *dst, const char *s, size_t n, int plus);

/* 1 if s[0..n), decoded (no `plus`), is exactly lit[0..litlen).  Allocates nothing. */
int ember_pct_equal(const char *s, size_t n, const char *lit, size_t litlen);

/* Append s percent-encoded: everything but RFC 3986 unreserved characters. */
void ember_pct_encode(struct ember_buf *b, const char *s);

#endif
