/*
 * jwks.c - a JWKS (RFC 7517 key set, as Cognito, Auth0 and Keycloak publish
 * it) fetched over HTTPS the first time a token needs it, cached by `kid`,
 * kept fresh, and kept (for a bounded time) while its server is down.
 *
 * The HTTPS part is auth-jwks.so (jwks-fetch.c, the only object that links
 * libcurl), dlopen()ed from auth.so's own directory at the first fetch (or
 * at init with EMBER_PRELOAD=all), so an auth route that never needs a
 * JWKS never maps libcurl and its ~20 libraries.  Parsing the JWKS and
 * JWK -> PEM (GnuTLS) stay here.
 *
 * Timing (struct ember_auth_jwks_conf; all lazy, on the requests that need
 * the keys: a sandbox has no time of its own between invocations):
 *
 *  - lifetime: jwks_refresh, else the response's Cache-Control max-age (at
 *    least jwks_min_refresh), else EMBER_AUTH_JWKS_DEFAULT_TTL;
 *  - refresh: due in the last tenth of the lifetime, before the keys
 *    expire; the request that finds it due refetches, and verifies with
 *    the new keys, or with the old ones if the fetch fails;
 *  - a kid the keys lack: one refetch, at most every jwks_min_refresh;
 *  - a failed fetch (connection, TLS, HTTP status, not a JWKS): no other
 *    before jwks_backoff MIN seconds, doubling at each failure in a row up
 *    to MAX, back to MIN after a success; meanwhile the old keys verify
 *    until jwks_stale_max seconds past their lifetime, then are dropped;
 *  - no usable keys and the server down: 503, our dependency failed and
 *    the token may well be good.
 */
#define _GNU_SOURCE  /* dladdr */
#include "config.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "auth.h"
#include "json-strict.h"
#include "jwks-fetch.h"
#include "pk.h"

#define JWKS_MAX_BYTES      (1024 * 1024)
#define JWKS_MAX_KEYS       100
#define FETCH_TIMEOUT_MS    5000L
#define EMBER_AUTH_JWKS_DEFAULT_TTL 3600L   /* without jwks_refresh or max-age */
#define WHY_LEN             300     /* room for libcurl's error buffer (256) */

/* The clock; the unit test (tests/unit/test_jwks.c) brings its own. */
#ifndef EMBER_AUTH_JWKS_NOW
#define EMBER_AUTH_JWKS_NOW() time(NULL)
#endif

/*
 * "<directory of auth.so>/auth-jwks.so", malloc'd (the caller frees it):
 * the fetcher is installed next to the plugin (pkglibdir, the ZIP's
 * plugins/, the build's plugins/.libs), whatever directory the core found
 * auth.so in.
 */
static char *fetcher_path(void)
{
    Dl_info     info;
    const char *slash;
    char       *path;
    size_t      dir;

    if (dladdr((const void *)(uintptr_t)&fetcher_path, &info) == 0 || info.dli_fname == NULL)
        return ember_pu_xstrdup(EMBER_AUTH_JWKS_FILE);
    slash = strrchr(info.dli_fname, '/');
    dir = slash != NULL ? (size_t)(slash - info.dli_fname) + 1 : 0;
    path = ember_pu_xmalloc(dir + sizeof(EMBER_AUTH_JWKS_FILE));
    memcpy(path, info.dli_fname, dir);
    memcpy(path + dir, EMBER_AUTH_JWKS_FILE, sizeof(EMBER_AUTH_JWKS_FILE));
    return path;
}

/*
 * Maps auth-jwks.so (and with it libcurl).  EMBER_OK, or EMBER_ERROR with
 * why filled (naming the file and the cause).
 */
static int fetcher_map(struct ember_auth_state *st, char *why, size_t whylen)
{
    const struct ember_auth_jwks_fetcher *f;
    void                                 *dl;
    char                                 *path;
    const char                           *e;

    if (st->fetcher != NULL)
        return EMBER_OK;
    path = fetcher_path();
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        e = dlerror();
        snprintf(why, whylen, "cannot load %s: %s; it fetches JWKS and belongs next to "
                 "auth.so (check the ZIP's plugins/)", path, e != NULL ? e : "dlopen failed");
        free(path);
        return EMBER_ERROR;
    }
    f = dlsym(dl, EMBER_AUTH_JWKS_SYMBOL);
    if (f == NULL || f->abi != EMBER_AUTH_JWKS_FETCHER_ABI) {
        if (f == NULL)
            snprintf(why, whylen, "%s: no symbol %s", path, EMBER_AUTH_JWKS_SYMBOL);
        else
            snprintf(why, whylen, "%s: fetcher ABI %u, auth.so needs %u (both must come from "
                     "the same build)", path, (unsigned)f->abi,
                     (unsigned)EMBER_AUTH_JWKS_FETCHER_ABI);
        dlclose(dl);
        free(path);
        return EMBER_ERROR;
    }
    free(path);
    st->fetcher_dl = dl;
    st->fetcher = f;
    return EMBER_OK;
}

/*
 * Maps auth-jwks.so the first time a JWKS is needed.  EMBER_OK, or
 * EMBER_ERROR with ex->err filled (503); the next request that needs a
 * JWKS tries again.
 */
static int fetcher_load(struct ember_auth_state *st, struct ember_exchange *ex)
{
    char why[WHY_LEN + 200];

    if (st->fetcher != NULL)
        return EMBER_OK;
    if (fetcher_map(st, why, sizeof(why)) != EMBER_OK)
        return st->host->fail(ex->err, 503, "auth: %s", why);
    st->host->mark(ex, "dlopen.auth-jwks");
    return EMBER_OK;
}

void ember_auth_jwks_preload(struct ember_auth_state *st)
{
    char why[WHY_LEN + 200];

    if (fetcher_map(st, why, sizeof(why)) != EMBER_OK)
        st->host->log(EMBER_LOG_WARN, "auth: EMBER_PRELOAD: %s; the first JWKS fetch tries "
                      "again", why);
}

void ember_auth_jwks_close(struct ember_auth_state *st, struct ember_auth_source *src)
{
    if (src->conn == NULL)
        return;
    st->fetcher->close(src->conn);
    src->conn = NULL;
}

void ember_auth_jwks_unload(struct ember_auth_state *st)
{
    if (st->fetcher == NULL)
        return;
    st->fetcher->fini();
    st->fetcher = NULL;
#ifndef EMBER_ASAN
    dlclose(st->fetcher_dl);
#endif
    /* with sanitizers the object stays mapped, so LeakSanitizer can still
       name its functions (as core/plugin.c does for the plugins) */
    st->fetcher_dl = NULL;
}

/*
 * Converts the "keys" of a parsed JWKS document.  On success the source's
 * key set is replaced (the old one freed); on failure it is left as it was.
 */
static int take_keys(struct ember_auth_state *st, struct ember_auth_source *src,
                     struct json_object *doc, char *why, size_t whylen)
{
    struct json_object    *arr;
    struct ember_auth_jwk *keys;
    size_t                 i, n, nkeys = 0;
    char                   reason[160], kid[64];

    if (!json_object_is_type(doc, json_type_object)
        || !json_object_object_get_ex(doc, "keys", &arr)
        || !json_object_is_type(arr, json_type_array)) {
        snprintf(why, whylen, "not a JWKS (no \"keys\" array)");
        return EMBER_ERROR;
    }
    n = json_object_array_length(arr);
    if (n > JWKS_MAX_KEYS)
        n = JWKS_MAX_KEYS;
    keys = ember_pu_xcalloc(n, sizeof(*keys));
    for (i = 0; i < n; i++) {
        struct json_object *jwk = json_object_array_get_idx(arr, i);
        struct json_object *v;

        if (!json_object_is_type(jwk, json_type_object)) {
            st->host->log(EMBER_LOG_DEBUG, "auth: JWKS %s: key %zu is not an object; skipped",
                          src->ident, i);
            continue;
        }
        if (st->pk->jwk_to_pem(jwk, &keys[nkeys], reason, sizeof(reason)) != EMBER_OK) {
            kid[0] = '\0';
            if (json_object_object_get_ex(jwk, "kid", &v))
                ember_auth_printable(kid, sizeof(kid), json_object_get_string(v));
            st->host->log(EMBER_LOG_DEBUG, "auth: JWKS %s: key %zu (kid \"%s\") skipped: %s",
                          src->ident, i, kid, reason);
            continue;
        }
        nkeys++;
    }
    for (i = 0; i < src->nkeys; i++)
        ember_auth_jwk_clear(&src->keys[i]);
    free(src->keys);
    src->keys = keys;
    src->nkeys = nkeys;
    return EMBER_OK;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One fetch. EMBER_OK, or EMBER_ERROR with ex->err filled (503). */
static int fetch(struct ember_auth_state *st, struct ember_auth_source *src,
                 struct ember_exchange *ex)
{
    const struct ember_host *host = st->host;
    struct json_object      *doc;
    const char              *bad;
    struct timespec          t0;
    char                     why[WHY_LEN];
    char                    *body;
    size_t                   len, at;
    int64_t                  left = host->remaining_ms(ex);
    long                     timeout = FETCH_TIMEOUT_MS, status = 0, max_age = -1;
    int                      ok;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* auth-pk.so (GnuTLS) converts the JWKs */
    if (ember_auth_pk_load(st, ex) != EMBER_OK)
        return EMBER_ERROR;
    src->nfetches++;
    src->last_attempt = EMBER_AUTH_JWKS_NOW();
    if (fetcher_load(st, ex) != EMBER_OK)
        return EMBER_ERROR;
    if (src->conn == NULL) {
        src->conn = st->fetcher->open(src->ident, src->ca_file, why, sizeof(why));
        if (src->conn == NULL)
            return host->fail(ex->err, 503, "auth: JWKS %s: %s", src->ident, why);
    }
    /* leave Lambda's deadline some room to answer */
    if (left < INT64_MAX && left - 500 < timeout)
        timeout = left - 500 > 200 ? (long)(left - 500) : 200;
    if (st->fetcher->fetch(src->conn, timeout, JWKS_MAX_BYTES, &status, &max_age, &body, &len,
                           why, sizeof(why)) != 0)
        return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: %s", src->ident, why);
    if (status != 200) {
        free(body);
        return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: HTTP status %ld",
                          src->ident, status);
    }
    ok = ember_json_parse(NULL, body, len, &doc, &at, &bad) == 0 && doc != NULL;
    free(body);
    if (!ok) {
        json_object_put(doc);
        return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: the body is not JSON",
                          src->ident);
    }
    if (take_keys(st, src, doc, why, sizeof(why)) != EMBER_OK) {
        json_object_put(doc);
        return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: %s", src->ident, why);
    }
    json_object_put(doc);
    src->fetched = 1;
    src->fetched_at = src->last_attempt;
    src->max_age = max_age;
    src->ttl = src->jwks.refresh > 0 ? src->jwks.refresh
             : max_age >= 0 ? (max_age > src->jwks.min_refresh ? max_age : src->jwks.min_refresh)
             : EMBER_AUTH_JWKS_DEFAULT_TTL;
    if (src->ttl < 1)
        src->ttl = 1;
    src->failures = 0;
    src->retry_at = 0;
    host->log(EMBER_LOG_INFO, "auth: JWKS %s: %zu key%s (fetch %u, %.1f ms; fresh for %ld s)",
              src->ident, src->nkeys, src->nkeys == 1 ? "" : "s", src->nfetches,
              ms_since(&t0), src->ttl);
    host->mark(ex, "auth.jwks");
    return EMBER_OK;
}

static int key_fits(const struct ember_auth_jwk *k, enum ember_auth_alg alg)
{
    if (k->alg != NULL && strcmp(k->alg, ember_auth_alg_name(alg)) != 0)
        return 0;
    return ember_auth_key_fits(alg, k->pk, k->curve);
}

/*
 * Finds the key for (alg, kid): 1 found, 0 no key with that kid (a
 * refetch may help), -1 refused (why filled).
 */
static int lookup(const struct ember_auth_source *src, enum ember_auth_alg alg, const char *kid,
                  const struct ember_auth_jwk **key, char *why, size_t whylen)
{
    const struct ember_auth_jwk *candidate = NULL;
    size_t                       i, n = 0;
    char                         safe[64];
    int                          seen = 0;

    for (i = 0; i < src->nkeys; i++) {
        const struct ember_auth_jwk *k = &src->keys[i];

        if (kid != NULL) {
            if (k->kid == NULL || strcmp(k->kid, kid) != 0)
                continue;
            seen = 1;
            if (key_fits(k, alg)) {
                *key = k;
                return 1;
            }
        } else if (key_fits(k, alg)) {
            candidate = k;
            n++;
        }
    }
    if (kid != NULL) {
        if (!seen)
            return 0;
        snprintf(why, whylen, "JWKS key \"%s\" does not fit algorithm %s",
                 ember_auth_printable(safe, sizeof(safe), kid), ember_auth_alg_name(alg));
        return -1;
    }
    if (n == 1) {
        *key = candidate;
        return 1;
    }
    snprintf(why, whylen, "token has no kid and the JWKS has %zu keys for %s", n,
             ember_auth_alg_name(alg));
    return -1;
}

/* After a failed fetch: the next one waits backoff_min, doubling, up to backoff_max. */
static void note_failure(struct ember_auth_source *src, time_t now)
{
    long     wait = src->jwks.backoff_min;
    unsigned i;

    src->failures++;
    for (i = 1; i < src->failures && wait < src->jwks.backoff_max; i++)
        wait *= 2;
    if (wait > src->jwks.backoff_max)
        wait = src->jwks.backoff_max;
    src->retry_at = now + wait;
}

/* A fetch, with its failure counted for the backoff. */
static int refetch(struct ember_auth_state *st, struct ember_auth_source *src,
                   struct ember_exchange *ex)
{
    if (fetch(st, src, ex) == EMBER_OK)
        return EMBER_OK;
    /* auth-jwks.so missing is our own setup, not the server: no backoff */
    if (st->fetcher != NULL)
        note_failure(src, EMBER_AUTH_JWKS_NOW());
    return EMBER_ERROR;
}

/* Forget keys past their stale bound: they no longer verify anything. */
static void drop_keys(struct ember_auth_state *st, struct ember_auth_source *src, time_t now)
{
    size_t i;

    st->host->log(EMBER_LOG_WARN, "auth: JWKS %s: keys fetched %ld s ago are past "
                  "jwks_stale_max (%ld s after their %ld s): dropped", src->ident,
                  (long)(now - src->fetched_at), src->jwks.stale_max, src->ttl);
    for (i = 0; i < src->nkeys; i++)
        ember_auth_jwk_clear(&src->keys[i]);
    free(src->keys);
    src->keys = NULL;
    src->nkeys = 0;
    src->fetched = 0;
}

/*
 * Makes src's keys as fresh as the settings ask: fetched if none, refreshed
 * when due (and the backoff allows).  EMBER_OK when there are keys to
 * verify with (perhaps stale, within the bound), else EMBER_AUTH_FAILED
 * with ex->err filled (503).  *fresh: a fetch just succeeded.
 */
static int keys_ready(struct ember_auth_state *st, struct ember_auth_source *src,
                      struct ember_exchange *ex, int *fresh)
{
    time_t now = EMBER_AUTH_JWKS_NOW();
    int    due;

    *fresh = 0;
    if (src->fetched && now >= src->fetched_at + src->ttl + src->jwks.stale_max)
        drop_keys(st, src, now);
    due = !src->fetched || now >= src->fetched_at + src->ttl - src->ttl / 10;
    if (!due)
        return EMBER_OK;
    if (now < src->retry_at) {
        if (src->fetched)
            return EMBER_OK;               /* stale keys, within the bound */
        return st->host->fail(ex->err, 503, "auth: JWKS %s is down (%u failed fetch%s); next "
                              "try in %ld s", src->ident, src->failures,
                              src->failures == 1 ? "" : "es", (long)(src->retry_at - now));
    }
    if (src->fetched)
        st->host->log(EMBER_LOG_INFO, "auth: JWKS %s: refreshing keys fetched %ld s ago "
                      "(fresh for %ld s)", src->ident, (long)(now - src->fetched_at), src->ttl);
    if (refetch(st, src, ex) == EMBER_OK) {
        *fresh = 1;
        return EMBER_OK;
    }
    if (!src->fetched)
        return EMBER_ERROR;
    /* the server is down: the old keys still verify, within the bound */
    st->host->log(EMBER_LOG_WARN, "%s; verifying with the keys fetched %ld s ago (for at most "
                  "%ld s more); next try in %ld s", ex->err->message,
                  (long)(now - src->fetched_at),
                  (long)(src->fetched_at + src->ttl + src->jwks.stale_max - now),
                  (long)(src->retry_at - now));
    ex->err->status = 0;
    ex->err->message[0] = '\0';
    return EMBER_OK;
}

enum ember_auth_verdict ember_auth_jwks_key(struct ember_auth_state *st,
                                            struct ember_auth_source *src,
                                            struct ember_exchange *ex,
                                            enum ember_auth_alg alg, const char *kid,
                                            const struct ember_auth_jwk **key,
                                            char *why, size_t whylen)
{
    char   safe[64];
    time_t since, now;
    int    found, fresh = 0;

    if (keys_ready(st, src, ex, &fresh) != EMBER_OK)
        return EMBER_AUTH_FAILED;
    found = lookup(src, alg, kid, key, why, whylen);
    if (found > 0)
        return EMBER_AUTH_GOOD;
    if (found < 0)
        return EMBER_AUTH_REFUSED;

    ember_auth_printable(safe, sizeof(safe), kid);
    now = EMBER_AUTH_JWKS_NOW();
    since = now - src->last_attempt;
    if (fresh || since < src->jwks.min_refresh || now < src->retry_at) {
        snprintf(why, whylen, "unknown kid \"%s\" (JWKS fetched %ld s ago; next refetch in "
                 "%ld s at the earliest)", safe, (long)since,
                 now < src->retry_at ? (long)(src->retry_at - now)
                 : fresh ? src->jwks.min_refresh : src->jwks.min_refresh - (long)since);
        return EMBER_AUTH_REFUSED;
    }
    st->host->log(EMBER_LOG_INFO, "auth: unknown kid \"%s\": refetching JWKS %s", safe,
                  src->ident);
    if (refetch(st, src, ex) != EMBER_OK)
        return EMBER_AUTH_FAILED;
    found = lookup(src, alg, kid, key, why, whylen);
    if (found > 0)
        return EMBER_AUTH_GOOD;
    if (found == 0)
        snprintf(why, whylen, "unknown kid \"%s\" (not in the JWKS just fetched)", safe);
    return EMBER_AUTH_REFUSED;
}
