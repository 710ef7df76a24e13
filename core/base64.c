/*
 * base64.c - RFC 4648 base64 for event bodies (standard alphabet).
 *
 * Encoding always pads.  Decoding accepts input with full padding or with
 * none at all; anything else (a character outside the alphabet, '=' in the
 * middle, partial padding, a length that cannot come from encoding) is
 * rejected with -1.  The alphabet is a parameter of the static helpers, so
 * base64url (RFC 4648 section 5) is one more table away.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

struct alphabet {
    const char *enc;    /* the 64 characters, in value order */
    int         pad;    /* the encoder writes '=' padding */
};

static const struct alphabet std_alphabet = {
    .enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    .pad = 1,
};

/* The value of c in alphabet a, or -1.  Letters and digits are shared by
   every RFC 4648 alphabet; only the last two characters differ. */
static int value(const struct alphabet *a, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (unsigned char) a->enc[62])
        return 62;
    if (c == (unsigned char) a->enc[63])
        return 63;
    return -1;
}

/* Encoded length of n bytes, without the NUL. */
static size_t encoded_len(size_t n, int pad)
{
    size_t full = n / 3 * 4;

    if (n % 3 == 0)
        return full;
    return full + (pad ? 4 : n % 3 + 1);
}

/* Returns a pool-allocated, NUL-terminated string; *outlen set if not NULL. */
static char *encode_with(const struct alphabet *a, struct ember_pool *pool,
                         const void *data, size_t len, size_t *outlen)
{
    const unsigned char *in = data;
    const char          *enc = a->enc;
    size_t               n, i, o = 0;
    char                *out;

    if (len > (SIZE_MAX - 8) / 4 * 3)
        abort();    /* larger than any object in memory can be */
    n = encoded_len(len, a->pad);
    out = ember_pool_alloc(pool, n + 1);
    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];

        out[o++] = enc[v >> 18 & 63];
        out[o++] = enc[v >> 12 & 63];
        out[o++] = enc[v >> 6 & 63];
        out[o++] = enc[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t) in[i] << 16;

        out[o++] = enc[v >> 18 & 63];
        out[o++] = enc[v >> 12 & 63];
        if (a->pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;

        out[o++] = enc[v >> 18 & 63];
        out[o++] = enc[v >> 12 & 63];
        out[o++] = enc[v >> 6 & 63];
        if (a->pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/*
 * Decode len characters of s into a pool-allocated buffer (NUL-terminated,
 * exact length in *outlen).  Returns 0, or -1 on invalid input (then
 * *out = NULL, *outlen = 0).
 */
static int decode_with(const struct alphabet *a, struct ember_pool *pool,
                       const char *s, size_t len, char **out, size_t *outlen)
{
    const unsigned char *in = (const unsigned char *) s;
    size_t               n = len, pad = 0, i, o = 0;
    unsigned char       *dst;

    *out = NULL;
    *outlen = 0;
    if (s == NULL && len > 0)
        return -1;
    while (n > 0 && pad < 2 && in[n - 1] == '=') {
        n--;
        pad++;
    }
    if (n % 4 == 1)
        return -1;                      /* no encoder emits 6 bits alone */
    if (pad > 0 && (n + pad) % 4 != 0)
        return -1;                      /* partial or excess padding */
    for (i = 0; i < n; i++)
        if (value(a, in[i]) < 0)
            return -1;
    dst = ember_pool_alloc(pool, n / 4 * 3 + 3);
    for (i = 0; i + 4 <= n; i += 4) {
        uint32_t v = (uint32_t) value(a, in[i]) << 18 | (uint32_t) value(a, in[i + 1]) << 12
                     | (uint32_t) value(a, in[i + 2]) << 6 | (uint32_t) value(a, in[i + 3]);

        dst[o++] = (unsigned char) (v >> 16);
        dst[o++] = (unsigned char) (v >> 8);
        dst[o++] = (unsigned char) v;
    }
    if (n - i == 2) {
        uint32_t v = (uint32_t) value(a, in[i]) << 18 | (uint32_t) value(a, in[i + 1]) << 12;

        dst[o++] = (unsigned char) (v >> 16);
    } else if (n - i == 3) {
        uint32_t v = (uint32_t) value(a, in[i]) << 18 | (uint32_t) value(a, in[i + 1]) << 12
                     | (uint32_t) value(a, in[i + 2]) << 6;

        dst[o++] = (unsigned char) (v >> 16);
        dst[o++] = (unsigned char) (v >> 8);
    }
    dst[o] = '\0';
    *out = (char *) dst;
    *outlen = o;
    return 0;
}

char *ember_base64_encode(struct ember_pool *pool, const void *data, size_t len, size_t *outlen)
{
    return encode_with(&std_alphabet, pool, data, len, outlen);
}

int ember_base64_decode(struct ember_pool *pool, const char *s, size_t len,
                        char **out, size_t *outlen)
{
    return decode_with(&std_alphabet, pool, s, len, out, outlen);
}
