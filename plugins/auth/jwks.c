/*
 * jwks.c - a JWKS (RFC 7517 key set, as Cognito, Auth0 and Keycloak publish
 * it) fetched over HTTPS with libcurl the first time a token needs it,
 * cached by `kid`, refetched when a token names a kid the cache lacks, at
 * most once every jwks_min_refresh seconds.
 *
 * A fetch that fails (connection, TLS, HTTP status, not a JWKS) keeps the
 * keys already cached and answers 503: the token may well be good, our
 * dependency is down.  While nothing was ever fetched, every request that
 * needs the JWKS tries again (bounded by the timeouts below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "auth.h"

#define JWKS_MAX_BYTES      (1024 * 1024)
#define JWKS_MAX_KEYS       100
#define CONNECT_TIMEOUT_MS  2000L
#define FETCH_TIMEOUT_MS    5000L

/* The curl handle of one JWKS source, reused across fetches. */
struct jwks_conn {
    CURL              *curl;
    struct curl_slist *headers;
    char               errbuf[CURL_ERROR_SIZE];
};

struct body {
    char   *data;
    size_t  len;
    int     too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t       n = size * nmemb;

    if (b->len + n > JWKS_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    b->data = realloc(b->data, b->len + n + 1);
    if (b->data == NULL)
        abort();
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/*
 * The CA bundle when jwks_ca_file is not set: $SSL_CERT_FILE, else the
 * first bundle found where Debian or Amazon Linux keep it (a libcurl built
 * on one distribution has the other's path compiled in).
 */
static const char *default_ca(void)
{
    static const char *const bundles[] = {
        "/etc/ssl/certs/ca-certificates.crt",     /* Debian, Ubuntu */
        "/etc/pki/tls/certs/ca-bundle.crt",       /* Amazon Linux, RHEL */
        "/etc/ssl/cert.pem",                      /* Alpine, macOS */
        NULL
    };
    const char *env = getenv("SSL_CERT_FILE");
    size_t      i;

    if (env != NULL && env[0] != '\0')
        return env;
    for (i = 0; bundles[i] != NULL; i++) {
        if (access(bundles[i], R_OK) == 0)
            return bundles[i];
    }
    return NULL;
}

/* The source's connection, created on its first fetch. */
static struct jwks_conn *conn_get(struct ember_auth_state *st, struct ember_auth_source *src)
{
    struct jwks_conn *c = src->conn;
    const char       *ca;

    if (c != NULL)
        return c;
    if (!st->curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        st->curl_ready = 1;
    }
    c = ember_auth_xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        return NULL;
    }
    c->headers = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(c->curl, CURLOPT_URL, src->ident);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c->curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c->curl, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "ember-auth/" "1");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    ca = src->ca_file != NULL ? src->ca_file : default_ca();
    if (ca != NULL) {
        /* one bundle file only: loading a CA directory (Debian's libcurl
           defaults to /etc/ssl/certs) costs ~100 ms of a cold start */
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
    }
    src->conn = c;
    return c;
}

void ember_auth_jwks_close(struct ember_auth_source *src)
{
    struct jwks_conn *c = src->conn;

    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c);
    src->conn = NULL;
}

void ember_auth_curl_cleanup(struct ember_auth_state *st)
{
    if (st->curl_ready)
        curl_global_cleanup();
    st->curl_ready = 0;
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
    keys = ember_auth_xcalloc(n, sizeof(*keys));
    for (i = 0; i < n; i++) {
        struct json_object *jwk = json_object_array_get_idx(arr, i);
        struct json_object *v;

        if (!json_object_is_type(jwk, json_type_object)) {
            st->host->log(EMBER_LOG_DEBUG, "auth: JWKS %s: key %zu is not an object; skipped",
                          src->ident, i);
            continue;
        }
        if (ember_auth_jwk_to_pem(jwk, &keys[nkeys], reason, sizeof(reason)) != EMBER_OK) {
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
    struct jwks_conn        *c;
    struct body              b = { NULL, 0, 0 };
    struct json_tokener     *tok;
    struct json_object      *doc;
    struct timespec          t0;
    char                     why[200];
    int64_t                  left = host->remaining_ms(ex);
    long                     timeout = FETCH_TIMEOUT_MS, status = 0;
    CURLcode                 rc;
    int                      ok;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    ember_auth_crypto_ready(st);
    src->nfetches++;
    src->last_attempt = time(NULL);
    c = conn_get(st, src);
    if (c == NULL)
        return host->fail(ex->err, 503, "auth: JWKS %s: cannot initialise libcurl", src->ident);
    /* leave Lambda's deadline some room to answer */
    if (left < INT64_MAX && left - 500 < timeout)
        timeout = left - 500 > 200 ? (long)(left - 500) : 200;
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    c->errbuf[0] = '\0';
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        free(b.data);
        if (b.too_big)
            return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: larger than %d bytes",
                              src->ident, JWKS_MAX_BYTES);
        return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: %s", src->ident,
                          c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        free(b.data);
        return host->fail(ex->err, 503, "auth: JWKS %s: fetch failed: HTTP status %ld",
                          src->ident, status);
    }
    tok = json_tokener_new();
    doc = json_tokener_parse_ex(tok, b.data != NULL ? b.data : "", (int)b.len);
    ok = doc != NULL && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    free(b.data);
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
    host->log(EMBER_LOG_INFO, "auth: JWKS %s: %zu key%s (fetch %u, %.1f ms)", src->ident,
              src->nkeys, src->nkeys == 1 ? "" : "s", src->nfetches, ms_since(&t0));
    host->mark(ex, "auth.jwks");
    return EMBER_OK;
}

static int key_fits(const struct ember_auth_jwk *k, jwt_alg_t alg)
{
    if (k->alg != NULL && strcmp(k->alg, jwt_alg_str(alg)) != 0)
        return 0;
    return ember_auth_key_fits(alg, k->pk, k->curve);
}

/*
 * Finds the key for (alg, kid): 1 found, 0 no key with that kid (a
 * refetch may help), -1 refused (why filled).
 */
static int lookup(const struct ember_auth_source *src, jwt_alg_t alg, const char *kid,
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
                 ember_auth_printable(safe, sizeof(safe), kid), jwt_alg_str(alg));
        return -1;
    }
    if (n == 1) {
        *key = candidate;
        return 1;
    }
    snprintf(why, whylen, "token has no kid and the JWKS has %zu keys for %s", n,
             jwt_alg_str(alg));
    return -1;
}

enum ember_auth_verdict ember_auth_jwks_key(struct ember_auth_state *st,
                                            struct ember_auth_source *src,
                                            struct ember_exchange *ex,
                                            jwt_alg_t alg, const char *kid,
                                            const struct ember_auth_jwk **key,
                                            char *why, size_t whylen)
{
    char   safe[64];
    time_t since;
    int    found, fresh = 0;

    if (!src->fetched) {
        if (fetch(st, src, ex) != EMBER_OK)
            return EMBER_AUTH_FAILED;
        fresh = 1;
    }
    found = lookup(src, alg, kid, key, why, whylen);
    if (found > 0)
        return EMBER_AUTH_GOOD;
    if (found < 0)
        return EMBER_AUTH_REFUSED;

    ember_auth_printable(safe, sizeof(safe), kid);
    since = time(NULL) - src->last_attempt;
    if (fresh || since < src->min_refresh) {
        snprintf(why, whylen, "unknown kid \"%s\" (JWKS fetched %ld s ago; next refetch in "
                 "%ld s at the earliest)", safe, (long)since,
                 fresh ? src->min_refresh : src->min_refresh - (long)since);
        return EMBER_AUTH_REFUSED;
    }
    st->host->log(EMBER_LOG_INFO, "auth: unknown kid \"%s\": refetching JWKS %s", safe,
                  src->ident);
    if (fetch(st, src, ex) != EMBER_OK)
        return EMBER_AUTH_FAILED;
    found = lookup(src, alg, kid, key, why, whylen);
    if (found > 0)
        return EMBER_AUTH_GOOD;
    if (found == 0)
        snprintf(why, whylen, "unknown kid \"%s\" (not in the JWKS just fetched)", safe);
    return EMBER_AUTH_REFUSED;
}
