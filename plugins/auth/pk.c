/*
 * pk.c - auth-pk.so: what the auth plugin needs of libjwt and GnuTLS, and
 * nothing else (see pk.h): RS* and ES* signatures (libjwt's jwt_decode),
 * PEM keys and certificates normalised to a "PUBLIC KEY" PEM, JWK -> PEM.
 * auth.so dlopen()s it the first time a request needs a public key.
 */
#define _GNU_SOURCE  /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <json-c/json.h>
#include <jwt.h>

#include "auth.h"
#include "pk.h"

static int pk_init(void)
{
    /* GnuTLS initialises itself when mapped; this takes a reference that
       fini releases, and makes the first use explicit. */
    return gnutls_global_init() == GNUTLS_E_SUCCESS ? 0 : -1;
}

static void pk_fini(void)
{
    gnutls_global_deinit();
}

/* GnuTLS's key type and curve -> EMBER_AUTH_PK_* / EMBER_AUTH_CURVE_* */
static int pk_type(int pk)
{
    return pk == GNUTLS_PK_RSA ? EMBER_AUTH_PK_RSA : pk == GNUTLS_PK_EC ? EMBER_AUTH_PK_EC : 0;
}

static int curve_of(gnutls_ecc_curve_t c)
{
    switch (c) {
    case GNUTLS_ECC_CURVE_SECP256R1: return EMBER_AUTH_CURVE_P256;
    case GNUTLS_ECC_CURVE_SECP384R1: return EMBER_AUTH_CURVE_P384;
    case GNUTLS_ECC_CURVE_SECP521R1: return EMBER_AUTH_CURVE_P521;
    default: return -1;
    }
}

/*
 * Exports pub as a "PUBLIC KEY" PEM into a malloc'd, NUL-terminated buffer
 * owned by the caller, and its type into *pk / *curve.  0 or a GnuTLS error.
 */
static int export_pem(gnutls_pubkey_t pub, char **pem, size_t *len, int *pk, int *curve)
{
    gnutls_datum_t out = { NULL, 0 };
    unsigned int   bits = 0;
    int            rc;

    *pk = pk_type(gnutls_pubkey_get_pk_algorithm(pub, &bits));
    *curve = 0;
    if (*pk == EMBER_AUTH_PK_EC) {
        gnutls_ecc_curve_t c = GNUTLS_ECC_CURVE_INVALID;

        rc = gnutls_pubkey_export_ecc_raw2(pub, &c, NULL, NULL, 0);
        if (rc < 0)
            return rc;
        *curve = curve_of(c);
    }
    rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &out);
    if (rc < 0)
        return rc;
    *pem = ember_pu_xstrndup((const char *)out.data, out.size);
    *len = out.size;
    gnutls_free(out.data);
    return 0;
}

/*
 * Turns PEM text (a public key or a certificate) into a normalised
 * "PUBLIC KEY" PEM that libjwt's GnuTLS backend accepts.
 */
static int normalise_pem(const unsigned char *text, size_t n, char **pem, size_t *len,
                         int *pk, int *curve, char *why, size_t whylen)
{
    gnutls_datum_t  in = { (unsigned char *)text, (unsigned int)n };
    gnutls_pubkey_t pub;
    int             rc;

    if (gnutls_pubkey_init(&pub) < 0)
        abort();
    if (memmem(text, n, "-----BEGIN CERTIFICATE-----", 27) != NULL)
        rc = gnutls_pubkey_import_x509_raw(pub, &in, GNUTLS_X509_FMT_PEM, 0);
    else
        rc = gnutls_pubkey_import(pub, &in, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        snprintf(why, whylen, "not a PEM public key or certificate (%s)", gnutls_strerror(rc));
        gnutls_pubkey_deinit(pub);
        return EMBER_ERROR;
    }
    rc = export_pem(pub, pem, len, pk, curve);
    gnutls_pubkey_deinit(pub);
    if (rc < 0) {
        snprintf(why, whylen, "cannot export the key (%s)", gnutls_strerror(rc));
        return EMBER_ERROR;
    }
    if (*pk != EMBER_AUTH_PK_RSA && *pk != EMBER_AUTH_PK_EC) {
        snprintf(why, whylen, "unsupported key type (need RSA or EC)");
        free(*pem);
        *pem = NULL;
        return EMBER_ERROR;
    }
    return EMBER_OK;
}

/* Decodes the base64url string member `name` of jwk into *out (gnutls datum
   over a malloc'd buffer the caller frees). */
static int jwk_bytes(struct json_object *jwk, const char *name, gnutls_datum_t *out,
                     char *why, size_t whylen)
{
    struct json_object *v;
    size_t              len = 0;
    unsigned char      *buf;

    if (!json_object_object_get_ex(jwk, name, &v) || !json_object_is_type(v, json_type_string)) {
        snprintf(why, whylen, "member \"%s\" missing or not a string", name);
        return EMBER_ERROR;
    }
    buf = ember_auth_b64url_decode(json_object_get_string(v),
                                   (size_t)json_object_get_string_len(v), &len);
    if (buf == NULL || len == 0) {
        free(buf);
        snprintf(why, whylen, "member \"%s\" is not base64url", name);
        return EMBER_ERROR;
    }
    out->data = buf;
    out->size = (unsigned int)len;
    return EMBER_OK;
}

static const char *jwk_string(struct json_object *jwk, const char *name)
{
    struct json_object *v;

    if (!json_object_object_get_ex(jwk, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void jwk_clear(struct ember_auth_jwk *key)
{
    free(key->kid);
    free(key->alg);
    free(key->pem);
    memset(key, 0, sizeof(*key));
}

static int jwk_to_pem(struct json_object *jwk, struct ember_auth_jwk *key,
                      char *why, size_t whylen)
{
    gnutls_datum_t  a = { NULL, 0 }, b = { NULL, 0 };
    gnutls_pubkey_t pub;
    const char     *kty = jwk_string(jwk, "kty");
    const char     *s;
    int             rc = GNUTLS_E_SUCCESS;
    int             ecc = 0;

    memset(key, 0, sizeof(*key));
    if (kty == NULL) {
        snprintf(why, whylen, "no \"kty\"");
        return EMBER_ERROR;
    }
    s = jwk_string(jwk, "use");
    if (s != NULL && strcmp(s, "sig") != 0) {
        snprintf(why, whylen, "\"use\" is \"%.16s\", not \"sig\"", s);
        return EMBER_ERROR;
    }
    if (strcmp(kty, "RSA") == 0) {
        if (jwk_bytes(jwk, "n", &a, why, whylen) != EMBER_OK
            || jwk_bytes(jwk, "e", &b, why, whylen) != EMBER_OK)
            goto fail;
    } else if (strcmp(kty, "EC") == 0) {
        s = jwk_string(jwk, "crv");
        if (s == NULL) {
            snprintf(why, whylen, "EC key without \"crv\"");
            return EMBER_ERROR;
        }
        if (strcmp(s, "P-256") == 0) {
            ecc = GNUTLS_ECC_CURVE_SECP256R1;
        } else if (strcmp(s, "P-384") == 0) {
            ecc = GNUTLS_ECC_CURVE_SECP384R1;
        } else if (strcmp(s, "P-521") == 0) {
            ecc = GNUTLS_ECC_CURVE_SECP521R1;
        } else {
            snprintf(why, whylen, "unsupported curve \"%.16s\"", s);
            return EMBER_ERROR;
        }
        if (jwk_bytes(jwk, "x", &a, why, whylen) != EMBER_OK
            || jwk_bytes(jwk, "y", &b, why, whylen) != EMBER_OK)
            goto fail;
    } else {
        /* "oct" (a symmetric key) is never taken from a JWKS. */
        snprintf(why, whylen, "unsupported \"kty\" \"%.16s\"", kty);
        return EMBER_ERROR;
    }

    if (gnutls_pubkey_init(&pub) < 0)
        abort();
    if (ecc != 0)
        rc = gnutls_pubkey_import_ecc_raw(pub, (gnutls_ecc_curve_t)ecc, &a, &b);
    else
        rc = gnutls_pubkey_import_rsa_raw(pub, &a, &b);
    if (rc >= 0)
        rc = export_pem(pub, &key->pem, &key->pem_len, &key->pk, &key->curve);
    gnutls_pubkey_deinit(pub);
    if (rc < 0) {
        snprintf(why, whylen, "GnuTLS refused the key: %s", gnutls_strerror(rc));
        goto fail;
    }
    s = jwk_string(jwk, "kid");
    key->kid = s != NULL ? ember_pu_xstrdup(s) : NULL;
    s = jwk_string(jwk, "alg");
    key->alg = s != NULL ? ember_pu_xstrdup(s) : NULL;
    free(a.data);
    free(b.data);
    return EMBER_OK;

fail:
    free(a.data);
    free(b.data);
    jwk_clear(key);
    return EMBER_ERROR;
}

static enum ember_auth_pk_verdict verify(const char *token, enum ember_auth_alg alg,
                                         const unsigned char *key, size_t key_len,
                                         char **grants)
{
    jwt_t                     *jwt = NULL;
    enum ember_auth_pk_verdict v;
    char                      *g;

    if (jwt_decode(&jwt, token, key, (int)key_len) != 0 || jwt == NULL)
        return EMBER_AUTH_PK_BAD;
    /* libjwt parsed the header itself: it must have seen what auth.so saw */
    v = jwt_get_alg(jwt) == jwt_str_alg(ember_auth_alg_name(alg)) ? EMBER_AUTH_PK_GOOD
                                                                    : EMBER_AUTH_PK_OTHER_ALG;
    if (v == EMBER_AUTH_PK_GOOD && grants != NULL) {
        g = jwt_get_grants_json(jwt, NULL);
        *grants = g != NULL ? ember_pu_xstrdup(g) : NULL;
        free(g);     /* libjwt 1.10: malloc()ed, no jwt_free_str */
    }
    jwt_free(jwt);
    return v;
}

EMBER_PLUGIN_EXPORT const struct ember_auth_pk ember_auth_pk = {
    .abi           = EMBER_AUTH_PK_ABI,
    .init          = pk_init,
    .fini          = pk_fini,
    .normalise_pem = normalise_pem,
    .jwk_to_pem    = jwk_to_pem,
    .verify        = verify,
};
