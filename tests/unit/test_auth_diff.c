/*
 * test_auth_diff.c - the differential test of auth's two HS* paths: every
 * token gets the same verdict (good, or refused with the same status) and
 * the same claims whether auth.so checks its signature with nettle (hs.c,
 * what an HS route runs) or with libjwt's jwt_decode (auth-pk.so's verify,
 * what auth did before; st.hs_libjwt = 1).  When both accept, libjwt's own
 * reading of the payload (jansson) must equal auth's (json-c) too.
 *
 *   test_auth_diff [-n N] [--seed S] [--tokens FILE]
 *
 * The tokens: the catalogue of tests/routes/auth (tests/auth-diff.test mints
 * it with tests/mint-token into FILE, one token a line), the same kinds
 * minted here with libjwt, then N (default 100000) random ones: headers and
 * payloads drawn from pools of valid and hostile JSON (escapes, \u0000,
 * numbers past int64 and double, invalid UTF-8, duplicate members, json-c
 * extensions that RFC 8259 and jansson refuse), signed with HS256/384/512
 * (sometimes with another secret), about half then mutated byte by byte
 * (signature trailing bits, padding, dots, truncation).  Each token is
 * checked against one of three route settings (HS256 only; all HS with
 * leeway, issuer, audience, required claims and a scope; HS384/512).
 * auth.c is included (verify() and the settings code reachable); auth-pk.so
 * is linked in (pk.c) instead of dlopen()ed.  TAP.
 */
#define _GNU_SOURCE
#include "config.h"

#include "../../plugins/auth/auth.c"

#include <errno.h>

#include <gnutls/crypto.h>
#include <jwt.h>

#include "../tap.h"

#define SECRET       "differential-secret-0123456789abcdef"
#define OTHER_SECRET "another-secret"
#define SECRET_ENV   "EMBER_DIFF_SECRET"

/* ------------------------------------------------------------ the fake host */

static void h_log(int level, const char *fmt, ...)
{
    (void) level; (void) fmt;
}

static int h_fail(struct ember_error *err, int status, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return EMBER_ERROR;
}

static int64_t h_remaining(const struct ember_exchange *ex) { (void) ex; return INT64_MAX; }
static void h_mark(struct ember_exchange *ex, const char *phase) { (void) ex; (void) phase; }

static const struct ember_host host = {
    .abi = EMBER_PLUGIN_ABI, .log = h_log, .fail = h_fail, .remaining_ms = h_remaining,
    .mark = h_mark,
};

static struct ember_auth_state st;

/* ------------------------------------------------------------ route settings */

#define MAXD 8
struct route {
    const char                  *name;
    struct ember_conf_directive  d[MAXD];
    const char                  *argv[MAXD][4];
    struct ember_conf_block      b;
    struct ember_auth_conf      *c;
};

static void directive(struct route *r, const char *name, const char *a0, const char *a1,
                      const char *a2)
{
    size_t i = r->b.n++;

    r->argv[i][0] = a0;
    r->argv[i][1] = a1;
    r->argv[i][2] = a2;
    r->d[i].name = name;
    r->d[i].argc = a2 != NULL ? 3 : a1 != NULL ? 2 : 1;
    r->d[i].argv = r->argv[i];
    r->d[i].file = "diff.conf";
    r->d[i].line = (int)i + 1;
}

static void route_ready(struct route *r)
{
    struct ember_error err = { 0 };

    r->b.name = "auth";
    r->b.file = "diff.conf";
    r->b.line = 1;
    r->b.d = r->d;
    r->c = conf_collect(&host, &r->b, &err);
    if (r->c == NULL || conf_check(&st, r->c, 1, &err) != EMBER_OK) {
        printf("Bail out! route %s: %s\n", r->name, err.message);
        exit(1);
    }
}

/* ------------------------------------------------------------ minting */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t pick(size_t n) { return (size_t)(next() % n); }

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url(struct ember_pu_buf *b, const unsigned char *in, size_t n)
{
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        char     q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63],
                          b64chars[(v >> 6) & 63], b64chars[v & 63] };

        ember_pu_buf_add(b, q, 4);
    }
    if (n - i == 1) {
        char q[2] = { b64chars[in[i] >> 2], b64chars[(in[i] & 3) << 4] };

        ember_pu_buf_add(b, q, 2);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        char     q[3] = { b64chars[v >> 18], b64chars[(v >> 12) & 63], b64chars[(v >> 6) & 63] };

        ember_pu_buf_add(b, q, 3);
    }
}

/* header.payload.HMAC (GnuTLS's, not nettle's: independent of hs.c).
   Returns a malloc'd token. */
static char *sign(const char *alg, const char *key, const char *header, size_t hlen,
                  const char *payload, size_t plen)
{
    struct ember_pu_buf      b = { 0 };
    unsigned char            mac[64];
    gnutls_mac_algorithm_t   m = strcmp(alg, "HS384") == 0 ? GNUTLS_MAC_SHA384
                               : strcmp(alg, "HS512") == 0 ? GNUTLS_MAC_SHA512 : GNUTLS_MAC_SHA256;

    b64url(&b, (const unsigned char *)header, hlen);
    ember_pu_buf_adds(&b, ".");
    b64url(&b, (const unsigned char *)payload, plen);
    if (gnutls_hmac_fast(m, key, strlen(key), b.p, b.len, mac) != 0)
        abort();
    ember_pu_buf_adds(&b, ".");
    b64url(&b, mac, gnutls_hmac_get_len(m));
    return b.p;
}

/* libjwt's own token (its header: {"alg":...,"typ":"JWT"}). */
static char *libjwt_token(const char *alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    char  *s, *t;

    if (jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, claims) != 0
        || jwt_set_alg(jwt, jwt_str_alg(alg), (const unsigned char *)key, (int)strlen(key)) != 0)
        abort();
    s = jwt_encode_str(jwt);
    t = ember_pu_xstrdup(s);
    free(s);
    jwt_free(jwt);
    return t;
}

/* ------------------------------------------------------------ the comparison */

struct outcome {
    enum ember_auth_verdict v;
    int                     status;
    char                   *claims;       /* GOOD: the claims as JSON text (malloc'd) */
};

static void run(struct route *r, const char *token, int libjwt, struct outcome *o)
{
    struct ember_error     err = { 0 };
    struct ember_exchange  ex = { 0 };
    struct json_object    *claims = NULL;
    char                   why[256];

    ex.host = &host;
    ex.err = &err;
    st.hs_libjwt = libjwt;
    o->status = 0;
    o->claims = NULL;
    o->v = verify(&st, r->c, &ex, token, &claims, &o->status, why, sizeof(why));
    if (o->v == EMBER_AUTH_FAILED)
        o->status = err.status;
    if (o->v == EMBER_AUTH_GOOD) {
        o->claims = ember_pu_xstrdup(json_object_to_json_string_ext(claims,
                                                                   JSON_C_TO_STRING_PLAIN));
        json_object_put(claims);
    }
}

static unsigned long n_tokens, n_good, n_refused, n_mismatch, n_grants;

static void diag_token(const char *what, const char *token, const struct outcome *a,
                       const struct outcome *b)
{
    if (n_mismatch > 8)
        return;
    diag("%s: nettle %d/%d, libjwt %d/%d: %.300s", what, (int)a->v, a->status, (int)b->v,
         b->status, token);
}

/* libjwt's reading of the payload of a token both paths accepted. */
static void compare_grants(const char *token, const char *claims_text, const struct outcome *a)
{
    struct json_object *head, *ours, *theirs;
    const char         *alg;
    char               *grants = NULL;
    const char         *dot = strchr(token, '.');
    int                 present;

    head = segment_json(token, (size_t)(dot - token));
    alg = head != NULL ? member_string(head, "alg", &present) : NULL;
    if (alg == NULL
        || ember_auth_pk.verify(token, ember_auth_alg_from_name(alg),
                                (const unsigned char *)SECRET, strlen(SECRET), &grants)
           != EMBER_AUTH_PK_GOOD
        || grants == NULL) {
        n_mismatch++;
        diag_token("libjwt would not give its grants", token, a, a);
        json_object_put(head);
        free(grants);
        return;
    }
    ours = json_tokener_parse(claims_text);
    theirs = json_tokener_parse(grants);
    if (!json_object_equal(ours, theirs)) {
        n_mismatch++;
        if (n_mismatch <= 8)
            diag("claims differ: auth %s, libjwt %s", claims_text, grants);
    }
    n_grants++;
    json_object_put(ours);
    json_object_put(theirs);
    json_object_put(head);
    free(grants);
}

static void check(struct route *r, const char *token)
{
    struct outcome a, b;

    run(r, token, 0, &a);
    run(r, token, 1, &b);
    n_tokens++;
    if (a.v != b.v || a.status != b.status
        || (a.claims != NULL) != (b.claims != NULL)
        || (a.claims != NULL && strcmp(a.claims, b.claims) != 0)) {
        n_mismatch++;
        diag_token(r->name, token, &a, &b);
    } else if (a.v == EMBER_AUTH_GOOD) {
        n_good++;
        compare_grants(token, a.claims, &a);
    } else {
        n_refused++;
    }
    free(a.claims);
    free(b.claims);
}

/* ------------------------------------------------------------ the pools */

static const char *const headers[] = {
    "{\"alg\":\"%s\"}", "{\"alg\":\"%s\",\"typ\":\"JWT\"}", "{\"typ\":\"JWT\",\"alg\":\"%s\"}",
    "{\"alg\":\"%s\",\"kid\":\"k1\"}", "{\"alg\":\"%s\",\"typ\":\"jwt\"}",
    "{\"alg\":\"%s\",\"typ\":\"JOSE\"}", "{\"alg\":\"%s\",\"crit\":[\"exp\"]}",
    "{\"alg\":\"%s\",\"kid\":5}", "{\"alg\":\"%s\",\"typ\":null}", "{\"alg\":\"%s\",\"cty\":\"JWT\"}",
    " {\"alg\" : \"%s\" }\n", "{\"alg\":\"%s\",}", "{'alg':'%s'}", "{\"alg\":\"%s\"}x",
    "{\"alg\":\"%s\"} ", "\xef\xbb\xbf{\"alg\":\"%s\"}", "{\"alg\":\"%s\",\"x\":\"\xff\"}",
    "{\"alg\":\"%s\",\"x\":\"\\u0000\"}", "{\"alg\":\"%s\",\"x\":1e400}",
    "{\"alg\":\"%s\",\"x\":123456789012345678901234567890}", "{\"alg\":\"%s\",\"alg\":\"HS512\"}",
    "{\"alg\":\"HS256\",\"alg\":\"%s\"}", "{\"alg\":\"%s\"/*c*/}", "{\"alg\":\"%s\",\"x\":NaN}",
    "[\"%s\"]", "{\"alg\":[\"%s\"]}", "{\"alg\":\"none\",\"x\":\"%s\"}", "{\"alg\":\"%s\",\"x\":\"\\ud800\"}",
    "{\"alg\":\"%s\",\"x\":\"\\u00e9\\ud83d\\ude00\"}", "{\"a\\u006cg\":\"%s\"}",
    "{\"alg\":\"%s\\u0000\"}", "{\"alg\":\"%s\",\"typ\":\"JWT\",\"n\":-0}",
};

static const char *const algs[] = {
    "HS256", "HS384", "HS512", "HS256", "HS384", "HS512", "RS256", "ES256", "none", "hs256",
    "HS1024", "", "HS\\u0032\\u00356",
};

/* claim fragments; %ld takes a time (now + an offset far from any boundary) */
static const char *const fragments[] = {
    "\"sub\":\"alice\"", "\"exp\":%ld", "\"exp\":%ld", "\"exp\":%ld", "\"nbf\":%ld", "\"iat\":%ld",
    "\"exp\":\"%ld\"", "\"exp\":%ld.5", "\"exp\":true", "\"exp\":null", "\"nbf\":[%ld]",
    "\"exp\":9223372036854775807", "\"exp\":9223372036854775808", "\"exp\":-9223372036854775809",
    "\"exp\":18446744073709551616", "\"exp\":1e400", "\"exp\":-1e400", "\"exp\":1E+10",
    "\"iss\":\"https://issuer.example/\"", "\"iss\":\"https://evil.example/\"", "\"iss\":5",
    "\"aud\":\"ember-api\"", "\"aud\":[\"x\",\"other-api\"]", "\"aud\":\"someone-else\"",
    "\"aud\":[]", "\"aud\":7", "\"scope\":\"openid items:read\"", "\"scope\":\"items:write\"",
    "\"scp\":[\"items:read\"]", "\"scp\":\"items:read\"", "\"tenant\":\"t1\"", "\"tenant\":null",
    "\"email\":\"alice@example.com\"", "\"x\":{\"deep\":[1,2,{\"a\":null}],\"f\":-0.0}",
    "\"n\":123456789012345678901234567890", "\"u\":\"\\u00e9\\ud83d\\ude00\"", "\"z\":\"\\u0000\"",
    "\"zz\":\"a\\\\u0000\"", "\"bad\":\"\xc3\x28\"", "\"lead\":01", "\"t\":tru", "\"nan\":NaN",
    "\"inf\":Infinity", "\"sub\":\"a\",\"sub\":\"b\"", "\"q\":'single'", "\"c\":1/*x*/",
    "\"e\":1.0e-400", "\"big\":1.7976931348623157e308", "\"h\":0x10", "\"s\":\"tab\\there\"",
    "\"ctl\":\"a\x01b\"", "\"esc\":\"\\/\\b\\f\\n\\r\\t\\\"\"", "\"sur\":\"\\udc00\"",
};

/* claims a good token carries (half the random tokens draw only from these) */
static const char *const benign[] = {
    "\"sub\":\"alice\"", "\"exp\":%ld", "\"nbf\":%ld", "\"iat\":%ld",
    "\"iss\":\"https://issuer.example/\"", "\"aud\":\"ember-api\"",
    "\"aud\":[\"x\",\"other-api\"]", "\"scope\":\"openid items:read\"",
    "\"scp\":[\"items:read\"]", "\"tenant\":\"t1\"", "\"email\":\"alice@example.com\"",
    "\"x\":{\"deep\":[1,2,{\"a\":null}],\"f\":-0.0}", "\"u\":\"\\u00e9\\ud83d\\ude00\"",
    "\"exp\":%ld.25", "\"n\":-12", "\"r\":6.02e23",
};

static const long offsets[] = { -100000, -3600, -600, -100, -10, 10, 100, 600, 3600, 100000 };

static void payload(struct ember_pu_buf *b, long now, int good)
{
    size_t i, n = good ? 2 + pick(8) : pick(7);
    char   frag[256];
    int    shape = good ? 99 : (int)pick(40);

    ember_pu_buf_adds(b, shape == 0 ? "[" : shape == 1 ? " {" : "{");
    for (i = 0; i < n; i++) {
        const char *f = good ? benign[pick(sizeof(benign) / sizeof(benign[0]))]
                             : fragments[pick(sizeof(fragments) / sizeof(fragments[0]))];

        snprintf(frag, sizeof(frag), f, now + offsets[pick(sizeof(offsets) / sizeof(offsets[0]))]);
        if (i > 0)
            ember_pu_buf_adds(b, ",");
        ember_pu_buf_adds(b, frag);
    }
    ember_pu_buf_adds(b, shape == 0 ? "]" : shape == 2 ? "}," : shape == 3 ? "} " : "}");
}

static char *mutate(const char *t)
{
    static const char alphabet[] = "AQgw_-09azAZ.=+/ \t%";
    size_t            n = strlen(t), k, rounds = 1 + pick(3);
    char             *m = ember_pu_xmalloc(n + rounds * 2 + 2);

    memcpy(m, t, n + 1);
    for (k = 0; k < rounds && n > 0; k++) {
        size_t at = pick(n);

        switch (pick(7)) {
        case 0:         /* replace */
            m[at] = alphabet[pick(sizeof(alphabet) - 1)];
            break;
        case 1:         /* delete */
            memmove(m + at, m + at + 1, n - at);
            n--;
            break;
        case 2:         /* insert */
            memmove(m + at + 1, m + at, n - at + 1);
            m[at] = alphabet[pick(sizeof(alphabet) - 1)];
            n++;
            break;
        case 3:         /* truncate */
            m[at] = '\0';
            n = at;
            break;
        case 4: {       /* the signature's last character: other trailing bits */
            int v = ember_auth_b64url_value((unsigned char)m[n - 1]);

            if (v >= 0)
                m[n - 1] = b64chars[(v & ~3) | (int)pick(4)];
            break;
        }
        case 5:         /* padding */
            memcpy(m + n, "=", 2);
            n++;
            break;
        default:        /* one bit of a character */
            if (m[at] != '.' && ember_auth_b64url_value((unsigned char)m[at]) >= 0)
                m[at] = b64chars[ember_auth_b64url_value((unsigned char)m[at]) ^ (1 << pick(6))];
            break;
        }
    }
    return m;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    static struct route routes[3];
    struct route       *hs = &routes[0], *full = &routes[1], *wide = &routes[2];
    const char         *tokens_file = NULL;
    unsigned long       n = 100000, i, catalogue = 0, mutated = 0;
    long                now = (long)time(NULL);
    struct timespec     t0, t1;
    int                 k;

    for (k = 1; k < argc; k++) {
        if (strcmp(argv[k], "-n") == 0 && k + 1 < argc)
            n = strtoul(argv[++k], NULL, 10);
        else if (strcmp(argv[k], "--seed") == 0 && k + 1 < argc)
            rng = strtoull(argv[++k], NULL, 0) | 1;
        else if (strcmp(argv[k], "--tokens") == 0 && k + 1 < argc)
            tokens_file = argv[++k];
        else {
            printf("Bail out! usage: %s [-n N] [--seed S] [--tokens FILE]\n", argv[0]);
            return 1;
        }
    }
    setenv(SECRET_ENV, SECRET, 1);
    setenv("EMBER_TEST_JWT_SECRET", SECRET, 1);     /* tests/mint-token's secret */
    st.host = &host;
    st.pk = &ember_auth_pk;                          /* as if auth-pk.so were mapped */
    ok(ember_auth_pk.init() == 0, "GnuTLS initialised");
    st.pk_ready = 1;

    hs->name = "HS256 only";
    directive(hs, "secret_env", SECRET_ENV, NULL, NULL);
    directive(hs, "algorithms", "HS256", NULL, NULL);
    route_ready(hs);
    full->name = "HS*, leeway, iss, aud, claims, scope";
    directive(full, "secret_env", SECRET_ENV, NULL, NULL);
    directive(full, "algorithms", "HS256", "HS384", "HS512");
    directive(full, "leeway", "30", NULL, NULL);
    directive(full, "issuer", "https://issuer.example/", NULL, NULL);
    directive(full, "audience", "ember-api", "other-api", NULL);
    directive(full, "require_claims", "sub", NULL, NULL);
    directive(full, "require_scopes", "items:read", NULL, NULL);
    route_ready(full);
    wide->name = "HS384 HS512";
    directive(wide, "secret_env", SECRET_ENV, NULL, NULL);
    directive(wide, "algorithms", "HS384", "HS512", NULL);
    route_ready(wide);

    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* 1. the catalogue, as tests/mint-token made it for tests/routes/auth */
    if (tokens_file != NULL) {
        FILE *f = fopen(tokens_file, "r");
        char  line[16384];

        if (f == NULL) {
            printf("Bail out! %s: %s\n", tokens_file, strerror(errno));
            return 1;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] == '\0')
                continue;
            for (k = 0; k < 3; k++)
                check(&routes[k], line);
            catalogue++;
        }
        fclose(f);
        ok(catalogue >= 15, "the catalogue of tests/routes/auth: %lu tokens, each on 3 routes",
           catalogue);
    }

    /* 2. the same kinds, minted here with libjwt */
    {
        static const char *const claims[] = {
            "{\"sub\":\"alice\",\"exp\":%ld}", "{\"sub\":\"alice\",\"exp\":%ld}",
            "{\"sub\":\"alice\",\"iss\":\"https://issuer.example/\",\"aud\":[\"x\",\"other-api\"],"
            "\"scope\":\"items:read\",\"exp\":%ld}",
            "{\"sub\":\"alice\",\"nbf\":%ld}", "{\"email\":\"a@example.com\",\"exp\":%ld}",
            "{\"sub\":\"alice\",\"scp\":[\"items:read\",\"items:write\"],\"exp\":%ld,"
            "\"iss\":\"https://issuer.example/\",\"aud\":\"ember-api\"}",
        };
        char   c[512];
        size_t a, j, o;

        for (a = 0; a < 3; a++) {
            for (j = 0; j < sizeof(claims) / sizeof(claims[0]); j++) {
                for (o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
                    char *t, *m;

                    snprintf(c, sizeof(c), claims[j], now + offsets[o]);
                    t = libjwt_token(algs[a], o % 3 == 0 ? OTHER_SECRET : SECRET, c);
                    m = mutate(t);
                    for (k = 0; k < 3; k++) {
                        check(&routes[k], t);
                        check(&routes[k], m);
                    }
                    catalogue += 2;
                    free(t);
                    free(m);
                }
            }
        }
    }

    /* 3. random and mutated */
    for (i = 0; i < n; i++) {
        struct ember_pu_buf h = { 0 }, p = { 0 };
        int                 good = pick(2) == 0;
        const char         *alg = algs[pick(good ? 3 : sizeof(algs) / sizeof(algs[0]))];
        const char         *sig_alg = alg;
        char                hbuf[256];
        char               *t;

        snprintf(hbuf, sizeof(hbuf), headers[pick(good ? 4 : sizeof(headers) / sizeof(headers[0]))],
                 alg);
        ember_pu_buf_adds(&h, hbuf);
        payload(&p, now, good);
        if (strncmp(sig_alg, "HS", 2) != 0 || strlen(sig_alg) != 5)
            sig_alg = algs[pick(3)];
        t = sign(sig_alg, pick(10) == 0 ? OTHER_SECRET : SECRET, h.p, h.len, p.p, p.len);
        if (pick(good ? 4 : 2) == 0) {
            char *m = mutate(t);

            free(t);
            t = m;
            mutated++;
        }
        check(&routes[pick(3)], t);
        free(t);
        free(h.p);
        free(p.p);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);

    ok(n_mismatch == 0, "%lu tokens (%lu catalogue-like, %lu random, %lu of them mutated): "
       "nettle and libjwt agree on every verdict, status and claims (%lu mismatches)",
       n_tokens, catalogue, n, mutated, n_mismatch);
    ok(n_good >= n / 20 && n_refused >= n / 2,
       "both outcomes well represented: %lu accepted (claims equal to libjwt's own reading in "
       "%lu), %lu refused", n_good, n_grants, n_refused);
    diag("%.2f s (%.1f us per token, both paths)",
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3)
         / (double)(n_tokens > 0 ? n_tokens : 1));

    for (k = 0; k < 3; k++)
        conf_free(routes[k].c);
    for (struct ember_auth_source *s = st.sources, *nx; s != NULL; s = nx) {
        nx = s->next;
        ember_auth_source_clear(s);
        free(s->ident);
        free(s->ca_file);
        free(s);
    }
    ember_auth_pk.fini();
    done_testing();
}
