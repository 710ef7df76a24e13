/*
 * keys.c - the auth plugin's key material: HMAC secrets and PEM public keys
 * read on first use, JWK (RSA n/e, EC crv/x/y) converted to PEM with GnuTLS,
 * and the small helpers the plugin's files share.
 */
#define _GNU_SOURCE  /* memmem, explicit_bzero */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <json-c/json.h>

#include "auth.h"

/* A key file or variable larger than this is not a public key. */
#define MAX_PEM_BYTES (64 * 1024)

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

const char *ember_auth_printable(char *out, size_t n, const char *s)
{
    size_t i;

    if (n == 0)
        return out;
    for (i = 0; s[i] != '\0' && i + 1 < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
    out[i] = '\0';
    if (s[i] != '\0' && n > 4)
        memcpy(out + n - 4, "...", 4);
    return out;
}

void ember_auth_crypto_ready(struct ember_auth_state *st)
{
    if (st->gnutls_ready)
        return;
    /* GnuTLS initialises itself when mapped; this takes a reference that
       fini releases, and makes the first use explicit. */
    if (gnutls_global_init() == GNUTLS_E_SUCCESS)
        st->gnutls_ready = 1;
}

int ember_auth_key_fits(jwt_alg_t alg, int pk, int curve)
{
    switch (alg) {
    case JWT_ALG_RS256: case JWT_ALG_RS384: case JWT_ALG_RS512:
        return pk == GNUTLS_PK_RSA;
    case JWT_ALG_ES256:
        return pk == GNUTLS_PK_EC && curve == GNUTLS_ECC_CURVE_SECP256R1;
    case JWT_ALG_ES384:
        return pk == GNUTLS_PK_EC && curve == GNUTLS_ECC_CURVE_SECP384R1;
    case JWT_ALG_ES512:
        return pk == GNUTLS_PK_EC && curve == GNUTLS_ECC_CURVE_SECP521R1;
    default:
        return 0;
    }
}

const char *ember_auth_key_name(int pk, int curve)
{
    if (pk == GNUTLS_PK_RSA)
        return "RSA";
    if (pk == GNUTLS_PK_EC) {
        switch (curve) {
        case GNUTLS_ECC_CURVE_SECP256R1: return "EC P-256";
        case GNUTLS_ECC_CURVE_SECP384R1: return "EC P-384";
        case GNUTLS_ECC_CURVE_SECP521R1: return "EC P-521";
        default: return "EC (unsupported curve)";
        }
    }
    return "unsupported key type";
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

    *pk = gnutls_pubkey_get_pk_algorithm(pub, &bits);
    *curve = 0;
    if (*pk == GNUTLS_PK_EC) {
        gnutls_ecc_curve_t c = GNUTLS_ECC_CURVE_INVALID;

        rc = gnutls_pubkey_export_ecc_raw2(pub, &c, NULL, NULL, 0);
        if (rc < 0)
            return rc;
        *curve = (int)c;
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
    if (*pk != GNUTLS_PK_RSA && *pk != GNUTLS_PK_EC) {
        snprintf(why, whylen, "unsupported key type (need RSA or EC)");
        free(*pem);
        *pem = NULL;
        return EMBER_ERROR;
    }
    return EMBER_OK;
}

/* Reads a whole small file into a malloc'd buffer owned by the caller. */
static unsigned char *read_file(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE          *f = fopen(path, "rb");
    unsigned char *buf;
    size_t         n;

    if (f == NULL) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    buf = ember_pu_xmalloc(MAX_PEM_BYTES + 1);
    n = fread(buf, 1, MAX_PEM_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(why, whylen, "read error");
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    if (n > MAX_PEM_BYTES) {
        snprintf(why, whylen, "larger than %d bytes: not a public key", MAX_PEM_BYTES);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A PEM in an environment variable often has "\n" written as two
   characters; turn them back into newlines.  Returns a malloc'd copy. */
static unsigned char *env_pem(const char *value, size_t *len)
{
    size_t         n = strlen(value), i, o = 0;
    unsigned char *out = ember_pu_xmalloc(n + 1);
    int            escaped = strchr(value, '\n') == NULL && strstr(value, "\\n") != NULL;

    for (i = 0; i < n; i++) {
        if (escaped && value[i] == '\\' && value[i + 1] == 'n') {
            out[o++] = '\n';
            i++;
        } else {
            out[o++] = (unsigned char)value[i];
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

int ember_auth_source_load(struct ember_auth_state *st, struct ember_auth_source *src,
                           struct ember_exchange *ex)
{
    const struct ember_host *host = st->host;
    unsigned char           *text = NULL;
    const char              *value;
    char                    *pem = NULL;
    char                     why[256];
    size_t                   n = 0, pem_len = 0;
    int                      pk = 0, curve = 0;

    if (src->loaded)
        return EMBER_OK;
    switch (src->kind) {
    case EMBER_AUTH_SECRET:
        value = getenv(src->ident);
        if (value == NULL || value[0] == '\0')
            return host->fail(ex->err, 500, "%s:%d: auth: secret_env: environment variable %s "
                              "is %s; set it to the HMAC secret", src->file, src->line,
                              src->ident, value == NULL ? "not set" : "empty");
        src->len = strlen(value);
        src->bytes = (unsigned char *)ember_pu_xstrndup(value, src->len);
        src->loaded = 1;
        return EMBER_OK;
    case EMBER_AUTH_PEM_FILE:
        text = read_file(src->ident, &n, why, sizeof(why));
        if (text == NULL)
            return host->fail(ex->err, 500, "%s:%d: auth: public_key_file %s: %s",
                              src->file, src->line, src->ident, why);
        break;
    case EMBER_AUTH_PEM_ENV:
        value = getenv(src->ident);
        if (value == NULL || value[0] == '\0')
            return host->fail(ex->err, 500, "%s:%d: auth: public_key_env: environment variable "
                              "%s is %s; set it to a PEM public key", src->file, src->line,
                              src->ident, value == NULL ? "not set" : "empty");
        if (strlen(value) > MAX_PEM_BYTES)
            return host->fail(ex->err, 500, "%s:%d: auth: public_key_env %s: larger than %d "
                              "bytes: not a public key", src->file, src->line, src->ident,
                              MAX_PEM_BYTES);
        text = env_pem(value, &n);
        break;
    case EMBER_AUTH_JWKS:
        return EMBER_OK;
    }
    ember_auth_crypto_ready(st);
    if (normalise_pem(text, n, &pem, &pem_len, &pk, &curve, why, sizeof(why)) != EMBER_OK) {
        free(text);
        return host->fail(ex->err, 500, "%s:%d: auth: %s %s: %s", src->file, src->line,
                          src->kind == EMBER_AUTH_PEM_FILE ? "public_key_file" : "public_key_env",
                          src->ident, why);
    }
    free(text);
    src->bytes = (unsigned char *)pem;
    src->len = pem_len;
    src->pk = pk;
    src->curve = curve;
    src->loaded = 1;
    host->log(EMBER_LOG_DEBUG, "auth: loaded %s public key from %s %s",
              ember_auth_key_name(pk, curve),
              src->kind == EMBER_AUTH_PEM_FILE ? "file" : "environment variable", src->ident);
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

void ember_auth_jwk_clear(struct ember_auth_jwk *key)
{
    free(key->kid);
    free(key->alg);
    free(key->pem);
    memset(key, 0, sizeof(*key));
}

int ember_auth_jwk_to_pem(struct json_object *jwk, struct ember_auth_jwk *key,
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
    ember_auth_jwk_clear(key);
    return EMBER_ERROR;
}

void ember_auth_source_clear(struct ember_auth_source *src)
{
    size_t i;

    if (src->bytes != NULL) {
        /* a secret must not outlive its use in freed memory */
        explicit_bzero(src->bytes, src->len);
        free(src->bytes);
    }
    src->bytes = NULL;
    src->len = 0;
    src->loaded = 0;
    for (i = 0; i < src->nkeys; i++)
        ember_auth_jwk_clear(&src->keys[i]);
    free(src->keys);
    src->keys = NULL;
    src->nkeys = 0;
}
