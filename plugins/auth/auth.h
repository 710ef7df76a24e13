/*
 * auth.h - what the auth plugin's files share (auth.c: settings and the
 * request check; hs.c: HS* signatures with nettle; keys.c: secrets, PEM keys,
 * loading auth-pk.so (libjwt and GnuTLS, see pk.h) for RS* and ES*; jwks.c:
 * fetching (through auth-jwks.so, see jwks-fetch.h) and caching a JWKS over
 * HTTPS; b64url.c: base64url and algorithm names, shared with auth-pk.so).
 * Private to the plugin: everything here is hidden by -fvisibility=hidden.
 */
#ifndef EMBER_AUTH_H
#define EMBER_AUTH_H

#include <stddef.h>
#include <time.h>

#include <ember/plugin.h>

#include "../common/plugutil.h"   /* ember_pu_xmalloc & co. */

struct ember_auth_jwks_conn;
struct ember_auth_jwks_fetcher;
struct ember_auth_pk;
struct json_object;

/* The JWS algorithms auth knows ("none" is refused before it gets a value). */
enum ember_auth_alg {
    EMBER_AUTH_ALG_INVAL = 0,
    EMBER_AUTH_HS256, EMBER_AUTH_HS384, EMBER_AUTH_HS512,
    EMBER_AUTH_RS256, EMBER_AUTH_RS384, EMBER_AUTH_RS512,
    EMBER_AUTH_ES256, EMBER_AUTH_ES384, EMBER_AUTH_ES512
};

/* Key types and EC curves, as auth-pk.so reports them. */
#define EMBER_AUTH_PK_RSA        1
#define EMBER_AUTH_PK_EC         2
#define EMBER_AUTH_CURVE_P256    1
#define EMBER_AUTH_CURVE_P384    2
#define EMBER_AUTH_CURVE_P521    3

/*
 * How a JWKS is kept fresh (jwks.c).  Seconds.  Sources share a JWKS only
 * when these are equal too.
 */
struct ember_auth_jwks_conf {
    long min_refresh;   /* jwks_min_refresh: at most one kid-miss refetch per this */
    long refresh;       /* jwks_refresh: the keys' lifetime; 0: the JWKS response's
                           Cache-Control max-age, else EMBER_AUTH_JWKS_DEFAULT_TTL */
    long stale_max;     /* jwks_stale_max: how long past their lifetime keys still
                           verify while the JWKS cannot be fetched */
    long backoff_min;   /* jwks_backoff MIN MAX: after a failed fetch no other for MIN, */
    long backoff_max;   /* doubling at each failure up to MAX */
};

/* Where a verification key comes from. */
enum ember_auth_source_kind {
    EMBER_AUTH_SECRET = 1,    /* HMAC secret from an environment variable */
    EMBER_AUTH_PEM_FILE,      /* PEM public key (or certificate) in a file */
    EMBER_AUTH_PEM_ENV,       /* PEM public key in an environment variable */
    EMBER_AUTH_JWKS           /* a JWKS document at an https:// URL */
};

/* One public key of a JWKS, converted to a "PUBLIC KEY" PEM. */
struct ember_auth_jwk {
    char   *kid;              /* NULL if the JWK has none */
    char   *alg;              /* the JWK's "alg", or NULL */
    int     pk;               /* EMBER_AUTH_PK_RSA or EMBER_AUTH_PK_EC */
    int     curve;            /* EMBER_AUTH_CURVE_* for EC, else 0 */
    char   *pem;              /* NUL-terminated */
    size_t  pem_len;
};

/*
 * A key source, shared by every route whose settings name the same one
 * (same kind and identity).  Nothing is read or fetched until a token needs
 * it; what was loaded stays for the life of the sandbox.
 */
struct ember_auth_source {
    enum ember_auth_source_kind  kind;
    char                        *ident;       /* env name, path or URL (owned) */
    char                        *ca_file;     /* JWKS: CA bundle, or NULL (owned) */
    struct ember_auth_jwks_conf  jwks;        /* JWKS: its timing settings */
    const char                  *file;        /* where it was configured (borrowed) */
    int                          line;

    /* SECRET and PEM_*: loaded once, on first use. */
    int                          loaded;
    unsigned char               *bytes;       /* secret or PEM (owned, NUL-terminated) */
    size_t                       len;
    int                          pk;          /* PEM: EMBER_AUTH_PK_RSA / _EC */
    int                          curve;       /* PEM: EMBER_AUTH_CURVE_* for EC */

    /* JWKS */
    struct ember_auth_jwk       *keys;
    size_t                       nkeys;
    int                          fetched;     /* keys usable (fetched, not past the stale bound) */
    unsigned                     nfetches;    /* attempts, for the log */
    time_t                       last_attempt;
    time_t                       fetched_at;  /* the last successful fetch */
    long                         ttl;         /* lifetime of the keys of that fetch */
    long                         max_age;     /* its Cache-Control max-age, or -1 */
    unsigned                     failures;    /* failed fetches in a row */
    time_t                       retry_at;    /* after a failure: no fetch before this */
    struct ember_auth_jwks_conn *conn;        /* auth-jwks.so's handle, kept for reuse */

    struct ember_auth_source    *next;
};

/* The plugin's state: one per process. */
struct ember_auth_state {
    const struct ember_host     *host;
    struct ember_auth_source    *sources;
    void                        *pk_dl;       /* auth-pk.so, once a public key was needed */
    const struct ember_auth_pk  *pk;
    int                          pk_ready;    /* pk->init() succeeded */
    int                          hs_libjwt;   /* HS* through auth-pk.so (libjwt), not
                                                 nettle: the differential test only */
    void                        *fetcher_dl;  /* auth-jwks.so, once a JWKS was needed */
    const struct ember_auth_jwks_fetcher *fetcher;
    struct ember_auth_conf      *global;      /* the `plugin auth {}` block's settings */
};

/*
 * Outcome of a check: the token is good, the token is refused (401/403,
 * `why` says why, for the log), or we could not decide (the exchange's
 * error is filled: 500 for our own broken setup, 503 for a JWKS outage).
 */
enum ember_auth_verdict {
    EMBER_AUTH_GOOD = 0,
    EMBER_AUTH_REFUSED = 1,
    EMBER_AUTH_FAILED = -1
};

/* b64url.c (in auth.so and auth-pk.so) */
/* The value (0-63) of c in the base64url alphabet, or -1. */
int ember_auth_b64url_value(unsigned char c);
/* Decodes base64url (no padding; '=' padding tolerated only at the end).
   Returns a malloc'd buffer (NUL-terminated, *len set) owned by the
   caller, or NULL if s is not base64url. */
unsigned char *ember_auth_b64url_decode(const char *s, size_t n, size_t *len);
/* "HS256" -> EMBER_AUTH_HS256 (exact, case-sensitive, as libjwt's
   jwt_str_alg); anything else EMBER_AUTH_ALG_INVAL. */
enum ember_auth_alg ember_auth_alg_from_name(const char *name);
/* EMBER_AUTH_HS256 -> "HS256"; "?" for anything else. */
const char *ember_auth_alg_name(enum ember_auth_alg alg);

/* hs.c */
/*
 * Is sig (sig_len bytes of base64url) the canonical base64url of the
 * HMAC (alg: HS256/384/512, nettle) of the n bytes at input under key?
 * 1 yes, 0 no.  The comparison takes the same time whatever the bytes.
 */
int ember_auth_hs_verify(enum ember_auth_alg alg, const unsigned char *key, size_t key_len,
                         const char *input, size_t n, const char *sig, size_t sig_len);

/* keys.c */
/* Copies s into out (size n) with anything but printable ASCII replaced by
   '?' and truncated, so a value from a token is safe to log. Returns out. */
const char *ember_auth_printable(char *out, size_t n, const char *s);
/*
 * Maps auth-pk.so (libjwt, GnuTLS) and initialises GnuTLS, the first time
 * a request needs a public key.  EMBER_OK, or EMBER_ERROR with ex->err
 * filled (503, naming the file and the cause); the next request tries again.
 */
int ember_auth_pk_load(struct ember_auth_state *st, struct ember_exchange *ex);
/* EMBER_PRELOAD=all: map auth-pk.so now, from init; a failure is logged
   and left to the first request that needs a public key. */
void ember_auth_pk_preload(struct ember_auth_state *st);
/* Releases auth-pk.so (GnuTLS's reference, the mapping), if loaded. */
void ember_auth_pk_unload(struct ember_auth_state *st);
/*
 * Makes src usable (reads the secret or the PEM key) if not done yet.
 * EMBER_OK, or EMBER_ERROR with ex->err filled (500; the message names the
 * variable or the file, never a secret).
 */
int ember_auth_source_load(struct ember_auth_state *st, struct ember_auth_source *src,
                           struct ember_exchange *ex);
void ember_auth_jwk_clear(struct ember_auth_jwk *key);
/* Does a key of type pk/curve fit alg (RSA for RS*, the alg's curve for ES*)? */
int ember_auth_key_fits(enum ember_auth_alg alg, int pk, int curve);
/* "RSA", "EC P-256", ... for messages. */
const char *ember_auth_key_name(int pk, int curve);
/* Frees what a source loaded or fetched (not the source itself). */
void ember_auth_source_clear(struct ember_auth_source *src);

/* jwks.c */
/*
 * The JWKS key for a token with algorithm alg and key id kid (NULL: none),
 * fetching the JWKS the first time and refetching (at most every
 * min_refresh seconds) when kid is unknown.  Returns EMBER_AUTH_GOOD with
 * *key set (borrowed from src until the next fetch), EMBER_AUTH_REFUSED
 * with why filled, or EMBER_AUTH_FAILED with ex->err filled (503).
 */
enum ember_auth_verdict ember_auth_jwks_key(struct ember_auth_state *st,
                                            struct ember_auth_source *src,
                                            struct ember_exchange *ex,
                                            enum ember_auth_alg alg, const char *kid,
                                            const struct ember_auth_jwk **key,
                                            char *why, size_t whylen);
/* EMBER_PRELOAD=all: map auth-jwks.so (and libcurl) now, from init; a
   failure is logged and left to the first fetch. */
void ember_auth_jwks_preload(struct ember_auth_state *st);
/* Frees src's connection (auth-jwks.so's curl handle), if it has one. */
void ember_auth_jwks_close(struct ember_auth_state *st, struct ember_auth_source *src);
/* Releases auth-jwks.so (libcurl's global state, the mapping), if loaded;
   after every source's connection is closed. */
void ember_auth_jwks_unload(struct ember_auth_state *st);

#endif
