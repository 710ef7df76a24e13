/*
 * base64.h - RFC 4648 base64, standard (section 4) and URL-safe (section 5)
 * alphabets, once for the core (event bodies) and the plugins (JWT, JWK).
 *
 * Allocation is the caller's: the core decodes into its pool, a plugin
 * with malloc.  Encoding pads with the standard alphabet, not with the
 * URL-safe one (JWT style).  Decoding takes either full padding or none;
 * anything else (a character outside the alphabet, '=' in the middle,
 * partial or excess padding, a length no encoder produces) is rejected.
 * One source file compiled into core/libember.a and plugins/common/libplugutil.la.
 */
#ifndef EMBER_COMMON_BASE64_H
#define EMBER_COMMON_BASE64_H

#include <stddef.h>

enum ember_b64 {
    EMBER_B64_STD = 0,      /* A-Z a-z 0-9 + /, padded */
    EMBER_B64_URL = 1       /* A-Z a-z 0-9 - _, unpadded */
};

/* The value (0-63) of c in the alphabet, or -1. */
int ember_b64_value(enum ember_b64 a, unsigned char c);

/* The encoded length of n bytes, without a NUL; SIZE_MAX if it cannot fit. */
size_t ember_b64_encoded_len(enum ember_b64 a, size_t n);

/* Encode in[0..n) into out (room for ember_b64_encoded_len + 1), NUL-terminated. */
void ember_b64_encode(enum ember_b64 a, const void *in, size_t n, char *out);

/* The most bytes s[0..n) can decode to (room to give ember_b64_decode, NUL included). */
size_t ember_b64_decoded_max(size_t n);

/* Decode s[0..n) into out (room for ember_b64_decoded_max(n)), NUL-terminated;
   *outlen the exact length.  0, or -1 if s is not valid in the alphabet. */
int ember_b64_decode(enum ember_b64 a, const char *s, size_t n, unsigned char *out,
                     size_t *outlen);

#endif
