/*
 * httpget.h - one HTTP/1.1 GET over a loopback TCP socket, for local
 * services such as the AWS Parameters and Secrets Lambda Extension
 * (localhost:2773).  No TLS, no redirects, no proxy: a few hundred lines of
 * libc instead of libcurl's ~20 libraries (README: "db", measured).  Not
 * in libplugutil.la (linked whole into every plugin): a plugin that needs it
 * lists plugins/common/httpget.c in its own sources.
 */
#ifndef EMBER_HTTPGET_H
#define EMBER_HTTPGET_H

#include <stddef.h>
#include <stdint.h>

#define EMBER_HTTPGET_MAX_BODY  (1024 * 1024)

struct ember_http_reply {
    int     status;      /* e.g. 200 */
    char   *body;        /* malloc'd, NUL-terminated (the caller frees; wipe it if secret) */
    size_t  len;
};

/*
 * GET http://127.0.0.1:PORT TARGET with the extra header lines `headers`
 * ("Name: value", NULL-terminated; may be NULL), waiting until `end`
 * (CLOCK_MONOTONIC ms).  Content-Length, chunked and close-delimited bodies,
 * up to EMBER_HTTPGET_MAX_BODY.  0 with *r filled (any status), or -1 with
 * why filled ("connection refused", "no answer within the time left", ...).
 * Nothing is logged: the headers and the body may be secrets.
 */
int ember_http_get(int port, const char *target, const char *const *headers, int64_t end,
                   struct ember_http_reply *r, char *why, size_t why_size);

#endif
