/*
 * jwks-fetch.h - the interface between auth.so and auth-jwks.so, the small
 * shared object that fetches a JWKS over HTTPS with libcurl.
 *
 * auth.so does not link libcurl: libcurl and its closure (nghttp2, ssh2,
 * rtmp, psl, brotli, zstd, ...) are mapped only when a request first needs
 * a JWKS, by dlopen()ing auth-jwks.so from auth.so's own directory (see
 * jwks.c).  auth-jwks.so is not an ember plugin; it exports one symbol,
 * ember_auth_jwks_fetcher, whose abi auth.so checks before use.
 */
#ifndef EMBER_AUTH_JWKS_FETCH_H
#define EMBER_AUTH_JWKS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#define EMBER_AUTH_JWKS_FILE        "auth-jwks.so"
#define EMBER_AUTH_JWKS_SYMBOL      "ember_auth_jwks_fetcher"
/* Bump on any change to struct ember_auth_jwks_fetcher. */
#define EMBER_AUTH_JWKS_FETCHER_ABI 2

/* One connection (curl handle) per JWKS URL, reused across fetches. */
struct ember_auth_jwks_conn;

struct ember_auth_jwks_fetcher {
    uint32_t abi;             /* EMBER_AUTH_JWKS_FETCHER_ABI */

    /*
     * A connection for the https:// URL url, trusting the CA bundle ca_file
     * (NULL: $SSL_CERT_FILE or the system bundle).  Initialises libcurl on
     * first use.  Returns a connection the caller releases with close(), or
     * NULL with why filled.
     */
    struct ember_auth_jwks_conn *(*open)(const char *url, const char *ca_file,
                                         char *why, size_t whylen);

    /*
     * One GET, within timeout_ms, of at most max_bytes.  Returns 0 with
     * *status (the HTTP status), *max_age (the response's Cache-Control
     * max-age in seconds, -1 if none) and *body (NUL-terminated, *len
     * bytes; the caller owns it and frees it with free()), or -1 with why
     * filled and *body NULL.
     */
    int (*fetch)(struct ember_auth_jwks_conn *c, long timeout_ms, size_t max_bytes,
                 long *status, long *max_age, char **body, size_t *len,
                 char *why, size_t whylen);

    /* Frees a connection from open(). */
    void (*close)(struct ember_auth_jwks_conn *c);

    /* curl_global_cleanup, if open() ever initialised libcurl. */
    void (*fini)(void);
};

#endif
