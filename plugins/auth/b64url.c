/*
 * b64url.c - base64url (common/base64.c's, behind auth's names) and the
 * algorithm names: the little that both auth.so and auth-pk.so need (each
 * carries its own copy, hidden).
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base64.h"

int ember_auth_b64url_value(unsigned char c)
{
    return ember_b64_value(EMBER_B64_URL, c);
}

/* Returns a malloc'd buffer owned by the caller, or NULL (common/base64.c's rules). */
unsigned char *ember_auth_b64url_decode(const char *s, size_t n, size_t *len)
{
    unsigned char *out = ember_pu_xmalloc(ember_b64_decoded_max(n));

    if (ember_b64_decode(EMBER_B64_URL, s, n, out, len) != 0) {
        free(out);
        return NULL;
    }
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
