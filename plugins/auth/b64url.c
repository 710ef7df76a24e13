/*
 * b64url.c - base64url and the algorithm names: the little that both
 * auth.so and auth-pk.so need (each carries its own copy, hidden).
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int ember_auth_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Returns a malloc'd buffer owned by the caller, or NULL. */
unsigned char *ember_auth_b64url_decode(const char *s, size_t n, size_t *len)
{
    unsigned char *out;
    unsigned long  acc = 0;
    size_t         i, o = 0;
    int            bits = 0;

    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    out = ember_pu_xmalloc(n / 4 * 3 + 3);
    for (i = 0; i < n; i++) {
        int v = ember_auth_b64url_value((unsigned char)s[i]);

        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1ul << bits) - 1;
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static const char *const alg_names[] = {
    [EMBER_AUTH_HS256] = "HS256", [EMBER_AUTH_HS384] = "HS384", [EMBER_AUTH_HS512] = "HS512",
    [EMBER_AUTH_RS256] = "RS256", [EMBER_AUTH_RS384] = "RS384", [EMBER_AUTH_RS512] = "RS512",
    [EMBER_AUTH_ES256] = "ES256", [EMBER_AUTH_ES384] = "ES384", [EMBER_AUTH_ES512] = "ES512",
};

enum ember_auth_alg ember_auth_alg_from_name(const char *name)
{
    size_t i;

    if (name == NULL)
        return EMBER_AUTH_ALG_INVAL;
    for (i = 1; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
        if (strcmp(name, alg_names[i]) == 0)
            return (enum ember_auth_alg)i;
    }
    return EMBER_AUTH_ALG_INVAL;
}

const char *ember_auth_alg_name(enum ember_auth_alg alg)
{
    if ((size_t)alg >= 1 && (size_t)alg < sizeof(alg_names) / sizeof(alg_names[0]))
        return alg_names[alg];
    return "?";
}
