/*
 * pk.h - the interface between auth.so and auth-pk.so, the shared object
 * that holds everything that needs libjwt and GnuTLS: RS* and ES* tokens,
 * PEM keys and JWK -> PEM.
 *
 * auth.so links neither: HS256/384/512 tokens are verified in auth.so with
 * nettle's HMAC (static, hidden; hs.c), so an HS-only route maps no libjwt
 * and no GnuTLS.  auth-pk.so is dlopen()ed from auth.so's own directory the
 * first time a request needs a public key (see keys.c), like auth-jwks.so
 * at the first JWKS fetch.  It is not an ember plugin; it exports one
 * symbol, ember_auth_pk, whose abi auth.so checks before use.
 */
#ifndef EMBER_AUTH_PK_H
#define EMBER_AUTH_PK_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define EMBER_AUTH_PK_FILE    "auth-pk.so"
#define EMBER_AUTH_PK_SYMBOL  "ember_auth_pk"
/* Bump on any change to struct ember_auth_pk or to what its calls mean. */
#define EMBER_AUTH_PK_ABI     1

struct json_object;

/* What auth-pk.so's verify() says of a token. */
enum ember_auth_pk_verdict {
    EMBER_AUTH_PK_BAD = 0,       /* libjwt refused it (signature, header, JSON) */
    EMBER_AUTH_PK_GOOD = 1,      /* signature good, libjwt read the same alg */
    EMBER_AUTH_PK_OTHER_ALG = 2  /* signature good, but libjwt read another alg */
};

struct ember_auth_pk {
    uint32_t abi;                /* EMBER_AUTH_PK_ABI */

    /* gnutls_global_init (a reference fini releases). 0, or -1. */
    int  (*init)(void);
    void (*fini)(void);

    /*
     * PEM text (a public key or a certificate) -> a normalised "PUBLIC KEY"
     * PEM (malloc'd, NUL-terminated, the caller frees it) and its type
     * (EMBER_AUTH_PK_RSA/EC, EMBER_AUTH_CURVE_*).  EMBER_OK, or EMBER_ERROR
     * with why filled.
     */
    int  (*normalise_pem)(const unsigned char *text, size_t n, char **pem, size_t *len,
                          int *pk, int *curve, char *why, size_t whylen);

    /*
     * A JWK object (kty RSA with n,e; kty EC with crv,x,y) -> *key (whose
     * members the caller frees with ember_auth_jwk_clear).  EMBER_OK, or
     * EMBER_ERROR with why filled.
     */
    int  (*jwk_to_pem)(struct json_object *jwk, struct ember_auth_jwk *key,
                       char *why, size_t whylen);

    /*
     * libjwt's jwt_decode of token with key (a PEM for RS* and ES*, the secret
     * for HS*), expecting algorithm alg.  With grants non-NULL and a GOOD
     * verdict, *grants is libjwt's own reading of the payload as JSON text
     * (malloc'd; the caller frees it) - the differential test compares it
     * with auth.so's.
     */
    enum ember_auth_pk_verdict (*verify)(const char *token, enum ember_auth_alg alg,
                                         const unsigned char *key, size_t key_len,
                                         char **grants);
};

/* auth-pk.so's one symbol (pk.c); auth.so finds it with dlsym */
extern EMBER_PLUGIN_EXPORT const struct ember_auth_pk ember_auth_pk;

#endif
