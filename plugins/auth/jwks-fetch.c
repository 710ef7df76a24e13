/*
 * jwks-fetch.c - auth-jwks.so: a JWKS fetched over HTTPS with libcurl, for
 * auth.so, which dlopen()s this object the first time a token needs a JWKS
 * (jwks.c).  Only this object links libcurl, so an auth route that never
 * uses a JWKS (HS*, PEM keys) never maps libcurl and its libraries.
 *
 * Not an ember plugin: it exports one symbol, ember_auth_jwks_fetcher
 * (jwks-fetch.h), and knows nothing of JSON, keys or the host.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../common/plugutil.h"
#include "jwks-fetch.h"

#define CONNECT_TIMEOUT_MS  2000L

struct ember_auth_jwks_conn {
    CURL              *curl;
    struct curl_slist *headers;
    char               errbuf[CURL_ERROR_SIZE];
};

struct body {
    struct ember_pu_buf  buf;
    size_t               max;
    int                  too_big;
    long                 max_age;     /* Cache-Control max-age, or -1 */
};

static int curl_ready;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t       n = size * nmemb;

    if (b->buf.len + n > b->max) {
        b->too_big = 1;
        return 0;
    }
    ember_pu_buf_add(&b->buf, p, n);
    return n;
}

/* Cache-Control: ... max-age=N ...: the last response's (after redirects). */
static size_t on_header(char *p, size_t size, size_t nitems, void *ud)
{
    struct body *b = ud;
    size_t       n = size * nitems, i;
    char         line[512], *v;
    long         age = 0;

    if (n >= sizeof(line) || n < 14 || strncasecmp(p, "cache-control:", 14) != 0) {
        if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
            b->max_age = -1;                 /* a new response (a redirect's target) */
        return n;
    }
    memcpy(line, p, n);
    line[n] = '\0';
    for (v = line + 14; *v != '\0'; v++)
        *v = (char) tolower((unsigned char) *v);
    v = strstr(line + 14, "max-age");
    if (v == NULL)
        return n;
    v += 7;
    while (*v == ' ')
        v++;
    if (*v != '=')
        return n;
    v++;
    while (*v == ' ' || *v == '"')
        v++;
    if (!isdigit((unsigned char) *v))
        return n;
    for (i = 0; isdigit((unsigned char) v[i]) && age < 100000000L; i++)
        age = age * 10 + (v[i] - '0');
    b->max_age = age;
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

static void set_why(char *why, size_t whylen, const char *msg)
{
    snprintf(why, whylen, "%s", msg);
}

/* Returns a connection the caller frees with conn_close(), or NULL. */
static struct ember_auth_jwks_conn *conn_open(const char *url, const char *ca_file,
                                              char *why, size_t whylen)
{
    struct ember_auth_jwks_conn *c;
    const char                  *ca;

    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            set_why(why, whylen, "cannot initialise libcurl");
            return NULL;
        }
        curl_ready = 1;
    }
    c = ember_pu_xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        set_why(why, whylen, "cannot initialise libcurl");
        return NULL;
    }
    c->headers = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
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
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    ca = ca_file != NULL ? ca_file : default_ca();
    if (ca != NULL) {
        /* one bundle file only: loading a CA directory (Debian's libcurl
           defaults to /etc/ssl/certs) costs ~100 ms of a cold start */
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
    }
    return c;
}

/* On success *body (malloc'd) passes to the caller, who frees it. */
static int conn_fetch(struct ember_auth_jwks_conn *c, long timeout_ms, size_t max_bytes,
                      long *status, long *max_age, char **body, size_t *len,
                      char *why, size_t whylen)
{
    struct body b = { { NULL, 0, 0 }, max_bytes, 0, -1 };
    CURLcode    rc;

    *body = NULL;
    *len = 0;
    *status = 0;
    *max_age = -1;
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &b);
    c->errbuf[0] = '\0';
    rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, NULL);
    if (rc != CURLE_OK) {
        free(b.buf.p);
        if (b.too_big)
            snprintf(why, whylen, "larger than %zu bytes", max_bytes);
        else
            set_why(why, whylen, c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    *max_age = b.max_age;
    *body = b.buf.p != NULL ? b.buf.p : ember_pu_xcalloc(1, 1);
    *len = b.buf.len;
    return 0;
}

static void conn_close(struct ember_auth_jwks_conn *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c);
}

static void fetcher_fini(void)
{
    if (curl_ready)
        curl_global_cleanup();
    curl_ready = 0;
}

__attribute__((visibility("default")))
const struct ember_auth_jwks_fetcher ember_auth_jwks_fetcher = {
    .abi   = EMBER_AUTH_JWKS_FETCHER_ABI,
    .open  = conn_open,
    .fetch = conn_fetch,
    .close = conn_close,
    .fini  = fetcher_fini,
};
