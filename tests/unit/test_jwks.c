/*
 * test_jwks.c - how plugins/auth/jwks.c keeps a JWKS fresh, on a clock of
 * the test's own (so nothing here depends on the machine's speed): the
 * first fetch, the refresh due in the last tenth of the keys' lifetime
 * (Cache-Control max-age, jwks_refresh, jwks_min_refresh as a floor, the
 * default), the exponential backoff while the JWKS server is down, stale
 * keys verifying up to jwks_stale_max past their lifetime and dropped
 * after, a kid miss during the backoff, and the reset after a success.
 *
 * jwks.c is included (its statics reachable) with EMBER_AUTH_JWKS_NOW set
 * to the test's clock; auth-jwks.so is replaced by a fake fetcher whose
 * server is up or down at the test's word; keys.c converts the JWK with
 * GnuTLS, as in the plugin.
 */
#define _GNU_SOURCE     /* as jwks.c: dladdr */
#include "config.h"

#include <time.h>

static time_t test_now = 1000000;
#define EMBER_AUTH_JWKS_NOW() test_now

#include "../../plugins/auth/jwks.c"

#include "../tap.h"

/* ------------------------------------------------------------ the fake server */

static int      server_up = 1;
static long     server_max_age = -1;
static unsigned server_fetches;       /* fetch() calls */
static char     jwks_body[1024];

static struct ember_auth_jwks_conn *fake_open(const char *url, const char *ca_file,
                                              char *why, size_t whylen)
{
    static int conn;

    (void) url; (void) ca_file; (void) why; (void) whylen;
    return (struct ember_auth_jwks_conn *) &conn;
}

static int fake_fetch(struct ember_auth_jwks_conn *c, long timeout_ms, size_t max_bytes,
                      long *status, long *max_age, char **body, size_t *len,
                      char *why, size_t whylen)
{
    (void) c; (void) timeout_ms; (void) max_bytes;
    server_fetches++;
    *body = NULL;
    if (!server_up) {
        snprintf(why, whylen, "Failed to connect to 127.0.0.1 port 9: Connection refused");
        return -1;
    }
    *status = 200;
    *max_age = server_max_age;
    *body = ember_pu_xstrdup(jwks_body);
    *len = strlen(jwks_body);
    return 0;
}

static void fake_close(struct ember_auth_jwks_conn *c) { (void) c; }
static void fake_fini(void) { }

static const struct ember_auth_jwks_fetcher fake_fetcher = {
    .abi = EMBER_AUTH_JWKS_FETCHER_ABI,
    .open = fake_open, .fetch = fake_fetch, .close = fake_close, .fini = fake_fini,
};

/* ------------------------------------------------------------ the fake host */

static char last_log[1024];

static void h_log(int level, const char *fmt, ...)
{
    va_list ap;

    (void) level;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof(last_log), fmt, ap);
    va_end(ap);
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

/* One token's key lookup at the current test time; the verdict. */
static int verify(struct ember_auth_source *src, const char *kid, unsigned *fetched,
                  int *status)
{
    struct ember_error           err = { 0 };
    struct ember_exchange        ex = { 0 };
    const struct ember_auth_jwk *key = NULL;
    char                         why[256] = "";
    unsigned                     before = server_fetches;
    int                          v;

    ex.host = &host;
    ex.err = &err;
    v = ember_auth_jwks_key(&st, src, &ex, EMBER_AUTH_RS256, kid, &key, why, sizeof(why));
    *fetched = server_fetches - before;
    *status = err.status;
    if (v == EMBER_AUTH_GOOD && (key == NULL || strcmp(key->kid, kid) != 0))
        return 99;
    return v;
}

static struct ember_auth_source *source(long min_refresh, long refresh, long stale_max,
                                        long bmin, long bmax)
{
    struct ember_auth_source *s = ember_pu_xcalloc(1, sizeof(*s));

    s->kind = EMBER_AUTH_JWKS;
    s->ident = ember_pu_xstrdup("https://idp.example/jwks.json");
    s->jwks.min_refresh = min_refresh;
    s->jwks.refresh = refresh;
    s->jwks.stale_max = stale_max;
    s->jwks.backoff_min = bmin;
    s->jwks.backoff_max = bmax;
    s->max_age = -1;
    return s;
}

static void source_free(struct ember_auth_source *s)
{
    ember_auth_source_clear(s);
    free(s->ident);
    free(s);
}

/* verify() at time t: expect verdict, fetches during it, and (for FAILED) status */
#define AT(t, src, kid, verdict, nfetch, what)                                         \
    do {                                                                               \
        unsigned f_;                                                                   \
        int      s_, v_;                                                               \
        test_now = t0 + (t);                                                           \
        v_ = verify(src, kid, &f_, &s_);                                               \
        is_int(v_, verdict, "t=%ld: %s: verdict", (long) (t), what);                   \
        is_int(f_, nfetch, "t=%ld: %s: %d fetch%s", (long) (t), what, nfetch,          \
               (nfetch) == 1 ? "" : "es");                                             \
        if ((verdict) == EMBER_AUTH_FAILED)                                            \
            is_int(s_, 503, "t=%ld: %s: 503", (long) (t), what);                       \
    } while (0)

int main(void)
{
    struct ember_auth_source *s;
    const time_t              t0 = test_now;
    char                      n[400];
    size_t                    i;

    /* an RSA JWK GnuTLS takes (2040-bit modulus; nothing is verified here) */
    for (i = 0; i < 85; i++)
        memcpy(n + 4 * i, "qqqq", 4);
    n[340] = '\0';
    snprintf(jwks_body, sizeof(jwks_body), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\","
             "\"alg\":\"RS256\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", n);
    st.host = &host;
    st.fetcher = &fake_fetcher;          /* as if auth-jwks.so were mapped */
    st.pk = &ember_auth_pk;              /* as if auth-pk.so were mapped (pk.c linked in) */

    /* ---- lifetime from max-age (100 s); refresh due at 90 s, before expiry */
    s = source(10, 0, 300, 5, 40);
    server_max_age = 100;
    AT(0, s, "k1", EMBER_AUTH_GOOD, 1, "first token: fetched");
    is_int(s->ttl, 100, "the lifetime is the response's max-age");
    AT(50, s, "k1", EMBER_AUTH_GOOD, 0, "fresh keys: no fetch");
    AT(89, s, "k1", EMBER_AUTH_GOOD, 0, "not yet due");
    AT(90, s, "k1", EMBER_AUTH_GOOD, 1, "due (last tenth of the lifetime): refreshed");
    is_int((long) (s->fetched_at - t0), 90, "fetched_at moved");
    AT(91, s, "k1", EMBER_AUTH_GOOD, 0, "fresh again");

    /* ---- the server goes down: stale keys verify, fetches back off 5, 10, 20, 40, 40 */
    server_up = 0;
    AT(180, s, "k1", EMBER_AUTH_GOOD, 1, "due, server down: the old keys verify");
    ok(strstr(last_log, "verifying with the keys fetched 90 s ago") != NULL,
       "... logged: %s", last_log);
    AT(184, s, "k1", EMBER_AUTH_GOOD, 0, "backoff (5 s): no fetch");
    AT(185, s, "k1", EMBER_AUTH_GOOD, 1, "backoff over: one try");
    AT(194, s, "k1", EMBER_AUTH_GOOD, 0, "second backoff (10 s): no fetch");
    AT(195, s, "k1", EMBER_AUTH_GOOD, 1, "try");
    AT(214, s, "k1", EMBER_AUTH_GOOD, 0, "third backoff (20 s)");
    AT(215, s, "k1", EMBER_AUTH_GOOD, 1, "try");
    AT(254, s, "k1", EMBER_AUTH_GOOD, 0, "fourth backoff (40 s)");
    AT(255, s, "k1", EMBER_AUTH_GOOD, 1, "try");
    AT(294, s, "k1", EMBER_AUTH_GOOD, 0, "capped at jwks_backoff MAX (40 s)");
    AT(295, s, "k1", EMBER_AUTH_GOOD, 1, "try");
    is_int(s->failures, 6, "6 failures in a row");
    AT(320, s, "k2", EMBER_AUTH_REFUSED, 0,
       "an unknown kid during the backoff (past jwks_min_refresh): refused, no fetch");

    /* ---- stale bound: fetched at 90, lifetime 100, stale_max 300 -> dropped at 490 */
    AT(489, s, "k1", EMBER_AUTH_GOOD, 1, "still within jwks_stale_max (a try, then the old keys)");
    AT(490, s, "k1", EMBER_AUTH_FAILED, 0, "past the bound, in a backoff: 503 without a fetch");
    is_int((long) s->nkeys, 0, "... the keys are dropped");
    ok(s->fetched == 0, "... and nothing counts as fetched");
    AT(529, s, "k1", EMBER_AUTH_FAILED, 1, "backoff over, still down: 503 after one try");

    /* ---- back up: fetched, backoff reset */
    server_up = 1;
    AT(569, s, "k1", EMBER_AUTH_GOOD, 1, "server back (after the 40 s backoff): fetched");
    is_int(s->failures, 0, "failures reset");
    is_int((long) s->retry_at, 0, "no backoff");
    server_up = 0;
    AT(659, s, "k1", EMBER_AUTH_GOOD, 1, "down again: refresh fails, old keys");
    AT(664, s, "k1", EMBER_AUTH_GOOD, 1, "... the backoff starts again at MIN (5 s)");
    source_free(s);

    /* ---- jwks_refresh wins over max-age; min_refresh floors max-age; the default */
    server_up = 1;
    s = source(10, 50, 300, 5, 40);
    server_max_age = 100;
    AT(1000, s, "k1", EMBER_AUTH_GOOD, 1, "jwks_refresh 50");
    is_int(s->ttl, 50, "jwks_refresh is the lifetime, whatever max-age says");
    AT(1044, s, "k1", EMBER_AUTH_GOOD, 0, "not due before 45 s");
    AT(1045, s, "k1", EMBER_AUTH_GOOD, 1, "due at 45 s");
    source_free(s);

    s = source(60, 0, 300, 5, 40);
    server_max_age = 0;                  /* no-cache: not a fetch per request */
    AT(2000, s, "k1", EMBER_AUTH_GOOD, 1, "max-age 0");
    is_int(s->ttl, 60, "jwks_min_refresh is the floor of a max-age");
    AT(2001, s, "k1", EMBER_AUTH_GOOD, 0, "so the next token does not fetch");
    source_free(s);

    s = source(10, 0, 300, 5, 40);
    server_max_age = -1;
    AT(3000, s, "k1", EMBER_AUTH_GOOD, 1, "no Cache-Control");
    is_int(s->ttl, EMBER_AUTH_JWKS_DEFAULT_TTL, "the default lifetime");
    source_free(s);

    /* ---- nothing ever fetched and the server down: 503, then backoff without fetches */
    server_up = 0;
    s = source(10, 0, 300, 5, 40);
    AT(4000, s, "k1", EMBER_AUTH_FAILED, 1, "never fetched, server down: 503");
    AT(4004, s, "k1", EMBER_AUTH_FAILED, 0, "backoff: 503 at once, no fetch");
    AT(4005, s, "k1", EMBER_AUTH_FAILED, 1, "then one try");
    source_free(s);

    return done_testing();
}
