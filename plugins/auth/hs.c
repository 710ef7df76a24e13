/*
 * hs.c - HS256/384/512 signatures with nettle's HMAC, linked statically
 * into auth.so (hidden), so that HS tokens map neither libjwt nor GnuTLS.
 *
 * The check is libjwt's (what auth did before, and what the differential
 * test tests/auth-diff compares it with): the HMAC of "header.payload" under
 * the secret, encoded as base64url without padding, must be the token's
 * third segment exactly.  So a signature segment with other trailing bits,
 * padding or any other length is refused, as libjwt refuses it; unlike
 * libjwt's strcmp, the comparison here does not stop at the first
 * difference (nettle's memeql_sec).
 */
#include <stdint.h>
#include <string.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "auth.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url of n bytes, no padding, into out (room for 4 * n / 3 + 4). */
static size_t encode(const uint8_t *in, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
    }
    return o;
}

int ember_auth_hs_verify(enum ember_auth_alg alg, const unsigned char *key, size_t key_len,
                         const char *input, size_t n, const char *sig, size_t sig_len)
{
    uint8_t mac[SHA512_DIGEST_SIZE];
    char    want[SHA512_DIGEST_SIZE * 4 / 3 + 4];
    size_t  mac_len, want_len;
    int     same;

    switch (alg) {
    case EMBER_AUTH_HS256: {
        struct hmac_sha256_ctx c;

        hmac_sha256_set_key(&c, key_len, key);
        hmac_sha256_update(&c, n, (const uint8_t *)input);
        hmac_sha256_digest(&c, SHA256_DIGEST_SIZE, mac);
        mac_len = SHA256_DIGEST_SIZE;
        break;
    }
    case EMBER_AUTH_HS384: {
        struct hmac_sha384_ctx c;

        hmac_sha384_set_key(&c, key_len, key);
        hmac_sha384_update(&c, n, (const uint8_t *)input);
        hmac_sha384_digest(&c, SHA384_DIGEST_SIZE, mac);
        mac_len = SHA384_DIGEST_SIZE;
        break;
    }
    case EMBER_AUTH_HS512: {
        struct hmac_sha512_ctx c;

        hmac_sha512_set_key(&c, key_len, key);
        hmac_sha512_update(&c, n, (const uint8_t *)input);
        hmac_sha512_digest(&c, SHA512_DIGEST_SIZE, mac);
        mac_len = SHA512_DIGEST_SIZE;
        break;
    }
    default:
        return 0;
    }
    want_len = encode(mac, mac_len, want);
    /* the length is public (it follows from alg), the bytes are not */
    same = sig_len == want_len && memeql_sec(want, sig, want_len);
    memset(mac, 0, sizeof(mac));
    return same;
}
