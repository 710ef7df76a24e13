/*
 * auth.c - fuzz target: the auth plugin's real handle (plugins/auth), from
 * the Authorization header or a cookie to verified claims, with the core's
 * host table and settings its config parser read.
 *
 * Input: byte 0 picks the mode, byte 1 the route (see CONF).
 *   mode 0  the rest is the header's value (as the client sent it)
 *   mode 1  the rest is the cookie's value
 *   mode 2  JOSE header JSON, byte 0x01, claims JSON: signed here with the
 *           route's secret (HS256/384/512 by byte 2), so the fuzzer gets
 *           past the signature into the claim checks
 * Oracles: ASan/UBSan; an unsigned or wrongly signed token (modes 0 and 1:
 * the fuzzer cannot compute an HMAC) is never let through; a token let
 * through leaves a claims object with what the route requires; a refusal
 * is 401 or 403 with WWW-Authenticate.
 */
#include "config.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "plugin.h"

extern const struct ember_plugin ember_plugin_auth;

#define SECRET "fuzz-secret-of-thirty-two-bytes!"

static const char CONF[] =
    "plugin auth {\n"
    "    secret_env FUZZ_JWT_SECRET\n"
    "}\n"
    "route GET /plain {\n"
    "    auth\n"
    "}\n"
    "route GET /strict {\n"
    "    auth {\n"
    "        algorithms HS256 HS384 HS512\n"
    "        issuer https://issuer.example/\n"
    "        audience ember-api other-api\n"
    "        require_claims sub role\n"
    "        require_scopes read write\n"
    "        leeway 30\n"
    "    }\n"
    "}\n"
    "route GET /cookie {\n"
    "    auth {\n"
    "        cookie session\n"
    "        algorithms HS512 HS256\n"
    "    }\n"
    "}\n"
    "route GET /raw {\n"
    "    auth {\n"
    "        header x-token\n"
    "        scheme ''\n"
    "        max_token_bytes 600\n"
    "    }\n"
    "}\n";

enum { R_PLAIN, R_STRICT, R_COOKIE, R_RAW, NROUTES };

static void b64url(struct ember_buf *b, const unsigned char *s, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned) s[i] << 16 | (unsigned) s[i + 1] << 8 | s[i + 2];
        char     q[4] = { abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63] };

        ember_buf_append(b, q, 4);
    }
    if (n - i == 1) {
        unsigned v = (unsigned) s[i] << 16;
        char     q[2] = { abc[v >> 18], abc[(v >> 12) & 63] };

        ember_buf_append(b, q, 2);
    } else if (n - i == 2) {
        unsigned v = (unsigned) s[i] << 16 | (unsigned) s[i + 1] << 8;
        char     q[3] = { abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63] };

        ember_buf_append(b, q, 3);
    }
}

/* header.claims.signature, HMAC with SECRET. Caller frees. */
static char *sign(const char *head, size_t hlen, const char *claims, size_t clen, unsigned which)
{
    static const gnutls_mac_algorithm_t macs[] = {
        GNUTLS_MAC_SHA256, GNUTLS_MAC_SHA384, GNUTLS_MAC_SHA512
    };
    static const size_t sizes[] = { 32, 48, 64 };
    struct ember_buf    b = EMBER_BUF_INIT;
    unsigned char       mac[64];

    b64url(&b, (const unsigned char *) head, hlen);
    ember_buf_puts(&b, ".");
    b64url(&b, (const unsigned char *) claims, clen);
    if (gnutls_hmac_fast(macs[which % 3], SECRET, strlen(SECRET), b.data, b.len, mac) != 0)
        abort();
    ember_buf_puts(&b, ".");
    b64url(&b, mac, sizes[which % 3]);
    return b.data;
}

static int has_member(struct json_object *o, const char *name)
{
    return json_object_object_get_ex(o, name, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_plugin   p;
    static struct ember_pool *pool;
    struct fz                 f = { data, size };
    struct fz_exchange        x;
    struct ember_request      req;
    struct ember_kv           h[2], ck[2];
    struct json_object       *claims = NULL;
    const char               *www;
    char                     *value, *head = NULL, *token = NULL;
    size_t                    vlen, hlen;
    unsigned                  mode, route, alg;
    int                       rc;

    if (pool == NULL) {
        fz_quiet();
        setenv("FUZZ_JWT_SECRET", SECRET, 1);
        pool = ember_pool_create();
        fz_plugin_setup(&p, &ember_plugin_auth, CONF);
        if (p.nroutes != NROUTES)
            abort();
    }
    mode = fz_byte(&f) % 3;
    route = fz_byte(&f) % NROUTES;
    if (mode == 2) {
        alg = fz_byte(&f);
        head = fz_until(&f, 0x01, &hlen);
        value = fz_rest(&f, &vlen);
        token = sign(head, hlen, value, vlen, alg);
        free(value);
        value = token;
    } else {
        value = fz_rest(&f, &vlen);
        if (strlen(value) != vlen) {            /* headers and cookies are C strings */
            free(value);
            return 0;
        }
    }

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/fuzz";
    req.raw_query = "";
    req.source = "v2";
    req.request_id = "fuzz";
    if (route == R_COOKIE) {
        ck[0].name = "other";
        ck[0].value = "x";
        ck[1].name = "session";
        ck[1].value = value;
        req.cookies = ck;
        req.ncookies = 2;
    } else {
        h[0].name = "user-agent";
        h[0].value = "fuzz";
        h[1].name = route == R_RAW ? "x-token" : "authorization";
        h[1].value = mode == 2 && route != R_RAW ? ember_pool_sprintf(pool, "Bearer %s", value)
                     : value;
        req.headers = h;
        req.nheaders = 2;
    }
    fz_exchange_init(&x, pool, &req);
    rc = ember_plugin_auth.handle(p.state, p.route_state[route], &x.ex);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "fuzz auth: mode %u route %u: rc %d status %d: %s\n", mode, route, rc,
                x.res.status, x.err.message);
    if (rc == EMBER_CONTINUE) {
        if (mode != 2)
            abort();                            /* let through without a signature */
        if (!json_object_object_get_ex(x.ex.vars, "claims", &claims)
            || !json_object_is_type(claims, json_type_object))
            abort();
        if (route == R_STRICT && (!has_member(claims, "sub") || !has_member(claims, "role")
                                  || !has_member(claims, "iss")))
            abort();
    } else if (rc == EMBER_DONE) {
        www = NULL;
        for (size_t i = 0; i < x.res.nheaders; i++)
            if (strcmp(x.res.headers[i].name, "www-authenticate") == 0)
                www = x.res.headers[i].value;
        if ((x.res.status != 401 && x.res.status != 403) || www == NULL)
            abort();
    } else if (rc != EMBER_ERROR) {
        abort();
    }
    fz_exchange_done(&x);
    ember_pool_reset(pool);
    free(head);
    free(value);
    return 0;
}
