/*
 * mint-token - makes JWTs (good and deliberately bad) for the auth tests,
 * and the key material that goes with them.
 *
 *   mint-token [--alg ALG] [--secret-env NAME | --key PRIVATE.pem]
 *              [--claims JSON] [--exp T] [--nbf T] [--iat T] [--kid K]
 *              [--header JSON] [--pad N]
 *              [--none | --tamper | --truncate | --hs-with-public-key PUB.pem]
 *   mint-token --pubkey PRIVATE.pem             the public key, PEM
 *   mint-token --jwks KID=PRIVATE.pem...        {"keys":[...]} for those keys
 *
 * T is absolute seconds since the epoch, or +N / -N relative to now.
 * --pad N adds a claim "pad" of N characters (an oversized token).
 * --none:      alg "none", no signature.
 * --tamper:    one signature character changed.
 * --truncate:  the signature cut in half.
 * --hs-with-public-key PEM: HS256 (or --alg HS384/HS512) signed with the
 *              bytes of a PEM public key as the secret: key confusion.
 * The token is printed on stdout; errors on stderr, exit 1.
 */
#define _GNU_SOURCE  /* open_memstream, strndup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <json-c/json.h>
#include <jwt.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("mint-token: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE          *f = fopen(path, "rb");
    unsigned char *buf;
    size_t         n;

    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    buf = malloc(1024 * 1024 + 1);
    if (buf == NULL)
        die("out of memory");
    n = fread(buf, 1, 1024 * 1024, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static long when(const char *s)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s)
        die("bad time \"%s\" (seconds, +N or -N)", s);
    if (s[0] == '+' || s[0] == '-')
        v += (long)time(NULL);
    return v;
}

static void b64url_print(FILE *out, const unsigned char *p, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = ((unsigned long)p[i] << 16) | ((unsigned long)p[i + 1] << 8) | p[i + 2];

        fputc(alphabet[(v >> 18) & 63], out);
        fputc(alphabet[(v >> 12) & 63], out);
        fputc(alphabet[(v >> 6) & 63], out);
        fputc(alphabet[v & 63], out);
    }
    if (n - i == 1) {
        unsigned long v = (unsigned long)p[i] << 16;

        fputc(alphabet[(v >> 18) & 63], out);
        fputc(alphabet[(v >> 12) & 63], out);
    } else if (n - i == 2) {
        unsigned long v = ((unsigned long)p[i] << 16) | ((unsigned long)p[i + 1] << 8);

        fputc(alphabet[(v >> 18) & 63], out);
        fputc(alphabet[(v >> 12) & 63], out);
        fputc(alphabet[(v >> 6) & 63], out);
    }
}

/* A datum as a JSON string member, base64url, left-padded with zeros to
   `size` bytes when size > 0 (EC coordinates have a fixed size). */
static void b64_member(FILE *out, const char *name, const gnutls_datum_t *d, size_t size)
{
    unsigned char *buf;
    size_t         n = d->size, skip = 0;

    while (skip < n && d->data[skip] == 0 && n - skip > size)
        skip++;
    n -= skip;
    if (size < n)
        size = n;
    buf = calloc(1, size);
    if (buf == NULL)
        die("out of memory");
    memcpy(buf + (size - n), d->data + skip, n);
    fprintf(out, ",\"%s\":\"", name);
    b64url_print(out, buf, size);
    fputc('"', out);
    free(buf);
}

static gnutls_pubkey_t load_pubkey(const char *path)
{
    gnutls_x509_privkey_t x;
    gnutls_privkey_t      priv;
    gnutls_pubkey_t       pub;
    gnutls_datum_t        d;
    size_t                len;
    unsigned char        *text = slurp(path, &len);

    d.data = text;
    d.size = (unsigned int)len;
    if (gnutls_x509_privkey_init(&x) < 0 || gnutls_privkey_init(&priv) < 0
        || gnutls_pubkey_init(&pub) < 0)
        die("gnutls init failed");
    if (gnutls_x509_privkey_import(x, &d, GNUTLS_X509_FMT_PEM) < 0)
        die("%s: not a PEM private key", path);
    if (gnutls_privkey_import_x509(priv, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0
        || gnutls_pubkey_import_privkey(pub, priv, 0, 0) < 0)
        die("%s: cannot take the public key", path);
    gnutls_privkey_deinit(priv);
    free(text);
    return pub;
}

static void print_pubkey(const char *path)
{
    gnutls_pubkey_t pub = load_pubkey(path);
    gnutls_datum_t  out;

    if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &out) < 0)
        die("%s: cannot export the public key", path);
    fwrite(out.data, 1, out.size, stdout);
    gnutls_free(out.data);
    gnutls_pubkey_deinit(pub);
}

static void print_jwk(const char *spec)
{
    const char        *eq = strchr(spec, '=');
    char              *kid;
    gnutls_pubkey_t    pub;
    gnutls_datum_t     a, b;
    gnutls_ecc_curve_t curve;
    int                pk;

    if (eq == NULL)
        die("--jwks wants KID=PRIVATE.pem, not \"%s\"", spec);
    kid = strndup(spec, (size_t)(eq - spec));
    pub = load_pubkey(eq + 1);
    pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
    printf("{\"kid\":\"%s\",\"use\":\"sig\"", kid);
    if (pk == GNUTLS_PK_RSA) {
        if (gnutls_pubkey_export_rsa_raw2(pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
            die("%s: cannot export n, e", eq + 1);
        printf(",\"kty\":\"RSA\"");
        b64_member(stdout, "n", &a, 0);
        b64_member(stdout, "e", &b, 0);
    } else if (pk == GNUTLS_PK_EC) {
        size_t size;

        if (gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
            die("%s: cannot export x, y", eq + 1);
        size = curve == GNUTLS_ECC_CURVE_SECP256R1 ? 32
               : curve == GNUTLS_ECC_CURVE_SECP384R1 ? 48 : 66;
        printf(",\"kty\":\"EC\",\"crv\":\"%s\"", size == 32 ? "P-256" : size == 48 ? "P-384"
               : "P-521");
        b64_member(stdout, "x", &a, size);
        b64_member(stdout, "y", &b, size);
    } else {
        die("%s: not an RSA or EC key", eq + 1);
    }
    printf("}");
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(pub);
    free(kid);
}

/*
 * libjwt 1.10's GnuTLS backend lays ES signatures out wrongly (it can read
 * them back, nobody else can): sign "header.payload" again the way RFC 7518
 * says, r and s as fixed-size big-endian integers.  Returns a new token,
 * frees the old one.
 */
static char *es_resign(char *token, const unsigned char *pem, size_t pem_len, jwt_alg_t alg)
{
    gnutls_x509_privkey_t x;
    gnutls_privkey_t      priv;
    gnutls_datum_t        key = { (unsigned char *)pem, (unsigned int)pem_len };
    gnutls_datum_t        data, der, r, s;
    gnutls_digest_algorithm_t dig = alg == JWT_ALG_ES256 ? GNUTLS_DIG_SHA256
                                    : alg == JWT_ALG_ES384 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA512;
    size_t                size = alg == JWT_ALG_ES256 ? 32 : alg == JWT_ALG_ES384 ? 48 : 66;
    unsigned char         raw[2 * 66];
    char                 *dot = strrchr(token, '.'), *out;
    FILE                 *f;
    size_t                n;

    data.data = (unsigned char *)token;
    data.size = (unsigned int)(dot - token);
    if (gnutls_x509_privkey_init(&x) < 0 || gnutls_privkey_init(&priv) < 0
        || gnutls_x509_privkey_import(x, &key, GNUTLS_X509_FMT_PEM) < 0
        || gnutls_privkey_import_x509(priv, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0
        || gnutls_privkey_sign_data(priv, dig, 0, &data, &der) < 0
        || gnutls_decode_rs_value(&der, &r, &s) < 0)
        die("ES signing failed (is --key an EC private key of the right curve?)");
    memset(raw, 0, sizeof(raw));
    n = r.size;
    while (n > size && r.data[r.size - n] == 0)
        n--;
    memcpy(raw + size - n, r.data + r.size - n, n);
    n = s.size;
    while (n > size && s.data[s.size - n] == 0)
        n--;
    memcpy(raw + 2 * size - n, s.data + s.size - n, n);
    out = NULL;
    n = 0;
    f = open_memstream(&out, &n);
    fwrite(token, 1, (size_t)(dot - token) + 1, f);
    b64url_print(f, raw, 2 * size);
    fclose(f);
    gnutls_free(der.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    gnutls_privkey_deinit(priv);
    free(token);
    return out;
}

int main(int argc, char **argv)
{
    const char    *alg_name = "HS256", *secret_env = NULL, *key_file = NULL;
    const char    *claims = NULL, *header = NULL, *kid = NULL, *hs_pub = NULL;
    long           exp = 0, nbf = 0, iat = 0, pad = 0;
    int            has_exp = 0, has_nbf = 0, has_iat = 0, none = 0, tamper = 0, truncate = 0;
    unsigned char *key = NULL;
    size_t         key_len = 0;
    jwt_alg_t      alg;
    jwt_t         *jwt;
    char          *token, *sig;
    int            i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--pubkey") == 0 && v != NULL) {
            print_pubkey(v);
            return 0;
        }
        if (strcmp(a, "--jwks") == 0) {
            printf("{\"keys\":[");
            for (i++; i < argc; i++) {
                print_jwk(argv[i]);
                if (i + 1 < argc)
                    printf(",");
            }
            printf("]}\n");
            return 0;
        }
        if (strcmp(a, "--none") == 0) {
            none = 1;
            continue;
        }
        if (strcmp(a, "--tamper") == 0) {
            tamper = 1;
            continue;
        }
        if (strcmp(a, "--truncate") == 0) {
            truncate = 1;
            continue;
        }
        if (v == NULL)
            die("%s: unknown option or missing value (see the comment in tests/mint-token.c)", a);
        i++;
        if (strcmp(a, "--alg") == 0)
            alg_name = v;
        else if (strcmp(a, "--secret-env") == 0)
            secret_env = v;
        else if (strcmp(a, "--key") == 0)
            key_file = v;
        else if (strcmp(a, "--claims") == 0)
            claims = v;
        else if (strcmp(a, "--header") == 0)
            header = v;
        else if (strcmp(a, "--kid") == 0)
            kid = v;
        else if (strcmp(a, "--hs-with-public-key") == 0)
            hs_pub = v;
        else if (strcmp(a, "--exp") == 0) {
            exp = when(v);
            has_exp = 1;
        }
        else if (strcmp(a, "--nbf") == 0) {
            nbf = when(v);
            has_nbf = 1;
        }
        else if (strcmp(a, "--iat") == 0) {
            iat = when(v);
            has_iat = 1;
        }
        else if (strcmp(a, "--pad") == 0)
            pad = atol(v);
        else
            die("unknown option %s", a);
    }

    if (jwt_new(&jwt) != 0)
        die("jwt_new failed");
    if (claims != NULL && jwt_add_grants_json(jwt, claims) != 0)
        die("--claims: not a JSON object: %s", claims);
    if (has_exp && jwt_add_grant_int(jwt, "exp", exp) != 0)
        die("exp: already in --claims");
    if (has_nbf && jwt_add_grant_int(jwt, "nbf", nbf) != 0)
        die("nbf: already in --claims");
    if (has_iat && jwt_add_grant_int(jwt, "iat", iat) != 0)
        die("iat: already in --claims");
    if (pad > 0) {
        char *p = malloc((size_t)pad + 1);

        if (p == NULL)
            die("out of memory");
        memset(p, 'x', (size_t)pad);
        p[pad] = '\0';
        jwt_add_grant(jwt, "pad", p);
        free(p);
    }
    if (kid != NULL)
        jwt_add_header(jwt, "kid", kid);
    if (header != NULL && jwt_add_headers_json(jwt, header) != 0)
        die("--header: not a JSON object: %s", header);

    alg = jwt_str_alg(alg_name);
    if (none) {
        alg = JWT_ALG_NONE;
    } else if (hs_pub != NULL) {
        if (alg < JWT_ALG_HS256 || alg > JWT_ALG_HS512)
            alg = JWT_ALG_HS256;
        key = slurp(hs_pub, &key_len);
    } else if (alg >= JWT_ALG_HS256 && alg <= JWT_ALG_HS512) {
        const char *s = secret_env != NULL ? getenv(secret_env) : NULL;

        if (s == NULL || s[0] == '\0')
            die("%s needs --secret-env NAME with $NAME set", alg_name);
        key = (unsigned char *)strdup(s);
        key_len = strlen(s);
    } else if (alg >= JWT_ALG_RS256 && alg <= JWT_ALG_ES512) {
        if (key_file == NULL)
            die("%s needs --key PRIVATE.pem", alg_name);
        key = slurp(key_file, &key_len);
    } else {
        die("unknown --alg %s", alg_name);
    }
    if (jwt_set_alg(jwt, alg, key, (int)key_len) != 0)
        die("jwt_set_alg %s failed", alg_name);
    token = jwt_encode_str(jwt);
    if (token == NULL)
        die("jwt_encode_str failed (is the key right for %s?)", jwt_alg_str(alg));
    sig = strrchr(token, '.');
    if (alg >= JWT_ALG_ES256 && alg <= JWT_ALG_ES512)
        token = es_resign(token, key, key_len, alg);
    sig = strrchr(token, '.');
    if (tamper && sig != NULL && sig[1] != '\0')
        sig[1] = sig[1] == 'A' ? 'B' : 'A';   /* the first character: all 6 bits count */
    if (truncate && sig != NULL)
        sig[1 + strlen(sig + 1) / 2] = '\0';
    printf("%s\n", token);
    free(token);
    free(key);
    jwt_free(jwt);
    return 0;
}
