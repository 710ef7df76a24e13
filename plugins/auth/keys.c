/*
 * keys.c - the auth plugin's key material: HMAC secrets and PEM public keys
 * read on first use, auth-pk.so (libjwt, GnuTLS: PEM and JWK keys, RS* and
 * ES* signatures) mapped the first time a public key is needed, and the
 * small helpers the plugin's files share.
 */
#define _GNU_SOURCE  /* dladdr, explicit_bzero */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "pk.h"

/* A key file or variable larger than this is not a public key. */
#define MAX_PEM_BYTES (64 * 1024)

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

/*
 * "<directory of auth.so>/auth-pk.so", malloc'd (the caller frees it):
 * installed next to the plugin, whatever directory the core found it in.
 */
static char *pk_path(void)
{
    Dl_info     info;
    const char *slash;
    char       *path;
    size_t      dir;

    if (dladdr((const void *)(uintptr_t)&pk_path, &info) == 0 || info.dli_fname == NULL)
        return ember_pu_xstrdup(EMBER_AUTH_PK_FILE);
    slash = strrchr(info.dli_fname, '/');
    dir = slash != NULL ? (size_t)(slash - info.dli_fname) + 1 : 0;
    path = ember_pu_xmalloc(dir + sizeof(EMBER_AUTH_PK_FILE));
    memcpy(path, info.dli_fname, dir);
    memcpy(path + dir, EMBER_AUTH_PK_FILE, sizeof(EMBER_AUTH_PK_FILE));
    return path;
}

/* Maps auth-pk.so and initialises GnuTLS. EMBER_OK, or EMBER_ERROR with why. */
static int pk_map(struct ember_auth_state *st, char *why, size_t whylen)
{
    const struct ember_auth_pk *pk = st->pk;
    void                       *dl;
    char                       *path;
    const char                 *e;

    if (pk == NULL) {
        path = pk_path();
        dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (dl == NULL) {
            e = dlerror();
            snprintf(why, whylen, "cannot load %s: %s; it verifies RS* and ES* tokens and "
                     "belongs next to auth.so (check the ZIP's plugins/)", path,
                     e != NULL ? e : "dlopen failed");
            free(path);
            return EMBER_ERROR;
        }
        pk = dlsym(dl, EMBER_AUTH_PK_SYMBOL);
        if (pk == NULL || pk->abi != EMBER_AUTH_PK_ABI) {
            if (pk == NULL)
                snprintf(why, whylen, "%s: no symbol %s", path, EMBER_AUTH_PK_SYMBOL);
            else
                snprintf(why, whylen, "%s: ABI %u, auth.so needs %u (both must come from the "
                         "same build)", path, (unsigned)pk->abi, (unsigned)EMBER_AUTH_PK_ABI);
            dlclose(dl);
            free(path);
            return EMBER_ERROR;
        }
        free(path);
        st->pk_dl = dl;
        st->pk = pk;
    }
    if (!st->pk_ready && pk->init() == 0)
        st->pk_ready = 1;
    return EMBER_OK;
}

int ember_auth_pk_load(struct ember_auth_state *st, struct ember_exchange *ex)
{
    char why[512];
    int  mapped = st->pk_dl != NULL;

    if (st->pk != NULL && st->pk_ready)
        return EMBER_OK;
    if (pk_map(st, why, sizeof(why)) != EMBER_OK)
        return st->host->fail(ex->err, 503, "auth: %s", why);
    if (!mapped && st->pk_dl != NULL)
        st->host->mark(ex, "dlopen.auth-pk");
    return EMBER_OK;
}

void ember_auth_pk_preload(struct ember_auth_state *st)
{
    char why[512];

    if (pk_map(st, why, sizeof(why)) != EMBER_OK)
        st->host->log(EMBER_LOG_WARN, "auth: EMBER_PRELOAD: %s; the first public key tries "
                      "again", why);
}

void ember_auth_pk_unload(struct ember_auth_state *st)
{
    if (st->pk == NULL)
        return;
    if (st->pk_ready)
        st->pk->fini();
    st->pk_ready = 0;
    st->pk = NULL;
#ifndef EMBER_ASAN
    if (st->pk_dl != NULL)
        dlclose(st->pk_dl);
#endif
    st->pk_dl = NULL;
}

int ember_auth_key_fits(enum ember_auth_alg alg, int pk, int curve)
{
    switch (alg) {
    case EMBER_AUTH_RS256: case EMBER_AUTH_RS384: case EMBER_AUTH_RS512:
        return pk == EMBER_AUTH_PK_RSA;
    case EMBER_AUTH_ES256:
        return pk == EMBER_AUTH_PK_EC && curve == EMBER_AUTH_CURVE_P256;
    case EMBER_AUTH_ES384:
        return pk == EMBER_AUTH_PK_EC && curve == EMBER_AUTH_CURVE_P384;
    case EMBER_AUTH_ES512:
        return pk == EMBER_AUTH_PK_EC && curve == EMBER_AUTH_CURVE_P521;
    default:
        return 0;
    }
}

const char *ember_auth_key_name(int pk, int curve)
{
    if (pk == EMBER_AUTH_PK_RSA)
        return "RSA";
    if (pk == EMBER_AUTH_PK_EC) {
        switch (curve) {
        case EMBER_AUTH_CURVE_P256: return "EC P-256";
        case EMBER_AUTH_CURVE_P384: return "EC P-384";
        case EMBER_AUTH_CURVE_P521: return "EC P-521";
        default: return "EC (unsupported curve)";
        }
    }
    return "unsupported key type";
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
    if (ember_auth_pk_load(st, ex) != EMBER_OK) {
        free(text);
        return EMBER_ERROR;
    }
    if (st->pk->normalise_pem(text, n, &pem, &pem_len, &pk, &curve, why, sizeof(why))
        != EMBER_OK) {
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

void ember_auth_jwk_clear(struct ember_auth_jwk *key)
{
    free(key->kid);
    free(key->alg);
    free(key->pem);
    memset(key, 0, sizeof(*key));
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
