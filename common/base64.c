/*
 * base64.c - RFC 4648 base64, both alphabets, strict decoding.  See base64.h.
 */
#include <stdint.h>
#include <string.h>

#include "base64.h"

static const char *const alphabets[] = {
    [EMBER_B64_STD] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    [EMBER_B64_URL] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

int ember_b64_value(enum ember_b64 a, unsigned char c)
{
    /* letters and digits are shared by both alphabets; the last two differ */
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (unsigned char) alphabets[a][62])
        return 62;
    if (c == (unsigned char) alphabets[a][63])
        return 63;
    return -1;
}

size_t ember_b64_encoded_len(enum ember_b64 a, size_t n)
{
    size_t full;

    if (n > (SIZE_MAX - 8) / 4 * 3)
        return SIZE_MAX;
    full = n / 3 * 4;
    if (n % 3 == 0)
        return full;
    return full + (a == EMBER_B64_STD ? 4 : n % 3 + 1);
}

void ember_b64_encode(enum ember_b64 a, const void *data, size_t len, char *out)
{
    const unsigned char *in = data;
    const char          *enc = alphabets[a];
    size_t               i, o = 0;

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
        if (a == EMBER_B64_STD) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;

        out[o++] = enc[v >> 18 & 63];
        out[o++] = enc[v >> 12 & 63];
        out[o++] = enc[v >> 6 & 63];
        if (a == EMBER_B64_STD)
            out[o++] = '=';
    }
    out[o] = '\0';
}

size_t ember_b64_decoded_max(size_t n)
{
    return n / 4 * 3 + 3;
}

int ember_b64_decode(enum ember_b64 a, const char *s, size_t len, unsigned char *dst,
                     size_t *outlen)
{
    const unsigned char *in = (const unsigned char *) s;
    size_t               n = len, pad = 0, i, o = 0;

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
        if (ember_b64_value(a, in[i]) < 0)
            return -1;
    for (i = 0; i + 4 <= n; i += 4) {
        uint32_t v = (uint32_t) ember_b64_value(a, in[i]) << 18
                     | (uint32_t) ember_b64_value(a, in[i + 1]) << 12
                     | (uint32_t) ember_b64_value(a, in[i + 2]) << 6
                     | (uint32_t) ember_b64_value(a, in[i + 3]);

        dst[o++] = (unsigned char) (v >> 16);
        dst[o++] = (unsigned char) (v >> 8);
        dst[o++] = (unsigned char) v;
    }
    if (n - i == 2) {
        uint32_t v = (uint32_t) ember_b64_value(a, in[i]) << 18
                     | (uint32_t) ember_b64_value(a, in[i + 1]) << 12;

        dst[o++] = (unsigned char) (v >> 16);
    } else if (n - i == 3) {
        uint32_t v = (uint32_t) ember_b64_value(a, in[i]) << 18
                     | (uint32_t) ember_b64_value(a, in[i + 1]) << 12
                     | (uint32_t) ember_b64_value(a, in[i + 2]) << 6;

        dst[o++] = (unsigned char) (v >> 16);
        dst[o++] = (unsigned char) (v >> 8);
    }
    dst[o] = '\0';
    *outlen = o;
    return 0;
}
