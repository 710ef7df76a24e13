/*
 * auth - JWT bearer tokens: the token from a header (default
 * `Authorization: Bearer ...`) or a cookie, verified against an HMAC secret
 * (HS*: nettle, linked into auth.so, hs.c), a PEM public key (RS*, ES*:
 * libjwt and GnuTLS, in auth-pk.so) or a JWKS fetched over HTTPS; then
 * exp/nbf (with leeway), iss, aud, required claims and scopes.
 * The verified payload is left in ex->vars as "claims".
 *
 * Refusals are answered here: 401 {"message":"Unauthorized"} with
 * `WWW-Authenticate: Bearer error="invalid_token"` (plain `Bearer` when no
 * token was sent), 403 {"message":"Forbidden"} with
 * error="insufficient_scope" for a missing scope.  The reason goes to the
 * log at WARN, never to the client; tokens and secrets are never logged.
 * Our own failures are errors for the core to answer: 500 (a secret or key
 * we cannot read), 503 (the JWKS cannot be fetched).
 *
 * Laziness: init and route_init only parse settings.  Secrets and keys are
 * read, auth-pk.so (libjwt, GnuTLS) mapped, auth-jwks.so (libcurl) mapped
 * and the JWKS fetched, by the first request that needs them; all of it is
 * kept for the life of the sandbox.  An HS-only route maps none of them.
 *
 * Settings: a route's `auth { }` overrides the `plugin auth { }` block
 * directive by directive; public_key_file, public_key_env and jwks_url
 * override each other as one setting; require_claims and require_scopes add
 * to the block's.
 */
#define _GNU_SOURCE  /* strncasecmp */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <math.h>
#include <stdint.h>

#include "auth.h"
#include "json-strict.h"
#include "pk.h"
#include "text.h"

#define DEFAULT_HEADER           "authorization"
#define DEFAULT_SCHEME           "Bearer"
#define DEFAULT_MAX_TOKEN_BYTES  8192
#define DEFAULT_MIN_REFRESH      60
#define DEFAULT_JWKS_STALE_MAX   86400   /* a day of keys while the JWKS is down */
#define DEFAULT_JWKS_BACKOFF_MIN 5
#define DEFAULT_JWKS_BACKOFF_MAX 300

#define ALG_BIT(a)   (1u << (unsigned)(a))
#define HMAC_ALGS    (ALG_BIT(EMBER_AUTH_HS256) | ALG_BIT(EMBER_AUTH_HS384) \
                      | ALG_BIT(EMBER_AUTH_HS512))
#define PUBKEY_ALGS  (ALG_BIT(EMBER_AUTH_RS256) | ALG_BIT(EMBER_AUTH_RS384) \
                      | ALG_BIT(EMBER_AUTH_RS512) | ALG_BIT(EMBER_AUTH_ES256) \
                      | ALG_BIT(EMBER_AUTH_ES384) | ALG_BIT(EMBER_AUTH_ES512))

/* The single-valued directives, in the order of auth.def. */
enum {
    D_ALGORITHMS, D_SECRET_ENV, D_PUBLIC_KEY_FILE, D_PUBLIC_KEY_ENV, D_JWKS_URL,
    D_JWKS_CA_FILE, D_JWKS_MIN_REFRESH, D_HEADER, D_SCHEME, D_COOKIE, D_LEEWAY,
    D_ISSUER, D_AUDIENCE, D_MAX_TOKEN_BYTES, D_JWKS_REFRESH, D_JWKS_STALE_MAX,
    D_JWKS_BACKOFF, D_COUNT
};

static const char *const directive_names[D_COUNT] = {
    "algorithms", "secret_env", "public_key_file", "public_key_env", "jwks_url",
    "jwks_ca_file", "jwks_min_refresh", "header", "scheme", "cookie", "leeway",
    "issuer", "audience", "max_token_bytes", "jwks_refresh", "jwks_stale_max",
    "jwks_backoff"
};

/* A list of borrowed strings (from the config) with the directive of each. */
struct strlist {
    const char                          **s;
    const struct ember_conf_directive   **d;
    size_t                                n;
};

/*
 * The settings of one route (or of the plugin block).  Strings are borrowed
 * from the config, which lives as long as the process, unless said owned.
 */
struct ember_auth_conf {
    const char                          *file;       /* the block, for messages */
    int                                  line;
    const struct ember_conf_directive   *d[D_COUNT]; /* who set what; NULL: unset */
    struct strlist                       claims;     /* require_claims */
    struct strlist                       scopes;     /* require_scopes */

    /* values, once checked */
    int                                  complete;   /* keys resolved, consistency checked */
    unsigned                             algs;       /* ALG_BIT()s */
    struct ember_auth_source            *secret;     /* for HS*, or NULL */
    struct ember_auth_source            *pubkey;     /* for RS* and ES*, or NULL */
    const char                          *header;
    const char                          *scheme;     /* "" : the whole header value */
    const char                          *cookie;
    long                                 leeway;
    struct ember_auth_jwks_conf          jwks;
    size_t                               max_token_bytes;
    char                                *challenge;  /* 403's WWW-Authenticate (owned) */
};

/* ------------------------------------------------------------ settings */

static void strlist_add(struct strlist *l, const char *s, const struct ember_conf_directive *d)
{
    l->s = ember_pu_xrealloc(l->s, (l->n + 1) * sizeof(*l->s));
    l->d = ember_pu_xrealloc(l->d, (l->n + 1) * sizeof(*l->d));
    l->s[l->n] = s;
    l->d[l->n] = d;
    l->n++;
}

static void strlist_free(struct strlist *l)
{
    free(l->s);
    free(l->d);
    memset(l, 0, sizeof(*l));
}

static void conf_free(struct ember_auth_conf *c)
{
    if (c == NULL)
        return;
    strlist_free(&c->claims);
    strlist_free(&c->scopes);
    free(c->challenge);
    free(c);
}

static int conf_error(const struct ember_host *host, struct ember_error *err,
                      const struct ember_conf_directive *d, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int conf_error(const struct ember_host *host, struct ember_error *err,
                      const struct ember_conf_directive *d, const char *fmt, ...)
{
    char    msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return host->fail(err, 500, "%s:%d: auth: %s: %s", d->file, d->line, d->name, msg);
}

/* A scope token (RFC 6749 3.3): it goes into the 403's WWW-Authenticate. */
static int scope_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    }
    return 1;
}

/*
 * Collects a block's directives (no values checked yet).  b may be NULL.
 * Returns a conf owned by the caller (conf_free), or NULL with err filled.
 */
static struct ember_auth_conf *conf_collect(const struct ember_host *host,
                                            const struct ember_conf_block *b,
                                            struct ember_error *err)
{
    struct ember_auth_conf *c = ember_pu_xcalloc(1, sizeof(*c));
    size_t                  i;
    int                     k, j;

    if (b == NULL)
        return c;
    c->file = b->file;
    c->line = b->line;
    for (i = 0; i < b->n; i++) {
        const struct ember_conf_directive *d = &b->d[i];

        if (strcmp(d->name, "require_claims") == 0 || strcmp(d->name, "require_scopes") == 0) {
            int scopes = d->name[8] == 's';

            for (j = 0; j < d->argc; j++) {
                if (d->argv[j][0] == '\0' || (scopes && !scope_ok(d->argv[j]))) {
                    conf_error(host, err, d, "\"%s\" is not a %s name", d->argv[j],
                               scopes ? "scope" : "claim");
                    conf_free(c);
                    return NULL;
                }
                strlist_add(scopes ? &c->scopes : &c->claims, d->argv[j], d);
            }
            continue;
        }
        for (k = 0; k < D_COUNT; k++) {
            if (strcmp(d->name, directive_names[k]) == 0)
                break;
        }
        if (k == D_COUNT) {
            conf_error(host, err, d, "unknown directive");
            conf_free(c);
            return NULL;
        }
        if (d->argc < 1) {
            conf_error(host, err, d, "needs a value");
            conf_free(c);
            return NULL;
        }
        if (c->d[k] == NULL)
            c->d[k] = d;
    }
    return c;
}

/* The route's settings over the block's. Returns a conf owned by the caller. */
static struct ember_auth_conf *conf_merge(const struct ember_auth_conf *g,
                                          const struct ember_auth_conf *r)
{
    struct ember_auth_conf *c = ember_pu_xcalloc(1, sizeof(*c));
    int                     route_key = r->d[D_PUBLIC_KEY_FILE] != NULL
                                        || r->d[D_PUBLIC_KEY_ENV] != NULL
                                        || r->d[D_JWKS_URL] != NULL;
    size_t                  i;
    int                     k;

    c->file = r->file != NULL ? r->file : g->file;
    c->line = r->file != NULL ? r->line : g->line;
    for (k = 0; k < D_COUNT; k++)
        c->d[k] = r->d[k] != NULL ? r->d[k] : g->d[k];
    if (route_key) {
        /* one public key setting: the route's replaces the block's */
        c->d[D_PUBLIC_KEY_FILE] = r->d[D_PUBLIC_KEY_FILE];
        c->d[D_PUBLIC_KEY_ENV] = r->d[D_PUBLIC_KEY_ENV];
        c->d[D_JWKS_URL] = r->d[D_JWKS_URL];
    }
    for (i = 0; i < g->claims.n; i++)
        strlist_add(&c->claims, g->claims.s[i], g->claims.d[i]);
    for (i = 0; i < r->claims.n; i++)
        strlist_add(&c->claims, r->claims.s[i], r->claims.d[i]);
    for (i = 0; i < g->scopes.n; i++)
        strlist_add(&c->scopes, g->scopes.s[i], g->scopes.d[i]);
    for (i = 0; i < r->scopes.n; i++)
        strlist_add(&c->scopes, r->scopes.s[i], r->scopes.d[i]);
    return c;
}

/* ember_pu_parse_long, but digits only: no sign. */
static int parse_long(const char *s, long min, long max, long *out)
{
    if (s[0] < '0' || s[0] > '9')
        return -1;
    return ember_pu_parse_long(s, min, max, out);
}

/* A path relative to the directory of the config file that names it.
   Returns a string owned by the caller. */
static char *conf_path(const struct ember_conf_directive *d, const char *path)
{
    const char *slash = strrchr(d->file, '/');
    char       *out;
    size_t      dir;

    if (path[0] == '/' || slash == NULL)
        return ember_pu_xstrdup(path);
    dir = (size_t)(slash - d->file);
    out = ember_pu_xmalloc(dir + 1 + strlen(path) + 1);
    memcpy(out, d->file, dir);
    out[dir] = '/';
    strcpy(out + dir + 1, path);
    return out;
}

/*
 * The source of this kind and identity, created (nothing read yet) if no
 * route named it before.  Takes ownership of ident and ca_file.
 */
static struct ember_auth_source *source_get(struct ember_auth_state *st,
                                            enum ember_auth_source_kind kind, char *ident,
                                            char *ca_file,
                                            const struct ember_auth_jwks_conf *jwks,
                                            const struct ember_conf_directive *d)
{
    struct ember_auth_source *s;

    for (s = st->sources; s != NULL; s = s->next) {
        if (s->kind == kind && strcmp(s->ident, ident) == 0
            && ((s->ca_file == NULL && ca_file == NULL)
                || (s->ca_file != NULL && ca_file != NULL && strcmp(s->ca_file, ca_file) == 0))
            && memcmp(&s->jwks, jwks, sizeof(*jwks)) == 0) {
            free(ident);
            free(ca_file);
            return s;
        }
    }
    s = ember_pu_xcalloc(1, sizeof(*s));
    s->kind = kind;
    s->ident = ident;
    s->ca_file = ca_file;
    s->jwks = *jwks;
    s->max_age = -1;
    s->file = d->file;
    s->line = d->line;
    s->next = st->sources;
    st->sources = s;
    return s;
}

static int check_algorithms(const struct ember_host *host, struct ember_auth_conf *c,
                            struct ember_error *err)
{
    const struct ember_conf_directive *d = c->d[D_ALGORITHMS];
    int                                i;

    c->algs = 0;
    if (d == NULL)
        return EMBER_OK;
    for (i = 0; i < d->argc; i++) {
        enum ember_auth_alg a = ember_auth_alg_from_name(d->argv[i]);

        if (strcasecmp(d->argv[i], "none") == 0)
            return conf_error(host, err, d, "\"%s\" is never accepted: tokens must be signed",
                              d->argv[i]);
        if (a == EMBER_AUTH_ALG_INVAL || (ALG_BIT(a) & (HMAC_ALGS | PUBKEY_ALGS)) == 0)
            return conf_error(host, err, d, "unknown algorithm \"%s\" (known: HS256 HS384 HS512 "
                              "RS256 RS384 RS512 ES256 ES384 ES512)", d->argv[i]);
        c->algs |= ALG_BIT(a);
    }
    return EMBER_OK;
}

/*
 * Checks the values of c.  With complete set (a route's merged settings),
 * also resolves the key sources and checks that the settings fit together.
 */
static int conf_check(struct ember_auth_state *st, struct ember_auth_conf *c, int complete,
                      struct ember_error *err)
{
    const struct ember_host            *host = st->host;
    const struct ember_conf_directive  *d, *key_d = NULL;
    static const struct ember_auth_jwks_conf no_jwks;    /* keys that are not a JWKS */
    struct ember_pu_buf                 challenge = {0};
    long                                v;
    size_t                              i;
    int                                 k, nkeys = 0;

    if (check_algorithms(host, c, err) != EMBER_OK)
        return EMBER_ERROR;
    d = c->d[D_SECRET_ENV];
    if (d != NULL && !ember_env_name(d->argv[0]))
        return conf_error(host, err, d, "\"%s\" is not an environment variable name", d->argv[0]);
    d = c->d[D_PUBLIC_KEY_ENV];
    if (d != NULL && !ember_env_name(d->argv[0]))
        return conf_error(host, err, d, "\"%s\" is not an environment variable name", d->argv[0]);
    d = c->d[D_PUBLIC_KEY_FILE];
    if (d != NULL && d->argv[0][0] == '\0')
        return conf_error(host, err, d, "needs a file name");
    d = c->d[D_JWKS_CA_FILE];
    if (d != NULL && d->argv[0][0] == '\0')
        return conf_error(host, err, d, "needs a file name");
    d = c->d[D_JWKS_URL];
    if (d != NULL && (strncasecmp(d->argv[0], "https://", 8) != 0 || d->argv[0][8] == '\0'))
        return conf_error(host, err, d, "\"%s\" is not an https:// URL", d->argv[0]);

    memset(&c->jwks, 0, sizeof(c->jwks));
    c->jwks.min_refresh = DEFAULT_MIN_REFRESH;
    c->jwks.stale_max = DEFAULT_JWKS_STALE_MAX;
    c->jwks.backoff_min = DEFAULT_JWKS_BACKOFF_MIN;
    c->jwks.backoff_max = DEFAULT_JWKS_BACKOFF_MAX;
    d = c->d[D_JWKS_MIN_REFRESH];
    if (d != NULL) {
        if (parse_long(d->argv[0], 0, 86400, &c->jwks.min_refresh) != 0)
            return conf_error(host, err, d, "\"%s\": expected seconds, 0 to 86400", d->argv[0]);
    }
    d = c->d[D_JWKS_REFRESH];
    if (d != NULL && parse_long(d->argv[0], 1, 604800, &c->jwks.refresh) != 0)
        return conf_error(host, err, d, "\"%s\": expected seconds, 1 to 604800", d->argv[0]);
    d = c->d[D_JWKS_STALE_MAX];
    if (d != NULL && parse_long(d->argv[0], 0, 604800, &c->jwks.stale_max) != 0)
        return conf_error(host, err, d, "\"%s\": expected seconds, 0 to 604800", d->argv[0]);
    d = c->d[D_JWKS_BACKOFF];
    if (d != NULL && (parse_long(d->argv[0], 0, 86400, &c->jwks.backoff_min) != 0
                      || parse_long(d->argv[1], c->jwks.backoff_min, 86400,
                                    &c->jwks.backoff_max) != 0))
        return conf_error(host, err, d, "\"%s %s\": expected MIN MAX seconds, 0 <= MIN <= MAX "
                          "<= 86400", d->argv[0], d->argv[1]);
    c->leeway = 0;
    d = c->d[D_LEEWAY];
    if (d != NULL && parse_long(d->argv[0], 0, 86400, &c->leeway) != 0)
        return conf_error(host, err, d, "\"%s\": expected seconds, 0 to 86400", d->argv[0]);
    c->max_token_bytes = DEFAULT_MAX_TOKEN_BYTES;
    d = c->d[D_MAX_TOKEN_BYTES];
    if (d != NULL) {
        if (parse_long(d->argv[0], 64, 1024 * 1024, &v) != 0)
            return conf_error(host, err, d, "\"%s\": expected bytes, 64 to 1048576", d->argv[0]);
        c->max_token_bytes = (size_t)v;
    }
    c->header = DEFAULT_HEADER;
    d = c->d[D_HEADER];
    if (d != NULL) {
        if (!ember_http_token(d->argv[0]))
            return conf_error(host, err, d, "\"%s\" is not a header name", d->argv[0]);
        c->header = d->argv[0];
    }
    c->scheme = DEFAULT_SCHEME;
    d = c->d[D_SCHEME];
    if (d != NULL) {
        if (d->argv[0][0] != '\0' && !ember_http_token(d->argv[0]))
            return conf_error(host, err, d, "\"%s\" is not an authentication scheme "
                              "('' takes the whole header value)", d->argv[0]);
        c->scheme = d->argv[0];
    }
    c->cookie = NULL;
    d = c->d[D_COOKIE];
    if (d != NULL) {
        if (d->argv[0][0] == '\0' || strpbrk(d->argv[0], "=; \t") != NULL)
            return conf_error(host, err, d, "\"%s\" is not a cookie name", d->argv[0]);
        c->cookie = d->argv[0];
    }
    d = c->d[D_ISSUER];
    if (d != NULL && d->argv[0][0] == '\0')
        return conf_error(host, err, d, "needs a non-empty issuer");
    d = c->d[D_AUDIENCE];
    for (k = 0; d != NULL && k < d->argc; k++) {
        if (d->argv[k][0] == '\0')
            return conf_error(host, err, d, "needs non-empty audiences");
    }

    if (!complete)
        return EMBER_OK;

    /* the keys, and whether everything fits together */
    for (k = D_PUBLIC_KEY_FILE; k <= D_JWKS_URL; k++) {
        if (c->d[k] != NULL) {
            nkeys++;
            if (key_d == NULL || c->d[k]->line > key_d->line)
                key_d = c->d[k];
        }
    }
    if (nkeys > 1)
        return conf_error(host, err, key_d, "public_key_file, public_key_env and jwks_url "
                          "exclude each other: set one");
    c->secret = NULL;
    d = c->d[D_SECRET_ENV];
    if (d != NULL)
        c->secret = source_get(st, EMBER_AUTH_SECRET, ember_pu_xstrdup(d->argv[0]), NULL,
                               &no_jwks, d);
    c->pubkey = NULL;
    d = c->d[D_PUBLIC_KEY_FILE];
    if (d != NULL)
        c->pubkey = source_get(st, EMBER_AUTH_PEM_FILE, conf_path(d, d->argv[0]), NULL,
                               &no_jwks, d);
    d = c->d[D_PUBLIC_KEY_ENV];
    if (d != NULL)
        c->pubkey = source_get(st, EMBER_AUTH_PEM_ENV, ember_pu_xstrdup(d->argv[0]), NULL,
                               &no_jwks, d);
    d = c->d[D_JWKS_URL];
    if (d != NULL) {
        const struct ember_conf_directive *ca = c->d[D_JWKS_CA_FILE];

        c->pubkey = source_get(st, EMBER_AUTH_JWKS, ember_pu_xstrdup(d->argv[0]),
                               ca != NULL ? conf_path(ca, ca->argv[0]) : NULL,
                               &c->jwks, d);
    }
    if (c->secret == NULL && c->pubkey == NULL)
        return host->fail(err, 500, "%s:%d: auth: no key: set secret_env, public_key_file, "
                          "public_key_env or jwks_url", c->file != NULL ? c->file : "(config)",
                          c->line);
    if (c->d[D_ALGORITHMS] == NULL) {
        if (c->secret != NULL)
            c->algs |= ALG_BIT(EMBER_AUTH_HS256);
        if (c->pubkey != NULL)
            c->algs |= ALG_BIT(EMBER_AUTH_RS256);
    }
    d = c->d[D_ALGORITHMS];
    for (k = 0; d != NULL && k < d->argc; k++) {
        unsigned bit = ALG_BIT(ember_auth_alg_from_name(d->argv[k]));

        if ((bit & HMAC_ALGS) != 0 && c->secret == NULL)
            return conf_error(host, err, d, "%s needs secret_env", d->argv[k]);
        if ((bit & PUBKEY_ALGS) != 0 && c->pubkey == NULL)
            return conf_error(host, err, d, "%s needs public_key_file, public_key_env or "
                              "jwks_url", d->argv[k]);
    }

    /* 403's challenge names the scopes the route needs */
    ember_pu_buf_adds(&challenge, c->scheme[0] != '\0' ? c->scheme : DEFAULT_SCHEME);
    ember_pu_buf_adds(&challenge, " error=\"insufficient_scope\"");
    if (c->scopes.n > 0) {
        ember_pu_buf_adds(&challenge, ", scope=\"");
        for (i = 0; i < c->scopes.n; i++) {
            if (i > 0)
                ember_pu_buf_adds(&challenge, " ");
            ember_pu_buf_adds(&challenge, c->scopes.s[i]);
        }
        ember_pu_buf_adds(&challenge, "\"");
    }
    free(c->challenge);
    c->challenge = challenge.p;
    c->complete = 1;
    return EMBER_OK;
}

/* ------------------------------------------------------------ refusing */

/*
 * Answers 401 (403 with insufficient_scope) and logs why at WARN.
 * missing: no token was presented (the challenge carries no error code).
 */
static int refuse(const struct ember_auth_state *st, const struct ember_auth_conf *c,
                  struct ember_exchange *ex, int status, int missing, const char *why)
{
    const struct ember_host *host = st->host;
    const char              *scheme = c->scheme[0] != '\0' ? c->scheme : DEFAULT_SCHEME;
    char                     challenge[96];

    host->log(EMBER_LOG_WARN, "auth: %s", why);
    host->set_status(ex, status);
    if (status == 403) {
        host->set_header(ex, "www-authenticate", c->challenge);
        host->set_header(ex, "content-type", "application/json");
        host->set_body(ex, "{\"message\":\"Forbidden\"}", 23, 0);
        return EMBER_DONE;
    }
    if (missing)
        snprintf(challenge, sizeof(challenge), "%s", scheme);
    else
        snprintf(challenge, sizeof(challenge), "%s error=\"invalid_token\"", scheme);
    host->set_header(ex, "www-authenticate", challenge);
    host->set_header(ex, "content-type", "application/json");
    host->set_body(ex, "{\"message\":\"Unauthorized\"}", 26, 0);
    return EMBER_DONE;
}

/* ------------------------------------------------------------ the token */

/*
 * The token the request presents, or NULL with why filled (no token).
 * The returned string is in the request's pool.
 */
static char *find_token(const struct ember_auth_state *st, const struct ember_auth_conf *c,
                        struct ember_exchange *ex, char *why, size_t whylen)
{
    const struct ember_host *host = st->host;
    const char              *v, *end;
    size_t                   n;

    if (c->cookie != NULL) {
        v = host->cookie(ex, c->cookie);
        if (v == NULL || v[0] == '\0') {
            snprintf(why, whylen, "no token: no cookie \"%s\"", c->cookie);
            return NULL;
        }
        return host->pstrndup(ex, v, strlen(v));
    }
    v = host->header(ex, c->header);
    if (v == NULL) {
        snprintf(why, whylen, "no token: no %s header", c->header);
        return NULL;
    }
    n = strlen(c->scheme);
    if (n > 0) {
        if (strncasecmp(v, c->scheme, n) != 0 || (v[n] != ' ' && v[n] != '\t')) {
            snprintf(why, whylen, "no token: the %s header does not use the %s scheme",
                     c->header, c->scheme);
            return NULL;
        }
        v += n;
    }
    while (*v == ' ' || *v == '\t')
        v++;
    end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == v) {
        snprintf(why, whylen, "no token: the %s header is empty", c->header);
        return NULL;
    }
    return host->pstrndup(ex, v, (size_t)(end - v));
}

/*
 * libjwt parses a token's header and payload with jansson, auth with json-c,
 * and whether a token is good must not depend on which of the two verified
 * it (tests/auth-diff.test).  json-c, even strict, takes some text jansson
 * refuses; these two checks refuse it too.
 *
 * In the text: a control character (< 0x20) inside a string, a \u0000
 * escape, a UTF-16 surrogate escape that is not a proper pair; outside
 * strings, a word other than true, false and null (NaN, Infinity), an
 * integer outside int64 or a real that overflows a double.  The text, not
 * json-c's tree: a member named twice keeps only its last value there.
 */
static int hex4(const unsigned char *p)
{
    int i, v = 0;

    for (i = 0; i < 4; i++) {
        int c = p[i];

        v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -100000);
    }
    return v < 0 ? -1 : v;
}

/* The number or word at p (outside a string): 1 if jansson takes it. */
static int token_jansson_ok(const unsigned char *p, size_t n, size_t *used)
{
    char   buf[400];
    char  *end;
    size_t k = 0;
    int    real = 0;

    if ((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')) {
        while (k < n && ((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z')))
            k++;
        *used = k;
        return (k == 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0))
               || (k == 5 && memcmp(p, "false", 5) == 0);
    }
    while (k < n && ((p[k] >= '0' && p[k] <= '9') || p[k] == '-' || p[k] == '+'
                     || p[k] == '.' || p[k] == 'e' || p[k] == 'E')) {
        real |= p[k] == '.' || p[k] == 'e' || p[k] == 'E';
        k++;
    }
    *used = k;
    if (k >= sizeof(buf))
        return 0;
    memcpy(buf, p, k);
    buf[k] = '\0';
    errno = 0;
    if (real) {
        double d = strtod(buf, &end);

        return !((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE);
    }
    (void) strtoll(buf, &end, 10);
    return errno != ERANGE;
}

static int text_jansson_ok(const unsigned char *p, size_t n)
{
    size_t i, used;
    int    in_string = 0, u, low;

    for (i = 0; i < n; i++) {
        if (!in_string) {
            in_string = p[i] == '"';
            if (p[i] == '-' || (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z')
                || (p[i] >= 'A' && p[i] <= 'Z')) {
                if (!token_jansson_ok(p + i, n - i, &used))
                    return 0;
                i += used - 1;
            }
            continue;
        }
        if (p[i] == '"') {
            in_string = 0;
        } else if (p[i] < 0x20) {
            return 0;
        } else if (p[i] == '\\' && i + 1 < n) {
            if (p[i + 1] == 'u' && i + 5 < n) {
                u = hex4(p + i + 2);
                if (u == 0 || (u >= 0xdc00 && u <= 0xdfff))
                    return 0;
                if (u >= 0xd800 && u <= 0xdbff) {
                    low = i + 11 < n && p[i + 6] == '\\' && p[i + 7] == 'u' ? hex4(p + i + 8) : -1;
                    if (low < 0xdc00 || low > 0xdfff)
                        return 0;
                    i += 6;
                }
                i += 5;
            } else {
                i++;
            }
        }
    }
    return 1;
}

/* In the parsed value: a number jansson cannot hold (an integer outside
   int64, a real that overflows, NaN, Infinity). */
static int value_jansson_ok(struct json_object *v, int depth)
{
    size_t i, n;

    switch (json_object_get_type(v)) {
    case json_type_int:
        return !(json_object_get_int64(v) == INT64_MAX && json_object_get_uint64(v) > INT64_MAX);
    case json_type_double: {
        const char *text = json_object_get_string(v);

        return isfinite(json_object_get_double(v))
               && text != NULL && strpbrk(text, ".eE") != NULL;
    }
    case json_type_array:
        n = json_object_array_length(v);
        for (i = 0; i < n; i++) {
            if (!value_jansson_ok(json_object_array_get_idx(v, i), depth + 1))
                return 0;
        }
        return 1;
    case json_type_object: {
        json_object_object_foreach(v, key, member) {
            (void) key;
            if (!value_jansson_ok(member, depth + 1))
                return 0;
        }
        return 1;
    }
    default:
        return 1;
    }
}

/* Decodes a base64url JSON object segment, strictly (RFC 8259, UTF-8).
   Returns an object the caller puts, or NULL. */
static struct json_object *segment_json(const char *s, size_t n)
{
    struct json_object  *obj;
    unsigned char       *raw;
    const char          *why;
    size_t               len = 0, at;

    raw = ember_auth_b64url_decode(s, n, &len);
    if (raw == NULL)
        return NULL;
    if (!text_jansson_ok(raw, len)) {
        free(raw);
        return NULL;
    }
    if (!ember_utf8_valid(raw, len)
        || ember_json_parse(NULL, (const char *)raw, len, &obj, &at, &why) != 0)
        obj = NULL;
    if (obj != NULL && (!json_object_is_type(obj, json_type_object)
                        || !value_jansson_ok(obj, 0))) {
        json_object_put(obj);
        obj = NULL;
    }
    free(raw);
    return obj;
}

static const char *member_string(struct json_object *obj, const char *name, int *present)
{
    struct json_object *v;

    *present = json_object_object_get_ex(obj, name, &v) && v != NULL;
    if (!*present || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* A NumericDate claim: 1 and *t set, 0 absent, -1 not a number. */
static int member_time(struct json_object *obj, const char *name, double *t)
{
    struct json_object *v;

    if (!json_object_object_get_ex(obj, name, &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *t = (double)json_object_get_int64(v);
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        *t = json_object_get_double(v);
        return 1;
    }
    return -1;
}

/* Is `want` one of the space-separated words of s? */
static int has_word(const char *s, const char *want)
{
    size_t n = strlen(want);

    while (*s != '\0') {
        size_t w;

        while (*s == ' ')
            s++;
        w = strcspn(s, " ");
        if (w == n && w > 0 && strncmp(s, want, n) == 0)
            return 1;
        s += w;
    }
    return 0;
}

/* Does claim v (a space-separated string or an array of strings) hold want? */
static int claim_has(struct json_object *v, const char *want)
{
    size_t i, n;

    if (v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_string))
        return has_word(json_object_get_string(v), want);
    if (!json_object_is_type(v, json_type_array))
        return 0;
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);

        if (json_object_is_type(e, json_type_string)
            && strcmp(json_object_get_string(e), want) == 0)
            return 1;
    }
    return 0;
}

/* exp, nbf, iss, aud, required claims, scopes. 0 good; else 401/403, why. */
static int check_claims(const struct ember_auth_conf *c, struct json_object *claims,
                        char *why, size_t whylen)
{
    const struct ember_conf_directive *d;
    struct json_object                *v, *scope = NULL, *scp = NULL;
    const char                        *s;
    double                             now = (double)time(NULL), t;
    char                               safe[96];
    size_t                             i;
    int                                present, rc, k;

    rc = member_time(claims, "exp", &t);
    if (rc < 0) {
        snprintf(why, whylen, "exp is not a number");
        return 401;
    }
    if (rc > 0 && now >= t + (double)c->leeway) {
        snprintf(why, whylen, "token expired %.0f s ago", now - t);
        return 401;
    }
    rc = member_time(claims, "nbf", &t);
    if (rc < 0) {
        snprintf(why, whylen, "nbf is not a number");
        return 401;
    }
    if (rc > 0 && now + (double)c->leeway < t) {
        snprintf(why, whylen, "token not valid yet (nbf in %.0f s)", t - now);
        return 401;
    }
    d = c->d[D_ISSUER];
    if (d != NULL) {
        s = member_string(claims, "iss", &present);
        if (s == NULL) {
            snprintf(why, whylen, present ? "iss is not a string" : "no iss claim (issuer %s "
                     "required)", d->argv[0]);
            return 401;
        }
        if (strcmp(s, d->argv[0]) != 0) {
            snprintf(why, whylen, "issuer \"%s\" not accepted",
                     ember_auth_printable(safe, sizeof(safe), s));
            return 401;
        }
    }
    d = c->d[D_AUDIENCE];
    if (d != NULL) {
        if (!json_object_object_get_ex(claims, "aud", &v) || v == NULL) {
            snprintf(why, whylen, "no aud claim (audience required)");
            return 401;
        }
        for (k = 0; k < d->argc; k++) {
            if (json_object_is_type(v, json_type_string)
                ? strcmp(json_object_get_string(v), d->argv[k]) == 0
                : (json_object_is_type(v, json_type_array) && claim_has(v, d->argv[k])))
                break;
        }
        if (k == d->argc) {
            snprintf(why, whylen, "audience %s not accepted",
                     json_object_is_type(v, json_type_string)
                     ? ember_auth_printable(safe, sizeof(safe), json_object_get_string(v))
                     : "(none of the token's)");
            return 401;
        }
    }
    for (i = 0; i < c->claims.n; i++) {
        if (!json_object_object_get_ex(claims, c->claims.s[i], &v) || v == NULL) {
            snprintf(why, whylen, "missing required claim \"%s\"", c->claims.s[i]);
            return 401;
        }
    }
    if (c->scopes.n > 0) {
        json_object_object_get_ex(claims, "scope", &scope);
        json_object_object_get_ex(claims, "scp", &scp);
    }
    for (i = 0; i < c->scopes.n; i++) {
        if (!claim_has(scope, c->scopes.s[i]) && !claim_has(scp, c->scopes.s[i])) {
            snprintf(why, whylen, "missing scope \"%s\"", c->scopes.s[i]);
            return 403;
        }
    }
    return 0;
}

/*
 * Verifies token (NUL-terminated, in the request's pool).  GOOD: *claims
 * is the verified payload, owned by the caller.  REFUSED: *status (401 or
 * 403) and why.  FAILED: ex->err filled.
 */
static enum ember_auth_verdict verify(struct ember_auth_state *st,
                                      const struct ember_auth_conf *c,
                                      struct ember_exchange *ex, const char *token,
                                      struct json_object **claims, int *status,
                                      char *why, size_t whylen)
{
    const struct ember_auth_jwk *jwk = NULL;
    struct json_object          *head, *payload = NULL;
    const unsigned char         *key = NULL;
    const char                  *dot1 = NULL, *dot2 = NULL, *p, *alg_name, *kid, *typ;
    char                         safe[64];
    size_t                       key_len = 0, ndots = 0;
    enum ember_auth_alg          alg;
    enum ember_auth_pk_verdict   good;
    int                          present;
    enum ember_auth_verdict      v;

    *status = 401;
    for (p = token; *p != '\0'; p++) {
        if (*p == '.') {
            ndots++;
            if (ndots == 1)
                dot1 = p;
            else
                dot2 = p;
        } else if (ember_auth_b64url_value((unsigned char)*p) < 0) {
            snprintf(why, whylen, "malformed token (not base64url)");
            return EMBER_AUTH_REFUSED;
        }
    }
    if (ndots != 2 || dot1 == token || dot2 == dot1 + 1) {
        snprintf(why, whylen, "malformed token (%s)", ndots == 4 ? "JWE is not supported"
                 : "not three segments");
        return EMBER_AUTH_REFUSED;
    }
    head = segment_json(token, (size_t)(dot1 - token));
    if (head == NULL) {
        snprintf(why, whylen, "malformed token (header is not a JSON object)");
        return EMBER_AUTH_REFUSED;
    }
    alg_name = member_string(head, "alg", &present);
    if (alg_name == NULL) {
        snprintf(why, whylen, "malformed token (no alg)");
        goto refused;
    }
    alg = ember_auth_alg_from_name(alg_name);
    if (strcasecmp(alg_name, "none") == 0) {
        snprintf(why, whylen, "alg none refused: tokens must be signed");
        goto refused;
    }
    if (alg == EMBER_AUTH_ALG_INVAL || (c->algs & ALG_BIT(alg)) == 0) {
        snprintf(why, whylen, "algorithm %s not accepted",
                 ember_auth_printable(safe, sizeof(safe), alg_name));
        goto refused;
    }
    if (json_object_object_get_ex(head, "crit", NULL)) {
        snprintf(why, whylen, "header parameter crit not supported");
        goto refused;
    }
    typ = member_string(head, "typ", &present);
    if (present && (typ == NULL || strcasecmp(typ, "JWT") != 0)) {
        snprintf(why, whylen, "typ \"%s\" not supported (JWT only)",
                 typ != NULL ? ember_auth_printable(safe, sizeof(safe), typ) : "?");
        goto refused;
    }
    kid = member_string(head, "kid", &present);
    if (present && kid == NULL) {
        snprintf(why, whylen, "malformed token (kid is not a string)");
        goto refused;
    }
    if (dot2[1] == '\0') {
        snprintf(why, whylen, "malformed token (no signature)");
        goto refused;
    }
    payload = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (payload == NULL) {
        snprintf(why, whylen, "malformed token (payload is not a JSON object)");
        goto refused;
    }

    /* The key: HS* only ever with the secret, RS* and ES* only with a public key. */
    if ((ALG_BIT(alg) & HMAC_ALGS) != 0) {
        if (ember_auth_source_load(st, c->secret, ex) != EMBER_OK)
            goto failed;
        key = c->secret->bytes;
        key_len = c->secret->len;
    } else if (c->pubkey->kind == EMBER_AUTH_JWKS) {
        v = ember_auth_jwks_key(st, c->pubkey, ex, alg, kid, &jwk, why, whylen);
        if (v == EMBER_AUTH_FAILED)
            goto failed;
        if (v == EMBER_AUTH_REFUSED)
            goto refused;
        key = (const unsigned char *)jwk->pem;
        key_len = jwk->pem_len;
    } else {
        if (ember_auth_source_load(st, c->pubkey, ex) != EMBER_OK)
            goto failed;
        if (!ember_auth_key_fits(alg, c->pubkey->pk, c->pubkey->curve)) {
            snprintf(why, whylen, "algorithm %s does not fit the configured %s key",
                     ember_auth_alg_name(alg),
                     ember_auth_key_name(c->pubkey->pk, c->pubkey->curve));
            goto refused;
        }
        key = c->pubkey->bytes;
        key_len = c->pubkey->len;
    }

    if ((ALG_BIT(alg) & HMAC_ALGS) != 0 && !st->hs_libjwt) {
        /* nettle, in auth.so: what libjwt would say (tests/auth-diff checks it) */
        good = ember_auth_hs_verify(alg, key, key_len, token, (size_t)(dot2 - token), dot2 + 1,
                                    strlen(dot2 + 1)) ? EMBER_AUTH_PK_GOOD : EMBER_AUTH_PK_BAD;
    } else {
        if (ember_auth_pk_load(st, ex) != EMBER_OK)
            goto failed;
        good = st->pk->verify(token, alg, key, key_len, NULL);
    }
    if (good == EMBER_AUTH_PK_BAD) {
        snprintf(why, whylen, "bad signature (%s%s%s)", ember_auth_alg_name(alg),
                 kid != NULL ? ", kid " : "",
                 kid != NULL ? ember_auth_printable(safe, sizeof(safe), kid) : "");
        goto refused;
    }
    if (good != EMBER_AUTH_PK_GOOD) {
        /* libjwt parsed the header itself and saw another alg than we did */
        snprintf(why, whylen, "malformed token (ambiguous header)");
        goto refused;
    }

    *status = check_claims(c, payload, why, whylen);
    if (*status != 0)
        goto refused;
    json_object_put(head);
    *claims = payload;
    return EMBER_AUTH_GOOD;

refused:
    json_object_put(head);
    json_object_put(payload);
    if (*status == 0)
        *status = 401;
    return EMBER_AUTH_REFUSED;
failed:
    json_object_put(head);
    json_object_put(payload);
    return EMBER_AUTH_FAILED;
}

/* ------------------------------------------------------------ hooks */

/* Allocates *state (freed by auth_fini). */
static int auth_init(void **state, const struct ember_host *host,
                     const struct ember_conf_block *global, struct ember_error *err)
{
    struct ember_auth_state *st = ember_pu_xcalloc(1, sizeof(*st));
    const char              *pre;

    st->host = host;
    st->global = conf_collect(host, global, err);
    if (st->global == NULL || conf_check(st, st->global, 0, err) != EMBER_OK) {
        conf_free(st->global);
        free(st);
        return EMBER_ERROR;
    }
    /* EMBER_PRELOAD=all asks for everything at start-up: the JWKS fetcher too */
    pre = getenv("EMBER_PRELOAD");
    if (pre != NULL && strcmp(pre, "all") == 0) {
        ember_auth_pk_preload(st);
        ember_auth_jwks_preload(st);
    }
    *state = st;
    return EMBER_OK;
}

/* Allocates *route_state (freed by auth_route_fini). */
static int auth_route_init(void *state, const struct ember_conf_block *conf,
                           void **route_state, struct ember_error *err)
{
    struct ember_auth_state *st = state;
    struct ember_auth_conf  *r, *c;

    r = conf_collect(st->host, conf, err);
    if (r == NULL)
        return EMBER_ERROR;
    c = conf_merge(st->global, r);
    conf_free(r);
    if (conf_check(st, c, 1, err) != EMBER_OK) {
        conf_free(c);
        return EMBER_ERROR;
    }
    *route_state = c;
    return EMBER_OK;
}

static int auth_handle(void *state, void *route_state, struct ember_exchange *ex)
{
    struct ember_auth_state *st = state;
    struct ember_auth_conf  *c = route_state;
    struct json_object      *claims = NULL;
    char                     why[256];
    char                    *token;
    size_t                   len;
    int                      status = 401;

    if (c == NULL) {
        /* a route without route_init: the block's settings alone */
        c = st->global;
        if (!c->complete && conf_check(st, c, 1, ex->err) != EMBER_OK)
            return EMBER_ERROR;
    }
    token = find_token(st, c, ex, why, sizeof(why));
    if (token == NULL)
        return refuse(st, c, ex, 401, 1, why);
    len = strlen(token);
    if (len > c->max_token_bytes) {
        snprintf(why, sizeof(why), "token too large (%zu bytes, max_token_bytes %zu)", len,
                 c->max_token_bytes);
        return refuse(st, c, ex, 401, 0, why);
    }
    switch (verify(st, c, ex, token, &claims, &status, why, sizeof(why))) {
    case EMBER_AUTH_GOOD:
        break;
    case EMBER_AUTH_REFUSED:
        return refuse(st, c, ex, status, 0, why);
    case EMBER_AUTH_FAILED:
    default:
        return EMBER_ERROR;
    }
    /* transfers claims to the exchange */
    json_object_object_add(ex->vars, "claims", claims);
    return EMBER_CONTINUE;
}

static void auth_route_fini(void *state, void *route_state)
{
    conf_free(route_state);
}

static void auth_fini(void *state)
{
    struct ember_auth_state  *st = state;
    struct ember_auth_source *s, *next;

    if (st == NULL)
        return;
    for (s = st->sources; s != NULL; s = next) {
        next = s->next;
        ember_auth_jwks_close(st, s);
        ember_auth_source_clear(s);
        free(s->ident);
        free(s->ca_file);
        free(s);
    }
    ember_auth_jwks_unload(st);
    ember_auth_pk_unload(st);
    conf_free(st->global);
    free(st);
}

/* What the config may say to us: auth.def, also compiled into the core. */
static const struct ember_directive auth_directives[] = {
#include "auth.def"
    EMBER_DIRECTIVES_END
};

EMBER_PLUGIN_EXPORT const struct ember_plugin ember_plugin_auth = {
    EMBER_PLUGIN_HEADER,
    .name       = "auth",
    .directives = auth_directives,
    .init       = auth_init,
    .route_init = auth_route_init,
    .handle     = auth_handle,
    .route_fini = auth_route_fini,
    .fini       = auth_fini,
};
